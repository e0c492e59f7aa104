/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_H
#define _KVM_MEMEXT_H

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/rbtree.h>
#include <linux/task_work.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/kvm_memext.h>
#include <linux/kvm_memext_cache.h>

#include "compat.h"

/* Buckets of a histogram statistic: log2 buckets, as KVM's. */
#define KVM_MEMEXT_HIST_BUCKETS	32

/*
 * A VM handle's statistics (stats.c), by index.  Those up to
 * KVM_MEMEXT_NR_VM_STATS are counters of the handle; the private-memory
 * ones are the VM process's as an owner of files (privmem_flush.c).
 */
enum kvm_memext_stat {
	KVM_MEMEXT_STAT_BATCHES,
	KVM_MEMEXT_STAT_BATCH_ENTRIES,
	KVM_MEMEXT_STAT_BATCH_FAILURES,
	KVM_MEMEXT_STAT_BATCH_ROLLBACKS,
	KVM_MEMEXT_STAT_BATCH_TIMEOUTS,
	KVM_MEMEXT_STAT_BATCH_VCPUS_PARKED,
	KVM_MEMEXT_STAT_BATCH_PARK_NS,
	KVM_MEMEXT_STAT_BATCH_BLACKOUT_MAX_NS,
	KVM_MEMEXT_STAT_BATCH_BLACKOUT_HIST,
	KVM_MEMEXT_STAT_RUNSTATE_AREAS = KVM_MEMEXT_STAT_BATCH_BLACKOUT_HIST +
					 KVM_MEMEXT_HIST_BUCKETS,
	KVM_MEMEXT_STAT_RUNSTATE_WRITES,
	KVM_MEMEXT_STAT_RUNSTATE_PENDING,
	KVM_MEMEXT_STAT_CACHES,
	KVM_MEMEXT_STAT_CACHE_REFRESHES,
	KVM_MEMEXT_STAT_CACHE_INVALIDATIONS,
	KVM_MEMEXT_NR_VM_STATS,
	KVM_MEMEXT_STAT_PRIVMEM_FILES = KVM_MEMEXT_NR_VM_STATS,
	KVM_MEMEXT_STAT_PRIVMEM_PAGES,
	KVM_MEMEXT_STAT_PRIVMEM_ACCESSIBLE,
	KVM_MEMEXT_STAT_PRIVMEM_FAULTS,
	KVM_MEMEXT_STAT_PRIVMEM_SHOWN,
	KVM_MEMEXT_STAT_PRIVMEM_HIDDEN,
	KVM_MEMEXT_STAT_PRIVMEM_FLUSHES,
	KVM_MEMEXT_STAT_PRIVMEM_THROTTLED,
	KVM_MEMEXT_STAT_PRIVMEM_CLOCK_SHOWS,
	KVM_MEMEXT_NR_STATS
};

/*
 * Private-memory counters of an owner (privmem_flush.c), by index, in the
 * order of their kvm_memext_stat after KVM_MEMEXT_STAT_PRIVMEM_FILES.
 */
enum kvm_memext_pm_stat {
	KVM_MEMEXT_PM_STAT_PAGES,
	KVM_MEMEXT_PM_STAT_ACCESSIBLE,
	KVM_MEMEXT_PM_STAT_FAULTS,
	KVM_MEMEXT_PM_STAT_SHOWN,
	KVM_MEMEXT_PM_STAT_HIDDEN,
	KVM_MEMEXT_PM_STAT_FLUSHES,
	KVM_MEMEXT_PM_STAT_THROTTLED,
	KVM_MEMEXT_PM_STAT_CLOCK_SHOWS,
	KVM_MEMEXT_NR_PM_STATS
};

/**
 * struct kvm_memext_vm - state behind one VM handle file
 * @vm_file: the VM's own file, held for the handle's lifetime.  It keeps
 *	     the VM and KVM's vendor module alive, and lets the module call
 *	     KVM's public VM ioctls (memslot batches).
 * @kvm: the bound VM (@vm_file's private data).
 * @node: entry in the list of bound VMs, which enforces one handle per VM.
 * @batch_lock: serialises memslot batches on this VM, and protects
 *		@scratch_file and @scratch.
 * @scratch_file: a one-page file of ours, mapped into the VMM at @scratch,
 *		  where batches put the arguments of KVM's ioctls.
 * @scratch: user address of that mapping.
 * @cache_lock: serialises the notifier's registration.
 * @mn: mmu_notifier on the VM's mm, registered when the first guest-page
 *	cache is activated.
 * @mn_registered: @mn is registered.
 * @mn_teardown_work: unmaps the caches that a non-blockable invalidation
 *	(the OOM reaper's) could only mark invalid.
 * @mn_lock: protects @caches and the invalidation counters.
 * @caches: active guest-page caches of this VM.
 * @mn_seq: completed invalidations.
 * @mn_active: invalidations in progress.
 * @runstate_lock: protects @runstates.
 * @runstates: attached vCPU runstate areas.
 * @stats: the handle's statistics.
 */
struct kvm_memext_stats_file;

struct kvm_memext_vm {
	struct file *vm_file;
	struct kvm *kvm;
	struct list_head node;
	struct mutex batch_lock;	/* serialises memslot batches */
	struct file *scratch_file;
	unsigned long scratch;
	struct mutex cache_lock;	/* the notifier's registration */
	struct mmu_notifier mn;
	bool mn_registered;
	struct work_struct mn_teardown_work;
	spinlock_t mn_lock;		/* @caches, @mn_seq, @mn_active */
	struct list_head caches;
	unsigned long mn_seq;
	unsigned long mn_active;
	struct mutex runstate_lock;	/* @runstates */
	struct list_head runstates;
	struct kvm_memext_vm_stats *stats;
};

/**
 * struct kvm_memext_vm_stats - the statistics of a VM handle (stats.c)
 * @refs: held by the handle and by each of its stats files.
 * @vm_file: the VM's file; each stats file holds a reference to it, as
 *	     KVM's stats file holds the VM.
 * @kvm: the VM.
 * @pid: the binding process, which names the handle "<pid>-<fd>" in
 *	 debugfs, stats and trace events ...
 * @fd: ... with the handle's file descriptor there.
 * @debugfs: the handle's debugfs directory, NULL or an error pointer.
 * @files: what the files in @debugfs show.
 * @stat: the counters (enum kvm_memext_stat).
 *
 * Apart from the handle: a stats file keeps the VM, not the handle, whose
 * release (runstate areas, caches, the VM's binding) it must not hold up.
 */
struct kvm_memext_vm_stats {
	refcount_t refs;
	struct file *vm_file;
	struct kvm *kvm;
	int pid;
	int fd;
	struct dentry *debugfs;
	struct kvm_memext_stats_file *files;
	atomic64_t stat[KVM_MEMEXT_NR_VM_STATS];
};

static inline void kvm_memext_stat_add(struct kvm_memext_vm *vm,
				       enum kvm_memext_stat stat, s64 val)
{
	atomic64_add(val, &vm->stats->stat[stat]);
}

static inline void kvm_memext_stat_inc(struct kvm_memext_vm *vm,
				       enum kvm_memext_stat stat)
{
	atomic64_inc(&vm->stats->stat[stat]);
}

void kvm_memext_stat_peak(struct kvm_memext_vm *vm, enum kvm_memext_stat stat,
			  u64 val);
void kvm_memext_stat_hist(struct kvm_memext_vm *vm, enum kvm_memext_stat stat,
			  u64 val);
int kvm_memext_stats_fd(struct kvm_memext_vm *vm);
int kvm_memext_stats_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_stats_bind(struct kvm_memext_vm *vm, int fd);
void kvm_memext_stats_release_vm(struct kvm_memext_vm *vm);
void kvm_memext_stats_init(void);
void kvm_memext_stats_exit(void);
struct dentry *kvm_memext_debugfs_root(void);
void kvm_memext_privmem_stats_sum(const struct mm_struct *mm, u64 *sum);

/* A memslot as the batch planner sees it. */
struct kvm_memext_slot {
	u32 slot;		/* as_id << 16 | id, as in the uAPI */
	u32 flags;
	u64 base_gfn;
	u64 npages;
	u64 userspace_addr;
	u64 guest_memfd_offset;
	u32 guest_memfd;
};

/* A memslot layout: the user slots of every address space of a VM. */
struct kvm_memext_layout {
	unsigned int nr;
	struct kvm_memext_slot *slots;
};

/* What a VM's memslots accept. */
struct kvm_memext_plan_limits {
	u32 nr_as;
	u32 nr_slots;		/* user slots per address space */
	u64 max_npages;
	u32 valid_flags;	/* KVM_MEM_* */
};

enum kvm_memext_op {
	KVM_MEMEXT_OP_NONE,
	KVM_MEMEXT_OP_CREATE,
	KVM_MEMEXT_OP_DELETE,
	KVM_MEMEXT_OP_MOVE,
	KVM_MEMEXT_OP_FLAGS,
};

/* One KVM memslot operation of a batch, with what it replaces. */
struct kvm_memext_step {
	enum kvm_memext_op op;
	struct kvm_memext_slot old;
	struct kvm_memext_slot new;
	bool harvest;		/* save old's dirty bitmap first */
	u64 dirty_bitmap;	/* ... to this user address */
};

/* Same layout as struct kvm_userspace_memory_region2 (6.8+). */
struct kvm_memext_region {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};

int kvm_memext_bind_vm(const struct kvm_memext_bind_vm *args);
long kvm_memext_set_memslots(struct kvm_memext_vm *vm,
			     struct kvm_memext_set_memslots __user *uargs);
void kvm_memext_batch_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_batch_release_vm(struct kvm_memext_vm *vm);
int kvm_memext_plan_batch(const struct kvm_memext_plan_limits *lim,
			  struct kvm_memext_layout *layout,
			  const struct kvm_memext_memslot *entries,
			  unsigned int nr, u32 batch_flags,
			  struct kvm_memext_step *steps,
			  unsigned int *err_index);
void kvm_memext_step_undo(const struct kvm_memext_step *step,
			  struct kvm_memext_step *undo);
void kvm_memext_step_region(const struct kvm_memext_step *step,
			    struct kvm_memext_region *region);

struct kvm_memext_quiesce;
struct kvm_memext_quiesce *kvm_memext_quiesce_vcpus(struct kvm *kvm,
						    unsigned int timeout_ms);
void kvm_memext_resume_vcpus(struct kvm_memext_quiesce *q);
unsigned int kvm_memext_quiesce_nr_vcpus(const struct kvm_memext_quiesce *q);
u64 kvm_memext_quiesce_start(const struct kvm_memext_quiesce *q);

/* task_work.c */
int kvm_memext_task_work_add(struct task_struct *task,
			     struct callback_head *work, task_work_func_t fn,
			     enum task_work_notify_mode mode);
void kvm_memext_task_works_exit(void);

/*
 * Parked vCPUs resume in a tree stored breadth first: the batcher (position
 * -1) wakes positions 0..@roots-1, and position @pos wakes the @fanout
 * positions from @roots + @fanout * @pos on, cut at @nr.  Every position
 * has exactly one parent, and a parent comes before its children.  Returns
 * the first child, and in @end the one past the last.
 */
static inline unsigned int kvm_memext_tree_children(unsigned int roots,
						    unsigned int fanout,
						    int pos, unsigned int nr,
						    unsigned int *end)
{
	unsigned int first, last;

	if (pos < 0) {
		first = 0;
		last = roots;
	} else {
		first = roots + fanout * pos;
		last = first + fanout;
	}
	*end = min(last, nr);
	return min(first, nr);
}

/* kvm_file.c */
bool kvm_memext_is_vm_file(const struct file *file);
struct kvm_vcpu *kvm_memext_vcpu_from_file(const struct file *file);

/* cache.c */
void kvm_memext_cache_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_cache_release_vm(struct kvm_memext_vm *vm);
/* cache_map.c */
int kvm_memext_gpc_resolve(struct mm_struct *mm, const unsigned long *uhva,
			   unsigned int nr, bool write, unsigned long *pfn,
			   pgprot_t *prot, struct page **pages);
void kvm_memext_gpc_put_pages(struct page **pages, unsigned int nr);
int kvm_memext_gpc_map_pfns(const unsigned long *pfn, const pgprot_t *prot,
			    unsigned int nr, struct kvm_memext_gpc_map *maps);
void kvm_memext_gpc_unmap(struct kvm_memext_gpc_map *maps, unsigned int nr);

long kvm_memext_runstate_ioctl(struct kvm_memext_vm *vm, unsigned int ioctl,
			       void __user *argp);
void kvm_memext_runstate_init_vm(struct kvm_memext_vm *vm);
void kvm_memext_runstate_release_vm(struct kvm_memext_vm *vm);

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

void kvm_memext_privmem_limit_hit(enum kvm_memext_privmem_limit limit,
				  unsigned long value);

int kvm_memext_dmap_init(void);
struct page *kvm_memext_dmap_decoy_alloc(gfp_t gfp);
void kvm_memext_dmap_decoy_free(struct page *decoy);
int kvm_memext_dmap_hide_block(struct page *page, struct page *decoy);
int kvm_memext_dmap_show_block(struct page *page, struct page *decoy);
int kvm_memext_dmap_hide_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_show_page(struct page *page, struct page *decoy);
int kvm_memext_dmap_split(struct page *page, bool block);
void kvm_memext_dmap_flush(void);
unsigned long kvm_memext_dmap_pfn(struct page *page, unsigned int *level);
bool kvm_memext_dmap_present(struct page *page);
bool kvm_memext_dmap_hidden(struct page *page);
bool kvm_memext_dmap_check_decoy(struct page *decoy);

void kvm_memext_privmem_limit_init(void);
unsigned long kvm_memext_privmem_limit_pages(void);
struct page *kvm_memext_privmem_prealloc(struct kvm_memext_privmem *pm,
					 pgoff_t cidx);
void kvm_memext_privmem_prealloc_free(struct page *block);
int kvm_memext_privmem_populate(struct kvm_memext_privmem *pm, pgoff_t cidx,
				struct kvm_memext_privmem_chunk **out,
				struct page **spare);
int kvm_memext_privmem_set_access(struct kvm_memext_privmem *pm, pgoff_t start,
				  pgoff_t end, bool accessible);
void kvm_memext_privmem_free_range(struct kvm_memext_privmem *pm, pgoff_t start,
				   pgoff_t end);
void kvm_memext_privmem_drop_access(struct kvm_memext_privmem *pm, pgoff_t start);
void kvm_memext_privmem_pages_init(struct kvm_memext_privmem *pm);
bool kvm_memext_privmem_chunk_poisoned(struct kvm_memext_privmem_chunk *chunk);
void kvm_memext_privmem_pages_destroy(struct kvm_memext_privmem *pm);
int kvm_memext_privmem_set_owner(struct kvm_memext_privmem *pm,
				 struct mm_struct *mm);
int kvm_memext_privmem_clock_show(struct kvm_memext_privmem *pm,
				  struct kvm_memext_privmem_clock *clock);
void kvm_memext_privmem_clock_hide(struct kvm_memext_privmem *pm,
				   struct kvm_memext_privmem_clock *clock);
void kvm_memext_privmem_clock_unmap(struct kvm_memext_privmem *pm,
				    pgoff_t start, pgoff_t end);

bool kvm_memext_privmem_vma(struct vm_area_struct *vma);
void kvm_memext_privmem_check_decoys(void);
int kvm_memext_privmem_inode_init(struct inode *inode, u64 flags);
void kvm_memext_privmem_destroy(struct kvm_memext_privmem *pm);
int kvm_memext_privmem_pm_notify(struct notifier_block *nb, unsigned long action,
				 void *data);

/* privmem_flush.c */
unsigned int kvm_memext_privmem_flush_rate(void);
u64 kvm_memext_privmem_flush_wait(struct kvm_memext_privmem *pm, bool populate);
u64 kvm_memext_privmem_flush_reserve(struct kvm_memext_privmem *pm,
				     bool populate);
int kvm_memext_privmem_tenant_set(struct kvm_memext_privmem *pm,
				  struct mm_struct *mm);
void kvm_memext_privmem_tenant_put(struct kvm_memext_privmem *pm);
bool kvm_memext_privmem_tenant_exists(const struct mm_struct *mm);
bool kvm_memext_privmem_tenant_split(struct kvm_memext_privmem *pm);
void kvm_memext_pm_stat_add(struct kvm_memext_privmem *pm,
			    enum kvm_memext_pm_stat stat, s64 val);

/* privmem_clock.c */
void kvm_memext_privmem_clock_init(void);
void kvm_memext_privmem_clock_exit(void);
void kvm_memext_privmem_clock_release(struct kvm_memext_privmem *pm);

bool kvm_memext_privmem_init(void);
void kvm_memext_privmem_exit(void);
bool kvm_memext_privmem_available(void);
int kvm_memext_create_privmem(const struct kvm_memext_create_privmem *args);

#if IS_ENABLED(CONFIG_KUNIT)
struct kvm_memext_privmem *kvm_memext_privmem_new(u64 size, u64 flags);
void *kvm_memext_privmem_vmap(struct page **pages, unsigned int nr);
bool kvm_memext_vm_owner_ok(const struct module *owner);
int kvm_memext_gpc_span(u64 gpa, unsigned long len, unsigned int *nr_pages);
bool kvm_memext_gpc_overlaps(const unsigned long *uhva, unsigned int nr,
			     unsigned long start, unsigned long end);
bool kvm_memext_gpc_fresh(const struct kvm_memext_gpc *gpc, u64 generation);
unsigned int kvm_memext_gpc_plan_maps(const unsigned long *pfn,
				      const pgprot_t *prot, unsigned int nr,
				      struct kvm_memext_gpc_map *maps);
void kvm_memext_mn_start(struct kvm_memext_vm *vm, unsigned long start,
			 unsigned long end);
void kvm_memext_mn_end(struct kvm_memext_vm *vm);
void kvm_memext_mn_teardown(struct kvm_memext_vm *vm, unsigned long start,
			    unsigned long end);
bool kvm_memext_mn_retry(struct kvm_memext_vm *vm, unsigned long seq);
#endif

#endif /* _KVM_MEMEXT_H */
