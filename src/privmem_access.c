// SPDX-License-Identifier: GPL-2.0-only
/*
 * Making private memory accessible: accessible ranges and kvm-clock pages.
 *
 * A caller's change of accessible ranges, or of the kvm-clock pages its
 * vCPUs use, counted in privmem_ranges.c and brought to the chunks' entries
 * by privmem_pages.c.  Making pages accessible flushes at once, once the
 * owner's and the host's flush budgets allow it (privmem_flush.c; the
 * caller waits, killable); hiding them again waits for the next allowed
 * flush.
 *
 * Callers hold pm->lock (see privmem.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/xarray.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"
#include "trace.h"

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
		r = kvm_memext_privmem_throttle(pm);
		if (r)
			return r;
		kvm_memext_dmap_pfn(page, &level);
		if (level > KVM_MEMEXT_DMAP_4K) {
			if (!kvm_memext_privmem_tenant_split(pm))
				return -ENOSPC;
			r = kvm_memext_dmap_split(page, false);
			if (r)
				return r;
		}
	}
	list_add(&clock->node, &pm->clocks);
	r = kvm_memext_privmem_sync_chunk(pm, cidx, chunk, kvm_memext_privmem_flush_early(pm));
	if (r)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
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
	r = kvm_memext_privmem_sync_chunk(pm, cidx, chunk, kvm_memext_privmem_flush_early(pm));
	if (r < 0)
		kvm_memext_privmem_sync_failed(pm, cidx, r);
	/* A failed sync may have changed some entries too. */
	if (r)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
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
		r = kvm_memext_privmem_sync_chunk(pm, cidx, chunk, false);
		if (r < 0)
			kvm_memext_privmem_sync_failed(pm, cidx, r);
		changed |= r != 0;
	}
	if (changed)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_CLOCK);
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
	LIST_HEAD(pool);
	int r;

	lockdep_assert_held(&pm->lock);
	r = kvm_memext_privmem_ranges_reserve(pm, start, end, accessible, &pool);
	if (r)
		return r;
	r = privmem_access_prepare(pm, start, end, accessible, &shows);
	if (!r && shows)
		r = kvm_memext_privmem_throttle(pm);
	if (r)
		goto out;

	kvm_memext_privmem_ranges_apply(pm, start, end, accessible ? 1 : -1, &pool);
	defer = kvm_memext_privmem_flush_early(pm);
	xa_for_each_range(&pm->chunks, cidx, chunk, start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		r = kvm_memext_privmem_sync_chunk(pm, cidx, chunk, defer);
		if (r < 0)
			kvm_memext_privmem_sync_failed(pm, cidx, r);
		changed |= r;
		cond_resched();
	}
	r = 0;
	if (changed)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_ACCESS);
out:
	kvm_memext_privmem_ranges_free(&pool);
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
	pgoff_t cidx = start >> KVM_MEMEXT_CHUNK_ORDER;
	struct kvm_memext_privmem_chunk *chunk;

	lockdep_assert_held(&pm->lock);
	kvm_memext_privmem_ranges_truncate(pm, start);
	chunk = xa_load(&pm->chunks, cidx);
	if (chunk && kvm_memext_privmem_sync_chunk(pm, cidx, chunk, false))
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_ACCESS);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_drop_access);
