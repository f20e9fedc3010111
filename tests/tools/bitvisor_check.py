#!/usr/bin/env python3
"""Checks the cotrack records in BitVisor's serial log against the ground
truth of tests/e2e/bitvisor.t.  Prints TAP lines, exits 1 on a failure.

  bitvisor_check.py BITVISOR_LOG CLIENT_LOG GUEST_IP HOST_IP N_IN \
      PASSIVE_DELTA M_OUT ACTIVE_DELTA

N_IN requests of the client (CLIENT_LOG: "req I ok LOCALPORT" lines) to
GUEST_IP:80; M_OUT requests of the guest to HOST_IP:8080; the guest's
/proc/net/snmp PassiveOpens and ActiveOpens deltas over the same time.
"""
import json
import sys


def main():
    bvlog, clog, gip, hip = sys.argv[1:5]
    n_in, passive, m_out, active = (int(x) for x in sys.argv[5:9])
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
    other = [r for r in tcp if r not in inb and r not in out]
    check("client made %d requests" % n_in, len(ports) == n_in, "%d ok" % len(ports))
    check("one record per client connection: %d" % n_in, len(inb) == n_in,
          "%d records" % len(inb))
    check("record ports are the client's", {r["sport"] for r in inb} == ports,
          "missing %s extra %s" % (sorted(ports - {r["sport"] for r in inb})[:5],
                                   sorted({r["sport"] for r in inb} - ports)[:5]))
    check("guest accepted as many (PassiveOpens +%d)" % passive, passive == len(inb))
    check("one record per guest request: %d" % m_out, len(out) == m_out,
          "%d records" % len(out))
    check("guest opened as many (ActiveOpens +%d)" % active, active == len(out))
    check("no other TCP records", not other, json.dumps(other[:2]))
    both = inb + out
    check("all end fin, seen_by nic",
          all(r["end"] == "fin" and r["seen_by"] == "nic" for r in both))
    check("both directions counted (>= 4 packets each way)",
          all(r["pkts_fwd"] >= 4 and r["pkts_rev"] >= 4 and r["bytes_fwd"] > 0
              and r["bytes_rev"] > 0 for r in both))
    check("wall-clock times (2020..2100) and first <= last",
          all(1.5e18 < r["first_ns"] <= r["last_ns"] < 4.1e18 for r in both))
    tuples = [(r["src"], r["sport"], r["dst"], r["dport"]) for r in both]
    check("no connection written twice", len(set(tuples)) == len(tuples))
    print("# records: %d tcp (%d in, %d out), %d in all" %
          (len(tcp), len(inb), len(out), len(recs)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
