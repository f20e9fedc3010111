#!/usr/bin/env python3
"""Deterministic test traffic between two test hosts (network namespaces).

  traffic.py serve --addr A [--tcp PORT] [--udp PORT] [--seconds S]
  traffic.py run --addr A [--tcp PORT] [--udp PORT] [--conns N]
                 [--bytes B] [--datagrams K] [--refused PORT]

serve: TCP echo (each connection echoes what it reads, then closes when
the peer does) and UDP echo, for at most --seconds.
run: N TCP connections that each send B bytes, read the echo and close;
K UDP datagrams, each echoed; one connection attempt to a closed port
(--refused, answered by RST).  Every loop is bounded.
"""
import argparse
import socket
import sys
import threading
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(a):
    deadline = time.time() + a.seconds
    socks = []
    if a.tcp:
        t = socket.socket(family(a.addr), socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((a.addr, a.tcp))
        t.listen(128)
        t.settimeout(0.2)
        socks.append(t)
    if a.udp:
        u = socket.socket(family(a.addr), socket.SOCK_DGRAM)
        u.bind((a.addr, a.udp))
        u.settimeout(0.2)
        socks.append(u)

    def echo(c):
        c.settimeout(5)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    def udp_loop():
        while time.time() < deadline:
            try:
                d, peer = u.recvfrom(65536)
            except socket.timeout:
                continue
            u.sendto(d, peer)

    if a.udp:
        threading.Thread(target=udp_loop, daemon=True).start()
    print("ready", flush=True)
    while time.time() < deadline:
        if not a.tcp:
            time.sleep(0.2)
            continue
        try:
            c, _ = t.accept()
        except socket.timeout:
            continue
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def run(a):
    fam = family(a.addr)
    for i in range(a.conns):
        c = socket.create_connection((a.addr, a.tcp), timeout=5)
        payload = bytes((i + j) & 0xFF for j in range(a.bytes + i))
        c.sendall(payload)
        got = 0
        while got < len(payload):
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
    if a.udp:
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.settimeout(2)
        for i in range(a.datagrams):
            u.sendto(b"x" * (20 + i), (a.addr, a.udp))
            try:
                u.recvfrom(65536)
            except socket.timeout:
                print("udp echo lost", file=sys.stderr)
        u.close()
    if a.refused:
        try:
            socket.create_connection((a.addr, a.refused), timeout=2)
        except OSError:
            pass
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["serve", "run"])
    p.add_argument("--addr", required=True)
    p.add_argument("--tcp", type=int, default=0)
    p.add_argument("--udp", type=int, default=0)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--conns", type=int, default=5)
    p.add_argument("--bytes", type=int, default=1000)
    p.add_argument("--datagrams", type=int, default=5)
    p.add_argument("--refused", type=int, default=0)
    a = p.parse_args()
    return serve(a) if a.mode == "serve" else run(a)


if __name__ == "__main__":
    sys.exit(main())
