#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests and benchmarks: Debian's
# postgresql-15 binaries, run from a directory of its own with a unix
# socket in it and no TCP listener, no system service.
#
#   tests/tools/pg.sh start DIR     initdb (once) and start; prints the URL
#   tests/tools/pg.sh stop DIR      stop it (fast shutdown), keep the data
#   tests/tools/pg.sh kill DIR      SIGKILL the postmaster (crash), keep data
#   tests/tools/pg.sh restart DIR   stop + start
#   tests/tools/pg.sh url DIR [NAME]   postgresql:// URL of database NAME
#                                   (default "cotrack")
#   tests/tools/pg.sh createdb DIR NAME  make database NAME (if absent)
#   tests/tools/pg.sh psql DIR ARGS...  psql on "cotrack" (or $PG_DB):
#                                   unaligned, tuples only, "|" between
#   tests/tools/pg.sh destroy DIR   stop and remove DIR
#   tests/tools/pg.sh have          exit 0 when the binaries are installed
#
# initdb refuses to run as root: as root the server runs as "nobody", and
# DIR (which must not exist yet, or be empty, for start) is made owned by
# it.  Every wait is bounded.
set -u
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg.sh start|stop|kill|restart|url|createdb|psql|destroy|have DIR}
dir=${2:-}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		# setpriv keeps the environment; nobody cannot read root's cwd
		(cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups "$@")
	else
		"$@"
	fi
}

url() {
	# libpq: a host starting with / (percent-encoded) is a socket directory
	local enc
	enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$dir/sock")
	echo "postgresql://postgres@$enc/${1:-cotrack}"
}

start() {
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		chown nobody:nogroup "$dir"
		# every directory above must be traversable by nobody
		local p=$dir
		while [ "$p" != / ]; do
			p=$(dirname "$p")
			[ -x "$p" ] || break
			case $(stat -c %A "$p") in *x) ;; *) chmod o+x "$p" ;; esac
		done
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust \
			--no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; return 1; }
		as_owner mkdir -p "$dir/sock"
	fi
	# listen_addresses='': unix socket only
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -c max_connections=100 -c fsync=${PG_FSYNC:-on}" \
		start >/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
	if ! as_owner "$PGBIN/psql" -h "$dir/sock" -U postgres -d postgres -Atqc \
		"SELECT 1 FROM pg_database WHERE datname = 'cotrack'" | grep -q 1; then
		as_owner "$PGBIN/createdb" -h "$dir/sock" -U postgres cotrack || return 1
	fi
	url
}

stop() {
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
}

# the whole server dies at once (postmaster and backends), as in a crash
# or an OOM kill of the cgroup: the next start runs crash recovery
killpg() {
	local pid kids i
	pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	kids=$(pgrep -P "$pid")
	kill -KILL "$pid" $kids 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" $kids 2>/dev/null || break
		sleep 0.1
	done
}

case $cmd in
have) [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && [ -x "$PGBIN/postgres" ] ;;
start) start ;;
stop) stop ;;
kill) killpg ;;
restart) stop && start >/dev/null ;;
url) dir=$(cd "$dir" && pwd) && url "${3:-}" ;;
createdb)
	as_owner "$PGBIN/psql" -h "$dir/sock" -U postgres -d postgres -XAtqc \
		"SELECT 1 FROM pg_database WHERE datname = '$3'" | grep -q 1 ||
		as_owner "$PGBIN/createdb" -h "$dir/sock" -U postgres "$3" ;;
psql) shift 2; as_owner "$PGBIN/psql" -h "$dir/sock" -U postgres -d "${PG_DB:-cotrack}" -X -Atq -v ON_ERROR_STOP=1 "$@" ;;
destroy) stop; rm -rf "$dir" ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
