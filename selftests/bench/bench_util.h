/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Timing and statistics shared by the kvm_memext benchmarks.
 */
#ifndef SELFTEST_MEMEXT_BENCH_UTIL_H
#define SELFTEST_MEMEXT_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v. */
static inline double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* SELFTEST_MEMEXT_BENCH_UTIL_H */
