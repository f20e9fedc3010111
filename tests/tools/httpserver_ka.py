#!/usr/bin/env python3
"""A tiny HTTP server whose clients close first: it answers every GET with
200 and a Content-Length body, then waits (at most --timeout s) for the
client to close before closing itself, whatever the request's
Connection header says.  So the client's socket, not this server's,
ends in TIME_WAIT (bench/bitvisor.sh: the guest's own connections stay
visible to a memory view that scans every 250 ms).  Thread per
connection; bounded reads.

  httpserver_ka.py IP PORT [--timeout S]
"""
import argparse
import socket
import socketserver
import sys

BODY = b"hello\n"
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
          % len(BODY)) + BODY


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(self.server.io_timeout)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 8192:
                d = s.recv(4096)
                if not d:
                    return
                head += d
            s.sendall(ANSWER)
            # wait for the client's FIN (bounded by the timeout and size)
            for _ in range(64):
                if not s.recv(4096):
                    break
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    srv = Server((a.ip, a.port), Handler)
    srv.io_timeout = a.timeout
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
