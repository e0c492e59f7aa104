// SPDX-License-Identifier: GPL-2.0-only
/*
 * Task works that hold the module.  Batches park vCPU threads with them
 * (quiesce.c); runstate areas refresh and unhook on their vCPU's thread
 * (runstate.c).  A module cannot cancel a task work (task_work_cancel() is
 * not exported), so each queued work holds a module reference, which its
 * callback drops as its last statement, and module exit waits until no
 * task is still inside a callback's code.
 */
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/task_work.h>

#include "kvm_memext.h"

/**
 * kvm_memext_task_work_add() - queue a task work that holds the module
 * @task: the thread to run it
 * @work: the work; stays allocated until @fn has run
 * @fn: the callback; its last statement must be module_put(THIS_MODULE)
 * @mode: TWA_RESUME or TWA_SIGNAL, as for task_work_add()
 *
 * Return: 0, or -ESRCH if @task is exiting: then nothing was queued and no
 * module reference is held.
 */
int kvm_memext_task_work_add(struct task_struct *task,
			     struct callback_head *work, task_work_func_t fn,
			     enum task_work_notify_mode mode)
{
	int r;

	init_task_work(work, fn);
	__module_get(THIS_MODULE);
	r = task_work_add(task, work, mode);
	if (r)
		module_put(THIS_MODULE);
	return r;
}

/**
 * kvm_memext_task_works_exit() - wait out task works at module unload
 *
 * Every callback drops its module reference as its last action; the
 * RCU-tasks grace period waits until each such task has left the
 * callback's code.
 */
void kvm_memext_task_works_exit(void)
{
	/*
	 * Without Tasks RCU, synchronize_rcu_tasks() is synchronize_rcu(),
	 * which does not wait for a task preempted after a callback's
	 * module_put().
	 */
	BUILD_BUG_ON(IS_ENABLED(CONFIG_PREEMPTION) && !IS_ENABLED(CONFIG_TASKS_RCU));
	synchronize_rcu_tasks();
}
