// SPDX-License-Identifier: GPL-2.0
/*
 * Private memory (KVM_MEMEXT_CREATE_PRIVMEM): the file's behaviour, its
 * pages out of the direct map in 2 MiB pieces, GUP refused on every path,
 * its limits and allocation failures, on every kernel of the matrix.
 * Unprivileged tenants are privmem_limits_test's, guests running from
 * private memory privmem_guest_test's.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <linux/falloc.h>

#include "privmem_util.h"
#include "memext_trace.h"

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

/* fallocate() calls refused on a file of one chunk. */
static const struct {
	const char *what;
	int mode;
	off_t offset, len;
	int err;
} bad_fallocate[] = {
	{ "collapse range", FALLOC_FL_COLLAPSE_RANGE, 0, CHUNK, EOPNOTSUPP },
	{ "punch without KEEP_SIZE", FALLOC_FL_PUNCH_HOLE, 0, CHUNK, EOPNOTSUPP },
	{ "unaligned fallocate", 0, 1, PAGE_SIZE, EINVAL },
};

static void test_file_ops(void)
{
	int dev = open_privmem_dev(), fd = memext_create_privmem(dev, CHUNK, 0);
	long pages = memext_stat("pages");
	unsigned int i;
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
	for (i = 0; i < ARRAY_SIZE(bad_fallocate); i++)
		TEST_ASSERT_ERRNO(fallocate(fd, bad_fallocate[i].mode,
					    bad_fallocate[i].offset, bad_fallocate[i].len),
				  bad_fallocate[i].err, bad_fallocate[i].what);

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
	/* x86 counts its split entries; arm64's linear map is all 4 KiB. */
	bool counted = meminfo_kb("DirectMap4k") >= 0;

	dm4k = meminfo_kb("DirectMap4k");
	fd = memext_create_privmem(dev, 8 * CHUNK, KVM_MEMEXT_PRIVMEM_NO_HUGE);
	TEST_ASSERT(!fallocate(fd, 0, 0, 8 * CHUNK), "fallocate: %s", strerror(errno));
	if (counted) {
		ksft_print_msg("4 KiB pages: DirectMap4k %ld -> %ld kB\n", dm4k,
			       meminfo_kb("DirectMap4k"));
		TEST_ASSERT(meminfo_kb("DirectMap4k") > dm4k,
			    "4 KiB pages did not split the direct map: the counter tells nothing");
	}
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
	if (counted) {
		ksft_print_msg("2 MiB chunks: DirectMap4k %ld -> %ld kB\n", dm4k,
			       meminfo_kb("DirectMap4k"));
		TEST_ASSERT(meminfo_kb("DirectMap4k") == dm4k,
			    "DirectMap4k grew from %ld to %ld kB", dm4k, meminfo_kb("DirectMap4k"));
	}
	close(fd);
	if (counted) {
		ksft_print_msg("2 MiB chunks freed: DirectMap4k %ld kB, CPA splits so far %ld\n",
			       meminfo_kb("DirectMap4k"), memext_stat("cpa_splits"));
		TEST_ASSERT(meminfo_kb("DirectMap4k") == dm4k,
			    "freeing 2 MiB chunks split the direct map: DirectMap4k %ld -> %ld kB",
			    dm4k, meminfo_kb("DirectMap4k"));
	}
	close(dev);
}

/*
 * The pfn behind page @index of file @fd, from the trace of the fault
 * that mapped it (pagemap skips VM_PFNMAP mappings): page @index's own
 * fault, or its chunk's 2 MiB one.
 */
static uint64_t fault_pfn(int fd, unsigned int index)
{
	char ino[32], pgoff[48], *trace = memext_trace_read();
	const char *nopage = "vm_fault 0x100";	/* VM_FAULT_NOPAGE: mapped */
	const char *end, *line, *pfn;
	struct stat st;
	uint64_t val;
	bool huge;

	TEST_ASSERT(!fstat(fd, &st), "fstat");
	snprintf(ino, sizeof(ino), "ino %lu ", (unsigned long)st.st_ino);
	snprintf(pgoff, sizeof(pgoff), "pgoff 0x%x order 0 ", index);
	end = memext_find_event(trace, "kvm_memext_privmem_fault",
				(const char * const[]){ ino, "order 9 ", nopage, NULL });
	huge = end;
	if (!huge)
		end = memext_expect_event(trace, "kvm_memext_privmem_fault",
					  (const char * const[]){ ino, pgoff, nopage, NULL },
					  trace);
	for (line = end; line > trace && line[-1] != '\n'; line--)
		;
	pfn = strstr(line, " pfn 0x");
	TEST_ASSERT(pfn && pfn < end, "no pfn in the fault event");
	val = strtoull(pfn + 7, NULL, 16);
	free(trace);
	TEST_ASSERT(val, "the fault mapped no page");
	return val + (huge ? index % (CHUNK / PAGE_SIZE) : 0);
}

/*
 * Read what the kernel's direct map shows at physical page @pfn, through
 * /proc/kcore: its RAM segments give each range's physical address
 * (p_paddr), and kcore reads them through their direct-map addresses
 * with copy_from_kernel_nofault().
 */
static bool kcore_read_pfn(int kcore, uint64_t pfn, void *buf)
{
	uint64_t phys = pfn * PAGE_SIZE;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned int i;

	TEST_ASSERT(pread(kcore, &eh, sizeof(eh), 0) == sizeof(eh), "kcore header");
	for (i = 0; i < eh.e_phnum; i++) {
		TEST_ASSERT(pread(kcore, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) ==
			    sizeof(ph), "kcore program header %u", i);
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)~0ULL ||
		    phys < ph.p_paddr || phys + PAGE_SIZE > ph.p_paddr + ph.p_memsz)
			continue;
		return pread(kcore, buf, PAGE_SIZE, ph.p_offset + phys - ph.p_paddr) ==
		       PAGE_SIZE;
	}
	return false;
}

/*
 * What the guest stores cannot be read through the kernel's direct map:
 * /proc/kcore, which reads RAM through it, shows the decoy for a hidden
 * page (huge chunk and 4 KiB pages alike), and the contents while the page
 * is accessible, which shows that the read would see them.
 */
static void test_direct_map_contents(void)
{
	static const uint64_t flags[] = { 0, KVM_MEMEXT_PRIVMEM_NO_HUGE };
	int dev = open_privmem_dev(), kcore, fd;
	uint8_t *pm, *buf = malloc(PAGE_SIZE);
	unsigned int i, f;
	uint64_t pfn;

	kcore = open("/proc/kcore", O_RDONLY);
	__TEST_REQUIRE(kcore >= 0, "no /proc/kcore: %s", strerror(errno));
	memext_trace_open("privmem_test");
	TEST_ASSERT(!mkdir(memext_tracefs, 0700) || errno == EEXIST, "mkdir %s: %s",
		    memext_tracefs, strerror(errno));
	memext_trace_write("events/kvm_memext/kvm_memext_privmem_fault/enable", "1");
	for (f = 0; f < ARRAY_SIZE(flags); f++) {
		/* The first file's inode number may come back. */
		memext_trace_clear();
		fd = memext_create_privmem(dev, CHUNK, flags[f]);
		pm = map(fd, CHUNK);
		for (i = 0; i < PAGE_SIZE; i++)
			pm[5 * PAGE_SIZE + i] = 0xa5 ^ i;
		pfn = fault_pfn(fd, 5);
		TEST_ASSERT(kcore_read_pfn(kcore, pfn, buf),
			    "pfn %#lx not in /proc/kcore's RAM", (unsigned long)pfn);
		TEST_ASSERT(memcmp(buf, pm + 5 * PAGE_SIZE, PAGE_SIZE),
			    "flags %#lx: the direct map shows private page %#lx",
			    (unsigned long)flags[f], (unsigned long)pfn);
		memext_set_access(fd, 5 * PAGE_SIZE, PAGE_SIZE, true);
		TEST_ASSERT(kcore_read_pfn(kcore, pfn, buf) &&
			    !memcmp(buf, pm + 5 * PAGE_SIZE, PAGE_SIZE),
			    "flags %#lx: an accessible page does not show through the direct map",
			    (unsigned long)flags[f]);
		/* Hidden again once dropped, at once or at the next allowed flush. */
		memext_set_access(fd, 5 * PAGE_SIZE, PAGE_SIZE, false);
		for (i = 0; i < 200; i++) {
			TEST_ASSERT(kcore_read_pfn(kcore, pfn, buf), "kcore read");
			if (memcmp(buf, pm + 5 * PAGE_SIZE, PAGE_SIZE))
				break;
			usleep(10000);
		}
		TEST_ASSERT(i < 200, "flags %#lx: still shown 2 s after the access was dropped",
			    (unsigned long)flags[f]);
		munmap(pm, CHUNK);
		close(fd);
	}
	memext_trace_write("events/kvm_memext/kvm_memext_privmem_fault/enable", "0");
	TEST_ASSERT(!rmdir(memext_tracefs), "rmdir %s: %s", memext_tracefs, strerror(errno));
	close(kcore);
	free(buf);
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
	char states[128] = "", what[256], comm[16];
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
		 "%s[%d]: hibernation refused while private-memory files exist (files: ",
		 privmem_comm(comm), getpid());
	memext_expect_log_line(hit_hibernation, NULL, what);
	close(fd);
	f = fopen("/sys/power/pm_test", "w");
	fputs("none\n", f);
	fclose(f);
	close(dev);
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
		MEMEXT_TEST(test_direct_map_contents),
		MEMEXT_TEST(test_gup_refused),
		MEMEXT_TEST(test_other_process),
		MEMEXT_TEST(test_set_access),
		MEMEXT_TEST(test_limit),
		MEMEXT_TEST(test_hibernation_refused),
		MEMEXT_TEST(test_huge_file_bounded),
		MEMEXT_TEST(test_file_limits),
		MEMEXT_TEST(test_fail_page_alloc),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
