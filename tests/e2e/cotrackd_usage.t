# cotrackd's command line: bad input is a clear one-line error and exit
# status 2, never a crash or a half-started daemon; --help exits 0.  The
# port array holds MAX_VMS (16) VMs and MAX_UPLINKS (4) uplinks: one more
# of either is refused before anything is opened (it once overflowed the
# array: UBSan "index 17 out of bounds").
source "$TOP/tests/lib.sh"
D=$T_TMP
# rc2 NAME PATTERN ARGS...: exit 2, PATTERN on stderr, no sanitizer report
rc2() {
	local name=$1 pat=$2 rc
	shift 2
	timeout 20 "$COTRACKD" "$@" >"$D/out" 2>"$D/err"
	rc=$?
	if [ "$rc" = 2 ] && grep -q -- "$pat" "$D/err" &&
		! grep -q "runtime error\|AddressSanitizer" "$D/err"; then
		ok "$name: exit 2, says '$pat'"
	else
		not_ok "$name: exit $rc, stderr:"
		sed 's/^/#   /' "$D/err" | head -5
	fi
}
vms() { local i; for i in $(seq "$1"); do printf -- '--vm v%d,net=%s/v%d.sock ' "$i" "$D" "$i"; done; }

"$COTRACKD" --help >"$D/help" 2>&1
check "--help exits 0" test $? = 0
check "--help names every --vm key" grep -q "net=SOCKET|vhost-user=SOCKET\[,mem=PATH\[,map=MAP\]\]\[,mac=MAC\]" "$D/help"
check "--help says what a bare duration means" grep -q "a bare number is seconds" "$D/help"
rc2 "no --vm" "no --vm given"
rc2 "unknown option" "unrecognized option" --frobnicate
rc2 "stray argument" "unexpected argument" --vm "a,net=$D/a.sock" extra
# shellcheck disable=SC2046
rc2 "17 VMs" "at most 16 VMs" $(vms 17)
# shellcheck disable=SC2046
rc2 "16 VMs and 5 uplinks" "at most 4 uplinks" $(vms 16) --uplink u1 --uplink u2 \
	--uplink u3 --uplink u4 --uplink u5
check "nothing was left listening after a refused start" test -z "$(ls "$D"/*.sock 2>/dev/null)"
rc2 "--vm without net=" "net=SOCKET is required" --vm a
rc2 "--vm unknown key" "unknown key" --vm "a,net=$D/a.sock,disk=x"
rc2 "--vm name too long" "name of" --vm "$(printf 'n%.0s' $(seq 40)),net=$D/a.sock"
rc2 "--vm map= without mem=" "map= needs mem=" --vm "a,net=$D/a.sock,map=x"
rc2 "--vm offloads= on a stream NIC" "offloads= needs vhost-user=" --vm "a,net=$D/a.sock,offloads=on"
rc2 "--vm offloads= neither on nor off" "unknown key" --vm "a,vhost-user=$D/a.sock,offloads=yes"
check "--help names offloads=" grep -q "\[,offloads=on|off\]" "$D/help"
rc2 "--vm bad mac" "not a unicast address" --vm "a,net=$D/a.sock,mac=01:00:5e:00:00:01"
rc2 "--vm mac not an address" "not a unicast address" --vm "a,net=$D/a.sock,mac=52:54:00:zz:00:01"
rc2 "two VMs, one mac" "is a's already" --vm "a,net=$D/a.sock,mac=52:54:00:00:00:01" \
	--vm "b,net=$D/b.sock,mac=52:54:00:00:00:01"
rc2 "--interval junk" "--interval" --vm "a,net=$D/a.sock" --interval 10parsecs
rc2 "--interval below 1us" "--interval" --vm "a,net=$D/a.sock" --interval 10ns
rc2 "--interval negative" "--interval" --vm "a,net=$D/a.sock" --interval -1s
rc2 "--scan-fast junk" "--scan-fast" --vm "a,net=$D/a.sock" --scan-fast soon
rc2 "--scan-cpu 0" "--scan-cpu" --vm "a,net=$D/a.sock" --scan-cpu 0
rc2 "--scan-cpu 101" "--scan-cpu" --vm "a,net=$D/a.sock" --scan-cpu 101
check "--help names --scan-fast and --scan-cpu" eval 'grep -q -- "--scan-fast DUR" "$D/help" && grep -q -- "--scan-cpu PCT" "$D/help"'
rc2 "--max-flows 0" "--max-flows" --vm "a,net=$D/a.sock" --max-flows 0
rc2 "--max-flows overflow" "--max-flows" --vm "a,net=$D/a.sock" --max-flows 18446744073709551617
rc2 "--scan-bytes too small" "--scan-bytes" --vm "a,net=$D/a.sock" --scan-bytes 100
rc2 "--storm-pps junk" "--storm-pps" --vm "a,net=$D/a.sock" --storm-pps lots
rc2 "--max-macs 0" "--max-macs" --vm "a,net=$D/a.sock" --max-macs 0
rc2 "--uplink bad netns key" "want TAP" --vm "a,net=$D/a.sock" --uplink "u,ns=x"
rc2 "--uplink long name" "tap name" --vm "a,net=$D/a.sock" --uplink "abcdefghijklmnopq"
rc2 "--pki without --log-server" "only with --log-server" --vm "a,net=$D/a.sock" --pki "$D"
rc2 "--log-server without a port" "--log-server" --vm "a,net=$D/a.sock" --log-server 127.0.0.1 \
	--ca x --cert y --key z
rc2 "--log-server list with an empty item" "empty item" --vm "a,net=$D/a.sock" \
	--log-server "127.0.0.1:1,,127.0.0.1:2" --ca x --cert y --key z
rc2 "--log-server list with a bad item" "--log-server" --vm "a,net=$D/a.sock" \
	--log-server "127.0.0.1:1,127.0.0.1" --ca x --cert y --key z
rc2 "--ack-timeout below 1000 ms" "--ack-timeout" --vm "a,net=$D/a.sock" \
	--log-server 127.0.0.1:1 --ca x --cert y --key z --ack-timeout 999
rc2 "--ack-timeout above an hour" "--ack-timeout" --vm "a,net=$D/a.sock" \
	--log-server 127.0.0.1:1 --ca x --cert y --key z --ack-timeout 3600001
rc2 "--ack-timeout not milliseconds" "--ack-timeout" --vm "a,net=$D/a.sock" \
	--log-server 127.0.0.1:1 --ca x --cert y --key z --ack-timeout 30s
rc2 "--ack-timeout without --log-server" "only with --log-server" --vm "a,net=$D/a.sock" \
	--ack-timeout 5000
check "--help names --ack-timeout and its default" sh -c "grep -q -- '--ack-timeout MS' '$D/help' && grep -q 'default 30000; 1000..3600000' '$D/help'"
t_end
