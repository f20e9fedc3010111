# Helpers for tests/logd/*.t (sourced after tests/lib.sh).  Everything
# listens on 127.0.0.1 only; every wait is bounded.
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
}

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
	"$COTRACK_LOGD" --db "$DB" --pki "$PKI" --listen "127.0.0.1:$port" \
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

sql() { sqlite3 -batch "$DB" "$@"; }

# free_port: a port nothing listens on right now (for fixed-port restarts)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# field FILE NAME: value after "NAME " on the last line starting with NAME
field() { grep "^$2 " "$1" | tail -1 | awk '{print $2}'; }
