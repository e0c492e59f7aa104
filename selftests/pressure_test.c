// SPDX-License-Identifier: GPL-2.0
/*
 * Memory pressure: a VMM whose private memory exceeds its cgroup v2
 * memory.max is OOM-killed by the memory controller, and every page and
 * file comes back; a guest keeps running, and reads what it wrote, while
 * the host swaps its anonymous memory out under it, beside a memslot of
 * private memory that swapping does not touch.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define CHUNK		(512 * PAGE_SIZE)
#define CGROOT		"/sys/fs/cgroup"
#define CG		CGROOT "/kvm_memext-oom"
#define ANON_GPA	0x40000000ul
#define PRIV_GPA	0x60000000ul
#define ANON_PAGES	1024		/* 4 MiB */
#define PATTERN(p)	(0x5a5a000000000000ull | (p))

static long vm_event(const char *name)
{
	char key[64];
	long val;
	FILE *f = fopen("/proc/vmstat", "r");

	TEST_ASSERT(f, "open the kernel's vm events");
	while (fscanf(f, "%63s %ld", key, &val) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return val;
		}
	}
	fclose(f);
	return -1;
}

static long cg_event(const char *name)
{
	char key[64];
	long val, found = -1;
	FILE *f = fopen(CG "/memory.events", "r");

	TEST_ASSERT(f, "open memory.events");
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			found = val;
	fclose(f);
	return found;
}

/* The child: in the cgroup, fault in four times its memory.max. */
static void oom_child(void)
{
	struct kvm_memext_create_privmem args = { .size = 64 * CHUNK };
	int dev = memext_open(), fd;
	char pid[16];
	uint8_t *p;
	size_t i;

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (!__memext_write_file(CG "/cgroup.procs", pid))
		_exit(2);
	fd = ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &args);
	if (fd < 0)
		_exit(3);
	p = mmap(NULL, args.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		_exit(4);
	for (i = 0; i < args.size; i += PAGE_SIZE)
		p[i] = 1;
	/* Not killed: the limit did not hold. */
	_exit(5);
}

static void test_memcg_oom_kill(void)
{
	long files, pages, dm;
	int status, ms;
	pid_t pid;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	files = memext_stat("files");
	pages = memext_stat("pages");
	dm = memext_proc_kb("/proc/meminfo", "DirectMap4k");
	if (access(CGROOT "/cgroup.controllers", F_OK))
		mount("none", CGROOT, "cgroup2", 0, NULL);
	__TEST_REQUIRE(!access(CGROOT "/cgroup.controllers", F_OK), "no cgroup v2");
	__memext_write_file(CGROOT "/cgroup.subtree_control", "+memory");
	rmdir(CG);
	TEST_ASSERT(!mkdir(CG, 0755), "mkdir %s: %s", CG, strerror(errno));
	__TEST_REQUIRE(__memext_write_file(CG "/memory.max", "32M"), "no memory controller");
	__memext_write_file(CG "/memory.swap.max", "0");

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid)
		oom_child();
	for (ms = 0; waitpid(pid, &status, WNOHANG) == 0; ms++) {
		if (ms == 120000) {
			kill(pid, SIGKILL);
			TEST_FAIL("the VMM over its memory.max still runs after 120 s");
		}
		usleep(1000);
	}
	TEST_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "the VMM was not OOM-killed: status 0x%x", status);
	TEST_ASSERT(cg_event("oom_kill") >= 1, "no oom_kill in memory.events");
	/* Reaped: everything it held is back. */
	for (ms = 0; ms < 10000; ms++) {
		if (memext_stat("files") == files && memext_stat("pages") == pages)
			break;
		usleep(1000);
	}
	TEST_ASSERT(memext_stat("files") == files && memext_stat("pages") == pages &&
		    !memext_stat("leaked_pages"),
		    "after the OOM kill: files %ld (%ld), pages %ld (%ld), leaked %ld",
		    memext_stat("files"), files, memext_stat("pages"), pages,
		    memext_stat("leaked_pages"));
	TEST_ASSERT(memext_proc_kb("/proc/meminfo", "DirectMap4k") == dm,
		    "DirectMap4k %ld -> %ld kB", dm,
		    memext_proc_kb("/proc/meminfo", "DirectMap4k"));
	ksft_print_msg("OOM-killed at memory.max 32M: oom_kill %ld, oom %ld, max %ld\n",
		       cg_event("oom_kill"), cg_event("oom"), cg_event("max"));
	TEST_ASSERT(!rmdir(CG), "rmdir %s: %s", CG, strerror(errno));
}

/* The guest reads both slots over and over; wrong values are reported. */
static void guest_code(void)
{
	uint64_t p, bad;

	for (;;) {
		bad = 0;
		for (p = 0; p < ANON_PAGES; p++)
			bad += READ_ONCE(*(uint64_t *)(ANON_GPA + p * PAGE_SIZE)) != PATTERN(p);
		for (p = 0; p < 512; p++)
			bad += READ_ONCE(*(uint64_t *)(PRIV_GPA + p * PAGE_SIZE)) != PATTERN(p);
		GUEST_SYNC(bad);
	}
}

static bool stop_swapping;

static void *swap_fn(void *arg)
{
	while (!READ_ONCE(stop_swapping)) {
		/* Out to swap; the guest's next reads fault them back in. */
		madvise(arg, ANON_PAGES * PAGE_SIZE, MADV_PAGEOUT);
		usleep(20000);
	}
	return NULL;
}

static void test_swap_under_guest(void)
{
	struct kvm_memext_create_privmem args = { .size = CHUNK };
	long out0 = vm_event("pswpout"), in0 = vm_event("pswpin"), pages;
	uint64_t rounds, p, bad = 0;
	struct kvm_vcpu *vcpu;
	uint8_t *anon, *priv;
	time_t start;
	struct kvm_vm *vm;
	struct ucall uc;
	pthread_t t;
	int dev = memext_open(), fd;

	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	__TEST_REQUIRE(out0 >= 0 && memext_proc_kb("/proc/meminfo", "SwapTotal") > 0,
		       "no swap");
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	anon = mmap(NULL, ANON_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &args);
	TEST_ASSERT(anon != MAP_FAILED && fd >= 0, "mmap, CREATE_PRIVMEM");
	priv = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(priv != MAP_FAILED, "mmap privmem: %s", strerror(errno));
	for (p = 0; p < ANON_PAGES; p++)
		*(uint64_t *)(anon + p * PAGE_SIZE) = PATTERN(p);
	for (p = 0; p < 512; p++)
		*(uint64_t *)(priv + p * PAGE_SIZE) = PATTERN(p);
	vm_set_user_memory_region(vm, 10, 0, ANON_GPA, ANON_PAGES * PAGE_SIZE, anon);
	vm_set_user_memory_region(vm, 11, 0, PRIV_GPA, CHUNK, priv);
	virt_map(vm, ANON_GPA, ANON_GPA, ANON_PAGES);
	virt_map(vm, PRIV_GPA, PRIV_GPA, 512);
	pages = memext_stat("pages");

	pthread_create(&t, NULL, swap_fn, anon);
	/*
	 * 100 rounds or 30 s (a round takes 4 s under arm64's TCG), until
	 * the whole slot went out once (or 2,000 rounds).
	 */
	start = time(NULL);
	for (rounds = 0; rounds < 2000; rounds++) {
		if ((rounds >= 100 || time(NULL) - start >= 30) &&
		    vm_event("pswpout") - out0 >= ANON_PAGES)
			break;
		vcpu_run(vcpu);
		TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC, "exit %s",
			    exit_reason_str(vcpu->run->exit_reason));
		bad += uc.args[1];
	}
	WRITE_ONCE(stop_swapping, true);
	pthread_join(t, NULL);
	ksft_print_msg("%lu guest rounds: pswpout +%ld, pswpin +%ld, wrong values %lu\n",
		       (unsigned long)rounds, vm_event("pswpout") - out0,
		       vm_event("pswpin") - in0, (unsigned long)bad);
	TEST_ASSERT(!bad, "the guest read %lu wrong values", (unsigned long)bad);
	/* 6.1's MADV_PAGEOUT leaves the pages KVM maps (seen: 1 page out). */
	__TEST_REQUIRE(vm_event("pswpout") - out0 >= 64,
		       "MADV_PAGEOUT swapped out almost nothing on this kernel");
	TEST_ASSERT(memext_stat("pages") == pages, "private pages %ld -> %ld",
		    pages, memext_stat("pages"));
	kvm_vm_free(vm);
	close(fd);
	close(dev);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_memcg_oom_kill),
		MEMEXT_TEST(test_swap_under_guest),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
