#!/usr/bin/env python3
"""Checks the cotrack records in BitVisor's serial log against the ground
truth of tests/e2e/bitvisor.t.  Prints TAP lines, exits 1 on a failure.

  bitvisor_check.py BITVISOR_LOG CLIENT_LOG GUEST_IP HOST_IP N_IN \
      PASSIVE_DELTA M_OUT ACTIVE_DELTA L_LO [out-both]

N_IN requests of the client (CLIENT_LOG: "req I ok LOCALPORT" lines) to
GUEST_IP:80; M_OUT requests of the guest to HOST_IP:8080; L_LO requests
of the guest to its own 127.0.0.1:80; the guest's /proc/net/snmp
PassiveOpens and ActiveOpens deltas over the same time (localhost ones
count in both).  External connections must be seen_by both (NIC and
memory view), localhost ones seen_by vmi; the guest's own external ones
nic or both, or with out-both only both (bench/bitvisor.sh: the guest
closes first, so its socket stays in TIME_WAIT for the memory view).
"""
import json
import sys


def main():
    bvlog, clog, gip, hip = sys.argv[1:5]
    n_in, passive, m_out, active, l_lo = (int(x) for x in sys.argv[5:10])
    out_both = sys.argv[10:11] == ["out-both"]
    fails = 0

    def check(name, cond, detail=""):
        nonlocal fails
        print("%s - %s%s" % ("ok" if cond else "not ok", name,
                             "" if cond or not detail else " (%s)" % detail))
        if not cond:
            fails += 1

    recs, bad = [], 0
    with open(bvlog, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip("\r\n")
            i = line.find("cotrack-rec ")
            if i < 0:
                continue
            try:
                recs.append(json.loads(line[i + len("cotrack-rec "):]))
            except ValueError:
                bad += 1
    check("every cotrack-rec line is JSON", bad == 0, "%d bad" % bad)
    ports = set()
    with open(clog) as f:
        for line in f:
            w = line.split()
            if len(w) == 4 and w[0] == "req" and w[2] == "ok":
                ports.add(int(w[3]))
    tcp = [r for r in recs if r.get("proto") == "tcp"]
    inb = [r for r in tcp if r["src"] == hip and r["dst"] == gip and r["dport"] == 80]
    out = [r for r in tcp if r["src"] == gip and r["dst"] == hip and r["dport"] == 8080]
    lo = [r for r in tcp if r["src"] == "127.0.0.1" and r["dst"] == "127.0.0.1"
          and r["dport"] == 80]
    other = [r for r in tcp if r not in inb and r not in out and r not in lo]
    check("client made %d requests" % n_in, len(ports) == n_in, "%d ok" % len(ports))
    check("one record per client connection: %d" % n_in, len(inb) == n_in,
          "%d records" % len(inb))
    check("record ports are the client's", {r["sport"] for r in inb} == ports,
          "missing %s extra %s" % (sorted(ports - {r["sport"] for r in inb})[:5],
                                   sorted({r["sport"] for r in inb} - ports)[:5]))
    check("guest accepted as many (PassiveOpens +%d = %d + %d localhost)" %
          (passive, len(inb), len(lo)), passive == len(inb) + len(lo))
    check("one record per guest request: %d" % m_out, len(out) == m_out,
          "%d records" % len(out))
    check("guest opened as many (ActiveOpens +%d = %d + %d localhost)" %
          (active, len(out), len(lo)), active == len(out) + len(lo))
    check("one record per localhost connection: %d" % l_lo, len(lo) == l_lo,
          "%d records" % len(lo))
    check("no other TCP records", not other, json.dumps(other[:2]))
    both = inb + out
    # The guest's server side closes first and keeps a TIME_WAIT socket
    # for 60 s, which every scan sees; the guest's client side of its
    # own requests ends in CLOSED within milliseconds (the peer closed
    # first) and a scan every 250 ms may miss it: nic or both.
    check("connections to the guest: end fin, seen_by both (NIC and memory)",
          all(r["end"] == "fin" and r["seen_by"] == "both" for r in inb),
          json.dumps([r for r in inb if r["seen_by"] != "both"][:2]))
    if out_both:
        check("connections of the guest: end fin, seen_by both",
              all(r["end"] == "fin" and r["seen_by"] == "both" for r in out),
              json.dumps([r for r in out if r["seen_by"] != "both"][:2]))
    else:
        check("connections of the guest: end fin, seen_by nic or both",
              all(r["end"] == "fin" and r["seen_by"] in ("nic", "both")
                  for r in out))
    print("# guest's own connections seen by the memory view too: %d of %d" %
          (len([r for r in out if r["seen_by"] == "both"]), len(out)))
    check("localhost connections: end fin, seen_by vmi, in a namespace",
          all(r["end"] == "fin" and r["seen_by"] == "vmi" and r.get("netns")
              for r in lo), json.dumps(lo[:2]))
    check("no hidden-nic / hidden-vmi flags",
          not [r for r in recs if r.get("flags")])
    check("both directions counted (>= 4 packets each way)",
          all(r["pkts_fwd"] >= 4 and r["pkts_rev"] >= 4 and r["bytes_fwd"] > 0
              and r["bytes_rev"] > 0 for r in both))
    check("wall-clock times (2020..2100) and first <= last",
          all(1.5e18 < r["first_ns"] <= r["last_ns"] < 4.1e18 for r in both))
    # A tuple may carry two connections one after the other: Linux
    # reuses a TIME_WAIT tuple for a new connection (on loopback by
    # default, tcp_tw_reuse=2).  Records of one tuple must not overlap.
    by_tuple = {}
    for r in both + lo:
        by_tuple.setdefault((r["src"], r["sport"], r["dst"], r["dport"]),
                            []).append(r)
    overlap = []
    for k, rs in by_tuple.items():
        rs.sort(key=lambda r: r["first_ns"])
        overlap += [k for a, b in zip(rs, rs[1:]) if b["first_ns"] <= a["last_ns"]]
    check("no connection written twice (records of one tuple do not overlap)",
          not overlap, str(overlap[:3]))
    print("# tuples with more than one record (reused): %d" %
          len([k for k, rs in by_tuple.items() if len(rs) > 1]))
    print("# records: %d tcp (%d in, %d out, %d localhost), %d in all" %
          (len(tcp), len(inb), len(out), len(lo), len(recs)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
