// SPDX-License-Identifier: GPL-2.0
/*
 * Per-update cost of writing a 48-byte area (a runstate area) into guest
 * memory from atomic context: through a kvm_memext guest-page cache, and
 * with the method the cache replaces (memslot lookup + copy to the VMM's
 * mapping with page faults disabled).  The area sits inside one page,
 * across two pages, and across two memslots.
 *
 * Needs kvm_memext_bench.ko (bench/), which times the loops in the kernel.
 * Prints, per case, the median over R samples of N updates, in ns per
 * update, and the ratios that the goals are stated in; then, for the area
 * across two pages, each method cut short after each of its steps: where
 * the time goes.  Last, what kvm_memext_gpc_refresh() costs for 1 to 16
 * pages: one cache over them all, against one one-page cache per page (as
 * KVM keeps a gfn_to_pfn_cache per page: its Xen runstate takes two).
 *
 * Usage: cache_bench [-r repeats] [-n updates per sample] [-f refreshes per sample]
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "bench_util.h"
#include "memext_util.h"
#include "processor.h"
#include "../../bench/kvm_memext_bench.h"

#define GPA_A		0x40000000ul
#define NR_PAGES	16
#define GPA_B		(GPA_A + NR_PAGES * PAGE_SIZE)
#define AREA		48

static const struct {
	const char *name;
	uint64_t gpa;
} layouts[] = {
	{ "inside one page", GPA_A + 0x100 },
	{ "across two pages", GPA_A + PAGE_SIZE - 16 },
	{ "across two memslots", GPA_B - 24 },
};

static const char * const methods[] = {
	[KVM_MEMEXT_BENCH_CACHE] = "kvm_memext cache",
	[KVM_MEMEXT_BENCH_PRE_CACHE] = "memslot lookup + copy",
};

/* The profile: each method cut short after each of its steps. */
static const struct {
	unsigned int method;
	const char *name;
} steps[] = {
	{ KVM_MEMEXT_BENCH_CACHE_SRCU, "cache: kvm->srcu read side" },
	{ KVM_MEMEXT_BENCH_CACHE_LOCK, "+ raw lock, interrupts off" },
	{ KVM_MEMEXT_BENCH_CACHE_CHECK, "+ check (valid, generation)" },
	{ KVM_MEMEXT_BENCH_CACHE_COPY, "+ copy, dirty bits" },
	{ KVM_MEMEXT_BENCH_PRE_LOOKUP, "lookup: kvm->srcu, memslots" },
	{ KVM_MEMEXT_BENCH_PRE_CACHE, "+ copy_to_user, dirty bits" },
};

/* Median ns per update (refresh) of @method, @len bytes at @gpa. */
static double run_method(int bench, int handle, unsigned int method,
			 uint64_t gpa, uint32_t len, int repeats, int n, double *s)
{
	int r;

	for (r = 0; r < repeats; r++) {
		struct kvm_memext_bench_args args = {
			.handle_fd = handle, .method = method,
			.gpa = gpa, .len = len, .iters = n,
		};

		TEST_ASSERT(!ioctl(bench, KVM_MEMEXT_BENCH_RUN, &args) &&
			    !args.result, "method %u at %#lx: %s / %d",
			    method, (unsigned long)gpa, strerror(errno), args.result);
		s[r] = (double)args.ns / n;
	}
	return median(s, repeats);
}

static void guest_code(void)
{
	GUEST_DONE();
}

int main(int argc, char *argv[])
{
	int repeats = 7, n = 100000, refreshes = 1000, opt, dev, bench, handle, l, m, i;
	double med[ARRAY_SIZE(layouts)][ARRAY_SIZE(methods)], *s, t, prev;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *a, *b;

	while ((opt = getopt(argc, argv, "r:n:f:")) != -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'f':
			refreshes = atoi(optarg);
			break;
		default:
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(repeats > 0 && n > 0 && refreshes > 0, "bad arguments");

	dev = memext_open();
	bench = open("/dev/kvm_memext_bench", O_RDWR);
	__TEST_REQUIRE(bench >= 0, "kvm_memext_bench.ko not loaded");
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	handle = memext_bind(dev, vm->fd);
	a = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(a != MAP_FAILED && b != MAP_FAILED, "mmap");
	/* Present pages: the pre-cache method cannot fault them in. */
	memset(a, 1, NR_PAGES * PAGE_SIZE);
	memset(b, 1, NR_PAGES * PAGE_SIZE);
	vm_set_user_memory_region(vm, 10, 0, GPA_A, NR_PAGES * PAGE_SIZE, a);
	vm_set_user_memory_region(vm, 11, 0, GPA_B, NR_PAGES * PAGE_SIZE, b);

	s = calloc(repeats, sizeof(*s));
	TEST_ASSERT(s, "calloc");
	for (l = 0; l < (int)ARRAY_SIZE(layouts); l++)
		for (m = 0; m < (int)ARRAY_SIZE(methods); m++)
			med[l][m] = run_method(bench, handle, m, layouts[l].gpa,
					       AREA, repeats, n, s);

	printf("48-byte update from atomic context, median of %d x %d updates (ns)\n\n",
	       repeats, n);
	printf("| area | %s | %s | cache / copy |\n", methods[0], methods[1]);
	printf("| --- | ---: | ---: | ---: |\n");
	for (l = 0; l < (int)ARRAY_SIZE(layouts); l++)
		printf("| %s | %.1f | %.1f | %.2f |\n", layouts[l].name,
		       med[l][0], med[l][1], med[l][0] / med[l][1]);
	printf("\nstraddling / one page (cache): %.2f across pages, %.2f across memslots\n",
	       med[1][0] / med[0][0], med[2][0] / med[0][0]);

	/* Where the time goes, for the area across two pages. */
	printf("\nacross two pages, step by step (ns per update, medians):\n\n");
	printf("| step | cumulative | step's own |\n| --- | ---: | ---: |\n");
	for (i = 0, prev = 0; i < (int)ARRAY_SIZE(steps); i++) {
		t = run_method(bench, handle, steps[i].method, layouts[1].gpa,
			       AREA, repeats, n, s);
		if (steps[i].name[0] != '+')
			prev = 0;
		printf("| %s | %.1f | %.1f |\n", steps[i].name, t, t - prev);
		prev = t;
	}

	/* Refreshes are 100 times dearer than updates: fewer of them. */
	printf("\nrefresh (ns per refresh of the whole range, medians of %d x %d):\n\n",
	       repeats, refreshes);
	printf("| pages | one cache | a cache per page | one / per page |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (i = 1; i <= NR_PAGES; i *= 2) {
		t = run_method(bench, handle, KVM_MEMEXT_BENCH_REFRESH, GPA_A,
			       i * PAGE_SIZE, repeats, refreshes, s);
		prev = run_method(bench, handle, KVM_MEMEXT_BENCH_REFRESH_SPLIT,
				  GPA_A, i * PAGE_SIZE, repeats, refreshes, s);
		printf("| %d | %.1f | %.1f | %.2f |\n", i, t, prev, t / prev);
		printf("curve refresh %d \"kvm_memext cache\" %.1f\n", i, t);
		printf("curve refresh %d \"a cache per page\" %.1f\n", i, prev);
	}

	free(s);
	close(handle);
	close(bench);
	kvm_vm_free(vm);
	close(dev);
	ksft_print_header();
	ksft_set_plan(1);
	ksft_test_result_pass("cache benchmark\n");
	ksft_exit_pass();
}
