// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for private memory (src/privmem.c, src/directmap.c): pages
 * are hidden behind their file's decoy when allocated and come back zeroed when
 * freed, 2 MiB chunks and their 4 KiB fallback, blocks a file may not
 * split, the accessible-range refcounts on ranges of any size and their
 * flush rate, poisoned pages, the hibernation gate, kernel writes through
 * the direct map of hidden pages, and access through the guest-page
 * cache's mappings without the direct map.
 */
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/suspend.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <asm/invpcid.h>

#include "kvm_memext.h"
#include "cache.h"
#include "directmap.h"
#include "privmem.h"

MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

#define CHUNK_BYTES	((u64)KVM_MEMEXT_CHUNK_PAGES << PAGE_SHIFT)

/* The file has no link: its last reference frees it with its pages. */
static void put_file(void *pm)
{
	iput(((struct kvm_memext_privmem *)pm)->inode);
}

/* A new file, put when the test ends, even on a failed assertion. */
static struct kvm_memext_privmem *new_file(struct kunit *test, u64 size,
					   u64 flags)
{
	struct kvm_memext_privmem *pm;

	if (!kvm_memext_privmem_available())
		kunit_skip(test, "private memory unavailable on this kernel");
	pm = kvm_memext_privmem_new(size, flags);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pm));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_file, pm), 0);
	return pm;
}

/* Put a file of new_file() now, for tests that look at what follows. */
static void destroy_file(struct kunit *test, struct kvm_memext_privmem *pm)
{
	kunit_release_action(test, put_file, pm);
}

static struct kvm_memext_privmem_chunk *populate(struct kunit *test,
						 struct kvm_memext_privmem *pm,
						 pgoff_t cidx)
{
	struct kvm_memext_privmem_chunk *chunk = NULL;
	int r;

	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_populate(pm, cidx, &chunk, NULL);
	mutex_unlock(&pm->lock);
	KUNIT_ASSERT_EQ(test, r, 0);
	return chunk;
}

/* Hides that wait for the budgets' next flush happen now. */
static void flush_hides(struct kvm_memext_privmem *pm)
{
	/*
	 * The work puts itself off while the budget is spent.  A flush can
	 * return false with the work pending again (seen on 7.3 when the
	 * last toggle's deferral raced the previous run): ask the work state.
	 */
	do {
		flush_delayed_work(&pm->hide_work);
	} while (delayed_work_pending(&pm->hide_work));
}

/* One SET_ACCESS, and its hides. */
static int set_access(struct kvm_memext_privmem *pm, pgoff_t start, pgoff_t end,
		      bool on)
{
	int r;

	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_set_access(pm, start, end, on);
	mutex_unlock(&pm->lock);
	flush_hides(pm);
	return r;
}

/* Pages of slots [from, to) whose direct-map entry satisfies @is. */
static unsigned int nr_where(struct kvm_memext_privmem_chunk *chunk,
			     unsigned int from, unsigned int to,
			     bool (*is)(struct page *page))
{
	unsigned int i, n = 0;

	for (i = from; i < to; i++)
		n += chunk->pages[i] && is(chunk->pages[i]);
	return n;
}

#define nr_present(chunk, from, to) \
	nr_where(chunk, from, to, kvm_memext_dmap_present)
#define nr_hidden(chunk, from, to) \
	nr_where(chunk, from, to, kvm_memext_dmap_hidden)

/* Write @byte to every page through a vmap: the direct map is not needed. */
static void fill(struct kunit *test, struct page **pages, unsigned int nr, u8 byte)
{
	void *p = vmap(pages, nr, VM_MAP, PAGE_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	memset(p, byte, (size_t)nr * PAGE_SIZE);
	vunmap(p);
}

/*
 * Free slots [lo, hi) of the chunk at page @base while holding extra
 * references, so the pages can be looked at after the file let go of them.
 */
static void free_and_check(struct kunit *test, struct kvm_memext_privmem *pm,
			   struct kvm_memext_privmem_chunk *chunk, pgoff_t base,
			   unsigned int lo, unsigned int hi)
{
	struct page **pages;
	unsigned int i;

	pages = kunit_kcalloc(test, hi - lo, sizeof(*pages), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pages);
	for (i = lo; i < hi; i++) {
		pages[i - lo] = chunk->pages[i];
		get_page(pages[i - lo]);
	}
	mutex_lock(&pm->lock);
	kvm_memext_privmem_free_range(pm, base + lo, base + hi);
	mutex_unlock(&pm->lock);
	for (i = 0; i < hi - lo; i++) {
		/* A page that is not back would read the decoy: stop instead. */
		if (!kvm_memext_dmap_present(pages[i])) {
			KUNIT_FAIL(test, "page %u not back in the direct map", lo + i);
			continue;	/* keep it: it cannot be released */
		}
		KUNIT_EXPECT_NULL(test, memchr_inv(page_address(pages[i]), 0, PAGE_SIZE));
		put_page(pages[i]);
	}
}

static void huge_chunk_leaves_direct_map(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, 2 * CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 1);
	unsigned int i;

	KUNIT_EXPECT_EQ(test, chunk->nr, KVM_MEMEXT_CHUNK_PAGES);
	/* Fragmentation may have forced the fallback: nothing to see then. */
	if (chunk->huge) {
		KUNIT_EXPECT_EQ(test, page_to_pfn(chunk->pages[0]) %
				KVM_MEMEXT_CHUNK_PAGES, 0);
		for (i = 1; i < KVM_MEMEXT_CHUNK_PAGES; i++)
			KUNIT_EXPECT_EQ(test, page_to_pfn(chunk->pages[i]),
					page_to_pfn(chunk->pages[0]) + i);
	}
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	/* Order-0 pages, each with its own reference, as KVM expects. */
	KUNIT_EXPECT_EQ(test, page_count(chunk->pages[5]), 1);
	KUNIT_EXPECT_NULL(test, xa_load(&pm->chunks, 0));
	destroy_file(test, pm);
}

static void free_zeroes_and_restores(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);

	fill(test, chunk->pages, KVM_MEMEXT_CHUNK_PAGES, 0xa5);
	/* A hole in the middle: the chunk is no longer one block. */
	free_and_check(test, pm, chunk, 0, 100, 200);
	KUNIT_EXPECT_FALSE(test, chunk->huge);
	KUNIT_EXPECT_EQ(test, chunk->nr, KVM_MEMEXT_CHUNK_PAGES - 100);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	/* Refilling the hole allocates 4 KiB pages, out of the direct map. */
	chunk = populate(test, pm, 0);
	KUNIT_EXPECT_EQ(test, chunk->nr, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	free_and_check(test, pm, chunk, 0, 0, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_NULL(test, xa_load(&pm->chunks, 0));
	destroy_file(test, pm);
}

static void *vmap_fails(struct page **pages, unsigned int nr)
{
	return NULL;
}

/*
 * Without vmap() the pages are zeroed through the direct map once shown:
 * only after a flush, for a CPU that read a hidden page still translates
 * its address to the decoy, and a zeroing through that stale entry would
 * leave the data to the page allocator (init_on_alloc=0 hands it out
 * as it is).
 */
static void free_zeroes_without_vmap(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	unsigned int i;

	fill(test, chunk->pages, KVM_MEMEXT_CHUNK_PAGES, 0x5a);
	/* Reads of the decoy: this CPU now caches those translations. */
	for (i = 0; i < KVM_MEMEXT_CHUNK_PAGES; i++)
		KUNIT_EXPECT_EQ(test, READ_ONCE(*(u8 *)page_address(chunk->pages[i])), 0);
	kunit_activate_static_stub(test, kvm_memext_privmem_vmap, vmap_fails);
	free_and_check(test, pm, chunk, 0, 0, KVM_MEMEXT_CHUNK_PAGES);
	kunit_deactivate_static_stub(test, kvm_memext_privmem_vmap);
	KUNIT_EXPECT_FALSE(test, kvm_memext_dmap_check_decoy(pm->decoy));
	destroy_file(test, pm);
}

static void no_huge_uses_small_pages(struct kunit *test)
{
	struct kvm_memext_privmem *pm =
		new_file(test, CHUNK_BYTES + 3 * PAGE_SIZE, KVM_MEMEXT_PRIVMEM_NO_HUGE);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);

	KUNIT_EXPECT_FALSE(test, chunk->huge);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	/* The tail chunk holds only the pages below the size. */
	chunk = populate(test, pm, 1);
	KUNIT_EXPECT_EQ(test, chunk->nr, 3);
	KUNIT_EXPECT_NULL(test, chunk->pages[3]);
	free_and_check(test, pm, chunk, KVM_MEMEXT_CHUNK_PAGES, 0, 3);
	destroy_file(test, pm);
}

/* A block zeroed before the lock becomes the chunk; none for a 4 KiB file. */
static void prealloc_block_becomes_chunk(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, 2 * CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = NULL;
	struct page *spare, *block;
	int r;

	block = kvm_memext_privmem_prealloc(pm, 1);
	if (!block)
		kunit_skip(test, "no free 2 MiB block");
	spare = block;
	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_populate(pm, 1, &chunk, &spare);
	mutex_unlock(&pm->lock);
	KUNIT_ASSERT_EQ(test, r, 0);
	KUNIT_EXPECT_NULL(test, spare);
	KUNIT_EXPECT_TRUE(test, chunk->huge);
	KUNIT_EXPECT_PTR_EQ(test, chunk->pages[0], block);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	/* The chunk exists now; beyond the size there is none to make. */
	KUNIT_EXPECT_NULL(test, kvm_memext_privmem_prealloc(pm, 1));
	KUNIT_EXPECT_NULL(test, kvm_memext_privmem_prealloc(pm, 2));
	destroy_file(test, pm);

	pm = new_file(test, CHUNK_BYTES, KVM_MEMEXT_PRIVMEM_NO_HUGE);
	KUNIT_EXPECT_NULL(test, kvm_memext_privmem_prealloc(pm, 0));
	destroy_file(test, pm);
}

static void access_counts_nest_and_overlap(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, 2 * CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);

	KUNIT_EXPECT_EQ(test, set_access(pm, 0, 4, true), 0);
	KUNIT_EXPECT_EQ(test, set_access(pm, 2, 6, true), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, 6), 6);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 6, KVM_MEMEXT_CHUNK_PAGES), 0);
	KUNIT_EXPECT_EQ(test, pm->nr_access, 6);
	KUNIT_EXPECT_EQ(test, pm->nr_ranges, 3);

	/* More drops than takes: refused, nothing changes. */
	KUNIT_EXPECT_EQ(test, set_access(pm, 0, 7, false), -EINVAL);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, 6), 6);

	KUNIT_EXPECT_EQ(test, set_access(pm, 0, 4, false), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, 2), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 2, 6), 4);
	/* Equal neighbours merge: [2, 6) is one range again. */
	KUNIT_EXPECT_EQ(test, pm->nr_ranges, 1);
	KUNIT_EXPECT_EQ(test, set_access(pm, 2, 6, false), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	KUNIT_EXPECT_EQ(test, pm->nr_access, 0);
	KUNIT_EXPECT_EQ(test, pm->nr_ranges, 0);

	/* Counts taken before allocation keep those pages in. */
	KUNIT_EXPECT_EQ(test, set_access(pm, 600, 610, true), 0);
	chunk = populate(test, pm, 1);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 600 - 512, 610 - 512), 10);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 10);
	/* Dropped and taken again: pages allocated shown hide as others. */
	KUNIT_EXPECT_EQ(test, set_access(pm, 600, 610, false), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, set_access(pm, 600, 610, true), 0);
	/* Freed with a count: restored, zeroed, released all the same. */
	fill(test, &chunk->pages[88], 10, 0x3c);
	free_and_check(test, pm, chunk, KVM_MEMEXT_CHUNK_PAGES, 0,
		       KVM_MEMEXT_CHUNK_PAGES);
	destroy_file(test, pm);
}

/*
 * Ranges are counted as ranges: a file of 2^62 bytes made accessible
 * whole and back costs what its two chunks cost, and so does truncating
 * it.  Counted per page, as before, the first call never returns.
 */
static void huge_ranges_cost_what_exists(struct kunit *test)
{
	pgoff_t end = MAX_LFS_FILESIZE >> PAGE_SHIFT, far = end / 2;
	struct kvm_memext_privmem *pm = new_file(test, end << PAGE_SHIFT, 0);
	struct kvm_memext_privmem_chunk *c0 = populate(test, pm, 0);
	struct kvm_memext_privmem_chunk *c1 =
		populate(test, pm, far >> KVM_MEMEXT_CHUNK_ORDER);
	unsigned long t = jiffies;

	KUNIT_EXPECT_EQ(test, set_access(pm, 0, end, true), 0);
	KUNIT_EXPECT_EQ(test, pm->nr_access, end);
	KUNIT_EXPECT_EQ(test, pm->nr_ranges, 1);
	KUNIT_EXPECT_EQ(test, nr_present(c0, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, nr_present(c1, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, set_access(pm, 1, end - 1, true), 0);
	KUNIT_EXPECT_EQ(test, pm->nr_ranges, 3);
	KUNIT_EXPECT_EQ(test, set_access(pm, 0, end, false), 0);
	KUNIT_EXPECT_EQ(test, set_access(pm, 1, end - 1, false), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(c1, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, set_access(pm, far, end, true), 0);

	/* Truncate to one page: what ftruncate() does. */
	mutex_lock(&pm->lock);
	kvm_memext_privmem_free_range(pm, 1, end);
	kvm_memext_privmem_drop_access(pm, 1);
	mutex_unlock(&pm->lock);
	KUNIT_EXPECT_EQ(test, pm->nr_access, 0);
	KUNIT_EXPECT_NULL(test, xa_load(&pm->chunks, far >> KVM_MEMEXT_CHUNK_ORDER));
	kunit_info(test, "2^50-page ranges: %u ms\n", jiffies_to_msecs(jiffies - t));
	KUNIT_EXPECT_LT(test, jiffies_to_msecs(jiffies - t), 10000);
	destroy_file(test, pm);
}

/* Stands for an owner's mm: the flush budgets only compare it. */
static struct mm_struct toggles_owner;

/*
 * Toggling one page costs at most the owner's flush budget: a drop right
 * after a flush waits for the next allowed one, a take meanwhile finds
 * the page still shown.  One flush per toggle, as before, fails (a toggle
 * takes well under the 4 ms that would make them equal).
 */
static void access_toggles_coalesce(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	long flushes = atomic_long_read(&kvm_memext_privmem_stats.tlb_flushes);
	unsigned long t = jiffies, ms;
	unsigned int i, toggles = 2000;
	long spent;

	unsigned int interval = jiffies_to_msecs(max(1, HZ / 100));
	bool shown = true;
	int r = 0;

	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_tenant_set(pm, &toggles_owner);
	mutex_unlock(&pm->lock);
	KUNIT_ASSERT_EQ(test, r, 0);

	for (i = 0; i < toggles && !r && shown; i++) {
		mutex_lock(&pm->lock);
		r = kvm_memext_privmem_set_access(pm, 3, 4, !(i & 1));
		shown = (i & 1) || kvm_memext_dmap_present(chunk->pages[3]);
		mutex_unlock(&pm->lock);
	}
	KUNIT_EXPECT_EQ(test, r, 0);
	KUNIT_EXPECT_TRUE(test, shown);
	flush_hides(pm);
	ms = jiffies_to_msecs(jiffies - t);
	spent = atomic_long_read(&kvm_memext_privmem_stats.tlb_flushes) - flushes;
	kunit_info(test, "%u toggles: %ld flushes in %lu ms\n", toggles, spent, ms);
	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_hidden(chunk->pages[3]));
	/*
	 * The default rate, 100 a second: flushes an interval apart, give or
	 * take a jiffy, and the edges.  A flush per toggle is far above.
	 */
	KUNIT_EXPECT_LE(test, spent, 2 * (long)(ms / interval) + 4);
	destroy_file(test, pm);
}

/*
 * A file that may not split the direct map keeps each chunk one block:
 * the chunk at the end of the file too, an accessible page shows its whole
 * block, a hole in part of the block is zeroed in place.
 */
static void unsplit_file_keeps_blocks(struct kunit *test)
{
	struct kvm_memext_privmem *pm =
		new_file(test, CHUNK_BYTES + 3 * PAGE_SIZE, 0);
	struct kvm_memext_privmem_chunk *chunk = NULL;
	long pages = atomic_long_read(&kvm_memext_privmem_stats.pages);
	unsigned int level, level0;
	int r;

	pm->may_split = false;
	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_populate(pm, 1, &chunk, NULL);
	mutex_unlock(&pm->lock);
	if (r == -EAGAIN)
		kunit_skip(test, "no free 2 MiB block");
	KUNIT_ASSERT_EQ(test, r, 0);
	KUNIT_EXPECT_TRUE(test, chunk->huge);
	KUNIT_EXPECT_EQ(test, chunk->nr, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.pages) - pages,
			KVM_MEMEXT_CHUNK_PAGES);
	/*
	 * The block may lie where an earlier user split the direct map (the
	 * kernel does not merge it back): the file must not split it further.
	 */
	kvm_memext_dmap_pfn(chunk->pages[1], &level0);
	if (level0 == PG_LEVEL_4K)
		kunit_info(test, "block in an already split part of the direct map\n");

	KUNIT_EXPECT_EQ(test, set_access(pm, KVM_MEMEXT_CHUNK_PAGES + 1,
					 KVM_MEMEXT_CHUNK_PAGES + 2, true), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	kvm_memext_dmap_pfn(chunk->pages[1], &level);
	KUNIT_EXPECT_EQ(test, level, level0);
	KUNIT_EXPECT_EQ(test, set_access(pm, KVM_MEMEXT_CHUNK_PAGES + 1,
					 KVM_MEMEXT_CHUNK_PAGES + 2, false), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);

	fill(test, chunk->pages, KVM_MEMEXT_CHUNK_PAGES, 0x77);
	mutex_lock(&pm->lock);
	kvm_memext_privmem_free_range(pm, KVM_MEMEXT_CHUNK_PAGES + 1,
				      KVM_MEMEXT_CHUNK_PAGES + 2);
	mutex_unlock(&pm->lock);
	/* Stop here otherwise: the pages below are gone. */
	KUNIT_ASSERT_TRUE(test, chunk->huge);
	KUNIT_ASSERT_EQ(test, chunk->nr, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	kvm_memext_dmap_pfn(chunk->pages[1], &level);
	KUNIT_EXPECT_EQ(test, level, level0);
	{
		u8 *p = vmap(chunk->pages, 3, VM_MAP, PAGE_KERNEL);

		KUNIT_ASSERT_NOT_NULL(test, p);
		KUNIT_EXPECT_EQ(test, p[PAGE_SIZE - 1], 0x77);
		KUNIT_EXPECT_NULL(test, memchr_inv(p + PAGE_SIZE, 0, PAGE_SIZE));
		KUNIT_EXPECT_EQ(test, p[2 * PAGE_SIZE], 0x77);
		vunmap(p);
	}
	free_and_check(test, pm, chunk, KVM_MEMEXT_CHUNK_PAGES, 0,
		       KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.pages), pages);
	destroy_file(test, pm);
}

/*
 * A poisoned page is never shown again nor released: it stays behind the
 * decoy, counted as leaked and still under the ceiling.  (Put back by
 * hand at the end, the poison being the test's own.)
 */
static void poisoned_page_stays_hidden(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	long pages = atomic_long_read(&kvm_memext_privmem_stats.pages);
	long leaked = atomic_long_read(&kvm_memext_privmem_stats.leaked);
	struct page *bad = chunk->pages[5], *decoy = pm->decoy;

	if (!IS_ENABLED(CONFIG_MEMORY_FAILURE))
		kunit_skip(test, "no CONFIG_MEMORY_FAILURE");
	SetPageHWPoison(bad);
	KUNIT_EXPECT_EQ(test, set_access(pm, 4, 7, true), 0);
	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_hidden(bad));
	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_present(chunk->pages[4]));
	KUNIT_EXPECT_EQ(test, set_access(pm, 4, 7, false), 0);
	free_and_check(test, pm, chunk, 0, 6, KVM_MEMEXT_CHUNK_PAGES);
	mutex_lock(&pm->lock);
	kvm_memext_privmem_free_range(pm, 0, 6);
	mutex_unlock(&pm->lock);
	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_hidden(bad));
	/* Released after all: no hand-made put-back below. */
	KUNIT_ASSERT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.leaked),
			leaked + 1);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.pages),
			pages - KVM_MEMEXT_CHUNK_PAGES + 1);
	destroy_file(test, pm);
	/* The decoy the poisoned page maps is kept with it. */
	KUNIT_EXPECT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.leaked),
			leaked + 1 + KVM_MEMEXT_CHUNK_PAGES);

	ClearPageHWPoison(bad);
	KUNIT_ASSERT_EQ(test, kvm_memext_dmap_show_page(bad, decoy), 0);
	kvm_memext_dmap_flush();
	put_page(bad);
	kvm_memext_dmap_decoy_free(decoy);
	atomic_long_dec(&kvm_memext_privmem_stats.decoys);
	atomic_long_dec(&kvm_memext_privmem_stats.pages);
	atomic_long_sub(1 + KVM_MEMEXT_CHUNK_PAGES, &kvm_memext_privmem_stats.leaked);
	atomic_long_dec(&kvm_memext_privmem_stats.poisoned);
}

/*
 * Hibernation is refused while a file exists, and no file can be made
 * once it is being prepared: nothing allocated after the check reaches
 * the image.  A notifier that only counts pages lets the file through.
 */
static void hibernation_gate(struct kunit *test)
{
	struct kvm_memext_privmem *pm;
	int r;

	if (!kvm_memext_privmem_available())
		kunit_skip(test, "private memory unavailable on this kernel");
	if (atomic_long_read(&kvm_memext_privmem_stats.files))
		kunit_skip(test, "private-memory files exist");
	KUNIT_ASSERT_EQ(test, kvm_memext_privmem_suspend_notify(NULL, PM_HIBERNATION_PREPARE,
								NULL), NOTIFY_DONE);
	pm = kvm_memext_privmem_new(CHUNK_BYTES, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(pm), -EBUSY);
	if (!IS_ERR(pm))
		put_file(pm);
	kvm_memext_privmem_suspend_notify(NULL, PM_POST_HIBERNATION, NULL);

	pm = new_file(test, CHUNK_BYTES, 0);
	r = kvm_memext_privmem_suspend_notify(NULL, PM_HIBERNATION_PREPARE, NULL);
	KUNIT_EXPECT_EQ(test, notifier_to_errno(r), -EBUSY);
	destroy_file(test, pm);
	KUNIT_EXPECT_EQ(test, kvm_memext_privmem_suspend_notify(NULL, PM_HIBERNATION_PREPARE,
								NULL), NOTIFY_DONE);
	kvm_memext_privmem_suspend_notify(NULL, PM_POST_HIBERNATION, NULL);
	pm = new_file(test, CHUNK_BYTES, 0);
	destroy_file(test, pm);
}

/*
 * A page of a hidden block made accessible on its own has CPA split the
 * block's entry; hidden again, and the block freed, every page comes back
 * present and writable.
 */
static void split_block_goes_back_writable(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	unsigned int level;

	KUNIT_EXPECT_EQ(test, set_access(pm, 3, 4, true), 0);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 1);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES - 1);
	KUNIT_EXPECT_EQ(test, kvm_memext_dmap_pfn(chunk->pages[3], &level),
			page_to_pfn(chunk->pages[3]));
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_4K);
	KUNIT_EXPECT_EQ(test, set_access(pm, 3, 4, false), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	free_and_check(test, pm, chunk, 0, 0, KVM_MEMEXT_CHUNK_PAGES);
	destroy_file(test, pm);
}

/*
 * A hidden block keeps (at most) the 2 MiB entry it had: a 1 GiB entry is
 * split once into 2 MiB ones, never into 4 KiB ones, and the one entry
 * maps the decoy.  Showing it leaves the same entry mapping the block.
 */
static void block_keeps_its_entry(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	DECLARE_BITMAP(todo, KVM_MEMEXT_CHUNK_PAGES);
	unsigned int level, level5;
	unsigned long pfn;

	if (!chunk->huge)
		kunit_skip(test, "no free 2 MiB block");
	pfn = kvm_memext_dmap_pfn(chunk->pages[0], &level);
	kvm_memext_dmap_pfn(chunk->pages[5], &level5);
	kunit_info(test, "hidden block: direct-map level %u\n", level);
	KUNIT_EXPECT_NE(test, level, PG_LEVEL_1G);
	KUNIT_EXPECT_EQ(test, level5, level);
	KUNIT_EXPECT_NE(test, pfn, page_to_pfn(chunk->pages[0]));
	KUNIT_EXPECT_EQ(test, kvm_memext_dmap_pfn(chunk->pages[5], NULL), pfn + 5);

	/* Shown and hidden again in place: no split, one flush each. */
	mutex_lock(&pm->lock);
	bitmap_fill(todo, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, kvm_memext_dmap_repoint(chunk->pages, KVM_MEMEXT_CHUNK_PAGES,
						      todo, pm->decoy, false, true), 0);
	kvm_memext_dmap_flush();
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	kvm_memext_dmap_pfn(chunk->pages[0], &level5);
	KUNIT_EXPECT_EQ(test, level5, level);
	bitmap_fill(todo, KVM_MEMEXT_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, kvm_memext_dmap_repoint(chunk->pages, KVM_MEMEXT_CHUNK_PAGES,
						      todo, pm->decoy, true, true), 0);
	kvm_memext_dmap_flush();
	mutex_unlock(&pm->lock);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	free_and_check(test, pm, chunk, 0, 0, KVM_MEMEXT_CHUNK_PAGES);
	destroy_file(test, pm);
}

/*
 * What KVM's kmap() of kvm-clock does: write through the direct-map
 * address of a hidden page.  No fault; the page keeps its contents, the
 * decoy took the write, and the canary counts it.
 */
static void write_through_direct_map(struct kunit *test, u64 flags)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, flags);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	long before;
	u8 *p;

	fill(test, &chunk->pages[9], 1, 0x5a);
	kvm_memext_dmap_check_decoy(pm->decoy);
	before = atomic_long_read(&kvm_memext_privmem_stats.decoy_writes);

	p = page_address(chunk->pages[9]);
	WRITE_ONCE(p[100], 0x11);
	KUNIT_EXPECT_EQ(test, READ_ONCE(p[100]), 0x11);	/* the decoy's byte */
	KUNIT_EXPECT_EQ(test, READ_ONCE(p[101]), 0);

	p = vmap(&chunk->pages[9], 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_EXPECT_EQ(test, p[100], 0x5a);
	KUNIT_EXPECT_NULL(test, memchr_inv(p, 0x5a, PAGE_SIZE));
	vunmap(p);

	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_check_decoy(pm->decoy));
	KUNIT_EXPECT_EQ(test, atomic_long_read(&kvm_memext_privmem_stats.decoy_writes),
			before + 1);
	KUNIT_EXPECT_FALSE(test, kvm_memext_dmap_check_decoy(pm->decoy));
	free_and_check(test, pm, chunk, 0, 0, KVM_MEMEXT_CHUNK_PAGES);
	destroy_file(test, pm);
}

static void direct_map_write_huge(struct kunit *test)
{
	write_through_direct_map(test, 0);
}

static void direct_map_write_small(struct kunit *test)
{
	write_through_direct_map(test, KVM_MEMEXT_PRIVMEM_NO_HUGE);
}

/*
 * Each way of flushing drops a stale translation: read a page through the
 * direct map (the TLB now holds it), point its entry at the decoy without
 * a flush, flush this CPU only, and the next read must see the decoy.
 * The read before the flush shows what a missing flush would leave.
 */
static void flush_drops_stale_translation(struct kunit *test)
{
	struct page *page, *decoy;
	unsigned int way;
	u8 *p, stale;

	if (!kvm_memext_privmem_available())
		kunit_skip(test, "private memory unavailable on this kernel");
	decoy = kvm_memext_dmap_decoy_alloc(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, decoy);
	page = alloc_page(GFP_KERNEL);
	if (!page)
		kvm_memext_dmap_decoy_free(decoy);
	KUNIT_ASSERT_NOT_NULL(test, page);
	p = page_address(page);
	/* Have CPA split the entry now: it may sleep, the loop may not. */
	KUNIT_ASSERT_EQ(test, kvm_memext_dmap_hide_page(page, decoy), 0);
	KUNIT_ASSERT_EQ(test, kvm_memext_dmap_show_page(page, decoy), 0);
	kvm_memext_dmap_flush();
	for (way = 0; way < 2; way++) {
		if (way == 1 && !boot_cpu_has(X86_FEATURE_INVPCID))
			break;
		kvm_memext_dmap_check_decoy(decoy);
		WRITE_ONCE(p[0], 0xa5);
		preempt_disable();
		KUNIT_EXPECT_EQ(test, READ_ONCE(p[0]), 0xa5);
		KUNIT_EXPECT_EQ(test, kvm_memext_dmap_hide_page(page, decoy), 0);
		stale = READ_ONCE(p[0]);
		local_irq_disable();
		if (way == 0)
			kvm_memext_flush_tlb_global();
		else
			invpcid_flush_all();
		local_irq_enable();
		KUNIT_EXPECT_EQ(test, READ_ONCE(p[0]), 0);
		preempt_enable();
		kunit_info(test, "%s: before the flush the direct map read %#x (%s)\n",
			   way ? "INVPCID" : "fallback", stale,
			   stale == 0xa5 ? "stale" : "already the decoy");
		KUNIT_EXPECT_EQ(test, kvm_memext_dmap_show_page(page, decoy), 0);
		kvm_memext_dmap_flush();
		KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_present(page));
	}
	__free_page(page);
	kvm_memext_dmap_decoy_free(decoy);
}

/*
 * Each file hides behind a decoy of its own: what a kernel write through
 * one file's hidden page leaves (KVM's kvm-clock or nested state, through
 * kmap()) is never read through another file's hidden page at the same
 * offset.  With one decoy for all, the second read returns the first write.
 */
static void decoy_per_file(struct kunit *test)
{
	struct kvm_memext_privmem *a = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem *b = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *ca = populate(test, a, 0);
	struct kvm_memext_privmem_chunk *cb = populate(test, b, 0);
	u8 *pa = page_address(ca->pages[9]), *pb = page_address(cb->pages[9]);

	KUNIT_ASSERT_TRUE(test, a->decoy && b->decoy && a->decoy != b->decoy);
	KUNIT_EXPECT_NE(test, kvm_memext_dmap_pfn(ca->pages[9], NULL),
			kvm_memext_dmap_pfn(cb->pages[9], NULL));
	WRITE_ONCE(pa[100], 0x11);
	KUNIT_EXPECT_EQ(test, READ_ONCE(pa[100]), 0x11);
	KUNIT_EXPECT_EQ(test, READ_ONCE(pb[100]), 0);
	KUNIT_EXPECT_TRUE(test, kvm_memext_dmap_check_decoy(a->decoy));
	KUNIT_EXPECT_FALSE(test, kvm_memext_dmap_check_decoy(b->decoy));
	destroy_file(test, b);
	destroy_file(test, a);
}

/* The guest-page cache maps privmem pages without the direct map. */
static void cache_maps_removed_pages(struct kunit *test)
{
	struct kvm_memext_privmem *pm = new_file(test, CHUNK_BYTES, 0);
	struct kvm_memext_privmem_chunk *chunk = populate(test, pm, 0);
	struct kvm_memext_gpc_map maps[KVM_MEMEXT_GPC_MAX_PAGES];
	unsigned long pfn[2];
	pgprot_t prot[2] = { PAGE_KERNEL, PAGE_KERNEL };
	int n;
	u8 *p;

	fill(test, &chunk->pages[7], 2, 0x42);
	pfn[0] = page_to_pfn(chunk->pages[7]);
	pfn[1] = page_to_pfn(chunk->pages[8]);
	n = kvm_memext_gpc_map_pfns(pfn, prot, 2, maps);
	KUNIT_ASSERT_EQ(test, n, 1);
	p = maps[0].addr;
	KUNIT_EXPECT_EQ(test, p[PAGE_SIZE - 1], 0x42);
	p[PAGE_SIZE - 1] = 0x43;
	p[PAGE_SIZE] = 0x44;
	kvm_memext_gpc_unmap(maps, n);
	KUNIT_EXPECT_EQ(test, nr_present(chunk, 0, KVM_MEMEXT_CHUNK_PAGES), 0);
	KUNIT_EXPECT_EQ(test, nr_hidden(chunk, 0, KVM_MEMEXT_CHUNK_PAGES),
			KVM_MEMEXT_CHUNK_PAGES);
	destroy_file(test, pm);
}

static struct kunit_case kvm_memext_privmem_cases[] = {
	KUNIT_CASE(huge_chunk_leaves_direct_map),
	KUNIT_CASE(free_zeroes_and_restores),
	KUNIT_CASE(free_zeroes_without_vmap),
	KUNIT_CASE(no_huge_uses_small_pages),
	KUNIT_CASE(prealloc_block_becomes_chunk),
	KUNIT_CASE(access_counts_nest_and_overlap),
	KUNIT_CASE(huge_ranges_cost_what_exists),
	KUNIT_CASE(access_toggles_coalesce),
	KUNIT_CASE(unsplit_file_keeps_blocks),
	KUNIT_CASE(poisoned_page_stays_hidden),
	KUNIT_CASE(hibernation_gate),
	KUNIT_CASE(split_block_goes_back_writable),
	KUNIT_CASE(block_keeps_its_entry),
	KUNIT_CASE(direct_map_write_huge),
	KUNIT_CASE(direct_map_write_small),
	KUNIT_CASE(flush_drops_stale_translation),
	KUNIT_CASE(decoy_per_file),
	KUNIT_CASE(cache_maps_removed_pages),
	{}
};

static struct kunit_suite kvm_memext_privmem_suite = {
	.name = "kvm_memext_privmem",
	.test_cases = kvm_memext_privmem_cases,
};

kunit_test_suite(kvm_memext_privmem_suite);
