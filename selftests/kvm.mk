# SPDX-License-Identifier: GPL-2.0
#
# Build kvm_memext's selftests, and the peer tests from KVM's own suite,
# against the KVM selftest library of one kernel's source.  Run with the
# KVM selftests directory as the working directory:
#
#   make -C $KSRC/tools/testing/selftests/kvm -f kvm.mk OUTPUT=... \
#        MEMEXT_DIR=... KHDR_INCLUDES=... memext peer
#
# Including KVM's Makefile gives the library objects, CFLAGS and LDFLAGS of
# exactly that kernel's suite.

include Makefile

MEMEXT_TESTS := $(patsubst $(MEMEXT_DIR)/%.c,$(OUTPUT)/memext/%,\
		  $(wildcard $(MEMEXT_DIR)/*_test.c))
MEMEXT_HDRS := $(wildcard $(MEMEXT_DIR)/*.h) $(MEMEXT_DIR)/../include/uapi/linux/kvm_memext.h

# KVM's tests that must keep passing with kvm_memext loaded (peer.conf).
PEER_NAMES := $(shell awk '!/^\#/ && NF { print $$1 }' $(MEMEXT_DIR)/peer.conf)
PEER_TESTS := $(filter $(addprefix %/,$(PEER_NAMES)),$(TEST_GEN_PROGS))

# Every VM a peer test creates is bound to a kvm_memext handle.  The
# wrapper is order-only: some kernels' link rules use $^, others not.
$(OUTPUT)/memext/bind_wrap.o: $(MEMEXT_DIR)/lib/bind_wrap.c $(MEMEXT_HDRS)
	$(CC) $(CFLAGS) -I$(MEMEXT_DIR) -I$(MEMEXT_DIR)/../include/uapi -c $< -o $@
# With KVM_MEMEXT_PEER_PRIVMEM=1, "-s shmem" guest memory is private memory.
$(OUTPUT)/memext/privmem_wrap.o: $(MEMEXT_DIR)/lib/privmem_wrap.c $(MEMEXT_HDRS)
	$(CC) $(CFLAGS) -I$(MEMEXT_DIR) -I$(MEMEXT_DIR)/../include/uapi -c $< -o $@
$(PEER_TESTS): | $(OUTPUT)/memext/bind_wrap.o $(OUTPUT)/memext/privmem_wrap.o
$(PEER_TESTS): LDLIBS += $(OUTPUT)/memext/bind_wrap.o -Wl,--wrap=ioctl -Wl,--wrap=close \
	$(OUTPUT)/memext/privmem_wrap.o -Wl,--wrap=memfd_create
# Library drift (e.g. Debian's 6.1 tests use macros its library lacks).
$(PEER_TESTS): CFLAGS += -include $(MEMEXT_DIR)/memext_compat.h

$(OUTPUT)/memext/%: $(MEMEXT_DIR)/%.c $(LIBKVM_OBJS) $(MEMEXT_HDRS)
	$(CC) $(CFLAGS) -I$(MEMEXT_DIR) -I$(MEMEXT_DIR)/../include/uapi \
		$(CPPFLAGS) $(LDFLAGS) $< $(LIBKVM_OBJS) $(LDLIBS) -o $@

# Benchmarks (make bench), built like the tests.
MEMEXT_BENCH := $(patsubst $(MEMEXT_DIR)/bench/%.c,$(OUTPUT)/memext/bench/%,\
		  $(wildcard $(MEMEXT_DIR)/bench/*.c))
$(OUTPUT)/memext/bench/%: $(MEMEXT_DIR)/bench/%.c $(LIBKVM_OBJS) $(MEMEXT_HDRS) \
			  $(wildcard $(MEMEXT_DIR)/bench/*.h)
	$(CC) $(CFLAGS) -I$(MEMEXT_DIR) -I$(MEMEXT_DIR)/../include/uapi \
		$(CPPFLAGS) $(LDFLAGS) $< $(LIBKVM_OBJS) $(LDLIBS) -o $@

$(shell mkdir -p $(OUTPUT)/memext/bench)

.PHONY: memext peer bench
memext: $(MEMEXT_TESTS)
bench: $(MEMEXT_BENCH)
peer: $(PEER_TESTS)
	@printf '%s\n' $(PEER_TESTS:$(OUTPUT)/%=%) > $(OUTPUT)/peer.list
