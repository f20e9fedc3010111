#!/usr/bin/python3
"""The drgn side of bench/vmi.sh: list the TCP sockets of a guest's ELF
dump the way drgn users do (debug info from the kernel's -dbg package),
reading the same fields cotrack reads (the global table only: drgn's
helpers know no per-namespace ehash); prints how many it found, the
time to load the core and debug info, and the time of the walk.

    vmi_drgn.py CORE VMLINUX
"""
import sys
import time

import drgn
from drgn.helpers.linux.list import hlist_for_each_entry
from drgn.helpers.linux.list_nulls import hlist_nulls_for_each_entry


def fields(sk):
    c = sk.__sk_common
    return (int(c.skc_family), int(c.skc_state), int(c.skc_num),
            int(c.skc_dport), int(c.skc_rcv_saddr), int(c.skc_daddr),
            bytes(c.skc_v6_rcv_saddr.in6_u.u6_addr8.value_()),
            bytes(c.skc_v6_daddr.in6_u.u6_addr8.value_()))


def main():
    t0 = time.monotonic()
    prog = drgn.Program()
    prog.set_core_dump(sys.argv[1])
    prog.load_debug_info([sys.argv[2]])
    hi = prog["tcp_hashinfo"]
    t1 = time.monotonic()
    n = 0
    for i in range(int(hi.ehash_mask) + 1):
        for sk in hlist_nulls_for_each_entry(
                "struct sock", hi.ehash[i].chain.address_of_(),
                "__sk_common.skc_nulls_node"):
            fields(sk)
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
                fields(icsk.icsk_inet.sk)
                n += 1
            continue
        for sk in hlist_nulls_for_each_entry(
                "struct sock", hi.lhash2[i].nulls_head.address_of_(),
                "__sk_common.skc_nulls_node"):
            fields(sk)
            n += 1
    t2 = time.monotonic()
    print("sockets=%d load_ms=%.1f walk_ms=%.1f" % (n, (t1 - t0) * 1e3,
                                                   (t2 - t1) * 1e3))


main()
