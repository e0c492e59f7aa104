#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite over the kernel matrix: for each kernel, make it
# available (fetch or build), build the module and tests against it, boot
# it under QEMU, and judge the guest's KTAP and its kernel log.
#
# Ends with "N passed, N failed, N skipped" and exits non-zero on any
# failure, splat, leak or timeout.
#
# check.py schedules the jobs (lanes, shards, durations, summary); this
# entry point starts it, and holds the steps of its jobs that need lib.sh:
#
#   check.sh --cached <K>                        is kernel K in the cache?
#   check.sh --boot <K> <plan> <dir> <timeout s> boot one shard (boot_plan)
#
# Usage: [ONLY=<regex>] [REPEAT=<n>] check.sh [kernel...]
#        (default: all of $ALL_KERNELS)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

case ${1:-} in
# Whether kernel K is in the cache already (else kernel.sh builds or
# fetches it).
--cached)
	[ $# = 2 ] || die "usage: check.sh --cached <K>"
	# shellcheck source=/dev/null
	[ -f "$CACHE/env-$2.sh" ] && (. "$CACHE/env-$2.sh" && [ -f "$KIMAGE" ])
	exit ;;
# Boot a shard of kernel K with its plan; results land in <dir>.
--boot)
	[ $# = 5 ] || die "usage: check.sh --boot <K> <plan> <dir> <timeout s>"
	boot_plan "$2" "$3" "$4" "$5"
	exit ;;
-*)
	die "unknown option '$1'" ;;
esac

# The jobs source lib.sh again: the same cache for all of them.
export KVM_MEMEXT_CACHE=$CACHE
exec python3 "$TOP/scripts/check.py" "$@"
