# logd's checks inside an authenticated session, driven by a hand-written
# tracker (tests/logd/proto_client.py): garbage, a non-canonical record
# and a wrong seq are refused as protocol violations; an acknowledged
# batch sent again is a replay; different content under a stored seq is a
# conflict (the stored record stays); a wrong previous hash is a chain
# anomaly.  Every one is an event.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
python3 -c 'import ssl; assert ssl.HAS_TLSv1_3' 2>/dev/null || skip_all "python3 ssl without TLS 1.3"
make_pki "$PKI" t1
logd_start || { not_ok "logd starts"; t_end; }
pc() { timeout 30 python3 "$TOP/tests/logd/proto_client.py" "$LOGD_PORT" "$PKI" t1 "$1" 2>&1; }
ev() { sql "SELECT count(*) FROM events WHERE kind='$1'"; }

out=$(pc garbage)
check "garbage instead of HELLO: connection closed ($out)" test "$out" = closed
check "  ... recorded as a protocol event" test "$(ev protocol)" = 1
out=$(pc noncanonical | tr '\n' ' ')
check "non-canonical record: refused with an error ($out)" test "$out" = "welcome held 0 error malformed batch or record "
check "  ... recorded, nothing stored" test "$(ev protocol) $(sql 'SELECT count(*) FROM records')" = "2 0"
out=$(pc badseq | tr '\n' ' ')
check "record whose seq is not its position: refused ($out)" test "$out" = "welcome held 0 error malformed batch or record "
check "  ... recorded" test "$(ev protocol)" = 3
out=$(pc good-then-replay | tr '\n' ' ')
check "valid batch acknowledged, then the same batch again ($out)" test "$out" = "welcome held 0 ack 3 ack 3 "
check "  ... recorded as a replay" test "$(ev replay)" = 1
check "  ... stored once" test "$(sql 'SELECT count(*), max(seq) FROM records')" = "3|3"
h_before=$(sql "SELECT $(db_hex last_hash) FROM streams")
out=$(pc conflict | tr '\n' ' ')
check "resend with different content: acknowledged as held ($out)" test "$out" = "welcome held 3 ack 3 "
check "  ... recorded as a conflict on seq 1..3" test "$(sql "SELECT seq_first, seq_last FROM events WHERE kind='conflict'")" = "1|3"
check "  ... the stored records stay" test "$(sql 'SELECT dport FROM records ORDER BY seq' | paste -sd,) $(sql "SELECT $(db_hex last_hash) FROM streams")" = "443,443,443 $h_before"
out=$(pc badchain | tr '\n' ' ')
check "batch whose previous hash is not logd's head: stored, acknowledged ($out)" test "$out" = "welcome held 3 ack 4 "
check "  ... recorded as a chain anomaly" test "$(ev chain)" = 1
db_verify >"$T_TMP/v.out"
check "verify: the stored chain is still intact (logd kept its own)" grep -q '^0 chain problems' "$T_TMP/v.out"
check "verify: exits 1, anomalies listed" test "$(grep -c '^  20' "$T_TMP/v.out")" = "$(sql 'SELECT count(*) FROM events')"
sed 's/^/# /' "$T_TMP/v.out"
t_end
