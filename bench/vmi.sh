#!/usr/bin/env bash
# Benchmark of `cotrack vmi` (issue 3): the time of one full snapshot (all
# buckets of every table, all sockets) of a live guest holding about
# 10,000 TCP sockets and of an idle guest, with the cost per bucket and
# per socket, against the targets (10,000 sockets < 1 ms, idle < 50 us,
# so that a scan every 10 ms costs < 1% of a core).  Optionally drgn
# (python3-drgn with the kernel's -dbg package) listing the same sockets
# from an ELF dump of the same guest, as a ratio.
#
#   bench/vmi.sh [BUILD_DIR [SOCKETS]]   (default $O, 10000; bench/run.sh)
#
# Each figure is the median of --repeat snapshots of the paused guest's
# RAM file (/dev/shm), measured in-process by `cotrack vmi snapshot
# --repeat`.  Needs build/guest (guest/build.sh).
set -u
O=${1:-${O:?usage: bench/vmi.sh BUILD_DIR [SOCKETS] (or O=BUILD_DIR)}}
N=${2:-10000}
top=$(cd "$(dirname "$0")/.." && pwd)
G=$top/guest
COTRACK=$(cd "$O" && pwd)/cotrack
tmp=$(mktemp -d /tmp/cotrack-bench-vmi.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
"$G/build.sh" >"$tmp/build.log" 2>&1 || { echo "bench/vmi: guest/build.sh failed"; tail "$tmp/build.log"; exit 1; }
# shellcheck source=/dev/null
. "${GUEST_OUT:-$top/build/guest}/kernel.env"

boot() { # NAME ROLE ARGS...
	local name=$1 role=$2
	shift 2
	"$G/run.sh" --role "$role" --cpu max --mem 512M --name "$name" \
		--dir "$tmp/$name" --timeout 900 --ready-timeout 600 "$@" \
		>"$tmp/$name.out" 2>&1 &
	pids+=($!)
	"$G/ctl.sh" "$tmp/$name" wait-ready 600 || {
		echo "bench/vmi: guest $name not ready"; tail "$tmp/$name.out"; exit 1; }
	"$G/ctl.sh" "$tmp/$name" pause
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

printf '%-26s %8s %8s %10s %10s %10s %12s %12s %8s\n' guest sockets buckets \
	median_us min_us max_us ns/bucket ns/socket "cpu@10ms"
run() { # LABEL NAME REPEAT [SNAPSHOT-ARGS...]: the socket walk alone
	local r label=$1 name=$2 rep=$3
	shift 3
	[ $# -gt 0 ] || set -- --no-owners
	r=$("$COTRACK" vmi snapshot --mem "/dev/shm/$name" --repeat "$rep" "$@") || {
		echo "bench/vmi: snapshot of $2 failed"; exit 1; }
	printf '%-26s %8s %8s %10s %10s %10s %12s %12s %7.3f%%\n' "$label" \
		"$(field sockets "$r")" "$(field buckets "$r")" \
		"$(field median_us "$r")" "$(field min_us "$r")" "$(field max_us "$r")" \
		"$(field ns_per_bucket "$r")" "$(field ns_per_socket "$r")" \
		"$(awk -v m="$(field median_us "$r")" 'BEGIN { print m / 10000 * 100 }')"
	echo "$r" >"$tmp/$name.res$*"
	cp "$tmp/$name.res$*" "$tmp/$name.res"
}

# The same with owners and live volumes (cot_vmi_owners() after each
# snapshot): time and guest bytes read, with and without, as ratios.
owners_cost() { # LABEL NAME REPEAT
	local a b
	run "$1" "$2" "$3" --no-owners >/dev/null
	a=$(cat "$tmp/$2.res--no-owners")
	run "$1 +owners" "$2" "$3" --stats
	b=$(cat "$tmp/$2.res--stats")
	echo "  $1: owners+volumes add $(field procs "$b") processes, $(field fds "$b") fds," \
		"$(field owned "$b") owned sockets: bytes $(field bytes_read "$a") + $(field owner_bytes_read "$b")" \
		"(x$(awk -v a="$(field bytes_read "$a")" -v b="$(field owner_bytes_read "$b")" 'BEGIN { printf "%.2f", (a + b) / a }'))," \
		"walks $(field walks "$a") + $(field owner_walks "$b"), time x$(awk -v a="$(field median_us "$a")" -v b="$(field median_us "$b")" 'BEGIN { printf "%.2f", b / a }')" \
		"(median $(field median_us "$a") -> $(field median_us "$b") us), errors $(field owner_errors "$b")"
}

boot bench-vmi-idle-$$ idle
run "idle (-cpu max)" bench-vmi-idle-$$ 2000
owners_cost "idle (-cpu max)" bench-vmi-idle-$$ 2000
cp "$tmp/bench-vmi-idle-$$.res--no-owners" "$tmp/bench-vmi-idle-$$.res"
boot bench-vmi-busy-$$ sockets --count "$N" --append cotrack.truth=0
run "sockets --count $N" bench-vmi-busy-$$ 500
owners_cost "sockets --count $N" bench-vmi-busy-$$ 500
cp "$tmp/bench-vmi-busy-$$.res--no-owners" "$tmp/bench-vmi-busy-$$.res"

idle=$(field median_us "$(cat "$tmp/bench-vmi-idle-$$.res")")
busy=$(field median_us "$(cat "$tmp/bench-vmi-busy-$$.res")")
socks=$(field sockets "$(cat "$tmp/bench-vmi-busy-$$.res")")
echo "targets: idle $idle us (< 50: $(awk -v x="$idle" 'BEGIN{print (x < 50) ? "met" : "MISSED"}')), $socks sockets $busy us (< 1000: $(awk -v x="$busy" 'BEGIN{print (x < 1000) ? "met" : "MISSED"}'))"

# drgn on an ELF core of the same paused guest.  drgn cannot open QEMU's
# dump-guest-memory output of our guests (it needs the VMCOREINFO note
# that only `-device vmcoreinfo` plus the guest's qemu_fw_cfg module
# provide), so bench/vmi_mkcore.py writes a kdump-style core of the RAM
# file with that note; cotrack reads the same core.  drgn's debug info
# comes from Debian's linux-image-KVER-dbg package (283 MB), fetched with
# apt-get download into build/vmi-dbg unless VMLINUX_DBG names a vmlinux.
PY=/usr/bin/python3 # Debian's python3-drgn (not a pyenv python)
dbgdir=$top/build/vmi-dbg
vmlinux=${VMLINUX_DBG:-$dbgdir/usr/lib/debug/boot/vmlinux-$KVER}
if ! $PY -c 'import drgn' 2>/dev/null; then
	echo "drgn: not run (python3-drgn missing: scripts/setup)"
	exit 0
fi
if [ ! -f "$vmlinux" ]; then
	mkdir -p "$dbgdir"
	(cd "$dbgdir" && apt-get download "$KPKG-dbg" >/dev/null 2>&1 &&
		dpkg-deb --fsys-tarfile "$KPKG"-dbg_*.deb |
		tar -x --wildcards './usr/lib/debug/boot/vmlinux-*' &&
		rm -f "$KPKG"-dbg_*.deb) ||
		{ echo "drgn: not run (could not fetch $KPKG-dbg)"; exit 0; }
fi
core=$tmp/busy.elf
$PY "$top/bench/vmi_mkcore.py" "/dev/shm/bench-vmi-busy-$$" "$core" || exit 1
r=$("$COTRACK" vmi snapshot --mem "$core" --no-owners --repeat 100) || exit 1
c_us=$(field median_us "$r")
t0=$(date +%s%N)
"$COTRACK" vmi snapshot --mem "$core" --no-owners >/dev/null || exit 1
t1=$(date +%s%N)
d=$($PY "$top/bench/vmi_drgn.py" "$core" "$vmlinux") || { echo "drgn: failed"; exit 1; }
echo "drgn on the same ELF core: $(field sockets "$d") sockets, walk $(field walk_ms "$d") ms (+ $(field load_ms "$d") ms loading debug info)"
echo "cotrack on the same ELF core: $(field sockets "$r") sockets, snapshot $c_us us (whole run incl. discovery and BTF: $(((t1 - t0) / 1000000)) ms)"
awk -v d="$(field walk_ms "$d")" -v c="$c_us" 'BEGIN { printf "ratio: drgn walk / cotrack snapshot = %.0fx\n", d * 1000 / c }'
