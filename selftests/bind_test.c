// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_MEMEXT_BIND_VM: what binds, what is refused with which errno, and
 * that a handle keeps its VM alive exactly as long as it is open, whatever
 * the close order and whichever thread closes.
 *
 * VM lifetime is observed through KVM's per-VM debugfs directory
 * (/sys/kernel/debug/kvm/<pid>-<fd>), which KVM removes when it destroys
 * the VM.
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "memext_util.h"

static int create_vm_fd(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm;

	__TEST_REQUIRE(kvm >= 0, "/dev/kvm not available");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm >= 0, "KVM_CREATE_VM: %s", strerror(errno));
	close(kvm);
	return vm;
}

static void vm_debugfs_path(int vm_fd, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/kernel/debug/kvm/%d-%d", getpid(), vm_fd);
}

static bool vm_alive(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

static void test_bind_vm(void)
{
	int dev = memext_open();
	struct kvm_vm *vm = vm_create_barebones();
	int h, flags;

	h = memext_bind(dev, vm->fd);
	flags = fcntl(h, F_GETFD);
	TEST_ASSERT(flags >= 0 && (flags & FD_CLOEXEC),
		    "handle is not close-on-exec");
	/* The handle answers ioctls: nothing is defined on it yet. */
	TEST_ASSERT_ERRNO(ioctl(h, _IO(KVM_MEMEXT_IO, 0x7f), 0), ENOTTY,
			  "unknown handle ioctl");
	close(h);
	kvm_vm_free(vm);
	close(dev);
}

static void test_bind_twice(void)
{
	int dev = memext_open();
	struct kvm_vm *vm = vm_create_barebones();
	struct kvm_vm *vm2 = vm_create_barebones();
	int h, h2;

	h = memext_bind(dev, vm->fd);
	TEST_ASSERT_ERRNO(__memext_bind(dev, vm->fd, 0), EEXIST, "second bind");

	/* A duplicate of the VM fd names the same VM. */
	h2 = dup(vm->fd);
	TEST_ASSERT_ERRNO(__memext_bind(dev, h2, 0), EEXIST, "bind of dup()");
	close(h2);

	/* Another VM binds independently. */
	h2 = memext_bind(dev, vm2->fd);

	/* Once the first handle is closed the VM can be bound again. */
	close(h);
	h = memext_bind(dev, vm->fd);
	close(h);
	close(h2);
	kvm_vm_free(vm);
	kvm_vm_free(vm2);
	close(dev);
}

static void test_bind_not_a_vm(void)
{
	int dev = memext_open();
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_barebones();
	int fd, kvm;

	vcpu = __vm_vcpu_add(vm, 0);
	TEST_ASSERT_ERRNO(__memext_bind(dev, vcpu->fd, 0), EINVAL, "vCPU fd");

	kvm = open("/dev/kvm", O_RDWR);
	TEST_ASSERT_ERRNO(__memext_bind(dev, kvm, 0), EINVAL, "/dev/kvm");
	close(kvm);

	TEST_ASSERT_ERRNO(__memext_bind(dev, dev, 0), EINVAL, "/dev/kvm_memext");

	fd = open("/proc/self/exe", O_RDONLY);
	TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EINVAL, "regular file");
	close(fd);

	/* Anonymous-inode files that are not "kvm-vm". */
	fd = eventfd(0, 0);
	TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EINVAL, "eventfd");
	close(fd);

	fd = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
	if (fd >= 0) {
		TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EINVAL,
				  "VM stats fd");
		close(fd);
	}

	/* A handle is not a VM either. */
	fd = memext_bind(dev, vm->fd);
	TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EINVAL, "VM handle");
	close(fd);

	kvm_vm_free(vm);
	close(dev);
}

static void test_bind_bad_fd_and_args(void)
{
	struct kvm_vm *vm = vm_create_barebones();
	int dev = memext_open();
	int fd;

	TEST_ASSERT_ERRNO(__memext_bind(dev, -1, 0), EBADF, "fd -1");
	TEST_ASSERT_ERRNO(__memext_bind(dev, INT_MAX, 0), EBADF, "fd INT_MAX");
	fd = dup(vm->fd);
	close(fd);
	TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EBADF, "closed fd");

	TEST_ASSERT_ERRNO(__memext_bind(dev, vm->fd, 1), EINVAL, "flags 1");
	TEST_ASSERT_ERRNO(__memext_bind(dev, vm->fd, 1u << 31), EINVAL,
			  "flags bit 31");
	TEST_ASSERT_ERRNO(ioctl(dev, KVM_MEMEXT_BIND_VM, NULL), EFAULT,
			  "NULL argument");
	TEST_ASSERT_ERRNO(ioctl(dev, KVM_MEMEXT_BIND_VM, (void *)16), EFAULT,
			  "unmapped argument");

	/* None of the refusals left the VM bound. */
	close(memext_bind(dev, vm->fd));
	kvm_vm_free(vm);
	close(dev);
}

/* A VM created by another process (another mm) is refused. */
static void test_bind_foreign_vm(void)
{
	int dev = memext_open();
	int sv[2], fd, status;
	char byte = 0;
	pid_t pid;

	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		fd = create_vm_fd();
		TEST_ASSERT(memext_send_fd(sv[1], fd) == 1, "sendmsg");
		/* Keep the VM's owner alive until the parent is done. */
		TEST_ASSERT(read(sv[1], &byte, 1) == 1, "read");
		exit(0);
	}
	fd = memext_recv_fd(sv[0]);
	TEST_ASSERT_ERRNO(__memext_bind(dev, fd, 0), EPERM, "foreign VM");
	close(fd);
	TEST_ASSERT(write(sv[0], &byte, 1) == 1, "write");
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "child failed");
	close(dev);
}

/* A handle inherited across fork() cannot be used by the child. */
static void test_handle_after_fork(void)
{
	int dev = memext_open();
	int vm = create_vm_fd();
	int h = memext_bind(dev, vm);
	int status;
	pid_t pid;

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		TEST_ASSERT_ERRNO(ioctl(h, _IO(KVM_MEMEXT_IO, 0x7f), 0), EIO,
				  "handle ioctl from child");
		/* Nor can the child bind the VM it inherited. */
		TEST_ASSERT_ERRNO(__memext_bind(dev, vm, 0), EPERM,
				  "inherited VM");
		exit(0);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "child failed");
	TEST_ASSERT_ERRNO(ioctl(h, _IO(KVM_MEMEXT_IO, 0x7f), 0), ENOTTY,
			  "handle ioctl from parent");
	close(h);
	close(vm);
	close(dev);
}

static void test_close_vm_first(void)
{
	int dev = memext_open();
	int vm = create_vm_fd();
	int h = memext_bind(dev, vm);
	char path[64];

	vm_debugfs_path(vm, path, sizeof(path));
	__TEST_REQUIRE(vm_alive(path), "no KVM debugfs (%s)", path);

	close(vm);
	TEST_ASSERT(vm_alive(path), "VM destroyed while a handle holds it");
	close(h);
	TEST_ASSERT(!vm_alive(path), "VM not destroyed after the last close");
	close(dev);
}

static void test_close_handle_first(void)
{
	int dev = memext_open();
	int vm = create_vm_fd();
	int h = memext_bind(dev, vm);
	char path[64];

	vm_debugfs_path(vm, path, sizeof(path));
	__TEST_REQUIRE(vm_alive(path), "no KVM debugfs (%s)", path);

	close(h);
	TEST_ASSERT(vm_alive(path), "closing the handle destroyed the VM");
	close(vm);
	TEST_ASSERT(!vm_alive(path), "VM not destroyed after the last close");
	close(dev);
}

struct close_args {
	int fds[2];
};

static void *close_thread(void *data)
{
	struct close_args *args = data;

	close(args->fds[0]);
	close(args->fds[1]);
	return NULL;
}

static void test_close_from_other_thread(void)
{
	int dev = memext_open();
	int vm = create_vm_fd();
	struct close_args args = { { vm, memext_bind(dev, vm) } };
	char path[64];
	pthread_t t;

	vm_debugfs_path(vm, path, sizeof(path));
	__TEST_REQUIRE(vm_alive(path), "no KVM debugfs (%s)", path);

	/* VM first from one thread... */
	pthread_create(&t, NULL, close_thread, &args);
	pthread_join(t, NULL);
	TEST_ASSERT(!vm_alive(path), "VM survived its handle");

	/* ...and handle first from another. */
	vm = create_vm_fd();
	args.fds[0] = memext_bind(dev, vm);
	args.fds[1] = vm;
	vm_debugfs_path(vm, path, sizeof(path));
	pthread_create(&t, NULL, close_thread, &args);
	pthread_join(t, NULL);
	TEST_ASSERT(!vm_alive(path), "VM survived its handle");
	close(dev);
}

/* The module cannot go away while a handle exists. */
static void test_module_pinned(void)
{
	int dev = memext_open();
	int vm = create_vm_fd();
	long base;
	int h;

	h = memext_bind(dev, vm);
	close(dev);
	/* Other tests' processes may hold references too: compare. */
	base = memext_module_refcnt();
	TEST_ASSERT(base >= 1, "a handle must pin the module");
	TEST_ASSERT_ERRNO(syscall(__NR_delete_module, "kvm_memext", O_NONBLOCK),
			  EWOULDBLOCK, "unload with a handle open");
	close(h);
	TEST_ASSERT(memext_module_refcnt() == base - 1, "handle close dropped %ld",
		    base - memext_module_refcnt());
	close(vm);
}

int main(void)
{
	static const struct memext_test tests[] = {
		MEMEXT_TEST(test_bind_vm),
		MEMEXT_TEST(test_bind_twice),
		MEMEXT_TEST(test_bind_not_a_vm),
		MEMEXT_TEST(test_bind_bad_fd_and_args),
		MEMEXT_TEST(test_bind_foreign_vm),
		MEMEXT_TEST(test_handle_after_fork),
		MEMEXT_TEST(test_close_vm_first),
		MEMEXT_TEST(test_close_handle_first),
		MEMEXT_TEST(test_close_from_other_thread),
		MEMEXT_TEST(test_module_pinned),
	};

	return memext_run_tests(tests, ARRAY_SIZE(tests));
}
