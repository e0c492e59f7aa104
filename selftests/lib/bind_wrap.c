// SPDX-License-Identifier: GPL-2.0
/*
 * Link-time wrapper for KVM's own selftests (the peer suite): every VM made
 * by KVM_CREATE_VM is bound to a kvm_memext handle at once, and the handle
 * is closed together with the VM file descriptor.  A failed bind aborts the
 * test, so a peer test that passes ran with its VMs bound.
 * KVM_MEMEXT_PEER_BIND=0 leaves VMs unbound (peer_bench's baseline).
 *
 * Linked with -Wl,--wrap=ioctl -Wl,--wrap=close.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/kvm_memext.h>

int __real_ioctl(int fd, unsigned long request, ...);
int __real_close(int fd);

#define MAX_TRACKED_FD	4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int handle_of[MAX_TRACKED_FD];	/* handle fd + 1, 0 if none */
static int memext_fd = -1;
static unsigned int nr_bound;

static void bind_vm(int vm_fd)
{
	struct kvm_memext_bind_vm args = { .vm_fd = vm_fd };
	int h;

	if (vm_fd >= MAX_TRACKED_FD) {
		fprintf(stderr, "kvm_memext bind_wrap: fd %d too large\n", vm_fd);
		abort();
	}
	if (memext_fd < 0)
		memext_fd = open("/dev/kvm_memext", O_RDWR | O_CLOEXEC);
	h = memext_fd < 0 ? -1 :
	    __real_ioctl(memext_fd, KVM_MEMEXT_BIND_VM, &args);
	if (h < 0) {
		fprintf(stderr, "kvm_memext bind_wrap: cannot bind VM fd %d: %s\n",
			vm_fd, strerror(errno));
		abort();
	}
	handle_of[vm_fd] = h + 1;
	nr_bound++;
}

static bool no_bind(void)
{
	const char *bind = getenv("KVM_MEMEXT_PEER_BIND");

	return bind && !strcmp(bind, "0");
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	r = __real_ioctl(fd, request, arg);
	if (request == KVM_CREATE_VM && r >= 0 && !no_bind()) {
		int saved_errno = errno;

		pthread_mutex_lock(&lock);
		bind_vm(r);
		pthread_mutex_unlock(&lock);
		errno = saved_errno;
	}
	return r;
}

int __wrap_close(int fd)
{
	if (fd >= 0 && fd < MAX_TRACKED_FD) {
		pthread_mutex_lock(&lock);
		if (handle_of[fd]) {
			__real_close(handle_of[fd] - 1);
			handle_of[fd] = 0;
		}
		pthread_mutex_unlock(&lock);
	}
	return __real_close(fd);
}

static void __attribute__((destructor)) report(void)
{
	fprintf(stderr, "# kvm_memext: bound %u VMs\n", nr_bound);
}
