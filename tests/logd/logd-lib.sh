# Helpers for tests/logd/*.t (sourced after tests/lib.sh).  Everything
# listens on 127.0.0.1 only; every wait is bounded.
#
# LOGD_BACKEND=pg (tests/logd/pg_*.t): logd stores in PostgreSQL instead,
# a server of the test's own (tests/tools/pg.sh in $T_TMP/pg).  $DB stays
# a file name; each distinct $DB is a database of that server (db_NAME),
# so the scripts run unchanged: logd_start passes its URL, sql runs psql
# on it, db_verify runs cotrack verify on its URL, db_hex translates
# SQLite's hex().
LOGD_BACKEND=${LOGD_BACKEND:-sqlite}
PGSH=$TOP/tests/tools/pg.sh
PGDIR=$T_TMP/pg
LOADGEN=$O/cotrack-loadgen
PKI=$T_TMP/pki
DB=$T_TMP/db.sqlite
LOGD_PID=
LOGD_PORT=

need_bins() {
	local b
	for b in "$COTRACK" "$COTRACK_LOGD" "$LOADGEN"; do
		[ -x "$b" ] || skip_all "$b not built"
	done
	if [ "$LOGD_BACKEND" = pg ]; then
		"$PGSH" have || skip_all "PostgreSQL 15 binaries missing (postgresql-15)"
		pg_up
	fi
}

# pg_up: start the test's PostgreSQL server (once)
pg_up() {
	[ -f "$PGDIR/data/postmaster.pid" ] && return 0
	"$PGSH" start "$PGDIR" >/dev/null || { echo "# PostgreSQL did not start"; return 1; }
	t_on_exit '"$PGSH" destroy "$PGDIR"'
}

# db_name: the PostgreSQL database standing for $DB
db_name() { local b; b=$(basename "$DB"); echo "db_${b//[^A-Za-z0-9]/_}"; }

# db_arg: what logd's --db gets for $DB (its database made if absent)
db_arg() {
	if [ "$LOGD_BACKEND" = pg ]; then
		"$PGSH" createdb "$PGDIR" "$(db_name)" >/dev/null
		"$PGSH" url "$PGDIR" "$(db_name)"
	else
		echo "$DB"
	fi
}

# db_verify: cotrack verify on $DB (its URL on PostgreSQL)
db_verify() {
	if [ "$LOGD_BACKEND" = pg ]; then
		"$COTRACK" verify --db "$(db_arg)"
	else
		"$COTRACK" verify --db "$DB"
	fi
}

# db_intact: "ok" when the database passes its own check (SQLite's
# integrity_check; PostgreSQL: amcheck's B-tree check of every index of
# records' partitions)
db_intact() {
	if [ "$LOGD_BACKEND" = pg ]; then
		sql "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null &&
		sql "SELECT count(bt_index_check(i.indexrelid)) >= 0 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relkind = 'i'" >/dev/null && echo ok
	else
		sql 'PRAGMA integrity_check'
	fi
}

# db_hex COL: SQL for the upper-case hex of a blob column
db_hex() { if [ "$LOGD_BACKEND" = pg ]; then echo "upper(encode($1, 'hex'))"; else echo "hex($1)"; fi; }

# fails CMD...: CMD exits non-zero (its output dropped)
fails() { ! "$@" >/dev/null 2>&1; }

# make_pki [DIR] [TRACKER...]: CA, server and tracker certificates
make_pki() {
	local dir=${1:-$PKI}; shift || true
	local args=() t
	for t in "${@:-t1}"; do args+=(--tracker "$t"); done
	"$COTRACK" pki init "$dir" "${args[@]}" >/dev/null
}

# logd_start [PORT] [ARGS...]: start logd on DB; sets LOGD_PID, LOGD_PORT
logd_start() {
	local port=${1:-0}; shift || true
	local i
	rm -f "$T_TMP/logd.port"
	"$COTRACK_LOGD" --db "$(db_arg)" --pki "$PKI" --listen "127.0.0.1:$port" \
		--port-file "$T_TMP/logd.port" --idle 30 "$@" \
		>>"$T_TMP/logd.log" 2>&1 &
	LOGD_PID=$!
	for i in $(seq 100); do
		[ -s "$T_TMP/logd.port" ] && break
		kill -0 "$LOGD_PID" 2>/dev/null || break
		sleep 0.1
	done
	LOGD_PORT=$(cat "$T_TMP/logd.port" 2>/dev/null)
	[ -n "$LOGD_PORT" ] || { echo "# logd did not start:"; sed 's/^/# /' "$T_TMP/logd.log"; return 1; }
}

# logd_stop [SIGNAL]: stop logd and wait for it (bounded)
logd_stop() {
	local sig=${1:-TERM} i
	[ -n "$LOGD_PID" ] || return 0
	kill -"$sig" "$LOGD_PID" 2>/dev/null
	for i in $(seq 150); do
		kill -0 "$LOGD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$LOGD_PID" 2>/dev/null
	wait "$LOGD_PID" 2>/dev/null
	LOGD_PID=
}
t_on_exit 'logd_stop KILL'

sql() {
	if [ "$LOGD_BACKEND" = pg ]; then
		PG_DB=$(db_name) "$PGSH" psql "$PGDIR" -c "$@"
	else
		sqlite3 -batch "$DB" "$@"
	fi
}

# free_port: a port nothing listens on right now (for fixed-port restarts)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# field FILE NAME: value after "NAME " on the last line starting with NAME
field() { grep "^$2 " "$1" | tail -1 | awk '{print $2}'; }
