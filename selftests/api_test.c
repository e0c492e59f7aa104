// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kvm_memext: API version, extension discovery, unknown ioctls, the
 * device node and the module's version.
 */
#include "memext_util.h"

static void test_api_version(void)
{
	int dev = memext_open();
	int r;

	r = ioctl(dev, KVM_MEMEXT_GET_API_VERSION, 0);
	TEST_ASSERT(r == KVM_MEMEXT_API_VERSION, "API version %d, expected %d",
		    r, KVM_MEMEXT_API_VERSION);

	/* Like KVM_GET_API_VERSION, the argument must be zero. */
	r = ioctl(dev, KVM_MEMEXT_GET_API_VERSION, 1);
	TEST_ASSERT_ERRNO(r, EINVAL, "GET_API_VERSION(1)");
	close(dev);
}

static void test_check_extension(void)
{
	static const unsigned long unknown[] = { 0, 0x7fff, 0xdeadbeef, -1UL };
	int dev = memext_open();
	unsigned int i;
	int r;

	r = ioctl(dev, KVM_MEMEXT_CHECK_EXTENSION, KVM_MEMEXT_CAP_VM_HANDLE);
	TEST_ASSERT(r == 1, "CAP_VM_HANDLE: %d", r);

	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		r = ioctl(dev, KVM_MEMEXT_CHECK_EXTENSION, unknown[i]);
		TEST_ASSERT(r == 0, "extension 0x%lx: %d, expected 0",
			    unknown[i], r);
	}
	close(dev);
}

static void test_unknown_ioctls(void)
{
	int dev = memext_open();
	int r;

	r = ioctl(dev, _IO(KVM_MEMEXT_IO, 0x7f), 0);
	TEST_ASSERT_ERRNO(r, ENOTTY, "unknown kvm_memext ioctl");
	/* A KVM ioctl sent to the wrong device. */
	r = ioctl(dev, KVM_CREATE_VM, 0);
	TEST_ASSERT_ERRNO(r, ENOTTY, "KVM_CREATE_VM on /dev/kvm_memext");
	/* BIND_VM with the wrong size encoded. */
	r = ioctl(dev, _IOW(KVM_MEMEXT_IO, 0x02, __u32), 0);
	TEST_ASSERT_ERRNO(r, ENOTTY, "BIND_VM with wrong size");
	close(dev);
}

static void test_device_node(void)
{
	struct stat st;

	TEST_ASSERT(!stat(MEMEXT_DEV, &st), "stat " MEMEXT_DEV);
	TEST_ASSERT(S_ISCHR(st.st_mode), MEMEXT_DEV " is not a char device");
	/*
	 * Root only by default, like /dev/kvm before udev's rule; with the
	 * rule (udev/60-kvm_memext.rules) also its group, never others.
	 */
	TEST_ASSERT(((st.st_mode & 07777) == 0600 ||
		     (st.st_mode & 07777) == 0660) && st.st_uid == 0,
		    "mode %o uid %u, expected 0600 or 0660, root",
		    st.st_mode & 07777, st.st_uid);
}

static void test_module_version(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/module/kvm_memext/version", "r");

	TEST_ASSERT(f, "no /sys/module/kvm_memext/version");
	TEST_ASSERT(fgets(buf, sizeof(buf), f) && strlen(buf) > 1,
		    "empty module version");
	fclose(f);
	printf("# kvm_memext version %s", buf);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_api_version),
		MEMEXT_TEST(test_check_extension),
		MEMEXT_TEST(test_unknown_ioctls),
		MEMEXT_TEST(test_device_node),
		MEMEXT_TEST(test_module_version),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
