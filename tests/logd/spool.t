# The tracker's sealed spool: a tampered file is detected and not loaded
# (the tracker refuses to start, or with --discard-bad-spool moves it
# aside and starts a new epoch that logd records); a wrong key is
# refused; the full-spool policy drops the oldest records and the loss
# is reported (tracker log, LOST frame -> tracker_drop event, gap event).
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SPOOL=$T_TMP/spool
port=$(free_port)

# 1. Records wait in the spool while logd is down.
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 3000 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 1 >"$T_TMP/g1.out" 2>&1
check "logd down: nothing acknowledged (exit 3)" test $? = 3
cp "$SPOOL" "$T_TMP/spool.orig"
size=$(stat -c %s "$SPOOL")
check "spool holds the records ($size bytes)" test "$size" -gt $((3000 * 148))

# 2. Tampering: flip one byte in the middle, in the header, truncate a block
# boundary away, or use another key: refused, nothing loaded.
python3 - "$SPOOL" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
PY
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 1 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 1 >"$T_TMP/g2.out" 2>&1
check "flipped byte: the tracker refuses the spool (exit 1)" test $? = 1
check "  ... saying it fails authentication" grep -q 'fails authentication' "$T_TMP/g2.out"
check "  ... and leaves it in place" cmp -s "$SPOOL" <(python3 -c '
import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=1; sys.stdout.buffer.write(b)' "$T_TMP/spool.orig")
cp "$T_TMP/spool.orig" "$SPOOL"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[20]^=0x40; open(p,"wb").write(b)' "$SPOOL"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 1 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 1 >"$T_TMP/g3.out" 2>&1
check "altered header (epoch): refused" test $? = 1
cp "$T_TMP/spool.orig" "$SPOOL"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 1 \
	--spool "$SPOOL" --spool-key "hex:$(printf '%064d' 7)" --timeout 1 >"$T_TMP/g4.out" 2>&1
check "another key: refused" test $? = 1

# 3. With --discard-bad-spool the bad file is moved aside, a new epoch
# starts, and logd (which saw the old epoch) records new_epoch.
logd_start "$port" || not_ok "logd starts"
cp "$T_TMP/spool.orig" "$SPOOL"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 10 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 30 >"$T_TMP/g5.out" 2>&1
check "intact spool: its 3000 records and 10 new delivered" test $? = 0 -a "$(sql 'SELECT max(seq) FROM records')" = 3010
logd_stop                 # 50 more wait in the spool, then one is damaged
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 50 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 1 >"$T_TMP/g6.out" 2>&1
python3 - "$SPOOL" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-100] ^= 0x80
open(p, "wb").write(b)
PY
logd_start "$port" || not_ok "logd restarts"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 10 \
	--spool "$SPOOL" --spool-key "$KEY" --discard-bad-spool --timeout 30 >"$T_TMP/g7.out" 2>&1
check "--discard-bad-spool: starts anyway" test $? = 0
check "  ... says why, loudly" grep -q 'not trustworthy' "$T_TMP/g7.out"
check "  ... the bad file is kept aside" sh -c "ls '$SPOOL'.bad.* >/dev/null"
check "  ... logd records the new epoch" test "$(sql "SELECT count(*) FROM events WHERE kind='new_epoch'")" = 1
check "  ... two streams now" test "$(sql 'SELECT count(*) FROM streams')" = 2
logd_stop

# 4. Full spool: capacity 1000, 3000 records added while logd is down.
# (a) logd comes up while the same tracker process still runs: it names
# the exact dropped range (LOST) and logd also sees the gap.
DB=$T_TMP/full.sqlite
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 3000 \
	--max-records 1000 --spool "$T_TMP/spool2" --spool-key "$KEY" --timeout 20 >"$T_TMP/g8.out" 2>&1 &
g=$!
sleep 1.5
logd_start "$port" || not_ok "logd starts"
wait $g
check "full spool: the tracker warns" grep -q 'spool full' "$T_TMP/g8.out"
check "full spool: stats count 2000 dropped" grep -q 'dropped 2000' "$T_TMP/g8.out"
check "full spool: the newest 1000 delivered" test "$(sql 'SELECT count(*), min(seq), max(seq) FROM records')" = "1000|2001|3000"
check "full spool: logd records the tracker's drop of 1..2000" \
	test "$(sql "SELECT seq_first, seq_last FROM events WHERE kind='tracker_drop'")" = "1|2000"
check "full spool: and the gap 1..2000" \
	test "$(sql "SELECT seq_first, seq_last FROM events WHERE kind='gap'")" = "1|2000"
db_verify >"$T_TMP/v.out"
check "verify reports the loss (exit 1)" test $? = 1
check "  ... gap listed" grep -q 'seq 1..2000 missing' "$T_TMP/v.out"
sed 's/^/# /' "$T_TMP/v.out"
logd_stop

# (b) The tracker dies first and restarts from its spool: the spool holds
# the newest 1000; logd records the gap (the LOST range, known only to the
# dead process's memory, may be partial or gone).
DB=$T_TMP/full2.sqlite
rm -f "$T_TMP/spool3"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 3000 \
	--max-records 1000 --spool "$T_TMP/spool3" --spool-key "$KEY" --timeout 1 >"$T_TMP/g10.out" 2>&1
logd_start "$port" || not_ok "logd starts"
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 0 \
	--max-records 1000 --spool "$T_TMP/spool3" --spool-key "$KEY" --timeout 30 >"$T_TMP/g11.out" 2>&1
check "restart after a full spool: the newest 1000 delivered" \
	test "$(sql 'SELECT count(*), min(seq), max(seq) FROM records')" = "1000|2001|3000"
check "restart after a full spool: logd records the gap 1..2000" \
	test "$(sql "SELECT seq_first, seq_last FROM events WHERE kind='gap'")" = "1|2000"
t_end
