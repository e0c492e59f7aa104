// SPDX-License-Identifier: GPL-2.0-only
/*
 * The limits of private memory, as a caller meets them: an errno or a
 * SIGBUS, a trace event, and a kernel log line that names the limit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ratelimit.h>
#include <linux/sched.h>

#include "kvm_memext.h"
#include "privmem.h"
#include "trace.h"

/*
 * A caller that hits a limit gets an errno, or SIGBUS at a fault, which
 * says nothing of which limit; the kernel log does: one line per limit,
 * naming the process, the limit and what raises it.  Each limit has its
 * own rate limit, so that one busy caller hides no other limit's line.
 */
static const struct {
	const char *what;
	const char *name;	/* of the limit, with its unit if any */
	const char *fix;
} privmem_limits[KVM_MEMEXT_NR_LIMITS] = {
	[KVM_MEMEXT_LIMIT_MEMLOCK] = {
		"private memory beyond the process's memlock limit",
		"RLIMIT_MEMLOCK KiB",
		"raise it (ulimit -l, prlimit, LimitMEMLOCK= of the systemd unit that starts it) or grant CAP_IPC_LOCK",
	},
	[KVM_MEMEXT_LIMIT_CEILING] = {
		"private memory beyond the host's ceiling",
		"privmem_max_mb",
		"raise /sys/module/kvm_memext/parameters/privmem_max_mb",
	},
	[KVM_MEMEXT_LIMIT_MOUNT] = {
		"private memory beyond its mount's size",
		"size MiB",
		"remount with a larger size=",
	},
	[KVM_MEMEXT_LIMIT_OWNER] = {
		"file owned by another live process",
		"inode",
		"map and allocate a file from one process; another may once the owner exited",
	},
	[KVM_MEMEXT_LIMIT_BLOCK] = {
		"no free 2 MiB block for a file that may not split the direct map",
		"free pages",
		"free or compact memory, or create the file with CAP_SYS_ADMIN",
	},
	[KVM_MEMEXT_LIMIT_SPLITS] = {
		"kvm-clock pages split the owner's share of direct-map blocks",
		"splits",
		"keep the vCPUs' kvm-clock areas in fewer 2 MiB blocks",
	},
	[KVM_MEMEXT_LIMIT_RANGES] = {
		"too many accessible ranges in one file",
		"ranges",
		"make fewer, larger ranges accessible",
	},
	[KVM_MEMEXT_LIMIT_FLUSH] = {
		"waits for its TLB-flush budget",
		"privmem_flush_rate per second",
		"change access less often, or raise privmem_flush_rate and privmem_host_flush_rate",
	},
	[KVM_MEMEXT_LIMIT_HIBERNATION] = {
		"hibernation refused while private-memory files exist",
		"files",
		"stop the VMs whose memory is private and remove their files first",
	},
};

static struct ratelimit_state privmem_limit_rs[KVM_MEMEXT_NR_LIMITS] = {
	[0 ... KVM_MEMEXT_NR_LIMITS - 1] =
		RATELIMIT_STATE_INIT(privmem_limit_rs, 5 * HZ, 1),
};

/**
 * kvm_memext_privmem_limit_hit() - say in the kernel log that a limit hit
 * @limit: which limit.
 * @value: its value, in the unit that its table entry names.
 *
 * At most one line per limit in 5 seconds.
 */
void kvm_memext_privmem_limit_hit(enum kvm_memext_privmem_limit limit,
				  unsigned long value)
{
	if (WARN_ON_ONCE(limit >= KVM_MEMEXT_NR_LIMITS))
		return;
	/* Every refusal is traced; the log line is rate-limited. */
	trace_kvm_memext_limit(limit, value);
	if (!__ratelimit(&privmem_limit_rs[limit]))
		return;
	pr_warn("%s[%d]: %s (%s: %lu); %s\n", current->comm,
		task_pid_nr(current), privmem_limits[limit].what,
		privmem_limits[limit].name, value, privmem_limits[limit].fix);
}
