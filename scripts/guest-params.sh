#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run a command in the test guest with kvm_memext module parameters set,
# and give the parameters their old values back afterwards.
#
# Usage: params.sh <parameter>=<value>... -- <command> [arguments...]
p=/sys/module/kvm_memext/parameters
saved=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	name=${1%%=*}
	saved="$saved $name=$(cat "$p/$name")" || exit 1
	echo "${1#*=}" > "$p/$name" || exit 1
	shift
done
shift
"$@"
rc=$?
for s in $saved; do
	echo "${s#*=}" > "$p/${s%%=*}"
done
exit $rc
