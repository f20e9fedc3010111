# cotrack-logd and TLS 1.2 (issue 9: BitVisor's mbedTLS 2.28 has no
# TLS 1.3).  Without --tls12-tracker logd speaks TLS 1.3 only; with
# --tls12-tracker NAME the tracker whose certificate CN is NAME may use
# TLS 1.2 with ECDHE and an AEAD cipher, and nobody else: another
# tracker's valid certificate over TLS 1.2 is refused after the
# handshake (a "handshake" event in the store), a CBC suite is refused
# in the handshake, and TLS 1.3 works for everybody as before.  The
# clients are Python's ssl module (OpenSSL), speaking the frame protocol's
# HELLO and expecting WELCOME.
source "$TOP/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"

"$COTRACK" pki init "$T_TMP/pki" --tracker t12 --tracker t13 >"$T_TMP/pki.log" 2>&1
check "cotrack pki init" test -s "$T_TMP/pki/t13.key"

start_logd() { # NAME [ARGS...]: port in $T_TMP/NAME.port
	local n=$1
	shift
	"$COTRACK_LOGD" --db "$T_TMP/$n.sqlite" --pki "$T_TMP/pki" --listen 127.0.0.1:0 \
		--port-file "$T_TMP/$n.port" "$@" </dev/null >/dev/null 2>"$T_TMP/$n.log" &
	t_on_exit "kill $!"
	for _ in $(seq 100); do [ -s "$T_TMP/$n.port" ] && break; sleep 0.1; done
}
start_logd only13
start_logd with12 --tls12-tracker t12
p13=$(cat "$T_TMP/only13.port" 2>/dev/null) p12=$(cat "$T_TMP/with12.port" 2>/dev/null)
check "two logds listening (${p13:-none}, ${p12:-none})" test -n "$p13" -a -n "$p12"

# client PORT NAME VERSION [CIPHERS]: prints "welcome", "closed" or
# "handshake-failed: ..."
client() {
	python3 - "$T_TMP/pki" "$@" <<'PY'
import os, socket, ssl, struct, sys
pki, port, name, ver = sys.argv[1:5]
ciphers = sys.argv[5] if len(sys.argv) > 5 else None
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.path.join(pki, "ca.pem"))
ctx.load_cert_chain(os.path.join(pki, name + ".pem"), os.path.join(pki, name + ".key"))
v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
ctx.minimum_version = ctx.maximum_version = v
if ciphers:
    ctx.set_ciphers(ciphers)
s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
try:
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
except (ssl.SSLError, OSError) as e:
    print("handshake-failed:", e)
    sys.exit(0)
hello = struct.pack("<IIQQQQ", 1, 3, int.from_bytes(os.urandom(8), "little") | 1, 0, 0, 0)
try:
    t.sendall(b"CL\x01\x01" + struct.pack("<I", len(hello)) + hello)
    h = b""
    while len(h) < 8:
        d = t.recv(8 - len(h))
        if not d:
            break
        h += d
except (ssl.SSLError, OSError):
    h = b""
print("welcome %s" % t.version() if len(h) == 8 and h[3] == 2 else "closed")
PY
}
r=$(client "$p13" t12 1.2)
case $r in handshake-failed*) ok "no --tls12-tracker: TLS 1.2 refused in the handshake" ;;
*) not_ok "no --tls12-tracker: TLS 1.2 refused in the handshake ($r)" ;; esac
r=$(client "$p13" t12 1.3)
check "no --tls12-tracker: TLS 1.3 answered ($r)" test "$r" = "welcome TLSv1.3"
r=$(client "$p12" t12 1.2)
check "--tls12-tracker t12: t12 over TLS 1.2 answered ($r)" test "$r" = "welcome TLSv1.2"
r=$(client "$p12" t13 1.2)
check "--tls12-tracker t12: t13 over TLS 1.2 closed without WELCOME ($r)" test "$r" = closed
r=$(client "$p12" t13 1.3)
check "--tls12-tracker t12: t13 over TLS 1.3 answered ($r)" test "$r" = "welcome TLSv1.3"
r=$(client "$p12" t12 1.2 ECDHE-ECDSA-AES128-SHA256)
case $r in handshake-failed*) ok "TLS 1.2 with a CBC suite refused in the handshake" ;;
*) not_ok "TLS 1.2 with a CBC suite refused in the handshake ($r)" ;; esac
r=$(client "$p12" t12 1.2 ECDHE-ECDSA-CHACHA20-POLY1305)
check "TLS 1.2 with ChaCha20-Poly1305 answered ($r)" test "$r" = "welcome TLSv1.2"
sleep 0.3
ev=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("|".join(r[0]+":"+(r[1] or "") for r in c.execute("select kind, detail from events")))' "$T_TMP/with12.sqlite")
echo "# events: $ev"
case $ev in *"handshake:TLS 1.2 refused for t13"*) ok "the refusal is a handshake event naming t13" ;;
*) not_ok "the refusal is a handshake event naming t13" ;; esac
"$COTRACK_LOGD" --db "$T_TMP/x.sqlite" --pki "$T_TMP/pki" --tls12-tracker "" >/dev/null 2>&1
check "--tls12-tracker '' is a usage error (exit 2)" test $? = 2
"$COTRACK_LOGD" --help | grep -q -- "--tls12-tracker NAME"
check "--help names --tls12-tracker" test $? = 0
t_end
