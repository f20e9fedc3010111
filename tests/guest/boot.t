#!/usr/bin/env bash
# Boots the `sockets` test guest (Debian's cloud kernel, busybox initramfs,
# QEMU TCG, RAM in /dev/shm, KASLR on) with -cpu max (5-level paging) and
# -cpu qemu64 (4-level), and checks that it reaches READY and prints
# parseable ground truth holding every kind of socket the zoo makes.
# With -cpu max it also dumps the paused guest as an ELF core and checks
# that the core's RAM equals the /dev/shm file byte for byte (the
# "guest-physical address == file offset" contract of DESIGN.md).  The
# qemu64 guest runs with --vmcoreinfo and is dumped with paging, as drgn
# needs.
source "$TOP/tests/lib.sh"
G=$TOP/guest

if ! "$G/build.sh" >"$T_TMP/build.log" 2>&1; then
	not_ok "guest/build.sh"
	sed 's/^/# /' "$T_TMP/build.log" | tail -20
	t_end
fi
ok "guest/build.sh"

# has ERE...: the normalised truth holds a line matching each ERE
has() {
	local re
	for re; do grep -qE "$re" "$T_TMP/truth" || return 1; done
}

boot_one() { # CPU LA57 [run.sh options]
	local cpu=$1 la57=$2 name=cot-boot-$$-$1 dir rid t0 t1 secs inode2 inode1
	shift 2
	dir=$T_TMP/$name
	t0=$(date +%s%N)
	"$G/run.sh" --role sockets --cpu "$cpu" --name "$name" --dir "$dir" \
		--timeout 300 "$@" >"$T_TMP/$name.out" 2>&1 &
	rid=$!
	t_on_exit "kill $rid; wait $rid"
	if ! "$G/ctl.sh" "$dir" wait-ready 120; then
		not_ok "$cpu: guest reached READY"
		tr -d '\r' <"$dir/console.log" | tail -20 | sed 's/^/# /'
		sed 's/^/# /' "$T_TMP/$name.out"
		return
	fi
	t1=$(date +%s%N)
	secs=$(((t1 - t0) / 1000000))
	ok "$cpu: guest reached READY in $((secs / 1000)).$(printf %03d $((secs % 1000))) s"
	echo "# $cpu: $(tr -d '\r' <"$dir/console.log" | grep -m1 '^==COTRACK-BOOT')"
	check "$cpu: ready within 60 s" [ "$secs" -lt 60000 ]
	check "$cpu: la57=$la57 (paging level)" \
		grep -q "^==COTRACK-BOOT .* la57=$la57 " "$dir/console.log"
	check "$cpu: KASLR line printed" \
		grep -qE '^==COTRACK-KASLR text=0xffffffff[0-9a-f]{8} offset=0x[0-9a-f]+==' "$dir/console.log"
	echo "# $cpu: $(tr -d '\r' <"$dir/console.log" | grep -m1 '^==COTRACK-KASLR')"
	check "$cpu: RAM file /dev/shm/$name is 256 MiB" \
		[ "$(stat -c %s "/dev/shm/$name" 2>/dev/null)" = $((256 << 20)) ]

	if ! python3 "$G/truth.py" "$dir/console.log" >"$T_TMP/truth"; then
		not_ok "$cpu: truth parses"
		return
	fi
	ok "$cpu: truth parses ($(wc -l <"$T_TMP/truth") sockets)"
	mapfile -t ns < <(python3 "$G/truth.py" --netns "$dir/console.log" | awk '{print $2}')
	inode1=${ns[0]:-x} inode2=${ns[1]:-x}
	check "$cpu: two distinct namespaces announced" \
		[ "${#ns[@]}" = 2 -a "$inode1" != "$inode2" ]
	check "$cpu: IPv4 listener 0.0.0.0:7001" has "^$inode1 ipv4 LISTEN 0.0.0.0 7001 0.0.0.0 0$"
	check "$cpu: IPv6 listener [::1]:7003" has "^$inode1 ipv6 LISTEN ::1 7003 :: 0$"
	check "$cpu: dual-stack listener [::]:7004" has "^$inode1 ipv6 LISTEN :: 7004 :: 0$"
	check "$cpu: IPv4 established pair" \
		has "^$inode1 ipv4 ESTABLISHED 127.0.0.3 [0-9]+ 127.0.0.5 7001$" \
		"^$inode1 ipv4 ESTABLISHED 127.0.0.5 7001 127.0.0.3 [0-9]+$"
	check "$cpu: IPv6 established pair" \
		has "^$inode1 ipv6 ESTABLISHED ::1 [0-9]+ ::1 7003$" \
		"^$inode1 ipv6 ESTABLISHED ::1 7003 ::1 [0-9]+$"
	check "$cpu: v4-mapped accepted socket" \
		has "^$inode1 ipv6 ESTABLISHED ::ffff:127.0.0.1 7004 ::ffff:127.0.0.1 [0-9]+$"
	check "$cpu: v4-mapped connecting socket" \
		has "^$inode1 ipv6 ESTABLISHED ::ffff:127.0.0.1 [0-9]+ ::ffff:127.0.0.1 7001$"
	check "$cpu: IPv4 TIME_WAIT x2" [ "$(grep -cE "^$inode1 ipv4 TIME_WAIT " "$T_TMP/truth")" = 2 ]
	check "$cpu: IPv6 TIME_WAIT x2" [ "$(grep -cE "^$inode1 ipv6 TIME_WAIT " "$T_TMP/truth")" = 2 ]
	check "$cpu: FIN_WAIT2 and CLOSE_WAIT (v4, v6)" \
		has "^$inode1 ipv4 FIN_WAIT2 127.0.0.1 [0-9]+ 127.0.0.1 7002$" \
		"^$inode1 ipv4 CLOSE_WAIT 127.0.0.1 7002 " \
		"^$inode1 ipv6 FIN_WAIT2 ::1 [0-9]+ ::1 7003$" \
		"^$inode1 ipv6 CLOSE_WAIT ::1 7003 "
	check "$cpu: request socket (SYN_RECV) on 7006" has "^$inode1 ipv4 SYN_RECV 127.0.0.1 7006 "
	check "$cpu: SYN_SENT to the full 7007" has "^$inode1 ipv4 SYN_SENT 127.0.0.1 [0-9]+ 127.0.0.1 7007$"
	check "$cpu: second namespace: listener, established, TIME_WAIT" \
		has "^$inode2 ipv4 LISTEN 0.0.0.0 7005 " \
		"^$inode2 ipv4 ESTABLISHED 127.0.0.1 [0-9]+ 127.0.0.1 7005$" \
		"^$inode2 ipv6 ESTABLISHED ::1 7015 ::1 [0-9]+$" \
		"^$inode2 ipv4 TIME_WAIT "
	check "$cpu: nothing of namespace 2 leaks into namespace 1" \
		bash -c "! grep -qE '^$inode1 .* (7005|7015) ' '$T_TMP/truth'"
	check "$cpu: 38 sockets exactly" [ "$(wc -l <"$T_TMP/truth")" = 38 ]

	# truth on demand, after "tw 2" made 2 more IPv4 and 2 more IPv6 TIME_WAIT
	"$G/ctl.sh" "$dir" cmd "tw 2" >/dev/null
	"$G/ctl.sh" "$dir" truth >"$T_TMP/truth2"
	check "$cpu: truth on demand sees the new TIME_WAIT sockets" \
		[ "$(grep -c " TIME_WAIT " "$T_TMP/truth2")" = 9 ]

	if [ "$cpu" = max ]; then
		"$G/ctl.sh" "$dir" pause
		if "$G/ctl.sh" "$dir" dump "$T_TMP/core.elf"; then
			ok "$cpu: dump-guest-memory wrote an ELF core"
			# first PT_LOAD at guest-physical 0 covers all 256 MiB of RAM
			off=$(readelf -lW "$T_TMP/core.elf" |
				awk '$1 == "LOAD" && $4 == "0x0000000000000000" {print $2; exit}')
			check "$cpu: ELF RAM == /dev/shm file (paused guest)" \
				cmp -s -n $((256 << 20)) -i "$((off)):0" "$T_TMP/core.elf" "/dev/shm/$name"
		else
			not_ok "$cpu: dump-guest-memory wrote an ELF core"
		fi
		"$G/ctl.sh" "$dir" resume
		rm -f "$T_TMP/core.elf"
	else
		# booted with --vmcoreinfo: a paging dump carries the kernel's
		# VMCOREINFO note and virtual mappings (what drgn needs)
		if "$G/ctl.sh" "$dir" dump --paging "$T_TMP/core.elf"; then
			check "$cpu: --vmcoreinfo + dump --paging: VMCOREINFO note" \
				bash -c "readelf -nW '$T_TMP/core.elf' | grep -q '^ *VMCOREINFO '"
			check "$cpu: dump --paging has kernel virtual PT_LOADs" \
				bash -c "readelf -lW '$T_TMP/core.elf' | grep -q 'LOAD .* 0xffffffff'"
		else
			not_ok "$cpu: dump-guest-memory --paging"
		fi
		rm -f "$T_TMP/core.elf"
	fi

	"$G/ctl.sh" "$dir" stop 20
	wait "$rid"
	check "$cpu: run.sh exits 0 after stop" [ $? = 0 ]
	check "$cpu: /dev/shm/$name removed" [ ! -e "/dev/shm/$name" ]
	check "$cpu: snmp printed at stop" grep -q '^==COTRACK-SNMP-BEGIN seq=[0-9]* when=stop==' "$dir/console.log"
}

boot_one max 1
boot_one qemu64 0 --vmcoreinfo
t_end
