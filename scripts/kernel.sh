#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Make one kernel of the test matrix available in the cache and write
# $CACHE/env-<K>.sh describing it:
#
#   KVER     release string (uname -r, and the modules directory name)
#   KIMAGE   bootable bzImage
#   KMODS    root of an extracted /lib/modules/$KVER tree
#   KBUILD   tree to build external modules against (M=)
#   KSRC     kernel source tree (for the KVM selftest library)
#   KDEBUG   1 on the self-built debug kernel
#   KMAKEFLAGS  extra make flags for external modules (the compiler the
#            kernel was built with)
#
# What each kernel is comes from scripts/kernels.conf.  Stock kernels come
# from Debian's archive: the newest image whose matching headers exist is
# chosen by querying apt, never hard-coded.  Debug kernels are built from a
# Debian linux-source package, fetched as one verified .deb (from a suite
# not in apt's sources, e.g. trixie-backports, without adding it).
#
# Downloads take $CACHE/.fetch.lock, so that kernels prepared side by side
# never fetch into the deb cache at once.
#
# Usage: scripts/kernel.sh <name in kernels.conf>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=${1:?usage: kernel.sh <kernel>}
kind=$(kernel_field "$K" kind) || die "unknown kernel '$K' (have: $ALL_KERNELS)"
mkdir -p "$CACHE/debs"
exec {fetch_lock}> "$CACHE/.fetch.lock"
fetching() { flock "$fetch_lock"; }
fetched() { flock -u "$fetch_lock"; }

# Debian's name of kernel $K's architecture, and the host's.
case $(kernel_field "$K" arch) in
x86_64) DEB_ARCH=amd64 ;;
aarch64) DEB_ARCH=arm64 ;;
*) die "$K: unknown arch '$(kernel_field "$K" arch)' in kernels.conf" ;;
esac
HOST_ARCH=$(dpkg --print-architecture)

# apt for $DEB_ARCH: the machine's own, or, for another architecture, a
# private apt state under the cache with the machine's sources (and keys)
# and that architecture alone, so that the machine's apt configuration
# stays as it is.  Its lists are refreshed once per run of this script.
kapt_opts=()
if [ "$DEB_ARCH" != "$HOST_ARCH" ]; then
	adir=$CACHE/apt-$DEB_ARCH
	kapt_opts=(-o Dir::Etc::SourceList=/etc/apt/sources.list
		   -o Dir::Etc::SourceParts=/etc/apt/sources.list.d
		   -o Dir::State="$adir/state" -o Dir::State::status="$adir/status"
		   -o Dir::Cache="$adir/cache"
		   -o APT::Architecture="$DEB_ARCH" -o APT::Architectures::="$DEB_ARCH")
fi
kapt_update() {
	[ ${#kapt_opts[@]} -gt 0 ] || return 0
	mkdir -p "$adir/state/lists/partial" "$adir/cache/archives/partial"
	touch "$adir/status"
	apt-get -qq "${kapt_opts[@]}" -o APT::Sandbox::User=root update >&2 ||
		log "$K: apt-get update for $DEB_ARCH failed, using the lists cached"
}
kapt_cache() { apt-cache "${kapt_opts[@]}" "$@"; }

# Download an apt package (exact name) into the deb cache, print its path;
# "host" as $2 takes the host's architecture (build tools of a foreign
# kernel), else $K's.
apt_fetch() {
	local pkg=$1 arch=$DEB_ARCH opts=("${kapt_opts[@]}") f
	if [ "${2:-}" = host ]; then
		arch=$HOST_ARCH
		opts=()
	fi
	f=$(ls "$CACHE/debs/${pkg}_"*_{"$arch",all}.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$f" ]; then
		(cd "$CACHE/debs" &&
		 apt-get download -q "${opts[@]}" -o APT::Sandbox::User=root "$pkg" >&2) ||
			die "apt-get download $pkg ($arch) failed"
		f=$(ls "$CACHE/debs/${pkg}_"*_{"$arch",all}.deb 2>/dev/null | sort -V | tail -n 1)
	fi
	echo "$f"
}

# Extract the tarball shipped in a linux-source-X.Y .deb into $2.
extract_source() {
	local deb=$1 dest=$2 tmp
	tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	mkdir -p "$dest"
	tar -C "$dest" --strip-components=1 -xf "$tmp"/usr/src/linux-source-*.tar.xz
	rm -rf "$tmp"
}

stock_kernel() {
	local series=$1 img_re abi img dir pkg src_pkg kbuild
	img_re=$(kernel_field "$series" source)
	fetching
	kapt_update
	fetched
	# Newest image whose headers are also in the archive.
	abi=
	for img in $(kapt_cache search --names-only "$img_re" 2>/dev/null |
		     awk '{print $1}' | sort -rV); do
		abi=${img#linux-image-}
		abi=${abi%-"$DEB_ARCH"-unsigned}
		if kapt_cache show "linux-headers-$abi-$DEB_ARCH" >/dev/null 2>&1; then
			break
		fi
		abi=
	done
	if [ -z "$abi" ]; then
		# Offline or stale lists: reuse what the cache already has.
		dir=$(ls -d "$CACHE"/stock-"$series".* 2>/dev/null | sort -V | tail -n 1 || true)
		[ -n "$dir" ] && stamp_ok "$dir" || die "no $series image+headers pair in apt"
		abi=${dir##*/stock-}
		abi=${abi#"$series".}
		abi=${abi%%/*}
		log "$series: apt lists have no pair, reusing cached $abi"
	fi
	dir=$CACHE/stock-$series.$abi
	fetching
	if ! stamp_ok "$dir"; then
		log "$series: fetching linux-image-$abi-$DEB_ARCH-unsigned + headers"
		rm -rf "$dir"
		mkdir -p "$dir/root"
		# Headers pull their -common part; linux-kbuild holds the
		# programs the module build runs: the host's architecture.
		for pkg in "linux-image-$abi-$DEB_ARCH-unsigned" \
			   "linux-headers-$abi-$DEB_ARCH" \
			   $(kapt_cache depends "linux-headers-$abi-$DEB_ARCH" |
			     awk '/Depends: linux-headers-/ {print $2}'); do
			dpkg-deb -x "$(apt_fetch "$pkg")" "$dir/root"
		done
		# Named after the ABI (linux-kbuild-6.12.118+deb12) or the
		# series (linux-kbuild-6.1): the one the headers depend on.
		kbuild=$(kapt_cache depends "linux-headers-$abi-$DEB_ARCH" |
			 awk '/Depends: linux-kbuild-/ {print $2; exit}')
		dpkg-deb -x "$(apt_fetch "${kbuild:-linux-kbuild-$abi}" host)" "$dir/root"
		# The headers include their -common part by absolute path.
		sed -i "s|^include /usr/src/|include $dir/root/usr/src/|" \
			"$dir/root/usr/src/linux-headers-$abi-$DEB_ARCH/Makefile"
		if [ "$DEB_ARCH" != "$HOST_ARCH" ]; then
			# The test guest's shell and tools.
			dpkg-deb -x "$(apt_fetch busybox-static)" "$dir/busybox"
		fi
		src_pkg=linux-source-$(echo "$abi" | cut -d. -f1,2)
		log "$series: fetching and extracting $src_pkg"
		extract_source "$(apt_fetch "$src_pkg" host)" "$dir/src"
		stamp_set "$dir"
	fi
	fetched
	KVER=$abi-$DEB_ARCH
	cat > "$CACHE/env-$series.sh.$$" <<-EOF
	KVER=$KVER
	KIMAGE=$dir/root/boot/vmlinuz-$KVER
	KMODS=$dir/root/lib/modules/$KVER
	KBUILD=$dir/root/usr/src/linux-headers-$KVER
	KSRC=$dir/src
	KDEBUG=0
	KMAKEFLAGS=
	$(kernel_arch_env)
	EOF
}

# What the build and boot scripts need to know of the architecture:
#   KARCH       the kernel's ARCH= (uapi headers, the selftest library)
#   KCROSS      CROSS_COMPILE= for the tests' programs ("" when native)
#   KQEMU_ARCH  qemu-system-<this>
#   KBUSYBOX    the test guest's busybox
kernel_arch_env() {
	case $DEB_ARCH in
	amd64) echo "KARCH=x86 KCROSS= KQEMU_ARCH=x86_64 KBUSYBOX=/bin/busybox" ;;
	arm64) echo "KARCH=arm64 KCROSS=aarch64-linux-gnu- KQEMU_ARCH=aarch64" \
		    "KBUSYBOX=$dir/busybox/bin/busybox" ;;
	esac
}

# Source package $2 from suite $3 (e.g. trixie-backports), not in apt's
# sources: verify InRelease with the Debian archive keys (Debian 12's
# debian-archive-keyring has trixie's), the Packages index against
# InRelease, and the .deb against Packages.  Prints the .deb's path.
fetch_suite_source() {
	local series=$1 pkg=$2 suite=$3 tmp idx sum fn deb
	tmp=$CACHE/$suite
	mkdir -p "$tmp"
	if curl -fsS -m 60 -o "$tmp/InRelease.new" "$DEB_MIRROR/dists/$suite/InRelease"; then
		gpgv --keyring /usr/share/keyrings/debian-archive-keyring.gpg \
		     "$tmp/InRelease.new" 2>/dev/null || die "$suite InRelease: bad signature"
		mv "$tmp/InRelease.new" "$tmp/InRelease"
		idx=main/binary-amd64/Packages.xz
		sum=$(awk -v f="$idx" '$3 == f && length($1) == 64 {print $1}' "$tmp/InRelease" | tail -n 1)
		curl -fsS -m 300 -o "$tmp/Packages.xz" "$DEB_MIRROR/dists/$suite/$idx"
		echo "$sum  $tmp/Packages.xz" | sha256sum -c --quiet - || die "$suite Packages: checksum"
		xz -dc "$tmp/Packages.xz" |
			awk -v p="$pkg" '
				/^Package: / { pkg = $2 }
				pkg == p && /^Filename: / { fn = $2 }
				pkg == p && /^SHA256: / { print fn, $2 }' |
			sort -V | tail -n 1 > "$tmp/$series.sel"
	fi
	[ -s "$tmp/$series.sel" ] || die "$pkg not found in $suite"
	read -r fn sum < "$tmp/$series.sel"
	deb=$CACHE/debs/${fn##*/}
	if [ ! -f "$deb" ]; then
		log "$series: downloading ${fn##*/}"
		curl -fsS -m 1200 -o "$deb.part" "$DEB_MIRROR/$fn"
		echo "$sum  $deb.part" | sha256sum -c --quiet - || die "${fn##*/}: checksum"
		mv "$deb.part" "$deb"
	fi
	echo "$deb"
}

debug_kernel() {
	local series=$1 source pkg deb ver key src out glob frags=()
	source=$(kernel_field "$series" source)
	pkg=${source%@*}
	fetching
	deb=$(fetch_suite_source "$series" "$pkg" "${source#*@}")
	fetched
	ver=${deb##*/"$pkg"_}
	ver=${ver%_all.deb}
	glob=$(kernel_field "$series" config)
	# shellcheck disable=SC2206 # the config column is a glob
	frags=("$TOP"/scripts/config/$glob)
	src=$CACHE/src-$series.$ver
	if ! stamp_ok "$src"; then
		log "$series: extracting source $ver"
		rm -rf "$src"
		extract_source "$deb" "$src"
		stamp_set "$src"
	fi
	# Keyed by source version and the config inputs (not their comments).
	key=$(cat "${frags[@]}" "$TOP/scripts/build-debug-kernel.sh" |
	      grep -v '^[[:space:]]*#' | sha256sum | cut -c1-12)
	out=$CACHE/debug-$series.$ver.$key
	if ! stamp_ok "$out"; then
		log "$series: building debug kernel ($ver, config $key)"
		rm -rf "$out"
		"$TOP/scripts/build-debug-kernel.sh" "$src" "$out" "${frags[@]}"
		stamp_set "$out"
	fi
	cat > "$CACHE/env-$series.sh.$$" <<-EOF
	KVER=$(cat "$out/kernel.release")
	KIMAGE=$out/bzImage
	KMODS=$out/modroot/lib/modules/$(cat "$out/kernel.release")
	KBUILD=$out/obj
	KSRC=$src
	KDEBUG=1
	KMAKEFLAGS="CC=gcc-12 HOSTCC=gcc-12"
	$(kernel_arch_env)
	EOF
}

# Written whole, then renamed: kernels prepared side by side read it.
env_done() { mv "$CACHE/env-$K.sh.$$" "$CACHE/env-$K.sh"; }

case $kind in
stock) stock_kernel "$K" ;;
debug) debug_kernel "$K" ;;
*) die "$K: unknown kind '$kind' in kernels.conf" ;;
esac
env_done
log "$K: ready ($(. "$CACHE/env-$K.sh"; echo "$KVER"))"
