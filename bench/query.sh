#!/usr/bin/env bash
# Queries at scale: a 10-million-record database built through a real
# cotrack-logd (cotrack-loadgen trackers over TLS, logd --sync normal),
# its records spread over the day before the build (--spread 24h, most
# lasting < 1 s, 0.1% up to 6 h), 20 trackers x 2 VMs, 20000 client
# addresses, ephemeral source ports, 2% of records naming their
# workloads.  Built once and cached under $BENCH_OUT/query/ (delete the
# directory, or change QUERY_BENCH_RECORDS, to rebuild).  Then for each
# query shape: the median of 3 wall times of `cotrack query` (output to
# /dev/null; rows = records or groups printed) and of sqlite3 running
# the same SQL (`cotrack query --explain` prints it, the bound values
# inlined); `cotrack graph` with its peak RSS.  Never passes or fails on
# timing.  Loopback only.  Run through bench/run.sh (O=build dir), or
# `make bench-query`.
set -u
O=${O:?run through bench/run.sh}
BENCH_OUT=${BENCH_OUT:-$(dirname "$0")/../build/bench}
N=${QUERY_BENCH_RECORDS:-10000000}
TRACKERS=20
CHUNK=$((N / TRACKERS))
dir=$BENCH_OUT/query
db=$dir/db.sqlite
stamp="records=$N trackers=$TRACKERS vms=2 hosts=20000 spread=24h names=50"
logd_pid=
cleanup() { [ -n "$logd_pid" ] && kill "$logd_pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
export TZ=UTC

build_db() {
	local k t0 t1 port
	rm -rf "$dir"
	mkdir -p "$dir"
	local args=()
	for k in $(seq -w 0 $((TRACKERS - 1))); do args+=(--tracker "h$k"); done
	"$O/cotrack" pki init "$dir/pki" "${args[@]}" >/dev/null || exit 1
	"$O/cotrack-logd" --db "$db" --pki "$dir/pki" --listen 127.0.0.1:0 \
		--port-file "$dir/port" --sync normal -q 2>"$dir/logd.err" &
	logd_pid=$!
	for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
	port=$(cat "$dir/port") || exit 1
	t0=$(date +%s%N)
	# One tracker after the other: each one's records wait in its memory
	# ring (max-records >= its count: none dropped) until acknowledged.
	for k in $(seq -w 0 $((TRACKERS - 1))); do
		"$O/cotrack-loadgen" --server "127.0.0.1:$port" --pki "$dir/pki" \
			--name "h$k" --vm "h$k" --vms 2 --hosts 20000 --names 50 \
			--spread 24h --count "$CHUNK" --max-records "$((CHUNK + 1))" \
			--timeout 1800 >"$dir/loadgen.out" 2>&1 ||
			{ echo "loadgen h$k failed:"; cat "$dir/loadgen.out"; exit 1; }
		t1=$(date +%s%N)
		printf 'build: tracker h%s done, %d records in %d s (%s)\n' "$k" \
			"$(((10#$k + 1) * CHUNK))" "$(((t1 - t0) / 1000000000))" \
			"$(sed -n 's/.*all acked after .* s: \([0-9]*\) rec\/s/\1 rec\/s this tracker/p' "$dir/loadgen.out")"
	done
	kill "$logd_pid"; wait "$logd_pid" 2>/dev/null; logd_pid=
	t1=$(date +%s%N)
	echo "$stamp build_s=$(((t1 - t0) / 1000000000))" >"$dir/stamp"
}

ms() { echo "($2 - $1) / 1000000" | bc; }

if [ "$(cut -d' ' -f1-6 "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
	echo "building the $N-record database under $dir (cached)"
	build_db
fi
# logd's read-write open (the console below) migrates a cached database
# of an older schema first (schema 3 -> 4: builds rec_win, about a
# minute on 10 million records), so the query shapes see that schema
if [ "$(sqlite3 "$db" "SELECT v FROM meta WHERE k = 'schema'")" != 4 ]; then
	echo "migrating the cached database to schema 4 (logd's read-write open)"
	rm -f "$dir/port"
	a=$(date +%s%N)
	"$O/cotrack-logd" --db "$db" --pki "$dir/pki" --listen 127.0.0.1:0 \
		--port-file "$dir/port" -q 2>"$dir/logd.err" &
	logd_pid=$!
	for _ in $(seq 3000); do [ -s "$dir/port" ] && break; sleep 0.1; done
	kill "$logd_pid"; wait "$logd_pid" 2>/dev/null; logd_pid=
	echo "migrated in $(ms "$a" "$(date +%s%N)") ms"
fi
stored=$(sqlite3 "$db" 'SELECT count(*) FROM records')
echo "database: schema $(sqlite3 "$db" "SELECT v FROM meta WHERE k = 'schema'"), $stored records, $(du -sh "$db" | cut -f1) on disk ($(du -b "$db" | cut -f1) bytes), built in $(sed 's/.*build_s=//' "$dir/stamp") s; load $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${QUERY_BENCH_BUILD_ONLY:-0}" = 1 ] && exit 0

# Times in the middle of the data: a minute and an hour.
last=$(sqlite3 "$db" 'SELECT max(last_ns) FROM records')
mid=$((last - 12 * 3600 * 1000000000))
min1=$((mid + 60 * 1000000000))
hour1=$((mid + 3600 * 1000000000))
day0=$((last - 24 * 3600 * 1000000000))
vm=h07-1
client=10.2.$((1234 / 256)).$((1234 % 256))

median3() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

# sqlite3 running the SQL of `cotrack query --explain ARGS` (values inlined)
sqlite_same() {
	"$O/cotrack" query --db "$db" --explain "$@" | sed -n 's/^SQL \(.*\)/\1;/p' >"$dir/same.sql"
	sqlite3 -readonly "$db" <"$dir/same.sql" >/dev/null
}

printf '%-44s %8s %10s %10s   %s\n' shape rows "query ms" "sqlite ms" "plan (records)"
shape() {
	local name=$1 t a b i rows c=() s=() plan
	shift
	for i in $(seq "${RUNS:-3}"); do
		a=$(date +%s%N)
		"$O/cotrack" query --db "$db" "$@" >/dev/null 2>"$dir/q.err"
		b=$(date +%s%N)
		c+=("$(ms "$a" "$b")")
		a=$(date +%s%N)
		sqlite_same "$@"
		b=$(date +%s%N)
		s+=("$(ms "$a" "$b")")
	done
	rows=$(sed -n 's/^\([0-9]*\) \(records\|groups\)$/\1/p' "$dir/q.err")
	plan=$("$O/cotrack" query --db "$db" --explain "$@" | grep -o 'SCAN r\b\|SEARCH r USING [A-Z ]*INDEX [a-z_]*' | sed 's/SEARCH r USING //; s/COVERING //; s/INDEX //' | sort -u | paste -sd, -)
	printf '%-44s %8s %10s %10s   %s\n' "$name" "$rows" "$(median3 "${c[@]}")" "$(median3 "${s[@]}")" "$plan"
}
shape "window 1 min"                     --from "$mid" --to "$min1"
shape "window 1 min, --by vm"            --from "$mid" --to "$min1" --by vm
shape "window 1 h, --by process"         --from "$mid" --to "$hour1" --by process
shape "vm, --limit 1000"                 --vm "$vm" --limit 1000
shape "vm + window 1 min"                --vm "$vm" --from "$mid" --to "$min1"
shape "vm + window 1 h, --by name"       --vm "$vm" --from "$mid" --to "$hour1" --by name
shape "vm, --by process (whole day)"     --vm "$vm" --by process
shape "addr (a client)"                  --addr "$client"
shape "addr (a service), --limit 1000"   --addr 10.0.1.3 --limit 1000
shape "addr (a service) + window 1 min"  --addr 10.0.1.3 --from "$mid" --to "$min1"
shape "addr (a service) + window 1 h, --by vm" --addr 10.0.1.3 --from "$mid" --to "$hour1" --by vm
shape "port (ephemeral)"                 --port 40000
shape "port (a service), --limit 1000"   --port 5432 --limit 1000
shape "port + vm + window 1 h"           --port 5432 --vm "$vm" --from "$mid" --to "$hour1"
RUNS=1 shape "no filter, --by vm (1 run)"  --by vm
echo "(rows: records or groups printed; query: cotrack query, table format to /dev/null;"
echo " sqlite: sqlite3 CLI with the same SQL, values inlined; median of 3 wall times;"
echo " no filter: every record is read, a scan by design)"
echo
printf '%-44s %8s %10s %10s\n' graph edges "wall ms" "peak RSS"
graph() {
	local name=$1 i a b t=() rss
	shift
	for i in $(seq "${RUNS:-3}"); do
		a=$(date +%s%N)
		/usr/bin/time -f %M -o "$dir/rss" "$O/cotrack" graph --db "$db" "$@" -o /dev/null 2>"$dir/g.err"
		b=$(date +%s%N)
		t+=("$(ms "$a" "$b")")
	done
	rss=$(tail -1 "$dir/rss")
	printf '%-44s %8s %10s %8s MB\n' "$name" "$(grep -o '[0-9]* edges' "$dir/g.err" | head -1 | cut -d' ' -f1)" \
		"$(median3 "${t[@]}")" "$((rss / 1024))"
}
graph "graph, window 1 h (--by address)"   --from "$mid" --to "$hour1" --by address
graph "graph, window 1 h (workload map)"   --from "$mid" --to "$hour1"
RUNS=1 graph "graph, whole day (--by address, 1 run)"  --from "$day0" --to "$last" --by address
RUNS=1 graph "graph, all (--by address, 1 run)"       --by address
RUNS=1 graph "graph, all (workload map, 1 run)"
echo "(graph: dot to /dev/null; median of 3 wall times unless 1 run; peak RSS by"
echo " /usr/bin/time -f %M, of the last run)"

# The console's API (cotrack-logd --web, host/recquery) on the same
# database: median of 3 wall times of curl over HTTPS on loopback.
echo
rm -f "$dir/web.token" "$dir/web.port"
"$O/cotrack-logd" --db "$db" --pki "$dir/pki" --listen 127.0.0.1:0 \
	--port-file "$dir/web.port" --web 127.0.0.1:0 --web-token "$dir/web.token" \
	2>"$dir/web.err" &
logd_pid=$!
wport=
for _ in $(seq 100); do
	wport=$(sed -n 's|.*web console: https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/web.err")
	[ -n "$wport" ] && break
	sleep 0.1
done
if [ -z "$wport" ]; then
	echo "console: logd --web did not start:"; cat "$dir/web.err"
	exit 0
fi
tok=$(cat "$dir/web.token")
printf '%-44s %10s %10s   %s\n' "console API" "wall ms" "total" "(answer)"
api() {
	local name=$1 q=$2 i a b t=() code
	for i in $(seq "${RUNS:-3}"); do
		a=$(date +%s%N)
		code=$(curl -sk -o "$dir/api.out" -w '%{http_code}' -m 600 \
			-H "Authorization: Bearer $tok" "https://127.0.0.1:$wport/api/$q")
		b=$(date +%s%N)
		t+=("$(ms "$a" "$b")")
	done
	printf '%-44s %10s %10s   %s\n' "$name" "$(median3 "${t[@]}")" \
		"$(grep -o '"total[a-z_]*":[0-9]*' "$dir/api.out" | head -1 | cut -d: -f2)" "HTTP $code"
}
api "flows, window 1 min"            "flows?from=$mid&to=$min1"
api "flows, window 1 h"              "flows?from=$mid&to=$hour1"
api "flows, vm"                      "flows?vm=$vm"
api "flows, vm + window 1 min"       "flows?vm=$vm&from=$mid&to=$min1"
api "flows, addr (a client)"         "flows?addr=$client"
api "flows, addr (a client) + window 1 h" "flows?addr=$client&from=$mid&to=$hour1"
api "flows, addr (a service)"        "flows?addr=10.0.1.3"
api "flows, addr (a service) + window 1 h" "flows?addr=10.0.1.3&from=$mid&to=$hour1"
api "flows, port (a service)"        "flows?port=5432"
api "flows, port (ephemeral)"        "flows?port=40000"
api "flows, port + window 1 min"     "flows?port=5432&from=$mid&to=$min1"
api "graph, window 1 min"            "graph?from=$mid&to=$min1"
api "graph, window 1 h"              "graph?from=$mid&to=$hour1"
api "graph, addr (a service) + window 1 h" "graph?addr=10.0.1.3&from=$mid&to=$hour1"
api "graph, port + window 1 h"       "graph?port=5432&from=$mid&to=$hour1"
api "graph, vm (whole day)"          "graph?vm=$vm"
api "health"                         "health"
echo "(console: a page of 50 rows, sorted by first_ns; total: records counted,"
echo " up to 100001; graph: total connections; median of 3 wall times)"
