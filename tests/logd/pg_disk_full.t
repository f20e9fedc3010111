# PostgreSQL's disk fills up under logd (a real ENOSPC: the server's data
# directory on a tmpfs this test mounts, filled by a file).  Whatever the
# server does (a batch fails with "could not extend file", or a WAL write
# fails and the server restarts or stops), logd stays up, acknowledges
# nothing that was not committed, and the tracker keeps the rest in its
# spool; once there is room again (and the server runs) everything
# arrives, once, with an intact chain.
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
MNT=$T_TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=160m,mode=0700 cotrack-test "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)"
t_on_exit "umount -l '$MNT'"
PGDIR=$MNT/pg
need_bins
make_pki "$PKI" t1
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
N=30000
logd_start || { not_ok "logd starts"; t_end; }
avail=$(df --output=avail -B1 "$MNT" | tail -1)
fallocate -l $((avail - 2 * 1024 * 1024)) "$MNT/filler"
check "the disk has about 2 MiB left" test "$(df --output=avail -B1 "$MNT" | tail -1)" -lt $((3 * 1024 * 1024))
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count $N \
	--rate 20000 --spool "$T_TMP/spool" --spool-key "$KEY" --timeout 8 \
	>"$T_TMP/g1.out" 2>&1
check "disk full: not everything acknowledged (exit 3)" test $? = 3
acked=$(grep -o 'acked [0-9]*' "$T_TMP/g1.out" | tail -1 | awk '{print $2}')
check "logd is still running" kill -0 "$LOGD_PID"
check "logd saw the storage failure" grep -qE 'No space left|could not extend|storage' "$T_TMP/logd.log"
grep -E 'No space|could not|PANIC' "$T_TMP/logd.log" "$PGDIR/server.log" 2>/dev/null | sort | uniq -c | sort -rn | head -4 | sed 's/^/# /'
rm -f "$MNT/filler"
# the server may have stopped (a failed WAL write); an operator starts it
sql 'SELECT 1' >/dev/null 2>&1 || "$PGSH" start "$PGDIR" >/dev/null 2>&1
check "the server runs again" sh -c "'$PGSH' psql '$PGDIR' -c 'SELECT 1' >/dev/null"
held=$(sql "SELECT count(*), coalesce(max(seq), 0) FROM records")
check "every acknowledged record is stored (acked ${acked:-0}, stored ${held#*|})" test "${acked:-0}" -le "${held#*|}"
check "stored records are contiguous ($held)" test "${held%|*}" = "${held#*|}"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 0 \
	--spool "$T_TMP/spool" --spool-key "$KEY" --timeout 60 >"$T_TMP/g2.out" 2>&1
check "room again: the tracker's spool drains completely" test $? = 0
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "1..$N stored once ($got)" test "$got" = "$N|1|$N"
check "database intact (amcheck)" test "$(db_intact)" = ok
db_verify >"$T_TMP/v.out"
check "verify: chain intact, no anomaly" test $? = 0
logd_stop
t_end
