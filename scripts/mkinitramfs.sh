#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test initramfs for one kernel: busybox-static (of the kernel's
# architecture), KVM's modules
# and their dependencies (decompressed: busybox insmod reads plain .ko),
# our modules, the test binaries and the plan the guest init executes.
#
# Usage: mkinitramfs.sh <K> <build dir> <plan file> <output.cpio.gz>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
build=$2
plan=$3
out=$4
. "$CACHE/env-$K.sh"

root=$(mktemp -d "${TMPDIR:-/tmp}/kvm_memext-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules,tests}
cp "${KBUSYBOX:-/bin/busybox}" "$root/bin/busybox"
cp "$TOP/scripts/guest-init.sh" "$root/init"
chmod 755 "$root/init"

# Copy a KVM module and, first, what it depends on; record load order.
declare -A seen=()
add_module() {
	local name=$1 f dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	f=$(find "$KMODS" -name "$name.ko" -o -name "$name.ko.xz" -o \
		-name "${name//-/_}.ko" -o -name "${name//-/_}.ko.xz" | head -n 1)
	# Built in on this kernel (or absent, e.g. ccp on the debug kernel).
	[ -n "$f" ] || return 0
	for dep in $(modinfo -F depends "$f" | tr , ' '); do
		add_module "$dep"
	done
	case $f in
	*.xz) xz -dc "$f" > "$root/modules/$name.ko" ;;
	*) cp "$f" "$root/modules/$name.ko" ;;
	esac
	echo "$name" >> "$root/modules/order"
}
: > "$root/modules/order"
# brd: a RAM disk to swap to (built into the debug kernel); vgem: RAM
# that userspace maps by pfn (VM_PFNMAP; not on the debug kernel).
for m in irqbypass kvm ccp kvm-amd kvm-intel brd vgem; do
	add_module "$m"
done
for m in "$build"/module/*.ko; do
	cp "$m" "$root/modules/"
done

cp -r "$build"/tests/. "$root/tests/"
cp "$plan" "$root/tests/plan"
echo "$K" > "$root/tests/kernel"

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
# A plan that runs QEMU gets its archive appended: the kernel unpacks
# concatenated archives in turn.
if grep -q ' qemu\.sh ' "$plan"; then
	cat "$("$TOP/scripts/mkqemu-cpio.sh")" >> "$out"
fi
