#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build everything one kernel's test guest needs into build/<K>/:
#   module/  kvm_memext.ko (and kvm_memext_kunit.ko where KUnit exists)
#   tests/   our selftests (memext/), KVM's peer tests (peer/), helpers
#
# The selftests link against the KVM selftest library of that kernel's own
# source, statically, with uapi headers from its `make headers_install`.
#
# Usage: build-tests.sh <K>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
. "$CACHE/env-$K.sh"
build=$TOP/build/$K
rm -rf "$build/module" "$build/tests"
mkdir -p "$build/module" "$build/tests"

# A private copy per kernel, so builds for different kernels never share
# objects (M= has no separate output directory before 6.13).
log "$K: building kvm_memext.ko against $KVER"
rm -rf "$build/src"
mkdir -p "$build/src"
cp -r "$TOP"/Kbuild "$TOP"/VERSION "$TOP"/src "$TOP"/include "$TOP"/kunit \
	"$TOP"/bench "$build/src/"
make -s -C "$KBUILD" M="$build/src" -j"${KVM_MEMEXT_BUILD_JOBS:-$(nproc)}" W=1 \
	KVM_MEMEXT_BENCH=m ${KMAKEFLAGS:-} modules >&2
cp "$build"/src/*.ko "$build/module/"

# uapi headers of this kernel, cached next to its source.
hdr=$KSRC.headers
if ! stamp_ok "$hdr"; then
	log "$K: installing uapi headers"
	rm -rf "$hdr"
	make -s -C "$KSRC" O="$hdr/obj" ARCH="$KARCH" INSTALL_HDR_PATH="$hdr" \
		headers_install >&2
	rm -rf "$hdr/obj"
	stamp_set "$hdr"
fi

# KVM's selftest library and the peer tests depend on the kernel's source
# and on what kvm.mk links into them: built once per kernel and wrapper
# version, outside the checkout, so that a fresh clone builds only ours.
key=$(cat "$TOP"/selftests/kvm.mk "$TOP"/selftests/peer.conf "$TOP"/selftests/lib/*.c \
	  "$TOP"/selftests/*.h "$TOP"/include/uapi/linux/kvm_memext.h | sha1sum | cut -c1-12)
out=$CACHE/selftests-$K.$key
for old in "$CACHE/selftests-$K".*; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
log "$K: building selftests against $KSRC"
kst=$KSRC/tools/testing/selftests/kvm
make -s -C "$kst" -f "$TOP/selftests/kvm.mk" -j"${KVM_MEMEXT_BUILD_JOBS:-$(nproc)}" \
	ARCH="$KARCH" CROSS_COMPILE="$KCROSS" OUTPUT="$out" MEMEXT_DIR="$TOP/selftests" \
	KHDR_INCLUDES="-isystem $hdr/include" LINUX_HDR_PATH="$hdr/include" \
	INSTALL_HDR_PATH="$hdr" EXTRA_CFLAGS="-static" \
	LDFLAGS="-static -pthread -no-pie" memext peer bench >&2

# Only what has a source now: the cache may hold programs since removed.
mkdir -p "$build/tests/memext" "$build/tests/bench"
for t in "$TOP"/selftests/*_test.c; do
	t=${t##*/}
	cp "$out/memext/${t%.c}" "$build/tests/memext/"
done
for t in "$TOP"/selftests/bench/*.c; do
	t=${t##*/}
	cp "$out/memext/bench/${t%.c}" "$build/tests/bench/"
done
cp "$TOP/selftests/bench/runstate_steps.sh" "$build/tests/bench/"
mkdir -p "$build/tests/peer"
while read -r t; do
	cp "$out/$t" "$build/tests/peer/${t##*/}"
done < "$out/peer.list"
# The operator's tool, run by stats_test against a live VM.
"${KCROSS}gcc" -O2 -Wall -Wextra -Werror -static \
	-DKVM_MEMEXT_VERSION="\"$(cat "$TOP/VERSION")\"" \
	-o "$build/tests/kvm_memext_stat" "$TOP/tools/kvm_memext_stat.c"
cp "$TOP/scripts/guest-kunit.sh" "$build/tests/kunit.sh"
cp "$TOP/scripts/guest-peer.sh" "$build/tests/peer.sh"
cp "$TOP/scripts/guest-params.sh" "$build/tests/params.sh"
# The rest is x86's: the samples run real-mode x86 guests, the IBT seal
# check reads x86 kernel images, Debian's trinity here is amd64's, the
# qemu stage runs qemu-system-x86_64, and the VM keeper serves kernels
# that enable virtualization per VM (6.1).
if [ "$KARCH" != x86 ]; then
	exit 0
fi
for s in demo_vmm privmem_vmm batch_vmm runstate_vmm; do
	gcc -O2 -Wall -Wextra -static -isystem "$hdr/include" -I"$TOP/include/uapi" \
		-o "$build/tests/$s" "$TOP/samples/$s.c"
done
gcc -O2 -Wall -static -isystem "$hdr/include" \
	-o "$build/tests/vm-keeper" "$TOP/scripts/guest-vm-keeper.c"
# Inputs of the IBT seal check (guest-ibt-seal.sh): the seal table of the
# image, cached per kernel release, and what the module could look up.
seal=$CACHE/ibt-seal-$KVER.txt
if [ ! -f "$seal" ]; then
	log "$K: decoding the image's IBT seal table"
	tmp=$(mktemp "$CACHE/vmlinux.XXXXXX")
	"$KSRC/scripts/extract-vmlinux" "$KIMAGE" > "$tmp"
	python3 "$TOP/scripts/ibt-seal.py" "$tmp" > "$seal.tmp"
	mv "$seal.tmp" "$seal"
	rm -f "$tmp"
fi
cp "$seal" "$build/tests/ibt-seal.txt"
nm -u "$build/module/kvm_memext.ko" | awk '{ print $2 }' > "$build/tests/ko-imports.txt"
# Names it could look up live in its read-only data (not its debug info).
objcopy -O binary -w -j '.rodata*' "$build/module/kvm_memext.ko" "$build/rodata.bin"
strings -n 4 "$build/rodata.bin" | { grep -xE '[A-Za-z_][A-Za-z0-9_]*' || true; } |
	sort -u > "$build/tests/ko-names.txt"
cp "$TOP/scripts/guest-ibt-seal.sh" "$build/tests/ibt-seal.sh"
cp "$TOP/scripts/guest-qemu.sh" "$build/tests/qemu.sh"
cp "$TOP/scripts/guest-trinity.sh" "$build/tests/trinity.sh"
# Debian's trinity with the libraries it loads, started through its loader.
mkdir -p "$build/tests/trinity"
cp /usr/bin/trinity "$build/tests/trinity/"
for lib in $(ldd_closure /usr/bin/trinity); do
	cp -L "$lib" "$build/tests/trinity/"
done
