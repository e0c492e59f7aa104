// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU runstate areas (KVM_MEMEXT_RUNSTATE_*) with real guests: the memory
 * under the area changes while the guest keeps reading it
 * (runstate_util.h).  Its pages are zapped (MADV_DONTNEED), swapped out
 * (MADV_PAGEOUT), migrated to the other NUMA node, replaced by a new
 * mapping at the same address (an IO BAR's too), made read-only for a
 * while, and moved to new memory by a memslot batch; both pages of an
 * area across two dirty-logged memslots get logged.  The VMM's process
 * exits while another holds the handle: the kernel mappings go with it.
 */
#include <linux/mempolicy.h>
#include <sys/syscall.h>

#include "runstate_util.h"

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

/*
 * The BAR under the area is mapped again at the same address (MAP_FIXED
 * unmaps it first): the notifier invalidates, the cache maps the BAR
 * again, uncached as the host maps it.
 */
static void remap_bar(struct rs_ctx *c)
{
	TEST_ASSERT(map_ivshmem_at(c->hva[1], false) == c->hva[1],
		    "mmap MAP_FIXED of the BAR: %s", strerror(errno));
	switch_once(c);
	check_current(c, "after the BAR's remap");
}

static void test_remap_iomem_same_address(void)
{
	memtype_trace_begin();
	run_event(remap_bar, IOMEM);
	memtype_trace_end(MEMEXT_MEMTYPE_UC, 2, NULL);
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

/* The module's kernel mappings of guest pages (vmap(), ioremap()). */
static int module_mappings(void)
{
	char line[512];
	FILE *f = fopen("/proc/vmallocinfo", "r");
	int n = 0;

	TEST_ASSERT(f, "/proc/vmallocinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "[kvm_memext]") &&
		     (strstr(line, " vmap") || strstr(line, " ioremap"));
	fclose(f);
	return n;
}

/*
 * The VMM's process exits while another one holds the handle (sent over
 * a UNIX socket): the guest's memory goes with the process, and the
 * cache's kernel mappings of it must go then, not at the handle's close.
 */
static void test_vmm_exits(void)
{
	int sv[2], handle, status, before, n;
	struct rs_ctx c;
	pid_t pid;

	before = module_mappings();
	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		ctx_init(&c, SHM, NR_PAGES * PAGE_SIZE - 16, false);
		attach(&c);
		switch_once(&c);
		check_current(&c, "before the exit");
		n = module_mappings();
		TEST_ASSERT(n > before, "no kernel mapping of the area (%d, %d before)",
			    n, before);
		TEST_ASSERT(memext_send_fd(sv[1], c.handle) == 1, "sendmsg: %s",
			    strerror(errno));
		exit(0);
	}
	handle = memext_recv_fd(sv[0]);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "the VMM failed: status 0x%x", status);
	n = module_mappings();
	TEST_ASSERT(n == before, "%d kernel mappings left after the VMM exited",
		    n - before);
	close(handle);
	close(sv[0]);
	close(sv[1]);
}

int main(int argc, char *argv[])
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_madv_dontneed),
		MEMEXT_TEST(test_remap_same_address),
		MEMEXT_TEST(test_remap_iomem_same_address),
		MEMEXT_TEST(test_mprotect),
		MEMEXT_TEST(test_memslot_move),
		MEMEXT_TEST(test_swap_out),
		MEMEXT_TEST(test_migrate),
		MEMEXT_TEST(test_dirty_log),
		MEMEXT_TEST(test_vmm_exits),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
