/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Trace events of kvm_memext, under events/kvm_memext/ in tracefs.
 * Documentation/stats.rst lists them; each costs a static branch when off.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvm_memext

#if !defined(_KVM_MEMEXT_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KVM_MEMEXT_TRACE_H

#include <linux/tracepoint.h>

#include "kvm_memext.h"
#include "cache.h"
#include "privmem.h"

/* A VM handle, as its debugfs directory names it: <pid>-<fd>. */
#define TP_VM_FIELDS				\
	__field(int, pid)			\
	__field(int, fd)
#define TP_VM_ASSIGN(vm)			\
	do {					\
		__entry->pid = (vm)->stats->pid;	\
		__entry->fd = (vm)->stats->fd;	\
	} while (0)

TRACE_EVENT(kvm_memext_batch_begin,
	TP_PROTO(const struct kvm_memext_vm *vm, unsigned int nr, u32 flags),
	TP_ARGS(vm, nr, flags),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(unsigned int, nr)
		__field(u32, flags)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->nr = nr;
		__entry->flags = flags;
	),
	TP_printk("vm %d-%d entries %u flags 0x%x", __entry->pid, __entry->fd,
		  __entry->nr, __entry->flags)
);

TRACE_EVENT(kvm_memext_batch_validated,
	TP_PROTO(const struct kvm_memext_vm *vm, unsigned int nr, int error,
		 int index),
	TP_ARGS(vm, nr, error, index),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(unsigned int, nr)
		__field(int, error)
		__field(int, index)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->nr = nr;
		__entry->error = error;
		__entry->index = index;
	),
	TP_printk("vm %d-%d entries %u error %d at entry %d", __entry->pid,
		  __entry->fd, __entry->nr, __entry->error, __entry->index)
);

TRACE_EVENT(kvm_memext_batch_parked,
	TP_PROTO(const struct kvm_memext_vm *vm, unsigned int vcpus, u64 wait_ns,
		 int error),
	TP_ARGS(vm, vcpus, wait_ns, error),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(unsigned int, vcpus)
		__field(u64, wait_ns)
		__field(int, error)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->vcpus = vcpus;
		__entry->wait_ns = wait_ns;
		__entry->error = error;
	),
	TP_printk("vm %d-%d vcpus %u wait_ns %llu error %d", __entry->pid,
		  __entry->fd, __entry->vcpus, __entry->wait_ns, __entry->error)
);

TRACE_EVENT(kvm_memext_batch_applied,
	TP_PROTO(const struct kvm_memext_vm *vm, unsigned int applied,
		 u64 apply_ns, int error),
	TP_ARGS(vm, applied, apply_ns, error),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(unsigned int, applied)
		__field(u64, apply_ns)
		__field(int, error)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->applied = applied;
		__entry->apply_ns = apply_ns;
		__entry->error = error;
	),
	TP_printk("vm %d-%d applied %u apply_ns %llu error %d", __entry->pid,
		  __entry->fd, __entry->applied, __entry->apply_ns,
		  __entry->error)
);

TRACE_EVENT(kvm_memext_batch_rollback,
	TP_PROTO(const struct kvm_memext_vm *vm, unsigned int failed,
		 unsigned int undone, u32 result),
	TP_ARGS(vm, failed, undone, result),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(unsigned int, failed)
		__field(unsigned int, undone)
		__field(u32, result)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->failed = failed;
		__entry->undone = undone;
		__entry->result = result;
	),
	TP_printk("vm %d-%d failed entry %u undone %u result 0x%x",
		  __entry->pid, __entry->fd, __entry->failed, __entry->undone,
		  __entry->result)
);

TRACE_EVENT(kvm_memext_batch_resumed,
	TP_PROTO(const struct kvm_memext_vm *vm, u64 blackout_ns),
	TP_ARGS(vm, blackout_ns),
	TP_STRUCT__entry(
		TP_VM_FIELDS
		__field(u64, blackout_ns)
	),
	TP_fast_assign(
		TP_VM_ASSIGN(vm);
		__entry->blackout_ns = blackout_ns;
	),
	TP_printk("vm %d-%d blackout_ns %llu", __entry->pid, __entry->fd,
		  __entry->blackout_ns)
);

TRACE_EVENT(kvm_memext_vcpu_park,
	TP_PROTO(unsigned int vcpu_id),
	TP_ARGS(vcpu_id),
	TP_STRUCT__entry(
		__field(unsigned int, vcpu_id)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
	),
	TP_printk("vcpu %u", __entry->vcpu_id)
);

TRACE_EVENT(kvm_memext_vcpu_resume,
	TP_PROTO(unsigned int vcpu_id, u64 parked_ns),
	TP_ARGS(vcpu_id, parked_ns),
	TP_STRUCT__entry(
		__field(unsigned int, vcpu_id)
		__field(u64, parked_ns)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->parked_ns = parked_ns;
	),
	TP_printk("vcpu %u parked_ns %llu", __entry->vcpu_id,
		  __entry->parked_ns)
);

DECLARE_EVENT_CLASS(kvm_memext_cache_class,
	TP_PROTO(const struct kvm_memext_gpc *gpc, int error),
	TP_ARGS(gpc, error),
	TP_STRUCT__entry(
		__field(u64, gpa)
		__field(unsigned long, len)
		__field(unsigned int, nr_pages)
		__field(int, error)
	),
	TP_fast_assign(
		__entry->gpa = gpc->gpa;
		__entry->len = gpc->len;
		__entry->nr_pages = gpc->nr_pages;
		__entry->error = error;
	),
	TP_printk("gpa 0x%llx len %lu pages %u error %d", __entry->gpa,
		  __entry->len, __entry->nr_pages, __entry->error)
);

DEFINE_EVENT(kvm_memext_cache_class, kvm_memext_cache_activate,
	TP_PROTO(const struct kvm_memext_gpc *gpc, int error),
	TP_ARGS(gpc, error));
DEFINE_EVENT(kvm_memext_cache_class, kvm_memext_cache_refresh,
	TP_PROTO(const struct kvm_memext_gpc *gpc, int error),
	TP_ARGS(gpc, error));
DEFINE_EVENT(kvm_memext_cache_class, kvm_memext_cache_invalidate,
	TP_PROTO(const struct kvm_memext_gpc *gpc, int error),
	TP_ARGS(gpc, error));
DEFINE_EVENT(kvm_memext_cache_class, kvm_memext_cache_teardown,
	TP_PROTO(const struct kvm_memext_gpc *gpc, int error),
	TP_ARGS(gpc, error));

/* One kernel mapping a cache made: which pages, with what memory type. */
TRACE_EVENT(kvm_memext_cache_map,
	TP_PROTO(unsigned long pfn, unsigned int nr, bool io,
		 const char *memtype, bool exec),
	TP_ARGS(pfn, nr, io, memtype, exec),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, nr)
		__field(bool, io)
		__field(bool, exec)
		__string(memtype, memtype)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->nr = nr;
		__entry->io = io;
		__entry->exec = exec;
		kvm_memext_assign_str(memtype, memtype);
	),
	TP_printk("pfn 0x%lx pages %u %s %s%s", __entry->pfn, __entry->nr,
		  __entry->io ? "io" : "ram", __get_str(memtype),
		  __entry->exec ? " exec" : "")
);

DECLARE_EVENT_CLASS(kvm_memext_runstate_class,
	TP_PROTO(unsigned int vcpu_id, u64 gpa, u32 state, int error),
	TP_ARGS(vcpu_id, gpa, state, error),
	TP_STRUCT__entry(
		__field(unsigned int, vcpu_id)
		__field(u64, gpa)
		__field(u32, state)
		__field(int, error)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->gpa = gpa;
		__entry->state = state;
		__entry->error = error;
	),
	TP_printk("vcpu %u gpa 0x%llx state %s error %d", __entry->vcpu_id,
		  __entry->gpa,
		  __print_symbolic(__entry->state,
				   { KVM_MEMEXT_RUNSTATE_RUNNING, "running" },
				   { KVM_MEMEXT_RUNSTATE_RUNNABLE, "runnable" },
				   { KVM_MEMEXT_RUNSTATE_BLOCKED, "blocked" },
				   { KVM_MEMEXT_RUNSTATE_OFFLINE, "offline" }),
		  __entry->error)
);

DEFINE_EVENT(kvm_memext_runstate_class, kvm_memext_runstate_attach,
	TP_PROTO(unsigned int vcpu_id, u64 gpa, u32 state, int error),
	TP_ARGS(vcpu_id, gpa, state, error));
DEFINE_EVENT(kvm_memext_runstate_class, kvm_memext_runstate_write,
	TP_PROTO(unsigned int vcpu_id, u64 gpa, u32 state, int error),
	TP_ARGS(vcpu_id, gpa, state, error));
DEFINE_EVENT(kvm_memext_runstate_class, kvm_memext_runstate_pending,
	TP_PROTO(unsigned int vcpu_id, u64 gpa, u32 state, int error),
	TP_ARGS(vcpu_id, gpa, state, error));
DEFINE_EVENT(kvm_memext_runstate_class, kvm_memext_runstate_detach,
	TP_PROTO(unsigned int vcpu_id, u64 gpa, u32 state, int error),
	TP_ARGS(vcpu_id, gpa, state, error));

TRACE_EVENT(kvm_memext_privmem_fault,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t pgoff,
		 unsigned int order, unsigned long pfn, vm_fault_t ret),
	TP_ARGS(pm, pgoff, order, pfn, ret),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(pgoff_t, pgoff)
		__field(unsigned int, order)
		__field(unsigned long, pfn)
		__field(unsigned int, ret)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->pgoff = pgoff;
		__entry->order = order;
		__entry->pfn = pfn;
		__entry->ret = (__force unsigned int)ret;
	),
	TP_printk("ino %lu pgoff 0x%lx order %u pfn 0x%lx vm_fault 0x%x",
		  __entry->ino, __entry->pgoff, __entry->order, __entry->pfn,
		  __entry->ret)
);

DECLARE_EVENT_CLASS(kvm_memext_privmem_chunk_class,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(pgoff_t, cidx)
		__field(unsigned int, nr)
		__field(bool, huge)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->cidx = cidx;
		__entry->nr = nr;
		__entry->huge = huge;
	),
	TP_printk("ino %lu chunk %lu pages %u%s", __entry->ino, __entry->cidx,
		  __entry->nr, __entry->huge ? " huge" : "")
);

DEFINE_EVENT(kvm_memext_privmem_chunk_class, kvm_memext_privmem_chunk_alloc,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge));
DEFINE_EVENT(kvm_memext_privmem_chunk_class, kvm_memext_privmem_chunk_free,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge));
DEFINE_EVENT(kvm_memext_privmem_chunk_class, kvm_memext_privmem_fallback,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge));
DEFINE_EVENT(kvm_memext_privmem_chunk_class, kvm_memext_privmem_show,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge));
DEFINE_EVENT(kvm_memext_privmem_chunk_class, kvm_memext_privmem_hide,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t cidx,
		 unsigned int nr, bool huge),
	TP_ARGS(pm, cidx, nr, huge));

TRACE_EVENT(kvm_memext_privmem_access,
	TP_PROTO(const struct kvm_memext_privmem *pm, pgoff_t start, pgoff_t end,
		 bool accessible, int error),
	TP_ARGS(pm, start, end, accessible, error),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(pgoff_t, start)
		__field(pgoff_t, end)
		__field(bool, accessible)
		__field(int, error)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->start = start;
		__entry->end = end;
		__entry->accessible = accessible;
		__entry->error = error;
	),
	TP_printk("ino %lu pages 0x%lx-0x%lx %s error %d", __entry->ino,
		  __entry->start, __entry->end,
		  __entry->accessible ? "get" : "put", __entry->error)
);

TRACE_DEFINE_ENUM(KVM_MEMEXT_FLUSH_POPULATE);
TRACE_DEFINE_ENUM(KVM_MEMEXT_FLUSH_ACCESS);
TRACE_DEFINE_ENUM(KVM_MEMEXT_FLUSH_HIDE);
TRACE_DEFINE_ENUM(KVM_MEMEXT_FLUSH_FREE);
TRACE_DEFINE_ENUM(KVM_MEMEXT_FLUSH_CLOCK);

#define KVM_MEMEXT_FLUSH_REASONS				\
	{ KVM_MEMEXT_FLUSH_POPULATE,	"populate" },		\
	{ KVM_MEMEXT_FLUSH_ACCESS,	"access" },		\
	{ KVM_MEMEXT_FLUSH_HIDE,	"deferred_hide" },	\
	{ KVM_MEMEXT_FLUSH_FREE,	"free" },		\
	{ KVM_MEMEXT_FLUSH_CLOCK,	"clock" }

TRACE_EVENT(kvm_memext_privmem_flush,
	TP_PROTO(const struct kvm_memext_privmem *pm, unsigned int reason,
		 u64 wait_ns),
	TP_ARGS(pm, reason, wait_ns),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(unsigned int, reason)
		__field(u64, wait_ns)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->reason = reason;
		__entry->wait_ns = wait_ns;
	),
	TP_printk("ino %lu reason %s budget_wait_ns %llu", __entry->ino,
		  __print_symbolic(__entry->reason, KVM_MEMEXT_FLUSH_REASONS),
		  __entry->wait_ns)
);

TRACE_EVENT(kvm_memext_privmem_throttled,
	TP_PROTO(const struct kvm_memext_privmem *pm, u64 wait_ns),
	TP_ARGS(pm, wait_ns),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(u64, wait_ns)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->wait_ns = wait_ns;
	),
	TP_printk("ino %lu wait_ns %llu", __entry->ino, __entry->wait_ns)
);

TRACE_EVENT(kvm_memext_privmem_decoy_write,
	TP_PROTO(unsigned long pfn),
	TP_ARGS(pfn),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
	),
	TP_printk("decoy pfn 0x%lx found written", __entry->pfn)
);

TRACE_EVENT(kvm_memext_privmem_clock_show,
	TP_PROTO(const struct kvm_memext_privmem *pm, unsigned int vcpu_id,
		 pgoff_t index, int error),
	TP_ARGS(pm, vcpu_id, index, error),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(unsigned int, vcpu_id)
		__field(pgoff_t, index)
		__field(int, error)
	),
	TP_fast_assign(
		__entry->ino = pm->inode->i_ino;
		__entry->vcpu_id = vcpu_id;
		__entry->index = index;
		__entry->error = error;
	),
	TP_printk("ino %lu vcpu %u page 0x%lx error %d", __entry->ino,
		  __entry->vcpu_id, __entry->index, __entry->error)
);

TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_MEMLOCK);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_CEILING);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_MOUNT);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_OWNER);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_BLOCK);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_SPLITS);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_RANGES);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_FLUSH);
TRACE_DEFINE_ENUM(KVM_MEMEXT_LIMIT_HIBERNATION);

#define KVM_MEMEXT_LIMIT_NAMES					\
	{ KVM_MEMEXT_LIMIT_MEMLOCK,	"memlock" },		\
	{ KVM_MEMEXT_LIMIT_CEILING,	"privmem_max_mb" },	\
	{ KVM_MEMEXT_LIMIT_MOUNT,	"mount_size" },		\
	{ KVM_MEMEXT_LIMIT_OWNER,	"owner" },		\
	{ KVM_MEMEXT_LIMIT_BLOCK,	"no_block" },		\
	{ KVM_MEMEXT_LIMIT_SPLITS,	"splits" },		\
	{ KVM_MEMEXT_LIMIT_RANGES,	"ranges" },		\
	{ KVM_MEMEXT_LIMIT_FLUSH,	"flush_budget" },	\
	{ KVM_MEMEXT_LIMIT_HIBERNATION,	"hibernation" }

TRACE_EVENT(kvm_memext_limit,
	TP_PROTO(unsigned int limit, unsigned long value),
	TP_ARGS(limit, value),
	TP_STRUCT__entry(
		__field(unsigned int, limit)
		__field(unsigned long, value)
	),
	TP_fast_assign(
		__entry->limit = limit;
		__entry->value = value;
	),
	TP_printk("%s value %lu",
		  __print_symbolic(__entry->limit, KVM_MEMEXT_LIMIT_NAMES),
		  __entry->value)
);

#endif /* _KVM_MEMEXT_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
