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
declare -A stage_secs=()
total_pass=0 total_fail=0 total_skip=0
summary=
failures=

timed() {
	local name=$1 t0=$SECONDS rc=0
	shift
	"$@" || rc=$?
	stage_secs[$name]=$((SECONDS - t0))
	return $rc
}

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
	echo "selftest memslot_batch_test.signal 600 sh -c 'p=/sys/module/kvm_memext/parameters; f=\$(cat \$p/batch_resume_fanout); echo N > \$p/batch_park_in_kernel; echo 2 > \$p/batch_resume_fanout; ./memext/memslot_batch_test; r=\$?; echo Y > \$p/batch_park_in_kernel; echo \$f > \$p/batch_resume_fanout; exit \$r'"
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
	for t in set_memory_region_test memslot_modification_stress_test \
		 dirty_log_test guest_memfd_test xen_shinfo_test \
		 kvm_page_table_test demand_paging_test dirty_log_perf_test; do
		[ -x "$TOP/build/$K/tests/peer/$t" ] || continue
		# Upstream's own splat (see known-splats.txt) disables lockdep
		# for the rest of the boot, which would blind it to ours.
		if [ "$debug" = 1 ] && grep -q "^$t skip " "$TOP/scripts/known-splats.txt"; then
			echo "# $t skipped on the debug kernel: known upstream splat"
			continue
		fi
		case $t in
		# The stress test's defaults take minutes under TCG.
		memslot_modification_stress_test) args="-i 100 -v 2" ;;
		dirty_log_test) args="-i 8" ;;
		# 1 GiB per vCPU by default.
		kvm_page_table_test|demand_paging_test) args="-b 64M" ;;
		dirty_log_perf_test) args="-b 64M -i 2" ;;
		*) args= ;;
		esac
		echo "peer $t 900 sh peer.sh $t $args"
		# Those with a backing-source option, again with guest memory
		# in private memory (selftests/lib/privmem_wrap.c).
		case $t in
		kvm_page_table_test|demand_paging_test|dirty_log_perf_test)
			echo "peer $t.privmem 900 sh peer.sh --privmem $t $args -s shmem" ;;
		esac
	done
}

# ONLY=<regex> keeps the plan lines whose "stage/name" matches, for quick
# iterations; REPEAT=<n> runs each kept line n times in one boot, to hunt
# rare failures.  A filtered run says so in its summary.
filter_plan() {
	awk -v re="${ONLY:-}" -v n="${REPEAT:-1}" '
		/^#/ { print; next }
		re == "" || ($1 "/" $2) ~ re { for (i = 0; i < n; i++) print }'
}

# Splats in the guest's kernel log, one per line, each after the name of
# the test that was running ("-" before the first): "<stage/name> <line>".
scan_console() {
	local console=$1 pat
	pat='(Oops|WARNING:|BUG:|KASAN:|UBSAN:|general protection fault'
	pat+='|possible circular locking|possible recursive locking|inconsistent lock state'
	pat+='|suspicious RCU usage|rcu: INFO: .* detected stall|blocked for more than'
	pat+='|unreferenced object|Kernel panic|Call Trace:)'
	awk -v pat="$pat" '
		{ sub(/\r$/, "") }
		/kvm_memext-runner: begin / { t = $NF; next }
		/kvm_memext-runner: end / { t = ""; next }
		$0 ~ pat && !/Call Trace:/ { print (t == "" ? "-" : t) " " $0 }' "$console"
}

# Whether a splat line of scan_console() is a known upstream report: its
# signature is listed in known-splats.txt for the test that was running.
known_splat() {
	local test=${1%% *} line=${1#* } name sig
	test=${test#*/}
	while read -r name _ sig; do
		case $name in ''|'#'*) continue ;; esac
		[ "$test" = "$name" ] || [ "${test#"$name".}" != "$test" ] || continue
		[[ $line == *"$sig"* ]] && return 0
	done < "$TOP/scripts/known-splats.txt"
	return 1
}

# The diagnostics of each failed top-level test: its failed subtests and
# "#" lines, capped, so that the end of the output (all a CI log may keep)
# says what failed and why.
failure_details() {
	awk -v k="$1" '
		/^(not )?ok [0-9]+ / {
			if ($1 == "not") {
				print k ": " $0
				for (i = 0; i < n && i < 25; i++)
					print k ":     " buf[i]
				if (n > 25)
					print k ":     ... " n - 25 " more lines in results.ktap"
			}
			n = 0
			next
		}
		/Test Assertion Failure/ { a = 4 }
		a && !/Test Assertion Failure|addr2line/ { a--; sub(/^ +/, ""); buf[n++] = $0; next }
		/^ *(not ok|#)/ && !/# Totals:/ { sub(/^ +/, ""); buf[n++] = $0 }' "$2"
}

# Count one kernel's results, by section: kunit, selftest (with the demo
# VMM), peer (KVM's own tests), and the kernel log.
judge() {
	local K=$1 dir=$2 line stage splats known
	local results=$dir/results.ktap
	local -A pass=() fail=() skip=()
	if [ ! -s "$results" ]; then
		echo "not ok 1 $K/boot # no results from the guest" > "$results"
	fi
	count() {
		case $2 in
		pass) pass[$1]=$((${pass[$1]:-0} + 1)) ;;
		fail) fail[$1]=$((${fail[$1]:-0} + 1)) ;;
		skip) skip[$1]=$((${skip[$1]:-0} + 1)) ;;
		esac
	}
	for stage in kunit selftest sample qemu peer boot; do
		while IFS= read -r line; do
			case $line in
			"ok "*"# SKIP"*) count "$stage" skip ;;
			"ok "*) count "$stage" pass ;;
			"not ok "*) count "$stage" fail ;;
			*) continue ;;
			esac
			printf '  %s: %s\n' "$K" "$line"
		done < <(grep -E "^(not )?ok [0-9]+ $stage[/.]|^not ok [0-9]+ $K/$stage" "$results")
	done
	if ! grep -q '^# KVM_MEMEXT_RUNNER_DONE' "$results"; then
		printf '  %s: not ok %s/runner # guest did not finish (timeout or panic), see %s\n' \
			"$K" "$K" "$dir/console.log"
		count runner fail
	fi
	splats=$(scan_console "$dir/console.log")
	if [ -n "$splats" ]; then
		known=
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			known_splat "$line" && known+="$line"$'\n'
		done <<< "$splats"
		if [ "$(echo -n "$splats" | grep -c .)" != "$(echo -n "$known" | grep -c .)" ]; then
			printf '  %s: not ok %s/kernel-log # splat in the kernel log:\n' "$K" "$K"
			echo "$splats" | head -n 20 | sed 's/^/      /'
			count kernel-log fail
		else
			printf '  %s: ok %s/kernel-log # known upstream splats only:\n' "$K" "$K"
			echo -n "$known" | sed 's/^/      /'
			count kernel-log pass
		fi
	else
		printf '  %s: ok %s/kernel-log # no splat\n' "$K" "$K"
		count kernel-log pass
	fi
	grep '^# kmemleak' "$results" | sed "s/^/  $K: /"
	failures+=$(failure_details "$K" "$results")
	[ -z "${splats:-}" ] || [ "$(echo -n "$splats" | grep -c .)" = "$(echo -n "$known" | grep -c .)" ] ||
		failures+=$'\n'"$K: kernel-log splats:"$'\n'"$(echo "$splats" | head -n 10)"
	if ! grep -q '^# KVM_MEMEXT_RUNNER_DONE' "$results"; then
		failures+=$'\n'"$K: guest did not finish; last console lines:"$'\n'
		failures+=$(tail -n 15 "$dir/console.log")
	fi
	[ -z "$failures" ] || failures+=$'\n'
	for stage in kunit selftest sample qemu peer boot runner kernel-log; do
		[ -n "${pass[$stage]:-}${fail[$stage]:-}${skip[$stage]:-}" ] || continue
		printf '  %s: %-10s %d passed, %d failed, %d skipped\n' "$K" "$stage" \
			"${pass[$stage]:-0}" "${fail[$stage]:-0}" "${skip[$stage]:-0}"
		total_pass=$((total_pass + ${pass[$stage]:-0}))
		total_fail=$((total_fail + ${fail[$stage]:-0}))
		total_skip=$((total_skip + ${skip[$stage]:-0}))
		summary+="$(printf '%-5s %-10s %3d passed, %d failed, %d skipped' "$K" "$stage" \
			"${pass[$stage]:-0}" "${fail[$stage]:-0}" "${skip[$stage]:-0}")"$'\n'
	done
}

for K in $kernels; do
	dir=$out/$K
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "== kernel $K"
	if ! timed "$K:kernel" "$TOP/scripts/kernel.sh" "$K"; then
		echo "  $K: not ok $K/kernel # could not fetch or build the kernel"
		total_fail=$((total_fail + 1))
		continue
	fi
	if ! timed "$K:build" "$TOP/scripts/build-tests.sh" "$K" > "$dir/build.log" 2>&1; then
		tail -n 30 "$dir/build.log"
		echo "  $K: not ok $K/build # module or tests failed to build"
		total_fail=$((total_fail + 1))
		continue
	fi
	. "$CACHE/env-$K.sh"
	write_plan "$K" "$KDEBUG" | filter_plan > "$dir/plan"
	grep '^#' "$dir/plan" | sed "s/^/  $K: /"
	timed "$K:tests" boot_plan "$K" "$dir/plan" "$dir" "${KVM_MEMEXT_BOOT_TIMEOUT:-2400}"
	judge "$K" "$dir"
done

echo "== summary by kernel and section"
echo -n "$summary"
echo "== stage timings (s)"
for s in "${!stage_secs[@]}"; do
	printf '  %-14s %5d\n' "$s" "${stage_secs[$s]}"
done | sort
[ -z "${ONLY:-}" ] || echo "note: plan filtered by ONLY='$ONLY'"
[ "${REPEAT:-1}" = 1 ] || echo "note: each test repeated REPEAT=$REPEAT times"
if [ -n "$failures" ]; then
	echo "== failures"
	echo -n "$failures" | grep -v '^$'
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
