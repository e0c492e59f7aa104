/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_H
#define _KVM_MEMEXT_H

/*
 * The VM handle, which every feature hangs off, and what the features
 * share: binding (vm.c), KVM's files (kvm_file.c), task work
 * (task_work.c).  Each area has its own header: batch.h, cache.h,
 * directmap.h, privmem.h, stats.h.
 */

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/task_work.h>
#include <linux/workqueue.h>
#include <linux/kvm_memext.h>

#include "compat.h"

struct kvm_memext_vm_stats;

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

int kvm_memext_bind_vm(const struct kvm_memext_bind_vm *args);

/* task_work.c */
int kvm_memext_task_work_add(struct task_struct *task,
			     struct callback_head *work, task_work_func_t fn,
			     enum task_work_notify_mode mode);
void kvm_memext_task_works_exit(void);

/* kvm_file.c */
bool kvm_memext_is_vm_file(const struct file *file);
struct kvm_vcpu *kvm_memext_vcpu_from_file(const struct file *file);

#if IS_ENABLED(CONFIG_KUNIT)
bool kvm_memext_vm_owner_ok(const struct module *owner);
#endif

#endif /* _KVM_MEMEXT_H */
