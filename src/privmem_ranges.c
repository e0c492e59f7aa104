// SPDX-License-Identifier: GPL-2.0-only
/*
 * Accessible ranges of private-memory files.
 *
 * Accessible ranges are counted per range, not per page (an rbtree of
 * disjoint ranges with a nonzero count), so that a call on a 2^62-byte
 * file costs what its ranges and the pages that exist cost.  This file
 * keeps the counts; privmem_pages.c brings a chunk's direct-map entries to
 * what they want, and privmem_access.c does both for a caller.
 *
 * Callers hold pm->lock (see privmem.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/rbtree.h>
#include <linux/slab.h>

#include "kvm_memext.h"
#include "privmem.h"
#include "stats.h"

/*
 * Distinct accessible ranges a file may hold (64 bytes each, memcg
 * charged): fewer for a file that may not split the direct map, whose
 * ranges act on whole blocks anyway.  Drops may go over by as many again,
 * so that one never fails for want of room.
 */
#define PRIVMEM_MAX_RANGES		65536
#define PRIVMEM_MAX_RANGES_UNSPLIT	4096

/* Pages [start, end) of a file, accessible @count times. */
struct privmem_range {
	union {
		struct rb_node node;
		struct list_head pool;	/* preallocated, or freed by a call */
	};
	pgoff_t start;
	pgoff_t end;
	unsigned long count;
};

/**
 * kvm_memext_privmem_ranges_free() - free the nodes a change did not use
 * @pool: from kvm_memext_privmem_ranges_reserve(), and the nodes
 *	  kvm_memext_privmem_ranges_apply() freed.
 */
void kvm_memext_privmem_ranges_free(struct list_head *pool)
{
	struct privmem_range *r, *tmp;

	list_for_each_entry_safe(r, tmp, pool, pool)
		kfree(r);
	INIT_LIST_HEAD(pool);
}

/* Nodes for the range tree, allocated before anything changes. */
static int privmem_pool_fill(struct list_head *pool, unsigned long nr)
{
	struct privmem_range *r;

	while (nr--) {
		r = kmalloc_obj(*r, GFP_KERNEL_ACCOUNT);
		if (!r) {
			kvm_memext_privmem_ranges_free(pool);
			return -ENOMEM;
		}
		list_add(&r->pool, pool);
		cond_resched();
	}
	return 0;
}

static struct privmem_range *privmem_pool_take(struct list_head *pool)
{
	struct privmem_range *r = list_first_entry(pool, struct privmem_range,
						   pool);

	list_del(&r->pool);
	return r;
}

/* The first range that ends after @index, or NULL. */
static struct privmem_range *range_after(struct kvm_memext_privmem *pm,
					 pgoff_t index)
{
	struct rb_node *n = pm->ranges.rb_node;
	struct privmem_range *r, *best = NULL;

	while (n) {
		r = rb_entry(n, struct privmem_range, node);
		if (r->end > index) {
			best = r;
			n = n->rb_left;
		} else {
			n = n->rb_right;
		}
	}
	return best;
}

static struct privmem_range *range_next(struct privmem_range *r)
{
	struct rb_node *n = rb_next(&r->node);

	return n ? rb_entry(n, struct privmem_range, node) : NULL;
}

static void range_insert(struct kvm_memext_privmem *pm,
			 struct privmem_range *new)
{
	struct rb_node **link = &pm->ranges.rb_node, *parent = NULL;

	while (*link) {
		parent = *link;
		if (new->start < rb_entry(parent, struct privmem_range, node)->start)
			link = &parent->rb_left;
		else
			link = &parent->rb_right;
	}
	rb_link_node(&new->node, parent, link);
	rb_insert_color(&new->node, &pm->ranges);
	pm->nr_ranges++;
}

static void range_erase(struct kvm_memext_privmem *pm, struct privmem_range *r,
			struct list_head *pool)
{
	rb_erase(&r->node, &pm->ranges);
	pm->nr_ranges--;
	list_add(&r->pool, pool);
}

/* Make @index a boundary between ranges (a node from @pool at most). */
static void range_split(struct kvm_memext_privmem *pm, pgoff_t index,
			struct list_head *pool)
{
	struct privmem_range *r = range_after(pm, index), *new;

	if (!r || r->start >= index)
		return;
	new = privmem_pool_take(pool);
	new->start = index;
	new->end = r->end;
	new->count = r->count;
	r->end = index;
	range_insert(pm, new);
}

static void account_access(struct kvm_memext_privmem *pm, long pages)
{
	pm->nr_access += pages;
	atomic_long_add(pages, &kvm_memext_privmem_stats.accessible);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_ACCESSIBLE, pages);
}

/*
 * The nodes that changing [start, end) needs (a split at either end that
 * falls inside a range, and for an add a node per gap), or -EINVAL when
 * dropping one from a page that has none.  One step per range covered.
 */
static long range_nodes(struct kvm_memext_privmem *pm, pgoff_t start,
			pgoff_t end, bool add)
{
	struct privmem_range *r = range_after(pm, start), *last;
	pgoff_t pos = start;
	long gaps = 0, splits;

	last = range_after(pm, end - 1);
	splits = (r && r->start < start) + (last && last->start < end && last->end > end);
	while (pos < end) {
		if (!r || r->start >= end) {
			gaps++;
			break;
		}
		if (r->start > pos)
			gaps++;
		pos = r->end;
		r = range_next(r);
	}
	if (!add && gaps)
		return -EINVAL;
	return splits + gaps;
}

/**
 * kvm_memext_privmem_ranges_reserve() - check a change and take its nodes
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 * @add: the change adds one to every page's count (else takes one off).
 * @pool: gets the nodes the change needs; free it with
 *	  kvm_memext_privmem_ranges_free(), on success too.
 *
 * Costs a step per range that [@start, @end) covers.
 *
 * Return: 0; -EINVAL when taking one from a page that has none; -ENOSPC
 * when the file would hold too many distinct ranges; -ENOMEM.
 */
int kvm_memext_privmem_ranges_reserve(struct kvm_memext_privmem *pm,
				      pgoff_t start, pgoff_t end, bool add,
				      struct list_head *pool)
{
	unsigned long max;
	long nodes;

	lockdep_assert_held(&pm->lock);
	nodes = range_nodes(pm, start, end, add);
	if (nodes < 0)
		return nodes;
	max = pm->may_split ? PRIVMEM_MAX_RANGES : PRIVMEM_MAX_RANGES_UNSPLIT;
	if (pm->nr_ranges + nodes > (add ? max : 2 * max)) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_RANGES, max);
		return -ENOSPC;
	}
	return privmem_pool_fill(pool, nodes);
}

/**
 * kvm_memext_privmem_ranges_apply() - change the counts of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 * @delta: added to the count of every page of [@start, @end).
 * @pool: what kvm_memext_privmem_ranges_reserve() took for this change.
 *
 * Cannot fail: the change was checked and its nodes taken.  Equal
 * neighbours are merged.
 */
void kvm_memext_privmem_ranges_apply(struct kvm_memext_privmem *pm,
				     pgoff_t start, pgoff_t end, int delta,
				     struct list_head *pool)
{
	struct privmem_range *r, *next, *new;
	pgoff_t pos = start, stop;
	long pages = 0;

	lockdep_assert_held(&pm->lock);
	range_split(pm, start, pool);
	range_split(pm, end, pool);
	r = range_after(pm, start);
	while (pos < end) {
		stop = r && r->start < end ? r->start : end;
		if (pos < stop) {
			/* A gap: range_nodes() let only an increment through. */
			new = privmem_pool_take(pool);
			new->start = pos;
			new->end = stop;
			new->count = 1;
			range_insert(pm, new);
			pages += stop - pos;
			pos = stop;
			continue;
		}
		next = range_next(r);
		pos = r->end;
		r->count += delta;
		if (!r->count) {
			pages -= r->end - r->start;
			range_erase(pm, r, pool);
		}
		r = next;
	}

	/* Merge equal neighbours across the boundaries the call touched. */
	r = range_after(pm, start ? start - 1 : 0);
	while (r && r->start <= end) {
		next = range_next(r);
		if (next && next->start == r->end && next->start <= end &&
		    next->count == r->count) {
			r->end = next->end;
			range_erase(pm, next, pool);
			continue;
		}
		r = next;
	}
	account_access(pm, pages);
}

/**
 * kvm_memext_privmem_want() - the pages of a chunk that should be shown
 * @pm: the file.
 * @cidx: the chunk's index.
 * @chunk: the chunk.
 * @want: gets a bit per page of the chunk.
 *
 * Those in accessible ranges, the whole block where the file may not split
 * it, and the vCPUs' kvm-clock pages; never a poisoned page.
 */
void kvm_memext_privmem_want(struct kvm_memext_privmem *pm, pgoff_t cidx,
			     struct kvm_memext_privmem_chunk *chunk,
			     unsigned long *want)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t end = first + KVM_MEMEXT_CHUNK_PAGES, lo, hi;
	struct kvm_memext_privmem_clock *clock;
	struct privmem_range *r;
	unsigned int i;

	lockdep_assert_held(&pm->lock);
	bitmap_zero(want, KVM_MEMEXT_CHUNK_PAGES);
	for (r = range_after(pm, first); r && r->start < end; r = range_next(r)) {
		lo = max(r->start, first);
		hi = min(r->end, end);
		bitmap_set(want, lo - first, hi - lo);
	}
	if (chunk->huge && !pm->may_split &&
	    !bitmap_empty(want, KVM_MEMEXT_CHUNK_PAGES))
		bitmap_fill(want, KVM_MEMEXT_CHUNK_PAGES);
	/* A clock page alone, whatever the file may split (see below). */
	list_for_each_entry(clock, &pm->clocks, node) {
		if (clock->index >= first && clock->index < end)
			__set_bit(clock->index - first, want);
	}
	for_each_set_bit(i, want, KVM_MEMEXT_CHUNK_PAGES) {
		if (!chunk->pages[i] || PageHWPoison(chunk->pages[i]))
			__clear_bit(i, want);
	}
}

/**
 * kvm_memext_privmem_ranges_truncate() - drop the counts from a page on
 * @pm: the file, truncated to @start.
 * @start: first page whose count goes.
 */
void kvm_memext_privmem_ranges_truncate(struct kvm_memext_privmem *pm,
					pgoff_t start)
{
	struct privmem_range *r = range_after(pm, start), *next;
	LIST_HEAD(pool);
	long pages = 0;

	lockdep_assert_held(&pm->lock);
	if (r && r->start < start) {
		pages -= r->end - start;
		r->end = start;
		r = range_next(r);
	}
	for (; r; r = next) {
		next = range_next(r);
		pages -= r->end - r->start;
		range_erase(pm, r, &pool);
	}
	kvm_memext_privmem_ranges_free(&pool);
	account_access(pm, pages);
}

/**
 * kvm_memext_privmem_ranges_destroy() - free every range of a file
 * @pm: the file, no longer mapped anywhere, its pages freed.
 */
void kvm_memext_privmem_ranges_destroy(struct kvm_memext_privmem *pm)
{
	struct privmem_range *r, *tmp;

	rbtree_postorder_for_each_entry_safe(r, tmp, &pm->ranges, node)
		kfree(r);
	pm->ranges = RB_ROOT;
	pm->nr_ranges = 0;
	account_access(pm, -(long)pm->nr_access);
}
