# Tunnels the kernel makes: two network namespaces joined by a veth
# pair (the underlay), tunnel links over it made by `ip link` (VXLAN on
# 4789 and 8472, over IPv4 and IPv6, VXLAN inside VXLAN; Geneve, gretap,
# GRE, IP-in-IP, sit and ip6tnl when this kernel has them), TCP and UDP
# over every overlay (tests/tools/traffic.py), captured by tcpdump on the
# underlay veth.  cotrack replay's TCP/UDP conversations must equal
# tshark's, conversation by conversation, and every inner connection
# must carry its tunnel.  Traffic never leaves the two namespaces.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces"
command -v tshark >/dev/null || skip_all "needs tshark"
tools=$TOP/tests/tools
A=cottun$$a B=cottun$$b
cleanup() {
	[ -n "${tdpid:-}" ] && kill "$tdpid" 2>/dev/null && wait "$tdpid" 2>/dev/null
	[ -n "${srv:-}" ] && kill $srv 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
}
t_on_exit cleanup
ip netns add "$A" && ip netns add "$B" || skip_all "cannot make network namespaces"
ip -n "$A" link add va type veth peer name vb netns "$B"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" addr add 10.210.0.1/24 dev va
ip -n "$B" addr add 10.210.0.2/24 dev vb
ip -n "$A" addr add fd10::1/64 dev va nodad
ip -n "$B" addr add fd10::2/64 dev vb nodad
ip -n "$A" link set va up
ip -n "$B" link set vb up

# tun NAME MTU L2KEY=N A-ARGS -- B-ARGS -- OVERLAY-A OVERLAY-B [OVERLAY6-A OVERLAY6-B]
# Makes link NAME in both namespaces; NAME is skipped (and said so) when
# the kernel has no such link type.  L2KEY is conv_compare's --tun-l2
# key for its inner records (TYPE:ID or TYPE/IPVER) and N the bytes a
# frame carries outside the inner IP packet.
ran=() l2args=() addrs=()
tun() {
	local name=$1 mtu=$2 l2=$3 a=() b=()
	shift 3
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	while [ "$1" != -- ]; do b+=("$1"); shift; done
	shift
	if ! ip -n "$A" link add "$name" "${a[@]}" 2>/dev/null ||
		! ip -n "$B" link add "$name" "${b[@]}" 2>/dev/null; then
		echo "# skip $name: this kernel cannot make it (${a[*]:0:2})"
		ip -n "$A" link del "$name" 2>/dev/null
		return 1
	fi
	for ns in "$A" "$B"; do
		ip -n "$ns" link set "$name" mtu "$mtu" up
		ip netns exec "$ns" ethtool -K "$name" tso off gso off gro off >/dev/null 2>&1
	done
	ip -n "$A" addr add "$1" dev "$name"
	ip -n "$B" addr add "$2" dev "$name"
	addrs+=("${2%/*}")
	if [ $# -ge 4 ]; then
		ip -n "$A" addr add "$3" dev "$name" nodad
		ip -n "$B" addr add "$4" dev "$name" nodad
		addrs+=("${4%/*}")
	fi
	ran+=("$name")
	l2args+=(--tun-l2 "$l2")
}
U4A=10.210.0.1 U4B=10.210.0.2
tun vx100 1400 vxlan:100=64 type vxlan id 100 local $U4A remote $U4B dstport 4789 dev va -- \
	type vxlan id 100 local $U4B remote $U4A dstport 4789 dev vb -- \
	10.211.0.1/24 10.211.0.2/24 fd11::1/64 fd11::2/64 ||
	skip_all "this kernel has no VXLAN"
tun vx200 1400 vxlan:200=64 type vxlan id 200 local $U4A remote $U4B dstport 8472 dev va -- \
	type vxlan id 200 local $U4B remote $U4A dstport 8472 dev vb -- \
	10.212.0.1/24 10.212.0.2/24
tun vx300 1400 vxlan:300=84 type vxlan id 300 local fd10::1 remote fd10::2 dstport 4789 dev va -- \
	type vxlan id 300 local fd10::2 remote fd10::1 dstport 4789 dev vb -- \
	10.213.0.1/24 10.213.0.2/24
# VXLAN in VXLAN: the overlay of vx100 is the underlay of vx400.
tun vx400 1300 vxlan:400=114 type vxlan id 400 local 10.211.0.1 remote 10.211.0.2 dstport 4789 dev vx100 -- \
	type vxlan id 400 local 10.211.0.2 remote 10.211.0.1 dstport 4789 dev vx100 -- \
	10.214.0.1/24 10.214.0.2/24
tun gn500 1400 geneve:500=64 type geneve id 500 remote $U4B -- type geneve id 500 remote $U4A -- \
	10.215.0.1/24 10.215.0.2/24
tun gt7 1400 gre:7=56 type gretap local $U4A remote $U4B key 7 -- type gretap local $U4B remote $U4A key 7 -- \
	10.216.0.1/24 10.216.0.2/24
tun gr8 1400 gre:8=42 type gre local $U4A remote $U4B key 8 -- type gre local $U4B remote $U4A key 8 -- \
	10.217.0.1/24 10.217.0.2/24
tun ip0 1400 ipip/4=34 type ipip local $U4A remote $U4B -- type ipip local $U4B remote $U4A -- \
	10.218.0.1/24 10.218.0.2/24
tun st0 1400 ipip/4=34 type sit local $U4A remote $U4B -- type sit local $U4B remote $U4A -- \
	10.219.0.1/24 10.219.0.2/24 fd19::1/64 fd19::2/64
tun i60 1400 ipip/6=54 type ip6tnl local fd10::1 remote fd10::2 mode any encaplimit none -- \
	type ip6tnl local fd10::2 remote fd10::1 mode any encaplimit none -- \
	10.220.0.1/24 10.220.0.2/24 fd20::1/64 fd20::2/64
ok "links made: ${ran[*]}"
for ns in "$A" "$B"; do
	ip netns exec "$ns" ethtool -K "v${ns: -1}" tso off gso off gro off >/dev/null 2>&1
done

cap=$T_TMP/tun.pcap
ip netns exec "$A" tcpdump -q -U -i va -s 0 -w "$cap" 2>/dev/null &
tdpid=$!
srv=
for addr in "${addrs[@]}"; do
	ip netns exec "$B" python3 "$tools/traffic.py" serve --addr "$addr" \
		--tcp 8080 --udp 5353 --seconds 60 >/dev/null 2>&1 &
	srv="$srv $!"
done
# Bounded wait for the servers and the capture.
for _ in $(seq 50); do
	[ "$(ip netns exec "$B" ss -ltn | grep -c ':8080')" -ge "${#addrs[@]}" ] && [ -s "$cap" ] && break
	sleep 0.1
done
# Neighbour discovery first (inside the tunnels too), so that no
# connection waits on it.
for addr in "${addrs[@]}"; do
	ip netns exec "$A" ping -c 1 -W 2 -q "$addr" >/dev/null 2>&1
done
fails=0
for addr in "${addrs[@]}"; do
	timeout 30 ip netns exec "$A" python3 "$tools/traffic.py" run --addr "$addr" \
		--tcp 8080 --udp 5353 --conns 2 --bytes 2000 --datagrams 2 || fails=$((fails + 1))
done
check "traffic over ${#addrs[@]} overlay addresses ($fails failed)" test "$fails" = 0
# tcpdump may lag behind on a busy machine: wait (bounded) until the
# capture holds both FINs of every connection, as tshark reads them.
want_fin=$((2 * 2 * ${#addrs[@]}))
for _ in $(seq 30); do
	sleep 0.5
	n_fin=$(tshark -r "$cap" -d udp.port==8472,vxlan -Y tcp.flags.fin==1 2>/dev/null | wc -l)
	[ "$n_fin" -ge "$want_fin" ] && break
done
echo "# $n_fin of $want_fin FIN frames captured"
kill "$tdpid"
wait "$tdpid" 2>/dev/null
tdpid=

"$COTRACK" replay -s --format json "$cap" >"$T_TMP/out.json" 2>"$T_TMP/stats"
check "replay exits 0" test $? = 0
sed 's/^/# /' "$T_TMP/stats" | grep -v ' 0$'
tshark -r "$cap" -d udp.port==8472,vxlan -q -z conv,tcp -z conv,udp >"$T_TMP/conv" 2>/dev/null
python3 "$tools/conv_compare.py" "$T_TMP/out.json" "$T_TMP/conv" "${l2args[@]}"

# Every TCP connection went over an overlay: each has its tunnel.
n_tcp=$(grep -c '"proto":"tcp"' "$T_TMP/out.json")
n_tun=$(grep '"proto":"tcp"' "$T_TMP/out.json" | grep -c '"tunnel":')
check "all $n_tcp TCP connections carry their tunnel ($n_tun do)" test "$n_tcp" = "$n_tun" -a "$n_tcp" -gt 0
check "2 TCP connections per overlay address" test "$n_tcp" = "$((2 * ${#addrs[@]}))"
n=$(grep -c '"proto":"tcp".*"end":"fin"' "$T_TMP/out.json")
check "every TCP connection ended fin ($n)" test "$n" = "$n_tcp"
check "VNI 100 and 200 keep apart" \
	test "$(grep -c '"tunnel":"vxlan","tun_id":100,' "$T_TMP/out.json")" -gt 0 -a \
	"$(grep -c '"tunnel":"vxlan","tun_id":200,' "$T_TMP/out.json")" -gt 0
check "VXLAN in VXLAN: vx400's UDP flows are keyed by VNI 100" \
	grep -q '"proto":"udp","src":"10.211.0.[12]",.*"dport":4789,.*"tunnel":"vxlan","tun_id":100,' "$T_TMP/out.json"
check "the outer flows count inner connections" grep -q '"inner_conns":' "$T_TMP/out.json"
t_end
