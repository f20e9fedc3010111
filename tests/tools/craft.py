#!/usr/bin/env python3
"""Writes tests/golden/frames.hex: hand-made frames for the golden replay
tests, in text2pcap's hex-dump format with a timestamp before each frame.
Each frame exercises one parser path (VLAN, QinQ, IPv4 options and
fragments, IPv6 extension headers and fragments, ICMP, malformed
headers).  Run it again only to change the inputs; the .ok files must
then be reviewed by hand.
"""
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def eth(payload, etype, tags=(), rev=False):
    src, dst = (MAC_B, MAC_A) if rev else (MAC_A, MAC_B)
    h = dst + src
    for tpid, vid in tags:
        h += struct.pack("!HH", tpid, vid)
    return h + struct.pack("!H", etype) + payload


def ip4(src, dst, proto, payload, ident=1, frag=0, mf=False, opts=b"", tot=None):
    ihl = 5 + len(opts) // 4
    flags_off = (0x2000 if mf else 0) | (frag // 8)
    total = tot if tot is not None else 20 + len(opts) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, flags_off,
                    64, proto, 0, bytes(src), bytes(dst)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64,
                       bytes(src), bytes(dst)) + payload


def tcp(sp, dp, flags, seq=1000, ack=0, data=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535,
                       0, 0) + data


def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def a4(s):
    return bytes(int(x) for x in s.split("."))


def a6(last):
    return bytes.fromhex("fd770000000000000000000000000000")[:15] + bytes([last])


SYN, ACK, FIN, RST, PSH = 2, 16, 1, 4, 8
frames = []
A, B = a4("192.0.2.1"), a4("192.0.2.2")
V = [(0x8100, 42)]
# 1. TCP over 802.1Q, full life: handshake, data both ways, FIN both ways.
for rev, f, data in ((0, SYN, b""), (1, SYN | ACK, b""), (0, ACK, b""),
                     (0, PSH | ACK, b"GET / HTTP/1.0\r\n\r\n"),
                     (1, PSH | ACK, b"HTTP/1.0 200 OK\r\n\r\nhello"),
                     (0, FIN | ACK, b""), (1, FIN | ACK, b""), (0, ACK, b"")):
    s, d, sp, dp = (B, A, 80, 40000) if rev else (A, B, 40000, 80)
    frames.append(eth(ip4(s, d, 6, tcp(sp, dp, f, data=data)), 0x0800, V, rev))
# 2. UDP over QinQ (802.1ad outer 100, 802.1Q inner 200): query, answer.
Q = [(0x88A8, 100), (0x8100, 200)]
frames.append(eth(ip4(A, B, 17, udp(5000, 53, b"q" * 30)), 0x0800, Q))
frames.append(eth(ip4(B, A, 17, udp(53, 5000, b"a" * 60)), 0x0800, Q, True))
# 3. IPv4 with options (NOP, NOP, record route with 1 slot) carrying UDP.
rr = bytes([1, 1, 7, 7, 4]) + bytes(4) + bytes([0, 0, 0])
frames.append(eth(ip4(A, B, 17, udp(6000, 6001, b"opt"), opts=rr), 0x0800))
# 4. A UDP datagram in three IPv4 fragments (first carries the header).
body = udp(7000, 7001, bytes(range(256)) * 2)
frames.append(eth(ip4(A, B, 17, body[:200], ident=77, mf=True, tot=220), 0x0800))
frames.append(eth(ip4(A, B, 17, body[200:400], ident=77, frag=200, mf=True), 0x0800))
frames.append(eth(ip4(A, B, 17, body[400:], ident=77, frag=400), 0x0800))
# 5. IPv6 TCP SYN behind hop-by-hop and destination options, answered by RST.
hbh = bytes([60, 0, 1, 4, 0, 0, 0, 0])  # next: dest opts; PadN
dopt = bytes([6, 0, 1, 4, 0, 0, 0, 0])  # next: TCP
frames.append(eth(ip6(a6(1), a6(2), 0, hbh + dopt + tcp(41000, 443, SYN)), 0x86DD))
frames.append(eth(ip6(a6(2), a6(1), 6, tcp(443, 41000, RST | ACK, ack=1001)), 0x86DD, (), True))
# 6. An IPv6 UDP datagram in two fragments (fragment id 0x01020304).
body6 = udp(8000, 8001, b"z" * 100)
fh1 = struct.pack("!BBHI", 17, 0, 0 | 1, 0x01020304)
fh2 = struct.pack("!BBHI", 17, 0, (56 // 8) << 3, 0x01020304)
frames.append(eth(ip6(a6(1), a6(2), 44, fh1 + body6[:56]), 0x86DD))
frames.append(eth(ip6(a6(1), a6(2), 44, fh2 + body6[56:]), 0x86DD))
# 7. ICMP echo request and reply (identifier 0x1234).
def icmp(t, ident, seq):
    h = struct.pack("!BBHHH", t, 0, 0, ident, seq) + b"ping" * 4
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]
frames.append(eth(ip4(A, B, 1, icmp(8, 0x1234, 1)), 0x0800))
frames.append(eth(ip4(B, A, 1, icmp(0, 0x1234, 1)), 0x0800, (), True))
# 8. ICMPv6 echo request and reply (identifier 0x4321).
frames.append(eth(ip6(a6(1), a6(2), 58, struct.pack("!BBHHH", 128, 0, 0, 0x4321, 1)), 0x86DD))
frames.append(eth(ip6(a6(2), a6(1), 58, struct.pack("!BBHHH", 129, 0, 0, 0x4321, 1)), 0x86DD, (), True))
# 9. Malformed: IPv4 header cut short, IHL 4, TCP header cut short,
#    an ARP request (not IP), a bare 10-byte runt.
good = eth(ip4(A, B, 6, tcp(1, 2, SYN)), 0x0800)
frames.append(good[:14 + 12])
bad_ihl = bytearray(good)
bad_ihl[14] = 0x44
frames.append(bytes(bad_ihl))
frames.append(good[:14 + 20 + 8])
frames.append(eth(bytes(28), 0x0806))
frames.append(bytes(10))

out = []
for i, f in enumerate(frames):
    out.append("2026-01-01 10:00:00.%06d" % (1000 * (i + 1)))
    for off in range(0, len(f), 16):
        chunk = f[off:off + 16]
        out.append("%06x  %s" % (off, " ".join("%02x" % b for b in chunk)))
    out.append("")
sys.stdout.write("\n".join(out) + "\n")
