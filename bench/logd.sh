#!/usr/bin/env bash
# Log shipping throughput and delay: trackers (cotrack-loadgen, the
# shipper library cotrackd uses, with its sealed spool) -> TLS 1.3 with
# mutual authentication -> cotrack-logd -> the store.  For each store,
# offered rate and logd's --sync mode it prints the records per second
# stored (all acknowledged, i.e. committed) and the median and
# 99th-percentile delay from a record's creation to logd's
# acknowledgement, which logd sends only after the commit.  Stores:
#   sqlite  one tracker, one logd, SQLite (WAL)
#   pg      one tracker, one logd, PostgreSQL 15 (a server of the bench's
#           own: tests/tools/pg.sh, unix socket, fsync on)
#   pg2     two trackers at half the rate each, two logd instances on
#           one PostgreSQL database, one tracker per instance
# (stored/s of pg2: both trackers' records / the longer of their times;
# delays: the worse tracker's).  Target (SQLite): >= 200000 rec/s,
# median < 100 ms.  Loopback only.  Run through bench/run.sh (O=build
# dir).  LOGD_BENCH_STORES, LOGD_BENCH_RATES, LOGD_BENCH_SYNCS and
# LOGD_BENCH_SECONDS choose a subset.
set -u
O=${O:?run through bench/run.sh}
PGSH=$(cd "$(dirname "$0")/.." && pwd)/tests/tools/pg.sh
tmp=$(mktemp -d /tmp/cotrack-bench-logd.XXXXXX)
pids=()
pg_on=
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "$pg_on" ] && "$PGSH" destroy "$tmp/pg" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
"$O/cotrack" pki init "$tmp/pki" --tracker bench --tracker bench2 >/dev/null || exit 1
secs=${LOGD_BENCH_SECONDS:-3}
stores=${LOGD_BENCH_STORES:-sqlite pg pg2}
rates=${LOGD_BENCH_RATES:-100000 200000 250000 300000}
syncs=${LOGD_BENCH_SYNCS:-full normal}
case " $stores " in *" pg"*)
	if "$PGSH" have; then
		"$PGSH" start "$tmp/pg" >/dev/null || exit 1
		pg_on=1
	else
		echo "# PostgreSQL 15 binaries missing: pg and pg2 left out"
		stores=sqlite
	fi ;;
esac

# logd_up DB SYNC: one more logd on DB; its port in $tmp/port.N
nlogd=0
logd_up() {
	nlogd=$((nlogd + 1))
	rm -f "$tmp/port.$nlogd"
	"$O/cotrack-logd" --db "$1" --pki "$tmp/pki" --listen 127.0.0.1:0 \
		--port-file "$tmp/port.$nlogd" --sync "$2" -q 2>>"$tmp/logd.err" &
	pids+=($!)
	for _ in $(seq 50); do [ -s "$tmp/port.$nlogd" ] && break; sleep 0.1; done
	port=$(cat "$tmp/port.$nlogd")
}

# gen NAME PORT COUNT RATE OUT: one tracker, in the background
gen() {
	rm -f "$tmp/spool.$1"
	"$O/cotrack-loadgen" --server "127.0.0.1:$2" --pki "$tmp/pki" --name "$1" \
		--count "$3" --rate "$4" --spool "$tmp/spool.$1" \
		--spool-key "hex:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		--max-records 2000000 --timeout 300 >"$5" 2>"$5.err" &
	gpids+=($!)
}

printf '%-7s %-7s %-10s %10s %12s %12s %10s %10s\n' store sync offered records "stored/s" "median ms" "p99 ms" dropped
run=0
for store in $stores; do
	for sync in $syncs; do
		for rate in $rates; do
			run=$((run + 1))
			n=$((rate * secs))
			gpids=()
			case $store in
			sqlite)
				rm -f "$tmp"/db*
				db=$tmp/db
				logd_up "$db" "$sync"
				gen bench "$port" "$n" "$rate" "$tmp/out.1" ;;
			pg | pg2)
				"$PGSH" createdb "$tmp/pg" "bench$run" >/dev/null
				db=$("$PGSH" url "$tmp/pg" "bench$run")
				logd_up "$db" "$sync"
				if [ $store = pg ]; then
					gen bench "$port" "$n" "$rate" "$tmp/out.1"
				else
					port1=$port
					logd_up "$db" "$sync"
					gen bench "$port1" $((n / 2)) $((rate / 2)) "$tmp/out.1"
					gen bench2 "$port" $((n - n / 2)) $((rate - rate / 2)) "$tmp/out.2"
				fi ;;
			esac
			rc=0
			for p in "${gpids[@]}"; do wait "$p" || rc=$?; done
			for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
			pids=()
			if [ $store = sqlite ]; then
				stored=$(sqlite3 "$tmp/db" 'SELECT count(*) FROM records')
			else
				stored=$(PG_DB=bench$run "$PGSH" psql "$tmp/pg" -c 'SELECT count(*) FROM records')
			fi
			outs=("$tmp"/out.[12])
			[ $store = pg2 ] || outs=("$tmp/out.1")
			# stored/s: all records / the longest time until the last ack
			persec=$(cat "${outs[@]}" | sed -n 's/.*all acked after \([0-9.]*\) s.*/\1/p' |
				awk -v n="$stored" 'BEGIN {m = 0} $1 > m {m = $1} END {if (m > 0) printf "%.0f", n / m}')
			med=$(cat "${outs[@]}" | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' | sort -g | tail -1)
			p99=$(cat "${outs[@]}" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' | sort -g | tail -1)
			drop=$(cat "${outs[@]}" | grep -o 'dropped [0-9]*' | awk '{s += $2} END {print s}')
			[ "$rc" = 0 ] && [ "$stored" = "$n" ] || persec="FAILED(rc=$rc,stored=$stored)"
			printf '%-7s %-7s %-10s %10s %12s %12s %10s %10s\n' "$store" "$sync" "$rate" "$n" "$persec" "$med" "$p99" "$drop"
			rm -f "$tmp"/out.*
		done
	done
done
echo "(stored/s = records / time from the first record's creation until logd acknowledged the last;"
echo " sync full: fsync at every commit (PostgreSQL: synchronous_commit on); normal: logd survives"
echo " being killed, not a power cut (PostgreSQL: synchronous_commit off))"
