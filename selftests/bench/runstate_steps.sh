#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Where a runstate update's time goes, per step, for kvm_memext's area and
# KVM's own Xen runstate, from inside the kernel: runstate_bench's round
# trips run under the function_graph tracer with a pair of functions as
# the only roots and a depth of 1, so only those two are timed and none
# of what they call.  Each row is the median (10th, 90th percentile) of
# every call during one run of runstate_bench.  The tracer's own entry and
# exit cost, alike for both columns, is in every figure.
#
#   update       runstate_switch      kvm_xen_update_runstate
#   clock read   ktime_get_with_offset  get_kvmclock_ns
#   guest write  runstate_flush       kvm_xen_update_runstate_guest
#
# Usage: runstate_steps.sh [round trips]     (from the tests directory)
set -eu
n=${1:-400}
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
[ -w $T/set_graph_function ] || { echo "no function_graph tracer"; exit 4; }

# stats <function>: "median (p10-p90)" of its calls in the trace, in us.
stats() {
	grep -E " $1( \[[a-z_]+\])?\(\);" $T/trace |
		sed 's/^ *[0-9]*) *//; s/^[^0-9]*//; s/ us.*//' | sort -n > /tmp/steps.d
	k=$(grep -c . /tmp/steps.d || true)
	[ "$k" -gt 0 ] || { echo "-"; return; }
	printf '%s (%s-%s) n=%s' "$(sed -n "$(((k + 1) / 2))p" /tmp/steps.d)" \
		"$(sed -n "$((k / 10 + 1))p" /tmp/steps.d)" \
		"$(sed -n "$((k * 9 / 10 + 1))p" /tmp/steps.d)" "$k"
}

echo 16384 > $T/buffer_size_kb
echo 1 > $T/max_graph_depth
echo "runstate update steps, us per call: median (p10-p90), function_graph depth 1"
printf '%-12s | %-36s | %-36s\n' step kvm_memext "KVM Xen"
for row in "update runstate_switch kvm_xen_update_runstate" \
	   "clock ktime_get_with_offset get_kvmclock_ns" \
	   "write runstate_flush kvm_xen_update_runstate_guest"; do
	# shellcheck disable=SC2086 # split the row into its words
	set -- $row
	echo nop > $T/current_tracer
	echo > $T/set_graph_function
	echo "$2" >> $T/set_graph_function
	# No Xen runstate on arm64.
	echo "$3" >> $T/set_graph_function 2>/dev/null || true
	echo function_graph > $T/current_tracer
	echo > $T/trace
	echo 1 > $T/tracing_on
	./bench/runstate_bench -r 1 -n "$n" > /dev/null
	echo 0 > $T/tracing_on
	printf '%-12s | %-36s | %-36s\n' "$1" "$(stats "$2")" "$(stats "$3")"
done
echo nop > $T/current_tracer
echo > $T/set_graph_function
echo 0 > $T/max_graph_depth
