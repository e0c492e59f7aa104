// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for VM-file recognition and KVM_MEMEXT_BIND_VM argument
 * validation (src/kvm_file.c, src/vm.c).
 *
 * Real KVM VM files need a process with an mm, which KUnit's test threads
 * lack; the selftests bind real VMs.  Here every look-alike that must be
 * refused is built for real: anonymous-inode files with KVM's names but the
 * wrong owner, and a shmem file named like a VM file.
 */
#include <kunit/test.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/shmem_fs.h>

#include "kvm_memext.h"

MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

static const struct file_operations fake_unowned_fops;
static const struct file_operations fake_owned_fops = {
	.owner = THIS_MODULE,
};

static int dummy_private;

static struct module *fake_module(struct kunit *test, const char *name)
{
	struct module *mod = kunit_kzalloc(test, sizeof(*mod), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, mod);
	strscpy(mod->name, name, sizeof(mod->name));
	return mod;
}

static void vm_owner_accepts_vendor_modules(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, kvm_memext_vm_owner_ok(fake_module(test, "kvm_amd")));
	KUNIT_EXPECT_TRUE(test, kvm_memext_vm_owner_ok(fake_module(test, "kvm_intel")));
}

static const char * const foreign_owners[] = {
	"kvm", "kvm_amdx", "kvm_am", "kvm-amd", "kvm_memext", "",
};

static void owner_desc(const char * const *name, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "'%s'", *name);
}

KUNIT_ARRAY_PARAM(foreign_owner, foreign_owners, owner_desc);

static void vm_owner_rejects_other_modules(struct kunit *test)
{
	const char * const *name = test->param_value;

	KUNIT_EXPECT_FALSE(test, kvm_memext_vm_owner_ok(fake_module(test, *name)));
}

static void vm_owner_rejects_this_module(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, kvm_memext_vm_owner_ok(THIS_MODULE));
}

static void vm_owner_null(struct kunit *test)
{
	/* Only kernels whose KVM leaves the VM fops unowned accept NULL. */
	KUNIT_EXPECT_EQ(test, kvm_memext_vm_owner_ok(NULL),
			(bool)KVM_MEMEXT_VM_FOPS_MAY_BE_UNOWNED);
}

static struct file *anon_file(struct kunit *test, const char *name,
			      const struct file_operations *fops)
{
	struct file *file = anon_inode_getfile(name, fops, &dummy_private,
					       O_RDWR);

	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	return file;
}

static void put_file(struct file *file)
{
	fput(file);
	/* KUnit runs in a kthread: make the deferred fput happen now. */
	flush_delayed_fput();
}

static void is_vm_file_rejects_lookalikes(struct kunit *test)
{
	static const char * const names[] = {
		"kvm-vm", "kvm-vcpu:0", "kvm-vm-stats", "kvm-vcpu-stats:0",
		"kvm_memext-vm", "kvm-vmx",
	};
	struct file *file;
	int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		file = anon_file(test, names[i], &fake_owned_fops);
		KUNIT_EXPECT_FALSE_MSG(test, kvm_memext_is_vm_file(file),
				       "owned '%s'", names[i]);
		put_file(file);

		file = anon_file(test, names[i], &fake_unowned_fops);
		/* No unlocked_ioctl: refused even where NULL owners pass. */
		KUNIT_EXPECT_FALSE_MSG(test, kvm_memext_is_vm_file(file),
				       "unowned '%s'", names[i]);
		put_file(file);
	}
}

static void is_vm_file_rejects_non_anon(struct kunit *test)
{
	struct file *file = shmem_file_setup("kvm-vm", PAGE_SIZE,
						KVM_MEMEXT_SHMEM_NO_FLAGS);

	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	KUNIT_EXPECT_STREQ(test, file->f_path.dentry->d_name.name, "kvm-vm");
	KUNIT_EXPECT_FALSE(test, kvm_memext_is_vm_file(file));
	put_file(file);
}

static void bind_rejects_flags(struct kunit *test)
{
	struct kvm_memext_bind_vm args = { .vm_fd = -1 };
	u32 bit;

	/* Flags are checked before the descriptor: nothing is looked up. */
	for (bit = 0; bit < 32; bit++) {
		args.flags = BIT(bit);
		KUNIT_EXPECT_EQ(test, kvm_memext_bind_vm(&args), -EINVAL);
	}
}

static void bind_rejects_bad_fd(struct kunit *test)
{
	struct kvm_memext_bind_vm args = { .flags = 0 };
	static const s32 fds[] = { -1, INT_MIN, INT_MAX };
	int i;

	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		args.vm_fd = fds[i];
		KUNIT_EXPECT_EQ(test, kvm_memext_bind_vm(&args), -EBADF);
	}
}

static struct kunit_case kvm_memext_vm_test_cases[] = {
	KUNIT_CASE(vm_owner_accepts_vendor_modules),
	KUNIT_CASE_PARAM(vm_owner_rejects_other_modules, foreign_owner_gen_params),
	KUNIT_CASE(vm_owner_rejects_this_module),
	KUNIT_CASE(vm_owner_null),
	KUNIT_CASE(is_vm_file_rejects_lookalikes),
	KUNIT_CASE(is_vm_file_rejects_non_anon),
	KUNIT_CASE(bind_rejects_flags),
	KUNIT_CASE(bind_rejects_bad_fd),
	{}
};

static struct kunit_suite kvm_memext_vm_test_suite = {
	.name = "kvm_memext_vm",
	.test_cases = kvm_memext_vm_test_cases,
};

kunit_test_suite(kvm_memext_vm_test_suite);

MODULE_DESCRIPTION("KUnit tests for kvm_memext VM binding");
MODULE_LICENSE("GPL");
