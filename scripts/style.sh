#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make style`: checkpatch --strict on every source, shellcheck on the
# scripts, codespell on sources and documentation, and a W=1 + sparse
# (C=1) build against every kernel of the matrix that is in the cache.
# Debian 12's sparse (0.6.4) is too old for 7.3, whose Makefile then skips
# it with a note: sparse judges the code on 6.1 and 6.12.
# Silent and exit 0 when clean.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

rc=0
cd "$TOP" || exit 1
kernel_files=(src/*.[ch] include/uapi/linux/*.h include/linux/*.h kunit/*.c bench/*.[ch])
user_files=(selftests/*.[ch] selftests/lib/*.c selftests/qemu/*.c selftests/bench/*.[ch] samples/*.c scripts/*.c)
mapfile -t core_files < <(printf '%s\n' "${kernel_files[@]}" |
			  grep -vx -e src/compat.h -e src/trace.h -e src/arch_arm64.h)
mapfile -t user_c_files < <(printf '%s\n' "${user_files[@]}" |
	grep -vx -e selftests/memext_compat.h -e selftests/privmem_test.c)
checkpatch() {
	"$cp" --strict --no-tree --terse --show-types -f "$@" 2>&1 |
		grep -E '^[^ ]+:[0-9]+: (ERROR|WARNING|CHECK)'
}

cp=
for K in $(echo "$ALL_KERNELS" | tr ' ' '\n' | tac); do
	[ -f "$CACHE/env-$K.sh" ] || continue
	cp=$(. "$CACHE/env-$K.sh"; echo "$KSRC/scripts/checkpatch.pl")
	[ -f "$cp" ] && break
done
if [ -n "$cp" ]; then
	out=$(
		# Version checks are compat.h's purpose; its fallback for
		# EXPORT_SYMBOL_IF_KUNIT has no function to follow (nor uses its
		# argument, which 6.12's checkpatch flags); it defines
		# inode operations whose signature changed (a macro that returns,
		# a macro type before "*", a function name as an argument).
		checkpatch --ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON,EXPORT_SYMBOL,MACRO_WITH_FLOW_CONTROL,SPACING,MACRO_ARG_PRECEDENCE,MACRO_ARG_UNUSED \
			src/compat.h
		checkpatch "${core_files[@]}"
		# arm64's memory types are named as the architecture names
		# them (MT_DEVICE_nGnRE).
		checkpatch --ignore CAMELCASE src/arch_arm64.h
		# TRACE_EVENT's own layout, as in include/trace/events/: field
		# lists and symbol tables as macros, open-ended argument lines.
		checkpatch --ignore COMPLEX_MACRO,MACRO_ARG_REUSE,PARENTHESIS_ALIGNMENT,OPEN_ENDED_LINE \
			src/trace.h
		# Userspace code uses the C fixed-width types of the KVM
		# selftest library, and --wrap needs __real_* prototypes.
		checkpatch --ignore PREFER_KERNEL_TYPES,AVOID_EXTERNS \
			"${user_c_files[@]}"
		# ... and <elf.h>'s types (Elf64_Phdr), to read /proc/kcore.
		checkpatch --ignore PREFER_KERNEL_TYPES,AVOID_EXTERNS,CAMELCASE \
			selftests/privmem_test.c
		# The selftests' compat header picks library APIs by version;
		# an argument one version's API has no use for goes unused.
		checkpatch --ignore PREFER_KERNEL_TYPES,LINUX_VERSION_CODE,CONSTANT_COMPARISON,MACRO_ARG_UNUSED \
			selftests/memext_compat.h
		# A plain C tool: a signal handler's flag is a volatile
		# sig_atomic_t, and C's own names (_Noreturn, PRIu64) are mixed case.
		checkpatch --ignore VOLATILE,CAMELCASE tools/*.c
	)
	[ -z "$out" ] || { echo "$out"; rc=1; }
else
	echo "style: no kernel source in the cache for checkpatch.pl (run make check first)"
	rc=1
fi

# Shell scripts (warnings and errors; .shellcheckrc) and spelling
# (.codespellrc) of everything under review.
out=$(shellcheck -S warning -f gcc scripts/*.sh selftests/bench/*.sh 2>&1) || { echo "$out"; rc=1; }
out=$(codespell src include kunit bench selftests samples scripts tools man \
	  Documentation README.md Kbuild Makefile dkms.conf 2>&1) || { echo "$out"; rc=1; }

for K in $ALL_KERNELS; do
	[ -f "$CACHE/env-$K.sh" ] || continue
	(
		. "$CACHE/env-$K.sh"
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		cp -r Kbuild VERSION src include kunit bench "$tmp/"
		out=$(make -s -C "$KBUILD" M="$tmp" W=1 C=1 KVM_MEMEXT_BENCH=m \
			   ${KMAKEFLAGS:-} modules 2>&1 |
		      grep -v -e '^warning: pahole version differs' \
			      -e 'Skipping BTF generation' \
			      -e 'C=1 specified, but sparse is not available or not up to date')
		[ -z "$out" ] || { echo "$K: W=1 C=1 build:"; echo "$out"; exit 1; }
	) || rc=1
done
exit $rc
