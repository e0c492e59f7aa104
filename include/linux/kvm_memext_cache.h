/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvm_memext guest-page caches: the in-kernel API that kvm_memext.ko
 * exports to other modules.  See Documentation/cache.rst.
 */
#ifndef _LINUX_KVM_MEMEXT_CACHE_H
#define _LINUX_KVM_MEMEXT_CACHE_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct file;
struct kvm;
struct kvm_memory_slot;
struct kvm_memext_vm;

/* Most guest pages one cache may cover. */
#define KVM_MEMEXT_GPC_MAX_PAGES	16

/* kvm_memext_gpc_activate() flags */
#define KVM_MEMEXT_GPC_WRITE		BIT(0)	/* the range is written */

/**
 * struct kvm_memext_gpc_map - one kernel mapping of consecutive pages
 * @addr: vmap() address of page @first of the cache (struct-page memory)
 * @iomem: ioremap() address of page @first of the cache (IO memory)
 * @first: index of the first page in the cache
 * @nr: number of pages mapped
 * @io: IO memory, without struct page
 */
struct kvm_memext_gpc_map {
	void *addr;
	void __iomem *iomem;
	unsigned int first;
	unsigned int nr;
	bool io;
};

/**
 * struct kvm_memext_gpc - a guest-physical range kept mapped, all or nothing
 * @lock: raw spinlock, taken through kvm_memext_gpc_lock(); protects the
 *	  fields below against invalidation.  Raw so that the cache can be
 *	  used from any context, including the scheduler's preempt notifiers.
 * @refresh_lock: serialises refreshes.
 * @vm: the VM handle state the cache belongs to.
 * @node: entry in the VM's list of active caches.
 * @gpa: start of the range.
 * @len: length of the range in bytes.
 * @flags: KVM_MEMEXT_GPC_* flags.
 * @as_id: KVM address space of @gpa.
 * @nr_pages: pages spanned by the range.
 * @active: between activate and deactivate.
 * @valid: every page is mapped and no invalidation has hit it since.
 * @generation: memslot generation the translation was made under.
 * @srcu_idx: kvm->srcu index while the lock is held.
 * @irq_flags: saved interrupt state while the lock is held.
 * @uhva: page-aligned host virtual address of each page.
 * @memslot: memslot of each page (valid while @generation is current).
 * @pfn: host page frame of each page.
 * @nr_maps: number of kernel mappings: 1, unless RAM and IO pages (or
 *	     pages of different memory types) are mixed.
 * @maps: the kernel mappings.
 * @khva: kernel address of @gpa when one vmap() mapping covers the range,
 *	  else NULL (IO memory, or a mixed range: use the copy helpers).
 *
 * Only @lock, @khva and the helpers below are for users; the other fields
 * are the cache's own.
 */
struct kvm_memext_gpc {
	raw_spinlock_t lock;
	struct mutex refresh_lock;	/* serialises refreshes */
	struct kvm_memext_vm *vm;
	struct list_head node;
	u64 gpa;
	unsigned long len;
	u32 flags;
	u16 as_id;
	u16 nr_pages;
	bool active;
	bool valid;
	u64 generation;
	int srcu_idx;
	unsigned long irq_flags;
	unsigned long uhva[KVM_MEMEXT_GPC_MAX_PAGES];
	struct kvm_memory_slot *memslot[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned long pfn[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned int nr_maps;
	struct kvm_memext_gpc_map maps[KVM_MEMEXT_GPC_MAX_PAGES];
	void *khva;
};

struct kvm_memext_vm *kvm_memext_vm_from_file(struct file *file);
struct kvm *kvm_memext_vm_kvm(struct kvm_memext_vm *vm);

void kvm_memext_gpc_init(struct kvm_memext_gpc *gpc, struct kvm_memext_vm *vm);
int kvm_memext_gpc_activate(struct kvm_memext_gpc *gpc, int as_id, u64 gpa,
			    unsigned long len, u32 flags);
void kvm_memext_gpc_deactivate(struct kvm_memext_gpc *gpc);
int kvm_memext_gpc_refresh(struct kvm_memext_gpc *gpc);

void kvm_memext_gpc_lock(struct kvm_memext_gpc *gpc);
void kvm_memext_gpc_unlock(struct kvm_memext_gpc *gpc);
bool kvm_memext_gpc_check(struct kvm_memext_gpc *gpc);
void kvm_memext_gpc_copy_to(struct kvm_memext_gpc *gpc, unsigned long offset,
			    const void *data, unsigned long len);
void kvm_memext_gpc_copy_from(struct kvm_memext_gpc *gpc, unsigned long offset,
			      void *data, unsigned long len);
void kvm_memext_gpc_mark_dirty(struct kvm_memext_gpc *gpc,
			       unsigned long offset, unsigned long len);

int kvm_memext_gpc_write(struct kvm_memext_gpc *gpc, unsigned long offset,
			 const void *data, unsigned long len);
int kvm_memext_gpc_read(struct kvm_memext_gpc *gpc, unsigned long offset,
			void *data, unsigned long len);

#endif /* _LINUX_KVM_MEMEXT_CACHE_H */
