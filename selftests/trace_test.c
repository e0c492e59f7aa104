// SPDX-License-Identifier: GPL-2.0
/*
 * Trace events (events/kvm_memext/ in tracefs) with a real guest.
 *
 * In a trace instance of its own, the test enables every kvm_memext event
 * and then, in one VM: faults in private memory, applies a memslot batch
 * while the vCPU runs in the guest, and has the guest enable kvm-clock on
 * a private page.  Each must leave its events, in the order the module
 * takes its steps, with the fields that say what happened.  Private memory
 * and kvm-clock are x86-64's: elsewhere the batch's events are checked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "memext_trace.h"
#include "memext_util.h"
#include "memext_arch.h"
#include "processor.h"
#include "ucall_common.h"

#define PM_SLOT		12
#define PM_GPA		0x80000000ul
#define PM_SIZE		(4ul << 20)
#define CLOCK_PAGE	16
#define NEW_SLOT	13
#define NEW_GPA		0xc0000000ul
#define INSTANCE	"kvm_memext_trace_test"

static uint64_t ready, go;

static void guest_code(void)
{
	WRITE_ONCE(ready, 1);
	while (!READ_ONCE(go))
		cpu_relax();
	if (MEMEXT_ARCH_PRIVMEM)
		memext_guest_kvmclock(PM_GPA + CLOCK_PAGE * PAGE_SIZE);
	GUEST_SYNC(1);
	if (MEMEXT_ARCH_PRIVMEM)
		memext_guest_kvmclock(0);
	GUEST_DONE();
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC && uc.args[1] == 1,
		    "exit %s", exit_reason_str(vcpu->run->exit_reason));
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE, "exit %s",
		    exit_reason_str(vcpu->run->exit_reason));
	return NULL;
}

static void test_events(void)
{
	char vm_field[32], clock_field[32];
	struct kvm_memext_memslot e = {
		.slot = NEW_SLOT, .guest_phys_addr = NEW_GPA,
		.memory_size = PAGE_SIZE,
	};
	struct kvm_memext_set_memslots args = {
		.nr_entries = 1, .entries = (uintptr_t)&e,
	};
	const bool privmem = MEMEXT_ARCH_PRIVMEM;
	const char *at, *trace;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int dev, handle, fd = -1;
	pthread_t thread;
	char *buf, path[256];
	uint8_t *p = NULL;
	void *anon;

	if (privmem)
		TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	memext_trace_open(INSTANCE);
	dev = memext_open();
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	handle = memext_bind(dev, vm->fd);
	if (privmem) {
		fd = memext_create_privmem(dev, PM_SIZE, 0);
		p = mmap(NULL, PM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
		vm_set_user_memory_region(vm, PM_SLOT, 0, PM_GPA, PM_SIZE, p);
	}
	anon = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(anon != MAP_FAILED, "mmap");
	e.userspace_addr = (uintptr_t)anon;

	snprintf(path, sizeof(path), "%s", memext_tracefs);
	TEST_ASSERT(!mkdir(path, 0700) || errno == EEXIST, "mkdir %s: %s", path,
		    strerror(errno));
	memext_trace_write("buffer_size_kb", "1024");
	/* Events of several CPUs in the order they happened. */
	memext_trace_write("trace_clock", "global");
	memext_trace_write("events/kvm_memext/enable", "1");

	/* A private-memory fault: the chunk is allocated and hidden first. */
	if (privmem)
		p[CLOCK_PAGE * PAGE_SIZE] = 1;

	/* A batch while the vCPU runs in the guest: it parks. */
	pthread_create(&thread, NULL, vcpu_thread, vcpu);
	while (!READ_ONCE(*(uint64_t *)addr_gva2hva(vm, (uintptr_t)&ready)))
		usleep(1000);
	TEST_ASSERT(!ioctl(handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
		    "batch: %s", strerror(errno));
	/* One KVM refuses when applying it (not a user address). */
	e.slot = NEW_SLOT + 1;
	e.guest_phys_addr = NEW_GPA + PAGE_SIZE;
	e.userspace_addr = 1ul << 63;
	TEST_ASSERT(ioctl(handle, KVM_MEMEXT_SET_MEMSLOTS, &args) == -1 &&
		    errno == EINVAL, "bad batch: %s", strerror(errno));

	/* Then the guest puts its kvm-clock on a private page (x86). */
	WRITE_ONCE(*(uint64_t *)addr_gva2hva(vm, (uintptr_t)&go), 1);
	pthread_join(thread, NULL);
	memext_trace_write("events/kvm_memext/enable", "0");
	buf = memext_trace_read();
	trace = buf;

	at = trace;
	if (privmem) {
		at = memext_expect_event(at, "kvm_memext_privmem_hide",
					 (const char * const[]){ "chunk 0 ", NULL }, trace);
		at = memext_expect_event(at, "kvm_memext_privmem_flush",
					 (const char * const[]){ "reason populate", NULL },
					 trace);
		at = memext_expect_event(at, "kvm_memext_privmem_chunk_alloc",
					 (const char * const[]){ "chunk 0 ", NULL }, trace);
		/* pgoff 0x10, or 0 for a whole 2 MiB mapping. */
		at = memext_expect_event(at, "kvm_memext_privmem_fault",
					 (const char * const[]){ "vm_fault 0x", NULL }, trace);
	}

	snprintf(vm_field, sizeof(vm_field), "vm %d-%d ", getpid(), handle);
	at = memext_expect_event(at, "kvm_memext_batch_begin",
				 (const char * const[]){ vm_field, "entries 1 ", NULL },
				 trace);
	at = memext_expect_event(at, "kvm_memext_batch_validated",
				 (const char * const[]){ vm_field, "error 0 ", NULL }, trace);
	/* The vCPU was in the guest: it parks in its task work. */
	at = memext_expect_event(at, "kvm_memext_vcpu_park",
				 (const char * const[]){ "vcpu 0", NULL }, trace);
	at = memext_expect_event(at, "kvm_memext_batch_parked",
				 (const char * const[]){ vm_field, "vcpus 1 ", "error 0",
							 NULL }, trace);
	at = memext_expect_event(at, "kvm_memext_batch_applied",
				 (const char * const[]){ vm_field, "applied 1 ",
							 "error 0", NULL }, trace);
	memext_expect_event(at, "kvm_memext_vcpu_resume",
			    (const char * const[]){ "vcpu 0 parked_ns ", NULL }, trace);
	at = memext_expect_event(at, "kvm_memext_batch_resumed",
				 (const char * const[]){ vm_field, NULL }, trace);
	at = memext_expect_event(at, "kvm_memext_batch_rollback",
				 (const char * const[]){ vm_field, "failed entry 0 ",
							 "result 0x1", NULL }, trace);
	at = memext_expect_event(at, "kvm_memext_batch_resumed",
				 (const char * const[]){ vm_field, NULL }, trace);

	if (privmem) {
		snprintf(clock_field, sizeof(clock_field), "page 0x%x ", CLOCK_PAGE);
		at = memext_expect_event(at, "kvm_memext_privmem_show", NULL, trace);
		at = memext_expect_event(at, "kvm_memext_privmem_flush",
					 (const char * const[]){ "reason clock", NULL }, trace);
		at = memext_expect_event(at, "kvm_memext_privmem_clock_show",
					 (const char * const[]){ "vcpu 0 ", clock_field,
								 "error 0", NULL }, trace);
	} else {
		ksft_print_msg("no private memory or kvm-clock here: the batch's events only\n");
	}
	ksft_print_msg("%zu bytes of trace, events in order\n", strlen(buf));
	free(buf);

	memext_trace_write("events/kvm_memext/enable", "0");
	TEST_ASSERT(!rmdir(path), "rmdir %s: %s", path, strerror(errno));
	kvm_vm_free(vm);
	if (privmem) {
		munmap(p, PM_SIZE);
		close(fd);
	}
	close(handle);
	close(dev);
}

/* Every limit refusal has an event, also when its log line is suppressed. */
static void test_limit_event(void)
{
	struct rlimit lim = { .rlim_cur = 64 << 10, .rlim_max = 64 << 10 };
	char path[256], *buf;
	int dev, fd, i;
	uint8_t *p;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	memext_trace_open(INSTANCE);
	dev = memext_open();
	snprintf(path, sizeof(path), "%s", memext_tracefs);
	TEST_ASSERT(!mkdir(path, 0700) || errno == EEXIST, "mkdir %s", path);
	memext_trace_write("events/kvm_memext/kvm_memext_limit/enable", "1");

	/* Beyond RLIMIT_MEMLOCK without CAP_IPC_LOCK, three times. */
	drop_caps(CAP_BIT(CAP_IPC_LOCK));
	TEST_ASSERT(!setrlimit(RLIMIT_MEMLOCK, &lim), "setrlimit");
	fd = memext_create_privmem(dev, PM_SIZE, 0);
	for (i = 0; i < 3; i++)
		TEST_ASSERT(fallocate(fd, 0, 0, PM_SIZE) && errno == ENOMEM,
			    "fallocate beyond memlock: %s", strerror(errno));
	p = mmap(NULL, PM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap");

	memext_trace_write("events/kvm_memext/kvm_memext_limit/enable", "0");
	buf = memext_trace_read();
	{
		const char *at = buf;

		for (i = 0; i < 3; i++)
			at = memext_expect_event(at, "kvm_memext_limit",
						 (const char * const[]){ "memlock value 64",
									 NULL }, buf);
	}
	free(buf);
	TEST_ASSERT(!rmdir(path), "rmdir %s: %s", path, strerror(errno));
	munmap(p, PM_SIZE);
	close(fd);
	close(dev);
}

int main(int argc, char *argv[])
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_events),
		MEMEXT_TEST(test_limit_event),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
