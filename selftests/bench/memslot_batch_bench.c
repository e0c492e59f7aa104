// SPDX-License-Identifier: GPL-2.0
/*
 * Memslot batch latency, side by side in one run: KVM_MEMEXT_SET_MEMSLOTS
 * as loaded (running vCPUs parked inside KVM_RUN, resumed in chains), with
 * the batcher waking every parked vCPU itself (batch_resume_fanout=0), and
 * with running vCPUs kicked out to userspace (batch_park_in_kernel=N); the
 * same changes one by one without pausing (the non-atomic baseline); and a
 * userspace pause-all as QEMU does it (signal every vCPU thread, wait until
 * all are out of KVM_RUN, apply one by one, resume).
 *
 * A batch moves K one-page slots that the guests do not touch between two
 * guest-physical bases, while V vCPUs run a loop that records the longest
 * gap between two of its iterations (the vCPU's blackout), in ticks of
 * its cycle counter (the TSC, arm64's virtual counter);
 * a vCPU that made no iteration during a whole measurement counts as out
 * for all of it.  Every batch starts with all V vCPUs back in the guest
 * (each has made an iteration since the previous batch); only the batches
 * are timed, not that wait.  Without it, batches issued back to back find
 * the vCPUs of a pause-all still paused, and measure no pause at all.
 *
 * Prints one table row per (V, K, method): median batch latency over R
 * repeats of N batches, the ratios to the baseline and to pause-all, and
 * the median of the longest vCPU blackout per repeat.
 *
 * With -k or -v it draws a curve instead, for the batch, one-by-one and
 * pause-all, in a VM of S one-page memslots (virtio-mem's shape: many
 * small slots): K from 1 to 256 at V vCPUs (-k), or V from 1 to 32 at K
 * changes (-v; also resumed in trees of 2 and all at once, and, as the
 * scheduler's share of the blackout, no change for as long as a batch).
 * Besides the table, each point is a "curve" line for
 * scripts/bench.sh to plot: curve, x, method, median latency (us),
 * latency per change (us), median longest blackout (us).
 *
 * Usage: memslot_batch_bench [-r repeats] [-n batches] [-V vcpus] [-K changes]
 *			      [-k | -v] [-S memslots]
 * (-V and -K run one row of the table instead of all; with -k or -v they
 * set the curve's fixed value).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "bench_util.h"
#include "memext_util.h"
#include "memext_arch.h"
#include "processor.h"
#include "ucall_common.h"

#define LOOP_GPA	0x40000000ul
#define SLOTS_GPA	0x50000000ul
#define ALT_GPA		0x70000000ul
#define FIRST_SLOT	10
#define MAX_VCPUS	32
#define MAX_K		256
#define MAX_SLOTS	512
#define TABLE_SLOTS	64

enum method {
	BATCH, BATCH_WAKE_ALL, BATCH_SIGNAL, ONE_BY_ONE, PAUSE_ALL,
	NR_TABLE_METHODS,
	/* The V curve's only. */
	BATCH_TREE = NR_TABLE_METHODS, IDLE, NR_METHODS
};

static const char * const method_name[] = {
	"kvm_memext batch", "batch, wake all", "batch, signal kicks",
	"one-by-one", "userspace pause-all", "batch, trees of 2",
	"no change",
};

#define PARAMS "/sys/module/kvm_memext/parameters/"

/* Set a module parameter to @val; its old value goes to @old. */
static void set_param(const char *name, const char *val, char old[16])
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_RDWR);
	TEST_ASSERT(fd >= 0, "open %s", path);
	if (old) {
		n = read(fd, old, 15);
		TEST_ASSERT(n > 0, "read %s", path);
		old[n] = 0;
		old[strcspn(old, "\n")] = 0;
	}
	TEST_ASSERT(pwrite(fd, val, strlen(val), 0) == (ssize_t)strlen(val),
		    "write %s", path);
	close(fd);
}

/*
 * "batch, wake all": the batcher wakes every parked vCPU itself.
 * "batch, signal kicks": running vCPUs are kicked out to userspace
 * (TWA_SIGNAL) instead of parked inside KVM_RUN.
 * "batch, trees of 2": each resumed vCPU wakes two more.
 */
static const char * const method_param[NR_METHODS][2] = {
	[BATCH_WAKE_ALL] = { "batch_resume_fanout", "0" },
	[BATCH_SIGNAL] = { "batch_park_in_kernel", "N" },
	[BATCH_TREE] = { "batch_resume_fanout", "2" },
};

/*
 * "no change": as long as the batch before it took, nothing; the
 * blackout the guest's scheduler alone gives when vCPUs outnumber CPUs.
 */
static double idle_us;

/* Per-vCPU guest state, in the loop page: [0] iterations, [1] max gap. */
static void guest_code(uint64_t id)
{
	uint64_t *st = (uint64_t *)(LOOP_GPA + id * 64);
	uint64_t last = memext_cycles(), now, gap;

	for (;;) {
		now = memext_cycles();
		gap = now - last;
		last = now;
		if (gap > READ_ONCE(st[1]))
			WRITE_ONCE(st[1], gap);
		WRITE_ONCE(st[0], READ_ONCE(st[0]) + 1);
	}
}

struct vcpu_thread {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
};

static struct vcpu_thread threads[MAX_VCPUS];
static int nr_vcpus, nr_slots;
static struct kvm_vm *vm;
static int handle;
static uint8_t *loop_hva, *slots_hva;

/* Pause-all state, under pause_lock; stop_vcpus ends the vCPU threads. */
static int pause_requested, nr_paused, stop_vcpus;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static __thread struct kvm_run *my_run;

static void kick_handler(int sig)
{
	/* A kick that lands outside KVM_RUN makes the next entry return. */
	if (my_run)
		my_run->immediate_exit = 1;
}

static void *vcpu_fn(void *arg)
{
	struct vcpu_thread *t = arg;

	my_run = t->vcpu->run;
	for (;;) {
		int r = __vcpu_run(t->vcpu);

		if (r == -1 && errno == EINTR) {
			my_run->immediate_exit = 0;
			if (READ_ONCE(stop_vcpus))
				return NULL;
			if (!READ_ONCE(pause_requested))
				continue;
			pthread_mutex_lock(&pause_lock);
			nr_paused++;
			pthread_cond_broadcast(&pause_cond);
			while (pause_requested)
				pthread_cond_wait(&pause_cond, &pause_lock);
			nr_paused--;
			pthread_mutex_unlock(&pause_lock);
			continue;
		}
		TEST_FAIL("vCPU exit %s", exit_reason_str(t->vcpu->run->exit_reason));
	}
	return NULL;
}

static void set_region(uint32_t slot, uint64_t gpa, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = PAGE_SIZE,
		.userspace_addr = (uintptr_t)hva,
	};

	TEST_ASSERT(!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r),
		    "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
}

static void apply(enum method m, int k, uint64_t base)
{
	struct kvm_memext_memslot e[MAX_K];
	struct kvm_memext_set_memslots args = {
		.nr_entries = k, .entries = (uintptr_t)e,
	};
	int i;

	if (m == IDLE) {
		usleep(idle_us);
		return;
	}
	if (m != ONE_BY_ONE && m != PAUSE_ALL) {
		for (i = 0; i < k; i++)
			e[i] = (struct kvm_memext_memslot) {
				.slot = FIRST_SLOT + i, .memory_size = PAGE_SIZE,
				.guest_phys_addr = base + i * PAGE_SIZE,
				.userspace_addr = (uintptr_t)(slots_hva + i * PAGE_SIZE),
			};
		TEST_ASSERT(!ioctl(handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
			    "batch: %s", strerror(errno));
		return;
	}
	if (m == PAUSE_ALL) {
		pthread_mutex_lock(&pause_lock);
		pause_requested = 1;
		pthread_mutex_unlock(&pause_lock);
		for (i = 0; i < nr_vcpus; i++)
			pthread_kill(threads[i].thread, SIGUSR1);
		pthread_mutex_lock(&pause_lock);
		while (nr_paused < nr_vcpus)
			pthread_cond_wait(&pause_cond, &pause_lock);
		pthread_mutex_unlock(&pause_lock);
	}
	for (i = 0; i < k; i++)
		set_region(FIRST_SLOT + i, base + i * PAGE_SIZE, slots_hva + i * PAGE_SIZE);
	if (m == PAUSE_ALL) {
		pthread_mutex_lock(&pause_lock);
		pause_requested = 0;
		pthread_cond_broadcast(&pause_cond);
		pthread_mutex_unlock(&pause_lock);
	}
}

/* The guests' counter runs at the host's rate. */
static double cycles_per_ns;

static void calibrate_cycles(void)
{
	double t0 = now_ns();
	uint64_t c0 = memext_cycles();

	usleep(200000);
	cycles_per_ns = (memext_cycles() - c0) / (now_ns() - t0);
}

static uint64_t *vcpu_state(int i)
{
	return (uint64_t *)(loop_hva + i * 64);
}

static void start_vm(int v, int max_k)
{
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	int i;

	nr_vcpus = v;
	nr_slots = max_k;
	vm = vm_create_with_vcpus(v, guest_code, vcpus);
	handle = memext_bind(memext_open(), vm->fd);
	loop_hva = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	slots_hva = mmap(NULL, max_k * PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(loop_hva != MAP_FAILED && slots_hva != MAP_FAILED, "mmap");
	vm_set_user_memory_region(vm, 1, 0, LOOP_GPA, PAGE_SIZE, loop_hva);
	virt_map(vm, LOOP_GPA, LOOP_GPA, 1);
	for (i = 0; i < max_k; i++)
		set_region(FIRST_SLOT + i, SLOTS_GPA + i * PAGE_SIZE, slots_hva + i * PAGE_SIZE);
	for (i = 0; i < v; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		threads[i].vcpu = vcpus[i];
		pthread_create(&threads[i].thread, NULL, vcpu_fn, &threads[i]);
	}
	for (i = 0; i < v; i++)
		while (!READ_ONCE(vcpu_state(i)[0]))
			usleep(1000);
}

/* Wait until every vCPU has made an iteration since @iters. */
static void wait_all_running(const uint64_t *iters)
{
	double deadline = now_ns() + 60e9;
	int i;

	for (i = 0; i < nr_vcpus; i++)
		while (READ_ONCE(vcpu_state(i)[0]) == iters[i]) {
			TEST_ASSERT(now_ns() < deadline, "vCPU %d does not run", i);
			usleep(100);
		}
}

/*
 * One repeat of one method: mean batch latency (us) and the longest vCPU
 * blackout (us) over @batches batches of @k changes.
 */
static void measure(enum method m, int k, int batches, double *lat, double *gap)
{
	const char *param = method_param[m][0];
	uint64_t iters[MAX_VCPUS], last[MAX_VCPUS];
	double t0, t1, tb, total = 0, worst = 0;
	char old[16];
	int i, b;

	/* Says which method ran, should a vCPU die meanwhile. */
	fprintf(stderr, "# V=%d K=%d %s\n", nr_vcpus, k, method_name[m]);
	/* Let the previous batch's blackout end before this one counts. */
	for (i = 0; i < nr_vcpus; i++)
		last[i] = READ_ONCE(vcpu_state(i)[0]);
	wait_all_running(last);
	for (i = 0; i < nr_vcpus; i++) {
		WRITE_ONCE(vcpu_state(i)[1], 0);
		iters[i] = READ_ONCE(vcpu_state(i)[0]);
		last[i] = iters[i];
	}
	if (param)
		set_param(param, method_param[m][1], old);
	t0 = now_ns();
	for (b = 0; b < batches; b++) {
		if (b)
			wait_all_running(last);
		tb = now_ns();
		apply(m, k, b & 1 ? SLOTS_GPA : ALT_GPA);
		total += now_ns() - tb;
		for (i = 0; i < nr_vcpus; i++)
			last[i] = READ_ONCE(vcpu_state(i)[0]);
	}
	t1 = now_ns();
	if (param)
		set_param(param, old, NULL);
	*lat = total / batches / 1e3;
	for (i = 0; i < nr_vcpus; i++)
		if (READ_ONCE(vcpu_state(i)[1]) / cycles_per_ns > worst)
			worst = READ_ONCE(vcpu_state(i)[1]) / cycles_per_ns;
	/*
	 * The guest only sees gaps between its own iterations: a vCPU that
	 * did not run at all in the window was out for all of it (at least).
	 */
	for (i = 0; i < nr_vcpus; i++)
		if (READ_ONCE(vcpu_state(i)[0]) == iters[i] && t1 - t0 > worst)
			worst = t1 - t0;
	*gap = worst / 1e3;
}

/* Kick every vCPU thread out for good, then free the VM. */
static void stop_vm(void)
{
	int i;

	WRITE_ONCE(stop_vcpus, 1);
	for (i = 0; i < nr_vcpus; i++) {
		pthread_kill(threads[i].thread, SIGUSR1);
		pthread_join(threads[i].thread, NULL);
	}
	WRITE_ONCE(stop_vcpus, 0);
	close(handle);
	kvm_vm_free(vm);
	munmap(loop_hva, PAGE_SIZE);
	munmap(slots_hva, nr_slots * PAGE_SIZE);
}

/*
 * The methods a curve compares.  As V grows past the CPUs, the V curve
 * also shows how resuming in chains, trees or all at once shapes the
 * blackout, and what the scheduler alone gives (IDLE, after BATCH).
 */
static const enum method k_methods[] = { BATCH, ONE_BY_ONE, PAUSE_ALL };
static const enum method v_methods[] = {
	BATCH, BATCH_TREE, BATCH_WAKE_ALL, ONE_BY_ONE, PAUSE_ALL, IDLE,
};

/* One point of a curve: every method at @v vCPUs, @k changes. */
static void curve_point(const char *curve, int x, int k, int repeats, int batches)
{
	const enum method *methods = *curve == 'k' ? k_methods : v_methods;
	int i, r, n = *curve == 'k' ? ARRAY_SIZE(k_methods) : ARRAY_SIZE(v_methods);
	double lat[NR_METHODS][16], gap[NR_METHODS][16], med, medgap;
	enum method m;

	for (r = 0; r < repeats; r++)
		for (i = 0; i < n; i++) {
			m = methods[i];
			measure(m, k, batches, &lat[m][r], &gap[m][r]);
			if (m == BATCH)
				idle_us = lat[m][r];
		}
	for (i = 0; i < n; i++) {
		m = methods[i];
		med = median(lat[m], repeats);
		medgap = median(gap[m], repeats);
		printf("%-3d %-3d %-20s %14.1f %12.2f %16.1f\n", nr_vcpus, k,
		       method_name[m], med, med / k, medgap);
		printf("curve %s %d \"%s\" %.1f %.2f %.1f\n", curve, x, method_name[m],
		       med, med / k, medgap);
	}
	fflush(stdout);
}

/* Latency and blackout as the batch grows (-k) or the vCPUs do (-v). */
static void run_curve(char which, int v, int k, int slots, int repeats, int batches)
{
	int x;

	printf("# curve %c: %s, %d one-page memslots, %d repeats of %d batches\n",
	       which, which == 'k' ? "K changes" : "V vCPUs", slots, repeats, batches);
	printf("%-3s %-3s %-20s %14s %12s %16s\n", "V", "K", "method",
	       "batch (us)", "per change", "max blackout (us)");
	if (which == 'k') {
		start_vm(v, slots);
		for (x = 1; x <= MAX_K && x <= slots; x *= 2)
			curve_point("k", x, x, repeats, batches);
		stop_vm();
		return;
	}
	for (x = 1; x <= MAX_VCPUS; x *= 2) {
		start_vm(x, slots);
		curve_point("v", x, k, repeats, batches);
		stop_vm();
	}
}

int main(int argc, char *argv[])
{
	static const int vs[] = { 1, 4, 16 }, ks[] = { 1, 8, 64 };
	int repeats = 5, batches = 4, only_v = 0, only_k = 0, opt, vi, ki, m, r;
	int slots = MAX_SLOTS;
	char curve = 0;
	struct sigaction sa = { .sa_handler = kick_handler };
	double lat[NR_METHODS][16], gap[NR_METHODS][16];
	double med[NR_METHODS], medgap[NR_METHODS];

	while ((opt = getopt(argc, argv, "r:n:V:K:kvS:")) != -1) {
		if (opt == 'r')
			repeats = atoi(optarg);
		else if (opt == 'n')
			batches = atoi(optarg);
		else if (opt == 'V')
			only_v = atoi(optarg);
		else if (opt == 'K')
			only_k = atoi(optarg);
		else if (opt == 'k' || opt == 'v')
			curve = opt;
		else if (opt == 'S')
			slots = atoi(optarg);
		else
			exit(KSFT_FAIL);
	}
	TEST_ASSERT(repeats >= 1 && repeats <= 16 && batches >= 2, "bad -r/-n");
	TEST_ASSERT(only_v >= 0 && only_v <= MAX_VCPUS && only_k >= 0 && only_k <= MAX_K,
		    "-V 1..%d, -K 1..%d", MAX_VCPUS, MAX_K);
	TEST_ASSERT(slots >= MAX_K && slots <= MAX_SLOTS, "-S %d..%d", MAX_K, MAX_SLOTS);
	sigaction(SIGUSR1, &sa, NULL);
	calibrate_cycles();
	if (curve) {
		run_curve(curve, only_v ?: 4, only_k ?: 8, slots, repeats, batches);
		return 0;
	}

	printf("%-3s %-3s %-20s %14s %10s %10s %16s\n", "V", "K", "method",
	       "batch (us)", "/one-by-1", "/pause-all", "max blackout (us)");
	for (vi = 0; vi < ARRAY_SIZE(vs); vi++) {
		if (only_v && vs[vi] != only_v)
			continue;
		start_vm(vs[vi], TABLE_SLOTS);
		for (ki = 0; ki < ARRAY_SIZE(ks); ki++) {
			if (only_k && ks[ki] != only_k)
				continue;
			/* Interleave methods so drift hits all alike. */
			for (r = 0; r < repeats; r++)
				for (m = 0; m < NR_TABLE_METHODS; m++)
					measure(m, ks[ki], batches, &lat[m][r], &gap[m][r]);
			for (m = 0; m < NR_TABLE_METHODS; m++) {
				med[m] = median(lat[m], repeats);
				medgap[m] = median(gap[m], repeats);
			}
			for (m = 0; m < NR_TABLE_METHODS; m++)
				printf("%-3d %-3d %-20s %14.1f %10.2f %10.2f %16.1f\n",
				       vs[vi], ks[ki], method_name[m], med[m],
				       med[m] / med[ONE_BY_ONE], med[m] / med[PAUSE_ALL],
				       medgap[m]);
			fflush(stdout);
		}
		stop_vm();
	}
	return 0;
}
