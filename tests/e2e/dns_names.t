# cotrackd's DNS names without guests: fake QEMUs on three VM sockets.
# VM a (10.9.0.1) asks the resolver VM r (10.9.0.53) for svc.test; r
# answers through a CNAME (svc.test -> node7.test -> A 10.9.0.80, TTLs
# 300 and 60).  Before r answers, VM x forges the answer: from r's IP
# address and port, to a's port, with a's id and question, but from its
# own MAC (the switch drops frames from r's MAC on x's port) and naming
# 10.9.0.81: refused, as the query went to r's MAC.  a's per-VM summary
# counts 1 query, 2 answers (1 matched, 1 unmatched), 1 name; x's and
# r's tables learn nothing.  a's TCP connection to 10.9.0.80 must be
# named svc.test and the one to 10.9.0.81 not at all.
source "$TOP/tests/lib.sh"
D=$T_TMP
F=$TOP/tests/tools/fakeqemu.py
"$COTRACKD" -v -v --vm a,net=$D/a.sock --vm r,net=$D/r.sock --vm x,net=$D/x.sock \
	-o $D/rec.json 2>$D/d.log &
dpid=$!
t_on_exit "kill $dpid"
for _ in $(seq 50); do [ -S $D/x.sock ] && break; sleep 0.1; done
check "cotrackd listens on three VM sockets" test -S $D/a.sock -a -S $D/r.sock -a -S $D/x.sock

python3 - "$D" <<'PY'
import struct, sys
d = sys.argv[1]
A, R, X = (bytes.fromhex(h) for h in ("02000000000a", "020000000053", "0200000000ee"))
def ip(src, dst, proto, payload):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64,
                       proto, 0, bytes(src), bytes(dst)) + payload
def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data
def tcp(sp, dp, fl):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 0x50, fl, 1000, 0, 0)
def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
def q(id_, n):
    return struct.pack("!HHHHHH", id_, 0x0100, 1, 0, 0, 0) + name(n) + struct.pack("!HH", 1, 1)
def rr(owner, typ, ttl, rdata):
    return owner + struct.pack("!HHIH", typ, 1, ttl, len(rdata)) + rdata
def ans(id_, n, rrs):
    return (struct.pack("!HHHHHH", id_, 0x8180, 1, len(rrs), 0, 0) + name(n) +
            struct.pack("!HH", 1, 1) + b"".join(rrs))
a_ip, r_ip, svc = [10, 9, 0, 1], [10, 9, 0, 53], [10, 9, 0, 80]
query = R + A + b"\x08\x00" + ip(a_ip, r_ip, 17, udp(40000, 53, q(0x1234, "svc.test")))
good = A + R + b"\x08\x00" + ip(r_ip, a_ip, 17, udp(53, 40000, ans(0x1234, "svc.test", [
    rr(b"\xc0\x0c", 5, 300, name("node7.test")),
    rr(name("node7.test"), 1, 60, bytes(svc))])))
forged = A + X + b"\x08\x00" + ip(r_ip, a_ip, 17, udp(53, 40000, ans(0x1234, "svc.test", [
    rr(b"\xc0\x0c", 1, 3600, bytes([10, 9, 0, 81]))])))
syns = [R + A + b"\x08\x00" + ip(a_ip, svc, 6, tcp(41000, 80, 2)),
        R + A + b"\x08\x00" + ip(a_ip, [10, 9, 0, 81], 6, tcp(41001, 80, 2))]
open(d + "/a.hex", "w").write(query.hex() + "\n")
open(d + "/r.hex", "w").write(good.hex() + "\n")
open(d + "/x.hex", "w").write(forged.hex() + "\n")
open(d + "/a2.hex", "w").write("".join(f.hex() + "\n" for f in syns))
PY
# One connection per VM, each sending and receiving (a second
# connection to a VM socket is refused); every wait is bounded.
python3 - "$D" >$D/drive.log 2>&1 <<'PY'
import socket, struct, sys, time
d = sys.argv[1]
def conn(v):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(100):
        try:
            s.connect(d + "/" + v + ".sock")
            return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("cannot connect to " + v)
def send(s, v):
    for line in open(d + "/" + v + ".hex"):
        f = bytes.fromhex(line.strip())
        s.sendall(struct.pack("!I", len(f)) + f)
def recv(s, n, secs):
    buf, got, end = b"", [], time.time() + secs
    s.settimeout(0.1)
    while len(got) < n and time.time() < end:
        try:
            x = s.recv(65536)
        except socket.timeout:
            continue
        if not x:
            break
        buf += x
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack("!I", buf[:4])[0]:
            ln = struct.unpack("!I", buf[:4])[0]
            got.append(buf[4:4 + ln])
            buf = buf[4 + ln:]
    return got
a, r, x = conn("a"), conn("r"), conn("x")
time.sleep(0.3)
send(a, "a")                   # a's query (flooded: r and x)
print("r got", len(recv(r, 1, 10)))
send(x, "x")                   # x's forgery first (a learned: to a only)
print("a got", len(recv(a, 1, 10)))
send(r, "r")                   # r's answer (a learned: to a only)
print("a got", len(recv(a, 1, 10)))
send(a, "a2")                  # a connects to both addresses
print("r got", len(recv(r, 2, 10)))
time.sleep(0.2)
PY
sed 's/^/# /' $D/drive.log
check "a got the forgery and the answer" test "$(grep -c "^a got 1" $D/drive.log)" = 2
kill -TERM $dpid
wait $dpid
check "exit status 0 on SIGTERM" test $? = 0
sed 's/^/# /' $D/d.log | grep dns
check "a: 1 query, 2 answers, 1 matched, 1 unmatched, 1 name" \
	grep -q "^a: dns queries 1 (not kept 0, replaced 0), answers 2 (matched 1, unmatched 1, malformed 0), names 1 (evicted 0)" $D/d.log
check "r: answered from port 53, learned nothing" \
	grep -q "^r: dns queries 0 .*answers 0 .*names 0 " $D/d.log
check "x: learned nothing" grep -q "^x: dns .*names 0 " $D/d.log
# The names cotrackd gives a's records (its debug line, with or without
# the record fields): 10.9.0.80 is svc.test, 10.9.0.81 has no name.
grep "names:" $D/d.log | sed 's/^/# /'
check "a's record to 10.9.0.80 is named svc.test" \
	grep -q "a: names: 10.9.0.1:41000 () -> 10.9.0.80:80 (svc.test)" $D/d.log
check "a's record to 10.9.0.81 has no name (the forgery was refused)" \
	sh -c "! grep -q names:.*10.9.0.81 $D/d.log"
# The JSON leaves an absent name out (host/recfmt.c).
python3 - $D/rec.json <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tcp = sorted((r for r in recs if r["vm"] == "a" and r["proto"] == "tcp"),
             key=lambda r: r["dst"])
assert [r["dst"] for r in tcp] == ["10.9.0.80", "10.9.0.81"], tcp
assert tcp[0].get("dst_name") == "svc.test", tcp[0]
assert "dst_name" not in tcp[1], tcp[1]
print("# a's record: dst_name", tcp[0]["dst_name"])
PY
check "a's TCP records: 10.9.0.80 named svc.test, .81 unnamed" test $? = 0
if grep -q "AddressSanitizer\|runtime error" $D/d.log; then not_ok "sanitizer report"; else ok "no sanitizer report"; fi
t_end
