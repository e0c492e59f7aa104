/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_PRIVMEM_H
#define _KVM_MEMEXT_PRIVMEM_H

/*
 * Private-memory files: the file system and its files (privmem_fs.c,
 * privmem.c); what callers make accessible (privmem_access.c); the pages,
 * in 2 MiB chunks (privmem_pages.c); below those, accessible ranges
 * (privmem_ranges.c), charging (privmem_charge.c), flush budgets and
 * tenants (privmem_flush.c), limits (privmem_limit.c); and the vCPUs'
 * kvm-clock pages (privmem_clock.c).
 */

#include <linux/rbtree.h>
#include <linux/xarray.h>

#include "kvm_memext.h"
#include "stats.h"

/* Private memory: 2 MiB chunks, the size of a PMD mapping. */
#define KVM_MEMEXT_CHUNK_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define KVM_MEMEXT_CHUNK_PAGES	BIT(KVM_MEMEXT_CHUNK_ORDER)

/**
 * struct kvm_memext_privmem_chunk - the pages of one 2 MiB range of a file
 * @nr: pages present.
 * @huge: @pages are one naturally aligned 2 MiB block, all present.
 * @shown: pages whose direct-map entry maps them (not the decoy).
 * @pages: the pages, by offset in the chunk; NULL where not allocated.
 */
struct kvm_memext_privmem_chunk {
	unsigned int nr;
	bool huge;
	DECLARE_BITMAP(shown, KVM_MEMEXT_CHUNK_PAGES);
	struct page *pages[KVM_MEMEXT_CHUNK_PAGES];
};

/**
 * struct kvm_memext_privmem_sb - one mount of the kvm_memext file system
 * @max_pages: the mount's size= limit in pages; 0 for none.
 * @pages: pages allocated to the mount's files.
 * @uid: owner of the root directory.
 * @gid: group of the root directory.
 * @mode: permissions of the root directory.
 */
struct kvm_memext_privmem_sb {
	unsigned long max_pages;
	atomic_long_t pages;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
};

/**
 * struct kvm_memext_privmem - one private-memory file
 * @lock: protects everything below and the file's size.
 * @chunks: chunk index -> struct kvm_memext_privmem_chunk; chunks marked
 *	%KVM_MEMEXT_PRIVMEM_PENDING have shown pages that should be hidden.
 * @ranges: accessible ranges (struct kvm_memext_privmem_range), by start.
 * @nr_ranges: nodes in @ranges.
 * @nr_access: pages in accessible ranges.
 * @flags: KVM_MEMEXT_PRIVMEM_* creation flags.
 * @may_split: the owner had CAP_SYS_ADMIN when it claimed the file: 4 KiB
 *	pages and single-page accessible ranges, which split the direct map,
 *	are allowed.
 * @tenant: the flush budget of @mm (privmem_flush.c); NULL without owner.
 * @hide_work: hides the pending pages once flushing is allowed again.
 * @inode: the file's own inode (its mapping tracks the VMAs).
 * @sbi: the mount the file belongs to.
 * @mm: the owner: the only mm that may map the file, and the one its pages
 *	are charged to; NULL until the first mmap or allocation.
 * @decoy: the 2 MiB block its hidden pages' direct-map entries point at,
 *	allocated with the first chunk and charged like one; NULL before.
 * @leaked: pages kept because their entries could not be restored: they
 *	may map @decoy, which is then kept too.
 * @node: entry in the list of files (privmem.c), for the decoy checks.
 * @clocks: the kvm-clock pages shown (struct kvm_memext_privmem_clock,
 *	privmem_clock.c), one entry per vCPU whose clock is in the file.
 * @nr_clocks: entries of this file in privmem_clock.c's table, on
 *	@clocks or not; under that table's mutex, not @lock.
 */
struct kvm_memext_privmem {
	struct mutex lock;		/* see above */
	struct xarray chunks;
	struct rb_root ranges;
	unsigned long nr_ranges;
	unsigned long nr_access;
	u64 flags;
	bool may_split;
	struct kvm_memext_privmem_tenant *tenant;
	struct delayed_work hide_work;
	struct inode *inode;
	struct kvm_memext_privmem_sb *sbi;
	struct mm_struct *mm;
	struct page *decoy;
	unsigned long leaked;
	struct list_head node;
	struct list_head clocks;
	unsigned int nr_clocks;
};

/**
 * struct kvm_memext_privmem_clock - the kvm-clock page of one vCPU
 * @hnode: entry in privmem_clock.c's table, by (@kvm, @vcpu_id).
 * @node: entry in @pm's clocks while @index is shown for the vCPU.
 * @kvm: the vCPU's VM; compared, never dereferenced.
 * @vcpu_id: the vCPU's id.
 * @pm: the file that holds the clock page.
 * @index: the page's index in @pm.
 * @busy: a work is showing its page, without privmem_clock.c's mutex.
 */
struct kvm_memext_privmem_clock {
	struct hlist_node hnode;
	struct list_head node;
	const struct kvm *kvm;
	unsigned int vcpu_id;
	struct kvm_memext_privmem *pm;
	pgoff_t index;
	bool busy;
};

#define KVM_MEMEXT_PRIVMEM_PENDING	XA_MARK_1

/* Counters shown in debugfs (kvm_memext/privmem). */
struct kvm_memext_privmem_stats {
	atomic_long_t files;
	atomic_long_t pages;		/* allocated (and charged) */
	atomic_long_t chunks;		/* live 2 MiB blocks */
	atomic_long_t accessible;	/* pages in accessible ranges */
	atomic_long_t tlb_flushes;
	atomic_long_t fallbacks;	/* chunks allocated as 4 KiB pages */
	atomic_long_t pmd_maps;
	atomic_long_t leaked;		/* could not be put back: kept */
	atomic_long_t poisoned;		/* of those, hardware-poisoned */
	atomic_long_t deferred_hides;	/* access drops whose flush waited */
	atomic_long_t throttled;	/* access changes that waited to flush */
	atomic_long_t splits;		/* large direct-map entries CPA split */
	atomic_long_t decoy_writes;	/* checks that found the decoy written */
	atomic_long_t decoys;		/* files' 2 MiB decoys allocated */
	atomic_long_t clock_pages;	/* vCPUs' kvm-clock pages shown */
	atomic_long_t clock_shows;	/* ... shown since the module loaded */
	atomic_long_t clock_failures;	/* clock pages that could not be shown */
};

extern struct kvm_memext_privmem_stats kvm_memext_privmem_stats;

/* Limits a caller can hit, each with its own log line (privmem.c). */
enum kvm_memext_privmem_limit {
	KVM_MEMEXT_LIMIT_MEMLOCK,	/* the owner's RLIMIT_MEMLOCK */
	KVM_MEMEXT_LIMIT_CEILING,	/* privmem_max_mb */
	KVM_MEMEXT_LIMIT_MOUNT,		/* a mount's size= */
	KVM_MEMEXT_LIMIT_OWNER,		/* one owner per file */
	KVM_MEMEXT_LIMIT_BLOCK,		/* no 2 MiB block, may not split */
	KVM_MEMEXT_LIMIT_SPLITS,	/* the owner's direct-map splits */
	KVM_MEMEXT_LIMIT_RANGES,	/* accessible ranges per file */
	KVM_MEMEXT_LIMIT_FLUSH,		/* the flush budgets */
	KVM_MEMEXT_LIMIT_HIBERNATION,	/* no hibernation with files */
	KVM_MEMEXT_NR_LIMITS
};

/* Why private memory flushes the TLB (trace events). */
enum kvm_memext_flush_reason {
	KVM_MEMEXT_FLUSH_POPULATE,	/* new pages hidden */
	KVM_MEMEXT_FLUSH_ACCESS,	/* accessible ranges changed */
	KVM_MEMEXT_FLUSH_HIDE,		/* deferred hides done */
	KVM_MEMEXT_FLUSH_FREE,		/* pages freed or zeroed */
	KVM_MEMEXT_FLUSH_CLOCK,		/* kvm-clock pages shown or hidden */
};

/* privmem_limit.c */
void kvm_memext_privmem_limit_hit(enum kvm_memext_privmem_limit limit,
				  unsigned long value);

/* privmem.c */
extern const struct vm_operations_struct kvm_memext_privmem_vm_ops;

/**
 * kvm_memext_privmem_vma() - whether a mapping is of a private-memory file
 * @vma: the mapping; its mm's mmap_lock is held.
 *
 * Return: true if @vma maps a private-memory file (its vm_file's
 * private_data is then the struct kvm_memext_privmem).
 */
static inline bool kvm_memext_privmem_vma(struct vm_area_struct *vma)
{
	return vma->vm_ops == &kvm_memext_privmem_vm_ops;
}

bool kvm_memext_privmem_init(void);
void kvm_memext_privmem_exit(void);
bool kvm_memext_privmem_available(void);
int kvm_memext_create_privmem(const struct kvm_memext_create_privmem *args);
void kvm_memext_privmem_stats_sum(const struct mm_struct *mm, u64 *sum);
void kvm_memext_privmem_check_decoys(void);
int kvm_memext_privmem_inode_init(struct inode *inode, u64 flags);
void kvm_memext_privmem_destroy(struct kvm_memext_privmem *pm);
int kvm_memext_privmem_set_owner(struct kvm_memext_privmem *pm,
				 struct mm_struct *mm);
int kvm_memext_privmem_suspend_notify(struct notifier_block *nb,
				      unsigned long action, void *data);

/* privmem_access.c */
int kvm_memext_privmem_set_access(struct kvm_memext_privmem *pm, pgoff_t start,
				  pgoff_t end, bool accessible);
void kvm_memext_privmem_drop_access(struct kvm_memext_privmem *pm, pgoff_t start);
int kvm_memext_privmem_clock_show(struct kvm_memext_privmem *pm,
				  struct kvm_memext_privmem_clock *clock);
void kvm_memext_privmem_clock_hide(struct kvm_memext_privmem *pm,
				   struct kvm_memext_privmem_clock *clock);
void kvm_memext_privmem_clock_unmap(struct kvm_memext_privmem *pm,
				    pgoff_t start, pgoff_t end);

/* privmem_pages.c */
void kvm_memext_privmem_pages_init(struct kvm_memext_privmem *pm);
void kvm_memext_privmem_pages_destroy(struct kvm_memext_privmem *pm);
struct page *kvm_memext_privmem_prealloc(struct kvm_memext_privmem *pm,
					 pgoff_t cidx);
void kvm_memext_privmem_prealloc_free(struct page *block);
int kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
				struct kvm_memext_privmem_chunk **out,
				struct page **spare);
void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
				   pgoff_t end);
int kvm_memext_privmem_sync_chunk(struct kvm_memext_privmem *pm, pgoff_t cidx,
				  struct kvm_memext_privmem_chunk *chunk,
				  bool defer_hides);
void kvm_memext_privmem_sync_failed(struct kvm_memext_privmem *pm,
				    pgoff_t cidx, int r);
bool kvm_memext_privmem_chunk_poisoned(struct kvm_memext_privmem_chunk *chunk);

/* privmem_ranges.c */
int kvm_memext_privmem_ranges_reserve(struct kvm_memext_privmem *pm,
				      pgoff_t start, pgoff_t end, bool add,
				      struct list_head *pool);
void kvm_memext_privmem_ranges_apply(struct kvm_memext_privmem *pm,
				     pgoff_t start, pgoff_t end, int delta,
				     struct list_head *pool);
void kvm_memext_privmem_ranges_free(struct list_head *pool);
void kvm_memext_privmem_ranges_truncate(struct kvm_memext_privmem *pm,
					pgoff_t start);
void kvm_memext_privmem_ranges_destroy(struct kvm_memext_privmem *pm);
void kvm_memext_privmem_want(struct kvm_memext_privmem *pm, pgoff_t cidx,
			     struct kvm_memext_privmem_chunk *chunk,
			     unsigned long *want);

/* privmem_charge.c */
void kvm_memext_privmem_limit_init(void);
unsigned long kvm_memext_privmem_limit_pages(void);
int kvm_memext_privmem_charge_mm(struct mm_struct *mm, unsigned long nr);
void kvm_memext_privmem_uncharge_mm(struct mm_struct *mm, unsigned long nr);
int kvm_memext_privmem_charge(struct kvm_memext_privmem *pm, unsigned long nr);
void kvm_memext_privmem_uncharge_owner(struct kvm_memext_privmem *pm,
				       unsigned long nr);
void kvm_memext_privmem_uncharge(struct kvm_memext_privmem *pm,
				 unsigned long nr, unsigned long kept);

/* privmem_flush.c */
unsigned int kvm_memext_privmem_flush_rate(void);
u64 kvm_memext_privmem_flush_wait(struct kvm_memext_privmem *pm, bool populate);
u64 kvm_memext_privmem_flush_reserve(struct kvm_memext_privmem *pm,
				     bool populate);
unsigned long kvm_memext_privmem_flush_delay(struct kvm_memext_privmem *pm);
bool kvm_memext_privmem_flush_early(struct kvm_memext_privmem *pm);
void kvm_memext_privmem_flush(struct kvm_memext_privmem *pm,
			      enum kvm_memext_flush_reason reason);
int kvm_memext_privmem_throttle(struct kvm_memext_privmem *pm);
int kvm_memext_privmem_tenant_set(struct kvm_memext_privmem *pm,
				  struct mm_struct *mm);
void kvm_memext_privmem_tenant_put(struct kvm_memext_privmem *pm);
bool kvm_memext_privmem_tenant_exists(const struct mm_struct *mm);
bool kvm_memext_privmem_tenant_split(struct kvm_memext_privmem *pm);
void kvm_memext_pm_stat_add(struct kvm_memext_privmem *pm,
			    enum kvm_memext_pm_stat stat, s64 val);

/* privmem_clock.c: x86's kvm-clock (arm64 has none) */
#ifdef CONFIG_X86
void kvm_memext_privmem_clock_init(void);
void kvm_memext_privmem_clock_exit(void);
void kvm_memext_privmem_clock_release(struct kvm_memext_privmem *pm);
#else
static inline void kvm_memext_privmem_clock_init(void) {}
static inline void kvm_memext_privmem_clock_exit(void) {}
static inline void kvm_memext_privmem_clock_release(struct kvm_memext_privmem *pm) {}
#endif

#if IS_ENABLED(CONFIG_KUNIT)
struct kvm_memext_privmem *kvm_memext_privmem_new(u64 size, u64 flags);
void *kvm_memext_privmem_vmap(struct page **pages, unsigned int nr);
#endif

#endif /* _KVM_MEMEXT_PRIVMEM_H */
