# The database's disk fills up (a real ENOSPC: a 2 MiB tmpfs this test
# mounts).  logd keeps running, acknowledges nothing it could not commit,
# the tracker keeps the rest in its spool; once the disk grows, everything
# arrives, once, with an intact chain.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
MNT=$T_TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=2m,mode=0700 cotrack-test "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)"
t_on_exit "umount -l '$MNT'"
make_pki "$PKI" t1
DB=$MNT/db.sqlite
KEY=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
N=30000
logd_start || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count $N \
	--rate 20000 --spool "$T_TMP/spool" --spool-key "$KEY" --timeout 5 \
	>"$T_TMP/g1.out" 2>&1
check "disk full: not everything acknowledged (exit 3)" test $? = 3
acked=$(grep -o 'acked [0-9]*' "$T_TMP/g1.out" | tail -1 | awk '{print $2}')
check "logd saw the full disk" grep -q 'disk is full' "$T_TMP/logd.log"
check "logd is still running" kill -0 "$LOGD_PID"
check "df says the disk is full" test "$(df --output=avail "$MNT" | tail -1)" -lt 64
held=$(sql "SELECT count(*), coalesce(max(seq),0) FROM records")
check "every acknowledged record is stored (acked $acked, stored ${held#*|})" test "${acked:-0}" -le "${held#*|}" -a "${acked:-0}" -gt 0
check "stored records are contiguous ($held)" test "${held%|*}" = "${held#*|}"
mount -o remount,size=64m "$MNT"
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 0 \
	--spool "$T_TMP/spool" --spool-key "$KEY" --timeout 60 >"$T_TMP/g2.out" 2>&1
check "disk grown: the tracker's spool drains completely" test $? = 0
got=$(sql "SELECT count(*), min(seq), max(seq) FROM records")
check "1..$N stored once ($got)" test "$got" = "$N|1|$N"
check "database intact" test "$(db_intact)" = ok
db_verify >"$T_TMP/v.out"
check "verify: chain intact, no anomaly" test $? = 0
logd_stop
t_end
