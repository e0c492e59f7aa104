// SPDX-License-Identifier: GPL-2.0-only
/*
 * Recognising KVM's own files without calling KVM: 7.3 exports almost
 * nothing to modules outside KVM, file_is_kvm() included.  A VM or vCPU
 * file is recognised by what the file itself shows: the anon-inode file
 * system, the name KVM gave it, and the vendor module that owns its file
 * operations.  A leaf: nothing here calls into the rest of the module.
 */
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/magic.h>
#include <linux/module.h>

#include "kvm_memext.h"

/*
 * On x86, KVM's VM file operations belong to the vendor module that
 * registered with kvm_init(): only those two modules ever create "kvm-vm"
 * files.  KVM/arm64 cannot be a module: its files have no owner.
 */
VISIBLE_IF_KUNIT bool kvm_memext_vm_owner_ok(const struct module *owner)
{
	if (!owner)
		return KVM_MEMEXT_VM_FOPS_MAY_BE_UNOWNED;

	return IS_ENABLED(CONFIG_X86) &&
	       (!strcmp(owner->name, "kvm_amd") ||
		!strcmp(owner->name, "kvm_intel"));
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_vm_owner_ok);

/**
 * kvm_memext_is_vm_file() - tell whether @file is a KVM VM file
 * @file: an open file
 *
 * KVM creates its VM files with anon_inode_getfile("kvm-vm", ...) and the
 * VM as private data.  vCPU files ("kvm-vcpu:N"), stats files, KVM device
 * files, /dev/kvm and ordinary files all fail one of the checks below.
 *
 * Return: true if @file is a KVM VM file.
 */
bool kvm_memext_is_vm_file(const struct file *file)
{
	if (file_inode(file)->i_sb->s_magic != ANON_INODE_FS_MAGIC)
		return false;
	if (strcmp(file->f_path.dentry->d_name.name, "kvm-vm"))
		return false;
	if (!kvm_memext_vm_owner_ok(file->f_op->owner))
		return false;

	return file->private_data && file->f_op->unlocked_ioctl;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_is_vm_file);

/**
 * kvm_memext_vcpu_from_file() - the vCPU behind a KVM vCPU file
 * @file: an open file
 *
 * KVM names its vCPU files "kvm-vcpu:<id>", on the anon-inode filesystem,
 * with the vCPU as private data; see kvm_memext_is_vm_file().
 *
 * Return: the vCPU, or NULL if @file is not a KVM vCPU file.
 */
struct kvm_vcpu *kvm_memext_vcpu_from_file(const struct file *file)
{
	if (file_inode(file)->i_sb->s_magic != ANON_INODE_FS_MAGIC)
		return NULL;
	if (strncmp(file->f_path.dentry->d_name.name, "kvm-vcpu:", 9))
		return NULL;
	if (!kvm_memext_vm_owner_ok(file->f_op->owner))
		return NULL;
	return file->private_data;
}
