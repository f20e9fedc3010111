# Hostile vhost-user frontends and guests (issue 10 item 4; the outcomes
# are in docs/vhost-user.md, "Hostile frontends"): cotrackd with four
# vhost-user VMs, h (hostile: tests/tools/vhostfe -m MODE), s (a sender
# toward h, for norx only) and a well-behaved pair a -> b (vhostfe normal
# mode).  For each mode the pair forwards 5,000 frames while h
# misbehaves: none may be lost and the run must end within its bound;
# cotrackd must not crash (this runs under ASan+UBSan), must log the
# mode's line where librte_vhost gives a signal, and count it in h's
# summary.  Everything runs on unix sockets and memfds this test makes;
# no QEMU, no root needed.
source "$TOP/tests/lib.sh"
FE=$O/tests/tools/vhostfe
[ -x "$FE" ] || { not_ok "$FE missing"; t_end; }
D=$T_TMP
dpid= hpid=
cleanup() {
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	for p in $hpid $dpid; do wait "$p" 2>/dev/null; done
	true
}
t_on_exit cleanup

"$COTRACKD" --vm "h,vhost-user=$D/h.sock" --vm "s,vhost-user=$D/s.sock" \
	--vm "a,vhost-user=$D/a.sock" --vm "b,vhost-user=$D/b.sock" \
	-o "$D/rec.json" 2>"$D/d.log" &
dpid=$!
for _ in $(seq 100); do
	[ -S "$D/h.sock" ] && [ -S "$D/b.sock" ] && break
	sleep 0.1
done
[ -S "$D/b.sock" ] || { not_ok "cotrackd listens"; cat "$D/d.log"; t_end; }

# pair: the well-behaved pair forwards 5,000 frames, none lost (vhostfe
# gives up 2 s after the last progress; timeout bounds the rest).
pair() {
	timeout 60 "$FE" -a "$D/a.sock" -b "$D/b.sock" -n 5000 >"$D/pair.out" 2>&1 &&
		grep -q '^frames=5000 .*lost=0 ' "$D/pair.out"
}
check "the pair forwards before any hostile frontend" pair

# hostile MODE PATTERN [LOGPATTERN]: h runs MODE (connected for 2 s)
# while the pair forwards; h's report must match PATTERN, cotrackd's log
# LOGPATTERN (if given, a line new since this mode started).
hostile() {
	local m=$1 want=$2 logwant=${3:-} before
	before=$(wc -l <"$D/d.log")
	timeout 60 "$FE" -a "$D/h.sock" -b "$D/s.sock" -m "$m" -t 2 -n 3000 \
		>"$D/h.out" 2>&1 &
	hpid=$!
	sleep 0.3
	if pair; then ok "$m: the pair's 5,000 frames pass, none lost"
	else
		not_ok "$m: the pair's frames"
		cat "$D/pair.out"
		tail -n +"$((before + 1))" "$D/d.log" | grep -v '^VHOST'
	fi
	wait "$hpid"
	hrc=$?
	hpid=
	if [ "$hrc" = 0 ] && grep -qE "$want" "$D/h.out"; then
		ok "$m: $(head -1 "$D/h.out")"
	else
		not_ok "$m: vhostfe rc $hrc, wanted /$want/"
		cat "$D/h.out"
	fi
	if kill -0 "$dpid" 2>/dev/null; then ok "$m: cotrackd runs"
	else not_ok "$m: cotrackd died"; tail -30 "$D/d.log"; t_end; fi
	if [ -n "$logwant" ]; then
		if tail -n +"$((before + 1))" "$D/d.log" | grep -qE "$logwant"; then
			ok "$m: logged /$logwant/"
		else
			not_ok "$m: no log line /$logwant/"
			tail -n +"$((before + 1))" "$D/d.log"
		fi
	fi
}

stall='transmit queue holds [0-9]+ entries librte_vhost does not take'
# Descriptors librte_vhost refuses: it stops at the entry (nothing of
# the 5 is returned: not the bad one, not the 4 hellos after it).
hostile loop 'mode=loop used=0 of 5 connection=alive' "h: the guest's $stall"
hostile oob 'mode=oob used=0 of 5 connection=alive' "h: the guest's $stall"
hostile longlen 'mode=longlen used=0 of 5 connection=alive' "h: the guest's $stall"
hostile badidx 'mode=badidx used=0 of 5 connection=alive' "h: the guest's $stall"
# Accepted without a word: overlapping buffers are just read twice.
hostile overlap 'mode=overlap used=5 of 5 connection=alive'
# An avail index far ahead: librte_vhost takes stale ring entries (old
# descriptors, here broadcast hellos, over the storm limit).
hostile availjump 'mode=availjump used=[1-9][0-9]* of 40004 connection=alive'
# No receive buffers: frames to h drop at its queue (counted below).
hostile norx 'mode=norx frames=0 .*sent=3000'
# Memory tables.
hostile mt-overlap 'mode=mt-overlap set_mem_table=ack=0 queues=ok connection=alive'
hostile mt-zero 'mode=mt-zero set_mem_table=nack queues=failed connection=alive' \
	"h: vhost-user frontend's request 5 refused by librte_vhost"
hostile mt-many 'mode=mt-many set_mem_table=nack queues=failed connection=alive' \
	"h: vhost-user frontend's request 5 refused by librte_vhost"
hostile mt-offset 'mode=mt-offset set_mem_table=closed connection=dead' \
	'h: vhost-user memory table refused: region 0 maps 68721573888 bytes of a file of 2097152'
hostile mt-short 'mode=mt-short set_mem_table=closed connection=dead' \
	'h: vhost-user memory table refused: region 0 maps 4194304 bytes of a file of 2097152'
# Messages.  A bad size (a vring index from a short payload, a size
# past any payload) is refused by librte_vhost before its message hooks
# run: only the disconnect shows (and librte_vhost's own line).
hostile badsize 'mode=badsize short_payload=closed/dead huge_size=[a-z]+/dead' \
	'invalid msg size: 16777216'
hostile unknown 'mode=unknown req999=nack/alive req0=nack/alive' \
	"h: vhost-user frontend's request 999 refused by librte_vhost \\(unknown request\\)"

if pair; then ok "the pair forwards after them all"; else not_ok "the pair forwards after them all"; cat "$D/pair.out"; fi
kill -TERM "$dpid"
wait "$dpid"
drc=$?
dpid=
check "cotrackd exits 0 on SIGTERM" [ "$drc" = 0 ]
check "no sanitizer report" eval "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$D/d.log'"

# h's counters: one connection per mode (badsize: two), the refusals,
# the stalls (at least one per refused-descriptor mode), queue drops.
vline=$(grep '^h: vhost-user connections' "$D/d.log")
fline=$(grep '^h: frames from guest' "$D/d.log")
echo "# $vline"
echo "# $fline"
num() { sed -n "s/.*$1 \([0-9]*\).*/\1/p" <<<"$2"; }
check "h: 15 connections (badsize: 2), 15 disconnects" \
	[ "$(num connections "$vline")" = 15 -a "$(num disconnects "$vline")" = 15 ]
check "h: 2 memory tables refused" [ "$(num 'memory tables refused' "$vline")" = 2 ]
# mt-zero, mt-many: SET_MEM_TABLE, then SET_VRING_ADDR; unknown: 2.
check "h: 6 requests refused" [ "$(num 'requests refused' "$vline")" = 6 ]
check "h: transmit queue stalls counted" [ "$(num 'transmit queue stalls' "$vline")" -ge 4 ]
check "h: norx frames dropped at its queue" [ "$(num 'queue drops' "$fline")" -ge 2000 ]
for v in a b s; do
	l=$(grep "^$v: vhost-user connections" "$D/d.log")
	echo "# $l"
	check "$v: nothing refused, no stall" \
		[ "$(num 'requests refused' "$l")" = 0 -a "$(num 'transmit queue stalls' "$l")" = 0 ]
done
check "a -> b: no queue drops" [ "$(num 'queue drops' "$(grep '^b: frames from guest' "$D/d.log")")" = 0 ]
t_end
