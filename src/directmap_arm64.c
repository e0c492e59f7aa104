// SPDX-License-Identifier: GPL-2.0-only
/*
 * The linear-map entries of private pages on arm64 (see directmap.c).
 *
 * Nothing that edits the linear map is exported (set_direct_map_*(),
 * set_memory_valid(), init_mm on newer kernels), so the module walks the
 * kernel's page tables itself from TTBR1_EL1, which holds swapper_pg_dir
 * whenever the kernel runs (TTBR1_EL2 under VHE, which the same accessor
 * reads), with the generic p4d/pud/pmd/pte helpers that fold levels at
 * run time as the kernel's own walkers do.
 *
 * It rewrites only 4 KiB entries of pages it owns, and only where the
 * linear map is page-granular (rodata=full, Debian's default, or
 * debug_pagealloc: no block or contiguous entries, which it refuses), so
 * no split is ever needed and no entry of another page is touched.
 * Changing the output address of a live entry needs break-before-make:
 * the entry is made invalid, its translation invalidated on every CPU
 * (TLBI VAALE1IS, or one VMALLE1IS for a batch of more than a few pages
 * of a chunk), and only then pointed at its new frame.  While it is invalid, an access to
 * the page's linear address would fault, so callers guarantee that
 * nothing reaches it then: a page is repointed either before anything
 * maps it (a fresh page) or after it was unmapped from userspace, and so
 * from KVM's stage 2, under the file's lock that faults take
 * (KVM_MEMEXT_DMAP_BREAKS).  KVM/arm64 reaches a guest page
 * through the linear map only to clean it to the point of coherency
 * (without FEAT_S2FWB: refused here, as that clean would hit the decoy)
 * and to invalidate the instruction cache when it maps the page
 * executable (without CTR_EL0.DIC): both happen while it maps the page,
 * which the unmap and the lock exclude.  Without DIC a page's stale
 * instructions are invalidated before it is hidden: through its own
 * alias, or for a batch of many pages all instruction caches at once.
 * With MTE, KVM_ARM_MTE_COPY_TAGS writes tags through the linear map at
 * any time: refused.
 *
 * Invalid entries are never cached, so after break-before-make no CPU
 * holds the old translation: kvm_memext_dmap_flush() has nothing left to
 * invalidate.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/sizes.h>
#include <asm/cacheflush.h>
#include <asm/cpufeature.h>
#include <asm/sysreg.h>
#include <asm/tlbflush.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"

/* swapper_pg_dir, through the linear map (kvm_memext_dmap_init()). */
static pgd_t *dmap_pgd;

/* The inverse of phys_to_ttbr(): PA[51:48] sit in BADDR[5:2]. */
static phys_addr_t dmap_ttbr_to_phys(u64 ttbr)
{
	u64 baddr = ttbr & TTBR_BADDR_MASK_52;

	if (!IS_ENABLED(CONFIG_ARM64_PA_BITS_52))
		return ttbr & GENMASK_ULL(47, 1);
	return (baddr & GENMASK_ULL(47, 6)) | ((baddr & GENMASK_ULL(5, 2)) << 46);
}

/*
 * The entry over @addr, its size, and the pfn it maps @addr to (0 when
 * it is not valid).  Returns NULL when no entry maps @addr; a block or
 * contiguous entry is returned with its size, for callers to refuse.
 */
pte_t *kvm_memext_dmap_lookup(unsigned long addr, unsigned int *level,
			      unsigned long *pfn, bool *writable)
{
	pgd_t *pgdp = pgd_offset_pgd(dmap_pgd, addr);
	p4d_t *p4dp;
	pud_t *pudp, pud;
	pmd_t *pmdp, pmd;
	pte_t *ptep, pte;

	*pfn = 0;
	*writable = false;
	if (pgd_none(READ_ONCE(*pgdp)))
		return NULL;
	p4dp = p4d_offset(pgdp, addr);
	if (p4d_none(READ_ONCE(*p4dp)))
		return NULL;
	pudp = pud_offset(p4dp, addr);
	pud = READ_ONCE(*pudp);
	if (pud_none(pud))
		return NULL;
	if (pud_leaf(pud)) {
		*level = KVM_MEMEXT_DMAP_1G;
		*pfn = pud_pfn(pud) + ((addr & ~PUD_MASK) >> PAGE_SHIFT);
		*writable = pte_write(pud_pte(pud));
		return (pte_t *)pudp;
	}
	pmdp = pmd_offset(pudp, addr);
	pmd = READ_ONCE(*pmdp);
	if (pmd_none(pmd))
		return NULL;
	if (pmd_leaf(pmd)) {
		*level = KVM_MEMEXT_DMAP_2M;
		*pfn = pmd_pfn(pmd) + ((addr & ~PMD_MASK) >> PAGE_SHIFT);
		*writable = pte_write(pmd_pte(pmd));
		return (pte_t *)pmdp;
	}
	ptep = pte_offset_kernel(pmdp, addr);
	pte = READ_ONCE(*ptep);
	*level = KVM_MEMEXT_DMAP_4K;
	if (pte_valid(pte)) {
		*pfn = pte_pfn(pte);
		*writable = pte_write(pte) && !pte_rdonly(pte);
	}
	return ptep;
}

/*
 * The PTE table of the last entry walked to.  The pages of a 2 MiB block
 * share one, and a page-granular linear map keeps its tables for as long
 * as its memory is online, which ours stays while we own a page of it:
 * one walk serves a whole chunk.
 */
struct dmap_walk {
	unsigned long base;	/* PMD-aligned linear address of @table */
	pte_t *table;
};

/* The 4 KiB entry of @addr, or NULL where none maps it. */
static pte_t *dmap_pte(struct dmap_walk *w, unsigned long addr)
{
	unsigned long pfn;
	unsigned int level;
	bool writable;
	pte_t *ptep;

	if (w->table && (addr & PMD_MASK) == w->base)
		return w->table + pte_index(addr);
	ptep = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
	if (!ptep || level != KVM_MEMEXT_DMAP_4K)
		return NULL;
	w->base = addr & PMD_MASK;
	w->table = ptep - pte_index(addr);
	return ptep;
}

/*
 * Whether @pte maps @pfn, writable and not as part of a contiguous
 * range: the only kind of entry the module rewrites.
 */
static bool dmap_own(pte_t pte, unsigned long pfn)
{
	return pte_valid(pte) && pte_pfn(pte) == pfn && pte_write(pte) &&
	       !pte_rdonly(pte) && !pte_cont(pte);
}

/*
 * Without CTR_EL0.DIC, KVM invalidates the instruction cache through the
 * linear map when it maps a page executable, which for a hidden page
 * reaches the decoy: clear a page's stale instructions (a binary's page
 * cache, before the allocator gave it to us) while its alias still works.
 */
static void dmap_sync_icache(unsigned long addr)
{
	if (!cpus_have_final_cap(ARM64_HAS_CACHE_DIC))
		caches_clean_inval_pou(addr, addr + PAGE_SIZE);
}

/* Why the entry of @addr is not one the module rewrites. */
static int dmap_refusal(unsigned long addr)
{
	unsigned long pfn;
	unsigned int level;
	bool writable;
	pte_t *ptep;

	ptep = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
	if (!ptep)
		return -EFAULT;
	/* A block entry; else poisoned, or not the state the caller knows. */
	if (level != KVM_MEMEXT_DMAP_4K || pte_cont(READ_ONCE(*ptep)))
		return -EOPNOTSUPP;
	return -EIO;
}

/* Break-before-make of one entry, for one whose bits differ. */
static void dmap_repoint_one(unsigned long addr, pte_t *ptep,
			     unsigned long to)
{
	pgprot_t prot = pte_pgprot(READ_ONCE(*ptep));

	__set_pte_nosync(ptep, __pte(0));
	flush_tlb_kernel_range(addr, addr + PAGE_SIZE);
	__set_pte_nosync(ptep, pfn_pte(to, prot));
	dsb(ishst);
	isb();
}

/*
 * Whether the entry @ptep of @addr maps @to now, as a repoint left it:
 * clears @i in @todo, else -EIO (said once).
 */
static int dmap_check(unsigned long addr, pte_t *ptep, unsigned long to,
		      unsigned long *todo, unsigned int i)
{
	if (!dmap_own(READ_ONCE(*ptep), to)) {
		pr_err_once("linear-map entry of %#lx changed under the module\n",
			    addr);
		return -EIO;
	}
	__clear_bit(i, todo);
	return 0;
}

/*
 * Up to this many pages, a batch invalidates each page's translation
 * (TLBI VAALE1IS, which waits for every CPU) and instructions (IC IVAU
 * per line); above, everything at once (TLBI VMALLE1IS, IC IALLUIS),
 * which the kernel itself does only above 512 pages but which costs
 * every CPU no more than refilling its TLB and instruction cache.  A
 * chunk's pages lie anywhere in the linear map, so one range would not
 * do, and 2 MiB by line is 32768 broadcast IC IVAU.
 */
#define DMAP_TLBI_PAGES	16

/*
 * Break-before-make over the entries of @todo's pages at once: make them
 * all invalid, invalidate their translations on every CPU once, then
 * point each at its new frame with the first one's bits.  The linear map
 * gives every page the same bits; one whose bits differ gets a break of
 * its own.
 */
int kvm_memext_dmap_arch_pages(struct page **pages, unsigned int nr,
			       unsigned long *todo, struct page *decoy,
			       bool hide)
{
	DECLARE_BITMAP(go, KVM_MEMEXT_CHUNK_PAGES);
	bool icache = hide && !cpus_have_final_cap(ARM64_HAS_CACHE_DIC);
	bool all = bitmap_weight(todo, nr) > DMAP_TLBI_PAGES;
	struct dmap_walk w = {};
	unsigned long addr, from, to;
	pgprot_t prot = __pgprot(0);
	unsigned int i, n = 0;
	pte_t *ptep, pte;
	int r = 0, e;

	if (WARN_ON_ONCE(nr > KVM_MEMEXT_CHUNK_PAGES))
		return -EINVAL;
	bitmap_zero(go, KVM_MEMEXT_CHUNK_PAGES);
	for_each_set_bit(i, todo, nr) {
		addr = kvm_memext_dmap_addr(pages[i]);
		kvm_memext_dmap_frames(pages[i], decoy, hide, &from, &to);
		ptep = dmap_pte(&w, addr);
		pte = ptep ? READ_ONCE(*ptep) : __pte(0);
		if (ptep && dmap_own(pte, to)) {
			__clear_bit(i, todo);
			continue;
		}
		if (!ptep || !dmap_own(pte, from)) {
			r = r ?: dmap_refusal(addr);
			continue;
		}
		if (icache && !all)
			dmap_sync_icache(addr);
		if (n && pgprot_val(pte_pgprot(pte)) != pgprot_val(prot)) {
			dmap_repoint_one(addr, ptep, to);
			e = dmap_check(addr, ptep, to, todo, i);
			r = r ?: e;
			continue;
		}
		if (!n++)
			prot = pte_pgprot(pte);
		__set_bit(i, go);
		__set_pte_nosync(ptep, __pte(0));
	}
	/* No alias is needed to drop every line: after the breaks is fine. */
	if (icache && all)
		icache_inval_all_pou();
	if (n > DMAP_TLBI_PAGES) {
		flush_tlb_all();
	} else {
		for_each_set_bit(i, go, nr) {
			addr = kvm_memext_dmap_addr(pages[i]);
			flush_tlb_kernel_range(addr, addr + PAGE_SIZE);
		}
	}
	/*
	 * The invalid entries, in the PTE tables they were in: nothing else
	 * rewrites our pages' entries in a page-granular linear map.
	 */
	for_each_set_bit(i, go, nr) {
		kvm_memext_dmap_frames(pages[i], decoy, hide, &from, &to);
		ptep = dmap_pte(&w, kvm_memext_dmap_addr(pages[i]));
		if (!WARN_ON_ONCE(!ptep))
			__set_pte_nosync(ptep, pfn_pte(to, prot));
	}
	dsb(ishst);
	isb();
	for_each_set_bit(i, go, nr) {
		addr = kvm_memext_dmap_addr(pages[i]);
		kvm_memext_dmap_frames(pages[i], decoy, hide, &from, &to);
		ptep = dmap_pte(&w, addr);
		e = ptep ? dmap_check(addr, ptep, to, todo, i) : -EIO;
		r = r ?: e;
	}
	return r;
}

/* Every block goes page by page: the linear map has no 2 MiB entries here. */
int kvm_memext_dmap_arch_block(struct page *page, struct page *decoy,
			       bool hide)
{
	return -EAGAIN;
}

/**
 * kvm_memext_dmap_present() - whether the linear map maps a page as usual
 * @page: the page.
 *
 * Return: true if the page's linear address translates to the page
 * itself, valid, writable and Normal memory, as the allocator's next user
 * expects.
 */
bool kvm_memext_dmap_present(struct page *page)
{
	unsigned long addr = kvm_memext_dmap_addr(page), pfn;
	unsigned int level;
	bool writable;
	pte_t *ptep;
	u64 attr;

	ptep = kvm_memext_dmap_lookup(addr, &level, &pfn, &writable);
	if (!ptep || pfn != page_to_pfn(page) || !writable)
		return false;
	attr = pte_val(READ_ONCE(*ptep)) & PTE_ATTRINDX_MASK;
	return attr == PTE_ATTRINDX(MT_NORMAL) ||
	       attr == PTE_ATTRINDX(MT_NORMAL_TAGGED);
}

/**
 * kvm_memext_dmap_split() - give a page of the module an entry of its own
 * @page: a page the module owns.
 * @block: unused: every entry the module rewrites is 4 KiB already.
 *
 * Return: 0, or -EOPNOTSUPP where a block entry maps the page.
 */
int kvm_memext_dmap_split(struct page *page, bool block)
{
	unsigned long pfn;
	unsigned int level;
	bool writable;

	if (!kvm_memext_dmap_lookup(kvm_memext_dmap_addr(page), &level, &pfn, &writable))
		return -EFAULT;
	return level == KVM_MEMEXT_DMAP_4K ? 0 : -EOPNOTSUPP;
}

/**
 * kvm_memext_dmap_flush() - complete the entry changes of a batch
 *
 * Break-before-make flushed each change already; counted for the
 * statistics, which count batches on every architecture.
 */
void kvm_memext_dmap_flush(void)
{
	dsb(ish);
	atomic_long_inc(&kvm_memext_privmem_stats.tlb_flushes);
}

/**
 * kvm_memext_dmap_init() - check that the linear map can be edited here
 *
 * Return: 0, or -EOPNOTSUPP: with pages other than 4 KiB, without
 * FEAT_S2FWB (KVM would clean guest pages through the linear map,
 * reaching the decoy), with MTE (KVM would write their tags through it,
 * also during a break), or where the linear map has block entries
 * (rodata=full off, no debug_pagealloc).
 */
int __init kvm_memext_dmap_init(void)
{
	unsigned long pfn;
	unsigned int level;
	struct page *page;
	bool writable;
	pte_t *ptep;
	int r = 0;

	/*
	 * A chunk is a PMD's worth of pages: 512 here, but 2048 or 8192
	 * with 16 or 64 KiB pages, whose page arrays and the bitmaps kept
	 * on the stack for a chunk were never sized nor tested for that.
	 */
	if (PAGE_SIZE != SZ_4K) {
		pr_info("%lu KiB pages: private memory is built for 4 KiB pages\n",
			PAGE_SIZE / SZ_1K);
		return -EOPNOTSUPP;
	}
	if (!cpus_have_final_cap(ARM64_HAS_STAGE2_FWB)) {
		pr_info("no FEAT_S2FWB: KVM would clean private pages through the linear map\n");
		return -EOPNOTSUPP;
	}
	/*
	 * KVM_ARM_MTE_COPY_TAGS writes a guest page's tags through the
	 * linear map, with no mmu-notifier check a break could wait for.
	 */
	if (system_supports_mte()) {
		pr_info("MTE: KVM would write guest tags through the linear map\n");
		return -EOPNOTSUPP;
	}
	dmap_pgd = __va(dmap_ttbr_to_phys(read_sysreg(ttbr1_el1)));
	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	ptep = kvm_memext_dmap_lookup(kvm_memext_dmap_addr(page), &level, &pfn, &writable);
	if (!ptep || pfn != page_to_pfn(page) || !writable) {
		pr_err("the walk from TTBR1_EL1 did not find the linear map (pfn %#lx, want %#lx)\n",
		       pfn, page_to_pfn(page));
		r = -EOPNOTSUPP;
	} else if (level != KVM_MEMEXT_DMAP_4K || pte_cont(READ_ONCE(*ptep))) {
		pr_info("the linear map has block entries (boot with rodata=full)\n");
		r = -EOPNOTSUPP;
	}
	__free_page(page);
	return r;
}
