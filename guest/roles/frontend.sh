# role "frontend" (issue 4): HTTP on port 80; per request it GETs the cache
# on its own localhost (127.0.0.1:6379) and then the backend VM
# (cotrack.backend=HOST:PORT), each on a new connection.  Sourced by /init.
[ -n "$COT_BACKEND" ] || cot_fail "frontend needs cotrack.backend=HOST:PORT"
microsvc serve --name cache --bind 127.0.0.1 --port 6379 &
microsvc serve --name frontend --port 80 --call 127.0.0.1:6379/item \
	--call "$COT_BACKEND/api" &
cot_wait_listen 6379 && cot_wait_listen 80 || cot_fail "frontend did not listen"
cot_print_snmp start
cot_ready
cot_cmd_loop
