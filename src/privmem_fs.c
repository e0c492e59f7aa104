// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kvm_memext file system: where private-memory files come from.
 *
 * An administrator mounts it where VMMs look for memory files:
 *
 *	mount -t kvm_memext -o mode=0770,gid=kvm,size=64G none /run/kvm_memext
 *
 * It holds directories and private-memory files (privmem.c), so that a
 * VMM that takes a path (QEMU's memory-backend-file, libvirt's
 * memory_backing_dir, Cloud Hypervisor's memory zones) uses private memory
 * unmodified.  KVM_MEMEXT_CREATE_PRIVMEM makes an unnamed file on an
 * internal mount of its own type (one that does not pin the module, as
 * user mounts do).  Nothing here maps or allocates guest memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/suspend.h>

#include "kvm_memext.h"
#include "directmap.h"
#include "privmem.h"
#include "stats.h"

static struct vfsmount *privmem_mnt;
static bool privmem_available;

static const struct inode_operations privmem_dir_iops;
static const struct super_operations privmem_sops;

static struct inode *privmem_get_inode(struct super_block *sb,
				       const struct inode *dir, umode_t mode)
{
	struct inode *inode = new_inode(sb);
	int r;

	if (!inode)
		return ERR_PTR(-ENOMEM);
	inode->i_ino = get_next_ino();
	inode_init_owner(kvm_memext_nop_idmap, inode, dir, mode);
	simple_inode_init_ts(inode);
	if (S_ISDIR(mode)) {
		inode->i_op = &privmem_dir_iops;
		inode->i_fop = &simple_dir_operations;
		/* "." */
		inc_nlink(inode);
		return inode;
	}
	r = kvm_memext_privmem_inode_init(inode, 0);
	if (r) {
		iput(inode);
		return ERR_PTR(r);
	}
	return inode;
}

static int privmem_mknod(struct inode *dir, struct dentry *dentry,
			 umode_t mode)
{
	struct inode *inode = privmem_get_inode(dir->i_sb, dir, mode);
	int r;

	if (IS_ERR(inode))
		return PTR_ERR(inode);
	r = security_inode_init_security(inode, dir, &dentry->d_name, NULL,
					 NULL);
	if (r) {
		iput(inode);
		return r;
	}
	/* The dentry is the only thing that keeps a file alive. */
	kvm_memext_d_make_persistent(dentry, inode);
	kvm_memext_inode_touch_dir(dir);
	return 0;
}

static int privmem_mkfile(struct inode *dir, struct dentry *dentry,
			  umode_t mode)
{
	return privmem_mknod(dir, dentry, (mode & ~S_IFMT) | S_IFREG);
}

KVM_MEMEXT_DEFINE_CREATE(privmem_create, privmem_mkfile)

static int privmem_mkdir_common(struct inode *dir, struct dentry *dentry,
				umode_t mode)
{
	int r = privmem_mknod(dir, dentry, (mode & ~S_IFMT) | S_IFDIR);

	if (!r)
		inc_nlink(dir);
	return r;
}

KVM_MEMEXT_DEFINE_MKDIR(privmem_mkdir, privmem_mkdir_common)

/* No links, symlinks or device nodes: guest memory files and directories. */
static const struct inode_operations privmem_dir_iops = {
	.lookup		= simple_lookup,
	.create		= privmem_create,
	.mkdir		= privmem_mkdir,
	.unlink		= simple_unlink,
	.rmdir		= simple_rmdir,
	.rename		= simple_rename,
};

static int privmem_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct kvm_memext_privmem_sb *sbi = dentry->d_sb->s_fs_info;
	unsigned long max = READ_ONCE(sbi->max_pages);
	unsigned long used = atomic_long_read(&sbi->pages);
	unsigned long ceiling = kvm_memext_privmem_limit_pages();
	unsigned long all = atomic_long_read(&kvm_memext_privmem_stats.pages);

	buf->f_type = KVM_MEMEXT_FS_MAGIC;
	/* Files are allocated in 2 MiB chunks; sizes count in pages. */
	buf->f_bsize = PMD_SIZE;
	buf->f_frsize = PAGE_SIZE;
	buf->f_namelen = NAME_MAX;
	/* Free: what both the mount's limit and the module's ceiling allow. */
	buf->f_blocks = max ? max : ceiling;
	buf->f_bfree = ceiling > all ? ceiling - all : 0;
	if (max)
		buf->f_bfree = min(buf->f_bfree, max > used ? max - used : 0);
	buf->f_bavail = buf->f_bfree;
	return 0;
}

static void privmem_evict_inode(struct inode *inode)
{
	truncate_inode_pages_final(&inode->i_data);
	if (S_ISREG(inode->i_mode) && inode->i_private)
		kvm_memext_privmem_destroy(inode->i_private);
	clear_inode(inode);
}

static int privmem_show_options(struct seq_file *m, struct dentry *root)
{
	struct kvm_memext_privmem_sb *sbi = root->d_sb->s_fs_info;
	unsigned long max = READ_ONCE(sbi->max_pages);

	if (!uid_eq(sbi->uid, GLOBAL_ROOT_UID))
		seq_printf(m, ",uid=%u", from_kuid_munged(&init_user_ns, sbi->uid));
	if (!gid_eq(sbi->gid, GLOBAL_ROOT_GID))
		seq_printf(m, ",gid=%u", from_kgid_munged(&init_user_ns, sbi->gid));
	seq_printf(m, ",mode=%o", sbi->mode);
	if (max)
		seq_printf(m, ",size=%luk", max << (PAGE_SHIFT - 10));
	return 0;
}

static const struct super_operations privmem_sops = {
	.statfs		= privmem_statfs,
	.evict_inode	= privmem_evict_inode,
	/* Evict at the last iput(): nothing is cached once unreferenced. */
	.drop_inode	= inode_just_drop,
	.show_options	= privmem_show_options,
};

enum privmem_param {
	PRIVMEM_OPT_UID,
	PRIVMEM_OPT_GID,
	PRIVMEM_OPT_MODE,
	PRIVMEM_OPT_SIZE,
};

static const struct fs_parameter_spec privmem_fs_params[] = {
	fsparam_u32("uid", PRIVMEM_OPT_UID),
	fsparam_u32("gid", PRIVMEM_OPT_GID),
	fsparam_u32oct("mode", PRIVMEM_OPT_MODE),
	fsparam_string("size", PRIVMEM_OPT_SIZE),
	{}
};

static int privmem_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct kvm_memext_privmem_sb *sbi = fc->s_fs_info;
	struct fs_parse_result result;
	unsigned long long size;
	char *rest;
	kuid_t uid;
	kgid_t gid;
	int opt;

	opt = fs_parse(fc, privmem_fs_params, param, &result);
	if (opt < 0)
		return opt;
	switch (opt) {
	case PRIVMEM_OPT_UID:
		uid = make_kuid(current_user_ns(), result.uint_32);
		if (!uid_valid(uid))
			return invalfc(fc, "Invalid uid");
		sbi->uid = uid;
		break;
	case PRIVMEM_OPT_GID:
		gid = make_kgid(current_user_ns(), result.uint_32);
		if (!gid_valid(gid))
			return invalfc(fc, "Invalid gid");
		sbi->gid = gid;
		break;
	case PRIVMEM_OPT_MODE:
		if (result.uint_32 & ~07777)
			return invalfc(fc, "Invalid mode");
		sbi->mode = result.uint_32;
		break;
	case PRIVMEM_OPT_SIZE:
		/* A byte count with an optional K/M/G/T suffix, as tmpfs. */
		size = memparse(param->string, &rest);
		if (*rest || !size || size >> PAGE_SHIFT > ULONG_MAX)
			return invalfc(fc, "Invalid size: %s", param->string);
		sbi->max_pages = size >> PAGE_SHIFT;
		if (!sbi->max_pages)
			return invalfc(fc, "Size below a page: %s", param->string);
		break;
	}
	return 0;
}

static int privmem_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct kvm_memext_privmem_sb *sbi = sb->s_fs_info;
	struct inode *inode;

	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_magic = KVM_MEMEXT_FS_MAGIC;
	sb->s_op = &privmem_sops;
	sb->s_time_gran = 1;
	/* Guest memory, never a program or a device (as secretmem). */
	sb->s_iflags |= SB_I_NOEXEC | SB_I_NODEV;

	inode = privmem_get_inode(sb, NULL, S_IFDIR | sbi->mode);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	inode->i_uid = sbi->uid;
	inode->i_gid = sbi->gid;
	sb->s_root = d_make_root(inode);
	return sb->s_root ? 0 : -ENOMEM;
}

static int privmem_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, privmem_fill_super);
}

/* A remount may change the size limit, as for tmpfs; the rest stays. */
static int privmem_reconfigure(struct fs_context *fc)
{
	struct kvm_memext_privmem_sb *new = fc->s_fs_info;
	struct kvm_memext_privmem_sb *sbi = fc->root->d_sb->s_fs_info;

	WRITE_ONCE(sbi->max_pages, new->max_pages);
	return 0;
}

static void privmem_free_fc(struct fs_context *fc)
{
	kfree(fc->s_fs_info);
}

static const struct fs_context_operations privmem_context_ops = {
	.free		= privmem_free_fc,
	.parse_param	= privmem_parse_param,
	.get_tree	= privmem_get_tree,
	.reconfigure	= privmem_reconfigure,
};

static int privmem_init_fs_context(struct fs_context *fc)
{
	struct kvm_memext_privmem_sb *sbi;

	sbi = kzalloc_obj(*sbi, GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	sbi->mode = 0755;
	sbi->uid = current_fsuid();
	sbi->gid = current_fsgid();
	/* A remount without size= keeps the mount's limit. */
	if (fc->purpose == FS_CONTEXT_FOR_RECONFIGURE)
		sbi->max_pages = READ_ONCE(((struct kvm_memext_privmem_sb *)
					    fc->root->d_sb->s_fs_info)->max_pages);
	fc->s_fs_info = sbi;
	fc->ops = &privmem_context_ops;
	return 0;
}

static void privmem_kill_sb(struct super_block *sb)
{
	struct kvm_memext_privmem_sb *sbi = sb->s_fs_info;

	/* Evicts every file, and so frees every page, of the mount. */
	kvm_memext_kill_litter_super(sb);
	kfree(sbi);
}

/* What administrators mount; a mount holds the module. */
static struct file_system_type privmem_fs = {
	.owner		 = THIS_MODULE,
	.name		 = "kvm_memext",
	.init_fs_context = privmem_init_fs_context,
	.parameters	 = privmem_fs_params,
	.kill_sb	 = privmem_kill_sb,
};
MODULE_ALIAS_FS("kvm_memext");

/* The internal mount of KVM_MEMEXT_CREATE_PRIVMEM's files: no owner. */
static struct file_system_type privmem_internal_fs = {
	.name		 = "kvm_memext_privmem",
	.init_fs_context = privmem_init_fs_context,
	.kill_sb	 = privmem_kill_sb,
};

/**
 * kvm_memext_privmem_new() - an unnamed private-memory file's inode
 * @size: size in bytes, page aligned.
 * @flags: KVM_MEMEXT_PRIVMEM_* creation flags.
 *
 * The inode has no link: the last iput() frees it with its pages.
 *
 * Return: the new file's state (its inode is ->inode), or an ERR_PTR():
 * -EBUSY while a hibernation is being prepared, -ENOMEM.
 */
VISIBLE_IF_KUNIT struct kvm_memext_privmem *kvm_memext_privmem_new(u64 size,
								   u64 flags)
{
	struct kvm_memext_privmem *pm;
	struct inode *inode;

	inode = privmem_get_inode(privmem_mnt->mnt_sb, NULL, S_IFREG | 0600);
	if (IS_ERR(inode))
		return ERR_CAST(inode);
	clear_nlink(inode);
	pm = inode->i_private;
	pm->flags = flags;
	pm->may_split = capable(CAP_SYS_ADMIN);
	i_size_write(inode, size);
	return pm;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_new);

/**
 * kvm_memext_create_privmem() - KVM_MEMEXT_CREATE_PRIVMEM
 * @args: the user's arguments.
 *
 * Unlike a file of a mount, the new file's owner is its creator at once.
 *
 * Return: a new file descriptor, or a negative errno.
 */
int kvm_memext_create_privmem(const struct kvm_memext_create_privmem *args)
{
	struct kvm_memext_privmem *pm;
	struct file *file;
	int fd, r;

	if (!privmem_available)
		return -EOPNOTSUPP;
	if ((args->flags & ~KVM_MEMEXT_PRIVMEM_NO_HUGE) ||
	    memchr_inv(args->reserved, 0, sizeof(args->reserved)))
		return -EINVAL;
	if (!args->size || !PAGE_ALIGNED(args->size) ||
	    args->size > MAX_LFS_FILESIZE)
		return -EINVAL;
	/* 4 KiB pages split the direct map for every tenant. */
	if ((args->flags & KVM_MEMEXT_PRIVMEM_NO_HUGE) && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	pm = kvm_memext_privmem_new(args->size, args->flags);
	if (IS_ERR(pm)) {
		r = PTR_ERR(pm);
		goto err_fd;
	}
	/* No pages yet: binding the owner cannot fail on its limit. */
	mutex_lock(&pm->lock);
	r = kvm_memext_privmem_set_owner(pm, current->mm);
	mutex_unlock(&pm->lock);
	if (r)
		goto err_inode;

	/* __fput() drops the file's reference on its f_op's owner. */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(pm->inode, privmem_mnt, "kvm_memext_privmem",
				 O_RDWR | O_LARGEFILE, pm->inode->i_fop);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		r = PTR_ERR(file);
		goto err_inode;
	}
	file->private_data = pm;
	fd_install(fd, file);
	return fd;

err_inode:
	iput(pm->inode);
err_fd:
	put_unused_fd(fd);
	return r;
}

static struct notifier_block privmem_suspend_nb = {
	.notifier_call = kvm_memext_privmem_suspend_notify,
};

static int privmem_stats_show(struct seq_file *m, void *v)
{
	struct kvm_memext_privmem_stats *s = &kvm_memext_privmem_stats;

	if (privmem_available)
		kvm_memext_privmem_check_decoys();
	seq_printf(m, "files %ld\n", atomic_long_read(&s->files));
	seq_printf(m, "pages %ld\n", atomic_long_read(&s->pages));
	seq_printf(m, "huge_chunks %ld\n", atomic_long_read(&s->chunks));
	seq_printf(m, "accessible_pages %ld\n", atomic_long_read(&s->accessible));
	seq_printf(m, "tlb_flushes %ld\n", atomic_long_read(&s->tlb_flushes));
	seq_printf(m, "fallbacks %ld\n", atomic_long_read(&s->fallbacks));
	seq_printf(m, "pmd_maps %ld\n", atomic_long_read(&s->pmd_maps));
	seq_printf(m, "leaked_pages %ld\n", atomic_long_read(&s->leaked));
	seq_printf(m, "poisoned_pages %ld\n", atomic_long_read(&s->poisoned));
	seq_printf(m, "deferred_hides %ld\n", atomic_long_read(&s->deferred_hides));
	seq_printf(m, "throttled %ld\n", atomic_long_read(&s->throttled));
	seq_printf(m, "cpa_splits %ld\n", atomic_long_read(&s->splits));
	seq_printf(m, "decoy_writes %ld\n", atomic_long_read(&s->decoy_writes));
	seq_printf(m, "decoys %ld\n", atomic_long_read(&s->decoys));
	seq_printf(m, "clock_pages %ld\n", atomic_long_read(&s->clock_pages));
	seq_printf(m, "clock_shows %ld\n", atomic_long_read(&s->clock_shows));
	seq_printf(m, "clock_failures %ld\n", atomic_long_read(&s->clock_failures));
	seq_printf(m, "limit_pages %lu\n", kvm_memext_privmem_limit_pages());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(privmem_stats);

/**
 * kvm_memext_privmem_init() - set up private memory, if the kernel allows
 *
 * Return: true when private memory (the ioctl and the file system) is
 * available.
 */
bool __init kvm_memext_privmem_init(void)
{
	int r;

	kvm_memext_privmem_limit_init();
	debugfs_create_file("privmem", 0400, kvm_memext_debugfs_root(), NULL,
			    &privmem_stats_fops);

	r = kvm_memext_dmap_init();
	if (r) {
		pr_info("privmem disabled: the direct map cannot be edited here: %d\n", r);
		return false;
	}
	privmem_mnt = kern_mount(&privmem_internal_fs);
	if (IS_ERR(privmem_mnt)) {
		pr_info("privmem disabled: cannot mount its file system: %ld\n",
			PTR_ERR(privmem_mnt));
		goto err_mnt;
	}
	/* mmap() with PROT_EXEC fails (path_noexec()). */
	privmem_mnt->mnt_flags |= MNT_NOEXEC;
	r = register_filesystem(&privmem_fs);
	if (r) {
		pr_info("privmem disabled: cannot register file system kvm_memext: %d\n", r);
		kern_unmount(privmem_mnt);
		goto err_mnt;
	}
	/* Hibernation would write the files' pages out in the clear. */
	r = register_pm_notifier(&privmem_suspend_nb);
	if (r) {
		pr_info("privmem disabled: cannot refuse hibernation: %d\n", r);
		unregister_filesystem(&privmem_fs);
		kern_unmount(privmem_mnt);
		goto err_mnt;
	}
	kvm_memext_privmem_clock_init();
	privmem_available = true;
	return true;

err_mnt:
	privmem_mnt = NULL;
	return false;
}

/**
 * kvm_memext_privmem_available() - whether private memory works here
 *
 * Return: true when KVM_MEMEXT_CREATE_PRIVMEM is available.
 */
bool kvm_memext_privmem_available(void)
{
	return privmem_available;
}
EXPORT_SYMBOL_IF_KUNIT(kvm_memext_privmem_available);

/** kvm_memext_privmem_exit() - undo kvm_memext_privmem_init() */
void kvm_memext_privmem_exit(void)
{
	if (privmem_available) {
		kvm_memext_privmem_clock_exit();
		unregister_pm_notifier(&privmem_suspend_nb);
		/* No mount is left: each holds the module. */
		unregister_filesystem(&privmem_fs);
		kern_unmount(privmem_mnt);
	}
}
