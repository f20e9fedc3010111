# Clients without a valid certificate are refused and recorded: one from
# another CA, one presenting logd's own server certificate (wrong
# purpose), one with no certificate at all, and plain garbage.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
make_pki "$T_TMP/other" t1
logd_start || { not_ok "logd starts"; t_end; }

"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --ca "$PKI/ca.pem" \
	--cert "$T_TMP/other/t1.pem" --key "$T_TMP/other/t1.key" \
	--count 10 --timeout 3 >"$T_TMP/g1.out" 2>&1
check "tracker certificate from another CA: nothing acknowledged (exit 3)" test $? = 3
check "  ... the tracker saw the refusal" grep -q 'acked 0' "$T_TMP/g1.out"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --ca "$PKI/ca.pem" \
	--cert "$PKI/server.pem" --key "$PKI/server.key" \
	--count 10 --timeout 3 >"$T_TMP/g2.out" 2>&1
check "server certificate used as a client certificate: refused" test $? = 3
# No client certificate at all (openssl s_client), and non-TLS bytes.
timeout 10 openssl s_client -connect "127.0.0.1:$LOGD_PORT" -tls1_3 \
	-CAfile "$PKI/ca.pem" </dev/null >"$T_TMP/sc.out" 2>&1
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat - "TCP:127.0.0.1:$LOGD_PORT" >/dev/null 2>&1
# TLS 1.2 is not offered.
timeout 10 openssl s_client -connect "127.0.0.1:$LOGD_PORT" -tls1_2 \
	-cert "$PKI/t1.pem" -key "$PKI/t1.key" -CAfile "$PKI/ca.pem" </dev/null >"$T_TMP/sc12.out" 2>&1
check "TLS 1.2 refused" grep -qiE 'alert|error|no protocols' "$T_TMP/sc12.out"
sleep 0.5
check "nothing stored" test "$(sql 'SELECT count(*) FROM records') $(sql 'SELECT count(*) FROM streams')" = "0 0"
n=$(sql "SELECT count(*) FROM events WHERE kind='unknown_cert'")
check "unknown_cert events: other CA x attempts, wrong purpose x attempts, no cert ($n)" test "$n" -ge 3
check "  ... naming the other CA's tracker" test "$(sql "SELECT count(*) FROM events WHERE kind='unknown_cert' AND detail LIKE '%CN=t1%'")" -ge 1
check "  ... with the peer address" test "$(sql "SELECT count(*) FROM events WHERE kind='unknown_cert' AND peer LIKE '127.0.0.1:%'")" = "$n"
check "  ... and the no-certificate client" test "$(sql "SELECT count(*) FROM events WHERE kind='unknown_cert' AND detail LIKE '%certificate%'")" = "$n"
check "garbage recorded as a failed handshake" test "$(sql "SELECT count(*) FROM events WHERE kind='handshake'")" -ge 1
sql "SELECT kind, detail FROM events" | sort | uniq -c | sed 's/^/# /'
db_verify >"$T_TMP/v.out"
check "verify lists them and exits non-zero" test $? = 1
# A flood of failed handshakes is recorded up to a bound, not row by row.
for i in $(seq 70); do
	printf 'garbage\r\n' | timeout 5 socat - "TCP:127.0.0.1:$LOGD_PORT" >/dev/null 2>&1
done
sleep 1
n=$(sql "SELECT count(*) FROM events WHERE kind IN ('handshake','unknown_cert')")
check "handshake flood: at most 50 events a minute ($n)" test "$n" -le 50
check "  ... the rest is counted in the log" grep -q 'not recorded: too many' "$T_TMP/logd.log"
check "the real tracker still gets in" "$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 100 --timeout 20
t_end
