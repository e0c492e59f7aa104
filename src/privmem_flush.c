// SPDX-License-Identifier: GPL-2.0-only
/*
 * TLB-flush budgets of private memory, and the flushes they allow.
 *
 * Every flush the module makes for private memory interrupts every CPU
 * (directmap.c), isolated and vCPU-running ones included.  A rate per
 * file would let a tenant multiply it by opening files, so flushes are
 * charged to two budgets instead: one per owner (the mm that maps and pays
 * for the files, whatever their number), privmem_flush_rate a second, and
 * one for the host, privmem_host_flush_rate a second, which no number of
 * owners can exceed.
 *
 * Each budget is a virtual-time bucket (the generic cell rate algorithm):
 * @tat is when the next flush would be on schedule; a flush is allowed
 * while @tat is at most a tolerance ahead of now, and moves it one interval
 * on.  The tolerance is one interval for an owner (two flushes may follow
 * each other) and a tenth of a second's worth for the host.
 *
 * Showing, hiding and freeing wait for both budgets (killable where the
 * caller can fail).  Populating waits for the host's only: its flush
 * brings memory in, 2 MiB a flush, and a VM's first touch must not crawl
 * at an owner's rate; it is charged to the owner as well, but never puts
 * it more than a tenth of a second behind.  The budgets are checked and
 * charged in one step under one spinlock.
 */
#include <linux/hashtable.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"
#include "trace.h"

static unsigned int privmem_flush_rate = 100;
module_param(privmem_flush_rate, uint, 0644);
MODULE_PARM_DESC(privmem_flush_rate,
		 "Most TLB flushes a second per owner of private memory, all its files together (0: no limit)");

static unsigned int privmem_host_flush_rate = 2000;
module_param(privmem_host_flush_rate, uint, 0644);
MODULE_PARM_DESC(privmem_host_flush_rate,
		 "Most TLB flushes a second for private memory on the whole host (0: no limit)");

/**
 * struct kvm_memext_privmem_tenant - the flush budget of one owner
 * @node: entry in privmem_tenants, by @mm.
 * @mm: the owner; compared only (every file of it holds the mm).
 * @files: files whose owner is @mm.
 * @tat: when its next flush is on schedule (ns, ktime_get_ns()).
 * @splits: 2 MiB direct-map entries split to show its clock pages.
 * @stat: its private-memory statistics, for its VM handles (stats.c):
 *	what its files hold now, and what they did since it first owned one.
 */
struct kvm_memext_privmem_tenant {
	struct hlist_node node;
	const struct mm_struct *mm;
	unsigned long files;
	u64 tat;
	unsigned int splits;
	atomic64_t stat[KVM_MEMEXT_NR_PM_STATS];
};

/*
 * Splits for clock pages per owner: a guest that moves its clock around
 * splits a block each time, for good, whatever the files it does it in.
 * 64 vCPUs share a page in a Linux guest: 64 pages cover 4096 vCPUs.
 */
#define PRIVMEM_MAX_CLOCK_SPLITS	64

static DEFINE_SPINLOCK(privmem_flush_lock);	/* tenants, every @tat */
static DEFINE_HASHTABLE(privmem_tenants, 6);
static u64 privmem_host_tat;

static u64 flush_interval(unsigned int rate)
{
	return rate ? NSEC_PER_SEC / rate : 0;
}

/* How long until a bucket allows a flush: 0 now. */
static u64 bucket_wait(u64 tat, u64 now, u64 interval, u64 tolerance)
{
	if (!interval || tat <= now + tolerance)
		return 0;
	return tat - now - tolerance;
}

/* Charge a flush at @now; a charge never takes it beyond @cap ahead. */
static void bucket_charge(u64 *tat, u64 now, u64 interval, u64 cap)
{
	u64 next = max(*tat, now) + interval;

	if (cap)
		next = min(next, max(*tat, now + cap));
	*tat = next;
}

static u64 host_tolerance(u64 interval)
{
	return interval * (READ_ONCE(privmem_host_flush_rate) / 10);
}

/* Nanoseconds until @pm may flush; charge the flush if that is now. */
static u64 privmem_flush_budget(struct kvm_memext_privmem *pm, bool populate,
				bool charge)
{
	u64 host = flush_interval(READ_ONCE(privmem_host_flush_rate));
	u64 own = flush_interval(READ_ONCE(privmem_flush_rate));
	u64 now = ktime_get_ns(), wait;

	spin_lock(&privmem_flush_lock);
	wait = bucket_wait(privmem_host_tat, now, host, host_tolerance(host));
	if (pm->tenant && !populate)
		wait = max(wait, bucket_wait(pm->tenant->tat, now, own, own));
	if (!wait && charge) {
		bucket_charge(&privmem_host_tat, now, host, 0);
		if (pm->tenant)
			bucket_charge(&pm->tenant->tat, now, own,
				      populate ? NSEC_PER_SEC / 10 : 0);
	}
	spin_unlock(&privmem_flush_lock);
	return wait;
}

/**
 * kvm_memext_privmem_flush_rate() - the flush budget of one owner
 *
 * Return: privmem_flush_rate, flushes a second (0: no limit).
 */
unsigned int kvm_memext_privmem_flush_rate(void)
{
	return READ_ONCE(privmem_flush_rate);
}

/**
 * kvm_memext_privmem_flush_wait() - how long until a file may flush
 * @pm: the file.
 * @populate: for an allocation, which waits for the host's budget only.
 *
 * Return: nanoseconds to wait, 0 if a flush is allowed now.
 */
u64 kvm_memext_privmem_flush_wait(struct kvm_memext_privmem *pm, bool populate)
{
	return privmem_flush_budget(pm, populate, false);
}

/**
 * kvm_memext_privmem_flush_reserve() - take a flush from the budgets
 * @pm: the file that is to flush.
 * @populate: for an allocation (see above).
 *
 * Checks and charges in one step, so that files of one owner flushing at
 * once cannot all pass the same check.
 *
 * Return: 0 when the flush was charged and may be made now, else the
 * nanoseconds to wait before asking again (nothing charged).
 */
u64 kvm_memext_privmem_flush_reserve(struct kvm_memext_privmem *pm,
				     bool populate)
{
	return privmem_flush_budget(pm, populate, true);
}

/* Pages a file holds (and charges to its owner). */
static s64 privmem_file_pages(const struct kvm_memext_privmem *pm)
{
	return pm->inode->i_blocks >> (PAGE_SHIFT - 9);
}

/**
 * kvm_memext_pm_stat_add() - count for a file's owner
 * @pm: the file; its lock is held, or it is being destroyed.
 * @stat: which statistic.
 * @val: how much.
 *
 * Nothing is counted for a file without owner: no VM's process has it.
 */
void kvm_memext_pm_stat_add(struct kvm_memext_privmem *pm,
			    enum kvm_memext_pm_stat stat, s64 val)
{
	/* Set and put under pm->lock. */
	if (pm->tenant)
		atomic64_add(val, &pm->tenant->stat[stat]);
}

/**
 * kvm_memext_privmem_stats_sum() - the private-memory statistics of a VM
 * @mm: the VM's process.
 * @sum: out: KVM_MEMEXT_STAT_PRIVMEM_FILES and the statistics after it.
 *
 * Constant time, whatever the number of files on the host: what @mm's
 * files hold now, and what they did since @mm last began to own one.
 */
void kvm_memext_privmem_stats_sum(const struct mm_struct *mm, u64 *sum)
{
	struct kvm_memext_privmem_tenant *t;
	unsigned int i;

	memset(sum, 0, (KVM_MEMEXT_NR_PM_STATS + 1) * sizeof(*sum));
	spin_lock(&privmem_flush_lock);
	hash_for_each_possible(privmem_tenants, t, node, (unsigned long)mm) {
		if (t->mm != mm)
			continue;
		sum[0] = t->files;
		for (i = 0; i < KVM_MEMEXT_NR_PM_STATS; i++)
			sum[i + 1] = atomic64_read(&t->stat[i]);
		break;
	}
	spin_unlock(&privmem_flush_lock);
}

/**
 * kvm_memext_privmem_tenant_set() - charge a file's flushes to a new owner
 * @pm: the file; its lock is held.
 * @mm: the new owner.
 *
 * Return: 0 or -ENOMEM; on error the file keeps its budget.
 */
int kvm_memext_privmem_tenant_set(struct kvm_memext_privmem *pm,
				  struct mm_struct *mm)
{
	struct kvm_memext_privmem_tenant *t, *new;

	lockdep_assert_held(&pm->lock);
	new = kzalloc_obj(*new, GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	kvm_memext_privmem_tenant_put(pm);

	spin_lock(&privmem_flush_lock);
	hash_for_each_possible(privmem_tenants, t, node, (unsigned long)mm) {
		if (t->mm == mm)
			break;
	}
	if (!t) {
		t = new;
		new = NULL;
		t->mm = mm;
		hash_add(privmem_tenants, &t->node, (unsigned long)mm);
	}
	t->files++;
	pm->tenant = t;
	spin_unlock(&privmem_flush_lock);
	kfree(new);
	/* What the file holds moves with it. */
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, privmem_file_pages(pm));
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_ACCESSIBLE, pm->nr_access);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_tenant_set);

/**
 * kvm_memext_privmem_tenant_put() - a file leaves its owner's budget
 * @pm: the file.
 */
void kvm_memext_privmem_tenant_put(struct kvm_memext_privmem *pm)
{
	struct kvm_memext_privmem_tenant *t = pm->tenant;

	if (!t)
		return;
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_PAGES, -privmem_file_pages(pm));
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_ACCESSIBLE, -(s64)pm->nr_access);
	spin_lock(&privmem_flush_lock);
	if (--t->files)
		t = NULL;
	else
		hash_del(&t->node);
	pm->tenant = NULL;
	spin_unlock(&privmem_flush_lock);
	kfree(t);
}

/**
 * kvm_memext_privmem_tenant_exists() - whether an mm owns private memory
 * @mm: the mm, or NULL.
 *
 * Cheap enough for a tracepoint probe.
 *
 * Return: true if @mm owns at least one private-memory file.
 */
bool kvm_memext_privmem_tenant_exists(const struct mm_struct *mm)
{
	struct kvm_memext_privmem_tenant *t;
	bool found = false;

	if (!mm)
		return false;
	spin_lock(&privmem_flush_lock);
	hash_for_each_possible(privmem_tenants, t, node, (unsigned long)mm) {
		if (t->mm == mm) {
			found = true;
			break;
		}
	}
	spin_unlock(&privmem_flush_lock);
	return found;
}

/**
 * kvm_memext_privmem_tenant_split() - count a split for a clock page
 * @pm: the file, which has an owner.
 *
 * Return: true if the owner may split one more 2 MiB entry (counted),
 * false at its bound.
 */
bool kvm_memext_privmem_tenant_split(struct kvm_memext_privmem *pm)
{
	bool ok = false;

	spin_lock(&privmem_flush_lock);
	if (pm->tenant && pm->tenant->splits < PRIVMEM_MAX_CLOCK_SPLITS) {
		pm->tenant->splits++;
		ok = true;
	}
	spin_unlock(&privmem_flush_lock);
	if (!ok)
		kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_SPLITS,
					     PRIVMEM_MAX_CLOCK_SPLITS);
	return ok;
}

/**
 * kvm_memext_privmem_flush_delay() - how long a file must wait to flush
 * @pm: the file.
 *
 * Return: jiffies until the owner's and the host's budgets allow a flush;
 * 0 when they do now.
 */
unsigned long kvm_memext_privmem_flush_delay(struct kvm_memext_privmem *pm)
{
	u64 ns = kvm_memext_privmem_flush_wait(pm, false);

	return ns ? max_t(unsigned long, 1, nsecs_to_jiffies(ns)) : 0;
}

/**
 * kvm_memext_privmem_flush_early() - whether a flush now is over budget
 * @pm: the file.
 *
 * Return: true when a flush now would exceed the owner's or the host's
 * budget: hides should wait for hide_work.
 */
bool kvm_memext_privmem_flush_early(struct kvm_memext_privmem *pm)
{
	return kvm_memext_privmem_flush_wait(pm, false);
}

/**
 * kvm_memext_privmem_flush() - flush every CPU's TLB within the budgets
 * @pm: the file whose entries changed.
 * @reason: why, for the trace event; %KVM_MEMEXT_FLUSH_POPULATE waits for
 *	    the host's budget only, so that a VM's first touch is not held
 *	    to its owner's rate.
 *
 * Callers that can fail waited (killable) for the budget already, with
 * kvm_memext_privmem_throttle(), so this wait is short.
 */
void kvm_memext_privmem_flush(struct kvm_memext_privmem *pm,
			      enum kvm_memext_flush_reason reason)
{
	bool populate = reason == KVM_MEMEXT_FLUSH_POPULATE;
	u64 ns, waited = 0;

	while ((ns = kvm_memext_privmem_flush_reserve(pm, populate))) {
		schedule_timeout_uninterruptible(max_t(long, 1, nsecs_to_jiffies(ns)));
		waited += ns;
	}
	kvm_memext_dmap_flush();
	kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_FLUSHES, 1);
	trace_kvm_memext_privmem_flush(pm, reason, waited);
}

/**
 * kvm_memext_privmem_throttle() - wait, killable, until a file may flush
 * @pm: the file.
 *
 * Return: 0, or -EINTR when killed while waiting.
 */
int kvm_memext_privmem_throttle(struct kvm_memext_privmem *pm)
{
	u64 start = ktime_get_ns();
	bool waited = false;
	unsigned long delay;

	lockdep_assert_held(&pm->lock);
	while ((delay = kvm_memext_privmem_flush_delay(pm))) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (!waited)
			kvm_memext_privmem_limit_hit(KVM_MEMEXT_LIMIT_FLUSH,
						     kvm_memext_privmem_flush_rate());
		schedule_timeout_killable(delay);
		waited = true;
	}
	if (waited) {
		atomic_long_inc(&kvm_memext_privmem_stats.throttled);
		kvm_memext_pm_stat_add(pm, KVM_MEMEXT_PM_STAT_THROTTLED, 1);
		trace_kvm_memext_privmem_throttled(pm, ktime_get_ns() - start);
	}
	return 0;
}
