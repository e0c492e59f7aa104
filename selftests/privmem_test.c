// SPDX-License-Identifier: GPL-2.0
/*
 * Private memory (KVM_MEMEXT_CREATE_PRIVMEM): the file's behaviour, its
 * pages out of the direct map in 2 MiB pieces, GUP refused on every path,
 * its limits and accounting for unprivileged tenants, and guests running
 * from it, on every kernel of the matrix.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/uio.h>
#include <linux/falloc.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "svm_util.h"
#include "memext_compat.h"
#include "memext_util.h"

#define CHUNK		(2UL << 20)
#define DATA_SLOT	1
#define DATA_GPA	0x10000000UL
#define DATA_SIZE	(4 * CHUNK)
#define MAX_MB_PARAM	"/sys/module/kvm_memext/parameters/privmem_max_mb"

static int open_privmem_dev(void)
{
	int dev = memext_open();

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	return dev;
}

static void *map(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap privmem: %s", strerror(errno));
	return p;
}

#define meminfo_kb(name)	memext_proc_kb("/proc/meminfo", name)
#define status_kb(name)		memext_proc_kb("/proc/self/status", name)

/* CREATE_PRIVMEM arguments refused with EINVAL. */
static const struct {
	const char *what;
	struct kvm_memext_create_privmem args;
} bad_create[] = {
	{ "size 0", { .size = 0 } },
	{ "unaligned size", { .size = PAGE_SIZE + 1 } },
	{ "huge size", { .size = 1ULL << 63 } },
	{ "unknown flag", { .size = CHUNK, .flags = 1ULL << 1 } },
	{ "unknown high flag", { .size = CHUNK, .flags = 1ULL << 63 } },
	{ "reserved[0]", { .size = CHUNK, .reserved[0] = 1 } },
	{ "reserved[5]", { .size = CHUNK, .reserved[5] = 1ULL << 63 } },
};

/* The struct's first version, 16 bytes, under its own ioctl number. */
#define CREATE_PRIVMEM_V0	_IOC(_IOC_WRITE, KVM_MEMEXT_IO, 0x03, 16)

static void test_create_bad_args(void)
{
	int dev = open_privmem_dev();
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_create); i++)
		TEST_ASSERT_ERRNO(ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM,
					&bad_create[i].args),
				  EINVAL, bad_create[i].what);
	TEST_ASSERT_ERRNO(ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, (void *)8), EFAULT,
			  "bad pointer");
	close(dev);
}

/*
 * A binary built before the reserved words: its 16-byte struct, followed
 * by bytes that must not be read as reserved words, still works.
 */
static void test_create_v0(void)
{
	uint64_t v0[8] = { CHUNK, 0, 1, 1, 1, 1, 1, 1 };
	int dev = open_privmem_dev(), fd;
	struct stat st;

	fd = ioctl(dev, CREATE_PRIVMEM_V0, v0);
	TEST_ASSERT(fd >= 0, "CREATE_PRIVMEM of 16 bytes: %s", strerror(errno));
	TEST_ASSERT(!fstat(fd, &st) && st.st_size == CHUNK, "size %ld",
		    (long)st.st_size);
	close(fd);
	v0[1] = 1ULL << 1;
	TEST_ASSERT_ERRNO(ioctl(dev, CREATE_PRIVMEM_V0, v0), EINVAL,
			  "unknown flag of the 16-byte struct");
	close(dev);
}

static void test_file_ops(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);
	long pages = memext_stat("pages");
	struct stat st;
	uint8_t *p;
	char c;

	/* Separate calls: the message's arguments may be read before e. */
	TEST_ASSERT(!fstat(fd, &st), "fstat");
	TEST_ASSERT(st.st_size == CHUNK && S_ISREG(st.st_mode),
		    "fstat: size %ld mode %o", (long)st.st_size, st.st_mode);
	TEST_ASSERT_ERRNO(read(fd, &c, 1), EINVAL, "read()");
	TEST_ASSERT_ERRNO(write(fd, &c, 1), EINVAL, "write()");
	TEST_ASSERT(mmap(NULL, CHUNK, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED &&
		    errno == EINVAL, "MAP_PRIVATE must fail with EINVAL");
	TEST_ASSERT_ERRNO(ftruncate(fd, CHUNK + 1), EINVAL, "unaligned ftruncate");
	TEST_ASSERT_ERRNO(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, CHUNK),
			  EOPNOTSUPP, "collapse range");
	TEST_ASSERT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, CHUNK),
			  EOPNOTSUPP, "punch without KEEP_SIZE");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 1, PAGE_SIZE), EINVAL, "unaligned fallocate");

	/* Grow by fallocate; allocation shows in the statistics and st_blocks. */
	TEST_ASSERT(!fallocate(fd, 0, 0, 2 * CHUNK), "fallocate: %s", strerror(errno));
	TEST_ASSERT(!fstat(fd, &st), "fstat");
	TEST_ASSERT(st.st_size == 2 * CHUNK && st.st_blocks == 2 * CHUNK / 512,
		    "size %ld blocks %ld", (long)st.st_size, (long)st.st_blocks);
	TEST_ASSERT(memext_stat("pages") - pages == 2 * CHUNK / PAGE_SIZE, "pages %ld -> %ld",
		    pages, memext_stat("pages"));
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 * CHUNK), "KEEP_SIZE");
	TEST_ASSERT(!fstat(fd, &st) && st.st_size == 2 * CHUNK, "KEEP_SIZE grew the file");

	/* Data lives; a punched range reads back as zeros. */
	p = map(fd, 2 * CHUNK);
	memset(p, 0xab, 2 * CHUNK);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       CHUNK / 2, CHUNK), "punch: %s", strerror(errno));
	TEST_ASSERT(p[CHUNK / 2 - 1] == 0xab && p[CHUNK / 2] == 0 &&
		    p[CHUNK + CHUNK / 2 - 1] == 0 && p[CHUNK + CHUNK / 2] == 0xab,
		    "punch hole: %x %x %x %x", p[CHUNK / 2 - 1], p[CHUNK / 2],
		    p[CHUNK + CHUNK / 2 - 1], p[CHUNK + CHUNK / 2]);

	/* Shrink, then grow: the old tail is gone. */
	TEST_ASSERT(!ftruncate(fd, PAGE_SIZE), "shrink: %s", strerror(errno));
	TEST_ASSERT(!ftruncate(fd, 2 * CHUNK), "grow: %s", strerror(errno));
	TEST_ASSERT(p[0] == 0xab && p[PAGE_SIZE] == 0 && p[2 * CHUNK - 1] == 0,
		    "after truncate: %x %x %x", p[0], p[PAGE_SIZE], p[2 * CHUNK - 1]);

	munmap(p, 2 * CHUNK);
	close(fd);
	TEST_ASSERT(memext_stat("pages") == pages, "pages leaked: %ld -> %ld", pages,
		    memext_stat("pages"));
	close(dev);
}

static bool memchr_nonzero(const uint8_t *p, size_t len)
{
	while (len--) {
		if (*p++)
			return true;
	}
	return false;
}

/*
 * 2 MiB chunks leave the direct map without splitting it into 4 KiB
 * entries, at one TLB flush per chunk; 4 KiB pages (the control, first,
 * while unsplit memory is plentiful) split it.
 */
static void test_direct_map_chunks(void)
{
	int dev = open_privmem_dev(), fd;
	long dm4k, flushes, fallbacks, chunks;
	size_t size = 32 * CHUNK;

	__TEST_REQUIRE(meminfo_kb("DirectMap4k") >= 0, "no DirectMap4k in /proc/meminfo");
	dm4k = meminfo_kb("DirectMap4k");
	fd = memext_create_privmem(dev, 8 * CHUNK, KVM_MEMEXT_PRIVMEM_NO_HUGE);
	TEST_ASSERT(!fallocate(fd, 0, 0, 8 * CHUNK), "fallocate: %s", strerror(errno));
	ksft_print_msg("4 KiB pages: DirectMap4k %ld -> %ld kB\n", dm4k,
		       meminfo_kb("DirectMap4k"));
	TEST_ASSERT(meminfo_kb("DirectMap4k") > dm4k,
		    "4 KiB pages did not split the direct map: the counter tells nothing");
	close(fd);

	dm4k = meminfo_kb("DirectMap4k");
	flushes = memext_stat("tlb_flushes");
	fallbacks = memext_stat("fallbacks");
	chunks = memext_stat("huge_chunks");
	fd = memext_create_privmem(dev, size, 0);
	TEST_ASSERT(!fallocate(fd, 0, 0, size), "fallocate: %s", strerror(errno));
	TEST_ASSERT(memext_stat("fallbacks") == fallbacks &&
		    memext_stat("huge_chunks") - chunks == 32,
		    "expected 32 huge chunks: %ld, fallbacks %ld",
		    memext_stat("huge_chunks") - chunks, memext_stat("fallbacks") - fallbacks);
	TEST_ASSERT(memext_stat("tlb_flushes") - flushes == 32,
		    "%ld TLB flushes for 32 chunks", memext_stat("tlb_flushes") - flushes);
	ksft_print_msg("2 MiB chunks: DirectMap4k %ld -> %ld kB\n", dm4k,
		       meminfo_kb("DirectMap4k"));
	TEST_ASSERT(meminfo_kb("DirectMap4k") == dm4k,
		    "DirectMap4k grew from %ld to %ld kB", dm4k, meminfo_kb("DirectMap4k"));
	close(fd);
	ksft_print_msg("2 MiB chunks freed: DirectMap4k %ld kB, CPA splits so far %ld\n",
		       meminfo_kb("DirectMap4k"), memext_stat("cpa_splits"));
	TEST_ASSERT(meminfo_kb("DirectMap4k") == dm4k,
		    "freeing 2 MiB chunks split the direct map: DirectMap4k %ld -> %ld kB",
		    dm4k, meminfo_kb("DirectMap4k"));
	close(dev);
}

/* Every way of reaching user pages through GUP fails cleanly on privmem. */
static void check_gup(uint8_t *buf, bool expect_ok)
{
	struct iovec local, remote;
	int fd, pipefd[2];
	uint8_t *tmp;
	ssize_t r;

	tmp = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(tmp != MAP_FAILED, "mmap");

	local = (struct iovec){ tmp, PAGE_SIZE };
	remote = (struct iovec){ buf, PAGE_SIZE };
	r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EFAULT,
		    "process_vm_readv: %zd %s", r, strerror(errno));
	r = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EFAULT,
		    "process_vm_writev: %zd %s", r, strerror(errno));

	fd = open("/proc/self/mem", O_RDWR);
	TEST_ASSERT(fd >= 0, "open /proc/self/mem");
	r = pread(fd, tmp, PAGE_SIZE, (off_t)(uintptr_t)buf);
	TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EIO,
		    "/proc/self/mem read: %zd %s", r, strerror(errno));
	r = pwrite(fd, tmp, PAGE_SIZE, (off_t)(uintptr_t)buf);
	TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EIO,
		    "/proc/self/mem write: %zd %s", r, strerror(errno));
	close(fd);

	/* vmsplice pins the pages for the pipe, as vhost would for a ring. */
	TEST_ASSERT(!pipe(pipefd), "pipe");
	remote = (struct iovec){ buf, PAGE_SIZE };
	r = vmsplice(pipefd[1], &remote, 1, 0);
	TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EFAULT,
		    "vmsplice: %zd %s", r, strerror(errno));
	close(pipefd[0]);
	close(pipefd[1]);

	/* O_DIRECT: the block layer pins the buffer. */
	fd = open("/dev/ram0", O_RDONLY | O_DIRECT);
	if (fd >= 0) {
		r = pread(fd, buf, PAGE_SIZE, 0);
		TEST_ASSERT(expect_ok ? r == PAGE_SIZE : r == -1 && errno == EFAULT,
			    "O_DIRECT read: %zd %s", r, strerror(errno));
		close(fd);
	} else {
		ksft_print_msg("no /dev/ram0: O_DIRECT not tried\n");
	}
}

static void check_ptrace(uint8_t *buf, bool expect_ok)
{
	pid_t parent = getpid(), pid;
	int status;

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		long word;
		bool ok;

		if (ptrace(PTRACE_ATTACH, parent, 0, 0))
			_exit(2);
		waitpid(parent, &status, __WALL);
		errno = 0;
		word = ptrace(PTRACE_PEEKDATA, parent, buf, 0);
		ok = expect_ok ? !errno && word == *(long *)buf : errno == EIO;
		ptrace(PTRACE_DETACH, parent, 0, 0);
		_exit(ok ? 0 : 1);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status),
		    "ptrace child");
	TEST_ASSERT(WEXITSTATUS(status) == 0, "ptrace peek (%s memory): child exit %d",
		    expect_ok ? "anonymous" : "private", WEXITSTATUS(status));
}

static void test_gup_refused(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);
	uint8_t *pm = map(fd, CHUNK), *anon;

	anon = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(anon != MAP_FAILED, "mmap anon");
	memset(pm, 0x5a, CHUNK);
	memset(anon, 0x5a, CHUNK);

	/* The same calls work on ordinary memory. */
	check_gup(anon, true);
	check_ptrace(anon, true);
	check_gup(pm, false);
	check_ptrace(pm, false);
	TEST_ASSERT(pm[0] == 0x5a && pm[CHUNK - 1] == 0x5a, "privmem changed");

	munmap(anon, CHUNK);
	munmap(pm, CHUNK);
	close(fd);
	close(dev);
}

/* Another process (here a child) can neither map nor change the file. */
static void test_other_process(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0), status;
	uint8_t *pm = map(fd, CHUNK);
	pid_t pid;

	pm[0] = 1;
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		unsigned char vec;

		if (mmap(NULL, CHUNK, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED ||
		    errno != EPERM)
			_exit(1);
		if (__memext_set_access(fd, 0, PAGE_SIZE, KVM_MEMEXT_PRIVMEM_ACCESSIBLE) != -1 ||
		    errno != EPERM)
			_exit(2);
		if (fallocate(fd, 0, 0, PAGE_SIZE) != -1 || errno != EPERM)
			_exit(4);
		if (ftruncate(fd, PAGE_SIZE) != -1 || errno != EPERM)
			_exit(5);
		/* The parent's mapping is not inherited. */
		if (mincore(pm, PAGE_SIZE, &vec) != -1 || errno != ENOMEM)
			_exit(3);
		_exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0, "child: status %#x", status);
	munmap(pm, CHUNK);
	close(fd);
	close(dev);
}

/* SET_ACCESS arguments refused with EINVAL, on a file of two chunks. */
static const struct {
	const char *what;
	struct kvm_memext_privmem_access args;
} bad_access[] = {
	{ "unknown flag", { .len = PAGE_SIZE, .flags = 1U << 1 } },
	{ "nonzero pad", { .len = PAGE_SIZE, .flags = 1, .pad = 1 } },
	{ "unaligned offset", { .offset = 1, .len = PAGE_SIZE, .flags = 1 } },
	{ "unaligned length", { .len = 1, .flags = 1 } },
	{ "zero length", { .len = 0, .flags = 1 } },
	{ "beyond the end", { .offset = CHUNK, .len = 2 * CHUNK, .flags = 1 } },
	{ "overflow", { .offset = -PAGE_SIZE, .len = 2 * PAGE_SIZE, .flags = 1 } },
	{ "drop without take", { .len = PAGE_SIZE } },
};

static void test_set_access(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, 2 * CHUNK, 0);
	long acc = memext_stat("accessible_pages");
	uint8_t *pm = map(fd, 2 * CHUNK);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_access); i++)
		TEST_ASSERT_ERRNO(ioctl(fd, KVM_MEMEXT_PRIVMEM_SET_ACCESS,
					&bad_access[i].args),
				  EINVAL, bad_access[i].what);
	TEST_ASSERT_ERRNO(ioctl(fd, KVM_MEMEXT_PRIVMEM_SET_ACCESS, (void *)8), EFAULT,
			  "bad pointer");
	TEST_ASSERT(memext_stat("accessible_pages") == acc, "bad calls changed the counts");

	/* Nested and overlapping ranges, on allocated and unallocated pages. */
	memset(pm, 0x11, CHUNK);
	memext_set_access(fd, 0, 4 * PAGE_SIZE, true);
	memext_set_access(fd, 2 * PAGE_SIZE, 4 * PAGE_SIZE, true);
	memext_set_access(fd, CHUNK - PAGE_SIZE, 2 * PAGE_SIZE, true);
	TEST_ASSERT(memext_stat("accessible_pages") - acc == 6 + 2, "accessible %ld",
		    memext_stat("accessible_pages") - acc);
	/* Dropping more than was taken fails and changes nothing. */
	TEST_ASSERT_ERRNO(__memext_set_access(fd, 0, 8 * PAGE_SIZE, 0), EINVAL, "over-drop");
	memext_set_access(fd, 0, 4 * PAGE_SIZE, false);
	TEST_ASSERT(memext_stat("accessible_pages") - acc == 4 + 2, "accessible %ld",
		    memext_stat("accessible_pages") - acc);
	memset(pm + CHUNK, 0x22, CHUNK);
	TEST_ASSERT(pm[0] == 0x11 && pm[2 * PAGE_SIZE] == 0x11 && pm[CHUNK] == 0x22,
		    "contents changed");
	memext_set_access(fd, 2 * PAGE_SIZE, 4 * PAGE_SIZE, false);
	/* A truncated file drops the counts of what it lost. */
	TEST_ASSERT(!ftruncate(fd, CHUNK), "truncate");
	TEST_ASSERT(memext_stat("accessible_pages") - acc == 1, "accessible %ld after truncate",
		    memext_stat("accessible_pages") - acc);
	munmap(pm, 2 * CHUNK);
	close(fd);
	TEST_ASSERT(memext_stat("accessible_pages") == acc, "accessible pages leaked");
	close(dev);
}

static void test_limit(void)
{
	int dev = open_privmem_dev(), fd;
	long pages = memext_stat("pages");
	char old[32] = "";
	FILE *f = fopen(MAX_MB_PARAM, "r+");
	struct stat st;

	TEST_ASSERT(f && fgets(old, sizeof(old), f), "read " MAX_MB_PARAM);
	fd = memext_create_privmem(dev, 8 * CHUNK, 0);
	rewind(f);
	fprintf(f, "%ld\n", (long)(pages * PAGE_SIZE >> 20) + 4);
	fflush(f);
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 8 * CHUNK), ENOSPC, "over the limit");
	/* A growing fallocate() that fails leaves the size as it was. */
	TEST_ASSERT(!ftruncate(fd, CHUNK), "ftruncate");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 8 * CHUNK), ENOSPC, "over the limit");
	TEST_ASSERT(!fstat(fd, &st), "fstat");
	TEST_ASSERT(st.st_size == CHUNK, "size %ld after ENOSPC", (long)st.st_size);
	rewind(f);
	fputs(old, f);
	fclose(f);
	close(fd);
	TEST_ASSERT(memext_stat("pages") == pages, "pages %ld -> %ld", pages, memext_stat("pages"));
	close(dev);
}

/* Hibernation would write the pages to disk: refused while a file exists. */
static void hit_hibernation(void *arg)
{
	int st = open("/sys/power/state", O_WRONLY);

	TEST_ASSERT(st >= 0, "open /sys/power/state");
	TEST_ASSERT_ERRNO(write(st, "disk", 4), EBUSY, "hibernation with private memory");
	close(st);
}

static void test_hibernation_refused(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);
	char states[128] = "", what[256];
	FILE *f;

	f = fopen("/sys/power/state", "r");
	if (f) {
		if (!fgets(states, sizeof(states), f))
			states[0] = 0;
		fclose(f);
	}
	__TEST_REQUIRE(strstr(states, "disk"), "no hibernation on this kernel");
	/* Should the refusal break, only go as far as freezing tasks. */
	f = fopen("/sys/power/pm_test", "w");
	__TEST_REQUIRE(f, "no /sys/power/pm_test");
	fputs("freezer\n", f);
	fclose(f);

	TEST_ASSERT(!fallocate(fd, 0, 0, CHUNK), "fallocate");
	snprintf(what, sizeof(what),
		 "privmem_test[%d]: hibernation refused while private-memory files exist (files: ",
		 getpid());
	memext_expect_log_line(hit_hibernation, NULL, what);
	close(fd);
	f = fopen("/sys/power/pm_test", "w");
	fputs("none\n", f);
	fclose(f);
	close(dev);
}

/* Guests. */

static uint64_t guest_data[512];

/* Fill guest_data (in slot 0), then sum a data slot written by the host. */
static void guest_fill_and_sum(uint64_t seed, uint64_t npages)
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

/*
 * Move slot 0 (code, stack, page tables, data) into a privmem file, mapped
 * over the old backing: the library keeps host addresses of it (ucalls).
 */
static void *slot0_to_privmem(struct kvm_vm *vm, int dev, int *pmfd)
{
	struct userspace_mem_region *region = memslot2region(vm, 0);
	uint64_t size = region->region.memory_size;
	void *copy = malloc(size), *p;

	TEST_ASSERT(copy, "malloc");
	memcpy(copy, region->host_mem, size);
	*pmfd = memext_create_privmem(dev, (size + CHUNK - 1) & ~(CHUNK - 1), 0);
	p = mmap(region->host_mem, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, *pmfd, 0);
	TEST_ASSERT(p == region->host_mem, "map privmem over slot 0: %s",
		    strerror(errno));
	memcpy(p, copy, size);
	free(copy);
	return p;
}

/* A private-memory data slot at DATA_GPA, identity-mapped for the guest. */
static uint8_t *add_data_slot_flags(struct kvm_vm *vm, int dev, int *fd,
				    uint64_t flags)
{
	uint8_t *data;

	*fd = memext_create_privmem(dev, DATA_SIZE, flags);
	data = map(*fd, DATA_SIZE);
	vm_set_user_memory_region(vm, DATA_SLOT, 0, DATA_GPA, DATA_SIZE, data);
	virt_map(vm, DATA_GPA, DATA_GPA, DATA_SIZE / PAGE_SIZE);
	return data;
}

static uint8_t *add_data_slot(struct kvm_vm *vm, int dev, int *fd)
{
	return add_data_slot_flags(vm, dev, fd, 0);
}

/* The value of the GUEST_SYNC that the vCPU's last exit must be. */
static uint64_t sync_value(struct kvm_vcpu *vcpu)
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

static void expect_sync(struct kvm_vcpu *vcpu, uint64_t want)
{
	uint64_t got;

	vcpu_run(vcpu);
	got = sync_value(vcpu);
	TEST_ASSERT(got == want, "guest reported %lu, want %lu", got, want);
}

static void expect_done(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE, "exit reason %s",
		    exit_reason_str(vcpu->run->exit_reason));
}

/* Tenants: limits, accounting and bounded work for unprivileged callers. */

static void set_rlimit(int res, uint64_t bytes)
{
	struct rlimit rl = { bytes, bytes };

	TEST_ASSERT(!setrlimit(res, &rl), "setrlimit(%d): %s", res, strerror(errno));
}

/* Run @fn in a child and expect it to exit 0. */
static void in_child(void (*fn)(void *), void *arg, const char *what)
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

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

/* Whether writing to @p raises SIGBUS. */
static bool touch_sigbus(uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool bus = false;

	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(sigbus_jmp, 1))
		WRITE_ONCE(*p, 1);
	else
		bus = true;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/*
 * SET_ACCESS over a 2^62-byte file and truncating it return at once:
 * ranges are counted as ranges, and only pages that exist cost work.
 * Counted per page index, either call never returns (soft lockup).
 */
static void test_huge_file_bounded(void)
{
	uint64_t size = 1ULL << 62;
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, size, 0);
	long acc = memext_stat("accessible_pages");
	struct timespec t0, t1;
	uint8_t *p = map(fd, CHUNK);

	p[0] = 1;
	alarm(60);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memext_set_access(fd, 0, size, true);
	TEST_ASSERT(memext_stat("accessible_pages") - acc == (long)(size / PAGE_SIZE),
		    "accessible %ld", memext_stat("accessible_pages") - acc);
	memext_set_access(fd, PAGE_SIZE, size - 2 * PAGE_SIZE, true);
	memext_set_access(fd, 0, size, false);
	TEST_ASSERT(p[0] == 1, "contents changed");
	TEST_ASSERT(!ftruncate(fd, CHUNK), "truncate: %s", strerror(errno));
	TEST_ASSERT(memext_stat("accessible_pages") - acc == CHUNK / PAGE_SIZE - 1,
		    "accessible %ld after truncate", memext_stat("accessible_pages") - acc);
	TEST_ASSERT(!ftruncate(fd, size), "grow: %s", strerror(errno));
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size),
		    "punch: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);
	ksft_print_msg("2^62-byte file: SET_ACCESS, truncate, punch in %ld ms\n",
		       (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	munmap(p, CHUNK);
	close(fd);
	TEST_ASSERT(memext_stat("accessible_pages") == acc, "accessible pages leaked");
	close(dev);
}

static void memlock_child(void *arg)
{
	int dev = open_privmem_dev(), fd;
	long pin, rss, shm;
	uint8_t *p;

	drop_caps(CAP_BIT(CAP_IPC_LOCK));
	set_rlimit(RLIMIT_MEMLOCK, 64 << 10);
	fd = memext_create_privmem(dev, 64 << 20, 0);
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 64 << 20), ENOMEM,
			  "64 MiB fallocate under a 64 KiB RLIMIT_MEMLOCK");
	TEST_ASSERT(status_kb("VmPin") == 0, "VmPin %ld kB after ENOMEM",
		    status_kb("VmPin"));
	p = map(fd, CHUNK);
	TEST_ASSERT(touch_sigbus(p), "a fault beyond RLIMIT_MEMLOCK must SIGBUS");
	munmap(p, CHUNK);

	/*
	 * Within the limit: pinned, and shared RSS where the OOM killer
	 * looks; so is the file's 2 MiB decoy.
	 */
	set_rlimit(RLIMIT_MEMLOCK, (4 << 20) + CHUNK);
	rss = status_kb("RssShmem");
	TEST_ASSERT(!fallocate(fd, 0, 0, 2 * CHUNK), "fallocate 4 MiB: %s",
		    strerror(errno));
	pin = status_kb("VmPin");
	shm = status_kb("RssShmem");
	ksft_print_msg("4 MiB allocated: VmPin %ld kB, RssShmem %ld -> %ld kB\n",
		       pin, rss, shm);
	TEST_ASSERT(pin == 4096 + 2048, "VmPin %ld kB", pin);
	/* Per-CPU RSS counters may lag by a batch of other pages. */
	TEST_ASSERT(labs(shm - rss - 6144) <= 256, "RssShmem %ld -> %ld kB", rss, shm);
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 2 * CHUNK, CHUNK), ENOMEM,
			  "one chunk over the limit");
	close(fd);
	TEST_ASSERT(status_kb("VmPin") == 0, "VmPin %ld kB after close",
		    status_kb("VmPin"));
	TEST_ASSERT(labs(shm - status_kb("RssShmem") - 6144) <= 256,
		    "RssShmem %ld -> %ld kB after close", shm, status_kb("RssShmem"));
	close(dev);
}

/* Pages are charged to the owner's RLIMIT_MEMLOCK unless CAP_IPC_LOCK. */
static void test_memlock_limit(void)
{
	in_child(memlock_child, NULL, "RLIMIT_MEMLOCK");
}

static void hit_memlock(void *arg)
{
	int fd = memext_create_privmem(*(int *)arg, 4 * CHUNK, 0);

	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 4 * CHUNK), ENOMEM,
			  "fallocate beyond RLIMIT_MEMLOCK");
	close(fd);
}

static void memlock_line_child(void *arg)
{
	int dev = open_privmem_dev();
	char what[256];

	drop_caps(CAP_BIT(CAP_IPC_LOCK));
	set_rlimit(RLIMIT_MEMLOCK, 64 << 10);
	snprintf(what, sizeof(what),
		 "privmem_test[%d]: private memory beyond the process's memlock limit (RLIMIT_MEMLOCK KiB: 64); raise it",
		 getpid());
	memext_expect_log_line(hit_memlock, &dev, what);
	close(dev);
}

static void hit_owner(void *arg)
{
	TEST_ASSERT(mmap(NULL, CHUNK, PROT_READ, MAP_SHARED, *(int *)arg, 0) ==
		    MAP_FAILED && errno == EPERM, "mmap of another's file");
}

static void owner_line_child(void *arg)
{
	int fd = *(int *)arg;
	char what[256];
	struct stat st;

	TEST_ASSERT(!fstat(fd, &st), "fstat");
	snprintf(what, sizeof(what),
		 "privmem_test[%d]: file owned by another live process (inode: %lu); map and allocate",
		 getpid(), (unsigned long)st.st_ino);
	memext_expect_log_line(hit_owner, &fd, what);
}

static void hit_ceiling(void *arg)
{
	TEST_ASSERT_ERRNO(fallocate(*(int *)arg, 0, 0, 8 * CHUNK), ENOSPC,
			  "fallocate beyond privmem_max_mb");
}

/*
 * A limit that a caller hits gives it only an errno (or SIGBUS at a
 * fault); the kernel log names the process, the limit and the fix.
 */
static void test_limit_log_lines(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, 8 * CHUNK, 0);
	char old[32] = "", what[256];
	FILE *f = fopen(MAX_MB_PARAM, "r+");
	uint8_t *p;
	long mb;

	in_child(memlock_line_child, NULL, "memlock line");

	p = map(fd, CHUNK);
	p[0] = 1;
	in_child(owner_line_child, &fd, "owner line");
	munmap(p, CHUNK);

	TEST_ASSERT(f && fgets(old, sizeof(old), f), "read " MAX_MB_PARAM);
	mb = memext_stat("pages") * PAGE_SIZE / (1 << 20) + 4;
	rewind(f);
	fprintf(f, "%ld\n", mb);
	fflush(f);
	snprintf(what, sizeof(what),
		 "privmem_test[%d]: private memory beyond the host's ceiling (privmem_max_mb: %ld); raise",
		 getpid(), mb);
	memext_expect_log_line(hit_ceiling, &fd, what);
	rewind(f);
	fputs(old, f);
	fclose(f);
	close(fd);
	close(dev);
}

struct tenant {
	uint64_t want;		/* bytes to fallocate, or to run a guest on */
	bool guest;
	int ready;		/* the greedy tenant writes here when it holds */
};

static void tenant_child(void *arg)
{
	struct tenant *t = arg;
	int dev = open_privmem_dev(), fd;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint64_t i, sum = 0;
	uint8_t *data;

	drop_caps(CAP_BIT(CAP_IPC_LOCK) | CAP_BIT(CAP_SYS_ADMIN));
	set_rlimit(RLIMIT_MEMLOCK, 32 << 20);
	if (!t->guest) {
		/* The greedy tenant takes what it can and holds it. */
		fd = memext_create_privmem(dev, t->want, 0);
		TEST_ASSERT(fallocate(fd, 0, 0, t->want), "greedy fallocate succeeded");
		TEST_ASSERT(write(t->ready, "1", 1) == 1, "ready");
		for (;;)
			pause();
	}
	vm = vm_create_with_one_vcpu(&vcpu, guest_fill_and_sum);
	data = add_data_slot(vm, dev, &fd);
	TEST_ASSERT(!fallocate(fd, 0, 0, DATA_SIZE), "the second tenant: %s",
		    strerror(errno));
	for (i = 0; i < DATA_SIZE / PAGE_SIZE; i++) {
		*(uint64_t *)(data + i * PAGE_SIZE) = i + 11;
		sum += i + 11;
	}
	vcpu_args_set(vcpu, 2, 3, DATA_SIZE / PAGE_SIZE);
	expect_sync(vcpu, sum);
	expect_done(vcpu);
	kvm_vm_free(vm);
	close(fd);
	close(dev);
}

/*
 * Two unprivileged tenants under a 48 MiB pool: the first one's greed
 * stops at its RLIMIT_MEMLOCK (32 MiB), so the second one's guest gets
 * its memory.  With one shared pool only, the first takes all of it.
 */
static void test_tenants_not_starved(void)
{
	struct tenant greedy = { 64 << 20, false }, guest = { 0, true };
	long pages = memext_stat("pages");
	char old[32] = "", c;
	FILE *f = fopen(MAX_MB_PARAM, "r+");
	int status, pipefd[2];
	pid_t pid;

	TEST_ASSERT(f && fgets(old, sizeof(old), f), "read " MAX_MB_PARAM);
	rewind(f);
	fprintf(f, "%ld\n", (long)(pages * PAGE_SIZE >> 20) + 48);
	fflush(f);

	TEST_ASSERT(!pipe(pipefd), "pipe");
	greedy.ready = pipefd[1];
	fflush(stdout);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		tenant_child(&greedy);
		exit(0);
	}
	close(pipefd[1]);
	TEST_ASSERT(read(pipefd[0], &c, 1) == 1, "the greedy tenant died");
	ksft_print_msg("greedy tenant holds %ld MiB of a %ld MiB pool\n",
		       (long)((memext_stat("pages") - pages) * PAGE_SIZE >> 20), 48L);
	in_child(tenant_child, &guest, "second tenant's guest");
	TEST_ASSERT(waitpid(pid, &status, WNOHANG) == 0,
		    "the greedy tenant let go early: %#x", status);
	kill(pid, SIGKILL);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
		    "greedy tenant: %#x", status);
	close(pipefd[0]);
	rewind(f);
	fputs(old, f);
	fclose(f);
	TEST_ASSERT(memext_stat("pages") == pages, "pages %ld -> %ld", pages, memext_stat("pages"));
}

static void unprivileged_child(void *arg)
{
	int dev = open_privmem_dev(), fd;
	long dm4k = meminfo_kb("DirectMap4k"), pages;
	uint8_t *p;

	drop_caps(CAP_BIT(CAP_SYS_ADMIN));
	TEST_ASSERT_ERRNO(__memext_create_privmem(dev, CHUNK, KVM_MEMEXT_PRIVMEM_NO_HUGE), EPERM,
			  "NO_HUGE without CAP_SYS_ADMIN");

	/* The last chunk is a whole block too; a hole in it is zeroed. */
	fd = memext_create_privmem(dev, CHUNK + 3 * PAGE_SIZE, 0);
	p = map(fd, CHUNK + 3 * PAGE_SIZE);
	memset(p, 0x3c, CHUNK + 3 * PAGE_SIZE);
	pages = memext_stat("pages");
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       PAGE_SIZE, PAGE_SIZE), "punch: %s", strerror(errno));
	TEST_ASSERT(p[PAGE_SIZE - 1] == 0x3c && p[PAGE_SIZE] == 0 && p[2 * PAGE_SIZE - 1] == 0 &&
		    p[2 * PAGE_SIZE] == 0x3c, "hole in a block: %x %x %x %x", p[PAGE_SIZE - 1],
		    p[PAGE_SIZE], p[2 * PAGE_SIZE - 1], p[2 * PAGE_SIZE]);
	TEST_ASSERT(memext_stat("pages") == pages, "a hole in a block freed pages");
	/* A single accessible page shows its block: no 4 KiB entries. */
	memext_set_access(fd, CHUNK + PAGE_SIZE, PAGE_SIZE, true);
	memext_set_access(fd, CHUNK + PAGE_SIZE, PAGE_SIZE, false);
	TEST_ASSERT(!ftruncate(fd, CHUNK + PAGE_SIZE), "truncate into the block");
	TEST_ASSERT(p[CHUNK] == 0x3c, "truncate lost a page below the size");
	munmap(p, CHUNK + 3 * PAGE_SIZE);
	close(fd);
	ksft_print_msg("unprivileged file: DirectMap4k %ld -> %ld kB\n", dm4k,
		       meminfo_kb("DirectMap4k"));
	TEST_ASSERT(meminfo_kb("DirectMap4k") == dm4k, "DirectMap4k grew: %ld -> %ld kB",
		    dm4k, meminfo_kb("DirectMap4k"));
	close(dev);
}

/* Without CAP_SYS_ADMIN nothing a caller does splits the direct map. */
static void test_unprivileged_no_split(void)
{
	__TEST_REQUIRE(meminfo_kb("DirectMap4k") >= 0, "no DirectMap4k in /proc/meminfo");
	in_child(unprivileged_child, NULL, "unprivileged file");
}

/*
 * 10^5 single-page toggles cost at most the file's flush rate (100 a
 * second: flushes an interval apart, give or take a jiffy), not a flush
 * each.  Capped at 20 s for slow (debug) kernels; judged on what ran.
 */
static void test_access_toggles(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0), i, n = 100000;
	long flushes = memext_stat("tlb_flushes"), spent, ms = 0;
	struct timespec t0, t1;
	uint8_t *p = map(fd, CHUNK);

	p[0] = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n && ms < 20000; i++) {
		memext_set_access(fd, 3 * PAGE_SIZE, PAGE_SIZE, !(i & 1));
		if (!(i & 1023)) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ms = (t1.tv_sec - t0.tv_sec) * 1000 +
			     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		}
	}
	if (i & 1)
		memext_set_access(fd, 3 * PAGE_SIZE, PAGE_SIZE, false);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	spent = memext_stat("tlb_flushes") - flushes;
	ksft_print_msg("%d toggles of one page: %ld TLB flushes in %ld ms\n",
		       i, spent, ms);
	ksft_print_msg("deferred hides %ld, throttled calls %ld so far\n",
		       memext_stat("deferred_hides"), memext_stat("throttled"));
	TEST_ASSERT(spent <= ms / 4 + 8, "%ld flushes in %ld ms", spent, ms);
	TEST_ASSERT(p[0] == 1, "contents changed");
	munmap(p, CHUNK);
	close(fd);
	close(dev);
}

/*
 * One unprivileged owner with 128 one-chunk files toggles a page of each
 * in turn for 5 s: its flushes stay within its budget (privmem_flush_rate,
 * 100 a second: an interval apart, give or take a jiffy, and the edges),
 * however many files it has.  A rate per file allows 128 times that.
 *
 * Meanwhile a vCPU of another tenant counts its loops and its longest gap
 * between two TSC reads (every flush is an IPI to every CPU, the vCPU's
 * included).  The same toggles with the budgets lifted show what the
 * budgets hold back: at least 1.5 times the flushes a second (under TCG an
 * all-CPU flush takes milliseconds, which bounds the unbudgeted rate).
 */
#define BUDGET_FILES	128
#define BUDGET_MS	5000

static uint64_t meter_stop, meter_loops, meter_max_gap;

static void guest_stall_meter(void)
{
	uint64_t last, now, loops, gap;

	for (;;) {
		last = rdtsc();
		loops = 0;
		gap = 0;
		while (!READ_ONCE(meter_stop)) {
			now = rdtsc();
			if (now - last > gap)
				gap = now - last;
			last = now;
			loops++;
		}
		WRITE_ONCE(meter_loops, loops);
		WRITE_ONCE(meter_max_gap, gap);
		GUEST_SYNC(0);
	}
}

struct stall_meter {
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	pthread_t thread;
	uint64_t *stop, tsc_khz;
	double loops_per_ms, max_gap_us;
};

static void *stall_meter_run(void *arg)
{
	struct stall_meter *m = arg;
	struct ucall uc;

	vcpu_run(m->vcpu);
	TEST_ASSERT(get_ucall(m->vcpu, &uc) == UCALL_SYNC, "meter: exit %s",
		    exit_reason_str(m->vcpu->run->exit_reason));
	return NULL;
}

static void stall_meter_start(struct stall_meter *m)
{
	WRITE_ONCE(*m->stop, 0);
	TEST_ASSERT(!pthread_create(&m->thread, NULL, stall_meter_run, m),
		    "pthread_create");
}

/* Stop the meter that ran for @ms, and keep what it saw. */
static void stall_meter_stop(struct stall_meter *m, long ms)
{
	WRITE_ONCE(*m->stop, 1);
	pthread_join(m->thread, NULL);
	sync_global_from_guest(m->vm, meter_loops);
	sync_global_from_guest(m->vm, meter_max_gap);
	m->loops_per_ms = (double)meter_loops / ms;
	m->max_gap_us = (double)meter_max_gap * 1000 / m->tsc_khz;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

struct budget_result {
	bool lifted;
	long spent, ms;		/* flushes in ms */
};

static void budget_child(void *arg)
{
	int dev = open_privmem_dev(), fd[BUDGET_FILES], i, rounds = 0;
	struct budget_result *res = arg;
	bool lifted = res->lifted;
	struct timespec t0;
	long flushes, spent, ms = 0;

	drop_caps(CAP_BIT(CAP_SYS_ADMIN));
	for (i = 0; i < BUDGET_FILES; i++) {
		fd[i] = memext_create_privmem(dev, CHUNK, 0);
		TEST_ASSERT(!fallocate(fd[i], 0, 0, CHUNK), "fallocate %d: %s", i,
			    strerror(errno));
	}
	flushes = memext_stat("tlb_flushes");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms < BUDGET_MS) {
		for (i = 0; i < BUDGET_FILES; i++)
			memext_set_access(fd[i], 0, PAGE_SIZE, true);
		for (i = 0; i < BUDGET_FILES; i++)
			memext_set_access(fd[i], 0, PAGE_SIZE, false);
		rounds++;
		ms = ms_since(&t0);
	}
	/* The closes' frees wait for the budget too: counted with it. */
	for (i = 0; i < BUDGET_FILES; i++)
		close(fd[i]);
	ms = ms_since(&t0);
	spent = memext_stat("tlb_flushes") - flushes;
	ksft_print_msg("%s: %d files, %d rounds of toggles: %ld TLB flushes in %ld ms\n",
		       lifted ? "budgets lifted" : "budgeted", BUDGET_FILES,
		       rounds, spent, ms);
	TEST_ASSERT(lifted || spent <= ms / 8 + 16, "%ld flushes in %ld ms",
		    spent, ms);
	res->spent = spent;
	res->ms = ms;
	close(dev);
}

#define FLUSH_RATE_PARAM "/sys/module/kvm_memext/parameters/privmem_flush_rate"
#define HOST_FLUSH_RATE_PARAM "/sys/module/kvm_memext/parameters/privmem_host_flush_rate"

static void read_param(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	TEST_ASSERT(f && fgets(buf, len, f), "read %s", path);
	fclose(f);
}

static void write_param(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	TEST_ASSERT(f && fputs(val, f) >= 0 && !fclose(f), "write %s", path);
}

static char saved_rate[32], saved_host_rate[32];

/* Put the budgets back, also when an assertion ends the test (exit()). */
static void restore_rates(void)
{
	write_param(FLUSH_RATE_PARAM, saved_rate);
	write_param(HOST_FLUSH_RATE_PARAM, saved_host_rate);
}

/* The meter while @fn runs in a child (or, @fn NULL, for 2 s alone). */
static void metered(struct stall_meter *m, void (*fn)(void *), void *arg,
		    const char *what)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	stall_meter_start(m);
	if (fn)
		in_child(fn, arg, what);
	else
		usleep(2000 * 1000);
	stall_meter_stop(m, ms_since(&t0));
	ksft_print_msg("the other tenant's vCPU, %s: %.0f loops/ms, longest gap %.0f us\n",
		       what, m->loops_per_ms, m->max_gap_us);
}

static void test_flush_budget_files(void)
{
	struct budget_result *res = mmap(NULL, 2 * sizeof(*res), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct stall_meter m = { 0 };
	double quiet;

	TEST_ASSERT(res != MAP_FAILED, "mmap");
	m.vm = vm_create_with_one_vcpu(&m.vcpu, guest_stall_meter);
	m.stop = addr_gva2hva(m.vm, (memext_gva_t)&meter_stop);
	m.tsc_khz = __vcpu_ioctl(m.vcpu, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT((long)m.tsc_khz > 0, "KVM_GET_TSC_KHZ");

	metered(&m, NULL, NULL, "alone");
	quiet = m.loops_per_ms;
	metered(&m, budget_child, &res[0], "budgeted");
	ksft_print_msg("its loops against alone: %.2f\n", m.loops_per_ms / quiet);

	/* The same owner without budgets: what they hold back. */
	read_param(FLUSH_RATE_PARAM, saved_rate, sizeof(saved_rate));
	read_param(HOST_FLUSH_RATE_PARAM, saved_host_rate, sizeof(saved_host_rate));
	atexit(restore_rates);
	write_param(FLUSH_RATE_PARAM, "0");
	write_param(HOST_FLUSH_RATE_PARAM, "0");
	res[1].lifted = true;
	metered(&m, budget_child, &res[1], "budgets lifted");
	restore_rates();
	ksft_print_msg("its loops against alone: %.2f\n", m.loops_per_ms / quiet);

	TEST_ASSERT(res[1].spent * res[0].ms >= 3 * res[0].spent * res[1].ms / 2,
		    "without budgets %ld flushes in %ld ms, with %ld in %ld ms",
		    res[1].spent, res[1].ms, res[0].spent, res[0].ms);
	kvm_vm_free(m.vm);
	munmap(res, 2 * sizeof(*res));
}

/*
 * Punching a block and faulting it back in a loop: each free waits for the
 * file's flush rate, so the loop costs two flushes an interval at most (the
 * free's and the refault's), not two a cycle.  At 10 flushes a second, so
 * that a cycle under TCG (a few ms) is far shorter than an interval.
 */
static void test_punch_refault_rate(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0), i;
	long flushes = memext_stat("tlb_flushes"), spent, ms = 0;
	char old[32] = "100\n";
	struct timespec t0, t1;
	uint8_t *p = map(fd, CHUNK);
	FILE *f = fopen(FLUSH_RATE_PARAM, "r+");

	if (f && fgets(old, sizeof(old), f)) {
		rewind(f);
		fputs("10\n", f);
		fflush(f);
	} else {
		ksft_print_msg("no " FLUSH_RATE_PARAM "\n");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 5000 && ms < 5000; i++) {
		WRITE_ONCE(p[i % CHUNK], 1);
		TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				       CHUNK), "punch: %s", strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	}
	spent = memext_stat("tlb_flushes") - flushes;
	if (f) {
		rewind(f);
		fputs(old, f);
		fclose(f);
	}
	ksft_print_msg("%d punch-and-refault cycles at 10 flushes/s: %ld TLB flushes in %ld ms\n",
		       i, spent, ms);
	/* Intervals of 100 ms, give or take a jiffy (at least HZ=100). */
	TEST_ASSERT(spent <= 2 * (ms / 90 + 2), "%ld flushes in %ld ms", spent, ms);
	munmap(p, CHUNK);
	close(fd);
	close(dev);
}

static void fsize_child(void *arg)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);

	signal(SIGXFSZ, SIG_IGN);
	set_rlimit(RLIMIT_FSIZE, 4 << 20);
	TEST_ASSERT_ERRNO(ftruncate(fd, 8 << 20), EFBIG, "ftruncate over RLIMIT_FSIZE");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 8 << 20), EFBIG, "fallocate over RLIMIT_FSIZE");
	TEST_ASSERT(!ftruncate(fd, 4 << 20), "ftruncate to the limit");
	close(fd);
	close(dev);
}

/* Sizes obey RLIMIT_FSIZE; the mapping never executes. */
static void test_file_limits(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);

	in_child(fsize_child, NULL, "RLIMIT_FSIZE");
	TEST_ASSERT(mmap(NULL, CHUNK, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0) ==
		    MAP_FAILED && errno == EPERM, "PROT_EXEC mapping: %s", strerror(errno));
	close(fd);
	close(dev);
}

/*
 * Everything the guest touches is private memory: slot 0 and a data slot
 * whose second half is anonymous memory (one slot, two kinds of VMA).
 */
static void test_guest_in_privmem(void)
{
	int dev = open_privmem_dev(), fd0, fd;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint64_t i, sum = 0, *gd;
	uint8_t *base, *slot0;

	vm = vm_create_with_one_vcpu(&vcpu, guest_fill_and_sum);
	slot0 = slot0_to_privmem(vm, dev, &fd0);

	/* [privmem 4 MiB][anonymous 4 MiB], one memslot. */
	base = mmap(NULL, 2 * DATA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(base != MAP_FAILED, "reserve");
	fd = memext_create_privmem(dev, DATA_SIZE, 0);
	TEST_ASSERT(mmap(base, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == base, "map privmem half");
	TEST_ASSERT(mmap(base + DATA_SIZE, DATA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    base + DATA_SIZE, "map anonymous half");
	vm_set_user_memory_region(vm, DATA_SLOT, 0, DATA_GPA, 2 * DATA_SIZE, base);
	virt_map(vm, DATA_GPA, DATA_GPA, 2 * DATA_SIZE / PAGE_SIZE);
	for (i = 0; i < 2 * DATA_SIZE / PAGE_SIZE; i++) {
		*(uint64_t *)(base + i * PAGE_SIZE) = i * 3 + 1;
		sum += i * 3 + 1;
	}

	vcpu_args_set(vcpu, 2, 5, 2 * DATA_SIZE / PAGE_SIZE);
	expect_sync(vcpu, sum);
	expect_done(vcpu);

	/* The VMM reads the guest's results through its own mappings. */
	gd = addr_gva2hva(vm, (uintptr_t)guest_data);
	TEST_ASSERT((uint8_t *)gd >= slot0 &&
		    (uint8_t *)gd < slot0 + memslot2region(vm, 0)->region.memory_size,
		    "guest data is not in the private slot");
	for (i = 0; i < 512; i++)
		TEST_ASSERT(gd[i] == 5 * i + 7, "guest_data[%lu] = %lu", i, gd[i]);
	for (i = 0; i < 2 * DATA_SIZE / PAGE_SIZE; i++)
		TEST_ASSERT(*(uint64_t *)(base + i * PAGE_SIZE + 8) == 5 + i,
			    "page %lu of the data slot: %lu", i,
			    *(uint64_t *)(base + i * PAGE_SIZE + 8));
	ksft_print_msg("huge PMD mappings so far: %ld\n", memext_stat("pmd_maps"));

	kvm_vm_free(vm);
	munmap(base, 2 * DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/* Punch holes between rounds in which the guest reads and writes the range. */
static void guest_churn(uint64_t rounds)
{
	uint64_t r, i, v, *p;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < DATA_SIZE / PAGE_SIZE; i++) {
			p = (uint64_t *)(DATA_GPA + i * PAGE_SIZE);
			v = READ_ONCE(*p);
			/* The host writes 0xa5a5..., a punched page reads 0. */
			GUEST_ASSERT(v == 0 || v == 0xa5a5a5a5a5a5a5a5ULL ||
				     v == r || v + 1 == r);
			*p = r;
		}
		GUEST_SYNC(r);
	}
	GUEST_DONE();
}

static void test_punch_while_running(void)
{
	int dev = open_privmem_dev(), fd0, fd, punches = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	uint64_t rounds = 40, r;
	uint8_t *data;

	vm = vm_create_with_one_vcpu(&vcpu, guest_churn);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	vcpu_args_set(vcpu, 1, rounds);

	for (r = 0; r < rounds; r++) {
		vcpu_run(vcpu);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[1] == r, "round %lu reported %lu", r, uc.args[1]);
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("round %lu: exit reason %s", r,
				  exit_reason_str(vcpu->run->exit_reason));
		}
		/* Punch a different chunk-straddling range each round. */
		TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (r % 6) * CHUNK / 2, CHUNK), "punch");
		punches++;
		TEST_ASSERT(*(uint64_t *)(data + (r % 6) * CHUNK / 2) == 0,
			    "punched page not zero");
		if (r % 3 == 0)
			memset(data + ((r + 1) % 6) * CHUNK / 2, 0xa5, PAGE_SIZE);
	}
	expect_done(vcpu);
	ksft_print_msg("%d punches while the guest ran\n", punches);
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/* kvm-clock: KVM writes it through the direct map; make its page accessible. */
#define MSR_KVM_SYSTEM_TIME_NEW_	0x4b564d01
#define CLOCK_GPA			(DATA_GPA + 3 * PAGE_SIZE)

static void guest_kvmclock(void)
{
	uint32_t *version = (uint32_t *)CLOCK_GPA, *mul = (uint32_t *)(CLOCK_GPA + 24);
	uint64_t *system_time = (uint64_t *)(CLOCK_GPA + 16);
	uint32_t v;

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW_, CLOCK_GPA | 1);
	v = READ_ONCE(*version);
	GUEST_ASSERT(v && !(v & 1) && READ_ONCE(*mul) && READ_ONCE(*system_time));
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW_, 0);
	GUEST_DONE();
}

static void test_kvmclock_accessible(void)
{
	int dev = open_privmem_dev(), fd0, fd;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	long acc = memext_stat("accessible_pages");

	vm = vm_create_with_one_vcpu(&vcpu, guest_kvmclock);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	/* Without this KVM would write the clock to the decoy (see below). */
	memext_set_access(fd, CLOCK_GPA - DATA_GPA, PAGE_SIZE, true);
	TEST_ASSERT(memext_stat("accessible_pages") == acc + 1, "one page accessible");

	expect_done(vcpu);
	TEST_ASSERT(*(uint32_t *)(data + CLOCK_GPA - DATA_GPA), "host sees no kvm-clock");
	kvm_vm_free(vm);
	memext_set_access(fd, CLOCK_GPA - DATA_GPA, PAGE_SIZE, false);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/*
 * kvm-clock on a hidden page, from an unmodified VMM (no MSR filter, no
 * CPUID enforcement): KVM writes the clock through the direct map at the
 * next guest entry, and the module shows that one page before the guest
 * runs (privmem_clock.c).  The guest checks its clock right after enabling
 * it, with no exit in between; it moves it to another page of the same
 * block, the host punches that page, the guest enables it again and
 * disables it.
 */
#define MSR_KVM_SYSTEM_TIME_		0x12
#define CLOCK2_GPA			(DATA_GPA + 9 * PAGE_SIZE)

struct pvclock_page {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

/*
 * What kvmclock_init() needs: a finished update and a multiplier.  A macro,
 * so that a failure names the caller's line.
 */
#define guest_check_clock(gpa)						\
do {									\
	struct pvclock_page *c = (void *)(gpa);				\
	uint32_t v = READ_ONCE(c->version);				\
									\
	GUEST_ASSERT(v && !(v & 1) && READ_ONCE(c->tsc_to_system_mul));	\
} while (0)

/* @msr: enable with it; @by_vmm: the VMM enabled the clock at CLOCK_GPA. */
static void guest_kvmclock_hidden(uint64_t msr, uint64_t by_vmm)
{
	if (!by_vmm)
		wrmsr(msr, CLOCK_GPA | 1);
	guest_check_clock(CLOCK_GPA);
	GUEST_SYNC(1);
	guest_check_clock(CLOCK_GPA);
	wrmsr(msr, CLOCK2_GPA | 1);
	guest_check_clock(CLOCK2_GPA);
	GUEST_SYNC(2);
	/* The host punched CLOCK2's page: enable the clock there again. */
	wrmsr(msr, CLOCK2_GPA | 1);
	guest_check_clock(CLOCK2_GPA);
	GUEST_SYNC(3);
	wrmsr(msr, 0);
	GUEST_SYNC(4);
	GUEST_DONE();
}

static uint32_t host_clock_version(uint8_t *data, uint64_t gpa)
{
	return READ_ONCE(*(uint32_t *)(data + gpa - DATA_GPA));
}

struct kvmclock_case {
	uint32_t msr;
	uint64_t flags;		/* of the data slot's file */
	bool by_vmm;
	bool unprivileged;
};

static void run_kvmclock_hidden(void *arg)
{
	const struct kvmclock_case *c = arg;
	int dev = open_privmem_dev(), fd0, fd;
	long base = memext_stat("clock_pages"), acc = memext_stat("accessible_pages");
	long dm4k = meminfo_kb("DirectMap4k"), writes;
	long failures = memext_stat("clock_failures");
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;

	if (c->unprivileged)
		drop_caps(CAP_BIT(CAP_SYS_ADMIN));
	vm = vm_create_with_one_vcpu(&vcpu, guest_kvmclock_hidden);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot_flags(vm, dev, &fd, c->flags);
	vcpu_args_set(vcpu, 2, (uint64_t)c->msr, (uint64_t)c->by_vmm);
	if (c->by_vmm)
		vcpu_set_msr(vcpu, c->msr, CLOCK_GPA | 1);

	expect_sync(vcpu, 1);
	TEST_ASSERT(host_clock_version(data, CLOCK_GPA), "the clock page holds no clock");
	TEST_ASSERT(memext_stat("clock_pages") == base + 1, "clock pages %ld -> %ld",
		    base, memext_stat("clock_pages"));
	TEST_ASSERT(memext_stat("accessible_pages") == acc, "accessible pages %ld -> %ld",
		    acc, memext_stat("accessible_pages"));
	expect_sync(vcpu, 2);
	TEST_ASSERT(memext_stat("clock_pages") == base + 1,
		    "moved clock: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	/*
	 * Both clock pages are in one block: split once at most (4 KiB
	 * pages split anyway).  A punched page of a block comes back as
	 * any 4 KiB page, whose hiding may split another block: not counted.
	 */
	dm4k = meminfo_kb("DirectMap4k") - dm4k;
	TEST_ASSERT(c->flags || dm4k <= 2048, "DirectMap4k grew by %ld kB", dm4k);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       CLOCK2_GPA - DATA_GPA, PAGE_SIZE), "punch the clock page");
	TEST_ASSERT(memext_stat("clock_pages") == base,
		    "punched clock: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	expect_sync(vcpu, 3);
	TEST_ASSERT(memext_stat("clock_pages") == base + 1,
		    "clock enabled again: clock pages %ld -> %ld", base,
		    memext_stat("clock_pages"));
	expect_sync(vcpu, 4);
	TEST_ASSERT(memext_stat("clock_pages") == base,
		    "clock disabled: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	expect_done(vcpu);
	/* Moving, re-enabling and disabling the clock are no failures. */
	TEST_ASSERT(memext_stat("clock_failures") == failures,
		    "clock failures %ld -> %ld", failures, memext_stat("clock_failures"));

	writes = memext_stat("decoy_writes");
	ksft_print_msg("msr %#x by the %s, %s%s: DirectMap4k +%ld kB\n", c->msr,
		       c->by_vmm ? "VMM" : "guest", c->flags ? "4 KiB pages" : "2 MiB chunk",
		       c->unprivileged ? ", unprivileged" : "", dm4k);
	ksft_print_msg("clock pages shown %ld, failed %ld; decoy writes %ld\n",
		       memext_stat("clock_shows"), memext_stat("clock_failures"), writes);
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	TEST_ASSERT(memext_stat("clock_pages") == base, "clock pages left: %ld -> %ld",
		    base, memext_stat("clock_pages"));
	close(dev);
}

static const struct kvmclock_case kvmclock_cases[] = {
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, false, false },
	{ MSR_KVM_SYSTEM_TIME_, 0, false, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, KVM_MEMEXT_PRIVMEM_NO_HUGE, false, false },
	{ MSR_KVM_SYSTEM_TIME_, KVM_MEMEXT_PRIVMEM_NO_HUGE, false, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, true, false },
	{ MSR_KVM_SYSTEM_TIME_, KVM_MEMEXT_PRIVMEM_NO_HUGE, true, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, false, true },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, true, true },
};

static void test_kvmclock_hidden(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kvmclock_cases); i++)
		in_child(run_kvmclock_hidden, (void *)&kvmclock_cases[i], "kvm-clock");
}

/*
 * Xen shared info, vCPU info and runstate area on private pages, set by
 * the VMM: KVM writes them through the direct map too (wall clock at
 * activation, runstate at every context switch).
 */
#define SHINFO_GPA	(DATA_GPA + 4 * PAGE_SIZE)
#define VCPU_INFO_GPA	(DATA_GPA + 5 * PAGE_SIZE)
#define RUNSTATE_GPA	(DATA_GPA + 6 * PAGE_SIZE + 40)

static void guest_syncs(void)
{
	GUEST_SYNC(0);
	GUEST_SYNC(0);
	GUEST_DONE();
}

static void test_xen_pages_hidden(void)
{
	int caps = kvm_check_cap(KVM_CAP_XEN_HVM), dev, fd0, fd, i;
	struct kvm_xen_hvm_config cfg = {
		.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
		.msr = 0x40000200,
	};
	struct kvm_xen_hvm_attr lm = {
		.type = KVM_XEN_ATTR_TYPE_LONG_MODE, .u.long_mode = 1,
	};
	struct kvm_xen_hvm_attr shinfo = {
		.type = KVM_XEN_ATTR_TYPE_SHARED_INFO,
		.u.shared_info.gfn = SHINFO_GPA / PAGE_SIZE,
	};
	struct kvm_xen_vcpu_attr vi = {
		.type = KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO, .u.gpa = VCPU_INFO_GPA,
	};
	struct kvm_xen_vcpu_attr rs = {
		.type = KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR, .u.gpa = RUNSTATE_GPA,
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	long writes;

	__TEST_REQUIRE(caps & KVM_XEN_HVM_CONFIG_SHARED_INFO,
		       "no Xen shared info in this KVM (CONFIG_KVM_XEN)");
	dev = open_privmem_dev();
	vm = vm_create_with_one_vcpu(&vcpu, guest_syncs);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	writes = memext_stat("decoy_writes");

	vm_ioctl(vm, KVM_XEN_HVM_CONFIG, &cfg);
	vm_ioctl(vm, KVM_XEN_HVM_SET_ATTR, &lm);
	vm_ioctl(vm, KVM_XEN_HVM_SET_ATTR, &shinfo);
	vcpu_ioctl(vcpu, KVM_XEN_VCPU_SET_ATTR, &vi);
	if (caps & KVM_XEN_HVM_CONFIG_RUNSTATE)
		vcpu_ioctl(vcpu, KVM_XEN_VCPU_SET_ATTR, &rs);

	expect_sync(vcpu, 0);
	expect_sync(vcpu, 0);
	expect_done(vcpu);
	for (i = 4; i < 8; i++)
		TEST_ASSERT(!memchr_nonzero(data + i * PAGE_SIZE, PAGE_SIZE),
			    "private page %d of the data slot was written", i);
	TEST_ASSERT(memext_stat("decoy_writes") > writes,
		    "KVM's Xen shared-info writes did not reach the decoy");
	ksft_print_msg("shared info, vCPU info%s: guest ran on\n",
		       caps & KVM_XEN_HVM_CONFIG_RUNSTATE ? ", runstate" : "");
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/*
 * Nested SVM with L1's VMCB12 (and everything else of L1) in private
 * memory: VMRUN makes KVM map the VMCB12 with kvm_vcpu_map(), i.e. the
 * direct map on 6.1 and 6.12, which reads the decoy: a VMCB12 of zeros
 * fails the consistency checks and L1 continues after VMRUN (its own view
 * of the VMCB is not written).  7.3 refuses to map VM_PFNMAP memory there
 * (-EFAULT from VMRUN: an internal-error exit to the VMM).  Either way the
 * host keeps running.
 */
static void l2_guest_code(void)
{
	__asm__ __volatile__("vmmcall");
}

static void l1_guest_code(struct svm_test_data *svm)
{
	unsigned long l2_stack[64];

	memext_svm_setup(svm, l2_guest_code, &l2_stack[64]);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_SYNC(svm->vmcb->control.exit_code);
	GUEST_DONE();
}

static void test_nested_vmcb_hidden(void)
{
	struct kvm_vcpu *vcpu;
	memext_gva_t svm_gva;
	struct kvm_vm *vm;
	int dev, fd0;

	__TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM), "no nested SVM");
	dev = open_privmem_dev();
	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	slot0_to_privmem(vm, dev, &fd0);

	vcpu_run(vcpu);
	if (vcpu->run->exit_reason == KVM_EXIT_SHUTDOWN ||
	    vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		ksft_print_msg("VMRUN refused: exit %s\n",
			       exit_reason_str(vcpu->run->exit_reason));
	} else {
		ksft_print_msg("L1 ran on after VMRUN (exit code %#lx in its VMCB)\n",
			       sync_value(vcpu));
		expect_done(vcpu);
	}
	kvm_vm_free(vm);
	close(fd0);
	close(dev);
}

/*
 * Two tenants, and what KVM itself writes through the direct map: on 6.1
 * and 6.12 an emulated VMSAVE stores L1's LSTAR (and the rest of its
 * VMLOAD/VMSAVE state) through kvm_vcpu_map(), i.e. kmap(), so onto a
 * hidden page it lands in the decoy; an emulated VMLOAD reads through the
 * decoy too.  One tenant's VMSAVE at an offset of its file must never be
 * what another tenant's VMLOAD at the same offset of its own file loads
 * (one decoy shared by all files carried it across).  An Intel vendor
 * string makes KVM intercept both whatever kvm_amd's vls says; 7.3 refuses
 * VM_PFNMAP memory there (an internal-error exit), which leaks nothing.
 */
#define VMSAVE_GPA	(DATA_GPA + 5 * PAGE_SIZE)
#define TENANT_LSTAR	0xffffffffc0de5000ULL

static void guest_vmsave_vmload(uint64_t save)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	if (save) {
		wrmsr(MSR_LSTAR, TENANT_LSTAR);
		__asm__ __volatile__("vmsave %%rax" : : "a"(VMSAVE_GPA) : "memory");
	} else {
		wrmsr(MSR_LSTAR, 0);
		__asm__ __volatile__("vmload %%rax" : : "a"(VMSAVE_GPA) : "memory");
	}
	GUEST_SYNC(rdmsr(MSR_LSTAR));
	GUEST_DONE();
}

struct vmsave_tenant {
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	int dev, fd;
	uint64_t lstar;		/* after the instruction; -1: refused */
};

/* One tenant's VM runs its VMSAVE (@save) or VMLOAD, and stays. */
static void vmsave_tenant_run(struct vmsave_tenant *t, bool save)
{
	struct kvm_cpuid_entry2 *vendor;

	t->dev = open_privmem_dev();
	t->vm = vm_create_with_one_vcpu(&t->vcpu, guest_vmsave_vmload);
	vcpu_args_set(t->vcpu, 1, (uint64_t)save);
	vendor = vcpu_get_cpuid_entry(t->vcpu, 0);
	vendor->ebx = 0x756e6547;	/* "GenuineIntel" */
	vendor->edx = 0x49656e69;
	vendor->ecx = 0x6c65746e;
	vcpu_set_cpuid(t->vcpu);
	t->data = add_data_slot(t->vm, t->dev, &t->fd);

	t->lstar = -1ULL;
	vcpu_run(t->vcpu);
	if (t->vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		ksft_print_msg("%s refused: internal-error exit\n",
			       save ? "VMSAVE" : "VMLOAD");
		return;
	}
	t->lstar = sync_value(t->vcpu);
}

static void vmsave_tenant_free(struct vmsave_tenant *t)
{
	TEST_ASSERT(!memchr_nonzero(t->data + VMSAVE_GPA - DATA_GPA, PAGE_SIZE),
		    "the private page was written through the direct map");
	kvm_vm_free(t->vm);
	munmap(t->data, DATA_SIZE);
	close(t->fd);
	close(t->dev);
}

static void vmload_tenant_child(void *arg)
{
	struct vmsave_tenant t;

	vmsave_tenant_run(&t, false);
	TEST_ASSERT(t.lstar != TENANT_LSTAR,
		    "VMLOAD loaded the other tenant's LSTAR %#lx", t.lstar);
	if (t.lstar != -1ULL)
		ksft_print_msg("the other tenant's VMLOAD: LSTAR %#lx\n", t.lstar);
	vmsave_tenant_free(&t);
}

static void test_vmsave_tenants(void)
{
	struct vmsave_tenant t;
	long writes;

	__TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM), "no nested SVM");
	writes = memext_stat("decoy_writes");
	/* Tenant A saves and keeps its VM and file while B loads. */
	vmsave_tenant_run(&t, true);
	if (t.lstar != -1ULL)
		TEST_ASSERT(t.lstar == TENANT_LSTAR, "LSTAR %#lx after VMSAVE",
			    t.lstar);
	in_child(vmload_tenant_child, NULL, "the other tenant");
	if (t.lstar != -1ULL) {
		TEST_ASSERT(memext_stat("decoy_writes") > writes,
			    "KVM's VMSAVE did not write through the direct map");
		ksft_print_msg("one tenant's VMSAVE went to its own decoy\n");
	}
	vmsave_tenant_free(&t);
}

/* Debug kernel: every allocation of a fallocate fails once, in turn. */
static void write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	TEST_ASSERT(f && fputs(s, f) >= 0 && !fclose(f), "write %s", path);
}

/*
 * Fail the n-th allocation for n = 1, 2, ... until the fallocate of @size
 * makes fewer than n (fail-nth is left unconsumed).  Returns how many
 * calls failed; *@fell_back counts 2 MiB blocks replaced by 4 KiB pages.
 */
static int sweep_fail_nth(int dev, int nth_fd, uint64_t size, uint64_t flags,
			  int *fell_back)
{
	long pages = memext_stat("pages"), fallbacks;
	int n, fd, r, err, left, failed = 0, past_end = 0;
	char buf[16], trace[1024] = "";

	/* Warm the slab caches, so that every run makes the same calls. */
	fd = memext_create_privmem(dev, size, flags);
	TEST_ASSERT(!fallocate(fd, 0, 0, size), "fallocate: %s", strerror(errno));
	close(fd);

	for (n = 1; n < 1000; n++) {
		fd = memext_create_privmem(dev, size, flags);
		fallbacks = memext_stat("fallbacks");
		snprintf(buf, sizeof(buf), "%d", n);
		TEST_ASSERT(pwrite(nth_fd, buf, strlen(buf), 0) > 0, "fail-nth");
		r = fallocate(fd, 0, 0, size);
		err = errno;
		memset(buf, 0, sizeof(buf));
		TEST_ASSERT(pread(nth_fd, buf, sizeof(buf) - 1, 0) > 0, "read fail-nth");
		left = atoi(buf);
		TEST_ASSERT(pwrite(nth_fd, "0", 1, 0) > 0, "fail-nth reset");
		close(fd);
		TEST_ASSERT(memext_stat("pages") == pages && !memext_stat("leaked_pages"),
			    "fail-nth %d: pages %ld -> %ld, leaked %ld", n, pages,
			    memext_stat("pages"), memext_stat("leaked_pages"));
		/* E: failed, f: fell back to 4 KiB pages, .: absorbed, -: past */
		if (n < (int)sizeof(trace))
			trace[n - 1] = left ? '-' : r ? 'E' :
				       memext_stat("fallbacks") > fallbacks ? 'f' : '.';
		/*
		 * Past the last allocation, fail-nth is left over.  Slab and
		 * memcg refills vary a little from run to run: stop after
		 * three such runs in a row.
		 */
		if (left) {
			TEST_ASSERT(!r, "fallocate failed without injection: %s",
				    strerror(err));
			if (++past_end < 3)
				continue;
			ksft_print_msg("fail-nth 1..%d: %s\n", n, trace);
			return failed;
		}
		past_end = 0;
		if (memext_stat("fallbacks") > fallbacks)
			(*fell_back)++;
		if (r) {
			TEST_ASSERT(err == ENOMEM, "fail-nth %d: %s", n, strerror(err));
			failed++;
		}
	}
	TEST_FAIL("more than %d allocations in one fallocate", n);
	return failed;
}

static void write_attr(const char *attr, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/kernel/debug/fail_page_alloc/%s", attr);
	write_str(path, val);
}

static void test_fail_page_alloc(void)
{
	int dev = open_privmem_dev(), nth_fd, fd, failed, fell_back = 0;
	long fallbacks = memext_stat("fallbacks"), chunks = memext_stat("huge_chunks");

	__TEST_REQUIRE(!access("/sys/kernel/debug/fail_page_alloc/min-order", W_OK),
		       "no fail_page_alloc");
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	__TEST_REQUIRE(nth_fd >= 0, "no fail-nth");

	/*
	 * The next 2 MiB allocation of this thread fails: 4 KiB pages
	 * instead.  The file's first chunk brought its decoy (2 MiB too).
	 */
	fd = memext_create_privmem(dev, 2 * CHUNK, 0);
	TEST_ASSERT(!fallocate(fd, 0, 0, CHUNK), "fallocate: %s", strerror(errno));
	write_attr("ignore-gfp-wait", "N");
	write_attr("min-order", "9");
	write_attr("task-filter", "Y");
	write_attr("interval", "1");
	write_attr("times", "1");
	write_attr("probability", "100");
	write_str("/proc/thread-self/make-it-fail", "1");
	TEST_ASSERT(!fallocate(fd, 0, CHUNK, CHUNK), "fallocate: %s", strerror(errno));
	write_str("/proc/thread-self/make-it-fail", "0");
	write_attr("probability", "0");
	TEST_ASSERT(memext_stat("fallbacks") == fallbacks + 1 &&
		    memext_stat("huge_chunks") == chunks + 1,
		    "no fallback: fallbacks %ld -> %ld", fallbacks, memext_stat("fallbacks"));
	close(fd);

	/* Then every allocation of a fallocate, in turn. */
	write_attr("task-filter", "N");
	write_attr("min-order", "0");
	failed = sweep_fail_nth(dev, nth_fd, CHUNK, 0, &fell_back);
	failed += sweep_fail_nth(dev, nth_fd, 16 * PAGE_SIZE,
				 KVM_MEMEXT_PRIVMEM_NO_HUGE, &fell_back);
	write_attr("ignore-gfp-wait", "Y");
	write_attr("min-order", "1");
	ksft_print_msg("%d allocations failed cleanly, %d chunks fell back to 4 KiB pages\n",
		       failed, fell_back);
	/* 16 page allocations, less what slab refills happen to absorb. */
	TEST_ASSERT(failed >= 8, "the sweep missed the page allocations");
	close(nth_fd);
	close(dev);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_create_bad_args),
		MEMEXT_TEST(test_create_v0),
		MEMEXT_TEST(test_file_ops),
		MEMEXT_TEST(test_direct_map_chunks),
		MEMEXT_TEST(test_gup_refused),
		MEMEXT_TEST(test_other_process),
		MEMEXT_TEST(test_set_access),
		MEMEXT_TEST(test_limit),
		MEMEXT_TEST(test_hibernation_refused),
		MEMEXT_TEST(test_huge_file_bounded),
		MEMEXT_TEST(test_memlock_limit),
		MEMEXT_TEST(test_limit_log_lines),
		MEMEXT_TEST(test_tenants_not_starved),
		MEMEXT_TEST(test_unprivileged_no_split),
		MEMEXT_TEST(test_access_toggles),
		MEMEXT_TEST(test_punch_refault_rate),
		MEMEXT_TEST(test_flush_budget_files),
		MEMEXT_TEST(test_file_limits),
		MEMEXT_TEST(test_guest_in_privmem),
		MEMEXT_TEST(test_punch_while_running),
		MEMEXT_TEST(test_kvmclock_accessible),
		MEMEXT_TEST(test_kvmclock_hidden),
		MEMEXT_TEST(test_xen_pages_hidden),
		MEMEXT_TEST(test_nested_vmcb_hidden),
		MEMEXT_TEST(test_vmsave_tenants),
		MEMEXT_TEST(test_fail_page_alloc),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
