// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU runstate areas (KVM_MEMEXT_RUNSTATE_*) with real guests: where an
 * area can be, and what it says.  The guest checks every read of its area
 * (runstate_util.h) while the host makes the vCPU thread sleep between
 * rounds.  The area sits inside one page, across two pages, across two
 * memslots; in shmem, anonymous, hugetlb, private and IO memory (an
 * ivshmem BAR mapped through sysfs: VM_PFNMAP; RAM in a VM_PFNMAP mapping
 * of DRM's vgem), and across RAM and IO,
 * each mapped by the module with the memory type of the host's mapping; in
 * the 64-bit and the 32-bit layout; for four vCPUs at once; in the SMM
 * address space.  A halted vCPU is blocked; a detached one is offline,
 * also when another thread detached it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* RUSAGE_THREAD */
#endif
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "runstate_util.h"

static void run_layout(int mmap_flags, uint64_t offset, bool compat)
{
	struct rs_ctx c;

	ctx_init(&c, mmap_flags, offset, compat);
	attach(&c);
	check_current(&c, "after attach");
	run_rounds(&c, ROUNDS, NULL, 0);
	check_current(&c, "after the rounds");
	ctx_done(&c);
}

static void test_one_page(void)
{
	run_layout(SHM, 0x100, false);
}

static void test_two_pages(void)
{
	/* state and state_entry_time in one page, the times in the next. */
	run_layout(SHM, PAGE_SIZE - 16, false);
}

static void test_two_memslots(void)
{
	run_layout(SHM, NR_PAGES * PAGE_SIZE - 24, false);
}

static void test_two_memslots_anon(void)
{
	run_layout(ANON, NR_PAGES * PAGE_SIZE - 24, false);
}

static void test_pfnmap_two_pages(void)
{
	run_layout(IOMEM, NR_PAGES * PAGE_SIZE + PAGE_SIZE - 16, false);
}

/* RAM and IO pages under one area: the split path. */
static void test_pfnmap_mixed(void)
{
	run_layout(IOMEM, NR_PAGES * PAGE_SIZE - 24, false);
}

/*
 * Run an area across RAM and a VM_PFNMAP mapping, and check the memory
 * types the cache mapped it with: @io for at least @min_io IO mappings,
 * @ram for the RAM ones (NULL: any).
 */
static void run_memtype(int mmap_flags, const char *io, int min_io,
			const char *ram)
{
	struct rs_ctx c;

	memtype_trace_begin();
	ctx_init(&c, mmap_flags, NR_PAGES * PAGE_SIZE - 24, false);
	attach(&c);
	run_rounds(&c, ROUNDS, NULL, 0);
	check_current(&c, "after the rounds");
	ctx_done(&c);
	memtype_trace_end(io, min_io, ram);
	/*
	 * x86's PAT gives a later mapping of the BAR the memory type of one
	 * still there, whatever it asks for.
	 */
	munmap(c.hva[1], NR_PAGES * PAGE_SIZE);
}

/*
 * The area across RAM and the BAR mapped uncached, then write-combining:
 * the cache maps each page with the memory type of the host's mapping.
 */
static void test_pfnmap_memtype(void)
{
	run_memtype(IOMEM, MEMEXT_MEMTYPE_UC, 1, NULL);
	run_memtype(IOMEM_WC, MEMEXT_MEMTYPE_WC, 1, NULL);
}

/*
 * VM_PFNMAP does not always mean IO memory: vgem inserts its shmem pages
 * by pfn, write-combining.  The cache maps them as RAM, with the host's
 * type on x86 (WC, which the driver gave the direct map too: a write-back
 * alias would conflict), cacheable on arm64 whatever the host asked (as
 * KVM maps RAM at stage 2).
 */
static void test_pfnmap_ram(void)
{
	run_memtype(VGEM, NULL, 0, MEMEXT_MEMTYPE_VGEM);
}

/* Pages out of the kernel direct map: the cache maps them with vmap(). */
static void test_privmem_two_memslots(void)
{
	run_layout(PRIVMEM, NR_PAGES * PAGE_SIZE - 24, false);
}

static void test_compat32_two_pages(void)
{
	/* state_entry_time itself crosses the page boundary. */
	run_layout(SHM, PAGE_SIZE - 8, true);
}

static void test_hugetlb(void)
{
	run_layout(MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, NR_PAGES * PAGE_SIZE - 24,
		   false);
}

/* Several vCPUs, each attached from its own thread, areas everywhere. */
#define NR_VCPUS 4

struct vcpu_job {
	struct rs_ctx c;
	pthread_t thread;
};

static void *vcpu_job_fn(void *arg)
{
	struct vcpu_job *j = arg;

	attach(&j->c);
	run_rounds(&j->c, ROUNDS / 2, NULL, 0);
	check_current(&j->c, "many vCPUs");
	TEST_ASSERT(!__detach(&j->c, j->c.vcpu->fd), "detach: %s", strerror(errno));
	return NULL;
}

static void test_many_vcpus(void)
{
	static const uint64_t offsets[NR_VCPUS] = {
		0x40, PAGE_SIZE - 16, 2 * PAGE_SIZE - 40, NR_PAGES * PAGE_SIZE - 8,
	};
	struct kvm_vcpu *vcpus[NR_VCPUS];
	struct vcpu_job jobs[NR_VCPUS] = {};
	struct rs_ctx base;
	int i;

	ctx_init(&base, SHM, 0, false);
	/* The base context's VM gets more vCPUs, one job each. */
	for (i = 0; i < NR_VCPUS; i++) {
		vcpus[i] = i ? vm_vcpu_add(base.vm, i, guest_code) : base.vcpu;
		jobs[i].c = base;
		jobs[i].c.vcpu = vcpus[i];
		jobs[i].c.gpa = GPA_A + offsets[i];
		vcpu_args_set(vcpus[i], 2, jobs[i].c.gpa, 0);
	}
	for (i = 0; i < NR_VCPUS; i++)
		pthread_create(&jobs[i].thread, NULL, vcpu_job_fn, &jobs[i]);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(jobs[i].thread, NULL);
}

/* An area in the SMM address space is written there, not in address space 0. */
static void test_smm_address_space(void)
{
	struct kvm_memext_runstate a;
	struct rs_ctx c;
	uint64_t time[4];
	uint32_t state;
	uint8_t *smm;

	ctx_init(&c, SHM, 0x100, false);
	__TEST_REQUIRE(kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE) > 1,
		       "one address space only");
	smm = map_backing(SHM);
	vm_set_user_memory_region(c.vm, 1 << 16 | SLOT_A, 0, GPA_A,
				  NR_PAGES * PAGE_SIZE, smm);
	a = (struct kvm_memext_runstate) {
		.vcpu_fd = c.vcpu->fd, .gpa = c.gpa, .size = AREA64, .as_id = 1,
	};
	TEST_ASSERT(!ioctl(c.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a),
		    "attach in address space 1: %s", strerror(errno));
	switch_once(&c);
	/* Address space 0 never saw a write. */
	TEST_ASSERT(!host_read_area(&c, &state, time), "written into address space 0");
	/* Address space 1 holds the current area. */
	c.hva[0] = smm;
	check_current(&c, "address space 1");
	ctx_done(&c);
}

static void *halt_vcpu(void *arg)
{
	struct rs_ctx *c = arg;

	attach(c);
	/* Returns when kicked; the guest halts with interrupts off. */
	__vcpu_run(c->vcpu);
	return NULL;
}

static void kick_handler(int sig)
{
}

/* A halted vCPU sleeps in KVM_RUN: blocked. */
static void test_halted_vcpu_blocked(void)
{
	struct kvm_memext_runstate_info info;
	struct rs_ctx c;
	pthread_t t;

	signal(SIGUSR1, kick_handler);
	ctx_init(&c, SHM, 0x100, false);
	vcpu_args_set(c.vcpu, 2, c.gpa, GUEST_HALT);
	pthread_create(&t, NULL, halt_vcpu, &c);
	usleep(200000);
	info = get_info(&c, c.vcpu->fd);
	TEST_ASSERT(info.state == KVM_MEMEXT_RUNSTATE_BLOCKED,
		    "state %u of a halted vCPU", info.state);
	check_current(&c, "halted");
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
}

/*
 * A VMM may detach from another thread while the vCPU's thread runs on:
 * its switches while the detach writes "offline" must not win.  The
 * vCPU thread sleeps a microsecond at a time (a switch out and in each
 * time) until it sees the detach done.
 */
#define DETACH_ROUNDS	50

struct switcher {
	struct rs_ctx *c;
	int attached;	/* rounds attached, by the vCPU thread */
	int detached;	/* rounds detached, by the other */
	int switched;	/* rounds in which the vCPU thread switched */
};

/* How often the calling thread has been switched out. */
static long thread_switches(void)
{
	struct rusage ru;

	TEST_ASSERT(!getrusage(RUSAGE_THREAD, &ru), "getrusage: %s", strerror(errno));
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void *switching_vcpu_thread(void *arg)
{
	struct switcher *s = arg;
	long before;
	int i;

	for (i = 0; i < DETACH_ROUNDS; i++) {
		attach(s->c);
		before = thread_switches();
		__atomic_store_n(&s->attached, i + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&s->detached, __ATOMIC_ACQUIRE) <= i)
			usleep(1);
		s->switched += thread_switches() > before;
	}
	return NULL;
}

static void test_detach_from_another_thread(void)
{
	struct switcher s = {};
	uint64_t time[4];
	struct rs_ctx c;
	uint32_t state;
	pthread_t t;
	int i;

	ctx_init(&c, SHM, 0x100, false);
	s.c = &c;
	pthread_create(&t, NULL, switching_vcpu_thread, &s);
	for (i = 0; i < DETACH_ROUNDS; i++) {
		while (__atomic_load_n(&s.attached, __ATOMIC_ACQUIRE) <= i)
			usleep(100);
		/* Let it switch a few times while attached. */
		usleep(1000);
		TEST_ASSERT(!__detach(&c, c.vcpu->fd), "RUNSTATE_DETACH: %s",
			    strerror(errno));
		host_read_area(&c, &state, time);
		TEST_ASSERT(state == KVM_MEMEXT_RUNSTATE_OFFLINE,
			    "round %d: state %u after detach", i, state);
		__atomic_store_n(&s.detached, i + 1, __ATOMIC_RELEASE);
	}
	pthread_join(t, NULL);
	/* Else nothing above was tested. */
	TEST_ASSERT(s.switched >= DETACH_ROUNDS / 2,
		    "the vCPU thread switched in %d of %d rounds", s.switched,
		    DETACH_ROUNDS);
	close(c.handle);
	kvm_vm_free(c.vm);
	close(c.dev);
}

int main(int argc, char *argv[])
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_one_page),
		MEMEXT_TEST(test_two_pages),
		MEMEXT_TEST(test_two_memslots),
		MEMEXT_TEST(test_two_memslots_anon),
		MEMEXT_TEST(test_pfnmap_two_pages),
		MEMEXT_TEST(test_pfnmap_mixed),
		MEMEXT_TEST(test_pfnmap_memtype),
		MEMEXT_TEST(test_pfnmap_ram),
		MEMEXT_TEST(test_privmem_two_memslots),
		MEMEXT_TEST(test_compat32_two_pages),
		MEMEXT_TEST(test_hugetlb),
		MEMEXT_TEST(test_many_vcpus),
		MEMEXT_TEST(test_smm_address_space),
		MEMEXT_TEST(test_halted_vcpu_blocked),
		MEMEXT_TEST(test_detach_from_another_thread),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
