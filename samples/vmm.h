/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The little that the kvm_memext samples share: a KVM VM with one vCPU in
 * real mode, bound to a kvm_memext handle, that runs until it writes to an
 * I/O port or halts.  Only libc, <linux/kvm.h> and <linux/kvm_memext.h>.
 */
#ifndef SAMPLES_VMM_H
#define SAMPLES_VMM_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/kvm_memext.h>

/* The port the samples' guests report on. */
#define VMM_PORT	0x10

struct vmm {
	int kvm;		/* /dev/kvm */
	int memext;		/* /dev/kvm_memext */
	int vm;			/* KVM_CREATE_VM */
	int handle;		/* KVM_MEMEXT_BIND_VM */
	int vcpu;
	struct kvm_run *run;
};

static inline void vmm_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

/* Open both devices, make the VM and its vCPU, bind the VM. */
static inline void vmm_create(struct vmm *v, int cap)
{
	struct kvm_memext_bind_vm bind = { 0 };
	long size;

	v->memext = open("/dev/kvm_memext", O_RDWR | O_CLOEXEC);
	if (v->memext < 0)
		vmm_die("open /dev/kvm_memext (is kvm_memext loaded?)");
	if (ioctl(v->memext, KVM_MEMEXT_CHECK_EXTENSION, cap) <= 0) {
		fprintf(stderr, "kvm_memext extension %d not available\n", cap);
		exit(4);
	}
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		vmm_die("open /dev/kvm");
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		vmm_die("KVM_CREATE_VM");
	bind.vm_fd = v->vm;
	v->handle = ioctl(v->memext, KVM_MEMEXT_BIND_VM, &bind);
	if (v->handle < 0)
		vmm_die("KVM_MEMEXT_BIND_VM");
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		vmm_die("KVM_CREATE_VCPU");
	size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		vmm_die("mmap kvm_run");
}

/* A memslot, the classic way (before the guest runs). */
static inline void vmm_set_slot(struct vmm *v, uint32_t slot, uint64_t gpa,
				uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r))
		vmm_die("KVM_SET_USER_MEMORY_REGION");
}

/* Real mode, CS = DS = 0, starting at @ip. */
static inline void vmm_start_at(struct vmm *v, uint16_t ip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = ip, .rflags = 0x2 };

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs))
		vmm_die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) ||
	    ioctl(v->vcpu, KVM_SET_REGS, &regs))
		vmm_die("KVM_SET_SREGS/REGS");
}

/* Run until the guest writes a word to VMM_PORT (returned) or halts (-1). */
static inline int vmm_run(struct vmm *v)
{
	struct kvm_run *run = v->run;

	for (;;) {
		if (ioctl(v->vcpu, KVM_RUN, 0))
			vmm_die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_HLT)
			return -1;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.port == VMM_PORT)
			return *(uint16_t *)((uint8_t *)run + run->io.data_offset);
		fprintf(stderr, "unexpected exit reason %u\n", run->exit_reason);
		exit(1);
	}
}

#endif /* SAMPLES_VMM_H */
