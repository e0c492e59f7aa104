#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: run the benchmarks under each kernel and print their tables.
# Benchmarks compare implementations side by side in one run, repeated,
# with medians and ratios; they are never timed tests.
#
# Usage: bench.sh [kernel...]     (default: the "bench" kernels of kernels.conf)
#   BENCH_ONLY=<regex>      only the benchmarks whose name matches
#   BENCH_BATCH_ARGS=...    arguments of memslot_batch_bench (e.g. -V 16 -K 64)
#   BENCH_PRIVMEM_ARGS=...  arguments of privmem_bench (e.g. -s 256 -r 3)
#   BENCH_PRIVMEM_CURVE_ARGS=...  more of privmem_curve's (e.g. -s 512)
#
# The curves (memslot_batch_curve_k, _v, privmem_curve) are also plotted,
# with gnuplot, under build/bench/<kernel>/ (scripts/bench-plot.sh).  The
# guest has KVM_MEMEXT_QEMU_MEM_MB of memory (3072 by default), which
# bounds privmem_curve's sizes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

read -ra kernels <<< "${*:-$(kernels_with bench)}"
for K in "${kernels[@]}"; do
	dir=$TOP/build/bench/$K
	rm -rf "$dir"
	mkdir -p "$dir"
	prepare_kernel "$K" "$dir" || die "$K: build failed"
	{
		echo "bench cache_bench 1800 sh -c 'insmod /modules/kvm_memext_bench.ko && exec ./bench/cache_bench'"
		echo "bench runstate_bench 1800 ./bench/runstate_bench"
		# The same round trips, timed per step inside the kernel.
		echo "bench runstate_steps 1800 sh bench/runstate_steps.sh"
		echo "bench privmem_bench 1800 ./bench/privmem_bench ${BENCH_PRIVMEM_ARGS:-}"
		# First touch and fallocate from 256 MiB to half the guest's
		# free memory, by 1 to all threads, against anonymous THP.
		echo "bench privmem_curve 3600 ./bench/privmem_bench -c -r 3 ${BENCH_PRIVMEM_CURVE_ARGS:-}"
		echo "bench memslot_batch_bench 5400 ./bench/memslot_batch_bench ${BENCH_BATCH_ARGS:-}"
		# Latency and blackout as K grows to 256 (4 vCPUs) and as V
		# grows to 32 (8 changes), among 512 one-page memslots; the
		# blackouts vary more, hence more repeats.
		echo "bench memslot_batch_curve_k 3600 ./bench/memslot_batch_bench -k -r 3"
		echo "bench memslot_batch_curve_v 3600 ./bench/memslot_batch_bench -v -r 9"
		echo "bench trace_bench 1800 ./bench/trace_bench"
		# KVM's own workloads with the module unloaded, loaded, and
		# bound; last, as it unloads kvm_memext_bench.ko.
		echo "bench peer_bench 3600 ./bench/peer_bench"
	} | awk -v re="${BENCH_ONLY:-}" 're == "" || $2 ~ re' > "$dir/plan"
	boot_plan "$K" "$dir/plan" "$dir" 7200
	echo "== kernel $K (guest under QEMU TCG on $(nproc) host cpus)"
	sed -n 's/^    //p' "$dir/results.ktap" | grep -v -e '^Random seed' -e '^curve '
	"$TOP/scripts/bench-plot.sh" "$dir/results.ktap" "$dir" "$K"
	n=$(wc -l < "$dir/plan")
	for i in $(seq "$n"); do
		grep -q "^ok $i " "$dir/results.ktap" || die "$K: benchmark $i failed (see $dir)"
	done
done
