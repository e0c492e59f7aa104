// SPDX-License-Identifier: GPL-2.0
/*
 * Kill campaign: a VMM is SIGKILLed at a random instant while it runs
 * vCPUs over private memory, issues memslot batches under them, keeps
 * runstate areas attached, faults and punches a second private-memory
 * file, and binds and closes a handle of a second VM from another thread.
 * After each kill, once the process is reaped: the module's reference
 * count is back to its start value, no private-memory file or page is
 * left, DirectMap4k is back to its start value.  While each VMM lived,
 * its guests saw no intermediate layout (a hole, a wrong value), as in
 * memslot_batch_test.  Splats and kmemleak reports are the harness's to
 * find, in the kernel log and at the end of the run.
 *
 * Seeded: the delays before the kills come from the seed, which is
 * printed; a failure prints the kill it happened at.
 *
 * Usage: kill_test [-n kills] [-s seed] [-v vcpus] [-b]
 *   -b: a control: the same changes as one-by-one KVM ioctls, which the
 *	 guests see the holes of (the test then fails).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define DATA_GPA	0x40000000ul
#define AREA_GPA	0x50000000ul
#define NR_PAGES	16
#define HALF		(NR_PAGES / 2)
#define CHUNK		(512 * PAGE_SIZE)
#define SLOT_DATA	10
#define SLOT_DATA2	11
#define SLOT_AREA	12
#define PATTERN(p)	(0xa5a5000000000000ull | (p))
#define MAX_VCPUS	4

/* Shared with the parent, which reads it after each kill. */
struct shared {
	uint64_t ready;		/* vCPUs that went round their loop */
	uint64_t batches;
	uint64_t bad;		/* wrong values and holes the guests saw */
	uint64_t punches;
};

static struct shared *sh;
static bool guest_stop;

static void guest_code(void)
{
	uint64_t p, v;

	while (!READ_ONCE(guest_stop)) {
		for (p = 0; p < NR_PAGES; p++) {
			v = READ_ONCE(*(uint64_t *)(DATA_GPA + p * PAGE_SIZE));
			if (v != PATTERN(p))
				GUEST_SYNC(p);
		}
		GUEST_SYNC(~0ull);
	}
	GUEST_DONE();
}

struct victim {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	int nr_vcpus;
	int dev;
	int handle;
	uint8_t *data;
};

static struct victim V;
static bool one_by_one;

/* The batch as plain KVM_SET_USER_MEMORY_REGION calls, for -b. */
static int apply_one_by_one(struct kvm_memext_memslot *e, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = e[i].slot, .guest_phys_addr = e[i].guest_phys_addr,
			.memory_size = e[i].memory_size,
			.userspace_addr = e[i].userspace_addr,
		};

		if (ioctl(V.vm->fd, KVM_SET_USER_MEMORY_REGION, &r))
			return -1;
	}
	return 0;
}

static struct kvm_memext_memslot slot(uint32_t id, uint64_t gpa, uint64_t npages,
				      void *hva)
{
	return (struct kvm_memext_memslot) {
		.slot = id, .guest_phys_addr = gpa, .memory_size = npages * PAGE_SIZE,
		.userspace_addr = (uintptr_t)hva,
	};
}

static void *vcpu_fn(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct kvm_memext_runstate a = {
		.vcpu_fd = vcpu->fd,
		/* Each vCPU's area across a page boundary of its own. */
		.gpa = AREA_GPA + (vcpu->id + 1) * PAGE_SIZE - 16,
		.size = sizeof(struct kvm_memext_runstate_area),
	};
	bool counted = false, attached = false;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		/*
		 * The first run binds the vCPU to this thread: attach then,
		 * again while batches kept changing the memslots (EAGAIN).
		 */
		if (!attached) {
			attached = !ioctl(V.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a);
			TEST_ASSERT(attached || errno == EAGAIN,
				    "RUNSTATE_ATTACH: %s", strerror(errno));
		}
		/* A ucall first: arm64's are MMIO exits too. */
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			if (uc.args[1] != ~0ull)
				__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
			if (!counted)
				__atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELAXED);
			counted = true;
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
			/* A read that found no memslot: the guest goes on. */
			if (vcpu->run->exit_reason == KVM_EXIT_MMIO)
				continue;
			return NULL;
		}
	}
}

/* Split and merge the data slot under the running vCPUs. */
static void *batch_fn(void *arg)
{
	struct kvm_memext_memslot split[] = {
		slot(SLOT_DATA, 0, 0, NULL),
		slot(SLOT_DATA, DATA_GPA, HALF, V.data),
		slot(SLOT_DATA2, DATA_GPA + HALF * PAGE_SIZE, HALF, V.data + HALF * PAGE_SIZE),
	};
	struct kvm_memext_memslot merge[] = {
		slot(SLOT_DATA2, 0, 0, NULL),
		slot(SLOT_DATA, 0, 0, NULL),
		slot(SLOT_DATA, DATA_GPA, NR_PAGES, V.data),
	};
	struct kvm_memext_set_memslots args = {
		.flags = KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY, .nr_entries = 3,
	};

	for (;;) {
		args.entries = (uintptr_t)split;
		TEST_ASSERT(one_by_one ? !apply_one_by_one(split, 3) :
			    !ioctl(V.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
			    "split: %s", strerror(errno));
		args.entries = (uintptr_t)merge;
		TEST_ASSERT(one_by_one ? !apply_one_by_one(merge, 3) :
			    !ioctl(V.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
			    "merge: %s", strerror(errno));
		__atomic_add_fetch(&sh->batches, 2, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Fault a second file in and punch whole chunks of it, in a loop. */
static void *punch_fn(void *arg)
{
	int fd = memext_create_privmem(V.dev, 4 * CHUNK, 0);
	uint8_t *p = mmap(NULL, 4 * CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t i, c;

	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	for (c = 0;; c++) {
		for (i = 0; i < 4 * CHUNK; i += PAGE_SIZE)
			p[i] = 1;
		TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (c % 4) * CHUNK, CHUNK), "punch: %s", strerror(errno));
		__atomic_add_fetch(&sh->punches, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Bind a second VM and close the handle, from this thread, in a loop. */
static void *bind_fn(void *arg)
{
	struct kvm_vm *vm = vm_create_barebones();

	for (;;)
		close(memext_bind(V.dev, vm->fd));
	return NULL;
}

static void victim(int nr_vcpus)
{
	pthread_t t;
	int i, fd;

	V.nr_vcpus = nr_vcpus;
	V.dev = memext_open();
	V.vm = vm_create_with_vcpus(nr_vcpus, guest_code, V.vcpus);
	V.handle = memext_bind(V.dev, V.vm->fd);

	/* Guest data in private memory (one 2 MiB chunk); areas anonymous. */
	fd = memext_create_privmem(V.dev, CHUNK, 0);
	V.data = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(V.data != MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < NR_PAGES; i++)
		*(uint64_t *)(V.data + i * PAGE_SIZE) = PATTERN(i);
	vm_set_user_memory_region(V.vm, SLOT_DATA, 0, DATA_GPA, NR_PAGES * PAGE_SIZE, V.data);
	vm_userspace_mem_region_add(V.vm, VM_MEM_SRC_ANONYMOUS, AREA_GPA, SLOT_AREA,
				    MAX_VCPUS + 1, 0);
	virt_map(V.vm, DATA_GPA, DATA_GPA, NR_PAGES);

	for (i = 0; i < nr_vcpus; i++)
		pthread_create(&t, NULL, vcpu_fn, V.vcpus[i]);
	pthread_create(&t, NULL, batch_fn, NULL);
	pthread_create(&t, NULL, punch_fn, NULL);
	pthread_create(&t, NULL, bind_fn, NULL);
	for (;;)
		pause();
}

static long dmap4k(void)
{
	return memext_proc_kb("/proc/meminfo", "DirectMap4k");
}

/* Everything the killed VMM held is back, within 10 s of its reaping. */
static void check_clean(int kill, long refcnt, long files, long pages, long dm)
{
	int ms;

	for (ms = 0; ms < 10000; ms += 10) {
		if (memext_module_refcnt() == refcnt && memext_stat("files") == files &&
		    memext_stat("pages") == pages && dmap4k() == dm)
			return;
		usleep(10000);
	}
	TEST_FAIL("kill %d: refcnt %ld (was %ld), files %ld (%ld), pages %ld (%ld), %s %ld (%ld)",
		  kill, memext_module_refcnt(), refcnt, memext_stat("files"), files,
		  memext_stat("pages"), pages, "DirectMap4k kB", dmap4k(), dm);
}

int main(int argc, char *argv[])
{
	int kills = 30, nr_vcpus = 2, opt, k, status, ms;
	unsigned int seed = time(NULL);
	uint64_t batches = 0, punches = 0, delay_us;
	long refcnt, files, pages, dm;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:s:v:b")) != -1) {
		switch (opt) {
		case 'b':
			one_by_one = true;
			break;
		case 'n':
			kills = atoi(optarg);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			nr_vcpus = atoi(optarg);
			break;
		default:
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(nr_vcpus > 0 && nr_vcpus <= MAX_VCPUS, "1..%d vCPUs", MAX_VCPUS);
	ksft_print_header();
	ksft_set_plan(1);
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	ksft_print_msg("seed %u, %d kills, %d vCPUs\n", seed, kills, nr_vcpus);
	srand(seed);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(sh != MAP_FAILED, "mmap");
	refcnt = memext_module_refcnt();
	files = memext_stat("files");
	pages = memext_stat("pages");
	dm = dmap4k();

	for (k = 1; k <= kills; k++) {
		memset(sh, 0, sizeof(*sh));
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		if (!pid)
			victim(nr_vcpus);
		/* Once every vCPU runs, at a random instant within 200 ms. */
		for (ms = 0; READ_ONCE(sh->ready) < (uint64_t)nr_vcpus; ms++) {
			TEST_ASSERT(ms < 60000 && waitpid(pid, &status, WNOHANG) == 0,
				    "kill %d: the VMM did not start its vCPUs", k);
			usleep(1000);
		}
		delay_us = (uint64_t)rand() % 200000;
		usleep(delay_us);
		kill(pid, SIGKILL);
		TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
		TEST_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			    "kill %d: the VMM ended by itself (status 0x%x)", k, status);
		TEST_ASSERT(!sh->bad, "kill %d: a guest saw %lu intermediate layouts",
			    k, (unsigned long)sh->bad);
		batches += sh->batches;
		punches += sh->punches;
		check_clean(k, refcnt, files, pages, dm);
	}
	ksft_print_msg("%d kills: %lu batches and %lu punches before them, guests saw no hole; "
		       "refcnt, files, pages and DirectMap4k back after each\n",
		       kills, (unsigned long)batches, (unsigned long)punches);
	ksft_test_result_pass("kill campaign\n");
	ksft_exit_pass();
}
