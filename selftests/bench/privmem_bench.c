// SPDX-License-Identifier: GPL-2.0
/*
 * Private memory against the other ways to back guest RAM, side by side in
 * one run: kvm_memext privmem (2 MiB chunks, and 4 KiB pages only), memfd
 * (shmem), memfd_secret, and guest_memfd where the kernel lets it be
 * mmapped.
 *
 * For each: first-touch fault throughput (mmap, write one byte per 4 KiB
 * page), fallocate throughput (where supported), and per GiB: growth of
 * DirectMap4k and kernel TLB flushes (flush_tlb_kernel_range() and
 * flush_tlb_all() calls counted by kprobe events, where tracefs has them;
 * privmem flushes with an IPI of its own, which those do not see, and
 * counts it: its line below).  Medians of R repeats; throughput ratios
 * against memfd.  A second table: first touch by 1, 2 and all CPUs'
 * worth of threads, each faulting its own slice, as a VM's vCPUs fault its
 * RAM at boot, for privmem, privmem zeroing new blocks under the file's
 * lock (privmem_prealloc=N) and memfd.  A third: a privmem file's first
 * chunk, which also makes its decoy, against its second.
 *
 * With -c it draws curves instead: first touch by 1 to all CPUs' worth of
 * threads, and fallocate, at sizes from 256 MiB doubling up to -s (or
 * half the memory free), for privmem, THP-backed anonymous memory (the
 * practical limit: zeroing plus a PMD), memfd, memfd_secret and
 * guest_memfd, with the growth of DirectMap4k; each point a "curve" line
 * for scripts/bench.sh to plot: curve, size (MiB), backing, median GiB/s,
 * lowest, highest.
 *
 * Usage: privmem_bench [-s MiB] [-r repeats] [-c]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/falloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "bench_util.h"
#include "memext_util.h"
#include "processor.h"

#define TRACING		"/sys/kernel/tracing"

enum kind { PRIVMEM, PRIVMEM_4K, MEMFD, SECRET, GMEM, THP, NR_KINDS };

static const char * const names[NR_KINDS] = {
	"kvm_memext privmem", "privmem, 4 KiB only", "memfd (shmem)",
	"memfd_secret", "guest_memfd (mmap)", "anonymous THP",
};

static int dev, vm_fd = -1;
static size_t size;
static long thp_huge_kb;	/* AnonHugePages after the last THP touch */
static bool kprobes;

static long meminfo_kb(const char *name)
{
	char line[128];
	size_t len = strlen(name);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':')
			val = strtol(line + len + 1, NULL, 10);
	}
	if (f)
		fclose(f);
	return val;
}

/* Kernel TLB flush calls so far (kprobe hit counts), or -1. */
static long tlb_flushes(void)
{
	char line[256], name[128];
	long hits, total = 0;
	FILE *f;

	if (!kprobes)
		return -1;
	f = fopen(TRACING "/kprobe_profile", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %ld", name, &hits) == 2 && strstr(name, "kmx_"))
			total += hits;
	}
	fclose(f);
	return total;
}

/* open(O_APPEND) without stdio: tracefs files refuse the seek "a" does. */
static bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	bool ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);

	if (fd >= 0)
		close(fd);
	return ok;
}

static void setup_kprobes(void)
{
	if (access(TRACING "/kprobe_events", W_OK))
		mount("tracefs", TRACING, "tracefs", 0, NULL);
	kprobes = write_file(TRACING "/kprobe_events", "p:kmx_range flush_tlb_kernel_range\n") &&
		  write_file(TRACING "/kprobe_events", "p:kmx_all flush_tlb_all\n") &&
		  write_file(TRACING "/events/kprobes/enable", "1\n");
	if (!kprobes)
		printf("no kprobe events (%s): TLB flushes not counted\n", strerror(errno));
}

static void teardown_kprobes(void)
{
	if (!kprobes)
		return;
	write_file(TRACING "/events/kprobes/enable", "0\n");
	write_file(TRACING "/kprobe_events", "-:kmx_range\n");
	write_file(TRACING "/kprobe_events", "-:kmx_all\n");
}

static int open_kind(enum kind k)
{
	struct kvm_memext_create_privmem pm = { .size = size };
	int fd = -1;

	switch (k) {
	case PRIVMEM:
	case PRIVMEM_4K:
		pm.flags = k == PRIVMEM_4K ? KVM_MEMEXT_PRIVMEM_NO_HUGE : 0;
		fd = ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &pm);
		break;
	case MEMFD:
		fd = memfd_create("bench", 0);
		if (fd >= 0 && ftruncate(fd, size)) {
			close(fd);
			fd = -1;
		}
		break;
	case SECRET:
#ifdef __NR_memfd_secret
		fd = syscall(__NR_memfd_secret, 0);
		if (fd >= 0 && ftruncate(fd, size)) {
			close(fd);
			fd = -1;
		}
#endif
		break;
	case GMEM:
#ifdef GUEST_MEMFD_FLAG_MMAP
		if (vm_fd >= 0) {
			/* Mappable memory must start out shared. */
			struct kvm_create_guest_memfd g = {
				.size = size,
				.flags = GUEST_MEMFD_FLAG_MMAP |
					 GUEST_MEMFD_FLAG_INIT_SHARED,
			};

			fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &g);
		}
#endif
		break;
	default:
		break;
	}
	return fd;
}

/*
 * A new mapping of @size bytes of kind @k, and its file in @fd (-1 for
 * anonymous memory), or MAP_FAILED.  Anonymous memory is 2 MiB-aligned
 * and asks for THP, as a VMM's guest RAM does.
 */
static uint8_t *map_kind(enum kind k, int *fd)
{
	const size_t align = 2ul << 20;
	uint8_t *raw, *p;

	if (k != THP) {
		*fd = open_kind(k);
		if (*fd < 0)
			return MAP_FAILED;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
		if (p == MAP_FAILED)
			close(*fd);
		return p;
	}
	*fd = -1;
	raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return raw;
	p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(align - 1));
	if (p > raw)
		munmap(raw, p - raw);
	if (p < raw + align)
		munmap(p + size, raw + align - p);
	if (madvise(p, size, MADV_HUGEPAGE)) {
		munmap(p, size);
		return MAP_FAILED;
	}
	return p;
}

static void unmap_kind(uint8_t *p, int fd)
{
	munmap(p, size);
	if (fd >= 0)
		close(fd);
}

struct sample {
	double fault_ns, falloc_ns;
	long dm4k_kb, flushes;
};

/* One repeat of one kind: fault in every page, then fallocate a new file. */
static bool run_once(enum kind k, struct sample *s)
{
	long dm0, fl0;
	double t0;
	uint8_t *p;
	size_t off;
	int fd;

	dm0 = meminfo_kb("DirectMap4k");
	fl0 = tlb_flushes();
	t0 = now_ns();
	p = map_kind(k, &fd);
	if (p == MAP_FAILED)
		return false;
	for (off = 0; off < size; off += PAGE_SIZE)
		p[off] = 1;
	s->fault_ns = now_ns() - t0;
	s->flushes = fl0 < 0 ? -1 : tlb_flushes() - fl0;
	s->dm4k_kb = meminfo_kb("DirectMap4k") - dm0;
	unmap_kind(p, fd);

	s->falloc_ns = -1;
	fd = open_kind(k);
	if (fd < 0)
		return true;	/* anonymous memory */
	t0 = now_ns();
	/* guest_memfd takes KEEP_SIZE only; every file is sized already. */
	if (!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, size))
		s->falloc_ns = now_ns() - t0;
	close(fd);
	return true;
}

struct slice {
	uint8_t *p;
	size_t len;
	pthread_barrier_t *go;
};

static void *touch_slice(void *arg)
{
	struct slice *sl = arg;
	size_t off;

	pthread_barrier_wait(sl->go);
	for (off = 0; off < sl->len; off += PAGE_SIZE)
		sl->p[off] = 1;
	return NULL;
}

/* First touch of a new mapping of kind @k by @n threads, in ns, or -1. */
static double fault_threads(enum kind k, int n)
{
	pthread_t tid[64];
	struct slice sl[64];
	pthread_barrier_t go;
	size_t per = size / n / PAGE_SIZE * PAGE_SIZE;
	double t0, t;
	uint8_t *p;
	int fd, i;

	p = map_kind(k, &fd);
	if (p == MAP_FAILED)
		return -1;
	pthread_barrier_init(&go, NULL, n + 1);
	for (i = 0; i < n; i++) {
		sl[i] = (struct slice){ p + i * per, i == n - 1 ? size - i * per : per, &go };
		pthread_create(&tid[i], NULL, touch_slice, &sl[i]);
	}
	t0 = now_ns();
	pthread_barrier_wait(&go);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	t = now_ns() - t0;
	pthread_barrier_destroy(&go);
	/* How much of it THP actually backed with 2 MiB pages. */
	if (k == THP)
		thp_huge_kb = meminfo_kb("AnonHugePages");
	unmap_kind(p, fd);
	return t;
}

#define PREALLOC_PARAM	"/sys/module/kvm_memext/parameters/privmem_prealloc"

/* Sets privmem_prealloc; returns false where the module has no such knob. */
static bool set_prealloc(bool on)
{
	FILE *f = fopen(PREALLOC_PARAM, "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs(on ? "Y" : "N", f) >= 0;
	return !fclose(f) && ok;
}

/*
 * Columns: privmem as it is (a new chunk's block zeroed before the file's
 * lock), privmem with the block zeroed under the lock (privmem_prealloc=N,
 * the one-mutex-per-file baseline), memfd.  Ratios against memfd.
 */
static void scaling_table(int repeats)
{
	int cpus = sysconf(_SC_NPROCESSORS_ONLN), counts[3];
	double v[64], gib = (double)size / (1ul << 30), tp[3], t;
	int c, i, r;

	/* 64 threads at most (fault_threads()'s arrays). */
	if (cpus > 64)
		cpus = 64;
	counts[0] = 1;
	counts[1] = 2;
	counts[2] = cpus;
	printf("first touch by threads, GiB/s (medians of %d)\n", repeats);
	printf("%8s %14s %14s %14s %10s %10s\n", "threads", "privmem",
	       "zero locked", "memfd", "ratio", "locked");
	for (c = 0; c < 3; c++) {
		if (c == 2 && cpus <= 2)
			break;
		for (i = 0; i < 3; i++) {
			if (i < 2 && !set_prealloc(i == 0)) {
				tp[i] = -1;
				continue;
			}
			for (r = 0; r < repeats; r++)
				v[r] = fault_threads(i < 2 ? PRIVMEM : MEMFD,
						     counts[c]);
			t = median(v, repeats);
			tp[i] = t > 0 ? gib / (t / 1e9) : -1;
		}
		set_prealloc(true);
		printf("%8d %14.2f %14.2f %14.2f %9.2fx %9.2fx\n", counts[c],
		       tp[0], tp[1], tp[2], tp[2] > 0 ? tp[0] / tp[2] : 0,
		       tp[2] > 0 ? tp[1] / tp[2] : 0);
	}
}

/* A counter of the module's debugfs file, or -1. */
static long module_stat(const char *name)
{
	FILE *f = fopen("/sys/kernel/debug/kvm_memext/privmem", "r");
	long val, found = -1;
	char key[64];

	while (f && fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			found = val;
	if (f)
		fclose(f);
	return found;
}

/* The module's own count of the TLB flushes it issued, or -1. */
static long module_flushes(void)
{
	return module_stat("tlb_flushes");
}

/*
 * What a file's decoy costs: a privmem file allocates and zeroes its 2 MiB
 * decoy (charged to the owner) with its first chunk.  Time the first
 * chunk of a new file (create, map, touch) against the second chunk of
 * the same file, which finds the decoy made, with memfd's first 2 MiB
 * beside them; and the decoys' memory per file.
 */
static void first_chunk_table(int repeats)
{
	double first[64], second[64], memfd[64];
	size_t saved = size, off;
	long decoys = -1;
	uint8_t *p;
	double t0;
	int fd, r;

	size = 4ul << 20;
	for (r = 0; r < repeats; r++) {
		t0 = now_ns();
		fd = open_kind(PRIVMEM);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		TEST_ASSERT(p != MAP_FAILED, "mmap privmem");
		p[0] = 1;
		first[r] = now_ns() - t0;
		t0 = now_ns();
		p[2ul << 20] = 1;
		second[r] = now_ns() - t0;
		decoys = module_stat("decoys");
		munmap(p, size);
		close(fd);

		t0 = now_ns();
		fd = open_kind(MEMFD);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		TEST_ASSERT(p != MAP_FAILED, "mmap memfd");
		for (off = 0; off < (2ul << 20); off += PAGE_SIZE)
			p[off] = 1;
		memfd[r] = now_ns() - t0;
		munmap(p, size);
		close(fd);
	}
	size = saved;
	printf("a file's 2 MiB chunks, microseconds (medians of %d):\n", repeats);
	printf("  privmem first chunk (with its decoy) %8.0f\n", median(first, repeats) / 1000);
	printf("  privmem second chunk                %8.0f   first/second %.2fx\n",
	       median(second, repeats) / 1000, median(first, repeats) / median(second, repeats));
	printf("  memfd first 2 MiB, every page       %8.0f\n", median(memfd, repeats) / 1000);
	if (decoys >= 0)
		printf("  decoy: 2048 kB per privmem file (decoys with one file open: %ld)\n",
		       decoys);
}

/* Flushes per GiB privmem faulted in, by its own count (any kernel). */
static double own_flushes_per_gib(double gib)
{
	int fd = open_kind(PRIVMEM);
	long before = module_flushes(), after;
	uint8_t *p;
	size_t off;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	for (off = 0; p != MAP_FAILED && off < size; off += PAGE_SIZE)
		p[off] = 1;
	after = module_flushes();
	if (p != MAP_FAILED)
		munmap(p, size);
	close(fd);
	return before < 0 || after < 0 ? -1 : (after - before) / gib;
}

/* The kinds the curves compare: 4 KiB-only privmem is the tables'. */
static const enum kind curve_kinds[] = { PRIVMEM, THP, MEMFD, SECRET, GMEM };

/*
 * One point of the curves: @repeats first touches by @threads threads of
 * kind @k at the current size, as GiB/s, printed as a curve line; with
 * one thread also DirectMap4k growth and kernel TLB flushes per GiB.
 * Returns the median, or -1 where the kind is not available.
 */
static double curve_point(enum kind k, int threads, int repeats)
{
	double v[64], gib = (double)size / (1ul << 30), ns, med;
	long dm0 = meminfo_kb("DirectMap4k"), fl0 = tlb_flushes();
	long dm = 0, fl = -1;
	int r;

	for (r = 0; r < repeats; r++) {
		ns = fault_threads(k, threads);
		if (ns < 0)
			return -1;
		v[r] = gib / (ns / 1e9);
		if (!r) {
			dm = meminfo_kb("DirectMap4k") - dm0;
			fl = fl0 < 0 ? -1 : tlb_flushes() - fl0;
		}
	}
	med = median(v, repeats);
	printf("curve touch%d %zu \"%s\" %.3f %.3f %.3f\n", threads, size >> 20,
	       names[k], med, v[0], v[repeats - 1]);
	if (k == THP)
		printf("# %zu MiB, %d threads: %.0f%% of the THP mapping in 2 MiB pages\n",
		       size >> 20, threads, 100.0 * thp_huge_kb / (size >> 10));
	if (threads == 1) {
		printf("curve dm4k %zu \"%s\" %.0f\n", size >> 20, names[k], dm / gib);
		if (fl >= 0)
			printf("curve flushes %zu \"%s\" %.0f\n", size >> 20, names[k],
			       fl / gib);
	}
	return med;
}

/* fallocate of a new file of kind @k, GiB/s (median), or -1. */
static double curve_falloc(enum kind k, int repeats)
{
	double v[64], gib = (double)size / (1ul << 30), t0, med;
	int fd, r;

	for (r = 0; r < repeats; r++) {
		fd = open_kind(k);
		if (fd < 0)
			return -1;
		t0 = now_ns();
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, size)) {
			close(fd);
			return -1;
		}
		v[r] = gib / ((now_ns() - t0) / 1e9);
		close(fd);
	}
	med = median(v, repeats);
	printf("curve falloc %zu \"%s\" %.3f %.3f %.3f\n", size >> 20, names[k],
	       med, v[0], v[repeats - 1]);
	return med;
}

/*
 * The curves (-c): sizes from 256 MiB doubling up to @max_mb, 1, 2, 4...
 * and all CPUs' worth of threads.  Ends with privmem's worst ratio to
 * anonymous THP, whose first touch (zeroing plus a PMD) is the limit.
 */
static void run_curves(size_t max_mb, int repeats)
{
	int cpus = sysconf(_SC_NPROCESSORS_ONLN), threads[8], nt = 0, t, i;
	double tp[NR_KINDS], ratio, worst = -1;
	size_t mb, worst_mb = 0;
	int worst_t = 0;

	if (cpus > 64)
		cpus = 64;
	for (t = 1; t < cpus && nt < 7; t *= 2)
		threads[nt++] = t;
	threads[nt++] = cpus;
	printf("# privmem curves: 256 to %zu MiB, %d repeats, medians (GiB/s)\n",
	       max_mb, repeats);
	/*
	 * One untimed first touch of each kind first: the first of a boot
	 * also pays for the page allocator's and the module's first use.
	 */
	size = 256ul << 20;
	for (i = 0; i < ARRAY_SIZE(curve_kinds); i++)
		fault_threads(curve_kinds[i], 1);
	for (mb = 256; mb <= max_mb; mb *= 2) {
		size = mb << 20;
		for (t = 0; t < nt; t++) {
			for (i = 0; i < ARRAY_SIZE(curve_kinds); i++)
				tp[curve_kinds[i]] = curve_point(curve_kinds[i],
								 threads[t], repeats);
			if (tp[PRIVMEM] <= 0 || tp[THP] <= 0)
				continue;
			ratio = tp[PRIVMEM] / tp[THP];
			printf("%6zu MiB %3d threads: privmem %.2f, THP %.2f GiB/s: %.2fx\n",
			       mb, threads[t], tp[PRIVMEM], tp[THP], ratio);
			if (worst < 0 || ratio < worst) {
				worst = ratio;
				worst_mb = mb;
				worst_t = threads[t];
			}
		}
		for (i = 0; i < ARRAY_SIZE(curve_kinds); i++)
			if (curve_kinds[i] != THP)
				curve_falloc(curve_kinds[i], repeats);
		fflush(stdout);
	}
	if (worst >= 0)
		printf("privmem/THP first touch: lowest %.2fx (%zu MiB, %d threads): %s\n",
		       worst, worst_mb, worst_t,
		       worst >= 0.9 ? "goal 0.9x met" : "goal 0.9x not met");
}

int main(int argc, char **argv)
{
	static struct sample samples[NR_KINDS][64];
	double gib, v[64], fault[NR_KINDS], falloc[NR_KINDS];
	long dm[NR_KINDS], fl[NR_KINDS];
	double own;
	int opt, repeats = 5, r, k;
	bool ok[NR_KINDS] = {}, done, curves = false;

	size = 0;
	while ((opt = getopt(argc, argv, "s:r:c")) != -1) {
		switch (opt) {
		case 's':
			size = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'c':
			curves = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-s MiB] [-r repeats] [-c]\n", argv[0]);
			return 2;
		}
	}
	/* The curves go up to half the memory free, the table is 1 GiB. */
	if (!size)
		size = curves ? (size_t)meminfo_kb("MemAvailable") << 9 : 1024ul << 20;
	TEST_ASSERT(repeats > 0 && repeats <= 64 && size, "bad arguments");
	gib = (double)size / (1ul << 30);
	/* memfd_secret charges RLIMIT_MEMLOCK, even for root on Debian. */
	{
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

		setrlimit(RLIMIT_MEMLOCK, &rl);
	}

	dev = memext_open();
	__TEST_REQUIRE(ioctl(dev, KVM_MEMEXT_CHECK_EXTENSION, KVM_MEMEXT_CAP_PRIVMEM) > 0,
		       "no private memory");
	{
		int kvm = open("/dev/kvm", O_RDWR);

		if (kvm >= 0)
			vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	}
	setup_kprobes();
	if (curves) {
		run_curves(size >> 20, repeats);
		teardown_kprobes();
		close(dev);
		return 0;
	}

	for (r = 0; r < repeats; r++) {
		for (k = 0; k < NR_KINDS; k++) {
			if (r && !ok[k])
				continue;	/* not on this kernel */
			done = run_once(k, &samples[k][r]);
			if (!r) {
				ok[k] = done;
			} else if (!done) {
				fprintf(stderr, "%s stopped working\n", names[k]);
				return 1;
			}
		}
	}
	teardown_kprobes();

	own = own_flushes_per_gib(gib);

	printf("privmem_bench: %.2f GiB per run, %d repeats, medians\n", gib, repeats);
	printf("%-22s %12s %10s %12s %10s %14s %14s\n", "backing", "fault GiB/s",
	       "vs memfd", "falloc GiB/s", "vs memfd", "DirectMap4k/GiB", "TLB flush/GiB");
	for (k = 0; k < NR_KINDS; k++) {
		if (!ok[k])
			continue;
		for (r = 0; r < repeats; r++)
			v[r] = samples[k][r].fault_ns;
		fault[k] = gib / (median(v, repeats) / 1e9);
		for (r = 0; r < repeats; r++)
			v[r] = samples[k][r].falloc_ns;
		falloc[k] = median(v, repeats) < 0 ? -1 : gib / (median(v, repeats) / 1e9);
		for (r = 0; r < repeats; r++)
			v[r] = samples[k][r].dm4k_kb;
		dm[k] = median(v, repeats) / gib;
		for (r = 0; r < repeats; r++)
			v[r] = samples[k][r].flushes;
		fl[k] = median(v, repeats) < 0 ? -1 : median(v, repeats) / gib;
	}
	for (k = 0; k < NR_KINDS; k++) {
		char fa[32] = "n/a", far[32] = "", flb[32] = "n/a";

		if (!ok[k]) {
			printf("%-22s not available on this kernel\n", names[k]);
			continue;
		}
		if (falloc[k] >= 0) {
			snprintf(fa, sizeof(fa), "%.2f", falloc[k]);
			if (ok[MEMFD] && falloc[MEMFD] > 0)
				snprintf(far, sizeof(far), "%.2fx", falloc[k] / falloc[MEMFD]);
		}
		if (fl[k] >= 0)
			snprintf(flb, sizeof(flb), "%ld", fl[k]);
		printf("%-22s %12.2f %9.2fx %12s %10s %14ld kB %11s\n", names[k], fault[k],
		       ok[MEMFD] ? fault[k] / fault[MEMFD] : 0, fa, far, dm[k], flb);
	}
	if (ok[PRIVMEM] && ok[SECRET])
		printf("privmem vs memfd_secret, fault throughput: %.1fx\n",
		       fault[PRIVMEM] / fault[SECRET]);
	if (own >= 0)
		printf("privmem's own count: %.0f TLB flushes per GiB faulted in\n", own);
	scaling_table(repeats);
	first_chunk_table(repeats < 5 ? 5 : repeats);
	close(dev);
	return 0;
}
