// SPDX-License-Identifier: GPL-2.0-only
/*
 * The mapping layer of guest-page caches (cache.c): from host virtual
 * addresses to page frames, and from page frames to kernel mappings.
 *
 * Pages are mapped with vmap() (struct-page memory) or ioremap() (IO
 * memory without struct page, with the host mapping's memory type), never
 * through the direct map: a cache keeps working on pages that were removed
 * from the direct map.  A range that mixes the two gets one mapping per
 * run of pages of one kind.  (vmap_pfn() would take IO pages too, but it
 * exists only on kernels where some driver selects CONFIG_VMAP_PFN.)
 *
 * Translation (which takes mmap_lock for read) and mapping run under the
 * cache's refresh_lock; unmapping also runs from invalidation and
 * deactivation.  Nothing here touches the cache itself.
 */
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/vmalloc.h>

#include "kvm_memext.h"
#include "arch.h"
#include "cache.h"
#include "trace.h"

/*
 * Split the pages into runs that one mapping can cover: RAM (vmap) and IO
 * memory (ioremap, physically contiguous) cannot share one,
 * nor can pages whose memory types differ.  Returns the number of runs;
 * addresses stay NULL.
 */
VISIBLE_IF_KUNIT unsigned int
kvm_memext_gpc_plan_maps(const unsigned long *pfn, const pgprot_t *prot,
			 unsigned int nr, struct kvm_memext_gpc_map *maps)
{
	unsigned int i, n = 0;

	for (i = 0; i < nr; i++) {
		bool io = !kvm_memext_pfn_is_ram(pfn[i]);

		if (n && maps[n - 1].io == io &&
		    pgprot_val(prot[i]) == pgprot_val(prot[i - 1]) &&
		    (!io || pfn[i] == pfn[i - 1] + 1)) {
			maps[n - 1].nr++;
			continue;
		}
		maps[n++] = (struct kvm_memext_gpc_map) {
			.first = i, .nr = 1, .io = io,
		};
	}
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_plan_maps);

/**
 * kvm_memext_gpc_unmap() - undo kvm_memext_gpc_map_pfns()
 * @maps: the mappings; unmapped ones are skipped, all are cleared
 * @nr: number of mappings
 */
void kvm_memext_gpc_unmap(struct kvm_memext_gpc_map *maps, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (maps[i].iomem)
			iounmap(maps[i].iomem);
		if (maps[i].addr)
			vunmap(maps[i].addr);
		maps[i].addr = NULL;
		maps[i].iomem = NULL;
	}
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_unmap);

static void gpc_trace_map(const struct kvm_memext_gpc_map *m,
			  unsigned long pfn, pgprot_t prot)
{
	const char *memtype;
	bool exec;

	kvm_memext_mapping_type(m->io ? (__force void *)m->iomem : m->addr, prot,
				m->io, &memtype, &exec);
	trace_kvm_memext_cache_map(pfn, m->nr, m->io, memtype, exec);
}

/**
 * kvm_memext_gpc_map_pfns() - map pages into fresh kernel virtual ranges
 * @pfn: the page frames
 * @prot: kernel protection of struct-page memory; host protection of IO
 *	  memory (only its memory type counts there)
 * @nr: number of pages
 * @maps: out: the mappings
 *
 * Never uses the direct map, never maps executable.  Pages of one run get
 * one contiguous mapping.
 *
 * Return: the number of mappings, or -ENOMEM.
 */
int kvm_memext_gpc_map_pfns(const unsigned long *pfn, const pgprot_t *prot,
			    unsigned int nr, struct kvm_memext_gpc_map *maps)
{
	struct page *pages[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned int n, i, j;

	n = kvm_memext_gpc_plan_maps(pfn, prot, nr, maps);
	for (i = 0; i < n; i++) {
		struct kvm_memext_gpc_map *m = &maps[i];

		if (m->io) {
			m->iomem = kvm_memext_ioremap_memtype(PFN_PHYS(pfn[m->first]),
							      (size_t)m->nr << PAGE_SHIFT,
							      prot[m->first]);
			if (!m->iomem)
				goto err_unmap;
		} else {
			for (j = 0; j < m->nr; j++)
				pages[j] = pfn_to_page(pfn[m->first + j]);
			m->addr = vmap(pages, m->nr, VM_MAP, prot[m->first]);
			if (!m->addr)
				goto err_unmap;
		}
		if (trace_kvm_memext_cache_map_enabled())
			gpc_trace_map(m, pfn[m->first], prot[m->first]);
	}
	return n;

err_unmap:
	kvm_memext_gpc_unmap(maps, i);
	return -ENOMEM;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_map_pfns);

/*
 * Protection for a page of a VM_IO/VM_PFNMAP host mapping: RAM gets a
 * kernel protection (kvm_memext_prot_memtype() says with which memory
 * type); IO memory keeps the host's protection, which
 * kvm_memext_ioremap_memtype() reads the memory type from.
 */
static pgprot_t gpc_pfnmap_prot(unsigned long pfn, pgprot_t host, bool write)
{
	pgprot_t prot = write ? PAGE_KERNEL : PAGE_KERNEL_RO;

	if (!kvm_memext_pfn_is_ram(pfn))
		return host;
	return kvm_memext_prot_memtype(prot, host);
}

/* The page frame, protection and writability of a VM_IO/VM_PFNMAP mapping. */
struct gpc_pfnmap {
	unsigned long pfn;
	pgprot_t prot;
	bool writable;
};

static int gpc_follow_pfnmap(struct vm_area_struct *vma, unsigned long hva,
			     struct gpc_pfnmap *pfnmap)
{
	struct follow_pfnmap_args args = { .vma = vma, .address = hva };
	int r = follow_pfnmap_start(&args);

	if (r)
		return r;
	pfnmap->pfn = args.pfn;
	/* A PMD or PUD leaf leaves no PTE pointer; the cache maps 4 KiB pages. */
	pfnmap->prot = args.ptep ? args.pgprot : kvm_memext_leaf_prot(args.pgprot);
	pfnmap->writable = args.writable;
	follow_pfnmap_end(&args);
	return 0;
}

/*
 * Host page frame behind @hva, with mmap_lock held for read.  Struct-page
 * memory comes through GUP with a reference in *@page, dropped once the
 * mapping is published (the notifier keeps it valid from then on, as in
 * KVM); VM_IO/VM_PFNMAP memory through its page tables, faulting it in
 * once if needed.  -EAGAIN: mmap_lock was dropped, start over.
 */
static int gpc_hva_to_pfn(struct mm_struct *mm, unsigned long hva,
			  bool write, unsigned long *pfn, pgprot_t *prot,
			  struct page **page)
{
	struct gpc_pfnmap pfnmap;
	struct vm_area_struct *vma;
	bool unlocked = false;
	long n;
	int r;

	*page = NULL;
	vma = vma_lookup(mm, hva);
	if (!vma)
		return -EFAULT;

	if (!(vma->vm_flags & (VM_IO | VM_PFNMAP))) {
		n = get_user_pages_remote(mm, hva, 1, write ? FOLL_WRITE : 0, page,
					  NULL);
		if (n != 1)
			return n < 0 ? n : -EFAULT;
		*pfn = page_to_pfn(*page);
		*prot = write ? PAGE_KERNEL : PAGE_KERNEL_RO;
		return 0;
	}

	r = gpc_follow_pfnmap(vma, hva, &pfnmap);
	if (r || (write && !pfnmap.writable)) {
		r = fixup_user_fault(mm, hva, write ? FAULT_FLAG_WRITE : 0,
				     &unlocked);
		if (unlocked)
			return -EAGAIN;
		if (r)
			return r;
		r = gpc_follow_pfnmap(vma, hva, &pfnmap);
		if (r || (write && !pfnmap.writable))
			return -EFAULT;
	}
	*pfn = pfnmap.pfn;
	*prot = gpc_pfnmap_prot(pfnmap.pfn, pfnmap.prot, write);
	return 0;
}

/**
 * kvm_memext_gpc_resolve() - the page frames behind host virtual addresses
 * @mm: the VM's mm, referenced by the caller
 * @uhva: page-aligned host addresses
 * @nr: number of pages
 * @write: the pages will be written
 * @pfn: out: page frames
 * @prot: out: protection to map each page with (see gpc_pfnmap_prot())
 * @pages: out: a reference per struct-page page, NULL for IO memory
 *
 * Takes mmap_lock for read.  On success the references in @pages are the
 * caller's to drop (kvm_memext_gpc_put_pages()).
 *
 * Return: 0, -EFAULT (no usable mapping), -EINTR (fatal signal), or an
 * error of GUP or fault handling.
 */
int kvm_memext_gpc_resolve(struct mm_struct *mm, const unsigned long *uhva,
			   unsigned int nr, bool write, unsigned long *pfn,
			   pgprot_t *prot, struct page **pages)
{
	unsigned int i;
	int r;

again:
	mmap_read_lock(mm);
	for (i = 0; i < nr; i++) {
		r = gpc_hva_to_pfn(mm, uhva[i], write, &pfn[i], &prot[i],
				   &pages[i]);
		if (r)
			break;
	}
	mmap_read_unlock(mm);
	if (r) {
		while (i--)
			if (pages[i])
				put_page(pages[i]);
		if (r == -EAGAIN && !fatal_signal_pending(current))
			goto again;
	}
	return r == -EAGAIN ? -EINTR : r;
}

/**
 * kvm_memext_gpc_put_pages() - drop the references kvm_memext_gpc_resolve() took
 * @pages: the references, NULL entries for IO memory
 * @nr: number of entries
 */
void kvm_memext_gpc_put_pages(struct page **pages, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (pages[i])
			put_page(pages[i]);
}
