# SPDX-License-Identifier: GPL-2.0
# Common settings for the kvm_memext scripts.  Source, do not execute.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KVM_MEMEXT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm_memext}
DEB_MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
# Kernels of the test matrix, in the order `make check` runs them.
ALL_KERNELS="6.1 6.12 7.3"
DEFAULT_KERNEL=6.12

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Atomically mark a cache entry complete; entries without the stamp are
# rebuilt, so an interrupted run never leaves a half-filled cache.
stamp_ok() { [ -f "$1/.complete" ]; }
stamp_set() { touch "$1/.complete"; }

# Newest version of an apt package whose name matches an ERE, for which a
# partner package (name derived by sed expression) also exists.
apt_newest() {
	apt-cache search --names-only "$1" | awk '{print $1}' | sort -V | tail -n 1
}

# Directory of one kernel of the matrix: image, modules, headers/build tree.
kdir() { echo "$CACHE/kernel-$1"; }
