#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run one of KVM's own selftests in the test guest.  The peer binaries are
# linked with selftests/lib/bind_wrap.c, which binds every VM they create;
# a pass that bound no VM does not count.  With --privmem, the library's
# shared guest memory ("-s shmem") is private memory
# (selftests/lib/privmem_wrap.c); a pass that made none does not count.
#
# Usage: peer.sh [--privmem] <test> [args...]
privmem=
if [ "$1" = --privmem ]; then
	privmem=1
	shift
	export KVM_MEMEXT_PEER_PRIVMEM=1
fi
test=$1
shift
"./peer/$test" "$@" > /tmp/peer.out 2>&1
rc=$?
cat /tmp/peer.out
if [ $rc = 0 ] && ! grep -q '^# kvm_memext: bound [1-9]' /tmp/peer.out; then
	echo "# no VM of this test was bound to kvm_memext"
	rc=1
fi
if [ $rc = 0 ] && [ -n "$privmem" ] &&
   ! grep -q '^# kvm_memext: [1-9][0-9]* private-memory files' /tmp/peer.out; then
	echo "# no guest memory of this test was private memory"
	rc=1
fi
exit $rc
