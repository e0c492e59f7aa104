/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the KVM selftest libraries of 6.1, 6.12 and 7.3 that
 * the kvm_memext selftests meet.  Everything else uses the library as is.
 */
#ifndef SELFTEST_MEMEXT_COMPAT_H
#define SELFTEST_MEMEXT_COMPAT_H

#endif /* SELFTEST_MEMEXT_COMPAT_H */
