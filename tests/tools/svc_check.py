#!/usr/bin/env python3
"""Checks cotrackd's records of the real-services pair (issue 12) against
ground truth: the client's log (tests/tools/svcclient.py), the guests'
/proc/net/snmp deltas, their owners truth (console "owners": the guests'
own /proc/net/tcp and /proc/PID/fd, /proc/PID/cgroup, /proc/PID/comm) and
dnsmasq's query log.

  svc_check.py RECORDS.json CLIENT.log N HITS FE_ACTIVE FE_PASSIVE BE_PASSIVE
               FE_CONSOLE BE_CONSOLE DNSMASQ.log [--table OUT]

Prints TAP lines in two groups.  Group A: records, views, per-request
pairing, DNS on the wire.  Group B: the owner and name fields
src_pid/src_comm/src_cgroup/dst_pid/dst_comm/dst_cgroup/src_name/dst_name
of issue 12 item 2: no wrong owner anywhere (pid 0/empty or absent for an
end outside the record's VM), the right owners on at least one record of
each kind (the share is printed), the backend's name on every frontend
record to it.
"""
import argparse
import collections
import json
import re
import sys

p = argparse.ArgumentParser()
for k in ("records", "client"):
    p.add_argument(k)
for k in ("n", "hits", "fe_active", "fe_passive", "be_passive"):
    p.add_argument(k, type=int)
for k in ("fe_console", "be_console", "dnslog"):
    p.add_argument(k)
p.add_argument("--table")
p.add_argument("--max-merged-pct", type=float, default=1.0)
a = p.parse_args()

bad = 0


def tap(ok, msg):
    global bad
    print(("ok - " if ok else "not ok - ") + msg)
    if not ok:
        bad += 1


allrecs = [json.loads(l) for l in open(a.records) if l.strip()]
tcp = [r for r in allrecs if r["proto"] == "tcp"]
reqs = []  # (i, lport, kind, t0, t1)
for l in open(a.client):
    f = l.split()
    if len(f) >= 7 and f[0] == "req" and f[2] == "ok":
        reqs.append((int(f[1]), int(f[3]), f[4], int(f[5]), int(f[6])))
want_hits = sum(1 for i in range(a.n) if i % 2 == 0 and i < 2 * a.hits)
want_miss = a.n - want_hits
hits = [q for q in reqs if q[2] == "hit"]
miss = [q for q in reqs if q[2] == "miss"]

print("# group A: connections, views, pairing per request, DNS (must pass)")
tap(len(reqs) == a.n and len(hits) == want_hits and len(miss) == want_miss,
    "client: %d of %d answers right (%d memcached hits, %d backend misses; want %d, %d)"
    % (len(reqs), a.n, len(hits), len(miss), want_hits, want_miss))
tap(a.fe_active == a.n + want_miss and a.fe_passive == 2 * a.n and a.be_passive == want_miss,
    "guest snmp: frontend ActiveOpens +%d PassiveOpens +%d, backend PassiveOpens +%d (want %d, %d, %d)"
    % (a.fe_active, a.fe_passive, a.be_passive, a.n + want_miss, 2 * a.n, want_miss))

t_first = min(q[3] for q in reqs) if reqs else 0
cats = collections.OrderedDict()
cats["client -> fe nginx"] = [r for r in tcp if r["vm"] == "fe" and r["src"] == "10.0.0.100"
                              and r["dst"] == "10.0.0.2" and r["dport"] == 80]
mc_all = [r for r in tcp if r["vm"] == "fe" and r["src"] == "127.0.0.1"
          and r["dst"] == "127.0.0.1" and r["dport"] == 11211]
# the seeding connection (busybox nc, before READY) is not a request's
seed = [r for r in mc_all if r["first_ns"] < t_first]
cats["fe nginx -> memcached (localhost)"] = [r for r in mc_all if r["first_ns"] >= t_first]
cats["fe nginx -> be nginx, at fe"] = [r for r in tcp if r["vm"] == "fe" and r["src"] == "10.0.0.2"
                                       and r["dst"] == "10.0.0.3" and r["dport"] == 80]
cats["fe nginx -> be nginx, at be"] = [r for r in tcp if r["vm"] == "be" and r["src"] == "10.0.0.2"
                                       and r["dst"] == "10.0.0.3" and r["dport"] == 80]
want_n = {"client -> fe nginx": a.n, "fe nginx -> memcached (localhost)": a.n,
          "fe nginx -> be nginx, at fe": want_miss, "fe nginx -> be nginx, at be": want_miss}
# The NIC sees every frame of a connection that crosses it: "nic" or
# "both" on all of those; a localhost one only the memory view can see.
# How many of the NIC-crossing ones the memory view caught too is
# reported (the table), not asserted, as in track_check.py: a connection
# that opens and closes between two scans (the frontend's side of a
# backend call ends in no TIME_WAIT) can be missed by it.
want_seen = {"client -> fe nginx": {"both", "nic"}, "fe nginx -> memcached (localhost)": {"vmi"},
             "fe nginx -> be nginx, at fe": {"both", "nic"}, "fe nginx -> be nginx, at be": {"both", "nic"}}
print("# memcached seeding connection(s) before the first request: %d" % len(seed))
tap(len(seed) <= 1, "at most the one seeding connection to memcached before the requests (%d)" % len(seed))
LOCAL = "fe nginx -> memcached (localhost)"
merged = 0
for name, rs in cats.items():
    n = want_n[name]
    if name == LOCAL and len(rs) < n:
        # two connections on one reused tuple within a scan interval are
        # one socket to the memory view (docs/cotrackd.md), as track_check.py
        reused = sum(1 for v in collections.Counter(r["sport"] for r in rs).values() if v > 1)
        merged = n - len(rs)
        tap(merged <= reused and merged * 100 <= n * a.max_merged_pct,
            "%s: %d records, want %d (shortfall within %d reused tuples, <= %g%%)"
            % (name, len(rs), n, reused, a.max_merged_pct))
    else:
        tap(len(rs) == n, "%s: %d records, want %d" % (name, len(rs), n))
    seen = collections.Counter(r["seen_by"] for r in rs)
    tap(set(seen) <= want_seen[name],
        "%s: seen_by %s (want only %s)" % (name, dict(seen), " or ".join(sorted(want_seen[name]))))
tap(collections.Counter(r["sport"] for r in cats["client -> fe nginx"]) ==
    collections.Counter(q[1] for q in reqs),
    "every client connection (by source port) recorded exactly once")

# Pairing per request: the client's requests are sequential (with a gap);
# request i owns the time [t0_i, t0_(i+1)).  A NIC-seen connection's
# first_ns is its SYN.  A memory-only (localhost) one's is the scan that
# first saw it, which on a loaded machine can come after the next
# request began (a sanitizer build's scan was seen to take 55 ms): the
# k-th of them by time is request k's when it is not older than that
# request (so none is counted before its request, and none twice).
order = sorted(reqs, key=lambda q: q[3])
starts = [q[3] for q in order]


def slot(t):
    lo, hi = 0, len(starts)
    while lo < hi:
        m = (lo + hi) // 2
        if starts[m] <= t:
            lo = m + 1
        else:
            hi = m
    return lo - 1


per = collections.defaultdict(collections.Counter)
for name in ("client -> fe nginx", LOCAL, "fe nginx -> be nginx, at fe", "fe nginx -> be nginx, at be"):
    rs = sorted(cats[name], key=lambda r: r["first_ns"])
    for k, r in enumerate(rs):
        s = slot(r["first_ns"])
        if name == LOCAL and len(rs) == len(order) and s >= k:
            s = k
        if s >= 0:
            per[order[s][0]][name] += 1
wrong = []
for q in order:
    c = per[q[0]]
    exp = {"client -> fe nginx": 1, LOCAL: 1,
           "fe nginx -> be nginx, at fe": 1 if q[2] == "miss" else 0,
           "fe nginx -> be nginx, at be": 1 if q[2] == "miss" else 0}
    if any(c[k] != v for k, v in exp.items()):
        wrong.append((q[0], q[2], dict(c)))
for w in wrong[:5]:
    print("# request %d (%s): %s" % w)
tap(len(wrong) <= merged,
    "per request: client conn + memcached conn (+ backend conn at fe and at be on a miss only), "
    "%d of %d requests exact (merged localhost tuples allowed: %d)" % (len(order) - len(wrong), len(order), merged))

dns = [r for r in allrecs if r["proto"] == "udp" and r["vm"] == "fe" and r["src"] == "10.0.0.2"
       and r["dst"] == "10.0.0.100" and r["dport"] == 53]
tap(len(dns) >= 1 and all(r["seen_by"] in ("nic", "both") for r in dns),
    "frontend's DNS queries to 10.0.0.100:53 recorded on the NIC (%d records)" % len(dns))
qlog = open(a.dnslog, errors="replace").read()
tap(re.search(r"query\[A\] backend\.svc from 10\.0\.0\.2\b", qlog) is not None,
    "dnsmasq answered the frontend's query for backend.svc (its log)")
seqs = sorted(r["seq"] for r in allrecs)
tap(seqs == list(range(1, len(allrecs) + 1)), "seq 1..%d, no gap, no repeat" % len(allrecs))
tap(not [r for r in allrecs if r.get("flags")], "no record flagged hidden")
fe_tcp = [r for r in tcp if r["vm"] == "fe" and r not in seed]
want = a.fe_active + a.fe_passive - len(cats[LOCAL]) - 2 * merged
tap(len(fe_tcp) == want, "frontend TCP records %d = ActiveOpens + PassiveOpens - localhost pairs - merged = %d"
    % (len(fe_tcp), want))
be_tcp = [r for r in tcp if r["vm"] == "be"]
tap(len(be_tcp) == a.be_passive, "backend TCP records %d = PassiveOpens %d" % (len(be_tcp), a.be_passive))


# --- ground truth of the owners: the guests' own /proc -------------------
def owners_truth(path):
    """{port: [(pid, cgroup, comm)]}: the processes that hold a listener
    socket fd (its inode from the last truth round's /proc/net/tcp; the
    fds from the last OWNERS block), narrowed to the workers where one
    holder is the parent of others (nginx: the master holds the listener,
    its worker accepts, and opens the upstream connections); parents from
    the "P PID PPID COMM" lines of /proc/PID/status."""
    lines = [l.rstrip("\r\n") for l in open(path, errors="replace")]
    lis = {}
    owners = collections.defaultdict(list)
    ppid = {}
    state = None
    for l in lines:
        if l.startswith("==COTRACK-TRUTH-BEGIN"):
            state, lis = "truth", {}
        elif l.startswith("==COTRACK-TRUTH-END"):
            state = None
        elif l.startswith("==COTRACK-OWNERS-BEGIN"):
            state, owners = "own", collections.defaultdict(list)
        elif l.startswith("==COTRACK-OWNERS-END"):
            state = None
        elif state == "truth":
            f = l.split()
            if len(f) > 9 and f[0].endswith(":") and f[3] == "0A":
                lis[f[9]] = int(f[1].split(":")[1], 16)
        elif state == "own":
            f = l.split(None, 5)
            if len(f) == 6 and f[0] == "O":
                owners[f[3]].append((int(f[1]), f[4], f[5]))
        else:
            m = re.match(r"^P (\d+) (\d+) (\S+)$", l)
            if m:
                ppid[int(m.group(1))] = int(m.group(2))
    out = {}
    for ino, port in lis.items():
        hold = owners.get(ino, [])
        pids = {o[0] for o in hold}
        kids = [o for o in hold if ppid.get(o[0]) in pids]
        out[port] = kids or hold
    return out


print("# group B: owners and names (issue 12 item 2)")
fe_own, be_own = owners_truth(a.fe_console), owners_truth(a.be_console)
truth = {"fe nginx": fe_own.get(80, []), "memcached": fe_own.get(11211, []), "be nginx": be_own.get(80, [])}
for k, v in truth.items():
    print("# truth %s: %s" % (k, ", ".join("pid %d %s %s" % o for o in v) or "none"))
tap(all(truth.values()) and all(c == "nginx" for _, _, c in truth["fe nginx"] + truth["be nginx"])
    and {g for _, g, _ in truth["fe nginx"]} == {"/fe-nginx"}
    and {g for _, g, _ in truth["be nginx"]} == {"/be-nginx"}
    and truth["memcached"] and {(g, c) for _, g, c in truth["memcached"]} == {("/fe-memcached", "memcached")},
    "guests' /proc: nginx in /fe-nginx, memcached in /fe-memcached, nginx in /be-nginx")


def end_ok(r, side, who):
    """side 'src'/'dst'; who a truth key (a local workload) or None (the
    end is outside the record's VM: no owner)."""
    pid = r.get(side + "_pid") or 0
    if who is None:
        return pid == 0 and not r.get(side + "_comm") and not r.get(side + "_cgroup")
    return any(pid == tp and r.get(side + "_comm") == tc and r.get(side + "_cgroup") == tg
               for tp, tg, tc in truth[who])


spec = [("client -> fe nginx", None, "fe nginx", None),
        (LOCAL, "fe nginx", "memcached", None),
        ("fe nginx -> be nginx, at fe", "fe nginx", None, "backend.svc"),
        ("fe nginx -> be nginx, at be", None, "be nginx", None)]
for name, src, dst, dname in spec:
    rs = cats[name]
    good = [r for r in rs if end_ok(r, "src", src) and end_ok(r, "dst", dst)]
    wrongo = [r for r in rs if (src and r.get("src_pid") and not end_ok(r, "src", src)) or
              (dst and r.get("dst_pid") and not end_ok(r, "dst", dst))]
    tap(not wrongo, "%s: no record names a wrong owner (%d wrong)" % (name, len(wrongo)))
    # owners come from owners passes, which run after scans: a socket
    # that no pass saw held by a process has no owner, so short
    # connections are owned only in part (docs/tracking.md, "When the
    # memory view looks"; the share depends on the machine, and is
    # printed).  Required: at least a third of the records the memory
    # view saw have both local ends right (measured: 63% to 100% of each
    # kind under the sanitizers, 92% to 100% in the release build;
    # 23% and 29% for the cache and backend ends without the busy
    # window and the re-looks at sockets awaiting a file), and no record
    # names a wrong owner (above)
    mem = [r for r in rs if r["seen_by"] in ("vmi", "both")]
    gm = [r for r in mem if end_ok(r, "src", src) and end_ok(r, "dst", dst)]
    tap(mem and 3 * len(gm) >= len(mem),
        "%s: src %s, dst %s on %d of the %d records the memory view saw (%d of all %d; at least a third)"
        % (name, src or "none (remote)", dst or "none (remote)", len(gm), len(mem), len(good), len(rs)))
    if dname:
        named = [r for r in rs if r.get("dst_name") == dname]
        tap(rs and len(named) == len(rs), "%s: dst_name %s on %d of %d records" % (name, dname, len(named), len(rs)))

lines = ["%-36s %6s %8s %8s" % ("connections", "n", "memory", "NIC")]
for name, rs in cats.items():
    n = len(rs) or 1
    lines.append("%-36s %6d %7.1f%% %7.1f%%" % (
        name, len(rs), 100.0 * sum(r["seen_by"] in ("vmi", "both") for r in rs) / n,
        100.0 * sum(r["seen_by"] in ("nic", "both") for r in rs) / n))
print("\n".join("# " + l for l in lines))
if a.table:
    open(a.table, "w").write("\n".join(lines) + "\n")
sys.exit(1 if bad else 0)
