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

/* x86 keeps caches coherent whatever the memory type of an alias. */
static inline void kvm_memext_sync_memtype(void *addr, size_t size,
					   pgprot_t prot)
{
}

/* Guest time, as kvm-clock counts it (without the master clock's scaling). */
static inline u64 kvm_memext_guest_time_ns(struct kvm *kvm)
{
	return ktime_get_boottime_ns() + READ_ONCE(kvm->arch.kvmclock_offset);
}

#endif /* _KVM_MEMEXT_ARCH_X86_H */
