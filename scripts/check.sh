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
	local K=$1 debug=$2 t n batch_cycles=${BATCH_CYCLES:-60}
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
		# 60 of its 200 cycles (660 batches): the non-atomic
		# baseline below shows holes within them.
		memslot_batch_test)
			echo "selftest ${t##*/} 600 ./memext/${t##*/} -c $batch_cycles" ;;
		*) echo "selftest ${t##*/} 600 ./memext/${t##*/}" ;;
		esac
	done
	# The non-atomic baseline of the batch test: reports how often the
	# guests see intermediate layouts without batches; never fails on it.
	echo "selftest memslot_batch_test.baseline 600 ./memext/memslot_batch_test -b -c $batch_cycles"
	# Batches again with every vCPU kicked out to userspace (TWA_SIGNAL)
	# instead of parked inside KVM_RUN, and resumed in binary trees.
	echo "selftest memslot_batch_test.signal 600 sh params.sh" \
	     "batch_park_in_kernel=N batch_resume_fanout=2 -- ./memext/memslot_batch_test -c $batch_cycles"
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

# Shards: a kernel's plan is split over several guests, each booted on
# its own, so that the lanes stay busy to the end of the run and a long
# kernel does not hold one lane while the other idles.  The lines are dealt
# longest first to the lightest shard and keep their order within it.  A
# line's length is its time in the last run on this machine
# ($CACHE/durations-<K>), else 30 s; a shard holds
# about KVM_MEMEXT_SHARD_SECS (default 200) seconds of tests.
split_plan() {
	local plan=$1 dur=$2 dir=$3 n s
	[ -f "$dur" ] || : > "$dur"
	n=$(awk -v secs="${KVM_MEMEXT_SHARD_SECS:-200}" '
		FILENAME == ARGV[1] { est[$1] = $2; next }
		!/^#/ && NF { k = $1 "/" $2; t += (k in est) ? est[k] : 30; lines++ }
		END { n = int(t / secs + 0.5); if (n > lines) n = lines; if (n < 1) n = 1; print n }' \
		"$dur" "$plan")
	for ((s = 1; s <= n; s++)); do
		mkdir -p "$dir/shard-$s"
	done
	awk -v n="$n" -v dir="$dir" '
		FILENAME == ARGV[1] { est[$1] = $2; next }
		/^#/ || !NF { next }
		{ m++; line[m] = $0; k = $1 "/" $2; e[m] = (k in est) ? est[k] : 30 }
		END {
			for (s = 1; s <= n; s++) load[s] = 0
			for (done = 0; done < m; done++) {
				best = 0
				for (i = 1; i <= m; i++)
					if (!(i in to) && (!best || e[i] > e[best])) best = i
				low = 1
				for (s = 2; s <= n; s++) if (load[s] < load[low]) low = s
				to[best] = low
				load[low] += e[best]
			}
			for (s = 1; s <= n; s++) {
				printf "" > (dir "/shard-" s "/plan")
				printf "%d %d\n", load[s], s > (dir "/shards")
			}
			for (i = 1; i <= m; i++) print line[i] >> (dir "/shard-" to[i] "/plan")
		}' "$dur" "$plan"
}

# Remember how long each test took, for the next split.
save_durations() {
	local K=$1 dur=$CACHE/durations-$1
	cat "$out/$K"/shard-*/results.ktap 2>/dev/null |
		sed -nE 's/^(not )?ok [0-9]+ ([^ ]+) .*time=([0-9.]+)s.*/\2 \3/p' |
		awk 'FNR == NR { new[$1] = $2; next }
		     !($1 in new) { print }
		     END { for (k in new) print k, new[k] }' - "$dur" > "$dur.tmp" 2>/dev/null &&
		mv "$dur.tmp" "$dur"
}

# Job "prep K": fetch or build kernel K, build the module and tests, write
# and split its plan.  Progress goes to stderr, a failure to judge.out and
# judge.counts; the stage timings to $dir/timings.
prep_kernel() {
	local K=$1 dir=$out/$1 t0 kernel_jobs=$build_jobs
	t0=$SECONDS
	# A kernel build runs while no guest does (see the queue below).
	kernel_cached "$K" || kernel_jobs=$(nproc)
	if ! KVM_MEMEXT_BUILD_JOBS=$kernel_jobs nice -n "$build_nice" \
	     "$TOP/scripts/kernel.sh" "$K"; then
		echo "  $K: not ok $K/kernel # could not fetch or build the kernel" > "$dir/judge.out"
		echo "kernel 0 1 0" > "$dir/judge.counts"
		return 1
	fi
	echo "$K:kernel $((SECONDS - t0))" >> "$dir/timings"
	t0=$SECONDS
	if ! KVM_MEMEXT_BUILD_JOBS=$build_jobs nice -n "$build_nice" \
	     "$TOP/scripts/build-tests.sh" "$K" > "$dir/build.log" 2>&1; then
		{
			tail -n 30 "$dir/build.log"
			echo "  $K: not ok $K/build # module or tests failed to build"
		} > "$dir/judge.out"
		echo "build 0 1 0" > "$dir/judge.counts"
		return 1
	fi
	echo "$K:build $((SECONDS - t0))" >> "$dir/timings"
	# What an operator does on a distribution kernel: DKMS.
	if [ "$(kernel_field "$K" kind)" = stock ] && filter_plan <<< "host dkms" | grep -q .; then
		KVM_MEMEXT_BUILD_JOBS=$build_jobs nice -n "$build_nice" \
			"$TOP/scripts/dkms-check.sh" "$K" > "$dir/host.ktap"
	fi
	# The Debian packages, once (they hold no kernel's build).
	if [ "$K" = "$DEFAULT_KERNEL" ] && filter_plan <<< "host deb" | grep -q .; then
		nice -n "$build_nice" "$TOP/scripts/deb-check.sh" >> "$dir/host.ktap"
	fi
	# shellcheck source=/dev/null
	. "$CACHE/env-$K.sh"
	write_plan "$K" "$KDEBUG" | filter_plan > "$dir/plan"
	grep '^#' "$dir/plan" | sed "s/^/  $K: /" > "$dir/judge.out"
	split_plan "$dir/plan" "$CACHE/durations-$K" "$dir"
	# The system stage (system-check.sh): a Debian system booted on a
	# kernel with the "system" role; a job of its own, as long as about
	# 3 shards.
	if kernel_has_role "$K" system && filter_plan <<< "system debian" | grep -q .; then
		echo "600 system" >> "$dir/shards"
	fi
}

# Job "boot K N": boot shard N of kernel K, or the system stage.
boot_shard() {
	local K=$1 sdir=$out/$1/shard-$2 t0=$SECONDS
	if [ "$2" = system ]; then
		"$TOP/scripts/system-check.sh" "$K" "$sdir" "${KVM_MEMEXT_SYSTEM_TIMEOUT:-1800}"
		cat "$sdir/timings" >> "$out/$K/timings"
		return
	fi
	boot_plan "$K" "$sdir/plan" "$sdir" "${KVM_MEMEXT_BOOT_TIMEOUT:-2400}"
	echo "$K:shard-$2 $((SECONDS - t0))" >> "$out/$K/timings"
}

# Whether kernel K is in the cache already (else kernel.sh builds or
# fetches it).
kernel_cached() {
	[ -f "$CACHE/env-$1.sh" ] && (. "$CACHE/env-$1.sh" && [ -f "$KIMAGE" ])
}

# Lanes: single-threaded TCG keeps one host CPU busy per guest, so up to
# one job runs per CPU.  Kernels are made ready first, a debug kernel
# (built here, the longest) before the stock ones; then the shards of the
# ready kernels run, longest first.  A debug kernel that must be built
# gets every CPU, and no guest starts until it is done: beside guests it
# had one CPU's worth (27.7 min for 7.3 against 17.5), and
# timing-sensitive tests failed (runstate_test on 6.1) when more runnable
# threads than CPUs shared the machine.  Other builds (module, tests,
# DKMS) beside guests run niced, with one job per CPU that no guest needs.
lanes=${KVM_MEMEXT_JOBS:-$(nproc)}
[ "$lanes" -ge 1 ] || lanes=1
build_nice=0
[ "$lanes" = 1 ] || build_nice=10
build_jobs=$(( $(nproc) - lanes + 1 ))
[ "$build_jobs" -ge 1 ] || build_jobs=1
preps=()
for K in $kernels; do
	kernel_field "$K" kind > /dev/null || { echo "unknown kernel '$K' (have: $ALL_KERNELS)"; exit 1; }
	[ "$(kernel_field "$K" kind)" = debug ] && preps+=("$K")
done
for K in $kernels; do
	[ "$(kernel_field "$K" kind)" = debug ] || preps+=("$K")
done

# Results of an earlier run must not stand in for a guest that died.
for K in $kernels; do
	rm -rf "${out:?}/$K"
	mkdir -p "$out/$K"
	: > "$out/$K/timings"
done
echo "== $lanes lanes; kernels ready in the order ${preps[*]}"
t_all=$SECONDS
declare -A job_of=()
boots=()	# "<estimated seconds> <K> <shard>"
building=	# the prep job that builds a kernel
while :; do
	while [ ${#job_of[@]} -lt "$lanes" ]; do
		if [ ${#preps[@]} -gt 0 ]; then
			K=${preps[0]}
			preps=("${preps[@]:1}")
			cold=
			[ "$(kernel_field "$K" kind)" = debug ] && ! kernel_cached "$K" && cold=1
			prep_kernel "$K" &
			job_of[$!]="prep $K"
			[ -z "$cold" ] || building=$!
		elif [ ${#boots[@]} -gt 0 ] && [ -z "$building" ]; then
			mapfile -t boots < <(printf '%s\n' "${boots[@]}" | sort -rn)
			read -r _ K n <<< "${boots[0]}"
			boots=("${boots[@]:1}")
			log "$K: shard $n of $(wc -l < "$out/$K/shards")"
			boot_shard "$K" "$n" &
			job_of[$!]="boot $K $n"
		else
			break
		fi
	done
	[ ${#job_of[@]} -gt 0 ] || break
	wait -n -p pid
	rc=$?
	read -r kind K _ <<< "${job_of[$pid]}"
	unset "job_of[$pid]"
	[ "$pid" != "$building" ] || building=
	if [ "$kind" = prep ] && [ "$rc" = 0 ]; then
		while read -r est n; do
			boots+=("$est $K $n")
		done < "$out/$K/shards"
	fi
done
for K in $kernels; do
	[ -s "$out/$K/judge.counts" ] && continue
	python3 "$TOP/scripts/judge.py" "$K" "$out/$K" >> "$out/$K/judge.out"
	# Campaign sizes and filtered runs would mislead the next split.
	[ -n "${ONLY:-}${REPEAT:-}${KILLS:-}${FUZZ_CALLS:-}${TRINITY_SECS:-}${BATCH_CYCLES:-}" ] ||
		save_durations "$K"
done

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
