#!/usr/bin/env python3
"""HTTP/1.0 client for the real-services tests (issue 12): N requests,
each on a new connection, to HOST:PORT, request I for path /item/I; each
answer is checked against what the frontend must return: for an even I
below 2*HITS memcached's value "cache /item/I" (a hit), otherwise the
backend's static file "backend item\\n" (a miss, proxied by name).  Prints
one line per request, "req I ok LOCALPORT hit|miss T0_NS T1_NS" or
"req I fail REASON", and "client ok=N fail=M hits=H misses=S seconds=X".
Bounded: --timeout per request, N requests, --gap seconds between them.

  svcclient.py HOST:PORT [-n N] [--hits H] [--gap S] [--timeout S]
"""
import argparse
import socket
import sys
import time

BACKEND_BODY = b"backend item\n"


def want(i, hits):
    if i % 2 == 0 and i < 2 * hits:
        return "hit", ("cache /item/%d" % i).encode()
    return "miss", BACKEND_BODY


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("-n", type=int, default=1)
    p.add_argument("--hits", type=int, default=100)
    p.add_argument("--gap", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    ok = fail = nhit = nmiss = 0
    t_start = time.time()
    for i in range(a.n):
        kind, body = want(i, a.hits)
        try:
            t0 = time.time_ns()
            s = socket.create_connection((host, int(port)), timeout=a.timeout)
            lport = s.getsockname()[1]
            s.sendall(("GET /item/%d HTTP/1.0\r\nHost: frontend.svc\r\n\r\n" % i).encode())
            data = b""
            while len(data) < 1 << 20:  # bounded: 1 MiB per answer
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            t1 = time.time_ns()
            head, _, got = data.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if status.startswith(b"HTTP/1.") and b" 200 " in status and got == body:
                ok += 1
                nhit += kind == "hit"
                nmiss += kind == "miss"
                print("req %d ok %d %s %d %d" % (i, lport, kind, t0, t1))
            else:
                fail += 1
                print("req %d fail %s want %r got %r %r" % (i, kind, body, status[:40], got[:60]))
        except OSError as e:
            fail += 1
            print("req %d fail %s" % (i, e))
        if a.gap:
            time.sleep(a.gap)
    print("client ok=%d fail=%d hits=%d misses=%d seconds=%.1f"
          % (ok, fail, nhit, nmiss, time.time() - t_start))
    return 0 if fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
