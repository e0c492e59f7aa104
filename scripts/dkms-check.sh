#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The operator's DKMS path, on the host: Debian's dkms adds and builds the
# module from a copy of the source tree, as README.md tells operators,
# against kernel K's headers, in a private DKMS tree (the system's is not
# touched).  An arm64 kernel's headers cross-build (their .kernelvariables
# name the compiler).  Prints one KTAP result, "host/dkms"; exits 0 when it passed.
#
# Usage: dkms-check.sh <K>
set -uo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
. "$CACHE/env-$K.sh"
name=host/dkms

ver=$(cat "$TOP/VERSION")
if ! command -v dkms > /dev/null; then
	echo "ok 1 $name # SKIP no dkms (scripts/setup.sh installs it)"
	exit 0
fi
if ! grep -q '^PACKAGE_VERSION="#MODULE_VERSION#"$' "$TOP/dkms.conf"; then
	echo "not ok 1 $name # dkms.conf does not take its version from VERSION"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/kvm_memext-$ver" "$tmp/tree"
# What the package ships in /usr/src (debian/kvm-memext-dkms.install),
# with dkms.conf's version put in as dh_dkms -V does.
cp -r "$TOP"/Kbuild "$TOP"/VERSION "$TOP"/src "$TOP"/include "$TOP"/kunit \
	"$tmp/src/kvm_memext-$ver/"
sed "s/#MODULE_VERSION#/$ver/" "$TOP/dkms.conf" > "$tmp/src/kvm_memext-$ver/dkms.conf"
t0=$SECONDS
args=(-m kvm_memext -v "$ver" --sourcetree "$tmp/src" --dkmstree "$tmp/tree")
if ! dkms add "${args[@]}" > "$tmp/dkms.log" 2>&1 ||
   ! dkms build "${args[@]}" -k "$KVER" -a "${KQEMU_ARCH:-x86_64}" --kernelsourcedir "$KBUILD" \
	-j "${KVM_MEMEXT_BUILD_JOBS:-$(nproc)}" >> "$tmp/dkms.log" 2>&1; then
	echo "not ok 1 $name # dkms add/build failed"
	sed 's/^/    /' "$tmp/dkms.log" | tail -n 20
	tail -n 20 "$tmp/tree/kvm_memext/$ver/build/make.log" 2>/dev/null | sed 's/^/    /'
	exit 1
fi
ko=$(find "$tmp/tree/kvm_memext/$ver/$KVER" -name 'kvm_memext.ko*' | head -n 1)
vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null)
version=$(modinfo -F version "$ko" 2>/dev/null)
problems=
[ -n "$ko" ] || problems+=" no kvm_memext.ko;"
case $vermagic in "$KVER "*) ;; *) problems+=" vermagic '$vermagic';" ;; esac
[ "$version" = "$ver" ] || problems+=" modinfo version '$version', VERSION $ver;"
# dkms runs the clean command before and after the build.
grep -q 'bad exit status' "$tmp/dkms.log" && problems+=" a make command failed;"
if [ -n "$problems" ]; then
	echo "not ok 1 $name #$problems"
	sed 's/^/    /' "$tmp/dkms.log" | tail -n 20
	exit 1
fi
echo "ok 1 $name # time=$((SECONDS - t0))s kvm_memext $version for $vermagic"
