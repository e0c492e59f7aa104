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
#define KVM_MEMEXT_CAP_RUNSTATE		3
#define KVM_MEMEXT_CAP_PRIVMEM		4
/* The kvm_memext file system of private-memory files can be mounted. */
#define KVM_MEMEXT_CAP_PRIVMEM_FS	5
/* KVM_MEMEXT_GET_STATS_FD on a VM handle. */
#define KVM_MEMEXT_CAP_STATS		6

/* statfs(2) f_type of the kvm_memext file system ("kmpv"). */
#define KVM_MEMEXT_FS_MAGIC		0x6b6d7076

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
#define KVM_MEMEXT_MEMSLOTS_DIRTY_HARVESTED	(1U << 2)

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
 *	    before @error_index, partly undone: the VM should be torn down);
 *	    KVM_MEMEXT_MEMSLOTS_DIRTY_HARVESTED when dirty bits were moved
 *	    into an entry's @dirty_bitmap buffer, which then holds them
 *	    even if the batch failed and was rolled back.
 * @applied: out: number of entries in effect when the ioctl returns: all
 *	      on success, 0 after a rollback, the number whose undo failed
 *	      with KVM_MEMEXT_MEMSLOTS_ROLLBACK_FAILED.
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

/* vCPU runstates, as Xen defines them */
#define KVM_MEMEXT_RUNSTATE_RUNNING	0
#define KVM_MEMEXT_RUNSTATE_RUNNABLE	1
#define KVM_MEMEXT_RUNSTATE_BLOCKED	2
#define KVM_MEMEXT_RUNSTATE_OFFLINE	3

/* Set in state_entry_time while the module updates the area. */
#define KVM_MEMEXT_RUNSTATE_UPDATE	(1ULL << 63)

/**
 * struct kvm_memext_runstate_area - the guest's runstate area, 64-bit layout
 * @state: KVM_MEMEXT_RUNSTATE_*.
 * @pad: written as zero.
 * @state_entry_time: guest time (ns) of the last state change;
 *		      KVM_MEMEXT_RUNSTATE_UPDATE while an update is under way.
 * @time: ns spent in each state; they add up to @state_entry_time.
 *
 * Xen's struct vcpu_runstate_info.
 */
struct kvm_memext_runstate_area {
	__u32 state;
	__u32 pad;
	__u64 state_entry_time;
	__u64 time[4];
};

/**
 * struct kvm_memext_runstate_area32 - the runstate area, 32-bit layout
 * @state: as in struct kvm_memext_runstate_area.
 * @state_entry_time: as in struct kvm_memext_runstate_area.
 * @time: as in struct kvm_memext_runstate_area.
 *
 * Xen's struct compat_vcpu_runstate_info: 64-bit fields aligned to 4 bytes.
 */
struct kvm_memext_runstate_area32 {
	__u32 state;
	__u64 state_entry_time;
	__u64 time[4];
} __attribute__((packed));

/* kvm_memext_runstate.flags */
#define KVM_MEMEXT_RUNSTATE_COMPAT32	(1U << 0)

/**
 * struct kvm_memext_runstate - argument of KVM_MEMEXT_RUNSTATE_ATTACH and
 *				KVM_MEMEXT_RUNSTATE_DETACH
 * @vcpu_fd: a vCPU file descriptor of the bound VM.
 * @flags: ATTACH: KVM_MEMEXT_RUNSTATE_COMPAT32 for the 32-bit layout.
 *	   DETACH: must be zero.
 * @gpa: ATTACH: guest physical address of the area, aligned to 8 bytes
 *	 (4 for the 32-bit layout); it may cross pages and memslots.
 *	 DETACH: must be zero.
 * @size: ATTACH: size of the area, sizeof(struct kvm_memext_runstate_area)
 *	  or, with COMPAT32, sizeof(struct kvm_memext_runstate_area32).
 *	  DETACH: must be zero.
 * @as_id: ATTACH: KVM address space of @gpa (0, or 1 for SMM on x86).
 *	   DETACH: must be zero.
 * @reserved: must be zero.
 */
struct kvm_memext_runstate {
	__s32 vcpu_fd;
	__u32 flags;
	__u64 gpa;
	__u32 size;
	__u32 as_id;
	__u64 reserved[2];
};

/**
 * struct kvm_memext_runstate_info - argument of KVM_MEMEXT_RUNSTATE_GET
 * @vcpu_fd: in: a vCPU file descriptor of the bound VM.
 * @flags: in: must be zero.
 * @state: out: KVM_MEMEXT_RUNSTATE_*.
 * @attach_flags: out: the flags the area was attached with.
 * @gpa: out: guest physical address of the area.
 * @state_entry_time: out: as in the area, never with the update flag.
 * @time: out: as in the area.
 * @pending: out: 1 if the guest's copy is behind (its pages were invalid
 *	     at the last change and the refresh has not run yet), else 0.
 * @pad: out: zero.
 * @reserved: in: must be zero.
 */
struct kvm_memext_runstate_info {
	__s32 vcpu_fd;
	__u32 flags;
	__u32 state;
	__u32 attach_flags;
	__u64 gpa;
	__u64 state_entry_time;
	__u64 time[4];
	__u32 pending;
	__u32 pad;
	__u64 reserved[2];
};

/* kvm_memext_create_privmem.flags: 4 KiB pages only, no 2 MiB chunks. */
#define KVM_MEMEXT_PRIVMEM_NO_HUGE	(1ULL << 0)

/**
 * struct kvm_memext_create_privmem - argument of KVM_MEMEXT_CREATE_PRIVMEM
 * @size: size of the file in bytes: nonzero and a multiple of the page
 *	  size.  It can be changed later with ftruncate().
 * @flags: KVM_MEMEXT_PRIVMEM_NO_HUGE, or zero.
 * @reserved: must be zero; room for what creation may need later.
 *
 * The first version of the struct, without @reserved, is still accepted
 * under its own ioctl number (see Documentation/api.rst).
 */
struct kvm_memext_create_privmem {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};

/* kvm_memext_privmem_access.flags */
#define KVM_MEMEXT_PRIVMEM_ACCESSIBLE	(1U << 0)

/**
 * struct kvm_memext_privmem_access - argument of KVM_MEMEXT_PRIVMEM_SET_ACCESS
 * @offset: start of the range in the file, page aligned.
 * @len: length of the range, page aligned, nonzero; the range must lie
 *	 within the file's size.
 * @flags: KVM_MEMEXT_PRIVMEM_ACCESSIBLE to take one more reference on the
 *	   range being in the kernel direct map; zero to drop one.
 * @pad: must be zero.
 */
struct kvm_memext_privmem_access {
	__u64 offset;
	__u64 len;
	__u32 flags;
	__u32 pad;
};

/* ioctls on /dev/kvm_memext */
#define KVM_MEMEXT_GET_API_VERSION	_IO(KVM_MEMEXT_IO, 0x00)
#define KVM_MEMEXT_CHECK_EXTENSION	_IO(KVM_MEMEXT_IO, 0x01)
/* Returns a new VM handle file descriptor (O_CLOEXEC). */
#define KVM_MEMEXT_BIND_VM		_IOW(KVM_MEMEXT_IO, 0x02, struct kvm_memext_bind_vm)
/* Returns a new private-memory file descriptor (O_RDWR, O_CLOEXEC). */
#define KVM_MEMEXT_CREATE_PRIVMEM	_IOW(KVM_MEMEXT_IO, 0x03, struct kvm_memext_create_privmem)

/* ioctls on a VM handle */
#define KVM_MEMEXT_SET_MEMSLOTS		_IOWR(KVM_MEMEXT_IO, 0x10, struct kvm_memext_set_memslots)
#define KVM_MEMEXT_RUNSTATE_ATTACH	_IOW(KVM_MEMEXT_IO, 0x20, struct kvm_memext_runstate)
#define KVM_MEMEXT_RUNSTATE_DETACH	_IOW(KVM_MEMEXT_IO, 0x21, struct kvm_memext_runstate)
#define KVM_MEMEXT_RUNSTATE_GET		_IOWR(KVM_MEMEXT_IO, 0x22, struct kvm_memext_runstate_info)
/*
 * Returns a new read-only file descriptor (O_CLOEXEC) of the handle's
 * statistics, in the layout of KVM_GET_STATS_FD; see Documentation/stats.rst.
 */
#define KVM_MEMEXT_GET_STATS_FD		_IO(KVM_MEMEXT_IO, 0x23)

/* ioctls on a private-memory file */
#define KVM_MEMEXT_PRIVMEM_SET_ACCESS	_IOW(KVM_MEMEXT_IO, 0x30, struct kvm_memext_privmem_access)

#endif /* _UAPI_LINUX_KVM_MEMEXT_H */
