#!/usr/bin/env bash
# Log shipping throughput and delay: one tracker (cotrack-loadgen, the
# shipper library cotrackd uses, with its sealed spool) -> TLS 1.3 with
# mutual authentication -> cotrack-logd -> SQLite (WAL).  For each offered
# rate and logd's --sync mode it prints the records per second stored
# (all acknowledged, i.e. committed) and the median and 99th-percentile
# delay from a record's creation to logd's acknowledgement, which logd
# sends only after the commit.  Target: >= 200000 rec/s, median < 100 ms.
# Loopback only.  Run through bench/run.sh (O=build dir).
set -u
O=${O:?run through bench/run.sh}
tmp=$(mktemp -d /tmp/cotrack-bench-logd.XXXXXX)
logd_pid=
cleanup() { [ -n "$logd_pid" ] && kill "$logd_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$O/cotrack" pki init "$tmp/pki" --tracker bench >/dev/null || exit 1
key=hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
secs=${LOGD_BENCH_SECONDS:-3}

printf '%-7s %-10s %10s %12s %12s %10s %10s\n' sync offered records "stored/s" "median ms" "p99 ms" dropped
for sync in full normal; do
	for rate in 100000 200000 250000 300000; do
		rm -f "$tmp"/db* "$tmp/spool" "$tmp/port"
		"$O/cotrack-logd" --db "$tmp/db" --pki "$tmp/pki" --listen 127.0.0.1:0 \
			--port-file "$tmp/port" --sync "$sync" -q 2>"$tmp/logd.err" &
		logd_pid=$!
		for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
		n=$((rate * secs))
		"$O/cotrack-loadgen" --server "127.0.0.1:$(cat "$tmp/port")" \
			--pki "$tmp/pki" --name bench --count "$n" --rate "$rate" \
			--spool "$tmp/spool" --spool-key "$key" --max-records 2000000 \
			--timeout 120 >"$tmp/out" 2>"$tmp/err"
		rc=$?
		kill "$logd_pid"; wait "$logd_pid" 2>/dev/null; logd_pid=
		stored=$(sqlite3 "$tmp/db" 'SELECT count(*) FROM records')
		persec=$(sed -n 's/.*all acked after .* s: \([0-9]*\) rec\/s/\1/p' "$tmp/out")
		med=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' "$tmp/out")
		p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$tmp/out")
		drop=$(grep -o 'dropped [0-9]*' "$tmp/out" | awk '{print $2}')
		[ "$rc" = 0 ] && [ "$stored" = "$n" ] || persec="FAILED(rc=$rc,stored=$stored)"
		printf '%-7s %-10s %10s %12s %12s %10s %10s\n' "$sync" "$rate" "$n" "$persec" "$med" "$p99" "$drop"
	done
done
echo "(stored/s = records / time from the first record's creation until logd acknowledged the last;"
echo " sync full: fsync at every commit; normal: logd survives being killed, not a power cut)"
