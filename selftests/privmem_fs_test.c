// SPDX-License-Identifier: GPL-2.0
/*
 * The kvm_memext file system: mount options, directories, the file
 * operations QEMU, libvirt and Cloud Hypervisor perform on a memory file
 * (create or mkstemp, unlink, lseek, ftruncate, mmap MAP_SHARED), the
 * owner bound at first use and replaced once it exited, the per-mount size
 * limit, and unmounting freeing every page.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/falloc.h>

#include "kvm_util.h"
#include "memext_util.h"
#include "processor.h"

#define CHUNK		(2UL << 20)

static char mnt[64];

static int __mount_fs(const char *opts)
{
	return mount("none", mnt, "kvm_memext", 0, opts);
}

/* A fresh directory with the file system mounted on it. */
static void mount_fs(const char *opts)
{
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM_FS));
	snprintf(mnt, sizeof(mnt), "/tmp/kvm_memext_fs.XXXXXX");
	TEST_ASSERT(mkdtemp(mnt), "mkdtemp: %s", strerror(errno));
	TEST_ASSERT(!__mount_fs(opts), "mount -o %s: %s", opts, strerror(errno));
}

static void umount_fs(void)
{
	TEST_ASSERT(!umount(mnt), "umount %s: %s", mnt, strerror(errno));
	rmdir(mnt);
}

static const char *path(const char *name)
{
	static char buf[2][128];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", mnt, name);
	return buf[i];
}

/* The mount line of /proc/mounts for our mount point. */
static void mount_line(char *line, size_t len)
{
	FILE *f = fopen("/proc/mounts", "r");

	TEST_ASSERT(f, "open /proc/mounts");
	while (fgets(line, len, f)) {
		if (strstr(line, mnt)) {
			fclose(f);
			return;
		}
	}
	fclose(f);
	TEST_FAIL("%s not in /proc/mounts", mnt);
}

/* Map @size of @fd at a 2 MiB-aligned address, as QEMU's align=2M does. */
static uint8_t *map_aligned(int fd, size_t size)
{
	uint8_t *res, *p;

	res = mmap(NULL, size + CHUNK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(res != MAP_FAILED, "reserve");
	p = (uint8_t *)(((uintptr_t)res + CHUNK - 1) & ~(CHUNK - 1));
	TEST_ASSERT(mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == p, "mmap MAP_SHARED|MAP_FIXED: %s", strerror(errno));
	return p;
}

static void fill(uint8_t *p, size_t size, uint64_t seed)
{
	size_t i;

	for (i = 0; i < size; i += PAGE_SIZE)
		*(uint64_t *)(p + i) = seed ^ i;
}

static bool check(const uint8_t *p, size_t size, uint64_t seed)
{
	size_t i;

	for (i = 0; i < size; i += PAGE_SIZE) {
		if (*(const uint64_t *)(p + i) != (seed ^ i))
			return false;
	}
	return true;
}

static void wait_child(pid_t pid, const char *what)
{
	int status;

	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status),
		    "%s: child status %#x", what, status);
}

static void drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	TEST_ASSERT(!syscall(SYS_capget, &hdr, data), "capget");
	data[0].effective &= ~(1U << CAP_SYS_ADMIN);
	data[0].permitted &= ~(1U << CAP_SYS_ADMIN);
	TEST_ASSERT(!syscall(SYS_capset, &hdr, data), "capset");
}

/* Options land on the root and in /proc/mounts; bad ones fail the mount. */
static void test_mount_options(void)
{
	long refs = memext_module_refcnt();
	struct statfs sfs;
	struct stat st;
	char line[512];
	pid_t pid;

	mount_fs("uid=1234,gid=5678,mode=0770,size=8M");
	TEST_ASSERT(!stat(mnt, &st), "stat");
	TEST_ASSERT(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0770 &&
		    st.st_uid == 1234 && st.st_gid == 5678,
		    "root: mode %o uid %u gid %u", st.st_mode, st.st_uid, st.st_gid);
	TEST_ASSERT(!statfs(mnt, &sfs), "statfs");
	TEST_ASSERT(sfs.f_type == KVM_MEMEXT_FS_MAGIC && sfs.f_bsize == CHUNK &&
		    sfs.f_frsize == PAGE_SIZE && sfs.f_blocks == 8 * 256 &&
		    sfs.f_bfree == 8 * 256,
		    "statfs: type %#lx bsize %ld frsize %ld blocks %lu free %lu",
		    (long)sfs.f_type, (long)sfs.f_bsize, (long)sfs.f_frsize,
		    (unsigned long)sfs.f_blocks, (unsigned long)sfs.f_bfree);
	mount_line(line, sizeof(line));
	TEST_ASSERT(strstr(line, " kvm_memext ") &&
		    strstr(line, "uid=1234,gid=5678,mode=770,size=8192k"),
		    "/proc/mounts: %s", line);
	/* A mount holds the module: rmmod cannot pull it away. */
	TEST_ASSERT(memext_module_refcnt() == refs + 1, "refcnt %ld -> %ld",
		    refs, memext_module_refcnt());
	umount_fs();
	TEST_ASSERT(memext_module_refcnt() == refs, "refcnt after umount");

	snprintf(mnt, sizeof(mnt), "/tmp/kvm_memext_fs.XXXXXX");
	TEST_ASSERT(mkdtemp(mnt), "mkdtemp");
	TEST_ASSERT_ERRNO(__mount_fs("mode=77777"), EINVAL, "mode too large");
	TEST_ASSERT_ERRNO(__mount_fs("mode=abc"), EINVAL, "mode not octal");
	TEST_ASSERT_ERRNO(__mount_fs("size=0"), EINVAL, "size 0");
	TEST_ASSERT_ERRNO(__mount_fs("size=12x"), EINVAL, "size with junk");
	TEST_ASSERT_ERRNO(__mount_fs("size=100"), EINVAL, "size below a page");
	TEST_ASSERT_ERRNO(__mount_fs("uid=-1"), EINVAL, "uid -1");
	TEST_ASSERT_ERRNO(__mount_fs("nr_inodes=5"), EINVAL, "unknown option");
	/* Only an administrator mounts it. */
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		drop_cap_sys_admin();
		_exit(__mount_fs("") == -1 && errno == EPERM ? 0 : 1);
	}
	wait_child(pid, "unprivileged mount");
	TEST_ASSERT(memext_module_refcnt() == refs, "refcnt after failed mounts");
	rmdir(mnt);
}

/*
 * QEMU's mem-path=<directory>: mkstemp(), unlink(), lseek(SEEK_END) == 0,
 * ftruncate(), mmap(MAP_SHARED | MAP_FIXED) in an aligned reservation.
 */
static void test_qemu_directory_flow(void)
{
	long files = memext_stat("files"), pages = memext_stat("pages");
	size_t size = 8 * CHUNK;
	struct statfs sfs;
	char name[128];
	uint8_t *p;
	int fd;

	mount_fs("mode=01777");
	snprintf(name, sizeof(name), "%s/qemu_back_mem.pc.ram.XXXXXX", mnt);
	fd = mkstemp(name);
	TEST_ASSERT(fd >= 0, "mkstemp: %s", strerror(errno));
	TEST_ASSERT(!unlink(name), "unlink");
	TEST_ASSERT(lseek(fd, 0, SEEK_END) == 0, "new file not empty");
	TEST_ASSERT(!fstatfs(fd, &sfs) && sfs.f_type == KVM_MEMEXT_FS_MAGIC,
		    "fstatfs: %#lx", (long)sfs.f_type);
	TEST_ASSERT(!ftruncate(fd, size), "ftruncate: %s", strerror(errno));
	TEST_ASSERT(memext_stat("files") == files + 1, "files %ld", memext_stat("files"));
	TEST_ASSERT(memext_stat("pages") == pages, "ftruncate allocated");

	p = map_aligned(fd, size);
	fill(p, size, 0x5eed);
	TEST_ASSERT(check(p, size, 0x5eed), "pattern");
	TEST_ASSERT(memext_stat("pages") == pages + (long)(size / PAGE_SIZE),
		    "pages %ld, want %ld", memext_stat("pages"), pages + (long)(size / PAGE_SIZE));
	TEST_ASSERT(!ftruncate(fd, size / 2), "owner shrinks: %s", strerror(errno));
	TEST_ASSERT(memext_stat("pages") == pages + (long)(size / 2 / PAGE_SIZE),
		    "pages %ld after shrinking", memext_stat("pages"));

	munmap(p, size);
	close(fd);
	TEST_ASSERT(memext_stat("pages") == pages && memext_stat("files") == files,
		    "after close: pages %ld files %ld", memext_stat("pages"),
		    memext_stat("files"));
	umount_fs();
}

/*
 * A named file (libvirt, Cloud Hypervisor): made and sized by one process,
 * used by another, whose first mmap makes it the owner; no one else may
 * map, grow or allocate while it lives; once it exited, the next user
 * takes over the pages, their contents and their charge.
 */
static void test_named_file_owner(void)
{
	long pages = memext_stat("pages");
	size_t size = 2 * CHUNK;
	int fd, ready[2], go[2];
	uint8_t *p;
	pid_t pid;
	char c;

	mount_fs("mode=0755");
	/* Another process makes and sizes the file, then exits. */
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		fd = open(path("vm1"), O_RDWR | O_CREAT | O_EXCL, 0600);
		_exit(fd < 0 || ftruncate(fd, size) ? 1 : 0);
	}
	wait_child(pid, "creator");

	/* The first user maps it, writes and waits; a third process is refused. */
	TEST_ASSERT(!pipe(ready) && !pipe(go), "pipe");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		fd = open(path("vm1"), O_RDWR);
		if (fd < 0)
			_exit(1);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(2);
		fill(p, size, 0xabcd);
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	TEST_ASSERT(read(ready[0], &c, 1) == 1, "first user did not map");
	fd = open(path("vm1"), O_RDWR);
	TEST_ASSERT(fd >= 0, "open");
	TEST_ASSERT(mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
		    errno == EPERM, "second mm mapped a live owner's file");
	TEST_ASSERT_ERRNO(ftruncate(fd, 2 * size), EPERM, "resize by non-owner");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, PAGE_SIZE), EPERM, "allocate by non-owner");
	TEST_ASSERT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    0, PAGE_SIZE), EPERM, "punch by non-owner");
	TEST_ASSERT(write(go[1], "x", 1) == 1, "release first user");
	wait_child(pid, "first user");

	/* The owner exited: this process takes over, data and charge. */
	TEST_ASSERT(memext_stat("pages") == pages + (long)(size / PAGE_SIZE), "pages kept");
	p = map_aligned(fd, size);
	TEST_ASSERT(check(p, size, 0xabcd), "contents lost across owners");
	TEST_ASSERT(memext_proc_kb("/proc/self/status", "VmPin") >= (long)(size >> 10),
		    "charge not moved: VmPin %ld kB",
		    memext_proc_kb("/proc/self/status", "VmPin"));

	/* Unlinked while mapped: the pages go with the last reference. */
	TEST_ASSERT(!unlink(path("vm1")), "unlink");
	TEST_ASSERT(memext_stat("pages") == pages + (long)(size / PAGE_SIZE), "freed while mapped");
	munmap(p, size);
	close(fd);
	TEST_ASSERT(memext_stat("pages") == pages, "pages %ld after the last close",
		    memext_stat("pages"));
	TEST_ASSERT(memext_proc_kb("/proc/self/status", "VmPin") == 0, "VmPin left");
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	umount_fs();
}

#ifdef __x86_64__
/*
 * Splitting rights are the current owner's: a named file that root used
 * (and could split) and an unprivileged owner took over splits nothing
 * more.  A single accessible page shows its whole block, a one-page hole
 * is zeroed in place; DirectMap4k stays.  Inherited, the rights would
 * split the block's entry (+2048 kB).
 */
static void test_takeover_no_split(void)
{
	size_t size = 2 * CHUNK;
	long dm4k;
	uint8_t *p;
	pid_t pid;
	int fd;

	mount_fs("mode=0755");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		fd = open(path("vm2"), O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, size))
			_exit(1);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(2);
		fill(p, size, 0x5a5a);
		_exit(0);
	}
	wait_child(pid, "privileged owner");

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		drop_cap_sys_admin();
		dm4k = memext_proc_kb("/proc/meminfo", "DirectMap4k");
		fd = open(path("vm2"), O_RDWR);
		TEST_ASSERT(fd >= 0, "open");
		p = map_aligned(fd, size);
		TEST_ASSERT(check(p, size, 0x5a5a), "contents lost across owners");
		memext_set_access(fd, 3 * PAGE_SIZE, PAGE_SIZE, true);
		memext_set_access(fd, 3 * PAGE_SIZE, PAGE_SIZE, false);
		TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       CHUNK + PAGE_SIZE, PAGE_SIZE), "punch: %s",
			    strerror(errno));
		ksft_print_msg("unprivileged owner after root: DirectMap4k %ld -> %ld kB\n",
			       dm4k, memext_proc_kb("/proc/meminfo", "DirectMap4k"));
		TEST_ASSERT(memext_proc_kb("/proc/meminfo", "DirectMap4k") == dm4k,
			    "the new owner split the direct map");
		munmap(p, size);
		close(fd);
		_exit(0);
	}
	wait_child(pid, "unprivileged owner");
	TEST_ASSERT(!unlink(path("vm2")), "unlink");
	umount_fs();
}
#endif

/* Directories work; links, devices, executables and readers' mmap do not. */
static void test_dirs_and_refusals(void)
{
	struct stat st;
	int fd;

	mount_fs("");
	TEST_ASSERT(!mkdir(path("dom"), 0750) && !mkdir(path("dom/ram"), 0700),
		    "mkdir: %s", strerror(errno));
	fd = open(path("dom/ram/pc.ram"), O_RDWR | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));
	TEST_ASSERT(!ftruncate(fd, CHUNK), "ftruncate");
	close(fd);
	TEST_ASSERT(!truncate(path("dom/ram/pc.ram"), 2 * CHUNK), "truncate by path");
	TEST_ASSERT(!rename(path("dom/ram/pc.ram"), path("dom/pc.ram")), "rename");
	TEST_ASSERT(!chmod(path("dom/pc.ram"), 0640) && !chown(path("dom/pc.ram"), 7, 8),
		    "chmod/chown: %s", strerror(errno));
	TEST_ASSERT(!stat(path("dom/pc.ram"), &st) && (st.st_mode & 0777) == 0640 &&
		    st.st_uid == 7 && st.st_gid == 8 && st.st_size == 2 * CHUNK,
		    "stat: mode %o uid %u size %ld", st.st_mode, st.st_uid,
		    (long)st.st_size);
	TEST_ASSERT_ERRNO(rmdir(path("dom")), ENOTEMPTY, "rmdir non-empty");
	TEST_ASSERT_ERRNO(link(path("dom/pc.ram"), path("hard")), EPERM, "link");
	TEST_ASSERT_ERRNO(symlink("x", path("sym")), EPERM, "symlink");
	TEST_ASSERT_ERRNO(mknod(path("fifo"), S_IFIFO | 0600, 0), EPERM, "mknod");
	TEST_ASSERT_ERRNO(open(mnt, O_TMPFILE | O_RDWR, 0600), EOPNOTSUPP, "O_TMPFILE");

	/* Not a program, and a reader does not become the owner. */
	fd = open(path("dom/pc.ram"), O_RDWR);
	TEST_ASSERT(fd >= 0, "open");
	TEST_ASSERT(mmap(NULL, CHUNK, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0) ==
		    MAP_FAILED && errno == EPERM, "PROT_EXEC mapping");
	close(fd);
	/* MAP_SHARED of a read-only open is no shared mapping: refused. */
	fd = open(path("dom/pc.ram"), O_RDONLY);
	TEST_ASSERT(fd >= 0, "open O_RDONLY");
	TEST_ASSERT(mmap(NULL, CHUNK, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
		    errno == EINVAL, "read-only open mapped the file");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, CHUNK), EBADF, "read-only fallocate");
	close(fd);

	TEST_ASSERT(!unlink(path("dom/pc.ram")) && !rmdir(path("dom/ram")) &&
		    !rmdir(path("dom")), "cleanup: %s", strerror(errno));
	umount_fs();
}

/* size= bounds what the mount's files allocate; a remount can change it. */
static void hit_size(void *arg)
{
	TEST_ASSERT_ERRNO(fallocate(*(int *)arg, 0, 0, 3 * CHUNK), ENOSPC, "over size=");
}

static void test_size_limit(void)
{
	long pages = memext_stat("pages");
	struct statfs sfs;
	char what[160];
	int fd;

	mount_fs("size=4M");
	fd = open(path("f"), O_RDWR | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0, "create");
	TEST_ASSERT(!ftruncate(fd, 8 * CHUNK), "a size is not an allocation");
	TEST_ASSERT(memext_stat("pages") == pages, "ftruncate allocated");
	/*
	 * The chunks that fit stay allocated, as on other file systems; the
	 * kernel log says which limit it was.
	 */
	snprintf(what, sizeof(what),
		 "privmem_fs_test[%d]: private memory beyond its mount's size (size MiB: 4); remount",
		 getpid());
	memext_expect_log_line(hit_size, &fd, what);
	TEST_ASSERT(memext_stat("pages") == pages + (long)(2 * CHUNK / PAGE_SIZE),
		    "pages %ld beyond size=", memext_stat("pages") - pages);
	TEST_ASSERT(!fstatfs(fd, &sfs) && sfs.f_bfree == 0 && sfs.f_bavail == 0,
		    "statfs free %lu", (unsigned long)sfs.f_bfree);
	TEST_ASSERT(!mount("none", mnt, "kvm_memext", MS_REMOUNT, "size=8M"),
		    "remount: %s", strerror(errno));
	TEST_ASSERT(!fallocate(fd, 0, 0, 3 * CHUNK), "after remount: %s", strerror(errno));
	/* A remount that does not name size= keeps it. */
	TEST_ASSERT(!mount("none", mnt, "kvm_memext", MS_REMOUNT, ""), "remount");
	TEST_ASSERT_ERRNO(fallocate(fd, 0, 0, 5 * CHUNK), ENOSPC, "size= lost by a remount");
	close(fd);
	TEST_ASSERT(!unlink(path("f")), "unlink");
	TEST_ASSERT(memext_stat("pages") == pages, "pages %ld", memext_stat("pages"));
	umount_fs();
}

/* Unmounting frees what the files held; an open file keeps the mount. */
static void test_umount_frees(void)
{
	long pages = memext_stat("pages"), files = memext_stat("files");
	int fd;

	mount_fs("");
	fd = open(path("a"), O_RDWR | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0 && !fallocate(fd, 0, 0, 2 * CHUNK), "allocate: %s",
		    strerror(errno));
	TEST_ASSERT_ERRNO(umount(mnt), EBUSY, "umount with an open file");
	close(fd);
	TEST_ASSERT(memext_stat("pages") == pages + (long)(2 * CHUNK / PAGE_SIZE),
		    "a linked file lost its pages");
	umount_fs();
	TEST_ASSERT(memext_stat("pages") == pages && memext_stat("files") == files,
		    "after umount: pages %ld files %ld", memext_stat("pages"),
		    memext_stat("files"));
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_mount_options),
		MEMEXT_TEST(test_qemu_directory_flow),
		MEMEXT_TEST(test_named_file_owner),
#ifdef __x86_64__
		/* arm64's linear map is page-granular: nothing splits. */
		MEMEXT_TEST(test_takeover_no_split),
#endif
		MEMEXT_TEST(test_dirs_and_refusals),
		MEMEXT_TEST(test_size_limit),
		MEMEXT_TEST(test_umount_frees),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
