/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_DIRECTMAP_H
#define _KVM_MEMEXT_DIRECTMAP_H

/* Taking pages out of the kernel's direct map and back (directmap.c). */

#include <linux/mm_types.h>

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
int kvm_memext_dmap_hide_block(struct page *page, struct page *decoy);
int kvm_memext_dmap_show_block(struct page *page, struct page *decoy);
int kvm_memext_dmap_hide_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_show_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_split(struct page *page, bool block);
void kvm_memext_dmap_flush(void);
unsigned long kvm_memext_dmap_pfn(struct page *page, unsigned int *level);
bool kvm_memext_dmap_present(struct page *page);
bool kvm_memext_dmap_hidden(struct page *page);
bool kvm_memext_dmap_check_decoy(struct page *decoy);

#endif /* _KVM_MEMEXT_DIRECTMAP_H */
