# Issue 9, BitVisor mode: cotrack's core inside BitVisor, below an
# unmodified Linux guest, under QEMU TCG (AMD SVM + NPT, OVMF).  make
# bitvisor's hypervisor boots the backend guest (HTTP on port 80) with
# its e1000e on a tap in a namespace of guest/bitvisor.sh; a client there
# makes N requests to the guest, the guest makes M to a server there.
# BitVisor's serial log must hold exactly one record per connection,
# matching the client's log and the guest's /proc/net/snmp counters.
# The memory view from inside BitVisor: the module finds the guest's
# kernel in guest-physical memory (VMCOREINFO, page tables, kallsyms; its
# release and KASLR offset must be the guest's own), derives the socket
# profile from the guest's BTF and scans its TCP tables: external
# connections are seen_by both, L requests of the guest to its own
# localhost (never on the NIC) seen_by vmi.
source "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
TARBALL=${BITVISOR_TARBALL:-$TOP/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
[ -f "$TARBALL" ] || skip_all "no BitVisor tarball ($TARBALL)"
G=$TOP/guest
N=${BV_REQUESTS:-40} M=${BV_GUEST_REQUESTS:-10} L=${BV_LOCAL_REQUESTS:-10}
BV=$TOP/build/bitvisor

"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
t0=$(date +%s)
if ! BITVISOR_TARBALL=$TARBALL "$TOP/tee/bitvisor/build.sh" "$BV" >"$T_TMP/bv-build.log" 2>&1; then
	not_ok "make bitvisor"; tail -20 "$T_TMP/bv-build.log" | sed 's/^/# /'; t_end
fi
ok "bitvisor.elf and loadvmm.efi built with the cotrack module ($(($(date +%s) - t0)) s)"

D=$T_TMP/bv
name=cotbv-$$
"$G/bitvisor.sh" --dir "$D" --name "$name" --bitvisor "$BV" --timeout 600 \
	>"$T_TMP/bitvisor.out" 2>&1 &
BPID=$!
t_on_exit "kill $BPID; wait $BPID"
t0=$(date +%s)
if ! "$G/ctl.sh" "$D" wait-ready 240; then
	not_ok "guest ready under BitVisor"
	tail -5 "$D/bitvisor.log" | tr -d '\r' | sed 's/^/# bitvisor | /'
	tail -15 "$D/console.log" | tr -d '\r' | sed 's/^/# console | /'
	t_end
fi
ok "guest ready under BitVisor after $(($(date +%s) - t0)) s"
tr -d '\r' <"$D/bitvisor.log" >"$T_TMP/bv.log"
check "BitVisor runs with SVM" grep -q "^Using SVM" "$T_TMP/bv.log"
check "cotrack module took the NIC" grep -q "^cotrack: tracker for vm bv0" "$T_TMP/bv.log"
# shellcheck source=/dev/null
. "$D/guest.env"
NS=$COT_BV_NETNS GIP=$COT_BV_GUEST_IP HIP=$COT_BV_HOST_IP

# an HTTP server in the namespace for the guest's own requests
mkdir -p "$T_TMP/www" && echo hello >"$T_TMP/www/index.html"
ip netns exec "$NS" python3 -m http.server 8080 --bind "$HIP" --directory "$T_TMP/www" \
	>"$T_TMP/www.log" 2>&1 &
WPID=$!
t_on_exit "kill $WPID"
for _ in $(seq 50); do
	ip netns exec "$NS" ss -Htln "sport = :8080" | grep -q . && break
	sleep 0.1
done

snmp() { # WHEN FIELD (3 ActiveOpens, 4 PassiveOpens)
	tr -d '\r' <"$D/console.log" | python3 "$G/truth.py" --snmp - |
		awk -v w="$1" -v f="$2" '$2 == w {v = $f} END {print v}'
}
# the memory view must be scanning before the connections to count
for _ in $(seq 60); do
	grep -q '^cotrack: vmi: first scan' "$D/bitvisor.log" && break
	sleep 0.5
done
check "memory view up (profile from the guest's BTF, first scan)" \
	grep -q '^cotrack: vmi: first scan' "$D/bitvisor.log"
"$G/ctl.sh" "$D" cmd "snmp before" 60 >/dev/null
ip netns exec "$NS" python3 "$TOP/tests/tools/httpclient.py" "$GIP:80" -n "$N" --timeout 10 \
	>"$T_TMP/client.log"
tail -1 "$T_TMP/client.log" | sed 's/^/# /'
"$G/ctl.sh" "$D" cmd "get $HIP:8080/ $M" 120 >"$T_TMP/get.log"
grep "microsvc-get" "$T_TMP/get.log" | sed 's/^/# guest: /'
"$G/ctl.sh" "$D" cmd "get 127.0.0.1:80/ $L" 120 >"$T_TMP/getlo.log"
grep "microsvc-get" "$T_TMP/getlo.log" | sed 's/^/# guest, localhost: /'
"$G/ctl.sh" "$D" cmd "snmp after" 60 >/dev/null

# Records of closed connections are written after the close linger (2 s)
# by expiry, which the module's timer drives (BitVisor's timer thread,
# run on guest exits) as well as the frames.  First without a frame from
# here (at most 20 s), then pinging once a second (at most 20 s more) so
# that the other checks still say what they found.
want=$((N + M + L))
have_all() {
	got=$(tr -d '\r' <"$D/bitvisor.log" | grep -c '^cotrack-rec .*"proto":"tcp"')
	[ "$got" -ge "$want" ] && grep -q '^cotrack: vmi kernel' "$D/bitvisor.log"
}
t0=$(date +%s)
for _ in $(seq 40); do have_all && break; sleep 0.5; done
if have_all; then
	ok "records written without further frames (module timer), $(($(date +%s) - t0)) s"
else
	not_ok "records written without further frames (module timer): $got of $want"
	for _ in $(seq 20); do
		ip netns exec "$NS" ping -c 1 -W 1 "$GIP" >/dev/null 2>&1
		have_all && break
		sleep 1
	done
fi
"$G/ctl.sh" "$D" stop 30 >/dev/null 2>&1
wait "$BPID" 2>/dev/null
tr -d '\r' <"$D/bitvisor.log" >"$T_TMP/bv.log"
grep "^cotrack: \(stats\|timer\)" "$T_TMP/bv.log" | tail -2 | sed "s/^/# /"
vline=$(grep -m1 "^cotrack: vmi kernel" "$T_TMP/bv.log")
echo "# ${vline:-no vmi kernel line}"
grep "^cotrack: vmi: " "$T_TMP/bv.log" | sed 's/^/# /'
kver=$(tr -d '\r' <"$D/console.log" | sed -n 's/^==COTRACK-BOOT kver=\([^ ]*\) .*/\1/p' | head -1)
koff=$(tr -d '\r' <"$D/console.log" | sed -n 's/^==COTRACK-KASLR .* offset=\(0x[0-9a-f]*\)==$/\1/p' | head -1)
case $vline in
*" osrelease=$kver "*) ok "BitVisor found the guest kernel: $kver" ;;
*) not_ok "BitVisor found the guest kernel ($kver)" ;;
esac
case $vline in
*" kaslr_offset=$koff "*) ok "its KASLR offset is the guest's: $koff" ;;
*) not_ok "its KASLR offset is the guest's ($koff)" ;;
esac
pa=$(($(snmp after 4) - $(snmp before 4)))
ac=$(($(snmp after 3) - $(snmp before 3)))
python3 "$TOP/tests/tools/bitvisor_check.py" "$T_TMP/bv.log" "$T_TMP/client.log" \
	"$GIP" "$HIP" "$N" "$pa" "$M" "$ac" "$L" || {
	T_FAILS=$((T_FAILS + 1))
	rm -rf "$O/bitvisor.failed"
	mkdir -p "$O/bitvisor.failed"
	cp "$T_TMP"/*.log "$D"/console.log "$D"/bitvisor.log "$O/bitvisor.failed/" 2>/dev/null
	echo "# artifacts in $O/bitvisor.failed"
}
t_end
