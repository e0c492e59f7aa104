#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the addresses whose ENDBR an IBT kernel seals at boot.

objtool lists in .ibt_endbr_seal every function whose address is never
taken; on a CPU with IBT the kernel overwrites their ENDBR, and an
indirect call to one of them raises #CP.  Each entry is a 32-bit offset
relative to the entry itself.  Reads an uncompressed vmlinux (e.g. from
scripts/extract-vmlinux); prints one address per line, 16 hex digits,
the link-time (nokaslr) address; prints nothing for a kernel without
the section (no CONFIG_X86_KERNEL_IBT).

Usage: ibt-seal.py <vmlinux>
"""
import struct
import sys


def sections(data):
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        sys.exit('not a little-endian ELF64 file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
    hdrs = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize)
            for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    for h in hdrs:
        end = data.index(b'\0', stroff + h[0])
        yield data[stroff + h[0]:end].decode(), h[3], h[4], h[5]


def main():
    with open(sys.argv[1], 'rb') as f:
        data = f.read()
    for name, addr, off, size in sections(data):
        if name != '.ibt_endbr_seal':
            continue
        for i in range(0, size, 4):
            rel, = struct.unpack_from('<i', data, off + i)
            print('%016x' % ((addr + i + rel) & (2**64 - 1)))


if __name__ == '__main__':
    main()
