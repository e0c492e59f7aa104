// SPDX-License-Identifier: GPL-2.0-only
/*
 * The one place that looks up kernel functions no kernel exports.
 *
 * Removing pages from the kernel direct map needs the set_memory and
 * set_direct_map primitives and flush_tlb_kernel_range(), none of which is
 * exported on any supported kernel.  Each name of a fixed allowlist is
 * resolved with a kprobe (registered only to learn the address, then
 * removed at once) and verified through kallsyms to be the start of a
 * function of exactly that name.  A missing primitive disables only the
 * feature that needs it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/string.h>

#include "kvm_memext.h"

struct kvm_memext_syms kvm_memext_syms __ro_after_init;

/*
 * kp.addr may point past the function's first instruction (x86 skips an
 * ENDBR64), and an indirect call must land on the ENDBR: take the start of
 * the symbol kallsyms reports, provided its name is the one asked for.
 */
static unsigned long __init kvm_memext_lookup(const char *name)
{
	char sym[KSYM_SYMBOL_LEN];
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr, off, size;
	size_t len = strlen(name);
	char *p;

	if (register_kprobe(&kp))
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);

	sprint_symbol(sym, addr);
	/* "name+0xoff/0xsize [module]": core kernel, exact name. */
	if (strncmp(sym, name, len) || sym[len] != '+' || strchr(sym, '['))
		return 0;
	p = strchr(sym, '/');
	if (!p)
		return 0;
	*p = '\0';
	if (kstrtoul(sym + len + 1, 0, &off) || kstrtoul(p + 1, 0, &size) ||
	    off >= size || off > 16)
		return 0;
	return addr - off;
}

/**
 * kvm_memext_resolve_syms() - look up the unexported primitives
 *
 * Return: true when every primitive of the direct-map feature was found.
 */
bool __init kvm_memext_resolve_syms(void)
{
	struct kvm_memext_syms *s = &kvm_memext_syms;

	s->set_memory_np = (void *)kvm_memext_lookup("set_memory_np");
	s->set_memory_p = (void *)kvm_memext_lookup("set_memory_p");
	s->set_direct_map_invalid_noflush =
		(void *)kvm_memext_lookup("set_direct_map_invalid_noflush");
	s->set_direct_map_default_noflush =
		(void *)kvm_memext_lookup("set_direct_map_default_noflush");
	s->set_direct_map_valid_noflush =
		(void *)kvm_memext_lookup("set_direct_map_valid_noflush");
	s->flush_tlb_kernel_range =
		(void *)kvm_memext_lookup("flush_tlb_kernel_range");

	/*
	 * Optional: set_memory_p() (6.9+) spares 6.1 a direct-map split on
	 * free, set_direct_map_valid_noflush() (6.13+) a flush on free.
	 */
	if (!s->set_memory_np ||
	    !s->set_direct_map_invalid_noflush ||
	    !s->set_direct_map_default_noflush ||
	    !s->flush_tlb_kernel_range) {
		pr_info("privmem disabled: direct-map primitives not found (set_memory_np %d, set_direct_map_invalid_noflush %d, set_direct_map_default_noflush %d, flush_tlb_kernel_range %d)\n",
			!!s->set_memory_np,
			!!s->set_direct_map_invalid_noflush,
			!!s->set_direct_map_default_noflush,
			!!s->flush_tlb_kernel_range);
		memset(&kvm_memext_syms, 0, sizeof(kvm_memext_syms));
		return false;
	}
	return true;
}
