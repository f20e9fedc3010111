#!/usr/bin/env python3
"""Readable data-flow summary of cotrack records (JSON lines).

  flow-summary.py RECORDS.json [--names 10.0.0.2=frontend,...] [--by-workload]

Groups TCP/UDP connections by (VM, client address, server address and
port): clients are aggregated by address, services by address and port.
Shows connections, bytes each way, and which view saw them.

--by-workload (issue 12) first prints the data flow by workload, e.g.
"fe/nginx -> be/nginx (backend.svc)": each end is VM/COMM where a record
names its owner (src_comm/dst_comm, from the memory view's socket
owners), taken from whichever VM's record of the connection has it (a
VM-to-VM connection is recorded at both VMs: counted once); the remote's
DNS name (dst_name) is added in parentheses; an end no record owns is its
address (and --names label).  Records without any owner fields (before
the owner and name fields exist) give no workload table, only a note.
"""
import argparse
import collections
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("records")
p.add_argument("--names", default="")
p.add_argument("--by-workload", action="store_true")
a = p.parse_args()
names = dict(kv.split("=", 1) for kv in a.names.split(",") if "=" in kv)


def label(addr):
    return "%s (%s)" % (addr, names[addr]) if addr in names else addr


recs = [json.loads(line) for line in open(a.records) if line.strip()]


def by_workload():
    owned = [r for r in recs if r.get("src_comm") or r.get("dst_comm")]
    if not owned:
        print("(no record names its workloads: no src_comm/dst_comm fields; by address only)")
        return
    # one connection: its tuple, recorded by one or two VMs
    conns = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in recs:
        if r["proto"] in ("tcp", "udp"):
            conns[(r["proto"], r["src"], r["sport"], r["dst"], r["dport"])][r["vm"]].append(r)
    flows = collections.Counter()
    seen = collections.defaultdict(collections.Counter)
    for key, byvm in conns.items():
        proto, src, sport, dst, dport = key
        n = max(len(v) for v in byvm.values())  # a reused tuple: several
        ends = {}
        name = ""
        for vm, rs in sorted(byvm.items()):
            for r in rs:
                for side in ("src", "dst"):
                    if r.get(side + "_comm") and side not in ends:
                        ends[side] = "%s/%s" % (vm, r[side + "_comm"])
                if r.get("dst_name") and not name:
                    name = r["dst_name"]
        sl = ends.get("src", label(src))
        dl = ends.get("dst", "%s:%d" % (label(dst), dport))
        if name:
            dl += " (%s)" % name
        k = (proto, sl, dl)
        flows[k] += n
        for rs in byvm.values():
            for r in rs:
                seen[k]["%s:%s" % (r["vm"], r["seen_by"])] += 1
    print("%-5s %-28s    %-40s %6s  %s" % ("proto", "from", "to", "conns", "records (vm:seen by)"))
    for (proto, sl, dl), n in sorted(flows.items(), key=lambda kv: (-kv[1], kv[0])):
        sb = ", ".join("%s %d" % kv for kv in sorted(seen[(proto, sl, dl)].items()))
        print("%-5s %-28s -> %-40s %6d  %s" % (proto, sl, dl, n, sb))
    print()


if a.by_workload:
    by_workload()
groups = collections.OrderedDict()
other = collections.Counter()
for r in recs:
    if r["proto"] not in ("tcp", "udp"):
        other[r["proto"]] += 1
        continue
    k = (r["vm"], r["proto"], r["src"], r["dst"], r["dport"])
    g = groups.setdefault(k, {"n": 0, "fwd": 0, "rev": 0, "seen": collections.Counter(), "hidden": 0})
    g["n"] += 1
    g["fwd"] += r["bytes_fwd"]
    g["rev"] += r["bytes_rev"]
    g["seen"][r["seen_by"]] += 1
    g["hidden"] += 1 if r.get("flags") else 0

print("%-4s %-5s %-26s %-26s %6s %10s %10s  %s" % ("vm", "proto", "client", "service", "conns", "bytes >", "bytes <", "seen by"))
for (vm, proto, src, dst, dport), g in sorted(groups.items(), key=lambda kv: (-kv[1]["n"], kv[0])):
    seen = ", ".join("%s %d" % (s, n) for s, n in sorted(g["seen"].items()))
    note = ""
    if g["seen"].get("vmi") == g["n"] and src.startswith("127."):
        note = "  (localhost: only guest memory sees it)"
    if g["hidden"]:
        note += "  HIDDEN: %d" % g["hidden"]
    print("%-4s %-5s %-26s %-26s %6d %10d %10d  %s%s" % (
        vm, proto, label(src), "%s:%d" % (label(dst), dport), g["n"], g["fwd"], g["rev"], seen, note))
if other:
    print("other records: " + ", ".join("%s %d" % kv for kv in sorted(other.items())))
