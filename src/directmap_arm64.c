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
 * (TLBI VAALE1IS, or VMALLE1IS for a whole chunk), and only then pointed
 * at its new frame.  While it is
 * invalid, an access to the page's linear address would fault, so
 * callers guarantee that nothing reaches it then: a page is repointed
 * either before anything maps it (a fresh page) or after it was unmapped
 * from userspace, and so from KVM's stage 2, under the file's lock that
 * faults take (KVM_MEMEXT_DMAP_BREAKS).  KVM/arm64 reaches a guest page
 * through the linear map only to clean it to the point of coherency
 * (without FEAT_S2FWB: refused here, as that clean would hit the decoy)
 * and to invalidate the instruction cache when it maps the page
 * executable (without CTR_EL0.DIC): both happen while it maps the page,
 * which the unmap and the lock exclude.  Without DIC a page's stale
 * instructions are invalidated through its own alias before it is hidden.
 * With MTE, KVM_ARM_MTE_COPY_TAGS writes tags through the linear map at
 * any time: refused.
 *
 * Invalid entries are never cached, so after break-before-make no CPU
 * holds the old translation: kvm_memext_dmap_flush() has nothing left to
 * invalidate.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/pgtable.h>
#include <asm/cacheflush.h>
#include <asm/cpufeature.h>
#include <asm/sysreg.h>
#include <asm/tlbflush.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"

/* swapper_pg_dir, through the linear map (kvm_memext_dmap_init()). */
static pgd_t *dmap_pgd;

static unsigned long dmap_addr(struct page *page)
{
	return (unsigned long)page_address(page);
}

static unsigned long dmap_decoy_pfn(struct page *decoy, struct page *page)
{
	return page_to_pfn(decoy) +
		(page_to_pfn(page) & (KVM_MEMEXT_CHUNK_PAGES - 1));
}

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
static pte_t *dmap_lookup(unsigned long addr, unsigned int *level,
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
 * The 4 KiB entry of @addr if it maps @from, is writable and is not part
 * of a contiguous range: the only kind the module rewrites.
 */
static pte_t *dmap_own_pte(unsigned long addr, unsigned long from)
{
	unsigned long pfn;
	unsigned int level;
	bool writable;
	pte_t *ptep;

	ptep = dmap_lookup(addr, &level, &pfn, &writable);
	if (!ptep || level != KVM_MEMEXT_DMAP_4K || pfn != from || !writable ||
	    pte_cont(READ_ONCE(*ptep)))
		return NULL;
	return ptep;
}

/*
 * Break-before-make over @nr consecutive entries from @ptep (the linear
 * map of @addr on): invalidate them, flush their translations on every
 * CPU, point them at @to + i with @prot.
 */
static void dmap_repoint(unsigned long addr, pte_t *ptep, unsigned int nr,
			 unsigned long to, pgprot_t prot)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		__set_pte_nosync(ptep + i, __pte(0));
	/*
	 * A chunk: one broadcast invalidation of everything (TLBI VMALLE1IS,
	 * what flush_tlb_kernel_range() does above 512 pages) rather than
	 * 512 broadcasts, each of which waits for every CPU.
	 */
	if (nr == 1)
		flush_tlb_kernel_range(addr, addr + PAGE_SIZE);
	else
		flush_tlb_all();
	for (i = 0; i < nr; i++)
		__set_pte_nosync(ptep + i, pfn_pte(to + i, prot));
	dsb(ishst);
	isb();
}

/* Whether @nr entries from @addr map @pfn on, 4 KiB and writable each. */
static bool dmap_maps(unsigned long addr, unsigned int nr, unsigned long pfn)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (!dmap_own_pte(addr + i * PAGE_SIZE, pfn + i))
			return false;
	return true;
}

/*
 * Without CTR_EL0.DIC, KVM invalidates the instruction cache through the
 * linear map when it maps a page executable, which for a hidden page
 * reaches the decoy: clear a page's stale instructions (a binary's page
 * cache, before the allocator gave it to us) while its alias still works.
 */
static void dmap_sync_icache(unsigned long addr, unsigned int nr)
{
	if (!cpus_have_final_cap(ARM64_HAS_CACHE_DIC))
		caches_clean_inval_pou(addr, addr + nr * PAGE_SIZE);
}

/*
 * Point the @nr entries from @page's at @to on, from @from on: 0 when
 * they map @to already; -EAGAIN when their bits differ (one at a time,
 * then).
 */
static int dmap_repoint_range(struct page *page, unsigned int nr,
			      unsigned long from, unsigned long to)
{
	unsigned long addr = dmap_addr(page), pfn;
	unsigned int level, i;
	pgprot_t prot;
	bool writable;
	pte_t *ptep;

	if (dmap_maps(addr, nr, to))
		return 0;
	ptep = dmap_own_pte(addr, from);
	prot = ptep ? pte_pgprot(READ_ONCE(*ptep)) : __pgprot(0);
	for (i = 0; i < nr; i++) {
		ptep = dmap_own_pte(addr + i * PAGE_SIZE, from + i);
		/* dmap_repoint() gives them all the first one's bits. */
		if (ptep && pgprot_val(pte_pgprot(READ_ONCE(*ptep))) != pgprot_val(prot))
			return -EAGAIN;
		if (ptep)
			continue;
		/* Poisoned, a block entry, or not the state the caller knows. */
		ptep = dmap_lookup(addr + i * PAGE_SIZE, &level, &pfn, &writable);
		if (ptep && level != KVM_MEMEXT_DMAP_4K)
			return -EOPNOTSUPP;
		return ptep ? -EIO : -EFAULT;
	}
	if (from == page_to_pfn(page))
		dmap_sync_icache(addr, nr);
	dmap_repoint(addr, dmap_own_pte(addr, from), nr, to, prot);
	if (dmap_maps(addr, nr, to))
		return 0;
	pr_err_once("linear-map entries of %#lx changed under the module\n", addr);
	return -EIO;
}

/**
 * kvm_memext_dmap_pfn() - where the linear map maps a page
 * @page: the page.
 * @level: the size of the entry (KVM_MEMEXT_DMAP_*), or NULL.
 *
 * Return: the pfn the page's linear address translates to, or 0 if it is
 * not valid or not writable.
 */
unsigned long kvm_memext_dmap_pfn(struct page *page, unsigned int *level)
{
	unsigned int lvl = 0;
	unsigned long pfn;
	bool writable;

	if (!dmap_lookup(dmap_addr(page), &lvl, &pfn, &writable) || !writable)
		pfn = 0;
	if (level)
		*level = lvl;
	return pfn;
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
	unsigned long addr = dmap_addr(page), pfn;
	unsigned int level;
	bool writable;
	pte_t *ptep;
	u64 attr;

	ptep = dmap_lookup(addr, &level, &pfn, &writable);
	if (!ptep || pfn != page_to_pfn(page) || !writable)
		return false;
	attr = pte_val(READ_ONCE(*ptep)) & PTE_ATTRINDX_MASK;
	return attr == PTE_ATTRINDX(MT_NORMAL) ||
	       attr == PTE_ATTRINDX(MT_NORMAL_TAGGED);
}

/**
 * kvm_memext_dmap_hide_page() - point one page's linear-map entry at a decoy
 * @page: a page the module owns, mapped as usual, that nothing accesses.
 * @decoy: the decoy, from kvm_memext_dmap_decoy_alloc().
 *
 * Return: 0, -EOPNOTSUPP for a block entry, or -EIO; on error the entry
 * is unchanged.
 */
int kvm_memext_dmap_hide_page(struct page *page, struct page *decoy)
{
	return dmap_repoint_range(page, 1, page_to_pfn(page),
				  dmap_decoy_pfn(decoy, page));
}

/**
 * kvm_memext_dmap_show_page() - point one page's linear-map entry back at it
 * @page: a page the module owns, that nothing accesses.
 * @decoy: the decoy it was hidden with.
 *
 * Return: 0 or a negative errno; on error the entry is unchanged.
 */
int kvm_memext_dmap_show_page(struct page *page, struct page *decoy)
{
	return dmap_repoint_range(page, 1, dmap_decoy_pfn(decoy, page),
				  page_to_pfn(page));
}

/*
 * A whole 2 MiB block: one break-before-make over its 512 entries (one
 * PTE table), else page by page.
 */
static int dmap_repoint_block(struct page *page, struct page *decoy, bool hide)
{
	unsigned long self = page_to_pfn(page), other = page_to_pfn(decoy);
	unsigned int i;
	int r;

	if (!IS_ALIGNED(self, KVM_MEMEXT_CHUNK_PAGES))
		return -EINVAL;
	if (!dmap_repoint_range(page, KVM_MEMEXT_CHUNK_PAGES,
				hide ? self : other, hide ? other : self))
		return 0;
	for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++) {
		r = hide ? kvm_memext_dmap_hide_page(page + i, decoy) :
			   kvm_memext_dmap_show_page(page + i, decoy);
		if (r)
			return r;
	}
	return 0;
}

/**
 * kvm_memext_dmap_hide_block() - hide a 2 MiB-aligned block of 512 pages
 * @page: its first page.
 * @decoy: the decoy to point it at.
 *
 * Return: 0 or a negative errno; on error some pages may be hidden: show
 * the block again.
 */
int kvm_memext_dmap_hide_block(struct page *page, struct page *decoy)
{
	return dmap_repoint_block(page, decoy, true);
}

/**
 * kvm_memext_dmap_show_block() - show a 2 MiB-aligned block of 512 pages
 * @page: its first page.
 * @decoy: the decoy it was hidden with.
 *
 * Return: 0 or a negative errno (pages whose entry is not valid stay).
 */
int kvm_memext_dmap_show_block(struct page *page, struct page *decoy)
{
	return dmap_repoint_block(page, decoy, false);
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

	if (!dmap_lookup(dmap_addr(page), &level, &pfn, &writable))
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
 * Return: 0, or -EOPNOTSUPP: without FEAT_S2FWB (KVM would clean guest
 * pages through the linear map, reaching the decoy), with MTE (KVM would
 * write their tags through it, also during a break), or where the linear
 * map has block entries (rodata=full off, no debug_pagealloc).
 */
int __init kvm_memext_dmap_init(void)
{
	unsigned long pfn;
	unsigned int level;
	struct page *page;
	bool writable;
	pte_t *ptep;
	int r = 0;

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
	ptep = dmap_lookup(dmap_addr(page), &level, &pfn, &writable);
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
