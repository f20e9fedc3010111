# role "backend" (issue 4): an HTTP service on port 80.  Sourced by /init.
microsvc serve --name backend --port 80 &
cot_wait_listen 80 || cot_fail "backend did not listen"
cot_print_snmp start
cot_ready
cot_cmd_loop
