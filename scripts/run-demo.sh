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
"$TOP/scripts/kernel.sh" "$K"
"$TOP/scripts/build-tests.sh" "$K" > "$dir/build.log" 2>&1 ||
	{ tail -n 30 "$dir/build.log"; die "build failed"; }
echo "demo demo_vmm 120 ./demo_vmm" > "$dir/plan"
"$TOP/scripts/mkinitramfs.sh" "$K" "$TOP/build/$K" "$dir/plan" "$dir/initramfs.cpio.gz"
"$TOP/scripts/run-qemu.sh" "$K" "$dir/initramfs.cpio.gz" "$dir" 300
echo "--- guest (kernel log: $dir/console.log)"
sed -n 's/^    //p; /^# /p' "$dir/results.ktap"
grep -q '^ok 1 demo/demo_vmm' "$dir/results.ktap"
