#!/usr/bin/env python3
"""tests/logd/names.t's tracker: the record encoding (include/cotrack/rec.h)
written again from its specification, version 1 and version 2 mixed in
one batch, sent to logd over the frame protocol.  logd takes a record
only when it is the canonical encoding the C encoder would write, so an
ACK means both implementations agree byte for byte.

  names_client.py PORT PKI NAME          send the records, print replies
  names_client.py PORT PKI NAME tunnels  the same with version-3 records
                                         (tunnel fields, inner_conns)
  names_client.py --old-db FILE          write a schema-1 database (before
                                         the names) holding two v1 records
"""
import hashlib
import socket
import sqlite3
import ssl
import struct
import sys

H0 = hashlib.sha256(b"cotrack chain v1").digest()


def chain(prev, enc):
    return hashlib.sha256(b"COTCHN1\0" + prev + enc).digest()


def v4(a):
    return bytes(10) + b"\xff\xff" + bytes(int(x) for x in a.split("."))


def s8(s):
    b = s.encode()
    assert len(b) < 256
    return bytes([len(b)]) + b


def rec(seq, vm, src, sport, dst, dport, seen=3, first=1000, fwd=(5, 500),
        rev=(4, 4000), src_owner=None, dst_owner=None, src_name="",
        dst_name=""):
    named = src_owner or dst_owner or src_name or dst_name
    r = bytearray(140)
    r[0:4] = b"CR" + (b"\x02\x00" if named else b"\x01\x8c")
    r[4:12] = struct.pack("<Q", seq)
    r[12:12 + len(vm)] = vm.encode()
    # tcp, ipproto 6, closed, fin, seen_by, flags 0, tcp flags
    r[44:52] = bytes([1, 6, 6, 1, seen, 0, 0x1b, 0x1a])
    r[52:56] = struct.pack("<HH", sport, dport)
    r[56:72] = v4(src)
    r[72:88] = v4(dst)
    r[88:136] = struct.pack("<6Q", first, first + 5000, fwd[0], fwd[1],
                            rev[0], rev[1])
    r[136:140] = struct.pack("<I", 4026531840)
    if not named:
        return bytes(r)
    body = b""
    for o, n in ((src_owner, src_name), (dst_owner, dst_name)):
        pid, comm, cg = o or (0, "", "")
        body += struct.pack("<I", pid) + s8(comm) + s8(cg) + s8(n)
    return bytes(r) + struct.pack("<H", 142 + len(body)) + body


def rec3(seq, src, sport, dst, dport, tun=None, inner=0, first=1000,
         src_owner=None):
    """Version 3 (rec.h): v2's header, a tunnel block, then the ends.
    tun: (type, id, outer src, outer dst) or None."""
    base = bytearray(rec(seq, "k8s", src, sport, dst, dport, seen=1,
                         first=first)[:140])
    base[2:4] = b"\x03\x00"
    if tun:
        t, tid, osrc, odst = tun
        blk = bytes([t]) + struct.pack("<I", tid) + v4(osrc) + v4(odst)
    else:
        blk = bytes(1 + 4 + 32)
    blk += struct.pack("<I", inner)
    body = b""
    for o in (src_owner, None):
        pid, comm, cg = o or (0, "", "")
        body += struct.pack("<I", pid) + s8(comm) + s8(cg) + s8("")
    return bytes(base) + struct.pack("<H", 142 + len(blk) + len(body)) + blk + body


def records_tun():
    T = 1767261600000000000
    return [
        rec3(1, "10.244.1.5", 40000, "10.244.2.7", 8080,
             tun=(1, 1, "192.0.2.1", "192.0.2.2"), first=T),
        rec3(2, "10.244.1.5", 40000, "10.244.2.7", 8080,
             tun=(1, 2, "192.0.2.1", "192.0.2.2"), first=T + 1),
        rec3(3, "192.0.2.1", 50000, "192.0.2.2", 4789, inner=2,
             first=T + 2),
        rec3(4, "10.1.0.1", 40001, "10.1.0.2", 22,
             tun=(3, 42, "198.51.100.1", "198.51.100.2"), first=T + 3,
             src_owner=(812, "ssh", "/x")),
        rec(5, "k8s", "10.0.0.2", 40005, "10.0.0.3", 22, seen=1,
            first=T + 4),
    ]


NGINX = (812, "nginx", "/fe/nginx")
MEMC = (900, "memcached", "/fe/memcached")
API = (77, "python3", "/be/api")
HOSTILE = (4242, 'a"b\\c d', "/fe/odd{1}")


def records():
    T = 1767261600000000000
    return [
        rec(1, "fe", "10.0.0.2", 40000, "10.0.0.3", 80, seen=1, first=T),
        rec(2, "fe", "10.0.0.2", 40001, "10.0.0.3", 8080, first=T + 10**6,
            fwd=(6, 600), rev=(8, 8000), src_owner=NGINX,
            dst_name="backend.svc"),
        rec(3, "fe", "127.0.0.1", 40002, "127.0.0.1", 11211, seen=2,
            first=T + 2 * 10**6, fwd=(2, 50), rev=(2, 70), src_owner=NGINX,
            dst_owner=MEMC),
        rec(4, "be", "10.0.0.2", 40001, "10.0.0.3", 8080, first=T + 10**6,
            fwd=(6, 600), rev=(8, 8000), dst_owner=API),
        rec(5, "fe", "10.0.0.2", 40003, "192.0.2.9", 443, seen=1,
            first=T + 3 * 10**6, src_owner=HOSTILE, dst_name="x.example"),
        rec(6, "fe", "10.0.0.2", 40004, "10.0.0.3", 8080, first=T + 4 * 10**6,
            fwd=(6, 600), rev=(8, 8000), src_owner=NGINX,
            dst_name="backend.svc"),
        rec(7, "fe", "10.0.0.2", 40005, "10.0.0.3", 22, seen=1,
            first=T + 5 * 10**6),
    ]


OLD_SCHEMA = """
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT);
INSERT INTO meta VALUES('schema', '1');
CREATE TABLE streams(id INTEGER PRIMARY KEY, tracker TEXT NOT NULL,
 epoch INTEGER NOT NULL, fingerprint TEXT, created_ns INTEGER,
 last_seq INTEGER NOT NULL DEFAULT 0, last_hash BLOB NOT NULL,
 UNIQUE(tracker, epoch));
CREATE TABLE records(stream INTEGER NOT NULL, seq INTEGER NOT NULL, vm TEXT,
 proto INTEGER, ipproto INTEGER, tcp_state INTEGER, end_ INTEGER,
 seen_by INTEGER, flags INTEGER, tcp_flags_fwd INTEGER,
 tcp_flags_rev INTEGER, sport INTEGER, dport INTEGER, src BLOB,
 dst BLOB, first_ns INTEGER, last_ns INTEGER, pkts_fwd INTEGER,
 bytes_fwd INTEGER, pkts_rev INTEGER, bytes_rev INTEGER,
 netns INTEGER, added_ns INTEGER, stored_ns INTEGER,
 hash BLOB NOT NULL, PRIMARY KEY(stream, seq)) WITHOUT ROWID;
CREATE TABLE events(id INTEGER PRIMARY KEY, time_ns INTEGER, kind TEXT NOT NULL,
 tracker TEXT, stream INTEGER, seq_first INTEGER, seq_last INTEGER,
 peer TEXT, detail TEXT);
"""


def old_db(path):
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    h = H0
    T = 1767250000000000000
    for seq in (1, 2):
        e = rec(seq, "old", "10.9.0.1", 30000 + seq, "10.9.0.2", 443,
                seen=1, first=T + seq)
        h = chain(h, e)
        db.execute(
            "INSERT INTO records VALUES(1,?,'old',1,6,6,1,1,0,27,26,?,443,?,?,"
            "?,?,5,500,4,4000,4026531840,1,1,?)",
            (seq, 30000 + seq, v4("10.9.0.1"), v4("10.9.0.2"), T + seq,
             T + seq + 5000, h))
    db.execute("INSERT INTO streams VALUES(1,'old',7,NULL,1,2,?)", (h,))
    db.commit()


def frame(t, p):
    return b"CL" + bytes([1, t]) + struct.pack("<I", len(p)) + p


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
        return
    if t == 2:
        print(f"welcome held {struct.unpack('<Q', p[8:16])[0]}")
    elif t == 4:
        print(f"ack {struct.unpack('<Q', p[0:8])[0]}")
    elif t == 6:
        print(f"error {p[4:].decode(errors='replace')}")
    else:
        print(f"frame {t}")


def send(port, pki, name, recs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(f"{pki}/ca.pem")
    ctx.load_cert_chain(f"{pki}/{name}.pem", f"{pki}/{name}.key")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                                 timeout=10),
                        server_hostname="127.0.0.1")
    s.sendall(frame(1, struct.pack("<IIQQQQ", 1, 1, 0x5EED, len(recs), 1, 0)))
    reply(s)
    h = H0
    for r in recs:
        h = chain(h, r)
    body = b"".join(struct.pack("<Q", 7) + r for r in recs)
    s.sendall(frame(3, struct.pack("<QII", 1, len(recs), 0) + H0 + h + body))
    reply(s)
    print("sizes " + " ".join(str(len(r)) for r in recs))


if __name__ == "__main__":
    if sys.argv[1] == "--old-db":
        old_db(sys.argv[2])
    else:
        tun = sys.argv[4:] == ["tunnels"]
        send(int(sys.argv[1]), sys.argv[2], sys.argv[3],
             records_tun() if tun else records())
