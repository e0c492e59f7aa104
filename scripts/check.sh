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
# Usage: [ONLY=<regex>] check.sh [kernel...]   (default: all of $ALL_KERNELS)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

kernels=${*:-$ALL_KERNELS}
out=$TOP/build/results

# Test plan of one kernel: "<stage> <name> <timeout> <command>".
write_plan() {
	local K=$1 debug=$2 t n
	if [ "$debug" = 1 ]; then
		echo "kunit kvm_memext 300 sh kunit.sh kvm_memext_kunit"
	fi
	for t in "$TOP"/build/"$K"/tests/memext/*_test; do
		case ${t##*/} in
		# A short slice here (a kill takes 0.4 s on a stock kernel,
		# 6.5 s on the debug one); `make kill` runs the campaign.
		kill_test)
			n=${KILLS:-$([ "$debug" = 1 ] && echo 10 || echo 30)}
			echo "selftest kill_test $((600 + n * 10))" \
			     "./memext/kill_test -n $n ${SEED:+-s $SEED}" ;;
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
		*) echo "selftest ${t##*/} 600 ./memext/${t##*/}" ;;
		esac
	done
	# The non-atomic baseline of the batch test: reports how often the
	# guests see intermediate layouts without batches; never fails on it.
	echo "selftest memslot_batch_test.baseline 600 ./memext/memslot_batch_test -b"
	# Batches again with every vCPU kicked out to userspace (TWA_SIGNAL)
	# instead of parked inside KVM_RUN, and resumed in binary trees.
	echo "selftest memslot_batch_test.signal 600 sh params.sh" \
	     "batch_park_in_kernel=N batch_resume_fanout=2 -- ./memext/memslot_batch_test"
	# Debian's trinity against the device and a kvm_memext mount.
	n=${TRINITY_SECS:-60}
	echo "selftest trinity $((n + 120)) sh trinity.sh $n ${SEED:-1}"
	echo "sample demo_vmm 120 ./demo_vmm"
	# Debian's unmodified QEMU inside the guest, its RAM on a kvm_memext
	# mount: with QEMU's default CPU model (kvm-clock offered), which must
	# leave the host alive whatever the inner guest sees, and as
	# privmem.rst tells operators (no kvm-clock), which must pass.
	# The inner guest boots in 10-60 s on a stock kernel; on the debug
	# kernel nested TCG is too slow for it (a skip, see guest-qemu.sh).
	t=300
	[ "$debug" = 1 ] && t=240
	# Options of privmem.rst's table that show at QEMU's start.
	echo "qemu options 240 sh qemu.sh options"
	echo "qemu default 200 sh qemu.sh default host 90 prealloc=on"
	echo "qemu nokvmclock $((t + 240)) sh qemu.sh nokvmclock host,-kvmclock $t"
	echo "selftest ibt_seal 120 sh ibt-seal.sh"
	while read -r t privmem args; do
		case $t in ''|'#'*) continue ;; esac
		[ -x "$TOP/build/$K/tests/peer/$t" ] || continue
		# Upstream's own splat (see known-splats.txt) disables lockdep
		# for the rest of the boot, which would blind it to ours.
		if [ "$debug" = 1 ] && grep -q "^$t skip " "$TOP/scripts/known-splats.txt"; then
			echo "# $t skipped on the debug kernel: known upstream splat"
			continue
		fi
		echo "peer $t 900 sh peer.sh $t $args"
		[ "$privmem" = yes ] &&
			echo "peer $t.privmem 900 sh peer.sh --privmem $t $args -s shmem"
	done < "$TOP/selftests/peer.conf"
}

# ONLY=<regex> keeps the plan lines whose "stage/name" matches, for quick
# iterations; REPEAT=<n> runs each kept line n times in one boot, to hunt
# rare failures.  A filtered run says so in its summary.
filter_plan() {
	awk -v re="${ONLY:-}" -v n="${REPEAT:-1}" '
		/^#/ { print; next }
		re == "" || ($1 "/" $2) ~ re { for (i = 0; i < n; i++) print }'
}

# Everything of one kernel: fetch or build it, build the module and tests,
# boot the plan, judge.  Progress goes to stderr; the judged report to
# $dir/judge.out, the counts to $dir/judge.counts, the stage timings to
# $dir/timings.
run_kernel() {
	local K=$1 dir=$out/$1 t0
	: > "$dir/timings"
	t0=$SECONDS
	if ! KVM_MEMEXT_BUILD_JOBS=$build_jobs nice -n "$build_nice" \
	     "$TOP/scripts/kernel.sh" "$K"; then
		echo "  $K: not ok $K/kernel # could not fetch or build the kernel" > "$dir/judge.out"
		echo "kernel 0 1 0" > "$dir/judge.counts"
		return
	fi
	echo "$K:kernel $((SECONDS - t0))" >> "$dir/timings"
	t0=$SECONDS
	if ! "$TOP/scripts/build-tests.sh" "$K" > "$dir/build.log" 2>&1; then
		{
			tail -n 30 "$dir/build.log"
			echo "  $K: not ok $K/build # module or tests failed to build"
		} > "$dir/judge.out"
		echo "build 0 1 0" > "$dir/judge.counts"
		return
	fi
	echo "$K:build $((SECONDS - t0))" >> "$dir/timings"
	# shellcheck source=/dev/null
	. "$CACHE/env-$K.sh"
	write_plan "$K" "$KDEBUG" | filter_plan > "$dir/plan"
	grep '^#' "$dir/plan" | sed "s/^/  $K: /" > "$dir/judge.out"
	t0=$SECONDS
	boot_plan "$K" "$dir/plan" "$dir" "${KVM_MEMEXT_BOOT_TIMEOUT:-2400}"
	echo "$K:tests $((SECONDS - t0))" >> "$dir/timings"
	python3 "$TOP/scripts/judge.py" "$K" "$dir" >> "$dir/judge.out"
}

# Lanes: single-threaded TCG keeps one host CPU busy per guest, so the
# kernels run side by side, one lane per CPU, each lane its kernels in
# turn.  Kernels are dealt longest first (a debug kernel, built here and
# slow to test, weighs 3, a stock one 1) to the lightest lane.  A kernel
# build beside other lanes' guests runs niced, with one job per CPU that
# no guest needs: timing-sensitive tests failed (runstate_test on 6.1)
# when more runnable threads than CPUs shared the machine.
lanes=${KVM_MEMEXT_JOBS:-$(nproc)}
declare -a lane_kernels=() lane_weight=()
nk=0
for K in $kernels; do
	kernel_field "$K" kind > /dev/null || { echo "unknown kernel '$K' (have: $ALL_KERNELS)"; exit 1; }
	nk=$((nk + 1))
done
[ "$lanes" -le "$nk" ] || lanes=$nk
[ "$lanes" -ge 1 ] || lanes=1
build_nice=0
[ "$lanes" = 1 ] || build_nice=10
build_jobs=$(( $(nproc) - lanes + 1 ))
for ((i = 0; i < lanes; i++)); do
	lane_kernels[i]=
	lane_weight[i]=0
done
for K in $(for k in $kernels; do
		[ "$(kernel_field "$k" kind)" = debug ] && echo "$k"
	   done) $(for k in $kernels; do
		[ "$(kernel_field "$k" kind)" = debug ] || echo "$k"
	   done); do
	w=1
	[ "$(kernel_field "$K" kind)" = debug ] && w=3
	best=0
	for ((i = 1; i < lanes; i++)); do
		[ "${lane_weight[i]}" -lt "${lane_weight[best]}" ] && best=$i
	done
	lane_kernels[best]+=" $K"
	lane_weight[best]=$((lane_weight[best] + w))
done

# Results of an earlier run must not stand in for a lane that died.
for K in $kernels; do
	rm -rf "${out:?}/$K"
	mkdir -p "$out/$K"
done
t_all=$SECONDS
pids=()
for ((i = 0; i < lanes; i++)); do
	echo "== lane $((i + 1)):${lane_kernels[i]}"
	(
		for K in ${lane_kernels[i]}; do
			run_kernel "$K"
		done
	) &
	pids+=($!)
done
wait "${pids[@]}"

total_pass=0 total_fail=0 total_skip=0
summary=
failures=
for K in $kernels; do
	dir=$out/$K
	echo "== kernel $K"
	cat "$dir/judge.out" 2>/dev/null
	if [ ! -s "$dir/judge.counts" ]; then
		echo "  $K: not ok $K/judge # no judgement (the lane or the judge died)"
		echo "judge 0 1 0" > "$dir/judge.counts"
	fi
	while read -r stage p f s; do
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		total_skip=$((total_skip + s))
		summary+="$(printf '%-5s %-10s %3d passed, %d failed, %d skipped' "$K" "$stage" "$p" "$f" "$s")"$'\n'
	done < "$dir/judge.counts"
	[ ! -s "$dir/judge.failures" ] || failures+="$(cat "$dir/judge.failures")"$'\n'
done

echo "== summary by kernel and section"
echo -n "$summary"
echo "== stage timings (s), $lanes lanes"
for K in $kernels; do
	cat "$out/$K/timings" 2>/dev/null
done | sort | while read -r s t; do
	printf '  %-14s %5d\n' "$s" "$t"
done
printf '  %-14s %5d\n' "wall" $((SECONDS - t_all))
[ -z "${ONLY:-}" ] || echo "note: plan filtered by ONLY='$ONLY'"
[ "${REPEAT:-1}" = 1 ] || echo "note: each test repeated REPEAT=$REPEAT times"
if [ -n "$failures" ]; then
	echo "== failures"
	echo -n "$failures" | grep -v '^$'
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
