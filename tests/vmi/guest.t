#!/usr/bin/env bash
# cotrack vmi against real guests (guest/: Debian's cloud kernels under
# QEMU TCG, KASLR on, RAM in /dev/shm), zero configuration, on every
# kernel range it supports:
#   6.1   (the machine's bookworm; build/guest)          full
#   5.10  (bullseye, bullseye-security)                  exact + symbols
#   6.12  (trixie, trixie-security)                      exact + symbols
#   newest (sid, --latest: what it has when the test runs) exact + symbols
# each with -cpu max (5-level paging, but for 5.10, built without it; per-namespace ehash through sysctl
# net.ipv4.tcp_child_ehash_entries where the kernel has it, >= 6.1) and
# -cpu qemu64 (4-level).  Exact: `cotrack vmi snapshot` on the live RAM
# file lists exactly the guest's own /proc/net/tcp and /proc/net/tcp6 of
# every namespace (guest/truth.py); symbols: `vmi info` finds the paging
# mode, the KASLR offset and the symbols the guest's own /proc/kallsyms
# shows.  Full adds: the ELF dump of the same paused guest lists the same,
# and `vmi watch` reports the TIME_WAIT sockets the guest makes while it
# runs.  Owners (every kernel, both paging modes): each socket's inode,
# lowest pid holding it, that pid's fd, cgroup v2 path and comm are
# exactly what the guest's own /proc/net/tcp*, /proc/PID/fd,
# /proc/PID/cgroup and /proc/PID/comm say (guest/ctl.sh owners: the zoo's
# keeper in cgroup /svc/zoo, its namespace-2 child "zoo-ns2" in /svc/ns2, a
# child "zoo-share" holding the keeper's fds too); volumes: the zoo's
# known transfer (100000 bytes up, 3333 down on 127.0.0.3 ->
# 127.0.0.5:7001) in bytes_received exactly, in bytes_acked up to the
# SYN's 1.  The 6.1 guests run in one lane, the others in a second, so two
# QEMUs at most run at a time.  GUEST_VMI_KERNELS (default
# "5.10 6.12 newest") chooses the others; "" runs 6.1 alone.
source "$TOP/tests/lib.sh"
G=$TOP/guest
GB=${GUEST_OUT:-$TOP/build/guest}
kernels=${GUEST_VMI_KERNELS-5.10 6.12 newest}

suite_of() {
	case $1 in
	5.10) echo "bullseye bullseye-security" ;;
	# bookworm-backports' 6.12.95-1~bpo12+1 double-faults in the slab
	# allocator early in boot under this machine's TCG (5 boots of 5,
	# -cpu max and qemu64); trixie's 6.12 (6.12.118+deb13) boots
	6.12) echo "trixie trixie-security" ;;
	newest) echo "sid" ;;
	esac
}
if ! "$G/build.sh" >"$T_TMP/build.log" 2>&1; then
	not_ok "guest/build.sh"
	sed 's/^/# /' "$T_TMP/build.log" | tail -20
	t_end
fi

# the socket set, one line each as guest/truth.py prints it
snap() { # MEMFILE OUTFILE
	"$COTRACK" vmi snapshot --mem "$1" >"$2.raw" 2>"$2.err" || return 1
	awk 'NR > 1 { print $1, $2, $3, $4, $5, $6, $7 }' "$2.raw" | sort >"$2"
}

# truth and snapshot of the same (paused) guest; retried because a socket
# may change state between the guest's print and the pause
live_match() { # DIR MEM TAG
	local dir=$1 mem=$2 tag=$3 try
	for try in 1 2 3; do
		"$G/ctl.sh" "$dir" resume
		"$G/ctl.sh" "$dir" truth >"$T_TMP/$tag.truth.u" || return 1
		sort "$T_TMP/$tag.truth.u" >"$T_TMP/$tag.truth"
		"$G/ctl.sh" "$dir" pause
		snap "$mem" "$T_TMP/$tag.snap" || return 1
		diff -u "$T_TMP/$tag.truth" "$T_TMP/$tag.snap" >"$T_TMP/$tag.diff" && return 0
		echo "# $tag: attempt $try differs:"
		sed 's/^/#   /' "$T_TMP/$tag.diff" | head -20
	done
	return 1
}

# the owned sockets of a JSON snapshot, one line each as
# guest/truth.py --owners prints them
owners_of() { # JSONFILE
	python3 -c '
import json, sys
for ln in open(sys.argv[1]):
    d = json.loads(ln)
    if "inode" not in d:
        continue
    own = [d["pid"], d["fd"], d.get("cgroup", "-"), d["comm"]] if "pid" in d else ["-"] * 4
    print(*[d[k] for k in ("netns", "family", "state", "local", "lport", "remote", "rport", "inode")], *own)
' "$1" | LC_ALL=C sort
}

# owners truth and snapshot of the same (paused) guest, retried as
# live_match; then the volumes of the known transfer
owners_match() { # DIR MEM TAG
	local dir=$1 mem=$2 tag=$3 try
	for try in 1 2 3; do
		"$G/ctl.sh" "$dir" resume
		"$G/ctl.sh" "$dir" owners >"$T_TMP/$tag.otruth.u" || return 1
		LC_ALL=C sort "$T_TMP/$tag.otruth.u" >"$T_TMP/$tag.otruth"
		"$G/ctl.sh" "$dir" pause
		"$COTRACK" vmi snapshot --mem "$mem" --format json >"$T_TMP/$tag.json" \
			2>"$T_TMP/$tag.json.err" || return 1
		owners_of "$T_TMP/$tag.json" >"$T_TMP/$tag.osnap"
		diff -u "$T_TMP/$tag.otruth" "$T_TMP/$tag.osnap" >"$T_TMP/$tag.odiff" && return 0
		echo "# $tag: attempt $try differs:"
		sed 's/^/#   /' "$T_TMP/$tag.odiff" | head -20
	done
	return 1
}

# the known transfer's counters in snapshot JSON: client 127.0.0.3 sent
# 100000 and received 3333 bytes; the server the reverse
volumes_ok() { # JSONFILE
	python3 -c '
import json, sys
c = s = None
for ln in open(sys.argv[1]):
    d = json.loads(ln)
    if d["state"] != "ESTABLISHED" or d["family"] != "ipv4":
        continue
    if d["local"] == "127.0.0.3" and d["remote"] == "127.0.0.5" and d["rport"] == 7001:
        c = d
    if d["local"] == "127.0.0.5" and d["lport"] == 7001 and d["remote"] == "127.0.0.3":
        s = d
print("# client", c and {k: c.get(k) for k in ("bytes_acked", "bytes_received", "segs_out", "segs_in")})
print("# server", s and {k: s.get(k) for k in ("bytes_acked", "bytes_received", "segs_out", "segs_in")})
ok = (c and s and c["bytes_received"] == 3333 and s["bytes_received"] == 100000 and
      c["bytes_acked"] in (100000, 100001) and s["bytes_acked"] in (3333, 3334) and
      c["segs_out"] > 0 and c["segs_in"] > 0 and s["segs_out"] > 0 and s["segs_in"] > 0)
sys.exit(0 if ok else 1)
' "$1"
}

one() { # KTAG CPU LEVELS full|light EXTRA-RUN-ARGS... (GUEST_OUT set)
	local ktag=$1 cpu=$2 levels=$3 what=$4
	local tag=$1-$2 name=cot-vmi-$$-$1-$2${ONE_AGAIN:+-again} dir mem rid wpid n off sym want got
	shift 4
	local try
	# a second boot when the first does not get ready: TCG on a loaded
	# host (two lanes, other tests) now and then loses a boot
	for try in 1 2; do
		dir=$T_TMP/$name
		mem=/dev/shm/$name
		"$G/run.sh" --role sockets --cpu "$cpu" --name "$name" --dir "$dir" \
			--timeout 400 "$@" >"$T_TMP/$name.out" 2>&1 &
		rid=$!
		t_on_exit "kill $rid; wait $rid"
		"$G/ctl.sh" "$dir" wait-ready 180 && break
		echo "# $tag: boot $try not ready; run.sh and console said:"
		sed 's/^/#   /' "$T_TMP/$name.out" | tail -10
		tr -d '\r' <"$dir/console.log" 2>/dev/null | sed 's/^/#   | /' | tail -15
		kill "$rid" 2>/dev/null
		wait "$rid" 2>/dev/null
		if [ "$try" = 2 ]; then
			not_ok "$tag: guest ready"
			return
		fi
		name=$name-2
	done

	# info: paging mode and symbols, checked against System.map + KASLR
	if ! "$COTRACK" vmi info --mem "$mem" >"$T_TMP/$tag.info" 2>&1; then
		not_ok "$tag: vmi info"
		sed 's/^/# /' "$T_TMP/$tag.info"
	else
		sed 's/^/# /' "$T_TMP/$tag.info" | grep -E 'release|kaslr|paging|sockets:|ehash'
		check "$tag: info finds $levels-level paging" \
			grep -q "^paging: *$levels-level" "$T_TMP/$tag.info"
		check "$tag: info finds release $KVER" \
			grep -q "^kernel release: *$KVER\$" "$T_TMP/$tag.info"
		off=$(awk '/^kaslr offset:/ { print $3 }' "$T_TMP/$tag.info")
		goff=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^==COTRACK-KASLR .* offset=\(0x[0-9a-f]*\)==$/\1/p' | head -1)
		check "$tag: KASLR offset $off is the guest's own ($goff)" \
			[ -n "$goff" ] && [ "$((off))" = "$((goff))" ]
		# The guest's /proc/kallsyms (root, so real addresses) is the truth.
		"$G/ctl.sh" "$dir" cmd "run grep -E ' (tcp_hashinfo|net_namespace_list|init_net|__start_BTF|__stop_BTF)\$' /proc/kallsyms" 60 \
			| tr -d '\r' >"$T_TMP/$tag.ksyms"
		n=0
		for sym in tcp_hashinfo net_namespace_list init_net __start_BTF __stop_BTF; do
			want=$(awk -v s="$sym" '$3 == s { print $1; exit }' "$T_TMP/$tag.ksyms")
			got=$(awk -v s="$sym" '$1 == s { print $2 }' "$T_TMP/$tag.info")
			if [ -n "$want" ] && [ -n "$got" ] &&
				[ "$(printf '%x' $((0x$want)))" = "$(printf '%x' $((got)))" ]; then
				n=$((n + 1))
			else
				echo "# $sym: guest /proc/kallsyms '$want' != '$got'"
			fi
		done
		check "$tag: 5 symbol addresses = the guest's /proc/kallsyms" [ "$n" = 5 ]
	fi

	if live_match "$dir" "$mem" "$tag-live"; then
		ok "$tag: live snapshot lists exactly /proc/net/tcp* ($(wc -l <"$T_TMP/$tag-live.snap") sockets, $(cut -d' ' -f1 "$T_TMP/$tag-live.snap" | sort -u | wc -l) namespaces)"
	elif [ -z "${ONE_AGAIN:-}" ] &&
		! kill -0 "$(cat "$dir/qemu.pid" 2>/dev/null)" 2>/dev/null; then
		# The guest's QEMU died under us (seen once with 6.12 -cpu max
		# under TCG on a loaded host): not the tool's doing.  Say what
		# the console said and run this guest once more from its boot.
		echo "# $tag: QEMU died mid-test; console said:"
		tr -d '\r' <"$dir/console.log" 2>/dev/null | sed 's/^/#   | /' | tail -15
		sed 's/^/#   /' "$T_TMP/$name.out" | tail -5
		wait "$rid" 2>/dev/null
		ONE_AGAIN=1 one "$ktag" "$cpu" "$levels" "$what" "$@"
		return
	else
		not_ok "$tag: live snapshot lists exactly /proc/net/tcp*"
		sed 's/^/# /' "$T_TMP/$tag-live.snap.err" 2>/dev/null
	fi
	local t0=$SECONDS
	if owners_match "$dir" "$mem" "$tag-own"; then
		ok "$tag: owners = the guest's /proc/PID/fd, cgroup, comm ($(wc -l <"$T_TMP/$tag-own.osnap") sockets with an inode, $(awk '$9 != "-"' "$T_TMP/$tag-own.osnap" | wc -l) owned, $(awk '$9 != "-" { print $11 }' "$T_TMP/$tag-own.osnap" | sort -u | wc -l) cgroups)"
	else
		not_ok "$tag: owners = the guest's /proc/PID/fd, cgroup, comm"
		sed 's/^/# /' "$T_TMP/$tag-own.json.err" 2>/dev/null
	fi
	# the truth itself has what the test is about: two cgroups two
	# levels deep, two comms, the shared fds owned by the lower pid
	check "$tag: owners truth has /svc/zoo sockzoo and /svc/ns2 zoo-ns2, no zoo-share" \
		sh -c 'grep -q " /svc/zoo sockzoo\$" "$1" && grep -q " /svc/ns2 zoo-ns2\$" "$1" && ! grep -q zoo-share "$1"' _ "$T_TMP/$tag-own.otruth"
	check "$tag: volumes of the known transfer" volumes_ok "$T_TMP/$tag-own.json"
	echo "# $tag: owners and volumes checks took $((SECONDS - t0)) s"
	if [ "$what" = light ]; then
		"$G/ctl.sh" "$dir" resume
		"$G/ctl.sh" "$dir" stop 30
		wait "$rid" 2>/dev/null
		return
	fi
	# the guest is paused here: dump it and read the ELF core
	if "$G/ctl.sh" "$dir" dump "$T_TMP/$tag.elf" &&
		snap "$T_TMP/$tag.elf" "$T_TMP/$tag-elf.snap"; then
		check "$tag: ELF dump lists the same sockets" \
			diff -u "$T_TMP/$tag-live.truth" "$T_TMP/$tag-elf.snap"
	else
		not_ok "$tag: ELF dump lists the same sockets"
	fi
	rm -f "$T_TMP/$tag.elf"
	"$G/ctl.sh" "$dir" resume

	# watch: new TIME_WAIT sockets appear as events while the guest runs
	"$COTRACK" vmi watch --mem "$mem" --interval 10ms --duration 120s \
		--format json >"$T_TMP/$tag.watch" 2>"$T_TMP/$tag.watch.err" &
	wpid=$!
	sleep 1
	"$G/ctl.sh" "$dir" cmd "tw 3" 120 >/dev/null
	sleep 1
	kill -INT "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	n=$(grep -c '"event":"opened"' "$T_TMP/$tag.watch")
	echo "# $tag: watch: $n opened, $(grep -c '"event":"closed"' "$T_TMP/$tag.watch") closed, $(grep -c '"event":"changed"' "$T_TMP/$tag.watch") changed"
	n=$(grep -E '"event":"(opened|changed)"' "$T_TMP/$tag.watch" |
		grep '"state":"TIME_WAIT"' | grep -v '"lport":700' |
		grep -c '"family":"ipv4"')
	check "$tag: watch saw the 3 new IPv4 TIME_WAIT sockets ($n)" [ "$n" -ge 3 ]
	check "$tag: watch saw listeners closed" grep -q '"event":"closed".*"state":"LISTEN"' "$T_TMP/$tag.watch"

	"$G/ctl.sh" "$dir" stop 30
	wait "$rid" 2>/dev/null
}

# one lane of guests: KTAG, then its runs (full or light)
lane() { # KTAG full|light
	local ktag=$1 what=$2 suite
	if [ "$ktag" = 6.1 ]; then
		export GUEST_OUT=$GB
	else
		suite=$(suite_of "$ktag")
		export GUEST_OUT=$GB-$ktag
		# its own directory: the kernel chosen there is sticky
		[ "$ktag" = 6.12 ] && GUEST_OUT=$GB-6.12-trixie
		if ! "$G/build.sh" --suite "$suite" $([ "$ktag" = newest ] && echo --latest) \
			>"$T_TMP/build-$ktag.log" 2>&1; then
			not_ok "$ktag: guest/build.sh --suite '$suite'"
			sed 's/^/# /' "$T_TMP/build-$ktag.log" | tail -20
			return
		fi
	fi
	# shellcheck source=/dev/null
	. "$GUEST_OUT/kernel.env"
	echo "# $ktag: $KPKG $KPKGVER"
	# -cpu max offers LA57; a kernel built without CONFIG_X86_5LEVEL
	# (Debian's 5.10) stays in 4-level paging (7.x has no such option:
	# always built in)
	local l5=5
	grep -q '^# CONFIG_X86_5LEVEL is not set' "$CONFIG" 2>/dev/null && l5=4
	one "$ktag" max "$l5" "$what" --append "sysctl.net.ipv4.tcp_child_ehash_entries=256"
	# per-netns ehash tables exist from Linux 6.1
	case $KVER in
	5.*) ;;
	*) check "$ktag-max: per-namespace ehash walked (2 tables)" \
		grep -q "^sockets: .* in 2 ehash tables" "$T_TMP/$ktag-max.info" ;;
	esac
	one "$ktag" qemu64 4 "$what"
}

lane 6.1 full >"$T_TMP/lane-6.1" 2>&1 &
l1=$!
t_on_exit "kill $l1"
(for k in $kernels; do lane "$k" light; done) >"$T_TMP/lane-other" 2>&1 &
l2=$!
t_on_exit "kill $l2"
wait "$l1"
wait "$l2"
for f in "$T_TMP/lane-6.1" "$T_TMP/lane-other"; do
	cat "$f"
	T_FAILS=$((T_FAILS + $(grep -c '^not ok' "$f")))
done
t_end
