#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The system stage: a Debian 12 system (system-image.sh) booted under QEMU
# with systemd as init on stock kernel K, where an operator installs
# the packages of `make deb` with apt and uses them (guest-system.sh: dkms,
# udev, the mount unit, libvirt, a kvm-group user's QEMU, the installed
# kselftests, modprobe -r, apt purge).  The system's kernel log lands in
# <outdir>/console.log, its KTAP in <outdir>/results.ktap, as for the
# other guests, and judge.py judges them.  The image stays untouched: the
# guest writes to a qcow2 overlay of it, made anew for every run.
#
# Usage: [KVM_MEMEXT_SYSTEM_KEEP=1] system-check.sh <K> <outdir> <timeout seconds>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
outdir=$2
tmo=$3
mkdir -p "$outdir"
rm -f "$outdir"/{console.log,results.ktap,qemu.log}
t0=$SECONDS
image=$("$TOP/scripts/system-image.sh" "$K")
echo "$K:system-image $((SECONDS - t0))" >> "$outdir/timings"

work=$(mktemp -d "${TMPDIR:-/tmp}/kvm_memext-system.XXXXXX")
# KVM_MEMEXT_SYSTEM_KEEP=1 keeps the overlay and the test disk, to boot
# the system again by hand.
if [ -n "${KVM_MEMEXT_SYSTEM_KEEP:-}" ]; then
	log "system: keeping $work"
else
	trap 'rm -rf "$work"' EXIT
fi
disk=$work/disk
mkdir -p "$disk/repo"
# The packages, in a repository apt reads offline.
make -s -C "$TOP" deb DEB_OUT="$work/deb" > "$work/deb.log" 2>&1 ||
	{ tail -n 20 "$work/deb.log"; die "make deb failed"; }
cp "$work"/deb/*.deb "$disk/repo/"
(cd "$disk/repo" && dpkg-scanpackages -m . > Packages 2> /dev/null)
cp "$TOP/VERSION" "$disk/version"
install -m 0755 "$TOP/scripts/guest-system.sh" "$disk/run.sh"
# The inner guest's initramfs: only /init.
mkdir -p "$work/inner/dev"
gcc -O2 -Wall -Wextra -static -o "$work/inner/init" "$TOP/selftests/qemu/inner_init.c"
(cd "$work/inner" && find . | cpio -o -H newc --quiet) | gzip -1 > "$disk/inner.gz"
# The kselftest collection, as a CI system installs it.
if [ -d "$TOP/build/$K/tests" ]; then
	"$TOP/scripts/kselftest-install.sh" "$K" "$disk/kselftest" \
		> "$work/kselftest.log" 2>&1 ||
		{ tail -n 20 "$work/kselftest.log"; die "kselftest-install.sh failed"; }
fi
mkfs.ext4 -q -L test -d "$disk" "$work/test.img" 256M > /dev/null
qemu-img create -q -f qcow2 -F raw -b "$image/root.img" "$work/root.qcow2"

# TCG with -cpu max, as every stage (run-qemu.sh): SVM for kvm_amd.
log "$K: system: booting Debian 12 ($(cat "$image/kver")) with systemd"
t0=$SECONDS
timeout -s KILL "$tmo" qemu-system-x86_64 -accel tcg,thread=single -cpu max \
	-m 3072 -smp 2 -nodefaults -nographic \
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 panic=-1 oops=panic nokaslr loglevel=7 systemd.show_status=false" \
	-drive "file=$work/root.qcow2,if=virtio,format=qcow2,discard=unmap" \
	-drive "file=$work/test.img,if=virtio,format=raw,readonly=on" \
	-serial "file:$outdir/console.log" \
	-serial "file:$outdir/results.ktap" \
	< /dev/null > "$outdir/qemu.log" 2>&1 &
wait_guest $! "$outdir/results.ktap" 30 "$K: system" "$tmo"
echo "$K:system $((SECONDS - t0))" >> "$outdir/timings"
exit 0
