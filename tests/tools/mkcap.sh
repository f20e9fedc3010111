#!/usr/bin/env bash
# Makes a real capture: two network namespaces joined by a veth pair (and
# VLAN frames come from tests/golden/*.hex instead: this kernel may lack
# 802.1Q), TCP/UDP over IPv4 and IPv6, pings, a refused
# connection; tcpdump writes what crossed the veth.  Traffic never leaves
# the two namespaces this script creates (and removes).
#
#   tests/tools/mkcap.sh OUT.pcap [--pcapng] [--conns N]
set -eu
out=${1:?usage: mkcap.sh OUT.pcap [--pcapng] [--conns N]}
shift
fmt=pcap conns=5
while [ $# -gt 0 ]; do
	case $1 in
	--pcapng) fmt=pcapng ;;
	--conns) conns=$2; shift ;;
	*) echo "mkcap.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
here=$(cd "$(dirname "$0")" && pwd)
tag=cot$$
A=${tag}a B=${tag}b
cleanup() {
	[ -n "${tdpid:-}" ] && kill "$tdpid" 2>/dev/null && wait "$tdpid" 2>/dev/null
	[ -n "${srv:-}" ] && kill $srv 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
	true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add va type veth peer name vb netns "$B"
ip link set va netns "$A"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$B" addr add 10.77.0.2/24 dev vb
ip -n "$A" addr add fd77::1/64 dev va nodad
ip -n "$B" addr add fd77::2/64 dev vb nodad
ip -n "$A" link set va up
ip -n "$B" link set vb up
# No offloads: frames on the wire as the stack would send them.
ip netns exec "$A" ethtool -K va tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$B" ethtool -K vb tso off gso off gro off >/dev/null 2>&1 || true

if [ "$fmt" = pcapng ]; then
	ip netns exec "$A" tshark -q -i va -w "$out" -F pcapng >/dev/null 2>&1 &
else
	ip netns exec "$A" tcpdump -q -U -i va -s 0 -w "$out" 2>/dev/null &
fi
tdpid=$!
srv=
for addr in 10.77.0.2 fd77::2; do
	ip netns exec "$B" python3 "$here/traffic.py" serve --addr "$addr" \
		--tcp 8080 --udp 5353 --seconds 60 >/dev/null &
	srv="$srv $!"
done
# Wait (bounded) for the capture and the servers to be up.
for _ in $(seq 50); do
	ip netns exec "$B" ss -ltn | grep -q ':8080' && [ -s "$out" ] && break
	sleep 0.1
done
sleep 0.5
ip netns exec "$A" python3 "$here/traffic.py" run --addr 10.77.0.2 --tcp 8080 \
	--udp 5353 --conns "$conns" --bytes 3000 --datagrams 4 --refused 9
ip netns exec "$A" python3 "$here/traffic.py" run --addr fd77::2 --tcp 8080 \
	--udp 5353 --conns "$conns" --bytes 500 --datagrams 3 --refused 9
ip netns exec "$A" ping -c 3 -i 0.2 -q 10.77.0.2 >/dev/null
ip netns exec "$A" ping -6 -c 2 -i 0.2 -q fd77::2 >/dev/null
sleep 0.5
kill "$tdpid"
wait "$tdpid" 2>/dev/null || true
tdpid=
