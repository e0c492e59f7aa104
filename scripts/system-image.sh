#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian 12 system that the system stage (system-check.sh) boots: built
# with mmdebstrap from Debian's packages, with systemd as init, udev, apt,
# dkms, a stock kernel of the matrix with its headers, libvirt and QEMU,
# as an operator's KVM host has them.  Nothing of kvm_memext is in
# it: the stage installs the package as an operator would.
#
# Cached in $CACHE/system-<K>-<key>/ (a raw ext4 image, the kernel and
# its initramfs beside it), keyed by the package list, the kernel and this
# script; older images of kernel K are removed.  Prints the directory.
#
# Usage: system-image.sh <K>   (a stock kernel of scripts/kernels.conf)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
"$TOP/scripts/kernel.sh" "$K" >&2
KVER=$(. "$CACHE/env-$K.sh" && echo "$KVER")
pkgs=(
	systemd-sysv udev apt kmod initramfs-tools e2fsprogs procps util-linux
	# what kvm-memext-dev depends on, and a VMM author builds with
	linux-libc-dev gcc libc6-dev
	"linux-image-$KVER" "linux-headers-$KVER"
	# dkms and what it signs modules with (secure boot)
	dkms openssl
	# libvirt as Debian installs it for a KVM host
	libvirt-daemon-system libvirt-clients qemu-system-x86
)
security=${DEB_MIRROR%/debian}/debian-security

exec {lock}> "$CACHE/.system-image-$K.lock"
flock "$lock"
key=$( { echo "${pkgs[*]}" "$DEB_MIRROR"; sha256sum "$0" | cut -d' ' -f1; } |
	sha256sum | cut -c1-12)
out=$CACHE/system-$K-$key
if stamp_ok "$out"; then
	echo "$out"
	exit 0
fi
command -v mmdebstrap > /dev/null || die "mmdebstrap not installed (scripts/setup.sh)"
rm -rf "$out"
mkdir -p "$out"
root=$out/root
log "$K: building the Debian 12 system image (${#pkgs[@]} packages and their dependencies)"
t0=$SECONDS
# The test disk is mounted by a unit of the image's own, which runs the
# stage's script from it; the image has no network and no apt source.
mmdebstrap --variant=apt --components=main \
	--include="$(IFS=,; echo "${pkgs[*]}")" \
	--aptopt='APT::Install-Recommends "false"' \
	--customize-hook='echo kvmhost > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$1/etc/fstab"' \
	--customize-hook='rm -f "$1/etc/apt/sources.list"; : > "$1/etc/machine-id"' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook='mkdir -p "$1/mnt/test"' \
	--customize-hook='cat > "$1/etc/systemd/system/system-test.service" <<-EOF
		[Unit]
		Description=kvm_memext system stage (test disk)
		ConditionPathExists=/dev/vdb
		After=libvirtd.service local-fs.target systemd-udev-settle.service
		Wants=libvirtd.service

		[Service]
		Type=oneshot
		ExecStart=/bin/sh -c "mount -o ro /dev/vdb /mnt/test && exec /mnt/test/run.sh"
		StandardOutput=file:/dev/ttyS1
		StandardError=inherit
		TimeoutStartSec=infinity

		[Install]
		WantedBy=multi-user.target
	EOF' \
	--customize-hook='chroot "$1" systemctl enable system-test.service' \
	--customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer fstrim.timer systemd-timesyncd.service libvirt-guests.service' \
	bookworm "$root" \
	"deb $DEB_MIRROR bookworm main" \
	"deb $DEB_MIRROR bookworm-updates main" \
	"deb $security bookworm-security main" > "$out/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$out/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $out/mmdebstrap.log)"; }
cp "$root/boot/vmlinuz-$KVER" "$out/vmlinuz"
cp "$root/boot/initrd.img-$KVER" "$out/initrd.img"
# Room for the module's build, libvirt's files and the guests' RAM files.
size=$(( $(du -sm "$root" | cut -f1) + 1536 ))
mkfs.ext4 -q -L kvmhost -d "$root" "$out/root.img" "${size}M" >&2
rm -rf "$root"
echo "$KVER" > "$out/kver"
stamp_set "$out"
log "$K: system image ready in $((SECONDS - t0)) s: $(du -sh "$out/root.img" | cut -f1)"
find "$CACHE" -maxdepth 1 -name "system-$K-*" -type d ! -name "${out##*/}" -exec rm -rf {} +
echo "$out"
