// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for guest-page caches (src/cache.c, src/cache_map.c): range
 * and page-split arithmetic, the generation check, the invalidation state
 * machine, and the kernel mappings of RAM-only, IO-only and mixed ranges.
 *
 * The IO page is the HPET's register block of QEMU's PC machines
 * (0xfed00000), which has no struct page; the cases that need it are
 * skipped where it is not there.
 */
#include <kunit/test.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>

#include "kvm_memext.h"
#include "cache.h"
#include "stats.h"

MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

#define PG		PAGE_SIZE
#define HPET_PFN	(0xfed00000ul >> PAGE_SHIFT)

static void span_counts_pages(struct kunit *test)
{
	unsigned int nr = 0;

	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(0x1000, 1, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 1);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(0x1000, PG, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 1);
	/* A 48-byte runstate area 8 bytes before a page boundary. */
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(0x1ff8, 48, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 2);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(0x1fff, 2, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 2);
	KUNIT_EXPECT_EQ(test,
			kvm_memext_gpc_span(0, KVM_MEMEXT_GPC_MAX_PAGES * PG, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, KVM_MEMEXT_GPC_MAX_PAGES);
}

static void span_rejects_bad_ranges(struct kunit *test)
{
	unsigned int nr = 0;

	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(0x1000, 0, &nr), -EINVAL);
	/* One byte too many: the bound counts pages touched. */
	KUNIT_EXPECT_EQ(test,
			kvm_memext_gpc_span(0x10, KVM_MEMEXT_GPC_MAX_PAGES * PG, &nr),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(~0ull - 10, 100, &nr), -EINVAL);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_span(~0ull, 1, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 1);
}

static void overlap_checks_every_page(struct kunit *test)
{
	/* Two pages of a straddling range in unrelated host mappings. */
	unsigned long uhva[2] = { 0x7f0000001000, 0x7f0000900000 };

	KUNIT_EXPECT_TRUE(test, kvm_memext_gpc_overlaps(uhva, 2, 0x7f0000900000,
							0x7f0000901000));
	KUNIT_EXPECT_TRUE(test, kvm_memext_gpc_overlaps(uhva, 2, 0x7f0000001fff,
							0x7f0000002000));
	KUNIT_EXPECT_TRUE(test, kvm_memext_gpc_overlaps(uhva, 2, 0, ULONG_MAX));
	/* Ends are exclusive. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_overlaps(uhva, 2, 0x7f0000000000,
							 0x7f0000001000));
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_overlaps(uhva, 2, 0x7f0000002000,
							 0x7f0000900000));
	/* Only the pages the cache spans count. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_overlaps(uhva, 1, 0x7f0000900000,
							 0x7f0000901000));
}

static void generation_must_match(struct kunit *test)
{
	struct kvm_memext_gpc gpc = {
		.active = true, .valid = true, .generation = 42,
	};

	KUNIT_EXPECT_TRUE(test, kvm_memext_gpc_fresh(&gpc, 42));
	/* Any memslot change bumps the generation: O(1) invalidation. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_fresh(&gpc, 44));
	/* An update in progress has its own generation, too. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_fresh(&gpc, 42 | BIT_ULL(63)));
	gpc.valid = false;
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_fresh(&gpc, 42));
	gpc.valid = true;
	gpc.active = false;
	KUNIT_EXPECT_FALSE(test, kvm_memext_gpc_fresh(&gpc, 42));
}

static void write_checks_range_and_flag(struct kunit *test)
{
	struct kvm_memext_gpc gpc = { .len = 48 };
	u64 v[2] = {};

	/* Read-only caches are mapped read-only: refused, not -EAGAIN. */
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_write(&gpc, 0, v, 8), -EINVAL);
	gpc.flags = KVM_MEMEXT_GPC_WRITE;
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_write(&gpc, 40, v, 16), -EINVAL);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_write(&gpc, ~0ul, v, 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_read(&gpc, 48, v, 1), -EINVAL);
}

static struct kvm_memext_vm *fake_vm(struct kunit *test)
{
	struct kvm_memext_vm *vm = kunit_kzalloc(test, sizeof(*vm), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, vm);
	/* Invalidations are counted. */
	vm->stats = kunit_kzalloc(test, sizeof(*vm->stats), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vm->stats);
	spin_lock_init(&vm->mn_lock);
	INIT_LIST_HEAD(&vm->caches);
	return vm;
}

static struct kvm_memext_gpc *fake_gpc(struct kunit *test,
				       struct kvm_memext_vm *vm,
				       unsigned long uhva0, unsigned long uhva1)
{
	struct kvm_memext_gpc *gpc = kunit_kzalloc(test, sizeof(*gpc), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, gpc);
	raw_spin_lock_init(&gpc->lock);
	gpc->vm = vm;
	gpc->active = true;
	gpc->valid = true;
	gpc->nr_pages = 2;
	gpc->uhva[0] = uhva0;
	gpc->uhva[1] = uhva1;
	list_add(&gpc->node, &vm->caches);
	return gpc;
}

static void invalidation_marks_overlapping_caches(struct kunit *test)
{
	struct kvm_memext_vm *vm = fake_vm(test);
	struct kvm_memext_gpc *a = fake_gpc(test, vm, 0x10000, 0x11000);
	struct kvm_memext_gpc *b = fake_gpc(test, vm, 0x20000, 0x21000);

	/* The second page of a, only. */
	kvm_memext_mn_start(vm, 0x11000, 0x12000);
	KUNIT_EXPECT_FALSE(test, a->valid);
	KUNIT_EXPECT_TRUE(test, b->valid);
	kvm_memext_mn_end(vm);
	KUNIT_EXPECT_FALSE(test, a->valid);
	KUNIT_EXPECT_TRUE(test, b->valid);
}

static void refresh_retries_across_invalidations(struct kunit *test)
{
	struct kvm_memext_vm *vm = fake_vm(test);
	unsigned long seq = vm->mn_seq;

	/* Nothing happened since the translation started. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_mn_retry(vm, seq));

	/* An invalidation in progress: the pages may be going away. */
	kvm_memext_mn_start(vm, 0, PG);
	KUNIT_EXPECT_TRUE(test, kvm_memext_mn_retry(vm, seq));
	/* Nested invalidations: in progress until the last one ends. */
	kvm_memext_mn_start(vm, PG, 2 * PG);
	kvm_memext_mn_end(vm);
	KUNIT_EXPECT_TRUE(test, kvm_memext_mn_retry(vm, seq));
	kvm_memext_mn_end(vm);

	/* Ended, but after the translation started: still stale. */
	KUNIT_EXPECT_TRUE(test, kvm_memext_mn_retry(vm, seq));
	KUNIT_EXPECT_EQ(test, vm->mn_seq, seq + 2);
	/* A translation started afterwards is good. */
	KUNIT_EXPECT_FALSE(test, kvm_memext_mn_retry(vm, vm->mn_seq));
}

static void free_ram_page(void *page)
{
	__free_page(page);
}

/* A page of RAM with @pattern at both ends, freed when the test ends. */
static unsigned long ram_pfn(struct kunit *test, u64 pattern)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	u64 *p;

	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, free_ram_page, page), 0);
	p = page_address(page);
	p[0] = pattern;
	p[PG / 8 - 1] = pattern + 1;
	return page_to_pfn(page);
}

/* Maps that outlive the test function, for the unmap action below. */
static struct kvm_memext_gpc_map *new_maps(struct kunit *test)
{
	struct kvm_memext_gpc_map *maps;

	maps = kunit_kcalloc(test, KVM_MEMEXT_GPC_MAX_PAGES, sizeof(*maps),
			     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, maps);
	return maps;
}

struct maps_action {
	struct kvm_memext_gpc_map *maps;
	unsigned int nr;
};

static void unmap_maps(void *data)
{
	struct maps_action *a = data;

	kvm_memext_gpc_unmap(a->maps, a->nr);
}

/*
 * kvm_memext_gpc_map_pfns(), unmapped when the test ends if the test did
 * not (a failed assertion): before the pages of ram_pfn() are freed.
 * @maps must outlive the test function (new_maps()), and be unmapped
 * only by kvm_memext_gpc_unmap(), which clears what it unmapped.
 */
static unsigned int map_pfns(struct kunit *test, const unsigned long *pfn,
			     const pgprot_t *prot, unsigned int nr,
			     struct kvm_memext_gpc_map *maps)
{
	struct maps_action *a = kunit_kzalloc(test, sizeof(*a), GFP_KERNEL);
	unsigned int n;

	KUNIT_ASSERT_NOT_NULL(test, a);
	n = kvm_memext_gpc_map_pfns(pfn, prot, nr, maps);
	a->maps = maps;
	a->nr = n;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unmap_maps, a), 0);
	return n;
}

/* A blockable invalidation unmaps the invalidated caches at once. */
static void invalidation_tears_down_mappings(struct kunit *test)
{
	struct kvm_memext_vm *vm = fake_vm(test);
	struct kvm_memext_gpc *a = fake_gpc(test, vm, 0x10000, 0x11000);
	struct kvm_memext_gpc *b = fake_gpc(test, vm, 0x20000, 0x21000);
	pgprot_t prot[2] = { PAGE_KERNEL, PAGE_KERNEL };
	unsigned long pfn[2];
	int i;

	for (i = 0; i < 2; i++)
		pfn[i] = ram_pfn(test, 0x3000 + i);
	/* The caches' own teardown unmaps these, as the test checks. */
	KUNIT_ASSERT_EQ(test, kvm_memext_gpc_map_pfns(pfn, prot, 2, a->maps), 1);
	a->nr_maps = 1;
	KUNIT_ASSERT_EQ(test, kvm_memext_gpc_map_pfns(pfn, prot, 2, b->maps), 1);
	b->nr_maps = 1;

	kvm_memext_mn_start(vm, 0x10000, 0x11000);
	kvm_memext_mn_teardown(vm, 0x10000, 0x11000);
	kvm_memext_mn_end(vm);
	KUNIT_EXPECT_EQ(test, a->nr_maps, 0);
	KUNIT_EXPECT_NULL(test, a->khva);
	/* b neither overlaps nor is invalid: left alone. */
	KUNIT_EXPECT_TRUE(test, b->valid);
	KUNIT_EXPECT_EQ(test, b->nr_maps, 1);
	KUNIT_EXPECT_EQ(test, *(u64 *)b->maps[0].addr, 0x3000);
	kvm_memext_gpc_unmap(b->maps, 1);
}

static void require_hpet(struct kunit *test)
{
	if (pfn_valid(HPET_PFN))
		kunit_skip(test, "no IO page at the HPET's address");
}

static void plan_splits_by_kind_type_and_contiguity(struct kunit *test)
{
	struct kvm_memext_gpc_map *maps = new_maps(test);
	pgprot_t k = PAGE_KERNEL, uc = pgprot_noncached(PAGE_KERNEL);
	unsigned long pfn[6];
	pgprot_t prot[6] = { k, k, uc, uc, uc, k };

	require_hpet(test);
	pfn[0] = ram_pfn(test, 0);
	pfn[1] = ram_pfn(test, 0);
	pfn[2] = HPET_PFN;
	pfn[3] = HPET_PFN + 1;
	pfn[4] = HPET_PFN + 5;
	pfn[5] = ram_pfn(test, 0);

	/* RAM pages share a vmap() however scattered; IO runs must be contiguous. */
	KUNIT_ASSERT_EQ(test, kvm_memext_gpc_plan_maps(pfn, prot, 6, maps), 4);
	KUNIT_EXPECT_EQ(test, maps[0].first, 0);
	KUNIT_EXPECT_EQ(test, maps[0].nr, 2);
	KUNIT_EXPECT_FALSE(test, maps[0].io);
	KUNIT_EXPECT_EQ(test, maps[1].first, 2);
	KUNIT_EXPECT_EQ(test, maps[1].nr, 2);
	KUNIT_EXPECT_TRUE(test, maps[1].io);
	KUNIT_EXPECT_EQ(test, maps[2].first, 4);
	KUNIT_EXPECT_EQ(test, maps[2].nr, 1);
	KUNIT_EXPECT_EQ(test, maps[3].first, 5);
	KUNIT_EXPECT_FALSE(test, maps[3].io);

	/* A different memory type needs its own mapping. */
	prot[1] = uc;
	KUNIT_EXPECT_EQ(test, kvm_memext_gpc_plan_maps(pfn, prot, 2, maps), 2);
}

static void map_ram_only_is_contiguous(struct kunit *test)
{
	struct kvm_memext_gpc_map *maps = new_maps(test);
	pgprot_t prot[3] = { PAGE_KERNEL, PAGE_KERNEL, PAGE_KERNEL };
	unsigned long pfn[3];
	u64 *va;
	int i;

	for (i = 0; i < 3; i++)
		pfn[i] = ram_pfn(test, 0x1000 + i);
	KUNIT_ASSERT_EQ(test, map_pfns(test, pfn, prot, 3, maps), 1);
	va = maps[0].addr;
	KUNIT_ASSERT_NOT_NULL(test, va);
	/* Not the direct map: a mapping of its own. */
	KUNIT_EXPECT_PTR_NE(test, (void *)va, page_address(pfn_to_page(pfn[0])));
	for (i = 0; i < 3; i++) {
		KUNIT_EXPECT_EQ(test, va[i * PG / 8], 0x1000 + i);
		KUNIT_EXPECT_EQ(test, va[(i + 1) * PG / 8 - 1], 0x1001 + i);
	}
	/* Across the page boundary, one store each side. */
	va[PG / 8 - 1] = 0xabcd;
	va[PG / 8] = 0xef01;
	KUNIT_EXPECT_EQ(test, *(u64 *)(page_address(pfn_to_page(pfn[0])) + PG - 8),
			0xabcd);
	KUNIT_EXPECT_EQ(test, *(u64 *)page_address(pfn_to_page(pfn[1])), 0xef01);
	kvm_memext_gpc_unmap(maps, 1);
	KUNIT_EXPECT_NULL(test, maps[0].addr);
}

static u32 hpet_capabilities(void __iomem *regs)
{
	return readl(regs);
}

static void map_io_only_uses_ioremap(struct kunit *test)
{
	struct kvm_memext_gpc_map *maps = new_maps(test);
	pgprot_t prot[1] = { pgprot_noncached(PAGE_KERNEL) };
	unsigned long pfn[1] = { HPET_PFN };
	u32 cap;

	require_hpet(test);
	KUNIT_ASSERT_EQ(test, map_pfns(test, pfn, prot, 1, maps), 1);
	KUNIT_ASSERT_NOT_NULL(test, maps[0].iomem);
	KUNIT_EXPECT_NULL(test, maps[0].addr);
	cap = hpet_capabilities(maps[0].iomem);
	/* Revision id in bits 0-7, vendor in 16-31: a device answered. */
	KUNIT_EXPECT_NE(test, cap & 0xff, 0);
	KUNIT_EXPECT_NE(test, cap, 0xffffffff);
	kvm_memext_gpc_unmap(maps, 1);
	KUNIT_EXPECT_NULL(test, maps[0].iomem);
}

/* A cache over RAM, IO, RAM, built by hand around real mappings. */
static void mixed_range_copies_through_split_path(struct kunit *test)
{
	struct kvm_memory_slot slot = {};
	pgprot_t prot[3] = { PAGE_KERNEL, pgprot_noncached(PAGE_KERNEL),
			     PAGE_KERNEL };
	struct kvm_memext_gpc *gpc;
	unsigned long pfn[3];
	u64 buf[3] = {}, want;
	u32 cap;
	int n;

	require_hpet(test);
	gpc = kunit_kzalloc(test, sizeof(*gpc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, gpc);
	pfn[0] = ram_pfn(test, 0x5100);
	pfn[1] = HPET_PFN;
	pfn[2] = ram_pfn(test, 0x5300);
	n = map_pfns(test, pfn, prot, 3, gpc->maps);
	KUNIT_ASSERT_EQ(test, n, 3);
	raw_spin_lock_init(&gpc->lock);
	gpc->nr_maps = n;
	gpc->gpa = 0x7000 + PG - 8;	/* the range starts 8 bytes before page 1 */
	gpc->len = 2 * PG + 8;
	gpc->nr_pages = 3;
	for (n = 0; n < 3; n++)
		gpc->memslot[n] = &slot;
	n = gpc->nr_maps;

	raw_spin_lock_irq(&gpc->lock);
	/* The last word of page 0 and the HPET's first register. */
	kvm_memext_gpc_copy_from(gpc, 0, buf, 12);
	/* The first word of page 2. */
	kvm_memext_gpc_copy_from(gpc, PG + 8, &buf[2], 8);
	/* Write into the RAM part only: never into a device. */
	want = 0x77;
	kvm_memext_gpc_copy_to(gpc, 0, &want, 8);
	raw_spin_unlock_irq(&gpc->lock);

	KUNIT_EXPECT_EQ(test, buf[0], 0x5101);
	cap = buf[1] & 0xffffffff;
	KUNIT_EXPECT_EQ(test, cap, hpet_capabilities(gpc->maps[1].iomem));
	KUNIT_EXPECT_EQ(test, buf[2], 0x5300);
	KUNIT_EXPECT_EQ(test, *(u64 *)(page_address(pfn_to_page(pfn[0])) + PG - 8),
			0x77);
	kvm_memext_gpc_unmap(gpc->maps, n);
}

static struct kunit_case kvm_memext_cache_cases[] = {
	KUNIT_CASE(span_counts_pages),
	KUNIT_CASE(span_rejects_bad_ranges),
	KUNIT_CASE(overlap_checks_every_page),
	KUNIT_CASE(generation_must_match),
	KUNIT_CASE(write_checks_range_and_flag),
	KUNIT_CASE(invalidation_marks_overlapping_caches),
	KUNIT_CASE(invalidation_tears_down_mappings),
	KUNIT_CASE(refresh_retries_across_invalidations),
	KUNIT_CASE(plan_splits_by_kind_type_and_contiguity),
	KUNIT_CASE(map_ram_only_is_contiguous),
	KUNIT_CASE(map_io_only_uses_ioremap),
	KUNIT_CASE(mixed_range_copies_through_split_path),
	{}
};

static struct kunit_suite kvm_memext_cache_suite = {
	.name = "kvm_memext_cache",
	.test_cases = kvm_memext_cache_cases,
};

kunit_test_suite(kvm_memext_cache_suite);
