#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: boot the default kernel (Debian's stock 6.12) under QEMU, load
# KVM and kvm_memext, and show what the module does, as a short report:
# the demo VMM; a guest whose code and data are in private memory; a
# memslot reshaped under 4 running vCPUs one ioctl at a time and in
# batches (how often the guests saw a hole); a runstate area across two
# pages; and, when the QEMU archive is already cached, Debian's QEMU
# booting a guest on a kvm_memext mount.  Exits non-zero if a step failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=${KERNEL:-$DEFAULT_KERNEL}
dir=$TOP/build/run
rm -rf "$dir"
mkdir -p "$dir"
prepare_kernel "$K" "$dir" || die "$K: build failed"
{
	echo "demo demo_vmm 120 ./demo_vmm"
	echo "demo privmem_guest 300 env MEMEXT_TEST=test_guest_in_privmem ./memext/privmem_guest_test"
	echo "demo direct_map 300 env MEMEXT_TEST=test_direct_map_chunks ./memext/privmem_test"
	echo "demo one_by_one 300 ./memext/memslot_batch_test -b -v 4 -c 50"
	echo "demo batched 300 ./memext/memslot_batch_test -v 4 -c 50"
	echo "demo runstate_two_pages 300 env MEMEXT_TEST=test_two_pages ./memext/runstate_test"
	# Only where a warm cache has it: building it is make check's job.
	if ls "$CACHE"/qemu-guest.*.cpio.gz > /dev/null 2>&1; then
		echo "demo qemu 300 sh qemu.sh nokvmclock host,-kvmclock 120"
	fi
} > "$dir/plan"
boot_plan "$K" "$dir/plan" "$dir" 1500

# One block per step: its result line and the lines worth reading.
results=$dir/results.ktap
echo "=== kvm_memext on $K (full output: $results, kernel log: $dir/console.log)"
fail=0
while read -r stage name _; do
	line=$(grep -E "^(not )?ok [0-9]+ $stage/$name( |$)" "$results" || true)
	case $line in
	ok*"# SKIP"*) echo "--- $name: skipped" ;;
	ok*) echo "--- $name: ok" ;;
	*) echo "--- $name: FAILED ${line:+($line)}"; fail=1 ;;
	esac
	awk -v re="^(not )?ok [0-9]+ $stage/$name( |$)" '
		$0 ~ re { exit }
		/^(not )?ok [0-9]+ / { buf = ""; next }
		{ buf = buf $0 "\n" }
		END { printf "%s", buf }' "$results" |
		grep -E 'sum|guest|DirectMap|chunks|saw|inner guest|while it runs|after:|ok [0-9]+ test_|FAIL' |
		grep -v '^    # Totals' | sed 's/^ *#* */    /' | head -n 12 || true
done < "$dir/plan"
grep -q '^# KVM_MEMEXT_RUNNER_DONE' "$results" || { echo "--- the guest did not finish"; fail=1; }
exit $fail
