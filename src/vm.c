// SPDX-License-Identifier: GPL-2.0-only
/*
 * VM handles: binding a KVM VM file descriptor to a kvm_memext handle.
 *
 * No KVM function is called: 7.3 exports almost nothing to modules outside
 * KVM.  A VM file is recognised by what the file itself shows (kvm_file.c);
 * a handle holds a reference to the VM file, which keeps the VM and KVM's
 * vendor module alive, and uses KVM's public ioctls through it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "kvm_memext.h"
#include "batch.h"
#include "cache.h"
#include "stats.h"

/* Bound VMs; a VM may be bound by one handle at a time. */
static LIST_HEAD(kvm_memext_vms);
static DEFINE_MUTEX(kvm_memext_vms_lock);

static int kvm_memext_vm_release(struct inode *inode, struct file *file)
{
	struct kvm_memext_vm *vm = file->private_data;

	/*
	 * The reverse of kvm_memext_bind_vm(): runstate areas are caches'
	 * users, so they go first (they stop their caches; their preempt
	 * notifiers go inert and are unhooked by their own threads, touching
	 * only the area, never @vm); then the caches' mmu notifier; then
	 * batches, which use neither.  The VM file goes last: the features
	 * above still use the VM.
	 */
	kvm_memext_runstate_release_vm(vm);
	kvm_memext_cache_release_vm(vm);
	kvm_memext_batch_release_vm(vm);
	/* Counted to the end; its debugfs files read the VM's mm. */
	kvm_memext_stats_release_vm(vm);
	/*
	 * Bound until now: a new handle for the VM must not attach areas
	 * beside ones still being stopped (EEXIST until then).
	 */
	mutex_lock(&kvm_memext_vms_lock);
	list_del(&vm->node);
	mutex_unlock(&kvm_memext_vms_lock);
	/* The last reference to the VM file destroys the VM. */
	fput(vm->vm_file);
	kfree(vm);
	return 0;
}

static long kvm_memext_vm_ioctl(struct file *file, unsigned int ioctl,
				unsigned long arg)
{
	struct kvm_memext_vm *vm = file->private_data;

	/* As KVM does: a handle inherited across fork() is not usable. */
	if (vm->kvm->mm != current->mm)
		return -EIO;

	switch (ioctl) {
	case KVM_MEMEXT_SET_MEMSLOTS:
		return kvm_memext_set_memslots(vm, (void __user *)arg);
	case KVM_MEMEXT_RUNSTATE_ATTACH:
	case KVM_MEMEXT_RUNSTATE_DETACH:
	case KVM_MEMEXT_RUNSTATE_GET:
		return kvm_memext_runstate_ioctl(vm, ioctl, (void __user *)arg);
	case KVM_MEMEXT_GET_STATS_FD:
		/* As KVM_GET_STATS_FD: no argument. */
		if (arg)
			return -EINVAL;
		return kvm_memext_stats_fd(vm);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvm_memext_vm_fops = {
	.owner		= THIS_MODULE,
	.release	= kvm_memext_vm_release,
	.unlocked_ioctl	= kvm_memext_vm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/**
 * kvm_memext_is_handle_file() - tell whether @file is a kvm_memext VM handle
 * @file: an open file
 *
 * Return: true if @file came from KVM_MEMEXT_BIND_VM.
 */
static bool kvm_memext_is_handle_file(const struct file *file)
{
	return file->f_op == &kvm_memext_vm_fops;
}

/**
 * kvm_memext_vm_from_file() - the VM handle state behind a handle file
 * @file: a file the caller holds a reference to
 *
 * For modules that use guest-page caches on a VM that userspace bound with
 * KVM_MEMEXT_BIND_VM: the result stays valid while the caller holds @file.
 *
 * Return: the handle's state, or NULL if @file is not a VM handle.
 */
struct kvm_memext_vm *kvm_memext_vm_from_file(struct file *file)
{
	return kvm_memext_is_handle_file(file) ? file->private_data : NULL;
}
EXPORT_SYMBOL_GPL(kvm_memext_vm_from_file);

/**
 * kvm_memext_vm_kvm() - the VM a handle is bound to
 * @vm: from kvm_memext_vm_from_file()
 *
 * Return: the VM, alive as long as the handle.
 */
struct kvm *kvm_memext_vm_kvm(struct kvm_memext_vm *vm)
{
	return vm->kvm;
}
EXPORT_SYMBOL_GPL(kvm_memext_vm_kvm);

static bool kvm_memext_vm_is_bound(struct kvm *kvm)
{
	struct kvm_memext_vm *vm;

	lockdep_assert_held(&kvm_memext_vms_lock);
	list_for_each_entry(vm, &kvm_memext_vms, node)
		if (vm->kvm == kvm)
			return true;
	return false;
}

/**
 * kvm_memext_bind_vm() - create a VM handle for a KVM VM file descriptor
 * @args: the validated-by-us user arguments
 *
 * Return: the new handle's file descriptor, or -EINVAL (flags set, or not a
 * KVM VM file), -EBADF (not an open descriptor), -EPERM (VM of another
 * process), -EEXIST (VM already bound), -ENOMEM or another error from file
 * creation.
 */
int kvm_memext_bind_vm(const struct kvm_memext_bind_vm *args)
{
	struct kvm_memext_vm *vm;
	struct file *vm_file, *file;
	struct kvm *kvm;
	int fd, r;

	if (args->flags)
		return -EINVAL;

	vm_file = fget(args->vm_fd);
	if (!vm_file)
		return -EBADF;

	r = -EINVAL;
	if (!kvm_memext_is_vm_file(vm_file))
		goto err_fput;

	kvm = vm_file->private_data;
	/*
	 * Nothing ties our view of struct kvm to kvm.ko's (no symbol of it is
	 * ours to version): KVM names every VM "kvm-<pid>" in stats_id, a
	 * field behind most of those a configuration changes.
	 */
	if (strncmp(kvm->stats_id, "kvm-", 4)) {
		pr_warn_once("struct kvm of this kernel is not the one kvm_memext was built for\n");
		goto err_fput;
	}
	r = -EPERM;
	if (kvm->mm != current->mm)
		goto err_fput;

	r = -ENOMEM;
	vm = kzalloc_obj(*vm, GFP_KERNEL_ACCOUNT);
	if (!vm)
		goto err_fput;
	r = kvm_memext_stats_init_vm(vm);
	if (r)
		goto err_free;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto err_free;
	}

	mutex_lock(&kvm_memext_vms_lock);
	r = -EEXIST;
	if (kvm_memext_vm_is_bound(kvm))
		goto err_unlock;

	file = anon_inode_getfile("kvm_memext-vm", &kvm_memext_vm_fops, vm,
				  O_RDWR);
	if (IS_ERR(file)) {
		r = PTR_ERR(file);
		goto err_unlock;
	}

	/* The handle keeps our reference to the VM file. */
	vm->vm_file = vm_file;
	vm->kvm = kvm;
	kvm_memext_batch_init_vm(vm);
	kvm_memext_cache_init_vm(vm);
	kvm_memext_runstate_init_vm(vm);
	kvm_memext_stats_bind(vm, fd);
	list_add(&vm->node, &kvm_memext_vms);
	mutex_unlock(&kvm_memext_vms_lock);

	fd_install(fd, file);
	return fd;

err_unlock:
	mutex_unlock(&kvm_memext_vms_lock);
	put_unused_fd(fd);
err_free:
	kvm_memext_stats_release_vm(vm);
	kfree(vm);
err_fput:
	fput(vm_file);
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_bind_vm);
