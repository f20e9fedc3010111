#!/usr/bin/env python3
"""Checks the socket owners on cotrackd's records of the two-VM service.

    owners_check.py RECORDS FE_CONNS BE_CONNS [--min-pct P]

FE_CONNS, BE_CONNS: each guest's microsvc connection log
(MICROSVC_CONNLOG, guest/src/microsvc.c): one line per connection a
service process accepted or dialled, "C PID ALSO LOCAL LPORT REMOTE
RPORT CGROUP COMM", written by that process from its own getpid(),
getsockname(), getpeername(), /proc/self/cgroup and /proc/self/comm
(ALSO: for an accepted socket the forking parent, which holds it too
until its close() after the fork; 0 for a dialled one).  Each end of a
record that lives in the record's VM must carry the owner that log
names for its socket (pid, or the parent's while it held it; comm;
cgroup) or none (pid 0: no owners pass saw the socket owned); an end
outside the VM must carry none; never another owner.  Prints TAP lines with the share of local
ends that carry their owner, per class of connection; --min-pct P fails
a class whose share is below P.  Records without any *_pid key (an
output format that does not write owners) make it print a skip and exit
0.  Exit status: the number of failed checks.
"""
import argparse
import collections
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("records")
p.add_argument("fe_conns")
p.add_argument("be_conns")
p.add_argument("--min-pct", type=float, default=0.0)
a = p.parse_args()

bad = 0


def tap(ok, msg):
    global bad
    print(("ok - " if ok else "not ok - ") + msg)
    if not ok:
        bad += 1


def conns(path):
    """{(local, lport, remote, rport): [(pid, comm, cgroup)]}"""
    out = collections.defaultdict(list)
    for ln in open(path, errors="replace"):
        f = ln.strip().split(" ")
        if len(f) < 9 or f[0] != "C":
            continue
        out[(f[3], int(f[4]), f[5], int(f[6]))].append((int(f[1]), " ".join(f[8:]), f[7], int(f[2])))
    return out


truth = {"fe": conns(a.fe_conns), "be": conns(a.be_conns)}
tap(all(truth.values()), "truth: connection logs of fe (%d) and be (%d)" % (len(truth["fe"]), len(truth["be"])))
cgs = sorted({o[2] for t in truth.values() for v in t.values() for o in v})
print("# cgroups in the truth: %s" % " ".join(cgs))

recs = [json.loads(l) for l in open(a.records) if l.strip()]
if not any(k.endswith("_pid") for r in recs for k in r):
    print("ok - # SKIP records carry no owner fields (output format without them)")
    sys.exit(0)


def owner(r, end):
    pid = r.get(end + "_pid", 0)
    if not pid:
        return None
    return (pid, r.get(end + "_comm", ""), r.get(end + "_cgroup", ""))


tcp = [r for r in recs if r["proto"] == "tcp"]
classes = collections.OrderedDict()
# name: (records, ends that live in the VM)
classes["client -> frontend, at frontend"] = (
    [r for r in tcp if r["vm"] == "fe" and r["src"] == "10.0.0.100" and r["dst"] == "10.0.0.2" and r["dport"] == 80],
    ("dst",))
classes["frontend -> cache, localhost"] = (
    [r for r in tcp if r["vm"] == "fe" and r["src"] == "127.0.0.1" and r["dst"] == "127.0.0.1" and r["dport"] == 6379],
    ("src", "dst"))
classes["frontend -> backend, at frontend"] = (
    [r for r in tcp if r["vm"] == "fe" and r["src"] == "10.0.0.2" and r["dst"] == "10.0.0.3" and r["dport"] == 80],
    ("src",))
classes["frontend -> backend, at backend"] = (
    [r for r in tcp if r["vm"] == "be" and r["src"] == "10.0.0.2" and r["dst"] == "10.0.0.3" and r["dport"] == 80],
    ("dst",))

for name, (rs, local) in classes.items():
    for end in ("src", "dst"):
        other = "dst" if end == "src" else "src"
        got = [owner(r, end) for r in rs]
        if end not in local:
            have = [(r["seq"], g) for r, g in zip(rs, got) if g is not None]
            tap(not have, "%s: %s end (outside the VM) has no owner in all %d records%s" % (
                name, end, len(rs), "" if not have else ": %d have one, e.g. seq %s %s" % (len(have), *have[0])))
            continue
        right = parent = wrong = unknown = 0
        ex = None
        for r, g in zip(rs, got):
            t = truth[r["vm"]].get((r[end], r[end[0] + "port"], r[other], r[other[0] + "port"]), [])
            if len(t) != 1:
                unknown += 1  # not in the log (or ambiguous): not judged
                continue
            if g is None:
                continue
            if g == t[0][:3]:
                right += 1
            elif t[0][3] and g == (t[0][3],) + t[0][1:3]:
                right += 1
                parent += 1
            else:
                wrong += 1
                ex = ex or (r["seq"], g, t[0][:3])
        judged = len(rs) - unknown
        pct = 100.0 * right / judged if judged else 0.0
        tap(not wrong and rs, "%s: %s end: %d of %d records carry the owner the guest logged (%.1f%%; %d of them the accepting parent), %d another, %d not in the log%s" % (
            name, end, right, judged, pct, parent, wrong, unknown,
            "" if not ex else "; e.g. seq %s has %s, the guest says %s" % ex))
        if a.min_pct:
            tap(judged and pct >= a.min_pct, "%s: %s end: owned in at least %.0f%% of records (%.1f%%)" % (
                name, end, a.min_pct, pct))
sys.exit(bad)
