#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The test plan of kernel K: one line a test, "<stage> <name> <timeout>
# <command>", which the guest's /init (guest-init.sh) runs in order; a
# "# ..." line says what was left out and why.  check.py filters the plan
# (ONLY, REPEAT), splits it into shards and boots them.
#
# A test of selftests/memext/ is planned by its file name (*_test) alone;
# one that needs arguments or a slice gets a case below, and a peer test
# a line of selftests/peer.conf.  Campaign sizes come from the
# environment: KILLS, SEED, FUZZ_CALLS, FUZZ_SEED, TRINITY_SECS,
# BATCH_CYCLES.
#
# Usage: plan.sh <K>   (once kernel.sh and build-tests.sh have run for K)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# write_plan <K> <debug> <arch>: the plan of kernel K ("<debug>" 1 on the
# debug kernel; <arch> its ARCH=, x86 or arm64), unfiltered.
write_plan() {
	local K=$1 debug=$2 arch=$3 t n batch_cycles=${BATCH_CYCLES:-60}
	if [ "$debug" = 1 ]; then
		echo "kunit kvm_memext 300 sh kunit.sh kvm_memext_kunit"
	fi
	for t in "$TOP"/build/"$K"/tests/memext/*_test; do
		case ${t##*/} in
		privmem*_test|kill_test|pressure_test|failnth_test)
			if [ "${t##*/}" = kill_test ]; then
				write_kill_test "$debug"
			else
				echo "selftest ${t##*/} 600 ./memext/${t##*/}"
			fi ;;
		# `make fuzz`: FUZZ_CALLS calls in chunks of 100,000, each its
		# own plan line and seed; else a fixed-seed slice of 20,000
		# calls (10,000 on the debug kernel: 245 calls/s there against
		# 1,500 on 6.12).
		fuzz_test)
			if [ -n "${FUZZ_CALLS:-}" ]; then
				for n in $(seq 1 $(((FUZZ_CALLS + 99999) / 100000))); do
					echo "selftest fuzz_test.$n 1800 ./memext/fuzz_test" \
					     "-n 100000 -s $((${FUZZ_SEED:-1} + n))"
				done
			else
				n=$([ "$debug" = 1 ] && echo 10000 || echo 20000)
				echo "selftest fuzz_test 600 ./memext/fuzz_test -n $n -s 1"
			fi ;;
		# 60 of its 200 cycles (660 batches): the non-atomic
		# baseline below shows holes within them.
		memslot_batch_test)
			echo "selftest ${t##*/} 600 ./memext/${t##*/} -c $batch_cycles" ;;
		*) echo "selftest ${t##*/} 600 ./memext/${t##*/}" ;;
		esac
	done
	# The non-atomic baseline of the batch test: reports how often the
	# guests see intermediate layouts without batches; never fails on it.
	# 20 cycles: its vCPUs keep running through the holes (thousands of
	# them), and each one-by-one change is slow then.
	echo "selftest memslot_batch_test.baseline 600 ./memext/memslot_batch_test -b -c 20"
	# The region in device memory (the ivshmem BAR), batched and one by
	# one: 20 cycles (220 batches).
	echo "selftest memslot_batch_test.device 600 ./memext/memslot_batch_test -d -c 20"
	echo "selftest memslot_batch_test.device_baseline 600 ./memext/memslot_batch_test -d -b -c 20"
	# Batches again with every vCPU kicked out to userspace (TWA_SIGNAL)
	# instead of parked inside KVM_RUN, and resumed in binary trees.
	echo "selftest memslot_batch_test.signal 600 sh params.sh" \
	     "batch_park_in_kernel=N batch_resume_fanout=2 -- ./memext/memslot_batch_test -c $batch_cycles"
	if [ "$arch" = x86 ]; then
		write_plan_x86
	else
		echo "# trinity, samples, qemu stage and IBT seal left out: x86-64's"
	fi
	write_plan_peer "$K" "$debug" "$arch"
}

# kill_test: a short slice here (a kill takes 0.4 s on a stock kernel,
# 6.5 s on the debug one); `make kill` runs the campaign.
write_kill_test() {
	local n=${KILLS:-$([ "$1" = 1 ] && echo 10 || echo 30)}

	echo "selftest kill_test $((600 + n * 10))" \
	     "./memext/kill_test -n $n ${SEED:+-s $SEED}"
}

# The stages that exist on x86-64 only (see build-tests.sh).
write_plan_x86() {
	local t n
	# Debian's trinity against the device and a kvm_memext mount: a
	# slice here, `make trinity` runs the campaign.
	n=${TRINITY_SECS:-30}
	echo "selftest trinity $((n + 120)) sh trinity.sh $n ${SEED:-1}"
	for t in demo_vmm privmem_vmm batch_vmm runstate_vmm; do
		echo "sample $t 120 ./$t"
	done
	# Debian's unmodified QEMU inside the guest, its RAM on a kvm_memext
	# mount, with QEMU's default CPU model: kvm-clock offered, which the
	# inner guest must run on.  PV EOI off: QEMU 7.2's TCG, which emulates
	# SVM for the test guest, can deliver an interrupt it injected a
	# second time, ignoring the inner guest's IF, and a PV-EOI handler
	# makes no exit that would close that window (testing.rst; the
	# stage boots an inner guest that still meets it again).  Inner
	# guest ready after 10-25 s on a stock kernel, 35-40 s on the debug one.
	t=120
	# Options of privmem.rst's table that show at QEMU's start.
	echo "qemu options 240 sh qemu.sh options"
	echo "qemu default $((t + 240)) sh qemu.sh default host,kvm-pv-eoi=off $t prealloc=on"
	echo "selftest ibt_seal 120 sh ibt-seal.sh"
}

# KVM's own tests of peer.conf (those that exist on the architecture),
# with every VM bound; on x86 again on private memory where marked.
write_plan_peer() {
	local K=$1 debug=$2 arch=$3 t privmem args
	while read -r t privmem args; do
		case $t in ''|'#'*) continue ;; esac
		[ -x "$TOP/build/$K/tests/peer/$t" ] || continue
		# Upstream's own splat (see known-splats.txt) disables lockdep
		# for the rest of the boot, which would blind it to ours.
		if [ "$debug" = 1 ] && grep -q "^$t skip " "$TOP/scripts/known-splats.txt"; then
			echo "# $t skipped on the debug kernel: known upstream splat"
			continue
		fi
		# KVM/arm64 offers 13 guest modes under -cpu max, and these
		# run each (dirty_log_test for over 15 min): the default one,
		# 40-bit IPA and 4K pages, and 48-bit IPA with 64K pages
		# (enum vm_guest_mode's 6 and 5); dirty_log_test and
		# page_fault_test the default only (190 s a mode).
		case $arch/$t in
		arm64/dirty_log_test|arm64/page_fault_test)
			args+=" -m 6" ;;
		arm64/dirty_log_perf_test|arm64/demand_paging_test|arm64/kvm_page_table_test)
			args+=" -m 6 -m 5" ;;
		esac
		echo "peer $t 900 sh peer.sh $t $args"
		[ "$privmem" = yes ] || continue
		# KVM/arm64 refuses dirty logging on VM_PFNMAP memslots.
		case $arch/$t in
		arm64/kvm_page_table_test|arm64/dirty_log_perf_test)
			echo "# $t.privmem left out: KVM/arm64 refuses to log" \
			     "dirty pages of a VM_PFNMAP memslot"
			continue ;;
		esac
		echo "peer $t.privmem 900 sh peer.sh --privmem $t $args -s shmem"
	done < "$TOP/selftests/peer.conf"
}

[ $# = 1 ] || die "usage: plan.sh <K>"
# shellcheck source=/dev/null
. "$CACHE/env-$1.sh" || die "$1: no kernel in the cache (run kernel.sh $1)"
write_plan "$1" "$KDEBUG" "${KARCH:-x86}"
