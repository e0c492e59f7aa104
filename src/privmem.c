// SPDX-License-Identifier: GPL-2.0-only
/*
 * Private guest memory: one file, its mappings and its ioctls.
 *
 * A private-memory file is a regular file of the kvm_memext file system
 * (privmem_fs.c): a named one on a mount, or an unnamed one from
 * KVM_MEMEXT_CREATE_PRIVMEM.  Its state lives on the inode, so every open
 * of it sees the same memory.  The VMM mmaps it MAP_SHARED and registers
 * it as memslot backing.  Its pages (privmem_pages.c: 2 MiB chunks, access
 * counts, the limits) are hidden from the direct map (directmap.c) before
 * anything maps them.  They reach userspace only through a
 * VM_PFNMAP | VM_IO mapping, which GUP refuses, so no kernel path can pin
 * them; KVM maps them into the guest through the VMM's page tables and its
 * mmu notifier.  Punch hole, truncate and the inode's eviction free them.
 *
 * The owner is the one mm that may map the file and pays for its pages.
 * It is bound by the first mmap, allocating fallocate or SET_ACCESS, not
 * at creation, so that a file another process made and sized (a VMM's
 * named memory file) can be used.  Before that, and once the owner has
 * exited and nothing maps the file, anyone who may write it may resize or
 * punch it; a new owner then takes over the charges.
 *
 * Data flows one way: privmem_fs.c calls this file, which calls
 * privmem_pages.c, which calls directmap.c.
 *
 * Locking: pm->lock (a mutex) covers the chunks, the access counts, the
 * owner and the size.  Faults and mmap take it under mmap_lock; punch hole
 * and truncate take i_mmap_rwsem (unmap_mapping_range()) under it.  PTEs
 * are only installed under it, so a page is never mapped after its range
 * was unmapped.
 *
 * Why it is built this way: Documentation/design.rst ("Private memory");
 * what it guarantees and costs: Documentation/privmem.rst.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ratelimit.h>
#include <linux/sched/mm.h>
#include <linux/suspend.h>
#include <linux/xarray.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"
#include "trace.h"

/* Unmap [start, end) from every mapping (KVM zaps it too), then free it. */
static void privmem_punch(struct kvm_memext_privmem *pm, pgoff_t start,
			  pgoff_t end)
{
	unmap_mapping_range(pm->inode->i_mapping, (loff_t)start << PAGE_SHIFT,
			    (loff_t)(end - start) << PAGE_SHIFT, 1);
	kvm_memext_privmem_clock_unmap(pm, start, end);
	kvm_memext_privmem_free_range(pm, start, end);
}

/*
 * The owner exited and nothing maps the file any more: its charges may
 * move, and anyone who may write the file may resize it.  A dead mm never
 * comes back (mm_users stays 0); mappings are gone once its exit_mmap() ran.
 */
static bool privmem_owner_gone(struct kvm_memext_privmem *pm)
{
	lockdep_assert_held(&pm->lock);
	return !pm->mm || (!atomic_read(&pm->mm->mm_users) &&
			   !mapping_mapped(pm->inode->i_mapping));
}

/* Resize and punch: the owner, or anyone while there is none. */
static int privmem_may_resize(struct kvm_memext_privmem *pm)
{
	lockdep_assert_held(&pm->lock);
	if (pm->mm == current->mm || privmem_owner_gone(pm))
		return 0;
	kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_OWNER, pm->inode->i_ino);
	return -EPERM;
}

/**
 * kvm_memext_privmem_set_owner() - bind a file's owner, or replace it
 * @pm: the file; its owner, if any, exited and nothing maps the file.
 * @mm: the new owner.
 *
 * The pages the file holds, and its decoy, move to @mm's charges.
 *
 * Flushes are charged to @mm's budget from now on (privmem_flush.c).
 *
 * Return: 0, -EDQUOT beyond the caller's RLIMIT_MEMLOCK, or -ENOMEM
 * (nothing moved).
 */
int kvm_memext_privmem_set_owner(struct kvm_memext_privmem *pm,
				 struct mm_struct *mm)
{
	unsigned long nr = pm->inode->i_blocks >> (PAGE_SHIFT - 9);
	int r;

	/* The decoy moves with the pages it stands in for. */
	if (pm->decoy)
		nr += KVM_MEMEXT_CHUNK_PAGES;

	lockdep_assert_held(&pm->lock);
	r = kvm_memext_privmem_charge_mm(mm, nr);
	if (r)
		return r;
	r = kvm_memext_privmem_tenant_set(pm, mm);
	if (r) {
		kvm_memext_privmem_uncharge_mm(mm, nr);
		return r;
	}
	/* The new owner's vCPUs show their own clock pages. */
	kvm_memext_privmem_clock_unmap(pm, 0, ULONG_MAX);
	if (pm->mm) {
		kvm_memext_privmem_uncharge_mm(pm->mm, nr);
		mmdrop(pm->mm);
	}
	mmgrab(mm);
	pm->mm = mm;
	return 0;
}

/*
 * Map, allocate, change access: only the owner, bound here if there is
 * none.  -EPERM for anyone else while the owner lives; -ENOMEM if the
 * pages of a dead owner's file exceed the new owner's RLIMIT_MEMLOCK.
 */
static int privmem_claim(struct kvm_memext_privmem *pm, struct file *file)
{
	int r;

	lockdep_assert_held(&pm->lock);
	if (pm->mm == current->mm)
		return 0;
	/* Whoever binds the owner writes the memory: a reader may not. */
	if (!(file->f_mode & FMODE_WRITE))
		return -EACCES;
	if (!current->mm)
		return -EPERM;
	if (!privmem_owner_gone(pm)) {
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_OWNER,
					     pm->inode->i_ino);
		return -EPERM;
	}
	r = kvm_memext_privmem_set_owner(pm, current->mm);
	if (r)
		return r == -EDQUOT ? -ENOMEM : r;
	/* Splitting rights are the new owner's, not the first one's. */
	pm->may_split = capable(CAP_SYS_ADMIN);
	return 0;
}

static long privmem_ioctl_set_access(struct file *file, void __user *argp)
{
	struct kvm_memext_privmem *pm = file->private_data;
	struct kvm_memext_privmem_access args;
	u64 size, end;
	int r;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~KVM_MEMEXT_PRIVMEM_ACCESSIBLE) || args.pad)
		return -EINVAL;
	if (!args.len || !PAGE_ALIGNED(args.offset) || !PAGE_ALIGNED(args.len) ||
	    check_add_overflow(args.offset, args.len, &end))
		return -EINVAL;

	mutex_lock(&pm->lock);
	size = i_size_read(pm->inode);
	r = privmem_claim(pm, file);
	if (r)
		goto out;
	if (end > size)
		r = -EINVAL;
	else
		r = kvm_memext_privmem_set_access(pm, args.offset >> PAGE_SHIFT,
						  end >> PAGE_SHIFT,
						  args.flags & KVM_MEMEXT_PRIVMEM_ACCESSIBLE);
out:
	mutex_unlock(&pm->lock);
	return r;
}

static long privmem_ioctl(struct file *file, unsigned int ioctl,
			  unsigned long arg)
{
	switch (ioctl) {
	case KVM_MEMEXT_PRIVMEM_SET_ACCESS:
		return privmem_ioctl_set_access(file, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/*
 * Map every page of @chunk below @size that the VMA covers, @addr's first;
 * never a poisoned one.
 */
static vm_fault_t privmem_map_chunk(struct vm_area_struct *vma,
				    unsigned long addr, pgoff_t cidx,
				    struct kvm_memext_privmem_chunk *chunk,
				    pgoff_t size)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER, index, last;
	unsigned long pgoff = linear_page_index(vma, addr);
	unsigned long start, end, a;
	struct page *page;
	vm_fault_t ret;

	page = chunk->pages[pgoff - first];
	if (PageHWPoison(page))
		return VM_FAULT_HWPOISON;
	ret = vmf_insert_pfn(vma, addr, page_to_pfn(page));
	if (ret != VM_FAULT_NOPAGE)
		return ret;

	/* Fault around: one fault per chunk rather than one per page. */
	last = min_t(pgoff_t, first + chunk->nr, size);
	start = max(vma->vm_start, addr - ((pgoff - first) << PAGE_SHIFT));
	end = min(vma->vm_end, start + ((last - first) << PAGE_SHIFT));
	for (a = start; a < end; a += PAGE_SIZE) {
		index = linear_page_index(vma, a);
		if (a == addr || index < first || index >= last)
			continue;
		page = chunk->pages[index - first];
		if (PageHWPoison(page) ||
		    vmf_insert_pfn(vma, a, page_to_pfn(page)) != VM_FAULT_NOPAGE)
			break;
	}
	return VM_FAULT_NOPAGE;
}

/*
 * Only a failed small allocation is the OOM killer's business; a limit, or
 * no 2 MiB block for a file that needs one, is the faulting process's.
 */
static vm_fault_t privmem_errno_to_fault(int r)
{
	return r == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/* Limits and a missing 2 MiB block are ENOMEM to fallocate(), as mlock(). */
static int privmem_errno_to_user(int r)
{
	return r == -EDQUOT || r == -EAGAIN ? -ENOMEM : r;
}

static vm_fault_t privmem_fault(struct vm_fault *vmf)
{
	struct kvm_memext_privmem *pm = vmf->vma->vm_file->private_data;
	pgoff_t cidx = vmf->pgoff >> KVM_MEMEXT_CHUNK_ORDER;
	struct page *spare = kvm_memext_privmem_prealloc(pm, cidx);
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long pfn = 0;
	pgoff_t size;
	vm_fault_t ret;
	int r;

	mutex_lock(&pm->lock);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_FAULTS, 1);
	size = i_size_read(pm->inode) >> PAGE_SHIFT;
	if (vmf->pgoff >= size) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	r = kvm_memext_privmem_populate(pm, cidx, &chunk, &spare);
	if (r) {
		ret = privmem_errno_to_fault(r);
		goto out;
	}
	ret = privmem_map_chunk(vmf->vma, vmf->address & PAGE_MASK, cidx,
				chunk, size);
	if (ret == VM_FAULT_NOPAGE)
		pfn = page_to_pfn(chunk->pages[vmf->pgoff - (cidx << KVM_MEMEXT_CHUNK_ORDER)]);
out:
	trace_kvm_memext_privmem_fault(pm, vmf->pgoff, 0, pfn, ret);
	mutex_unlock(&pm->lock);
	kvm_memext_privmem_prealloc_free(spare);
	return ret;
}

#if KVM_MEMEXT_HUGE_PFNMAP
/* A whole 2 MiB chunk, aligned in the VMA: one PMD, and KVM maps it huge. */
static vm_fault_t privmem_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct kvm_memext_privmem *pm = vma->vm_file->private_data;
	unsigned long haddr = vmf->address & PMD_MASK;
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long pfn = 0;
	struct page *spare;
	pgoff_t pgoff;
	vm_fault_t ret = VM_FAULT_FALLBACK;

	if (order != KVM_MEMEXT_CHUNK_ORDER || haddr < vma->vm_start ||
	    haddr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;
	pgoff = linear_page_index(vma, haddr);
	if (pgoff & (KVM_MEMEXT_CHUNK_PAGES - 1))
		return VM_FAULT_FALLBACK;

	spare = kvm_memext_privmem_prealloc(pm, pgoff >> KVM_MEMEXT_CHUNK_ORDER);
	mutex_lock(&pm->lock);
	if (pgoff + KVM_MEMEXT_CHUNK_PAGES > i_size_read(pm->inode) >> PAGE_SHIFT)
		goto out;
	if (kvm_memext_privmem_populate(pm, pgoff >> KVM_MEMEXT_CHUNK_ORDER,
					&chunk, &spare) || !chunk->huge ||
	    kvm_memext_privmem_chunk_poisoned(chunk))
		goto out;	/* the 4 KiB path reports errors and poison */
	ret = kvm_memext_insert_pfn_pmd(vmf, page_to_pfn(chunk->pages[0]),
					vmf->flags & FAULT_FLAG_WRITE);
	if (ret == VM_FAULT_NOPAGE) {
		pfn = page_to_pfn(chunk->pages[0]);
		atomic_long_inc(&kvm_memext_privmem_stats.pmd_maps);
	}
out:
	/* A fallback is counted by the 4 KiB fault that follows. */
	if (ret != VM_FAULT_FALLBACK)
		kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_FAULTS, 1);
	trace_kvm_memext_privmem_fault(pm, pgoff, order, pfn, ret);
	mutex_unlock(&pm->lock);
	kvm_memext_privmem_prealloc_free(spare);
	return ret;
}
#endif

const struct vm_operations_struct kvm_memext_privmem_vm_ops = {
	.fault		= privmem_fault,
#if KVM_MEMEXT_HUGE_PFNMAP
	.huge_fault	= privmem_huge_fault,
#endif
};

static int privmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kvm_memext_privmem *pm = file->private_data;
	int r;

	/* A private mapping would copy guest pages into anonymous memory. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Memory is charged to, and only mapped by, its owner. */
	mutex_lock(&pm->lock);
	r = privmem_claim(pm, file);
	mutex_unlock(&pm->lock);
	if (r)
		return r;
	/*
	 * No struct page behind the PTEs as far as GUP is concerned: pinning,
	 * /proc/pid/mem, ptrace, O_DIRECT and core dumps all refuse it.
	 * A child of fork() does not inherit the mapping.
	 */
	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP |
		     VM_DONTCOPY | (KVM_MEMEXT_HUGE_PFNMAP ? VM_HUGEPAGE : 0));
	vma->vm_ops = &kvm_memext_privmem_vm_ops;
	return 0;
}

static int privmem_resize(struct kvm_memext_privmem *pm, loff_t size)
{
	loff_t old = i_size_read(pm->inode);
	int r;

	if (!PAGE_ALIGNED(size))
		return -EINVAL;
	/* RLIMIT_FSIZE (with SIGXFSZ) and the file system's maximum. */
	r = inode_newsize_ok(pm->inode, size);
	if (r)
		return r;
	if (size < old) {
		privmem_punch(pm, size >> PAGE_SHIFT, old >> PAGE_SHIFT);
		/* Accessible ranges end at the end of the file. */
		kvm_memext_privmem_drop_access(pm, size >> PAGE_SHIFT);
	}
	i_size_write(pm->inode, size);
	return 0;
}

static int privmem_setattr(KVM_MEMEXT_IDMAP *idmap, struct dentry *dentry,
			   struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct kvm_memext_privmem *pm = inode->i_private;
	int r;

	/* Permission to chmod/chown, to write for a size (not its limits). */
	r = setattr_prepare(idmap, dentry, attr);
	if (r)
		return r;
	if (attr->ia_valid & ATTR_SIZE) {
		mutex_lock(&pm->lock);
		r = privmem_may_resize(pm);
		if (!r && attr->ia_size != i_size_read(inode))
			r = privmem_resize(pm, attr->ia_size);
		mutex_unlock(&pm->lock);
		if (r)
			return r;
	}
	setattr_copy(idmap, inode, attr);
	return 0;
}

static long privmem_fallocate(struct file *file, int mode, loff_t offset,
			      loff_t len)
{
	struct kvm_memext_privmem *pm = file->private_data;
	pgoff_t start, end, cidx;
	struct kvm_memext_privmem_chunk *chunk;
	loff_t old_size, size;
	int r = 0;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (!PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
		return -EINVAL;

	mutex_lock(&pm->lock);
	old_size = i_size_read(pm->inode);
	size = old_size;
	/* Pages are charged to whoever allocates them: only the owner. */
	r = mode & FALLOC_FL_PUNCH_HOLE ? privmem_may_resize(pm) :
					   privmem_claim(pm, file);
	if (r)
		goto out;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (offset < size)
			privmem_punch(pm, offset >> PAGE_SHIFT,
				      min(offset + len, size) >> PAGE_SHIFT);
		goto out;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && offset + len > size) {
		r = privmem_resize(pm, offset + len);
		if (r)
			goto out;
		size = offset + len;
	}
	/* Pages beyond the size would die at once: allocate up to it. */
	start = offset >> PAGE_SHIFT;
	end = min(offset + len, size) >> PAGE_SHIFT;
	for (cidx = start >> KVM_MEMEXT_CHUNK_ORDER;
	     start < end && cidx <= (end - 1) >> KVM_MEMEXT_CHUNK_ORDER; cidx++) {
		if (fatal_signal_pending(current)) {
			r = -EINTR;
			break;
		}
		r = privmem_errno_to_user(kvm_memext_privmem_populate(pm, cidx,
								      &chunk, NULL));
		if (r)
			break;
		cond_resched();
	}
	/* A failed fallocate() leaves the size as it was. */
	if (r && size != old_size)
		privmem_resize(pm, old_size);
out:
	mutex_unlock(&pm->lock);
	return r;
}

/* Every file, for the decoy checks of the statistics. */
static DEFINE_MUTEX(privmem_files_lock);
static LIST_HEAD(privmem_files);

/**
 * kvm_memext_privmem_check_decoys() - count writes that reached any decoy
 *
 * For the statistics: the free paths check their own file's decoy.
 */
void kvm_memext_privmem_check_decoys(void)
{
	struct kvm_memext_privmem *pm;
	struct page *decoy;

	mutex_lock(&privmem_files_lock);
	list_for_each_entry(pm, &privmem_files, node) {
		/* Set once under pm->lock; freed only after leaving the list. */
		decoy = READ_ONCE(pm->decoy);
		if (decoy)
			kvm_memext_dmap_check_decoy(decoy);
		cond_resched();
	}
	mutex_unlock(&privmem_files_lock);
}

/*
 * Hibernation would write private pages to disk.  It is refused while a
 * file exists, and files cannot be made from its preparation on: so no
 * page can be allocated after the check, as none can exist before.
 */
static DEFINE_SPINLOCK(privmem_suspend_lock);
static unsigned long privmem_nr_files;	/* under privmem_suspend_lock */
static bool privmem_hibernating;	/* under privmem_suspend_lock */

/**
 * kvm_memext_privmem_suspend_notify() - refuse hibernation while a file exists
 * @nb: the notifier block.
 * @action: the PM_* event.
 * @data: unused.
 *
 * Return: NOTIFY_DONE, or -EBUSY (as a notifier value) to refuse.
 */
int kvm_memext_privmem_suspend_notify(struct notifier_block *nb,
				      unsigned long action, void *data)
{
	unsigned long files;
	int r = NOTIFY_DONE;

	spin_lock(&privmem_suspend_lock);
	files = privmem_nr_files;
	switch (action) {
	case PM_HIBERNATION_PREPARE:
	case PM_RESTORE_PREPARE:
		if (files)
			r = notifier_from_errno(-EBUSY);
		else
			privmem_hibernating = true;
		break;
	case PM_POST_HIBERNATION:
	case PM_POST_RESTORE:
		privmem_hibernating = false;
		break;
	}
	spin_unlock(&privmem_suspend_lock);
	if (r != NOTIFY_DONE)
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_HIBERNATION, files);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_suspend_notify);

static const struct inode_operations privmem_iops = {
	.setattr	= privmem_setattr,
};

static int privmem_open(struct inode *inode, struct file *file)
{
	file->private_data = inode->i_private;
	return 0;
}

static const struct file_operations privmem_fops = {
	.owner			= THIS_MODULE,
	.open			= privmem_open,
	.mmap			= privmem_mmap,
	.fallocate		= privmem_fallocate,
	.unlocked_ioctl		= privmem_ioctl,
	.compat_ioctl		= compat_ptr_ioctl,
	.llseek			= generic_file_llseek,
	/* 2 MiB-aligned addresses, so that chunks can be mapped huge. */
	.get_unmapped_area	= thp_get_unmapped_area,
};

/**
 * kvm_memext_privmem_inode_init() - make a new inode a private-memory file
 * @inode: a new regular-file inode of the kvm_memext file system.
 * @flags: KVM_MEMEXT_PRIVMEM_* creation flags.
 *
 * The state is freed by kvm_memext_privmem_destroy() when the inode is
 * evicted.
 *
 * Return: 0; -EBUSY while a hibernation is being prepared, -ENOMEM.
 */
int kvm_memext_privmem_inode_init(struct inode *inode, u64 flags)
{
	struct kvm_memext_privmem *pm;

	pm = kzalloc_obj(*pm, GFP_KERNEL_ACCOUNT);
	if (!pm)
		return -ENOMEM;
	spin_lock(&privmem_suspend_lock);
	if (privmem_hibernating) {
		spin_unlock(&privmem_suspend_lock);
		kfree(pm);
		return -EBUSY;
	}
	privmem_nr_files++;
	spin_unlock(&privmem_suspend_lock);

	mutex_init(&pm->lock);
	kvm_memext_privmem_pages_init(pm);
	pm->flags = flags;
	pm->inode = inode;
	pm->sbi = inode->i_sb->s_fs_info;
	inode->i_op = &privmem_iops;
	inode->i_fop = &privmem_fops;
	inode->i_private = pm;
	mutex_lock(&privmem_files_lock);
	list_add(&pm->node, &privmem_files);
	mutex_unlock(&privmem_files_lock);
	atomic_long_inc(&kvm_memext_privmem_stats.files);
	return 0;
}

/**
 * kvm_memext_privmem_destroy() - free a file's pages and state
 * @pm: the file, no longer open or mapped anywhere.
 */
void kvm_memext_privmem_destroy(struct kvm_memext_privmem *pm)
{
	mutex_lock(&privmem_files_lock);
	list_del(&pm->node);
	mutex_unlock(&privmem_files_lock);
	kvm_memext_privmem_clock_release(pm);
	kvm_memext_privmem_pages_destroy(pm);
	if (pm->mm)
		mmdrop(pm->mm);
	pm->inode->i_private = NULL;
	kfree(pm);
	atomic_long_dec(&kvm_memext_privmem_stats.files);
	spin_lock(&privmem_suspend_lock);
	privmem_nr_files--;
	spin_unlock(&privmem_suspend_lock);
}
