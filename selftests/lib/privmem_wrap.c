// SPDX-License-Identifier: GPL-2.0
/*
 * Link-time wrapper for KVM's own selftests (the peer suite): with
 * KVM_MEMEXT_PEER_PRIVMEM=1 in the environment, the memfd that KVM's
 * selftest library makes for shared guest memory ("-s shmem") is a
 * kvm_memext private-memory file instead.  The library sizes it with
 * ftruncate(), punches it and maps it MAP_SHARED, as it does the memfd.
 * Anything that is not the library's guest memory gets a real memfd.
 *
 * Linked with -Wl,--wrap=memfd_create.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm_memext.h>
#include <linux/memfd.h>

int __real_memfd_create(const char *name, unsigned int flags);

static unsigned int nr_privmem;

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	/* The library resizes it at once; a file cannot be empty. */
	struct kvm_memext_create_privmem args = { .size = 4096 };
	const char *on = getenv("KVM_MEMEXT_PEER_PRIVMEM");
	int dev, fd;

	if (!on || strcmp(on, "1") || strcmp(name, "kvm_selftest") ||
	    (flags & MFD_HUGETLB))
		return __real_memfd_create(name, flags);
	dev = open("/dev/kvm_memext", O_RDWR | O_CLOEXEC);
	fd = dev < 0 ? -1 : ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &args);
	if (fd < 0) {
		fprintf(stderr, "kvm_memext privmem_wrap: cannot create private memory: %s\n",
			strerror(errno));
		abort();
	}
	close(dev);
	nr_privmem++;
	return fd;
}

static void __attribute__((destructor)) report(void)
{
	if (getenv("KVM_MEMEXT_PEER_PRIVMEM"))
		fprintf(stderr, "# kvm_memext: %u private-memory files\n", nr_privmem);
}
