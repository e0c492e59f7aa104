#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Lay out the module's selftests as a kselftest collection, the way the
# kernel's `make -C tools/testing/selftests install` does, so that a CI
# system runs them with its own tools: <dir>/run_kselftest.sh and
# kselftest/ (the runner, from the kernel's source), kselftest-list.txt,
# and the collection kvm_memext/ with the tests, a settings file (their
# timeout) and a config fragment (what they need of a kernel).  The tests
# are built for kernel K of the matrix (its KVM selftest library); they
# skip (exit 4) where KVM or the module is missing.
#
# Usage: kselftest-install.sh <K> <dir>
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K=$1
dest=$2
tests=$TOP/build/$K/tests/memext
if [ ! -d "$tests" ]; then
	"$TOP/scripts/kernel.sh" "$K" >&2
	"$TOP/scripts/build-tests.sh" "$K" >&2
fi
. "$CACHE/env-$K.sh"
ksft=$KSRC/tools/testing/selftests
mkdir -p "$dest/kselftest" "$dest/kvm_memext"
install -m 0755 "$ksft/run_kselftest.sh" "$dest/"
for f in "$ksft"/kselftest/*; do
	install -m "$([ -x "$f" ] && echo 0755 || echo 0644)" "$f" "$dest/kselftest/"
done
# The slowest test takes 45 s on a stock kernel under QEMU's TCG, 4
# minutes on the debug kernel.
echo "timeout=900" > "$dest/kvm_memext/settings"
cp "$TOP/selftests/config" "$dest/kvm_memext/config"
: > "$dest/kselftest-list.txt"
for t in "$tests"/*_test; do
	install -m 0755 "$t" "$dest/kvm_memext/"
	echo "kvm_memext:${t##*/}" >> "$dest/kselftest-list.txt"
done
log "$K: $(wc -l < "$dest/kselftest-list.txt") tests installed in $dest"
