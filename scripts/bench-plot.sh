#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Plot the curves a benchmark run printed (its "curve" lines, see
# selftests/bench/memslot_batch_bench.c) with gnuplot: for each curve, one
# data file per method and two PNGs beside them, latency and longest vCPU
# blackout against the curve's variable, both axes logarithmic.
#
# Usage: bench-plot.sh RESULTS.KTAP OUTDIR KERNEL
set -euo pipefail

results=$1 out=$2 kernel=$3
declare -A label=([k]="changes per batch (K)" [v]="vCPUs (V)")

for curve in k v; do
	grep -q "^ *curve $curve " "$results" || continue
	plots_lat=() plots_gap=()
	while IFS= read -r method; do
		slug=$(echo "$method" | tr -c 'a-z0-9\n' '_')
		dat=$out/batch_$curve.$slug.dat
		awk -v c="$curve" -v m="\"$method\"" '
			$1 == "curve" && $2 == c {
				line = $0
				sub(/^ *curve [a-z] [0-9]+ /, "", line)
				if (index(line, m) == 1) {
					n = split(substr(line, length(m) + 2), f, " ")
					print $3, f[1], f[2], f[3]
				}
			}' "$results" > "$dat"
		plots_lat+=("'$dat' using 1:2 with linespoints title '$method'")
		plots_gap+=("'$dat' using 1:4 with linespoints title '$method'")
	done < <(sed -n "s/^ *curve $curve [0-9]* \"\([^\"]*\)\".*/\1/p" "$results" |
		 awk '!seen[$0]++')
	for what in lat gap; do
		if [ $what = lat ]; then
			ylabel="batch latency (us, median)"
			plots=$(IFS=,; echo "${plots_lat[*]}")
		else
			ylabel="longest vCPU blackout (us, median)"
			plots=$(IFS=,; echo "${plots_gap[*]}")
		fi
		gnuplot <<-EOF
			set terminal png size 800,500
			set output '$out/batch_${curve}_$what.png'
			set title 'memslot batches on $kernel: $ylabel'
			set xlabel '${label[$curve]}'
			set ylabel '$ylabel'
			set termoption noenhanced
			set logscale x 2
			set logscale y 10
			set format y '%g'
			set key top left
			set grid
			plot $plots
		EOF
		echo "plot: $out/batch_${curve}_$what.png"
	done
done
