#!/usr/bin/env bash
# cotrack vmi against real guests (guest/: Debian's cloud kernel under QEMU
# TCG, KASLR on, RAM in /dev/shm): with -cpu max (5-level paging, and
# per-namespace ehash through sysctl net.ipv4.tcp_child_ehash_entries) and
# -cpu qemu64 (4-level).  For each: `cotrack vmi snapshot` on the live RAM
# file lists exactly the guest's own /proc/net/tcp and /proc/net/tcp6 of
# every namespace (guest/truth.py), so does the ELF dump of the same
# paused guest; `vmi info` finds the paging mode, the KASLR offset and
# the symbols the guest's own /proc/kallsyms shows; `vmi watch`
# reports the TIME_WAIT sockets the guest makes while it runs.
source "$TOP/tests/lib.sh"
G=$TOP/guest

if ! "$G/build.sh" >"$T_TMP/build.log" 2>&1; then
	not_ok "guest/build.sh"
	sed 's/^/# /' "$T_TMP/build.log" | tail -20
	t_end
fi
# shellcheck source=/dev/null
. "${GUEST_OUT:-$TOP/build/guest}/kernel.env"

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

one() { # CPU LEVELS EXTRA-RUN-ARGS...
	local cpu=$1 levels=$2 name=cot-vmi-$$-$1 dir mem rid wpid n off sym want got
	shift 2
	dir=$T_TMP/$name
	mem=/dev/shm/$name
	"$G/run.sh" --role sockets --cpu "$cpu" --name "$name" --dir "$dir" \
		--timeout 400 "$@" >"$T_TMP/$name.out" 2>&1 &
	rid=$!
	t_on_exit "kill $rid; wait $rid"
	if ! "$G/ctl.sh" "$dir" wait-ready 180; then
		not_ok "$cpu: guest ready"
		sed 's/^/# /' "$T_TMP/$name.out" | tail -10
		return
	fi

	# info: paging mode and symbols, checked against System.map + KASLR
	if ! "$COTRACK" vmi info --mem "$mem" >"$T_TMP/$cpu.info" 2>&1; then
		not_ok "$cpu: vmi info"
		sed 's/^/# /' "$T_TMP/$cpu.info"
	else
		sed 's/^/# /' "$T_TMP/$cpu.info" | grep -E 'release|kaslr|paging|sockets:|ehash'
		check "$cpu: info finds $levels-level paging" \
			grep -q "^paging: *$levels-level" "$T_TMP/$cpu.info"
		check "$cpu: info finds release $KVER" \
			grep -q "^kernel release: *$KVER\$" "$T_TMP/$cpu.info"
		off=$(awk '/^kaslr offset:/ { print $3 }' "$T_TMP/$cpu.info")
		goff=$(tr -d '\r' <"$dir/console.log" | sed -n 's/^==COTRACK-KASLR .* offset=\(0x[0-9a-f]*\)==$/\1/p' | head -1)
		check "$cpu: KASLR offset $off is the guest's own ($goff)" \
			[ -n "$goff" ] && [ "$((off))" = "$((goff))" ]
		# The guest's /proc/kallsyms (root, so real addresses) is the truth.
		"$G/ctl.sh" "$dir" cmd "run grep -E ' (tcp_hashinfo|net_namespace_list|init_net|__start_BTF|__stop_BTF)\$' /proc/kallsyms" 60 \
			| tr -d '\r' >"$T_TMP/$cpu.ksyms"
		n=0
		for sym in tcp_hashinfo net_namespace_list init_net __start_BTF __stop_BTF; do
			want=$(awk -v s="$sym" '$3 == s { print $1; exit }' "$T_TMP/$cpu.ksyms")
			got=$(awk -v s="$sym" '$1 == s { print $2 }' "$T_TMP/$cpu.info")
			if [ -n "$want" ] && [ -n "$got" ] &&
				[ "$(printf '%x' $((0x$want)))" = "$(printf '%x' $((got)))" ]; then
				n=$((n + 1))
			else
				echo "# $sym: guest /proc/kallsyms '$want' != '$got'"
			fi
		done
		check "$cpu: 5 symbol addresses = the guest's /proc/kallsyms" [ "$n" = 5 ]
	fi

	if live_match "$dir" "$mem" "$cpu-live"; then
		ok "$cpu: live snapshot lists exactly /proc/net/tcp* ($(wc -l <"$T_TMP/$cpu-live.snap") sockets, $(cut -d' ' -f1 "$T_TMP/$cpu-live.snap" | sort -u | wc -l) namespaces)"
	else
		not_ok "$cpu: live snapshot lists exactly /proc/net/tcp*"
		sed 's/^/# /' "$T_TMP/$cpu-live.snap.err" 2>/dev/null
	fi
	# the guest is paused here: dump it and read the ELF core
	if "$G/ctl.sh" "$dir" dump "$T_TMP/$cpu.elf" &&
		snap "$T_TMP/$cpu.elf" "$T_TMP/$cpu-elf.snap"; then
		check "$cpu: ELF dump lists the same sockets" \
			diff -u "$T_TMP/$cpu-live.truth" "$T_TMP/$cpu-elf.snap"
	else
		not_ok "$cpu: ELF dump lists the same sockets"
	fi
	rm -f "$T_TMP/$cpu.elf"
	"$G/ctl.sh" "$dir" resume

	# watch: new TIME_WAIT sockets appear as events while the guest runs
	"$COTRACK" vmi watch --mem "$mem" --interval 10ms --duration 120s \
		--format json >"$T_TMP/$cpu.watch" 2>"$T_TMP/$cpu.watch.err" &
	wpid=$!
	sleep 1
	"$G/ctl.sh" "$dir" cmd "tw 3" 120 >/dev/null
	sleep 1
	kill -INT "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	n=$(grep -c '"event":"opened"' "$T_TMP/$cpu.watch")
	echo "# $cpu: watch: $n opened, $(grep -c '"event":"closed"' "$T_TMP/$cpu.watch") closed, $(grep -c '"event":"changed"' "$T_TMP/$cpu.watch") changed"
	n=$(grep -E '"event":"(opened|changed)"' "$T_TMP/$cpu.watch" |
		grep '"state":"TIME_WAIT"' | grep -v '"lport":700' |
		grep -c '"family":"ipv4"')
	check "$cpu: watch saw the 3 new IPv4 TIME_WAIT sockets ($n)" [ "$n" -ge 3 ]
	check "$cpu: watch saw listeners closed" grep -q '"event":"closed".*"state":"LISTEN"' "$T_TMP/$cpu.watch"

	"$G/ctl.sh" "$dir" stop 30
	wait "$rid" 2>/dev/null
}

one max 5 --append "sysctl.net.ipv4.tcp_child_ehash_entries=256"
check "max: per-namespace ehash walked (2 tables)" \
	grep -q "^sockets: .* in 2 ehash tables" "$T_TMP/max.info"
one qemu64 4
t_end
