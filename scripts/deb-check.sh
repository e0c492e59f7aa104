#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian packages as an operator's repository builds them: `make deb`
# (dpkg-buildpackage, dh-dkms), lintian silent at its default level, and
# the packages holding what debian/ says: the DKMS source with the
# version of VERSION and the kernel bounds in its dkms.conf, the udev
# rule, the mount unit, the man page, the uAPI header, its pkg-config
# file, the sample VMMs, and kvm_memext_stat with its man page, which
# runs.  Prints
# one KTAP result, "host/deb"; exits 0 when it passed.
#
# Usage: deb-check.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"

name=host/deb
for tool in dpkg-buildpackage dh_dkms lintian; do
	if ! command -v $tool > /dev/null; then
		echo "ok 1 $name # SKIP no $tool (scripts/setup.sh installs it)"
		exit 0
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$SECONDS
if ! make -s -C "$TOP" deb DEB_OUT="$tmp/out" > "$tmp/build.log" 2>&1; then
	echo "not ok 1 $name # make deb failed"
	tail -n 20 "$tmp/build.log" | sed 's/^/    /'
	exit 1
fi
ver=$(cat "$TOP/VERSION")
problems=
lint=$(lintian --allow-root "$tmp"/out/*.changes 2>&1)
[ -z "$lint" ] || problems+=" lintian:"$'\n'"$lint"$'\n'
# A file of a package, or nothing.
file_of() { dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" 2>/dev/null; }
dkms=$(ls "$tmp"/out/kvm-memext-dkms_"$ver"-*_all.deb 2>/dev/null)
dev=$(ls "$tmp"/out/kvm-memext-dev_"$ver"-*_all.deb 2>/dev/null)
if [ -z "$dkms" ] || [ -z "$dev" ]; then
	problems+=" no kvm-memext-dkms or kvm-memext-dev $ver package;"
else
	conf=$(file_of "$dkms" "./usr/src/kvm_memext-$ver/dkms.conf")
	grep -q "^PACKAGE_VERSION=\"$ver\"$" <<< "$conf" ||
		problems+=" dkms.conf's version is not $ver;"
	for key in ARCH CONFIG KERNEL; do
		grep -q "^BUILD_EXCLUSIVE_$key=" <<< "$conf" ||
			problems+=" dkms.conf has no BUILD_EXCLUSIVE_$key;"
	done
	list=$(dpkg-deb -c "$dkms")
	for f in ./usr/src/kvm_memext-$ver/Kbuild ./usr/src/kvm_memext-$ver/src/main.c \
		 ./lib/udev/rules.d/60-kvm_memext.rules \
		 ./lib/systemd/system/run-kvm_memext.mount \
		 ./usr/share/man/man4/kvm_memext.4.gz; do
		grep -q " $f$" <<< "$list" || problems+=" kvm-memext-dkms lacks $f;"
	done
	list=$(dpkg-deb -c "$dev")
	for f in vmm.h privmem_vmm.c batch_vmm.c runstate_vmm.c; do
		grep -q " ./usr/share/doc/kvm-memext-dev/examples/$f$" <<< "$list" ||
			problems+=" kvm-memext-dev lacks the sample $f;"
	done
	file_of "$dev" ./usr/include/linux/kvm_memext.h | cmp -s - "$TOP/include/uapi/linux/kvm_memext.h" ||
		problems+=" kvm-memext-dev's header differs;"
	file_of "$dev" ./usr/share/pkgconfig/kvm-memext.pc | grep -q "^Version: $ver$" ||
		problems+=" kvm-memext.pc's version is not $ver;"
fi
tools=$(ls "$tmp"/out/kvm-memext-tools_"$ver"-*_"$(dpkg --print-architecture)".deb 2>/dev/null)
if [ -z "$tools" ]; then
	problems+=" no kvm-memext-tools $ver package;"
else
	list=$(dpkg-deb -c "$tools")
	for f in ./usr/bin/kvm_memext_stat ./usr/share/man/man1/kvm_memext_stat.1.gz; do
		grep -q " $f$" <<< "$list" || problems+=" kvm-memext-tools lacks $f;"
	done
	# Built with the package's hardening flags, and it runs.
	x=$(mktemp -d "$tmp/x.XXXXXX")
	dpkg-deb -x "$tools" "$x"
	"$x/usr/bin/kvm_memext_stat" -V | grep -qx "kvm_memext_stat $ver" ||
		problems+=" kvm_memext_stat -V does not print $ver;"
fi
if [ -n "$problems" ]; then
	echo "not ok 1 $name #$problems" | sed '2,$s/^/    /'
	exit 1
fi
echo "ok 1 $name # time=$((SECONDS - t0))s $(cd "$tmp/out" && echo *.deb)"
