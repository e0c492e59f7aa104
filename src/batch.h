/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_BATCH_H
#define _KVM_MEMEXT_BATCH_H

/*
 * Memslot batches: the planner (batch_plan.c), the batcher (batch.c) and
 * the parking of vCPUs around it (quiesce.c).
 */

#include "kvm_memext.h"

/* A memslot as the batch planner sees it. */
struct kvm_memext_slot {
	u32 slot;		/* as_id << 16 | id, as in the uAPI */
	u32 flags;
	u64 base_gfn;
	u64 npages;
	u64 userspace_addr;
	u64 guest_memfd_offset;
	u32 guest_memfd;
};

/* A memslot layout: the user slots of every address space of a VM. */
struct kvm_memext_layout {
	unsigned int nr;
	struct kvm_memext_slot *slots;
};

/* What a VM's memslots accept. */
struct kvm_memext_plan_limits {
	u32 nr_as;
	u32 nr_slots;		/* user slots per address space */
	u64 max_npages;
	u32 valid_flags;	/* KVM_MEM_* */
};

enum kvm_memext_op {
	KVM_MEMEXT_OP_NONE,
	KVM_MEMEXT_OP_CREATE,
	KVM_MEMEXT_OP_DELETE,
	KVM_MEMEXT_OP_MOVE,
	KVM_MEMEXT_OP_FLAGS,
};

/* One KVM memslot operation of a batch, with what it replaces. */
struct kvm_memext_step {
	enum kvm_memext_op op;
	struct kvm_memext_slot old;
	struct kvm_memext_slot new;
	bool harvest;		/* save old's dirty bitmap first */
	u64 dirty_bitmap;	/* ... to this user address */
};

/* Same layout as struct kvm_userspace_memory_region2 (6.8+). */
struct kvm_memext_region {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};

long kvm_memext_set_memslots(struct kvm_memext_vm *vm,
			     struct kvm_memext_set_memslots __user *uargs);
void kvm_memext_batch_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_batch_release_vm(struct kvm_memext_vm *vm);
int kvm_memext_plan_batch(const struct kvm_memext_plan_limits *lim,
			  struct kvm_memext_layout *layout,
			  const struct kvm_memext_memslot *entries,
			  unsigned int nr, u32 batch_flags,
			  struct kvm_memext_step *steps,
			  unsigned int *err_index);
void kvm_memext_step_undo(const struct kvm_memext_step *step,
			  struct kvm_memext_step *undo);
void kvm_memext_step_region(const struct kvm_memext_step *step,
			    struct kvm_memext_region *region);

struct kvm_memext_quiesce;
struct kvm_memext_quiesce *kvm_memext_quiesce_vcpus(struct kvm *kvm,
						    unsigned int timeout_ms);
void kvm_memext_resume_vcpus(struct kvm_memext_quiesce *q);
unsigned int kvm_memext_quiesce_nr_vcpus(const struct kvm_memext_quiesce *q);
u64 kvm_memext_quiesce_start(const struct kvm_memext_quiesce *q);

/*
 * Parked vCPUs resume in a tree stored breadth first: the batcher (position
 * -1) wakes positions 0..@roots-1, and position @pos wakes the @fanout
 * positions from @roots + @fanout * @pos on, cut at @nr.  Every position
 * has exactly one parent, and a parent comes before its children.  Returns
 * the first child, and in @end the one past the last.
 */
static inline unsigned int kvm_memext_tree_children(unsigned int roots,
						    unsigned int fanout,
						    int pos, unsigned int nr,
						    unsigned int *end)
{
	unsigned int first, last;

	if (pos < 0) {
		first = 0;
		last = roots;
	} else {
		first = roots + fanout * pos;
		last = first + fanout;
	}
	*end = min(last, nr);
	return min(first, nr);
}

#endif /* _KVM_MEMEXT_BATCH_H */
