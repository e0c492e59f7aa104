// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_memext: memory-subsystem extensions for KVM, as a loadable module.
 *
 * The /dev/kvm_memext misc device answers API and extension queries and
 * turns KVM VM file descriptors into VM handles (see vm.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "kvm_memext.h"
#include "privmem.h"
#include "stats.h"

/* KVM_MEMEXT_CREATE_PRIVMEM before it had reserved words (16 bytes). */
#define KVM_MEMEXT_CREATE_PRIVMEM_V0	_IOC(_IOC_WRITE, KVM_MEMEXT_IO, 0x03, 16)

#define CREATE_TRACE_POINTS
#include "trace.h"

static long kvm_memext_check_extension(unsigned long ext)
{
	switch (ext) {
	case KVM_MEMEXT_CAP_VM_HANDLE:
	case KVM_MEMEXT_CAP_MEMSLOT_BATCH:
	case KVM_MEMEXT_CAP_RUNSTATE:
	case KVM_MEMEXT_CAP_STATS:
		return 1;
	case KVM_MEMEXT_CAP_PRIVMEM:
	case KVM_MEMEXT_CAP_PRIVMEM_FS:
		return kvm_memext_privmem_available();
	default:
		return 0;
	}
}

static long kvm_memext_dev_ioctl(struct file *file, unsigned int ioctl,
				 unsigned long arg)
{
	struct kvm_memext_create_privmem privmem;
	struct kvm_memext_bind_vm bind;

	switch (ioctl) {
	case KVM_MEMEXT_GET_API_VERSION:
		/* Like KVM_GET_API_VERSION: the argument must be zero. */
		if (arg)
			return -EINVAL;
		return KVM_MEMEXT_API_VERSION;
	case KVM_MEMEXT_CHECK_EXTENSION:
		return kvm_memext_check_extension(arg);
	case KVM_MEMEXT_BIND_VM:
		if (copy_from_user(&bind, (void __user *)arg, sizeof(bind)))
			return -EFAULT;
		return kvm_memext_bind_vm(&bind);
	case KVM_MEMEXT_CREATE_PRIVMEM_V0:
	case KVM_MEMEXT_CREATE_PRIVMEM:
		memset(&privmem, 0, sizeof(privmem));
		if (copy_from_user(&privmem, (void __user *)arg, _IOC_SIZE(ioctl)))
			return -EFAULT;
		return kvm_memext_create_privmem(&privmem);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvm_memext_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvm_memext_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvm_memext_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvm_memext",
	.fops	= &kvm_memext_dev_fops,
	/* Like /dev/kvm: root only unless udev grants the kvm group. */
	.mode	= 0600,
};

static int __init kvm_memext_init(void)
{
	bool privmem;
	int r;

	/* kvm-clock is watched through kvm.ko's tracepoints. */
	if (IS_ENABLED(CONFIG_X86) && IS_BUILTIN(CONFIG_KVM))
		pr_warn("KVM is built into this kernel: private memory cannot watch kvm-clock\n");
	kvm_memext_stats_init();
	privmem = kvm_memext_privmem_init();
	r = misc_register(&kvm_memext_dev);
	if (r) {
		pr_err("cannot register /dev/kvm_memext: %d\n", r);
		kvm_memext_privmem_exit();
		kvm_memext_stats_exit();
		return r;
	}

	pr_info("version %s%s%s%s loaded, API %d, features: vm_handle memslot_batch runstate%s\n",
		KVM_MEMEXT_VERSION, KVM_MEMEXT_COMMIT[0] ? " (" : "",
		KVM_MEMEXT_COMMIT, KVM_MEMEXT_COMMIT[0] ? ")" : "",
		KVM_MEMEXT_API_VERSION, privmem ? " privmem" : "");
	return 0;
}

static void __exit kvm_memext_exit(void)
{
	misc_deregister(&kvm_memext_dev);
	kvm_memext_privmem_exit();
	kvm_memext_stats_exit();
	kvm_memext_task_works_exit();
}

module_init(kvm_memext_init);
module_exit(kvm_memext_exit);

MODULE_DESCRIPTION("Memory-subsystem extensions for KVM");
MODULE_AUTHOR("The kvm_memext authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVM_MEMEXT_VERSION);
