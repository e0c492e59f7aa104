// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU runstate areas (KVM_MEMEXT_RUNSTATE_*) with real guests.
 *
 * The guest reads its runstate area all the time and checks Xen's update
 * protocol (no torn read once state_entry_time is stable and without the
 * update flag), that the four times add up to state_entry_time, and that
 * state_entry_time never goes backwards.  The host makes the vCPU thread
 * sleep between rounds, so every round switches states, and changes the
 * memory under the area.  The area sits inside one page, across two pages,
 * across two memslots; in shmem, anonymous, hugetlb and IO memory (an
 * ivshmem BAR mapped through sysfs: VM_PFNMAP), and across RAM and IO; in
 * the 64-bit and the 32-bit layout.  Its pages are zapped (MADV_DONTNEED),
 * swapped out (MADV_PAGEOUT), migrated to the other NUMA node, replaced by
 * a new mapping at the same address, made read-only for a while, and moved
 * to new memory by a memslot batch.  Then lifetimes (thread exits without
 * detaching and the vCPU moves to another thread, handle closed from
 * another thread while the vCPU runs, VM closed first), signals during
 * the first attach, and every bad input.
 */
#include <dirent.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define GPA_A		0x40000000ul	/* slot A: 4 pages */
#define GPA_B		(GPA_A + 4 * PAGE_SIZE)	/* slot B, right after A */
#define SLOT_A		10
#define SLOT_B		11
#define NR_PAGES	4
#define ROUNDS		40
#define LOOPS		2000

/* What the guest reports when an area it read breaks Xen's rules. */
#define BAD_AREA_FMT	"entry %lu, sum %lu, previous %lu, state %lu"

#define AREA64		sizeof(struct kvm_memext_runstate_area)
#define AREA32		sizeof(struct kvm_memext_runstate_area32)

/* Read the area with Xen's protocol; returns state_entry_time. */
static uint64_t guest_read_area(uint64_t gpa, bool compat, uint32_t *state,
				uint64_t *time)
{
	uint8_t *a = (uint8_t *)gpa;
	uint64_t e1, e2, toff = compat ? 12 : 16, eoff = compat ? 4 : 8;
	int i;

	/* x86 keeps loads in order; READ_ONCE keeps the compiler from merging. */
	do {
		e1 = READ_ONCE(*(uint64_t *)(a + eoff));
		*state = READ_ONCE(*(uint32_t *)a);
		for (i = 0; i < 4; i++)
			time[i] = READ_ONCE(*(uint64_t *)(a + toff + 8 * i));
		e2 = READ_ONCE(*(uint64_t *)(a + eoff));
	} while (e1 != e2 || (e1 & KVM_MEMEXT_RUNSTATE_UPDATE));
	return e1;
}

/* The guest's second argument: the 32-bit layout, or halting at once. */
#define GUEST_HALT	2

static void guest_code(uint64_t gpa, uint64_t compat)
{
	uint64_t last = 0, changes, time[4], e, sum;
	uint32_t state;
	int i;

	if (compat == GUEST_HALT)
		asm volatile("cli; hlt");

	for (;;) {
		changes = 0;
		for (i = 0; i < LOOPS; i++) {
			e = guest_read_area(gpa, compat, &state, time);
			sum = time[0] + time[1] + time[2] + time[3];
			memext_guest_assert_4(sum == e && e >= last && state <= 3,
					      BAD_AREA_FMT, e, sum, last,
					      (uint64_t)state);
			changes += e != last;
			last = e;
		}
		GUEST_SYNC(changes);
	}
}

struct rs_ctx {
	int dev;
	int handle;
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint8_t *hva[2];	/* backing of slots A and B */
	int mmap_flags;
	uint64_t gpa;
	bool compat;
	uint64_t changes;
};

/* Slot B in IO memory (slot A stays shmem). */
#define IOMEM	-1
#define PRIVMEM	-2
#define HUGE_SIZE	(2ul << 20)

/* Private memory (KVM_MEMEXT_CREATE_PRIVMEM): out of the direct map. */
static void *map_privmem(void)
{
	struct kvm_memext_create_privmem args = { .size = NR_PAGES * PAGE_SIZE };
	int dev = memext_open(), fd;
	void *p;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	fd = ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &args);
	TEST_ASSERT(fd >= 0, "CREATE_PRIVMEM: %s", strerror(errno));
	p = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap privmem: %s", strerror(errno));
	close(fd);
	close(dev);
	return p;
}

static void *map_backing(int flags)
{
	size_t size = flags & MAP_HUGETLB ? HUGE_SIZE : NR_PAGES * PAGE_SIZE;
	void *p;

	if (flags == PRIVMEM)
		return map_privmem();
	if (flags == IOMEM)
		flags = MAP_SHARED | MAP_ANONYMOUS;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED && (flags & MAP_HUGETLB)) {
		/* Reserve a few huge pages, then try again. */
		int fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY);

		if (fd >= 0) {
			TEST_ASSERT(write(fd, "4", 1) == 1, "nr_hugepages");
			close(fd);
		}
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
		__TEST_REQUIRE(p != MAP_FAILED, "no huge pages");
	}
	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

static int __attach(struct rs_ctx *c, int vcpu_fd, uint64_t gpa, uint32_t size,
		    uint32_t flags)
{
	struct kvm_memext_runstate a = {
		.vcpu_fd = vcpu_fd, .flags = flags, .gpa = gpa, .size = size,
	};

	return ioctl(c->handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a);
}

static int __detach(struct rs_ctx *c, int vcpu_fd)
{
	struct kvm_memext_runstate a = { .vcpu_fd = vcpu_fd };

	return ioctl(c->handle, KVM_MEMEXT_RUNSTATE_DETACH, &a);
}

static struct kvm_memext_runstate_info get_info(struct rs_ctx *c, int vcpu_fd)
{
	struct kvm_memext_runstate_info info = { .vcpu_fd = vcpu_fd };

	TEST_ASSERT(!ioctl(c->handle, KVM_MEMEXT_RUNSTATE_GET, &info),
		    "RUNSTATE_GET: %s", strerror(errno));
	return info;
}

/*
 * Sleep until the module has accounted a switch of this thread (its entry
 * time moved), or once if the vCPU has no area.  A 1 ms sleep need not
 * switch: when the guest's CPU is descheduled on the host for longer, the
 * timer has expired before the thread blocks, and nothing is written.
 */
static void switch_once(struct rs_ctx *c)
{
	struct kvm_memext_runstate_info info = { .vcpu_fd = c->vcpu->fd };
	uint64_t e;
	int i;

	if (ioctl(c->handle, KVM_MEMEXT_RUNSTATE_GET, &info)) {
		usleep(1000);
		return;
	}
	e = info.state_entry_time;
	for (i = 0; i < 1000; i++) {
		usleep(1000);
		/* Detached or closed meanwhile (some tests do): nothing to wait for. */
		if (ioctl(c->handle, KVM_MEMEXT_RUNSTATE_GET, &info) ||
		    info.state_entry_time != e)
			return;
	}
	TEST_FAIL("no switch of the vCPU thread accounted in 1000 sleeps");
}

/*
 * IO memory: BAR 2 of an ivshmem-plain device (the runner adds one),
 * mapped through sysfs.  NULL if there is none.
 */
static uint8_t *map_ivshmem(void)
{
	char path[300], id[16];
	struct dirent *d;
	uint8_t *p = NULL;
	DIR *dir;
	FILE *f;
	int fd;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return NULL;
	while (!p && (d = readdir(dir))) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(id, sizeof(id), f) && !strncmp(id, "0x1110", 6)) {
			snprintf(path, sizeof(path),
				 "/sys/bus/pci/devices/%s/resource2", d->d_name);
			fd = open(path, O_RDWR | O_SYNC);
			if (fd >= 0) {
				p = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
					 MAP_SHARED, fd, 0);
				close(fd);
				if (p == MAP_FAILED)
					p = NULL;
			}
		}
		fclose(f);
	}
	closedir(dir);
	if (p)
		memset(p, 0, NR_PAGES * PAGE_SIZE);
	return p;
}

/* A VM whose vCPU reads the area at @offset from slot A's start. */
static void ctx_init(struct rs_ctx *c, int mmap_flags, uint64_t offset,
		     bool compat)
{
	memset(c, 0, sizeof(*c));
	c->dev = memext_open();
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_RUNSTATE));
	c->vm = vm_create_with_one_vcpu(&c->vcpu, guest_code);
	c->handle = memext_bind(c->dev, c->vm->fd);
	c->mmap_flags = mmap_flags;
	c->hva[0] = map_backing(mmap_flags);
	if (mmap_flags == IOMEM) {
		c->hva[1] = map_ivshmem();
		__TEST_REQUIRE(c->hva[1], "no ivshmem device");
	} else {
		c->hva[1] = map_backing(mmap_flags);
	}
	vm_set_user_memory_region(c->vm, SLOT_A, 0, GPA_A, NR_PAGES * PAGE_SIZE, c->hva[0]);
	vm_set_user_memory_region(c->vm, SLOT_B, 0, GPA_B, NR_PAGES * PAGE_SIZE, c->hva[1]);
	virt_map(c->vm, GPA_A, GPA_A, 2 * NR_PAGES);
	c->gpa = GPA_A + offset;
	c->compat = compat;
	vcpu_args_set(c->vcpu, 2, c->gpa, compat);
}

static void attach(struct rs_ctx *c)
{
	TEST_ASSERT(!__attach(c, c->vcpu->fd, c->gpa, c->compat ? AREA32 : AREA64,
			      c->compat ? KVM_MEMEXT_RUNSTATE_COMPAT32 : 0),
		    "RUNSTATE_ATTACH: %s", strerror(errno));
}

/* Host address of guest physical @gpa in slot A or B. */
static uint8_t *host_addr(struct rs_ctx *c, uint64_t gpa)
{
	return gpa < GPA_B ? c->hva[0] + (gpa - GPA_A) : c->hva[1] + (gpa - GPA_B);
}

static uint64_t host_read_entry(struct rs_ctx *c)
{
	uint8_t buf[8];
	uint64_t e;
	size_t i;

	for (i = 0; i < 8; i++)
		buf[i] = READ_ONCE(*host_addr(c, c->gpa + (c->compat ? 4 : 8) + i));
	memcpy(&e, buf, 8);
	return e;
}

/*
 * The area as the host sees it, through its own mappings, read as a guest
 * must: the reading thread's own switches update it meanwhile, so retry
 * while the update flag (bit 63 of state_entry_time) is set or the entry
 * time moved.
 */
static uint64_t host_read_area(struct rs_ctx *c, uint32_t *state, uint64_t *time)
{
	uint8_t buf[AREA64];
	size_t size = c->compat ? AREA32 : AREA64, i;
	uint64_t e, e2;

	do {
		e = host_read_entry(c);
		__sync_synchronize();
		for (i = 0; i < size; i++)
			buf[i] = READ_ONCE(*host_addr(c, c->gpa + i));
		__sync_synchronize();
		e2 = host_read_entry(c);
	} while (e != e2 || (e >> 63));
	memcpy(state, buf, 4);
	memcpy(time, buf + (c->compat ? 12 : 16), 32);
	return e;
}

/*
 * The module's accounting adds up and the guest's copy is that copy.  A
 * switch of the calling thread (it is often the vCPU's) between the two
 * reads moves both on: then the area must be newer, and we look again.
 */
static void check_current(struct rs_ctx *c, const char *when)
{
	struct kvm_memext_runstate_info info;
	uint64_t time[4], e;
	uint32_t state;
	int tries;

	for (tries = 0;; tries++) {
		info = get_info(c, c->vcpu->fd);
		TEST_ASSERT(info.time[0] + info.time[1] + info.time[2] + info.time[3] ==
			    info.state_entry_time, "%s: times do not add up", when);
		TEST_ASSERT(!info.pending, "%s: the guest's copy is still behind", when);
		e = host_read_area(c, &state, time);
		if (e == info.state_entry_time && state == info.state &&
		    !memcmp(time, info.time, sizeof(time)))
			return;
		TEST_ASSERT(tries < 10 && e > info.state_entry_time,
			    "%s: area (entry %lu state %u) differs from the module's (entry %llu state %u)",
			    when, e, state, info.state_entry_time, info.state);
	}
}

/*
 * Run @rounds rounds of the guest's checks; the thread sleeps between
 * rounds (blocked, then running again), and @event changes the memory
 * under the area before round @event_round.
 */
static void run_rounds(struct rs_ctx *c, int rounds,
		       void (*event)(struct rs_ctx *c), int event_round)
{
	struct ucall uc;
	int i;

	for (i = 0; i < rounds; i++) {
		if (event && i == event_round)
			event(c);
		vcpu_run(c->vcpu);
		switch (get_ucall(c->vcpu, &uc)) {
		case UCALL_SYNC:
			c->changes += uc.args[1];
			break;
		case UCALL_ABORT:
			ksft_print_msg("round %d\n", i);
			memext_report_guest_assert_4(uc, BAD_AREA_FMT);
			break;
		default:
			TEST_FAIL("round %d: exit %s", i,
				  exit_reason_str(c->vcpu->run->exit_reason));
		}
		switch_once(c);
	}
	/* Each round follows a switch; the guest saw at least one per round. */
	TEST_ASSERT(c->changes >= (uint64_t)rounds - 1,
		    "the guest saw %lu updates in %d rounds", c->changes, rounds);
}

static void ctx_done(struct rs_ctx *c)
{
	struct kvm_memext_runstate_info info = get_info(c, c->vcpu->fd);
	uint64_t time[4];
	uint32_t state;

	/* Sleeping and running were both accounted. */
	TEST_ASSERT(info.time[KVM_MEMEXT_RUNSTATE_RUNNING] &&
		    info.time[KVM_MEMEXT_RUNSTATE_BLOCKED],
		    "running %llu ns, blocked %llu ns",
		    info.time[KVM_MEMEXT_RUNSTATE_RUNNING],
		    info.time[KVM_MEMEXT_RUNSTATE_BLOCKED]);
	TEST_ASSERT(!__detach(c, c->vcpu->fd), "RUNSTATE_DETACH: %s", strerror(errno));
	host_read_area(c, &state, time);
	TEST_ASSERT(state == KVM_MEMEXT_RUNSTATE_OFFLINE, "state %u after detach", state);
	TEST_ASSERT_ERRNO(ioctl(c->handle, KVM_MEMEXT_RUNSTATE_GET, &info), ENOENT,
			  "RUNSTATE_GET after detach");
	close(c->handle);
	kvm_vm_free(c->vm);
	close(c->dev);
}

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

#define SHM	(MAP_SHARED | MAP_ANONYMOUS)
#define ANON	(MAP_PRIVATE | MAP_ANONYMOUS)

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

/* Memory under the area changes while the guest keeps reading it. */
static void run_event(void (*event)(struct rs_ctx *c), int mmap_flags)
{
	struct rs_ctx c;

	ctx_init(&c, mmap_flags, NR_PAGES * PAGE_SIZE - 16, false);
	attach(&c);
	run_rounds(&c, ROUNDS, event, ROUNDS / 2);
	check_current(&c, "after the event");
	ctx_done(&c);
}

static void zap_both_pages(struct rs_ctx *c)
{
	TEST_ASSERT(!madvise(c->hva[0] + (NR_PAGES - 1) * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED) &&
		    !madvise(c->hva[1], PAGE_SIZE, MADV_DONTNEED), "madvise");
	/* The area reads zeros until the next switch rewrites it. */
	switch_once(c);
	check_current(c, "after MADV_DONTNEED");
}

static void test_madv_dontneed(void)
{
	run_event(zap_both_pages, ANON);
}

static void remap_second_page(struct rs_ctx *c)
{
	void *p = mmap(c->hva[1], PAGE_SIZE, PROT_READ | PROT_WRITE,
		       c->mmap_flags | MAP_FIXED, -1, 0);

	TEST_ASSERT(p == c->hva[1], "mmap MAP_FIXED: %s", strerror(errno));
	switch_once(c);
	check_current(c, "after the remap");
}

static void test_remap_same_address(void)
{
	run_event(remap_second_page, SHM);
}

static void protect_second_page(struct rs_ctx *c)
{
	struct kvm_memext_runstate_info info;
	int i;

	TEST_ASSERT(!mprotect(c->hva[1], PAGE_SIZE, PROT_READ), "mprotect");
	/* Switches while read-only: the module cannot write, and says so. */
	for (i = 0; i < 3; i++)
		switch_once(c);
	info = get_info(c, c->vcpu->fd);
	TEST_ASSERT(info.pending, "the area was written through a read-only mapping");
	TEST_ASSERT(!mprotect(c->hva[1], PAGE_SIZE, PROT_READ | PROT_WRITE), "mprotect");
	switch_once(c);
	check_current(c, "after mprotect");
}

static void test_mprotect(void)
{
	run_event(protect_second_page, SHM);
}

/* A memslot batch moves slot B to new memory (with the same contents). */
static void move_slot_b(struct rs_ctx *c)
{
	uint8_t *n = map_backing(c->mmap_flags);
	struct kvm_memext_memslot e[2] = {
		{ .slot = SLOT_B },
		{ .slot = SLOT_B, .guest_phys_addr = GPA_B,
		  .memory_size = NR_PAGES * PAGE_SIZE, .userspace_addr = (uintptr_t)n },
	};
	struct kvm_memext_set_memslots args = {
		.nr_entries = 2, .entries = (uintptr_t)e,
	};

	memcpy(n, c->hva[1], NR_PAGES * PAGE_SIZE);
	TEST_ASSERT(!ioctl(c->handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
		    "SET_MEMSLOTS: %s", strerror(errno));
	c->hva[1] = n;
	switch_once(c);
	check_current(c, "after the memslot move");
}

static void test_memslot_move(void)
{
	run_event(move_slot_b, SHM);
}

/* /proc/self/pagemap entry of @addr: bit 63 present, bit 62 swapped. */
static uint64_t pagemap_entry(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	TEST_ASSERT(fd >= 0 && pread(fd, &e, 8, (uintptr_t)addr / PAGE_SIZE * 8) == 8,
		    "read /proc/self/pagemap");
	close(fd);
	return e;
}

static void swap_out_both_pages(struct rs_ctx *c)
{
	void *p[2] = { c->hva[0] + (NR_PAGES - 1) * PAGE_SIZE, c->hva[1] };
	int i, tries;

	for (i = 0; i < 2; i++) {
		/* A fresh page may still sit in a per-CPU LRU batch. */
		for (tries = 0; tries < 50; tries++) {
			TEST_ASSERT(!madvise(p[i], PAGE_SIZE, MADV_PAGEOUT), "MADV_PAGEOUT");
			if (pagemap_entry(p[i]) & (1ull << 62))
				break;
			usleep(2000);
		}
		__TEST_REQUIRE(tries < 50, "page not swapped out (no swap?)");
	}
	switch_once(c);
	check_current(c, "after swap-out");
}

static void test_swap_out(void)
{
	run_event(swap_out_both_pages, ANON);
}

/* NUMA node of each page, or -errno. */
static void page_nodes(void **pages, int *status)
{
	TEST_ASSERT(!syscall(__NR_move_pages, 0, 2, pages, NULL, status, 0),
		    "move_pages query: %s", strerror(errno));
}

static void migrate_both_pages(struct rs_ctx *c)
{
	void *pages[2] = { c->hva[0] + (NR_PAGES - 1) * PAGE_SIZE, c->hva[1] };
	int status[2], nodes[2], i;

	page_nodes(pages, status);
	for (i = 0; i < 2; i++)
		nodes[i] = !status[i];
	TEST_ASSERT(!syscall(__NR_move_pages, 0, 2, pages, nodes, status,
			     MPOL_MF_MOVE), "move_pages: %s", strerror(errno));
	page_nodes(pages, status);
	for (i = 0; i < 2; i++)
		TEST_ASSERT(status[i] == nodes[i], "page %d on node %d, not %d",
			    i, status[i], nodes[i]);
	switch_once(c);
	check_current(c, "after migration");
}

static void test_migrate(void)
{
	__TEST_REQUIRE(!access("/sys/devices/system/node/node1", F_OK),
		       "one NUMA node only");
	run_event(migrate_both_pages, SHM);
}

/* Both pages of an area across two dirty-logged memslots get logged. */
static void test_dirty_log(void)
{
	uint64_t bitmap[2][1];
	struct rs_ctx c;
	int round;

	ctx_init(&c, SHM, NR_PAGES * PAGE_SIZE - 24, false);
	vm_set_user_memory_region(c.vm, SLOT_A, KVM_MEM_LOG_DIRTY_PAGES, GPA_A,
				  NR_PAGES * PAGE_SIZE, c.hva[0]);
	vm_set_user_memory_region(c.vm, SLOT_B, KVM_MEM_LOG_DIRTY_PAGES, GPA_B,
				  NR_PAGES * PAGE_SIZE, c.hva[1]);
	attach(&c);
	for (round = 0; round < 3; round++) {
		/* Fetch and clear; then a switch writes the area. */
		kvm_vm_get_dirty_log(c.vm, SLOT_A, bitmap[0]);
		kvm_vm_get_dirty_log(c.vm, SLOT_B, bitmap[1]);
		switch_once(&c);
		check_current(&c, "dirty logging");
		kvm_vm_get_dirty_log(c.vm, SLOT_A, bitmap[0]);
		kvm_vm_get_dirty_log(c.vm, SLOT_B, bitmap[1]);
		TEST_ASSERT(bitmap[0][0] == 1ul << (NR_PAGES - 1) && bitmap[1][0] == 1,
			    "round %d: dirty bits 0x%lx 0x%lx", round, bitmap[0][0],
			    bitmap[1][0]);
	}
	ctx_done(&c);
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

/* Lifetimes: nothing dangles, nothing leaks, the module is released. */

static void *attach_and_exit(void *arg)
{
	struct rs_ctx *c = arg;

	attach(c);
	run_rounds(c, 2, NULL, 0);
	return NULL;	/* without detaching */
}

static void wait_refcnt(long want)
{
	int ms;

	/* Task works on other threads drop their references soon after. */
	for (ms = 0; memext_module_refcnt() != want && ms < 5000; ms++)
		usleep(1000);
	TEST_ASSERT(memext_module_refcnt() == want, "module refcnt %ld, want %ld",
		    memext_module_refcnt(), want);
}

static void test_thread_exits_attached(void)
{
	struct kvm_memext_runstate_info info;
	uint64_t time[4];
	uint32_t state;
	struct rs_ctx c;
	pthread_t t;
	long base;
	int ms;

	base = memext_module_refcnt();
	ctx_init(&c, SHM, 0x200, false);
	pthread_create(&t, NULL, attach_and_exit, &c);
	pthread_join(t, NULL);
	/*
	 * Still attached and readable.  The join returns when the thread
	 * clears its tid, early in do_exit(): it may still be running or
	 * preempted until its last switch, to blocked.
	 */
	for (ms = 0; ms < 5000; ms++) {
		info = get_info(&c, c.vcpu->fd);
		if (info.state == KVM_MEMEXT_RUNSTATE_BLOCKED)
			break;
		usleep(1000);
	}
	TEST_ASSERT(info.state == KVM_MEMEXT_RUNSTATE_BLOCKED,
		    "state %u of an exited thread", info.state);
	/* The vCPU moves to this thread: detach, run it, attach again. */
	TEST_ASSERT(!__detach(&c, c.vcpu->fd), "detach from another thread: %s",
		    strerror(errno));
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_GET, &info), ENOENT,
			  "RUNSTATE_GET after detach");
	host_read_area(&c, &state, time);
	TEST_ASSERT(state == KVM_MEMEXT_RUNSTATE_OFFLINE, "state %u after detach", state);
	run_rounds(&c, 1, NULL, 0);
	attach(&c);
	run_rounds(&c, 2, NULL, 0);
	check_current(&c, "re-attached on another thread");
	close(c.handle);
	kvm_vm_free(c.vm);
	close(c.dev);
	wait_refcnt(base);
}

static bool stop_vcpu;

static void *run_until_stopped(void *arg)
{
	struct rs_ctx *c = arg;

	attach(c);
	while (!READ_ONCE(stop_vcpu))
		run_rounds(c, 1, NULL, 0);
	return NULL;
}

static void test_close_handle_while_running(void)
{
	struct rs_ctx c;
	pthread_t t;
	long base;

	base = memext_module_refcnt();
	ctx_init(&c, SHM, PAGE_SIZE - 8, false);
	pthread_create(&t, NULL, run_until_stopped, &c);
	usleep(200000);
	/* The vCPU thread unhooks its notifier itself, promptly. */
	close(c.handle);
	close(c.dev);
	wait_refcnt(base);
	WRITE_ONCE(stop_vcpu, true);
	pthread_join(t, NULL);
	kvm_vm_free(c.vm);
}

/*
 * The first attach on a handle registers the handle's mmu notifier, and the
 * kernel's registration (mm_take_all_locks()) gives up on any pending
 * signal.  A signal whose handler asks for restarts must not turn into
 * EINTR: signals rain on the attaching thread while it binds a new handle
 * and attaches, again and again; many VMAs keep the registration long.
 */
#define STORM_ROUNDS	40
#define STORM_VMAS	8192

static void test_attach_signals(void)
{
	struct memext_storm s;
	struct rs_ctx c;
	uint8_t *vmas;
	int round, r, n;
	long i;

	ctx_init(&c, SHM, 0x100, false);
	vmas = mmap(NULL, STORM_VMAS * PAGE_SIZE, PROT_READ,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(vmas != MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < STORM_VMAS; i += 2)
		TEST_ASSERT(!mprotect(vmas + i * PAGE_SIZE, PAGE_SIZE, PROT_NONE),
			    "mprotect: %s", strerror(errno));
	memext_storm_start(&s, STORM_ROUNDS, 20, SA_RESTART);
	for (round = 1; round <= STORM_ROUNDS; round++) {
		close(c.handle);
		c.handle = memext_bind(c.dev, c.vm->fd);
		memext_storm_next(&s);
		r = __attach(&c, c.vcpu->fd, c.gpa, AREA64, 0);
		TEST_ASSERT(!r, "round %d: RUNSTATE_ATTACH: %s", round,
			    strerror(errno));
	}
	n = memext_storm_stop(&s);
	ksft_print_msg("%d signals in %d rounds\n", n, STORM_ROUNDS);
	/* Signals sent while one is pending merge with it: some, not all. */
	TEST_ASSERT(n > 0, "no signal handled");
	munmap(vmas, STORM_VMAS * PAGE_SIZE);
	close(c.handle);
	kvm_vm_free(c.vm);
	close(c.dev);
}

static void test_vm_closed_first(void)
{
	struct rs_ctx c;
	long base;

	base = memext_module_refcnt();
	ctx_init(&c, SHM, 0x300, false);
	attach(&c);
	run_rounds(&c, 2, NULL, 0);
	/* Every KVM fd of the VM goes; the handle keeps the VM alive. */
	kvm_vm_free(c.vm);
	close(c.handle);
	close(c.dev);
	wait_refcnt(base);
}

/* Bad inputs: a clear errno, nothing attached. */

static struct rs_ctx *other_ctx;

static void *attach_from_other_thread(void *arg)
{
	struct rs_ctx *c = arg;

	TEST_ASSERT_ERRNO(__attach(c, c->vcpu->fd, c->gpa, AREA64, 0), EPERM,
			  "attach from a thread that does not run the vCPU");
	return NULL;
}

static void test_bad_inputs(void)
{
	struct kvm_memext_runstate_info info = {};
	struct kvm_memext_runstate a;
	struct kvm_vcpu *other_vcpu;
	struct kvm_vm *other;
	struct rs_ctx c;
	pthread_t t;
	int fd = -1;

	ctx_init(&c, SHM, 0x100, false);
	other_ctx = &c;
	other = vm_create_with_one_vcpu(&other_vcpu, guest_code);

	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa + 4, AREA64, 0), EINVAL,
			  "unaligned area");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa + 2, AREA32,
				   KVM_MEMEXT_RUNSTATE_COMPAT32), EINVAL,
			  "unaligned compat area");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa, AREA64 + 8, 0), EINVAL,
			  "oversized area");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa, AREA32, 0), EINVAL,
			  "size of the other layout");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa, AREA64, 2), EINVAL,
			  "unknown flags");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, 0x80000000ul, AREA64, 0), EFAULT,
			  "gpa outside any slot");
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, GPA_B + NR_PAGES * PAGE_SIZE - 8,
				   AREA64, 0), EFAULT,
			  "area running past the last slot");
	TEST_ASSERT_ERRNO(__attach(&c, other_vcpu->fd, c.gpa, AREA64, 0), EINVAL,
			  "vCPU fd of another VM");
	TEST_ASSERT_ERRNO(__attach(&c, c.vm->fd, c.gpa, AREA64, 0), EINVAL,
			  "VM fd instead of a vCPU fd");
	TEST_ASSERT_ERRNO(__attach(&c, fd, c.gpa, AREA64, 0), EBADF, "closed fd");
	a = (struct kvm_memext_runstate) {
		.vcpu_fd = c.vcpu->fd, .gpa = c.gpa, .size = AREA64, .as_id = 7,
	};
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a), EINVAL,
			  "address space out of range");
	a.as_id = 0;
	a.reserved[1] = 1;
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a), EINVAL,
			  "nonzero reserved");
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_ATTACH, (void *)8),
			  EFAULT, "bad pointer");
	TEST_ASSERT_ERRNO(__detach(&c, c.vcpu->fd), ENOENT, "detach without attach");
	info.vcpu_fd = c.vcpu->fd;
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_GET, &info), ENOENT,
			  "get without attach");

	/* The vCPU ran on this thread: other threads may not attach it. */
	run_rounds(&c, 1, NULL, 0);
	pthread_create(&t, NULL, attach_from_other_thread, &c);
	pthread_join(t, NULL);

	attach(&c);
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa, AREA64, 0), EEXIST,
			  "double attach");
	a = (struct kvm_memext_runstate) { .vcpu_fd = c.vcpu->fd, .flags = 1 };
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_DETACH, &a), EINVAL,
			  "detach with flags");
	info = (struct kvm_memext_runstate_info) { .vcpu_fd = c.vcpu->fd, .flags = 1 };
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_GET, &info), EINVAL,
			  "get with flags");
	/* The area stayed attached through all of it. */
	run_rounds(&c, 2, NULL, 0);
	check_current(&c, "after the bad inputs");
	kvm_vm_free(other);
	ctx_done(&c);
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

/* A read-only memslot cannot hold an area the module writes. */
static void test_readonly_slot(void)
{
	struct rs_ctx c;

	ctx_init(&c, SHM, 0x100, false);
	vm_set_user_memory_region(c.vm, SLOT_A, 0, 0, 0, NULL);
	vm_set_user_memory_region(c.vm, SLOT_A, KVM_MEM_READONLY, GPA_A,
				  NR_PAGES * PAGE_SIZE, c.hva[0]);
	TEST_ASSERT_ERRNO(__attach(&c, c.vcpu->fd, c.gpa, AREA64, 0), EFAULT,
			  "area in a read-only slot");
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
		MEMEXT_TEST(test_privmem_two_memslots),
		MEMEXT_TEST(test_compat32_two_pages),
		MEMEXT_TEST(test_madv_dontneed),
		MEMEXT_TEST(test_remap_same_address),
		MEMEXT_TEST(test_mprotect),
		MEMEXT_TEST(test_memslot_move),
		MEMEXT_TEST(test_swap_out),
		MEMEXT_TEST(test_migrate),
		MEMEXT_TEST(test_hugetlb),
		MEMEXT_TEST(test_dirty_log),
		MEMEXT_TEST(test_many_vcpus),
		MEMEXT_TEST(test_thread_exits_attached),
		MEMEXT_TEST(test_close_handle_while_running),
		MEMEXT_TEST(test_vm_closed_first),
		MEMEXT_TEST(test_attach_signals),
		MEMEXT_TEST(test_bad_inputs),
		MEMEXT_TEST(test_readonly_slot),
		MEMEXT_TEST(test_smm_address_space),
		MEMEXT_TEST(test_halted_vcpu_blocked),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
