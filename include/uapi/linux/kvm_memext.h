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
#define KVM_MEMEXT_CAP_MEMSLOT_BATCH	2

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

/* Most entries one KVM_MEMEXT_SET_MEMSLOTS batch may hold. */
#define KVM_MEMEXT_MAX_BATCH		1024

/**
 * struct kvm_memext_memslot - one memslot change of a batch
 * @slot: as in KVM_SET_USER_MEMORY_REGION: slot id in bits 0-15, address
 *	  space id in bits 16-31.
 * @flags: KVM_MEM_* flags of the slot after the change.
 * @guest_phys_addr: guest physical address of the slot, page aligned.
 * @memory_size: size in bytes, page aligned; 0 deletes the slot.
 * @userspace_addr: start of the backing mapping in the caller's address
 *		    space, page aligned.
 * @guest_memfd_offset: with KVM_MEM_GUEST_MEMFD, as in
 *			KVM_SET_USER_MEMORY_REGION2; 0 otherwise.
 * @guest_memfd: with KVM_MEM_GUEST_MEMFD, as in KVM_SET_USER_MEMORY_REGION2;
 *		 0 otherwise.
 * @pad: must be zero.
 * @dirty_bitmap: user address of a buffer for the slot's dirty bitmap, in
 *		  the KVM_GET_DIRTY_LOG format.  Required when the entry
 *		  deletes, moves or resizes a slot that has dirty logging
 *		  enabled (unless KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY); the
 *		  bitmap is harvested while no vCPU runs, right before the
 *		  change.  Must be 0 for other entries.
 * @reserved: must be zero.
 *
 * The batch is applied in order; an entry sees the layout that the entries
 * before it produced.  Moving a slot keeps its size and backing, like KVM;
 * resizing is a delete and a create of the same id in one batch.
 */
struct kvm_memext_memslot {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad;
	__u64 dirty_bitmap;
	__u64 reserved[2];
};

/* kvm_memext_set_memslots.flags */
#define KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY	(1U << 0)

/* kvm_memext_set_memslots.result */
#define KVM_MEMEXT_MEMSLOTS_ROLLED_BACK		(1U << 0)
#define KVM_MEMEXT_MEMSLOTS_ROLLBACK_FAILED	(1U << 1)

/**
 * struct kvm_memext_set_memslots - argument of KVM_MEMEXT_SET_MEMSLOTS
 * @flags: KVM_MEMEXT_MEMSLOTS_* flags.
 * @nr_entries: number of entries, 1..KVM_MEMEXT_MAX_BATCH.
 * @entries: user address of an array of struct kvm_memext_memslot.
 * @error_index: out: index of the entry that failed, or -1 when the
 *		 failure concerns the batch as a whole.
 * @error: out: positive errno of the failure, 0 on success.
 * @result: out: KVM_MEMEXT_MEMSLOTS_ROLLED_BACK when entries had been
 *	    applied and were undone; KVM_MEMEXT_MEMSLOTS_ROLLBACK_FAILED when
 *	    undoing failed too (the layout is then that of the entries
 *	    before @error_index, partly undone: the VM should be torn down).
 * @applied: out: number of entries in effect when the ioctl returns.
 * @reserved: must be zero.
 */
struct kvm_memext_set_memslots {
	__u32 flags;
	__u32 nr_entries;
	__u64 entries;
	__s32 error_index;
	__u32 error;
	__u32 result;
	__u32 applied;
	__u64 reserved[4];
};

/* ioctls on /dev/kvm_memext */
#define KVM_MEMEXT_GET_API_VERSION	_IO(KVM_MEMEXT_IO, 0x00)
#define KVM_MEMEXT_CHECK_EXTENSION	_IO(KVM_MEMEXT_IO, 0x01)
/* Returns a new VM handle file descriptor (O_CLOEXEC). */
#define KVM_MEMEXT_BIND_VM		_IOW(KVM_MEMEXT_IO, 0x02, struct kvm_memext_bind_vm)

/* ioctls on a VM handle */
#define KVM_MEMEXT_SET_MEMSLOTS		_IOWR(KVM_MEMEXT_IO, 0x10, struct kvm_memext_set_memslots)

#endif /* _UAPI_LINUX_KVM_MEMEXT_H */
