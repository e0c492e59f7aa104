#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Plot the curves a benchmark run printed (its "curve" lines: curve, name,
# x, "method", values...) with gnuplot: one data file per curve and
# method, and PNGs beside them.
#   - memslot_batch_bench -k/-v (curves k, v): latency and longest vCPU
#     blackout against K or V, both axes logarithmic;
#   - privmem_bench -c (curves touch<threads>, falloc, dm4k, flushes):
#     GiB/s, DirectMap4k growth or TLB flushes per GiB against the size.
#   - cache_bench (curve refresh): ns per refresh against the pages.
#
# Usage: bench-plot.sh RESULTS.KTAP OUTDIR KERNEL
set -euo pipefail

results=$1 out=$2 kernel=$3

# methods <curve>: the methods of a curve, in the order printed.
methods() {
	sed -n "s/^ *curve $1 [0-9]* \"\([^\"]*\)\".*/\1/p" "$results" | awk '!seen[$0]++'
}

# slug <method>: the method's name as part of a file name.
slug() {
	echo "$1" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9\n' '_'
}

# extract <curve> <method> <file>: "x value..." lines of one method.
extract() {
	awk -v c="$1" -v m="\"$2\"" '
		$1 == "curve" && $2 == c {
			line = $0
			sub(/^ *curve [a-z0-9]+ [0-9]+ /, "", line)
			if (index(line, m) == 1) {
				n = split(substr(line, length(m) + 2), f, " ")
				print $3, f[1], f[2], f[3]
			}
		}' "$results" > "$3"
}

# plot <png> <title> <xlabel> <ylabel> <logscale y: 0/1> <plot clauses...>
plot() {
	local png=$1 title=$2 xlabel=$3 ylabel=$4 logy=$5 plots
	shift 5
	plots=$(IFS=,; echo "$*")
	gnuplot <<-EOF
		set terminal png size 800,500
		set output '$png'
		set title '$title'
		set xlabel '$xlabel'
		set ylabel '$ylabel'
		set termoption noenhanced
		set logscale x 2
		$([ "$logy" = 1 ] && echo "set logscale y 10" || echo "set yrange [0:*]")
		set format y '%g'
		set key below
		set grid
		plot $plots
	EOF
	echo "plot: $png"
}

declare -A label=([k]="changes per batch (K)" [v]="vCPUs (V)")
for curve in k v; do
	grep -q "^ *curve $curve " "$results" || continue
	plots_lat=() plots_gap=()
	while IFS= read -r method; do
		dat=$out/batch_$curve.$(slug "$method").dat
		extract "$curve" "$method" "$dat"
		plots_lat+=("'$dat' using 1:2 with linespoints title '$method'")
		plots_gap+=("'$dat' using 1:4 with linespoints title '$method'")
	done < <(methods "$curve")
	plot "$out/batch_${curve}_lat.png" \
	     "memslot batches on $kernel: batch latency (us, median)" \
	     "${label[$curve]}" "batch latency (us, median)" 1 "${plots_lat[@]}"
	plot "$out/batch_${curve}_gap.png" \
	     "memslot batches on $kernel: longest vCPU blackout (us, median)" \
	     "${label[$curve]}" "longest vCPU blackout (us, median)" 1 "${plots_gap[@]}"
done

while read -r curve; do
	case $curve in
	touch*)	ylabel="first touch by ${curve#touch} thread(s), GiB/s (median)" ;;
	falloc)	ylabel="fallocate, GiB/s (median)" ;;
	dm4k)	ylabel="DirectMap4k growth, kB per GiB" ;;
	*)	ylabel="kernel TLB flushes per GiB" ;;
	esac
	plots=()
	while IFS= read -r method; do
		dat=$out/privmem_$curve.$(slug "$method").dat
		extract "$curve" "$method" "$dat"
		plots+=("'$dat' using 1:2 with linespoints title '$method'")
	done < <(methods "$curve")
	plot "$out/privmem_$curve.png" "private memory on $kernel: $ylabel" \
	     "size (MiB)" "$ylabel" 0 "${plots[@]}"
done < <(sed -n 's/^ *curve \(touch[0-9]*\|falloc\|dm4k\|flushes\) .*/\1/p' \
	 "$results" | awk '!seen[$0]++')

# cache_bench: a refresh's cost against the pages cached.
if grep -q '^ *curve refresh ' "$results"; then
	plots=()
	while IFS= read -r method; do
		dat=$out/cache_refresh.$(slug "$method").dat
		extract refresh "$method" "$dat"
		plots+=("'$dat' using 1:2 with linespoints title '$method'")
	done < <(methods refresh)
	plot "$out/cache_refresh.png" \
	     "guest-page cache on $kernel: a refresh of the whole range (ns, median)" \
	     "pages cached" "ns per refresh (median)" 0 "${plots[@]}"
fi
