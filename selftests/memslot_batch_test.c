// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_MEMEXT_SET_MEMSLOTS atomicity with real guests: vCPUs execute code
 * from, read and write the regions that a loop of batches splits, merges,
 * moves, resizes, deletes and re-creates, makes read-only and dirty-logs.
 * Any MMIO exit (a guest access that found no memslot) or wrong value is a
 * failure.  Every batch starts only when each vCPU has gone round its loop
 * since the previous one, so that the batch always finds them running:
 * issued back to back, batches could follow each other while the vCPUs of
 * the last one had not even resumed.
 *
 * The same sequence issued as plain one-by-one KVM_SET_USER_MEMORY_REGION
 * calls (the non-atomic baseline, -b) shows how often a guest sees the
 * intermediate layouts there.  A vCPU whose instruction fetch found a hole
 * there (x86: an emulation failure, which leaves it at that instruction)
 * runs again, so that every vCPU runs through both modes: the latency of a
 * batch, reported per batch next to the holes seen, compares like with
 * like.
 *
 * With -d the reshaped region is device memory: the ivshmem BAR that the
 * runner adds, a VM_PFNMAP mapping without struct page, which KVM maps at
 * stage 2 with a device memory type on arm64.  The guest then only reads
 * it: an instruction fetch from device memory is an abort there.
 *
 * A third mode (-k, a control experiment) changes no memslot at all and
 * only kicks every vCPU thread out of KVM_RUN with a signal as often as the
 * batches would: it tells failures of the nested-virtualization platform
 * under frequent exits apart from failures of the batches.
 *
 * Usage: memslot_batch_test [-v vcpus] [-c cycles] [-d] [-b | -k]
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "memext_util.h"
#include "memext_arch.h"
#include "processor.h"
#include "ucall_common.h"

#define DATA_GPA	0x40000000ul	/* the region being reshaped */
#define ALT_GPA		0x60000000ul	/* where it is moved to */
#define WRITE_GPA	0x50000000ul	/* per-vCPU counters */
#define NR_PAGES	16
#define HALF		(NR_PAGES / 2)

#define SLOT_DATA	10
#define SLOT_DATA2	11
#define SLOT_WRITE	12
#define SLOT_ALIAS	13

#define CODE_OFFSET	128		/* in page 0 of the region */
#define CODE_MAGIC	0x5eed5eed5eedull
#define PATTERN(p)	(0xa5a5000000000000ull | (p))

#define BAD_VALUE	1ull
#define BAD_CODE	2ull

#define MAX_VCPUS	16

static bool guest_stop;
static bool guest_device;	/* -d: the region is device memory: no code there */

/* Run the code that the region holds; it returns CODE_MAGIC. */
static uint64_t guest_call_region(void)
{
	return memext_guest_call(DATA_GPA + CODE_OFFSET);
}

/* arm64: the code's page was a hole (an instruction abort); fetch again. */
static void guest_fetch_abort(struct ex_regs *regs)
{
	GUEST_SYNC(BAD_CODE << 32);
}

static void guest_code(uint64_t id)
{
	uint64_t *counter = (uint64_t *)(WRITE_GPA + id * 64);
	uint64_t n = 0, p, v;

	while (!READ_ONCE(guest_stop)) {
		for (p = 0; p < NR_PAGES; p++) {
			v = READ_ONCE(*(uint64_t *)(DATA_GPA + p * PAGE_SIZE));
			if (v != PATTERN(p))
				GUEST_SYNC(BAD_VALUE << 32 | p);
		}
		if (!READ_ONCE(guest_device) && guest_call_region() != CODE_MAGIC)
			GUEST_SYNC(BAD_CODE << 32);
		WRITE_ONCE(*counter, ++n);
	}
	GUEST_DONE();
}

struct vcpu_thread {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	uint64_t mmio_exits;
	uint64_t bad_values;
	uint64_t fetch_faults;	/* x86: code fetched from a hole */
	uint64_t other_exits;
	bool dead;
};

static struct kvm_vm *vm;
static uint8_t *data_hva;	/* 2 * NR_PAGES: room to grow */
static uint8_t *write_hva;
static int handle;
static bool baseline;
static bool kick_only;
static struct vcpu_thread *vcpu_threads;
static int nr_threads;

/* Where a vCPU was when it died, for the failure report. */
static void dump_vcpu(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct memext_regs regs = memext_vcpu_regs(vcpu);

	ksft_print_msg("vCPU %u: %s, " MEMEXT_REGS_FMT ", suberror %u\n",
		       vcpu->id, exit_reason_str(run->exit_reason), regs.pc,
		       regs.sp, regs.ret,
		       run->exit_reason == KVM_EXIT_INTERNAL_ERROR ?
		       run->internal.suberror : 0);
}

static void *vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *t = arg;
	struct kvm_run *run = t->vcpu->run;
	struct ucall uc;

	for (;;) {
		vcpu_run(t->vcpu);
		switch (get_ucall(t->vcpu, &uc)) {
		case UCALL_SYNC:
			__atomic_add_fetch(&t->bad_values, 1, __ATOMIC_RELAXED);
			break;
		case UCALL_DONE:
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			/* A guest access that found no memslot. */
			if (run->exit_reason == KVM_EXIT_MMIO) {
				/* A read completes with zeros; the guest reports it. */
				__atomic_add_fetch(&t->mmio_exits, 1, __ATOMIC_RELAXED);
				break;
			}
			/*
			 * x86's instruction fetch from a hole: the vCPU is
			 * still at the call, which the next layout serves.
			 */
			if (baseline && run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
				__atomic_add_fetch(&t->fetch_faults, 1, __ATOMIC_RELAXED);
				continue;
			}
			dump_vcpu(t->vcpu);
			TEST_ASSERT(baseline, "unexpected exit %s",
				    exit_reason_str(run->exit_reason));
			t->other_exits++;
			WRITE_ONCE(t->dead, true);
			return NULL;
		}
	}
}

static struct kvm_memext_memslot slot(uint32_t id, uint32_t flags, uint64_t gpa,
				      uint64_t npages, void *hva)
{
	return (struct kvm_memext_memslot) {
		.slot = id, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = npages * PAGE_SIZE, .userspace_addr = (uintptr_t)hva,
	};
}

static struct kvm_memext_memslot del(uint32_t id)
{
	return (struct kvm_memext_memslot) { .slot = id };
}

static uint64_t counter(int i)
{
	return READ_ONCE(*(uint64_t *)(write_hva + i * 64));
}

/* Loop iterations of each vCPU when the last batch ended. */
static uint64_t last_count[MAX_VCPUS];

/* Wait until every live vCPU has gone round its loop since the last batch. */
static void wait_vcpus_ran(void)
{
	int i, ms;

	for (i = 0; i < nr_threads; i++) {
		for (ms = 0; counter(i) == last_count[i]; ms++) {
			if (READ_ONCE(vcpu_threads[i].dead))
				break;
			TEST_ASSERT(ms < 20000, "vCPU %d stopped running", i);
			usleep(1000);
		}
	}
}

static void apply_one(struct kvm_memext_memslot *e, unsigned int nr)
{
	struct kvm_memext_set_memslots args = {
		.nr_entries = nr, .entries = (uintptr_t)e,
		.flags = KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY,
	};
	unsigned int i;
	int r;

	if (kick_only) {
		/* KVM_RUN returns -EINTR; the library's vcpu_run() re-enters. */
		for (i = 0; i < (unsigned int)nr_threads; i++)
			pthread_kill(vcpu_threads[i].thread, SIGUSR1);
		usleep(1000);
		return;
	}
	if (!baseline) {
		r = ioctl(handle, KVM_MEMEXT_SET_MEMSLOTS, &args);
		TEST_ASSERT(!r, "batch failed at entry %d: %s (result 0x%x)",
			    args.error_index, strerror(args.error), args.result);
		return;
	}
	for (i = 0; i < nr; i++) {
		struct kvm_userspace_memory_region region = {
			.slot = e[i].slot, .flags = e[i].flags,
			.guest_phys_addr = e[i].guest_phys_addr,
			.memory_size = e[i].memory_size,
			.userspace_addr = e[i].userspace_addr,
		};

		r = ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
		TEST_ASSERT(!r, "KVM_SET_USER_MEMORY_REGION entry %u: %s",
			    i, strerror(errno));
	}
}

/* Each batch's latency, ns: the ioctls only, not the wait before them. */
static uint64_t *latency;
static uint64_t nr_latency;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void apply(struct kvm_memext_memslot *e, unsigned int nr)
{
	uint64_t t0;
	int i;

	wait_vcpus_ran();
	t0 = now_ns();
	apply_one(e, nr);
	latency[nr_latency++] = now_ns() - t0;
	for (i = 0; i < nr_threads; i++)
		last_count[i] = counter(i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define APPLY(...)							\
do {									\
	struct kvm_memext_memslot __e[] = { __VA_ARGS__ };		\
									\
	apply(__e, ARRAY_SIZE(__e));					\
	batches++;							\
} while (0)

static uint64_t batches;

/* One cycle: eleven batches, each leaving the guest's view unchanged. */
#define BATCHES_PER_CYCLE	11

static void cycle(void)
{
	uint8_t *d2 = data_hva + HALF * PAGE_SIZE;

	/* split and merge */
	APPLY(del(SLOT_DATA),
	      slot(SLOT_DATA, 0, DATA_GPA, HALF, data_hva),
	      slot(SLOT_DATA2, 0, DATA_GPA + HALF * PAGE_SIZE, HALF, d2));
	APPLY(del(SLOT_DATA), del(SLOT_DATA2),
	      slot(SLOT_DATA, 0, DATA_GPA, NR_PAGES, data_hva));
	/* move away, with an alias left in place, and back */
	APPLY(slot(SLOT_DATA, 0, ALT_GPA, NR_PAGES, data_hva),
	      slot(SLOT_ALIAS, 0, DATA_GPA, NR_PAGES, data_hva));
	APPLY(del(SLOT_ALIAS),
	      slot(SLOT_DATA, 0, DATA_GPA, NR_PAGES, data_hva));
	/* read-only on and off */
	APPLY(del(SLOT_DATA),
	      slot(SLOT_DATA, KVM_MEM_READONLY, DATA_GPA, NR_PAGES, data_hva));
	APPLY(del(SLOT_DATA),
	      slot(SLOT_DATA, 0, DATA_GPA, NR_PAGES, data_hva));
	/* grow and shrink */
	APPLY(del(SLOT_DATA),
	      slot(SLOT_DATA, 0, DATA_GPA, 2 * NR_PAGES, data_hva));
	APPLY(del(SLOT_DATA),
	      slot(SLOT_DATA, 0, DATA_GPA, NR_PAGES, data_hva));
	/* dirty logging on and off for the written region */
	APPLY(slot(SLOT_WRITE, KVM_MEM_LOG_DIRTY_PAGES, WRITE_GPA, 1, write_hva));
	APPLY(slot(SLOT_WRITE, 0, WRITE_GPA, 1, write_hva));
	/* delete and re-create the written region */
	APPLY(del(SLOT_WRITE), slot(SLOT_WRITE, 0, WRITE_GPA, 1, write_hva));
}

static void kick_handler(int sig)
{
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct vcpu_thread threads[MAX_VCPUS] = {};
	uint64_t before[MAX_VCPUS], mmio = 0, bad = 0, fetch = 0, other = 0, loops = 0;
	int nr_vcpus = 8, cycles = 200, opt, i, dev, c, dead = 0;
	struct timespec t0, t1;

	while ((opt = getopt(argc, argv, "v:c:dbk")) != -1) {
		switch (opt) {
		case 'v':
			nr_vcpus = atoi(optarg);
			break;
		case 'c':
			cycles = atoi(optarg);
			break;
		case 'd':
			guest_device = true;
			break;
		case 'b':
			baseline = true;
			break;
		case 'k':
			kick_only = true;
			break;
		default:
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(nr_vcpus > 0 && nr_vcpus <= MAX_VCPUS, "1..%d vCPUs", MAX_VCPUS);
	TEST_ASSERT(cycles > 0, "at least one cycle");
	latency = calloc((size_t)cycles * BATCHES_PER_CYCLE, sizeof(*latency));
	TEST_ASSERT(latency, "calloc");

	ksft_print_header();
	ksft_set_plan(1);
	dev = memext_open();
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_MEMSLOT_BATCH));

	vm = vm_create_with_vcpus(nr_vcpus, guest_code, vcpus);
	handle = memext_bind(dev, vm->fd);

	if (guest_device) {
		data_hva = memext_map_ivshmem(NULL, 2 * NR_PAGES * PAGE_SIZE, false);
		__TEST_REQUIRE(data_hva, "no ivshmem device");
		sync_global_to_guest(vm, guest_device);
	} else {
		data_hva = mmap(NULL, 2 * NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	write_hva = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(data_hva != MAP_FAILED && write_hva != MAP_FAILED, "mmap");
	/* Aligned 8-byte stores: device memory takes no other (memset()'s DC ZVA). */
	for (i = 0; i < 2 * NR_PAGES; i++)
		WRITE_ONCE(*(uint64_t *)(data_hva + i * PAGE_SIZE), PATTERN(i));
	if (!guest_device)
		memext_emit_ret_imm(data_hva + CODE_OFFSET, CODE_MAGIC);
	memext_vm_on_fetch_abort(vm, vcpus, nr_vcpus, guest_fetch_abort);

	vm_set_user_memory_region(vm, SLOT_DATA, 0, DATA_GPA, NR_PAGES * PAGE_SIZE, data_hva);
	vm_set_user_memory_region(vm, SLOT_WRITE, 0, WRITE_GPA, PAGE_SIZE, write_hva);
	virt_map(vm, DATA_GPA, DATA_GPA, NR_PAGES);
	virt_map(vm, WRITE_GPA, WRITE_GPA, 1);

	signal(SIGUSR1, kick_handler);
	vcpu_threads = threads;
	nr_threads = nr_vcpus;
	for (i = 0; i < nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		threads[i].vcpu = vcpus[i];
		pthread_create(&threads[i].thread, NULL, vcpu_thread_fn, &threads[i]);
	}
	/* Every vCPU runs its loop before the layout changes. */
	for (i = 0; i < nr_vcpus; i++)
		while (!counter(i))
			usleep(1000);
	for (i = 0; i < nr_vcpus; i++)
		before[i] = counter(i);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (c = 0; c < cycles; c++)
		cycle();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < nr_vcpus; i++)
		loops += counter(i) - before[i];

	/* The guests kept running through the batches. */
	for (i = 0; i < nr_vcpus; i++) {
		int ms = 0;

		while (counter(i) == before[i] && !READ_ONCE(threads[i].dead)) {
			TEST_ASSERT(++ms < 20000, "vCPU %d stopped running", i);
			usleep(1000);
		}
	}

	guest_stop = true;
	sync_global_to_guest(vm, guest_stop);
	for (i = 0; i < nr_vcpus; i++) {
		pthread_join(threads[i].thread, NULL);
		mmio += threads[i].mmio_exits;
		bad += threads[i].bad_values;
		fetch += threads[i].fetch_faults;
		other += threads[i].other_exits;
		dead += threads[i].dead;
	}

	TEST_ASSERT(nr_latency == batches, "%lu latencies for %lu batches",
		    (unsigned long)nr_latency, (unsigned long)batches);
	qsort(latency, nr_latency, sizeof(*latency), cmp_u64);
	ksft_print_msg("%s%s: %lu batches, %d vCPUs (%d died), %lu guest loops, %.1f ms\n",
		       kick_only ? "kicks only" : baseline ? "one-by-one" : "batched",
		       guest_device ? " (device memory)" : "",
		       (unsigned long)batches, nr_vcpus, dead, (unsigned long)loops,
		       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e6);
	ksft_print_msg("per batch: median %.1f us, 90th percentile %.1f us, max %.1f us; "
		       "guests saw %lu MMIO exits, %lu fetches from a hole, %lu other fatal exits, %lu wrong values\n",
		       latency[nr_latency / 2] / 1e3, latency[nr_latency * 9 / 10] / 1e3,
		       latency[nr_latency - 1] / 1e3, (unsigned long)mmio,
		       (unsigned long)fetch, (unsigned long)other, (unsigned long)bad);
	if (baseline) {
		ksft_test_result_pass("baseline measured\n");
	} else {
		TEST_ASSERT(!mmio && !bad && !fetch && !other,
			    "a guest saw an intermediate layout");
		ksft_test_result_pass("no vCPU saw an intermediate layout\n");
	}
	free(latency);
	close(handle);
	kvm_vm_free(vm);
	close(dev);
	ksft_exit_pass();
}
