// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pages of private-memory files: 2 MiB chunks.
 *
 * A chunk covers one naturally aligned 2 MiB range of a file.  Its pages
 * are one 2 MiB block when the file allows it, else 4 KiB pages; either
 * way order-0 pages (a block is split_page()d), because KVM takes and
 * drops references on the pages it maps from a VM_PFNMAP VMA.  Pages are
 * allocated zeroed and hidden from the direct map (directmap.c) with one
 * flush per chunk; on free they are zeroed through a temporary vmap(),
 * shown, flushed, and only then released.
 *
 * Only a file whose owner had CAP_SYS_ADMIN when it claimed the file
 * (@may_split) may split the direct map: 4 KiB-page chunks, blocks freed
 * or shown in part.  Other files keep every chunk one block: a hole in
 * part of a block is zeroed in place (as hugetlbfs does for part of a huge
 * page), an accessible range shows the whole blocks it touches, and a
 * block that cannot be had is an allocation failure, not a fallback to
 * 4 KiB pages.
 *
 * A chunk's entries are brought to what its accessible ranges
 * (privmem_ranges.c) want by kvm_memext_privmem_sync_chunk(), flushing
 * within the budgets of privmem_flush.c.  Hiding pages that showing made
 * waits for the next allowed flush (hide_work), so that toggling costs at
 * most the owner's budget, however many files it has.
 *
 * Callers hold pm->lock (see privmem.c), but for a file's destruction.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"
#include "trace.h"

static bool privmem_prealloc = true;
module_param(privmem_prealloc, bool, 0644);
MODULE_PARM_DESC(privmem_prealloc,
		 "Zero a new chunk's 2 MiB block before taking the file's lock (default: Y)");

/*
 * Chunks freed per TLB flush: 128 MiB, or 2 GiB when the file dies, so
 * that its last close waits for the owner's budget a few times, not once
 * per 128 MiB (a 1 TiB file: 5 s at 100 flushes a second, not 80 s).
 */
#define PRIVMEM_FREE_BATCH		64
#define PRIVMEM_DESTROY_BATCH		1024

/**
 * kvm_memext_privmem_chunk_poisoned() - whether memory failure hit a chunk
 * @chunk: the chunk.
 *
 * Return: true if one of its pages is hardware-poisoned.
 */
bool kvm_memext_privmem_chunk_poisoned(struct kvm_memext_privmem_chunk *chunk)
{
	unsigned int i;

	for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++) {
		if (chunk->pages[i] && PageHWPoison(chunk->pages[i]))
			return true;
	}
	return false;
}

/*
 * Where repointing an entry breaks it for a moment (arm64), nothing may
 * reach the chunk's pages meanwhile: unmap them from userspace, and so
 * from KVM's stage 2, whose faults then wait for pm->lock.
 */
static void privmem_unmap_chunk(struct kvm_memext_privmem *pm, pgoff_t cidx)
{
	if (KVM_MEMEXT_DMAP_BREAKS)
		unmap_mapping_range(pm->inode->i_mapping,
				    (loff_t)cidx << (KVM_MEMEXT_CHUNK_ORDER + PAGE_SHIFT),
				    (loff_t)KVM_MEMEXT_CHUNK_PAGES << PAGE_SHIFT, 0);
}

/*
 * kvm_memext_privmem_sync_chunk(), for populate: its @fresh pages were
 * mapped nowhere yet, so changing only those needs no unmap first.
 */
static int privmem_sync_chunk(struct kvm_memext_privmem *pm, pgoff_t cidx,
			      struct kvm_memext_privmem_chunk *chunk,
			      bool defer_hides, const unsigned long *fresh)
{
	DECLARE_BITMAP(want, KVM_MEMEXT_CHUNK_PAGES);
	DECLARE_BITMAP(diff, KVM_MEMEXT_CHUNK_PAGES);
	DECLARE_BITMAP(left, KVM_MEMEXT_CHUNK_PAGES);
	unsigned long delay;
	bool changed = false;
	unsigned int i, n;
	int r;

	lockdep_assert_held(&pm->lock);
	kvm_memext_privmem_want(pm, cidx, chunk, want);

	bitmap_andnot(diff, want, chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
	/* Shows, or hides that happen now, of pages that may be mapped. */
	if (defer_hides)
		bitmap_copy(left, diff, KVM_MEMEXT_CHUNK_PAGES);
	else
		bitmap_xor(left, want, chunk->shown, KVM_MEMEXT_CHUNK_PAGES);
	if (fresh)
		bitmap_andnot(left, left, fresh, KVM_MEMEXT_CHUNK_PAGES);
	if (!bitmap_empty(left, KVM_MEMEXT_CHUNK_PAGES))
		privmem_unmap_chunk(pm, cidx);
	if (!bitmap_empty(diff, KVM_MEMEXT_CHUNK_PAGES)) {
		bitmap_copy(left, diff, KVM_MEMEXT_CHUNK_PAGES);
		r = kvm_memext_dmap_repoint(chunk->pages, KVM_MEMEXT_CHUNK_PAGES,
					    left, pm->decoy, false, chunk->huge);
		bitmap_andnot(diff, diff, left, KVM_MEMEXT_CHUNK_PAGES);
		bitmap_or(chunk->shown, chunk->shown, diff, KVM_MEMEXT_CHUNK_PAGES);
		n = bitmap_weight(diff, KVM_MEMEXT_CHUNK_PAGES);
		kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_SHOWN, n);
		trace_kvm_memext_privmem_show(pm, cidx, n, chunk->huge);
		if (r)
			return r;
		changed = true;
	}

	bitmap_andnot(diff, chunk->shown, want, KVM_MEMEXT_CHUNK_PAGES);
	if (bitmap_empty(diff, KVM_MEMEXT_CHUNK_PAGES))
		return changed;
	if (defer_hides) {
		xa_set_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
		delay = kvm_memext_privmem_flush_delay(pm);
		schedule_delayed_work(&pm->hide_work, max(delay, 1UL));
		atomic_long_inc(&kvm_memext_privmem_stats.deferred_hides);
		return changed;
	}
	bitmap_copy(left, diff, KVM_MEMEXT_CHUNK_PAGES);
	r = kvm_memext_dmap_repoint(chunk->pages, KVM_MEMEXT_CHUNK_PAGES, left,
				    pm->decoy, true, chunk->huge);
	/* x86's memory failure may have unmapped a poisoned page: gone. */
	for_each_set_bit(i, left, KVM_MEMEXT_CHUNK_PAGES)
		if (PageHWPoison(chunk->pages[i]) &&
		    !kvm_memext_dmap_pfn(chunk->pages[i], NULL))
			__clear_bit(i, left);
	bitmap_andnot(diff, diff, left, KVM_MEMEXT_CHUNK_PAGES);
	bitmap_andnot(chunk->shown, chunk->shown, diff, KVM_MEMEXT_CHUNK_PAGES);
	n = bitmap_weight(diff, KVM_MEMEXT_CHUNK_PAGES);
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_HIDDEN, n);
	trace_kvm_memext_privmem_hide(pm, cidx, n, chunk->huge);
	if (!bitmap_empty(left, KVM_MEMEXT_CHUNK_PAGES))
		return r ?: -EIO;
	return 1;
}

/**
 * kvm_memext_privmem_sync_chunk() - bring a chunk's entries to what it wants
 * @pm: the file.
 * @cidx: the chunk's index.
 * @chunk: the chunk.
 * @defer_hides: pages to hide wait for hide_work, the next allowed flush.
 *
 * Shows and hides direct-map entries as kvm_memext_privmem_want() says.
 *
 * Return: 1 when it changed an entry (the caller flushes, on error too),
 * 0, or a negative errno.
 */
int kvm_memext_privmem_sync_chunk(struct kvm_memext_privmem *pm, pgoff_t cidx,
				  struct kvm_memext_privmem_chunk *chunk,
				  bool defer_hides)
{
	return privmem_sync_chunk(pm, cidx, chunk, defer_hides, NULL);
}

/**
 * kvm_memext_privmem_sync_failed() - a chunk's entries could not be synced
 * @pm: the file.
 * @cidx: the chunk's index.
 * @r: the error of kvm_memext_privmem_sync_chunk().
 *
 * Callers made every entry write allocation-free beforehand, so this is
 * memory failure or a state nobody expects: say so, and try again at the
 * next allowed flush rather than leave a page shown for good.
 */
void kvm_memext_privmem_sync_failed(struct kvm_memext_privmem *pm,
				    pgoff_t cidx, int r)
{
	lockdep_assert_held(&pm->lock);
	pr_warn_ratelimited("direct map of chunk %lu not as its ranges want: %d\n",
			    cidx, r);
	xa_set_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
	schedule_delayed_work(&pm->hide_work, max(kvm_memext_privmem_flush_delay(pm), 1UL));
}

/*
 * A page whose direct-map entry does not map it, or whose memory failed,
 * cannot go back to the allocator: keep it forever rather than hand it to
 * its next owner.  The caller showed the page and flushed the TLB since.
 * Returns true when the page was released.
 */
static bool privmem_release_page(struct kvm_memext_privmem *pm,
				 struct page *page)
{
	if (unlikely(PageHWPoison(page))) {
		pm->leaked++;
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		atomic_long_inc(&kvm_memext_privmem_stats.poisoned);
		pr_err_ratelimited("page %#lx is poisoned: kept out of the direct map\n",
				   page_to_pfn(page));
		return false;
	}
	if (unlikely(!kvm_memext_dmap_present(page))) {
		pm->leaked++;
		atomic_long_inc(&kvm_memext_privmem_stats.leaked);
		pr_err_ratelimited("page %#lx stays out of the direct map and is leaked\n",
				   page_to_pfn(page));
		return false;
	}
	put_page(page);
	return true;
}

/**
 * kvm_memext_privmem_vmap() - map pages of a file to zero them
 * @pages: the pages, which may be out of the direct map.
 * @nr: how many.
 *
 * KUnit replaces it (a static stub) to test the fallbacks for a failed
 * vmap().
 *
 * Return: the address of a temporary mapping of @pages, or NULL.
 */
VISIBLE_IF_KUNIT void *kvm_memext_privmem_vmap(struct page **pages,
					       unsigned int nr)
{
	KUNIT_STATIC_STUB_REDIRECT(kvm_memext_privmem_vmap, pages, nr);
	return vmap(pages, nr, VM_MAP, PAGE_KERNEL);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_vmap);

/* Zero pages that may be out of the direct map, through a temporary vmap. */
static bool privmem_zero_pages(struct page **pages, unsigned int nr)
{
	void *addr = kvm_memext_privmem_vmap(pages, nr);

	if (!addr)
		return false;
	memset(addr, 0, (size_t)nr * PAGE_SIZE);
	vunmap(addr);
	return true;
}

/* Show @nr pages (a whole 2 MiB block when @block); the caller flushes. */
static void privmem_show_pages(struct kvm_memext_privmem *pm,
			       struct page **pages, unsigned int nr, bool block)
{
	DECLARE_BITMAP(todo, KVM_MEMEXT_CHUNK_PAGES);

	bitmap_zero(todo, KVM_MEMEXT_CHUNK_PAGES);
	bitmap_set(todo, 0, nr);
	kvm_memext_dmap_repoint(pages, nr, todo, pm->decoy, false, block);
}

/*
 * Zero [lo, hi) of a block the file may not split, and keep the pages
 * (a hole in part of a block): through a vmap of each run of healthy
 * pages, else of each page, else (never seen) with the page shown.
 */
static void privmem_zero_in_place(struct kvm_memext_privmem *pm,
				  struct kvm_memext_privmem_chunk *chunk,
				  unsigned int lo, unsigned int hi)
{
	struct page *page;
	unsigned int i, run;

	for (i = lo; i < hi; i += run) {
		for (run = 0; i + run < hi && !PageHWPoison(chunk->pages[i + run]);)
			run++;
		if (!run) {
			run = 1;	/* poisoned: never touched again */
			continue;
		}
		if (privmem_zero_pages(&chunk->pages[i], run))
			continue;
		run = 1;
		page = chunk->pages[i];
		if (privmem_zero_pages(&page, 1))
			continue;
		if (kvm_memext_dmap_present(page)) {
			clear_highpage(page);
		} else if (!kvm_memext_dmap_show_page(page, pm->decoy)) {
			kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
			clear_highpage(page);
			/* Should it stay shown, the next sync hides it. */
			__set_bit(i, chunk->shown);
			if (!kvm_memext_dmap_hide_page(page, pm->decoy))
				__clear_bit(i, chunk->shown);
			kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
		} else {
			pr_err_ratelimited("page %#lx of a hole could not be zeroed\n",
					   page_to_pfn(page));
		}
	}
	kvm_memext_dmap_check_decoy(pm->decoy);
}

/*
 * The file's decoy (directmap.c), allocated with its first chunk and
 * charged like one to the ceiling, the owner and its memory cgroup (not to
 * the mount: it holds no data of the file).  Returns 0 or a negative errno.
 */
static int privmem_decoy_alloc(struct kvm_memext_privmem *pm)
{
	atomic_long_t *decoys = &kvm_memext_privmem_stats.decoys;
	struct page *decoy;
	int r = -ENOSPC;

	if (pm->decoy)
		return 0;
	if (atomic_long_inc_return(decoys) * KVM_MEMEXT_CHUNK_PAGES +
	    atomic_long_read(&kvm_memext_privmem_stats.pages) >
	    kvm_memext_privmem_limit_pages())
		goto err_count;
	if (pm->mm) {
		r = kvm_memext_privmem_charge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES);
		if (r)
			goto err_count;
	}
	decoy = kvm_memext_dmap_decoy_alloc(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL);
	if (!decoy) {
		r = -ENOMEM;
		goto err_charge;
	}
	WRITE_ONCE(pm->decoy, decoy);
	return 0;

err_charge:
	if (pm->mm)
		kvm_memext_privmem_uncharge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES);
err_count:
	atomic_long_dec(decoys);
	return r;
}

/* Free the decoy once no page is hidden, unless leaked pages may map it. */
static void privmem_decoy_free(struct kvm_memext_privmem *pm)
{
	if (!pm->decoy)
		return;
	if (pm->mm)
		kvm_memext_privmem_uncharge_mm(pm->mm, KVM_MEMEXT_CHUNK_PAGES);
	if (pm->leaked) {
		pr_warn("keeping a direct-map decoy: %lu leaked pages may map it\n",
			pm->leaked);
		atomic_long_add(KVM_MEMEXT_CHUNK_PAGES, &kvm_memext_privmem_stats.leaked);
	} else {
		kvm_memext_dmap_decoy_free(pm->decoy);
		atomic_long_dec(&kvm_memext_privmem_stats.decoys);
	}
	pm->decoy = NULL;
}

/* How a new chunk's 2 MiB block is allocated. */
static gfp_t privmem_block_gfp(struct kvm_memext_privmem *pm)
{
	/* Try hard where 4 KiB pages are no way out. */
	return GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
	       (pm->may_split ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL);
}

/*
 * A zeroed 2 MiB block, split into order-0 pages (KVM takes references on
 * the pages it maps), or NULL.
 */
static struct page *privmem_block_alloc(struct kvm_memext_privmem *pm)
{
	struct page *page;

	page = alloc_pages(privmem_block_gfp(pm), KVM_MEMEXT_CHUNK_ORDER);
	if (page)
		split_page(page, KVM_MEMEXT_CHUNK_ORDER);
	return page;
}

/**
 * kvm_memext_privmem_prealloc() - a 2 MiB block for a chunk's first touch
 * @pm: the file; its lock is not held.
 * @cidx: chunk index.
 *
 * Zeroing a new chunk's block is most of the cost of its first touch,
 * and splitting it a part of the rest.  Done here, before the fault takes
 * @pm->lock, the vCPUs that fault a VM's RAM in at boot zero and split
 * their chunks in parallel instead of one after the other.  The block is
 * fresh, in the direct map, and nobody else's;
 * kvm_memext_privmem_populate() takes it if the chunk still needs one.
 * A fault holds at most one, so the blocks in flight are bounded by the
 * threads faulting.
 *
 * Return: the first of 512 zeroed order-0 pages, once an order-9 block,
 * or NULL when the chunk exists, would not be one block, or no block was
 * free (populate then tries itself).
 */
struct page *kvm_memext_privmem_prealloc(struct kvm_memext_privmem *pm,
					 pgoff_t cidx)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;

	/* Unlocked hints; populate checks again under the lock. */
	if (!READ_ONCE(privmem_prealloc) ||
	    (pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) || first >= size ||
	    (size - first < KVM_MEMEXT_CHUNK_PAGES && pm->may_split) ||
	    xa_load(&pm->chunks, cidx))
		return NULL;
	return privmem_block_alloc(pm);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_prealloc);

/**
 * kvm_memext_privmem_prealloc_free() - free a block populate did not take
 * @block: from kvm_memext_privmem_prealloc(), or NULL.
 */
void kvm_memext_privmem_prealloc_free(struct page *block)
{
	unsigned int i;

	for (i = 0; block && i < KVM_MEMEXT_CHUNK_PAGES; i++)
		__free_page(block + i);
}

/* A new, empty chunk at @cidx, or an error pointer. */
static struct kvm_memext_privmem_chunk *privmem_chunk_new(struct kvm_memext_privmem *pm,
							  pgoff_t cidx)
{
	struct kvm_memext_privmem_chunk *chunk;
	int r;

	chunk = kzalloc_obj(*chunk, GFP_KERNEL_ACCOUNT);
	if (!chunk)
		return ERR_PTR(-ENOMEM);
	r = xa_insert(&pm->chunks, cidx, chunk, GFP_KERNEL_ACCOUNT);
	if (r) {
		kfree(chunk);
		return ERR_PTR(r);
	}
	return chunk;
}

/*
 * A new chunk's pages as one 2 MiB block, @spare if the fault brought one.
 * Without a block, a file that may split the direct map falls back to
 * 4 KiB pages (chunk->huge stays false); others fail with -EAGAIN.
 */
static int privmem_alloc_block(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned int nr, struct page **spare,
			       unsigned long *fresh)
{
	struct page *page;
	unsigned int i;

	if (spare && *spare) {
		page = *spare;
		*spare = NULL;
	} else {
		page = privmem_block_alloc(pm);
	}
	if (!page) {
		if (!pm->may_split) {
			kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_BLOCK,
						     global_zone_page_state(NR_FREE_PAGES));
			return -EAGAIN;
		}
		atomic_long_inc(&kvm_memext_privmem_stats.fallbacks);
		trace_kvm_memext_privmem_fallback(pm, cidx, nr, false);
		return 0;
	}
	for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++)
		chunk->pages[i] = page + i;
	bitmap_fill(fresh, KVM_MEMEXT_CHUNK_PAGES);
	chunk->huge = true;
	return 0;
}

/* The missing ones of a chunk's first @nr pages, as 4 KiB pages. */
static int privmem_alloc_pages(struct kvm_memext_privmem_chunk *chunk,
			       unsigned int nr, unsigned long *fresh)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (chunk->pages[i])
			continue;
		chunk->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!chunk->pages[i])
			return -ENOMEM;
		__set_bit(i, fresh);
	}
	return 0;
}

/* Show a failed populate's @fresh pages again: hiding them began. */
static void privmem_show_fresh(struct kvm_memext_privmem *pm,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned long *fresh)
{
	DECLARE_BITMAP(todo, KVM_MEMEXT_CHUNK_PAGES);

	bitmap_copy(todo, fresh, KVM_MEMEXT_CHUNK_PAGES);
	kvm_memext_dmap_repoint(chunk->pages, KVM_MEMEXT_CHUNK_PAGES, todo,
				pm->decoy, false, chunk->huge);
	kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_POPULATE);
}

/*
 * Free a failed populate's @fresh pages, zero (never written) and never
 * mapped, and the @charged pages' charge.
 */
static void privmem_drop_fresh(struct kvm_memext_privmem *pm,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned long *fresh, unsigned int charged)
{
	unsigned int bit, kept = 0;

	for_each_set_bit(bit, fresh, KVM_MEMEXT_CHUNK_PAGES) {
		kept += !privmem_release_page(pm, chunk->pages[bit]);
		chunk->pages[bit] = NULL;
		__clear_bit(bit, chunk->shown);
	}
	chunk->huge = false;
	kvm_memext_privmem_uncharge(pm, charged, kept);
}

/**
 * kvm_memext_privmem_populate() - allocate the missing pages of a chunk
 * @pm: the file.
 * @cidx: chunk index.
 * @out: the chunk, on success.
 * @spare: a block from kvm_memext_privmem_prealloc() to use for a new
 *	whole chunk (then set to NULL), or NULL.
 *
 * The chunk covers the pages of [cidx * 2 MiB, (cidx + 1) * 2 MiB) below the
 * file's size.  A whole new chunk is one 2 MiB block when one is free and
 * the file allows it, else 4 KiB pages; in a file that may not split the
 * direct map, always a block (a chunk at the end of the file too).
 *
 * Return: 0; -ENOMEM; -EAGAIN when no 2 MiB block could be had for a file
 * that may not split the direct map; -ENOSPC beyond the privmem_max_mb
 * ceiling; -EDQUOT beyond the caller's RLIMIT_MEMLOCK.
 */
int kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
				struct kvm_memext_privmem_chunk **out,
				struct page **spare)
{
	pgoff_t first = cidx << KVM_MEMEXT_CHUNK_ORDER;
	pgoff_t size = i_size_read(pm->inode) >> PAGE_SHIFT;
	DECLARE_BITMAP(fresh, KVM_MEMEXT_CHUNK_PAGES);
	struct kvm_memext_privmem_chunk *chunk;
	bool new = false, block;
	unsigned int nr, want;
	int r;

	lockdep_assert_held(&pm->lock);
	if (first >= size)
		return -EINVAL;
	nr = min_t(pgoff_t, KVM_MEMEXT_CHUNK_PAGES, size - first);

	chunk = xa_load(&pm->chunks, cidx);
	if (chunk && (chunk->huge || chunk->nr == nr)) {
		*out = chunk;
		return 0;
	}
	/*
	 * A chunk of 4 KiB pages from an owner that could split the direct
	 * map: filling its holes would split more, which this owner may not.
	 */
	if (chunk && !pm->may_split)
		return -EAGAIN;
	if (!chunk) {
		chunk = privmem_chunk_new(pm, cidx);
		if (IS_ERR(chunk))
			return PTR_ERR(chunk);
		new = true;
	}

	block = new && !(pm->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) &&
		(nr == KVM_MEMEXT_CHUNK_PAGES || !pm->may_split);
	want = block ? KVM_MEMEXT_CHUNK_PAGES : nr - chunk->nr;
	r = privmem_decoy_alloc(pm);
	if (r)
		goto err_chunk;
	r = kvm_memext_privmem_charge(pm, want);
	if (r)
		goto err_chunk;

	bitmap_zero(fresh, KVM_MEMEXT_CHUNK_PAGES);
	if (block)
		r = privmem_alloc_block(pm, cidx, chunk, nr, spare, fresh);
	if (!r && !chunk->huge)
		r = privmem_alloc_pages(chunk, nr, fresh);
	if (r)
		goto err_fresh;

	/* Fresh pages are in the direct map: hide all but accessible ones. */
	bitmap_or(chunk->shown, chunk->shown, fresh, KVM_MEMEXT_CHUNK_PAGES);
	r = privmem_sync_chunk(pm, cidx, chunk, false, fresh);
	if (r)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_POPULATE);
	if (r < 0)
		goto err_show;

	chunk->nr += want;
	pm->inode->i_blocks += (blkcnt_t)want << (PAGE_SHIFT - 9);
	if (chunk->huge)
		atomic_long_inc(&kvm_memext_privmem_stats.chunks);
	trace_kvm_memext_privmem_chunk_alloc(pm, cidx, want, chunk->huge);
	*out = chunk;
	return 0;

err_show:
	privmem_show_fresh(pm, chunk, fresh);
err_fresh:
	privmem_drop_fresh(pm, chunk, fresh, want);
err_chunk:
	if (new) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_populate);

/*
 * Zero and restore the pages in slots [lo, hi) of a chunk, and queue them
 * on @release for the flush that lets them go.  Returns true if it queued.
 */
static bool privmem_free_slots(struct kvm_memext_privmem *pm, pgoff_t cidx,
			       struct kvm_memext_privmem_chunk *chunk,
			       unsigned int lo, unsigned int hi,
			       struct list_head *release)
{
	unsigned int i, n = lo, gone = 0;
	struct page *page;
	bool zeroed;

	if (chunk->huge && !pm->may_split &&
	    (lo || hi < KVM_MEMEXT_CHUNK_PAGES)) {
		privmem_zero_in_place(pm, chunk, lo, hi);
		return false;
	}

	/*
	 * Gather the healthy pages at the front of the range, in order; a
	 * poisoned page stays hidden and is never touched again.
	 */
	for (i = lo; i < hi; i++) {
		page = chunk->pages[i];
		if (!page)
			continue;
		chunk->pages[i] = NULL;
		gone++;
		if (PageHWPoison(page))
			privmem_release_page(pm, page);	/* kept */
		else
			chunk->pages[n++] = page;
	}
	if (!gone)
		return false;
	bitmap_clear(chunk->shown, lo, hi - lo);

	/*
	 * Zero through a temporary mapping while the pages are hidden, show
	 * them (a whole block in one entry write); the caller flushes, and
	 * only then releases them.  The pages are the module's own, off any
	 * LRU: their lru field is free for the queue.
	 */
	if (n > lo) {
		zeroed = privmem_zero_pages(&chunk->pages[lo], n - lo);
		privmem_show_pages(pm, &chunk->pages[lo], n - lo,
				   chunk->huge && n - lo == KVM_MEMEXT_CHUNK_PAGES);
		/*
		 * No vmap(): zero through the direct map, which a CPU may
		 * still translate to the decoy until a flush.
		 */
		if (!zeroed)
			kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
		for (i = lo; i < n; i++) {
			page = chunk->pages[i];
			if (!zeroed && kvm_memext_dmap_present(page))
				clear_highpage(page);
			list_add_tail(&page->lru, release);
			chunk->pages[i] = NULL;
		}
	}

	trace_kvm_memext_privmem_chunk_free(pm, cidx, gone, chunk->huge);
	if (chunk->huge)
		atomic_long_dec(&kvm_memext_privmem_stats.chunks);
	chunk->huge = false;
	chunk->nr -= gone;
	pm->inode->i_blocks -= (blkcnt_t)gone << (PAGE_SHIFT - 9);
	/* Off the owner now; under the ceiling until released. */
	kvm_memext_privmem_uncharge_owner(pm, gone);
	if (!chunk->nr) {
		xa_erase(&pm->chunks, cidx);
		kfree(chunk);
	}
	return n > lo;
}

/*
 * Flush once for the pages freed so far, then release them.  Punch and
 * refault in a loop flush within the owner's budget: the caller waits.
 */
static void privmem_release_batch(struct kvm_memext_privmem *pm,
				  struct list_head *release)
{
	struct page *page, *tmp;
	unsigned long delay;
	long released = 0;

	if (list_empty(release))
		return;
	while ((delay = kvm_memext_privmem_flush_delay(pm)))
		schedule_timeout_uninterruptible(delay);
	kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_FREE);
	list_for_each_entry_safe(page, tmp, release, lru) {
		list_del(&page->lru);
		released += privmem_release_page(pm, page);
	}
	atomic_long_sub(released, &kvm_memext_privmem_stats.pages);
	kvm_memext_dmap_check_decoy(pm->decoy);
}

static void privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
			       pgoff_t end, unsigned int batch)
{
	struct kvm_memext_privmem_chunk *chunk;
	unsigned int batched = 0;
	LIST_HEAD(release);
	unsigned long cidx;
	pgoff_t first;

	if (start >= end)
		return;
	xa_for_each_range(&pm->chunks, cidx, chunk,
			  start >> KVM_MEMEXT_CHUNK_ORDER,
			  (end - 1) >> KVM_MEMEXT_CHUNK_ORDER) {
		first = cidx << KVM_MEMEXT_CHUNK_ORDER;
		if (privmem_free_slots(pm, cidx, chunk, max(start, first) - first,
				       min(end, first + KVM_MEMEXT_CHUNK_PAGES) - first,
				       &release) &&
		    ++batched == batch) {
			privmem_release_batch(pm, &release);
			batched = 0;
		}
		cond_resched();
	}
	privmem_release_batch(pm, &release);
}

/**
 * kvm_memext_privmem_free_range() - free the pages of a range
 * @pm: the file.
 * @start: first page.
 * @end: end page (exclusive).
 *
 * The caller unmapped the range from every mapping first.  In a file that
 * may not split the direct map, the part of a block in the range is zeroed
 * and kept.  Costs a step per chunk that exists, and one TLB flush per
 * PRIVMEM_FREE_BATCH chunks, within the owner's flush budget (it waits).
 */
void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
				   pgoff_t end)
{
	privmem_free_range(pm, start, end, PRIVMEM_FREE_BATCH);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_free_range);

/* Hide the pages whose hiding waited for the owner's next allowed flush. */
static void privmem_hide_work(struct work_struct *work)
{
	struct kvm_memext_privmem *pm = container_of(to_delayed_work(work),
						     struct kvm_memext_privmem,
						     hide_work);
	struct kvm_memext_privmem_chunk *chunk;
	unsigned long cidx, delay;
	bool changed = false;
	int r;

	mutex_lock(&pm->lock);
	/* Other files of the owner may have spent its budget meanwhile. */
	delay = kvm_memext_privmem_flush_delay(pm);
	if (delay) {
		schedule_delayed_work(&pm->hide_work, delay);
		mutex_unlock(&pm->lock);
		return;
	}
	xa_for_each_marked(&pm->chunks, cidx, chunk, KVM_MEMEXT_PRIVMEM_PENDING) {
		xa_clear_mark(&pm->chunks, cidx, KVM_MEMEXT_PRIVMEM_PENDING);
		r = kvm_memext_privmem_sync_chunk(pm, cidx, chunk, false);
		if (r < 0)
			kvm_memext_privmem_sync_failed(pm, cidx, r);
		changed |= r;
		cond_resched();
	}
	if (changed)
		kvm_memext_privmem_flush(pm, KVM_MEMEXT_FLUSH_HIDE);
	mutex_unlock(&pm->lock);
}

/**
 * kvm_memext_privmem_pages_init() - set up the page state of a new file
 * @pm: the file.
 */
void kvm_memext_privmem_pages_init(struct kvm_memext_privmem *pm)
{
	xa_init(&pm->chunks);
	INIT_LIST_HEAD(&pm->clocks);
	pm->ranges = RB_ROOT;
	INIT_DELAYED_WORK(&pm->hide_work, privmem_hide_work);
}

/**
 * kvm_memext_privmem_pages_destroy() - free every page and range of a file
 * @pm: the file, no longer mapped anywhere.
 */
void kvm_memext_privmem_pages_destroy(struct kvm_memext_privmem *pm)
{
	cancel_delayed_work_sync(&pm->hide_work);
	privmem_free_range(pm, 0, ULONG_MAX >> PAGE_SHIFT, PRIVMEM_DESTROY_BATCH);
	kvm_memext_privmem_ranges_destroy(pm);
	xa_destroy(&pm->chunks);
	privmem_decoy_free(pm);
	kvm_memext_privmem_tenant_put(pm);
}
