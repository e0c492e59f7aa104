// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pages of private-memory files: 2 MiB chunks, access counts, limit.
 *
 * A chunk covers one naturally aligned 2 MiB range of a file.  Its pages
 * are one 2 MiB block when one is free and the file allows it, else 4 KiB
 * pages; either way order-0 pages (a block is split_page()d), because KVM
 * takes and drops references on the pages it maps from a VM_PFNMAP VMA.
 * Pages are allocated zeroed and hidden from the direct map (directmap.c)
 * with one flush per chunk; on free they are zeroed through a temporary
 * vmap(), shown, flushed, and only then released.
 *
 * An access count per page (an xarray value, nonzero entries only) keeps
 * pages shown for the KVM paths that need the direct map.
 *
 * Callers hold pm->lock (see privmem.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "kvm_memext.h"

static unsigned long privmem_max_mb;
module_param(privmem_max_mb, ulong, 0644);
MODULE_PARM_DESC(privmem_max_mb,
		 "Most private memory in MiB, all files together (default: half of RAM)");

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

static bool privmem_charge(unsigned long nr)
{
	unsigned long max = kvm_memext_privmem_limit_pages();
	atomic_long_t *pages = &kvm_memext_privmem_stats.pages;

	if (atomic_long_add_return(nr, pages) > max) {
		atomic_long_sub(nr, pages);
		return false;
	}
	return true;
}

static void privmem_uncharge(unsigned long nr)
{
	atomic_long_sub(nr, &kvm_memext_privmem_stats.pages);
}

static unsigned long privmem_access_count(struct kvm_memext_privmem *pm,
					  pgoff_t index)
{
	void *entry;

	if (!pm->nr_access)
		return 0;
	entry = xa_load(&pm->access, index);
	return entry ? xa_to_value(entry) : 0;
}

/* Whether a page of [first, end) is in an accessible range. */
static bool privmem_any_access(struct kvm_memext_privmem *pm, pgoff_t first,
			       pgoff_t end)
{
	unsigned long index = first;

	return pm->nr_access && xa_find(&pm->access, &index, end - 1, XA_PRESENT);
}

/*
 * A page whose direct-map entry does not map it cannot go back to the
 * allocator: keep it forever rather than hand it to its next owner.  The
 * caller showed the page and flushed the TLB since.
 */
static void privmem_release_page(struct page *page)
{
	if (unlikely(!kvm_memext_dmap_present(page))) {
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		pr_err_ratelimited("page %#lx stays out of the direct map and is leaked\n",
				   page_to_pfn(page));
		return;
	}
	put_page(page);
}

/* Zero pages that are out of the direct map, through a temporary vmap. */
static bool privmem_zero_pages(struct page **pages, unsigned int nr)
{
	void *addr = vmap(pages, nr, VM_MAP, PAGE_KERNEL);

	if (!addr)
		return false;
	memset(addr, 0, (size_t)nr * PAGE_SIZE);
	vunmap(addr);
	return true;
}

/*
 * Hide the freshly allocated pages of a chunk, but for those in accessible
 * ranges, and flush.  On error the caller shows them again.
 */
static int privmem_hide_fresh(struct kvm_memext_privmem *pm,
			      struct kvm_memext_privmem_chunk *chunk,
			      pgoff_t first, const unsigned long *fresh,
			      unsigned int nr)
{
	unsigned int i;
	int r = 0;

	if (chunk->huge && !privmem_any_access(pm, first, first + nr)) {
		r = kvm_memext_dmap_hide_block(chunk->pages[0]);
	} else {
		for_each_set_bit(i, fresh, nr) {
			if (privmem_access_count(pm, first + i))
				continue;
			r = kvm_memext_dmap_hide_page(chunk->pages[i]);
			if (r)
				break;
		}
	}
	kvm_memext_dmap_flush();
	return r;
}

/* Show @nr pages (a whole 2 MiB block when @block), then flush. */
static void privmem_show_pages(struct page **pages, unsigned int nr, bool block)
{
	unsigned int i;

	if (!block || kvm_memext_dmap_show_block(pages[0])) {
		for (i = 0; i < nr; i++)
			kvm_memext_dmap_show_page(pages[i]);
	}
	kvm_memext_dmap_flush();
}

/**
 * kvm_memext_privmem_populate() - allocate the missing pages of a chunk
 * @pm: the file.
 * @cidx: chunk index.
 * @out: the chunk, on success.
 *
 * The chunk covers the pages of [cidx * 2 MiB, (cidx + 1) * 2 MiB) below the
 * file's size.  A whole new chunk is one 2 MiB block when one is free and
 * the file allows it, else 4 KiB pages.
 *
 * Return: 0, -ENOMEM, or -ENOSPC beyond the privmem_max_mb limit.
 */
int kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
				struct kvm_memext_privmem_chunk **out)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;
	unsigned int i, nr, want;
	DECLARE_BITMAP(fresh, KVM_MEMEXT_CHUNK_PAGES);
	struct kvm_memext_privmem_chunk *chunk;
	struct page *page;
	bool new = false, hidden = false;
	int r;

	lockdep_assert_held(&pm->lock);
	if (first >= size)
		return -EINVAL;
	nr = min_t(pgoff_t, KVM_MEMEXT_CHUNK_PAGES, size - first);

	chunk = xa_load(&pm->chunks, cidx);
	if (chunk && chunk->nr == nr) {
		*out = chunk;
		return 0;
	}
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

	want = nr - chunk->nr;
	if (!privmem_charge(want)) {
		r = -ENOSPC;
		goto out_chunk;
	}

	bitmap_zero(fresh, KVM_MEMEXT_CHUNK_PAGES);
	if (new && nr == KVM_MEMEXT_CHUNK_PAGES &&
	    !(pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE)) {
		page = alloc_pages(GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
				   __GFP_NORETRY, KVM_MEMEXT_CHUNK_ORDER);
		if (page) {
			/* Order-0 pages: KVM takes references on them. */
			split_page(page, KVM_MEMEXT_CHUNK_ORDER);
			for (i = 0; i < nr; i++)
				chunk->pages[i] = page + i;
			bitmap_fill(fresh, nr);
			chunk->huge = true;
		} else {
			atomic_long_inc(&kvm_memext_privmem_stats.fallbacks);
		}
	}
	for (i = 0; i < nr; i++) {
		if (chunk->pages[i])
			continue;
		chunk->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!chunk->pages[i]) {
			r = -ENOMEM;
			goto out_fresh;
		}
		__set_bit(i, fresh);
	}

	hidden = true;
	r = privmem_hide_fresh(pm, chunk, first, fresh, nr);
	if (r)
		goto out_fresh;

	chunk->nr = nr;
	pm->inode->i_blocks += (blkcnt_t)want << (PAGE_SHIFT - 9);
	if (chunk->huge)
		atomic_long_inc(&kvm_memext_privmem_stats.chunks);
	*out = chunk;
	return 0;

out_fresh:
	/* Zero (never written), shown again if hiding began, never mapped. */
	if (hidden) {
		if (!chunk->huge || kvm_memext_dmap_show_block(chunk->pages[0])) {
			for_each_set_bit(i, fresh, KVM_MEMEXT_CHUNK_PAGES)
				kvm_memext_dmap_show_page(chunk->pages[i]);
		}
		kvm_memext_dmap_flush();
	}
	for_each_set_bit(i, fresh, KVM_MEMEXT_CHUNK_PAGES) {
		privmem_release_page(chunk->pages[i]);
		chunk->pages[i] = NULL;
	}
	chunk->huge = false;
	privmem_uncharge(want);
out_chunk:
	if (new) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_populate);

/* Zero, restore and release the pages in slots [lo, hi) of a chunk. */
static void privmem_free_slots(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned int lo, unsigned int hi)
{
	unsigned int i, n = lo;
	bool whole, zeroed;

	/* Gather the present pages at the front of the range, in order. */
	for (i = lo; i < hi; i++) {
		if (chunk->pages[i])
			chunk->pages[n++] = chunk->pages[i];
	}
	if (n == lo)
		return;
	for (i = n; i < hi; i++)
		chunk->pages[i] = NULL;

	/*
	 * Zero through a temporary mapping while the pages are hidden, show
	 * them (a whole block in one entry write), flush, only then release.
	 */
	whole = chunk->huge && lo == 0 && n == KVM_MEMEXT_CHUNK_PAGES;
	zeroed = privmem_zero_pages(&chunk->pages[lo], n - lo);
	privmem_show_pages(&chunk->pages[lo], n - lo, whole);
	for (i = lo; i < n; i++) {
		struct page *page = chunk->pages[i];

		if (!zeroed && kvm_memext_dmap_present(page))
			clear_highpage(page);
		privmem_release_page(page);
		chunk->pages[i] = NULL;
	}
	kvm_memext_dmap_check_decoy(false);

	if (chunk->huge)
		atomic_long_dec(&kvm_memext_privmem_stats.chunks);
	chunk->huge = false;
	chunk->nr -= n - lo;
	pm->inode->i_blocks -= (blkcnt_t)(n - lo) << (PAGE_SHIFT - 9);
	privmem_uncharge(n - lo);
	if (!chunk->nr) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
}

/**
 * kvm_memext_privmem_free_range() - free the pages of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 *
 * The caller unmapped the range from every mapping first.
 */
void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
				   pgoff_t end)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx;
	pgoff_t first;

	if (start >= end)
		return;
	xa_for_each_range(&pm->chunks, cidx, chunk,
			  start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		first = cidx << KVM_MEMEXT_CHUNK_ORDER;
		privmem_free_slots(pm, cidx, chunk, max(start, first) - first,
				   min(end, first + KVM_MEMEXT_CHUNK_PAGES) - first);
		cond_resched();
	}
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_free_range);

/*
 * Add @delta to the access count of every page of [start, end), showing
 * pages on 0 -> 1 and hiding them on 1 -> 0, with one flush for the call
 * (the TLB may hold the old translation either way).  Returns how far it
 * got in *@done.
 */
static int privmem_access_apply(struct kvm_memext_privmem *pm, pgoff_t start,
				pgoff_t end, int delta, pgoff_t *done)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long old, count;
	bool changed = false;
	struct page *page;
	pgoff_t index;
	int r = 0;

	for (index = start; index < end; index++) {
		old = privmem_access_count(pm, index);
		count = old + delta;
		chunk = xa_load(&pm->chunks, index >> KVM_MEMEXT_CHUNK_ORDER);
		page = chunk ? chunk->pages[index & (KVM_MEMEXT_CHUNK_PAGES - 1)] : NULL;

		/* The direct map first: on failure this page is unchanged. */
		if (page && !old)
			r = kvm_memext_dmap_show_page(page);
		else if (page && !count)
			r = kvm_memext_dmap_hide_page(page);
		if (r)
			break;
		changed |= page && (!old || !count);

		if (count) {
			r = xa_err(xa_store(&pm->access, index, xa_mk_value(count),
					    GFP_KERNEL_ACCOUNT));
		} else {
			xa_erase(&pm->access, index);
		}
		if (r) {
			/* Only an increment allocates: hide the page again. */
			if (page && !old)
				kvm_memext_dmap_hide_page(page);
			break;
		}
		if (!old || !count) {
			pm->nr_access += delta;
			atomic_long_add(delta, &kvm_memext_privmem_stats.accessible);
		}
	}
	if (changed)
		kvm_memext_dmap_flush();
	*done = index;
	return r;
}

/**
 * kvm_memext_privmem_set_access() - count a range in or out of the direct map
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive), at most the file's size.
 * @accessible: take (true) or drop (false) one reference per page.
 *
 * All or nothing: dropping a reference from a page that has none fails
 * with -EINVAL and changes nothing.
 *
 * Return: 0 or a negative errno.
 */
int kvm_memext_privmem_set_access(struct kvm_memext_privmem *pm, pgoff_t start,
				  pgoff_t end, bool accessible)
{
	int delta = accessible ? 1 : -1;
	pgoff_t index, done;
	int r;

	lockdep_assert_held(&pm->lock);
	if (!accessible) {
		for (index = start; index < end; index++) {
			if (!privmem_access_count(pm, index))
				return -EINVAL;
		}
	}
	r = privmem_access_apply(pm, start, end, delta, &done);
	if (r && done > start)
		privmem_access_apply(pm, start, done, -delta, &done);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_set_access);

/**
 * kvm_memext_privmem_drop_access() - drop the access counts from a page on
 * @pm: the file.
 * @start: first page whose count goes; the file was truncated to it.
 *
 * The pages are gone already: nothing to hide.
 */
void kvm_memext_privmem_drop_access(struct kvm_memext_privmem *pm, pgoff_t start)
{
	unsigned long index;
	void *entry;

	lockdep_assert_held(&pm->lock);
	xa_for_each_start(&pm->access, index, entry, start) {
		xa_erase(&pm->access, index);
		pm->nr_access--;
		atomic_long_dec(&kvm_memext_privmem_stats.accessible);
	}
}
