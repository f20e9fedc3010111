#!/usr/bin/env python3
"""A hostile "QEMU" for cotrackd: connects to a VM's stream socket (4-byte
big-endian length, then an Ethernet frame) and misbehaves.

  badguest.py SOCKET PHASE[,PHASE...] [--seconds S] [--frames N] [--seed X]
              [--targets MAC,MAC] [--connect-timeout S]

Phases, run in order on one connection unless said otherwise:
  flood     valid-looking frames as fast as the socket takes them, for
            --seconds or --frames (whichever first): broadcast ARP, UDP and
            TCP SYNs to each --targets MAC (and broadcast, and an unknown
            unicast MAC the switch floods everywhere); never reads.
  flows     N (--frames) TCP SYNs each on a new 5-tuple to the targets:
            connection-table churn.
  garbage   --frames frames of garbage: random bytes, runts (< 14 bytes,
            which the switch must count and drop), truncated IPv4/IPv6
            headers, bad IHL/total length, fragments, VLAN-tagged, TCP with
            random flags, data offsets and options.
  badlen0, badlen-big, badlen-max
            a length header of 0, 69633 (one over QEMU's 4096 + 65536) or
            0xffffffff, then some bytes: cotrackd must drop the connection;
            waits up to 10 s for it to close ours, then reconnects for the
            next phase.
  spoofmac  for --seconds, every millisecond, a broadcast frame (ethertype
            0x88b5, no IP: no record) whose *source* MAC is each --targets
            MAC in turn: poisons a learning switch's table, so frames for
            the real VMs come to us (and we never read them).
  macs      --frames broadcast frames (ethertype 0x88b5, no IP: no record),
            each from a new random unicast source MAC: tries to fill the
            switch's MAC table so that it forgets the real VMs and floods
            their traffic everywhere.
  partial   a length header and half a frame, then waits (--seconds).
  hold      connected, silent, for --seconds (until killed).

Every forged IP packet has its addresses in 192.0.2.0/24 (IPv4) or
2001:db8::/32 (IPv6), documentation ranges that no real VM uses, so a
checker can leave the hostile traffic out (track_check.py --ignore-net);
random-byte frames never carry an IP or VLAN ethertype for the same reason.
Prints one line per phase ("phase NAME frames=N bytes=B runts=R
closed_by_peer=0|1 ms=T") and a final "badguest runts=R badlen=B" total of
what cotrackd must count as bad framing.  Bounded: each phase by --seconds
and --frames, every socket operation by a timeout.
"""
import argparse
import random
import socket
import struct
import sys
import time

MAX_FRAME = 4096 + 65536
OWN_MAC = bytes.fromhex("5254 00c0 74ee".replace(" ", ""))
UNKNOWN_MAC = bytes.fromhex("5254 00c0 74ef".replace(" ", ""))
BCAST = b"\xff" * 6


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def v4(rng):
    return bytes([192, 0, 2, rng.randrange(1, 255)])


def v6(rng):
    return bytes.fromhex("20010db8") + rng.randbytes(12)


def ipv4(src, dst, proto, payload, rng=None, **kw):
    ihl = kw.get("ihl", 5)
    tot = kw.get("tot", 20 + len(payload))
    frag = kw.get("frag", 0)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot & 0xFFFF, rng.randrange(65536) if rng else 1,
                    frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64, src, dst) + payload


def tcp(sport, dport, flags, rng, doff=5, opts=b"", data=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, rng.randrange(1 << 32), rng.randrange(1 << 32),
                    (doff & 15) << 4, flags & 0xFF, 65535, 0, 0)
    return h + opts + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def eth(dst, etype, payload, src=OWN_MAC):
    return dst + src + struct.pack("!H", etype) + payload


def arp_req(rng):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, OWN_MAC, bytes([192, 0, 2, 66]),
                       b"\0" * 6, v4(rng))
    return eth(BCAST, 0x0806, body)


class Conn:
    def __init__(self, path, timeout):
        self.path = path
        self.s = None
        end = time.monotonic() + timeout
        while True:  # bounded by --connect-timeout
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(path)
                self.s = s
                return
            except OSError:
                s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def send(self, frames):
        """Sends framed frames in one write; False when the peer is gone."""
        buf = b"".join(struct.pack("!I", len(f)) + f for f in frames)
        try:
            self.s.sendall(buf)
            return True
        except (socket.timeout, OSError):
            return False

    def send_raw(self, b):
        try:
            self.s.sendall(b)
            return True
        except (socket.timeout, OSError):
            return False

    def wait_closed(self, secs):
        """True when the peer closes our connection within secs."""
        end = time.monotonic() + secs
        while time.monotonic() < end:  # bounded by secs
            try:
                self.s.settimeout(max(0.05, end - time.monotonic()))
                d = self.s.recv(65536)  # frames the switch sends us: drain
                if not d:
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return False

    def close(self):
        if self.s:
            self.s.close()
            self.s = None


def flood_frame(rng, targets, i):
    dst = [BCAST, UNKNOWN_MAC] + targets
    d = dst[i % len(dst)]
    k = i % 3
    if k == 0 and d == BCAST:
        return arp_req(rng)
    src, dstip = bytes([192, 0, 2, 66]), v4(rng)
    if k == 1:
        # a small fixed set of UDP flows, payload up to MTU
        return eth(d, 0x0800, ipv4(src, dstip[:3] + bytes([i % 8 + 1]), 17,
                                   udp(40000 + i % 8, 5353, b"x" * (i * 37 % 1400)), rng))
    # TCP SYNs on a small set of tuples (the "flows" phase churns tuples)
    return eth(d, 0x0800, ipv4(src, dstip[:3] + bytes([i % 8 + 1]), 6,
                               tcp(41000 + i % 16, 80, 0x02, rng), rng))


def garbage_frame(rng, targets):
    d = rng.choice([BCAST, UNKNOWN_MAC] + targets)
    k = rng.randrange(10)
    if k == 0:  # runt: fewer than 14 bytes (the switch counts it bad)
        return rng.randbytes(rng.randrange(1, 14)), True
    if k == 1:  # random bytes, a non-IP ethertype
        et = rng.choice([0x0806, 0x88CC, 0x1234, 0xFFFF, 0x0000, 0x05DC])
        return eth(d, et, rng.randbytes(rng.randrange(0, 1500))), False
    if k == 2:  # truncated IPv4 header
        h = ipv4(v4(rng), v4(rng), 6, b"", rng)
        return eth(d, 0x0800, h[:rng.randrange(0, 20)]), False
    if k == 3:  # bad IHL / total length
        h = ipv4(v4(rng), v4(rng), rng.choice([6, 17, 1]), rng.randbytes(rng.randrange(0, 60)), rng,
                 ihl=rng.randrange(16), tot=rng.randrange(65536))
        return eth(d, 0x0800, h), False
    if k == 4:  # fragments, random offsets, TCP inside
        h = ipv4(v4(rng), v4(rng), 6, tcp(rng.randrange(65536), 80, rng.randrange(256), rng), rng,
                 frag=rng.randrange(65536))
        return eth(d, 0x0800, h), False
    if k == 5:  # truncated IPv6 header, or random next headers
        h = ipv6(v6(rng), v6(rng), rng.choice([0, 6, 17, 43, 44, 60, 59, 255]), rng.randbytes(rng.randrange(0, 80)))
        return eth(d, 0x86DD, h[:rng.randrange(0, len(h) + 1)]), False
    if k == 6:  # VLAN-tagged (802.1Q, or 802.1ad + 802.1Q) IPv4 TCP
        ip = struct.pack("!H", 0x0800) + ipv4(v4(rng), v4(rng), 6,
                                              tcp(rng.randrange(65536), 80, rng.randrange(256), rng), rng)
        tags = struct.pack("!HH", 0x8100, rng.randrange(65536))
        if rng.randrange(2):
            tags = struct.pack("!HH", 0x88A8, rng.randrange(65536)) + tags
        return d + OWN_MAC + tags + ip, False
    if k == 7:  # TCP with random flags, data offset and options
        doff = rng.randrange(16)
        t = tcp(rng.randrange(65536), rng.randrange(65536), rng.randrange(256), rng, doff=doff,
                opts=rng.randbytes(rng.randrange(0, 44)), data=rng.randbytes(rng.randrange(0, 200)))
        t = t[:rng.randrange(0, len(t) + 1)]
        return eth(d, 0x0800, ipv4(v4(rng), v4(rng), 6, t, rng)), False
    if k == 8:  # IPv6 TCP with random flags, possibly truncated
        t = tcp(rng.randrange(65536), rng.randrange(65536), rng.randrange(256), rng, doff=rng.randrange(16))
        return eth(d, 0x86DD, ipv6(v6(rng), v6(rng), 6, t[:rng.randrange(0, 21)])), False
    # maximal frame: 65535-byte IPv4 with a TCP header
    t = tcp(rng.randrange(65536), 80, 0x18, rng, data=rng.randbytes(60000))
    return eth(d, 0x0800, ipv4(v4(rng), v4(rng), 6, t, rng)), False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("socket")
    p.add_argument("phases")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--targets", default="52:54:00:c0:74:02,52:54:00:c0:74:03")
    p.add_argument("--connect-timeout", type=float, default=10)
    a = p.parse_args()
    rng = random.Random(a.seed)
    targets = [mac(m) for m in a.targets.split(",") if m]
    c = Conn(a.socket, a.connect_timeout)
    runts_total = badlen_total = 0
    for ph in a.phases.split(","):
        t0 = time.monotonic()
        end = t0 + a.seconds
        frames = nbytes = runts = 0
        closed = 0
        if c.s is None:
            c = Conn(a.socket, a.connect_timeout)
        if ph == "flood":
            i = 0
            while frames < a.frames and time.monotonic() < end:  # bounded: --frames, --seconds
                batch = [flood_frame(rng, targets, i + j) for j in range(64)]
                i += 64
                if not c.send(batch):
                    closed = 1
                    break
                frames += len(batch)
                nbytes += sum(len(f) for f in batch)
        elif ph == "flows":
            while frames < a.frames and time.monotonic() < end:  # bounded: --frames, --seconds
                batch = []
                for _ in range(min(64, a.frames - frames)):
                    d = targets[frames % len(targets)] if targets else BCAST
                    batch.append(eth(d, 0x0800, ipv4(bytes([192, 0, 2, 66]), v4(rng), 6,
                                                     tcp(rng.randrange(1024, 65536), 80, 0x02, rng), rng)))
                    frames += 1
                if not c.send(batch):
                    closed = 1
                    break
                nbytes += sum(len(f) for f in batch)
        elif ph == "garbage":
            while frames < a.frames and time.monotonic() < end:  # bounded: --frames, --seconds
                f, runt = garbage_frame(rng, targets)
                if not c.send([f]):
                    closed = 1
                    break
                frames += 1
                nbytes += len(f)
                runts += runt
            runts_total += runts
        elif ph.startswith("badlen"):
            n = {"badlen0": 0, "badlen-big": MAX_FRAME + 1, "badlen-max": 0xFFFFFFFF}[ph]
            # one good frame first, then the bad header and some bytes
            c.send([arp_req(rng)])
            c.send_raw(struct.pack("!I", n) + rng.randbytes(64))
            closed = int(c.wait_closed(10))
            badlen_total += 1
            c.close()
        elif ph == "spoofmac":
            while frames < a.frames and time.monotonic() < end:  # bounded: --frames, --seconds
                batch = [eth(BCAST, 0x88B5, b"spoof" + bytes(41), src=t) for t in targets]
                if not c.send(batch):
                    closed = 1
                    break
                frames += len(batch)
                nbytes += sum(len(f) for f in batch)
                time.sleep(0.001)
        elif ph == "macs":
            while frames < a.frames and time.monotonic() < end:  # bounded: --frames, --seconds
                batch = []
                for _ in range(min(64, a.frames - frames)):
                    src = bytes([0x02 | (rng.randrange(256) & 0xFC)]) + rng.randbytes(5)
                    batch.append(eth(BCAST, 0x88B5, b"macs" + bytes(42), src=src))
                    frames += 1
                if not c.send(batch):
                    closed = 1
                    break
                nbytes += sum(len(f) for f in batch)
        elif ph == "partial":
            f = arp_req(rng) + b"\0" * 400
            c.send_raw(struct.pack("!I", len(f)) + f[: len(f) // 2])
            time.sleep(a.seconds)
        elif ph == "hold":
            closed = int(c.wait_closed(a.seconds))
        else:
            print("badguest: unknown phase %s" % ph, file=sys.stderr)
            return 2
        print("phase %s frames=%d bytes=%d runts=%d closed_by_peer=%d ms=%d"
              % (ph, frames, nbytes, runts, closed, (time.monotonic() - t0) * 1000), flush=True)
        if closed:
            c.close()
    c.close()
    print("badguest runts=%d badlen=%d" % (runts_total, badlen_total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
