#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: boot the default kernel (Debian's stock 6.12) under QEMU, load
# KVM and kvm_memext, and run the demo VMM (samples/demo_vmm.c).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=${KERNEL:-$DEFAULT_KERNEL}
dir=$TOP/build/run
rm -rf "$dir"
mkdir -p "$dir"
prepare_kernel "$K" "$dir" || die "$K: build failed"
echo "demo demo_vmm 120 ./demo_vmm" > "$dir/plan"
boot_plan "$K" "$dir/plan" "$dir" 300
echo "--- guest (kernel log: $dir/console.log)"
sed -n 's/^    //p; /^# /p' "$dir/results.ktap"
grep -q '^ok 1 demo/demo_vmm' "$dir/results.ktap"
