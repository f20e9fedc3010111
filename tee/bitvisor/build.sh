#!/usr/bin/env bash
# Builds BitVisor with cotrack's netfunc module (make bitvisor).
#
#   tee/bitvisor/build.sh [OUT]        (default build/bitvisor)
#
# Unpacks the shared upstream tarball into OUT/src (fresh when the
# tarball, a patch or the configuration changed), applies our patches
# (tee/bitvisor/patches/*.patch, in order), configures (.config and a
# defconfig whose PCI driver option puts the cotrack module between the
# e1000e and the guest's virtio-net), copies the module and the core
# files it links into net/cotrack/, and builds bitvisor.elf and the UEFI
# loader.  Results: OUT/bitvisor.elf, OUT/loadvmm.efi.
# Environment: BITVISOR_TARBALL (default ../shared/third_party/bitvisor/
# bitvisor-66559d6.tar.gz), JOBS (default 2), COT_BV_NET (the netfunc
# option, default cotrack; cotrack:bv0:notrack forwards without tracking).
# Shipping records to cotrack-logd (tee/bitvisor/ship.c, docs/bitvisor.md):
#   COT_BV_PKI=DIR      a `cotrack pki` directory: DIR/ca.pem and the
#                       tracker's DIR/NAME.pem, DIR/NAME.key are compiled
#                       in; without it the module only logs to serial
#   COT_BV_TRACKER=NAME the tracker certificate's name (default bv0)
#   COT_BV_LOGD=IP:PORT[,IP:PORT...]  logd's address (default
#                       10.0.0.1:6514), or a list of up to 8 log servers
#                       in order of preference (IPv4; each one's
#                       certificate must name its address)
#   COT_BV_IP=IP/LEN    BitVisor's own address on the physical side
#                       (default 10.0.0.3/24), COT_BV_GATEWAY (default
#                       the first logd address)
#   COT_BV_QUEUE=N      records the queue holds (default 4096)
#   COT_BV_ACK_TIMEOUT_MS=MS  batches unacknowledged this long: on to the
#                       next log server (default 30000, 1000..3600000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
OUT=${1:-$top/build/bitvisor}
TARBALL=${BITVISOR_TARBALL:-$top/../shared/third_party/bitvisor/bitvisor-66559d6.tar.gz}
JOBS=${JOBS:-2}
NET=${COT_BV_NET:-cotrack}
case $NET in cotrack | cotrack:*) ;; *) echo "bitvisor/build: COT_BV_NET must be cotrack[:VM[:notrack]]" >&2; exit 1 ;; esac
case $NET in *[!A-Za-z0-9:_-]*) echo "bitvisor/build: bad COT_BV_NET $NET" >&2; exit 1 ;; esac
log() { echo "bitvisor/build: $*" >&2; }
[ -f "$TARBALL" ] || { log "no tarball $TARBALL"; exit 1; }
for t in clang ld.lld python3; do
	command -v "$t" >/dev/null || { log "$t missing: run scripts/setup"; exit 1; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
src=$OUT/src/bitvisor

# The unpacked tree is rebuilt from scratch when the tarball, a patch,
# this script or the configuration changes; otherwise only the module is
# copied again and make rebuilds what changed.
stamp=$( (sha256sum "$TARBALL" | cut -d' ' -f1; cat "$here"/patches/*.patch "$0") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$OUT/src/.stamp" 2>/dev/null)" != "$stamp" ]; then
	log "unpacking $(basename "$TARBALL")"
	rm -rf "$OUT/src"
	mkdir -p "$OUT/src"
	tar xzf "$TARBALL" -C "$OUT/src"
	for p in "$here"/patches/*.patch; do
		log "patch $(basename "$p")"
		patch -s -p0 -d "$src" <"$p"
	done
	# .config: the serial log (on COM3, patch 0001), one CPU, no sleep
	# states, and none of the subsystems we do not use
	(cd "$src" && make -s -f Makefile.config default-config >/dev/null)
	sed -i -E \
		-e 's/^# CONFIG_(TTY_SERIAL|THREAD_1CPU|ACPI_IGNORE_ERROR|DISABLE_SLEEP|TLS) is not set$/CONFIG_\1=y/' \
		-e 's/^CONFIG_(IDMAN|VPN|IEEE1394_CONCEALER|LOG_TO_IEEE1394)=y$/# CONFIG_\1 is not set/' \
		"$src/.config"
	(cd "$src" && make -s -f Makefile.config default-config >/dev/null)
	for o in TTY_SERIAL THREAD_1CPU ACPI_IGNORE_ERROR DISABLE_SLEEP IP TLS; do
		grep -q "^CONFIG_$o=y" "$src/.config" || { log "CONFIG_$o not set"; exit 1; }
	done
	echo "$stamp" >"$OUT/src/.stamp"
fi
# defconfig (compiled in by core/config.c): pro1000 on the e1000e, a
# virtio-net for the guest, our module between them (net=$COT_BV_NET); BitVisor's own IP
# address (lwIP, for the shipper).  Made every time (cheap; cp_if keeps
# make's timestamps when nothing changed).
cp_if() { cmp -s "$1" "$2" || cp "$1" "$2"; }
bvip=${COT_BV_IP:-10.0.0.3/24}
logd=${COT_BV_LOGD:-10.0.0.1:6514}
ipv4() { python3 -c 'import ipaddress,sys; print(", ".join(str(b) for b in ipaddress.IPv4Address(sys.argv[1]).packed))' "$1"; }
mask=$(python3 -c 'import ipaddress,sys; n=ipaddress.IPv4Network("0.0.0.0/"+sys.argv[1]); print(", ".join(str(b) for b in n.netmask.packed))' "${bvip#*/}") ||
	{ log "bad COT_BV_IP $bvip"; exit 1; }
ipb=$(ipv4 "${bvip%/*}") || { log "bad COT_BV_IP $bvip"; exit 1; }
first=${logd%%,*}
gwb=$(ipv4 "${COT_BV_GATEWAY:-${first%:*}}") || { log "bad COT_BV_GATEWAY (default: the address of COT_BV_LOGD's first item)"; exit 1; }
python3 - "$src/defconfig.tmpl" "$src/defconfig.new" "$ipb" "$mask" "$gwb" "$NET" <<'PY' || { log "defconfig edit failed"; exit 1; }
import sys
src, dst, ip, mask, gw, net = sys.argv[1:]
t = open(src).read()
t = t.replace('\t\t\t.pci = "",', '\t\t\t.pci = "driver=pro1000, net=%s, virtio=1",' % net, 1)
old = ('\t.ip = {\n\t\t.use_dhcp = 0,\n\t\t.ipaddr = { 0, 0, 0, 0 },\n'
       '\t\t.netmask = { 0, 0, 0, 0 },\n\t\t.gateway = { 0, 0, 0, 0 },\n')
new = ('\t.ip = {\n\t\t.use_dhcp = 0,\n\t\t.ipaddr = { %s },\n'
       '\t\t.netmask = { %s },\n\t\t.gateway = { %s },\n' % (ip, mask, gw))
if 'net=%s,' % net not in t or old not in t:
    sys.exit(1)
open(dst, 'w').write(t.replace(old, new, 1))
PY
cp_if "$src/defconfig.new" "$src/defconfig"

# the module and the core files it links (copied, so that BitVisor's
# make sees ordinary files in its tree; cmp keeps make's timestamps)
mod=$src/net/cotrack
mkdir -p "$mod/include/cotrack"
cp_if "$here/Makefile.bv" "$mod/Makefile"
for f in "$here"/{cotrack,tracker,ship}.c "$here"/{tracker,ship}.h \
	"$top"/core/{pkt,flow,merge,dns,addr,rec,sched,chain,sha256,ship_proto,shipq,failover}.c \
	"$top"/core/hash.h \
	"$top"/core/vmi/internal.h; do
	cp_if "$f" "$mod/$(basename "$f")"
done
# core/vmi/X.c as vmi_X.c: one flat directory, no name clashes
for f in "$top"/core/vmi/*.c; do
	cp_if "$f" "$mod/vmi_$(basename "$f")"
done
for f in "$top"/include/cotrack/*.h; do
	cp_if "$f" "$mod/include/cotrack/$(basename "$f")"
done

# ship_conf.h: the log servers and the tracker's identity, compiled in
python3 - "$mod/ship_conf.h.new" "${COT_BV_PKI:-}" "${COT_BV_TRACKER:-bv0}" \
	"$logd" "${COT_BV_QUEUE:-4096}" "${COT_BV_ACK_TIMEOUT_MS:-30000}" <<'PY' || { log "ship_conf.h failed"; exit 1; }
import ipaddress, os, sys
out, pki, name, logd, queue, ackto = sys.argv[1:]
def cstr(path):
    lines = open(path).read().splitlines()
    return " \\\n\t".join('"%s\\n"' % l for l in lines)
def num(s, lo, hi, what):
    if not s.isdigit() or not lo <= int(s) <= hi:
        sys.exit("%s: '%s' is not a number from %d to %d" % (what, s, lo, hi))
    return int(s)
items = logd.split(",")
if len(items) > 8:
    sys.exit("COT_BV_LOGD: %d log servers, at most 8" % len(items))
servers = []
for it in items:
    host, sep, port = it.rpartition(":")
    if not it or not sep:
        sys.exit("COT_BV_LOGD: '%s' is not IP:PORT (empty item?)" % it)
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        sys.exit("COT_BV_LOGD: '%s' is not an IPv4 address" % host)
    servers.append((ip, num(port, 1, 65535, "COT_BV_LOGD port")))
queue = num(queue, 2, 65536, "COT_BV_QUEUE")
ackto = num(ackto, 1000, 3600000, "COT_BV_ACK_TIMEOUT_MS")
o = ["/* made by tee/bitvisor/build.sh: do not edit */"]
o.append("#define COT_SHIP_QUEUE %d" % queue)
o.append("#define COT_SHIP_ACK_TIMEOUT_MS %du" % ackto)
o.append("#define COT_SHIP_SERVERS { \\\n" + ", \\\n".join(
    '\t{ { %s }, %d, "%s:%d" }' % (", ".join(str(b) for b in ip.packed), port, ip, port)
    for ip, port in servers) + " }")
o.append('#define COT_SHIP_LOGD_STR "%s"' % ",".join("%s:%d" % s for s in servers))
if pki:
    for f in ("ca.pem", name + ".pem", name + ".key"):
        if not os.path.isfile(os.path.join(pki, f)):
            sys.exit("COT_BV_PKI: no %s in %s" % (f, pki))
    o.append("#define COT_SHIP_ENABLED 1")
    o.append("#define COT_SHIP_CA_PEM \\\n\t" + cstr(os.path.join(pki, "ca.pem")))
    o.append("#define COT_SHIP_CERT_PEM \\\n\t" + cstr(os.path.join(pki, name + ".pem")))
    o.append("#define COT_SHIP_KEY_PEM \\\n\t" + cstr(os.path.join(pki, name + ".key")))
else:
    o.append("#define COT_SHIP_ENABLED 0")
    for m in ("CA", "CERT", "KEY"):
        o.append('#define COT_SHIP_%s_PEM ""' % m)
open(out, "w").write("\n".join(o) + "\n")
PY
cp_if "$mod/ship_conf.h.new" "$mod/ship_conf.h"
rm -f "$mod/ship_conf.h.new"
[ -n "${COT_BV_PKI:-}" ] && log "shipping to $logd as ${COT_BV_TRACKER:-bv0}, BitVisor at $bvip"

log "make bitvisor.elf"
(cd "$src" && make -s -j"$JOBS" >"$OUT/make.log" 2>&1) || { tail -30 "$OUT/make.log" >&2; exit 1; }
log "make loadvmm.efi"
(cd "$src/boot/uefi-loader" && make -s >"$OUT/loader.log" 2>&1) || { tail -30 "$OUT/loader.log" >&2; exit 1; }
cp_if "$src/bitvisor.elf" "$OUT/bitvisor.elf"
cp_if "$src/boot/uefi-loader/loadvmm.efi" "$OUT/loadvmm.efi"
syms=$(nm "$src/bitvisor.elf")
case $syms in *" T cot_merge_pkt"*) ;; *) log "module not linked in"; exit 1 ;; esac
log "ok: $OUT/bitvisor.elf $OUT/loadvmm.efi"
