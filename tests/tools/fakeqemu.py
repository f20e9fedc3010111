#!/usr/bin/env python3
"""Plays QEMU's side of -netdev stream for tests: connects to a unix
socket and sends/receives frames (4-byte big-endian length + frame).

  fakeqemu.py SOCK send HEXFILE      send the frames (one hex frame a line)
  fakeqemu.py SOCK recv N SECONDS    print up to N received frames as hex
  fakeqemu.py SOCK raw HEX           send raw bytes (e.g. a bad header)

Every loop is bounded by a count and a deadline.
"""
import socket
import struct
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(100):
        try:
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("cannot connect to " + path)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    s = connect(path)
    if mode == "send":
        for line in open(sys.argv[3]):
            line = line.strip()
            if not line:
                continue
            f = bytes.fromhex(line)
            s.sendall(struct.pack("!I", len(f)) + f)
        time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0.2)
    elif mode == "raw":
        s.sendall(bytes.fromhex(sys.argv[3]))
        time.sleep(0.2)
    elif mode == "recv":
        n, deadline = int(sys.argv[3]), time.time() + float(sys.argv[4])
        buf = b""
        got = 0
        print("connected", flush=True)
        s.settimeout(0.1)
        while got < n and time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                break
            buf += d
            while len(buf) >= 4:
                ln = struct.unpack("!I", buf[:4])[0]
                if len(buf) < 4 + ln:
                    break
                print(buf[4:4 + ln].hex(), flush=True)
                buf = buf[4 + ln:]
                got += 1
    s.close()


if __name__ == "__main__":
    main()
