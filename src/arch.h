/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What differs between architectures, one header each: what is RAM and
 * what IO memory, how a page-table entry names a memory type, mapping IO
 * memory and RAM of a host mapping, and the clock runstate areas count
 * in.  The rest of the module is architecture-neutral, but for private
 * memory, which is x86-64's alone so far (Kbuild).
 */
#ifndef _KVM_MEMEXT_ARCH_H
#define _KVM_MEMEXT_ARCH_H

#if defined(CONFIG_X86_64)
#include "arch_x86.h"
#elif defined(CONFIG_ARM64)
#include "arch_arm64.h"
#else
#error "kvm_memext: unsupported architecture"
#endif

#endif /* _KVM_MEMEXT_ARCH_H */
