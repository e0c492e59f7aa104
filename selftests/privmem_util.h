/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the private-memory selftests (privmem_test,
 * privmem_limits_test, privmem_guest_test): files, children, and guests
 * with a private-memory data slot.
 */
#ifndef SELFTEST_PRIVMEM_UTIL_H
#define SELFTEST_PRIVMEM_UTIL_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "memext_compat.h"
#include "memext_util.h"

#define CHUNK		(2UL << 20)
#define DATA_SLOT	1
#define DATA_GPA	0x10000000UL
#define DATA_SIZE	(4 * CHUNK)
#define MAX_MB_PARAM	"/sys/module/kvm_memext/parameters/privmem_max_mb"

static inline int open_privmem_dev(void)
{
	int dev = memext_open();

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	return dev;
}

static inline void *map(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap privmem: %s", strerror(errno));
	return p;
}

#define meminfo_kb(name)	memext_proc_kb("/proc/meminfo", name)
#define status_kb(name)		memext_proc_kb("/proc/self/status", name)

/*
 * This process's name as the kernel's log lines give it (current->comm):
 * the program's file name, cut to 15 characters.
 */
static inline const char *privmem_comm(char comm[16])
{
	TEST_ASSERT(!prctl(PR_GET_NAME, comm), "PR_GET_NAME: %s", strerror(errno));
	return comm;
}

static inline void set_rlimit(int res, uint64_t bytes)
{
	struct rlimit rl = { bytes, bytes };

	TEST_ASSERT(!setrlimit(res, &rl), "setrlimit(%d): %s", res, strerror(errno));
}

/* Run @fn in a child and expect it to exit 0. */
static inline void in_child(void (*fn)(void *), void *arg, const char *what)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		fn(arg);
		exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "%s: child status %#x", what, status);
}

/* Guests. */

static uint64_t guest_data[512] __maybe_unused;

/* Fill guest_data (in slot 0), then sum a data slot written by the host. */
static inline void guest_fill_and_sum(uint64_t seed, uint64_t npages)
{
	uint64_t i, sum = 0;

	for (i = 0; i < 512; i++)
		guest_data[i] = seed * i + 7;
	for (i = 0; i < npages; i++)
		sum += READ_ONCE(*(uint64_t *)(DATA_GPA + i * PAGE_SIZE));
	for (i = 0; i < npages; i++)
		WRITE_ONCE(*(uint64_t *)(DATA_GPA + i * PAGE_SIZE + 8), seed + i);
	GUEST_SYNC(sum);
	GUEST_DONE();
}

/* A private-memory data slot at DATA_GPA, identity-mapped for the guest. */
static inline uint8_t *add_data_slot_flags(struct kvm_vm *vm, int dev, int *fd,
					   uint64_t flags)
{
	uint8_t *data;

	*fd = memext_create_privmem(dev, DATA_SIZE, flags);
	data = map(*fd, DATA_SIZE);
	vm_set_user_memory_region(vm, DATA_SLOT, 0, DATA_GPA, DATA_SIZE, data);
	virt_map(vm, DATA_GPA, DATA_GPA, DATA_SIZE / PAGE_SIZE);
	return data;
}

static inline uint8_t *add_data_slot(struct kvm_vm *vm, int dev, int *fd)
{
	return add_data_slot_flags(vm, dev, fd, 0);
}

/* The value of the GUEST_SYNC that the vCPU's last exit must be. */
static inline uint64_t sync_value(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return uc.args[1];
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("exit reason %s", exit_reason_str(vcpu->run->exit_reason));
	}
	return 0;
}

static inline void expect_sync(struct kvm_vcpu *vcpu, uint64_t want)
{
	uint64_t got;

	vcpu_run(vcpu);
	got = sync_value(vcpu);
	TEST_ASSERT(got == want, "guest reported %lu, want %lu", got, want);
}

static inline void expect_done(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE, "exit reason %s",
		    exit_reason_str(vcpu->run->exit_reason));
}

#endif /* SELFTEST_PRIVMEM_UTIL_H */
