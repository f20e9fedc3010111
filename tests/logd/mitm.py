#!/usr/bin/env python3
"""A man in the middle on loopback for tests/logd: forwards TCP between a
tracker and cotrack-logd and, on a budget of --faults, damages the
stream: flip (one bit), drop (a whole chunk), dup (a chunk twice), cut
(close both sides), replay (after the first session ends, send its
client bytes again on a new connection).  Once the budget is spent it is
a clean pipe.  Prints one line per fault to stdout.  Loopback only."""
import argparse
import os
import random
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--target", type=int, required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--mode", choices=["flip", "drop", "dup", "cut", "replay", "clean"], required=True)
ap.add_argument("--faults", type=int, default=3)
ap.add_argument("--after-min", type=int, default=6000)
ap.add_argument("--after-max", type=int, default=60000)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--lifetime", type=float, default=170.0)
a = ap.parse_args()

rng = random.Random(a.seed)
lock = threading.Lock()
budget = [a.faults]
conn_no = [0]
first_session = []  # client->server chunks of the first connection
replay_done = threading.Event()


def log(msg):
    with lock:
        print(f"{time.time():.3f} {msg}", flush=True)


def take_fault():
    with lock:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return True


def pump(src, dst, n, direction, record):
    """Copy src -> dst; maybe damage once at a random byte offset."""
    trigger = rng.randint(a.after_min, a.after_max)
    seen = 0
    armed = a.mode in ("flip", "drop", "dup", "cut") and (direction == "c2s" or a.mode == "cut")
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                record.append(data)
            if armed and seen + len(data) > trigger and take_fault():
                armed = False
                off = max(0, trigger - seen)
                if a.mode == "flip":
                    b = bytearray(data)
                    b[off] ^= 1 << rng.randrange(8)
                    data = bytes(b)
                    log(f"fault flip conn {n} {direction} byte {seen + off}")
                elif a.mode == "drop":
                    log(f"fault drop conn {n} {direction} {len(data)} bytes at {seen}")
                    seen += len(data)
                    continue
                elif a.mode == "dup":
                    log(f"fault dup conn {n} {direction} {len(data)} bytes at {seen}")
                    dst.sendall(data)
                elif a.mode == "cut":
                    log(f"fault cut conn {n} {direction} at {seen}")
                    break
            seen += len(data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def replay_later(chunks):
    # Replay the recorded client bytes of session 1 on a fresh connection.
    time.sleep(0.5)
    if not take_fault():
        return
    s = socket.create_connection(("127.0.0.1", a.target), timeout=10)
    sent = 0
    try:
        for c in chunks:
            s.sendall(c)
            sent += len(c)
            time.sleep(0.01)
        s.settimeout(5)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
    log(f"fault replay of session 1: {sent} client bytes sent again")
    replay_done.set()


def handle(c):
    with lock:
        conn_no[0] += 1
        n = conn_no[0]
    try:
        s = socket.create_connection(("127.0.0.1", a.target), timeout=10)
    except OSError:
        c.close()
        return
    s.settimeout(None)
    record = first_session if (a.mode == "replay" and n == 1) else None
    t1 = threading.Thread(target=pump, args=(c, s, n, "c2s", record), daemon=True)
    t2 = threading.Thread(target=pump, args=(s, c, n, "s2c", None), daemon=True)
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    c.close()
    s.close()
    if record is not None:
        threading.Thread(target=replay_later, args=(list(record),), daemon=True).start()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
tmp = a.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(f"{ls.getsockname()[1]}\n")
os.rename(tmp, a.port_file)
ls.settimeout(1.0)
end = time.time() + a.lifetime
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    threading.Thread(target=handle, args=(c,), daemon=True).start()
sys.exit(0)
