#!/usr/bin/env bash
# cotrack vmi on a synthetic guest image (written by test_vmi: 5-level
# page tables, KASLR, kallsyms, a BTF whose layouts no real kernel has,
# three namespaces, every socket kind): snapshot as a raw file, through a
# region map and as an ELF core; watch; info; and clear errors for files
# that are not guest memory.
source "$TOP/tests/lib.sh"
img=$T_TMP/syn.raw
if ! "$O/tests/test_vmi" --write-image "$img"; then
	not_ok "test_vmi --write-image"
	t_end
fi

cat >"$T_TMP/want" <<'W'
4026531840 ipv4 LISTEN 0.0.0.0 80 0.0.0.0 0
4026531840 ipv4 FIN_WAIT2 10.0.0.1 80 10.0.0.2 39998
4026531840 ipv4 TIME_WAIT 10.0.0.1 80 10.0.0.2 39999
4026531840 ipv4 ESTABLISHED 10.0.0.1 80 10.0.0.2 40000
4026531840 ipv4 SYN_RECV 10.0.0.1 80 10.0.0.2 41000
4026531840 ipv4 ESTABLISHED 127.0.0.1 5000 127.0.0.1 5001
4026531840 ipv6 LISTEN :: 80 :: 0
4026531840 ipv6 ESTABLISHED ::1 443 ::1 50000
4026531840 ipv6 CLOSE_WAIT ::ffff:192.168.1.9 443 ::ffff:192.168.1.9 50001
4026531840 ipv6 SYN_SENT 2001:db8::7 65535 2001:db8::7 1
4026532200 ipv4 LISTEN 127.0.0.1 9001 0.0.0.0 0
4026532200 ipv4 ESTABLISHED 127.0.0.1 9001 127.0.0.1 33000
4026532200 ipv6 TIME_WAIT ::1 9001 ::1 33001
4026532300 ipv4 ESTABLISHED 127.0.0.1 5000 127.0.0.1 5001
W

snap() { # OUT ARGS...
	local out=$1
	shift
	"$COTRACK" vmi snapshot "$@" >"$out.raw" 2>"$out.err" &&
		awk 'NR > 1 { print $1, $2, $3, $4, $5, $6, $7 }' "$out.raw" >"$out"
}

check "snapshot of a raw image" snap "$T_TMP/raw" --mem "$img"
check "raw: exactly the sockets built" diff -u "$T_TMP/want" "$T_TMP/raw"
# zero configuration on the kallsyms of Linux < 6.0 (found in the
# image) and >= 7.0 (place-relative)
check "kallsyms not in VMCOREINFO: same sockets" snap "$T_TMP/img" --mem "$img.img"
check "kallsyms not in VMCOREINFO: exactly the sockets built" diff -u "$T_TMP/want" "$T_TMP/img"
"$COTRACK" vmi info --mem "$img.img" >"$T_TMP/img.info" 2>&1
check "info: tables found in the kernel image" \
	grep -q "^symbols: .*base-relative, tables found in the kernel image" "$T_TMP/img.info"
check "place-relative kallsyms: same sockets" snap "$T_TMP/prel" --mem "$img.prel"
check "place-relative kallsyms: exactly the sockets built" diff -u "$T_TMP/want" "$T_TMP/prel"
"$COTRACK" vmi info --mem "$img.prel" >"$T_TMP/prel.info" 2>&1
check "info: place-relative, from VMCOREINFO" \
	grep -q "^symbols: .*place-relative, tables from VMCOREINFO" "$T_TMP/prel.info"

"$COTRACK" vmi snapshot --mem "$img" --format json >"$T_TMP/json"
check "json: 14 objects with the contract fields" [ "$(jq -r \
	'[.netns, .family, .state, .local, .lport, .remote, .rport] | map(tostring) | join(" ")' \
	"$T_TMP/json" | diff - "$T_TMP/want" && echo same)" = same ]

# region map: the upper 8 MiB of RAM placed after 1 MiB of junk
{ head -c 8M "$img"; head -c 1M /dev/urandom; tail -c +$((8 * 1048576 + 1)) "$img"; } >"$T_TMP/split"
check "region map" snap "$T_TMP/map" --mem "$T_TMP/split" --map 0:0:8M,0x800000:0x900000:8M
check "region map: same sockets" diff -u "$T_TMP/want" "$T_TMP/map"
check "region map outside the file is refused" \
	bash -c "! '$COTRACK' vmi snapshot --mem '$T_TMP/split' --map 0:0:64M 2>/dev/null"

# ELF core (as dump-guest-memory writes: ET_CORE, PT_LOAD by paddr), RAM
# in two segments stored out of order
python3 - "$img" "$T_TMP/core" <<'PY'
import struct, sys
ram = open(sys.argv[1], 'rb').read()
half = len(ram) // 2
segs = [(half, ram[half:]), (0, ram[:half])]
phoff, phnum = 64, len(segs) + 1
data_off = phoff + 56 * phnum
eh = b'\x7fELF' + bytes([2, 1, 1]) + bytes(9)
eh += struct.pack('<HHIQQQIHHHHHH', 4, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 0, 0, 0)
ph = struct.pack('<IIQQQQQQ', 4, 0, data_off, 0, 0, 0, 0, 4)  # PT_NOTE
off = data_off
body = b''
for paddr, d in segs:
    ph += struct.pack('<IIQQQQQQ', 1, 6, off, 0xffff880000000000 + paddr, paddr, len(d), len(d), 4096)
    off += len(d)
    body += d
open(sys.argv[2], 'wb').write(eh + ph + body)
PY
check "ELF core" snap "$T_TMP/elf" --mem "$T_TMP/core"
check "ELF core: same sockets" diff -u "$T_TMP/want" "$T_TMP/elf"

"$COTRACK" vmi info --mem "$img" >"$T_TMP/info" 2>&1
check "info: 5-level paging" grep -q '^paging: *5-level' "$T_TMP/info"
check "info: release and KASLR offset" grep -q '^kaslr offset: *0x1e400000$' "$T_TMP/info"
check "info: three namespaces" grep -q '^namespaces: *3:' "$T_TMP/info"

"$COTRACK" vmi watch --mem "$img" --interval 1ms --count 5 >"$T_TMP/watch"
check "watch --count 5: every socket opened once, nothing else" \
	[ "$(grep -c '^opened ' "$T_TMP/watch")" = 14 -a "$(wc -l <"$T_TMP/watch")" = 15 ]
t0=$(date +%s%N)
"$COTRACK" vmi watch --mem "$img" --interval 10ms --duration 300ms >/dev/null
t1=$(date +%s%N)
check "watch --duration 300ms stops in time" [ $(((t1 - t0) / 1000000)) -lt 3000 ]

# a kernel without kallsyms in VMCOREINFO (Linux < 6.0): System.map and
# a BTF file give what memory does not
"$COTRACK" vmi snapshot --mem "$img.old" >/dev/null 2>"$T_TMP/old.err"
rc=$?
check "no kallsyms: exit 1, asks for --system-map" \
	eval '[ $rc = 1 ] && grep -q -- "--system-map" "$T_TMP/old.err"'
"$COTRACK" vmi snapshot --mem "$img.old" --system-map "$img.map" >/dev/null 2>"$T_TMP/old2.err"
rc=$?
check "--system-map without BTF symbols: exit 1, asks for --btf" \
	eval '[ $rc = 1 ] && grep -q -- "--btf" "$T_TMP/old2.err"'
check "--system-map --btf" snap "$T_TMP/old" --mem "$img.old" --system-map "$img.map" --btf "$img.btf"
check "--system-map --btf: same sockets" diff -u "$T_TMP/want" "$T_TMP/old"
"$COTRACK" vmi info --mem "$img.old" --system-map "$img.map" --btf "$img.btf" >"$T_TMP/old.info" 2>&1
check "info says where symbols came from" grep -q "^symbols: *System.map" "$T_TMP/old.info"

# errors
for sub in snapshot watch info; do
	check "vmi $sub --help" bash -c "'$COTRACK' vmi $sub --help | grep -q 'usage: cotrack vmi $sub'"
done
"$COTRACK" vmi snapshot >/dev/null 2>&1
check "no --mem: usage error (2)" [ $? = 2 ]
"$COTRACK" vmi frobnicate --mem "$img" >/dev/null 2>&1
check "unknown subcommand: usage error (2)" [ $? = 2 ]
head -c 4M /dev/urandom >"$T_TMP/noise"
"$COTRACK" vmi snapshot --mem "$T_TMP/noise" >/dev/null 2>"$T_TMP/noise.err"
rc=$?
check "random bytes: exit 1, says it is not guest memory" \
	eval '[ $rc = 1 ] && grep -q "not the memory of a Linux guest" "$T_TMP/noise.err"'
"$COTRACK" vmi snapshot --mem "$T_TMP/nonexistent" >/dev/null 2>"$T_TMP/ne.err"
rc=$?
check "missing file: exit 1 with the reason" \
	eval '[ $rc = 1 ] && grep -q "No such file" "$T_TMP/ne.err"'
head -c 5M "$img" >"$T_TMP/trunc"
"$COTRACK" vmi snapshot --mem "$T_TMP/trunc" >/dev/null 2>"$T_TMP/trunc.err"
check "image cut short: clean error (exit 1)" [ $? = 1 ]
printf '\177ELF\2\1\1' | head -c 64 >"$T_TMP/badelf"
head -c 100 /dev/zero >>"$T_TMP/badelf"
"$COTRACK" vmi snapshot --mem "$T_TMP/badelf" >/dev/null 2>"$T_TMP/badelf.err"
rc=$?
check "ELF that is not a core: exit 1 with the reason" \
	eval '[ $rc = 1 ] && grep -q "core" "$T_TMP/badelf.err"'
t_end
