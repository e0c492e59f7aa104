// SPDX-License-Identifier: GPL-2.0
/*
 * Guest RAM in private memory: the VMM makes a private-memory file, maps
 * it, and hands the mapping to KVM as a memslot, as it would anonymous
 * memory.  The pages are out of the kernel's direct map from their first
 * use; the VMM reads and writes them through its own mapping.  The guest
 * sums 1..10, stores the sum in its RAM and reports it on a port.
 *
 * Build: make samples (cc -I<kvm_memext>/include/uapi privmem_vmm.c)
 */
#include "vmm.h"

#define RAM_SIZE	(2UL << 20)	/* one 2 MiB chunk */
#define CODE		0x1000
#define RESULT		0x2000

static const uint8_t guest[] = {
	0x31, 0xc0,		/* xor ax, ax */
	0xb9, 0x0a, 0x00,	/* mov cx, 10 */
	0x01, 0xc8,		/* 1: add ax, cx */
	0xe2, 0xfc,		/* loop 1b */
	0xa3, 0x00, 0x20,	/* mov [0x2000], ax */
	0xba, VMM_PORT, 0x00,	/* mov dx, VMM_PORT */
	0xef,			/* out dx, ax */
	0xf4,			/* hlt */
};

int main(void)
{
	struct kvm_memext_create_privmem create = { .size = RAM_SIZE };
	struct vmm v;
	uint8_t *ram;
	int fd, sum;

	vmm_create(&v, KVM_MEMEXT_CAP_PRIVMEM);
	fd = ioctl(v.memext, KVM_MEMEXT_CREATE_PRIVMEM, &create);
	if (fd < 0)
		vmm_die("KVM_MEMEXT_CREATE_PRIVMEM");
	/* Shared: the file's pages are the guest's RAM, nothing is copied. */
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		vmm_die("mmap private memory (RLIMIT_MEMLOCK too small?)");
	memcpy(ram + CODE, guest, sizeof(guest));
	vmm_set_slot(&v, 0, 0, RAM_SIZE, ram);
	vmm_start_at(&v, CODE);

	sum = vmm_run(&v);
	printf("guest on private memory reported %d; its RAM holds %d\n",
	       sum, *(uint16_t *)(ram + RESULT));
	if (vmm_run(&v) != -1 || sum != 55 || *(uint16_t *)(ram + RESULT) != 55)
		return 1;
	/* Closing the last reference frees the pages, zeroed. */
	munmap(ram, RAM_SIZE);
	close(fd);
	return 0;
}
