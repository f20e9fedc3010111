#!/usr/bin/env python3
"""Readable data-flow summary of cotrack records (JSON lines).

  flow-summary.py RECORDS.json [--names 10.0.0.2=frontend,...]

Groups TCP/UDP connections by (VM, client address, server address and
port): clients are aggregated by address, services by address and port.
Shows connections, bytes each way, and which view saw them.
"""
import argparse
import collections
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("records")
p.add_argument("--names", default="")
a = p.parse_args()
names = dict(kv.split("=", 1) for kv in a.names.split(",") if "=" in kv)


def label(addr):
    return "%s (%s)" % (addr, names[addr]) if addr in names else addr


groups = collections.OrderedDict()
other = collections.Counter()
for line in open(a.records):
    r = json.loads(line)
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
