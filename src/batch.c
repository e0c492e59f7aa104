// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_MEMEXT_SET_MEMSLOTS: apply a batch of memslot changes so that no vCPU
 * ever runs on an intermediate layout.
 *
 * The batch is planned (validated) against a snapshot of the layout before
 * any vCPU is disturbed, then every vCPU is parked (quiesce.c) and the steps
 * are applied through the VM file's own ioctl handler, exactly as the VMM
 * would issue them: this works on every kernel, since KVM exports nothing
 * for memslots.  KVM's ioctls read their arguments from user memory, so the
 * validated arguments are written to a scratch page mapped into the caller's
 * address space.  A step KVM refuses is followed by undoing the steps
 * before it, in reverse order.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvm_memext.h"
#include "batch.h"
#include "stats.h"
#include "trace.h"

static unsigned int batch_timeout_ms = 2000;
module_param(batch_timeout_ms, uint, 0644);
MODULE_PARM_DESC(batch_timeout_ms,
		 "Longest wait for vCPUs to stop before a memslot batch fails with ETIMEDOUT");

/* Where the KVM ioctl arguments of one step are written. */
struct kvm_memext_scratch {
	struct kvm_memext_region region;
	struct kvm_dirty_log log;
};

/* KVM reads the region as its own struct: the same fields at the same places. */
static_assert(offsetof(struct kvm_memext_region, slot) ==
	      offsetof(struct kvm_userspace_memory_region, slot));
static_assert(offsetof(struct kvm_memext_region, flags) ==
	      offsetof(struct kvm_userspace_memory_region, flags));
static_assert(offsetof(struct kvm_memext_region, guest_phys_addr) ==
	      offsetof(struct kvm_userspace_memory_region, guest_phys_addr));
static_assert(offsetof(struct kvm_memext_region, memory_size) ==
	      offsetof(struct kvm_userspace_memory_region, memory_size));
static_assert(offsetof(struct kvm_memext_region, userspace_addr) ==
	      offsetof(struct kvm_userspace_memory_region, userspace_addr));
static_assert(offsetofend(struct kvm_memext_region, userspace_addr) ==
	      sizeof(struct kvm_userspace_memory_region));
#ifdef KVM_SET_USER_MEMORY_REGION2
static_assert(offsetof(struct kvm_memext_region, slot) ==
	      offsetof(struct kvm_userspace_memory_region2, slot));
static_assert(offsetof(struct kvm_memext_region, flags) ==
	      offsetof(struct kvm_userspace_memory_region2, flags));
static_assert(offsetof(struct kvm_memext_region, guest_phys_addr) ==
	      offsetof(struct kvm_userspace_memory_region2, guest_phys_addr));
static_assert(offsetof(struct kvm_memext_region, memory_size) ==
	      offsetof(struct kvm_userspace_memory_region2, memory_size));
static_assert(offsetof(struct kvm_memext_region, userspace_addr) ==
	      offsetof(struct kvm_userspace_memory_region2, userspace_addr));
static_assert(offsetof(struct kvm_memext_region, guest_memfd_offset) ==
	      offsetof(struct kvm_userspace_memory_region2, guest_memfd_offset));
static_assert(offsetof(struct kvm_memext_region, guest_memfd) ==
	      offsetof(struct kvm_userspace_memory_region2, guest_memfd));
static_assert(sizeof(struct kvm_memext_region) ==
	      sizeof(struct kvm_userspace_memory_region2));
#endif

/* The module's own view of the scratch page; the VMM's is read-only. */
static struct kvm_memext_scratch *batch_scratch_kva(struct kvm_memext_vm *vm)
{
	return page_address(vm->scratch_file->private_data);
}

struct kvm_memext_batch {
	struct kvm_memext_vm *vm;
	struct kvm_memext_memslot *entries;
	struct kvm_memext_step *steps;
	unsigned int nr;
	u32 flags;
	struct kvm_memext_layout layout;
	u64 gens[KVM_MEMEXT_MAX_AS];
	struct kvm_memext_scratch __user *scratch;
	/* results */
	int error_index;
	u32 result;
	u32 applied;
};

static void batch_limits(struct kvm *kvm,
			 struct kvm_memext_plan_limits *lim)
{
	lim->nr_as = kvm_memext_nr_as(kvm);
	lim->nr_slots = KVM_USER_MEM_SLOTS;
	lim->max_npages = KVM_MEM_MAX_NR_PAGES;
	lim->valid_flags = KVM_MEM_LOG_DIRTY_PAGES;
	if (kvm_memext_readonly_ok(kvm))
		lim->valid_flags |= KVM_MEM_READONLY;
	if (kvm_memext_gmem_ok(kvm))
		lim->valid_flags |= KVM_MEM_GUEST_MEMFD;
}

/*
 * Snapshot the memslots of every address space, with room for one more
 * slot per entry, and their generations.  KVM's internal slots (ids at or
 * above KVM_USER_MEM_SLOTS, e.g. x86's APIC access page) are included:
 * user slots must not overlap them either, and no entry can name them.
 */
static int batch_snapshot(struct kvm_memext_batch *b)
{
	struct kvm *kvm = b->vm->kvm;
	struct kvm_memory_slot *ms;
	struct kvm_memslots *slots;
	unsigned int nr = 0;
	int as, bkt;

	mutex_lock(&kvm->slots_lock);
	for (as = 0; as < kvm_memext_nr_as(kvm); as++) {
		slots = __kvm_memslots(kvm, as);
		kvm_for_each_memslot(ms, bkt, slots)
			nr++;
	}
	kvfree(b->layout.slots);
	b->layout.nr = 0;
	b->layout.slots = kvmalloc_array(nr + b->nr, sizeof(*b->layout.slots),
					 GFP_KERNEL_ACCOUNT);
	if (!b->layout.slots) {
		mutex_unlock(&kvm->slots_lock);
		return -ENOMEM;
	}
	for (as = 0; as < kvm_memext_nr_as(kvm); as++) {
		slots = __kvm_memslots(kvm, as);
		b->gens[as] = slots->generation;
		kvm_for_each_memslot(ms, bkt, slots) {
			struct kvm_memext_slot *s = &b->layout.slots[b->layout.nr++];

			*s = (struct kvm_memext_slot) {
				.slot = (as << 16) | ms->id,
				.flags = ms->flags,
				.base_gfn = ms->base_gfn,
				.npages = ms->npages,
				.userspace_addr = ms->userspace_addr,
			};
		}
	}
	mutex_unlock(&kvm->slots_lock);
	return 0;
}

static bool batch_layout_changed(struct kvm_memext_batch *b)
{
	struct kvm *kvm = b->vm->kvm;
	bool changed = false;
	int as;

	mutex_lock(&kvm->slots_lock);
	for (as = 0; as < kvm_memext_nr_as(kvm); as++)
		changed |= __kvm_memslots(kvm, as)->generation != b->gens[as];
	mutex_unlock(&kvm->slots_lock);
	return changed;
}

static int batch_plan(struct kvm_memext_batch *b)
{
	struct kvm_memext_plan_limits lim;
	unsigned int index;
	int r;

	r = batch_snapshot(b);
	if (r)
		return r;
	batch_limits(b->vm->kvm, &lim);
	r = kvm_memext_plan_batch(&lim, &b->layout, b->entries, b->nr,
				  b->flags, b->steps, &index);
	if (r)
		b->error_index = index;
	trace_kvm_memext_batch_validated(b->vm, b->nr, r, r ? index : -1);
	return r;
}

/*
 * Ask the LSMs about the KVM ioctls a batch makes on the VMM's behalf, as
 * ioctl(2) asks them before KVM sees a call.  Done before any entry is
 * applied, so that a refusal changes nothing and a rollback is never
 * refused.
 */
static int batch_security(struct kvm_memext_batch *b)
{
	struct file *file = b->vm->vm_file;
	unsigned int i;
	int r;

	r = security_file_ioctl(file, KVM_MEMEXT_SET_REGION_IOCTL,
				(unsigned long)&b->scratch->region);
	if (r)
		return r;
	for (i = 0; i < b->nr; i++) {
		if (b->steps[i].harvest)
			return security_file_ioctl(file, KVM_GET_DIRTY_LOG,
						   (unsigned long)&b->scratch->log);
	}
	return 0;
}

static long batch_vm_file_ioctl(struct kvm_memext_batch *b,
				unsigned int ioctl, void __user *arg)
{
	struct file *file = b->vm->vm_file;

	return file->f_op->unlocked_ioctl(file, ioctl, (unsigned long)arg);
}

static int batch_harvest(struct kvm_memext_batch *b,
			 const struct kvm_memext_step *step)
{
	struct kvm_dirty_log log = {
		.slot = step->old.slot,
		.dirty_bitmap = u64_to_user_ptr(step->dirty_bitmap),
	};
	int r;

	batch_scratch_kva(b->vm)->log = log;
	r = batch_vm_file_ioctl(b, KVM_GET_DIRTY_LOG, &b->scratch->log);
	/* KVM cleared them: the buffer is their only copy, even on rollback. */
	if (!r)
		b->result |= KVM_MEMEXT_MEMSLOTS_DIRTY_HARVESTED;
	return r;
}

static int batch_apply_step(struct kvm_memext_batch *b,
			    const struct kvm_memext_step *step)
{
	struct kvm_memext_region region;
	int r;

	if (step->harvest) {
		r = batch_harvest(b, step);
		if (r)
			return r;
	}
	if (step->op == KVM_MEMEXT_OP_NONE)
		return 0;

	kvm_memext_step_region(step, &region);
	batch_scratch_kva(b->vm)->region = region;
	return batch_vm_file_ioctl(b, KVM_MEMEXT_SET_REGION_IOCTL,
					&b->scratch->region);
}

static void batch_rollback(struct kvm_memext_batch *b, unsigned int done)
{
	unsigned int failed = done;
	struct kvm_memext_step undo;
	int r;

	while (done--) {
		if (b->steps[done].op == KVM_MEMEXT_OP_NONE)
			continue;
		kvm_memext_step_undo(&b->steps[done], &undo);
		r = batch_apply_step(b, &undo);
		if (r) {
			pr_warn_ratelimited("pid %d: undoing memslot batch entry %u failed: %d\n",
					    task_pid_nr(current), done, r);
			b->result |= KVM_MEMEXT_MEMSLOTS_ROLLBACK_FAILED;
			/* That entry is still in effect. */
			b->applied++;
		}
	}
	b->result |= KVM_MEMEXT_MEMSLOTS_ROLLED_BACK;
	kvm_memext_stat_inc(b->vm, KVM_MEMEXT_STAT_BATCH_ROLLBACKS);
	trace_kvm_memext_batch_rollback(b->vm, failed, failed - b->applied,
					b->result);
}

static int batch_apply(struct kvm_memext_batch *b)
{
	struct kvm_memext_vm *vm = b->vm;
	struct kvm_memext_quiesce *q;
	u64 start = ktime_get_ns(), parked, ns;
	unsigned int i;
	int r;

	q = kvm_memext_quiesce_vcpus(vm->kvm, READ_ONCE(batch_timeout_ms));
	parked = ktime_get_ns();
	trace_kvm_memext_batch_parked(vm, IS_ERR(q) ? 0 :
				      kvm_memext_quiesce_nr_vcpus(q),
				      parked - start, PTR_ERR_OR_ZERO(q));
	if (IS_ERR(q)) {
		if (PTR_ERR(q) == -ETIMEDOUT)
			kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_BATCH_TIMEOUTS);
		return PTR_ERR(q);
	}
	/* Not the wait for kvm->lock: the vCPUs ran on meanwhile. */
	start = kvm_memext_quiesce_start(q);
	kvm_memext_stat_add(vm, KVM_MEMEXT_STAT_BATCH_PARK_NS, parked - start);
	kvm_memext_stat_add(vm, KVM_MEMEXT_STAT_BATCH_VCPUS_PARKED,
			    kvm_memext_quiesce_nr_vcpus(q));

	/* Another thread of the VMM may have changed memslots meanwhile. */
	if (batch_layout_changed(b)) {
		r = batch_plan(b);
		if (!r)
			r = batch_security(b);
		if (r)
			goto out;
	}

	for (i = 0; i < b->nr; i++) {
		r = batch_apply_step(b, &b->steps[i]);
		if (r) {
			b->error_index = i;
			batch_rollback(b, i);
			goto out;
		}
	}
	b->applied = b->nr;
out:
	trace_kvm_memext_batch_applied(vm, b->applied, ktime_get_ns() - parked,
				       r);
	kvm_memext_resume_vcpus(q);
	ns = ktime_get_ns() - start;
	trace_kvm_memext_batch_resumed(vm, ns);
	kvm_memext_stat_peak(vm, KVM_MEMEXT_STAT_BATCH_BLACKOUT_MAX_NS, ns);
	kvm_memext_stat_hist(vm, KVM_MEMEXT_STAT_BATCH_BLACKOUT_HIST,
			     div_u64(ns, NSEC_PER_USEC));
	return r;
}

/*
 * The scratch page: one per VM handle, mapped into the VMM once and kept,
 * since unmapping it after every batch costs an mmap_lock write and a TLB
 * shootdown of every CPU running a vCPU (figures in design.rst).  It is a
 * mapping of a file of our own, so that each batch can check that the VMM
 * did not unmap or replace it.
 *
 * The VMM sees it read-only and for good (no VM_MAYWRITE): the module
 * writes the arguments through its own address of the page, so no other
 * thread of the VMM can rewrite them between the write and KVM's read.
 * VM_IO refuses MADV_DOFORK (a child keeps no view of it), and the fault
 * handler maps the page again after MADV_DONTNEED.
 */
static vm_fault_t batch_scratch_fault(struct vm_fault *vmf)
{
	struct page *page = vmf->vma->vm_file->private_data;

	if (vmf->pgoff)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct kvm_memext_scratch_vm_ops = {
	.fault		= batch_scratch_fault,
};

static int batch_scratch_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	if (vma->vm_flags & VM_WRITE)
		return -EACCES;
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP | VM_IO);
	vm_flags_clear(vma, VM_MAYWRITE);
	vma->vm_ops = &kvm_memext_scratch_vm_ops;
	return 0;
}

static int batch_scratch_release(struct inode *inode, struct file *file)
{
	__free_page(file->private_data);
	return 0;
}

static const struct file_operations kvm_memext_scratch_fops = {
	.owner		= THIS_MODULE,
	.mmap		= batch_scratch_mmap,
	.release	= batch_scratch_release,
};

static bool batch_scratch_mapped(struct kvm_memext_vm *vm)
{
	struct vm_area_struct *vma;
	bool ok;

	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, vm->scratch);
	ok = vma && vma->vm_file == vm->scratch_file &&
	     vma->vm_start == vm->scratch;
	mmap_read_unlock(current->mm);
	return ok;
}

/* The handle's scratch page in the caller's mm, mapped (again) if need be. */
static int batch_scratch_get(struct kvm_memext_vm *vm)
{
	struct page *page;
	struct file *file;
	unsigned long addr;

	lockdep_assert_held(&vm->batch_lock);
	if (vm->scratch_file && batch_scratch_mapped(vm))
		return 0;
	if (!vm->scratch_file) {
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!page)
			return -ENOMEM;
		file = anon_inode_getfile("kvm_memext-scratch",
					  &kvm_memext_scratch_fops, page, O_RDONLY);
		if (IS_ERR(file)) {
			__free_page(page);
			return PTR_ERR(file);
		}
		vm->scratch_file = file;
	}
	addr = vm_mmap(vm->scratch_file, 0, PAGE_SIZE, PROT_READ, MAP_SHARED, 0);
	if (IS_ERR_VALUE(addr))
		return (int)addr;
	vm->scratch = addr;
	return 0;
}

/**
 * kvm_memext_batch_init_vm() - set up the batch state of a new VM handle
 * @vm: the handle's state, not yet visible to anyone
 */
void kvm_memext_batch_init_vm(struct kvm_memext_vm *vm)
{
	mutex_init(&vm->batch_lock);
}

/**
 * kvm_memext_batch_release_vm() - drop a VM handle's scratch page
 * @vm: the VM handle being released; no batch can run any more
 *
 * Unmaps it when released from the VMM's own process (otherwise it goes
 * with the VMM's address space), and destroys the batch lock.
 */
void kvm_memext_batch_release_vm(struct kvm_memext_vm *vm)
{
	if (vm->scratch_file) {
		if (current->mm == vm->kvm->mm && batch_scratch_mapped(vm))
			vm_munmap(vm->scratch, PAGE_SIZE);
		fput(vm->scratch_file);
	}
	mutex_destroy(&vm->batch_lock);
}

static int batch_run(struct kvm_memext_batch *b)
{
	int r;

	r = batch_plan(b);
	if (r)
		return r;
	r = batch_scratch_get(b->vm);
	if (r)
		return r;
	b->scratch = (struct kvm_memext_scratch __user *)b->vm->scratch;
	r = batch_security(b);
	if (r)
		return r;
	return batch_apply(b);
}

/**
 * kvm_memext_set_memslots() - the KVM_MEMEXT_SET_MEMSLOTS ioctl
 * @vm: the VM handle
 * @uargs: user argument
 *
 * Return: 0 when every entry is in effect; otherwise a negative errno,
 * with the failing entry, errno and what was undone in @uargs.
 */
long kvm_memext_set_memslots(struct kvm_memext_vm *vm,
			     struct kvm_memext_set_memslots __user *uargs)
{
	struct kvm_memext_set_memslots args;
	struct kvm_memext_batch b = { .vm = vm, .error_index = -1 };
	int r;

	BUILD_BUG_ON(sizeof(struct kvm_memext_scratch) > PAGE_SIZE);

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY) ||
	    memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	if (!args.nr_entries)
		return -EINVAL;
	if (args.nr_entries > KVM_MEMEXT_MAX_BATCH)
		return -E2BIG;
	b.nr = args.nr_entries;
	b.flags = args.flags;

	b.entries = vmemdup_user(u64_to_user_ptr(args.entries),
				 array_size(b.nr, sizeof(*b.entries)));
	if (IS_ERR(b.entries))
		return PTR_ERR(b.entries);
	b.steps = kvcalloc(b.nr, sizeof(*b.steps), GFP_KERNEL_ACCOUNT);
	if (!b.steps) {
		r = -ENOMEM;
		goto out_free;
	}

	r = mutex_lock_killable(&vm->batch_lock);
	if (r)
		goto out_free;
	trace_kvm_memext_batch_begin(vm, b.nr, b.flags);
	kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_BATCHES);
	kvm_memext_stat_add(vm, KVM_MEMEXT_STAT_BATCH_ENTRIES, b.nr);
	r = batch_run(&b);
	if (r)
		kvm_memext_stat_inc(vm, KVM_MEMEXT_STAT_BATCH_FAILURES);
	mutex_unlock(&vm->batch_lock);

	args.error_index = r ? b.error_index : -1;
	/* What userspace sees if the call is not restarted. */
	args.error = r == -ERESTARTSYS ? EINTR : -r;
	args.result = b.result;
	args.applied = b.applied;
	if (copy_to_user(uargs, &args, sizeof(args)) && !r)
		r = -EFAULT;
out_free:
	kvfree(b.layout.slots);
	kvfree(b.steps);
	kvfree(b.entries);
	return r;
}
