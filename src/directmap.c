// SPDX-License-Identifier: GPL-2.0-only
/*
 * The direct-map entries of private pages: what every architecture shares.
 *
 * A private page is hidden by pointing its direct-map entry at a decoy
 * frame, not by clearing the valid bit.  Every kernel access through the
 * direct map, speculative or real, then lands in the decoy: KVM's kmap()
 * writes (x86's kvm-clock, Xen shared pages, nested state) cannot fault
 * the host, and the page's contents are not reachable through the direct
 * map.  Each file has a decoy of its own, a 2 MiB block: what KVM writes
 * through one tenant's hidden pages is never read through another's.  A
 * hidden page at offset o of its 2 MiB-aligned frame maps decoy page o,
 * so a 2 MiB entry needs no split.  Writes that reach a decoy are counted
 * (the canary).
 *
 * How an entry is found and rewritten is the architecture's:
 * directmap_x86.c (CPA splits, one flush of every CPU per batch) and
 * directmap_arm64.c (a page-granular linear map, break-before-make).
 *
 * Lifetime rule for callers: an entry pointing at the decoy may be cached
 * by any CPU until kvm_memext_dmap_flush(), both after hiding and after
 * showing; a page may only be released after it shows and a flush.  (On
 * arm64 break-before-make flushed each change already; the rule holds
 * trivially there.)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/string.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "trace.h"

#define DMAP_BLOCK_BYTES	((size_t)KVM_MEMEXT_CHUNK_PAGES << PAGE_SHIFT)

struct kvm_memext_privmem_stats kvm_memext_privmem_stats;
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_stats);

/**
 * kvm_memext_dmap_pfn() - where the direct map maps a page
 * @page: the page.
 * @level: the size of the entry (KVM_MEMEXT_DMAP_*), or NULL.
 *
 * Return: the pfn the page's direct-map address translates to, or 0 if it
 * is not present or not writable.
 */
unsigned long kvm_memext_dmap_pfn(struct page *page, unsigned int *level)
{
	unsigned int lvl = 0;
	unsigned long pfn;
	bool writable;

	if (!kvm_memext_dmap_lookup(kvm_memext_dmap_addr(page), &lvl, &pfn,
				    &writable) || !writable)
		pfn = 0;
	if (level)
		*level = lvl;
	return pfn;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_pfn);

/**
 * kvm_memext_dmap_hidden() - whether a page's direct-map entry maps a decoy
 * @page: any page.
 *
 * Cheap enough for a tracepoint probe: one page-table walk, no lock.
 *
 * Return: true if the page's direct-map address is present and writable
 * and translates to another frame: the page is hidden by this module
 * (nothing else points direct-map entries elsewhere).
 */
bool kvm_memext_dmap_hidden(struct page *page)
{
	unsigned long pfn = kvm_memext_dmap_pfn(page, NULL);

	return pfn && pfn != page_to_pfn(page);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_hidden);

/**
 * kvm_memext_dmap_check_decoy() - count writes that reached a decoy
 * @decoy: the decoy.
 *
 * A write through the direct map of a hidden page leaves the decoy
 * nonzero: count it, name the usual cause once in a while, zero it again.
 *
 * Return: true if the decoy was written since the last check.
 */
bool kvm_memext_dmap_check_decoy(struct page *decoy)
{
	u8 *p = page_address(decoy), *hit;

	hit = memchr_inv(p, 0, DMAP_BLOCK_BYTES);
	if (!hit)
		return false;
	atomic_long_inc(&kvm_memext_privmem_stats.decoy_writes);
	trace_kvm_memext_privmem_decoy_write(page_to_pfn(decoy));
	pr_notice_ratelimited("a kernel write through the direct map reached private memory (decoy offset %#lx), e.g. Xen shared info or nested state on a page that is not accessible; it was absorbed\n",
			      (unsigned long)(hit - p));
	memset(p, 0, DMAP_BLOCK_BYTES);
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_check_decoy);

/**
 * kvm_memext_dmap_decoy_alloc() - a decoy for one file's hidden pages
 * @gfp: how to allocate it (accounted to the file's memory cgroup).
 *
 * Return: the first page of a zeroed, 2 MiB-aligned block, or NULL.
 */
struct page *kvm_memext_dmap_decoy_alloc(gfp_t gfp)
{
	return alloc_pages(gfp | __GFP_ZERO | __GFP_NOWARN,
			   KVM_MEMEXT_CHUNK_ORDER);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_decoy_alloc);

/**
 * kvm_memext_dmap_decoy_free() - free a decoy no entry maps any more
 * @decoy: from kvm_memext_dmap_decoy_alloc(), or NULL.
 *
 * The caller keeps a decoy that leaked pages may still map: writes through
 * their direct-map addresses would reach its next owner.
 */
void kvm_memext_dmap_decoy_free(struct page *decoy)
{
	if (decoy)
		__free_pages(decoy, KVM_MEMEXT_CHUNK_ORDER);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_decoy_free);

/**
 * kvm_memext_dmap_repoint() - hide or show some pages of a chunk
 * @pages: the chunk's pages.
 * @nr: how many @pages and @todo cover.
 * @todo: the pages to repoint; on return, those that were not.
 * @decoy: the decoy, from kvm_memext_dmap_decoy_alloc().
 * @hide: point the entries at the decoy (true) or back at the pages.
 * @block: @pages are one 2 MiB-aligned block, in order.
 *
 * A whole block is repointed in one write where one entry maps it (x86),
 * else page by page, batched where the architecture can (arm64: one
 * invalidation of every CPU's TLB for all of them).  A page that maps
 * what it should already counts as done.  Does not flush: the caller
 * calls kvm_memext_dmap_flush() for its batch.
 *
 * Return: 0, or the first negative errno met; the pages left in @todo
 * keep their entries (-EIO: not present, e.g. after memory failure).
 */
int kvm_memext_dmap_repoint(struct page **pages, unsigned int nr,
			    unsigned long *todo, struct page *decoy, bool hide,
			    bool block)
{
	int r;

	if (block && nr == KVM_MEMEXT_CHUNK_PAGES &&
	    bitmap_full(todo, KVM_MEMEXT_CHUNK_PAGES)) {
		r = kvm_memext_dmap_arch_block(pages[0], decoy, hide);
		if (!r)
			bitmap_zero(todo, KVM_MEMEXT_CHUNK_PAGES);
		/*
		 * Page by page only where no entry maps the block (-EAGAIN)
		 * or it was not as expected (-EIO: the pages tell which):
		 * after a failed split (-ENOMEM), 512 more would fail too.
		 */
		if (r != -EAGAIN && r != -EIO)
			return r;
	}
	return kvm_memext_dmap_arch_pages(pages, nr, todo, decoy, hide);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_repoint);

/**
 * kvm_memext_dmap_hide_page() - point one page's direct-map entry at a decoy
 * @page: a page the module owns, mapped as usual (on arm64, that nothing
 *	accesses: see KVM_MEMEXT_DMAP_BREAKS).
 * @decoy: the decoy, from kvm_memext_dmap_decoy_alloc().
 *
 * May split a larger entry first (x86's CPA, which may fail with
 * -ENOMEM).  Does not flush.
 *
 * Return: 0 or a negative errno; on error the entry is unchanged.
 */
int kvm_memext_dmap_hide_page(struct page *page, struct page *decoy)
{
	unsigned long todo = 1;

	return kvm_memext_dmap_arch_pages(&page, 1, &todo, decoy, true);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_hide_page);

/**
 * kvm_memext_dmap_show_page() - point one page's direct-map entry back at it
 * @page: a page the module owns (on arm64, that nothing accesses).
 * @decoy: the decoy it was hidden with.
 *
 * May split the 2 MiB entry of a hidden block first.  Does not flush.
 *
 * Return: 0, -EIO if the entry is not present (memory failure), or another
 * negative errno; on error the entry is unchanged.
 */
int kvm_memext_dmap_show_page(struct page *page, struct page *decoy)
{
	unsigned long todo = 1;

	return kvm_memext_dmap_arch_pages(&page, 1, &todo, decoy, false);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_show_page);
