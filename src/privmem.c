// SPDX-License-Identifier: GPL-2.0-only
/*
 * Private guest memory: the file, its mappings and its ioctls.
 *
 * KVM_MEMEXT_CREATE_PRIVMEM returns a file the VMM mmaps MAP_SHARED and
 * registers as memslot backing.  Its pages (privmem_pages.c: 2 MiB chunks,
 * access counts, the limit) are hidden from the direct map (directmap.c)
 * before anything maps them.  They reach userspace only through a
 * VM_PFNMAP | VM_IO mapping, which GUP refuses, so no kernel path can pin
 * them; KVM maps them into the guest through the VMM's page tables and its
 * mmu notifier.  Punch hole, truncate and the last close free them.
 *
 * Data flows one way: this file calls privmem_pages.c, which calls
 * directmap.c.
 *
 * Locking: pm->lock (a mutex) covers the chunks, the access counts and the
 * size.  Faults take it under mmap_lock; punch hole and truncate take
 * i_mmap_rwsem (unmap_mapping_range()) under it.  PTEs are only installed
 * under it, so a page is never mapped after its range was unmapped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/suspend.h>
#include <linux/xarray.h>

#include "kvm_memext.h"

#define KVM_MEMEXT_PRIVMEM_MAGIC	0x6b6d7076	/* "kmpv" */

static struct vfsmount *privmem_mnt;
static bool privmem_available;
static struct dentry *privmem_debugfs;

/* Unmap [start, end) from every mapping (KVM zaps it too), then free it. */
static void privmem_punch(struct kvm_memext_privmem *pm, pgoff_t start,
			  pgoff_t end)
{
	unmap_mapping_range(pm->inode->i_mapping, (loff_t)start << PAGE_SHIFT,
			    (loff_t)(end - start) << PAGE_SHIFT, 1);
	kvm_memext_privmem_free_range(pm, start, end);
}

static long privmem_ioctl_set_access(struct kvm_memext_privmem *pm,
				     void __user *argp)
{
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
	if (end > size)
		r = -EINVAL;
	else
		r = kvm_memext_privmem_set_access(pm, args.offset >> PAGE_SHIFT,
						  end >> PAGE_SHIFT,
						  args.flags & KVM_MEMEXT_PRIVMEM_ACCESSIBLE);
	mutex_unlock(&pm->lock);
	return r;
}

static long privmem_ioctl(struct file *file, unsigned int ioctl,
			  unsigned long arg)
{
	struct kvm_memext_privmem *pm = file->private_data;

	if (current->mm != pm->mm)
		return -EPERM;
	switch (ioctl) {
	case KVM_MEMEXT_PRIVMEM_SET_ACCESS:
		return privmem_ioctl_set_access(pm, (void __user *)arg);
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
	struct kvm_memext_privmem_chunk *chunk;
	pgoff_t size;
	vm_fault_t ret;
	int r;

	mutex_lock(&pm->lock);
	size = i_size_read(pm->inode) >> PAGE_SHIFT;
	if (vmf->pgoff >= size) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	r = kvm_memext_privmem_populate(pm, cidx, &chunk);
	if (r)
		ret = privmem_errno_to_fault(r);
	else
		ret = privmem_map_chunk(vmf->vma, vmf->address & PAGE_MASK,
					cidx, chunk, size);
out:
	mutex_unlock(&pm->lock);
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
	pgoff_t pgoff;
	vm_fault_t ret = VM_FAULT_FALLBACK;

	if (order != KVM_MEMEXT_CHUNK_ORDER || haddr < vma->vm_start ||
	    haddr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;
	pgoff = linear_page_index(vma, haddr);
	if (pgoff & (KVM_MEMEXT_CHUNK_PAGES - 1))
		return VM_FAULT_FALLBACK;

	mutex_lock(&pm->lock);
	if (pgoff + KVM_MEMEXT_CHUNK_PAGES > i_size_read(pm->inode) >> PAGE_SHIFT)
		goto out;
	if (kvm_memext_privmem_populate(pm, pgoff >> KVM_MEMEXT_CHUNK_ORDER,
					&chunk) || !chunk->huge ||
	    kvm_memext_privmem_chunk_poisoned(chunk))
		goto out;	/* the 4 KiB path reports errors and poison */
	ret = kvm_memext_insert_pfn_pmd(vmf, page_to_pfn(chunk->pages[0]),
					vmf->flags & FAULT_FLAG_WRITE);
	if (ret == VM_FAULT_NOPAGE)
		atomic_long_inc(&kvm_memext_privmem_stats.pmd_maps);
out:
	mutex_unlock(&pm->lock);
	return ret;
}
#endif

static const struct vm_operations_struct privmem_vm_ops = {
	.fault		= privmem_fault,
#if KVM_MEMEXT_HUGE_PFNMAP
	.huge_fault	= privmem_huge_fault,
#endif
};

static int privmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kvm_memext_privmem *pm = file->private_data;

	/* Memory is charged to, and only mapped by, its creator. */
	if (current->mm != pm->mm)
		return -EPERM;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/*
	 * No struct page behind the PTEs as far as GUP is concerned: pinning,
	 * /proc/pid/mem, ptrace, O_DIRECT and core dumps all refuse it.
	 * A child of fork() does not inherit the mapping.
	 */
	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP |
		     VM_DONTCOPY | (KVM_MEMEXT_HUGE_PFNMAP ? VM_HUGEPAGE : 0));
	vma->vm_ops = &privmem_vm_ops;
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

static int privmem_setattr(KVM_MEMEXT_SETATTR_IDMAP *idmap,
			   struct dentry *dentry, struct iattr *attr)
{
	struct kvm_memext_privmem *pm = d_inode(dentry)->i_private;
	int r;

	if (current->mm != pm->mm ||
	    (attr->ia_valid & ~(ATTR_SIZE | ATTR_MTIME | ATTR_CTIME | ATTR_FILE)))
		return -EPERM;
	if (!(attr->ia_valid & ATTR_SIZE))
		return 0;
	mutex_lock(&pm->lock);
	r = privmem_resize(pm, attr->ia_size);
	mutex_unlock(&pm->lock);
	return r;
}

static long privmem_fallocate(struct file *file, int mode, loff_t offset,
			      loff_t len)
{
	struct kvm_memext_privmem *pm = file->private_data;
	pgoff_t start, end, cidx;
	struct kvm_memext_privmem_chunk *chunk;
	loff_t old_size, size;
	int r = 0;

	/* Pages are charged to whoever allocates them: only the owner. */
	if (current->mm != pm->mm)
		return -EPERM;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (!PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
		return -EINVAL;

	mutex_lock(&pm->lock);
	old_size = i_size_read(pm->inode);
	size = old_size;
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
								      &chunk));
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

static const struct inode_operations privmem_iops = {
	.setattr	= privmem_setattr,
};

/*
 * Hibernation would write private pages to disk.  It is refused while a
 * file exists, and files cannot be made from its preparation on: so no
 * page can be allocated after the check, as none can exist before.
 */
static DEFINE_SPINLOCK(privmem_pm_lock);
static unsigned long privmem_nr_files;	/* under privmem_pm_lock */
static bool privmem_hibernating;	/* under privmem_pm_lock */

/**
 * kvm_memext_privmem_pm_notify() - refuse hibernation while a file exists
 * @nb: the notifier block.
 * @action: the PM_* event.
 * @data: unused.
 *
 * Return: NOTIFY_DONE, or -EBUSY (as a notifier value) to refuse.
 */
VISIBLE_IF_KUNIT int kvm_memext_privmem_pm_notify(struct notifier_block *nb,
						  unsigned long action, void *data)
{
	unsigned long files;
	int r = NOTIFY_DONE;

	spin_lock(&privmem_pm_lock);
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
	spin_unlock(&privmem_pm_lock);
	if (r != NOTIFY_DONE)
		pr_warn("hibernation refused: %lu private-memory files exist\n", files);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_pm_notify);

/**
 * kvm_memext_privmem_new() - a private-memory file's state and inode
 * @size: size in bytes, page aligned.
 * @flags: KVM_MEMEXT_PRIVMEM_* creation flags.
 *
 * The file may split the direct map if the caller has CAP_SYS_ADMIN.
 *
 * Return: the new state, or an ERR_PTR(): -EBUSY while a hibernation is
 * being prepared, -ENOMEM.
 */
VISIBLE_IF_KUNIT struct kvm_memext_privmem *kvm_memext_privmem_new(u64 size,
								   u64 flags)
{
	struct kvm_memext_privmem *pm;
	struct inode *inode;

	pm = kzalloc_obj(*pm, GFP_KERNEL_ACCOUNT);
	if (!pm)
		return ERR_PTR(-ENOMEM);
	inode = alloc_anon_inode(privmem_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		kfree(pm);
		return ERR_CAST(inode);
	}
	spin_lock(&privmem_pm_lock);
	if (privmem_hibernating) {
		spin_unlock(&privmem_pm_lock);
		iput(inode);
		kfree(pm);
		return ERR_PTR(-EBUSY);
	}
	privmem_nr_files++;
	spin_unlock(&privmem_pm_lock);

	/*
	 * Not S_PRIVATE: LSMs label the inode when the file's dentry is
	 * instantiated (by the fs type, kvm_memext_privmem) and check it.
	 */
	inode->i_flags &= ~S_PRIVATE;
	inode->i_mode |= S_IFREG;
	inode->i_op = &privmem_iops;
	inode->i_private = pm;
	i_size_write(inode, size);
	mutex_init(&pm->lock);
	kvm_memext_privmem_pages_init(pm);
	pm->flags = flags;
	pm->may_split = capable(CAP_SYS_ADMIN);
	pm->inode = inode;
	atomic_long_inc(&kvm_memext_privmem_stats.files);
	return pm;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_new);

/**
 * kvm_memext_privmem_destroy() - free a file's pages and state
 * @pm: the file, no longer mapped anywhere.
 *
 * The inode goes with the file that holds it (or is put by the caller).
 */
VISIBLE_IF_KUNIT void kvm_memext_privmem_destroy(struct kvm_memext_privmem *pm)
{
	kvm_memext_privmem_pages_destroy(pm);
	if (pm->mm)
		mmdrop(pm->mm);
	pm->inode->i_private = NULL;
	kfree(pm);
	atomic_long_dec(&kvm_memext_privmem_stats.files);
	spin_lock(&privmem_pm_lock);
	privmem_nr_files--;
	spin_unlock(&privmem_pm_lock);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_destroy);

static int privmem_release(struct inode *inode, struct file *file)
{
	kvm_memext_privmem_destroy(file->private_data);
	return 0;
}

static const struct file_operations privmem_fops = {
	.owner			= THIS_MODULE,
	.release		= privmem_release,
	.mmap			= privmem_mmap,
	.fallocate		= privmem_fallocate,
	.unlocked_ioctl		= privmem_ioctl,
	.compat_ioctl		= compat_ptr_ioctl,
	.llseek			= generic_file_llseek,
	/* 2 MiB-aligned addresses, so that chunks can be mapped huge. */
	.get_unmapped_area	= thp_get_unmapped_area,
};

/**
 * kvm_memext_create_privmem() - KVM_MEMEXT_CREATE_PRIVMEM
 * @args: the user's arguments.
 *
 * Return: a new file descriptor, or a negative errno.
 */
int kvm_memext_create_privmem(const struct kvm_memext_create_privmem *args)
{
	struct kvm_memext_privmem *pm;
	struct inode *inode;
	struct file *file;
	int fd;

	if (!privmem_available)
		return -EOPNOTSUPP;
	if (args->flags & ~KVM_MEMEXT_PRIVMEM_NO_HUGE)
		return -EINVAL;
	if (!args->size || !PAGE_ALIGNED(args->size) ||
	    args->size > MAX_LFS_FILESIZE)
		return -EINVAL;
	/* 4 KiB pages split the direct map for every tenant. */
	if ((args->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	pm = kvm_memext_privmem_new(args->size, args->flags);
	if (IS_ERR(pm)) {
		put_unused_fd(fd);
		return PTR_ERR(pm);
	}
	inode = pm->inode;

	/* __fput() drops the file's reference on its f_op's owner. */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, privmem_mnt, "kvm_memext_privmem",
				 O_RDWR | O_LARGEFILE, &privmem_fops);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		kvm_memext_privmem_destroy(pm);
		iput(inode);
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	file->private_data = pm;
	pm->mm = current->mm;
	mmgrab(pm->mm);
	fd_install(fd, file);
	return fd;
}

static struct notifier_block privmem_pm_nb = {
	.notifier_call = kvm_memext_privmem_pm_notify,
};

static int privmem_stats_show(struct seq_file *m, void *v)
{
	struct kvm_memext_privmem_stats *s = &kvm_memext_privmem_stats;

	if (privmem_available)
		kvm_memext_dmap_check_decoy(true);
	seq_printf(m, "files %ld\n", atomic_long_read(&s->files));
	seq_printf(m, "pages %ld\n", atomic_long_read(&s->pages));
	seq_printf(m, "huge_chunks %ld\n", atomic_long_read(&s->chunks));
	seq_printf(m, "accessible_pages %ld\n", atomic_long_read(&s->accessible));
	seq_printf(m, "tlb_flushes %ld\n", atomic_long_read(&s->tlb_flushes));
	seq_printf(m, "fallbacks %ld\n", atomic_long_read(&s->fallbacks));
	seq_printf(m, "pmd_maps %ld\n", atomic_long_read(&s->pmd_maps));
	seq_printf(m, "leaked_pages %ld\n", atomic_long_read(&s->leaked));
	seq_printf(m, "poisoned_pages %ld\n", atomic_long_read(&s->poisoned));
	seq_printf(m, "deferred_hides %ld\n", atomic_long_read(&s->deferred_hides));
	seq_printf(m, "throttled %ld\n", atomic_long_read(&s->throttled));
	seq_printf(m, "cpa_splits %ld\n", atomic_long_read(&s->splits));
	seq_printf(m, "decoy_writes %ld\n", atomic_long_read(&s->decoy_writes));
	seq_printf(m, "limit_pages %lu\n", kvm_memext_privmem_limit_pages());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(privmem_stats);

static int privmem_init_fs_context(struct fs_context *fc)
{
	if (!init_pseudo(fc, KVM_MEMEXT_PRIVMEM_MAGIC))
		return -ENOMEM;
	/* Guest memory, never a program or a device (as secretmem). */
	fc->s_iflags |= SB_I_NOEXEC | SB_I_NODEV;
	return 0;
}

static struct file_system_type privmem_fs = {
	.name		 = "kvm_memext_privmem",
	.init_fs_context = privmem_init_fs_context,
	.kill_sb	 = kill_anon_super,
};

/**
 * kvm_memext_privmem_init() - set up private memory, if the kernel allows
 *
 * Return: true when KVM_MEMEXT_CREATE_PRIVMEM is available.
 */
bool __init kvm_memext_privmem_init(void)
{
	int r;

	kvm_memext_privmem_limit_init();
	privmem_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("privmem", 0400, privmem_debugfs, NULL,
			    &privmem_stats_fops);

	r = kvm_memext_dmap_init();
	if (r) {
		pr_info("privmem disabled: cannot set up the direct-map decoy: %d\n", r);
		return false;
	}
	privmem_mnt = kern_mount(&privmem_fs);
	if (IS_ERR(privmem_mnt)) {
		pr_info("privmem disabled: cannot mount its file system: %ld\n",
			PTR_ERR(privmem_mnt));
		privmem_mnt = NULL;
		kvm_memext_dmap_exit();
		return false;
	}
	/* mmap() with PROT_EXEC fails (path_noexec()). */
	privmem_mnt->mnt_flags |= MNT_NOEXEC;
	register_pm_notifier(&privmem_pm_nb);
	privmem_available = true;
	return true;
}

/**
 * kvm_memext_privmem_available() - whether private memory works here
 *
 * Return: true when KVM_MEMEXT_CREATE_PRIVMEM is available.
 */
bool kvm_memext_privmem_available(void)
{
	return privmem_available;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_available);

/** kvm_memext_privmem_exit() - undo kvm_memext_privmem_init() */
void kvm_memext_privmem_exit(void)
{
	if (privmem_available) {
		unregister_pm_notifier(&privmem_pm_nb);
		kern_unmount(privmem_mnt);
		kvm_memext_dmap_exit();
	}
	debugfs_remove_recursive(privmem_debugfs);
}
