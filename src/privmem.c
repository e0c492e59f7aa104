// SPDX-License-Identifier: GPL-2.0-only
/*
 * Private guest memory: a file whose pages are out of the kernel direct map.
 *
 * KVM_MEMEXT_CREATE_PRIVMEM returns a file the VMM mmaps MAP_SHARED and
 * registers as memslot backing.  Its pages are allocated in 2 MiB chunks
 * (4 KiB pages when no 2 MiB block is free), zeroed, and taken out of the
 * direct map, one TLB flush per chunk, before anything maps them.  They
 * reach userspace only through a VM_PFNMAP | VM_IO mapping, which GUP
 * refuses, so no kernel path can pin or kmap them; KVM maps them into the
 * guest through the VMM's page tables and its mmu notifier.  On free
 * (punch hole, truncate, last close) a page is zeroed through a temporary
 * vmap, put back into the direct map, and only then released.
 *
 * KVM_MEMEXT_PRIVMEM_SET_ACCESS puts ranges back into the direct map for
 * the KVM paths that need it (kvm-clock, nested state), counted per page.
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
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/suspend.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "kvm_memext.h"

#define KVM_MEMEXT_PRIVMEM_MAGIC	0x6b6d7076	/* "kmpv" */

static unsigned long privmem_max_mb;
module_param(privmem_max_mb, ulong, 0644);
MODULE_PARM_DESC(privmem_max_mb,
		 "Most private memory in MiB, all files together (default: half of RAM)");

static struct vfsmount *privmem_mnt;
static bool privmem_available;
static struct dentry *privmem_debugfs;

static bool privmem_charge(unsigned long nr)
{
	unsigned long max = READ_ONCE(privmem_max_mb) << (20 - PAGE_SHIFT);
	atomic_long_t *pages = &kvm_memext_privmem_stats.pages;

	if (atomic_long_add_return(nr, pages) > max) {
		atomic_long_sub(nr, pages);
		return false;
	}
	return true;
}

static void privmem_uncharge(unsigned long nr)
{
	atomic_long_sub(nr, &kvm_memext_privmem_stats.pages);
}

static unsigned long privmem_access_count(struct kvm_memext_privmem *pm,
					  pgoff_t index)
{
	void *entry;

	if (!pm->nr_access)
		return 0;
	entry = xa_load(&pm->access, index);
	return entry ? xa_to_value(entry) : 0;
}

/* Whether a page of [first, end) is in an accessible range. */
static bool privmem_any_access(struct kvm_memext_privmem *pm, pgoff_t first,
			       pgoff_t end)
{
	unsigned long index = first;

	return pm->nr_access && xa_find(&pm->access, &index, end - 1, XA_PRESENT);
}

/*
 * A page whose direct-map entry does not map it cannot go back to the
 * allocator: keep it forever rather than hand it to its next owner.  The
 * caller showed the page and flushed the TLB since.
 */
static void privmem_release_page(struct page *page)
{
	if (unlikely(!kvm_memext_dmap_present(page))) {
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		pr_err_ratelimited("page %#lx stays out of the direct map and is leaked\n",
				   page_to_pfn(page));
		return;
	}
	put_page(page);
}

/* Zero pages that are out of the direct map, through a temporary vmap. */
static bool privmem_zero_pages(struct page **pages, unsigned int nr)
{
	void *addr = vmap(pages, nr, VM_MAP, PAGE_KERNEL);

	if (!addr)
		return false;
	memset(addr, 0, (size_t)nr * PAGE_SIZE);
	vunmap(addr);
	return true;
}

/*
 * Hide the freshly allocated pages of a chunk, but for those in accessible
 * ranges, and flush.  On error the caller shows them again.
 */
static int privmem_hide_fresh(struct kvm_memext_privmem *pm,
			      struct kvm_memext_privmem_chunk *chunk,
			      pgoff_t first, const unsigned long *fresh,
			      unsigned int nr)
{
	unsigned int i;
	int r = 0;

	if (chunk->huge && !privmem_any_access(pm, first, first + nr)) {
		r = kvm_memext_dmap_hide_block(chunk->pages[0]);
	} else {
		chunk->split = true;
		for_each_set_bit(i, fresh, nr) {
			if (privmem_access_count(pm, first + i))
				continue;
			r = kvm_memext_dmap_hide_page(chunk->pages[i]);
			if (r)
				break;
		}
	}
	kvm_memext_dmap_flush();
	return r;
}

/* Show @nr pages (a whole 2 MiB block when @block), then flush. */
static void privmem_show_pages(struct page **pages, unsigned int nr, bool block)
{
	unsigned int i;

	if (!block || kvm_memext_dmap_show_block(pages[0])) {
		for (i = 0; i < nr; i++)
			kvm_memext_dmap_show_page(pages[i]);
	}
	kvm_memext_dmap_flush();
}

/**
 * kvm_memext_privmem_populate() - allocate the missing pages of a chunk
 * @pm: the file.
 * @cidx: chunk index.
 * @out: the chunk, on success.
 *
 * The chunk covers the pages of [cidx * 2 MiB, (cidx + 1) * 2 MiB) below the
 * file's size.  A whole new chunk is one 2 MiB block when one is free and
 * the file allows it, else 4 KiB pages.
 *
 * Return: 0, -ENOMEM, or -ENOSPC beyond the privmem_max_mb limit.
 */
VISIBLE_IF_KUNIT int
kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
			    struct kvm_memext_privmem_chunk **out)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;
	unsigned int i, nr, want;
	DECLARE_BITMAP(fresh, KVM_MEMEXT_CHUNK_PAGES);
	struct kvm_memext_privmem_chunk *chunk;
	struct page *page;
	bool new = false, hidden = false;
	int r;

	lockdep_assert_held(&pm->lock);
	if (first >= size)
		return -EINVAL;
	nr = min_t(pgoff_t, KVM_MEMEXT_CHUNK_PAGES, size - first);

	chunk = xa_load(&pm->chunks, cidx);
	if (chunk && chunk->nr == nr) {
		*out = chunk;
		return 0;
	}
	if (!chunk) {
		chunk = kzalloc_obj(*chunk, GFP_KERNEL_ACCOUNT);
		if (!chunk)
			return -ENOMEM;
		r = xa_insert(&pm->chunks, cidx, chunk, GFP_KERNEL_ACCOUNT);
		if (r) {
			kfree(chunk);
			return r;
		}
		new = true;
	}

	want = nr - chunk->nr;
	if (!privmem_charge(want)) {
		r = -ENOSPC;
		goto out_chunk;
	}

	bitmap_zero(fresh, KVM_MEMEXT_CHUNK_PAGES);
	if (new && nr == KVM_MEMEXT_CHUNK_PAGES &&
	    !(pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE)) {
		page = alloc_pages(GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
				   __GFP_NORETRY, KVM_MEMEXT_CHUNK_ORDER);
		if (page) {
			/* Order-0 pages: KVM takes references on them. */
			split_page(page, KVM_MEMEXT_CHUNK_ORDER);
			for (i = 0; i < nr; i++)
				chunk->pages[i] = page + i;
			bitmap_fill(fresh, nr);
			chunk->huge = true;
		} else {
			atomic_long_inc(&kvm_memext_privmem_stats.fallbacks);
		}
	}
	for (i = 0; i < nr; i++) {
		if (chunk->pages[i])
			continue;
		chunk->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!chunk->pages[i]) {
			r = -ENOMEM;
			goto out_fresh;
		}
		__set_bit(i, fresh);
	}

	hidden = true;
	r = privmem_hide_fresh(pm, chunk, first, fresh, nr);
	if (r)
		goto out_fresh;

	chunk->nr = nr;
	pm->inode->i_blocks += (blkcnt_t)want << (PAGE_SHIFT - 9);
	if (chunk->huge)
		atomic_long_inc(&kvm_memext_privmem_stats.chunks);
	*out = chunk;
	return 0;

out_fresh:
	/* Zero (never written), shown again if hiding began, never mapped. */
	if (hidden) {
		if (!chunk->huge || kvm_memext_dmap_show_block(chunk->pages[0])) {
			for_each_set_bit(i, fresh, KVM_MEMEXT_CHUNK_PAGES)
				kvm_memext_dmap_show_page(chunk->pages[i]);
		}
		kvm_memext_dmap_flush();
	}
	for_each_set_bit(i, fresh, KVM_MEMEXT_CHUNK_PAGES) {
		privmem_release_page(chunk->pages[i]);
		chunk->pages[i] = NULL;
	}
	chunk->huge = false;
	privmem_uncharge(want);
out_chunk:
	if (new) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_populate);

/* Zero, restore and release the pages in slots [lo, hi) of a chunk. */
static void privmem_free_slots(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned int lo, unsigned int hi)
{
	unsigned int i, n = lo;
	bool whole, zeroed;

	/* Gather the present pages at the front of the range, in order. */
	for (i = lo; i < hi; i++) {
		if (chunk->pages[i])
			chunk->pages[n++] = chunk->pages[i];
	}
	if (n == lo)
		return;
	for (i = n; i < hi; i++)
		chunk->pages[i] = NULL;

	/*
	 * Zero through a temporary mapping while the pages are hidden, show
	 * them (a whole block in one entry write), flush, only then release.
	 */
	whole = chunk->huge && lo == 0 && n == KVM_MEMEXT_CHUNK_PAGES;
	zeroed = privmem_zero_pages(&chunk->pages[lo], n - lo);
	privmem_show_pages(&chunk->pages[lo], n - lo, whole);
	for (i = lo; i < n; i++) {
		struct page *page = chunk->pages[i];

		if (!zeroed && kvm_memext_dmap_present(page))
			clear_highpage(page);
		privmem_release_page(page);
		chunk->pages[i] = NULL;
	}
	kvm_memext_dmap_check_decoy(false);

	if (chunk->huge)
		atomic_long_dec(&kvm_memext_privmem_stats.chunks);
	chunk->huge = false;
	chunk->split = true;
	chunk->nr -= n - lo;
	pm->inode->i_blocks -= (blkcnt_t)(n - lo) << (PAGE_SHIFT - 9);
	privmem_uncharge(n - lo);
	if (!chunk->nr) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
}

/**
 * kvm_memext_privmem_free_range() - free the pages of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 *
 * The caller unmapped the range from every mapping first.
 */
VISIBLE_IF_KUNIT void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm,
						    pgoff_t start, pgoff_t end)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx;
	pgoff_t first;

	if (start >= end)
		return;
	xa_for_each_range(&pm->chunks, cidx, chunk,
			  start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		first = cidx << KVM_MEMEXT_CHUNK_ORDER;
		privmem_free_slots(pm, cidx, chunk, max(start, first) - first,
				   min(end, first + KVM_MEMEXT_CHUNK_PAGES) - first);
		cond_resched();
	}
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_free_range);

/* Unmap [start, end) from every mapping (KVM zaps it too), then free it. */
static void privmem_punch(struct kvm_memext_privmem *pm, pgoff_t start,
			  pgoff_t end)
{
	unmap_mapping_range(pm->inode->i_mapping, (loff_t)start << PAGE_SHIFT,
			    (loff_t)(end - start) << PAGE_SHIFT, 1);
	kvm_memext_privmem_free_range(pm, start, end);
}

/*
 * Add @delta to the access count of every page of [start, end), showing
 * pages on 0 -> 1 and hiding them on 1 -> 0, with one flush for the call
 * (the TLB may hold the old translation either way).  Returns how far it
 * got in *@done.
 */
static int privmem_access_apply(struct kvm_memext_privmem *pm, pgoff_t start,
				pgoff_t end, int delta, pgoff_t *done)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long old, count;
	bool changed = false;
	struct page *page;
	pgoff_t index;
	int r = 0;

	for (index = start; index < end; index++) {
		old = privmem_access_count(pm, index);
		count = old + delta;
		chunk = xa_load(&pm->chunks, index >> KVM_MEMEXT_CHUNK_ORDER);
		page = chunk ? chunk->pages[index & (KVM_MEMEXT_CHUNK_PAGES - 1)] : NULL;
		if (page)
			chunk->split = true;

		/* The direct map first: on failure this page is unchanged. */
		if (page && !old)
			r = kvm_memext_dmap_show_page(page);
		else if (page && !count)
			r = kvm_memext_dmap_hide_page(page);
		if (r)
			break;
		changed |= page && (!old || !count);

		if (count) {
			r = xa_err(xa_store(&pm->access, index, xa_mk_value(count),
					    GFP_KERNEL_ACCOUNT));
		} else {
			xa_erase(&pm->access, index);
		}
		if (r) {
			/* Only an increment allocates: hide the page again. */
			if (page && !old)
				kvm_memext_dmap_hide_page(page);
			break;
		}
		if (!old || !count) {
			pm->nr_access += delta;
			atomic_long_add(delta, &kvm_memext_privmem_stats.accessible);
		}
	}
	if (changed)
		kvm_memext_dmap_flush();
	*done = index;
	return r;
}

/**
 * kvm_memext_privmem_set_access() - count a range in or out of the direct map
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive), at most the file's size.
 * @accessible: take (true) or drop (false) one reference per page.
 *
 * All or nothing: dropping a reference from a page that has none fails
 * with -EINVAL and changes nothing.
 *
 * Return: 0 or a negative errno.
 */
VISIBLE_IF_KUNIT int
kvm_memext_privmem_set_access(struct kvm_memext_privmem *pm, pgoff_t start,
			      pgoff_t end, bool accessible)
{
	int delta = accessible ? 1 : -1;
	pgoff_t index, done;
	int r;

	lockdep_assert_held(&pm->lock);
	if (!accessible) {
		for (index = start; index < end; index++) {
			if (!privmem_access_count(pm, index))
				return -EINVAL;
		}
	}
	r = privmem_access_apply(pm, start, end, delta, &done);
	if (r && done > start)
		privmem_access_apply(pm, start, done, -delta, &done);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_set_access);

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

/* Map every page of @chunk the VMA covers, @addr's first. */
static vm_fault_t privmem_map_chunk(struct vm_area_struct *vma,
				    unsigned long addr, pgoff_t cidx,
				    struct kvm_memext_privmem_chunk *chunk)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER, index;
	unsigned long pgoff = linear_page_index(vma, addr);
	unsigned long start, end, a;
	vm_fault_t ret;

	ret = vmf_insert_pfn(vma, addr,
			     page_to_pfn(chunk->pages[pgoff - first]));
	if (ret != VM_FAULT_NOPAGE)
		return ret;

	/* Fault around: one fault per chunk rather than one per page. */
	start = max(vma->vm_start, addr - ((pgoff - first) << PAGE_SHIFT));
	end = min(vma->vm_end, start + ((unsigned long)chunk->nr << PAGE_SHIFT));
	for (a = start; a < end; a += PAGE_SIZE) {
		index = linear_page_index(vma, a);
		if (a == addr || index < first || index >= first + chunk->nr)
			continue;
		if (vmf_insert_pfn(vma, a, page_to_pfn(chunk->pages[index - first])) !=
		    VM_FAULT_NOPAGE)
			break;
	}
	return VM_FAULT_NOPAGE;
}

static vm_fault_t privmem_errno_to_fault(int r)
{
	return r == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

static vm_fault_t privmem_fault(struct vm_fault *vmf)
{
	struct kvm_memext_privmem *pm = vmf->vma->vm_file->private_data;
	pgoff_t cidx = vmf->pgoff >> KVM_MEMEXT_CHUNK_ORDER;
	struct kvm_memext_privmem_chunk *chunk;
	vm_fault_t ret;
	int r;

	mutex_lock(&pm->lock);
	if (vmf->pgoff >= i_size_read(pm->inode) >> PAGE_SHIFT) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	r = kvm_memext_privmem_populate(pm, cidx, &chunk);
	if (r)
		ret = privmem_errno_to_fault(r);
	else
		ret = privmem_map_chunk(vmf->vma, vmf->address & PAGE_MASK,
					cidx, chunk);
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
					&chunk) || !chunk->huge)
		goto out;	/* the 4 KiB path reports errors */
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

	/* Memory is accounted to, and only mapped by, its creator. */
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
	unsigned long index;
	void *entry;

	if (!PAGE_ALIGNED(size))
		return -EINVAL;
	if (size < old) {
		privmem_punch(pm, size >> PAGE_SHIFT, old >> PAGE_SHIFT);
		/* Accessible ranges end at the end of the file. */
		xa_for_each_start(&pm->access, index, entry, size >> PAGE_SHIFT) {
			xa_erase(&pm->access, index);
			pm->nr_access--;
			atomic_long_dec(&kvm_memext_privmem_stats.accessible);
		}
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
		r = kvm_memext_privmem_populate(pm, cidx, &chunk);
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

/**
 * kvm_memext_privmem_new() - a private-memory file's state and inode
 * @size: size in bytes, page aligned.
 * @flags: KVM_MEMEXT_PRIVMEM_* creation flags.
 *
 * Return: the new state, or an ERR_PTR().
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
	inode->i_mode |= S_IFREG;
	inode->i_op = &privmem_iops;
	inode->i_private = pm;
	i_size_write(inode, size);
	mutex_init(&pm->lock);
	xa_init(&pm->chunks);
	xa_init(&pm->access);
	pm->flags = flags;
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
	kvm_memext_privmem_free_range(pm, 0, ULONG_MAX >> PAGE_SHIFT);
	atomic_long_sub(pm->nr_access, &kvm_memext_privmem_stats.accessible);
	xa_destroy(&pm->access);
	xa_destroy(&pm->chunks);
	if (pm->mm)
		mmdrop(pm->mm);
	pm->inode->i_private = NULL;
	kfree(pm);
	atomic_long_dec(&kvm_memext_privmem_stats.files);
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

/* Hibernation would write the pages to disk: refuse while any exists. */
static int privmem_pm_notify(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	long pages = atomic_long_read(&kvm_memext_privmem_stats.pages);

	if (action != PM_HIBERNATION_PREPARE || !pages)
		return NOTIFY_DONE;
	pr_warn("hibernation refused: %ld private-memory pages exist\n", pages);
	return notifier_from_errno(-EBUSY);
}

static struct notifier_block privmem_pm_nb = {
	.notifier_call = privmem_pm_notify,
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
	seq_printf(m, "cpa_splits %ld\n", atomic_long_read(&s->splits));
	seq_printf(m, "decoy_writes %ld\n", atomic_long_read(&s->decoy_writes));
	seq_printf(m, "limit_pages %lu\n",
		   READ_ONCE(privmem_max_mb) << (20 - PAGE_SHIFT));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(privmem_stats);

static int privmem_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, KVM_MEMEXT_PRIVMEM_MAGIC) ? 0 : -ENOMEM;
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

	if (!privmem_max_mb)
		privmem_max_mb = (totalram_pages() >> (20 - PAGE_SHIFT)) / 2;
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
