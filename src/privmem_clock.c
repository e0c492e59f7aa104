// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm-clock pages in private memory.
 *
 * KVM writes a vCPU's kvm-clock (pvclock) at guest entry through its pfn
 * cache, which maps the page with kmap(), i.e. through the direct map.  On
 * a hidden page of a private-memory file the write lands in the decoy, and
 * the guest reads a clock of zeros (a Linux guest divides by zero in
 * kvmclock_init()).  Every common VMM offers kvm-clock by default.
 *
 * Nothing in KVM can be patched or called, but its tracepoints can be
 * watched: register_tracepoint_module_notifier() finds kvm.ko's by name
 * (also when kvm.ko loads later), and two probes attach to them:
 *
 *  - kvm_pvclock_update fires after each pvclock write, on the vCPU's
 *    thread while it prepares a guest entry.  If the page KVM wrote through
 *    is hidden, the probe queues a TWA_RESUME task work: the pending
 *    notify-resume cancels that guest entry (kvm_vcpu_exit_request()), and
 *    the work runs in vcpu_run() before the next attempt, out of guest
 *    mode and out of KVM's SRCU section;
 *  - kvm_msr fires after a guest's WRMSR: a write to a kvm-clock MSR may
 *    move or disable the clock, so the work looks again.
 *
 * Both act only for a process that owns private-memory files, and each
 * queued work holds the module (try_module_get(): a probe may fire while
 * the module is being unloaded).
 *
 * The work finds the vCPU loaded on its thread (the preempt notifier KVM
 * registers there for KVM_RUN), or, when KVM_RUN returned to userspace
 * before the work ran (a signal, an exit to the VMM), through the VM file
 * among the thread's files; it reads the clock's user address from the
 * pfn cache, and when the VMA there maps a private-memory file that this
 * process owns, shows that one 4 KiB page (privmem_pages.c) and requests
 * KVM_REQ_CLOCK_UPDATE: KVM writes the clock again, into the guest's page,
 * before the guest runs.  A show that fails is counted, and tried again
 * only at KVM's next own clock update, never in a loop.
 *
 * One entry per vCPU, (kvm, vcpu_id) in clock_table, records the page it
 * holds shown.  The page is hidden again when the vCPU's clock moves or is
 * disabled by the guest, when the page is punched or truncated, when the
 * file changes owner, and when the file dies.  An entry of a VM that is
 * gone, or whose clock the VMM disabled (KVM_SET_MSRS fires no
 * tracepoint), keeps its page shown until then (KVM tells a module
 * nothing of a VM's end); entries per file are bounded by KVM_MAX_VCPUS,
 * and those that hold no page any more are reclaimed at the bound.
 *
 * Locking: clock_mutex (clock_table, every file's nr_clocks) is taken
 * before a file's pm->lock, and only around changes of the table and
 * hides (which do not wait for the flush budget): a show, which may wait,
 * runs after it is released, holding the file, on an entry marked busy,
 * which nothing frees meanwhile (its file, held, cannot die either).  The
 * VMA lookup takes mmap_lock and drops it before either.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fdtable.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <asm/kvm_para.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "trace.h"

static DEFINE_MUTEX(clock_mutex);	/* clock_table, files' nr_clocks */
static DEFINE_HASHTABLE(clock_table, 8);

/* kvm.ko and its tracepoints while the probes are attached. */
static struct module *clock_kvm;
static struct tracepoint *clock_tp_pvclock;
static struct tracepoint *clock_tp_msr;

/*
 * The vCPU the current thread has loaded (inside KVM_RUN or another vCPU
 * ioctl): KVM's preempt notifier, whose ops live in kvm.ko.  Only the
 * thread itself changes its notifier list.
 */
static struct kvm_vcpu *clock_loaded_vcpu(void)
{
	struct module *kvm = READ_ONCE(clock_kvm);
	struct preempt_notifier *pn;

	if (!kvm)
		return NULL;
	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (within_module((unsigned long)pn->ops, kvm))
			return container_of(pn, struct kvm_vcpu, preempt_notifier);
	}
	return NULL;
}

/* The private-memory file mapped at @uhva in this process, held, or NULL. */
static struct file *clock_file(unsigned long uhva, pgoff_t *index)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct file *file = NULL;

	if (mmap_read_lock_killable(mm))
		return NULL;
	vma = vma_lookup(mm, uhva);
	if (vma && kvm_memext_privmem_vma(vma)) {
		file = get_file(vma->vm_file);
		*index = linear_page_index(vma, uhva);
	}
	mmap_read_unlock(mm);
	return file;
}

static struct kvm_memext_privmem_clock *clock_lookup(const struct kvm *kvm,
						     unsigned int vcpu_id)
{
	struct kvm_memext_privmem_clock *clock;

	hash_for_each_possible(clock_table, clock, hnode,
			       (unsigned long)kvm ^ vcpu_id) {
		if (clock->kvm == kvm && clock->vcpu_id == vcpu_id)
			return clock;
	}
	return NULL;
}

/* Hide @clock's page and forget it. */
static void clock_free(struct kvm_memext_privmem_clock *clock)
{
	struct kvm_memext_privmem *pm = clock->pm;

	lockdep_assert_held(&clock_mutex);
	mutex_lock(&pm->lock);
	kvm_memext_privmem_clock_hide(pm, clock);
	mutex_unlock(&pm->lock);
	hash_del(&clock->hnode);
	pm->nr_clocks--;
	kfree(clock);
}

/* At the bound: forget the entries of @pm that hold no page any more. */
static void clock_reclaim(struct kvm_memext_privmem *pm)
{
	struct kvm_memext_privmem_clock *clock;
	struct hlist_node *tmp;
	unsigned int bkt;

	lockdep_assert_held(&clock_mutex);
	mutex_lock(&pm->lock);
	hash_for_each_safe(clock_table, bkt, tmp, clock, hnode) {
		if (clock->pm != pm || clock->busy || !list_empty(&clock->node))
			continue;
		hash_del(&clock->hnode);
		pm->nr_clocks--;
		kfree(clock);
	}
	mutex_unlock(&pm->lock);
}

/*
 * The entry of @vcpu for its clock in @pm at @index, made if need be and
 * marked busy; an entry for another page is dropped first.  NULL with
 * *@err 0 when @pm is NULL (no clock in private memory).  A busy entry is
 * being shown by another thread that ran the vCPU (the VMM moved it
 * between threads): -EBUSY, tried again at the next update.
 */
static struct kvm_memext_privmem_clock *clock_entry(struct kvm_vcpu *vcpu,
						    struct kvm_memext_privmem *pm,
						    pgoff_t index, int *err)
{
	struct kvm_memext_privmem_clock *clock;

	lockdep_assert_held(&clock_mutex);
	clock = clock_lookup(vcpu->kvm, vcpu->vcpu_id);
	*err = -EBUSY;
	if (clock && clock->busy)
		return NULL;
	/* No entry wanted (the clock is off, or not in private memory). */
	*err = 0;
	if (clock && (clock->pm != pm || clock->index != index)) {
		clock_free(clock);
		clock = NULL;
	}
	if (clock || !pm)
		goto out;
	if (pm->nr_clocks >= KVM_MAX_VCPUS)
		clock_reclaim(pm);
	*err = -ENOSPC;
	if (pm->nr_clocks >= KVM_MAX_VCPUS)
		return NULL;
	*err = -ENOMEM;
	clock = kzalloc_obj(*clock, GFP_KERNEL_ACCOUNT);
	if (!clock)
		return NULL;
	INIT_LIST_HEAD(&clock->node);
	clock->kvm = vcpu->kvm;
	clock->vcpu_id = vcpu->vcpu_id;
	clock->pm = pm;
	clock->index = index;
	hash_add(clock_table, &clock->hnode,
		 (unsigned long)clock->kvm ^ clock->vcpu_id);
	pm->nr_clocks++;
out:
	if (clock)
		clock->busy = true;
	return clock;
}

/*
 * Show the page of @clock for its vCPU, without clock_mutex (it may wait
 * for the flush budget).  Returns 1 when it showed it, 0 when it was
 * shown already, or a negative errno.
 */
static int clock_show(struct kvm_memext_privmem *pm,
		      struct kvm_memext_privmem_clock *clock)
{
	int r;

	mutex_lock(&pm->lock);
	if (pm->mm != current->mm)
		r = -EPERM;
	else if (!list_empty(&clock->node))
		r = 0;
	else
		r = kvm_memext_privmem_clock_show(pm, clock) ?: 1;
	mutex_unlock(&pm->lock);
	return r;
}

/* Bring @vcpu's clock page to where its clock is; @vcpu is this thread's. */
static void clock_refresh(struct kvm_vcpu *vcpu)
{
	struct kvm_memext_privmem_clock *clock;
	struct kvm_memext_privmem *pm = NULL;
	struct gfn_to_pfn_cache *gpc;
	struct file *file = NULL;
	unsigned long uhva;
	pgoff_t index = 0;
	bool active;
	int r = 0;

	if (vcpu->kvm->mm != current->mm)
		return;
	gpc = &vcpu->arch.pv_time;
	read_lock_irq(&gpc->lock);
	active = gpc->active;
	uhva = gpc->uhva;
	read_unlock_irq(&gpc->lock);
	if (active && !kvm_is_error_hva(uhva))
		file = clock_file(uhva, &index);
	if (file)
		pm = file->private_data;

	if (mutex_lock_killable(&clock_mutex))
		goto out;
	clock = clock_entry(vcpu, pm, index, &r);
	mutex_unlock(&clock_mutex);
	if (clock) {
		r = clock_show(pm, clock);
		/* 1: shown now; 0: it was shown already, no event. */
		if (r)
			trace_kvm_memext_privmem_clock_show(pm, vcpu->vcpu_id,
							    clock->index, min(r, 0));
		mutex_lock(&clock_mutex);
		clock->busy = false;
		mutex_unlock(&clock_mutex);
	}

	if (r > 0) {
		/* Written again before the guest runs: the entry was cancelled. */
		kvm_make_request(KVM_REQ_CLOCK_UPDATE, vcpu);
	} else if (r < 0) {
		atomic_long_inc(&kvm_memext_privmem_stats.clock_failures);
		pr_notice_ratelimited("kvm-clock of vCPU %u (pid %d) not shown: %d; the guest reads a stale clock\n",
				      vcpu->vcpu_id, task_pid_nr(current), r);
	}
out:
	if (file)
		fput(file);
}

/* A clock to look at, from a probe of the vCPU's own thread. */
struct clock_work {
	struct callback_head cb;
	const struct kvm *kvm;		/* compared, never dereferenced */
	unsigned int vcpu_id;
};

struct clock_vm_match {
	const struct kvm *kvm;
	struct file *file;
};

static int clock_match_vm(const void *arg, struct file *file, unsigned int fd)
{
	struct clock_vm_match *m = (struct clock_vm_match *)arg;

	if (!kvm_memext_is_vm_file(file) || file->private_data != m->kvm)
		return 0;
	m->file = get_file(file);
	return 1;
}

static void clock_work_fn(struct callback_head *cb)
{
	struct clock_work *work = container_of(cb, struct clock_work, cb);
	struct clock_vm_match m = { .kvm = work->kvm };
	struct kvm_vcpu *vcpu = clock_loaded_vcpu();

	if (vcpu && vcpu->kvm == work->kvm && vcpu->vcpu_id == work->vcpu_id) {
		clock_refresh(vcpu);
	} else if (current->files) {
		/*
		 * KVM_RUN returned first (a signal, an exit to the VMM): the
		 * clock update it consumed wrote the decoy, so look anyway,
		 * holding the VM through its file.
		 */
		iterate_fd(current->files, 0, clock_match_vm, &m);
		vcpu = m.file ? kvm_get_vcpu_by_id(m.file->private_data,
						   work->vcpu_id) : NULL;
		if (vcpu)
			clock_refresh(vcpu);
		if (m.file)
			fput(m.file);
	}
	kfree(work);
	module_put(THIS_MODULE);
}

/*
 * From a probe, atomic: have the vCPU's clock looked at before its next
 * guest entry, if this process owns private memory at all.
 */
static void clock_queue(struct kvm_vcpu *vcpu)
{
	struct clock_work *work;

	if (!kvm_memext_privmem_tenant_exists(current->mm))
		return;
	/* The module may be on its way out: then do nothing. */
	if (!try_module_get(THIS_MODULE))
		return;
	work = kmalloc_obj(*work, GFP_NOWAIT | __GFP_NOWARN);
	if (!work) {
		atomic_long_inc(&kvm_memext_privmem_stats.clock_failures);
		module_put(THIS_MODULE);
		return;
	}
	work->kvm = vcpu->kvm;
	work->vcpu_id = vcpu->vcpu_id;
	init_task_work(&work->cb, clock_work_fn);
	if (task_work_add(current, &work->cb, TWA_RESUME)) {
		kfree(work);
		module_put(THIS_MODULE);
	}
}

/* After every pvclock write: was it written through a hidden page? */
static void clock_probe_pvclock(void *data, unsigned int vcpu_id,
				struct pvclock_vcpu_time_info *pvclock)
{
	struct kvm_vcpu *vcpu = clock_loaded_vcpu();
	struct gfn_to_pfn_cache *gpc;
	unsigned long flags;
	bool hidden = false;

	/* The Xen caches' writes fire this too; kvm-clock is pv_time. */
	if (!vcpu || vcpu->vcpu_id != vcpu_id)
		return;
	gpc = &vcpu->arch.pv_time;
	read_lock_irqsave(&gpc->lock, flags);
	if (gpc->active && gpc->valid && pfn_valid(gpc->pfn))
		hidden = kvm_memext_dmap_hidden(pfn_to_page(gpc->pfn));
	read_unlock_irqrestore(&gpc->lock, flags);
	if (hidden)
		clock_queue(vcpu);
}

/* After a guest's WRMSR: a kvm-clock MSR may move or disable the clock. */
static void clock_probe_msr(void *data, unsigned int write, u32 ecx, u64 val,
			    bool exception)
{
	struct kvm_vcpu *vcpu;

	if (!write || exception ||
	    (ecx != MSR_KVM_SYSTEM_TIME_NEW && ecx != MSR_KVM_SYSTEM_TIME))
		return;
	vcpu = clock_loaded_vcpu();
	if (vcpu)
		clock_queue(vcpu);
}

static struct tracepoint *clock_find_tracepoint(struct module *mod,
						const char *name)
{
	struct tracepoint *tp;
	unsigned int i;

	for (i = 0; i < mod->num_tracepoints; i++) {
		tp = tracepoint_ptr_deref(&mod->tracepoints_ptrs[i]);
		if (!strcmp(tp->name, name))
			return tp;
	}
	return NULL;
}

static void clock_detach(void)
{
	if (clock_tp_msr)
		tracepoint_probe_unregister(clock_tp_msr, clock_probe_msr, NULL);
	if (clock_tp_pvclock)
		tracepoint_probe_unregister(clock_tp_pvclock, clock_probe_pvclock,
					    NULL);
	clock_tp_msr = NULL;
	clock_tp_pvclock = NULL;
	WRITE_ONCE(clock_kvm, NULL);
}

static void clock_attach(struct module *kvm)
{
	struct tracepoint *pvclock, *msr;
	int r;

	pvclock = clock_find_tracepoint(kvm, "kvm_pvclock_update");
	msr = clock_find_tracepoint(kvm, "kvm_msr");
	if (!pvclock || !msr) {
		pr_warn("kvm.ko has no %s tracepoint: kvm-clock on private memory reads zeros\n",
			pvclock ? "kvm_msr" : "kvm_pvclock_update");
		return;
	}
	WRITE_ONCE(clock_kvm, kvm);
	r = tracepoint_probe_register(pvclock, clock_probe_pvclock, NULL);
	if (r)
		goto err_detach;
	clock_tp_pvclock = pvclock;
	r = tracepoint_probe_register(msr, clock_probe_msr, NULL);
	if (r)
		goto err_detach;
	clock_tp_msr = msr;
	return;
err_detach:
	pr_warn("cannot watch kvm.ko's tracepoints: %d; kvm-clock on private memory reads zeros\n",
		r);
	clock_detach();
}

/* Called with the tracepoint module list locked, for every module with some. */
static int clock_tp_notify(struct notifier_block *nb, unsigned long action,
			   void *data)
{
	struct tp_module *tp_mod = data;

	if (strcmp(tp_mod->mod->name, "kvm"))
		return NOTIFY_DONE;
	mutex_lock(&clock_mutex);
	if (action == MODULE_STATE_COMING && !clock_kvm)
		clock_attach(tp_mod->mod);
	else if (action == MODULE_STATE_GOING && clock_kvm == tp_mod->mod)
		clock_detach();
	mutex_unlock(&clock_mutex);
	return NOTIFY_OK;
}

static struct notifier_block clock_tp_nb = {
	.notifier_call = clock_tp_notify,
};

static bool clock_tp_nb_registered;

/**
 * kvm_memext_privmem_clock_release() - forget the clock pages of a file
 * @pm: the file, which dies: nothing maps it, nobody else holds its lock.
 */
void kvm_memext_privmem_clock_release(struct kvm_memext_privmem *pm)
{
	struct kvm_memext_privmem_clock *clock;
	struct hlist_node *tmp;
	unsigned int bkt;

	/* Entries are only made by works that hold the file: none now. */
	if (!READ_ONCE(pm->nr_clocks))
		return;
	mutex_lock(&clock_mutex);
	mutex_lock(&pm->lock);
	kvm_memext_privmem_clock_unmap(pm, 0, ULONG_MAX);
	mutex_unlock(&pm->lock);
	hash_for_each_safe(clock_table, bkt, tmp, clock, hnode) {
		if (clock->pm != pm)
			continue;
		hash_del(&clock->hnode);
		pm->nr_clocks--;
		kfree(clock);
	}
	mutex_unlock(&clock_mutex);
}

/**
 * kvm_memext_privmem_clock_init() - watch kvm.ko's clock writes
 *
 * Private memory works without it (a guest then reads a clock of zeros):
 * failures are logged, not returned.
 */
void kvm_memext_privmem_clock_init(void)
{
	int r;

	/* The probes take KVM's rwlock_t with preemption off: it sleeps on RT. */
	if (IS_ENABLED(CONFIG_PREEMPT_RT)) {
		pr_warn("PREEMPT_RT: kvm-clock on private memory is not watched and reads zeros\n");
		return;
	}
	r = register_tracepoint_module_notifier(&clock_tp_nb);
	if (r)
		pr_warn("cannot watch modules' tracepoints: %d; kvm-clock on private memory reads zeros\n",
			r);
	clock_tp_nb_registered = !r;
}

/** kvm_memext_privmem_clock_exit() - undo kvm_memext_privmem_clock_init() */
void kvm_memext_privmem_clock_exit(void)
{
	if (clock_tp_nb_registered)
		unregister_tracepoint_module_notifier(&clock_tp_nb);
	clock_tp_nb_registered = false;
	mutex_lock(&clock_mutex);
	clock_detach();
	mutex_unlock(&clock_mutex);
	/* No probe runs past this; their task works hold the module. */
	tracepoint_synchronize_unregister();
}
