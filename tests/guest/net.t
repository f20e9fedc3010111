#!/usr/bin/env bash
# The issue-4 workload without the tracker: a `backend` guest and a
# `frontend` guest wired to each other directly (QEMU -netdev stream, one
# side listening on a unix socket in this test's temp dir, no other
# network).  The frontend serves HTTP and, per request, calls the cache on
# its own localhost and then the backend.  Checks the answers and that each
# guest's /proc/net/snmp open counters, the ground truth issue 4 uses,
# count exactly the connections made.
source "$TOP/tests/lib.sh"
G=$TOP/guest

"$G/build.sh" >"$T_TMP/build.log" 2>&1 || {
	not_ok "guest/build.sh"
	tail -20 "$T_TMP/build.log" | sed 's/^/# /'
	t_end
}

sock=$T_TMP/wire.sock
be=$T_TMP/be fe=$T_TMP/fe
"$G/run.sh" --role backend --name "cot-net-$$-be" --dir "$be" --mem 128M \
	--net-listen "$sock" --ip 10.0.0.3/24 --timeout 300 >"$T_TMP/be.out" 2>&1 &
bpid=$!
t_on_exit "kill $bpid; wait $bpid"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
"$G/run.sh" --role frontend --name "cot-net-$$-fe" --dir "$fe" --mem 128M \
	--net "$sock" --ip 10.0.0.2/24 --backend 10.0.0.3:80 --timeout 300 \
	>"$T_TMP/fe.out" 2>&1 &
fpid=$!
t_on_exit "kill $fpid; wait $fpid"

t0=$(date +%s)
for d in "$be" "$fe"; do
	if ! "$G/ctl.sh" "$d" wait-ready 120; then
		not_ok "$(basename "$d") ready"
		tr -d '\r' <"$d/console.log" | tail -20 | sed 's/^/# /'
		t_end
	fi
done
ok "both guests ready ($(($(date +%s) - t0)) s)"
check "frontend has its NIC" grep -q '^==COTRACK-BOOT .* nic=1 ' "$fe/console.log"

"$G/ctl.sh" "$fe" cmd "get 127.0.0.1:80/x 20" 120 >"$T_TMP/get1"
check "20 requests through frontend -> cache + backend" \
	grep -q '^microsvc-get ok=20 fail=0 last=frontend ok \[127.0.0.1:6379 cache ok\] \[10.0.0.3:80 backend ok\]' "$T_TMP/get1"
"$G/ctl.sh" "$fe" cmd "get 10.0.0.3:80/y 3" 60 >"$T_TMP/get2"
check "3 requests straight to the backend VM" grep -q '^microsvc-get ok=3 fail=0' "$T_TMP/get2"

"$G/ctl.sh" "$be" stop 20
"$G/ctl.sh" "$fe" stop 20
wait "$bpid" "$fpid"
snmp() { # DIR WHEN FIELD(3=Active 4=Passive)
	tr -d '\r' <"$1/console.log" | python3 "$G/truth.py" --snmp - |
		awk -v w="$2" -v f="$3" '$2 == w {print $f}'
}
# frontend: 20 client + 20 cache + 20 backend + 3 direct active opens;
# 20 frontend + 20 cache passive.  backend: 20 + 3 passive.
check "frontend ActiveOpens 0 -> 63" [ "$(snmp "$fe" start 3)/$(snmp "$fe" stop 3)" = 0/63 ]
check "frontend PassiveOpens 0 -> 40" [ "$(snmp "$fe" start 4)/$(snmp "$fe" stop 4)" = 0/40 ]
check "backend PassiveOpens 0 -> 23" [ "$(snmp "$be" start 4)/$(snmp "$be" stop 4)" = 0/23 ]
check "backend ActiveOpens stay 0" [ "$(snmp "$be" stop 3)" = 0 ]
check "RAM files removed" [ ! -e "/dev/shm/cot-net-$$-be" -a ! -e "/dev/shm/cot-net-$$-fe" ]
t_end
