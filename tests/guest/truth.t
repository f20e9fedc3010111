#!/usr/bin/env bash
# guest/truth.py on a hand-made console log (no QEMU): address decoding
# (IPv4 little-endian words, IPv6 32-bit words, v4-mapped), state names,
# namespaces, rounds (latest complete, --seq, incomplete ones refused),
# serial '\r' and kernel messages interleaved, --json, --snmp, --netns.
source "$TOP/tests/lib.sh"
TP=$TOP/guest/truth.py
L=$T_TMP/console.log

# The rows are real /proc/net/tcp{,6} lines from a guest, trimmed after the
# inode column; the last two ns2 rows are a round that never finished.
sed 's/$/\r/' >"$L" <<'EOF'
[    1.234567] virtio_net virtio0 eth0: renamed
==COTRACK-NETNS name=init inode=4026531840==
==COTRACK-NETNS name=ns2 inode=4026532113==
==COTRACK-TRUTH-BEGIN seq=0 netns=4026531840 name=init==
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1B59 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10239
   1: 0300007F:EA5F 0500007F:1B59 01 00000000:00000000 00:00000000 00000000     0        0 10259
[    2.000001] a kernel message in the middle
   2: 0100007F:ED00 0100007F:B0C1 06 00000000:00000000 03:00001749 00000000     0        0 0
   3: 0100007F:1B5E 0100007F:C5B8 03 00000000:00000000 01:0000003B 00000000     0        0 0
   4: 0100007F:924A 0100007F:1B5F 02 00000001:00000000 01:0000003C 00000000     0        0 10274
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1B5C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10253
   1: 0000000000000000FFFF00000100007F:A92A 0000000000000000FFFF00000100007F:1B59 01 00000000:00000000 00:00000000 00000000     0        0 10265
   2: 00000000000000000000000001000000:ADC8 00000000000000000000000001000000:1B5B 05 00000000:00000000 00:00000000 00000000     0        0 10269
   3: B80D0120000000000000000001000000:0050 B80D0120000000000000000002000000:D431 08 00000000:00000000 00:00000000 00000000     0        0 1
==COTRACK-TRUTH-END seq=0 netns=4026531840==
==COTRACK-TRUTH-BEGIN seq=0 netns=4026532113 name=ns2==
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1B5D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10280
==COTRACK-TRUTH-END seq=0 netns=4026532113==
==COTRACK-TRUTH-DONE seq=0 namespaces=2==
==COTRACK-READY role=sockets==
==COTRACK-SNMP-BEGIN seq=1 when=request==
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 15 10 0 0 2 125 125 0 0 0 0
==COTRACK-SNMP-END seq=1==
==COTRACK-TRUTH-BEGIN seq=2 netns=4026531840 name=init==
   0: 00000000:1B59 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10239
==COTRACK-TRUTH-END seq=2 netns=4026531840==
==COTRACK-TRUTH-BEGIN seq=2 netns=4026532113 name=ns2==
   0: 00000000:1B5D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10280
EOF

cat >"$T_TMP/want" <<'EOF'
4026531840 ipv4 ESTABLISHED 127.0.0.3 59999 127.0.0.5 7001
4026531840 ipv4 LISTEN 0.0.0.0 7001 0.0.0.0 0
4026531840 ipv4 SYN_RECV 127.0.0.1 7006 127.0.0.1 50616
4026531840 ipv4 SYN_SENT 127.0.0.1 37450 127.0.0.1 7007
4026531840 ipv4 TIME_WAIT 127.0.0.1 60672 127.0.0.1 45249
4026531840 ipv6 CLOSE_WAIT 2001:db8::1 80 2001:db8::2 54321
4026531840 ipv6 ESTABLISHED ::ffff:127.0.0.1 43306 ::ffff:127.0.0.1 7001
4026531840 ipv6 FIN_WAIT2 ::1 44488 ::1 7003
4026531840 ipv6 LISTEN :: 7004 :: 0
4026532113 ipv4 LISTEN 0.0.0.0 7005 0.0.0.0 0
EOF
python3 "$TP" "$L" >"$T_TMP/got" 2>"$T_TMP/err"
check "latest complete round is seq 0 (seq 2 unfinished); rows decoded" \
	diff -u "$T_TMP/want" "$T_TMP/got"
diff -u "$T_TMP/want" "$T_TMP/got" | sed 's/^/# /'
check "output is LC_ALL=C sorted" bash -c "LC_ALL=C sort -c '$T_TMP/got'"
python3 "$TP" --seq 2 "$L" >/dev/null 2>&1
check "--seq 2 (incomplete round) refused" [ $? = 1 ]
check "--syn-recv-as NEW_SYN_RECV" bash -c \
	"python3 '$TP' --syn-recv-as NEW_SYN_RECV '$L' | grep -qx '4026531840 ipv4 NEW_SYN_RECV 127.0.0.1 7006 127.0.0.1 50616'"
check "--json has the contract fields with integer ports" bash -c \
	"python3 '$TP' --json '$L' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==10; assert d[1]==dict(netns=4026531840,family=\"ipv4\",state=\"LISTEN\",local=\"0.0.0.0\",lport=7001,remote=\"0.0.0.0\",rport=0), d[1]'"
check "--snmp" bash -c "python3 '$TP' --snmp '$L' | grep -qx '1 request 15 10 0 0 2'"
check "--netns" bash -c "[ \"\$(python3 '$TP' --netns '$L' | tr '\n' ' ')\" = 'init 4026531840 ns2 4026532113 ' ]"
printf 'nothing here\n' | python3 "$TP" - >/dev/null 2>&1
check "a log without truth exits 1" [ $? = 1 ]
t_end
