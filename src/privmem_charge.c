// SPDX-License-Identifier: GPL-2.0-only
/*
 * What private memory is charged to.
 *
 * Pages are charged to the module-wide ceiling (privmem_max_mb), to their
 * mount's size= limit, to the owner's RLIMIT_MEMLOCK as pinned memory
 * (VmPin, as RDMA does; bypassed with CAP_IPC_LOCK), to its shared RSS
 * (where the OOM killer looks), and, being __GFP_ACCOUNT, to its memory
 * cgroup.  A file's decoy (privmem_pages.c) is charged like a chunk to all
 * of them but the mount.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/signal.h>

#include "kvm_memext.h"
#include "privmem.h"
#include "stats.h"

static unsigned long privmem_max_mb;
module_param(privmem_max_mb, ulong, 0644);
MODULE_PARM_DESC(privmem_max_mb,
		 "Most private memory in MiB, all files together (default: half of RAM)");

/** kvm_memext_privmem_limit_init() - default privmem_max_mb: half of RAM */
void kvm_memext_privmem_limit_init(void)
{
	if (!privmem_max_mb)
		privmem_max_mb = (totalram_pages() >> (20 - PAGE_SHIFT)) / 2;
}

/**
 * kvm_memext_privmem_limit_pages() - the limit in pages
 *
 * Return: privmem_max_mb in pages.
 */
unsigned long kvm_memext_privmem_limit_pages(void)
{
	return READ_ONCE(privmem_max_mb) << (20 - PAGE_SHIFT);
}

/**
 * kvm_memext_privmem_charge_mm() - charge pages to an owner
 * @mm: the owner.
 * @nr: pages.
 *
 * Checked against the caller's RLIMIT_MEMLOCK: the caller is a thread of
 * @mm, or becomes its owner.
 *
 * Return: 0, or -EDQUOT beyond the caller's RLIMIT_MEMLOCK.
 */
int kvm_memext_privmem_charge_mm(struct mm_struct *mm, unsigned long nr)
{
	if (atomic64_add_return(nr, &mm->pinned_vm) >
	    rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(nr, &mm->pinned_vm);
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_MEMLOCK,
					     rlimit(RLIMIT_MEMLOCK) >> 10);
		return -EDQUOT;
	}
	kvm_memext_add_mm_counter(mm, MM_SHMEMPAGES, nr);
	return 0;
}

/**
 * kvm_memext_privmem_uncharge_mm() - give an owner back what it was charged
 * @mm: the owner.
 * @nr: pages, charged by kvm_memext_privmem_charge_mm().
 */
void kvm_memext_privmem_uncharge_mm(struct mm_struct *mm, unsigned long nr)
{
	/* Only what was charged goes back. */
	WARN_ON_ONCE(atomic64_sub_return(nr, &mm->pinned_vm) < 0);
	kvm_memext_add_mm_counter(mm, MM_SHMEMPAGES, -(long)nr);
}

/**
 * kvm_memext_privmem_charge() - charge pages a file is about to allocate
 * @pm: the file.
 * @nr: pages.
 *
 * The ceiling first, then the mount's size limit, then the owner's
 * RLIMIT_MEMLOCK, checked against the caller (a thread of the owner: only
 * it maps and allocates).
 *
 * Return: 0; -ENOSPC beyond the ceiling or the mount's size; -EDQUOT
 * beyond the caller's RLIMIT_MEMLOCK.
 */
int kvm_memext_privmem_charge(struct kvm_memext_privmem *pm, unsigned long nr)
{
	unsigned long max = kvm_memext_privmem_limit_pages();
	atomic_long_t *pages = &kvm_memext_privmem_stats.pages;
	struct kvm_memext_privmem_sb *sbi = pm->sbi;
	unsigned long mount_max = READ_ONCE(sbi->max_pages);
	int r;

	/* Decoys count against the ceiling too (privmem_decoy_alloc()). */
	max -= min(max, atomic_long_read(&kvm_memext_privmem_stats.decoys) *
			KVM_MEMEXT_CHUNK_PAGES);
	if (atomic_long_add_return(nr, pages) > max) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_CEILING,
					     READ_ONCE(privmem_max_mb));
		r = -ENOSPC;
		goto err_ceiling;
	}
	if (atomic_long_add_return(nr, &sbi->pages) > mount_max && mount_max) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_MOUNT,
					     mount_max >> (20 - PAGE_SHIFT));
		r = -ENOSPC;
		goto err_mount;
	}
	if (pm->mm) {
		r = kvm_memext_privmem_charge_mm(pm->mm, nr);
		if (r)
			goto err_mount;
	}
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, nr);
	return 0;

err_mount:
	atomic_long_sub(nr, &sbi->pages);
err_ceiling:
	atomic_long_sub(nr, pages);
	return r;
}

/**
 * kvm_memext_privmem_uncharge_owner() - pages left a file's owner and mount
 * @pm: the file.
 * @nr: pages no longer in the file; they stay under the ceiling until
 *	kvm_memext_privmem_uncharge() or their release says otherwise.
 */
void kvm_memext_privmem_uncharge_owner(struct kvm_memext_privmem *pm,
				       unsigned long nr)
{
	atomic_long_sub(nr, &pm->sbi->pages);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, -nr);
	if (pm->mm)
		kvm_memext_privmem_uncharge_mm(pm->mm, nr);
}

/**
 * kvm_memext_privmem_uncharge() - pages left a file
 * @pm: the file.
 * @nr: pages.
 * @kept: those of @nr that could not be released: they stay under the
 *	  ceiling for good.
 */
void kvm_memext_privmem_uncharge(struct kvm_memext_privmem *pm,
				 unsigned long nr, unsigned long kept)
{
	WARN_ON_ONCE(kept > nr ||
		     atomic_long_sub_return(nr - kept, &kvm_memext_privmem_stats.pages) < 0);
	kvm_memext_privmem_uncharge_owner(pm, nr);
}
