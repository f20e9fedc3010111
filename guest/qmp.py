#!/usr/bin/env python3
"""Minimal QMP client: send one command to a QEMU monitor socket.

    guest/qmp.py SOCKET COMMAND [JSON-ARGUMENTS]

Prints the command's "return" value as JSON and exits 0, or prints the
error and exits 1.  Asynchronous events that arrive meanwhile are skipped.
Every read has a timeout (QMP_TIMEOUT seconds, default 120: a memory dump
of a 2 GiB guest takes a few seconds).
"""
import json
import os
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, cmd = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    timeout = float(os.environ.get("QMP_TIMEOUT", "120"))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    f = s.makefile("rwb")

    def recv():
        # bound: one JSON object per line; events are skipped, at most 1000
        for _ in range(1000):
            line = f.readline()
            if not line:
                raise SystemExit("qmp: connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg
        raise SystemExit("qmp: too many events")

    def send(name, arguments=None):
        m = {"execute": name}
        if arguments is not None:
            m["arguments"] = arguments
        f.write(json.dumps(m).encode() + b"\n")
        f.flush()
        return recv()

    greeting = recv()
    if "QMP" not in greeting:
        raise SystemExit("qmp: no greeting")
    send("qmp_capabilities")
    r = send(cmd, args)
    if "error" in r:
        print(json.dumps(r["error"]), file=sys.stderr)
        return 1
    print(json.dumps(r.get("return")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
