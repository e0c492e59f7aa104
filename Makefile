# SPDX-License-Identifier: GPL-2.0
#
# kvm_memext: see README.md.  Entry points:
#
#   make                  build kvm_memext.ko against the running kernel
#   make KDIR=<dir>       ... against another kernel build tree
#   make install          modules_install (run depmod afterwards)
#   make run              set up, boot stock 6.12 under QEMU, show each feature
#   make check            the whole test suite over the kernel matrix
#   make check KERNELS=6.12 ONLY=bind   (one kernel, tests matching a regex)
#   make check ... REPEAT=20            (each test 20 times in one boot)
#   make bench            benchmarks on 6.12 and 7.3 (BENCH_KERNELS=...,
#                         BENCH_ONLY=<regex>, BENCH_BATCH_ARGS=...,
#                         BENCH_PRIVMEM_ARGS=...)
#   make kill             kill campaign: KILLS=1000 SIGKILLs of a busy VMM on
#                         the debug kernel (KILL_KERNELS=7.3, SEED=<n>)
#   make fuzz             the fuzzer on the debug kernel: FUZZ_CALLS=1000000
#                         in chunks of 100,000 (FUZZ_KERNELS=7.3, FUZZ_SEED=)
#   make trinity          Debian's trinity against the module for
#                         TRINITY_SECS=1800 (TRINITY_KERNELS=7.3, SEED=<n>)
#   make style            checkpatch --strict, sparse (C=1), W=1, shellcheck,
#                         codespell, and the harness's own tests
#   make selftest-harness the harness's own tests (judge.py's fixtures,
#                         check.py's scheduler on fake jobs)
#   make deb              Debian packages kvm-memext-dkms, kvm-memext-dev and
#                         kvm-memext-tools
#                         in DEB_OUT (default build/deb), from HEAD plus the
#                         uncommitted changes of tracked files
#   make samples          the sample VMMs of samples/ into build/samples
#   make tools            kvm_memext_stat(1), the statistics tool, into
#                         build/tools
#   make kselftest-install INSTALL_PATH=<dir> [KSELFTEST_KERNEL=6.12]
#                         the selftests as a kselftest collection, for a CI
#                         system's run_kselftest.sh (Documentation/testing.rst)
#
# Kernels are named as in scripts/kernels.conf; KERNELS defaults to those
# with the "check" role, the campaigns' kernels to those with "campaign".

KDIR ?= /lib/modules/$(shell uname -r)/build
KERNELS ?=
CAMPAIGN_KERNELS = $(shell bash -c '. scripts/lib.sh && kernels_with campaign')

KILLS ?= 1000
KILL_KERNELS ?= $(CAMPAIGN_KERNELS)
FUZZ_CALLS ?= 1000000
FUZZ_KERNELS ?= $(CAMPAIGN_KERNELS)
TRINITY_SECS ?= 1800
TRINITY_KERNELS ?= $(CAMPAIGN_KERNELS)

.PHONY: all module install clean setup run check bench kill fuzz trinity style \
	selftest-harness deb kselftest-install samples tools

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install

# Without a kernel tree (before setup) Kbuild has nothing to clean.
clean:
	if [ -d "$(KDIR)" ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	rm -rf build

setup:
	scripts/setup.sh

run: setup
	scripts/run-demo.sh

check: setup selftest-harness
	ONLY='$(ONLY)' REPEAT='$(REPEAT)' scripts/check.sh $(KERNELS)

selftest-harness:
	python3 scripts/judge.py --self-test
	python3 scripts/check_test.py

bench: setup
	BENCH_ONLY='$(BENCH_ONLY)' BENCH_BATCH_ARGS='$(BENCH_BATCH_ARGS)' \
		BENCH_PRIVMEM_ARGS='$(BENCH_PRIVMEM_ARGS)' \
		scripts/bench.sh $(BENCH_KERNELS)

kill: setup
	ONLY='selftest/kill_test' KILLS='$(KILLS)' SEED='$(SEED)' \
		KVM_MEMEXT_BOOT_TIMEOUT=$$(( $(KILLS) * 10 + 900 )) \
		scripts/check.sh $(KILL_KERNELS)

fuzz: setup
	ONLY='selftest/fuzz_test' FUZZ_CALLS='$(FUZZ_CALLS)' FUZZ_SEED='$(FUZZ_SEED)' \
		KVM_MEMEXT_BOOT_TIMEOUT=$$(( $(FUZZ_CALLS) / 100000 * 1800 + 900 )) \
		scripts/check.sh $(FUZZ_KERNELS)

trinity: setup
	ONLY='selftest/trinity' TRINITY_SECS='$(TRINITY_SECS)' SEED='$(SEED)' \
		KVM_MEMEXT_BOOT_TIMEOUT=$$(( $(TRINITY_SECS) + 900 )) \
		scripts/check.sh $(TRINITY_KERNELS)

# One short VMM per feature, against this tree's uAPI header and the
# system's <linux/kvm.h>; shipped as kvm-memext-dev's examples.
SAMPLES = demo_vmm privmem_vmm batch_vmm runstate_vmm
samples:
	mkdir -p build/samples
	for s in $(SAMPLES); do \
		$(CC) -O2 -Wall -Wextra -I include/uapi -o build/samples/$$s samples/$$s.c || exit 1; \
	done

# The operator's statistics tool, only libc (it links with -static too).
# CFLAGS, CPPFLAGS and LDFLAGS as dpkg-buildflags sets them for a package.
CFLAGS ?= -O2
tools:
	mkdir -p build/tools
	$(CC) -Wall -Wextra $(CFLAGS) $(CPPFLAGS) \
		-DKVM_MEMEXT_VERSION='"$(shell cat VERSION)"' $(LDFLAGS) \
		-o build/tools/kvm_memext_stat tools/kvm_memext_stat.c

KSELFTEST_KERNEL ?= $(shell bash -c '. scripts/lib.sh && echo $$DEFAULT_KERNEL')
INSTALL_PATH ?= $(CURDIR)/build/kselftest
kselftest-install: setup
	scripts/kselftest-install.sh '$(KSELFTEST_KERNEL)' '$(abspath $(INSTALL_PATH))'

style: selftest-harness
	scripts/style.sh

# dpkg-buildpackage writes next to the tree it builds: build in a copy.
# (git 2.39's `git stash create` fails silently on a stale index.)
DEB_OUT ?= $(CURDIR)/build/deb
deb:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git update-index -q --refresh >/dev/null || true; \
	rev=$$(git stash create); \
	git archive --prefix=src/ "$${rev:-HEAD}" | tar -x -C "$$tmp"; \
	(cd "$$tmp/src" && dpkg-buildpackage -us -uc -b); \
	mkdir -p "$(abspath $(DEB_OUT))"; \
	cp "$$tmp"/*.deb "$$tmp"/*.changes "$$tmp"/*.buildinfo "$(abspath $(DEB_OUT))"/; \
	ls -1 "$(abspath $(DEB_OUT))"
