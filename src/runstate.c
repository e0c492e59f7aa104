// SPDX-License-Identifier: GPL-2.0-only
/*
 * vCPU runstate areas: Xen's vcpu_runstate_info, kept current in guest
 * memory through a guest-page cache, so that the area may cross pages and
 * memslots and is never written half.  A preempt notifier on the vCPU's
 * thread accounts every switch; task works refresh the cache where the
 * notifier cannot, and unhook the notifier on its own thread.
 * Documentation/design.rst ("Guest-page caches and runstate areas")
 * explains the accounting and the area's lifetime.
 *
 * Lock order:
 *   vm->runstate_lock (mutex: the VM's areas; attach, detach, release)
 *     -> gpc->refresh_lock -> ... (cache.c)
 *     -> gpc->lock (raw spinlock: the area's accounting and its writes)
 * The preempt notifiers take gpc->lock alone, inside the scheduler (with
 * the runqueue lock held when switching out), so nothing under it sleeps
 * or takes a lock the scheduler may hold.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/refcount.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "kvm_memext.h"
#include "arch.h"
#include "cache.h"
#include "stats.h"
#include "trace.h"

#define KVM_MEMEXT_RUNSTATE_NR	4

struct kvm_memext_vcpu_runstate {
	struct preempt_notifier pn;
	struct kvm_memext_gpc gpc;
	struct kvm *kvm;
	struct kvm_vcpu *vcpu;
	struct task_struct *task;	/* referenced */
	struct list_head node;		/* in vm->runstates, under runstate_lock */
	refcount_t refs;
	u32 flags;
	u64 gpa;
	bool detached;			/* no more guest writes */
	bool pending;			/* the guest's copy is behind */
	u32 state;
	u64 entry;
	u64 time[KVM_MEMEXT_RUNSTATE_NR];
	unsigned long refresh_queued;
	struct callback_head refresh_work;
	struct callback_head unhook_work;
};

static void runstate_put(struct kvm_memext_vcpu_runstate *rs)
{
	if (!refcount_dec_and_test(&rs->refs))
		return;
	put_task_struct(rs->task);
	preempt_notifier_dec();
	kfree(rs);
}

static void runstate_account(struct kvm_memext_vcpu_runstate *rs,
			     u32 state)
{
	u64 now = kvm_memext_guest_time_ns(rs->kvm);

	lockdep_assert_held(&rs->gpc.lock);
	/* A clock set backwards (KVM_SET_CLOCK) must not undo time. */
	if (now < rs->entry)
		now = rs->entry;
	rs->time[rs->state] += now - rs->entry;
	rs->entry = now;
	rs->state = state;
}

/*
 * Write the area with Xen's protocol: the update flag first, then the
 * contents (state_entry_time still flagged), then state_entry_time without
 * the flag.  The flag goes in by writing only the top byte of
 * state_entry_time (bit 63 is in it; bits 56-62 do not change for years),
 * so the first write is a single byte even when state_entry_time crosses a
 * page, and the last write changes nothing but that byte again: however a
 * straddling store is split, the guest sees the flag or the whole update.
 * All or nothing: only when every page of the area is valid.
 *
 * Called with the cache's lock held, which also protects the accounting
 * (one lock per switch, in the scheduler's hot path); enters kvm->srcu for
 * the memslots the cache recorded.  Only while attached: the VM and the
 * handle are alive then.
 */
/*
 * What the update protocol below takes for granted, proven as xen.c
 * proves its own: Xen's layouts, and the flag in the top byte of
 * state_entry_time (little-endian: byte 7 of the field).
 */
static_assert(offsetof(struct kvm_memext_runstate_area, state_entry_time) == 8);
static_assert(offsetof(struct kvm_memext_runstate_area, time) == 16);
static_assert(sizeof(struct kvm_memext_runstate_area) == 48);
static_assert(offsetof(struct kvm_memext_runstate_area32, state_entry_time) == 4);
static_assert(offsetof(struct kvm_memext_runstate_area32, time) == 12);
static_assert(sizeof(struct kvm_memext_runstate_area32) == 44);
static_assert(KVM_MEMEXT_RUNSTATE_UPDATE >> 56 == 0x80 &&
	      !(KVM_MEMEXT_RUNSTATE_UPDATE & GENMASK_ULL(55, 0)));
static_assert(!IS_ENABLED(CONFIG_CPU_BIG_ENDIAN));

static bool runstate_flush(struct kvm_memext_vcpu_runstate *rs)
{
	bool compat = rs->flags & KVM_MEMEXT_RUNSTATE_COMPAT32;
	struct kvm_memext_gpc *gpc = &rs->gpc;
	union {
		struct kvm_memext_runstate_area a64;
		struct kvm_memext_runstate_area32 a32;
	} img;
	unsigned long entry_off, size;
	u64 entry;
	bool ok;
	int idx;

	lockdep_assert_held(&gpc->lock);
	entry = rs->entry | KVM_MEMEXT_RUNSTATE_UPDATE;
	if (compat) {
		img.a32.state = rs->state;
		img.a32.state_entry_time = entry;
		memcpy(img.a32.time, rs->time, sizeof(img.a32.time));
		entry_off = offsetof(struct kvm_memext_runstate_area32, state_entry_time);
		size = sizeof(img.a32);
	} else {
		img.a64 = (struct kvm_memext_runstate_area) {
			.state = rs->state, .state_entry_time = entry,
		};
		memcpy(img.a64.time, rs->time, sizeof(img.a64.time));
		entry_off = offsetof(struct kvm_memext_runstate_area, state_entry_time);
		size = sizeof(img.a64);
	}

	idx = srcu_read_lock(&rs->kvm->srcu);
	ok = kvm_memext_gpc_check(gpc);
	/*
	 * The guest sees the flag before any of the new contents, and all
	 * of them before the flag goes.  wmb(), not smp_wmb(): the area may
	 * be write-combining memory, whose stores x86 does not keep in order.
	 */
	if (ok && gpc->khva) {
		/* One mapping: plain stores, and one dirty mark for them all. */
		u8 *area = gpc->khva;

		WRITE_ONCE(area[entry_off + 7], entry >> 56);
		/* The flag first ... */
		wmb();
		memcpy(area, &img, size);
		/* ... and the contents before it goes. */
		wmb();
		/* Only the flag's byte differs from what the image wrote. */
		WRITE_ONCE(area[entry_off + 7], rs->entry >> 56);
		kvm_memext_gpc_mark_dirty(gpc, 0, size);
	} else if (ok) {
		u8 top = entry >> 56;

		kvm_memext_gpc_copy_to(gpc, entry_off + 7, &top, 1);
		/* The flag first ... */
		wmb();
		kvm_memext_gpc_copy_to(gpc, 0, &img, size);
		/* ... and the contents before it goes. */
		wmb();
		entry = rs->entry;
		kvm_memext_gpc_copy_to(gpc, entry_off, &entry, sizeof(entry));
	}
	srcu_read_unlock(&rs->kvm->srcu, idx);
	return ok;
}

static void runstate_switch(struct kvm_memext_vcpu_runstate *rs,
			    u32 state)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&rs->gpc.lock, flags);
	/*
	 * Offline is final: the detach that set it may sleep, or run on
	 * another thread, while this one still switches.
	 */
	if (!rs->detached && rs->state != KVM_MEMEXT_RUNSTATE_OFFLINE) {
		runstate_account(rs, state);
		rs->pending = !runstate_flush(rs);
		/* Attached: the handle is alive. */
		kvm_memext_stat_inc(rs->gpc.vm, rs->pending ?
				    KVM_MEMEXT_STAT_RUNSTATE_PENDING :
				    KVM_MEMEXT_STAT_RUNSTATE_WRITES);
		if (rs->pending)
			trace_kvm_memext_runstate_pending(rs->vcpu->vcpu_id,
							  rs->gpa, state, 0);
		else
			trace_kvm_memext_runstate_write(rs->vcpu->vcpu_id,
							rs->gpa, state, 0);
	}
	raw_spin_unlock_irqrestore(&rs->gpc.lock, flags);
}

/*
 * Bring the guest's copy up to date; sleeps.  Any memslot change (another
 * thread's batch, say) invalidates the cache between its refresh and the
 * write: a few rounds, then -EAGAIN.  Else 0 (also once detached), or the
 * refresh's error.
 */
static int runstate_catch_up(struct kvm_memext_vcpu_runstate *rs)
{
	int tries, r;

	for (tries = 0; tries < 8; tries++) {
		raw_spin_lock_irq(&rs->gpc.lock);
		if (!rs->detached && rs->pending)
			rs->pending = !runstate_flush(rs);
		if (rs->detached || !rs->pending) {
			raw_spin_unlock_irq(&rs->gpc.lock);
			return 0;
		}
		raw_spin_unlock_irq(&rs->gpc.lock);
		r = kvm_memext_gpc_refresh(&rs->gpc);
		if (r)
			return r;
	}
	return -EAGAIN;
}

static void runstate_refresh_fn(struct callback_head *work)
{
	struct kvm_memext_vcpu_runstate *rs =
		container_of(work, struct kvm_memext_vcpu_runstate, refresh_work);

	clear_bit(0, &rs->refresh_queued);
	runstate_catch_up(rs);
	runstate_put(rs);
	module_put(THIS_MODULE);
}

/* From the scheduler: refresh on the thread once it may sleep. */
static void runstate_queue_refresh(struct kvm_memext_vcpu_runstate *rs)
{
	if (test_and_set_bit(0, &rs->refresh_queued))
		return;
	refcount_inc(&rs->refs);
	if (kvm_memext_task_work_add(current, &rs->refresh_work,
				     runstate_refresh_fn, TWA_RESUME)) {
		/* Exiting: nothing more to keep current. */
		refcount_dec(&rs->refs);
	}
}

static void runstate_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct kvm_memext_vcpu_runstate *rs =
		container_of(pn, struct kvm_memext_vcpu_runstate, pn);

	runstate_switch(rs, KVM_MEMEXT_RUNSTATE_RUNNING);
	if (READ_ONCE(rs->pending))
		runstate_queue_refresh(rs);
}

static void runstate_sched_out(struct preempt_notifier *pn,
			       struct task_struct *next)
{
	struct kvm_memext_vcpu_runstate *rs =
		container_of(pn, struct kvm_memext_vcpu_runstate, pn);

	/* Still runnable: preempted; else going to sleep (e.g. a halt). */
	runstate_switch(rs, task_is_runnable(current) ?
				   KVM_MEMEXT_RUNSTATE_RUNNABLE :
				   KVM_MEMEXT_RUNSTATE_BLOCKED);
}

static struct preempt_ops kvm_memext_runstate_ops = {
	.sched_in	= runstate_sched_in,
	.sched_out	= runstate_sched_out,
};

static void runstate_unregister(struct kvm_memext_vcpu_runstate *rs)
{
	preempt_disable();
	preempt_notifier_unregister(&rs->pn);
	preempt_enable();
}

static void runstate_unhook_fn(struct callback_head *work)
{
	struct kvm_memext_vcpu_runstate *rs =
		container_of(work, struct kvm_memext_vcpu_runstate, unhook_work);

	runstate_unregister(rs);
	runstate_put(rs);
	module_put(THIS_MODULE);
}

/*
 * Take the notifier off its thread and drop the list's reference.  Only
 * the thread itself can unregister: another thread asks it with a task
 * work (TWA_SIGNAL: promptly, also out of KVM_RUN or a sleep, which then
 * simply resume).  A thread past its last task works is exiting: once it
 * is dead it never calls the notifier again.
 */
static void runstate_unhook(struct kvm_memext_vcpu_runstate *rs)
{
	struct task_struct *task = rs->task;

	if (task == current) {
		runstate_unregister(rs);
		runstate_put(rs);
		return;
	}
	if (!kvm_memext_task_work_add(task, &rs->unhook_work,
				      runstate_unhook_fn, TWA_SIGNAL))
		return;
	/*
	 * Both acquire: on_cpu must be read after __state, or a weakly
	 * ordered CPU could pair a dead state with an older on_cpu of 0.
	 */
	while (smp_load_acquire(&task->__state) != TASK_DEAD ||
	       /* Cleared with release after the final switch and its notifiers. */
	       smp_load_acquire(&task->on_cpu))
		usleep_range(1000, 2000);
	runstate_put(rs);
}

/* Stop guest writes (offline, best effort), unmap, unhook. */
static void runstate_stop(struct kvm_memext_vcpu_runstate *rs)
{
	raw_spin_lock_irq(&rs->gpc.lock);
	runstate_account(rs, KVM_MEMEXT_RUNSTATE_OFFLINE);
	rs->pending = true;
	raw_spin_unlock_irq(&rs->gpc.lock);
	runstate_catch_up(rs);

	raw_spin_lock_irq(&rs->gpc.lock);
	rs->detached = true;
	raw_spin_unlock_irq(&rs->gpc.lock);
	kvm_memext_gpc_deactivate(&rs->gpc);
	list_del(&rs->node);
	kvm_memext_stat_add(rs->gpc.vm, KVM_MEMEXT_STAT_RUNSTATE_AREAS, -1);
	trace_kvm_memext_runstate_detach(rs->vcpu->vcpu_id, rs->gpa,
					 KVM_MEMEXT_RUNSTATE_OFFLINE, 0);
	runstate_unhook(rs);
}

static struct kvm_memext_vcpu_runstate *
kvm_memext_runstate_find(struct kvm_memext_vm *vm, struct kvm_vcpu *vcpu)
{
	struct kvm_memext_vcpu_runstate *rs;

	lockdep_assert_held(&vm->runstate_lock);
	list_for_each_entry(rs, &vm->runstates, node)
		if (rs->vcpu == vcpu)
			return rs;
	return NULL;
}

/* The vCPU behind @fd, which must belong to @vm; NULL and *@r otherwise. */
static struct kvm_vcpu *runstate_vcpu(struct kvm_memext_vm *vm,
				      int fd, int *r)
{
	struct kvm_vcpu *vcpu;
	struct file *file;

	file = fget(fd);
	if (!file) {
		*r = -EBADF;
		return NULL;
	}
	vcpu = kvm_memext_vcpu_from_file(file);
	/*
	 * Checked before fput(): a vCPU of another VM may go with its file.
	 * One of ours lives as long as its VM, which the handle holds.
	 */
	if (vcpu && vcpu->kvm != vm->kvm)
		vcpu = NULL;
	fput(file);
	*r = -EINVAL;
	return vcpu;
}

/* The vCPU's thread is the one that runs it, if it has run yet. */
static bool runstate_vcpu_thread(struct kvm_vcpu *vcpu)
{
	struct task_struct *task = kvm_memext_vcpu_task(vcpu);
	bool ok = !task || task == current;

	if (task)
		put_task_struct(task);
	return ok;
}

static int runstate_attach(struct kvm_memext_vm *vm,
			   const struct kvm_memext_runstate *a)
{
	bool compat = a->flags & KVM_MEMEXT_RUNSTATE_COMPAT32;
	struct kvm_memext_vcpu_runstate *rs;
	struct kvm_vcpu *vcpu;
	int r;

	if ((a->flags & ~KVM_MEMEXT_RUNSTATE_COMPAT32) ||
	    a->reserved[0] || a->reserved[1] ||
	    a->size != (compat ? sizeof(struct kvm_memext_runstate_area32) :
			sizeof(struct kvm_memext_runstate_area)) ||
	    !IS_ALIGNED(a->gpa, compat ? 4 : 8) ||
	    a->as_id >= kvm_memext_nr_as(vm->kvm))
		return -EINVAL;
	vcpu = runstate_vcpu(vm, a->vcpu_fd, &r);
	if (!vcpu)
		return r;
	if (!runstate_vcpu_thread(vcpu))
		return -EPERM;

	rs = kzalloc_obj(*rs, GFP_KERNEL_ACCOUNT);
	if (!rs)
		return -ENOMEM;
	refcount_set(&rs->refs, 1);
	rs->kvm = vm->kvm;
	rs->vcpu = vcpu;
	rs->flags = a->flags;
	rs->gpa = a->gpa;
	kvm_memext_gpc_init(&rs->gpc, vm);

	mutex_lock(&vm->runstate_lock);
	r = -EEXIST;
	if (kvm_memext_runstate_find(vm, vcpu))
		goto err_free;
	r = kvm_memext_gpc_activate(&rs->gpc, a->as_id, a->gpa, a->size,
				    KVM_MEMEXT_GPC_WRITE);
	/*
	 * The handle's first cache registers its mmu notifier, which gives up
	 * on any pending signal, even a task work's notify-signal (a batch's
	 * kick): nothing is attached yet, so restart once it is handled.
	 */
	if (r == -EINTR)
		r = -ERESTARTSYS;
	if (r)
		goto err_deactivate;

	/* Before now, the vCPU counts as offline: the times add up. */
	rs->state = KVM_MEMEXT_RUNSTATE_RUNNING;
	rs->entry = kvm_memext_guest_time_ns(vm->kvm);
	rs->time[KVM_MEMEXT_RUNSTATE_OFFLINE] = rs->entry;
	rs->pending = true;

	/* Hooked before the first write, which may sleep: that is accounted. */
	get_task_struct(current);
	rs->task = current;
	preempt_notifier_inc();
	preempt_notifier_init(&rs->pn, &kvm_memext_runstate_ops);
	preempt_disable();
	preempt_notifier_register(&rs->pn);
	preempt_enable();
	r = runstate_catch_up(rs);
	if (r)
		goto err_unhook;

	list_add(&rs->node, &vm->runstates);
	kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_RUNSTATE_AREAS);
	mutex_unlock(&vm->runstate_lock);
	trace_kvm_memext_runstate_attach(vcpu->vcpu_id, a->gpa,
					 KVM_MEMEXT_RUNSTATE_RUNNING, 0);
	return 0;

err_unhook:
	/* A refresh the notifier queued meanwhile finds it detached. */
	raw_spin_lock_irq(&rs->gpc.lock);
	rs->detached = true;
	raw_spin_unlock_irq(&rs->gpc.lock);
	runstate_unregister(rs);
	kvm_memext_gpc_deactivate(&rs->gpc);
	mutex_unlock(&vm->runstate_lock);
	trace_kvm_memext_runstate_attach(vcpu->vcpu_id, a->gpa, 0, r);
	runstate_put(rs);
	return r;

err_deactivate:
	kvm_memext_gpc_deactivate(&rs->gpc);
err_free:
	mutex_unlock(&vm->runstate_lock);
	kfree(rs);
	trace_kvm_memext_runstate_attach(vcpu->vcpu_id, a->gpa, 0, r);
	return r;
}

static int runstate_detach(struct kvm_memext_vm *vm,
			   const struct kvm_memext_runstate *a)
{
	struct kvm_memext_vcpu_runstate *rs;
	struct kvm_vcpu *vcpu;
	int r;

	if (a->flags || a->gpa || a->size || a->as_id || a->reserved[0] ||
	    a->reserved[1])
		return -EINVAL;
	vcpu = runstate_vcpu(vm, a->vcpu_fd, &r);
	if (!vcpu)
		return r;

	mutex_lock(&vm->runstate_lock);
	rs = kvm_memext_runstate_find(vm, vcpu);
	r = -ENOENT;
	if (!rs)
		goto out;
	/*
	 * From any thread: the attaching one may have exited, or the vCPU
	 * moved to another thread, which then attaches anew.  The notifier
	 * is unhooked as when the handle is closed.
	 */
	runstate_stop(rs);
	r = 0;
out:
	mutex_unlock(&vm->runstate_lock);
	return r;
}

static int runstate_get(struct kvm_memext_vm *vm,
			struct kvm_memext_runstate_info *info)
{
	struct kvm_memext_vcpu_runstate *rs;
	struct kvm_vcpu *vcpu;
	int r;

	if (info->flags || info->reserved[0] || info->reserved[1])
		return -EINVAL;
	vcpu = runstate_vcpu(vm, info->vcpu_fd, &r);
	if (!vcpu)
		return r;

	mutex_lock(&vm->runstate_lock);
	rs = kvm_memext_runstate_find(vm, vcpu);
	if (rs) {
		raw_spin_lock_irq(&rs->gpc.lock);
		info->state = rs->state;
		info->attach_flags = rs->flags;
		info->gpa = rs->gpa;
		info->state_entry_time = rs->entry;
		memcpy(info->time, rs->time, sizeof(info->time));
		info->pending = rs->pending;
		info->pad = 0;
		raw_spin_unlock_irq(&rs->gpc.lock);
	}
	mutex_unlock(&vm->runstate_lock);
	return rs ? 0 : -ENOENT;
}

/**
 * kvm_memext_runstate_ioctl() - the runstate ioctls of a VM handle
 * @vm: the handle's state
 * @ioctl: KVM_MEMEXT_RUNSTATE_ATTACH, _DETACH or _GET
 * @argp: user argument
 *
 * Return: 0 or a negative errno, see Documentation/api.rst.
 */
long kvm_memext_runstate_ioctl(struct kvm_memext_vm *vm, unsigned int ioctl,
			       void __user *argp)
{
	struct kvm_memext_runstate_info info;
	struct kvm_memext_runstate a;
	int r;

	if (ioctl == KVM_MEMEXT_RUNSTATE_GET) {
		if (copy_from_user(&info, argp, sizeof(info)))
			return -EFAULT;
		r = runstate_get(vm, &info);
		if (!r && copy_to_user(argp, &info, sizeof(info)))
			r = -EFAULT;
		return r;
	}
	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (ioctl == KVM_MEMEXT_RUNSTATE_ATTACH)
		return runstate_attach(vm, &a);
	return runstate_detach(vm, &a);
}

/**
 * kvm_memext_runstate_init_vm() - set up the runstate state of a new VM handle
 * @vm: the handle's state, not yet visible to anyone
 */
void kvm_memext_runstate_init_vm(struct kvm_memext_vm *vm)
{
	mutex_init(&vm->runstate_lock);
	INIT_LIST_HEAD(&vm->runstates);
}

/**
 * kvm_memext_runstate_release_vm() - detach every area of a closing handle
 * @vm: the handle's state; no runstate ioctl can run any more
 *
 * From any thread: notifiers of other threads are unhooked by those
 * threads (see runstate_unhook()); they no longer use @vm, so
 * the runstate lock is destroyed here.
 */
void kvm_memext_runstate_release_vm(struct kvm_memext_vm *vm)
{
	struct kvm_memext_vcpu_runstate *rs, *tmp;

	mutex_lock(&vm->runstate_lock);
	list_for_each_entry_safe(rs, tmp, &vm->runstates, node)
		runstate_stop(rs);
	mutex_unlock(&vm->runstate_lock);
	mutex_destroy(&vm->runstate_lock);
}
