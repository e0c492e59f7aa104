/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-version differences, included by kvm_memext.h after the kernel's
 * own headers, so that the rest of the sources read like upstream code for
 * the newest kernel.
 *
 * Supported: Debian 12's 6.1 and 6.12 kernels, and 7.3.  Comparisons with
 * LINUX_VERSION_CODE live here and nowhere else.
 *
 * Version differences are half of what a new kernel can break.  The other
 * half is what the module relies on inside the kernel without an export
 * promising it: KVM's structures and inline helpers, its files and
 * tracepoints, vCPU threads, the direct map.  Documentation/design.rst,
 * "What we rely on inside the kernel", lists each reach, what would break
 * it and what notices; read it before supporting a new kernel.
 */
#ifndef _KVM_MEMEXT_COMPAT_H
#define _KVM_MEMEXT_COMPAT_H

#include <linux/mm_types.h>
#include <linux/slab.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "kvm_memext needs Linux 6.1 or later"
#endif

/* <kunit/visibility.h> appeared in 6.2. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#include <kunit/visibility.h>
#else
#define VISIBLE_IF_KUNIT static
#define EXPORT_SYMBOL_IF_KUNIT(symbol)
#endif

/* <kunit/static_stub.h> appeared in 6.3; without KUnit it is empty. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#include <kunit/static_stub.h>
#else
#define KUNIT_STATIC_STUB_REDIRECT(real_fn_name, args...) do {} while (0)
#endif

/* Type-safe allocation helpers: 7.0, and backported to Debian's 6.12. */
#ifndef kzalloc_obj
#define kzalloc_obj(P, GFP) kzalloc(sizeof(P), GFP)
#endif
#ifndef kmalloc_obj
#define kmalloc_obj(P, GFP) kmalloc(sizeof(P), GFP)
#endif

/*
 * KVM stamps the vendor module (kvm_amd, kvm_intel) into the VM file's
 * f_op->owner since the kvm_init() rework; 6.1 leaves it NULL and pins
 * the vendor module per VM instead.  Built into the kernel (Debian's
 * arm64 kernels), KVM's file operations have no owner at all.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0) || IS_BUILTIN(CONFIG_KVM)
#define KVM_MEMEXT_VM_FOPS_MAY_BE_UNOWNED 1
#else
#define KVM_MEMEXT_VM_FOPS_MAY_BE_UNOWNED 0
#endif

/* shmem_file_setup() takes vma_flags_t (7.x) where the type exists. */
#ifdef EMPTY_VMA_FLAGS
#define KVM_MEMEXT_SHMEM_NO_FLAGS EMPTY_VMA_FLAGS
#else
#define KVM_MEMEXT_SHMEM_NO_FLAGS 0
#endif

/* A trace event's __assign_str() lost its source argument in 6.10. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define kvm_memext_assign_str(dst, src) __assign_str(dst)
#else
#define kvm_memext_assign_str(dst, src) __assign_str(dst, src)
#endif

/* guest_memfd and KVM_SET_USER_MEMORY_REGION2 arrived in 6.8. */
#include <linux/kvm.h>
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD BIT(2)
#endif
#ifdef KVM_SET_USER_MEMORY_REGION2
#define KVM_MEMEXT_SET_REGION_IOCTL KVM_SET_USER_MEMORY_REGION2
#else
#define KVM_MEMEXT_SET_REGION_IOCTL KVM_SET_USER_MEMORY_REGION
#endif

/* Address spaces of a VM's memslots (SMM on x86). */
#ifdef KVM_MAX_NR_ADDRESS_SPACES
#define KVM_MEMEXT_MAX_AS KVM_MAX_NR_ADDRESS_SPACES
#define kvm_memext_nr_as(kvm) kvm_arch_nr_memslot_as_ids(kvm)
#else
#define KVM_MEMEXT_MAX_AS KVM_ADDRESS_SPACE_NUM
#define kvm_memext_nr_as(kvm) ((void)(kvm), KVM_ADDRESS_SPACE_NUM)
#endif

/*
 * Which memslot flags a VM accepts: read-only memory depends on the VM type
 * since 6.8, and guest_memfd on private-memory support from 6.8 until
 * CONFIG_KVM_PRIVATE_MEM became CONFIG_KVM_GUEST_MEMFD, after which KVM
 * takes it on any VM where that is set; 6.1 has neither notion and always
 * accepts KVM_MEM_READONLY on x86.
 */
#ifdef KVM_SET_USER_MEMORY_REGION2
#define kvm_memext_readonly_ok(kvm) kvm_arch_has_readonly_mem(kvm)
#ifdef CONFIG_KVM_GUEST_MEMFD
#define kvm_memext_gmem_ok(kvm) ((void)(kvm), true)
#else
#define kvm_memext_gmem_ok(kvm) kvm_arch_has_private_mem(kvm)
#endif
#else
#define kvm_memext_readonly_ok(kvm) ((void)(kvm), true)
#define kvm_memext_gmem_ok(kvm) ((void)(kvm), false)
#endif

/*
 * 6.15+: take many vcpu->mutex under kvm->lock without exceeding lockdep's
 * MAX_LOCK_DEPTH.  Older kernels lack it; their stock builds have no lockdep.
 */
#include <linux/mutex.h>
#ifndef mutex_trylock_nest_lock
#define mutex_trylock_nest_lock(lock, nest_lock) ((void)(nest_lock), mutex_trylock(lock))
#endif

/*
 * follow_pfnmap_start() and follow_pfnmap_end() (6.12) over follow_pte(),
 * for the PTE-mapped VM_IO/VM_PFNMAP memory older kernels have.
 */
#include <linux/mm.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
struct follow_pfnmap_args {
	struct vm_area_struct *vma;
	unsigned long address;
	spinlock_t *lock;	/* the PTE's, held until _end() */
	pte_t *ptep;
	unsigned long pfn;
	pgprot_t pgprot;
	bool writable;
};

static inline int follow_pfnmap_start(struct follow_pfnmap_args *args)
{
	int r = follow_pte(args->vma->vm_mm, args->address, &args->ptep,
			   &args->lock);

	if (r)
		return r;
	args->pfn = pte_pfn(*args->ptep);
	args->pgprot = pte_pgprot(*args->ptep);
	args->writable = pte_write(*args->ptep);
	return 0;
}

static inline void follow_pfnmap_end(struct follow_pfnmap_args *args)
{
	/* follow_pte() took the lock, which sparse cannot see. */
	__acquire(args->lock);
	pte_unmap_unlock(args->ptep, args->lock);
}
#endif

/* get_user_pages_remote() lost its vmas argument in 6.5: 6.5's form. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
#define get_user_pages_remote(mm, start, nr, flags, pages, locked) \
	get_user_pages_remote(mm, start, nr, flags, pages, NULL, locked)
#endif

/*
 * The thread that last ran a vCPU, referenced.  6.13 protects vcpu->pid
 * with vcpu->pid_lock instead of RCU (the old pid is freed at once); a
 * distribution may backport that, so Kbuild probes kvm_host.h for it.
 */
#include <linux/kvm_host.h>
#include <linux/pid.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0) && !defined(KVM_MEMEXT_HAVE_VCPU_PID_LOCK)
/* RCU would then read a pid that KVM frees at once: refuse to build. */
#error "kvm_memext: 6.13+ protects vcpu->pid with pid_lock, but Kbuild's probe found no pid_lock"
#endif
static inline struct task_struct *kvm_memext_vcpu_task(struct kvm_vcpu *vcpu)
{
	struct task_struct *task = NULL;
#ifdef KVM_MEMEXT_HAVE_VCPU_PID_LOCK
	read_lock(&vcpu->pid_lock);
	if (vcpu->pid)
		task = get_pid_task(vcpu->pid, PIDTYPE_PID);
	read_unlock(&vcpu->pid_lock);
#else
	struct pid *pid;

	rcu_read_lock();
	pid = rcu_dereference(vcpu->pid);
	if (pid)
		task = get_pid_task(pid, PIDTYPE_PID);
	rcu_read_unlock();
#endif
	return task;
}

/*
 * Whether a task being switched out is still runnable (preempted) rather
 * than going to sleep.  Since 6.12 a sleeping task may stay queued for a
 * while (delayed dequeue) and task_is_runnable() tells; before, being
 * queued was being runnable.
 */
#include <linux/sched.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#define task_is_runnable(p) READ_ONCE((p)->on_rq)
#endif

/* vm_flags became write-protected behind vm_flags_set() in 6.3. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/* Inode operations take a struct mnt_idmap since 6.3. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define KVM_MEMEXT_IDMAP struct mnt_idmap
#define kvm_memext_nop_idmap (&nop_mnt_idmap)
#else
#define KVM_MEMEXT_IDMAP struct user_namespace
#define kvm_memext_nop_idmap (&init_user_ns)
#endif

/*
 * The VFS changes below are found by probing the kernel's headers
 * (Kbuild), not by version: distributions backport them.
 */

/* ->create() lost its "excl" argument: @name calls @fn(dir, dentry, mode). */
#ifdef KVM_MEMEXT_HAVE_CREATE_EXCL
#define KVM_MEMEXT_DEFINE_CREATE(name, fn)					\
static int name(KVM_MEMEXT_IDMAP *idmap, struct inode *dir,		\
		struct dentry *dentry, umode_t mode, bool excl)			\
{										\
	return fn(dir, dentry, mode);						\
}
#else
#define KVM_MEMEXT_DEFINE_CREATE(name, fn)					\
static int name(KVM_MEMEXT_IDMAP *idmap, struct inode *dir,		\
		struct dentry *dentry, umode_t mode)				\
{										\
	return fn(dir, dentry, mode);						\
}
#endif

/*
 * ->mkdir() returns the dentry it made (NULL: the one it was given):
 * @name calls @fn(dir, dentry, mode), which returns 0 or an errno.
 */
#ifdef KVM_MEMEXT_HAVE_MKDIR_DENTRY
#define KVM_MEMEXT_DEFINE_MKDIR(name, fn)					\
static struct dentry *name(KVM_MEMEXT_IDMAP *idmap, struct inode *dir,	\
			   struct dentry *dentry, umode_t mode)		\
{										\
	return ERR_PTR(fn(dir, dentry, mode));					\
}
#else
#define KVM_MEMEXT_DEFINE_MKDIR(name, fn)					\
static int name(KVM_MEMEXT_IDMAP *idmap, struct inode *dir,		\
		struct dentry *dentry, umode_t mode)				\
{										\
	return fn(dir, dentry, mode);						\
}
#endif

/*
 * Dentries that keep a libfs file alive: marked persistent (and then
 * dropped by kill_anon_super()), or held by an extra reference that
 * kill_litter_super() drops.
 */
#ifdef KVM_MEMEXT_HAVE_D_MAKE_PERSISTENT
#define kvm_memext_d_make_persistent(dentry, inode) \
	d_make_persistent(dentry, inode)
#define kvm_memext_kill_litter_super(sb)	kill_anon_super(sb)
#else
static inline void kvm_memext_d_make_persistent(struct dentry *dentry,
						struct inode *inode)
{
	d_instantiate(dentry, inode);
	dget(dentry);
}

#define kvm_memext_kill_litter_super(sb)	kill_litter_super(sb)
#endif

/* generic_delete_inode() was renamed inode_just_drop(). */
#ifndef KVM_MEMEXT_HAVE_INODE_JUST_DROP
#define inode_just_drop	generic_delete_inode
#endif

/*
 * Timestamps of a new inode (simple_inode_init_ts(), 6.7), and of a
 * directory that changed.
 */
#ifdef KVM_MEMEXT_HAVE_INODE_TS_HELPERS
static inline void kvm_memext_inode_touch_dir(struct inode *dir)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
}
#else
static inline struct timespec64 simple_inode_init_ts(struct inode *inode)
{
	inode->i_ctime = current_time(inode);
	inode->i_atime = inode->i_ctime;
	inode->i_mtime = inode->i_ctime;
	return inode->i_ctime;
}

static inline void kvm_memext_inode_touch_dir(struct inode *dir)
{
	dir->i_ctime = current_time(dir);
	dir->i_mtime = dir->i_ctime;
}
#endif

/*
 * Huge VM_PFNMAP mappings: only where GUP knows special PMDs (6.12+ with
 * ARCH_SUPPORTS_PMD_PFNMAP) and KVM's follow_pfnmap_start() walks them.
 * Elsewhere a PMD mapping would let get_user_pages_fast() pin the pages.
 * Not on arm64 before 6.13: its user_mem_abort() takes a reference on the
 * faulting page, moves the pfn to the 2 MiB block's first page for a
 * block mapping (transparent_hugepage_adjust()) and drops the reference
 * there, which frees the module's first page under it (order-0 pages).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0) && \
	defined(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP) && \
	defined(CONFIG_TRANSPARENT_HUGEPAGE) && \
	!(defined(CONFIG_ARM64) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0))
#define KVM_MEMEXT_HUGE_PFNMAP 1
#include <linux/huge_mm.h>
/* The pfn_t type was removed in 6.17. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 17, 0)
#include <linux/pfn_t.h>
#define kvm_memext_insert_pfn_pmd(vmf, pfn, write) \
	vmf_insert_pfn_pmd(vmf, pfn_to_pfn_t(pfn), write)
#else
#define kvm_memext_insert_pfn_pmd(vmf, pfn, write) \
	vmf_insert_pfn_pmd(vmf, pfn, write)
#endif
#else
#define KVM_MEMEXT_HUGE_PFNMAP 0
#endif

/*
 * Flushing this CPU's global translations.  Up to 6.17 __flush_tlb_all()
 * is exported to every GPL module; since EXPORT_SYMBOL_FOR_KVM exists
 * (6.18), only to KVM.  There the module toggles CR4.PGE itself, as
 * __native_tlb_flush_global() does (native_write_cr4() is not exported
 * either): architecturally that invalidates every TLB entry of every PCID.
 * Callers run with interrupts off (an IPI handler).
 */
#ifdef CONFIG_X86
#include <linux/kvm_types.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#ifndef EXPORT_SYMBOL_FOR_KVM
#define kvm_memext_flush_tlb_global()	__flush_tlb_all()
#else
static inline void kvm_memext_flush_tlb_global(void)
{
	unsigned long cr4 = native_read_cr4();

	asm volatile("mov %0, %%cr4" : : "r" (cr4 ^ X86_CR4_PGE) : "memory");
	asm volatile("mov %0, %%cr4" : : "r" (cr4) : "memory");
}
#endif
#endif /* CONFIG_X86 */

/*
 * An mm's RSS counters, without add_mm_counter()'s tracepoint, which is
 * not exported: an atomic array before 6.2, per-CPU counters since.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define kvm_memext_add_mm_counter(mm, member, value) \
	percpu_counter_add(&(mm)->rss_stat[member], value)
#else
#define kvm_memext_add_mm_counter(mm, member, value) \
	atomic_long_add(value, &(mm)->rss_stat.count[member])
#endif

#endif /* _KVM_MEMEXT_COMPAT_H */
