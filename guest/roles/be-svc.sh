# role "be-svc" (issue 12): the backend VM's real service, nginx serving
# one static file (/srv/item.txt, "backend item") for every path, in its
# container be-nginx (cot_container in /init; guest/svc/nginx-be.conf).
# Sourced by /init.
echo "nameserver $COT_DNS" >/etc/resolv.conf
echo "127.0.0.1 localhost" >/etc/hosts
cp /etc/cotrack/item.txt /srv/item.txt
cot_container be-nginx /usr/sbin/nginx -e stderr -c /etc/cotrack/nginx-be.conf
cot_wait_listen 80 || cot_fail "nginx did not listen"
cot_print_snmp start
cot_ready
cot_cmd_loop
