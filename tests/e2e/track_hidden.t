# A hidden connection: a frontend guest process talks TCP from user space
# over a packet socket (guest/src/rawtcp.c), so the guest kernel has no
# socket for it.  The NIC sees the connection, guest memory never does:
# cotrackd must flag it hidden-nic, and nothing else during the same run
# (20 ordinary requests through the service) may be flagged.
source "$TOP/tests/lib.sh"
source "$TOP/tests/tools/service.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces and taps"
"$G/build.sh" >"$T_TMP/build.log" 2>&1 || { not_ok "guest/build.sh"; tail "$T_TMP/build.log"; t_end; }
t_on_exit svc_cleanup
svc_start "$T_TMP/svc" "$COTRACKD" --interval 10ms --grace 1s ||
	{ not_ok "cotrackd starts"; cat "$T_TMP/svc/cotrackd.log"; t_end; }
svc_boot || { not_ok "guests boot"; t_end; }
ok "service up"
svc_client 20 >"$T_TMP/client.log"
check "20 ordinary requests answered" grep -q "client ok=20 fail=0" "$T_TMP/client.log"
# 3 s of user-space TCP from the frontend to the backend's port 4444.
"$G/ctl.sh" "$SVC_DIR/fe" cmd "run rawtcp eth0 10.0.0.2 10.0.0.3 52:54:00:c0:74:03 4444 3" 60 >"$T_TMP/raw.out"
check "rawtcp ran in the guest" grep -q "no kernel socket" "$T_TMP/raw.out"
sleep 0.5
svc_stop_daemon
svc_stop_guests
python3 - "$SVC_DIR/records.json" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
raw = [r for r in recs if r["vm"] == "fe" and r["proto"] == "tcp" and r["dport"] == 4444]
def tap(ok, msg):
    print(("ok - " if ok else "not ok - ") + msg)
tap(len(raw) == 1, "one record of the user-space connection at the frontend (%d)" % len(raw))
if raw:
    r = raw[0]
    tap(r["seen_by"] == "nic", "it was seen on the NIC only (%s)" % r["seen_by"])
    tap(r.get("flags") == "hidden-nic", "it is flagged hidden-nic (%s)" % r.get("flags"))
    tap(r["pkts_fwd"] == 16, "its 16 segments were counted (%d)" % r["pkts_fwd"])
others = [r for r in recs if r.get("flags") and r not in raw]
tap(not others, "no other record flagged (%d)" % len(others))
PY

t_end
