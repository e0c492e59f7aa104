// SPDX-License-Identifier: GPL-2.0
/*
 * Guests running from private memory: slot 0 and a data slot in private
 * files, holes punched while the guest runs, and what KVM writes through
 * the direct map on hidden pages (kvm-clock, Xen's shared pages, a nested
 * VMCB, VMSAVE: x86's alone), on every kernel of the matrix.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/falloc.h>

#include "privmem_util.h"
#ifdef __x86_64__
#include "svm_util.h"
#endif

/*
 * Move slot 0 (code, stack, page tables, data) into a privmem file, mapped
 * over the old backing: the library keeps host addresses of it (ucalls).
 */
static void *slot0_to_privmem(struct kvm_vm *vm, int dev, int *pmfd)
{
	struct userspace_mem_region *region = memslot2region(vm, 0);
	uint64_t size = region->region.memory_size;
	void *copy = malloc(size), *p;

	TEST_ASSERT(copy, "malloc");
	memcpy(copy, region->host_mem, size);
	*pmfd = memext_create_privmem(dev, (size + CHUNK - 1) & ~(CHUNK - 1), 0);
	p = mmap(region->host_mem, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, *pmfd, 0);
	TEST_ASSERT(p == region->host_mem, "map privmem over slot 0: %s",
		    strerror(errno));
	memcpy(p, copy, size);
	free(copy);
	return p;
}

/*
 * Everything the guest touches is private memory: slot 0 and a data slot
 * whose second half is anonymous memory (one slot, two kinds of VMA).
 */
static void test_guest_in_privmem(void)
{
	int dev = open_privmem_dev(), fd0, fd;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint64_t i, sum = 0, *gd;
	uint8_t *base, *slot0;

	vm = vm_create_with_one_vcpu(&vcpu, guest_fill_and_sum);
	slot0 = slot0_to_privmem(vm, dev, &fd0);

	/* [privmem 4 MiB][anonymous 4 MiB], one memslot. */
	base = mmap(NULL, 2 * DATA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(base != MAP_FAILED, "reserve");
	fd = memext_create_privmem(dev, DATA_SIZE, 0);
	TEST_ASSERT(mmap(base, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == base, "map privmem half");
	TEST_ASSERT(mmap(base + DATA_SIZE, DATA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    base + DATA_SIZE, "map anonymous half");
	vm_set_user_memory_region(vm, DATA_SLOT, 0, DATA_GPA, 2 * DATA_SIZE, base);
	virt_map(vm, DATA_GPA, DATA_GPA, 2 * DATA_SIZE / PAGE_SIZE);
	for (i = 0; i < 2 * DATA_SIZE / PAGE_SIZE; i++) {
		*(uint64_t *)(base + i * PAGE_SIZE) = i * 3 + 1;
		sum += i * 3 + 1;
	}

	vcpu_args_set(vcpu, 2, 5, 2 * DATA_SIZE / PAGE_SIZE);
	expect_sync(vcpu, sum);
	expect_done(vcpu);

	/* The VMM reads the guest's results through its own mappings. */
	gd = addr_gva2hva(vm, (uintptr_t)guest_data);
	TEST_ASSERT((uint8_t *)gd >= slot0 &&
		    (uint8_t *)gd < slot0 + memslot2region(vm, 0)->region.memory_size,
		    "guest data is not in the private slot");
	for (i = 0; i < 512; i++)
		TEST_ASSERT(gd[i] == 5 * i + 7, "guest_data[%lu] = %lu", i, gd[i]);
	for (i = 0; i < 2 * DATA_SIZE / PAGE_SIZE; i++)
		TEST_ASSERT(*(uint64_t *)(base + i * PAGE_SIZE + 8) == 5 + i,
			    "page %lu of the data slot: %lu", i,
			    *(uint64_t *)(base + i * PAGE_SIZE + 8));
	ksft_print_msg("huge PMD mappings so far: %ld\n", memext_stat("pmd_maps"));

	kvm_vm_free(vm);
	munmap(base, 2 * DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/* Punch holes between rounds in which the guest reads and writes the range. */
static void guest_churn(uint64_t rounds)
{
	uint64_t r, i, v, *p;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < DATA_SIZE / PAGE_SIZE; i++) {
			p = (uint64_t *)(DATA_GPA + i * PAGE_SIZE);
			v = READ_ONCE(*p);
			/* The host writes 0xa5a5..., a punched page reads 0. */
			GUEST_ASSERT(v == 0 || v == 0xa5a5a5a5a5a5a5a5ULL ||
				     v == r || v + 1 == r);
			*p = r;
		}
		GUEST_SYNC(r);
	}
	GUEST_DONE();
}

static void test_punch_while_running(void)
{
	int dev = open_privmem_dev(), fd0, fd, punches = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	uint64_t rounds = 40, r;
	uint8_t *data;

	vm = vm_create_with_one_vcpu(&vcpu, guest_churn);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	vcpu_args_set(vcpu, 1, rounds);

	for (r = 0; r < rounds; r++) {
		vcpu_run(vcpu);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[1] == r, "round %lu reported %lu", r, uc.args[1]);
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("round %lu: exit reason %s", r,
				  exit_reason_str(vcpu->run->exit_reason));
		}
		/* Punch a different chunk-straddling range each round. */
		TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (r % 6) * CHUNK / 2, CHUNK), "punch");
		punches++;
		TEST_ASSERT(*(uint64_t *)(data + (r % 6) * CHUNK / 2) == 0,
			    "punched page not zero");
		if (r % 3 == 0)
			memset(data + ((r + 1) % 6) * CHUNK / 2, 0xa5, PAGE_SIZE);
	}
	expect_done(vcpu);
	ksft_print_msg("%d punches while the guest ran\n", punches);
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/* Makes two files accessible and hidden again, over and over. */
struct toggler {
	int fd0, fd;
	off_t size0;
	bool stop;
	unsigned long cycles;
};

static void *toggle_access(void *arg)
{
	struct toggler *t = arg;

	while (!READ_ONCE(t->stop)) {
		memext_set_access(t->fd0, 0, t->size0, true);
		memext_set_access(t->fd, 0, DATA_SIZE, true);
		memext_set_access(t->fd, 0, DATA_SIZE, false);
		memext_set_access(t->fd0, 0, t->size0, false);
		t->cycles++;
		/*
		 * Let the guest run between cycles: on arm64 each one unmaps
		 * both files, and the guest faults every page back in.
		 */
		usleep(50000);
	}
	return NULL;
}

/*
 * Access changes under a running guest, on the pages it runs from: its
 * code, stack and page tables (slot 0) and the data it churns through.
 * On arm64 each change unmaps the chunk for its break-before-make and
 * the guest faults it back in, executing from it; on x86 the entries
 * change under the guest.  The guest must see its own values throughout.
 */
static void test_access_while_running(void)
{
	int dev = open_privmem_dev(), fd0, fd;
	struct toggler t = { 0 };
	uint64_t rounds = 40, r, i;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct stat st;
	pthread_t thread;
	uint8_t *data;

	vm = vm_create_with_one_vcpu(&vcpu, guest_churn);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	vcpu_args_set(vcpu, 1, rounds);
	TEST_ASSERT(!fstat(fd0, &st), "fstat");
	t.fd0 = fd0;
	t.fd = fd;
	t.size0 = st.st_size;
	TEST_ASSERT(!pthread_create(&thread, NULL, toggle_access, &t), "pthread_create");
	for (r = 0; r < rounds; r++)
		expect_sync(vcpu, r);
	expect_done(vcpu);
	WRITE_ONCE(t.stop, true);
	pthread_join(thread, NULL);
	ksft_print_msg("%lu rounds, %lu access cycles of both files while the guest ran\n",
		       rounds, t.cycles);
	TEST_ASSERT(t.cycles, "no access change while the guest ran");
	for (i = 0; i < DATA_SIZE / PAGE_SIZE; i++)
		TEST_ASSERT(*(uint64_t *)(data + i * PAGE_SIZE) == rounds - 1,
			    "page %lu: %lu", i, *(uint64_t *)(data + i * PAGE_SIZE));
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

#ifdef __x86_64__
static bool memchr_nonzero(const uint8_t *p, size_t len)
{
	while (len--) {
		if (*p++)
			return true;
	}
	return false;
}

/* kvm-clock: KVM writes it through the direct map; make its page accessible. */
#define MSR_KVM_SYSTEM_TIME_NEW_	0x4b564d01
#define CLOCK_GPA			(DATA_GPA + 3 * PAGE_SIZE)

static void guest_kvmclock(void)
{
	uint32_t *version = (uint32_t *)CLOCK_GPA, *mul = (uint32_t *)(CLOCK_GPA + 24);
	uint64_t *system_time = (uint64_t *)(CLOCK_GPA + 16);
	uint32_t v;

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW_, CLOCK_GPA | 1);
	v = READ_ONCE(*version);
	GUEST_ASSERT(v && !(v & 1) && READ_ONCE(*mul) && READ_ONCE(*system_time));
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW_, 0);
	GUEST_DONE();
}

static void test_kvmclock_accessible(void)
{
	int dev = open_privmem_dev(), fd0, fd;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	long acc = memext_stat("accessible_pages");

	vm = vm_create_with_one_vcpu(&vcpu, guest_kvmclock);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	/* Without this KVM would write the clock to the decoy (see below). */
	memext_set_access(fd, CLOCK_GPA - DATA_GPA, PAGE_SIZE, true);
	TEST_ASSERT(memext_stat("accessible_pages") == acc + 1, "one page accessible");

	expect_done(vcpu);
	TEST_ASSERT(*(uint32_t *)(data + CLOCK_GPA - DATA_GPA), "host sees no kvm-clock");
	kvm_vm_free(vm);
	memext_set_access(fd, CLOCK_GPA - DATA_GPA, PAGE_SIZE, false);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/*
 * kvm-clock on a hidden page, from an unmodified VMM (no MSR filter, no
 * CPUID enforcement): KVM writes the clock through the direct map at the
 * next guest entry, and the module shows that one page before the guest
 * runs (privmem_clock.c).  The guest checks its clock right after enabling
 * it, with no exit in between; it moves it to another page of the same
 * block, the host punches that page, the guest enables it again and
 * disables it.
 */
#define MSR_KVM_SYSTEM_TIME_		0x12
#define CLOCK2_GPA			(DATA_GPA + 9 * PAGE_SIZE)

struct pvclock_page {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

/*
 * What kvmclock_init() needs: a finished update and a multiplier.  A macro,
 * so that a failure names the caller's line.
 */
#define guest_check_clock(gpa)						\
do {									\
	struct pvclock_page *c = (void *)(gpa);				\
	uint32_t v = READ_ONCE(c->version);				\
									\
	GUEST_ASSERT(v && !(v & 1) && READ_ONCE(c->tsc_to_system_mul));	\
} while (0)

/* @msr: enable with it; @by_vmm: the VMM enabled the clock at CLOCK_GPA. */
static void guest_kvmclock_hidden(uint64_t msr, uint64_t by_vmm)
{
	if (!by_vmm)
		wrmsr(msr, CLOCK_GPA | 1);
	guest_check_clock(CLOCK_GPA);
	GUEST_SYNC(1);
	guest_check_clock(CLOCK_GPA);
	wrmsr(msr, CLOCK2_GPA | 1);
	guest_check_clock(CLOCK2_GPA);
	GUEST_SYNC(2);
	/* The host punched CLOCK2's page: enable the clock there again. */
	wrmsr(msr, CLOCK2_GPA | 1);
	guest_check_clock(CLOCK2_GPA);
	GUEST_SYNC(3);
	wrmsr(msr, 0);
	GUEST_SYNC(4);
	GUEST_DONE();
}

static uint32_t host_clock_version(uint8_t *data, uint64_t gpa)
{
	return READ_ONCE(*(uint32_t *)(data + gpa - DATA_GPA));
}

struct kvmclock_case {
	uint32_t msr;
	uint64_t flags;		/* of the data slot's file */
	bool by_vmm;
	bool unprivileged;
};

static void run_kvmclock_hidden(void *arg)
{
	const struct kvmclock_case *c = arg;
	int dev = open_privmem_dev(), fd0, fd;
	long base = memext_stat("clock_pages"), acc = memext_stat("accessible_pages");
	long dm4k = meminfo_kb("DirectMap4k"), writes;
	long failures = memext_stat("clock_failures");
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;

	if (c->unprivileged)
		drop_caps(CAP_BIT(CAP_SYS_ADMIN));
	vm = vm_create_with_one_vcpu(&vcpu, guest_kvmclock_hidden);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot_flags(vm, dev, &fd, c->flags);
	vcpu_args_set(vcpu, 2, (uint64_t)c->msr, (uint64_t)c->by_vmm);
	if (c->by_vmm)
		vcpu_set_msr(vcpu, c->msr, CLOCK_GPA | 1);

	expect_sync(vcpu, 1);
	TEST_ASSERT(host_clock_version(data, CLOCK_GPA), "the clock page holds no clock");
	TEST_ASSERT(memext_stat("clock_pages") == base + 1, "clock pages %ld -> %ld",
		    base, memext_stat("clock_pages"));
	TEST_ASSERT(memext_stat("accessible_pages") == acc, "accessible pages %ld -> %ld",
		    acc, memext_stat("accessible_pages"));
	expect_sync(vcpu, 2);
	TEST_ASSERT(memext_stat("clock_pages") == base + 1,
		    "moved clock: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	/*
	 * Both clock pages are in one block: split once at most (4 KiB
	 * pages split anyway).  A punched page of a block comes back as
	 * any 4 KiB page, whose hiding may split another block: not counted.
	 */
	dm4k = meminfo_kb("DirectMap4k") - dm4k;
	TEST_ASSERT(c->flags || dm4k <= 2048, "DirectMap4k grew by %ld kB", dm4k);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       CLOCK2_GPA - DATA_GPA, PAGE_SIZE), "punch the clock page");
	TEST_ASSERT(memext_stat("clock_pages") == base,
		    "punched clock: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	expect_sync(vcpu, 3);
	TEST_ASSERT(memext_stat("clock_pages") == base + 1,
		    "clock enabled again: clock pages %ld -> %ld", base,
		    memext_stat("clock_pages"));
	expect_sync(vcpu, 4);
	TEST_ASSERT(memext_stat("clock_pages") == base,
		    "clock disabled: clock pages %ld -> %ld", base, memext_stat("clock_pages"));
	expect_done(vcpu);
	/* Moving, re-enabling and disabling the clock are no failures. */
	TEST_ASSERT(memext_stat("clock_failures") == failures,
		    "clock failures %ld -> %ld", failures, memext_stat("clock_failures"));

	writes = memext_stat("decoy_writes");
	ksft_print_msg("msr %#x by the %s, %s%s: DirectMap4k +%ld kB\n", c->msr,
		       c->by_vmm ? "VMM" : "guest", c->flags ? "4 KiB pages" : "2 MiB chunk",
		       c->unprivileged ? ", unprivileged" : "", dm4k);
	ksft_print_msg("clock pages shown %ld, failed %ld; decoy writes %ld\n",
		       memext_stat("clock_shows"), memext_stat("clock_failures"), writes);
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	TEST_ASSERT(memext_stat("clock_pages") == base, "clock pages left: %ld -> %ld",
		    base, memext_stat("clock_pages"));
	close(dev);
}

static const struct kvmclock_case kvmclock_cases[] = {
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, false, false },
	{ MSR_KVM_SYSTEM_TIME_, 0, false, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, KVM_MEMEXT_PRIVMEM_NO_HUGE, false, false },
	{ MSR_KVM_SYSTEM_TIME_, KVM_MEMEXT_PRIVMEM_NO_HUGE, false, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, true, false },
	{ MSR_KVM_SYSTEM_TIME_, KVM_MEMEXT_PRIVMEM_NO_HUGE, true, false },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, false, true },
	{ MSR_KVM_SYSTEM_TIME_NEW_, 0, true, true },
};

static void test_kvmclock_hidden(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kvmclock_cases); i++)
		in_child(run_kvmclock_hidden, (void *)&kvmclock_cases[i], "kvm-clock");
}

/*
 * Xen shared info, vCPU info and runstate area on private pages, set by
 * the VMM: KVM writes them through the direct map too (wall clock at
 * activation, runstate at every context switch).
 */
#define SHINFO_GPA	(DATA_GPA + 4 * PAGE_SIZE)
#define VCPU_INFO_GPA	(DATA_GPA + 5 * PAGE_SIZE)
#define RUNSTATE_GPA	(DATA_GPA + 6 * PAGE_SIZE + 40)

static void guest_syncs(void)
{
	GUEST_SYNC(0);
	GUEST_SYNC(0);
	GUEST_DONE();
}

static void test_xen_pages_hidden(void)
{
	int caps = kvm_check_cap(KVM_CAP_XEN_HVM), dev, fd0, fd, i;
	struct kvm_xen_hvm_config cfg = {
		.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
		.msr = 0x40000200,
	};
	struct kvm_xen_hvm_attr lm = {
		.type = KVM_XEN_ATTR_TYPE_LONG_MODE, .u.long_mode = 1,
	};
	struct kvm_xen_hvm_attr shinfo = {
		.type = KVM_XEN_ATTR_TYPE_SHARED_INFO,
		.u.shared_info.gfn = SHINFO_GPA / PAGE_SIZE,
	};
	struct kvm_xen_vcpu_attr vi = {
		.type = KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO, .u.gpa = VCPU_INFO_GPA,
	};
	struct kvm_xen_vcpu_attr rs = {
		.type = KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR, .u.gpa = RUNSTATE_GPA,
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	long writes;

	__TEST_REQUIRE(caps & KVM_XEN_HVM_CONFIG_SHARED_INFO,
		       "no Xen shared info in this KVM (CONFIG_KVM_XEN)");
	dev = open_privmem_dev();
	vm = vm_create_with_one_vcpu(&vcpu, guest_syncs);
	slot0_to_privmem(vm, dev, &fd0);
	data = add_data_slot(vm, dev, &fd);
	writes = memext_stat("decoy_writes");

	vm_ioctl(vm, KVM_XEN_HVM_CONFIG, &cfg);
	vm_ioctl(vm, KVM_XEN_HVM_SET_ATTR, &lm);
	vm_ioctl(vm, KVM_XEN_HVM_SET_ATTR, &shinfo);
	vcpu_ioctl(vcpu, KVM_XEN_VCPU_SET_ATTR, &vi);
	if (caps & KVM_XEN_HVM_CONFIG_RUNSTATE)
		vcpu_ioctl(vcpu, KVM_XEN_VCPU_SET_ATTR, &rs);

	expect_sync(vcpu, 0);
	expect_sync(vcpu, 0);
	expect_done(vcpu);
	for (i = 4; i < 8; i++)
		TEST_ASSERT(!memchr_nonzero(data + i * PAGE_SIZE, PAGE_SIZE),
			    "private page %d of the data slot was written", i);
	TEST_ASSERT(memext_stat("decoy_writes") > writes,
		    "KVM's Xen shared-info writes did not reach the decoy");
	ksft_print_msg("shared info, vCPU info%s: guest ran on\n",
		       caps & KVM_XEN_HVM_CONFIG_RUNSTATE ? ", runstate" : "");
	kvm_vm_free(vm);
	munmap(data, DATA_SIZE);
	close(fd);
	close(fd0);
	close(dev);
}

/*
 * Nested SVM with L1's VMCB12 (and everything else of L1) in private
 * memory: VMRUN makes KVM map the VMCB12 with kvm_vcpu_map(), i.e. the
 * direct map on 6.1 and 6.12, which reads the decoy: a VMCB12 of zeros
 * fails the consistency checks and L1 continues after VMRUN (its own view
 * of the VMCB is not written).  7.3 refuses to map VM_PFNMAP memory there
 * (-EFAULT from VMRUN: an internal-error exit to the VMM).  Either way the
 * host keeps running.
 */
static void l2_guest_code(void)
{
	__asm__ __volatile__("vmmcall");
}

static void l1_guest_code(struct svm_test_data *svm)
{
	unsigned long l2_stack[64];

	memext_svm_setup(svm, l2_guest_code, &l2_stack[64]);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_SYNC(svm->vmcb->control.exit_code);
	GUEST_DONE();
}

static void test_nested_vmcb_hidden(void)
{
	struct kvm_vcpu *vcpu;
	memext_gva_t svm_gva;
	struct kvm_vm *vm;
	int dev, fd0;

	__TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM), "no nested SVM");
	dev = open_privmem_dev();
	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	slot0_to_privmem(vm, dev, &fd0);

	vcpu_run(vcpu);
	if (vcpu->run->exit_reason == KVM_EXIT_SHUTDOWN ||
	    vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		ksft_print_msg("VMRUN refused: exit %s\n",
			       exit_reason_str(vcpu->run->exit_reason));
	} else {
		ksft_print_msg("L1 ran on after VMRUN (exit code %#lx in its VMCB)\n",
			       sync_value(vcpu));
		expect_done(vcpu);
	}
	kvm_vm_free(vm);
	close(fd0);
	close(dev);
}

/*
 * Two tenants, and what KVM itself writes through the direct map: on 6.1
 * and 6.12 an emulated VMSAVE stores L1's LSTAR (and the rest of its
 * VMLOAD/VMSAVE state) through kvm_vcpu_map(), i.e. kmap(), so onto a
 * hidden page it lands in the decoy; an emulated VMLOAD reads through the
 * decoy too.  One tenant's VMSAVE at an offset of its file must never be
 * what another tenant's VMLOAD at the same offset of its own file loads
 * (one decoy shared by all files carried it across).  An Intel vendor
 * string makes KVM intercept both whatever kvm_amd's vls says; 7.3 refuses
 * VM_PFNMAP memory there (an internal-error exit), which leaks nothing.
 */
#define VMSAVE_GPA	(DATA_GPA + 5 * PAGE_SIZE)
#define TENANT_LSTAR	0xffffffffc0de5000ULL

static void guest_vmsave_vmload(uint64_t save)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	if (save) {
		wrmsr(MSR_LSTAR, TENANT_LSTAR);
		__asm__ __volatile__("vmsave %%rax" : : "a"(VMSAVE_GPA) : "memory");
	} else {
		wrmsr(MSR_LSTAR, 0);
		__asm__ __volatile__("vmload %%rax" : : "a"(VMSAVE_GPA) : "memory");
	}
	GUEST_SYNC(rdmsr(MSR_LSTAR));
	GUEST_DONE();
}

struct vmsave_tenant {
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *data;
	int dev, fd;
	uint64_t lstar;		/* after the instruction; -1: refused */
};

/* One tenant's VM runs its VMSAVE (@save) or VMLOAD, and stays. */
static void vmsave_tenant_run(struct vmsave_tenant *t, bool save)
{
	struct kvm_cpuid_entry2 *vendor;

	t->dev = open_privmem_dev();
	t->vm = vm_create_with_one_vcpu(&t->vcpu, guest_vmsave_vmload);
	vcpu_args_set(t->vcpu, 1, (uint64_t)save);
	vendor = vcpu_get_cpuid_entry(t->vcpu, 0);
	vendor->ebx = 0x756e6547;	/* "GenuineIntel" */
	vendor->edx = 0x49656e69;
	vendor->ecx = 0x6c65746e;
	vcpu_set_cpuid(t->vcpu);
	t->data = add_data_slot(t->vm, t->dev, &t->fd);

	t->lstar = -1ULL;
	vcpu_run(t->vcpu);
	if (t->vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		ksft_print_msg("%s refused: internal-error exit\n",
			       save ? "VMSAVE" : "VMLOAD");
		return;
	}
	t->lstar = sync_value(t->vcpu);
}

static void vmsave_tenant_free(struct vmsave_tenant *t)
{
	TEST_ASSERT(!memchr_nonzero(t->data + VMSAVE_GPA - DATA_GPA, PAGE_SIZE),
		    "the private page was written through the direct map");
	kvm_vm_free(t->vm);
	munmap(t->data, DATA_SIZE);
	close(t->fd);
	close(t->dev);
}

static void vmload_tenant_child(void *arg)
{
	struct vmsave_tenant t;

	vmsave_tenant_run(&t, false);
	TEST_ASSERT(t.lstar != TENANT_LSTAR,
		    "VMLOAD loaded the other tenant's LSTAR %#lx", t.lstar);
	if (t.lstar != -1ULL)
		ksft_print_msg("the other tenant's VMLOAD: LSTAR %#lx\n", t.lstar);
	vmsave_tenant_free(&t);
}

static void test_vmsave_tenants(void)
{
	struct vmsave_tenant t;
	long writes;

	__TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM), "no nested SVM");
	writes = memext_stat("decoy_writes");
	/* Tenant A saves and keeps its VM and file while B loads. */
	vmsave_tenant_run(&t, true);
	if (t.lstar != -1ULL)
		TEST_ASSERT(t.lstar == TENANT_LSTAR, "LSTAR %#lx after VMSAVE",
			    t.lstar);
	in_child(vmload_tenant_child, NULL, "the other tenant");
	if (t.lstar != -1ULL) {
		TEST_ASSERT(memext_stat("decoy_writes") > writes,
			    "KVM's VMSAVE did not write through the direct map");
		ksft_print_msg("one tenant's VMSAVE went to its own decoy\n");
	}
	vmsave_tenant_free(&t);
}
#endif /* __x86_64__ */

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_guest_in_privmem),
		MEMEXT_TEST(test_punch_while_running),
		MEMEXT_TEST(test_access_while_running),
#ifdef __x86_64__
		/* kvm-clock, Xen's shared pages and nested SVM are x86's. */
		MEMEXT_TEST(test_kvmclock_accessible),
		MEMEXT_TEST(test_kvmclock_hidden),
		MEMEXT_TEST(test_xen_pages_hidden),
		MEMEXT_TEST(test_nested_vmcb_hidden),
		MEMEXT_TEST(test_vmsave_tenants),
#endif
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
