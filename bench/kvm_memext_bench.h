/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The private interface between kvm_memext_bench.ko and the cache
 * benchmark (selftests/bench/cache_bench.c).  Not part of kvm_memext's
 * uAPI: the module exists for `make bench` only.
 */
#ifndef _KVM_MEMEXT_BENCH_H
#define _KVM_MEMEXT_BENCH_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Methods: how one update of @len bytes at @gpa is written. */
#define KVM_MEMEXT_BENCH_CACHE		0	/* guest-page cache write */
#define KVM_MEMEXT_BENCH_PRE_CACHE	1	/* memslot lookup + copy_to_user, no faults */
/* The cache write's steps, cumulative, for a profile of where time goes. */
#define KVM_MEMEXT_BENCH_CACHE_SRCU	2	/* kvm->srcu read side only */
#define KVM_MEMEXT_BENCH_CACHE_LOCK	3	/* kvm_memext_gpc_lock() + unlock */
#define KVM_MEMEXT_BENCH_CACHE_CHECK	4	/* ... + kvm_memext_gpc_check() */
#define KVM_MEMEXT_BENCH_CACHE_COPY	5	/* ... + kvm_memext_gpc_copy_to() */
/* The pre-cache method's lookups alone: no copy. */
#define KVM_MEMEXT_BENCH_PRE_LOOKUP	6
/*
 * Not a write: kvm_memext_gpc_refresh() of one cache over the @len bytes
 * at @gpa (up to KVM_MEMEXT_GPC_MAX_PAGES pages), or of one one-page
 * cache per page of them, as KVM keeps one gfn_to_pfn_cache per page.
 */
#define KVM_MEMEXT_BENCH_REFRESH	7
#define KVM_MEMEXT_BENCH_REFRESH_SPLIT	8

/**
 * struct kvm_memext_bench_args - one timed loop
 * @handle_fd: a kvm_memext VM handle of the caller.
 * @method: KVM_MEMEXT_BENCH_*.
 * @gpa: guest physical address of the area.
 * @len: bytes per update (refreshes: bytes cached).
 * @iters: updates (refreshes) to time.
 * @ns: out: nanoseconds for all @iters updates (refreshes).
 * @result: out: 0, or the negative errno of the first failed update.
 * @pad: zero.
 */
struct kvm_memext_bench_args {
	__s32 handle_fd;
	__u32 method;
	__u64 gpa;
	__u32 len;
	__u32 iters;
	__u64 ns;
	__s32 result;
	__u32 pad;
};

#define KVM_MEMEXT_BENCH_RUN	_IOWR(0xBC, 0x00, struct kvm_memext_bench_args)

#endif /* _KVM_MEMEXT_BENCH_H */
