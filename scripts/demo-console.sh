#!/usr/bin/env bash
# The end of make demo: cotrack-logd serves the web console on the
# demo's database (loopback only: 127.0.0.1:8443, or a free port when
# 8443 is taken) and the login URL (with the token) is printed.  On a
# terminal, the console stays up until Enter; otherwise (CI, make demo
# </dev/null) logd stops again and the command that starts it is
# printed.
#
#   scripts/demo-console.sh BUILD_DIR DEMO_DIR
#
# DEMO_DIR holds cotrack.sqlite and pki/ (as scripts/demo.sh leaves it).
set -eu
O=$(cd "${1:?usage: scripts/demo-console.sh BUILD_DIR DEMO_DIR}" && pwd)
out=$(cd "${2:?usage: scripts/demo-console.sh BUILD_DIR DEMO_DIR}" && pwd)
db=$out/cotrack.sqlite
[ -f "$db" ] && [ -d "$out/pki" ] || { echo "demo-console: no $db or $out/pki" >&2; exit 1; }
port=8443
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
	port=0 # taken: logd picks a free one and says which
fi
cmd=("$O/cotrack-logd" --db "$db" --pki "$out/pki" --listen 127.0.0.1:0
	--web "127.0.0.1:$port")
rm -f "$out/console.log"
"${cmd[@]}" 2>"$out/console.log" &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT
url=
for _ in $(seq 100); do
	url=$(sed -n 's|.*web console: \(https://[^ ]*/\) (token in .*|\1|p' "$out/console.log")
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$url" ]; then
	echo "demo: the console did not start:" >&2
	sed 's/^/   /' "$out/console.log" >&2
	exit 1
fi
token=$(cat "$db.token")
p=${url##*:}
p=${p%/}
cat <<MSG

== the web console (cotrack-logd --web, HTTPS, loopback only)
   ${url}?token=$token
   The certificate is the demo CA's ($out/pki/ca.pem): the browser warns
   until you import it.  From another machine:
     ssh -L 8443:127.0.0.1:$p $(id -un)@$(hostname -f 2>/dev/null || hostname)
   then open https://127.0.0.1:8443/?token=$token
MSG
if [ -t 0 ]; then
	read -r -p "   Press Enter to stop the console. " _ || true
else
	cat <<MSG
   (stdin is not a terminal: the console stops now.  To start it again:
     ${cmd[*]}
   then open the URL above; the token stays in $db.token)
MSG
fi
