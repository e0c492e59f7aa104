// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the order in which parked vCPUs resume after a batch
 * (src/quiesce.c): every parked vCPU is woken exactly once, only by the
 * batcher or by a vCPU woken before it, the batcher wakes at most as many
 * as there are roots, and no vCPU waits for more hops than the tree's
 * shape requires.  Parking itself needs vCPU threads and is covered by the
 * selftests.
 */
#include <kunit/test.h>

#include "kvm_memext.h"
#include "batch.h"

#define MAX_NR	40
#define MAX_FAN	8

/* Walk the tree from the batcher; record who woke whom and how deep. */
static void walk_tree(struct kunit *test, unsigned int roots,
		      unsigned int fanout, unsigned int nr, int *parent,
		      unsigned int *depth)
{
	unsigned int i, end, first;
	int pos;

	for (i = 0; i < nr; i++)
		parent[i] = INT_MIN;
	for (pos = -1; pos < (int)nr; pos++) {
		/* Only a woken vCPU wakes others. */
		if (pos >= 0 && parent[pos] == INT_MIN)
			continue;
		first = kvm_memext_tree_children(roots, fanout, pos, nr, &end);
		KUNIT_EXPECT_LE(test, end - first, pos < 0 ? roots : fanout);
		for (i = first; i < end; i++) {
			KUNIT_EXPECT_EQ_MSG(test, parent[i], INT_MIN,
					    "roots %u fanout %u nr %u: %u woken twice",
					    roots, fanout, nr, i);
			KUNIT_EXPECT_GT(test, (int)i, pos);
			parent[i] = pos;
			depth[i] = pos < 0 ? 1 : depth[pos] + 1;
		}
	}
}

/* Walk one shape of tree and check it. */
static void check_tree(struct kunit *test, unsigned int roots,
		       unsigned int fanout, unsigned int nr)
{
	unsigned int i, hops = 0, bound, reach, level;
	unsigned int depth[MAX_NR];
	int parent[MAX_NR];

	walk_tree(test, roots, fanout, nr, parent, depth);
	for (i = 0; i < nr; i++) {
		KUNIT_EXPECT_NE_MSG(test, parent[i], INT_MIN,
				    "roots %u fanout %u nr %u: %u never woken",
				    roots, fanout, nr, i);
		hops = max(hops, depth[i]);
	}
	/* Breadth first: the fewest levels that hold nr. */
	for (bound = 0, reach = 0, level = roots; reach < nr;
	     bound++, level *= fanout)
		reach += level;
	KUNIT_EXPECT_EQ_MSG(test, hops, bound, "roots %u fanout %u nr %u",
			    roots, fanout, nr);
}

static void resume_tree_wakes_each_once(struct kunit *test)
{
	unsigned int roots, fanout, nr;

	for (nr = 0; nr <= MAX_NR; nr++)
		for (roots = 1; roots <= min(nr + 1, MAX_FAN); roots++)
			for (fanout = 1; fanout <= min(nr + 1, MAX_FAN); fanout++)
				check_tree(test, roots, fanout, nr);
}

/* As many roots as vCPUs: the batcher wakes every vCPU itself. */
static void resume_tree_flat(struct kunit *test)
{
	unsigned int first, end;

	first = kvm_memext_tree_children(16, 1, -1, 16, &end);
	KUNIT_EXPECT_EQ(test, first, 0);
	KUNIT_EXPECT_EQ(test, end, 16);
	first = kvm_memext_tree_children(16, 1, 0, 16, &end);
	KUNIT_EXPECT_EQ(test, first, end);
	first = kvm_memext_tree_children(2, 1, -1, 0, &end);
	KUNIT_EXPECT_EQ(test, first, end);
}

/* Fanout 1: one chain per root, interleaved. */
static void resume_tree_chains(struct kunit *test)
{
	unsigned int first, end;

	first = kvm_memext_tree_children(2, 1, 0, 16, &end);
	KUNIT_EXPECT_EQ(test, first, 2);
	KUNIT_EXPECT_EQ(test, end, 3);
	first = kvm_memext_tree_children(2, 1, 13, 16, &end);
	KUNIT_EXPECT_EQ(test, first, 15);
	KUNIT_EXPECT_EQ(test, end, 16);
	first = kvm_memext_tree_children(2, 1, 14, 16, &end);
	KUNIT_EXPECT_EQ(test, first, end);
}

static struct kunit_case kvm_memext_quiesce_cases[] = {
	KUNIT_CASE(resume_tree_wakes_each_once),
	KUNIT_CASE(resume_tree_flat),
	KUNIT_CASE(resume_tree_chains),
	{}
};

static struct kunit_suite kvm_memext_quiesce_suite = {
	.name = "kvm_memext_quiesce",
	.test_cases = kvm_memext_quiesce_cases,
};

kunit_test_suite(kvm_memext_quiesce_suite);
