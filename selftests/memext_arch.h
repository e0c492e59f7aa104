/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the kvm_memext selftests do differently on x86-64 and arm64: halt a
 * guest, read a cycle counter, call code the host wrote, say where a vCPU
 * or a signal stopped, catch a guest's instruction fetch from a hole, and
 * what x86 alone has (kvm-clock, and private memory, which the module
 * builds on x86-64 only).
 */
#ifndef SELFTEST_MEMEXT_ARCH_H
#define SELFTEST_MEMEXT_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

/* A vCPU's program counter, stack pointer and return-value register. */
struct memext_regs {
	uint64_t pc;
	uint64_t sp;
	uint64_t ret;
};

#if defined(__x86_64__)

/* Private memory, and kvm-clock on it: x86-64's alone so far. */
#define MEMEXT_ARCH_PRIVMEM	true

#define MEMEXT_PC_NAME		"rip"

/*
 * The memory types the module's kvm_memext_cache_map event names for RAM,
 * and for IO memory mapped uncached and write-combining by its host
 * mapping (PAT: PCD = UC-, PWT = WC).
 */
#define MEMEXT_MEMTYPE_RAM	"WB"
#define MEMEXT_MEMTYPE_UC	"UC-"
#define MEMEXT_MEMTYPE_WC	"WC"
/* vgem's pages: the host's type, WC (set_pages_array_wc() on its pages). */
#define MEMEXT_MEMTYPE_VGEM	"WC"
#define MEMEXT_REGS_FMT		"rip 0x%lx rsp 0x%lx rax 0x%lx"

/* The pc of a signal's context (ucontext_t *, with _GNU_SOURCE). */
#define memext_ucontext_pc(uc)	((uint64_t)(uc)->uc_mcontext.gregs[REG_RIP])

static inline struct memext_regs memext_vcpu_regs(struct kvm_vcpu *vcpu)
{
	struct kvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
	return (struct memext_regs){ regs.rip, regs.rsp, regs.rax };
}

/* Guest: interrupts off and halt, for good: blocked in KVM_RUN. */
static inline void memext_guest_halt(void)
{
	asm volatile("cli; hlt");
}

/* Guest or host: the TSC. */
static inline uint64_t memext_cycles(void)
{
	return rdtsc();
}

/* How fast memext_cycles() counts in @vcpu's guest, in kHz (< 0: error). */
static inline int64_t memext_cycles_khz(struct kvm_vcpu *vcpu)
{
	return __vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
}

/*
 * Write a function that returns @val at @p (movabs $val, %rax; ret), for
 * memext_guest_call(); returns its size.
 */
static inline size_t memext_emit_ret_imm(uint8_t *p, uint64_t val)
{
	p[0] = 0x48;
	p[1] = 0xb8;
	memcpy(p + 2, &val, 8);
	p[10] = 0xc3;
	return 11;
}

/* Guest: call the function at @addr, which returns in %rax. */
static inline uint64_t memext_guest_call(uint64_t addr)
{
	uint64_t ret;

	asm volatile("call *%1" : "=a"(ret) : "r"(addr) : "memory");
	return ret;
}

/*
 * KVM/x86 cannot emulate an instruction fetch from a GPA without a memslot
 * and exits to the VMM (KVM_EXIT_INTERNAL_ERROR): nothing to catch.  With
 * KVM_CAP_EXIT_ON_EMULATION_FAILURE it queues no #UD first, so the VMM may
 * run the vCPU again to fetch again.
 */
static inline void memext_vm_on_fetch_abort(struct kvm_vm *vm,
					    struct kvm_vcpu **vcpus, int nr,
					    void (*fn)(struct ex_regs *))
{
	vm_enable_cap(vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
}

#define MEMEXT_MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01

/* Guest: put kvm-clock at @gpa, or disable it (0). */
static inline void memext_guest_kvmclock(uint64_t gpa)
{
	wrmsr(MEMEXT_MSR_KVM_SYSTEM_TIME_NEW, gpa ? gpa | 1 : 0);
}

#elif defined(__aarch64__)

#define MEMEXT_ARCH_PRIVMEM	false

#define MEMEXT_PC_NAME		"pc"

/* As on x86, by MAIR attribute (Device-nGnRE is pgprot_device()'s). */
#define MEMEXT_MEMTYPE_RAM	"Normal"
#define MEMEXT_MEMTYPE_UC	"Device-nGnRE"
#define MEMEXT_MEMTYPE_WC	"Normal-NC"
/* vgem's pages: RAM, cacheable whatever the host's type. */
#define MEMEXT_MEMTYPE_VGEM	"Normal"
#define MEMEXT_REGS_FMT		"pc 0x%lx sp 0x%lx x0 0x%lx"

#define memext_ucontext_pc(uc)	((uint64_t)(uc)->uc_mcontext.pc)

/* For a failure report: registers that cannot be read stay 0. */
static inline struct memext_regs memext_vcpu_regs(struct kvm_vcpu *vcpu)
{
	struct memext_regs r = {};

	__vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.pc), &r.pc);
	/* The guest runs at EL1 on SP_EL1. */
	__vcpu_get_reg(vcpu, ARM64_CORE_REG(sp_el1), &r.sp);
	__vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.regs[0]), &r.ret);
	return r;
}

/*
 * Guest: every exception masked (as cli), then wait for good.  A WFI may
 * end with nothing to take, so wait again; KVM traps it and the vCPU
 * thread blocks in KVM_RUN, as on HLT.
 */
static inline void memext_guest_halt(void)
{
	asm volatile("msr daifset, #0xf" : : : "memory");
	for (;;)
		asm volatile("wfi" : : : "memory");
}

/*
 * Guest or host: the virtual counter (Linux lets EL0 read it); the ISB
 * keeps it from being read early, as the library's timer_get_cntct().
 */
static inline uint64_t memext_cycles(void)
{
	uint64_t cnt;

	asm volatile("isb; mrs %0, cntvct_el0" : "=r"(cnt) : : "memory");
	return cnt;
}

/* The counter's frequency, which KVM does not change for guests. */
static inline int64_t memext_cycles_khz(struct kvm_vcpu *vcpu)
{
	uint64_t frq;

	asm volatile("mrs %0, cntfrq_el0" : "=r"(frq));
	return frq / 1000;
}

/*
 * movz x0, #val[15:0]; movk x0, #val[31:16], lsl #16; ... lsl #48; ret.
 * KVM invalidates the I-cache when it maps the page for execution.
 */
static inline size_t memext_emit_ret_imm(uint8_t *p, uint64_t val)
{
	uint32_t insn[5];
	int i;

	for (i = 0; i < 4; i++)
		insn[i] = (i ? 0xf2800000u : 0xd2800000u) | (uint32_t)i << 21 |
			  (uint32_t)((val >> (16 * i)) & 0xffff) << 5;
	insn[4] = 0xd65f03c0u;
	memcpy(p, insn, sizeof(insn));
	return sizeof(insn);
}

/* Guest: branch with link to @addr; the function returns in x0. */
static inline uint64_t memext_guest_call(uint64_t addr)
{
	register uint64_t x0 asm("x0");

	asm volatile("blr %1" : "=r"(x0) : "r"(addr) : "x30", "memory");
	return x0;
}

#define MEMEXT_ESR_EC_IABT_CUR	0x21	/* instruction abort, same EL */

/*
 * KVM/arm64 makes an instruction fetch from a GPA without a memslot an
 * instruction abort in the guest, not an exit: give it to @fn, whose
 * return retries the fetch.  Other unexpected exceptions then fail the
 * test (UCALL_UNHANDLED) rather than loop in the guest.
 */
static inline void memext_vm_on_fetch_abort(struct kvm_vm *vm,
					    struct kvm_vcpu **vcpus, int nr,
					    void (*fn)(struct ex_regs *))
{
	int i;

	vm_init_descriptor_tables(vm);
	for (i = 0; i < nr; i++)
		vcpu_init_descriptor_tables(vcpus[i]);
	vm_install_sync_handler(vm, VECTOR_SYNC_CURRENT, MEMEXT_ESR_EC_IABT_CUR, fn);
}

/* No kvm-clock: callers check MEMEXT_ARCH_PRIVMEM first. */
static inline void memext_guest_kvmclock(uint64_t gpa)
{
	GUEST_ASSERT(!gpa);
}

#else
#error "kvm_memext selftests: x86-64 and arm64 only"
#endif

#endif /* SELFTEST_MEMEXT_ARCH_H */
