#!/usr/bin/env python3
"""Compare cotrack records (JSON lines) with tshark's conversation table.

  conv_compare.py RECORDS.json TSHARK_CONV.txt [--l2 14] [--tun-l2 TYPE=N]...
  conv_compare.py --fields RECORDS.json TSHARK_FIELDS.txt   (see FIELDS)

TSHARK_CONV.txt is the output of `tshark -q -z conv,tcp -z conv,udp`.
tshark counts frame bytes; cotrack counts IP-layer bytes, so each frame
adds --l2 bytes (the Ethernet header) on tshark's side.  Prints one TAP
line per conversation and per protocol total; exit status 1 on any
mismatch.

A record that came in a tunnel (its "tunnel" field) counts IP-layer bytes
of the inner packet, while tshark counts the whole frame: --tun-l2
TYPE=N gives the bytes each frame carries outside the inner IP packet
for records of that tunnel type (all headers of all tunnels around it);
TYPE:ID=N for one tunnel id, TYPE/4=N or TYPE/6=N by the outer IP
version, tried in that order.
tshark keys conversations by 5-tuple only, so records of one 5-tuple in
several tunnels are added up before comparing.
"""
import ipaddress
import json
import re
import sys


def norm(addr):
    return str(ipaddress.ip_address(addr))


def split_ep(ep):
    host, port = ep.rsplit(":", 1)
    return norm(host), int(port)


def parse_tshark(path):
    convs = {}
    proto = None
    line_re = re.compile(
        r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)")
    for line in open(path):
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        m = line_re.match(line.replace(",", ""))
        if not m or not proto:
            continue
        a, b = split_ep(m.group(1)), split_ep(m.group(2))
        if m.group(5) != "bytes" or m.group(8) != "bytes":
            raise SystemExit("tshark printed a unit other than bytes: " + line)
        # "<-" is B to A, "->" is A to B.
        convs[(proto, a, b)] = {
            "a2b": (int(m.group(6)), int(m.group(7))),
            "b2a": (int(m.group(3)), int(m.group(4))),
        }
    return convs


FIELDS = ("-T fields -E separator=/t -e frame.len -e ip.src -e ipv6.src "
          "-e ip.dst -e ipv6.dst -e tcp.srcport -e tcp.dstport "
          "-e udp.srcport -e udp.dstport")


def parse_fields(path):
    """Conversations from `tshark FIELDS` (one frame a line), for captures
    whose conversation table tshark prints in kB.  Only frames without a
    tunnel (one value per field)."""
    convs = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9:
            continue
        flen, s4, s6, d4, d6, ts, td, us, ud = f[:9]
        if ts and td:
            proto, sp, dp = "tcp", ts, td
        elif us and ud:
            proto, sp, dp = "udp", us, ud
        else:
            continue
        if "," in (s4 + s6 + d4 + d6 + sp + dp):
            raise SystemExit("--fields: a frame with two IP layers: " + line)
        a = (norm(s4 or s6), int(sp))
        b = (norm(d4 or d6), int(dp))
        if (proto, b, a) in convs:
            c = convs[(proto, b, a)]["b2a"]
        else:
            c = convs.setdefault((proto, a, b), {"a2b": [0, 0], "b2a": [0, 0]})["a2b"]
        c[0] += 1
        c[1] += int(flen)
    return convs


def main():
    args = sys.argv[1:]
    l2 = 14
    if "--l2" in args:
        i = args.index("--l2")
        l2 = int(args[i + 1])
        del args[i:i + 2]
    tun_l2 = {}
    while "--tun-l2" in args:
        i = args.index("--tun-l2")
        t, n = args[i + 1].split("=")
        tun_l2[t] = int(n)
        del args[i:i + 2]
    fields = "--fields" in args
    if fields:
        args.remove("--fields")
    recs, conv_path = args
    ours = {}
    for line in open(recs):
        r = json.loads(line)
        if r["proto"] not in ("tcp", "udp"):
            continue
        s, d = (norm(r["src"]), r["sport"]), (norm(r["dst"]), r["dport"])
        key = (r["proto"],) + tuple(sorted([s, d]))
        e = ours.setdefault(key, {})
        extra = l2
        if "tunnel" in r:
            ver = "6" if ":" in r["tun_src"] else "4"
            keys = ("%s:%d" % (r["tunnel"], r["tun_id"]),
                    "%s/%s" % (r["tunnel"], ver), r["tunnel"])
            for k in keys:
                if k in tun_l2:
                    extra = tun_l2[k]
                    break
            else:
                raise SystemExit("no --tun-l2 for tunnel %s" % (keys,))
        for ep, p, b in ((s, r["pkts_fwd"], r["bytes_fwd"]),
                         (d, r["pkts_rev"], r["bytes_rev"])):
            # bytes as frame bytes; l2 is added back below per frame
            op, ob = e.get(ep, (0, 0))
            e[ep] = (op + p, ob + b + (extra - l2) * p)
    theirs = parse_fields(conv_path) if fields else parse_tshark(conv_path)
    bad = 0
    seen = set()
    for (proto, a, b), c in sorted(theirs.items()):
        key = (proto,) + tuple(sorted([a, b]))
        seen.add(key)
        e = ours.get(key)
        name = "%s %s:%d <-> %s:%d" % (proto, a[0], a[1], b[0], b[1])
        if e is None:
            print("not ok - %s: tshark has it, cotrack does not" % name)
            bad += 1
            continue
        got = []
        for ep, (fr, by) in ((a, c["a2b"]), (b, c["b2a"])):
            p, byt = e.get(ep, (0, 0))
            got.append((p, byt + l2 * p, fr, by))
        if all(x[0] == x[2] and x[1] == x[3] for x in got):
            print("ok - %s: %d+%d frames, %d+%d bytes" % (
                name, got[0][0], got[1][0], got[0][1], got[1][1]))
        else:
            print("not ok - %s: cotrack (frames, frame bytes) %s, tshark %s"
                  % (name, [(x[0], x[1]) for x in got],
                     [(x[2], x[3]) for x in got]))
            bad += 1
    for key in sorted(set(ours) - seen):
        print("not ok - %s %s: cotrack has it, tshark does not" % (key[0], key[1:]))
        bad += 1
    for proto in ("tcp", "udp"):
        n_t = sum(1 for k in theirs if k[0] == proto)
        n_o = sum(1 for k in ours if k[0] == proto)
        if n_t == n_o and n_t > 0:
            print("ok - %s conversations: %d on both sides" % (proto, n_t))
        elif n_t == n_o:
            print("# no %s conversations on either side" % proto)
        else:
            print("not ok - %s conversations: cotrack %d, tshark %d" % (proto, n_o, n_t))
            bad += 1
    if not theirs:
        print("not ok - tshark found no conversation at all")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print("not ok - conv_compare: " + e.code)
            sys.exit(1)
        raise
