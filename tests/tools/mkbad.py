#!/usr/bin/env python3
"""One hand-built malformed frame per drop reason, as a pcap file.

  mkbad.py OUT.pcap       writes the capture
  mkbad.py --list         prints "index reason description" per frame

Written directly as pcap (not through text2pcap) because some cases need
a capture length below the wire length (a snaplen cut).  Each frame is a
good TCP or UDP packet between 10.9.0.1 and 10.9.0.2 with one thing
broken, so that what a tool does with the rest shows.  The expected
reason is cotrack's; docs/engine.md ("Malformed frames") has what
tshark and tcpdump make of each.
"""
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from mktun import csum, eth, ip4, ip6, tcp, udp, MAC_A, MAC_B  # noqa: E402

A, B = "10.9.0.1", "10.9.0.2"
A6, B6 = "fd09::1", "fd09::2"


def e4(p):
    return eth(MAC_B, MAC_A, 0x0800, p)


def e6(p):
    return eth(MAC_B, MAC_A, 0x86DD, p)


def fix4(h):
    h = bytearray(h)
    h[10:12] = b"\0\0"
    hl = (h[0] & 15) * 4
    h[10:12] = struct.pack("!H", csum(bytes(h[:hl])))
    return bytes(h)


def seg(sport=40000, data=b"d" * 20):
    return tcp(sport, 80, 0x18, 1, 1, data)


def cases():
    """(reason, description, frame, wirelen or None)"""
    good4 = ip4(A, B, 6, seg())
    good6 = ip6(A6, B6, 6, seg())
    out = []
    out.append(("trunc-eth", "10-byte runt", e4(good4)[:10], None))
    out.append(("trunc-vlan", "802.1Q tag cut after 2 bytes",
                eth(MAC_B, MAC_A, 0x8100, b"\0\x05"), None))
    out.append(("vlan-depth", "three VLAN tags",
                eth(MAC_B, MAC_A, 0x8100, b"\0\x01\x81\0\0\x02\x81\0\0\x03\x08\0" + good4), None))
    out.append(("trunc-ip4", "IPv4 header cut by the snaplen (34 of 74 bytes)",
                e4(good4)[:24], len(e4(good4))))
    bad = bytearray(good4)
    bad[0] = 0x44
    out.append(("bad-ip4", "IHL 4 (16-byte header)", e4(fix4(bad)), None))
    bad = bytearray(good4)
    bad[2:4] = struct.pack("!H", len(good4) + 100)
    out.append(("bad-ip4", "total length 100 bytes past the frame (caplen = wirelen)",
                e4(fix4(bad)), None))
    out.append(("ok", "same, but the capture says the wire had 100 more bytes (snaplen)",
                e4(fix4(bad)), len(e4(good4)) + 100))
    opt = b"\x44\x0a\x05\x00"  # timestamp option claiming 10 bytes in 4
    h = bytearray(ip4(A, B, 6, opt + seg()))
    h[0] = 0x46
    out.append(("bad-ip4-opt", "option length past the header", e4(fix4(h)), None))
    out.append(("trunc-ip6", "IPv6 header cut by the snaplen (20 of 40 bytes)",
                e6(good6)[:34], len(e6(good6))))
    bad = bytearray(good6)
    bad[4:6] = struct.pack("!H", len(good6))
    out.append(("bad-ip6", "payload length 40 bytes past the frame", e6(bytes(bad)), None))
    hbh = b"\x06\x00" + b"\x01\x04\0\0\0\0"  # next TCP, PadN
    p = ip6(A6, B6, 0, hbh + seg())
    out.append(("trunc-ip6-ext", "hop-by-hop header cut by the snaplen",
                e6(p)[:14 + 44], len(e6(p))))
    chain = b""
    for i in range(9):
        chain += bytes([60 if i < 8 else 6, 0]) + b"\x01\x04\0\0\0\0"
    out.append(("ip6-ext-depth", "nine destination-options headers",
                e6(ip6(A6, B6, 60, chain + seg())), None))
    dst = b"\x00\x00" + b"\x01\x04\0\0\0\0"  # dstopts, then hop-by-hop
    out.append(("bad-ip6-ext", "hop-by-hop after a destination-options header",
                e6(ip6(A6, B6, 60, dst + hbh + seg())), None))
    f = e4(good4)
    out.append(("trunc-l4", "TCP header cut by the snaplen (10 of 20 bytes)",
                f[:14 + 20 + 10], len(f)))
    t = bytearray(seg())
    t[12] = 4 << 4
    out.append(("bad-tcp", "TCP data offset 4", e4(ip4(A, B, 6, bytes(t))), None))
    t = bytearray(seg())
    t[12] = 15 << 4
    out.append(("bad-tcp", "TCP data offset 15 (60 bytes) in a 40-byte segment",
                e4(ip4(A, B, 6, bytes(t))), None))
    u = bytearray(udp(5000, 53, b"q" * 12))
    u[4:6] = struct.pack("!H", 60)
    out.append(("bad-udp", "UDP length 60 in a 20-byte datagram", e4(ip4(A, B, 17, bytes(u))), None))
    fr = bytearray(ip4(A, B, 17, b"x" * 64))
    fr[6:8] = struct.pack("!H", 0x2000 | 8190)  # MF, offset 65520
    out.append(("bad-frag", "fragment ending past 65535 bytes", e4(fix4(fr)), None))
    out.append(("bad-icmp", "ICMP datagram of 4 bytes",
                e4(ip4(A, B, 1, b"\x08\0\0\0")), None))
    return out


def main():
    if sys.argv[1:] == ["--list"]:
        for i, (r, d, _, _) in enumerate(cases()):
            print("%d %s %s" % (i + 1, r, d))
        return 0
    if len(sys.argv) != 2:
        sys.stderr.write("usage: mkbad.py OUT.pcap | --list\n")
        return 2
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, (_, _, fr, wire) in enumerate(cases()):
            f.write(struct.pack("<IIII", 1767261600 + i, 0, len(fr),
                                wire if wire else len(fr)))
            f.write(fr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
