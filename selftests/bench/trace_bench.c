// SPDX-License-Identifier: GPL-2.0
/*
 * What kvm_memext's trace events cost on the batch and the fault path:
 * the same work with the events off and on (every kvm_memext event
 * enabled in a trace instance of its own), alternating, medians of R
 * repeats and their ratio.
 *
 * Batch path: a one-page memslot created and deleted by batches while the
 * VM's vCPU spins in the guest (each batch parks and resumes it).  Fault
 * path: a populated private-memory file mapped again and touched once per
 * 2 MiB chunk, each touch one fault that maps the chunk.
 *
 * Usage: trace_bench [-r repeats] [-n batches] [-s MiB]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>

#include "bench_util.h"
#include "memext_util.h"
#include "processor.h"
#include "ucall_common.h"

#define INSTANCE	"/sys/kernel/tracing/instances/kvm_memext_bench"
#define SLOT		10
#define SLOT_GPA	0xc0000000ul
#define CHUNK		(2ul << 20)

static void guest_code(void)
{
	for (;;)
		cpu_relax();
}

static void *vcpu_fn(void *arg)
{
	vcpu_run(arg);
	return NULL;
}

static void set_events(bool on)
{
	memext_write_file(INSTANCE "/events/kvm_memext/enable", on ? "1" : "0");
	/* An empty buffer for each run: no run pays for another's overwrites. */
	memext_write_file(INSTANCE "/trace", "");
}

static double batch_ns(int handle, void *hva, int n)
{
	struct kvm_memext_memslot e = {
		.slot = SLOT, .guest_phys_addr = SLOT_GPA,
		.userspace_addr = (uintptr_t)hva,
	};
	struct kvm_memext_set_memslots args = {
		.nr_entries = 1, .entries = (uintptr_t)&e,
	};
	double t0 = now_ns();
	int i;

	for (i = 0; i < n; i++) {
		e.memory_size = i % 2 ? 0 : PAGE_SIZE;
		TEST_ASSERT(!ioctl(handle, KVM_MEMEXT_SET_MEMSLOTS, &args),
			    "batch: %s", strerror(errno));
	}
	return (now_ns() - t0) / n;
}

static double fault_ns(int fd, size_t size)
{
	uint8_t *p;
	double t0, t;
	size_t off;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	t0 = now_ns();
	for (off = 0; off < size; off += CHUNK)
		WRITE_ONCE(p[off], READ_ONCE(p[off]) + 1);
	t = now_ns() - t0;
	munmap(p, size);
	return t / (size / CHUNK);
}

int main(int argc, char *argv[])
{
	int repeats = 9, batches = 200, mib = 256, opt, r, on, dev, handle, fd;
	double batch[2][64], fault[2][64], b[2], f[2];
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	pthread_t thread;
	void *hva;

	while ((opt = getopt(argc, argv, "r:n:s:")) != -1) {
		switch (opt) {
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'n':
			batches = atoi(optarg) & ~1;
			break;
		case 's':
			mib = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-r repeats] [-n batches] [-s MiB]\n",
				argv[0]);
			return 2;
		}
	}
	TEST_ASSERT(repeats > 0 && repeats <= 64 && batches > 0 && mib >= 2,
		    "bad arguments");
	TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	if (access("/sys/kernel/tracing/events", F_OK))
		mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL);
	__TEST_REQUIRE(!access("/sys/kernel/tracing/events/kvm_memext", F_OK),
		       "no kvm_memext trace events");
	TEST_ASSERT(!mkdir(INSTANCE, 0700) || errno == EEXIST, "mkdir %s", INSTANCE);
	memext_write_file(INSTANCE "/buffer_size_kb", "4096");

	dev = memext_open();
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	handle = memext_bind(dev, vm->fd);
	hva = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(hva != MAP_FAILED, "mmap");
	pthread_create(&thread, NULL, vcpu_fn, vcpu);
	usleep(100 * 1000);

	fd = memext_create_privmem(dev, (uint64_t)mib << 20, 0);
	TEST_ASSERT(!fallocate(fd, 0, 0, (off_t)mib << 20), "fallocate: %s",
		    strerror(errno));

	for (r = 0; r < repeats; r++) {
		for (on = 0; on < 2; on++) {
			/* Alternate which goes first: drift hits both alike. */
			int o = r % 2 ? !on : on;

			set_events(o);
			batch[o][r] = batch_ns(handle, hva, batches);
			fault[o][r] = fault_ns(fd, (size_t)mib << 20);
		}
	}
	set_events(false);
	rmdir(INSTANCE);

	for (on = 0; on < 2; on++) {
		b[on] = median(batch[on], repeats);
		f[on] = median(fault[on], repeats);
	}
	printf("trace events, ns per operation (medians of %d runs):\n", repeats);
	printf("%-40s %12s %12s %8s\n", "path", "events off", "events on", "on/off");
	printf("%-40s %12.0f %12.0f %7.3fx\n", "batch (1 entry, 1 running vCPU)",
	       b[0], b[1], b[1] / b[0]);
	printf("%-40s %12.0f %12.0f %7.3fx\n", "private-memory fault (2 MiB map)",
	       f[0], f[1], f[1] / f[0]);
	printf("(%d batches and %d faults per run)\n", batches, mib / 2);

	/* The vCPU spins in the guest for good: the process exit ends it. */
	close(fd);
	close(handle);
	close(dev);
	exit(0);
}
