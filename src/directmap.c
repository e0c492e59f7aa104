// SPDX-License-Identifier: GPL-2.0-only
/*
 * Taking pages out of the kernel direct map and putting them back, with the
 * primitives resolve.c found.
 *
 * A 2 MiB-aligned block goes out and comes back in one call, so that x86's
 * change_page_attr() keeps (or restores) the 2 MiB direct-map entry instead
 * of splitting it into 4 KiB entries, and costs one TLB flush.  Single pages
 * (4 KiB fallback chunks, accessible ranges) go one by one and split the
 * entry that covers them; their caller batches the flush.
 */
#include <linux/mm.h>
#include <linux/set_memory.h>

#include "kvm_memext.h"

struct kvm_memext_privmem_stats kvm_memext_privmem_stats;

static void kvm_memext_dmap_flushed(void)
{
	atomic_long_inc(&kvm_memext_privmem_stats.tlb_flushes);
}

/**
 * kvm_memext_dmap_remove_block() - take contiguous pages out of the direct map
 * @page: first page.
 * @nr: number of pages.
 *
 * Flushes the TLB once.  On error some pages may be out: restore them all.
 *
 * Return: 0 or a negative errno (-ENOMEM when a page table is needed).
 */
int kvm_memext_dmap_remove_block(struct page *page, unsigned int nr)
{
	unsigned long addr = (unsigned long)page_address(page);
	int r;

	if (kvm_memext_syms.set_direct_map_valid_noflush) {
		r = kvm_memext_syms.set_direct_map_valid_noflush(page, nr, false);
		kvm_memext_dmap_flush(addr, addr + nr * PAGE_SIZE);
		return r;
	}
	/* set_memory_np() flushes by itself. */
	r = kvm_memext_syms.set_memory_np(addr, nr);
	kvm_memext_dmap_flushed();
	return r;
}

/**
 * kvm_memext_dmap_restore_block() - put contiguous pages back into the
 *	direct map
 * @page: first page.
 * @nr: number of pages.
 *
 * Return: 0 or a negative errno.
 */
int kvm_memext_dmap_restore_block(struct page *page, unsigned int nr)
{
	unsigned long addr = (unsigned long)page_address(page);
	unsigned int i;
	int r;

	if (kvm_memext_syms.set_direct_map_valid_noflush)
		return kvm_memext_syms.set_direct_map_valid_noflush(page, nr, true);
	if (kvm_memext_syms.set_memory_p) {
		r = kvm_memext_syms.set_memory_p(addr, nr);
		kvm_memext_dmap_flushed();
		return r;
	}
	/* 6.1: page by page, which splits a 2 MiB entry. */
	for (i = 0; i < nr; i++) {
		r = kvm_memext_dmap_restore_page(page + i);
		if (r)
			return r;
	}
	return 0;
}

/**
 * kvm_memext_dmap_remove_page() - take one page out of the direct map
 * @page: the page.
 *
 * Does not flush: the caller calls kvm_memext_dmap_flush() for its batch.
 *
 * Return: 0 or a negative errno.
 */
int kvm_memext_dmap_remove_page(struct page *page)
{
	return kvm_memext_syms.set_direct_map_invalid_noflush(page);
}

/**
 * kvm_memext_dmap_restore_page() - put one page back into the direct map
 * @page: the page.
 *
 * A not-present entry is never cached by the TLB, so there is no flush.
 *
 * Return: 0 or a negative errno.
 */
int kvm_memext_dmap_restore_page(struct page *page)
{
	return kvm_memext_syms.set_direct_map_default_noflush(page);
}

/**
 * kvm_memext_dmap_flush() - flush direct-map translations of a range
 * @start: first address.
 * @end: end of the range (exclusive).
 */
void kvm_memext_dmap_flush(unsigned long start, unsigned long end)
{
	kvm_memext_syms.flush_tlb_kernel_range(start, end);
	kvm_memext_dmap_flushed();
}

/**
 * kvm_memext_dmap_present() - whether the direct map maps a page as usual
 * @page: the page.
 *
 * Return: true if the page's direct-map entry is present and writable, as
 * the page allocator's next user expects.
 */
bool kvm_memext_dmap_present(struct page *page)
{
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)page_address(page), &level);

	return pte && pte_present(*pte) && pte_write(*pte);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_present);
