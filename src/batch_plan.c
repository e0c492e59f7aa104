// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memslot batch planner: turns a batch of KVM_MEMEXT_SET_MEMSLOTS entries
 * into the sequence of KVM memslot operations that applies it, validating
 * every entry against the layout the entries before it produce.  Pure
 * logic on a snapshot of the layout, so that it can be run before any vCPU
 * is disturbed and tested with KUnit.
 *
 * The rules mirror KVM's own (__kvm_set_memory_region()): an existing slot
 * may move or change its dirty-logging flag, but not change its size,
 * backing address or read-only flag; those take a delete and a create.
 */
#include <linux/kvm.h>
#include <linux/overflow.h>

#include "kvm_memext.h"
#include "batch.h"

static bool plan_slot_overlaps(const struct kvm_memext_slot *a,
			       const struct kvm_memext_slot *b)
{
	return a->base_gfn < b->base_gfn + b->npages &&
	       b->base_gfn < a->base_gfn + a->npages;
}

static struct kvm_memext_slot *
kvm_memext_layout_find(struct kvm_memext_layout *layout, u32 slot)
{
	unsigned int i;

	for (i = 0; i < layout->nr; i++)
		if (layout->slots[i].slot == slot)
			return &layout->slots[i];
	return NULL;
}

/* Does @s overlap any slot of its address space but @self? */
static bool plan_layout_overlaps(const struct kvm_memext_layout *layout,
				 const struct kvm_memext_slot *s,
				 const struct kvm_memext_slot *self)
{
	unsigned int i;

	for (i = 0; i < layout->nr; i++) {
		const struct kvm_memext_slot *o = &layout->slots[i];

		if (o == self || (o->slot >> 16) != (s->slot >> 16))
			continue;
		if (plan_slot_overlaps(o, s))
			return true;
	}
	return false;
}

/* Checks of one entry on its own, before looking at any layout. */
static int plan_check_entry(const struct kvm_memext_plan_limits *lim,
			    const struct kvm_memext_memslot *e,
			    struct kvm_memext_slot *new)
{
	u64 end;

	if (e->pad || e->reserved[0] || e->reserved[1])
		return -EINVAL;
	if ((e->slot >> 16) >= lim->nr_as || (e->slot & 0xffff) >= lim->nr_slots)
		return -EINVAL;
	if (e->flags & ~lim->valid_flags)
		return -EINVAL;
	if (!(e->flags & KVM_MEM_GUEST_MEMFD) &&
	    (e->guest_memfd || e->guest_memfd_offset))
		return -EINVAL;
	/* KVM logs no dirty private memory, and emulates no MMIO for it. */
	if ((e->flags & KVM_MEM_GUEST_MEMFD) &&
	    ((e->flags & (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) ||
	     !PAGE_ALIGNED(e->guest_memfd_offset) ||
	     check_add_overflow(e->guest_memfd_offset, e->memory_size, &end)))
		return -EINVAL;
	if (!PAGE_ALIGNED(e->guest_phys_addr) || !PAGE_ALIGNED(e->memory_size) ||
	    !PAGE_ALIGNED(e->userspace_addr))
		return -EINVAL;
	if (check_add_overflow(e->guest_phys_addr, e->memory_size, &end) ||
	    check_add_overflow(e->userspace_addr, e->memory_size, &end))
		return -EINVAL;
	if ((e->memory_size >> PAGE_SHIFT) > lim->max_npages)
		return -EINVAL;

	new->slot = e->slot;
	new->flags = e->flags;
	new->base_gfn = e->guest_phys_addr >> PAGE_SHIFT;
	new->npages = e->memory_size >> PAGE_SHIFT;
	new->userspace_addr = e->userspace_addr;
	new->guest_memfd = e->guest_memfd;
	new->guest_memfd_offset = e->guest_memfd_offset;
	return 0;
}

/*
 * Dirty bits die with a slot's bitmap: when it is deleted, moved (the bits
 * would then describe other guest addresses) or stops logging.
 */
static int plan_check_harvest(const struct kvm_memext_memslot *e,
			      const struct kvm_memext_slot *old,
			      u32 batch_flags, bool loses_bitmap,
			      struct kvm_memext_step *step)
{
	bool logged = old && (old->flags & KVM_MEM_LOG_DIRTY_PAGES);

	step->harvest = false;
	if (!logged || !loses_bitmap) {
		/* A buffer that would never be filled is a caller bug. */
		return e->dirty_bitmap ? -EINVAL : 0;
	}
	if (!e->dirty_bitmap)
		return (batch_flags & KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY) ? 0 : -EINVAL;
	step->harvest = true;
	step->dirty_bitmap = e->dirty_bitmap;
	return 0;
}

/**
 * kvm_memext_plan_batch() - validate a batch and compute its steps
 * @lim: what the VM accepts
 * @layout: the current layout on entry, the final layout on success; must
 *	    have room for @nr more slots
 * @entries: the batch
 * @nr: number of entries
 * @batch_flags: KVM_MEMEXT_MEMSLOTS_* flags
 * @steps: @nr steps, filled in; an entry that changes nothing gets a
 *	   KVM_MEMEXT_OP_NONE step
 * @err_index: on failure, the index of the offending entry
 *
 * Return: 0, or a negative errno for entry *@err_index; the layout is then
 * undefined.
 */
int kvm_memext_plan_batch(const struct kvm_memext_plan_limits *lim,
			  struct kvm_memext_layout *layout,
			  const struct kvm_memext_memslot *entries,
			  unsigned int nr, u32 batch_flags,
			  struct kvm_memext_step *steps,
			  unsigned int *err_index)
{
	unsigned int i;
	int r;

	for (i = 0; i < nr; i++) {
		const struct kvm_memext_memslot *e = &entries[i];
		struct kvm_memext_step *step = &steps[i];
		struct kvm_memext_slot new = {}, *old;

		*err_index = i;
		r = plan_check_entry(lim, e, &new);
		if (r)
			return r;

		old = kvm_memext_layout_find(layout, e->slot);
		memset(step, 0, sizeof(*step));
		if (old)
			step->old = *old;
		step->new = new;

		if (!new.npages) {
			/* Delete: KVM refuses to delete what does not exist. */
			if (!old)
				return -EINVAL;
			/* Re-creating a guest_memfd slot on rollback needs its fd. */
			if (old->flags & KVM_MEM_GUEST_MEMFD)
				return -EOPNOTSUPP;
			r = plan_check_harvest(e, old, batch_flags, true, step);
			if (r)
				return r;
			step->op = KVM_MEMEXT_OP_DELETE;
			*old = layout->slots[--layout->nr];
			continue;
		}

		if (!old) {
			r = plan_check_harvest(e, NULL, batch_flags, false, step);
			if (r)
				return r;
			if (plan_layout_overlaps(layout, &new, NULL))
				return -EEXIST;
			step->op = KVM_MEMEXT_OP_CREATE;
			layout->slots[layout->nr++] = new;
			continue;
		}

		/* Existing slot: only moves and dirty-logging changes. */
		if (new.npages != old->npages ||
		    new.userspace_addr != old->userspace_addr ||
		    ((new.flags ^ old->flags) &
		     (KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD)))
			return -EINVAL;

		if (new.base_gfn != old->base_gfn) {
			if (old->flags & KVM_MEM_GUEST_MEMFD)
				return -EINVAL;
			if (plan_layout_overlaps(layout, &new, old))
				return -EEXIST;
			step->op = KVM_MEMEXT_OP_MOVE;
		} else if (new.flags != old->flags) {
			step->op = KVM_MEMEXT_OP_FLAGS;
		} else {
			step->op = KVM_MEMEXT_OP_NONE;
		}
		r = plan_check_harvest(e, old, batch_flags,
				       step->op == KVM_MEMEXT_OP_MOVE ||
				       !(new.flags & KVM_MEM_LOG_DIRTY_PAGES),
				       step);
		if (r)
			return r;
		/* KVM keeps the guest_memfd binding of an existing slot. */
		new.guest_memfd = old->guest_memfd;
		new.guest_memfd_offset = old->guest_memfd_offset;
		*old = new;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_plan_batch);

/**
 * kvm_memext_step_undo() - the step that undoes @step
 * @step: an applied step
 * @undo: filled in; never harvests
 */
void kvm_memext_step_undo(const struct kvm_memext_step *step,
			  struct kvm_memext_step *undo)
{
	memset(undo, 0, sizeof(*undo));
	undo->old = step->new;
	undo->new = step->old;
	switch (step->op) {
	case KVM_MEMEXT_OP_CREATE:
		undo->op = KVM_MEMEXT_OP_DELETE;
		break;
	case KVM_MEMEXT_OP_DELETE:
		undo->op = KVM_MEMEXT_OP_CREATE;
		break;
	default:
		undo->op = step->op;
		break;
	}
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_step_undo);

/**
 * kvm_memext_step_region() - the KVM_SET_USER_MEMORY_REGION2 argument of a step
 * @step: a step other than KVM_MEMEXT_OP_NONE
 * @region: filled in
 */
void kvm_memext_step_region(const struct kvm_memext_step *step,
			    struct kvm_memext_region *region)
{
	const struct kvm_memext_slot *s;

	memset(region, 0, sizeof(*region));
	if (step->op == KVM_MEMEXT_OP_DELETE) {
		/* KVM reads only the slot and the zero size of a delete. */
		region->slot = step->old.slot;
		return;
	}
	s = &step->new;
	region->slot = s->slot;
	region->flags = s->flags;
	region->guest_phys_addr = s->base_gfn << PAGE_SHIFT;
	region->memory_size = s->npages << PAGE_SHIFT;
	region->userspace_addr = s->userspace_addr;
	region->guest_memfd_offset = s->guest_memfd_offset;
	region->guest_memfd = s->guest_memfd;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_step_region);
