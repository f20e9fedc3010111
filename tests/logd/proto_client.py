#!/usr/bin/env python3
"""A hand-written tracker for tests/logd/protocol.t: speaks the frame
protocol (host/ship_proto.h) over TLS with a tracker certificate and
sends what a correct tracker never would.  Prints one line per reply."""
import hashlib
import socket
import ssl
import struct
import sys

port, pki, name, step = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
EPOCH = 0x5EED


def frame(t, p):
    return b"CL" + bytes([1, t]) + struct.pack("<I", len(p)) + p


def rec(seq, port=443, vm=b"vm-p"):
    r = bytearray(140)
    r[0:4] = b"CR\x01\x8c"
    r[4:12] = struct.pack("<Q", seq)
    r[12:12 + len(vm)] = vm
    r[44], r[45], r[46], r[47], r[48] = 1, 6, 6, 1, 1
    r[52:56] = struct.pack("<HH", 40000, port)
    r[56:72] = bytes(10) + b"\xff\xff" + bytes([10, 9, 0, 1])
    r[72:88] = bytes(10) + b"\xff\xff" + bytes([10, 9, 0, 2])
    r[88:136] = struct.pack("<6Q", 1000, 2000, 5, 500, 4, 4000)
    return bytes(r)


H0 = hashlib.sha256(b"cotrack chain v1").digest()


def chain(prev, enc):
    return hashlib.sha256(b"COTCHN1\0" + prev + enc).digest()


def batch(first, recs, prev=None):
    prev = H0 if prev is None else prev
    h = prev
    for r in recs:
        h = chain(h, r)
    body = b"".join(struct.pack("<Q", 7) + r for r in recs)
    return frame(3, struct.pack("<QII", first, len(recs), 0) + prev + h + body), h


def connect():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(f"{pki}/ca.pem")
    ctx.load_cert_chain(f"{pki}/{name}.pem", f"{pki}/{name}.key")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def reply(s):
    try:
        h = read_exact(s, 8)
        t, n = h[3], struct.unpack("<I", h[4:8])[0]
        p = read_exact(s, n)
    except (EOFError, OSError, ssl.SSLError):
        print("closed")
        return None
    if t == 2:
        print(f"welcome held {struct.unpack('<Q', p[8:16])[0]}")
    elif t == 4:
        print(f"ack {struct.unpack('<Q', p[0:8])[0]}")
    elif t == 6:
        print(f"error {p[4:].decode(errors='replace')}")
    else:
        print(f"frame {t}")
    return t


def hello(s, last):
    s.sendall(frame(1, struct.pack("<IIQQQQ", 1, 1, EPOCH, last, 1, 0)))
    reply(s)


s = connect()
if step == "garbage":
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    reply(s)
elif step == "noncanonical":
    hello(s, 3)
    r = bytearray(rec(1))
    r[12 + 20] = ord("x")  # a byte after the vm name's NUL
    s.sendall(batch(1, [bytes(r)])[0])
    reply(s)
elif step == "badseq":
    hello(s, 3)
    s.sendall(batch(1, [rec(1), rec(5)])[0])  # second record claims seq 5
    reply(s)
elif step == "good-then-replay":
    hello(s, 3)
    b, h = batch(1, [rec(1), rec(2), rec(3)])
    s.sendall(b)
    reply(s)
    s.sendall(b)  # the same, acknowledged, batch again
    reply(s)
elif step == "conflict":
    hello(s, 3)  # logd holds 1..3 already
    s.sendall(batch(1, [rec(1), rec(2, port=22), rec(3)])[0])
    reply(s)
elif step == "badchain":
    hello(s, 4)
    s.sendall(batch(4, [rec(4)], prev=b"\x01" * 32)[0])
    reply(s)
s.close()
