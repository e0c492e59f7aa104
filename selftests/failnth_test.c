// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection at every allocation of each entry point: the n-th
 * allocation of the calling thread fails (/proc/thread-self/fail-nth, with
 * failslab and fail_page_alloc both armed for every allocation), for
 * n = 1, 2, ... until the call makes fewer than n.  Each call either
 * succeeds or fails with ENOMEM, and a failed one changes nothing: the
 * module's counters and references are as before, the object was not
 * created, and the same call succeeds right after.  Leaks are the debug
 * kernel's kmemleak's to find, at the end of the run.
 *
 * Entry points: binding a VM, attaching a runstate area (which activates
 * and first refreshes a guest-page cache), creating a private-memory file,
 * SET_ACCESS, truncate, a page fault (in a child, whose fail-nth is its
 * own), and the file system's create and mkdir.  Memslot batches and
 * fallocate have their own sweeps (memslot_batch_api_test, privmem_test).
 *
 * Needs the debug kernel's fault injection; skips elsewhere.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "memext_util.h"
#include "processor.h"

#define CHUNK		(512 * PAGE_SIZE)
#define GPA		0x40000000ul
#define SLOT		10
#define MNT		"/tmp/kvm_memext-failnth"
#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"

static int nth_fd = -1;

/* Every allocation counts, sleeping ones and order 0 included. */
static void arm(void)
{
	__TEST_REQUIRE(!access(FAILSLAB "ignore-gfp-wait", W_OK) &&
		       !access(FAILPAGE "min-order", W_OK),
		       "no failslab or fail_page_alloc (they are on the debug kernel)");
	memext_write_file(FAILSLAB "ignore-gfp-wait", "N");
	memext_write_file(FAILSLAB "verbose", "0");
	memext_write_file(FAILPAGE "ignore-gfp-wait", "N");
	memext_write_file(FAILPAGE "min-order", "0");
	memext_write_file(FAILPAGE "verbose", "0");
	/* fail-nth stays open: opening it would be an allocation of its own. */
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	TEST_ASSERT(nth_fd >= 0, "open fail-nth");
}

static void disarm(void)
{
	close(nth_fd);
	memext_write_file(FAILSLAB "ignore-gfp-wait", "Y");
	memext_write_file(FAILPAGE "ignore-gfp-wait", "Y");
	memext_write_file(FAILPAGE "min-order", "1");
}

/*
 * Sweep @op: it returns 0 or -1 with errno; @check then asserts what must
 * hold after it (r is its result) and undoes a success.  Returns the
 * number of allocations that were made to fail.
 */
static int sweep(const char *what, int (*op)(void *), void (*check)(void *, int),
		 void *arg)
{
	int n, r, err, left, failed = 0, past_end = 0;
	char trace[512] = "";

	/* Warm the slab caches, so that every run makes the same calls. */
	r = op(arg);
	TEST_ASSERT(!r, "%s without injection: %s", what, strerror(errno));
	check(arg, r);
	for (n = 1; n < 2000; n++) {
		memext_set_fail_nth(nth_fd, n);
		r = op(arg);
		err = errno;
		left = memext_get_fail_nth(nth_fd);
		memext_set_fail_nth(nth_fd, 0);
		/* E: failed, .: absorbed (retried, or a fallback), -: past */
		if (n < (int)sizeof(trace))
			trace[n - 1] = left ? '-' : r ? 'E' : '.';
		TEST_ASSERT(!r || err == ENOMEM, "%s, allocation %d failed: %s",
			    what, n, strerror(err));
		errno = err;
		check(arg, r);
		/*
		 * Past the last allocation, fail-nth is left over.  Slab and
		 * memcg refills vary a little from run to run: stop after
		 * three such runs in a row.
		 */
		if (left) {
			TEST_ASSERT(!r, "%s failed without injection: %s", what,
				    strerror(err));
			if (++past_end == 3)
				break;
			continue;
		}
		past_end = 0;
		failed += !!r;
	}
	TEST_ASSERT(n < 2000, "%s: more than 2000 allocations", what);
	ksft_print_msg("%s: %d allocations, %d failed cleanly: %s\n", what,
		       n - 3, failed, trace);
	return failed;
}

/* Binding a VM */

struct bind_ctx {
	int dev;
	struct kvm_vm *vm;
	long refcnt;
	int handle;
};

static int op_bind(void *arg)
{
	struct bind_ctx *c = arg;

	c->handle = __memext_bind(c->dev, c->vm->fd, 0);
	return c->handle < 0 ? -1 : 0;
}

static void check_bind(void *arg, int r)
{
	struct bind_ctx *c = arg;

	if (r) {
		/* Not bound: binding again works. */
		c->handle = memext_bind(c->dev, c->vm->fd);
	}
	close(c->handle);
	TEST_ASSERT(memext_module_refcnt() == c->refcnt, "module refcnt %ld, was %ld",
		    memext_module_refcnt(), c->refcnt);
}

static void test_bind(void)
{
	struct bind_ctx c = { .dev = memext_open() };

	arm();
	c.vm = vm_create_barebones();
	c.refcnt = memext_module_refcnt();
	TEST_ASSERT(sweep("bind", op_bind, check_bind, &c) > 0, "no failure injected");
	disarm();
}

/* Attaching a runstate area: cache activation and its first refresh */

struct rs_ctx {
	int handle;
	struct kvm_vcpu *vcpu;
};

static int op_attach(void *arg)
{
	struct rs_ctx *c = arg;
	/* Across two pages. */
	struct kvm_memext_runstate a = {
		.vcpu_fd = c->vcpu->fd, .gpa = GPA + PAGE_SIZE - 16,
		.size = sizeof(struct kvm_memext_runstate_area),
	};

	return ioctl(c->handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a);
}

static void check_attach(void *arg, int r)
{
	struct rs_ctx *c = arg;
	struct kvm_memext_runstate a = { .vcpu_fd = c->vcpu->fd };
	struct kvm_memext_runstate_info info = { .vcpu_fd = c->vcpu->fd };

	if (r) {
		TEST_ASSERT_ERRNO(ioctl(c->handle, KVM_MEMEXT_RUNSTATE_GET, &info),
				  ENOENT, "area attached by a failed attach");
		TEST_ASSERT(!op_attach(c), "attach after a failed one: %s",
			    strerror(errno));
	}
	TEST_ASSERT(!ioctl(c->handle, KVM_MEMEXT_RUNSTATE_DETACH, &a),
		    "detach: %s", strerror(errno));
}

static void test_runstate_attach(void)
{
	struct kvm_memext_runstate_area *area;
	struct rs_ctx c;
	struct kvm_vm *vm;
	int dev = memext_open();
	void *mem;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_RUNSTATE));
	arm();
	vm = vm_create_with_one_vcpu(&c.vcpu, NULL);
	c.handle = memext_bind(dev, vm->fd);
	mem = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(mem != MAP_FAILED, "mmap");
	vm_set_user_memory_region(vm, SLOT, 0, GPA, 2 * PAGE_SIZE, mem);
	TEST_ASSERT(sweep("runstate attach", op_attach, check_attach, &c) > 0,
		    "no failure injected");
	/* The last detach wrote the area: state offline. */
	area = (void *)((char *)mem + PAGE_SIZE - 16);
	TEST_ASSERT(area->state == KVM_MEMEXT_RUNSTATE_OFFLINE, "state %u", area->state);
	disarm();
}

/* Private-memory files */

struct pm_ctx {
	int dev;
	int fd;
	long files;
	long pages;
};

static int op_create(void *arg)
{
	struct pm_ctx *c = arg;
	struct kvm_memext_create_privmem a = { .size = 2 * CHUNK };

	c->fd = ioctl(c->dev, KVM_MEMEXT_CREATE_PRIVMEM, &a);
	return c->fd < 0 ? -1 : 0;
}

static void check_create(void *arg, int r)
{
	struct pm_ctx *c = arg;

	if (!r)
		close(c->fd);
	TEST_ASSERT(memext_stat("files") == c->files, "files %ld, were %ld",
		    memext_stat("files"), c->files);
}

static void test_privmem_create(void)
{
	struct pm_ctx c = { .dev = memext_open() };

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	arm();
	c.files = memext_stat("files");
	TEST_ASSERT(sweep("privmem create", op_create, check_create, &c) > 0,
		    "no failure injected");
	disarm();
}

/* A populated file of two chunks, for SET_ACCESS and truncate. */
static void populated_file(struct pm_ctx *c)
{
	c->dev = memext_open();
	c->files = memext_stat("files");
	c->pages = memext_stat("pages");
	TEST_ASSERT(!op_create(c), "create: %s", strerror(errno));
	TEST_ASSERT(!fallocate(c->fd, 0, 0, 2 * CHUNK), "fallocate: %s",
		    strerror(errno));
}

static int op_access(void *arg)
{
	/* Part of the first chunk: ranges split, the block is split. */
	return __memext_set_access(((struct pm_ctx *)arg)->fd, 3 * PAGE_SIZE,
				   5 * PAGE_SIZE, KVM_MEMEXT_PRIVMEM_ACCESSIBLE);
}

static void check_access(void *arg, int r)
{
	struct pm_ctx *c = arg;

	if (r) {
		TEST_ASSERT(memext_stat("accessible_pages") == 0,
			    "%ld pages accessible after a failed SET_ACCESS",
			    memext_stat("accessible_pages"));
		TEST_ASSERT(!op_access(c), "SET_ACCESS after a failed one: %s",
			    strerror(errno));
	}
	memext_set_access(c->fd, 3 * PAGE_SIZE, 5 * PAGE_SIZE, false);
	TEST_ASSERT(memext_stat("accessible_pages") == 0, "accessible pages left");
}

static void test_set_access(void)
{
	struct pm_ctx c;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	arm();
	populated_file(&c);
	TEST_ASSERT(sweep("SET_ACCESS", op_access, check_access, &c) > 0,
		    "no failure injected");
	close(c.fd);
	TEST_ASSERT(memext_stat("pages") == c.pages, "pages left");
	disarm();
}

static int op_truncate(void *arg)
{
	/* Into the second chunk: a part of a block goes. */
	return ftruncate(((struct pm_ctx *)arg)->fd, CHUNK + 7 * PAGE_SIZE);
}

static void check_truncate(void *arg, int r)
{
	struct pm_ctx *c = arg;
	struct stat st;

	TEST_ASSERT(!fstat(c->fd, &st), "fstat");
	TEST_ASSERT(st.st_size == (off_t)(r ? 2 * CHUNK : CHUNK + 7 * PAGE_SIZE),
		    "size %ld after truncate returned %d", (long)st.st_size, r);
	/* As before: two whole chunks. */
	TEST_ASSERT(!ftruncate(c->fd, 2 * CHUNK) &&
		    !fallocate(c->fd, 0, 0, 2 * CHUNK), "restore: %s",
		    strerror(errno));
	TEST_ASSERT(memext_stat("pages") == c->pages + (long)(2 * CHUNK / PAGE_SIZE),
		    "pages %ld, want %ld", memext_stat("pages"),
		    c->pages + (long)(2 * CHUNK / PAGE_SIZE));
}

static void test_truncate(void)
{
	struct pm_ctx c;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	arm();
	populated_file(&c);
	/* Freeing need not allocate: failures are counted, not required. */
	sweep("truncate", op_truncate, check_truncate, &c);
	close(c.fd);
	TEST_ASSERT(memext_stat("pages") == c.pages, "pages left");
	disarm();
}

/*
 * A first touch, in a child: fail-nth is per task, and the file's owner
 * (its creator) is the one that may map it.
 */
static int op_fault(void *arg)
{
	struct pm_ctx *c = arg;
	int status, p[2], n, left;
	uint8_t *m;
	pid_t pid;

	/* The parent's n-th allocation is the child's, in fork()'s place. */
	n = memext_get_fail_nth(nth_fd);
	memext_set_fail_nth(nth_fd, 0);
	TEST_ASSERT(!pipe(p), "pipe");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		int fd = open("/proc/thread-self/fail-nth", O_RDWR);

		if (fd < 0 || op_create(c))
			_exit(2);
		m = mmap(NULL, 2 * CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->fd, 0);
		if (m == MAP_FAILED)
			_exit(3);
		memext_set_fail_nth(fd, n);
		/* A failed allocation is VM_FAULT_OOM: the fault is retried. */
		m[0] = 1;
		m[CHUNK + 5 * PAGE_SIZE] = 1;
		left = memext_get_fail_nth(fd);
		_exit(write(p[1], &left, sizeof(left)) == sizeof(left) &&
		      m[1] == 0 ? 0 : 4);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	TEST_ASSERT(WIFEXITED(status) && !WEXITSTATUS(status),
		    "fault in the child: status 0x%x", status);
	TEST_ASSERT(read(p[0], &left, sizeof(left)) == sizeof(left), "read");
	close(p[0]);
	close(p[1]);
	/* Report the child's count back as the sweep's own. */
	memext_set_fail_nth(nth_fd, left);
	return 0;
}

static void check_fault(void *arg, int r)
{
	struct pm_ctx *c = arg;

	TEST_ASSERT(memext_stat("files") == c->files && memext_stat("pages") == c->pages &&
		    !memext_stat("leaked_pages"), "files %ld pages %ld leaked %ld",
		    memext_stat("files"), memext_stat("pages"),
		    memext_stat("leaked_pages"));
}

static void test_fault(void)
{
	struct pm_ctx c = { .dev = memext_open() };

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	arm();
	c.files = memext_stat("files");
	c.pages = memext_stat("pages");
	/* Every failure is absorbed (the fault is retried): none returns. */
	sweep("first touch", op_fault, check_fault, &c);
	disarm();
}

/* The file system */

static int op_create_file(void *arg)
{
	int fd = open(MNT "/f", O_CREAT | O_EXCL | O_RDWR, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void check_create_file(void *arg, int r)
{
	struct stat st;

	if (r)
		TEST_ASSERT_ERRNO(stat(MNT "/f", &st), ENOENT,
				  "file left by a failed create");
	else
		TEST_ASSERT(!unlink(MNT "/f"), "unlink");
	TEST_ASSERT(memext_stat("files") == *(long *)arg, "files left");
}

static int op_mkdir(void *arg)
{
	return mkdir(MNT "/d", 0700);
}

static void check_mkdir(void *arg, int r)
{
	struct stat st;

	if (r)
		TEST_ASSERT_ERRNO(stat(MNT "/d", &st), ENOENT,
				  "directory left by a failed mkdir");
	else
		TEST_ASSERT(!rmdir(MNT "/d"), "rmdir");
}

static void test_fs(void)
{
	long files;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM_FS));
	files = memext_stat("files");
	arm();
	mkdir(MNT, 0700);
	TEST_ASSERT(!mount("none", MNT, "kvm_memext", 0, NULL), "mount: %s",
		    strerror(errno));
	TEST_ASSERT(sweep("fs create", op_create_file, check_create_file, &files) > 0,
		    "no failure injected");
	TEST_ASSERT(sweep("fs mkdir", op_mkdir, check_mkdir, NULL) > 0,
		    "no failure injected");
	TEST_ASSERT(!umount(MNT), "umount: %s", strerror(errno));
	disarm();
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_bind),
		MEMEXT_TEST(test_runstate_attach),
		MEMEXT_TEST(test_privmem_create),
		MEMEXT_TEST(test_set_access),
		MEMEXT_TEST(test_truncate),
		MEMEXT_TEST(test_fault),
		MEMEXT_TEST(test_fs),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
