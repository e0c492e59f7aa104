// SPDX-License-Identifier: GPL-2.0-only
/*
 * Keeping every vCPU of a VM out of guest mode, and away from guest memory,
 * for the duration of a memslot batch, with public kernel interfaces only:
 * vcpu->mutex where it is free, else a task work that parks the vCPU
 * thread (inside KVM_RUN or on its way out) until the batch is done, and a
 * bounded wait.  Documentation/design.rst ("Memslot batches") explains the
 * mechanism, the two designs that hang, and the resume chains.
 *
 * Lock order (KVM's own, with the batch's lock outside):
 *   vm->batch_lock (mutex: one batch per VM, the scratch page)
 *     -> kvm->lock (keeps vCPUs from being created)
 *       -> vcpu->mutex (trylock only: never waited for, see design.rst)
 *         -> kvm->slots_lock (taken by KVM's memslot ioctl while applying)
 *     -> mmap_lock (the scratch page's mapping and faults)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/module.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/wait.h>

#include "kvm_memext.h"
#include "batch.h"
#include "trace.h"

static bool batch_park_in_kernel = true;
module_param(batch_park_in_kernel, bool, 0644);
MODULE_PARM_DESC(batch_park_in_kernel,
		 "Park running vCPUs inside KVM_RUN during memslot batches (TWA_RESUME and an IPI) rather than kicking them out to userspace");

static unsigned int batch_resume_fanout = 1;
module_param(batch_resume_fanout, uint, 0644);
MODULE_PARM_DESC(batch_resume_fanout,
		 "After a memslot batch, each resumed vCPU wakes this many parked vCPUs (0: the batcher wakes all)");

struct kvm_memext_quiesce_vcpu {
	struct callback_head work;
	struct callback_head kick;
	struct kvm_memext_quiesce *q;
	struct kvm_vcpu *vcpu;
	unsigned int vcpu_id;	/* for the vCPU's thread, whose vCPU may go */
	struct list_head parked;	/* on q->parked, under q->lock */
	struct completion released;
	unsigned int pos;	/* in q->tree once resumed */
	unsigned long queued_at;	/* jiffies */
	bool locked;		/* we hold vcpu->mutex */
	bool queued;		/* the task work is queued */
	bool kicked;		/* ... with TWA_SIGNAL, or a kick that is */
	bool arrived;		/* the task work is running */
};

struct kvm_memext_quiesce {
	struct kvm *kvm;
	u64 start;		/* ns: vCPUs begin to stop */
	refcount_t refs;
	atomic_t arrivals;
	wait_queue_head_t wq;
	spinlock_t lock;	/* protects parked, resumed, the tree */
	struct list_head parked;
	bool resumed;
	unsigned int roots;
	unsigned int fanout;
	unsigned int nr_tree;
	struct kvm_memext_quiesce_vcpu **tree;	/* parked vCPUs at resume */
	unsigned int nr;
	struct kvm_memext_quiesce_vcpu vcpus[] __counted_by(nr);
};

static void quiesce_put(struct kvm_memext_quiesce *q)
{
	if (refcount_dec_and_test(&q->refs)) {
		kfree(q->tree);
		kfree(q);
	}
}

/* Wake the children of tree position @pos (-1: the roots). */
static void quiesce_release(struct kvm_memext_quiesce *q, int pos)
{
	unsigned int i, end;

	i = kvm_memext_tree_children(q->roots, q->fanout, pos, q->nr_tree, &end);
	for (; i < end; i++)
		complete(&q->tree[i]->released);
}

static void quiesce_fn(struct callback_head *work)
{
	struct kvm_memext_quiesce_vcpu *v =
		container_of(work, struct kvm_memext_quiesce_vcpu, work);
	struct kvm_memext_quiesce *q = v->q;
	u64 start = ktime_get_ns();
	bool resumed;

	spin_lock(&q->lock);
	resumed = q->resumed;
	if (!resumed)
		list_add_tail(&v->parked, &q->parked);
	spin_unlock(&q->lock);
	/* Before the batcher can see it parked. */
	if (!resumed)
		trace_kvm_memext_vcpu_park(v->vcpu_id);
	/* Pairs with smp_load_acquire() in quiesce_pending(). */
	smp_store_release(&v->arrived, true);
	atomic_inc(&q->arrivals);
	wake_up(&q->wq);
	if (resumed)
		goto out;

	/*
	 * A fatal signal lets the thread go: before the resume it leaves the
	 * list (a batch still quiescing then times out); after it, it wakes
	 * its children as if it had been released.
	 */
	wait_for_completion_killable(&v->released);
	spin_lock(&q->lock);
	resumed = q->resumed;
	if (!resumed)
		list_del(&v->parked);
	spin_unlock(&q->lock);
	if (resumed)
		quiesce_release(q, v->pos);
	trace_kvm_memext_vcpu_resume(v->vcpu_id, ktime_get_ns() - start);
out:
	quiesce_put(q);
	module_put(THIS_MODULE);
}

/* A signal-like kick only: the parking work is already queued. */
static void quiesce_kick_fn(struct callback_head *work)
{
	struct kvm_memext_quiesce_vcpu *v =
		container_of(work, struct kvm_memext_quiesce_vcpu, kick);

	quiesce_put(v->q);
	module_put(THIS_MODULE);
}

/*
 * Queue @work on the vCPU's thread (not the caller: a batch issued from a
 * vCPU thread while another thread has the vCPU busy can only poll
 * vcpu->mutex, the work would run after the batch).  @mode -1 chooses:
 * TWA_RESUME and an IPI for a running thread, TWA_SIGNAL for a sleeping one.
 * Returns the mode used, or -1 if the work was not queued.
 */
static int quiesce_add(struct kvm_memext_quiesce_vcpu *v,
		       struct callback_head *work,
		       task_work_func_t fn, int mode)
{
	struct task_struct *task = kvm_memext_vcpu_task(v->vcpu);

	if (!task)
		return -1;
	if (task == current) {
		put_task_struct(task);
		return -1;
	}
	if (mode < 0)
		mode = READ_ONCE(batch_park_in_kernel) && task_is_running(task) ?
			TWA_RESUME : TWA_SIGNAL;

	refcount_inc(&v->q->refs);
	if (kvm_memext_task_work_add(task, work, fn, mode)) {
		/* The thread is exiting, and will release vcpu->mutex. */
		quiesce_put(v->q);
		mode = -1;
	} else if (mode == TWA_RESUME) {
		kick_process(task);
	}
	put_task_struct(task);
	return mode;
}

/* Queue the parking work on the vCPU's thread; false if it has none now. */
static bool quiesce_queue(struct kvm_memext_quiesce_vcpu *v)
{
	int mode = quiesce_add(v, &v->work, quiesce_fn, -1);

	v->queued_at = jiffies;
	v->kicked = mode == TWA_SIGNAL;
	return mode >= 0;
}

/* Not arrived after a jiffy: make it leave KVM_RUN (e.g. a halt). */
static void quiesce_kick(struct kvm_memext_quiesce_vcpu *v)
{
	if (v->kicked || time_before(jiffies, v->queued_at + 1))
		return;
	v->kicked = quiesce_add(v, &v->kick, quiesce_kick_fn,
				TWA_SIGNAL) >= 0;
}

/* Count vCPUs still able to touch guest memory; take free mutexes. */
static unsigned int quiesce_pending(struct kvm_memext_quiesce *q)
{
	unsigned int i, pending = 0;

	for (i = 0; i < q->nr; i++) {
		struct kvm_memext_quiesce_vcpu *v = &q->vcpus[i];

		/* Pairs with smp_store_release() in quiesce_fn(). */
		if (v->locked || (v->queued && smp_load_acquire(&v->arrived)))
			continue;
		/* Nested under kvm->lock, so lockdep folds them into one. */
		if (mutex_trylock_nest_lock(&v->vcpu->mutex, &q->kvm->lock)) {
			v->locked = true;
			continue;
		}
		if (!v->queued)
			v->queued = quiesce_queue(v);
		else
			quiesce_kick(v);
		pending++;
	}
	return pending;
}

/**
 * kvm_memext_quiesce_vcpus() - keep every vCPU of @kvm out of guest mode
 * @kvm: the VM
 * @timeout_ms: how long to wait for vCPUs
 *
 * Takes kvm->lock, held until kvm_memext_resume_vcpus().
 *
 * Return: the quiesce state, or ERR_PTR(-ETIMEDOUT) when a vCPU did not
 * stop in time, -EINTR on a fatal signal while taking kvm->lock,
 * -ERESTARTSYS on a signal (or notify-signal) while waiting, -ENOMEM.  On
 * error nothing is held.
 */
struct kvm_memext_quiesce *kvm_memext_quiesce_vcpus(struct kvm *kvm,
						    unsigned int timeout_ms)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(timeout_ms);
	struct kvm_memext_quiesce *q;
	struct kvm_vcpu *vcpu;
	unsigned long i;
	unsigned int nr;
	int r = 0;

	if (mutex_lock_killable(&kvm->lock))
		return ERR_PTR(-EINTR);

	nr = atomic_read(&kvm->online_vcpus);
	q = kzalloc(struct_size(q, vcpus, nr), GFP_KERNEL_ACCOUNT);
	if (!q) {
		mutex_unlock(&kvm->lock);
		return ERR_PTR(-ENOMEM);
	}
	q->nr = nr;
	q->kvm = kvm;
	q->tree = kcalloc(nr, sizeof(*q->tree), GFP_KERNEL_ACCOUNT);
	if (!q->tree) {
		kfree(q);
		mutex_unlock(&kvm->lock);
		return ERR_PTR(-ENOMEM);
	}
	refcount_set(&q->refs, 1);
	q->start = ktime_get_ns();
	init_waitqueue_head(&q->wq);
	spin_lock_init(&q->lock);
	INIT_LIST_HEAD(&q->parked);
	kvm_for_each_vcpu(i, vcpu, kvm) {
		if (i >= nr)
			break;
		q->vcpus[i].q = q;
		q->vcpus[i].vcpu = vcpu;
		q->vcpus[i].vcpu_id = vcpu->vcpu_id;
		init_completion(&q->vcpus[i].released);
	}

	for (;;) {
		int seen = atomic_read(&q->arrivals);
		long left;

		if (!quiesce_pending(q))
			break;
		left = (long)(deadline - jiffies);
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		/*
		 * Arrivals wake us; mutexes freed without a work are polled.
		 * A signal, or a task work's kick, restarts the caller's
		 * ioctl: nothing is applied yet.
		 */
		if (wait_event_interruptible_timeout(q->wq,
						     atomic_read(&q->arrivals) != seen,
						     1) < 0) {
			r = -ERESTARTSYS;
			break;
		}
	}
	if (r) {
		kvm_memext_resume_vcpus(q);
		return ERR_PTR(r);
	}
	return q;
}

/**
 * kvm_memext_quiesce_nr_vcpus() - how many vCPUs a quiesce stopped
 * @q: from kvm_memext_quiesce_vcpus()
 *
 * Return: the vCPUs kept out of guest mode, all of the VM's.
 */
unsigned int kvm_memext_quiesce_nr_vcpus(const struct kvm_memext_quiesce *q)
{
	return q->nr;
}

/**
 * kvm_memext_quiesce_start() - when vCPUs began to stop
 * @q: from kvm_memext_quiesce_vcpus()
 *
 * Return: ktime_get_ns() once kvm->lock was taken, before the first vCPU
 * was asked to stop.
 */
u64 kvm_memext_quiesce_start(const struct kvm_memext_quiesce *q)
{
	return q->start;
}

/**
 * kvm_memext_resume_vcpus() - let the vCPUs run again
 * @q: from kvm_memext_quiesce_vcpus()
 *
 * Releases kvm->lock and every vcpu->mutex taken, and frees @q once no
 * task work refers to it.
 */
void kvm_memext_resume_vcpus(struct kvm_memext_quiesce *q)
{
	struct kvm_memext_quiesce_vcpu *v;
	unsigned int i;

	spin_lock(&q->lock);
	q->resumed = true;
	list_for_each_entry(v, &q->parked, parked) {
		v->pos = q->nr_tree;
		q->tree[q->nr_tree++] = v;
	}
	q->fanout = min(READ_ONCE(batch_resume_fanout), q->nr_tree);
	q->roots = q->fanout ? min(num_online_cpus(), q->nr_tree) : q->nr_tree;
	spin_unlock(&q->lock);
	quiesce_release(q, -1);

	for (i = 0; i < q->nr; i++)
		if (q->vcpus[i].locked)
			mutex_unlock(&q->vcpus[i].vcpu->mutex);
	mutex_unlock(&q->kvm->lock);
	quiesce_put(q);
}
