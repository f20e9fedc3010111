# The tracker's spool disk fills up (a real ENOSPC: a small tmpfs this
# test mounts).  The tracker keeps running and says so, keeps the records
# in memory and still ships them; when space comes back it catches up, and
# the spool it leaves behind opens again (nothing "tampered"), with every
# record it should hold.  Nothing logd acknowledged is lost.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
MNT=$T_TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=8m,mode=0700 cotrack-spool-test "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)"
t_on_exit "umount -l '$MNT'"
G_PID=
t_on_exit '[ -n "$G_PID" ] && kill -KILL $G_PID'
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SPOOL=$MNT/spool
port=$(free_port)

# fill_disk [LEAVE_KB]: fill the tmpfs, then give LEAVE_KB back
fill_disk() {
	dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
	[ "${1:-0}" = 0 ] || truncate -s "-${1}K" "$MNT/filler"
}
# wait_for FILE PATTERN: until PATTERN shows in FILE (at most 20 s)
wait_for() {
	local i
	for i in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$G_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$2" "$1" 2>/dev/null
}
loaded() { grep -o 'loaded [0-9]*' "$1" | awk '{print $2}'; }
# status NAME FILE RC: no crash, no sanitizer report
no_crash() {
	check "$1: no crash (exit $3)" test "$3" -lt 128
	check "$1: no sanitizer report" sh -c "! grep -q 'Sanitizer' '$2'"
}

# 1. logd is down and the disk fills while records are being added: the
# tracker warns, keeps them in memory; the disk gets room again while it
# still runs and it catches up: its spool, reopened, holds all of them.
fill_disk 256
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 30000 \
	--rate 5000 --spool "$SPOOL" --spool-key "$KEY" --timeout 2 \
	>"$T_TMP/g1.out" 2>&1 &
G_PID=$!
wait_for "$T_TMP/g1.out" 'spool write failed'
check "full disk: the tracker says its spool write failed" \
	grep -q 'spool write failed: No space left on device; records are kept in memory' "$T_TMP/g1.out"
check "  ... while the spool really is full" test "$(df --output=avail "$MNT" | tail -1)" -lt 64
rm -f "$MNT/filler"
wait "$G_PID"
rc=$?
G_PID=
no_crash "full disk, logd down" "$T_TMP/g1.out" $rc
check "logd down: nothing acknowledged (exit 3)" test $rc = 3
check "room again: the tracker says its spool writes work again" \
	grep -q 'spool writes work again' "$T_TMP/g1.out"
sed -n '/spool/s/^/# /p' "$T_TMP/g1.out" | head -5

# 2. The spool reopens, nothing tampered, and delivers every record.
logd_start "$port" || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 0 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 60 >"$T_TMP/g2.out" 2>&1
rc=$?
check "the spool reopens and drains (exit $rc)" test $rc = 0
check "  ... not refused as tampered" sh -c "! grep -q 'authentication\|chain\|bad record' '$T_TMP/g2.out'"
[ $rc = 0 ] || sed 's/^/# /' "$T_TMP/g2.out"
check "  ... holding all 30000 records ($(loaded "$T_TMP/g2.out"))" test "$(loaded "$T_TMP/g2.out")" = 30000
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "logd holds 1..30000 once ($got)" test "$got" = "30000|1|30000"

# 3. logd is up and the disk is full from the start: records are shipped
# from memory and acknowledged all the same; room comes back midway and
# the spool catches up (rewritten: what logd acknowledged meanwhile is
# not in it).
fill_disk 0
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 20000 \
	--rate 4000 --spool "$SPOOL" --spool-key "$KEY" --timeout 60 \
	>"$T_TMP/g3.out" 2>&1 &
G_PID=$!
wait_for "$T_TMP/g3.out" 'spool write failed'
check "full disk, logd up: the tracker says its spool write failed" \
	grep -q 'spool write failed: No space left on device' "$T_TMP/g3.out"
sleep 1
rm -f "$MNT/filler"
wait "$G_PID"
rc=$?
G_PID=
no_crash "full disk, logd up" "$T_TMP/g3.out" $rc
check "every record acknowledged although the spool was full (exit $rc)" test $rc = 0
check "  ... and the spool works again" grep -q 'spool writes work again' "$T_TMP/g3.out"
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "nothing acknowledged is lost: logd holds 1..50000 once ($got)" test "$got" = "50000|1|50000"

# 4. The spool left behind opens again and continues the same stream: it
# is neither refused nor behind logd (no rollback, no new epoch).
"$LOADGEN" --server "127.0.0.1:$port" --pki "$PKI" --name t1 --count 10 \
	--spool "$SPOOL" --spool-key "$KEY" --timeout 30 >"$T_TMP/g4.out" 2>&1
rc=$?
check "the spool reopens (exit $rc)" test $rc = 0
check "  ... and the stream continues (no new epoch)" \
	sh -c "[ $rc = 0 ] && ! grep -q 'new epoch' '$T_TMP/g4.out'"
[ $rc = 0 ] || sed 's/^/# /' "$T_TMP/g4.out"
echo "# the spool held $(loaded "$T_TMP/g4.out") records (rewritten after the gap)"
got=$(sql "SELECT count(*), min(seq), max(seq), count(DISTINCT stream) FROM records")
check "logd holds 1..50010 in one stream ($got)" test "$got" = "50010|1|50010|1"
check "no anomaly recorded" test "$(sql 'SELECT count(*) FROM events')" = 0
db_verify >"$T_TMP/v.out"
check "verify: chain intact, no anomaly" test $? = 0
sed 's/^/# /' "$T_TMP/v.out"
logd_stop
t_end
