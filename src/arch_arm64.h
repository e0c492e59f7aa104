/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * arm64: a page-table entry selects a MAIR attribute (AttrIndx); there is
 * no kvm-clock.  Included through arch.h only.
 */
#ifndef _KVM_MEMEXT_ARCH_ARM64_H
#define _KVM_MEMEXT_ARCH_ARM64_H

#include <linux/io.h>
#include <linux/kvm_host.h>
#include <linux/pgtable.h>
#include <linux/timekeeping.h>

/*
 * RAM is what the linear map maps: pfn_valid() also holds for the rest of
 * a memory section and for "nomap" firmware regions, which may be devices.
 */
static inline bool kvm_memext_pfn_is_ram(unsigned long pfn)
{
	return pfn_is_map_memory(pfn);
}

/**
 * kvm_memext_prot_memtype() - a kernel protection for RAM of a host mapping
 * @prot: PAGE_KERNEL or PAGE_KERNEL_RO
 * @host: the protection of the host's VM_PFNMAP mapping of the page
 *
 * Cacheable, whatever the host's type: KVM/arm64 maps RAM cacheable at
 * stage 2 from the page frame alone (kvm_is_device_pfn()), and the
 * linear map does too, so the guest's view is cacheable and a
 * non-cacheable kernel alias would be the one view that misses its
 * writes.
 *
 * Return: @prot.
 */
static inline pgprot_t kvm_memext_prot_memtype(pgprot_t prot, pgprot_t host)
{
	return prot;
}

/* Block and page descriptors keep the memory type in the same bits. */
static inline pgprot_t kvm_memext_leaf_prot(pgprot_t prot)
{
	return prot;
}

/*
 * IO memory with the memory type of the host's mapping: Device-nGnRE or
 * nGnRnE for device memory, Normal-NC for write-combining, cacheable only
 * where the host mapping is (untagged).  PAGE_KERNEL carries PXN and UXN:
 * never executable.
 */
static inline pgprot_t kvm_memext_io_prot(pgprot_t host)
{
	u64 attr = pgprot_val(host) & PTE_ATTRINDX_MASK;

	if (attr == PTE_ATTRINDX(MT_NORMAL_TAGGED))
		attr = PTE_ATTRINDX(MT_NORMAL);
	return __pgprot_modify(PAGE_KERNEL, PTE_ATTRINDX_MASK, attr);
}

static inline void __iomem *
kvm_memext_ioremap_memtype(phys_addr_t phys, size_t size, pgprot_t host)
{
	return __ioremap_prot(phys, size, kvm_memext_io_prot(host));
}

/**
 * kvm_memext_mapping_type() - what a kernel mapping of a cache is
 * @va: the mapping (vmap() or ioremap())
 * @prot: the protection it was asked for (the host's, for IO memory)
 * @io: IO memory (ioremap())
 * @memtype: out: its memory type, by MAIR attribute
 * @exec: out: whether it is executable at EL1
 *
 * For the cache's trace event: from the protection the mapping was made
 * with (no page-table lookup is exported on arm64).
 */
static inline void kvm_memext_mapping_type(const void *va, pgprot_t prot,
					   bool io, const char **memtype,
					   bool *exec)
{
	static const char * const names[] = {
		[MT_NORMAL] = "Normal",
		[MT_NORMAL_TAGGED] = "Normal-Tagged",
		[MT_NORMAL_NC] = "Normal-NC",
		[MT_DEVICE_nGnRnE] = "Device-nGnRnE",
		[MT_DEVICE_nGnRE] = "Device-nGnRE",
	};
	unsigned int attr;

	if (io)
		prot = kvm_memext_io_prot(prot);
	attr = (pgprot_val(prot) & PTE_ATTRINDX_MASK) >> 2;
	*memtype = attr < ARRAY_SIZE(names) && names[attr] ? names[attr] : "unknown";
	*exec = !(pgprot_val(prot) & PTE_PXN);
}

/*
 * arm64 has no kvm-clock: runstate times count the host's CLOCK_BOOTTIME.
 * What a guest takes from them, steal time, are differences.
 */
static inline u64 kvm_memext_guest_time_ns(struct kvm *kvm)
{
	return ktime_get_boottime_ns();
}

#endif /* _KVM_MEMEXT_ARCH_ARM64_H */
