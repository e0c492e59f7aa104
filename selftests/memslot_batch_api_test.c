// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_MEMEXT_SET_MEMSLOTS: every bad input gets a clear errno and changes
 * nothing; a step KVM refuses late is rolled back; dirty bits of a deleted
 * slot reach the caller; vCPUs that run, halt, sit in userspace or issue
 * the batch themselves are all handled; signals restart a batch or fail
 * it with EINTR as their handler asks; the wait for vCPUs is bounded;
 * the scratch page the batches use is read-only to the VMM for good.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "memext_util.h"
#include "memext_arch.h"
#include "processor.h"
#include "ucall_common.h"

#define TEST_GPA	0x40000000ul
#define NR_PAGES	16
#define SLOT		10
#define SLOT2		11
#define PARAM_TIMEOUT	"/sys/module/kvm_memext/parameters/batch_timeout_ms"

struct ctx {
	int dev;
	int handle;
	uint32_t flags;		/* of slot SLOT */
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint8_t *hva;
};

static void guest_spin(void)
{
	for (;;)
		cpu_relax();
}

static void guest_halt(void)
{
	memext_guest_halt();
	GUEST_DONE();
}

static void guest_dirty(void)
{
	uint64_t p;

	/* Dirty the odd pages of the test slot. */
	for (p = 1; p < NR_PAGES; p += 2)
		WRITE_ONCE(*(uint64_t *)(TEST_GPA + p * PAGE_SIZE), p);
	GUEST_SYNC(0);
	GUEST_DONE();
}

static void ctx_init(struct ctx *c, void *guest_code, uint32_t flags)
{
	c->dev = memext_open();
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_MEMSLOT_BATCH));
	c->vm = vm_create_with_one_vcpu(&c->vcpu, guest_code);
	c->handle = memext_bind(c->dev, c->vm->fd);
	c->flags = flags;
	c->hva = mmap(NULL, 2 * NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(c->hva != MAP_FAILED, "mmap");
	vm_set_user_memory_region(c->vm, SLOT, flags, TEST_GPA,
				  NR_PAGES * PAGE_SIZE, c->hva);
	virt_map(c->vm, TEST_GPA, TEST_GPA, NR_PAGES);
}

static struct kvm_memext_memslot entry(uint32_t slot, uint32_t flags,
				       uint64_t gpa, uint64_t size, void *hva)
{
	return (struct kvm_memext_memslot) {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)hva,
	};
}

static int batch(struct ctx *c, struct kvm_memext_memslot *e, unsigned int nr,
		 uint32_t flags, struct kvm_memext_set_memslots *out)
{
	struct kvm_memext_set_memslots args = {
		.flags = flags, .nr_entries = nr, .entries = (uintptr_t)e,
	};
	int r = ioctl(c->handle, KVM_MEMEXT_SET_MEMSLOTS, &args);

	if (out)
		*out = args;
	return r;
}

/* The layout is still: slot SLOT covering [TEST_GPA, +NR_PAGES), nothing else. */
static void assert_original_layout(struct ctx *c)
{
	struct kvm_userspace_memory_region r = {
		.slot = 100, .memory_size = PAGE_SIZE, .userspace_addr = (uintptr_t)c->hva,
	};
	uint64_t p;

	/* Every page of the range is taken: creating over it fails. */
	for (p = 0; p < NR_PAGES; p += NR_PAGES - 1) {
		r.guest_phys_addr = TEST_GPA + p * PAGE_SIZE;
		TEST_ASSERT(ioctl(c->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) == -1 &&
			    errno == EEXIST, "page %lu of the slot is gone", p);
	}
	/* ... and by slot SLOT alone: deleting SLOT2 finds nothing. */
	r = (struct kvm_userspace_memory_region) { .slot = SLOT2 };
	TEST_ASSERT(ioctl(c->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) == -1 &&
		    errno == EINVAL, "slot %d exists", SLOT2);
	/* Re-stating SLOT unchanged succeeds only if it is exactly as before. */
	r = (struct kvm_userspace_memory_region) {
		.slot = SLOT, .flags = c->flags, .guest_phys_addr = TEST_GPA,
		.memory_size = NR_PAGES * PAGE_SIZE, .userspace_addr = (uintptr_t)c->hva,
	};
	TEST_ASSERT(!ioctl(c->vm->fd, KVM_SET_USER_MEMORY_REGION, &r),
		    "slot %d changed: %s", SLOT, strerror(errno));
}

static void expect_refused(struct ctx *c, struct kvm_memext_memslot *e,
			   unsigned int nr, uint32_t flags, int index, int err,
			   const char *what)
{
	struct kvm_memext_set_memslots out;
	int r = batch(c, e, nr, flags, &out);

	TEST_ASSERT(r == -1 && errno == err,
		    "%s: expected %s, got %d/%s", what, strerror(err), r,
		    strerror(errno));
	TEST_ASSERT(out.error_index == index && out.error == (uint32_t)err &&
		    out.applied == 0 && out.result == 0,
		    "%s: reported index %d error %u applied %u result 0x%x",
		    what, out.error_index, out.error, out.applied, out.result);
	assert_original_layout(c);
}

/* KVM_MEMEXT_SET_MEMSLOTS arguments refused, one bad field at a time. */
static const uint32_t bad_batch_flags[] = { 1u << 1, 1u << 31 };

static const struct {
	uint32_t nr_entries;
	int err;
} bad_nr_entries[] = {
	{ 0, EINVAL },
	{ KVM_MEMEXT_MAX_BATCH + 1, E2BIG },
	{ ~0u, E2BIG },
};

static const uint64_t bad_entries_ptr[] = { 0, 16 };

static void test_bad_batch_args(void)
{
	struct kvm_memext_memslot e = entry(SLOT2, 0, TEST_GPA + 2 * NR_PAGES * PAGE_SIZE,
					   PAGE_SIZE, NULL);
	struct kvm_memext_set_memslots good, args;
	unsigned int i;
	struct ctx c;

	ctx_init(&c, guest_spin, 0);
	e.userspace_addr = (uintptr_t)c.hva;
	good = (struct kvm_memext_set_memslots) {
		.nr_entries = 1, .entries = (uintptr_t)&e,
	};

	for (i = 0; i < ARRAY_SIZE(bad_batch_flags); i++) {
		args = good;
		args.flags = bad_batch_flags[i];
		TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
				  EINVAL, "unknown flag");
	}
	for (i = 0; i < ARRAY_SIZE(good.reserved); i++) {
		args = good;
		args.reserved[i] = 1ull << (i * 21);
		TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
				  EINVAL, "nonzero reserved word");
	}
	for (i = 0; i < ARRAY_SIZE(bad_nr_entries); i++) {
		args = good;
		args.nr_entries = bad_nr_entries[i].nr_entries;
		TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
				  bad_nr_entries[i].err, "nr_entries");
	}
	for (i = 0; i < ARRAY_SIZE(bad_entries_ptr); i++) {
		args = good;
		args.entries = bad_entries_ptr[i];
		TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
				  EFAULT, "entries pointer");
	}
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_SET_MEMSLOTS, NULL),
			  EFAULT, "NULL argument");
	assert_original_layout(&c);
	/* The handle-less device does not take batches. */
	TEST_ASSERT_ERRNO(ioctl(c.dev, KVM_MEMEXT_SET_MEMSLOTS, &good), ENOTTY,
			  "batch on /dev/kvm_memext");
}

/*
 * Bad second entries of a two-entry batch whose first entry is a valid
 * create: userspace_addr is an offset into the test slot's memory, or
 * NO_HVA for NULL.
 */
#define NO_HVA		(~0ull)
#define FREE_GPA	(TEST_GPA + 40 * PAGE_SIZE)

static const struct {
	const char *what;
	struct kvm_memext_memslot e;
	int err;
} bad_entries[] = {
	{ "nonzero pad",
	  { 20, 0, FREE_GPA, PAGE_SIZE, 0, .pad = 1 }, EINVAL },
	{ "nonzero reserved[1]",
	  { 20, 0, FREE_GPA, PAGE_SIZE, 0, .reserved[1] = 1 }, EINVAL },
	{ "unknown flag",
	  { 20, 1u << 7, FREE_GPA, PAGE_SIZE, 0 }, EINVAL },
	{ "unaligned gpa",
	  { 20, 0, FREE_GPA + 8, PAGE_SIZE, 0 }, EINVAL },
	{ "unaligned size",
	  { 20, 0, FREE_GPA, PAGE_SIZE + 8, 0 }, EINVAL },
	{ "unaligned hva",
	  { 20, 0, FREE_GPA, PAGE_SIZE, 8 }, EINVAL },
	{ "slot id out of range",
	  { 0x7fff, 0, FREE_GPA, PAGE_SIZE, 0 }, EINVAL },
	{ "address space out of range",
	  { 5u << 16 | 20, 0, FREE_GPA, PAGE_SIZE, 0 }, EINVAL },
	{ "gpa wraps",
	  { 20, 0, -PAGE_SIZE, 2 * PAGE_SIZE, 0 }, EINVAL },
	{ "guest_memfd set",
	  { 20, 0, FREE_GPA, PAGE_SIZE, 0, .guest_memfd = 3 }, EINVAL },
	/* Overlaps: with the batch's own first entry, with an existing slot. */
	{ "overlaps the first entry",
	  { 20, 0, TEST_GPA + 2 * NR_PAGES * PAGE_SIZE, PAGE_SIZE, 0 }, EEXIST },
	{ "overlaps an existing slot",
	  { 20, 0, TEST_GPA + PAGE_SIZE, PAGE_SIZE, 0 }, EEXIST },
	/* Existing slots: no delete of what is absent, no resize, no RO flip. */
	{ "delete of an absent slot", { 21, 0, 0, 0, NO_HVA }, EINVAL },
	{ "resize", { SLOT, 0, TEST_GPA, 2 * NR_PAGES * PAGE_SIZE, 0 }, EINVAL },
	{ "read-only flip",
	  { SLOT, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES, TEST_GPA,
	    NR_PAGES * PAGE_SIZE, 0 }, EINVAL },
	{ "hva change",
	  { SLOT, KVM_MEM_LOG_DIRTY_PAGES, TEST_GPA, NR_PAGES * PAGE_SIZE,
	    PAGE_SIZE }, EINVAL },
	/* Dirty bits: deleting a logged slot needs a buffer ... */
	{ "delete of a logged slot without a buffer",
	  { SLOT, 0, 0, 0, NO_HVA }, EINVAL },
	/* ... and a buffer that would never be filled is refused. */
	{ "buffer on a create",
	  { 20, 0, FREE_GPA, PAGE_SIZE, 0, .dirty_bitmap = 64 }, EINVAL },
};

static void test_bad_entries(void)
{
	struct kvm_memext_memslot e[2];
	unsigned int i;
	struct ctx c;

	ctx_init(&c, guest_spin, KVM_MEM_LOG_DIRTY_PAGES);
	for (i = 0; i < ARRAY_SIZE(bad_entries); i++) {
		e[0] = entry(SLOT2, 0, TEST_GPA + 2 * NR_PAGES * PAGE_SIZE,
			     PAGE_SIZE, c.hva);
		e[1] = bad_entries[i].e;
		e[1].userspace_addr = e[1].userspace_addr == NO_HVA ? 0 :
				      (uintptr_t)c.hva + e[1].userspace_addr;
		expect_refused(&c, e, 2, 0, 1, bad_entries[i].err,
			       bad_entries[i].what);
	}
}

/* A step KVM refuses only when applying it: everything before is undone. */
static void test_rollback(void)
{
	struct kvm_memext_set_memslots out;
	struct kvm_memext_memslot e[4];
	struct ctx c;
	int r;

	ctx_init(&c, guest_spin, 0);
	e[0] = entry(SLOT, 0, 0, 0, NULL);
	e[1] = entry(SLOT, 0, TEST_GPA, NR_PAGES / 2 * PAGE_SIZE, c.hva);
	e[2] = entry(SLOT2, 0, TEST_GPA + NR_PAGES / 2 * PAGE_SIZE, NR_PAGES / 2 * PAGE_SIZE,
		     c.hva + NR_PAGES / 2 * PAGE_SIZE);
	/* Not a user address: KVM's access_ok() refuses it at apply time. */
	e[3] = entry(20, 0, TEST_GPA + 64 * PAGE_SIZE, PAGE_SIZE, (void *)(1ul << 63));

	r = batch(&c, e, 4, 0, &out);
	TEST_ASSERT(r == -1 && errno == EINVAL, "batch: %d/%s", r, strerror(errno));
	TEST_ASSERT(out.error_index == 3 && out.error == EINVAL &&
		    out.result == KVM_MEMEXT_MEMSLOTS_ROLLED_BACK && !out.applied,
		    "reported index %d error %u result 0x%x applied %u",
		    out.error_index, out.error, out.result, out.applied);
	assert_original_layout(&c);

	/* The same batch without the bad step applies. */
	TEST_ASSERT(!batch(&c, e, 3, 0, &out) && out.applied == 3 &&
		    out.error_index == -1, "good batch failed");
}

#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD	4	/* bit 2, as in 6.8+ <linux/kvm.h> */
#endif

/*
 * A guest_memfd slot is applied where KVM takes one (7.3: any VM; 6.12: a
 * VM with private memory) and refused, with nothing changed, elsewhere.
 */
static void test_guest_memfd_slot(void)
{
	struct kvm_memext_set_memslots out;
	struct kvm_memext_memslot e;
	struct ctx c;
	int r;

	ctx_init(&c, guest_spin, 0);
	e = entry(20, KVM_MEM_GUEST_MEMFD, FREE_GPA, NR_PAGES * PAGE_SIZE, c.hva);
#ifdef KVM_CREATE_GUEST_MEMFD
	if (vm_check_cap(c.vm, KVM_CAP_GUEST_MEMFD)) {
		struct kvm_create_guest_memfd gmem = {
			.size = NR_PAGES * PAGE_SIZE,
		};
		int fd = ioctl(c.vm->fd, KVM_CREATE_GUEST_MEMFD, &gmem);

		TEST_ASSERT(fd >= 0, "KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
		e.guest_memfd = fd;
		r = batch(&c, &e, 1, 0, &out);
		TEST_ASSERT(!r && out.applied == 1,
			    "guest_memfd slot: %d/%s, entry %d error %u",
			    r, strerror(errno), out.error_index, out.error);
		close(fd);
		return;
	}
#endif
	r = batch(&c, &e, 1, 0, &out);
	TEST_ASSERT(r == -1 && errno == EINVAL && out.error_index == 0 &&
		    !out.applied, "guest_memfd slot on a VM without: %d/%s",
		    r, strerror(errno));
	assert_original_layout(&c);
}

/* Pages the guest wrote just before their slot is deleted are reported. */
static void test_dirty_harvest(void)
{
	uint64_t bitmap[NR_PAGES / 64 + 1] = {};
	struct kvm_memext_memslot e;
	struct ucall uc;
	struct ctx c;
	uint64_t p;

	ctx_init(&c, guest_dirty, KVM_MEM_LOG_DIRTY_PAGES);
	vcpu_run(c.vcpu);
	TEST_ASSERT(get_ucall(c.vcpu, &uc) == UCALL_SYNC, "guest did not sync");

	e = entry(SLOT, 0, 0, 0, NULL);
	e.dirty_bitmap = (uintptr_t)bitmap;
	TEST_ASSERT(!batch(&c, &e, 1, 0, NULL), "delete: %s", strerror(errno));
	for (p = 0; p < NR_PAGES; p++)
		TEST_ASSERT(!!(bitmap[p / 64] & (1ull << (p % 64))) == (p & 1),
			    "page %lu: dirty bit %d", p,
			    !!(bitmap[p / 64] & (1ull << (p % 64))));
}

/*
 * A batch rolled back after it harvested a slot's dirty bits: KVM kept no
 * copy, so the caller's buffer holds them and the result says so.
 */
static void test_rollback_keeps_dirty(void)
{
	uint64_t bitmap[NR_PAGES / 64 + 1] = {}, again[NR_PAGES / 64 + 1] = {};
	struct kvm_dirty_log log = { .slot = SLOT, .dirty_bitmap = again };
	struct kvm_memext_set_memslots out;
	struct kvm_memext_memslot e[2];
	struct ucall uc;
	struct ctx c;
	uint64_t p;
	int r;

	ctx_init(&c, guest_dirty, KVM_MEM_LOG_DIRTY_PAGES);
	vcpu_run(c.vcpu);
	TEST_ASSERT(get_ucall(c.vcpu, &uc) == UCALL_SYNC, "guest did not sync");

	e[0] = entry(SLOT, 0, 0, 0, NULL);
	e[0].dirty_bitmap = (uintptr_t)bitmap;
	/* Refused by KVM's access_ok() only when applied: a rollback. */
	e[1] = entry(20, 0, TEST_GPA + 64 * PAGE_SIZE, PAGE_SIZE, (void *)(1ul << 63));
	r = batch(&c, e, 2, 0, &out);
	TEST_ASSERT(r == -1 && errno == EINVAL && out.error_index == 1 &&
		    out.result == (KVM_MEMEXT_MEMSLOTS_ROLLED_BACK |
				   KVM_MEMEXT_MEMSLOTS_DIRTY_HARVESTED),
		    "batch: %d/%s, index %d, result 0x%x", r, strerror(errno),
		    out.error_index, out.result);
	assert_original_layout(&c);
	for (p = 0; p < NR_PAGES; p++)
		TEST_ASSERT(!!(bitmap[p / 64] & (1ull << (p % 64))) == (p & 1),
			    "page %lu: dirty bit %d in the buffer", p,
			    !!(bitmap[p / 64] & (1ull << (p % 64))));
	/* The re-created slot starts clean: the buffer is the only copy. */
	vm_ioctl(c.vm, KVM_GET_DIRTY_LOG, &log);
	for (p = 0; p < NR_PAGES; p++)
		TEST_ASSERT(!(again[p / 64] & (1ull << (p % 64))),
			    "page %lu dirty again in KVM", p);
}

/* With DISCARD_DIRTY the caller gives the bits up explicitly. */
static void test_discard_dirty(void)
{
	struct kvm_memext_memslot e;
	struct ctx c;

	ctx_init(&c, guest_spin, KVM_MEM_LOG_DIRTY_PAGES);
	e = entry(SLOT, 0, 0, 0, NULL);
	TEST_ASSERT(!batch(&c, &e, 1, KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY, NULL),
		    "delete with DISCARD_DIRTY: %s", strerror(errno));
}

static void *run_vcpu(void *arg)
{
	vcpu_run(arg);
	return NULL;
}

/* Batches that split the slot in two halves and merge them again. */
static void split_merge(struct ctx *c, struct kvm_memext_memslot split[3],
			struct kvm_memext_memslot merge[3])
{
	split[0] = entry(SLOT, 0, 0, 0, NULL);
	split[1] = entry(SLOT, 0, TEST_GPA, NR_PAGES / 2 * PAGE_SIZE, c->hva);
	split[2] = entry(SLOT2, 0, TEST_GPA + NR_PAGES / 2 * PAGE_SIZE,
			 NR_PAGES / 2 * PAGE_SIZE, c->hva + NR_PAGES / 2 * PAGE_SIZE);
	merge[0] = entry(SLOT2, 0, 0, 0, NULL);
	merge[1] = entry(SLOT, 0, 0, 0, NULL);
	merge[2] = entry(SLOT, 0, TEST_GPA, NR_PAGES * PAGE_SIZE, c->hva);
}

/* Split and merge the slot while the vCPU is in the state under test. */
static void reshape(struct ctx *c)
{
	struct kvm_memext_memslot split[3], merge[3];
	int i;

	split_merge(c, split, merge);
	for (i = 0; i < 20; i++) {
		TEST_ASSERT(!batch(c, split, 3, 0, NULL), "split: %s", strerror(errno));
		TEST_ASSERT(!batch(c, merge, 3, 0, NULL), "merge: %s", strerror(errno));
	}
	assert_original_layout(c);
}

/* Reshape while the vCPU runs @guest_code; its thread dies with the test. */
static void reshape_while_running(void *guest_code)
{
	struct ctx c;
	pthread_t t;

	ctx_init(&c, guest_code, 0);
	pthread_create(&t, NULL, run_vcpu, c.vcpu);
	usleep(100000);
	reshape(&c);
}

static void test_running_vcpu(void)
{
	reshape_while_running(guest_spin);
}

static void test_halted_vcpu(void)
{
	reshape_while_running(guest_halt);
}

/* A vCPU that never entered KVM_RUN, or sits in userspace between runs. */
static void test_vcpu_in_userspace(void)
{
	struct ctx c;

	ctx_init(&c, guest_spin, 0);
	reshape(&c);
}

/* A batch a signal interrupted reports EINTR and applied nothing. */
static void check_interrupted(struct kvm_memext_set_memslots *out, const char *what)
{
	TEST_ASSERT(errno == EINTR, "%s: %s", what, strerror(errno));
	TEST_ASSERT(out->error == EINTR && out->error_index == -1 &&
		    out->applied == 0 && out->result == 0,
		    "%s: reported error %u index %d applied %u result 0x%x",
		    what, out->error, out->error_index, out->applied, out->result);
}

/*
 * Signals at the batching thread while its batches wait for a running
 * vCPU.  Handled with SA_RESTART, they restart the batch, which then
 * completes; without it, a batch they interrupt fails with EINTR, reports
 * EINTR and changes nothing.
 */
static void test_signals(void)
{
	struct kvm_memext_memslot split[3], merge[3];
	struct kvm_memext_set_memslots out;
	struct memext_storm s;
	int i, n, interrupted = 0;
	struct ctx c;
	pthread_t t;

	ctx_init(&c, guest_spin, 0);
	split_merge(&c, split, merge);
	pthread_create(&t, NULL, run_vcpu, c.vcpu);
	usleep(100000);

	memext_storm_start(&s, 20, 5, SA_RESTART);
	for (i = 0; i < 20; i++) {
		memext_storm_next(&s);
		TEST_ASSERT(!batch(&c, split, 3, 0, NULL), "split: %s", strerror(errno));
		TEST_ASSERT(!batch(&c, merge, 3, 0, NULL), "merge: %s", strerror(errno));
	}
	n = memext_storm_stop(&s);
	assert_original_layout(&c);

	memext_storm_start(&s, 40, 5, 0);
	for (i = 0; i < 40; i++) {
		memext_storm_next(&s);
		if (batch(&c, split, 3, 0, &out)) {
			check_interrupted(&out, "split");
			assert_original_layout(&c);
			interrupted++;
			continue;
		}
		while (batch(&c, merge, 3, 0, &out)) {
			check_interrupted(&out, "merge");
			interrupted++;
		}
		assert_original_layout(&c);
	}
	ksft_print_msg("SA_RESTART: %d signals in 40 batches\n", n);
	ksft_print_msg("without: %d signals, %d batches interrupted\n",
		       memext_storm_stop(&s), interrupted);
	TEST_ASSERT(n > 0, "no signal handled");
}

static struct ctx *vcpu_thread_ctx;

static void *batch_from_vcpu_thread(void *arg)
{
	struct ucall uc;

	/* This thread runs the vCPU, then issues batches from it. */
	vcpu_run(vcpu_thread_ctx->vcpu);
	TEST_ASSERT(get_ucall(vcpu_thread_ctx->vcpu, &uc) == UCALL_SYNC,
		    "guest did not sync");
	reshape(vcpu_thread_ctx);
	return NULL;
}

static void test_batch_from_vcpu_thread(void)
{
	struct ctx c;
	pthread_t t;

	ctx_init(&c, guest_dirty, 0);
	vcpu_thread_ctx = &c;
	pthread_create(&t, NULL, batch_from_vcpu_thread, NULL);
	pthread_join(t, NULL);
}

static void *concurrent_batches(void *arg)
{
	struct ctx *c = vcpu_thread_ctx;
	uintptr_t id = (uintptr_t)arg;
	struct kvm_memext_memslot e;
	int i;

	for (i = 0; i < 50; i++) {
		e = entry(30 + id, 0, TEST_GPA + (64 + id) * PAGE_SIZE, PAGE_SIZE, c->hva);
		TEST_ASSERT(!batch(c, &e, 1, 0, NULL), "create: %s", strerror(errno));
		e = entry(30 + id, 0, 0, 0, NULL);
		TEST_ASSERT(!batch(c, &e, 1, 0, NULL), "delete: %s", strerror(errno));
	}
	return NULL;
}

static void test_concurrent_batches(void)
{
	pthread_t t[4], runner;
	struct ctx c;
	uintptr_t i;

	ctx_init(&c, guest_spin, 0);
	vcpu_thread_ctx = &c;
	pthread_create(&runner, NULL, run_vcpu, c.vcpu);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, concurrent_batches, (void *)i);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_original_layout(&c);
}

static void set_timeout(const char *ms)
{
	int fd = open(PARAM_TIMEOUT, O_WRONLY);

	TEST_ASSERT(fd >= 0 && write(fd, ms, strlen(ms)) == (ssize_t)strlen(ms),
		    "write " PARAM_TIMEOUT);
	close(fd);
}

/* A vCPU that does not stop in time fails the batch, with nothing applied. */
static void test_timeout(void)
{
	struct kvm_memext_set_memslots out;
	struct kvm_memext_memslot e[3];
	char old[32] = "";
	struct ctx c;
	pthread_t t;
	int fd, r;

	ctx_init(&c, guest_spin, 0);
	fd = open(PARAM_TIMEOUT, O_RDONLY);
	TEST_ASSERT(fd >= 0 && read(fd, old, sizeof(old) - 1) > 0, "read param");
	close(fd);

	pthread_create(&t, NULL, run_vcpu, c.vcpu);
	usleep(100000);
	e[0] = entry(SLOT, 0, 0, 0, NULL);
	e[1] = entry(SLOT, 0, TEST_GPA, NR_PAGES / 2 * PAGE_SIZE, c.hva);
	e[2] = entry(SLOT2, 0, TEST_GPA + NR_PAGES / 2 * PAGE_SIZE,
		     NR_PAGES / 2 * PAGE_SIZE, c.hva + NR_PAGES / 2 * PAGE_SIZE);
	set_timeout("0");
	r = batch(&c, e, 3, 0, &out);
	set_timeout(old);
	TEST_ASSERT(r == -1 && errno == ETIMEDOUT, "batch: %d/%s", r, strerror(errno));
	TEST_ASSERT(out.error_index == -1 && out.error == ETIMEDOUT &&
		    !out.applied && !out.result, "reported index %d error %u",
		    out.error_index, out.error);
	assert_original_layout(&c);
	/* With the normal timeout the same batch goes through. */
	TEST_ASSERT(!batch(&c, e, 3, 0, NULL), "batch: %s", strerror(errno));
}

/*
 * More vCPUs than lockdep can track as separately held locks (48): the
 * batch holds every vcpu->mutex at once.
 */
static void test_many_vcpus(void)
{
	struct kvm_vcpu *vcpus[64];
	struct kvm_memext_memslot e;
	struct kvm_vm *vm;
	int dev, h;

	dev = memext_open();
	vm = vm_create_with_vcpus(ARRAY_SIZE(vcpus), guest_spin, vcpus);
	h = memext_bind(dev, vm->fd);
	e = entry(SLOT2, 0, TEST_GPA, PAGE_SIZE, NULL);
	e.userspace_addr = (uintptr_t)mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(!ioctl(h, KVM_MEMEXT_SET_MEMSLOTS,
			   &(struct kvm_memext_set_memslots) {
				.nr_entries = 1, .entries = (uintptr_t)&e }),
		    "batch with %zu vCPUs: %s", ARRAY_SIZE(vcpus), strerror(errno));
	close(h);
	kvm_vm_free(vm);
	close(dev);
}

static void *add_vcpus(void *arg)
{
	struct ctx *c = arg;
	pthread_t t;
	int i;

	for (i = 1; i < 8; i++) {
		struct kvm_vcpu *vcpu = vm_vcpu_add(c->vm, i, guest_spin);

		pthread_create(&t, NULL, run_vcpu, vcpu);
	}
	return NULL;
}

/* vCPUs created and started while batches run. */
static void test_vcpu_creation_race(void)
{
	pthread_t adder, runner;
	struct ctx c;

	ctx_init(&c, guest_spin, 0);
	pthread_create(&runner, NULL, run_vcpu, c.vcpu);
	pthread_create(&adder, NULL, add_vcpus, &c);
	reshape(&c);
	pthread_join(adder, NULL);
	reshape(&c);
}

/*
 * The VMM killed in the middle of batches, with vCPUs running: no
 * reference is left behind (task works included), and kmemleak on the
 * debug kernel sees no leak.
 */
static void test_killed_mid_batch(void)
{
	long base = memext_module_refcnt();
	int i, status, tries;
	pid_t pid;

	for (i = 0; i < 5; i++) {
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		if (!pid) {
			struct ctx c;
			pthread_t t;

			ctx_init(&c, guest_spin, 0);
			pthread_create(&t, NULL, run_vcpu, c.vcpu);
			for (;;)
				reshape(&c);
		}
		usleep(300000 + i * 100000);
		kill(pid, SIGKILL);
		TEST_ASSERT(waitpid(pid, &status, 0) == pid &&
			    WIFSIGNALED(status), "child did not die by SIGKILL");
	}
	/* Task works of the dead threads have run by now, or soon. */
	for (tries = 0; memext_module_refcnt() != base && tries < 100; tries++)
		usleep(10000);
	TEST_ASSERT(memext_module_refcnt() == base, "module refcnt %ld, was %ld",
		    memext_module_refcnt(), base);
}

/* The handle keeps the VM: batches work after the VM fd is closed. */
static void test_vm_fd_closed(void)
{
	struct kvm_memext_memslot e;
	struct ctx c;

	ctx_init(&c, guest_spin, 0);
	close(c.vm->fd);
	e = entry(SLOT2, 0, TEST_GPA + 64 * PAGE_SIZE, PAGE_SIZE, c.hva);
	TEST_ASSERT(!batch(&c, &e, 1, 0, NULL), "batch: %s", strerror(errno));
}

#define FAILSLAB	"/sys/kernel/debug/failslab/"

/*
 * Fault injection (debug kernel): the n-th slab allocation of the batching
 * thread fails (/proc/thread-self/fail-nth), for n = 1, 2, ... until a
 * batch needs fewer than n: every allocation of the batch fails once, ours,
 * KVM's memslot allocations, the scratch mapping's.  A failed batch leaves
 * exactly the original layout; nothing splats (the debug kernel panics on
 * WARN) and nothing leaks (kmemleak).
 */
static void test_failslab_mid_batch(void)
{
	struct kvm_memext_memslot split[3], merge[3];
	struct kvm_memext_set_memslots out;
	int n, r, fd, failed = 0, rolled_back = 0;
	struct ctx c;
	pthread_t t;

	__TEST_REQUIRE(!access(FAILSLAB "ignore-gfp-wait", W_OK),
		       "no failslab (fault injection is on the debug kernel)");
	ctx_init(&c, guest_spin, 0);
	split[0] = entry(SLOT, 0, 0, 0, NULL);
	split[1] = entry(SLOT, 0, TEST_GPA, NR_PAGES / 2 * PAGE_SIZE, c.hva);
	split[2] = entry(SLOT2, 0, TEST_GPA + NR_PAGES / 2 * PAGE_SIZE,
			 NR_PAGES / 2 * PAGE_SIZE, c.hva + NR_PAGES / 2 * PAGE_SIZE);
	merge[0] = entry(SLOT2, 0, 0, 0, NULL);
	merge[1] = entry(SLOT, 0, 0, 0, NULL);
	merge[2] = entry(SLOT, 0, TEST_GPA, NR_PAGES * PAGE_SIZE, c.hva);

	pthread_create(&t, NULL, run_vcpu, c.vcpu);
	usleep(100000);
	/* Sleeping (GFP_KERNEL) allocations too, quietly. */
	memext_write_file(FAILSLAB "ignore-gfp-wait", "N");
	memext_write_file(FAILSLAB "verbose", "0");
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	TEST_ASSERT(fd >= 0, "open fail-nth");
	for (n = 1; n < 1000; n++) {
		memext_set_fail_nth(fd, n);
		r = batch(&c, split, 3, 0, &out);
		if (memext_get_fail_nth(fd)) {
			/* The batch needed fewer allocations: all were covered. */
			memext_set_fail_nth(fd, 0);
			TEST_ASSERT(!r, "batch without injected failure: %s",
				    strerror(errno));
			TEST_ASSERT(!batch(&c, merge, 3, 0, NULL), "merge: %s",
				    strerror(errno));
			break;
		}
		if (r) {
			TEST_ASSERT((errno == ENOMEM || errno == EFAULT) &&
				    !(out.result & KVM_MEMEXT_MEMSLOTS_ROLLBACK_FAILED),
				    "allocation %d failed: %s, error %u, result 0x%x",
				    n, strerror(errno), out.error, out.result);
			rolled_back += !!(out.result & KVM_MEMEXT_MEMSLOTS_ROLLED_BACK);
			failed++;
		} else {
			/* A failure something retried or tolerated. */
			TEST_ASSERT(!batch(&c, merge, 3, 0, NULL), "merge: %s",
				    strerror(errno));
		}
		assert_original_layout(&c);
	}
	close(fd);
	memext_write_file(FAILSLAB "ignore-gfp-wait", "Y");
	ksft_print_msg("failslab: %d allocations, %d clean failures, %d rolled back\n",
		       n - 1, failed, rolled_back);
	TEST_ASSERT(n < 1000 && failed && rolled_back,
		    "no failure was injected after the first entry");
}

/* Address of the handle's scratch mapping in /proc/self/maps, or 0. */
static unsigned long scratch_addr(void)
{
	unsigned long start = 0, a;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	TEST_ASSERT(f, "open maps");
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "kvm_memext-scratch") &&
		    sscanf(line, "%lx-", &a) == 1)
			start = a;
	fclose(f);
	return start;
}

/*
 * The page KVM reads a batch's arguments from: the VMM can neither write
 * it (another thread could change validated arguments before KVM reads
 * them) nor hand it to a child, and discarding it breaks no batch.
 */
static void test_scratch_page(void)
{
	struct kvm_memext_memslot e[2];
	unsigned long addr;
	struct ctx c;
	int zero;

	ctx_init(&c, guest_spin, 0);
	/* Delete and re-create: two KVM ioctls with arguments on the page. */
	e[0] = entry(SLOT, 0, 0, 0, NULL);
	e[1] = entry(SLOT, 0, TEST_GPA, NR_PAGES * PAGE_SIZE, c.hva);
	TEST_ASSERT(!batch(&c, e, 2, 0, NULL), "batch: %s", strerror(errno));
	addr = scratch_addr();
	TEST_ASSERT(addr, "no scratch mapping after a batch");

	TEST_ASSERT_ERRNO(mprotect((void *)addr, PAGE_SIZE, PROT_READ | PROT_WRITE),
			  EACCES, "mprotect(PROT_WRITE) of the scratch page");
	zero = open("/dev/zero", O_RDONLY);
	TEST_ASSERT(read(zero, (void *)addr, 8) == -1 && errno == EFAULT,
		    "the kernel wrote the scratch page for the VMM");
	close(zero);
	TEST_ASSERT_ERRNO(madvise((void *)addr, PAGE_SIZE, MADV_DOFORK), EINVAL,
			  "MADV_DOFORK of the scratch page");

	/* Discarded: mapped again at the next access, batches go on. */
	TEST_ASSERT(!madvise((void *)addr, PAGE_SIZE, MADV_DONTNEED), "MADV_DONTNEED");
	TEST_ASSERT(!batch(&c, e, 2, 0, NULL), "batch after MADV_DONTNEED: %s",
		    strerror(errno));
	TEST_ASSERT(scratch_addr() == addr, "scratch page mapped anew");

	/* Unmapped: the next batch maps it again. */
	TEST_ASSERT(!munmap((void *)addr, PAGE_SIZE), "munmap");
	TEST_ASSERT(!batch(&c, e, 2, 0, NULL), "batch after munmap: %s",
		    strerror(errno));
	TEST_ASSERT(scratch_addr(), "no scratch mapping after munmap and a batch");
	assert_original_layout(&c);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_bad_batch_args),
		MEMEXT_TEST(test_bad_entries),
		MEMEXT_TEST(test_rollback),
		MEMEXT_TEST(test_guest_memfd_slot),
		MEMEXT_TEST(test_dirty_harvest),
		MEMEXT_TEST(test_rollback_keeps_dirty),
		MEMEXT_TEST(test_discard_dirty),
		MEMEXT_TEST(test_running_vcpu),
		MEMEXT_TEST(test_halted_vcpu),
		MEMEXT_TEST(test_vcpu_in_userspace),
		MEMEXT_TEST(test_batch_from_vcpu_thread),
		MEMEXT_TEST(test_concurrent_batches),
		MEMEXT_TEST(test_signals),
		MEMEXT_TEST(test_timeout),
		MEMEXT_TEST(test_many_vcpus),
		MEMEXT_TEST(test_vcpu_creation_race),
		MEMEXT_TEST(test_killed_mid_batch),
		MEMEXT_TEST(test_vm_fd_closed),
		MEMEXT_TEST(test_failslab_mid_batch),
		MEMEXT_TEST(test_scratch_page),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
