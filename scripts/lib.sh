# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # variables for the scripts that source it
# Common settings for the kvm_memext scripts.  Source, do not execute.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KVM_MEMEXT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm_memext}
DEB_MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
KERNELS_CONF=$TOP/scripts/kernels.conf

# kernel_field <name> <column>: one field of a kernel's line in kernels.conf
# (columns: name kind arch source config roles); fails for an unknown name.
kernel_field() {
	awk -v k="$1" -v c="$2" '
		BEGIN { split("name kind arch source config roles", h); for (i in h) col[h[i]] = i }
		!/^#/ && NF && $1 == k { print $col[c]; found = 1 }
		END { exit !found }' "$KERNELS_CONF"
}

# kernels_with <role>: the kernels that have a role, in file order.
kernels_with() {
	awk -v r="$1" '!/^#/ && NF { n = split($6, a, ","); for (i = 1; i <= n; i++) if (a[i] == r) print $1 }' \
		"$KERNELS_CONF" | paste -sd' '
}

# kernel_has_role <name> <role>
kernel_has_role() {
	[[ ",$(kernel_field "$1" roles)," == *",$2,"* ]]
}

# Kernels of the test matrix, in the order `make check` runs them.
ALL_KERNELS=$(kernels_with check)
DEFAULT_KERNEL=$(kernels_with default)

# The shared libraries a program loads, and its loader: one path a line.
ldd_closure() {
	ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Atomically mark a cache entry complete; entries without the stamp are
# rebuilt, so an interrupted run never leaves a half-filled cache.
stamp_ok() { [ -f "$1/.complete" ]; }
stamp_set() { touch "$1/.complete"; }

# Fetch or build kernel $1 and build the module and tests for it, with the
# build log in $2/build.log (its tail is shown on failure).
prepare_kernel() {
	"$TOP/scripts/kernel.sh" "$1" || return 1
	"$TOP/scripts/build-tests.sh" "$1" > "$2/build.log" 2>&1 ||
		{ tail -n 30 "$2/build.log"; return 1; }
}

# wait_guest <QEMU pid> <results.ktap> <grace s> <name> <timeout s>:
# wait until the QEMU of a test guest ends, as the guest powers off when
# done; one that reported its end but goes on (e.g. no ACPI power-off) is
# stopped after <grace> seconds.  Sets guest_rc to QEMU's exit status,
# and says in the KTAP when QEMU was killed (137: by its timeout) before
# the end.
wait_guest() {
	local pid=$1 ktap=$2 grace=$3 done_re='^# KVM_MEMEXT_RUNNER_DONE'

	while kill -0 "$pid" 2>/dev/null; do
		if grep -q "$done_re" "$ktap" 2>/dev/null; then
			grace=$((grace - 1))
			[ "$grace" -gt 0 ] || { kill -KILL "$pid" 2>/dev/null; break; }
		fi
		sleep 1
	done
	guest_rc=0
	wait "$pid" || guest_rc=$?
	if ! grep -q "$done_re" "$ktap" 2>/dev/null && [ "$guest_rc" = 137 ]; then
		log "$4: QEMU killed after $5 s"
		echo "# RUNNER TIMEOUT after $5s" >> "$ktap"
	fi
}

# Boot kernel $1 with the tests of build/$1 and the plan file $2; results
# land in directory $3; $4 is the wall-clock timeout in seconds.
boot_plan() {
	"$TOP/scripts/mkinitramfs.sh" "$1" "$TOP/build/$1" "$2" "$3/initramfs.cpio.gz" &&
		"$TOP/scripts/run-qemu.sh" "$1" "$3/initramfs.cpio.gz" "$3" "$4"
}
