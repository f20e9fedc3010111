# cotrack pki init --server-name: an address becomes an iPAddress entry
# of the server certificate (what a tracker matches an address against),
# a host name a dNSName; a tracker reaches logd by either.  127.0.0.2 is
# a loopback address (Linux routes all of 127/8 to lo) that the default
# names do not cover; logd listens on 127.0.0.2 only.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
"$COTRACK" pki init "$PKI" --server-name 127.0.0.2 --server-name logd.test \
	--server-name fd00::5 --tracker t1 >"$T_TMP/pki.out" 2>&1
check "pki init with server names" test $? = 0
san=$(openssl x509 -in "$PKI/server.pem" -noout -ext subjectAltName | tail -1)
check "an IPv4 name is an IP entry ($san)" grep -q "IP Address:127.0.0.2" <<<"$san"
check "an IPv6 name is an IP entry" grep -q "IP Address:FD00:0:0:0:0:0:0:5" <<<"$san"
check "a host name is a DNS entry" grep -q "DNS:logd.test" <<<"$san"
check "  and no address as a DNS entry" test "$(grep -c 'DNS:127.0.0.2' <<<"$san")" = 0
for bad in "" "a,IP:10.9.9.9" "a b"; do
	"$COTRACK" pki init "$T_TMP/bad" --server-name "$bad" >"$T_TMP/bad.out" 2>&1
	rc=$?
	check "server name '$bad' refused (exit $rc)" sh -c "[ $rc = 2 ] && grep -q 'bad server name' '$T_TMP/bad.out' && [ ! -e '$T_TMP/bad/ca.key' ]"
done

rm -f "$T_TMP/logd.port"
"$COTRACK_LOGD" --db "$DB" --pki "$PKI" --listen 127.0.0.2:0 \
	--port-file "$T_TMP/logd.port" >"$T_TMP/logd.log" 2>&1 &
LOGD_PID=$!
for i in $(seq 100); do [ -s "$T_TMP/logd.port" ] && break; sleep 0.1; done
port=$(cat "$T_TMP/logd.port")
"$LOADGEN" --server "127.0.0.2:$port" --pki "$PKI" --name t1 --count 200 \
	--timeout 30 >"$T_TMP/lg.out" 2>&1
check "a tracker reaches logd by its address (the IP entry matched)" grep -q "^result complete" "$T_TMP/lg.out"
logd_stop
check "all 200 records stored" test "$(sql 'SELECT count(*) FROM records')" = 200
t_end
