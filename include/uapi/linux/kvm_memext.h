/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvm_memext: memory-subsystem extensions for KVM, as a loadable module.
 *
 * Userspace talks to /dev/kvm_memext, binds a KVM VM file descriptor to get a
 * VM handle, and issues VM-scoped ioctls on that handle.  See
 * Documentation/api.rst for the semantics of every ioctl.
 */
#ifndef _UAPI_LINUX_KVM_MEMEXT_H
#define _UAPI_LINUX_KVM_MEMEXT_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * Returned by KVM_MEMEXT_GET_API_VERSION.  Bumped only on incompatible
 * changes; new functionality is announced through extensions instead.
 */
#define KVM_MEMEXT_API_VERSION		1

/*
 * Extension numbers for KVM_MEMEXT_CHECK_EXTENSION.  A positive return
 * value means the extension is available on the running kernel.
 */
#define KVM_MEMEXT_CAP_VM_HANDLE	1

/* 0xBB is not claimed in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define KVM_MEMEXT_IO			0xBB

/**
 * struct kvm_memext_bind_vm - argument of KVM_MEMEXT_BIND_VM
 * @vm_fd: a KVM VM file descriptor (from KVM_CREATE_VM) of the calling
 *	   process.
 * @flags: must be zero.
 *
 * Each VM may be bound by one handle at a time; see Documentation/api.rst.
 */
struct kvm_memext_bind_vm {
	__s32 vm_fd;
	__u32 flags;
};

/* ioctls on /dev/kvm_memext */
#define KVM_MEMEXT_GET_API_VERSION	_IO(KVM_MEMEXT_IO, 0x00)
#define KVM_MEMEXT_CHECK_EXTENSION	_IO(KVM_MEMEXT_IO, 0x01)
/* Returns a new VM handle file descriptor (O_CLOEXEC). */
#define KVM_MEMEXT_BIND_VM		_IOW(KVM_MEMEXT_IO, 0x02, struct kvm_memext_bind_vm)

#endif /* _UAPI_LINUX_KVM_MEMEXT_H */
