#!/usr/bin/python3
"""The drgn side of bench/vmi.sh: list the TCP sockets of a guest's ELF
dump the way drgn users do (debug info from the kernel's -dbg package),
reading the same fields cotrack reads (the global table only: drgn's
helpers know no per-namespace ehash; a TIME_WAIT socket's substate and a
request socket as SYN_RECV, as /proc/net/tcp shows them); prints how many it found, the
time to load the core and debug info, and the time of the walk.
With SNAPSHOT (`cotrack vmi snapshot --format json` of the same core),
also whether both found the same sockets: the multiset of (family,
state, local address and port, remote address and port), namespaces
aside (drgn does not give them); then a timed owner walk the way drgn
users write one (every task's file table, drgn's for_each_task and
for_each_file), and whether it gives the same owner (lowest pid, then
lowest fd) for every socket a process holds.

    vmi_drgn.py CORE VMLINUX [SNAPSHOT]
"""
import ipaddress
import json
import struct
import sys
import time

import drgn
from drgn.helpers.linux.list import hlist_for_each_entry
from drgn.helpers.linux.list_nulls import hlist_nulls_for_each_entry
from drgn.helpers.linux.fs import for_each_file
from drgn.helpers.linux.pid import for_each_task


def fields(sk):
    c = sk.__sk_common
    st = int(c.skc_state)
    if st == 6:  # TIME_WAIT: /proc/net/tcp and cotrack show the substate
        ptr = (sk if sk.type_.kind == drgn.TypeKind.POINTER else
               sk.address_of_())
        st = int(drgn.cast("struct inet_timewait_sock *", ptr).tw_substate)
    elif st == 12:  # NEW_SYN_RECV: shown as SYN_RECV (/proc, ss, cotrack)
        st = 3
    return (int(c.skc_family), st, int(c.skc_num),
            int(c.skc_dport), int(c.skc_rcv_saddr), int(c.skc_daddr),
            bytes(c.skc_v6_rcv_saddr.in6_u.u6_addr8.value_()),
            bytes(c.skc_v6_daddr.in6_u.u6_addr8.value_()))


# Linux's TCP states (include/net/tcp_states.h), as cotrack names them
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
          5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
          9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
          13: "BOUND_INACTIVE"}
AF_INET, AF_INET6 = 2, 10


def key(f):
    """fields() as (family, state, laddr, lport, raddr, rport)"""
    fam, st, lport, dport, ls, ld, l6, d6 = f
    if fam == AF_INET:
        la, ra = struct.pack("<I", ls), struct.pack("<I", ld)
    else:
        la, ra = l6, d6
    return ("ipv4" if fam == AF_INET else "ipv6" if fam == AF_INET6 else
            str(fam), STATES.get(st, str(st)), la, lport,
            ra, struct.unpack(">H", struct.pack("<H", dport))[0])


def compare(found, snapshot):
    """counts of the sockets only drgn, only cotrack found"""
    mine = {}
    for f in found:
        k = key(f)
        mine[k] = mine.get(k, 0) + 1
    theirs = {}
    with open(snapshot) as f:
        for line in f:
            o = json.loads(line)
            k = (o["family"], o["state"],
                 ipaddress.ip_address(o["local"]).packed, o["lport"],
                 ipaddress.ip_address(o["remote"]).packed, o["rport"])
            theirs[k] = theirs.get(k, 0) + 1
    only_d = sum(max(0, n - theirs.get(k, 0)) for k, n in mine.items())
    only_c = sum(max(0, n - mine.get(k, 0)) for k, n in theirs.items())
    # the first few differences, on stderr
    for who, a, b in (("drgn", mine, theirs), ("cotrack", theirs, mine)):
        for k in sorted(k for k in a if a[k] > b.get(k, 0))[:5]:
            print("only %s: %s %s %s:%d %s:%d" % (
                who, k[0], k[1], ipaddress.ip_address(k[2]), k[3],
                ipaddress.ip_address(k[4]), k[5]), file=sys.stderr)
    return only_d, only_c, sum(theirs.values())


def owners(prog):
    """socket address -> (pid, fd): the lowest tgid holding it, its lowest
    fd"""
    sops = prog["socket_file_ops"].address_of_().value_()
    own = {}
    for task in for_each_task(prog):
        if not task.files:
            continue
        pid = int(task.tgid)
        for fd, f in for_each_file(task):
            if f.f_op.value_() != sops:
                continue
            sk = drgn.cast("struct socket *", f.private_data).sk
            a = sk.value_()
            if a and (a not in own or (pid, fd) < own[a]):
                own[a] = (pid, fd)
    return own


def compare_owners(prog, own, snapshot):
    """counts of the owned sockets of drgn and cotrack, and of those whose
    (tuple, pid, fd) only one of them has"""
    mine = {}
    for a, (pid, fd) in own.items():
        sk = drgn.Object(prog, "struct sock *", value=a)
        k = key(fields(sk)) + (pid, fd)
        mine[k] = mine.get(k, 0) + 1
    theirs = {}
    with open(snapshot) as f:
        for line in f:
            o = json.loads(line)
            if "pid" not in o:
                continue
            k = (o["family"], o["state"],
                 ipaddress.ip_address(o["local"]).packed, o["lport"],
                 ipaddress.ip_address(o["remote"]).packed, o["rport"],
                 o["pid"], o["fd"])
            theirs[k] = theirs.get(k, 0) + 1
    only_d = sum(max(0, n - theirs.get(k, 0)) for k, n in mine.items())
    only_c = sum(max(0, n - mine.get(k, 0)) for k, n in theirs.items())
    for who, a, b in (("drgn", mine, theirs), ("cotrack", theirs, mine)):
        for k in sorted(k for k in a if a[k] > b.get(k, 0))[:5]:
            print("only %s owner: %s %s %s:%d %s:%d pid=%d fd=%d" % (
                who, k[0], k[1], ipaddress.ip_address(k[2]), k[3],
                ipaddress.ip_address(k[4]), k[5], k[6], k[7]),
                file=sys.stderr)
    return sum(mine.values()), sum(theirs.values()), only_d, only_c


def main():
    t0 = time.monotonic()
    prog = drgn.Program()
    prog.set_core_dump(sys.argv[1])
    prog.load_debug_info([sys.argv[2]])
    hi = prog["tcp_hashinfo"]
    t1 = time.monotonic()
    n = 0
    found = []
    for i in range(int(hi.ehash_mask) + 1):
        for sk in hlist_nulls_for_each_entry(
                "struct sock", hi.ehash[i].chain.address_of_(),
                "__sk_common.skc_nulls_node"):
            found.append(fields(sk))
            n += 1
    # Linux < 5.19 chains lhash2 through icsk_listen_portaddr_node
    try:
        prog.type("struct inet_connection_sock").member(
            "icsk_listen_portaddr_node")
        old = True
    except LookupError:
        old = False
    for i in range(int(hi.lhash2_mask) + 1):
        if old:
            for icsk in hlist_for_each_entry(
                    "struct inet_connection_sock",
                    hi.lhash2[i].head.address_of_(),
                    "icsk_listen_portaddr_node"):
                found.append(fields(icsk.icsk_inet.sk))
                n += 1
            continue
        for sk in hlist_nulls_for_each_entry(
                "struct sock", hi.lhash2[i].nulls_head.address_of_(),
                "__sk_common.skc_nulls_node"):
            found.append(fields(sk))
            n += 1
    t2 = time.monotonic()
    out = "sockets=%d load_ms=%.1f walk_ms=%.1f" % (n, (t1 - t0) * 1e3,
                                                  (t2 - t1) * 1e3)
    if len(sys.argv) > 3:
        only_d, only_c, nc = compare(found, sys.argv[3])
        out += " cotrack_sockets=%d only_drgn=%d only_cotrack=%d same=%d" % (
            nc, only_d, only_c, int(only_d == 0 and only_c == 0))
        try:
            t3 = time.monotonic()
            own = owners(prog)
            t4 = time.monotonic()
            nd, nc, only_d, only_c = compare_owners(prog, own, sys.argv[3])
            out += (" owner_ms=%.1f owned_drgn=%d owned_cotrack=%d"
                    " owners_only_drgn=%d owners_only_cotrack=%d"
                    " owners_same=%d" % ((t4 - t3) * 1e3, nd, nc, only_d,
                                         only_c,
                                         int(only_d == 0 and only_c == 0)))
        except (drgn.FaultError, LookupError, ValueError) as e:
            print("owner walk: %s" % e, file=sys.stderr)
            out += " owners_same=error"
    print(out)


main()
