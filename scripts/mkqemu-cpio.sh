#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The second initramfs archive of the test guests that run a real VMM
# (guest-qemu.sh): Debian's own qemu-system-x86_64 with the shared
# libraries and firmware it loads, at their paths, and the guest it boots
# (Debian's 6.12 kernel image and a one-program initramfs).  Built once per
# input and cached; the kernel unpacks it over the test initramfs.
#
# Usage: mkqemu-cpio.sh   (prints the path of the archive)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not installed"
"$TOP/scripts/kernel.sh" "$DEFAULT_KERNEL" >&2
inner_kernel=$(. "$CACHE/env-$DEFAULT_KERNEL.sh" && echo "$KIMAGE")
init_src=$TOP/selftests/qemu/inner_init.c
# What QEMU reads at start for a pc machine booted with -kernel.
firmware="/usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin
	/usr/share/qemu/kvmvapic.bin"

# Lanes of check.sh may ask at once: one builds, the others wait for it.
exec {lock}> "$CACHE/.qemu-guest.lock"
flock "$lock"
key=$( { "$qemu" --version; sha256sum "$qemu" "$inner_kernel" "$init_src" "$0" |
	cut -d' ' -f1; } | sha256sum | cut -c1-12)
out=$CACHE/qemu-guest.$key.cpio.gz
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi
log "building the QEMU guest archive ($($qemu --version | head -n 1))"
root=$(mktemp -d "${TMPDIR:-/tmp}/kvm_memext-qemu.XXXXXX")
trap 'rm -rf "$root"' EXIT

copy() {
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}
copy "$qemu"
for lib in $(ldd_closure "$qemu"); do
	copy "$lib"
done
for f in $firmware; do
	copy "$f"
done

# The inner guest: its kernel, and an initramfs holding only /init.
mkdir -p "$root/qemu-guest" "$root/qemu-guest/initrd/dev"
cp "$inner_kernel" "$root/qemu-guest/vmlinuz"
gcc -O2 -Wall -Wextra -static -o "$root/qemu-guest/initrd/init" "$init_src"
(cd "$root/qemu-guest/initrd" && find . | cpio -o -H newc --quiet) |
	gzip -1 > "$root/qemu-guest/initrd.gz"
rm -rf "$root/qemu-guest/initrd"

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
# Older archives of other inputs are of no use any more.
find "$CACHE" -maxdepth 1 -name 'qemu-guest.*.cpio.gz' ! -name "${out##*/}" -delete
echo "$out"
