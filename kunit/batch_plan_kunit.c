// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the memslot batch planner (src/batch_plan.c): the final
 * layout, KVM's rules for existing slots, overlap detection across the
 * intermediate layouts, the dirty-bitmap rules, and that undoing the steps
 * in reverse order gives back the original layout.
 */
#include <kunit/test.h>
#include <linux/kvm.h>

#include "kvm_memext.h"
#include "batch.h"

#define PG		PAGE_SIZE
#define HVA		0x7f0000000000ull
#define MAX_SLOTS	16

static const struct kvm_memext_plan_limits limits = {
	.nr_as = 2,
	.nr_slots = 32764,
	.max_npages = (1ul << 31) - 1,
	.valid_flags = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY,
};

struct plan_ctx {
	struct kvm_memext_slot slots[MAX_SLOTS];
	struct kvm_memext_layout layout;
	struct kvm_memext_step steps[MAX_SLOTS];
	unsigned int err_index;
};

static struct kvm_memext_memslot ent(u32 slot, u32 flags, u64 gpa, u64 size,
				     u64 hva)
{
	return (struct kvm_memext_memslot) {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = hva,
	};
}

static struct kvm_memext_memslot del(u32 slot)
{
	return (struct kvm_memext_memslot) { .slot = slot };
}

/* A context whose layout holds slot 1: 16 pages at 1 MiB. */
static struct plan_ctx *ctx_new(struct kunit *test, u32 flags)
{
	struct plan_ctx *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, c);
	c->layout.slots = c->slots;
	c->slots[0] = (struct kvm_memext_slot) {
		.slot = 1, .flags = flags, .base_gfn = 0x100, .npages = 16,
		.userspace_addr = HVA,
	};
	c->layout.nr = 1;
	return c;
}

static int plan(struct plan_ctx *c, const struct kvm_memext_memslot *e,
		unsigned int nr, u32 flags)
{
	return kvm_memext_plan_batch(&limits, &c->layout, e, nr, flags,
				     c->steps, &c->err_index);
}

static const struct kvm_memext_slot *find(struct plan_ctx *c, u32 slot)
{
	unsigned int i;

	for (i = 0; i < c->layout.nr; i++)
		if (c->layout.slots[i].slot == slot)
			return &c->layout.slots[i];
	return NULL;
}

static void plan_split_and_merge(struct kunit *test)
{
	struct plan_ctx *c = ctx_new(test, 0);
	struct kvm_memext_memslot split[] = {
		del(1),
		ent(1, 0, 0x100000, 8 * PG, HVA),
		ent(2, 0, 0x108000, 8 * PG, HVA + 8 * PG),
	};
	struct kvm_memext_memslot merge[] = {
		del(2), del(1), ent(1, 0, 0x100000, 16 * PG, HVA),
	};

	KUNIT_ASSERT_EQ(test, plan(c, split, 3, 0), 0);
	KUNIT_EXPECT_EQ(test, c->steps[0].op, KVM_MEMEXT_OP_DELETE);
	KUNIT_EXPECT_EQ(test, c->steps[1].op, KVM_MEMEXT_OP_CREATE);
	KUNIT_EXPECT_EQ(test, c->steps[2].op, KVM_MEMEXT_OP_CREATE);
	KUNIT_ASSERT_EQ(test, c->layout.nr, 2);
	KUNIT_EXPECT_EQ(test, find(c, 1)->npages, 8);
	KUNIT_EXPECT_EQ(test, find(c, 2)->base_gfn, 0x108);

	KUNIT_ASSERT_EQ(test, plan(c, merge, 3, 0), 0);
	KUNIT_ASSERT_EQ(test, c->layout.nr, 1);
	KUNIT_EXPECT_EQ(test, find(c, 1)->npages, 16);
}

static void plan_overlaps(struct kunit *test)
{
	struct plan_ctx *c = ctx_new(test, 0);
	struct kvm_memext_memslot e[] = {
		ent(2, 0, 0x200000, 4 * PG, HVA),
		ent(3, 0, 0x203000, 4 * PG, HVA),	/* overlaps entry 0 */
	};
	struct kvm_memext_memslot last_page = ent(2, 0, 0x10f000, PG, HVA);
	struct kvm_memext_memslot adjacent = ent(2, 0, 0x110000, PG, HVA);
	struct kvm_memext_memslot other_as = ent(1u << 16 | 2, 0, 0x100000, PG, HVA);

	KUNIT_EXPECT_EQ(test, plan(c, e, 2, 0), -EEXIST);
	KUNIT_EXPECT_EQ(test, c->err_index, 1);

	c = ctx_new(test, 0);
	KUNIT_EXPECT_EQ(test, plan(c, &last_page, 1, 0), -EEXIST);
	c = ctx_new(test, 0);
	KUNIT_EXPECT_EQ(test, plan(c, &adjacent, 1, 0), 0);
	/* Address spaces do not overlap each other. */
	c = ctx_new(test, 0);
	KUNIT_EXPECT_EQ(test, plan(c, &other_as, 1, 0), 0);
}

static void plan_move(struct kunit *test)
{
	struct plan_ctx *c = ctx_new(test, 0);
	/* A move may overlap the slot's own old range... */
	struct kvm_memext_memslot by_one = ent(1, 0, 0x101000, 16 * PG, HVA);
	/* ... but not another slot. */
	struct kvm_memext_memslot e[] = {
		ent(2, 0, 0x300000, PG, HVA),
		ent(1, 0, 0x2f8000, 16 * PG, HVA),
	};

	KUNIT_ASSERT_EQ(test, plan(c, &by_one, 1, 0), 0);
	KUNIT_EXPECT_EQ(test, c->steps[0].op, KVM_MEMEXT_OP_MOVE);
	KUNIT_EXPECT_EQ(test, find(c, 1)->base_gfn, 0x101);

	c = ctx_new(test, 0);
	KUNIT_EXPECT_EQ(test, plan(c, e, 2, 0), -EEXIST);
	KUNIT_EXPECT_EQ(test, c->err_index, 1);
}

/* Entries that plan() must refuse with -EINVAL, alone in a batch. */
struct bad_entry {
	const char *what;
	struct kvm_memext_memslot e;
};

#define ENT(s, f, g, sz, h) { .slot = (s), .flags = (f), .guest_phys_addr = (g), \
			       .memory_size = (sz), .userspace_addr = (h) }

static const struct bad_entry bad_entries[] = {
	/* Changes KVM refuses for an existing slot (slot 1 of ctx_new()). */
	{ "resize",		ENT(1, 0, 0x100000, 32 * PG, HVA) },
	{ "new backing",	ENT(1, 0, 0x100000, 16 * PG, HVA + PG) },
	{ "read-only toggle",	ENT(1, KVM_MEM_READONLY, 0x100000, 16 * PG, HVA) },
	{ "delete absent",	{ .slot = 7 } },
	/* Fields of a new slot. */
	{ "gpa",		ENT(2, 0, 0x200800, PG, HVA) },
	{ "size",		ENT(2, 0, 0x200000, PG / 2, HVA) },
	{ "hva",		ENT(2, 0, 0x200000, PG, HVA + 1) },
	{ "flag",		ENT(2, 1u << 9, 0x200000, PG, HVA) },
	{ "guest_memfd flag",	ENT(2, KVM_MEM_GUEST_MEMFD, 0x200000, PG, HVA) },
	{ "slot id",		ENT(32764, 0, 0x200000, PG, HVA) },
	{ "address space",	ENT(2u << 16 | 2, 0, 0x200000, PG, HVA) },
	{ "gpa overflow",	ENT(2, 0, -PG, 2 * PG, HVA) },
	{ "hva overflow",	ENT(2, 0, 0x200000, PG, -PG) },
	{ "too many pages",	ENT(2, 0, 0, (1ull << 31) * PG, HVA) },
	/* Padding and fields that must be zero. */
	{ "pad",		{ .slot = 2, .guest_phys_addr = 0x200000,
				  .memory_size = PG, .userspace_addr = HVA,
				  .pad = 1 } },
	{ "reserved",		{ .slot = 2, .guest_phys_addr = 0x200000,
				  .memory_size = PG, .userspace_addr = HVA,
				  .reserved[1] = 1 } },
	{ "guest_memfd",	{ .slot = 2, .guest_phys_addr = 0x200000,
				  .memory_size = PG, .userspace_addr = HVA,
				  .guest_memfd = 5 } },
};

KUNIT_ARRAY_PARAM_DESC(bad_entry, bad_entries, what);

static void plan_rejects_bad_entry(struct kunit *test)
{
	const struct bad_entry *b = test->param_value;
	struct plan_ctx *c = ctx_new(test, 0);

	KUNIT_EXPECT_EQ(test, plan(c, &b->e, 1, 0), -EINVAL);
}

/*
 * Where a VM takes guest_memfd slots, the planner refuses the ones KVM
 * would refuse when the batch applies: with dirty logging, read-only, or
 * at an offset that is unaligned or wraps.
 */
static void plan_guest_memfd_rules(struct kunit *test)
{
	struct kvm_memext_plan_limits gmem = limits;
	struct kvm_memext_memslot e = ent(2, KVM_MEM_GUEST_MEMFD, 0x200000,
					  PG, HVA);
	struct plan_ctx *c = ctx_new(test, 0);
	u32 bad_flags[] = { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY };
	u64 bad_offsets[] = { PG / 2, -PG };
	unsigned int i;

	gmem.valid_flags |= KVM_MEM_GUEST_MEMFD;
	e.guest_memfd = 5;
	e.guest_memfd_offset = 4 * PG;
	KUNIT_EXPECT_EQ(test, kvm_memext_plan_batch(&gmem, &c->layout, &e, 1, 0,
						    c->steps, &c->err_index), 0);
	KUNIT_EXPECT_EQ(test, c->steps[0].op, KVM_MEMEXT_OP_CREATE);

	for (i = 0; i < ARRAY_SIZE(bad_flags); i++) {
		struct kvm_memext_memslot b = e;

		b.flags |= bad_flags[i];
		c = ctx_new(test, 0);
		KUNIT_EXPECT_EQ_MSG(test, kvm_memext_plan_batch(&gmem, &c->layout, &b, 1, 0,
								c->steps, &c->err_index),
				    -EINVAL, "flags %#x", b.flags);
	}
	for (i = 0; i < ARRAY_SIZE(bad_offsets); i++) {
		struct kvm_memext_memslot b = e;

		b.guest_memfd_offset = bad_offsets[i];
		c = ctx_new(test, 0);
		KUNIT_EXPECT_EQ_MSG(test, kvm_memext_plan_batch(&gmem, &c->layout, &b, 1, 0,
								c->steps, &c->err_index),
				    -EINVAL, "offset %#llx", b.guest_memfd_offset);
	}
}

/* Re-stating a slot as it is changes nothing. */
static void plan_restated_slot_is_no_op(struct kunit *test)
{
	struct kvm_memext_memslot same = ent(1, 0, 0x100000, 16 * PG, HVA);
	struct plan_ctx *c = ctx_new(test, 0);

	KUNIT_EXPECT_EQ(test, plan(c, &same, 1, 0), 0);
	KUNIT_EXPECT_EQ(test, c->steps[0].op, KVM_MEMEXT_OP_NONE);
}

static void plan_dirty_bitmap_rules(struct kunit *test)
{
	struct kvm_memext_memslot off = ent(1, 0, 0x100000, 16 * PG, HVA);
	struct kvm_memext_memslot move = ent(1, KVM_MEM_LOG_DIRTY_PAGES,
					     0x400000, 16 * PG, HVA);
	struct kvm_memext_memslot create = ent(2, 0, 0x200000, PG, HVA);
	struct kvm_memext_memslot d = del(1);
	struct plan_ctx *c;

	/* Deleting, moving, or stopping logging on a logged slot... */
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, plan(c, &d, 1, 0), -EINVAL);
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, plan(c, &move, 1, 0), -EINVAL);
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, plan(c, &off, 1, 0), -EINVAL);

	/* ... needs a buffer, which is then harvested ... */
	d.dirty_bitmap = 0x1000;
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_ASSERT_EQ(test, plan(c, &d, 1, 0), 0);
	KUNIT_EXPECT_TRUE(test, c->steps[0].harvest);
	KUNIT_EXPECT_EQ(test, c->steps[0].dirty_bitmap, 0x1000);

	/* ... or the caller's explicit discard. */
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, plan(c, &off, 1, KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY), 0);
	KUNIT_EXPECT_FALSE(test, c->steps[0].harvest);
	KUNIT_EXPECT_EQ(test, c->steps[0].op, KVM_MEMEXT_OP_FLAGS);

	/* A buffer nobody would fill is refused. */
	create.dirty_bitmap = 0x1000;
	c = ctx_new(test, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, plan(c, &create, 1, 0), -EINVAL);
	c = ctx_new(test, 0);
	KUNIT_EXPECT_EQ(test, plan(c, &d, 1, 0), -EINVAL);
}

/* Apply a step to a model layout, as KVM would. */
static void model_apply(struct kunit *test, struct plan_ctx *c,
			const struct kvm_memext_step *s)
{
	struct kvm_memext_slot *old = NULL;
	unsigned int i;

	for (i = 0; i < c->layout.nr; i++)
		if (c->layout.slots[i].slot == s->old.slot &&
		    s->op != KVM_MEMEXT_OP_CREATE)
			old = &c->layout.slots[i];
	switch (s->op) {
	case KVM_MEMEXT_OP_CREATE:
		c->layout.slots[c->layout.nr++] = s->new;
		break;
	case KVM_MEMEXT_OP_DELETE:
		KUNIT_ASSERT_NOT_NULL(test, old);
		*old = c->layout.slots[--c->layout.nr];
		break;
	case KVM_MEMEXT_OP_MOVE:
	case KVM_MEMEXT_OP_FLAGS:
		KUNIT_ASSERT_NOT_NULL(test, old);
		*old = s->new;
		break;
	case KVM_MEMEXT_OP_NONE:
		break;
	}
}

static void plan_undo_restores_layout(struct kunit *test)
{
	struct plan_ctx *c = ctx_new(test, 0);
	struct plan_ctx *m = ctx_new(test, 0);
	struct kvm_memext_memslot e[] = {
		del(1),
		ent(1, 0, 0x100000, 8 * PG, HVA),
		ent(2, 0, 0x108000, 8 * PG, HVA + 8 * PG),
		ent(2, KVM_MEM_LOG_DIRTY_PAGES, 0x508000, 8 * PG, HVA + 8 * PG),
		ent(3, KVM_MEM_READONLY, 0x600000, PG, HVA),
	};
	struct kvm_memext_step undo;
	struct kvm_memext_region r;
	int i;

	KUNIT_ASSERT_EQ(test, plan(c, e, ARRAY_SIZE(e), 0), 0);
	for (i = 0; i < ARRAY_SIZE(e); i++)
		model_apply(test, m, &c->steps[i]);
	KUNIT_EXPECT_EQ(test, m->layout.nr, 3);
	for (i = ARRAY_SIZE(e) - 1; i >= 0; i--) {
		kvm_memext_step_undo(&c->steps[i], &undo);
		KUNIT_EXPECT_FALSE(test, undo.harvest);
		model_apply(test, m, &undo);
	}
	KUNIT_ASSERT_EQ(test, m->layout.nr, 1);
	KUNIT_EXPECT_EQ(test, m->slots[0].slot, 1);
	KUNIT_EXPECT_EQ(test, m->slots[0].base_gfn, 0x100);
	KUNIT_EXPECT_EQ(test, m->slots[0].npages, 16);
	KUNIT_EXPECT_EQ(test, m->slots[0].flags, 0);

	/* KVM's argument for a step: a delete is slot + zero size. */
	kvm_memext_step_region(&c->steps[0], &r);
	KUNIT_EXPECT_EQ(test, r.slot, 1);
	KUNIT_EXPECT_EQ(test, r.memory_size, 0);
	kvm_memext_step_region(&c->steps[3], &r);
	KUNIT_EXPECT_EQ(test, r.guest_phys_addr, 0x508000);
	KUNIT_EXPECT_EQ(test, r.memory_size, 8 * PG);
	KUNIT_EXPECT_EQ(test, r.flags, KVM_MEM_LOG_DIRTY_PAGES);
	KUNIT_EXPECT_EQ(test, r.userspace_addr, HVA + 8 * PG);
}

static struct kunit_case kvm_memext_batch_plan_cases[] = {
	KUNIT_CASE(plan_split_and_merge),
	KUNIT_CASE(plan_overlaps),
	KUNIT_CASE(plan_move),
	KUNIT_CASE_PARAM(plan_rejects_bad_entry, bad_entry_gen_params),
	KUNIT_CASE(plan_guest_memfd_rules),
	KUNIT_CASE(plan_restated_slot_is_no_op),
	KUNIT_CASE(plan_dirty_bitmap_rules),
	KUNIT_CASE(plan_undo_restores_layout),
	{}
};

static struct kunit_suite kvm_memext_batch_plan_suite = {
	.name = "kvm_memext_batch_plan",
	.test_cases = kvm_memext_batch_plan_cases,
};

kunit_test_suite(kvm_memext_batch_plan_suite);
