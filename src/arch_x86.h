/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * x86-64: a page-table entry selects a PAT entry with PCD, PWT and PAT;
 * guest time is kvm-clock.  Included through arch.h only.
 */
#ifndef _KVM_MEMEXT_ARCH_X86_H
#define _KVM_MEMEXT_ARCH_X86_H

#include <linux/io.h>
#include <linux/kvm_host.h>
#include <linux/pgtable.h>
#include <linux/timekeeping.h>

/* RAM, which vmap() maps; anything else is IO memory, for ioremap(). */
static inline bool kvm_memext_pfn_is_ram(unsigned long pfn)
{
	return pfn_valid(pfn);
}

/**
 * kvm_memext_prot_memtype() - a kernel protection for RAM of a host mapping
 * @prot: PAGE_KERNEL or PAGE_KERNEL_RO
 * @host: the protection of the host's VM_PFNMAP mapping of the page
 *
 * Return: @prot with @host's memory type.
 */
static inline pgprot_t kvm_memext_prot_memtype(pgprot_t prot, pgprot_t host)
{
	return __pgprot((pgprot_val(prot) & ~_PAGE_CACHE_MASK) |
			(pgprot_val(host) & _PAGE_CACHE_MASK));
}

/*
 * A PMD or PUD leaf has PSE in bit 7 and its PAT bit in bit 12: give the
 * 4 KiB layout, as the cache builds 4 KiB mappings.
 */
static inline pgprot_t kvm_memext_leaf_prot(pgprot_t prot)
{
	return pgprot_large_2_4k(prot);
}

/*
 * IO memory with the memory type of the host's mapping (x86 forbids
 * aliases of another type, and MMIO must stay uncached), as Linux
 * programs the PAT: PCD = UC-, PWT alone = WC, neither = WB.  ioremap()
 * never maps executable.
 */
static inline void __iomem *
kvm_memext_ioremap_memtype(phys_addr_t phys, size_t size, pgprot_t host)
{
	if (pgprot_val(host) & _PAGE_PCD)
		return ioremap(phys, size);
	if (pgprot_val(host) & _PAGE_PWT)
		return ioremap_wc(phys, size);
	return ioremap_cache(phys, size);
}

/**
 * kvm_memext_mapping_type() - what a kernel mapping of a cache really is
 * @va: the mapping (vmap() or ioremap())
 * @prot: the protection it was asked for (the host's, for IO memory)
 * @io: IO memory (ioremap())
 * @memtype: out: its memory type, as the PAT programs its PTE's bits
 * @exec: out: whether it is executable
 *
 * Read back from the kernel's page table, for the cache's trace event.
 */
static inline void kvm_memext_mapping_type(const void *va, pgprot_t prot,
					   bool io, const char **memtype,
					   bool *exec)
{
	static const struct {
		enum page_cache_mode mode;
		const char *name;
	} types[] = {
		{ _PAGE_CACHE_MODE_WB, "WB" }, { _PAGE_CACHE_MODE_WC, "WC" },
		{ _PAGE_CACHE_MODE_UC_MINUS, "UC-" }, { _PAGE_CACHE_MODE_UC, "UC" },
		{ _PAGE_CACHE_MODE_WT, "WT" }, { _PAGE_CACHE_MODE_WP, "WP" },
	};
	unsigned int level, i;
	unsigned long val;
	pte_t *pte;

	*memtype = "unknown";
	*exec = false;
	pte = lookup_address((unsigned long)va, &level);
	if (!pte || !pte_present(*pte))
		return;
	/* pte_pgprot() would drop a large leaf's PAT bit (bit 12). */
	if (level == PG_LEVEL_4K)
		val = pgprot_val(pte_pgprot(*pte));
	else if (level == PG_LEVEL_2M)
		val = pgprot_val(pgprot_large_2_4k(pmd_pgprot(*(pmd_t *)pte)));
	else
		val = pgprot_val(pgprot_large_2_4k(pud_pgprot(*(pud_t *)pte)));
	*exec = !(val & _PAGE_NX);
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if ((val & _PAGE_CACHE_MASK) == cachemode2protval(types[i].mode)) {
			*memtype = types[i].name;
			return;
		}
	}
}

/* Guest time, as kvm-clock counts it (without the master clock's scaling). */
static inline u64 kvm_memext_guest_time_ns(struct kvm *kvm)
{
	return ktime_get_boottime_ns() + READ_ONCE(kvm->arch.kvmclock_offset);
}

#endif /* _KVM_MEMEXT_ARCH_X86_H */
