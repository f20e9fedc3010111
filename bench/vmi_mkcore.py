#!/usr/bin/python3
"""For the drgn comparison of bench/vmi.sh: an ELF core of a guest's raw
RAM file with the VMCOREINFO note drgn needs (what QEMU's
`-device vmcoreinfo` plus the guest's qemu_fw_cfg module would give).
drgn cannot open QEMU's dump-guest-memory output of our guests without
it; cotrack finds the same text by scanning RAM.

    vmi_mkcore.py RAW OUT
"""
import mmap
import struct
import sys


def main():
    raw, out = sys.argv[1], sys.argv[2]
    with open(raw, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        size = len(m)
        text = None
        for off in range(0, size, 4096):
            if m[off:off + 10] == b"OSRELEASE=":
                text = m[off:off + 4096].split(b"\0")[0]
                break
        if text is None:
            sys.exit("no VMCOREINFO in " + raw)
        name = b"VMCOREINFO\0"
        note = struct.pack("<III", len(name), len(text), 0)
        note += name + b"\0" * (-len(name) % 4) + text + b"\0" * (-len(text) % 4)
        # a kdump-style core also maps the kernel image virtually:
        # va = pa - phys_base + __START_KERNEL_map
        phys_base = 0
        for line in text.decode().splitlines():
            if line.startswith("NUMBER(phys_base)="):
                phys_base = int(line.split("=")[1]) & (2**64 - 1)
        kva = (0xffffffff80000000 - phys_base) & (2**64 - 1)
        phoff, phnum = 64, 3
        note_off = phoff + 56 * phnum
        data_off = (note_off + len(note) + 4095) & ~4095
        eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
        eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56,
                          phnum, 0, 0, 0)
        ph = struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(note),
                         len(note), 4)
        ph += struct.pack("<IIQQQQQQ", 1, 7, data_off, 0, 0, size, size, 4096)
        ph += struct.pack("<IIQQQQQQ", 1, 7, data_off, kva, 0, size, size,
                          4096)
        with open(out, "wb") as o:
            o.write(eh + ph + note)
            o.write(b"\0" * (data_off - o.tell()))
            o.write(m)


main()
