// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal VMM showing the kvm_memext API: it creates a KVM VM with one
 * vCPU and 64 KiB of guest RAM, binds the VM to a kvm_memext handle, and
 * runs a 16-bit real-mode guest that sums 1..10, stores the result in its
 * RAM and reports it on an I/O port.
 *
 * Built by scripts/build-tests.sh against the kernel's uapi headers and
 * include/uapi of this project; it needs nothing but libc.
 */
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

#define GUEST_RAM_SIZE	0x10000
#define GUEST_CODE	0x1000
#define GUEST_RESULT	0x2000
#define DEMO_PORT	0x10

/* Real-mode guest: ax = 10 + 9 + ... + 1; [0x2000] = ax; out 0x10, ax; hlt */
static const uint8_t guest_code[] = {
	0x31, 0xc0,		/* xor ax, ax */
	0xb9, 0x0a, 0x00,	/* mov cx, 10 */
	0x01, 0xc8,		/* 1: add ax, cx */
	0xe2, 0xfc,		/* loop 1b */
	0xa3, 0x00, 0x20,	/* mov [0x2000], ax */
	0xba, DEMO_PORT, 0x00,	/* mov dx, 0x10 */
	0xef,			/* out dx, ax */
	0xf4,			/* hlt */
};

static void die(const char *what)
{
	fprintf(stderr, "demo_vmm: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(void)
{
	struct kvm_userspace_memory_region region;
	struct kvm_memext_bind_vm bind = { 0 };
	int kvm, memext, vm, vcpu, handle, r;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	uint8_t *ram;
	long mmap_size;

	memext = open("/dev/kvm_memext", O_RDWR | O_CLOEXEC);
	if (memext < 0)
		die("open /dev/kvm_memext (is kvm_memext loaded?)");
	printf("kvm_memext API version %d, VM handles %s\n",
	       ioctl(memext, KVM_MEMEXT_GET_API_VERSION, 0),
	       ioctl(memext, KVM_MEMEXT_CHECK_EXTENSION,
		     KVM_MEMEXT_CAP_VM_HANDLE) > 0 ? "supported" : "missing");

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");

	bind.vm_fd = vm;
	handle = ioctl(memext, KVM_MEMEXT_BIND_VM, &bind);
	if (handle < 0)
		die("KVM_MEMEXT_BIND_VM");
	printf("created VM (fd %d), bound to kvm_memext handle (fd %d)\n",
	       vm, handle);

	ram = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap guest RAM");
	memcpy(ram + GUEST_CODE, guest_code, sizeof(guest_code));
	region = (struct kvm_userspace_memory_region) {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = GUEST_RAM_SIZE,
		.userspace_addr = (uintptr_t)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0))
			die("KVM_RUN");
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port != DEMO_PORT ||
			    run->io.direction != KVM_EXIT_IO_OUT)
				break;
			printf("guest reported %u on port 0x%x\n",
			       *(uint16_t *)((uint8_t *)run + run->io.data_offset),
			       DEMO_PORT);
			continue;
		case KVM_EXIT_HLT:
			r = *(uint16_t *)(ram + GUEST_RESULT);
			printf("guest halted; guest RAM at 0x%x holds %d (expected 55)\n",
			       GUEST_RESULT, r);
			close(handle);
			close(vcpu);
			close(vm);
			printf("closed handle and VM\n");
			return r == 55 ? 0 : 1;
		default:
			break;
		}
		fprintf(stderr, "demo_vmm: unexpected exit reason %u\n",
			run->exit_reason);
		return 1;
	}
}
