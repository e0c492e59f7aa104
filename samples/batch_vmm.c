// SPDX-License-Identifier: GPL-2.0
/*
 * A memslot batch: the guest reads a word from a data slot; the VMM
 * replaces the slot's backing (delete and create, two entries) in one
 * KVM_MEMEXT_SET_MEMSLOTS, so the guest sees the old memory or the new,
 * never a hole.  Then a batch with a bad entry is refused as a whole, and
 * says which entry and why.
 *
 * Build: make samples (cc -I<kvm_memext>/include/uapi batch_vmm.c)
 */
#include "vmm.h"

#define CODE_SIZE	0x10000
#define DATA_GPA	0x10000
#define DATA_SIZE	0x1000

/* for (;;) { ax = *(u16 *)0x10000; out VMM_PORT, ax } */
static const uint8_t guest[] = {
	0xb8, 0x00, 0x10,	/* mov ax, 0x1000 */
	0x8e, 0xd8,		/* mov ds, ax */
	0xa1, 0x00, 0x00,	/* 1: mov ax, [0] */
	0xba, VMM_PORT, 0x00,	/* mov dx, VMM_PORT */
	0xef,			/* out dx, ax */
	0xeb, 0xf7,		/* jmp 1b */
};

static void *buffer(uint16_t value)
{
	uint16_t *p = mmap(NULL, DATA_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		vmm_die("mmap");
	*p = value;
	return p;
}

static int set_memslots(struct vmm *v, struct kvm_memext_memslot *e,
			uint32_t nr, struct kvm_memext_set_memslots *b)
{
	*b = (struct kvm_memext_set_memslots) {
		.nr_entries = nr,
		.entries = (uintptr_t)e,
	};
	return ioctl(v->handle, KVM_MEMEXT_SET_MEMSLOTS, b);
}

int main(void)
{
	struct kvm_memext_set_memslots b;
	struct kvm_memext_memslot e[2];
	void *code, *old = buffer(1), *new = buffer(2);
	int first, second;
	struct vmm v;

	vmm_create(&v, KVM_MEMEXT_CAP_MEMSLOT_BATCH);
	code = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		vmm_die("mmap");
	memcpy(code, guest, sizeof(guest));
	vmm_set_slot(&v, 0, 0, CODE_SIZE, code);
	vmm_set_slot(&v, 1, DATA_GPA, DATA_SIZE, old);
	vmm_start_at(&v, 0);
	first = vmm_run(&v);

	/* Slot 1 gets new backing: delete, then create, in one step. */
	memset(e, 0, sizeof(e));
	e[0].slot = 1;
	e[1] = (struct kvm_memext_memslot) {
		.slot = 1,
		.guest_phys_addr = DATA_GPA,
		.memory_size = DATA_SIZE,
		.userspace_addr = (uintptr_t)new,
	};
	if (set_memslots(&v, e, 2, &b))
		vmm_die("KVM_MEMEXT_SET_MEMSLOTS");
	second = vmm_run(&v);
	printf("guest read %d, then %d after the batch (%u entries applied)\n",
	       first, second, b.applied);

	/* An unaligned size in the second entry: nothing is applied. */
	e[0] = e[1];
	e[0].slot = 2;
	e[0].guest_phys_addr = DATA_GPA + DATA_SIZE;
	e[1].memory_size = 1;
	if (!set_memslots(&v, e, 2, &b))
		return 1;
	printf("bad batch refused: %s, entry %d (error %u), %u applied\n",
	       strerror(errno), b.error_index, b.error, b.applied);
	return first == 1 && second == 2 && b.error_index == 1 && !b.applied ? 0 : 1;
}
