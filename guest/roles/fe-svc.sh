# role "fe-svc" (issue 12): the frontend VM with real, unmodified Debian
# services, each in its own container (cot_container in /init):
#   fe-memcached  memcached on 127.0.0.1:11211
#   fe-nginx      nginx on 0.0.0.0:80: per request a memcached lookup of
#                 the key $uri on localhost; on a miss a proxy to
#                 backend.svc:80, resolved through the DNS server
#                 (guest/svc/nginx-fe.conf)
# memcached is seeded before READY, on one connection (busybox nc), with
# cotrack.hits keys /item/0, /item/2, ... whose values are
# "cache /item/I": those paths hit, all others miss.  Sourced by /init.
echo "nameserver $COT_DNS" >/etc/resolv.conf
echo "127.0.0.1 localhost" >/etc/hosts
cot_container fe-memcached /usr/bin/memcached -u root -l 127.0.0.1 -p 11211 -U 0 \
	-m 16 -t 1 -c 1024
cot_wait_listen 11211 || cot_fail "memcached did not listen"
i=0
while [ $i -lt "$COT_HITS" ] && [ $i -lt 100000 ]; do
	v="cache /item/$((2 * i))"
	printf 'set /item/%d 0 0 %d noreply\r\n%s\r\n' $((2 * i)) ${#v} "$v"
	i=$((i + 1))
done >/tmp/seed.txt
printf 'quit\r\n' >>/tmp/seed.txt
nc 127.0.0.1 11211 </tmp/seed.txt >/dev/null || cot_fail "seeding memcached"
cot_container fe-nginx /usr/sbin/nginx -e stderr -c /etc/cotrack/nginx-fe.conf
cot_wait_listen 80 || cot_fail "nginx did not listen"
cot_print_snmp start
cot_ready
cot_cmd_loop
