// SPDX-License-Identifier: GPL-2.0-only
/*
 * The direct-map entries of private pages on x86-64 (see directmap.c).
 *
 * Only exported primitives are used, and no kernel function is called
 * through a pointer: lookup_address() finds an entry; set_memory_uc() and
 * set_memory_wb() have CPA split a large entry for us (its own locking,
 * page-table allocation and DirectMap accounting); the TLB flush is our
 * own (INVPCID, else __flush_tlb_all() or the same CR4.PGE toggle, see
 * kvm_memext_flush_tlb_global() in compat.h) on every CPU.  The module
 * writes an entry itself only when it owns every page the entry maps: a
 * 2 MiB leaf over a 2 MiB block of its own, or the 4 KiB PTE of one of its
 * pages; it reads the entry back after each write.  CPA changes the
 * entries of the pages its caller owns, so no other CPA call writes these:
 * memory failure returns -EBUSY for the module's pages (not on the LRU)
 * before set_mce_nospec() could clear an entry, and the collapse that
 * set_memory_rox() asks for (7.3) needs all 512 entries under a 2 MiB
 * range to have the ROX target's bits and contiguous pfns, which a
 * writable entry of ours, or one mapping a decoy, never has.  A page whose
 * entry is found not present anyway is never put back (it stays with the
 * module, counted as leaked).
 *
 * CPA's split (set_memory_uc() then set_memory_wb()) of the entry of a
 * hidden page marks, for the moment between the two calls, a 4 KiB entry
 * that maps a decoy page UC- while the decoy's other mappings are
 * write-back.  The decoy holds nothing but what stray writes leave, but
 * the SDM discourages such aliases; splits are rare (a clock page, part of
 * a block in a file whose owner may split) and counted in cpa_splits.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/set_memory.h>
#include <linux/smp.h>
#include <asm/invpcid.h>
#include <asm/tlbflush.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"

static_assert(PG_LEVEL_4K == KVM_MEMEXT_DMAP_4K && PG_LEVEL_2M == KVM_MEMEXT_DMAP_2M &&
	      PG_LEVEL_1G == KVM_MEMEXT_DMAP_1G);

/*
 * The entry over @addr, its level, and the pfn it maps @addr to (0 when
 * it is not present).  Returns NULL when the direct map has no entry.
 */
pte_t *kvm_memext_dmap_lookup(unsigned long addr, unsigned int *level,
			      unsigned long *pfn, bool *writable)
{
	pte_t *kpte = lookup_address(addr, level);
	unsigned long off;
	pte_t pte;

	if (!kpte)
		return NULL;
	pte = READ_ONCE(*kpte);
	*pfn = 0;
	*writable = pte_write(pte);
	if (!pte_present(pte))
		return kpte;
	off = (addr & ~page_level_mask(*level)) >> PAGE_SHIFT;
	switch (*level) {
	case PG_LEVEL_4K:
		*pfn = pte_pfn(pte);
		break;
	case PG_LEVEL_2M:
		*pfn = pmd_pfn(__pmd(pte_val(pte))) + off;
		break;
	case PG_LEVEL_1G:
		*pfn = pud_pfn(__pud(pte_val(pte))) + off;
		break;
	default:
		*pfn = 0;
	}
	return kpte;
}

/**
 * kvm_memext_dmap_present() - whether the direct map maps a page as usual
 * @page: the page.
 *
 * Return: true if the page's direct-map address translates to the page
 * itself, present and writable, as the allocator's next user expects.
 */
bool kvm_memext_dmap_present(struct page *page)
{
	unsigned int level;
	pte_t *kpte;

	if (kvm_memext_dmap_pfn(page, NULL) != page_to_pfn(page))
		return false;
	/* Write-back, as the allocator's next user expects (not left UC-). */
	kpte = lookup_address(kvm_memext_dmap_addr(page), &level);
	return kpte && !(pte_flags(READ_ONCE(*kpte)) & (_PAGE_PCD | _PAGE_PWT));
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_present);

/*
 * Have CPA split the entry over [addr, addr + nr pages) into entries no
 * larger than the range: changing the memory type of the range and back
 * is an exported request that splits exactly what it must.
 */
static int dmap_split(unsigned long addr, int nr)
{
	int r;

	r = set_memory_uc(addr, nr);
	if (r)
		return r;
	r = set_memory_wb(addr, nr);
	if (r)
		pr_err_ratelimited("direct map at %#lx left uncached: %d\n", addr, r);
	atomic_long_inc(&kvm_memext_privmem_stats.splits);
	return r;
}

/*
 * Point a 4 KiB entry (or a 2 MiB leaf) of ours at @pfn, keeping its bits,
 * and read it back: an entry that does not then map @pfn, present and
 * writable at that level, means that something else edits entries of ours
 * (a kernel whose CPA changed): -EIO, said once.
 */
static int dmap_set(unsigned long addr, pte_t *kpte, unsigned int level,
		    unsigned long pfn)
{
	pte_t pte = READ_ONCE(*kpte);
	unsigned long now;
	unsigned int lvl;
	bool writable;

	if (level == PG_LEVEL_2M) {
		pmd_t pmd = __pmd(pte_val(pte));

		set_pmd((pmd_t *)kpte, pfn_pmd(pfn, pmd_pgprot(pmd)));
	} else {
		set_pte(kpte, pfn_pte(pfn, pte_pgprot(pte)));
	}
	if (kvm_memext_dmap_lookup(addr, &lvl, &now, &writable) == kpte && lvl == level &&
	    now == pfn && writable)
		return 0;
	pr_err_once("direct-map entry of %#lx changed under the module (level %u, pfn %#lx, want %#lx)\n",
		    addr, lvl, now, pfn);
	return -EIO;
}

/*
 * Point the 4 KiB entry of @page from @from (a pfn) at @to, splitting a
 * larger entry first.  Nothing to do when it maps @to already.
 */
static int dmap_repoint_page(struct page *page, unsigned long from,
			     unsigned long to)
{
	unsigned long addr = kvm_memext_dmap_addr(page), pfn;
	unsigned int level;
	bool writable;
	pte_t *kpte;
	int r;

	kpte = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
	if (!kpte)
		return -EFAULT;
	if (pfn == to && writable)
		return 0;
	/* Poisoned (memory failure), or not the state the caller knows. */
	if (pfn != from || !writable)
		return -EIO;
	if (level != PG_LEVEL_4K) {
		r = dmap_split(addr, 1);
		if (r)
			return r;
		kpte = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
		if (!kpte || level != PG_LEVEL_4K || pfn != from || !writable)
			return -EIO;
	}
	return dmap_set(addr, kpte, PG_LEVEL_4K, to);
}

/* Each page of @todo on its own: CPA splits per page anyway. */
int kvm_memext_dmap_arch_pages(struct page **pages, unsigned int nr,
			       unsigned long *todo, struct page *decoy,
			       bool hide)
{
	unsigned long from, to;
	unsigned int i;
	int r = 0, e;

	for_each_set_bit(i, todo, nr) {
		kvm_memext_dmap_frames(pages[i], decoy, hide, &from, &to);
		e = dmap_repoint_page(pages[i], from, to);
		if (e)
			r = r ?: e;
		else
			__clear_bit(i, todo);
	}
	return r;
}

/**
 * kvm_memext_dmap_split() - give a page of the module an entry of its own
 * @page: a page the module owns, shown or hidden.
 * @block: an entry no larger than 2 MiB suffices (@page heads a 2 MiB
 *	block of the module's); else a 4 KiB one.
 *
 * Lets a later show or hide of the page (or block) succeed without
 * allocating; the entry keeps mapping what it maps.  Does not flush.
 *
 * Return: 0, or the negative errno of CPA's split (-ENOMEM).
 */
int kvm_memext_dmap_split(struct page *page, bool block)
{
	unsigned long addr = kvm_memext_dmap_addr(page), pfn, now = 0;
	unsigned int level, want = block ? PG_LEVEL_2M : PG_LEVEL_4K;
	bool writable;
	int r;

	if (!kvm_memext_dmap_lookup(addr, &level, &pfn, &writable))
		return -EFAULT;
	/* Not present (memory failure): nothing will repoint it. */
	if (level <= want || !pfn)
		return 0;
	r = dmap_split(addr, block ? KVM_MEMEXT_CHUNK_PAGES : 1);
	if (r)
		return r;
	/*
	 * CPA's split keeps the frame each address maps (the decoy's, for a
	 * hidden page); were it to rebuild the entries from __pa(), hidden
	 * pages would be shown while their chunk says hidden.
	 */
	if (kvm_memext_dmap_lookup(addr, &level, &now, &writable) && !now)
		return 0;	/* memory failure meanwhile, as above */
	if (level > want || now != pfn) {
		pr_err_once("the direct map at %#lx changed in a split: level %u, pfn %#lx, was %#lx\n",
			    addr, level, now, pfn);
		return -EIO;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_split);

/*
 * A whole 2 MiB block in one write to the 2 MiB leaf over it (a 1 GiB
 * entry is split into 2 MiB ones first, once); -EAGAIN when no such leaf
 * maps it: page by page then.
 */
int kvm_memext_dmap_arch_block(struct page *page, struct page *decoy,
			       bool hide)
{
	unsigned long addr = kvm_memext_dmap_addr(page), pfn, from, to;
	unsigned int level;
	bool writable;
	pte_t *kpte;
	int r;

	if (!IS_ALIGNED(page_to_pfn(page), KVM_MEMEXT_CHUNK_PAGES))
		return -EINVAL;
	kvm_memext_dmap_frames(page, decoy, hide, &from, &to);
	kpte = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
	if (!kpte)
		return -EFAULT;
	if (level > PG_LEVEL_2M && hide) {
		r = dmap_split(addr, KVM_MEMEXT_CHUNK_PAGES);
		if (r)
			return r;
		kpte = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
		if (!kpte)
			return -EFAULT;
	}
	if (level != PG_LEVEL_2M || !writable || (pfn != from && pfn != to))
		return -EAGAIN;
	return pfn == from ? dmap_set(addr, kpte, PG_LEVEL_2M, to) : 0;
}

/*
 * Every translation on this CPU, in every PCID, global ones and the
 * paging-structure caches included: INVPCID's all-context flush where the
 * CPU has it, else kvm_memext_flush_tlb_global() (compat.h): the kernel's
 * __flush_tlb_all() where it is exported to us (before 6.18), else the
 * same CR4.PGE toggle, which writes back the value it read.
 */
static void dmap_flush_cpu(void *unused)
{
	if (boot_cpu_has(X86_FEATURE_INVPCID))
		invpcid_flush_all();
	else
		kvm_memext_flush_tlb_global();
}

/**
 * kvm_memext_dmap_flush() - flush the direct-map translations of all CPUs
 *
 * One IPI to every online CPU, as flush_tlb_kernel_range() sends for any
 * range above its single-page ceiling (a 2 MiB chunk is far above it).
 */
void kvm_memext_dmap_flush(void)
{
	on_each_cpu(dmap_flush_cpu, NULL, 1);
	atomic_long_inc(&kvm_memext_privmem_stats.tlb_flushes);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_dmap_flush);

/**
 * kvm_memext_dmap_init() - check that the direct map can be edited here
 *
 * Return: 0, or -EOPNOTSUPP where the direct map cannot be edited this
 * way (Xen PV: its page tables are the hypervisor's).
 */
int __init kvm_memext_dmap_init(void)
{
	if (boot_cpu_has(X86_FEATURE_XENPV))
		return -EOPNOTSUPP;
	/* The CR4.PGE toggle of kvm_memext_flush_tlb_global() needs PGE. */
	if (!boot_cpu_has(X86_FEATURE_INVPCID) && !boot_cpu_has(X86_FEATURE_PGE))
		return -EOPNOTSUPP;
	return 0;
}
