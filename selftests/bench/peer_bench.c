// SPDX-License-Identifier: GPL-2.0
/*
 * What kvm_memext's presence costs KVM's own workloads: the peer tests of
 * selftests/peer.conf (linked with lib/bind_wrap.c) run with the module
 * unloaded, loaded with their VMs unbound, and loaded with every VM bound,
 * in rotating order, medians and spread of R repeats of each, and the
 * ratios to "unloaded".
 *
 * Loaded, the module watches two of kvm.ko's tracepoints for every VM on
 * the host (kvm-clock on private memory): a guest's WRMSR exits and
 * kvm-clock updates run its probes, bound or not.  The x86 workload
 * "wrmsr" makes those exits (MSR_KVM_POLL_CONTROL, handled in KVM) in a
 * loop of its own.
 *
 * Unloading takes kvm_memext_bench.ko (cache_bench's) out first; the
 * module is loaded again at the end.
 *
 * Usage: peer_bench [-r repeats] [-n WRMSRs]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#ifdef __x86_64__
#include <asm/kvm_para.h>
#endif

#include "bench_util.h"
#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define MODULE_PATH	"/modules/kvm_memext.ko"
#define MAX_REPEATS	32

enum mode { UNLOADED, UNBOUND, BOUND, NR_MODES };

static const char *const mode_name[NR_MODES] = {
	"unloaded", "loaded, unbound", "loaded, bound",
};

/* As selftests/peer.conf runs them (arguments that fit TCG). */
static const struct workload {
	const char *name;
	const char *const argv[12];
} workloads[] = {
	{ "dirty_log_perf_test",
	  { "./peer/dirty_log_perf_test", "-b", "64M", "-i", "2" } },
	{ "demand_paging_test",
	  { "./peer/demand_paging_test", "-b", "64M" } },
	{ "kvm_page_table_test",
	  { "./peer/kvm_page_table_test", "-b", "64M" } },
	{ "memslot_modification_stress_test",
	  { "./peer/memslot_modification_stress_test", "-i", "100", "-v", "2",
	    "-b", "64M" } },
#ifdef __x86_64__
	{ "wrmsr", { NULL } },
#endif
};

static int nr_wrmsr = 20000;

#ifdef __x86_64__
static void guest_wrmsr(int n)
{
	int i;

	for (i = 0; i < n; i++)
		wrmsr(MSR_KVM_POLL_CONTROL, i & 1);
	GUEST_DONE();
}

/* In the child: one VM whose guest makes @nr_wrmsr MSR exits. */
static int run_wrmsr(bool bind)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int dev, handle = -1;

	vm = vm_create_with_one_vcpu(&vcpu, guest_wrmsr);
	vcpu_args_set(vcpu, 1, nr_wrmsr);
	if (bind) {
		dev = memext_open();
		handle = memext_bind(dev, vm->fd);
	}
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE, "wrmsr guest did not finish");
	kvm_vm_free(vm);
	if (handle >= 0)
		close(handle);
	return 0;
}
#endif

static bool module_loaded(void)
{
	return !access("/sys/module/kvm_memext", F_OK);
}

static void remove_module(void)
{
	if (!module_loaded())
		return;
	/* cache_bench's module uses kvm_memext's cache API. */
	if (syscall(__NR_delete_module, "kvm_memext_bench", O_NONBLOCK) &&
	    errno != ENOENT)
		TEST_FAIL("cannot unload kvm_memext_bench: %s", strerror(errno));
	TEST_ASSERT(!syscall(__NR_delete_module, "kvm_memext", O_NONBLOCK),
		    "cannot unload kvm_memext: %s", strerror(errno));
}

static void insert_module(void)
{
	int fd;

	if (module_loaded())
		return;
	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "open %s: %s", MODULE_PATH, strerror(errno));
	TEST_ASSERT(!syscall(__NR_finit_module, fd, "", 0),
		    "cannot load kvm_memext: %s", strerror(errno));
	close(fd);
}

/* Wall time of one run of @w in @mode, in ms; its output shows if it fails. */
static double run_ms(const struct workload *w, enum mode mode)
{
	char buf[4096];
	int status, out;
	double t0;
	ssize_t n;
	pid_t pid;

	out = memfd_create("peer_bench", MFD_CLOEXEC);
	TEST_ASSERT(out >= 0, "memfd_create");
	if (mode == UNLOADED)
		remove_module();
	else
		insert_module();
	t0 = now_ns();
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		if (mode != BOUND)
			setenv("KVM_MEMEXT_PEER_BIND", "0", 1);
		dup2(out, STDOUT_FILENO);
		dup2(out, STDERR_FILENO);
#ifdef __x86_64__
		if (!w->argv[0])
			_exit(run_wrmsr(mode == BOUND));
#endif
		execv(w->argv[0], (char **)w->argv);
		_exit(127);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	t0 = (now_ns() - t0) / 1e6;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		lseek(out, 0, SEEK_SET);
		while ((n = read(out, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, n, stderr);
		TEST_FAIL("%s (%s) failed: status %#x", w->name, mode_name[mode],
			  status);
	}
	close(out);
	return t0;
}

int main(int argc, char *argv[])
{
	double ms[NR_MODES][MAX_REPEATS], med[NR_MODES], lo[NR_MODES], hi;
	int repeats = 5, opt, r, i, m, k;

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			nr_wrmsr = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-r repeats] [-n WRMSRs]\n", argv[0]);
			return 2;
		}
	}
	TEST_ASSERT(repeats > 0 && repeats <= MAX_REPEATS && nr_wrmsr > 0,
		    "bad arguments");
	__TEST_REQUIRE(!access(MODULE_PATH, R_OK), "no %s", MODULE_PATH);

	printf("presence of kvm_memext, wall ms per run (medians of %d, [min max]),\n"
	       "and the ratios of the medians and of the minimums to \"unloaded\":\n",
	       repeats);
	printf("%-34s %-16s %9s %19s %8s %8s\n", "workload", "module", "median",
	       "spread", "ratio", "min");
	for (i = 0; i < ARRAY_SIZE(workloads); i++) {
		const struct workload *w = &workloads[i];

		if (w->argv[0] && access(w->argv[0], X_OK)) {
			printf("%-34s (not built for this kernel)\n", w->name);
			continue;
		}
		for (r = 0; r < repeats; r++) {
			/* Rotate the order: drift and warm caches hit all alike. */
			for (k = 0; k < NR_MODES; k++) {
				m = (r + k) % NR_MODES;
				ms[m][r] = run_ms(w, m);
			}
		}
		for (m = 0; m < NR_MODES; m++) {
			/* Sorted by median(). */
			med[m] = median(ms[m], repeats);
			lo[m] = ms[m][0];
			hi = ms[m][repeats - 1];
			printf("%-34s %-16s %9.1f [%8.1f %8.1f] %7.3fx %7.3fx\n",
			       m ? "" : w->name, mode_name[m], med[m], lo[m], hi,
			       med[m] / med[UNLOADED], lo[m] / lo[UNLOADED]);
		}
		fflush(stdout);
	}
	insert_module();
	return 0;
}
