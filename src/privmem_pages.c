// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pages of private-memory files: 2 MiB chunks, accessible ranges,
 * accounting.
 *
 * A chunk covers one naturally aligned 2 MiB range of a file.  Its pages
 * are one 2 MiB block when the file allows it, else 4 KiB pages; either
 * way order-0 pages (a block is split_page()d), because KVM takes and
 * drops references on the pages it maps from a VM_PFNMAP VMA.  Pages are
 * allocated zeroed and hidden from the direct map (directmap.c) with one
 * flush per chunk; on free they are zeroed through a temporary vmap(),
 * shown, flushed, and only then released.
 *
 * Only a file whose owner had CAP_SYS_ADMIN when it claimed the file
 * (@may_split) may split the direct map: 4 KiB-page chunks, blocks freed or shown in part.  Other
 * files keep every chunk one block: a hole in part of a block is zeroed in
 * place (as hugetlbfs does for part of a huge page), an accessible range
 * shows the whole blocks it touches, and a block that cannot be had is an
 * allocation failure, not a fallback to 4 KiB pages.
 *
 * Accessible ranges are counted per range, not per page (an rbtree of
 * disjoint ranges with a nonzero count), so that a call on a 2^62-byte
 * file costs what its ranges and the pages that exist cost.  Entries of
 * a chunk are brought to what its ranges want by privmem_sync_chunk().
 * Making pages accessible flushes at once, once the owner's and the
 * host's flush budgets allow it (privmem_flush.c; the caller waits,
 * killable).  Hiding them again waits for the next allowed flush
 * (hide_work), so that toggling costs at most the owner's budget, however
 * many files it has.
 *
 * Pages are charged to the module-wide ceiling (privmem_max_mb), to the
 * owner's RLIMIT_MEMLOCK as pinned memory (VmPin, as RDMA does; bypassed
 * with CAP_IPC_LOCK), to its shared RSS (where the OOM killer looks), and,
 * being __GFP_ACCOUNT, to its memory cgroup.
 *
 * Callers hold pm->lock (see privmem.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"
#include "trace.h"

static unsigned long privmem_max_mb;
module_param(privmem_max_mb, ulong, 0644);
MODULE_PARM_DESC(privmem_max_mb,
		 "Most private memory in MiB, all files together (default: half of RAM)");

static bool privmem_prealloc = true;
module_param(privmem_prealloc, bool, 0644);
MODULE_PARM_DESC(privmem_prealloc,
		 "Zero a new chunk's 2 MiB block before taking the file's lock (default: Y)");

/*
 * Distinct accessible ranges a file may hold (64 bytes each, memcg
 * charged): fewer for a file that may not split the direct map, whose
 * ranges act on whole blocks anyway.  Drops may go over by as many again,
 * so that one never fails for want of room.
 */
#define PRIVMEM_MAX_RANGES		65536
#define PRIVMEM_MAX_RANGES_UNSPLIT	4096

/*
 * Chunks freed per TLB flush: 128 MiB, or 2 GiB when the file dies, so
 * that its last close waits for the owner's budget a few times, not once
 * per 128 MiB (a 1 TiB file: 5 s at 100 flushes a second, not 80 s).
 */
#define PRIVMEM_FREE_BATCH		64
#define PRIVMEM_DESTROY_BATCH		1024

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

/** kvm_memext_privmem_limit_init() - default privmem_max_mb: half of RAM */
void kvm_memext_privmem_limit_init(void)
{
	if (!privmem_max_mb)
		privmem_max_mb = (totalram_pages() >> (20 - PAGE_SHIFT)) / 2;
}

/**
 * kvm_memext_privmem_limit_pages() - the limit in pages
 *
 * Return: privmem_max_mb in pages.
 */
unsigned long kvm_memext_privmem_limit_pages(void)
{
	return READ_ONCE(privmem_max_mb) << (20 - PAGE_SHIFT);
}

/* @nr more pages for @mm, within the caller's RLIMIT_MEMLOCK. */
static int privmem_charge_mm(struct mm_struct *mm, unsigned long nr)
{
	if (atomic64_add_return(nr, &mm->pinned_vm) >
	    rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(nr, &mm->pinned_vm);
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_MEMLOCK,
					     rlimit(RLIMIT_MEMLOCK) >> 10);
		return -EDQUOT;
	}
	kvm_memext_add_mm_counter(mm, MM_SHMEMPAGES, nr);
	return 0;
}

static void privmem_uncharge_mm(struct mm_struct *mm, unsigned long nr)
{
	/* Only what was charged goes back. */
	WARN_ON_ONCE(atomic64_sub_return(nr, &mm->pinned_vm) < 0);
	kvm_memext_add_mm_counter(mm, MM_SHMEMPAGES, -(long)nr);
}

/*
 * The ceiling first, then the mount's size limit, then the owner's
 * RLIMIT_MEMLOCK, checked against the caller (a thread of the owner: only
 * it maps and allocates).
 */
static int privmem_charge(struct kvm_memext_privmem *pm, unsigned long nr)
{
	unsigned long max = kvm_memext_privmem_limit_pages();
	atomic_long_t *pages = &kvm_memext_privmem_stats.pages;
	struct kvm_memext_privmem_sb *sbi = pm->sbi;
	unsigned long mount_max = READ_ONCE(sbi->max_pages);
	int r;

	/* Decoys count against the ceiling too (privmem_decoy_alloc()). */
	max -= min(max, atomic_long_read(&kvm_memext_privmem_stats.decoys) *
			KVM_MEMEXT_CHUNK_PAGES);
	if (atomic_long_add_return(nr, pages) > max) {
		atomic_long_sub(nr, pages);
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_CEILING,
					     READ_ONCE(privmem_max_mb));
		return -ENOSPC;
	}
	if (atomic_long_add_return(nr, &sbi->pages) > mount_max && mount_max) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_MOUNT,
					     mount_max >> (20 - PAGE_SHIFT));
		r = -ENOSPC;
		goto out_sb;
	}
	if (pm->mm) {
		r = privmem_charge_mm(pm->mm, nr);
		if (r)
			goto out_sb;
	}
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, nr);
	return 0;
out_sb:
	atomic_long_sub(nr, &sbi->pages);
	atomic_long_sub(nr, pages);
	return r;
}

/* @nr pages left the file: neither the owner nor the mount holds them. */
static void privmem_uncharge_owner(struct kvm_memext_privmem *pm,
				   unsigned long nr)
{
	atomic_long_sub(nr, &pm->sbi->pages);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, -nr);
	if (pm->mm)
		privmem_uncharge_mm(pm->mm, nr);
}

/**
 * kvm_memext_privmem_set_owner() - bind a file's owner, or replace it
 * @pm: the file; its owner, if any, exited and nothing maps the file.
 * @mm: the new owner.
 *
 * The pages the file holds, and its decoy, move to @mm's charges.
 *
 * Flushes are charged to @mm's budget from now on (privmem_flush.c).
 *
 * Return: 0, -EDQUOT beyond the caller's RLIMIT_MEMLOCK, or -ENOMEM
 * (nothing moved).
 */
int kvm_memext_privmem_set_owner(struct kvm_memext_privmem *pm,
				 struct mm_struct *mm)
{
	unsigned long nr = pm->inode->i_blocks >> (PAGE_SHIFT - 9);
	int r;

	/* The decoy moves with the pages it stands in for. */
	if (pm->decoy)
		nr += KVM_MEMEXT_CHUNK_PAGES;

	lockdep_assert_held(&pm->lock);
	r = privmem_charge_mm(mm, nr);
	if (r)
		return r;
	r = kvm_memext_privmem_tenant_set(pm, mm);
	if (r) {
		privmem_uncharge_mm(mm, nr);
		return r;
	}
	/* The new owner's vCPUs show their own clock pages. */
	kvm_memext_privmem_clock_unmap(pm, 0, ULONG_MAX);
	if (pm->mm) {
		privmem_uncharge_mm(pm->mm, nr);
		mmdrop(pm->mm);
	}
	mmgrab(mm);
	pm->mm = mm;
	return 0;
}

/*
 * @nr pages left the file, @kept of them could not be released: those
 * stay under the ceiling for good.
 */
static void privmem_uncharge(struct kvm_memext_privmem *pm, unsigned long nr,
			     unsigned long kept)
{
	WARN_ON_ONCE(kept > nr ||
		     atomic_long_sub_return(nr - kept, &kvm_memext_privmem_stats.pages) < 0);
	privmem_uncharge_owner(pm, nr);
}

/* Nodes for the range tree, allocated before anything changes. */
static void privmem_pool_free(struct list_head *pool)
{
	struct privmem_range *r, *tmp;

	list_for_each_entry_safe(r, tmp, pool, pool)
		kfree(r);
	INIT_LIST_HEAD(pool);
}

static int privmem_pool_fill(struct list_head *pool, unsigned long nr)
{
	struct privmem_range *r;

	while (nr--) {
		r = kmalloc_obj(*r, GFP_KERNEL_ACCOUNT);
		if (!r) {
			privmem_pool_free(pool);
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

/* Add @delta to the count of every page of [start, end), then merge. */
static void range_apply(struct kvm_memext_privmem *pm, pgoff_t start,
			pgoff_t end, int delta, struct list_head *pool)
{
	struct privmem_range *r, *next, *new;
	pgoff_t pos = start, stop;
	long pages = 0;

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

/*
 * The pages of a chunk its ranges want shown: those in accessible ranges,
 * the whole block where the file may not split it, never a poisoned one.
 */
static void privmem_want(struct kvm_memext_privmem *pm, pgoff_t cidx,
			 struct kvm_memext_privmem_chunk *chunk,
			 unsigned long *want)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t end = first + KVM_MEMEXT_CHUNK_PAGES, lo, hi;
	struct kvm_memext_privmem_clock *clock;
	struct privmem_range *r;
	unsigned int i;

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
 * kvm_memext_privmem_chunk_poisoned() - whether memory failure hit a chunk
 * @chunk: the chunk.
 *
 * Return: true if one of its pages is hardware-poisoned.
 */
bool kvm_memext_privmem_chunk_poisoned(struct kvm_memext_privmem_chunk *chunk)
{
	unsigned int i;

	for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++) {
		if (chunk->pages[i] && PageHWPoison(chunk->pages[i]))
			return true;
	}
	return false;
}

/* Jiffies until the file may flush (privmem_flush.c): 0 now. */
static unsigned long privmem_flush_delay(struct kvm_memext_privmem *pm)
{
	u64 ns = kvm_memext_privmem_flush_wait(pm, false);

	return ns ? max_t(unsigned long, 1, nsecs_to_jiffies(ns)) : 0;
}

/* Whether a flush now would exceed the owner's or the host's budget. */
static bool privmem_flush_early(struct kvm_memext_privmem *pm)
{
	return kvm_memext_privmem_flush_wait(pm, false);
}

/*
 * Flush every CPU's TLB once the budgets allow it.  Callers that can fail
 * waited (killable) for it already, so this wait is short; an allocation's
 * flush (KVM_MEMEXT_FLUSH_POPULATE) waits for the host's budget only, so that a VM's first
 * touch is not held to its owner's rate.
 */
static void privmem_flush(struct kvm_memext_privmem *pm,
			  enum kvm_memext_flush_reason reason)
{
	bool populate = reason == KVM_MEMEXT_FLUSH_POPULATE;
	u64 ns, waited = 0;

	while ((ns = kvm_memext_privmem_flush_reserve(pm, populate))) {
		schedule_timeout_uninterruptible(max_t(long, 1, nsecs_to_jiffies(ns)));
		waited += ns;
	}
	kvm_memext_dmap_flush();
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_FLUSHES, 1);
	trace_kvm_memext_privmem_flush(pm, reason, waited);
}

/*
 * Bring a chunk's direct-map entries to what its ranges want.  Pages to
 * hide wait for hide_work when @defer_hides.  Returns 1 when it changed an
 * entry (the caller flushes, on error too), 0, or a negative errno.
 */
static int privmem_sync_chunk(struct kvm_memext_privmem *pm, pgoff_t cidx,
			      struct kvm_memext_privmem_chunk *chunk,
			      bool defer_hides)
{
	DECLARE_BITMAP(want, KVM_MEMEXT_CHUNK_PAGES);
	DECLARE_BITMAP(diff, KVM_MEMEXT_CHUNK_PAGES);
	unsigned long delay;
	bool changed = false;
	unsigned int i, n;
	int r;

	privmem_want(pm, cidx, chunk, want);

	bitmap_andnot(diff, want, chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
	if (!bitmap_empty(diff, KVM_MEMEXT_CHUNK_PAGES)) {
		if (chunk->huge && bitmap_full(diff, KVM_MEMEXT_CHUNK_PAGES)) {
			r = kvm_memext_dmap_show_block(chunk->pages[0], pm->decoy);
			if (r)
				return r;
			bitmap_fill(chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
			kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_SHOWN,
					       KVM_MEMEXT_CHUNK_PAGES);
			trace_kvm_memext_privmem_show(pm, cidx,
						      KVM_MEMEXT_CHUNK_PAGES, true);
		} else {
			for_each_set_bit(i, diff, KVM_MEMEXT_CHUNK_PAGES) {
				r = kvm_memext_dmap_show_page(chunk->pages[i], pm->decoy);
				if (r)
					return r;
				__set_bit(i, chunk->shown);
				kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_SHOWN, 1);
			}
			if (trace_kvm_memext_privmem_show_enabled()) {
				n = bitmap_weight(diff, KVM_MEMEXT_CHUNK_PAGES);
				trace_kvm_memext_privmem_show(pm, cidx, n, false);
			}
		}
		changed = true;
	}

	bitmap_andnot(diff, chunk->shown, want, KVM_MEMEXT_CHUNK_PAGES);
	if (bitmap_empty(diff, KVM_MEMEXT_CHUNK_PAGES))
		return changed;
	if (defer_hides) {
		xa_set_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
		delay = privmem_flush_delay(pm);
		schedule_delayed_work(&pm->hide_work, max(delay, 1UL));
		atomic_long_inc(&kvm_memext_privmem_stats.deferred_hides);
		return changed;
	}
	if (chunk->huge && bitmap_full(diff, KVM_MEMEXT_CHUNK_PAGES) &&
	    !kvm_memext_dmap_hide_block(chunk->pages[0], pm->decoy)) {
		bitmap_zero(chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
		kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_HIDDEN,
				       KVM_MEMEXT_CHUNK_PAGES);
		trace_kvm_memext_privmem_hide(pm, cidx, KVM_MEMEXT_CHUNK_PAGES,
					      true);
	} else {
		/* Page by page: tells which ones a failed block hide left. */
		for_each_set_bit(i, diff, KVM_MEMEXT_CHUNK_PAGES) {
			r = kvm_memext_dmap_hide_page(chunk->pages[i], pm->decoy);
			/* Memory failure may have unmapped a poisoned page. */
			if (r && !PageHWPoison(chunk->pages[i]))
				return r;
			__clear_bit(i, chunk->shown);
			kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_HIDDEN, 1);
		}
		if (trace_kvm_memext_privmem_hide_enabled()) {
			n = bitmap_weight(diff, KVM_MEMEXT_CHUNK_PAGES);
			trace_kvm_memext_privmem_hide(pm, cidx, n, false);
		}
	}
	return 1;
}

/*
 * A page whose direct-map entry does not map it, or whose memory failed,
 * cannot go back to the allocator: keep it forever rather than hand it to
 * its next owner.  The caller showed the page and flushed the TLB since.
 * Returns true when the page was released.
 */
static bool privmem_release_page(struct kvm_memext_privmem *pm,
				 struct page *page)
{
	if (unlikely(PageHWPoison(page))) {
		pm->leaked++;
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		atomic_long_inc(&kvm_memext_privmem_stats.poisoned);
		pr_err_ratelimited("page %#lx is poisoned: kept out of the direct map\n",
				   page_to_pfn(page));
		return false;
	}
	if (unlikely(!kvm_memext_dmap_present(page))) {
		pm->leaked++;
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		pr_err_ratelimited("page %#lx stays out of the direct map and is leaked\n",
				   page_to_pfn(page));
		return false;
	}
	put_page(page);
	return true;
}

/**
 * kvm_memext_privmem_vmap() - map pages of a file to zero them
 * @pages: the pages, which may be out of the direct map.
 * @nr: how many.
 *
 * KUnit replaces it (a static stub) to test the fallbacks for a failed
 * vmap().
 *
 * Return: the address of a temporary mapping of @pages, or NULL.
 */
VISIBLE_IF_KUNIT void *kvm_memext_privmem_vmap(struct page **pages,
					       unsigned int nr)
{
	KUNIT_STATIC_STUB_REDIRECT(kvm_memext_privmem_vmap, pages, nr);
	return vmap(pages, nr, VM_MAP, PAGE_KERNEL);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_vmap);

/* Zero pages that may be out of the direct map, through a temporary vmap. */
static bool privmem_zero_pages(struct page **pages, unsigned int nr)
{
	void *addr = kvm_memext_privmem_vmap(pages, nr);

	if (!addr)
		return false;
	memset(addr, 0, (size_t)nr * PAGE_SIZE);
	vunmap(addr);
	return true;
}

/* Show @nr pages (a whole 2 MiB block when @block); the caller flushes. */
static void privmem_show_pages(struct kvm_memext_privmem *pm,
			       struct page **pages, unsigned int nr, bool block)
{
	unsigned int i;

	if (!block || kvm_memext_dmap_show_block(pages[0], pm->decoy)) {
		for (i = 0; i < nr; i++)
			kvm_memext_dmap_show_page(pages[i], pm->decoy);
	}
}

/*
 * Zero [lo, hi) of a block the file may not split, and keep the pages
 * (a hole in part of a block): through a vmap of each run of healthy
 * pages, else of each page, else (never seen) with the page shown.
 */
static void privmem_zero_in_place(struct kvm_memext_privmem *pm,
				  struct kvm_memext_privmem_chunk *chunk,
				  unsigned int lo, unsigned int hi)
{
	struct page *page;
	unsigned int i, run;

	for (i = lo; i < hi; i += run) {
		for (run = 0; i + run < hi && !PageHWPoison(chunk->pages[i + run]);)
			run++;
		if (!run) {
			run = 1;	/* poisoned: never touched again */
			continue;
		}
		if (privmem_zero_pages(&chunk->pages[i], run))
			continue;
		run = 1;
		page = chunk->pages[i];
		if (privmem_zero_pages(&page, 1))
			continue;
		if (kvm_memext_dmap_present(page)) {
			clear_highpage(page);
		} else if (!kvm_memext_dmap_show_page(page, pm->decoy)) {
			privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
			clear_highpage(page);
			/* Should it stay shown, the next sync hides it. */
			__set_bit(i, chunk->shown);
			if (!kvm_memext_dmap_hide_page(page, pm->decoy))
				__clear_bit(i, chunk->shown);
			privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
		} else {
			pr_err_ratelimited("page %#lx of a hole could not be zeroed\n",
					   page_to_pfn(page));
		}
	}
	kvm_memext_dmap_check_decoy(pm->decoy);
}

/*
 * The file's decoy (directmap.c), allocated with its first chunk and
 * charged like one to the ceiling, the owner and its memory cgroup (not to
 * the mount: it holds no data of the file).  Returns 0 or a negative errno.
 */
static int privmem_decoy_alloc(struct kvm_memext_privmem *pm)
{
	atomic_long_t *decoys = &kvm_memext_privmem_stats.decoys;
	struct page *decoy;
	int r = -ENOSPC;

	if (pm->decoy)
		return 0;
	if (atomic_long_inc_return(decoys) * KVM_MEMEXT_CHUNK_PAGES +
	    atomic_long_read(&kvm_memext_privmem_stats.pages) >
	    kvm_memext_privmem_limit_pages())
		goto err;
	r = pm->mm ? privmem_charge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES) : 0;
	if (r)
		goto err;
	decoy = kvm_memext_dmap_decoy_alloc(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL);
	if (!decoy) {
		r = -ENOMEM;
		if (pm->mm)
			privmem_uncharge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES);
		goto err;
	}
	WRITE_ONCE(pm->decoy, decoy);
	return 0;
err:
	atomic_long_dec(decoys);
	return r;
}

/* Free the decoy once no page is hidden, unless leaked pages may map it. */
static void privmem_decoy_free(struct kvm_memext_privmem *pm)
{
	if (!pm->decoy)
		return;
	if (pm->mm)
		privmem_uncharge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES);
	if (pm->leaked) {
		pr_warn("keeping a direct-map decoy: %lu leaked pages may map it\n",
			pm->leaked);
		atomic_long_add(KVM_MEMEXT_CHUNK_PAGES, &kvm_memext_privmem_stats.leaked);
	} else {
		kvm_memext_dmap_decoy_free(pm->decoy);
		atomic_long_dec(&kvm_memext_privmem_stats.decoys);
	}
	pm->decoy = NULL;
}

/* How a new chunk's 2 MiB block is allocated. */
static gfp_t privmem_block_gfp(struct kvm_memext_privmem *pm)
{
	/* Try hard where 4 KiB pages are no way out. */
	return GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
	       (pm->may_split ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL);
}

/**
 * kvm_memext_privmem_prealloc() - a 2 MiB block for a chunk's first touch
 * @pm: the file; its lock is not held.
 * @cidx: chunk index.
 *
 * Zeroing a new chunk's block is most of the cost of its first touch.
 * Done here, before the fault takes @pm->lock, the vCPUs that fault a
 * VM's RAM in at boot zero their chunks in parallel instead of one after
 * the other.  The block is fresh, in the direct map, and nobody else's;
 * kvm_memext_privmem_populate() takes it if the chunk still needs one.
 * A fault holds at most one, so the blocks in flight are bounded by the
 * threads faulting.
 *
 * Return: a zeroed order-9 block, or NULL when the chunk exists, would not
 * be one block, or no block was free (populate then tries itself).
 */
struct page *kvm_memext_privmem_prealloc(struct kvm_memext_privmem *pm,
					 pgoff_t cidx)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;

	/* Unlocked hints; populate checks again under the lock. */
	if (!READ_ONCE(privmem_prealloc) ||
	    (pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) || first >= size ||
	    (size - first < KVM_MEMEXT_CHUNK_PAGES && pm->may_split) ||
	    xa_load(&pm->chunks, cidx))
		return NULL;
	return alloc_pages(privmem_block_gfp(pm), KVM_MEMEXT_CHUNK_ORDER);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_prealloc);

/**
 * kvm_memext_privmem_prealloc_free() - free a block populate did not take
 * @block: from kvm_memext_privmem_prealloc(), or NULL.
 */
void kvm_memext_privmem_prealloc_free(struct page *block)
{
	if (block)
		__free_pages(block, KVM_MEMEXT_CHUNK_ORDER);
}

/**
 * kvm_memext_privmem_populate() - allocate the missing pages of a chunk
 * @pm: the file.
 * @cidx: chunk index.
 * @out: the chunk, on success.
 * @spare: a block from kvm_memext_privmem_prealloc() to use for a new
 *	whole chunk (then set to NULL), or NULL.
 *
 * The chunk covers the pages of [cidx * 2 MiB, (cidx + 1) * 2 MiB) below the
 * file's size.  A whole new chunk is one 2 MiB block when one is free and
 * the file allows it, else 4 KiB pages; in a file that may not split the
 * direct map, always a block (a chunk at the end of the file too).
 *
 * Return: 0; -ENOMEM; -EAGAIN when no 2 MiB block could be had for a file
 * that may not split the direct map; -ENOSPC beyond the privmem_max_mb
 * ceiling; -EDQUOT beyond the caller's RLIMIT_MEMLOCK.
 */
int kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
				struct kvm_memext_privmem_chunk **out,
				struct page **spare)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;
	unsigned int i, nr, want;
	DECLARE_BITMAP(fresh, KVM_MEMEXT_CHUNK_PAGES);
	struct kvm_memext_privmem_chunk *chunk;
	bool new = false, hidden = false, block;
	unsigned int bit, kept = 0;
	struct page *page;
	int r;

	lockdep_assert_held(&pm->lock);
	if (first >= size)
		return -EINVAL;
	nr = min_t(pgoff_t, KVM_MEMEXT_CHUNK_PAGES, size - first);

	chunk = xa_load(&pm->chunks, cidx);
	if (chunk && (chunk->huge || chunk->nr == nr)) {
		*out = chunk;
		return 0;
	}
	/*
	 * A chunk of 4 KiB pages from an owner that could split the direct
	 * map: filling its holes would split more, which this owner may not.
	 */
	if (chunk && !pm->may_split)
		return -EAGAIN;
	if (!chunk) {
		chunk = kzalloc_obj(*chunk, GFP_KERNEL_ACCOUNT);
		if (!chunk)
			return -ENOMEM;
		r = xa_insert(&pm->chunks, cidx, chunk, GFP_KERNEL_ACCOUNT);
		if (r) {
			kfree(chunk);
			return r;
		}
		new = true;
	}

	block = new && !(pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) &&
		(nr == KVM_MEMEXT_CHUNK_PAGES || !pm->may_split);
	want = block ? KVM_MEMEXT_CHUNK_PAGES : nr - chunk->nr;
	r = privmem_decoy_alloc(pm);
	if (r)
		goto out_chunk;
	r = privmem_charge(pm, want);
	if (r)
		goto out_chunk;

	bitmap_zero(fresh, KVM_MEMEXT_CHUNK_PAGES);
	if (block) {
		if (spare && *spare) {
			page = *spare;
			*spare = NULL;
		} else {
			page = alloc_pages(privmem_block_gfp(pm),
					   KVM_MEMEXT_CHUNK_ORDER);
		}
		if (page) {
			/* Order-0 pages: KVM takes references on them. */
			split_page(page, KVM_MEMEXT_CHUNK_ORDER);
			for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++)
				chunk->pages[i] = page + i;
			bitmap_fill(fresh, KVM_MEMEXT_CHUNK_PAGES);
			chunk->huge = true;
		} else if (!pm->may_split) {
			kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_BLOCK,
						     global_zone_page_state(NR_FREE_PAGES));
			r = -EAGAIN;
			goto out_fresh;
		} else {
			atomic_long_inc(&kvm_memext_privmem_stats.fallbacks);
			trace_kvm_memext_privmem_fallback(pm, cidx, nr, false);
		}
	}
	for (i = 0; !chunk->huge && i < nr; i++) {
		if (chunk->pages[i])
			continue;
		chunk->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!chunk->pages[i]) {
			r = -ENOMEM;
			goto out_fresh;
		}
		__set_bit(i, fresh);
	}

	/* Fresh pages are in the direct map: hide all but accessible ones. */
	bitmap_or(chunk->shown, chunk->shown, fresh, KVM_MEMEXT_CHUNK_PAGES);
	hidden = true;
	r = privmem_sync_chunk(pm, cidx, chunk, false);
	if (r)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_POPULATE);
	if (r < 0)
		goto out_fresh;

	chunk->nr += want;
	pm->inode->i_blocks += (blkcnt_t)want << (PAGE_SHIFT - 9);
	if (chunk->huge)
		atomic_long_inc(&kvm_memext_privmem_stats.chunks);
	trace_kvm_memext_privmem_chunk_alloc(pm, cidx, want, chunk->huge);
	*out = chunk;
	return 0;

out_fresh:
	/* Zero (never written), shown again if hiding began, never mapped. */
	if (hidden) {
		if (!chunk->huge ||
		    kvm_memext_dmap_show_block(chunk->pages[0], pm->decoy)) {
			for_each_set_bit(bit, fresh, KVM_MEMEXT_CHUNK_PAGES)
				kvm_memext_dmap_show_page(chunk->pages[bit], pm->decoy);
		}
		privmem_flush(pm, KVM_MEMEXT_FLUSH_POPULATE);
	}
	for_each_set_bit(bit, fresh, KVM_MEMEXT_CHUNK_PAGES) {
		kept += !privmem_release_page(pm, chunk->pages[bit]);
		chunk->pages[bit] = NULL;
		__clear_bit(bit, chunk->shown);
	}
	chunk->huge = false;
	privmem_uncharge(pm, want, kept);
out_chunk:
	if (new) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_populate);

/*
 * Zero and restore the pages in slots [lo, hi) of a chunk, and queue them
 * on @release for the flush that lets them go.  Returns true if it queued.
 */
static bool privmem_free_slots(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned int lo, unsigned int hi,
			       struct list_head *release)
{
	unsigned int i, n = lo, gone = 0;
	struct page *page;
	bool zeroed;

	if (chunk->huge && !pm->may_split &&
	    (lo || hi < KVM_MEMEXT_CHUNK_PAGES)) {
		privmem_zero_in_place(pm, chunk, lo, hi);
		return false;
	}

	/*
	 * Gather the healthy pages at the front of the range, in order; a
	 * poisoned page stays hidden and is never touched again.
	 */
	for (i = lo; i < hi; i++) {
		page = chunk->pages[i];
		if (!page)
			continue;
		chunk->pages[i] = NULL;
		gone++;
		if (PageHWPoison(page))
			privmem_release_page(pm, page);	/* kept */
		else
			chunk->pages[n++] = page;
	}
	if (!gone)
		return false;
	bitmap_clear(chunk->shown, lo, hi - lo);

	/*
	 * Zero through a temporary mapping while the pages are hidden, show
	 * them (a whole block in one entry write); the caller flushes, and
	 * only then releases them.  The pages are the module's own, off any
	 * LRU: their lru field is free for the queue.
	 */
	if (n > lo) {
		zeroed = privmem_zero_pages(&chunk->pages[lo], n - lo);
		privmem_show_pages(pm, &chunk->pages[lo], n - lo,
				   chunk->huge && n - lo == KVM_MEMEXT_CHUNK_PAGES);
		/*
		 * No vmap(): zero through the direct map, which a CPU may
		 * still translate to the decoy until a flush.
		 */
		if (!zeroed)
			privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
		for (i = lo; i < n; i++) {
			page = chunk->pages[i];
			if (!zeroed && kvm_memext_dmap_present(page))
				clear_highpage(page);
			list_add_tail(&page->lru, release);
			chunk->pages[i] = NULL;
		}
	}

	trace_kvm_memext_privmem_chunk_free(pm, cidx, gone, chunk->huge);
	if (chunk->huge)
		atomic_long_dec(&kvm_memext_privmem_stats.chunks);
	chunk->huge = false;
	chunk->nr -= gone;
	pm->inode->i_blocks -= (blkcnt_t)gone << (PAGE_SHIFT - 9);
	/* Off the owner now; under the ceiling until released. */
	privmem_uncharge_owner(pm, gone);
	if (!chunk->nr) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return n > lo;
}

/*
 * Flush once for the pages freed so far, then release them.  Punch and
 * refault in a loop flush within the owner's budget: the caller waits.
 */
static void privmem_release_batch(struct kvm_memext_privmem *pm,
				  struct list_head *release)
{
	struct page *page, *tmp;
	unsigned long delay;
	long released = 0;

	if (list_empty(release))
		return;
	while ((delay = privmem_flush_delay(pm)))
		schedule_timeout_uninterruptible(delay);
	privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
	list_for_each_entry_safe(page, tmp, release, lru) {
		list_del(&page->lru);
		released += privmem_release_page(pm, page);
	}
	atomic_long_sub(released, &kvm_memext_privmem_stats.pages);
	kvm_memext_dmap_check_decoy(pm->decoy);
}

static void privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
			       pgoff_t end, unsigned int batch)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned int batched = 0;
	LIST_HEAD(release);
	unsigned long cidx;
	pgoff_t first;

	if (start >= end)
		return;
	xa_for_each_range(&pm->chunks, cidx, chunk,
			  start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		first = cidx << KVM_MEMEXT_CHUNK_ORDER;
		if (privmem_free_slots(pm, cidx, chunk, max(start, first) - first,
				       min(end, first + KVM_MEMEXT_CHUNK_PAGES) - first,
				       &release) &&
		    ++batched == batch) {
			privmem_release_batch(pm, &release);
			batched = 0;
		}
		cond_resched();
	}
	privmem_release_batch(pm, &release);
}

/**
 * kvm_memext_privmem_free_range() - free the pages of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 *
 * The caller unmapped the range from every mapping first.  In a file that
 * may not split the direct map, the part of a block in the range is zeroed
 * and kept.  Costs a step per chunk that exists, and one TLB flush per
 * PRIVMEM_FREE_BATCH chunks, within the owner's flush budget (it waits).
 */
void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
				   pgoff_t end)
{
	privmem_free_range(pm, start, end, PRIVMEM_FREE_BATCH);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_free_range);

/* The pages of [start, end) in a chunk, or all of it if shown as a block. */
static void privmem_chunk_span(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       pgoff_t start, pgoff_t end, unsigned long *span)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t lo = max(start, first) - first;
	pgoff_t hi = min(end, first + KVM_MEMEXT_CHUNK_PAGES) - first;

	bitmap_zero(span, KVM_MEMEXT_CHUNK_PAGES);
	if (chunk->huge && !pm->may_split)
		bitmap_fill(span, KVM_MEMEXT_CHUNK_PAGES);
	else
		bitmap_set(span, lo, hi - lo);
}

/*
 * Before any count changes: give every page the call may repoint an entry
 * its repointing fits in (a 2 MiB one for a block changed whole, else a
 * 4 KiB one, which only a file that may split the direct map asks for), so
 * that no entry write below allocates; and tell whether the call shows a
 * hidden page.
 */
static int privmem_access_prepare(struct kvm_memext_privmem *pm, pgoff_t start,
				  pgoff_t end, bool accessible, bool *shows)
{
	DECLARE_BITMAP(span, KVM_MEMEXT_CHUNK_PAGES);
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx;
	unsigned int i;
	int r;

	*shows = false;
	xa_for_each_range(&pm->chunks, cidx, chunk, start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		cond_resched();
		privmem_chunk_span(pm, cidx, chunk, start, end, span);
		if (chunk->huge) {
			r = kvm_memext_dmap_split(chunk->pages[0],
						  bitmap_full(span, KVM_MEMEXT_CHUNK_PAGES) &&
						  !kvm_memext_privmem_chunk_poisoned(chunk));
			if (r)
				return r;
		} else {
			for_each_set_bit(i, span, KVM_MEMEXT_CHUNK_PAGES) {
				if (!chunk->pages[i])
					continue;
				r = kvm_memext_dmap_split(chunk->pages[i], false);
				if (r)
					return r;
			}
		}
		if (!accessible || *shows)
			continue;
		bitmap_andnot(span, span, chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
		for_each_set_bit(i, span, KVM_MEMEXT_CHUNK_PAGES) {
			if (chunk->pages[i] && !PageHWPoison(chunk->pages[i])) {
				*shows = true;
				break;
			}
		}
	}
	return 0;
}

/*
 * prepare() made every entry write allocation-free, so this is memory
 * failure or a state nobody expects: say so, and try again at the next
 * allowed flush rather than leave a page shown for good.
 */
static void privmem_sync_failed(struct kvm_memext_privmem *pm, pgoff_t cidx,
				int r)
{
	pr_warn_ratelimited("direct map of chunk %lu not as its ranges want: %d\n",
			    cidx, r);
	xa_set_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
	schedule_delayed_work(&pm->hide_work, max(privmem_flush_delay(pm), 1UL));
}

/* Wait, killable, until the file may flush again. */
static int privmem_throttle(struct kvm_memext_privmem *pm)
{
	u64 start = ktime_get_ns();
	bool waited = false;
	unsigned long delay;

	while ((delay = privmem_flush_delay(pm))) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (!waited)
			kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_FLUSH,
						     kvm_memext_privmem_flush_rate());
		schedule_timeout_killable(delay);
		waited = true;
	}
	if (waited) {
		atomic_long_inc(&kvm_memext_privmem_stats.throttled);
		kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_THROTTLED, 1);
		trace_kvm_memext_privmem_throttled(pm, ktime_get_ns() - start);
	}
	return 0;
}

/*
 * kvm-clock pages (privmem_clock.c): KVM writes a vCPU's clock through the
 * direct map, so its page is shown, alone, for as long as the vCPU's clock
 * is there.  Alone even in a file that may not split the direct map (a
 * guest allocates the rest of the block as it likes): one split per clock
 * page, a bounded number per owner (privmem_flush.c), and one flush per
 * show, within the owner's flush budget.
 */

/**
 * kvm_memext_privmem_clock_show() - show a vCPU's kvm-clock page
 * @pm: the file.
 * @clock: the vCPU's entry, not on a file's list; @clock->index is the page.
 *
 * On success @clock is on the file's list and the page is shown and
 * flushed; kvm_memext_privmem_clock_hide() or _unmap() takes it off.
 *
 * Return: 0; -ENOENT when the page is not allocated (or is poisoned);
 * -ENOSPC when the owner split its share of direct-map entries; -ENOMEM;
 * -EINTR when killed while waiting to flush; -EIO.
 */
int kvm_memext_privmem_clock_show(struct kvm_memext_privmem *pm,
				  struct kvm_memext_privmem_clock *clock)
{
	pgoff_t cidx = clock->index >> KVM_MEMEXT_CHUNK_ORDER;
	unsigned int i = clock->index & (KVM_MEMEXT_CHUNK_PAGES - 1), level;
	struct kvm_memext_privmem_chunk *chunk;
	struct page *page;
	int r;

	lockdep_assert_held(&pm->lock);
	chunk = xa_load(&pm->chunks, cidx);
	page = chunk ? chunk->pages[i] : NULL;
	if (!page || PageHWPoison(page))
		return -ENOENT;
	if (!test_bit(i, chunk->shown)) {
		/* CPA's split flushes too: wait for the budget first. */
		r = privmem_throttle(pm);
		if (r)
			return r;
		kvm_memext_dmap_pfn(page, &level);
		if (level > PG_LEVEL_4K) {
			if (!kvm_memext_privmem_tenant_split(pm))
				return -ENOSPC;
			r = kvm_memext_dmap_split(page, false);
			if (r)
				return r;
		}
	}
	list_add(&clock->node, &pm->clocks);
	r = privmem_sync_chunk(pm, cidx, chunk, privmem_flush_early(pm));
	if (r)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
	if (r < 0) {
		list_del_init(&clock->node);
		return r;
	}
	atomic_long_inc(&kvm_memext_privmem_stats.clock_pages);
	atomic_long_inc(&kvm_memext_privmem_stats.clock_shows);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_CLOCK_SHOWS, 1);
	return 0;
}

/**
 * kvm_memext_privmem_clock_hide() - a vCPU's clock left its page
 * @pm: the file.
 * @clock: the vCPU's entry, on @pm's list or taken off by _unmap().
 *
 * The page is hidden again, unless something else wants it shown, at the
 * file's next allowed flush.
 */
void kvm_memext_privmem_clock_hide(struct kvm_memext_privmem *pm,
				   struct kvm_memext_privmem_clock *clock)
{
	pgoff_t cidx = clock->index >> KVM_MEMEXT_CHUNK_ORDER;
	struct kvm_memext_privmem_chunk *chunk;
	int r;

	lockdep_assert_held(&pm->lock);
	if (list_empty(&clock->node))
		return;
	list_del_init(&clock->node);
	atomic_long_dec(&kvm_memext_privmem_stats.clock_pages);
	chunk = xa_load(&pm->chunks, cidx);
	if (!chunk)
		return;
	r = privmem_sync_chunk(pm, cidx, chunk, privmem_flush_early(pm));
	if (r < 0)
		privmem_sync_failed(pm, cidx, r);
	else if (r)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
}

/**
 * kvm_memext_privmem_clock_unmap() - hide the clock pages of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 *
 * For a punch, a truncate or a new owner: the vCPUs' entries stay in
 * privmem_clock.c's table, off the file's list, until their vCPU points
 * its clock elsewhere or the file dies; the pages are hidden at once.
 */
void kvm_memext_privmem_clock_unmap(struct kvm_memext_privmem *pm,
				    pgoff_t start, pgoff_t end)
{
	struct kvm_memext_privmem_clock *clock, *tmp;
	struct kvm_memext_privmem_chunk *chunk;
	bool changed = false;
	pgoff_t cidx;
	int r;

	lockdep_assert_held(&pm->lock);
	list_for_each_entry_safe(clock, tmp, &pm->clocks, node) {
		if (clock->index < start || clock->index >= end)
			continue;
		list_del_init(&clock->node);
		atomic_long_dec(&kvm_memext_privmem_stats.clock_pages);
		cidx = clock->index >> KVM_MEMEXT_CHUNK_ORDER;
		chunk = xa_load(&pm->chunks, cidx);
		if (!chunk)
			continue;
		r = privmem_sync_chunk(pm, cidx, chunk, false);
		if (r < 0)
			privmem_sync_failed(pm, cidx, r);
		else
			changed |= r;
	}
	if (changed)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
}

/**
 * kvm_memext_privmem_set_access() - count a range in or out of the direct map
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive), at most the file's size.
 * @accessible: take (true) or drop (false) one reference per page.
 *
 * All or nothing: dropping a reference from a page that has none fails
 * with -EINVAL and changes nothing.  Pages made accessible are shown
 * before the call returns; pages no longer accessible are hidden at once,
 * or at the next flush the owner's budget allows.
 * A file that may not split the direct map shows whole blocks.
 *
 * Return: 0; -EINVAL; -ENOSPC when the file has too many distinct ranges;
 * -ENOMEM; -EINTR when killed while waiting to flush.
 */
int kvm_memext_privmem_set_access(struct kvm_memext_privmem *pm, pgoff_t start,
				  pgoff_t end, bool accessible)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx;
	bool shows, changed = false, defer;
	unsigned long max;
	LIST_HEAD(pool);
	long nodes;
	int r;

	lockdep_assert_held(&pm->lock);
	nodes = range_nodes(pm, start, end, accessible);
	if (nodes < 0)
		return nodes;
	max = pm->may_split ? PRIVMEM_MAX_RANGES : PRIVMEM_MAX_RANGES_UNSPLIT;
	if (pm->nr_ranges + nodes > (accessible ? max : 2 * max)) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_RANGES, max);
		return -ENOSPC;
	}
	r = privmem_pool_fill(&pool, nodes);
	if (r)
		return r;
	r = privmem_access_prepare(pm, start, end, accessible, &shows);
	if (!r && shows)
		r = privmem_throttle(pm);
	if (r)
		goto out;

	range_apply(pm, start, end, accessible ? 1 : -1, &pool);
	defer = privmem_flush_early(pm);
	xa_for_each_range(&pm->chunks, cidx, chunk, start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		r = privmem_sync_chunk(pm, cidx, chunk, defer);
		if (r < 0)
			privmem_sync_failed(pm, cidx, r);
		changed |= r;
		cond_resched();
	}
	r = 0;
	if (changed)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_ACCESS);
out:
	privmem_pool_free(&pool);
	trace_kvm_memext_privmem_access(pm, start, end, accessible, r);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_set_access);

/**
 * kvm_memext_privmem_drop_access() - drop the access counts from a page on
 * @pm: the file.
 * @start: first page whose count goes; the file was truncated to it.
 *
 * The pages are gone already, but for the rest of a block the file may
 * not split, which is hidden again if nothing else wants it shown.
 */
void kvm_memext_privmem_drop_access(struct kvm_memext_privmem *pm, pgoff_t start)
{
	struct privmem_range *r = range_after(pm, start), *next;
	struct kvm_memext_privmem_chunk *chunk;
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
	privmem_pool_free(&pool);
	account_access(pm, pages);

	chunk = xa_load(&pm->chunks, start >> KVM_MEMEXT_CHUNK_ORDER);
	if (chunk && privmem_sync_chunk(pm, start >> KVM_MEMEXT_CHUNK_ORDER,
					chunk, false))
		privmem_flush(pm, KVM_MEMEXT_FLUSH_ACCESS);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_drop_access);

/* Hide the pages whose hiding waited for the owner's next allowed flush. */
static void privmem_hide_work(struct work_struct *work)
{
	struct kvm_memext_privmem *pm = container_of(to_delayed_work(work),
						     struct kvm_memext_privmem,
						     hide_work);
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx, delay;
	bool changed = false;
	int r;

	mutex_lock(&pm->lock);
	/* Other files of the owner may have spent its budget meanwhile. */
	delay = privmem_flush_delay(pm);
	if (delay) {
		schedule_delayed_work(&pm->hide_work, delay);
		mutex_unlock(&pm->lock);
		return;
	}
	xa_for_each_marked(&pm->chunks, cidx, chunk, KVM_MEMEXT_PRIVMEM_PENDING) {
		xa_clear_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
		r = privmem_sync_chunk(pm, cidx, chunk, false);
		if (r < 0)
			privmem_sync_failed(pm, cidx, r);
		changed |= r;
		cond_resched();
	}
	if (changed)
		privmem_flush(pm, KVM_MEMEXT_FLUSH_HIDE);
	mutex_unlock(&pm->lock);
}

/**
 * kvm_memext_privmem_pages_init() - set up the page state of a new file
 * @pm: the file.
 */
void kvm_memext_privmem_pages_init(struct kvm_memext_privmem *pm)
{
	xa_init(&pm->chunks);
	INIT_LIST_HEAD(&pm->clocks);
	pm->ranges = RB_ROOT;
	INIT_DELAYED_WORK(&pm->hide_work, privmem_hide_work);
}

/**
 * kvm_memext_privmem_pages_destroy() - free every page and range of a file
 * @pm: the file, no longer mapped anywhere.
 */
void kvm_memext_privmem_pages_destroy(struct kvm_memext_privmem *pm)
{
	struct privmem_range *r, *tmp;

	cancel_delayed_work_sync(&pm->hide_work);
	privmem_free_range(pm, 0, ULONG_MAX >> PAGE_SHIFT, PRIVMEM_DESTROY_BATCH);
	rbtree_postorder_for_each_entry_safe(r, tmp, &pm->ranges, node)
		kfree(r);
	pm->ranges = RB_ROOT;
	pm->nr_ranges = 0;
	account_access(pm, -(long)pm->nr_access);
	xa_destroy(&pm->chunks);
	privmem_decoy_free(pm);
	kvm_memext_privmem_tenant_put(pm);
}
