// SPDX-License-Identifier: GPL-2.0
/*
 * Statistics of a VM handle: KVM_MEMEXT_GET_STATS_FD and debugfs.
 *
 * The stats file is read by a parser written from KVM's documentation of
 * KVM_GET_STATS_FD (Documentation/virt/kvm/api.rst), with the structs of
 * <linux/kvm.h> and nothing of kvm_memext's uAPI but the ioctl: a reader
 * written for KVM's stats must read it unchanged.  It checks every rule of
 * that layout, then drives batches, a runstate area and private memory
 * and sees each counter move, and finds the same values in debugfs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>

#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define TEST_GPA	0x40000000ul
#define TEST_SLOT	10
#define NEW_SLOT	11
#define PM_SLOT		12
#define PM_GPA		0x80000000ul
#define PM_SIZE		(4ul << 20)
#define NR_PAGES	16

/* A whole stats file, as KVM documents it. */
struct stats {
	struct kvm_stats_header h;
	char *buf;		/* the whole file */
	size_t size;
	size_t desc_size;	/* a descriptor and its name */
};

static struct kvm_stats_desc *stats_desc(const struct stats *s, unsigned int i)
{
	return (void *)(s->buf + s->h.desc_offset + i * s->desc_size);
}

static const uint64_t *stats_data(const struct stats *s,
				  const struct kvm_stats_desc *d)
{
	return (const void *)(s->buf + s->h.data_offset + d->offset);
}

/* Read the file and check every rule of KVM's layout. */
static void stats_read(int fd, struct stats *s)
{
	uint32_t i, j, type, unit, base;
	size_t data_end = 0, max_size;
	struct kvm_stats_desc *d;
	char byte;

	TEST_ASSERT(pread(fd, &s->h, sizeof(s->h), 0) == sizeof(s->h),
		    "header: %s", strerror(errno));
	TEST_ASSERT(!s->h.flags, "header flags %#x", s->h.flags);
	TEST_ASSERT(s->h.name_size && s->h.num_desc, "name_size %u, num_desc %u",
		    s->h.name_size, s->h.num_desc);
	s->desc_size = sizeof(*d) + s->h.name_size;
	TEST_ASSERT(s->h.id_offset >= sizeof(s->h) &&
		    s->h.desc_offset >= s->h.id_offset + s->h.name_size &&
		    s->h.data_offset >= s->h.desc_offset +
					(size_t)s->h.num_desc * s->desc_size,
		    "offsets: id %u desc %u data %u", s->h.id_offset,
		    s->h.desc_offset, s->h.data_offset);

	max_size = s->h.data_offset + 65536;
	s->buf = calloc(1, max_size);
	TEST_ASSERT(s->buf, "calloc");
	s->size = pread(fd, s->buf, max_size, 0);
	TEST_ASSERT(s->size > s->h.data_offset && s->size < max_size,
		    "file size %zd", s->size);
	TEST_ASSERT(pread(fd, &byte, 1, s->size) == 0, "data past the end");
	TEST_ASSERT(memchr(s->buf + s->h.id_offset, 0, s->h.name_size) &&
		    s->buf[s->h.id_offset], "id not a string");

	for (i = 0; i < s->h.num_desc; i++) {
		d = stats_desc(s, i);
		type = d->flags & KVM_STATS_TYPE_MASK;
		unit = d->flags & KVM_STATS_UNIT_MASK;
		base = d->flags & KVM_STATS_BASE_MASK;
		TEST_ASSERT(!(d->flags & ~(KVM_STATS_TYPE_MASK | KVM_STATS_UNIT_MASK |
					   KVM_STATS_BASE_MASK)) &&
			    type <= KVM_STATS_TYPE_LOG_HIST &&
			    unit <= KVM_STATS_UNIT_CYCLES &&
			    base <= KVM_STATS_BASE_POW2,
			    "descriptor %u flags %#x", i, d->flags);
		TEST_ASSERT(d->name[0] && memchr(d->name, 0, s->h.name_size),
			    "descriptor %u: bad name", i);
		/* Seconds count in a power-of-ten fraction, as KVM's. */
		TEST_ASSERT(unit != KVM_STATS_UNIT_SECONDS ||
			    (base == KVM_STATS_BASE_POW10 && d->exponent <= 0),
			    "%s: seconds with base %#x exponent %d", d->name,
			    base, d->exponent);
		TEST_ASSERT(d->size >= 1 && (d->size == 1 ||
					     type == KVM_STATS_TYPE_LINEAR_HIST ||
					     type == KVM_STATS_TYPE_LOG_HIST),
			    "%s: size %u for type %#x", d->name, d->size, type);
		TEST_ASSERT(type != KVM_STATS_TYPE_LINEAR_HIST || d->bucket_size,
			    "%s: linear histogram without bucket size", d->name);
		TEST_ASSERT(type == KVM_STATS_TYPE_LINEAR_HIST || !d->bucket_size,
			    "%s: bucket size %u", d->name, d->bucket_size);
		TEST_ASSERT(!(d->offset % 8) &&
			    s->h.data_offset + d->offset + d->size * 8ul <= s->size,
			    "%s: data at %u (%u values) out of the file", d->name,
			    d->offset, d->size);
		/* KVM lays the values out in descriptor order, packed. */
		TEST_ASSERT(d->offset == data_end, "%s: offset %u, expected %zu",
			    d->name, d->offset, data_end);
		data_end += d->size * 8ul;
		for (j = 0; j < i; j++)
			TEST_ASSERT(strcmp(stats_desc(s, j)->name, d->name),
				    "%s: two descriptors", d->name);
	}
	TEST_ASSERT(s->h.data_offset + data_end == s->size,
		    "file is %zu bytes, data ends at %zu", s->size,
		    s->h.data_offset + data_end);
}

static void stats_free(struct stats *s)
{
	free(s->buf);
	s->buf = NULL;
}

static const struct kvm_stats_desc *stats_find(const struct stats *s,
					       const char *name)
{
	uint32_t i;

	for (i = 0; i < s->h.num_desc; i++)
		if (!strcmp(stats_desc(s, i)->name, name))
			return stats_desc(s, i);
	TEST_FAIL("no statistic %s", name);
	return NULL;
}

/* A value; the count of samples for a histogram. */
static uint64_t stat_get(int fd, const char *name)
{
	const struct kvm_stats_desc *d;
	struct stats s = {};
	uint64_t v = 0;
	uint32_t i;

	stats_read(fd, &s);
	d = stats_find(&s, name);
	for (i = 0; i < d->size; i++)
		v += stats_data(&s, d)[i];
	stats_free(&s);
	return v;
}

static int get_stats_fd(int handle)
{
	int fd = ioctl(handle, KVM_MEMEXT_GET_STATS_FD, 0);

	TEST_ASSERT(fd >= 0, "KVM_MEMEXT_GET_STATS_FD: %s", strerror(errno));
	return fd;
}

struct ctx {
	int dev;
	int handle;
	int stats;
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	void *hva;
};

static void guest_loop(void)
{
	for (;;)
		GUEST_SYNC(0);
}

static void ctx_init(struct ctx *c)
{
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_STATS));
	c->dev = memext_open();
	c->vm = vm_create_with_one_vcpu(&c->vcpu, guest_loop);
	c->handle = memext_bind(c->dev, c->vm->fd);
	c->stats = get_stats_fd(c->handle);
	c->hva = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(c->hva != MAP_FAILED, "mmap");
	vm_set_user_memory_region(c->vm, TEST_SLOT, 0, TEST_GPA,
				  NR_PAGES / 2 * PAGE_SIZE, c->hva);
}

static void ctx_free(struct ctx *c)
{
	close(c->stats);
	close(c->handle);
	kvm_vm_free(c->vm);
	munmap(c->hva, NR_PAGES * PAGE_SIZE);
	close(c->dev);
}

static int batch(struct ctx *c, uint32_t slot, uint64_t gpa, uint64_t size,
		 void *hva)
{
	struct kvm_memext_memslot e = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	struct kvm_memext_set_memslots args = {
		.nr_entries = 1, .entries = (uintptr_t)&e,
	};

	return ioctl(c->handle, KVM_MEMEXT_SET_MEMSLOTS, &args);
}

/* Every statistic KVM's readers would see, with its type and unit. */
static const struct {
	const char *name;
	uint32_t flags;
	int16_t exponent;
	uint16_t size;
} expected[] = {
	{ "batches", KVM_STATS_TYPE_CUMULATIVE, 0, 1 },
	{ "batch_failures", KVM_STATS_TYPE_CUMULATIVE, 0, 1 },
	{ "batch_park_time", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS, -9, 1 },
	{ "batch_blackout_max", KVM_STATS_TYPE_PEAK | KVM_STATS_UNIT_SECONDS, -9, 1 },
	{ "batch_blackout_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -6, 32 },
	{ "runstate_areas", KVM_STATS_TYPE_INSTANT, 0, 1 },
	{ "caches", KVM_STATS_TYPE_INSTANT, 0, 1 },
	{ "privmem_pages", KVM_STATS_TYPE_INSTANT, 0, 1 },
	{ "privmem_tlb_flushes", KVM_STATS_TYPE_CUMULATIVE, 0, 1 },
};

static void test_layout(void)
{
	const struct kvm_stats_desc *d;
	struct stats s = {}, t = {};
	struct ctx c;
	size_t off;
	ssize_t n;
	unsigned int i;

	ctx_init(&c);
	stats_read(c.stats, &s);
	TEST_ASSERT(!strncmp(s.buf + s.h.id_offset, "kvm_memext-", 11),
		    "id %s", s.buf + s.h.id_offset);
	for (i = 0; i < ARRAY_SIZE(expected); i++) {
		d = stats_find(&s, expected[i].name);
		TEST_ASSERT(d->flags == expected[i].flags &&
			    d->exponent == expected[i].exponent &&
			    d->size == expected[i].size,
			    "%s: flags %#x exponent %d size %u", d->name, d->flags,
			    d->exponent, d->size);
	}

	/* Read in odd pieces with read(): the same bytes as one pread(). */
	t.buf = calloc(1, s.size);
	TEST_ASSERT(t.buf, "calloc");
	for (off = 0; off < s.size; off += n) {
		n = read(c.stats, t.buf + off, 7);
		TEST_ASSERT(n > 0, "read at %zu: %zd", off, n);
	}
	TEST_ASSERT(read(c.stats, t.buf, 1) == 0, "read past the end");
	TEST_ASSERT(!memcmp(s.buf, t.buf, s.h.data_offset),
		    "pieces differ from the whole");
	ksft_print_msg("%u statistics, %zu bytes, id %s\n", s.h.num_desc, s.size,
		       s.buf + s.h.id_offset);
	free(t.buf);
	stats_free(&s);
	ctx_free(&c);
}

static void run_once(struct ctx *c)
{
	struct ucall uc;

	vcpu_run(c->vcpu);
	TEST_ASSERT(get_ucall(c->vcpu, &uc) == UCALL_SYNC, "exit %s",
		    exit_reason_str(c->vcpu->run->exit_reason));
}

static void test_batch_counters(void)
{
	uint64_t batches, entries, failures, parked, hist;
	void *second = NULL;
	struct ctx c;

	ctx_init(&c);
	run_once(&c);
	batches = stat_get(c.stats, "batches");
	entries = stat_get(c.stats, "batch_entries");
	failures = stat_get(c.stats, "batch_failures");
	parked = stat_get(c.stats, "batch_vcpus_parked");
	hist = stat_get(c.stats, "batch_blackout_hist");
	TEST_ASSERT(!batches && !failures && !hist, "a new handle counts %lu %lu %lu",
		    batches, failures, hist);

	second = (char *)c.hva + NR_PAGES / 2 * PAGE_SIZE;
	TEST_ASSERT(!batch(&c, NEW_SLOT, TEST_GPA + NR_PAGES * PAGE_SIZE,
			   NR_PAGES / 2 * PAGE_SIZE, second),
		    "batch: %s", strerror(errno));
	TEST_ASSERT(stat_get(c.stats, "batches") == batches + 1 &&
		    stat_get(c.stats, "batch_entries") == entries + 1 &&
		    stat_get(c.stats, "batch_failures") == failures,
		    "after a batch: batches %lu entries %lu failures %lu",
		    stat_get(c.stats, "batches"), stat_get(c.stats, "batch_entries"),
		    stat_get(c.stats, "batch_failures"));
	TEST_ASSERT(stat_get(c.stats, "batch_vcpus_parked") == parked + 1,
		    "vCPUs stopped %lu", stat_get(c.stats, "batch_vcpus_parked"));
	TEST_ASSERT(stat_get(c.stats, "batch_blackout_hist") == hist + 1 &&
		    stat_get(c.stats, "batch_blackout_max") > 0 &&
		    stat_get(c.stats, "batch_park_time") > 0,
		    "blackout samples %lu, max %lu ns, park %lu ns",
		    stat_get(c.stats, "batch_blackout_hist"),
		    stat_get(c.stats, "batch_blackout_max"),
		    stat_get(c.stats, "batch_park_time"));

	/* Refused while validating: a failure, nothing rolled back. */
	TEST_ASSERT_ERRNO(batch(&c, NEW_SLOT + 1, TEST_GPA, PAGE_SIZE, c.hva),
			  EEXIST, "overlapping batch");
	TEST_ASSERT(stat_get(c.stats, "batches") == batches + 2 &&
		    stat_get(c.stats, "batch_failures") == failures + 1 &&
		    !stat_get(c.stats, "batch_rollbacks") &&
		    !stat_get(c.stats, "batch_timeouts"),
		    "after a refused batch: batches %lu failures %lu rollbacks %lu",
		    stat_get(c.stats, "batches"), stat_get(c.stats, "batch_failures"),
		    stat_get(c.stats, "batch_rollbacks"));

	/* Refused by KVM when applied (not a user address): rolled back. */
	TEST_ASSERT_ERRNO(batch(&c, NEW_SLOT + 1, TEST_GPA + 64 * PAGE_SIZE,
				PAGE_SIZE, (void *)(1ul << 63)),
			  EINVAL, "batch KVM refuses");
	TEST_ASSERT(stat_get(c.stats, "batches") == batches + 3 &&
		    stat_get(c.stats, "batch_failures") == failures + 2 &&
		    stat_get(c.stats, "batch_rollbacks") == 1,
		    "after a rollback: batches %lu failures %lu rollbacks %lu",
		    stat_get(c.stats, "batches"), stat_get(c.stats, "batch_failures"),
		    stat_get(c.stats, "batch_rollbacks"));
	run_once(&c);
	ctx_free(&c);
}

static void test_runstate_counters(void)
{
	struct kvm_memext_runstate a = {
		.gpa = TEST_GPA + PAGE_SIZE - 8,	/* straddles two pages */
		.size = sizeof(struct kvm_memext_runstate_area),
	};
	uint64_t writes;
	struct ctx c;
	int i;

	ctx_init(&c);
	a.vcpu_fd = c.vcpu->fd;
	TEST_ASSERT(!stat_get(c.stats, "runstate_areas") && !stat_get(c.stats, "caches"),
		    "areas or caches before any");
	TEST_ASSERT(!ioctl(c.handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a),
		    "RUNSTATE_ATTACH: %s", strerror(errno));
	TEST_ASSERT(stat_get(c.stats, "runstate_areas") == 1 &&
		    stat_get(c.stats, "caches") == 1 &&
		    stat_get(c.stats, "cache_refreshes") >= 1,
		    "attached: areas %lu caches %lu refreshes %lu",
		    stat_get(c.stats, "runstate_areas"), stat_get(c.stats, "caches"),
		    stat_get(c.stats, "cache_refreshes"));
	writes = stat_get(c.stats, "runstate_writes");
	for (i = 0; i < 5; i++) {
		run_once(&c);
		usleep(1000);
	}
	TEST_ASSERT(stat_get(c.stats, "runstate_writes") > writes,
		    "runstate writes %lu -> %lu", writes,
		    stat_get(c.stats, "runstate_writes"));

	/* Moving its memory invalidates the cache. */
	TEST_ASSERT(!madvise(c.hva, PAGE_SIZE, MADV_DONTNEED), "madvise");
	TEST_ASSERT(stat_get(c.stats, "cache_invalidations") >= 1,
		    "no invalidation counted");

	TEST_ASSERT(!ioctl(c.handle, KVM_MEMEXT_RUNSTATE_DETACH,
			   &(struct kvm_memext_runstate){ .vcpu_fd = c.vcpu->fd }),
		    "RUNSTATE_DETACH: %s", strerror(errno));
	TEST_ASSERT(!stat_get(c.stats, "runstate_areas") && !stat_get(c.stats, "caches"),
		    "detached: areas %lu caches %lu", stat_get(c.stats, "runstate_areas"),
		    stat_get(c.stats, "caches"));
	ctx_free(&c);
}

static void test_privmem_counters(void)
{
	struct kvm_memext_privmem_access acc = {
		.offset = 0, .len = PAGE_SIZE, .flags = KVM_MEMEXT_PRIVMEM_ACCESSIBLE,
	};
	uint64_t flushes, shown;
	struct ctx c;
	uint8_t *p;
	int fd;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	ctx_init(&c);
	TEST_ASSERT(!stat_get(c.stats, "privmem_files"), "files before any");
	fd = memext_create_privmem(c.dev, PM_SIZE, 0);
	p = mmap(NULL, PM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	vm_set_user_memory_region(c.vm, PM_SLOT, 0, PM_GPA, PM_SIZE, p);
	p[0] = 1;
	p[PM_SIZE - 1] = 1;
	TEST_ASSERT(stat_get(c.stats, "privmem_files") == 1 &&
		    stat_get(c.stats, "privmem_pages") == PM_SIZE / PAGE_SIZE &&
		    stat_get(c.stats, "privmem_faults") >= 2 &&
		    stat_get(c.stats, "privmem_pages_hidden") >= PM_SIZE / PAGE_SIZE,
		    "files %lu pages %lu faults %lu hidden %lu",
		    stat_get(c.stats, "privmem_files"), stat_get(c.stats, "privmem_pages"),
		    stat_get(c.stats, "privmem_faults"),
		    stat_get(c.stats, "privmem_pages_hidden"));

	flushes = stat_get(c.stats, "privmem_tlb_flushes");
	shown = stat_get(c.stats, "privmem_pages_shown");
	TEST_ASSERT(!ioctl(fd, KVM_MEMEXT_PRIVMEM_SET_ACCESS, &acc),
		    "SET_ACCESS: %s", strerror(errno));
	TEST_ASSERT(stat_get(c.stats, "privmem_accessible_pages") == 1 &&
		    stat_get(c.stats, "privmem_pages_shown") > shown &&
		    stat_get(c.stats, "privmem_tlb_flushes") > flushes,
		    "accessible %lu shown %lu -> %lu flushes %lu -> %lu",
		    stat_get(c.stats, "privmem_accessible_pages"), shown,
		    stat_get(c.stats, "privmem_pages_shown"), flushes,
		    stat_get(c.stats, "privmem_tlb_flushes"));

	vm_set_user_memory_region(c.vm, PM_SLOT, 0, PM_GPA, 0, p);
	munmap(p, PM_SIZE);
	close(fd);
	TEST_ASSERT(!stat_get(c.stats, "privmem_files") && !stat_get(c.stats, "privmem_pages"),
		    "closed: files %lu pages %lu", stat_get(c.stats, "privmem_files"),
		    stat_get(c.stats, "privmem_pages"));
	ctx_free(&c);
}

/* debugfs: kvm_memext/<pid>-<fd>/<statistic>, the same numbers as text. */
static void test_debugfs(void)
{
	char dir[64], path[128], line[1024], *end;
	const struct kvm_stats_desc *d;
	struct stats s = {};
	unsigned int i, j;
	uint64_t v;
	FILE *f;
	struct ctx c;

	ctx_init(&c);
	snprintf(dir, sizeof(dir), "/sys/kernel/debug/kvm_memext/%d-%d",
		 getpid(), c.handle);
	__TEST_REQUIRE(!access("/sys/kernel/debug/kvm_memext", F_OK),
		       "debugfs not mounted");
	run_once(&c);
	TEST_ASSERT(!batch(&c, NEW_SLOT, TEST_GPA + NR_PAGES * PAGE_SIZE,
			   PAGE_SIZE, (char *)c.hva + NR_PAGES / 2 * PAGE_SIZE),
		    "batch: %s", strerror(errno));

	stats_read(c.stats, &s);
	for (i = 0; i < s.h.num_desc; i++) {
		d = stats_desc(&s, i);
		snprintf(path, sizeof(path), "%s/%s", dir, d->name);
		f = fopen(path, "r");
		TEST_ASSERT(f, "%s: %s", path, strerror(errno));
		TEST_ASSERT(fgets(line, sizeof(line), f), "%s empty", path);
		fclose(f);
		end = line;
		for (j = 0; j < d->size; j++) {
			errno = 0;
			v = strtoull(end, &end, 10);
			TEST_ASSERT(!errno && v == stats_data(&s, d)[j],
				    "%s[%u]: debugfs %lu, stats fd %lu", d->name, j,
				    v, stats_data(&s, d)[j]);
		}
		TEST_ASSERT(*end == '\n', "%s: trailing \"%s\"", path, end);
	}
	ksft_print_msg("%s: %u files agree with the stats fd\n", dir, s.h.num_desc);
	stats_free(&s);

	/* The directory goes with the handle (and the stats fd holding it). */
	ctx_free(&c);
	TEST_ASSERT(access(dir, F_OK) && errno == ENOENT, "%s still there", dir);
}

static void test_bad_args(void)
{
	struct stats s = {};
	struct ctx c;
	char byte = 0;
	int fd;

	ctx_init(&c);
	TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_GET_STATS_FD, 1), EINVAL,
			  "GET_STATS_FD with an argument");
	TEST_ASSERT_ERRNO(ioctl(c.dev, KVM_MEMEXT_GET_STATS_FD, 0), ENOTTY,
			  "GET_STATS_FD on the device");
	TEST_ASSERT_ERRNO(ioctl(c.stats, KVM_MEMEXT_GET_STATS_FD, 0), ENOTTY,
			  "GET_STATS_FD on a stats fd");
	TEST_ASSERT_ERRNO(write(c.stats, &byte, 1), EBADF, "write to a stats fd");
	TEST_ASSERT(fcntl(c.stats, F_GETFD) & FD_CLOEXEC, "stats fd not O_CLOEXEC");
	TEST_ASSERT((fcntl(c.stats, F_GETFL) & O_ACCMODE) == O_RDONLY,
		    "stats fd not read-only");

	/*
	 * A stats fd outlives the handle and keeps reading its last counts,
	 * but does not hold it: the VM can be bound again at once.
	 */
	fd = get_stats_fd(c.handle);
	TEST_ASSERT(!batch(&c, NEW_SLOT, TEST_GPA + NR_PAGES * PAGE_SIZE,
			   PAGE_SIZE, (char *)c.hva + NR_PAGES / 2 * PAGE_SIZE),
		    "batch: %s", strerror(errno));
	close(c.handle);
	c.handle = memext_bind(c.dev, c.vm->fd);
	TEST_ASSERT(stat_get(fd, "batches") == 1, "old handle's batches %lu",
		    stat_get(fd, "batches"));
	stats_read(fd, &s);
	stats_free(&s);
	close(fd);
	ctx_free(&c);
}

static bool vcpu_stop;

static void *vcpu_loop(void *arg)
{
	struct ctx *c = arg;

	while (!READ_ONCE(vcpu_stop))
		run_once(c);
	return NULL;
}

/* Start the tool; returns the read end of its standard output. */
static int run_tool(const char *tool, char *const argv[], pid_t *pid)
{
	int fds[2];

	TEST_ASSERT(!pipe(fds), "pipe");
	*pid = fork();
	TEST_ASSERT(*pid >= 0, "fork");
	if (!*pid) {
		dup2(fds[1], STDOUT_FILENO);
		execv(tool, argv);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/* All the tool printed, NUL-terminated, once it exited successfully. */
static char *tool_output(int fd, pid_t pid)
{
	int status;
	size_t size = 1 << 16, len = 0;
	char *buf = malloc(size);
	ssize_t n;

	TEST_ASSERT(buf, "malloc");
	while ((n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "kvm_memext_stat failed: %#x, output:\n%s",
		    status, buf);
	return buf;
}

/*
 * tools/kvm_memext_stat in batch mode against this VM while its vCPU runs
 * and batches go on: three samples a second apart, each with the handle's
 * selected statistics, values rising, rates after the first.
 */
static void test_stat_tool(void)
{
	const char *tool = getenv("KVM_MEMEXT_STAT");
	char pid[16], handle[32], name[64], *out, *line, *save;
	uint64_t value, first = 0, last = 0, batches = 0;
	unsigned int samples = 0, lines = 0;
	struct timespec t0, t1;
	pthread_t thread;
	double rate;
	struct ctx c;
	pid_t child;
	void *second;
	int fd;

	/* The test harness's copy, else kvm-memext-tools' one. */
	if (!tool)
		tool = access("./kvm_memext_stat", X_OK) ? "/usr/bin/kvm_memext_stat" :
							  "./kvm_memext_stat";
	__TEST_REQUIRE(!access(tool, X_OK), "no kvm_memext_stat");
	__TEST_REQUIRE(!access("/sys/kernel/debug/kvm_memext", F_OK),
		       "debugfs not mounted");
	ctx_init(&c);
	second = (char *)c.hva + NR_PAGES / 2 * PAGE_SIZE;
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(handle, sizeof(handle), "%d-%d", getpid(), c.handle);

	/* -l: the handle and this process's name. */
	fd = run_tool(tool, (char *[]){ (char *)tool, "-l", NULL }, &child);
	out = tool_output(fd, child);
	snprintf(name, sizeof(name), "%s stats_test\n", handle);
	TEST_ASSERT(strstr(out, name), "-l lacks \"%s\":\n%s", handle, out);
	free(out);

	pthread_create(&thread, NULL, vcpu_loop, &c);
	fd = run_tool(tool, (char *[]){ (char *)tool, "-b", "-n", "3", "-d",
		      "1", "-p", pid, "-f", "^batch(es|_entries)$", NULL },
		      &child);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		TEST_ASSERT(!batch(&c, NEW_SLOT, TEST_GPA + NR_PAGES * PAGE_SIZE,
				   NR_PAGES / 2 * PAGE_SIZE, second) &&
			    !batch(&c, NEW_SLOT, 0, 0, second),
			    "batch: %s", strerror(errno));
		batches += 2;
		usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec < 3);
	out = tool_output(fd, child);
	WRITE_ONCE(vcpu_stop, true);
	pthread_join(thread, NULL);

	/* "<handle> <statistic> <value> <rate>", a blank line per sample. */
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char h[32], stat[64];

		TEST_ASSERT(sscanf(line, "%31s %63s %lu %lf", h, stat, &value,
				   &rate) == 4, "bad line \"%s\"", line);
		TEST_ASSERT(!strcmp(h, handle), "line of another handle: %s", line);
		lines++;
		if (strcmp(stat, "batches"))
			continue;
		TEST_ASSERT(value >= last, "batches went down: %s", line);
		TEST_ASSERT(samples ? rate > 0 : rate == 0,
			    "sample %u: rate in \"%s\"", samples, line);
		if (!samples)
			first = value;
		last = value;
		samples++;
	}
	TEST_ASSERT(samples == 3 && lines == 6, "%u samples, %u lines", samples,
		    lines);
	TEST_ASSERT(last > first && last <= batches &&
		    last <= stat_get(c.stats, "batches"),
		    "batches %lu .. %lu of %lu", first, last, batches);
	ksft_print_msg("kvm_memext_stat saw batches %lu -> %lu of %lu\n", first,
		       last, batches);
	free(out);
	ctx_free(&c);
}

int main(int argc, char *argv[])
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_layout),
		MEMEXT_TEST(test_batch_counters),
		MEMEXT_TEST(test_runstate_counters),
		MEMEXT_TEST(test_privmem_counters),
		MEMEXT_TEST(test_debugfs),
		MEMEXT_TEST(test_bad_args),
		MEMEXT_TEST(test_stat_tool),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
