// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest-page caches: a guest-physical range of up to
 * KVM_MEMEXT_GPC_MAX_PAGES pages, which may cross page and memslot
 * boundaries, kept mapped into the kernel and valid all together.
 *
 * Modelled on KVM's virt/kvm/pfncache.c, with these differences:
 *
 * - One raw spinlock covers every page, so a check succeeds only when the
 *   whole range is valid and a write can never be torn by an invalidation.
 * - Pages are mapped with vmap() or ioremap(), never through the direct
 *   map (cache_map.c, the mapping layer); a range that mixes struct-page
 *   and IO memory gets one mapping per run, which the copy helpers hide.
 * - Validity is kept by this module's own mmu_notifier on the VM's mm, with
 *   KVM's in-progress count + sequence retry protocol, and by KVM's memslot
 *   generation: any memslot change invalidates every cache in O(1), since a
 *   check compares the generation the translation was made under with the
 *   current one.  No page stays pinned.
 *
 * Lock order:
 *   gpc->refresh_lock (mutex: refresh, activate, deactivate)
 *     -> mmap_lock (read: GUP, follow_pfnmap)
 *       -> [mmu notifier] vm->mn_lock (spinlock: the VM's list of caches)
 *         -> gpc->lock (raw spinlock, interrupts off: the cache's state)
 *   vm->cache_lock (mutex: the notifier's registration) -> mmap_lock (write)
 * gpc->lock is taken in any context (hard interrupts, the scheduler's
 * preempt notifiers), inside kvm->srcu; nothing sleeps under it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/vmalloc.h>

#include "kvm_memext.h"
#include "cache.h"
#include "stats.h"
#include "trace.h"

/**
 * kvm_memext_gpc_span() - validate a range and count the pages it spans
 * @gpa: start of the range
 * @len: length in bytes
 * @nr_pages: out: number of pages
 *
 * Return: 0, or -EINVAL for an empty, wrapping or too long range.
 */
VISIBLE_IF_KUNIT int kvm_memext_gpc_span(u64 gpa, unsigned long len,
					 unsigned int *nr_pages)
{
	u64 last;

	if (!len || check_add_overflow(gpa, (u64)len - 1, &last))
		return -EINVAL;
	if ((last >> PAGE_SHIFT) - (gpa >> PAGE_SHIFT) >= KVM_MEMEXT_GPC_MAX_PAGES)
		return -EINVAL;
	*nr_pages = (last >> PAGE_SHIFT) - (gpa >> PAGE_SHIFT) + 1;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_span);

/*
 * Whether [start, end) of the host address space hits any page of the
 * cache: every page, not only the first, since a straddling range may live
 * in two unrelated host mappings.
 */
VISIBLE_IF_KUNIT bool kvm_memext_gpc_overlaps(const unsigned long *uhva,
					      unsigned int nr,
					      unsigned long start,
					      unsigned long end)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (uhva[i] < end && uhva[i] + PAGE_SIZE > start)
			return true;
	return false;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_overlaps);

/* A translation is current only under the memslots it was made with. */
VISIBLE_IF_KUNIT bool kvm_memext_gpc_fresh(const struct kvm_memext_gpc *gpc,
					   u64 generation)
{
	return gpc->active && gpc->valid && gpc->generation == generation;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_gpc_fresh);

/* The mmu_notifier side: KVM's in-progress count + sequence protocol. */

VISIBLE_IF_KUNIT void kvm_memext_mn_start(struct kvm_memext_vm *vm,
					  unsigned long start,
					  unsigned long end)
{
	struct kvm_memext_gpc *gpc;
	unsigned long flags;

	spin_lock(&vm->mn_lock);
	vm->mn_active++;
	list_for_each_entry(gpc, &vm->caches, node) {
		raw_spin_lock_irqsave(&gpc->lock, flags);
		if (gpc->valid &&
		    kvm_memext_gpc_overlaps(gpc->uhva, gpc->nr_pages, start, end)) {
			gpc->valid = false;
			kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_CACHE_INVALIDATIONS);
			trace_kvm_memext_cache_invalidate(gpc, 0);
		}
		raw_spin_unlock_irqrestore(&gpc->lock, flags);
	}
	spin_unlock(&vm->mn_lock);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_mn_start);

VISIBLE_IF_KUNIT void kvm_memext_mn_end(struct kvm_memext_vm *vm)
{
	spin_lock(&vm->mn_lock);
	/* Every end follows its start: the core calls both or neither. */
	WARN_ON_ONCE(!vm->mn_active);
	vm->mn_seq++;
	/* Pairs with smp_rmb() in kvm_memext_mn_retry(). */
	smp_wmb();
	vm->mn_active--;
	spin_unlock(&vm->mn_lock);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_mn_end);

/*
 * Whether a translation made after reading @seq may be stale.  Called with
 * the cache's lock held, after the cache's host addresses were published:
 * an invalidation that started later finds the cache and marks it invalid.
 */
VISIBLE_IF_KUNIT bool kvm_memext_mn_retry(struct kvm_memext_vm *vm,
					  unsigned long seq)
{
	if (READ_ONCE(vm->mn_active))
		return true;
	/* Pairs with smp_wmb() in kvm_memext_mn_end(). */
	smp_rmb();
	return READ_ONCE(vm->mn_seq) != seq;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_mn_retry);

/*
 * Unmap, now, the kernel mappings of caches that overlap [start, end), which
 * an invalidation in progress has just marked invalid.  Otherwise they stay
 * until the next refresh or deactivation, and a page freed meanwhile (e.g.
 * a private-memory page, back in the direct map and reused) would keep a
 * second kernel alias.  Sleeps (vunmap); one cache per pass, since the list
 * lock must be dropped to unmap.
 */
VISIBLE_IF_KUNIT void kvm_memext_mn_teardown(struct kvm_memext_vm *vm,
					     unsigned long start,
					     unsigned long end)
{
	struct kvm_memext_gpc_map old[KVM_MEMEXT_GPC_MAX_PAGES];
	struct kvm_memext_gpc *gpc;
	unsigned int nr_old;

	do {
		nr_old = 0;
		spin_lock(&vm->mn_lock);
		list_for_each_entry(gpc, &vm->caches, node) {
			raw_spin_lock_irq(&gpc->lock);
			if (!gpc->valid && gpc->nr_maps &&
			    kvm_memext_gpc_overlaps(gpc->uhva, gpc->nr_pages,
						    start, end)) {
				nr_old = gpc->nr_maps;
				memcpy(old, gpc->maps, nr_old * sizeof(old[0]));
				gpc->nr_maps = 0;
				gpc->khva = NULL;
			}
			raw_spin_unlock_irq(&gpc->lock);
			if (nr_old)
				break;
		}
		spin_unlock(&vm->mn_lock);
		kvm_memext_gpc_unmap(old, nr_old);
	} while (nr_old);
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_mn_teardown);

/*
 * A non-blockable invalidation cannot vunmap(): it marks the caches
 * invalid (no user reads or writes through them from then on) and leaves
 * their mappings to this work.  Private-memory pages never reach it: only
 * the module frees them, after a blockable unmap_mapping_range().
 */
static void mn_teardown_fn(struct work_struct *work)
{
	kvm_memext_mn_teardown(container_of(work, struct kvm_memext_vm,
					    mn_teardown_work), 0, ULONG_MAX);
}

static int mn_invalidate_range_start(struct mmu_notifier *mn,
				     const struct mmu_notifier_range *range)
{
	struct kvm_memext_vm *vm = container_of(mn, struct kvm_memext_vm, mn);

	/* Spinlocks only: fine for non-blockable callers (OOM reaper). */
	kvm_memext_mn_start(vm, range->start, range->end);
	if (mmu_notifier_range_blockable(range))
		kvm_memext_mn_teardown(vm, range->start, range->end);
	else
		schedule_work(&vm->mn_teardown_work);
	return 0;
}

static void mn_invalidate_range_end(struct mmu_notifier *mn,
				    const struct mmu_notifier_range *range)
{
	kvm_memext_mn_end(container_of(mn, struct kvm_memext_vm, mn));
}

static void mn_release(struct mmu_notifier *mn,
		       struct mm_struct *mm)
{
	struct kvm_memext_vm *vm = container_of(mn, struct kvm_memext_vm, mn);

	kvm_memext_mn_start(vm, 0, ULONG_MAX);
	/*
	 * exit_mmap() frees the pages next, and no invalidation follows:
	 * no kernel alias of them may outlive them.
	 */
	kvm_memext_mn_teardown(vm, 0, ULONG_MAX);
	kvm_memext_mn_end(vm);
}

static const struct mmu_notifier_ops kvm_memext_mn_ops = {
	.invalidate_range_start	= mn_invalidate_range_start,
	.invalidate_range_end	= mn_invalidate_range_end,
	.release		= mn_release,
};

/* Register the VM's notifier on first use: batches do not need it. */
static int mn_register(struct kvm_memext_vm *vm)
{
	struct mm_struct *mm = vm->kvm->mm;
	int r = 0;

	mutex_lock(&vm->cache_lock);
	if (!vm->mn_registered) {
		if (mmget_not_zero(mm)) {
			INIT_WORK(&vm->mn_teardown_work, mn_teardown_fn);
			vm->mn.ops = &kvm_memext_mn_ops;
			r = mmu_notifier_register(&vm->mn, mm);
			vm->mn_registered = !r;
			mmput(mm);
		} else {
			r = -EFAULT;
		}
	}
	mutex_unlock(&vm->cache_lock);
	return r;
}

/**
 * kvm_memext_cache_init_vm() - set up the cache state of a new VM handle
 * @vm: the handle's state, not yet visible to anyone
 *
 * The mmu notifier is registered on first use (mn_register()).
 */
void kvm_memext_cache_init_vm(struct kvm_memext_vm *vm)
{
	mutex_init(&vm->cache_lock);
	spin_lock_init(&vm->mn_lock);
	INIT_LIST_HEAD(&vm->caches);
}

/**
 * kvm_memext_cache_release_vm() - tear down the caches' state of a handle
 * @vm: the handle's state; no cache of it may be active any more
 */
void kvm_memext_cache_release_vm(struct kvm_memext_vm *vm)
{
	if (vm->mn_registered) {
		mmu_notifier_unregister(&vm->mn, vm->kvm->mm);
		/* No invalidation queues it any more; nothing is left to unmap. */
		cancel_work_sync(&vm->mn_teardown_work);
	}
	mutex_destroy(&vm->cache_lock);
}

/**
 * kvm_memext_gpc_init() - initialise a cache
 * @gpc: the cache
 * @vm: the VM handle state it belongs to; must outlive the cache's use
 */
void kvm_memext_gpc_init(struct kvm_memext_gpc *gpc, struct kvm_memext_vm *vm)
{
	memset(gpc, 0, sizeof(*gpc));
	raw_spin_lock_init(&gpc->lock);
	mutex_init(&gpc->refresh_lock);
	INIT_LIST_HEAD(&gpc->node);
	gpc->vm = vm;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_init);

/*
 * Translate every page under the current memslots.  -EFAULT: a page has
 * no usable memslot; -EOPNOTSUPP: a written page is dirty-logged through
 * a dirty ring without bitmap, which a module cannot push to.
 */
static int gpc_translate(struct kvm_memext_gpc *gpc, u64 *gen,
			 unsigned long *uhva,
			 struct kvm_memory_slot **memslot)
{
	struct kvm *kvm = gpc->vm->kvm;
	bool write = gpc->flags & KVM_MEMEXT_GPC_WRITE;
	struct kvm_memslots *slots;
	unsigned int i;
	int idx, r = 0;

	idx = srcu_read_lock(&kvm->srcu);
	slots = __kvm_memslots(kvm, gpc->as_id);
	*gen = slots->generation;
	for (i = 0; i < gpc->nr_pages; i++) {
		gfn_t gfn = (gpc->gpa >> PAGE_SHIFT) + i;
		struct kvm_memory_slot *slot = __gfn_to_memslot(slots, gfn);

		if (!slot || (slot->flags & KVM_MEMSLOT_INVALID) ||
		    (write && (slot->flags & KVM_MEM_READONLY))) {
			r = -EFAULT;
			break;
		}
		if (write && kvm_slot_dirty_track_enabled(slot) &&
		    !slot->dirty_bitmap) {
			r = -EOPNOTSUPP;
			break;
		}
		memslot[i] = slot;
		uhva[i] = __gfn_to_hva_memslot(slot, gfn);
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return r;
}

/* What one refresh builds before publishing it. */
struct kvm_memext_gpc_scratch {
	struct kvm_memext_gpc_map maps[KVM_MEMEXT_GPC_MAX_PAGES];
	struct kvm_memext_gpc_map old[KVM_MEMEXT_GPC_MAX_PAGES];
	struct kvm_memory_slot *memslot[KVM_MEMEXT_GPC_MAX_PAGES];
	struct page *pages[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned long uhva[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned long pfn[KVM_MEMEXT_GPC_MAX_PAGES];
	pgprot_t prot[KVM_MEMEXT_GPC_MAX_PAGES];
};

static int __kvm_memext_gpc_refresh(struct kvm_memext_gpc *gpc)
{
	struct kvm_memext_vm *vm = gpc->vm;
	struct mm_struct *mm = vm->kvm->mm;
	unsigned int nr = gpc->nr_pages, nr_old;
	struct kvm_memext_gpc_scratch *s;
	unsigned long seq;
	int r, n;
	u64 gen;

	lockdep_assert_held(&gpc->refresh_lock);
	s = kmalloc_obj(*s, GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		kfree(s);
		return -EFAULT;
	}

	for (;;) {
		r = -EINTR;
		if (fatal_signal_pending(current))
			break;
		r = gpc_translate(gpc, &gen, s->uhva, s->memslot);
		if (r)
			break;

		/*
		 * Invalidations from here on see the new host addresses, so
		 * the old mappings go now: one of the old range would not
		 * find them, and a failed refresh would keep them.
		 */
		raw_spin_lock_irq(&gpc->lock);
		gpc->valid = false;
		memcpy(gpc->uhva, s->uhva, nr * sizeof(s->uhva[0]));
		nr_old = gpc->nr_maps;
		memcpy(s->old, gpc->maps, nr_old * sizeof(s->old[0]));
		gpc->nr_maps = 0;
		gpc->khva = NULL;
		seq = READ_ONCE(vm->mn_seq);
		/* Pairs with smp_wmb() in kvm_memext_mn_end(). */
		smp_rmb();
		raw_spin_unlock_irq(&gpc->lock);
		kvm_memext_gpc_unmap(s->old, nr_old);

		r = kvm_memext_gpc_resolve(mm, s->uhva, nr,
					   gpc->flags & KVM_MEMEXT_GPC_WRITE,
					   s->pfn, s->prot, s->pages);
		if (r)
			break;
		n = kvm_memext_gpc_map_pfns(s->pfn, s->prot, nr, s->maps);
		if (n < 0) {
			kvm_memext_gpc_put_pages(s->pages, nr);
			r = n;
			break;
		}

		raw_spin_lock_irq(&gpc->lock);
		if (!kvm_memext_mn_retry(vm, seq)) {
			memcpy(gpc->maps, s->maps, n * sizeof(s->maps[0]));
			memcpy(gpc->memslot, s->memslot, nr * sizeof(s->memslot[0]));
			memcpy(gpc->pfn, s->pfn, nr * sizeof(s->pfn[0]));
			gpc->nr_maps = n;
			gpc->khva = n == 1 && s->maps[0].addr ?
				s->maps[0].addr + offset_in_page(gpc->gpa) : NULL;
			gpc->generation = gen;
			gpc->valid = true;
			raw_spin_unlock_irq(&gpc->lock);
			kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_CACHE_REFRESHES);
			kvm_memext_gpc_put_pages(s->pages, nr);
			break;
		}
		raw_spin_unlock_irq(&gpc->lock);
		/* An invalidation raced with us: try again. */
		kvm_memext_gpc_unmap(s->maps, n);
		kvm_memext_gpc_put_pages(s->pages, nr);
		cond_resched();
	}
	mmput(mm);
	kfree(s);
	trace_kvm_memext_cache_refresh(gpc, r);
	return r;
}

/**
 * kvm_memext_gpc_refresh() - make a cache valid again
 * @gpc: an active cache
 *
 * Translates the range under the current memslots, faults its pages in
 * and maps them.  Sleeps.  On failure the cache stays invalid.
 *
 * Return: 0, -EINVAL (not active), -EFAULT (a page has no memslot, the
 * slot is read-only but the cache writes, or the host mapping is gone),
 * -EOPNOTSUPP (see Documentation/cache.rst), -ENOMEM, -EINTR.
 */
int kvm_memext_gpc_refresh(struct kvm_memext_gpc *gpc)
{
	int r = -EINVAL;

	might_sleep();
	mutex_lock(&gpc->refresh_lock);
	if (gpc->active)
		r = __kvm_memext_gpc_refresh(gpc);
	mutex_unlock(&gpc->refresh_lock);
	return r;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_refresh);

/**
 * kvm_memext_gpc_activate() - start caching a range
 * @gpc: an initialised, inactive cache
 * @as_id: KVM address space of @gpa
 * @gpa: start of the range
 * @len: length in bytes; the range may span up to KVM_MEMEXT_GPC_MAX_PAGES
 *	 pages
 * @flags: KVM_MEMEXT_GPC_WRITE if the range is written through the cache
 *
 * Sleeps.  The range is refreshed once; a refresh failure leaves the cache
 * active (and invalid) and is returned.
 *
 * Return: 0, -EINVAL for a bad range, flags or address space, -EBUSY if
 * already active, -EINTR if a signal (not only a fatal one) is pending
 * while the handle's first cache registers its mmu notifier, or an error
 * of kvm_memext_gpc_refresh().
 */
int kvm_memext_gpc_activate(struct kvm_memext_gpc *gpc, int as_id, u64 gpa,
			    unsigned long len, u32 flags)
{
	struct kvm_memext_vm *vm = gpc->vm;
	unsigned int nr;
	int r;

	if ((flags & ~KVM_MEMEXT_GPC_WRITE) || as_id < 0 ||
	    as_id >= kvm_memext_nr_as(vm->kvm) ||
	    kvm_memext_gpc_span(gpa, len, &nr))
		return -EINVAL;
	r = mn_register(vm);
	if (r)
		return r;

	mutex_lock(&gpc->refresh_lock);
	if (gpc->active) {
		mutex_unlock(&gpc->refresh_lock);
		return -EBUSY;
	}
	raw_spin_lock_irq(&gpc->lock);
	gpc->gpa = gpa;
	gpc->len = len;
	gpc->flags = flags;
	gpc->as_id = as_id;
	gpc->nr_pages = nr;
	gpc->valid = false;
	gpc->active = true;
	raw_spin_unlock_irq(&gpc->lock);

	spin_lock(&vm->mn_lock);
	list_add(&gpc->node, &vm->caches);
	spin_unlock(&vm->mn_lock);
	kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_CACHES);

	r = __kvm_memext_gpc_refresh(gpc);
	trace_kvm_memext_cache_activate(gpc, r);
	mutex_unlock(&gpc->refresh_lock);
	return r;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_activate);

/**
 * kvm_memext_gpc_deactivate() - stop caching, unmap everything
 * @gpc: the cache; active or not
 *
 * Sleeps.  The cache can be activated again, or simply freed.
 */
void kvm_memext_gpc_deactivate(struct kvm_memext_gpc *gpc)
{
	struct kvm_memext_vm *vm = gpc->vm;
	struct kvm_memext_gpc_map old[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned int nr_old;

	mutex_lock(&gpc->refresh_lock);
	if (!gpc->active) {
		mutex_unlock(&gpc->refresh_lock);
		return;
	}
	/*
	 * Invalid before it leaves the list, as pfncache does: until then an
	 * invalidation still finds it, and once it is off the list no user
	 * can pass the check and write through the mappings torn down below.
	 */
	raw_spin_lock_irq(&gpc->lock);
	gpc->active = false;
	gpc->valid = false;
	nr_old = gpc->nr_maps;
	memcpy(old, gpc->maps, nr_old * sizeof(old[0]));
	gpc->nr_maps = 0;
	gpc->khva = NULL;
	raw_spin_unlock_irq(&gpc->lock);

	spin_lock(&vm->mn_lock);
	list_del_init(&gpc->node);
	spin_unlock(&vm->mn_lock);
	kvm_memext_stat_add(vm, KVM_MEMEXT_STAT_CACHES, -1);
	trace_kvm_memext_cache_teardown(gpc, 0);
	mutex_unlock(&gpc->refresh_lock);

	kvm_memext_gpc_unmap(old, nr_old);
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_deactivate);

/**
 * kvm_memext_gpc_lock() - lock a cache for check and copy
 * @gpc: an initialised cache
 *
 * Usable in any context, hard interrupts and the scheduler's preempt
 * notifiers included: enters kvm->srcu (so that the memslots the cache
 * recorded stay alive) and takes the raw lock with interrupts disabled.
 */
void kvm_memext_gpc_lock(struct kvm_memext_gpc *gpc)
	__acquires(&gpc->lock) __acquires(&gpc->vm->kvm->srcu)
{
	int idx = srcu_read_lock(&gpc->vm->kvm->srcu);
	unsigned long flags;

	raw_spin_lock_irqsave(&gpc->lock, flags);
	gpc->srcu_idx = idx;
	gpc->irq_flags = flags;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_lock);

/**
 * kvm_memext_gpc_unlock() - unlock a cache
 * @gpc: a cache locked with kvm_memext_gpc_lock()
 */
void kvm_memext_gpc_unlock(struct kvm_memext_gpc *gpc)
	__releases(&gpc->lock) __releases(&gpc->vm->kvm->srcu)
{
	unsigned long flags = gpc->irq_flags;
	int idx = gpc->srcu_idx;

	raw_spin_unlock_irqrestore(&gpc->lock, flags);
	srcu_read_unlock(&gpc->vm->kvm->srcu, idx);
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_unlock);

/**
 * kvm_memext_gpc_check() - whether every page of the range is usable
 * @gpc: a cache locked with kvm_memext_gpc_lock()
 *
 * Return: true if the whole range is mapped and current: no invalidation
 * hit any of its pages and the memslots did not change since the refresh.
 * Until the unlock, the range then stays valid.
 */
bool kvm_memext_gpc_check(struct kvm_memext_gpc *gpc)
{
	lockdep_assert_held(&gpc->lock);
	if (!gpc->active)
		return false;
	return kvm_memext_gpc_fresh(gpc,
				    __kvm_memslots(gpc->vm->kvm, gpc->as_id)->generation);
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_check);

/*
 * The split path: copy @n bytes at byte @pos of the range's first page, all
 * within one page, to (@to_guest) or from @buf.
 */
static void gpc_copy_page(struct kvm_memext_gpc *gpc,
			  unsigned long pos, void *buf,
			  unsigned long n, bool to_guest)
{
	unsigned int page = pos >> PAGE_SHIFT, i;

	for (i = 0; i < gpc->nr_maps; i++) {
		struct kvm_memext_gpc_map *m = &gpc->maps[i];
		unsigned long off = pos - ((unsigned long)m->first << PAGE_SHIFT);

		if (page < m->first || page >= m->first + m->nr)
			continue;
		if (m->iomem && to_guest)
			memcpy_toio(m->iomem + off, buf, n);
		else if (m->iomem)
			memcpy_fromio(buf, m->iomem + off, n);
		else if (to_guest)
			memcpy(m->addr + off, buf, n);
		else
			memcpy(buf, m->addr + off, n);
		return;
	}
}

static void gpc_mark_dirty(struct kvm_memext_gpc *gpc,
			   unsigned int page)
{
	struct kvm_memory_slot *slot = gpc->memslot[page];
	gfn_t gfn = (gpc->gpa >> PAGE_SHIFT) + page;

	/* The bitmap, as KVM itself does for writes outside a vCPU. */
	if (kvm_slot_dirty_track_enabled(slot) && slot->dirty_bitmap)
		set_bit_le(gfn - slot->base_gfn, slot->dirty_bitmap);
}

static bool gpc_in_range(struct kvm_memext_gpc *gpc,
			 unsigned long offset, unsigned long len)
{
	return offset <= gpc->len && len <= gpc->len - offset;
}

/**
 * kvm_memext_gpc_copy_to() - write into a checked cache
 * @gpc: a cache activated with KVM_MEMEXT_GPC_WRITE (the others are mapped
 *	 read-only), locked with kvm_memext_gpc_lock(), whose check succeeded
 * @offset: byte offset into the range
 * @data: what to write
 * @len: how many bytes; @offset + @len must not exceed the range
 *
 * Marks every page written dirty in KVM's dirty log.
 */
void kvm_memext_gpc_copy_to(struct kvm_memext_gpc *gpc, unsigned long offset,
			    const void *data, unsigned long len)
{
	unsigned long pos = offset_in_page(gpc->gpa) + offset, end = pos + len;

	lockdep_assert_held(&gpc->lock);
	if (gpc->khva) {
		memcpy(gpc->khva + offset, data, len);
	} else {
		while (pos < end) {
			unsigned long n = min(end - pos, PAGE_SIZE - offset_in_page(pos));

			gpc_copy_page(gpc, pos, (void *)data, n, true);
			data += n;
			pos += n;
		}
	}
	kvm_memext_gpc_mark_dirty(gpc, offset, len);
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_copy_to);

/**
 * kvm_memext_gpc_mark_dirty() - log writes made through @khva
 * @gpc: a cache locked with kvm_memext_gpc_lock() whose check succeeded
 * @offset: byte offset into the range
 * @len: how many bytes were written; @offset + @len must not exceed it
 *
 * kvm_memext_gpc_copy_to() logs its own writes.  A user that stores
 * through @khva itself, several times under one check, logs them with
 * one call here, as KVM marks a page once after its own stores.
 */
void kvm_memext_gpc_mark_dirty(struct kvm_memext_gpc *gpc,
			       unsigned long offset, unsigned long len)
{
	unsigned long pos = offset_in_page(gpc->gpa) + offset;
	unsigned int page;

	lockdep_assert_held(&gpc->lock);
	for (page = pos >> PAGE_SHIFT; len && page <= (pos + len - 1) >> PAGE_SHIFT; page++)
		gpc_mark_dirty(gpc, page);
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_mark_dirty);

/**
 * kvm_memext_gpc_copy_from() - read from a checked cache
 * @gpc: a cache locked with kvm_memext_gpc_lock() whose check succeeded
 * @offset: byte offset into the range
 * @data: where to read to
 * @len: how many bytes; @offset + @len must not exceed the range
 */
void kvm_memext_gpc_copy_from(struct kvm_memext_gpc *gpc, unsigned long offset,
			      void *data, unsigned long len)
{
	unsigned long pos = offset_in_page(gpc->gpa) + offset, end = pos + len;

	lockdep_assert_held(&gpc->lock);
	if (gpc->khva) {
		memcpy(data, gpc->khva + offset, len);
		return;
	}
	while (pos < end) {
		unsigned long n = min(end - pos, PAGE_SIZE - offset_in_page(pos));

		gpc_copy_page(gpc, pos, data, n, false);
		data += n;
		pos += n;
	}
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_copy_from);

/**
 * kvm_memext_gpc_write() - write through a cache, all or nothing
 * @gpc: an active cache
 * @offset: byte offset into the range
 * @data: what to write
 * @len: how many bytes
 *
 * Any context.  Writes only when every page of the range is valid.
 *
 * Return: 0, -EAGAIN if the cache must be refreshed first (nothing was
 * written), -EINVAL if @offset/@len exceed the range or the cache was not
 * activated with KVM_MEMEXT_GPC_WRITE.
 */
int kvm_memext_gpc_write(struct kvm_memext_gpc *gpc, unsigned long offset,
			 const void *data, unsigned long len)
{
	int r = -EAGAIN;

	if (!gpc_in_range(gpc, offset, len) ||
	    !(gpc->flags & KVM_MEMEXT_GPC_WRITE))
		return -EINVAL;
	kvm_memext_gpc_lock(gpc);
	if (kvm_memext_gpc_check(gpc)) {
		kvm_memext_gpc_copy_to(gpc, offset, data, len);
		r = 0;
	}
	kvm_memext_gpc_unlock(gpc);
	return r;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_write);

/**
 * kvm_memext_gpc_read() - read through a cache
 * @gpc: an active cache
 * @offset: byte offset into the range
 * @data: where to read to
 * @len: how many bytes
 *
 * Any context.
 *
 * Return: 0, -EAGAIN if the cache must be refreshed first, -EINVAL if
 * @offset/@len exceed the range.
 */
int kvm_memext_gpc_read(struct kvm_memext_gpc *gpc, unsigned long offset,
			void *data, unsigned long len)
{
	int r = -EAGAIN;

	if (!gpc_in_range(gpc, offset, len))
		return -EINVAL;
	kvm_memext_gpc_lock(gpc);
	if (kvm_memext_gpc_check(gpc)) {
		kvm_memext_gpc_copy_from(gpc, offset, data, len);
		r = 0;
	}
	kvm_memext_gpc_unlock(gpc);
	return r;
}
EXPORT_SYMBOL_GPL(kvm_memext_gpc_read);
