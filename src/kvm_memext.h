/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _KVM_MEMEXT_H
#define _KVM_MEMEXT_H

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/kvm_memext.h>

#include "compat.h"

/**
 * struct kvm_memext_vm - state behind one VM handle file
 * @kvm: the bound VM; a reference is held for the handle's lifetime.
 * @vendor: module owning the VM file's operations (kvm_amd or kvm_intel, or
 *	    NULL on kernels that do not set it); pinned so that the VM can
 *	    still be destroyed from our release path after its own file is
 *	    gone.
 * @node: entry in the list of bound VMs, which enforces one handle per VM.
 */
struct kvm_memext_vm {
	struct kvm *kvm;
	struct module *vendor;
	struct list_head node;
};

int kvm_memext_bind_vm(const struct kvm_memext_bind_vm *args);
bool kvm_memext_is_vm_file(const struct file *file);

#if IS_ENABLED(CONFIG_KUNIT)
bool kvm_memext_vm_owner_ok(const struct module *owner);
#endif

#endif /* _KVM_MEMEXT_H */
