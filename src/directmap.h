/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_DIRECTMAP_H
#define _KVM_MEMEXT_DIRECTMAP_H

/* Taking pages out of the kernel's direct map and back (directmap.c). */

#include <linux/mm.h>

#include "privmem.h"

/* The size of a direct-map entry, as kvm_memext_dmap_pfn() reports it. */
#define KVM_MEMEXT_DMAP_4K	1
#define KVM_MEMEXT_DMAP_2M	2
#define KVM_MEMEXT_DMAP_1G	3

/*
 * Repointing an entry makes the page's direct-map address fault for a
 * moment (arm64's break-before-make): callers first unmap pages that
 * userspace, and so KVM, may reach.
 */
#define KVM_MEMEXT_DMAP_BREAKS	IS_ENABLED(CONFIG_ARM64)

int kvm_memext_dmap_init(void);
struct page *kvm_memext_dmap_decoy_alloc(gfp_t gfp);
void kvm_memext_dmap_decoy_free(struct page *decoy);
int kvm_memext_dmap_repoint(struct page **pages, unsigned int nr,
			    unsigned long *todo, struct page *decoy, bool hide,
			    bool block);
int kvm_memext_dmap_hide_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_show_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_split(struct page *page, bool block);
void kvm_memext_dmap_flush(void);
unsigned long kvm_memext_dmap_pfn(struct page *page, unsigned int *level);
bool kvm_memext_dmap_present(struct page *page);
bool kvm_memext_dmap_hidden(struct page *page);
bool kvm_memext_dmap_check_decoy(struct page *decoy);

/* What each architecture provides (directmap_x86.c, directmap_arm64.c). */

pte_t *kvm_memext_dmap_lookup(unsigned long addr, unsigned int *level,
			      unsigned long *pfn, bool *writable);
int kvm_memext_dmap_arch_block(struct page *page, struct page *decoy,
			       bool hide);
int kvm_memext_dmap_arch_pages(struct page **pages, unsigned int nr,
			       unsigned long *todo, struct page *decoy,
			       bool hide);

static inline unsigned long kvm_memext_dmap_addr(struct page *page)
{
	return (unsigned long)page_address(page);
}

/*
 * The frames @page's entry maps before and after a hide (or a show): the
 * page itself, and the page at the same offset of @decoy's 2 MiB block.
 */
static inline void kvm_memext_dmap_frames(struct page *page,
					  struct page *decoy, bool hide,
					  unsigned long *from,
					  unsigned long *to)
{
	unsigned long self = page_to_pfn(page);
	unsigned long other = page_to_pfn(decoy) +
			      (self & (KVM_MEMEXT_CHUNK_PAGES - 1));

	*from = hide ? self : other;
	*to = hide ? other : self;
}

#endif /* _KVM_MEMEXT_DIRECTMAP_H */
