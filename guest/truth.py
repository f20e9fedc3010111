#!/usr/bin/env python3
"""Ground truth from a test guest's console log, normalised for diffing.

    guest/truth.py [--seq N] [--json] [--syn-recv-as NAME] LOG|-
    guest/truth.py --snmp LOG|-
    guest/truth.py --netns LOG|-
    guest/truth.py --owners [--seq N] LOG|-

Default: the TCP sockets of one truth round (the last complete one, or
--seq N), one per line, sorted, in the guest socket contract of DESIGN.md:

    netns family state local lport remote rport
    4026531840 ipv4 LISTEN 0.0.0.0 7001 0.0.0.0 0

netns is the namespace's inode number; family ipv4 for /proc/net/tcp and
ipv6 for /proc/net/tcp6 (an IPv6 socket with v4-mapped addresses stays
ipv6, its addresses print as ::ffff:a.b.c.d); state is the kernel's name.
/proc/net/tcp prints request sockets (kernel state NEW_SYN_RECV) as 03,
SYN_RECV, like ss does; --syn-recv-as NEW_SYN_RECV renames them for a tool
that reports the kernel state.  TIME_WAIT sockets show their tw_substate
(TIME_WAIT, or FIN_WAIT2 for an orphaned socket still waiting for the
peer's FIN).

--owners (after the guest's "owners" command): every socket of the round
that has an inode, with its owner as the guest's /proc/PID/fd links show
it: the lowest pid holding socket:[INODE], that process's lowest such fd,
its cgroup v2 path (/proc/PID/cgroup) and comm ("-" for each when no
process holds it):

    netns family state local lport remote rport inode pid fd cgroup comm

--json prints a JSON list of objects with the same fields (ports and netns
as integers).  --snmp prints "seq when ActiveOpens PassiveOpens
AttemptFails EstabResets CurrEstab" per SNMP block.  --netns prints
"name inode" per namespace the guest announced.

Exit status: 0, or 1 when the log holds no complete round (or a round is
malformed).  Input may contain '\\r' (serial console) and kernel messages.
"""
import argparse
import ipaddress
import json
import re
import sys

STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
    5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
    9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}
BEGIN = re.compile(r"^==COTRACK-TRUTH-BEGIN seq=(\d+) netns=(\d+) name=(\S+)==$")
END = re.compile(r"^==COTRACK-TRUTH-END seq=(\d+) netns=(\d+)==$")
DONE = re.compile(r"^==COTRACK-TRUTH-DONE seq=(\d+) namespaces=(\d+)==$")
# "  12: 0100007F:1B59 0100007F:9E40 01 ..." (v4: 8 hex digits, v6: 32)
ROW = re.compile(r"^\s*\d+: ([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4}) "
                 r"([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4}) ([0-9A-F]{2}) "
                 r"[0-9A-F]{8}:[0-9A-F]{8} [0-9A-F]{2}:[0-9A-F]{8} "
                 r"[0-9A-F]{8}\s+\d+\s+\d+\s+(\d+)")
OWNERS_BEGIN = re.compile(r"^==COTRACK-OWNERS-BEGIN seq=(\d+)==$")
OWNERS_END = re.compile(r"^==COTRACK-OWNERS-END seq=(\d+)==$")
OWNER = re.compile(r"^O (\d+) (\d+) (\d+) (\S+) (.*)$")
HEADER = re.compile(r"^\s*sl\s+local_address")
SNMP_BEGIN = re.compile(r"^==COTRACK-SNMP-BEGIN seq=(\d+) when=(\S+)==$")
NETNS = re.compile(r"^==COTRACK-NETNS name=(\S+) inode=(\d+)==$")


def addr(hexs):
    """/proc/net/tcp* address: 32-bit words in the kernel's (little-endian)
    byte order, printed as hex."""
    raw = b"".join(bytes.fromhex(hexs[i:i + 8])[::-1]
                   for i in range(0, len(hexs), 8))
    if len(raw) == 4:
        return "ipv4", str(ipaddress.IPv4Address(raw))
    a = ipaddress.IPv6Address(raw)
    if a.ipv4_mapped is not None:
        return "ipv6", "::ffff:" + str(a.ipv4_mapped)
    return "ipv6", a.compressed


def rounds(lines):
    """{seq: (expected_namespaces or None, [(netns, row-tuple)...])}"""
    out = {}
    cur = None  # (seq, netns)
    for ln in lines:
        ln = ln.rstrip("\r\n")
        m = BEGIN.match(ln)
        if m:
            cur = (int(m.group(1)), int(m.group(2)))
            out.setdefault(cur[0], [None, [], 0])[2] += 1
            continue
        m = END.match(ln)
        if m:
            cur = None
            continue
        m = DONE.match(ln)
        if m:
            seq = int(m.group(1))
            out.setdefault(seq, [None, [], 0])[0] = int(m.group(2))
            continue
        if cur is None or HEADER.match(ln):
            continue
        m = ROW.match(ln)
        if not m:
            continue  # e.g. a kernel message on the console
        fam, local = addr(m.group(1))
        _, remote = addr(m.group(3))
        st = int(m.group(5), 16)
        out[cur[0]][1].append((cur[1], fam, STATES.get(st, "UNKNOWN_%d" % st),
                               local, int(m.group(2), 16), remote,
                               int(m.group(4), 16), int(m.group(6))))
    return out


def owners(lines, seq):
    """{inode: (pid, fd, cgroup, comm)}: lowest pid, then its lowest fd."""
    out = {}
    inside = False
    for ln in lines:
        ln = ln.rstrip("\r\n")
        m = OWNERS_BEGIN.match(ln)
        if m:
            inside = int(m.group(1)) == seq
            continue
        if OWNERS_END.match(ln):
            inside = False
            continue
        m = OWNER.match(ln) if inside else None
        if not m:
            continue
        pid, fd, ino = int(m.group(1)), int(m.group(2)), int(m.group(3))
        cur = out.get(ino)
        if cur is None or (pid, fd) < (cur[0], cur[1]):
            out[ino] = (pid, fd, m.group(4), m.group(5))
    return out


def main():
    ap = argparse.ArgumentParser(
        description="ground truth from a cotrack guest console log")
    ap.add_argument("log")
    ap.add_argument("--seq", type=int)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--syn-recv-as", default="SYN_RECV")
    ap.add_argument("--snmp", action="store_true")
    ap.add_argument("--netns", action="store_true")
    ap.add_argument("--owners", action="store_true")
    a = ap.parse_args()
    f = sys.stdin if a.log == "-" else open(a.log, errors="replace")
    lines = f.read().splitlines()

    if a.netns:
        seen = {}
        for ln in lines:
            m = NETNS.match(ln.rstrip("\r"))
            if m:
                seen[m.group(1)] = m.group(2)
        for k, v in seen.items():
            print(k, v)
        return 0 if seen else 1
    if a.snmp:
        n = 0
        for i, ln in enumerate(lines):
            m = SNMP_BEGIN.match(ln.rstrip("\r"))
            if not m or i + 2 >= len(lines):
                continue
            keys = lines[i + 1].split()
            vals = lines[i + 2].split()
            if not keys or keys[0] != "Tcp:" or len(keys) != len(vals):
                continue
            d = dict(zip(keys[1:], vals[1:]))
            print(m.group(1), m.group(2), *(d.get(k, "?") for k in (
                "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
                "CurrEstab")))
            n += 1
        return 0 if n else 1

    r = rounds(lines)
    complete = [s for s, (want, _, got) in r.items() if want is not None]
    if a.seq is not None:
        seq = a.seq
    elif complete:
        seq = max(complete)
    else:
        print("truth.py: no complete truth round in the log", file=sys.stderr)
        return 1
    if seq not in r or r[seq][0] is None or r[seq][0] != r[seq][2]:
        print("truth.py: round seq=%d missing or incomplete" % seq,
              file=sys.stderr)
        return 1
    rows = []
    own = owners(lines, seq) if a.owners else {}
    for (ns, fam, st, l, lp, rm, rp, ino) in r[seq][1]:
        if st == "SYN_RECV":
            st = a.syn_recv_as
        if a.owners:
            if ino:
                rows.append((ns, fam, st, l, lp, rm, rp, ino) +
                            own.get(ino, ("-", "-", "-", "-")))
            continue
        rows.append((ns, fam, st, l, lp, rm, rp))
    # sorted like LC_ALL=C sort on the printed lines, so that another
    # tool's output piped through that sort can be diffed directly
    rows.sort(key=lambda t: " ".join(str(x) for x in t))
    if a.json:
        keys = ("netns", "family", "state", "local", "lport", "remote", "rport")
        print(json.dumps([dict(zip(keys, t)) for t in rows], indent=1))
    else:
        for t in rows:
            print(*t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
