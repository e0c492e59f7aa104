#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing kvm_memext needs, from Debian's archive.
# Idempotent: packages already present are skipped, and apt is not touched
# at all when nothing is missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkgs=(
	# kernel and module builds; zstd, binutils, python3: the IBT seal check
	make gcc gcc-12 libc6-dev bc bison flex libelf-dev libssl-dev dwarves
	kmod cpio rsync xz-utils zstd binutils perl python3
	# fetching kernels: apt-get download, the trixie-backports index
	curl ca-certificates gpgv debian-archive-keyring
	# test guests
	qemu-system-x86 busybox-static
	# arm64 kernels: their modules and tests cross-built with the
	# compiler Debian built them with, booted under qemu-system-aarch64
	# (aarch64-linux-gnu-gcc, the selftest library's compiler, is
	# gcc-aarch64-linux-gnu's: gcc-12 as well)
	gcc-12-aarch64-linux-gnu gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	qemu-system-arm
	# a system-call fuzzer run against the module (guest-trinity.sh)
	trinity
	# the operator's DKMS path (dkms-check.sh) and the Debian packages
	# (make deb, deb-check.sh)
	dkms debhelper dh-dkms lintian
	# the system stage: a Debian system image, a qcow2 overlay of it,
	# the local repository's index (system-image.sh, system-check.sh)
	mmdebstrap qemu-utils dpkg-dev e2fsprogs
	# make style
	sparse shellcheck codespell
	# make bench: the curves' plots (bench-plot.sh)
	gnuplot-nox
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
fi
# apt-get download and the kernel choice read the package lists.
if ! apt-cache show linux-source-6.12 >/dev/null 2>&1; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -q
fi
