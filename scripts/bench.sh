#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: run the benchmarks under each kernel and print their tables.
# Benchmarks compare implementations side by side in one run, repeated,
# with medians and ratios; they are never timed tests.
#
# Usage: bench.sh [kernel...]     (default: 6.12 7.3)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for K in ${*:-6.12 7.3}; do
	dir=$TOP/build/bench/$K
	rm -rf "$dir"
	mkdir -p "$dir"
	prepare_kernel "$K" "$dir" || die "$K: build failed"
	{
		echo "bench cache_bench 1800 sh -c 'insmod /modules/kvm_memext_bench.ko && exec ./bench/cache_bench'"
		echo "bench runstate_bench 1800 ./bench/runstate_bench"
		echo "bench memslot_batch_bench 5400 ./bench/memslot_batch_bench"
	} > "$dir/plan"
	boot_plan "$K" "$dir/plan" "$dir" 7200
	echo "== kernel $K (guest under QEMU TCG on $(nproc) host cpus)"
	sed -n 's/^    //p' "$dir/results.ktap" | grep -v '^Random seed'
	for n in 1 2 3; do
		grep -q "^ok $n " "$dir/results.ktap" || die "$K: benchmark $n failed (see $dir)"
	done
done
