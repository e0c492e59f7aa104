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
#   make style            checkpatch --strict, sparse (C=1) and W=1

KDIR ?= /lib/modules/$(shell uname -r)/build
KERNELS ?= 6.1 6.12 7.3

KILLS ?= 1000
KILL_KERNELS ?= 7.3
FUZZ_CALLS ?= 1000000
FUZZ_KERNELS ?= 7.3

.PHONY: all module install clean setup run check bench kill fuzz style

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	rm -rf build

setup:
	scripts/setup.sh

run: setup
	scripts/run-demo.sh

check: setup
	ONLY='$(ONLY)' REPEAT='$(REPEAT)' scripts/check.sh $(KERNELS)

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

style:
	scripts/style.sh
