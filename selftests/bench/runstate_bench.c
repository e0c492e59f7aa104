// SPDX-License-Identifier: GPL-2.0
/*
 * What keeping a runstate area current costs per context switch, side by
 * side in one run: no area; kvm_memext's area inside one page, across two
 * pages, across two memslots; and KVM's own Xen runstate area (one cache
 * inside a page, two caches across pages), where the kernel has Xen
 * support (x86 only).
 *
 * The vCPU thread runs a spinning guest on CPU 0.  A SCHED_FIFO thread on
 * CPU 0, woken from CPU 1, preempts it and goes back to sleep: every round
 * trip switches the vCPU thread out (runnable) and in (running) once,
 * inside KVM_RUN, where both KVM's and kvm_memext's notifiers run.
 *
 * Prints the median round trip over R repeats of N round trips, and the
 * overhead over "no area" per round trip.
 *
 * Usage: runstate_bench [-r repeats] [-n round trips]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* sched_setaffinity(); 6.1's library does not define it */
#endif
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

#include "bench_util.h"
#include "memext_util.h"
#include "processor.h"

#define GPA_A		0x40000000ul
#define NR_PAGES	4
#define GPA_B		(GPA_A + NR_PAGES * PAGE_SIZE)

enum kind { NONE, MEMEXT, XEN };

static const struct config {
	const char *name;
	enum kind kind;
	uint64_t gpa;
} configs[] = {
	{ "no runstate area", NONE, 0 },
	{ "kvm_memext, inside one page", MEMEXT, GPA_A + 0x100 },
	{ "kvm_memext, across two pages", MEMEXT, GPA_A + PAGE_SIZE - 16 },
	{ "kvm_memext, across two memslots", MEMEXT, GPA_B - 24 },
#ifdef __x86_64__
	{ "KVM Xen, inside one page", XEN, GPA_A + 0x100 },
	{ "KVM Xen, across two pages", XEN, GPA_A + PAGE_SIZE - 16 },
#endif
};

static void guest_code(void)
{
	for (;;)
		cpu_relax();
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static int handle;
static const struct config *cfg;
static int stop, attached;
static uint32_t go, ack;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	TEST_ASSERT(!sched_setaffinity(0, sizeof(set), &set), "affinity to CPU %d", cpu);
}

static void kick_handler(int sig)
{
}

static void *vcpu_fn(void *arg)
{
	pin(0);
	if (cfg->kind == MEMEXT) {
		struct kvm_memext_runstate a = {
			.vcpu_fd = vcpu->fd, .gpa = cfg->gpa,
			.size = sizeof(struct kvm_memext_runstate_area),
		};

		TEST_ASSERT(!ioctl(handle, KVM_MEMEXT_RUNSTATE_ATTACH, &a),
			    "attach: %s", strerror(errno));
	}
	WRITE_ONCE(attached, 1);
	while (!READ_ONCE(stop)) {
		int r = __vcpu_run(vcpu);

		TEST_ASSERT(r == -1 && errno == EINTR, "vCPU exit %s",
			    exit_reason_str(vcpu->run->exit_reason));
	}
	return NULL;
}

static long futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

/* Wakes on CPU 0, preempting the vCPU thread, acknowledges, sleeps. */
static void *switcher_fn(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	uint32_t seen = 0;

	pin(0);
	TEST_ASSERT(!sched_setscheduler(0, SCHED_FIFO, &sp), "SCHED_FIFO");
	while (!READ_ONCE(stop)) {
		while (READ_ONCE(go) == seen && !READ_ONCE(stop))
			futex(&go, FUTEX_WAIT, seen);
		seen = READ_ONCE(go);
		__atomic_store_n(&ack, seen, __ATOMIC_RELEASE);
	}
	return NULL;
}

#ifdef __x86_64__
#define XEN_MSR		0x40000200

static void xen_setup(uint64_t gpa)
{
	struct kvm_xen_hvm_config hvm = { .msr = XEN_MSR };
	struct kvm_xen_vcpu_attr attr = {
		.type = KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR, .u.gpa = gpa,
	};

	vm_ioctl(vm, KVM_XEN_HVM_CONFIG, &hvm);
	vcpu_ioctl(vcpu, KVM_XEN_VCPU_SET_ATTR, &attr);
}

static bool xen_runstate(void)
{
	return kvm_check_cap(KVM_CAP_XEN_HVM) & KVM_XEN_HVM_CONFIG_RUNSTATE;
}
#else
/* KVM's Xen emulation is x86's: no such configuration here. */
static void xen_setup(uint64_t gpa)
{
	TEST_FAIL("no Xen emulation");
}

static bool xen_runstate(void)
{
	return false;
}
#endif

/* Median round trip (ns) of one configuration. */
static double run_config(const struct config *c, int dev, int repeats, int n)
{
	pthread_t vt, st;
	double *s, t0, med;
	uint8_t *a, *b;
	int r, i;

	cfg = c;
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	handle = memext_bind(dev, vm->fd);
	a = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(a != MAP_FAILED && b != MAP_FAILED, "mmap");
	vm_set_user_memory_region(vm, 10, 0, GPA_A, NR_PAGES * PAGE_SIZE, a);
	vm_set_user_memory_region(vm, 11, 0, GPA_B, NR_PAGES * PAGE_SIZE, b);
	if (c->kind == XEN)
		xen_setup(c->gpa);

	WRITE_ONCE(stop, 0);
	WRITE_ONCE(attached, 0);
	go = 0;
	ack = 0;
	pthread_create(&vt, NULL, vcpu_fn, NULL);
	pthread_create(&st, NULL, switcher_fn, NULL);
	while (!READ_ONCE(attached))
		usleep(1000);
	usleep(10000);

	s = calloc(repeats, sizeof(*s));
	TEST_ASSERT(s, "calloc");
	for (r = 0; r < repeats; r++) {
		t0 = now_ns();
		for (i = 0; i < n; i++) {
			uint32_t want = READ_ONCE(go) + 1;

			__atomic_store_n(&go, want, __ATOMIC_RELEASE);
			futex(&go, FUTEX_WAKE, 1);
			while (__atomic_load_n(&ack, __ATOMIC_ACQUIRE) != want)
				cpu_relax();
		}
		s[r] = (now_ns() - t0) / n;
	}
	med = median(s, repeats);
	free(s);

	WRITE_ONCE(stop, 1);
	__atomic_store_n(&go, go + 1, __ATOMIC_RELEASE);
	futex(&go, FUTEX_WAKE, 1);
	pthread_join(st, NULL);
	pthread_kill(vt, SIGUSR1);
	pthread_join(vt, NULL);
	close(handle);
	kvm_vm_free(vm);
	munmap(a, NR_PAGES * PAGE_SIZE);
	munmap(b, NR_PAGES * PAGE_SIZE);
	return med;
}

int main(int argc, char *argv[])
{
	int repeats = 7, n = 3000, opt, dev, i, xen;
	double med[ARRAY_SIZE(configs)];

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		default:
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(repeats > 0 && n > 0, "bad arguments");
	__TEST_REQUIRE(get_nprocs() >= 2, "needs two CPUs");
	signal(SIGUSR1, kick_handler);
	dev = memext_open();
	xen = xen_runstate();

	pin(1);
	for (i = 0; i < (int)ARRAY_SIZE(configs); i++)
		med[i] = configs[i].kind == XEN && !xen ? 0 :
			 run_config(&configs[i], dev, repeats, n);

	printf("vCPU thread preempted inside KVM_RUN and back, median of %d x %d (us)\n\n",
	       repeats, n);
	printf("| runstate area | round trip | overhead |\n| --- | ---: | ---: |\n");
	for (i = 0; i < (int)ARRAY_SIZE(configs); i++) {
		if (!med[i]) {
			printf("| %s | n/a (no Xen support) | |\n", configs[i].name);
			continue;
		}
		printf("| %s | %.2f | %+.2f |\n", configs[i].name, med[i] / 1e3,
		       (med[i] - med[0]) / 1e3);
	}
	close(dev);
	ksft_print_header();
	ksft_set_plan(1);
	ksft_test_result_pass("runstate benchmark\n");
	ksft_exit_pass();
}
