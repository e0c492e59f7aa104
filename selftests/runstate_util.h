/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the runstate-area selftests (runstate_test, runstate_mm_test,
 * runstate_api_test) share: a VM whose one vCPU reads its runstate area
 * (KVM_MEMEXT_RUNSTATE_*) in slots A and B, and the host's view of it.
 *
 * The guest reads its runstate area all the time and checks Xen's update
 * protocol (no torn read once state_entry_time is stable and without the
 * update flag), that the four times add up to state_entry_time, and that
 * state_entry_time never goes backwards.  The host makes the vCPU thread
 * sleep between rounds, so every round switches states, and compares the
 * area, read through its own mappings, with KVM_MEMEXT_RUNSTATE_GET.
 */
#ifndef SELFTEST_RUNSTATE_UTIL_H
#define SELFTEST_RUNSTATE_UTIL_H

#include <sys/mman.h>
#include <asm/barrier.h>
#include <drm/drm.h>
#include <drm/drm_mode.h>

#include "memext_util.h"
#include "memext_arch.h"
#include "memext_trace.h"
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

/* Where the fields are in the 32-bit (@compat) or the 64-bit layout. */
#define ENTRY_OFF(compat)						\
	((compat) ? offsetof(struct kvm_memext_runstate_area32, state_entry_time) : \
		    offsetof(struct kvm_memext_runstate_area, state_entry_time))
#define TIME_OFF(compat)						\
	((compat) ? offsetof(struct kvm_memext_runstate_area32, time) :	\
		    offsetof(struct kvm_memext_runstate_area, time))

/* Read the area with Xen's protocol; returns state_entry_time. */
static inline uint64_t guest_read_area(uint64_t gpa, bool compat,
				       uint32_t *state, uint64_t *time)
{
	uint8_t *a = (uint8_t *)gpa;
	uint64_t e1, e2, toff = TIME_OFF(compat), eoff = ENTRY_OFF(compat);
	int i;

	/*
	 * The loads in order: x86 keeps them so (smp_rmb() is a compiler
	 * barrier there), arm64 needs a DMB.
	 */
	do {
		e1 = READ_ONCE(*(uint64_t *)(a + eoff));
		/* The fields after the entry time: pairs with its update flag. */
		smp_rmb();
		*state = READ_ONCE(*(uint32_t *)a);
		for (i = 0; i < 4; i++)
			time[i] = READ_ONCE(*(uint64_t *)(a + toff + 8 * i));
		/* The entry time again after the fields: a torn read retries. */
		smp_rmb();
		e2 = READ_ONCE(*(uint64_t *)(a + eoff));
	} while (e1 != e2 || (e1 & KVM_MEMEXT_RUNSTATE_UPDATE));
	return e1;
}

/* The guest's second argument: the 32-bit layout, or halting at once. */
#define GUEST_HALT	2

static inline void guest_code(uint64_t gpa, uint64_t compat)
{
	uint64_t last = 0, changes, time[4], e, sum;
	uint32_t state;
	int i;

	if (compat == GUEST_HALT)
		memext_guest_halt();

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
#define IOMEM_WC	-3	/* the BAR through resource2_wc */
#define VGEM		-4	/* slot B: a vgem buffer, RAM in VM_PFNMAP */
#define HUGE_SIZE	(2ul << 20)

/* Private memory (KVM_MEMEXT_CREATE_PRIVMEM): out of the direct map. */
static inline void *map_privmem(void)
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

/* Whether the mapping at @p has VmFlags @flag ("pf": VM_PFNMAP). */
static inline bool vma_has_flag(void *p, const char *flag)
{
	unsigned long start, end, addr = (unsigned long)p;
	char line[512], want[8];
	bool in = false, has = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	TEST_ASSERT(f, "/proc/self/smaps: %s", strerror(errno));
	snprintf(want, sizeof(want), " %s", flag);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = start <= addr && addr < end;
		else if (in && !strncmp(line, "VmFlags:", 8))
			has = strstr(line, want);
	}
	fclose(f);
	return has;
}

/*
 * A buffer of DRM's vgem driver, mapped: shmem pages that the driver
 * inserts by pfn (VM_PFNMAP), write-combining where the architecture
 * lets it (x86's PAT keeps RAM write-back).  NULL without vgem.
 */
static inline uint8_t *map_vgem(size_t size)
{
	struct drm_mode_create_dumb create = {
		.width = PAGE_SIZE / 4, .height = size / PAGE_SIZE, .bpp = 32,
	};
	struct drm_mode_map_dumb map = {};
	char path[32], name[8];
	struct drm_version v;
	uint8_t *p = NULL;
	int i, fd;

	for (i = 0; !p && i < 8; i++) {
		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		memset(name, 0, sizeof(name));
		v = (struct drm_version) { .name = name, .name_len = sizeof(name) - 1 };
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, "vgem")) {
			TEST_ASSERT(!ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create),
				    "vgem CREATE_DUMB: %s", strerror(errno));
			map.handle = create.handle;
			TEST_ASSERT(!ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &map),
				    "vgem MAP_DUMB: %s", strerror(errno));
			p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				 map.offset);
			TEST_ASSERT(p != MAP_FAILED, "mmap vgem: %s", strerror(errno));
		}
		/* The mapping holds the buffer. */
		close(fd);
	}
	return p;
}

static inline void *map_backing(int flags)
{
	size_t size = flags & MAP_HUGETLB ? HUGE_SIZE : NR_PAGES * PAGE_SIZE;
	void *p;

	if (flags == PRIVMEM)
		return map_privmem();
	if (flags == IOMEM || flags == IOMEM_WC || flags == VGEM)
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

static inline int __attach(struct rs_ctx *c, int vcpu_fd, uint64_t gpa,
			   uint32_t size, uint32_t flags)
{
	struct kvm_memext_runstate a = {
		.vcpu_fd = vcpu_fd, .flags = flags, .gpa = gpa, .size = size,
	};

	return ioctl(c->handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a);
}

static inline int __detach(struct rs_ctx *c, int vcpu_fd)
{
	struct kvm_memext_runstate a = { .vcpu_fd = vcpu_fd };

	return ioctl(c->handle, KVM_MEMEXT_RUNSTATE_DETACH, &a);
}

static inline struct kvm_memext_runstate_info get_info(struct rs_ctx *c, int vcpu_fd)
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
static inline void switch_once(struct rs_ctx *c)
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

/* The BAR of memext_map_ivshmem(), at @addr if not NULL. */
static inline uint8_t *map_ivshmem_at(void *addr, bool wc)
{
	return memext_map_ivshmem(addr, NR_PAGES * PAGE_SIZE, wc);
}

static inline uint8_t *map_ivshmem(bool wc)
{
	uint8_t *p = map_ivshmem_at(NULL, wc);
	size_t i;

	/*
	 * Not memset(): arm64's zeroes with DC ZVA, which faults on Device
	 * memory (the BAR's mapping).
	 */
	for (i = 0; p && i < NR_PAGES * PAGE_SIZE; i += 8)
		WRITE_ONCE(*(uint64_t *)(p + i), 0);
	return p;
}

/*
 * Record the kernel mappings the module's caches make (their
 * kvm_memext_cache_map events) in a trace instance of the test's own.
 */
static inline void memtype_trace_begin(void)
{
	memext_trace_open("kvm_memext_runstate");
	TEST_ASSERT(!mkdir(memext_tracefs, 0700) || errno == EEXIST, "mkdir %s: %s",
		    memext_tracefs, strerror(errno));
	memext_trace_write("trace", "");
	memext_trace_write("events/kvm_memext/kvm_memext_cache_map/enable", "1");
}

/* The kvm_memext_cache_map events of @trace that hold @field. */
static inline int count_maps(const char *trace, const char *field)
{
	const char *at = trace;
	int n = 0;

	while ((at = memext_find_event(at, "kvm_memext_cache_map",
				       (const char * const[]){ field, NULL })))
		n++;
	return n;
}

/*
 * Since memtype_trace_begin(): at least @min_io mappings of IO memory,
 * each with memory type @io (never cacheable where the host mapping is
 * not), or none at all if @io is NULL; RAM with MEMEXT_MEMTYPE_RAM or, at
 * least once, @ram (if not NULL); nothing executable.
 */
static inline void memtype_trace_end(const char *io, int min_io, const char *ram)
{
	const char *ram2 = ram && strcmp(ram, MEMEXT_MEMTYPE_RAM) ? ram : NULL;
	char io_field[32], ram_field[32], ram2_field[32];
	int nr_io, nr_ram, nr_ram2 = 0;
	char *trace;

	memext_trace_write("events/kvm_memext/kvm_memext_cache_map/enable", "0");
	trace = memext_trace_read();
	TEST_ASSERT(!count_maps(trace, " exec"),
		    "an executable kernel mapping; the trace:\n%s", trace);
	/* Whole names: "Normal" is a prefix of "Normal-NC", "UC" of "UC-". */
	snprintf(io_field, sizeof(io_field), " io %s\n", io ?: "");
	snprintf(ram_field, sizeof(ram_field), " ram %s\n", MEMEXT_MEMTYPE_RAM);
	nr_io = count_maps(trace, " io ");
	nr_ram = count_maps(trace, ram_field);
	if (ram2) {
		snprintf(ram2_field, sizeof(ram2_field), " ram %s\n", ram2);
		nr_ram2 = count_maps(trace, ram2_field);
	}
	TEST_ASSERT(io || !nr_io, "%d IO mappings, expected none; the trace:\n%s",
		    nr_io, trace);
	TEST_ASSERT(count_maps(trace, io_field) == nr_io,
		    "an IO mapping not %s; the trace:\n%s", io, trace);
	TEST_ASSERT(count_maps(trace, " ram ") == nr_ram + nr_ram2,
		    "a RAM mapping not %s%s%s; the trace:\n%s", MEMEXT_MEMTYPE_RAM,
		    ram2 ? " or " : "", ram2 ?: "", trace);
	TEST_ASSERT(!ram || nr_ram + nr_ram2, "no RAM mapping; the trace:\n%s", trace);
	TEST_ASSERT(!ram2 || nr_ram2, "no RAM mapping %s; the trace:\n%s", ram2, trace);
	TEST_ASSERT(nr_io >= min_io, "%d IO mappings, expected at least %d; the trace:\n%s",
		    nr_io, min_io, trace);
	free(trace);
	TEST_ASSERT(!rmdir(memext_tracefs), "rmdir %s: %s", memext_tracefs, strerror(errno));
}

/* A VM whose vCPU reads the area at @offset from slot A's start. */
static inline void ctx_init(struct rs_ctx *c, int mmap_flags, uint64_t offset,
			    bool compat)
{
	memset(c, 0, sizeof(*c));
	c->dev = memext_open();
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_RUNSTATE));
	c->vm = vm_create_with_one_vcpu(&c->vcpu, guest_code);
	c->handle = memext_bind(c->dev, c->vm->fd);
	c->mmap_flags = mmap_flags;
	c->hva[0] = map_backing(mmap_flags);
	if (mmap_flags == IOMEM || mmap_flags == IOMEM_WC) {
		c->hva[1] = map_ivshmem(mmap_flags == IOMEM_WC);
		__TEST_REQUIRE(c->hva[1], "no ivshmem device");
	} else if (mmap_flags == VGEM) {
		c->hva[1] = map_vgem(NR_PAGES * PAGE_SIZE);
		__TEST_REQUIRE(c->hva[1], "no vgem device");
		memset(c->hva[1], 0, NR_PAGES * PAGE_SIZE);
		TEST_ASSERT(vma_has_flag(c->hva[1], "pf"), "the vgem mapping is not VM_PFNMAP");
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

static inline void attach(struct rs_ctx *c)
{
	TEST_ASSERT(!__attach(c, c->vcpu->fd, c->gpa, c->compat ? AREA32 : AREA64,
			      c->compat ? KVM_MEMEXT_RUNSTATE_COMPAT32 : 0),
		    "RUNSTATE_ATTACH: %s", strerror(errno));
}

/* Host address of guest physical @gpa in slot A or B. */
static inline uint8_t *host_addr(struct rs_ctx *c, uint64_t gpa)
{
	return gpa < GPA_B ? c->hva[0] + (gpa - GPA_A) : c->hva[1] + (gpa - GPA_B);
}

static inline uint64_t host_read_entry(struct rs_ctx *c)
{
	uint8_t buf[8];
	uint64_t e;
	size_t i;

	for (i = 0; i < 8; i++)
		buf[i] = READ_ONCE(*host_addr(c, c->gpa + ENTRY_OFF(c->compat) + i));
	memcpy(&e, buf, 8);
	return e;
}

/*
 * The area as the host sees it, through its own mappings, read as a guest
 * must: the reading thread's own switches update it meanwhile, so retry
 * while the update flag (bit 63 of state_entry_time) is set or the entry
 * time moved.
 */
static inline uint64_t host_read_area(struct rs_ctx *c, uint32_t *state,
				      uint64_t *time)
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
	memcpy(time, buf + TIME_OFF(c->compat), sizeof(uint64_t[4]));
	return e;
}

/*
 * The module's accounting adds up and the guest's copy is that copy.  A
 * switch of the calling thread (it is often the vCPU's) between the two
 * reads moves both on: then the area must be newer, and we look again.
 */
static inline void check_current(struct rs_ctx *c, const char *when)
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
static inline void run_rounds(struct rs_ctx *c, int rounds,
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

static inline void ctx_done(struct rs_ctx *c)
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

#define SHM	(MAP_SHARED | MAP_ANONYMOUS)
#define ANON	(MAP_PRIVATE | MAP_ANONYMOUS)

#endif /* SELFTEST_RUNSTATE_UTIL_H */
