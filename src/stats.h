/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_STATS_H
#define _KVM_MEMEXT_STATS_H

/* Statistics of a VM handle, in KVM's binary stats format (stats.c). */

#include "kvm_memext.h"

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

struct kvm_memext_stats_file;

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

#endif /* _KVM_MEMEXT_STATS_H */
