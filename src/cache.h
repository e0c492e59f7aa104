/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_CACHE_INTERNAL_H
#define _KVM_MEMEXT_CACHE_INTERNAL_H

/*
 * Guest-page caches (cache.c), their kernel mappings (cache_map.c) and
 * their first consumer, vCPU runstate areas (runstate.c).  The caches' API
 * for other modules is <linux/kvm_memext_cache.h>.
 */

#include <linux/kvm_memext_cache.h>

#include "kvm_memext.h"

/* cache.c */
void kvm_memext_cache_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_cache_release_vm(struct kvm_memext_vm *vm);
/* cache_map.c */
int kvm_memext_gpc_resolve(struct mm_struct *mm, const unsigned long *uhva,
			   unsigned int nr, bool write, unsigned long *pfn,
			   pgprot_t *prot, struct page **pages);
void kvm_memext_gpc_put_pages(struct page **pages, unsigned int nr);
int kvm_memext_gpc_map_pfns(const unsigned long *pfn, const pgprot_t *prot,
			    unsigned int nr, struct kvm_memext_gpc_map *maps);
void kvm_memext_gpc_unmap(struct kvm_memext_gpc_map *maps, unsigned int nr);

long kvm_memext_runstate_ioctl(struct kvm_memext_vm *vm, unsigned int ioctl,
			       void __user *argp);
void kvm_memext_runstate_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_runstate_release_vm(struct kvm_memext_vm *vm);

#if IS_ENABLED(CONFIG_KUNIT)
int kvm_memext_gpc_span(u64 gpa, unsigned long len, unsigned int *nr_pages);
bool kvm_memext_gpc_overlaps(const unsigned long *uhva, unsigned int nr,
			     unsigned long start, unsigned long end);
bool kvm_memext_gpc_fresh(const struct kvm_memext_gpc *gpc, u64 generation);
unsigned int kvm_memext_gpc_plan_maps(const unsigned long *pfn,
				      const pgprot_t *prot, unsigned int nr,
				      struct kvm_memext_gpc_map *maps);
void kvm_memext_mn_start(struct kvm_memext_vm *vm, unsigned long start,
			 unsigned long end);
void kvm_memext_mn_end(struct kvm_memext_vm *vm);
void kvm_memext_mn_teardown(struct kvm_memext_vm *vm, unsigned long start,
			    unsigned long end);
bool kvm_memext_mn_retry(struct kvm_memext_vm *vm, unsigned long seq);
#endif

#endif /* _KVM_MEMEXT_CACHE_INTERNAL_H */
