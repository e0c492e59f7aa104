// SPDX-License-Identifier: GPL-2.0
/*
 * A structure-aware fuzzer of kvm_memext: several threads issue every
 * ioctl of /dev/kvm_memext, its VM handles and private-memory files with
 * half-valid arguments (a valid struct with one field mutated, boundary
 * values, unknown flags, nonzero padding, bad and partly mapped pointers,
 * fds of the wrong kind), mixed with the file operations (mmap, munmap,
 * mremap, madvise, mprotect, ftruncate, fallocate, fork, close, the file
 * system's create, mkdir, rename, unlink) and KVM's own memslot ioctls,
 * while a vCPU runs a guest that reads memory in those slots.
 *
 * It fails if a call returns an errno outside what the uAPI documents for
 * it, if a thread stops making progress for 60 s (a hang), or if the
 * process dies; splats and leaks are the harness's to find.  Seeded: each
 * thread's generator starts from the seed and its index; on failure the
 * last calls of every thread are printed.  Reports the calls made and the
 * distinct (call, errno) pairs seen.
 *
 * Usage: fuzz_test [-n calls] [-s seed] [-t threads]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <ucontext.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "memext_util.h"
#include "memext_arch.h"
#include "processor.h"

#define CHUNK		(512 * PAGE_SIZE)
#define DATA_GPA	0x40000000ul
#define NR_SLOTS	4		/* slots 10..13, the fuzzer's */
#define MNT		"/tmp/kvm_memext-fuzz"
#define POOL		48
#define MAX_MAPS	32
#define MAX_THREADS	8
#define RING		16
#define NR_CALLS	24

enum kind { K_NONE, K_DEV, K_HANDLE, K_PRIVMEM, K_FSFILE, K_VM, K_VCPU, K_OTHER };
static const char * const kind_name[] = {
	"none", "dev", "handle", "privmem", "fsfile", "vm", "vcpu", "other",
};

struct slot {
	int fd;
	enum kind kind;
	bool pinned;		/* the guest's VM and vCPU: never closed */
};

struct map {
	void *addr;
	size_t len;
};

static struct slot pool[POOL];
static struct map maps[MAX_MAPS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static uint8_t *guard;		/* a mapped page followed by a PROT_NONE one */
static uint8_t *anon;		/* memslot backing the fuzzer may use */
static uint64_t nr_calls, target, vcpu_attached;
static bool stop;

/* (call, errno) pairs seen, and the errnos each call may return. */
static uint8_t seen[NR_CALLS][134];
static const char * const call_name[NR_CALLS] = {
	"API_VERSION", "CHECK_EXTENSION", "BIND_VM", "CREATE_PRIVMEM",
	"SET_MEMSLOTS", "RUNSTATE_ATTACH", "RUNSTATE_DETACH", "RUNSTATE_GET",
	"SET_ACCESS", "mmap", "munmap", "mremap", "madvise", "mprotect",
	"ftruncate", "fallocate", "fork", "close", "fs", "KVM_SET_REGION",
	"touch", "open_dev", "bad_ioctl", "dup",
};

struct thread {
	pthread_t tid;
	uint64_t rng;
	uint64_t calls;
	char ring[RING][96];
	unsigned int head;
	sigjmp_buf jmp;
	bool in_touch;
	bool done;
};

static struct thread threads[MAX_THREADS];
static int nr_threads = 3;
static __thread struct thread *self;
/* In a fork()ed child: no locks (their holders are not in the child). */
static __thread bool in_child;

static uint64_t rnd(void)
{
	uint64_t x = self->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	self->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Values that break arithmetic and checks. */
static uint64_t boundary(void)
{
	static const uint64_t v[] = {
		0, 1, PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1, CHUNK, CHUNK - PAGE_SIZE, 1ull << 31,
		1ull << 32, (1ull << 47) - PAGE_SIZE, 1ull << 47, 1ull << 62,
		1ull << 63, ~0ull, ~0ull - PAGE_SIZE + 1, 0x7fffffff,
	};

	return v[below(ARRAY_SIZE(v))];
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(self->ring[self->head++ % RING], sizeof(self->ring[0]), fmt, ap);
	va_end(ap);
}

static void dump_rings(void)
{
	int t;
	unsigned int i;

	for (t = 0; t < nr_threads; t++)
		for (i = 0; i < RING; i++)
			if (threads[t].ring[(threads[t].head + i) % RING][0])
				ksft_print_msg("thread %d: %s\n", t,
					       threads[t].ring[(threads[t].head + i) % RING]);
}

/* Errnos each call may return per api.rst (and the VFS/mm for the rest). */
static bool allowed(int call, int err)
{
	switch (err) {
	case 0: case EINVAL: case EBADF: case EFAULT: case ENOTTY: case EPERM:
	case EACCES: case ENOMEM: case EEXIST: case ENOENT: case EINTR:
	case EAGAIN: case ENOSPC: case E2BIG: case EOPNOTSUPP: case EIO:
	case EBUSY: case ENODEV: case ETIMEDOUT: case EFBIG: case ENXIO:
	case EOVERFLOW: case ENOTDIR: case EISDIR: case ENOTEMPTY: case ESPIPE:
	case EMFILE: case ENFILE: case EDQUOT:
		return true;
	}
	return false;
}

static void account(int call, long r)
{
	int err = r < 0 ? errno : 0;

	if (err < 134)
		seen[call][err] = 1;
	TEST_ASSERT(allowed(call, err), "%s returned errno %d (%s)", call_name[call],
		    err, strerror(err));
	__atomic_add_fetch(&nr_calls, 1, __ATOMIC_RELAXED);
	self->calls++;
}

/* A random fd of the pool (any kind), or a stale or bogus number. */
static int pick_fd(enum kind *kind)
{
	int i = below(POOL + 4);

	/* Never a number that may be open outside the pool (stdout, say). */
	if (i >= POOL) {
		*kind = K_NONE;
		return i == POOL ? -1 : i == POOL + 1 ? 1000000 : INT_MAX;
	}
	*kind = pool[i].kind;
	return pool[i].fd;
}

/* An fd of one kind, preferably. */
static int pick_kind(enum kind want)
{
	enum kind k;
	int i, fd;

	for (i = 0; i < 16; i++) {
		fd = pick_fd(&k);
		if (k == want)
			return fd;
	}
	return fd;
}

/* A pointer to @size bytes of @buf, or a bad or partly mapped one. */
static void *arg_ptr(void *buf, size_t size)
{
	switch (below(24)) {
	case 0:
		return NULL;
	case 1:
		return (void *)1;
	case 2:
		return (void *)0xffff888000000000ul;
	case 3:
		return guard + PAGE_SIZE;			/* PROT_NONE */
	case 4:
		/* The struct runs into the PROT_NONE page. */
		memcpy(guard + PAGE_SIZE - size / 2, buf, size / 2);
		return guard + PAGE_SIZE - size / 2;
	default:
		return buf;
	}
}

/* Mutate one field-sized piece of @buf, sometimes. */
static void mutate(void *buf, size_t size)
{
	size_t off;

	if (below(3))
		return;
	off = below(size / 4) * 4;
	if (below(2) && off + 8 <= size)
		*(uint64_t *)((char *)buf + off) = boundary();
	else
		*(uint32_t *)((char *)buf + off) = below(3) ? rnd() : boundary();
}

static uint64_t rand_hva(void)
{
	switch (in_child ? 2 : below(4)) {
	case 0:
		return boundary();
	case 1:
		pthread_mutex_lock(&lock);
		{
			struct map *m = &maps[below(MAX_MAPS)];
			uint64_t a = (uintptr_t)m->addr;

			pthread_mutex_unlock(&lock);
			return a;
		}
	default:
		return (uintptr_t)anon + below(16) * PAGE_SIZE;
	}
}

static struct kvm_memext_memslot rand_entry(void)
{
	uint32_t id = 11 + below(NR_SLOTS - 1);
	struct kvm_memext_memslot e;

	/* Half the time a valid change: create or delete slot 11..13. */
	if (below(2)) {
		e = (struct kvm_memext_memslot) {
			.slot = id, .guest_phys_addr = DATA_GPA + (id - 10) * 32 * PAGE_SIZE,
			.memory_size = below(3) ? (below(4) + 1) * PAGE_SIZE : 0,
			.userspace_addr = (uintptr_t)anon + below(12) * PAGE_SIZE,
		};
		return e;
	}
	e = (struct kvm_memext_memslot) {
		.slot = 10 + below(NR_SLOTS) + (below(8) ? 0 : (1 << 16)),
		.flags = below(4) ? 0 : below(2) ? KVM_MEM_LOG_DIRTY_PAGES :
			 below(2) ? KVM_MEM_READONLY : rnd(),
		.guest_phys_addr = DATA_GPA + below(8) * 4 * PAGE_SIZE,
		.memory_size = below(4) ? (below(4) + 1) * PAGE_SIZE : 0,
		.userspace_addr = rand_hva(),
	};

	mutate(&e, sizeof(e));
	return e;
}

/* A new file joins the pool; the one it replaces is closed. */
static void pool_put(int fd, enum kind kind)
{
	int i;

	if (in_child) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&lock);
	i = below(POOL);
	if (pool[i].pinned) {
		close(fd);
	} else {
		if (pool[i].kind != K_NONE)
			close(pool[i].fd);
		pool[i] = (struct slot){ fd, kind };
	}
	pthread_mutex_unlock(&lock);
}

static void op_ioctl(void)
{
	union {
		struct kvm_memext_bind_vm bind;
		struct kvm_memext_create_privmem create;
		struct kvm_memext_set_memslots batch;
		struct kvm_memext_runstate rs;
		struct kvm_memext_runstate_info info;
		struct kvm_memext_privmem_access access;
		uint8_t raw[256];
	} a;
	struct kvm_memext_memslot e[4];
	int call = below(9), fd, nr, i;
	unsigned long cmd = 0;
	size_t size = 0;
	enum kind k;
	long r;

	memset(&a, 0, sizeof(a));
	switch (call) {
	case 0:
		fd = pick_kind(K_DEV);
		cmd = KVM_MEMEXT_GET_API_VERSION;
		break;
	case 1:
		fd = pick_kind(K_DEV);
		cmd = KVM_MEMEXT_CHECK_EXTENSION;
		break;
	case 2:
		fd = pick_kind(K_DEV);
		a.bind.vm_fd = below(4) ? pick_kind(K_VM) : pick_fd(&k);
		cmd = KVM_MEMEXT_BIND_VM;
		size = sizeof(a.bind);
		break;
	case 3:
		fd = pick_kind(K_DEV);
		a.create.size = below(4) ? (below(16) + 1) * PAGE_SIZE * (below(2) ? 512 : 1) :
				boundary();
		a.create.flags = below(4) ? 0 : below(2) ? KVM_MEMEXT_PRIVMEM_NO_HUGE : rnd();
		if (!below(8))
			a.create.reserved[below(6)] = rnd();
		cmd = KVM_MEMEXT_CREATE_PRIVMEM;
		size = sizeof(a.create);
		break;
	case 4:
		fd = pick_kind(K_HANDLE);
		nr = below(4) + 1;
		for (i = 0; i < nr; i++)
			e[i] = rand_entry();
		a.batch.nr_entries = below(8) ? nr : boundary();
		a.batch.entries = below(8) ? (uintptr_t)arg_ptr(e, sizeof(e[0]) * nr) :
				  boundary();
		a.batch.flags = below(2) ? KVM_MEMEXT_MEMSLOTS_DISCARD_DIRTY : 0;
		cmd = KVM_MEMEXT_SET_MEMSLOTS;
		size = sizeof(a.batch);
		break;
	case 5:
	case 6:
		fd = pick_kind(K_HANDLE);
		a.rs.vcpu_fd = below(4) ? pick_kind(K_VCPU) : pick_fd(&k);
		if (call == 5) {
			a.rs.gpa = DATA_GPA + below(16) * PAGE_SIZE - (below(2) ? 16 : 0);
			a.rs.size = below(4) ? 48 : below(2) ? 44 : rnd();
			a.rs.flags = below(4) ? 0 : rnd() & 3;
		}
		cmd = call == 5 ? KVM_MEMEXT_RUNSTATE_ATTACH : KVM_MEMEXT_RUNSTATE_DETACH;
		size = sizeof(a.rs);
		break;
	case 7:
		fd = pick_kind(K_HANDLE);
		a.info.vcpu_fd = pick_kind(K_VCPU);
		cmd = KVM_MEMEXT_RUNSTATE_GET;
		size = sizeof(a.info);
		break;
	default:
		fd = below(4) ? pick_kind(K_PRIVMEM) : pick_kind(K_FSFILE);
		a.access.offset = below(8) * PAGE_SIZE * (below(2) ? 512 : 1);
		a.access.len = below(4) ? (below(8) + 1) * PAGE_SIZE : boundary();
		a.access.flags = below(2) ? KVM_MEMEXT_PRIVMEM_ACCESSIBLE :
				 below(2) ? 0 : rnd();
		cmd = KVM_MEMEXT_PRIVMEM_SET_ACCESS;
		size = sizeof(a.access);
		break;
	}
	if (size)
		mutate(&a, size);
	/* Now and then the right call on the wrong kind of file. */
	if (!below(8))
		fd = pick_fd(&k);
	note("ioctl %s fd %d", call_name[call], fd);
	if (call == 1)
		r = ioctl(fd, cmd, below(2) ? below(8) : boundary());
	else
		r = ioctl(fd, cmd, size ? arg_ptr(&a, size) : NULL);
	account(call, r);
	/* New files join the pool; what they replace is closed. */
	if (r >= 0 && (call == 2 || call == 3))
		pool_put(r, call == 2 ? K_HANDLE : K_PRIVMEM);
}

static void add_map(void *p, size_t len)
{
	struct map *m;

	pthread_mutex_lock(&lock);
	m = &maps[below(MAX_MAPS)];
	if (m->addr)
		munmap(m->addr, m->len);
	*m = (struct map){ p, len };
	pthread_mutex_unlock(&lock);
}

/* Take a mapping off the list, to change it without racing another thread. */
static struct map take_map(void)
{
	struct map m, *s;

	pthread_mutex_lock(&lock);
	s = &maps[below(MAX_MAPS)];
	m = *s;
	*s = (struct map){ NULL, 0 };
	pthread_mutex_unlock(&lock);
	return m;
}

static void op_file(void)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_REMOVE, MADV_DOFORK, MADV_DONTFORK,
		MADV_WILLNEED, MADV_HUGEPAGE, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
		MADV_PAGEOUT, MADV_COLD, MADV_FREE, MADV_DONTDUMP,
	};
	int call = 9 + below(12), fd;
	size_t len = (below(2) + 1) * (below(2) ? CHUNK : PAGE_SIZE);
	struct map m;
	enum kind k;
	void *p;
	long r;

	switch (call) {
	case 9:
		fd = below(4) ? pick_kind(K_PRIVMEM) : pick_fd(&k);
		note("mmap fd %d len %zu", fd, len);
		p = mmap(NULL, len, below(8) ? PROT_READ | PROT_WRITE : PROT_EXEC,
			 below(8) ? MAP_SHARED : MAP_PRIVATE, fd, below(4) * PAGE_SIZE);
		account(call, p == MAP_FAILED ? -1 : 0);
		if (p != MAP_FAILED)
			add_map(p, len);
		return;
	case 10:
	case 11:
	case 12:
	case 13:
		m = take_map();
		if (!m.addr)
			return;
		note("%s %p len %zu", call_name[call], m.addr, m.len);
		if (call == 10) {
			account(call, munmap(m.addr, m.len));
			return;
		}
		if (call == 11) {
			size_t new_len = below(2) ? m.len : len;

			p = mremap(m.addr, m.len, new_len, MREMAP_MAYMOVE);
			account(call, p == MAP_FAILED ? -1 : 0);
			if (p != MAP_FAILED)
				m = (struct map){ p, new_len };
		} else if (call == 12) {
			account(call, madvise(m.addr, m.len,
					      advice[below(ARRAY_SIZE(advice))]));
		} else {
			account(call, mprotect(m.addr, m.len, below(4)));
		}
		add_map(m.addr, m.len);
		return;
	case 14:
		fd = pick_kind(below(2) ? K_PRIVMEM : K_FSFILE);
		note("ftruncate fd %d", fd);
		account(call, ftruncate(fd, below(4) ? below(8) * CHUNK / 2 : boundary()));
		return;
	case 15:
		fd = pick_kind(below(2) ? K_PRIVMEM : K_FSFILE);
		note("fallocate fd %d", fd);
		r = fallocate(fd, below(2) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
			      below(2) ? FALLOC_FL_KEEP_SIZE : 0,
			      below(4) ? below(8) * PAGE_SIZE * (below(2) ? 512 : 1) : boundary(),
			      len);
		account(call, r);
		return;
	case 16:
		note("fork");
		r = fork();
		if (!r) {
			/* The child: a few calls on inherited fds, then gone. */
			int i;

			in_child = true;
			for (i = 0; i < 8; i++)
				op_ioctl();
			_exit(0);
		}
		if (r > 0) {
			int st;

			TEST_ASSERT(waitpid(r, &st, 0) == r && WIFEXITED(st) &&
				    !WEXITSTATUS(st), "forked child: status 0x%x", st);
		}
		account(call, r < 0 ? -1 : 0);
		return;
	case 17:
		pthread_mutex_lock(&lock);
		{
			int i = below(POOL);

			if (!pool[i].pinned && pool[i].kind != K_NONE) {
				note("close fd %d (%s)", pool[i].fd, kind_name[pool[i].kind]);
				account(call, close(pool[i].fd));
				pool[i].kind = K_NONE;
			}
		}
		pthread_mutex_unlock(&lock);
		return;
	case 18: {
		char a[64], b[64];

		snprintf(a, sizeof(a), MNT "/%s%d", below(2) ? "d" : "", (int)below(6));
		snprintf(b, sizeof(b), MNT "/%s%d", below(2) ? "d" : "", (int)below(6));
		note("fs %s", a);
		switch (below(5)) {
		case 0:
			r = open(a, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
			if (r >= 0)
				pool_put(r, K_FSFILE);
			break;
		case 1:
			r = mkdir(a, 0700);
			break;
		case 2:
			r = rename(a, b);
			break;
		case 3:
			r = unlink(a);
			break;
		default:
			r = rmdir(a);
			break;
		}
		account(call, r < 0 ? -1 : 0);
		return;
	}
	default: {
		/* KVM's own memslot ioctl, racing the batches. */
		struct kvm_memext_memslot e = rand_entry();
		struct kvm_userspace_memory_region reg = {
			.slot = e.slot, .flags = e.flags, .guest_phys_addr = e.guest_phys_addr,
			.memory_size = e.memory_size, .userspace_addr = e.userspace_addr,
		};

		note("KVM_SET_USER_MEMORY_REGION slot %u", reg.slot);
		account(19, ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &reg));
		return;
	}
	}
}

/* Read or write a byte of a mapping: SIGSEGV and SIGBUS are expected. */
static void op_touch(void)
{
	struct map m;
	uint8_t *p;

	pthread_mutex_lock(&lock);
	m = maps[below(MAX_MAPS)];
	pthread_mutex_unlock(&lock);
	if (!m.addr)
		return;
	p = (uint8_t *)m.addr + below(m.len / PAGE_SIZE) * PAGE_SIZE;
	note("touch %p", p);
	/* Another thread may unmap it meanwhile: a fault, caught. */
	if (!sigsetjmp(self->jmp, 1)) {
		self->in_touch = true;
		if (below(2))
			WRITE_ONCE(*p, 1);
		else
			READ_ONCE(*p);
	}
	self->in_touch = false;
	account(20, 0);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	if (self && self->in_touch)
		siglongjmp(self->jmp, 1);
	/* Not a touch: the fuzzer's own bug, or the kernel's.  Say where. */
	fflush(stdout);
	fprintf(stderr, "signal %d at %p (" MEMEXT_PC_NAME " %lx) outside a touch, thread %ld\n",
		sig, si->si_addr, memext_ucontext_pc((ucontext_t *)uc),
		self ? (long)(self - threads) : -1L);
	dump_rings();
	fflush(stdout);
	_exit(KSFT_FAIL);
}

/* Faults are reported even when the stack is what broke. */
static void alt_stack(void)
{
	static __thread char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };

	TEST_ASSERT(!sigaltstack(&ss, NULL), "sigaltstack");
}

static void *fuzz_fn(void *arg)
{
	self = arg;
	alt_stack();
	while (!READ_ONCE(stop) && __atomic_load_n(&nr_calls, __ATOMIC_RELAXED) < target) {
		switch (below(10)) {
		case 0 ... 4:
			op_ioctl();
			break;
		case 5 ... 8:
			op_file();
			break;
		default:
			op_touch();
			break;
		}
	}
	WRITE_ONCE(self->done, true);
	return NULL;
}

static void guest_code(void)
{
	for (;;) {
		/* Reads whatever slot is there: holes are MMIO exits. */
		READ_ONCE(*(uint64_t *)DATA_GPA);
		READ_ONCE(*(uint64_t *)(DATA_GPA + 5 * PAGE_SIZE));
		GUEST_SYNC(0);
	}
}

/*
 * The vCPU's own thread: runs the guest, and now and then attaches or
 * detaches a runstate area (which only this thread may attach) somewhere
 * in the memory the other threads reshape.
 */
static void *vcpu_fn(void *arg)
{
	struct thread me = { .rng = 0x5eed };
	struct kvm_memext_runstate a = {
		.vcpu_fd = vcpu->fd, .size = sizeof(struct kvm_memext_runstate_area),
	}, d = {};
	bool attach;
	uint64_t n;

	self = &me;
	alt_stack();
	for (n = 0; !READ_ONCE(stop); n++) {
		/* Every exit is fine: the fuzzer reshapes the guest's memory. */
		if (__vcpu_run(vcpu) && errno != EINTR && errno != EFAULT)
			usleep(1000);
		if (n % 16)
			continue;
		a.gpa = DATA_GPA + (below(15) + 1) * PAGE_SIZE - 16;
		/* Detach takes the vCPU only. */
		d.vcpu_fd = vcpu->fd;
		attach = below(2);
		if (ioctl(pool[3].kind == K_HANDLE ? pool[3].fd : -1,
			  attach ? KVM_MEMEXT_RUNSTATE_ATTACH : KVM_MEMEXT_RUNSTATE_DETACH,
			  attach ? &a : &d) == 0)
			__atomic_add_fetch(&vcpu_attached, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void pool_add(int i, int fd, enum kind kind, bool pinned)
{
	TEST_ASSERT(fd >= 0, "pool fd %d (%s): %s", i, kind_name[kind], strerror(errno));
	pool[i] = (struct slot){ fd, kind, pinned };
}

int main(int argc, char *argv[])
{
	unsigned int seed = 1, pairs = 0;
	uint64_t last = 0, calls = 0;
	int opt, i, j, idle = 0, p[2];
	pthread_t vt;

	target = 20000;
	while ((opt = getopt(argc, argv, "n:s:t:")) != -1) {
		switch (opt) {
		case 'n':
			target = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 't':
			nr_threads = atoi(optarg);
			break;
		default:
			exit(KSFT_FAIL);
		}
	}
	TEST_ASSERT(nr_threads > 0 && nr_threads <= MAX_THREADS, "1..%d threads",
		    MAX_THREADS);
	/* What the fuzzer printed is there even if it dies. */
	setvbuf(stdout, NULL, _IONBF, 0);
	ksft_print_header();
	ksft_set_plan(1);
	i = memext_open();
	ksft_print_msg("seed %u, %lu calls, %d threads\n", seed, (unsigned long)target,
		       nr_threads);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	anon = mmap(NULL, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	guard = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(anon != MAP_FAILED && guard != MAP_FAILED &&
		    !mprotect(guard + PAGE_SIZE, PAGE_SIZE, PROT_NONE), "mmap");
	vm_set_user_memory_region(vm, 10, 0, DATA_GPA, 16 * PAGE_SIZE, anon);
	virt_map(vm, DATA_GPA, DATA_GPA, 16);
	mkdir(MNT, 0700);
	if (memext_has_cap(KVM_MEMEXT_CAP_PRIVMEM_FS)) {
		TEST_ASSERT(!mount("none", MNT, "kvm_memext", 0, "size=256M"),
			    "mount: %s", strerror(errno));
	} else {
		/* arm64: no private memory; the file calls go to a tmpfs. */
		TEST_ASSERT(!mount("none", MNT, "tmpfs", 0, "size=256M"),
			    "mount tmpfs: %s", strerror(errno));
		ksft_print_msg("no kvm_memext file system: fs calls on a tmpfs\n");
	}

	pool_add(0, i, K_DEV, false);
	pool_add(1, vm->fd, K_VM, true);
	pool_add(2, vcpu->fd, K_VCPU, true);
	pool_add(3, memext_bind(i, vm->fd), K_HANDLE, false);
	pool_add(4, memext_open(), K_DEV, false);
	pool_add(5, open("/dev/null", O_RDWR), K_OTHER, false);
	pool_add(6, eventfd(0, 0), K_OTHER, false);
	TEST_ASSERT(!pipe(p), "pipe");
	pool_add(7, p[0], K_OTHER, false);
	pool_add(8, p[1], K_OTHER, false);
	pool_add(9, memfd_create("fuzz", 0), K_OTHER, false);
	pool_add(10, open(MNT, O_RDONLY | O_DIRECTORY), K_OTHER, false);
	/* Two more VMs without vCPUs, bound: batches apply there at once. */
	for (i = 11; i < 13; i++) {
		struct kvm_vm *other = vm_create_barebones();

		pool_add(i, other->fd, K_VM, true);
		pool_add(i + 2, memext_bind(pool[0].fd, other->fd), K_HANDLE, false);
	}

	{
		struct sigaction sa = {
			.sa_sigaction = on_fault,
			.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK,
		};

		alt_stack();
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
	}
	/* The valid changes rand_entry() makes are valid. */
	{
		struct kvm_memext_memslot e = {
			.slot = 11, .guest_phys_addr = DATA_GPA + 32 * PAGE_SIZE,
			.memory_size = PAGE_SIZE, .userspace_addr = (uintptr_t)anon,
		};
		struct kvm_memext_set_memslots b = {
			.nr_entries = 1, .entries = (uintptr_t)&e,
		};

		TEST_ASSERT(!ioctl(pool[3].fd, KVM_MEMEXT_SET_MEMSLOTS, &b),
			    "create: %s (entry %d)", strerror(errno), b.error_index);
		e.memory_size = 0;
		TEST_ASSERT(!ioctl(pool[3].fd, KVM_MEMEXT_SET_MEMSLOTS, &b),
			    "delete: %s (entry %d)", strerror(errno), b.error_index);
	}
	pthread_create(&vt, NULL, vcpu_fn, NULL);
	for (i = 0; i < nr_threads; i++) {
		threads[i].rng = (seed + 1) * 0x9e3779b97f4a7c15ull ^ (i + 1);
		pthread_create(&threads[i].tid, NULL, fuzz_fn, &threads[i]);
	}
	/* A thread stuck for 60 s is a hang: report where each one is. */
	while (__atomic_load_n(&nr_calls, __ATOMIC_RELAXED) < target) {
		sleep(1);
		calls = __atomic_load_n(&nr_calls, __ATOMIC_RELAXED);
		idle = calls == last ? idle + 1 : 0;
		last = calls;
		if (idle >= 60) {
			dump_rings();
			TEST_FAIL("no call completed for 60 s, at %lu calls",
				  (unsigned long)calls);
		}
	}
	/* Each thread finishes its call within 60 s. */
	WRITE_ONCE(stop, true);
	for (i = 0; i < nr_threads; i++) {
		for (j = 0; !READ_ONCE(threads[i].done); j++) {
			if (j == 60000) {
				dump_rings();
				TEST_FAIL("thread %d stuck in a call for 60 s", i);
			}
			usleep(1000);
		}
	}

	for (i = 0; i < NR_CALLS; i++)
		for (j = 0; j < 134; j++)
			pairs += seen[i][j];
	for (i = 0; i < NR_CALLS; i++) {
		char line[512];
		int n = 0;

		for (j = 0; j < 134; j++)
			if (seen[i][j])
				n += snprintf(line + n, sizeof(line) - n, " %s",
					      j ? strerrorname_np(j) : "0");
		if (n)
			ksft_print_msg("%s:%s\n", call_name[i], line);
	}
	ksft_print_msg("%lu calls, %u distinct (call, errno) pairs; %s %lu areas\n",
		       (unsigned long)calls, pairs,
		       "the vCPU thread attached or detached", (unsigned long)vcpu_attached);
	ksft_test_result_pass("fuzz\n");
	/*
	 * Exit without cleanup: what the module holds goes with the process.
	 * The mount goes with its last open file.
	 */
	umount2(MNT, MNT_DETACH);
	_exit(ksft_get_fail_cnt() ? KSFT_FAIL : KSFT_PASS);
}
