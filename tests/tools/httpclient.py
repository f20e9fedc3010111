#!/usr/bin/env python3
"""HTTP/1.0 client for the tracker tests: N requests, each on a new
connection, to HOST:PORT.  Prints one log line per request
("req I ok LOCALPORT" or "req I fail REASON") and a summary line
"client ok=N fail=M".  Bounded: --timeout per request.

  httpclient.py HOST:PORT [-n N] [--path /x] [--timeout S]
"""
import argparse
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("-n", type=int, default=1)
    p.add_argument("--path", default="/")
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    host, port = a.target.rsplit(":", 1)
    ok = fail = 0
    t0 = time.time()
    for i in range(a.n):
        try:
            s = socket.create_connection((host, int(port)), timeout=a.timeout)
            lport = s.getsockname()[1]
            s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (a.path, host)).encode())
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            if data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]:
                ok += 1
                print("req %d ok %d" % (i, lport))
            else:
                fail += 1
                print("req %d fail %r" % (i, data[:60]))
        except OSError as e:
            fail += 1
            print("req %d fail %s" % (i, e))
    print("client ok=%d fail=%d seconds=%.1f" % (ok, fail, time.time() - t0))
    return 0 if fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
