// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU runstate areas (KVM_MEMEXT_RUNSTATE_*) with real guests
 * (runstate_util.h): lifetimes (thread exits without detaching and the
 * vCPU moves to another thread, handle closed from another thread while
 * the vCPU runs, VM closed first), signals during the first attach,
 * attaches while a memslot under the area comes and goes, and every bad
 * input, an area in a read-only memslot among them.
 */
#include <pthread.h>
#include <signal.h>

#include "runstate_util.h"

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

/*
 * RUNSTATE_ATTACH arguments refused while nothing is attached;
 * @other_vcpu_fd is a vCPU of another VM.
 */
static void check_bad_attach(struct rs_ctx *c, int other_vcpu_fd)
{
	int vcpu = c->vcpu->fd;
	uint64_t gpa = c->gpa;
	const struct {
		const char *what;
		struct kvm_memext_runstate args;
		int err;
	} bad_attach[] = {
		{ "unaligned area",
		  { .vcpu_fd = vcpu, .gpa = gpa + 4, .size = AREA64 }, EINVAL },
		{ "unaligned compat area",
		  { .vcpu_fd = vcpu, .gpa = gpa + 2, .size = AREA32,
		    .flags = KVM_MEMEXT_RUNSTATE_COMPAT32 }, EINVAL },
		{ "oversized area",
		  { .vcpu_fd = vcpu, .gpa = gpa, .size = AREA64 + 8 }, EINVAL },
		{ "size of the other layout",
		  { .vcpu_fd = vcpu, .gpa = gpa, .size = AREA32 }, EINVAL },
		{ "unknown flags",
		  { .vcpu_fd = vcpu, .gpa = gpa, .size = AREA64, .flags = 2 }, EINVAL },
		{ "gpa outside any slot",
		  { .vcpu_fd = vcpu, .gpa = 0x80000000ul, .size = AREA64 }, EFAULT },
		{ "area running past the last slot",
		  { .vcpu_fd = vcpu, .gpa = GPA_B + NR_PAGES * PAGE_SIZE - 8, .size = AREA64 },
		  EFAULT },
		{ "vCPU fd of another VM",
		  { .vcpu_fd = other_vcpu_fd, .gpa = gpa, .size = AREA64 }, EINVAL },
		{ "VM fd instead of a vCPU fd",
		  { .vcpu_fd = c->vm->fd, .gpa = gpa, .size = AREA64 }, EINVAL },
		{ "closed fd", { .vcpu_fd = -1, .gpa = gpa, .size = AREA64 }, EBADF },
		{ "address space out of range",
		  { .vcpu_fd = vcpu, .gpa = gpa, .size = AREA64, .as_id = 7 }, EINVAL },
		{ "nonzero reserved",
		  { .vcpu_fd = vcpu, .gpa = gpa, .size = AREA64, .reserved[1] = 1 }, EINVAL },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_attach); i++)
		TEST_ASSERT_ERRNO(ioctl(c->handle, KVM_MEMEXT_RUNSTATE_ATTACH,
					&bad_attach[i].args),
				  bad_attach[i].err, bad_attach[i].what);
}

static void test_bad_inputs(void)
{
	struct kvm_memext_runstate_info info = {};
	struct kvm_memext_runstate a;
	struct kvm_vcpu *other_vcpu;
	struct kvm_vm *other;
	struct rs_ctx c;
	pthread_t t;

	ctx_init(&c, SHM, 0x100, false);
	other_ctx = &c;
	other = vm_create_with_one_vcpu(&other_vcpu, guest_code);

	check_bad_attach(&c, other_vcpu->fd);
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

/*
 * Attach while another thread deletes and re-creates the area's second
 * memslot: each attach succeeds or fails whole (EFAULT: a slot is
 * missing; EAGAIN: the slots kept changing), also when the slot goes
 * between mapping the area and writing it, and a failed one leaves
 * nothing behind (no area, no reference; kmemleak on the debug kernel).
 * Attaches until each outcome was seen FLAP_EACH times and the slot went
 * and came back FLAP_CYCLES times, for at most FLAP_SECONDS.
 */
#define FLAP_EACH	100
#define FLAP_CYCLES	20
#define FLAP_SECONDS	20

struct flapper {
	struct rs_ctx *c;
	bool stop;
	int flaps;
};

static void *flap_slot(void *arg)
{
	struct flapper *f = arg;

	/* A while in each state, so that attaches meet both and the moves. */
	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		vm_set_user_memory_region(f->c->vm, SLOT_B, 0, GPA_B, 0, NULL);
		usleep(1000);
		vm_set_user_memory_region(f->c->vm, SLOT_B, 0, GPA_B,
					  NR_PAGES * PAGE_SIZE, f->c->hva[1]);
		usleep(1000);
		__atomic_add_fetch(&f->flaps, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_attach_while_slot_flaps(void)
{
	struct kvm_memext_runstate_info info;
	time_t deadline = time(NULL) + FLAP_SECONDS;
	struct flapper f = {};
	int i, ok = 0, efault = 0, eagain = 0;
	struct rs_ctx c;
	pthread_t t;

	ctx_init(&c, SHM, NR_PAGES * PAGE_SIZE - 24, false);
	f.c = &c;
	pthread_create(&t, NULL, flap_slot, &f);
	for (i = 0; (ok < FLAP_EACH || efault < FLAP_EACH ||
		     __atomic_load_n(&f.flaps, __ATOMIC_RELAXED) < FLAP_CYCLES) &&
		    time(NULL) < deadline; i++) {
		if (!__attach(&c, c.vcpu->fd, c.gpa, AREA64, 0)) {
			ok++;
			TEST_ASSERT(!__detach(&c, c.vcpu->fd), "detach: %s",
				    strerror(errno));
			continue;
		}
		TEST_ASSERT(errno == EFAULT || errno == EAGAIN,
			    "attach %d: %s", i, strerror(errno));
		efault += errno == EFAULT;
		eagain += errno == EAGAIN;
		info = (struct kvm_memext_runstate_info) { .vcpu_fd = c.vcpu->fd };
		TEST_ASSERT_ERRNO(ioctl(c.handle, KVM_MEMEXT_RUNSTATE_GET, &info),
				  ENOENT, "an area left by a failed attach");
	}
	__atomic_store_n(&f.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ksft_print_msg("%d attaches: %d attached, %d EFAULT, %d EAGAIN; %d flaps\n",
		       i, ok, efault, eagain, f.flaps);
	TEST_ASSERT(ok && efault, "the attaches did not meet the flapping slot");
	attach(&c);
	switch_once(&c);
	check_current(&c, "after the flapping");
	ctx_done(&c);
}

int main(int argc, char *argv[])
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_thread_exits_attached),
		MEMEXT_TEST(test_close_handle_while_running),
		MEMEXT_TEST(test_vm_closed_first),
		MEMEXT_TEST(test_attach_signals),
		MEMEXT_TEST(test_bad_inputs),
		MEMEXT_TEST(test_readonly_slot),
		MEMEXT_TEST(test_attach_while_slot_flaps),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
