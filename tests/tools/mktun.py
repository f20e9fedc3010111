#!/usr/bin/env python3
"""Hand-built tunnel and offload frames as text2pcap input.

  mktun.py CASE > CASE.hex      (then text2pcap -t "%Y-%m-%d %H:%M:%S.%f")
  mktun.py --list

Every case is one capture: a TCP connection (handshake, data both ways,
FIN both ways) and a UDP exchange between 10.1.0.1 and 10.1.0.2 (or
fd01::1 / fd01::2), carried in the case's tunnel between the underlay
hosts 192.0.2.1 and 192.0.2.2 (2001:db8::1 / 2001:db8::2).  Headers are
packed here field by field from the RFCs, not by a packet library, so
the parsers under test and tshark's are checked against a third
reading.  IPv4 header checksums are computed; TCP/UDP checksums are 0
(tshark does not verify them by default).
"""
import struct
import sys

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
IMAC_A, IMAC_B = bytes.fromhex("0a0000000001"), bytes.fromhex("0a0000000002")


def ip4a(s):
    return bytes(int(x) for x in s.split("."))


def ip6a(s):
    import ipaddress
    return ipaddress.IPv6Address(s).packed


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def ip4(src, dst, proto, payload, tot=None, ident=1):
    t = 20 + len(payload) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, t, ident, 0x4000, 64, proto, 0,
                    ip4a(src), ip4a(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, plen=None):
    p = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, p, nh, 64, ip6a(src),
                       ip6a(dst)) + payload


def tcp(sport, dport, flags, seq, ack, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                       65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def vxlan(vni, inner, flags=0x08):
    return struct.pack("!B3xI", flags, vni << 8) + inner


def geneve(vni, inner, proto=0x6558, opts=b""):
    assert len(opts) % 4 == 0
    return struct.pack("!BBHI", len(opts) // 4, 0, proto, vni << 8) + opts + inner


def gre(proto, inner, key=None, seq=None, csum_on=False):
    fl = (0x8000 if csum_on else 0) | (0x2000 if key is not None else 0) | \
        (0x1000 if seq is not None else 0)
    h = struct.pack("!HH", fl, proto)
    if csum_on:
        h += b"\0\0\0\0"
    if key is not None:
        h += struct.pack("!I", key)
    if seq is not None:
        h += struct.pack("!I", seq)
    return h + inner


def erspan2(session, inner):
    # ver 1, vlan 0; cos 0, en 3, t 0, session id; reserved, index 0
    return struct.pack("!HHI", 0x1000, (3 << 11) | session, 0) + inner


C4, S4 = "10.1.0.1", "10.1.0.2"
C6, S6 = "fd01::1", "fd01::2"
U4A, U4B = "192.0.2.1", "192.0.2.2"
U6A, U6B = "2001:db8::1", "2001:db8::2"
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def conversation(v6=False, sport=40001, data=b"hello"):
    """(from_client, IP packet) of one TCP connection and a UDP exchange."""
    c, s = (C6, S6) if v6 else (C4, S4)
    ip = (lambda a, b, pr, pl: ip6(a, b, pr, pl)) if v6 else \
        (lambda a, b, pr, pl: ip4(a, b, pr, pl))
    out = []
    seqs = [(True, SYN, 100, 0, b""), (False, SYN | ACK, 500, 101, b""),
            (True, ACK, 101, 501, b""), (True, PSH | ACK, 101, 501, data),
            (False, PSH | ACK, 501, 101 + len(data), data * 3),
            (True, FIN | ACK, 101 + len(data), 501 + 3 * len(data), b""),
            (False, FIN | ACK, 501 + 3 * len(data), 102 + len(data), b""),
            (True, ACK, 102 + len(data), 502 + 3 * len(data), b"")]
    for fwd, fl, sq, ak, d in seqs:
        if fwd:
            out.append((True, ip(c, s, 6, tcp(sport, 8080, fl, sq, ak, d))))
        else:
            out.append((False, ip(s, c, 6, tcp(8080, sport, fl, sq, ak, d))))
    out.append((True, ip(c, s, 17, udp(sport + 1000, 5353, b"q" * 20))))
    out.append((False, ip(s, c, 17, udp(5353, sport + 1000, b"a" * 60))))
    return out


def inner_eth(fwd, pkt, v6=False):
    et = 0x86DD if v6 else 0x0800
    return eth(IMAC_B, IMAC_A, et, pkt) if fwd else eth(IMAC_A, IMAC_B, et, pkt)


def under4(fwd, proto, payload):
    if fwd:
        return eth(MAC_B, MAC_A, 0x0800, ip4(U4A, U4B, proto, payload))
    return eth(MAC_A, MAC_B, 0x0800, ip4(U4B, U4A, proto, payload))


def under6(fwd, nh, payload):
    if fwd:
        return eth(MAC_B, MAC_A, 0x86DD, ip6(U6A, U6B, nh, payload))
    return eth(MAC_A, MAC_B, 0x86DD, ip6(U6B, U6A, nh, payload))


def udp_tun(fwd, dport, payload, sport_a=50001, sport_b=50002):
    return udp(sport_a if fwd else sport_b, dport, payload)


def case_vxlan(port=4789):
    fr = []
    # Two VNIs, the same inner connection in each: two connections.
    for vni in (100, 200):
        for fwd, p in conversation():
            fr.append(under4(fwd, 17, udp_tun(fwd, port, vxlan(vni, inner_eth(fwd, p)))))
    return fr


def case_vxlan8472():
    return case_vxlan(8472)


def case_vxlan6():
    fr = []
    for fwd, p in conversation(v6=True):
        fr.append(under6(fwd, 17, udp_tun(fwd, 4789, vxlan(7, inner_eth(fwd, p, True)))))
    return fr


def case_geneve():
    fr = []
    # One 8-byte option (class 0x0102, type 0x80, 1 word of data).
    opt = struct.pack("!HBB", 0x0102, 0x80, 1) + b"\x11\x22\x33\x44"
    for fwd, p in conversation():
        fr.append(under4(fwd, 17, udp_tun(fwd, 6081, geneve(5001, inner_eth(fwd, p), opts=opt))))
    return fr


def case_geneve_ip6():
    fr = []
    # Geneve carrying IPv6 directly (protocol 0x86DD).
    for fwd, p in conversation(v6=True, sport=41001):
        fr.append(under4(fwd, 17, udp_tun(fwd, 6081, geneve(5002, p, proto=0x86DD))))
    return fr


def case_gre():
    fr = []
    for fwd, p in conversation():
        fr.append(under4(fwd, 47, gre(0x0800, p)))
    return fr


def case_gre_cks():
    fr = []
    # Checksum, key and sequence present; IPv6 inside.
    for i, (fwd, p) in enumerate(conversation(v6=True, sport=41001)):
        fr.append(under4(fwd, 47, gre(0x86DD, p, key=42, seq=i, csum_on=True)))
    return fr


def case_gretap():
    fr = []
    for fwd, p in conversation():
        fr.append(under4(fwd, 47, gre(0x6558, inner_eth(fwd, p), key=9)))
    return fr


def case_erspan():
    fr = []
    # Type II: sequence bit, 8-byte ERSPAN header, session 33.
    for i, (fwd, p) in enumerate(conversation()):
        fr.append(under4(fwd, 47, gre(0x88BE, erspan2(33, inner_eth(fwd, p)), seq=i)))
    return fr


def case_erspan1():
    fr = []
    # Type I: no sequence, no ERSPAN header.
    for fwd, p in conversation(sport=41001):
        fr.append(under4(fwd, 47, gre(0x88BE, inner_eth(fwd, p))))
    return fr


def case_ipip():
    fr = []
    for fwd, p in conversation():
        fr.append(under4(fwd, 4, p))  # IPv4 in IPv4
    for fwd, p in conversation(v6=True, sport=41001):
        fr.append(under4(fwd, 41, p))  # IPv6 in IPv4 (sit)
    return fr


def case_ip6tnl():
    fr = []
    for fwd, p in conversation(sport=42001):
        fr.append(under6(fwd, 4, p))  # IPv4 in IPv6
    for fwd, p in conversation(v6=True, sport=43001):
        fr.append(under6(fwd, 41, p))  # IPv6 in IPv6
    return fr


def case_nested():
    # VXLAN inside GRE: the GRE flow, the VXLAN UDP flows, the inner ones.
    fr = []
    for fwd, p in conversation():
        v = ip4("172.16.0.1", "172.16.0.2", 17, udp(50001, 4789, vxlan(3, inner_eth(fwd, p)))) \
            if fwd else \
            ip4("172.16.0.2", "172.16.0.1", 17, udp(50002, 4789, vxlan(3, inner_eth(fwd, p))))
        fr.append(under4(fwd, 47, gre(0x0800, v, key=1)))
    return fr


def case_tso4():
    # TCP super-frames with IPv4 total length 0 (captured before TSO).
    c, s = C4, S4
    big = b"x" * 5000
    f = [(True, ip4(c, s, 6, tcp(40001, 8080, SYN, 100, 0))),
         (False, ip4(s, c, 6, tcp(8080, 40001, SYN | ACK, 500, 101))),
         (True, ip4(c, s, 6, tcp(40001, 8080, ACK, 101, 501))),
         (True, ip4(c, s, 6, tcp(40001, 8080, PSH | ACK, 101, 501, big), tot=0)),
         (False, ip4(s, c, 6, tcp(8080, 40001, PSH | ACK, 501, 5101, big * 2), tot=0)),
         (True, ip4(c, s, 6, tcp(40001, 8080, FIN | ACK, 5101, 10501))),
         (False, ip4(s, c, 6, tcp(8080, 40001, FIN | ACK, 10501, 5102))),
         (True, ip4(c, s, 6, tcp(40001, 8080, ACK, 5102, 10502)))]
    return [eth(MAC_B, MAC_A, 0x0800, p) if fwd else eth(MAC_A, MAC_B, 0x0800, p)
            for fwd, p in f]


def hbh_jumbo(nh, jlen):
    # RFC 2675: next header, hdr ext len 0, option 0xC2 length 4, value.
    return struct.pack("!BBBBI", nh, 0, 0xC2, 4, jlen)


def case_jumbo6():
    c, s = C6, S6
    big = b"y" * 70000
    seg = tcp(40001, 8080, PSH | ACK, 101, 501, big)
    seg2 = tcp(8080, 40001, PSH | ACK, 501, 70101, big)
    f = [(True, ip6(c, s, 6, tcp(40001, 8080, SYN, 100, 0))),
         (False, ip6(s, c, 6, tcp(8080, 40001, SYN | ACK, 500, 101))),
         (True, ip6(c, s, 6, tcp(40001, 8080, ACK, 101, 501))),
         # A jumbogram: hop-by-hop jumbo option, payload length 0.
         (True, ip6(c, s, 0, hbh_jumbo(6, 8 + len(seg)) + seg, plen=0)),
         (False, ip6(s, c, 0, hbh_jumbo(6, 8 + len(seg2)) + seg2, plen=0)),
         (True, ip6(c, s, 6, tcp(40001, 8080, FIN | ACK, 70101, 70501))),
         (False, ip6(s, c, 6, tcp(8080, 40001, FIN | ACK, 70501, 70102))),
         (True, ip6(c, s, 6, tcp(40001, 8080, ACK, 70102, 70502)))]
    return [eth(MAC_B, MAC_A, 0x86DD, p) if fwd else eth(MAC_A, MAC_B, 0x86DD, p)
            for fwd, p in f]


def case_bigtcp6():
    # IPv6 GSO beyond 64 KiB as Linux BIG TCP hands it to a capture: no
    # hop-by-hop header, payload length 0.
    c, s = C6, S6
    big = b"z" * 70000
    f = [(True, ip6(c, s, 6, tcp(40001, 8080, SYN, 100, 0))),
         (False, ip6(s, c, 6, tcp(8080, 40001, SYN | ACK, 500, 101))),
         (True, ip6(c, s, 6, tcp(40001, 8080, ACK, 101, 501))),
         (False, ip6(s, c, 6, tcp(8080, 40001, PSH | ACK, 501, 101, big), plen=0)),
         (True, ip6(c, s, 6, tcp(40001, 8080, FIN | ACK, 101, 70501))),
         (False, ip6(s, c, 6, tcp(8080, 40001, FIN | ACK, 70501, 102))),
         (True, ip6(c, s, 6, tcp(40001, 8080, ACK, 102, 70502)))]
    return [eth(MAC_B, MAC_A, 0x86DD, p) if fwd else eth(MAC_A, MAC_B, 0x86DD, p)
            for fwd, p in f]


def case_badtun():
    # Tunnel headers we refuse to decapsulate; the outer flows remain.
    fr = []
    conv = conversation()
    # VXLAN without the I flag (Linux drops these).
    fwd, p = conv[0]
    fr.append(under4(fwd, 17, udp_tun(fwd, 4789, vxlan(1, inner_eth(fwd, p), flags=0))))
    # VXLAN header cut short by the datagram: 4 bytes.
    fr.append(under4(True, 17, udp_tun(True, 4789, b"\x08\0\0\0")))
    # Geneve version 1.
    fr.append(under4(True, 17, udp_tun(True, 6081, b"\x40" + geneve(1, inner_eth(True, p))[1:])))
    # GRE with the routing bit (RFC 1701), IPv4 inside.
    fr.append(under4(True, 47, struct.pack("!HH", 0x4000, 0x0800) + b"\0" * 8 + p))
    # IP-in-IP whose inner total length runs past the outer datagram.
    bad = bytearray(p)
    bad[2:4] = struct.pack("!H", len(p) + 100)
    fr.append(under4(True, 4, bytes(bad)))
    return fr


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}


def main():
    if sys.argv[1:] == ["--list"]:
        print(" ".join(sorted(CASES)))
        return 0
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.stderr.write("usage: mktun.py CASE|--list\n")
        return 2
    frames = CASES[sys.argv[1]]()
    out = sys.stdout
    for i, f in enumerate(frames):
        out.write("2026-01-01 10:00:%02d.%06d\n" % (i // 1000, (i % 1000) * 1000))
        for off in range(0, len(f), 16):
            out.write("%06x  %s\n" % (off, " ".join("%02x" % b for b in f[off:off + 16])))
        out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
