/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the KVM selftest libraries of 6.1, 6.12 and 7.3 that
 * the kvm_memext selftests, and the peer tests built with kvm.mk, meet.
 * Everything else uses each kernel's library as it is.
 */
#ifndef SELFTEST_MEMEXT_COMPAT_H
#define SELFTEST_MEMEXT_COMPAT_H

#include "kvm_util.h"

/*
 * x86's library defines PAGE_SIZE (processor.h, which tests include after
 * this header: not here, or it is defined twice); arm64's does not.  The
 * tests use the host's base page, 4 KiB on every kernel of the matrix
 * (Debian's arm64 kernels included).
 */
#if !defined(PAGE_SIZE) && !defined(__x86_64__)
#define PAGE_SIZE	4096UL
#endif

/*
 * 6.1's library has no TEST_ASSERT_EQ, yet Debian's 6.1 dirty_log_test.c
 * (a stable backport) uses it.
 */
#ifndef TEST_ASSERT_EQ
#define TEST_ASSERT_EQ(a, b)							\
do {										\
	typeof(a) __a = (a);							\
	typeof(b) __b = (b);							\
										\
	TEST_ASSERT(__a == __b, "%s == %s failed: 0x%lx != 0x%lx", #a, #b,	\
		    (unsigned long)__a, (unsigned long)__b);			\
} while (0)
#endif

/*
 * A guest assert that reports four values: 6.1's library passes them up
 * for the host to format (GUEST_ASSERT_4), later ones format the message
 * in the guest.  The test gives the same format to both macros.
 */
#include "ucall_common.h"
#ifdef GUEST_ASSERT_4
#define memext_guest_assert_4(cond, fmt, a, b, c, d)	GUEST_ASSERT_4(cond, a, b, c, d)
#define memext_report_guest_assert_4(uc, fmt)		REPORT_GUEST_ASSERT_4(uc, fmt)
#else
#define memext_guest_assert_4(cond, fmt, a, b, c, d)	__GUEST_ASSERT(cond, fmt, a, b, c, d)
#define memext_report_guest_assert_4(uc, fmt)		REPORT_GUEST_ASSERT(uc)
#endif

/*
 * generic_svm_setup() takes L2's stack up to 6.12 and finds its own in
 * 7.3, where vm_vaddr_t became gva_t; the matrix has nothing in between,
 * so the version decides.
 */
#include <linux/version.h>
#if LINUX_VERSION_CODE > KERNEL_VERSION(6, 12, 255)
#define memext_svm_setup(svm, rip, rsp)					\
do {									\
	(void)(rsp);							\
	generic_svm_setup(svm, rip);					\
} while (0)
#define memext_gva_t	gva_t
#else
#define memext_svm_setup(svm, rip, rsp)	generic_svm_setup(svm, rip, rsp)
#define memext_gva_t	vm_vaddr_t
#endif

#endif /* SELFTEST_MEMEXT_COMPAT_H */
