/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kvm_memext selftests.
 */
#ifndef SELFTEST_MEMEXT_UTIL_H
#define SELFTEST_MEMEXT_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/kvm_memext.h>

#include "kvm_util.h"
#include "test_util.h"
#include "kselftest.h"
#include "memext_compat.h"

#define MEMEXT_DEV	"/dev/kvm_memext"
#define MEMEXT_PRIVMEM_STATS	"/sys/kernel/debug/kvm_memext/privmem"

static inline int memext_open(void)
{
	int fd = open(MEMEXT_DEV, O_RDWR | O_CLOEXEC);

	__TEST_REQUIRE(fd >= 0, MEMEXT_DEV " not available (module not loaded?)");
	return fd;
}

/* Whether the module offers extension @cap, as the library's kvm_has_cap(). */
static inline bool memext_has_cap(long cap)
{
	int dev = memext_open();
	bool r = ioctl(dev, KVM_MEMEXT_CHECK_EXTENSION, cap) > 0;

	close(dev);
	return r;
}

static inline int __memext_bind(int dev, int vm_fd, __u32 flags)
{
	struct kvm_memext_bind_vm args = { .vm_fd = vm_fd, .flags = flags };

	return ioctl(dev, KVM_MEMEXT_BIND_VM, &args);
}

static inline int memext_bind(int dev, int vm_fd)
{
	int h = __memext_bind(dev, vm_fd, 0);

	TEST_ASSERT(h >= 0, "KVM_MEMEXT_BIND_VM(%d) failed: %s",
		    vm_fd, strerror(errno));
	return h;
}

/*
 * As in KVM's library, a double-underscore helper returns what the call
 * returned, the plain one asserts that it succeeded.
 */
static inline int __memext_create_privmem(int dev, uint64_t size, uint64_t flags)
{
	struct kvm_memext_create_privmem args = { .size = size, .flags = flags };

	return ioctl(dev, KVM_MEMEXT_CREATE_PRIVMEM, &args);
}

static inline int memext_create_privmem(int dev, uint64_t size, uint64_t flags)
{
	int fd = __memext_create_privmem(dev, size, flags);

	TEST_ASSERT(fd >= 0, "CREATE_PRIVMEM(%lu, %#lx): %s", size, flags,
		    strerror(errno));
	return fd;
}

static inline int __memext_set_access(int fd, uint64_t offset, uint64_t len,
				      uint32_t flags)
{
	struct kvm_memext_privmem_access args = {
		.offset = offset, .len = len, .flags = flags,
	};

	return ioctl(fd, KVM_MEMEXT_PRIVMEM_SET_ACCESS, &args);
}

/* Take (@on) or drop one accessibility reference on a range. */
static inline void memext_set_access(int fd, uint64_t offset, uint64_t len, bool on)
{
	TEST_ASSERT(!__memext_set_access(fd, offset, len,
					 on ? KVM_MEMEXT_PRIVMEM_ACCESSIBLE : 0),
		    "SET_ACCESS(%#lx, %#lx, %d): %s", offset, len, on,
		    strerror(errno));
}

/* Write a sysfs, procfs or cgroup file in one go. */
static inline bool __memext_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);

	if (fd >= 0)
		close(fd);
	return ok;
}

static inline void memext_write_file(const char *path, const char *val)
{
	TEST_ASSERT(__memext_write_file(path, val), "write %s to %s: %s", val,
		    path, strerror(errno));
}

/* References held on kvm_memext.ko (open files, handles, task works). */
static inline long memext_module_refcnt(void)
{
	FILE *f = fopen("/sys/module/kvm_memext/refcnt", "r");
	long cnt = -1;

	TEST_ASSERT(f && fscanf(f, "%ld", &cnt) == 1, "read refcnt");
	fclose(f);
	return cnt;
}

#define CAP_BIT(cap)	(1ULL << (cap))

/* Drop capabilities from every set of this process (a tenant's VMM). */
static inline void drop_caps(uint64_t caps)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int i;

	TEST_ASSERT(!syscall(SYS_capget, &hdr, data), "capget: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		data[i].effective &= ~(uint32_t)(caps >> (32 * i));
		data[i].permitted &= ~(uint32_t)(caps >> (32 * i));
		data[i].inheritable &= ~(uint32_t)(caps >> (32 * i));
	}
	TEST_ASSERT(!syscall(SYS_capset, &hdr, data), "capset: %s", strerror(errno));
}

/* Assert that a call failed with one errno. */
#define TEST_ASSERT_ERRNO(ret, err, what)					\
do {										\
	int __ret = (ret), __errno = errno, __want = (err);			\
										\
	TEST_ASSERT(__ret == -1 && __errno == __want,				\
		    "%s: expected %s, got ret %d errno %s", what,		\
		    strerror(__want), __ret, strerror(__errno));		\
} while (0)

struct memext_test {
	const char *name;
	void (*fn)(void);
};

/*
 * Pass on what a child printed to @out, but for its own KTAP: TEST_REQUIRE
 * is ksft_exit_skip(), which prints a numbered result and totals of the
 * child's count.  Returns the skip's reason in @reason (empty if none).
 */
static inline void memext_relay_child(FILE *out, char *reason, size_t size)
{
	char *line = NULL, *skip;
	size_t cap = 0;

	reason[0] = '\0';
	rewind(out);
	while (getline(&line, &cap, out) > 0) {
		if (!strncmp(line, "ok ", 3) || !strncmp(line, "not ok ", 7) ||
		    !strncmp(line, "1..", 3)) {
			skip = strstr(line, "# SKIP");
			if (skip)
				snprintf(reason, size, "%s", skip + strlen("# SKIP"));
			continue;
		}
		if (!strncmp(line, "# Planned tests", 15) || !strncmp(line, "# Totals", 8) ||
		    strstr(line, " skipped test(s) detected"))
			continue;
		fputs(line, stdout);
	}
	reason[strcspn(reason, "\n")] = '\0';
	free(line);
}

/*
 * Run each test in its own child, so that a failed TEST_ASSERT (which
 * exits) or a TEST_REQUIRE skip affects only that test, and report KTAP.
 * MEMEXT_TEST=<name> in the environment runs only that test.  The child's
 * standard output goes to a file, passed on once the child is gone: a
 * process it left behind cannot hold the run up.
 */
static inline int memext_run_tests(const struct memext_test *tests, int nr)
{
	const char *only = getenv("MEMEXT_TEST");
	int i, status, skipped = 0, planned = 0;
	char reason[256];
	FILE *out;
	pid_t pid;

	for (i = 0; i < nr; i++)
		planned += !only || !strcmp(only, tests[i].name);
	ksft_print_header();
	ksft_set_plan(planned);
	for (i = 0; i < nr; i++) {
		if (only && strcmp(only, tests[i].name))
			continue;
		out = tmpfile();
		/* Appending: a writer left behind cannot overwrite what is read. */
		TEST_ASSERT(out && !fcntl(fileno(out), F_SETFL, O_APPEND),
			    "tmpfile: %s", strerror(errno));
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork failed");
		if (!pid) {
			TEST_ASSERT(dup2(fileno(out), STDOUT_FILENO) == STDOUT_FILENO,
				    "dup2");
			tests[i].fn();
			exit(0);
		}
		TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid failed");
		memext_relay_child(out, reason, sizeof(reason));
		fclose(out);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			ksft_test_result_pass("%s\n", tests[i].name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
			ksft_test_result_skip("%s%s\n", tests[i].name, reason);
			skipped++;
		} else {
			ksft_test_result_fail("%s (%s %d)\n", tests[i].name,
					      WIFEXITED(status) ? "exit" : "signal",
					      WIFEXITED(status) ? WEXITSTATUS(status) :
								  WTERMSIG(status));
		}
	}
	if (ksft_get_fail_cnt())
		ksft_exit_fail();
	if (skipped == planned) {
		/* Each test reported its skip; ksft_exit_skip() would add one. */
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_exit_pass();
	return 0;
}

#define MEMEXT_TEST(fn)	{ #fn, fn }

/*
 * A signal storm: for each of @rounds rounds the target thread starts
 * (memext_storm_next()), another thread sends it @signals SIGUSR1, 100 us
 * apart.  Bounded per round, so that a call restarted after every signal
 * completes once its round's storm is over.
 */
struct memext_storm {
	pthread_t target;
	pthread_t thread;
	int rounds;
	int signals;
	int round;		/* the round the target is in */
};

static int memext_storm_handled;

static inline void memext_storm_handler(int sig)
{
	__atomic_add_fetch(&memext_storm_handled, 1, __ATOMIC_RELAXED);
}

static inline void *memext_storm_fn(void *arg)
{
	struct memext_storm *s = arg;
	int round, i;

	for (round = 1; round <= s->rounds; round++) {
		while (READ_ONCE(s->round) < round)
			usleep(50);
		for (i = 0; i < s->signals; i++) {
			pthread_kill(s->target, SIGUSR1);
			usleep(100);
		}
	}
	return NULL;
}

/* Aim a storm at the calling thread, which handles SIGUSR1 with @sa_flags. */
static inline void memext_storm_start(struct memext_storm *s, int rounds,
				      int signals, int sa_flags)
{
	struct sigaction sa = {
		.sa_handler = memext_storm_handler, .sa_flags = sa_flags,
	};

	*s = (struct memext_storm) {
		.target = pthread_self(), .rounds = rounds, .signals = signals,
	};
	memext_storm_handled = 0;
	TEST_ASSERT(!sigaction(SIGUSR1, &sa, NULL), "sigaction: %s", strerror(errno));
	TEST_ASSERT(!pthread_create(&s->thread, NULL, memext_storm_fn, s),
		    "pthread_create");
}

static inline void memext_storm_next(struct memext_storm *s)
{
	WRITE_ONCE(s->round, s->round + 1);
}

/* Let the storm's remaining rounds pass; returns the signals handled. */
static inline int memext_storm_stop(struct memext_storm *s)
{
	WRITE_ONCE(s->round, s->rounds);
	pthread_join(s->thread, NULL);
	return READ_ONCE(memext_storm_handled);
}

/*
 * /proc/thread-self/fail-nth, kept open by the caller (opening it would be
 * an allocation of its own): the n-th fault-injected allocation of this
 * thread fails; what is left of n after a call.
 */
static inline void memext_set_fail_nth(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	TEST_ASSERT(pwrite(fd, buf, len, 0) == len, "write fail-nth");
}

static inline int memext_get_fail_nth(int fd)
{
	char buf[16] = "";

	TEST_ASSERT(pread(fd, buf, sizeof(buf) - 1, 0) > 0, "read fail-nth");
	return atoi(buf);
}

/* One counter of the module's private-memory statistics (debugfs). */
static inline long memext_stat(const char *name)
{
	char key[64];
	long val;
	FILE *f = fopen(MEMEXT_PRIVMEM_STATS, "r");
	int err = errno;

	/* No private memory (arm64), no counters: the caller's test skips. */
	if (!f && err == ENOENT)
		TEST_REQUIRE(memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM));
	TEST_ASSERT(f, "open " MEMEXT_PRIVMEM_STATS ": %s", strerror(err));
	while (fscanf(f, "%63s %ld", key, &val) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return val;
		}
	}
	fclose(f);
	TEST_FAIL("no %s in " MEMEXT_PRIVMEM_STATS, name);
	return -1;
}

/* A "Name: N kB" line of a /proc file, in kB, or -1. */
static inline long memext_proc_kb(const char *path, const char *name)
{
	char line[128];
	size_t len = strlen(name);
	long val = -1;
	FILE *f = fopen(path, "r");

	TEST_ASSERT(f, "open %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':')
			val = strtol(line + len + 1, NULL, 10);
	}
	fclose(f);
	return val;
}

/*
 * The kernel log since memext_kmsg_open(): whether a record holds @what.
 * The module rate-limits each limit's line to one in 5 seconds, so another
 * test may have used this limit's turn: ask twice, 6 seconds apart.
 */
static inline int memext_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	TEST_ASSERT(fd >= 0, "open /dev/kmsg: %s", strerror(errno));
	TEST_ASSERT(lseek(fd, 0, SEEK_END) >= 0, "seek /dev/kmsg");
	return fd;
}

static inline bool memext_kmsg_has(int fd, const char *what)
{
	char rec[4096];
	bool found = false;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		rec[n] = 0;
		found |= !!strstr(rec, what);
	}
	return found;
}

/* Run @hit, which makes this process hit a limit, until @what is logged. */
static inline void memext_expect_log_line(void (*hit)(void *), void *arg,
					  const char *what)
{
	int try, fd;

	for (try = 0; try < 2; try++) {
		if (try)
			sleep(6);
		fd = memext_kmsg_open();
		hit(arg);
		if (memext_kmsg_has(fd, what)) {
			close(fd);
			ksft_print_msg("logged: ...%s...\n", what);
			return;
		}
		close(fd);
	}
	TEST_FAIL("no kernel log line holding \"%s\"", what);
}

/*
 * IO memory: the first @size bytes of BAR 2 of the ivshmem-plain device
 * that the runner adds, mapped through sysfs: resource2 uncached (x86
 * UC-, arm64 Device-nGnRE), resource2_wc write-combining (WC,
 * Normal-NC); a VM_PFNMAP mapping of memory without struct page.  At
 * @addr if not NULL (MAP_FIXED).  NULL if there is no such device.
 */
static inline uint8_t *memext_map_ivshmem(void *addr, size_t size, bool wc)
{
	char path[300], id[16];
	struct dirent *d;
	uint8_t *p = NULL;
	DIR *dir;
	FILE *f;
	int fd;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return NULL;
	while (!p && (d = readdir(dir))) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(id, sizeof(id), f) && !strncmp(id, "0x1110", 6)) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource2%s",
				 d->d_name, wc ? "_wc" : "");
			fd = open(path, O_RDWR | O_SYNC);
			if (fd >= 0) {
				p = mmap(addr, size, PROT_READ | PROT_WRITE,
					 MAP_SHARED | (addr ? MAP_FIXED : 0), fd, 0);
				close(fd);
				if (p == MAP_FAILED)
					p = NULL;
			}
		}
		fclose(f);
	}
	closedir(dir);
	return p;
}

/* Send @fd over the UNIX socket @sock (SCM_RIGHTS); sendmsg()'s result. */
static inline int memext_send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0);
}

/* The file descriptor that memext_send_fd() sent over @sock. */
static inline int memext_recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	int fd;

	TEST_ASSERT(recvmsg(sock, &msg, 0) == 1, "recvmsg");
	cmsg = CMSG_FIRSTHDR(&msg);
	TEST_ASSERT(cmsg && cmsg->cmsg_type == SCM_RIGHTS, "no fd received");
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

#endif /* SELFTEST_MEMEXT_UTIL_H */
