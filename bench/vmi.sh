#!/usr/bin/env bash
# Benchmark of core/vmi's socket scan (issues 3 and 11): the CPU one
# scan of a guest's TCP tables costs, per Debian kernel, on an idle guest
# and on a guest holding about SOCKETS (10,000) TCP sockets, as a share of
# a core at a scan every INTERVAL_MS (10 ms): whole scans, and the same
# scan spread over steps of STEP_BYTES (cotrackd's --step-bytes; one step
# per interval), with how long a spread scan then takes to see every
# socket.  With BASE=REV the same figures for an earlier commit's core
# (built from `git archive REV`), alternating with ours in the same run.
# Then drgn (Debian's python3-drgn, with the kernel's -dbg package from
# Debian's archive) on an ELF core of the same busy guest, walking the
# global table (all drgn can walk), time per scan, and whether it found
# the same sockets as `cotrack vmi snapshot` of that core.
#
#   bench/vmi.sh [BUILD_DIR [SOCKETS]]     (default $O, 10000; bench/run.sh)
#
# Environment:
#   KERNELS="6.1 5.10 6.12 newest"  which guests, in turn (tests/vmi/guest.t's
#                   kernels: 6.1 from build/guest, the others through
#                   guest/build.sh --suite into build/guest-KTAG; 6.12 is
#                   trixie's, in build/guest-6.12-trixie), e.g. KERNELS=5.10;
#                   KTAG:PACKAGE pins that suite's kernel package (into
#                   build/guest-KTAG-VERSION, labelled by its version), e.g.
#                   5.10:linux-image-5.10.0-32-cloud-amd64 (5.10.223, whose
#                   -dbg is still in the archive: 5.10.262's is not)
#   BASE=REV        also measure REV's core (e.g. BASE=main)
#   STEP_BYTES="65536 32768"  budgets per step for the spread scans
#   INTERVAL_MS=10  REPEAT=200 (whole scans)  STEPPED=20 (spread scans)
#   ROUNDS=2        alternations of the variants
#   OWNERS=1        also with the socket-owner and volume walk after
#                   each whole scan (vmiscan --owners)
#   DRGN=0          skip drgn (each -dbg package is about 300 MB)
#
# Figures come from bench/vmiscan (thread CPU time, the interval slept
# between scans and between steps, as cotrackd's scanner does), median
# per variant over its REPEAT scans and its ROUNDS runs.
set -u
O=${1:-${O:?usage: bench/vmi.sh BUILD_DIR [SOCKETS] (or O=BUILD_DIR)}}
N=${2:-10000}
top=$(cd "$(dirname "$0")/.." && pwd)
O=$(cd "$O" && pwd)
G=$top/guest
KERNELS=${KERNELS-6.1 5.10 6.12 newest}
STEP_BYTES=${STEP_BYTES:-65536 32768}
INTERVAL_MS=${INTERVAL_MS:-10}
REPEAT=${REPEAT:-200}
STEPPED=${STEPPED:-20}
ROUNDS=${ROUNDS:-2}
OWNERS=${OWNERS:-0}
DRGN=${DRGN:-1}
BASE=${BASE:-}
SCAN=$O/bench/vmiscan
[ -x "$SCAN" ] || { echo "bench/vmi: no $SCAN (make O=$O bench-build)"; exit 1; }
tmp=$(mktemp -d /tmp/cotrack-bench-vmi.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- variants: ours, BASE's core (same bench/vmiscan.c, its libraries) --
variants="new"
declare -A bin=([new]=$SCAN)
if [ -n "$BASE" ]; then
	rev=$(git -C "$top" rev-parse --short "$BASE") || { echo "bench/vmi: BASE=$BASE: no such commit"; exit 1; }
	mkdir -p "$tmp/base"
	git -C "$top" archive "$rev" | tar -x -C "$tmp/base" || exit 1
	cp "$top/bench/vmiscan.c" "$tmp/base/bench/"
	make -s -C "$tmp/base" O="$tmp/base/build" "$tmp/base/build/bench/vmiscan" \
		>"$tmp/base.log" 2>&1 || { echo "bench/vmi: building BASE=$rev failed"; tail "$tmp/base.log"; exit 1; }
	bin[base]=$tmp/base/build/bench/vmiscan
	variants="new base"
	echo "# base: $rev ($(git -C "$top" log -1 --format=%s "$rev" | cut -c1-60))"
fi
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

suite_of() {
	case $1 in
	5.10) echo "bullseye bullseye-security" ;;
	# not bookworm-backports' 6.12.95 (panics under TCG, tests/vmi/guest.t)
	6.12) echo "trixie trixie-security" ;;
	newest) echo "sid" ;;
	esac
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
med() { sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'; }

boot() { # NAME ROLE ARGS...
	local name=$1 role=$2
	shift 2
	"$G/run.sh" --role "$role" --cpu max --mem 512M --name "$name" \
		--dir "$tmp/$name" --timeout 3600 --ready-timeout 900 "$@" \
		>"$tmp/$name.out" 2>&1 &
	pids+=($!)
}
ready() { # NAME
	"$G/ctl.sh" "$tmp/$1" wait-ready 900 || {
		echo "bench/vmi: guest $1 not ready"; tail -5 "$tmp/$1.out"; return 1; }
	"$G/ctl.sh" "$tmp/$1" pause
}
stop() { # NAME
	"$G/ctl.sh" "$tmp/$1" resume >/dev/null 2>&1
	"$G/ctl.sh" "$tmp/$1" stop 30 >/dev/null 2>&1
}

# drgn's debug info: the kernel's -dbg package through the same apt
# (private list for other suites) guest/build.sh used; vmlinux only
# (newer packages link boot/vmlinux-KVER to lib/modules/KVER/vmlinux).
dbg_vmlinux() { # KTAG KPKG KVER -> path or ""
	local ktag=$1 kpkg=$2 kver=$3 dir=$top/build/vmi-dbg-$1 opts=(-o APT::Sandbox::User=root) s ad
	local v=$dir/usr/lib/debug/boot/vmlinux-$kver
	[ -f "$v" ] && { echo "$v"; return; }
	s=$(suite_of "$ktag")
	if [ -n "$s" ]; then
		ad=${GUEST_APT:-$top/build/apt}/${s// /+}
		opts+=(-o "Dir::Etc::sourcelist=$ad/sources.list" -o Dir::Etc::sourceparts=-
			-o "Dir::State::Lists=$ad/lists" -o "Dir::Cache=$ad/cache")
	fi
	mkdir -p "$dir"
	(cd "$dir" && apt-get -q "${opts[@]}" download "$kpkg-dbg" >"$tmp/dbg-$ktag.log" 2>&1 &&
		dpkg-deb --fsys-tarfile "$kpkg"-dbg_*.deb |
		tar -x --wildcards './usr/lib/debug/*vmlinux*' &&
		rm -f "$kpkg"-dbg_*.deb) && [ -f "$v" ] && echo "$v"
}

printf '%-7s %-5s %-7s %7s %7s %9s %8s | %7s %6s %9s %8s %9s\n' kernel guest variant \
	sockets buckets scan_cpu_us "cpu@${INTERVAL_MS}ms" step_KiB steps step_cpu_us \
	"cpu@${INTERVAL_MS}ms" "all_in_ms"
res=$tmp/res
: >"$res"
# one KTAG GUEST VARIANT MEM [ARGS]: a vmiscan run, its line kept
one() {
	local k=$1 g=$2 v=$3 mem=$4 r
	shift 4
	r=$("${bin[${v%+owners}]}" -n "$REPEAT" -N "$STEPPED" -i "$INTERVAL_MS" "$@" "$mem" 2>"$tmp/err") || {
		if grep -q 'not in this build' "$tmp/err"; then
			echo "owners: not measured ($(cat "$tmp/err"))" >"$tmp/owners.note"
		else
			echo "# $k $g $v: vmiscan failed: $(cat "$tmp/err")"
		fi
		return 0
	}
	echo "$k $g $v $* | $r" >>"$res"
}

for kt in $KERNELS; do
	ktag=${kt%%:*} pin=
	[ "$kt" != "$ktag" ] && pin=${kt#*:}
	case $pin in *[!a-z0-9.+-]*) echo "# $kt: bad package name '$pin'"; continue ;; esac
	if [ -n "$pin" ]; then
		gout=$top/build/guest-$ktag-${pin#linux-image-}
		GUEST_OUT=$gout GUEST_KPKG=$pin "$G/build.sh" --suite "$(suite_of "$ktag")" \
			>"$tmp/build.log" 2>&1
	elif [ "$ktag" = 6.1 ]; then
		gout=${GUEST_OUT:-$top/build/guest}
		"$G/build.sh" >"$tmp/build.log" 2>&1
	else
		gout=$top/build/guest-$ktag
		[ "$ktag" = 6.12 ] && gout=$top/build/guest-6.12-trixie # as tests/vmi/guest.t
		GUEST_OUT=$gout "$G/build.sh" --suite "$(suite_of "$ktag")" \
			$([ "$ktag" = newest ] && echo --latest) >"$tmp/build.log" 2>&1
	fi || { echo "# $kt: guest/build.sh failed: $(tail -1 "$tmp/build.log")"; continue; }
	# shellcheck source=/dev/null
	. "$gout/kernel.env"
	# a pinned kernel is labelled by its version (e.g. 5.10.223)
	lab=$ktag
	[ -n "$pin" ] && lab=${KPKGVER%-*}
	echo "# $lab: $KPKG $KPKGVER"
	idle=bench-vmi-idle-$lab-$$ busy=bench-vmi-busy-$lab-$$
	export GUEST_OUT=$gout
	boot "$idle" idle
	boot "$busy" sockets --count "$N" --append cotrack.truth=0
	ready "$idle" && ready "$busy" || { stop "$idle"; stop "$busy"; unset GUEST_OUT; continue; }
	unset GUEST_OUT
	vs=$variants
	[ "$OWNERS" = 1 ] && vs="$vs new+owners"
	for round in $(seq "$ROUNDS"); do
		for v in $vs; do
			ow=()
			[ "$v" = new+owners ] && ow=(--owners)
			one "$lab" idle "$v" "/dev/shm/$idle" "${ow[@]}" -b "${STEP_BYTES%% *}"
			for b in $STEP_BYTES; do
				one "$lab" busy "$v" "/dev/shm/$busy" "${ow[@]}" -b "$b"
			done
		done
	done
	for g in idle busy; do
		for v in $vs; do
			for b in $STEP_BYTES; do
				sel=$(grep "^$lab $g $v .*-b $b |" "$res") || continue
				x() { sed 's/.*| //' <<<"$sel" | while read -r l; do field "$1" "$l"; done | med; }
				printf '%-7s %-5s %-7s %7s %7s %9s %7s%% | %7s %6s %9s %7s%% %9s\n' "$lab" "$g" \
					"$v" "$(x sockets)" "$(x buckets)" "$(x cpu_us)" "$(x core_pct)" \
					$((b / 1024)) "$(x steps)" "$(x step_cpu_mean_us)" \
					"$(x step_core_pct)" "$(x scan_ms)"
				[ "$v" = new+owners ] && printf '#   %s %s owners: procs=%s files=%s owned=%s volumes=%s owner_bytes=%s owner_errors=%s\n' \
					"$lab" "$g" "$(x procs)" "$(x files)" "$(x owned)" "$(x volumes)" \
					"$(x owner_bytes)" "$(x owner_errors)"
			done
		done
	done
	# drgn: on an ELF core of the busy guest (the global table)
	if [ "$DRGN" = 1 ]; then
		PY=/usr/bin/python3 # Debian's python3-drgn, not a pyenv python
		if ! $PY -c 'import drgn' 2>/dev/null; then
			echo "# $lab drgn: not run (python3-drgn missing: scripts/setup)"
		elif ! vml=$(dbg_vmlinux "$ktag" "$KPKG" "$KVER") || [ -z "$vml" ]; then
			echo "# $lab drgn: not run (could not fetch $KPKG-dbg: $(tail -1 "$tmp/dbg-$ktag.log" 2>/dev/null))"
		else
			core=$tmp/busy.elf
			# the answer compared: cotrack's snapshot of the same core
			if $PY "$top/bench/vmi_mkcore.py" "/dev/shm/$busy" "$core" &&
				"$O/cotrack" vmi snapshot --mem "$core" --format json \
					>"$tmp/snap.json" 2>"$tmp/drgn.err" &&
				d=$($PY "$top/bench/vmi_drgn.py" "$core" "$vml" "$tmp/snap.json" 2>>"$tmp/drgn.err") &&
				c=$("$SCAN" -n 50 -i "$INTERVAL_MS" "$core"); then
				printf '# %s drgn: %s sockets, %s ms per walk (+ %s ms loading debug info); cotrack on the same core: %s sockets (global table: %s), %s us per scan (CPU); drgn / cotrack = %.0fx\n' \
					"$lab" "$(field sockets "$d")" "$(field walk_ms "$d")" "$(field load_ms "$d")" \
					"$(field sockets "$c")" "$(field tables "$c") ehash table(s)" "$(field cpu_us "$c")" \
					"$(awk -v d="$(field walk_ms "$d")" -v c="$(field cpu_us "$c")" 'BEGIN { print d * 1000 / c }')"
				printf '# %s drgn answer: %s (tuple multiset against cotrack vmi snapshot: %s of %s sockets only drgn found, %s of %s only cotrack)\n' \
					"$lab" "$([ "$(field same "$d")" = 1 ] && echo same || echo DIFFERENT)" \
					"$(field only_drgn "$d")" "$(field sockets "$d")" \
					"$(field only_cotrack "$d")" "$(field cotrack_sockets "$d")"
				printf '# %s drgn owners: %s ms per walk of the tasks'"'"' file tables; %s owned sockets (cotrack: %s); %s (%s only drgn, %s only cotrack)\n' \
					"$lab" "$(field owner_ms "$d")" "$(field owned_drgn "$d")" "$(field owned_cotrack "$d")" \
					"$(case $(field owners_same "$d") in 1) echo same ;; 0) echo DIFFERENT ;; *) echo "failed: $(grep '^owner walk' "$tmp/drgn.err")" ;; esac)" \
					"$(field owners_only_drgn "$d")" "$(field owners_only_cotrack "$d")"
				sed -n 's/^only /#   only /p' "$tmp/drgn.err"
			else
				echo "# $lab drgn: failed: $(tail -2 "$tmp/drgn.err" 2>/dev/null)"
			fi
			rm -f "$core"
		fi
	fi
	stop "$idle"
	stop "$busy"
done
[ -f "$tmp/owners.note" ] && echo "# $(cat "$tmp/owners.note")"
echo "# scan_cpu_us: median thread CPU of one whole scan; cpu@: that over the interval; step_*: the scan in steps of step_KiB (one per interval), all_in_ms: how long until such a scan has seen every socket"
