// SPDX-License-Identifier: GPL-2.0-only
/*
 * Statistics of a VM handle, in KVM's binary stats format and in debugfs.
 *
 * KVM_MEMEXT_GET_STATS_FD returns a file laid out exactly as KVM's own
 * stats fd (Documentation/virt/kvm/api.rst, KVM_GET_STATS_FD): a header, an
 * id string, descriptors, then the data, so that a reader written for KVM
 * (kvm_stat, QEMU's query-stats) reads it unchanged.  KVM's own reader is
 * not exported, and 6.1's descriptor struct has a flexible name, so the
 * layout is built here.
 *
 * The same values are text files in debugfs, kvm_memext/<pid>-<fd>/, one
 * per statistic, as KVM's kvm/<pid>-<fd>/; tools/kvm_memext_stat reads them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "kvm_memext.h"
#include "privmem.h"
#include "stats.h"

/* struct kvm_stats_desc with its name, as KVM's reader expects it. */
struct stats_desc {
	__u32 flags;
	__s16 exponent;
	__u16 size;
	__u32 offset;
	__u32 bucket_size;
	char name[KVM_STATS_NAME_SIZE];
};

/* What the file holds besides the descriptors and the data. */
struct stats_head {
	struct kvm_stats_header header;
	char id[KVM_STATS_NAME_SIZE];
};

#define STAT(_name, _stat, _type, _unit, _exp, _size)			\
	{								\
		.name = _name, .stat = KVM_MEMEXT_STAT_##_stat,		\
		.flags = KVM_STATS_TYPE_##_type | KVM_STATS_UNIT_##_unit | \
			 KVM_STATS_BASE_POW10,				\
		.exponent = _exp, .size = _size,			\
	}
#define COUNTER(_name, _stat)	STAT(_name, _stat, CUMULATIVE, NONE, 0, 1)
#define VALUE(_name, _stat)	STAT(_name, _stat, INSTANT, NONE, 0, 1)

static const struct stats_entry {
	const char *name;
	enum kvm_memext_stat stat;
	u32 flags;
	s16 exponent;
	u16 size;
} stats_table[] = {
	COUNTER("batches", BATCHES),
	COUNTER("batch_entries", BATCH_ENTRIES),
	COUNTER("batch_failures", BATCH_FAILURES),
	COUNTER("batch_rollbacks", BATCH_ROLLBACKS),
	COUNTER("batch_timeouts", BATCH_TIMEOUTS),
	COUNTER("batch_vcpus_parked", BATCH_VCPUS_PARKED),
	STAT("batch_park_time", BATCH_PARK_NS, CUMULATIVE, SECONDS, -9, 1),
	STAT("batch_blackout_max", BATCH_BLACKOUT_MAX_NS, PEAK, SECONDS, -9, 1),
	STAT("batch_blackout_hist", BATCH_BLACKOUT_HIST, LOG_HIST, SECONDS, -6,
	     KVM_MEMEXT_HIST_BUCKETS),
	VALUE("runstate_areas", RUNSTATE_AREAS),
	COUNTER("runstate_writes", RUNSTATE_WRITES),
	COUNTER("runstate_pending", RUNSTATE_PENDING),
	VALUE("caches", CACHES),
	COUNTER("cache_refreshes", CACHE_REFRESHES),
	COUNTER("cache_invalidations", CACHE_INVALIDATIONS),
	VALUE("privmem_files", PRIVMEM_FILES),
	VALUE("privmem_pages", PRIVMEM_PAGES),
	VALUE("privmem_accessible_pages", PRIVMEM_ACCESSIBLE),
	COUNTER("privmem_faults", PRIVMEM_FAULTS),
	COUNTER("privmem_pages_shown", PRIVMEM_SHOWN),
	COUNTER("privmem_pages_hidden", PRIVMEM_HIDDEN),
	COUNTER("privmem_tlb_flushes", PRIVMEM_FLUSHES),
	COUNTER("privmem_throttled", PRIVMEM_THROTTLED),
	COUNTER("privmem_clock_shows", PRIVMEM_CLOCK_SHOWS),
};

#define NR_DESC	ARRAY_SIZE(stats_table)

static struct dentry *stats_debugfs;

/**
 * kvm_memext_stat_peak() - raise a peak statistic to @val
 * @vm: the handle
 * @stat: a peak statistic
 * @val: a new sample
 */
void kvm_memext_stat_peak(struct kvm_memext_vm *vm, enum kvm_memext_stat stat,
			  u64 val)
{
	atomic64_t *v = &vm->stats->stat[stat];
	s64 old = atomic64_read(v);

	while ((u64)old < val && !atomic64_try_cmpxchg(v, &old, val))
		;
}

/**
 * kvm_memext_stat_hist() - count @val in a log2 histogram
 * @vm: the handle
 * @stat: the histogram's first bucket
 * @val: a sample, in the histogram's unit
 *
 * As KVM's: bucket 0 counts 0, bucket i counts [2^(i-1), 2^i), the last
 * one everything above.
 */
void kvm_memext_stat_hist(struct kvm_memext_vm *vm, enum kvm_memext_stat stat,
			  u64 val)
{
	unsigned int i = min_t(unsigned int, fls64(val),
			       KVM_MEMEXT_HIST_BUCKETS - 1);

	atomic64_inc(&vm->stats->stat[stat + i]);
}

/* Every value of every statistic, by enum kvm_memext_stat. */
static void stats_snapshot(struct kvm_memext_vm_stats *st, u64 *data)
{
	unsigned int i;

	for (i = 0; i < KVM_MEMEXT_NR_VM_STATS; i++)
		data[i] = atomic64_read(&st->stat[i]);
	BUILD_BUG_ON(KVM_MEMEXT_STAT_PRIVMEM_FILES + 1 + KVM_MEMEXT_NR_PM_STATS !=
		     KVM_MEMEXT_NR_STATS);
	BUILD_BUG_ON(KVM_MEMEXT_STAT_PRIVMEM_FILES + 1 + KVM_MEMEXT_PM_STAT_CLOCK_SHOWS !=
		     KVM_MEMEXT_STAT_PRIVMEM_CLOCK_SHOWS);
	kvm_memext_privmem_stats_sum(st->kvm->mm,
				     &data[KVM_MEMEXT_STAT_PRIVMEM_FILES]);
}

static u64 stats_data_size(void)
{
	u64 size = 0;
	unsigned int i;

	for (i = 0; i < NR_DESC; i++)
		size += stats_table[i].size * sizeof(u64);
	return size;
}

static ssize_t stats_read(struct file *file, char __user *buf, size_t len,
			  loff_t *pos)
{
	struct kvm_memext_vm_stats *st = file->private_data;
	size_t desc_off = sizeof(struct stats_head);
	size_t data_off = desc_off + NR_DESC * sizeof(struct stats_desc);
	size_t size = data_off + stats_data_size();
	u64 values[KVM_MEMEXT_NR_STATS];
	struct stats_desc *desc;
	struct stats_head *head;
	unsigned int i, off = 0;
	u64 *data;
	void *img;
	ssize_t r;

	if (*pos >= size)
		return 0;
	img = kzalloc(size, GFP_KERNEL_ACCOUNT);
	if (!img)
		return -ENOMEM;
	head = img;
	head->header = (struct kvm_stats_header) {
		.name_size = KVM_STATS_NAME_SIZE,
		.num_desc = NR_DESC,
		.id_offset = offsetof(struct stats_head, id),
		.desc_offset = desc_off,
		.data_offset = data_off,
	};
	snprintf(head->id, sizeof(head->id), "kvm_memext-%d-%d", st->pid, st->fd);

	stats_snapshot(st, values);
	desc = img + desc_off;
	data = img + data_off;
	for (i = 0; i < NR_DESC; i++) {
		const struct stats_entry *e = &stats_table[i];

		desc[i] = (struct stats_desc) {
			.flags = e->flags,
			.exponent = e->exponent,
			.size = e->size,
			.offset = off * sizeof(u64),
		};
		strscpy(desc[i].name, e->name, sizeof(desc[i].name));
		memcpy(&data[off], &values[e->stat], e->size * sizeof(u64));
		off += e->size;
	}
	r = simple_read_from_buffer(buf, len, pos, img, size);
	kfree(img);
	return r;
}

static void stats_put(struct kvm_memext_vm_stats *st)
{
	if (refcount_dec_and_test(&st->refs)) {
		kfree(st->files);
		kfree(st);
	}
}

static int stats_release(struct inode *inode, struct file *file)
{
	struct kvm_memext_vm_stats *st = file->private_data;

	fput(st->vm_file);
	stats_put(st);
	return 0;
}

static const struct file_operations kvm_memext_stats_fops = {
	.owner		= THIS_MODULE,
	.read		= stats_read,
	.release	= stats_release,
	.llseek		= noop_llseek,
};

/**
 * kvm_memext_stats_fd() - the KVM_MEMEXT_GET_STATS_FD ioctl
 * @vm: the VM handle
 *
 * The file holds the statistics and the VM, not the handle.
 *
 * Return: a new read-only file descriptor (O_CLOEXEC), or a negative errno.
 */
int kvm_memext_stats_fd(struct kvm_memext_vm *vm)
{
	struct kvm_memext_vm_stats *st = vm->stats;
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	file = anon_inode_getfile("kvm_memext-stats", &kvm_memext_stats_fops,
				  st, O_RDONLY);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	/* Read at any offset (pread()), as KVM's. */
	file->f_mode |= FMODE_PREAD;
	refcount_inc(&st->refs);
	get_file(st->vm_file);
	fd_install(fd, file);
	return fd;
}

/* One debugfs file: the handle's statistics and which one it shows. */
struct kvm_memext_stats_file {
	struct kvm_memext_vm_stats *st;
	const struct stats_entry *entry;
};

static int stats_show(struct seq_file *m, void *unused)
{
	const struct kvm_memext_stats_file *f = m->private;
	u64 values[KVM_MEMEXT_NR_STATS];
	unsigned int i;

	stats_snapshot(f->st, values);
	for (i = 0; i < f->entry->size; i++)
		seq_printf(m, "%s%llu", i ? " " : "", values[f->entry->stat + i]);
	seq_putc(m, '\n');
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

/**
 * kvm_memext_stats_init_vm() - the statistics of a new VM handle
 * @vm: the handle's state, not yet visible to anyone
 *
 * Return: 0 or -ENOMEM.
 */
int kvm_memext_stats_init_vm(struct kvm_memext_vm *vm)
{
	vm->stats = kzalloc_obj(*vm->stats, GFP_KERNEL_ACCOUNT);
	if (!vm->stats)
		return -ENOMEM;
	refcount_set(&vm->stats->refs, 1);
	return 0;
}

/**
 * kvm_memext_stats_bind() - name the handle's statistics, make its directory
 * @vm: the new handle, bound to its VM
 * @fd: its file descriptor in the binding process
 *
 * The debugfs directory is named "<pid>-<fd>" as KVM's.  Best effort: a
 * handle works without it (e.g. a name still taken by an earlier handle
 * whose file lives on elsewhere).
 */
void kvm_memext_stats_bind(struct kvm_memext_vm *vm, int fd)
{
	struct kvm_memext_vm_stats *st = vm->stats;
	char name[24];
	unsigned int i;

	st->vm_file = vm->vm_file;
	st->kvm = vm->kvm;
	st->pid = task_tgid_nr(current);
	st->fd = fd;
	if (IS_ERR_OR_NULL(stats_debugfs))
		return;
	st->files = kcalloc(NR_DESC, sizeof(*st->files), GFP_KERNEL_ACCOUNT);
	if (!st->files)
		return;
	snprintf(name, sizeof(name), "%d-%d", st->pid, st->fd);
	st->debugfs = debugfs_create_dir(name, stats_debugfs);
	if (IS_ERR(st->debugfs))
		return;
	for (i = 0; i < NR_DESC; i++) {
		st->files[i] = (struct kvm_memext_stats_file) {
			.st = st, .entry = &stats_table[i],
		};
		debugfs_create_file(stats_table[i].name, 0444, st->debugfs,
				    &st->files[i], &stats_fops);
	}
}

/**
 * kvm_memext_stats_release_vm() - a handle is released
 * @vm: the handle; its statistics may not be set up
 *
 * Removes the debugfs directory, waiting for its readers; stats files
 * keep the counters until they are closed.
 */
void kvm_memext_stats_release_vm(struct kvm_memext_vm *vm)
{
	struct kvm_memext_vm_stats *st = vm->stats;

	if (!st)
		return;
	if (!IS_ERR_OR_NULL(st->debugfs))
		debugfs_remove_recursive(st->debugfs);
	st->debugfs = NULL;
	stats_put(st);
}

/**
 * kvm_memext_debugfs_root() - the module's debugfs directory
 *
 * Return: kvm_memext/ in debugfs, or an error pointer without debugfs.
 */
struct dentry *kvm_memext_debugfs_root(void)
{
	return stats_debugfs;
}

/** kvm_memext_stats_init() - create the module's debugfs directory */
void __init kvm_memext_stats_init(void)
{
	stats_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

/** kvm_memext_stats_exit() - remove it, with whatever is left in it */
void kvm_memext_stats_exit(void)
{
	debugfs_remove_recursive(stats_debugfs);
}
