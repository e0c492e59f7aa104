#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot one kernel of the matrix under QEMU with a test initramfs.  Kernel
# messages land in <outdir>/console.log, the guest's KTAP in
# <outdir>/results.ktap (second serial port).
#
# KVM acceleration is used only where the host CPU shows vmx/svm and a
# guest really starts with it (probed once per host boot); otherwise TCG
# with -cpu max, which exposes SVM with nested paging so that kvm_amd
# loads inside the guest.
#
# An ivshmem-plain PCI device gives the tests IO memory without struct
# page: its BAR 2, mapped through sysfs, is a VM_PFNMAP mapping.
#
# TCG runs single-threaded (round-robin over the guest's CPUs) unless
# KVM_MEMEXT_TCG_THREAD=multi: QEMU 7.2's multi-threaded TCG corrupts
# nested-SVM state under frequent VMRUN/VMEXIT with cross-CPU interrupts
# (an L2 vCPU came back with the L1 kernel's RIP and RSP, or triple-faulted
# at RIP 0xfff0; an L1 CPU stayed in guest mode for 20 s ignoring
# interrupts), see Documentation/testing.rst.
#
# Usage: run-qemu.sh <K> <initramfs> <outdir> <timeout seconds>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
initrd=$2
outdir=$3
tmo=$4
. "$CACHE/env-$K.sh"
mkdir -p "$outdir"

# The guest's /init writes KTAP to $ktap_tty (an unknown parameter
# reaches init as an environment variable).
case $KQEMU_ARCH in
x86_64) append="console=ttyS0 ktap_tty=ttyS1" ;;
aarch64) append="console=ttyAMA0 ktap_tty=ttyS0" ;;
esac
append+=" panic=-1 oops=panic loglevel=7 nokaslr"
append+=" hung_task_panic=0 softlockup_panic=0 transparent_hugepage=madvise"
# memfd_secret, one of the backings privmem_bench compares with.
append+=" secretmem.enable=1"
# No panic_on_warn: check.sh fails the run on any WARN in the log that is
# not a known upstream one, and after a known one the tests go on.
[ "$KDEBUG" = 1 ] && append+=" kmemleak=on"

accel_args() {
	local probe
	# arm64: the virt machine with EL2, so that KVM/arm64 runs in the
	# guest (VHE) and creates real guests; GICv3 for their vGIC.
	# Pointer authentication with QEMU's own algorithm: emulating the
	# architected QARMA5 costs about a microsecond per signed return,
	# which made the guest 3 to 6 times slower (privmem_bench: 46 s
	# against 237 s); the guest sees the same features otherwise.
	if [ "$KQEMU_ARCH" = aarch64 ]; then
		echo "-M virt,virtualization=on,gic-version=3" \
		     "-accel tcg,thread=${KVM_MEMEXT_TCG_THREAD:-single}" \
		     "-cpu max,pauth-impdef=on"
		return
	fi
	probe=/tmp/kvm_memext-accel.$(cut -d' ' -f1 /proc/sys/kernel/random/boot_id)
	if [ ! -f "$probe" ]; then
		echo tcg > "$probe"
		if grep -qw -e vmx -e svm /proc/cpuinfo && [ -w /dev/kvm ] &&
		   timeout 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 \
			-nodefaults -nographic -no-reboot -serial stdio \
			-kernel "$KIMAGE" -append "console=ttyS0 panic=-1 rdinit=/nonexistent" \
			2>/dev/null | grep -q "Kernel panic"; then
			echo kvm > "$probe"
		fi
	fi
	if [ "$(cat "$probe")" = kvm ]; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg,thread=${KVM_MEMEXT_TCG_THREAD:-single} -cpu max"
	fi
}

# Two NUMA nodes (half the memory and CPUs each), so that tests can
# migrate pages between them.
smp=${KVM_MEMEXT_QEMU_SMP:-2}
mem=${KVM_MEMEXT_QEMU_MEM_MB:-3072}
numa=
smp_topo=$smp
if [ "$smp" -ge 2 ]; then
	# One socket per CPU: a node boundary inside a package makes the
	# scheduler's topology check WARN.
	smp_topo="$smp,sockets=$smp,cores=1,threads=1"
	numa="-object memory-backend-ram,id=mem0,size=$((mem / 2))M"
	numa+=" -object memory-backend-ram,id=mem1,size=$((mem - mem / 2))M"
	numa+=" -numa node,nodeid=0,cpus=0,memdev=mem0"
	numa+=" -numa node,nodeid=1,cpus=1-$((smp - 1)),memdev=mem1"
fi
mem=${mem}M

# KTAP on a second UART: the PC's COM2; the virt machine has one PL011
# only, so there a 16550 on PCI (8250_pci, built into Debian's kernels).
if [ "$KQEMU_ARCH" = aarch64 ]; then
	ktap_serial="-chardev file,id=ktap,path=$outdir/results.ktap -device pci-serial,chardev=ktap"
else
	ktap_serial="-serial file:$outdir/results.ktap"
fi
accel=$(accel_args)
log "$K: booting $KVER ($accel, $smp cpus, ${numa:+2 NUMA nodes, }$mem)"
boot() {
	rm -f "$outdir/console.log" "$outdir/results.ktap"
	# shellcheck disable=SC2086
	timeout -s KILL "$tmo" "qemu-system-$KQEMU_ARCH" $accel \
		-m "$mem" -smp "$smp_topo" $numa \
		-nodefaults -nographic -no-reboot \
		-kernel "$KIMAGE" -initrd "$initrd" -append "$append" \
		-object memory-backend-ram,id=ivshmem,size=2M,share=on \
		-device ivshmem-plain,memdev=ivshmem \
		-serial "file:$outdir/console.log" $ktap_serial \
		< /dev/null > "$outdir/qemu.log" 2>&1 &
	wait_guest $! "$outdir/results.ktap" 15 "$K" "$tmo"
}

# A kernel report (judge.py's patterns) before kvm_memext was loaded: in
# the kernel's own boot, which runs nothing of ours.
splat_before_module() {
	sed '/kvm_memext: loading out-of-tree module/q' "$outdir/console.log" 2>/dev/null |
		grep -qE 'Oops|WARNING:|BUG:|KASAN:|UBSAN:|general protection fault|Kernel panic'
}

boot
# A guest that died before loading KVM (seen once: an int3 Oops in early
# boot text patching under multi-threaded TCG), or whose kernel reported a
# splat before the module was loaded (seen once, 2026-12-06: KASAN
# "wild-memory-access" in handle_edge_irq() 3 ms into 7.3's boot), ran
# nothing of ours: boot it once more, and say so; the report stays in
# console.failed-boot.log.  Anything later counts as it is.
if ! grep -q '^# KVM vendor module' "$outdir/results.ktap" 2>/dev/null ||
   splat_before_module; then
	mv "$outdir/console.log" "$outdir/console.failed-boot.log" 2>/dev/null || true
	log "$K: guest died before loading KVM or reported a splat before loading" \
	    "kvm_memext (see console.failed-boot.log), booting again"
	boot
fi
exit 0
