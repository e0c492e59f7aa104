#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the minimal debug kernel: allnoconfig + the config fragments given
# (kernels.conf's config column) + the KVM selftests' own config fragment.  Every option we ask for is
# checked after olddefconfig, so a renamed or unsatisfiable option fails
# the build instead of silently going missing.
#
# Usage: build-debug-kernel.sh <source tree> <output dir> <fragment>...
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$1
out=$2
shift 2
frags=("$@")
obj=$out/obj
mkdir -p "$obj"
# gcc-12, like Debian 12's own kernels; external modules use the same
# (KMAKEFLAGS in the env file written by kernel.sh).
# KVM_MEMEXT_BUILD_JOBS overrides the number of jobs (default: one per CPU).
mk() {
	make -C "$src" O="$obj" CC=gcc-12 HOSTCC=gcc-12 \
		-j"${KVM_MEMEXT_BUILD_JOBS:-$(nproc)}" "$@"
}

selftest_cfg=$src/tools/testing/selftests/kvm/config

mk -s allnoconfig
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" \
	"$selftest_cfg" "${frags[@]}" >/dev/null
mk -s olddefconfig

bad=0
while IFS= read -r line; do
	case $line in CONFIG_*=*) ;; *) continue ;; esac
	opt=${line%%=*}
	val=${line#*=}
	if [ "$val" = n ]; then
		grep -q "^$opt=" "$obj/.config" || continue
	elif grep -qx "$line" "$obj/.config"; then
		continue
	fi
	log "config: wanted $line, got: $(grep -E "^(# )?${opt}[= ]" "$obj/.config" || echo unset)"
	bad=1
done < <(cat "${frags[@]}")
[ $bad = 0 ] || die "debug kernel config does not satisfy ${frags[*]}"

mk -s bzImage modules
mk -s modules_install INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 >/dev/null
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
mk -s kernelrelease > "$out/kernel.release"
