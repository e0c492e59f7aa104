// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_memext_bench.ko: times guest-page cache writes against the method
 * the cache replaces, for `make bench`.  It is also a user of the cache's
 * exported API from another module, as a Xen or PV-clock implementation
 * would be.
 *
 * Both methods run with preemption disabled, as from a preempt notifier:
 *
 * - cache: kvm_memext_gpc_write(), i.e. lock, check every page, copy
 *   through the kernel mapping, mark dirty;
 * - pre-cache: look the memslot of each page up under kvm->srcu and copy
 *   to the VMM's own mapping with page faults disabled (what KVM's
 *   kvm_write_guest() does, minus the faults it may take), marking dirty.
 *
 * And each method cut short after one of its steps, for a profile; and
 * the cost of a refresh as the cache grows from 1 to 16 pages, against one
 * one-page cache per page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/kvm_host.h>
#include <linux/kvm_memext_cache.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvm_memext_bench.h"
#include "compat.h"

static const u8 kvm_memext_bench_data[PAGE_SIZE];

/*
 * kvm_memext_gpc_write() (KVM_MEMEXT_BENCH_CACHE), or its steps one at a
 * time, up to @method (KVM_MEMEXT_BENCH_CACHE_*): the differences between
 * them are the cost of each step.
 */
static int bench_cache(struct kvm_memext_vm *vm, struct kvm_memext_bench_args *a)
{
	struct kvm *kvm = kvm_memext_vm_kvm(vm);
	struct kvm_memext_gpc *gpc;
	int r, idx;
	u64 t0;
	u32 i;

	gpc = kzalloc_obj(*gpc, GFP_KERNEL);
	if (!gpc)
		return -ENOMEM;
	kvm_memext_gpc_init(gpc, vm);
	r = kvm_memext_gpc_activate(gpc, 0, a->gpa, a->len, KVM_MEMEXT_GPC_WRITE);
	if (r)
		goto out;
	t0 = ktime_get_ns();
	for (i = 0; i < a->iters && !r; i++) {
		preempt_disable();
		if (a->method == KVM_MEMEXT_BENCH_CACHE) {
			r = kvm_memext_gpc_write(gpc, 0, kvm_memext_bench_data, a->len);
		} else if (a->method == KVM_MEMEXT_BENCH_CACHE_SRCU) {
			idx = srcu_read_lock(&kvm->srcu);
			srcu_read_unlock(&kvm->srcu, idx);
		} else {
			kvm_memext_gpc_lock(gpc);
			if (a->method >= KVM_MEMEXT_BENCH_CACHE_CHECK &&
			    !kvm_memext_gpc_check(gpc))
				r = -EAGAIN;
			else if (a->method == KVM_MEMEXT_BENCH_CACHE_COPY)
				kvm_memext_gpc_copy_to(gpc, 0, kvm_memext_bench_data,
						       a->len);
			kvm_memext_gpc_unlock(gpc);
		}
		preempt_enable();
	}
	a->ns = ktime_get_ns() - t0;
out:
	kvm_memext_gpc_deactivate(gpc);
	kfree(gpc);
	return r;
}

static int pre_cache_write(struct kvm *kvm, u64 gpa, unsigned long len,
			   bool atomic, bool copy)
{
	unsigned long off = offset_in_page(gpa), n;
	const u8 *data = kvm_memext_bench_data;
	struct kvm_memslots *slots;
	gfn_t gfn = gpa >> PAGE_SHIFT;
	int idx, r = 0;

	idx = srcu_read_lock(&kvm->srcu);
	slots = kvm_memslots(kvm);
	for (; len; gfn++, off = 0) {
		struct kvm_memory_slot *slot = __gfn_to_memslot(slots, gfn);
		unsigned long hva;

		if (!slot) {
			r = -EFAULT;
			break;
		}
		n = min(len, PAGE_SIZE - off);
		hva = __gfn_to_hva_memslot(slot, gfn) + off;
		/* The lookups alone, for the profile: keep @hva computed. */
		if (!copy) {
			OPTIMIZER_HIDE_VAR(hva);
			data += n;
			len -= n;
			continue;
		}
		if (atomic)
			pagefault_disable();
		r = __copy_to_user((void __user *)hva, data, n) ? -EFAULT : 0;
		if (atomic)
			pagefault_enable();
		if (r)
			break;
		if (kvm_slot_dirty_track_enabled(slot) && slot->dirty_bitmap)
			set_bit_le(gfn - slot->base_gfn, slot->dirty_bitmap);
		data += n;
		len -= n;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return r;
}

static int bench_pre_cache(struct kvm_memext_vm *vm,
			   struct kvm_memext_bench_args *a)
{
	struct kvm *kvm = kvm_memext_vm_kvm(vm);
	int r = 0;
	u64 t0;
	u32 i;

	/* The VMM's own mapping: only from the VMM's process. */
	if (kvm->mm != current->mm)
		return -EIO;
	/*
	 * Fault the pages in writable, young and dirty first: without the
	 * hardware access flag and dirty state (arm64 under TCG), the first
	 * atomic write to a clean or old PTE fails.
	 */
	r = pre_cache_write(kvm, a->gpa, a->len, false, true);
	if (r)
		return r;
	t0 = ktime_get_ns();
	for (i = 0; i < a->iters && !r; i++) {
		preempt_disable();
		r = pre_cache_write(kvm, a->gpa, a->len, true,
				    a->method == KVM_MEMEXT_BENCH_PRE_CACHE);
		preempt_enable();
	}
	a->ns = ktime_get_ns() - t0;
	return r;
}

/*
 * @a->iters refreshes of one cache over the range (@split false), or of
 * every one-page cache of it in turn (@split true); the range starts on a
 * page boundary.
 */
static int bench_refresh(struct kvm_memext_vm *vm, struct kvm_memext_bench_args *a,
			 bool split)
{
	unsigned int nr = split ? DIV_ROUND_UP(a->len, PAGE_SIZE) : 1, j;
	struct kvm_memext_gpc *gpc;
	int r = 0;
	u64 t0;
	u32 i;

	if (offset_in_page(a->gpa))
		return -EINVAL;
	gpc = kvcalloc(nr, sizeof(*gpc), GFP_KERNEL);
	if (!gpc)
		return -ENOMEM;
	for (j = 0; j < nr; j++)
		kvm_memext_gpc_init(&gpc[j], vm);
	for (j = 0; j < nr && !r; j++)
		r = kvm_memext_gpc_activate(&gpc[j], 0, a->gpa + j * PAGE_SIZE,
					    split ? PAGE_SIZE : a->len,
					    KVM_MEMEXT_GPC_WRITE);
	t0 = ktime_get_ns();
	for (i = 0; i < a->iters && !r; i++)
		for (j = 0; j < nr && !r; j++)
			r = kvm_memext_gpc_refresh(&gpc[j]);
	a->ns = ktime_get_ns() - t0;
	for (j = 0; j < nr; j++)
		kvm_memext_gpc_deactivate(&gpc[j]);
	kvfree(gpc);
	return r;
}

static long kvm_memext_bench_ioctl(struct file *file, unsigned int ioctl,
				   unsigned long arg)
{
	struct kvm_memext_bench_args a;
	struct kvm_memext_vm *vm;
	struct file *handle;

	if (ioctl != KVM_MEMEXT_BENCH_RUN)
		return -ENOTTY;
	if (copy_from_user(&a, (void __user *)arg, sizeof(a)))
		return -EFAULT;
	if (a.pad || !a.len || !a.iters ||
	    a.len > (a.method == KVM_MEMEXT_BENCH_REFRESH ||
		     a.method == KVM_MEMEXT_BENCH_REFRESH_SPLIT ?
		     KVM_MEMEXT_GPC_MAX_PAGES * PAGE_SIZE : PAGE_SIZE))
		return -EINVAL;
	handle = fget(a.handle_fd);
	if (!handle)
		return -EBADF;
	vm = kvm_memext_vm_from_file(handle);
	if (!vm) {
		fput(handle);
		return -EINVAL;
	}
	switch (a.method) {
	case KVM_MEMEXT_BENCH_CACHE:
	case KVM_MEMEXT_BENCH_CACHE_SRCU ... KVM_MEMEXT_BENCH_CACHE_COPY:
		a.result = bench_cache(vm, &a);
		break;
	case KVM_MEMEXT_BENCH_PRE_CACHE:
	case KVM_MEMEXT_BENCH_PRE_LOOKUP:
		a.result = bench_pre_cache(vm, &a);
		break;
	case KVM_MEMEXT_BENCH_REFRESH:
	case KVM_MEMEXT_BENCH_REFRESH_SPLIT:
		a.result = bench_refresh(vm, &a,
					 a.method == KVM_MEMEXT_BENCH_REFRESH_SPLIT);
		break;
	default:
		a.result = -EINVAL;
	}
	fput(handle);
	return copy_to_user((void __user *)arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static const struct file_operations kvm_memext_bench_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvm_memext_bench_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvm_memext_bench_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvm_memext_bench",
	.fops	= &kvm_memext_bench_fops,
};

module_misc_device(kvm_memext_bench_dev);

MODULE_DESCRIPTION("kvm_memext guest-page cache benchmark helper");
MODULE_LICENSE("GPL");
