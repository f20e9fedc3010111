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
		-e 's/^# CONFIG_(TTY_SERIAL|THREAD_1CPU|ACPI_IGNORE_ERROR|DISABLE_SLEEP) is not set$/CONFIG_\1=y/' \
		-e 's/^CONFIG_(IDMAN|VPN|IEEE1394_CONCEALER|LOG_TO_IEEE1394)=y$/# CONFIG_\1 is not set/' \
		"$src/.config"
	(cd "$src" && make -s -f Makefile.config default-config >/dev/null)
	for o in TTY_SERIAL THREAD_1CPU ACPI_IGNORE_ERROR DISABLE_SLEEP; do
		grep -q "^CONFIG_$o=y" "$src/.config" || { log "CONFIG_$o not set"; exit 1; }
	done
	echo "$stamp" >"$OUT/src/.stamp"
fi
# defconfig (compiled in by core/config.c): pro1000 on the e1000e, a
# virtio-net for the guest, our module between them (net=$COT_BV_NET)
sed "s|^\\(\t\t\t\\.pci = \\)\"\",|\\1\"driver=pro1000, net=$NET, virtio=1\",|" \
	"$src/defconfig.tmpl" >"$src/defconfig.new"
grep -q "net=$NET," "$src/defconfig.new" || { log "defconfig edit failed"; exit 1; }
cmp -s "$src/defconfig.new" "$src/defconfig" || mv "$src/defconfig.new" "$src/defconfig"
rm -f "$src/defconfig.new"

# the module and the core files it links (copied, so that BitVisor's
# make sees ordinary files in its tree; cmp keeps make's timestamps)
mod=$src/net/cotrack
mkdir -p "$mod/include/cotrack"
cp_if() { cmp -s "$1" "$2" || cp "$1" "$2"; }
cp_if "$here/Makefile.bv" "$mod/Makefile"
for f in "$here"/cotrack.c "$here"/tracker.c "$here"/tracker.h \
	"$top"/core/{pkt,flow,merge,addr,rec,sched}.c "$top"/core/hash.h \
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

log "make bitvisor.elf"
(cd "$src" && make -s -j"$JOBS" >"$OUT/make.log" 2>&1) || { tail -30 "$OUT/make.log" >&2; exit 1; }
log "make loadvmm.efi"
(cd "$src/boot/uefi-loader" && make -s >"$OUT/loader.log" 2>&1) || { tail -30 "$OUT/loader.log" >&2; exit 1; }
cp_if "$src/bitvisor.elf" "$OUT/bitvisor.elf"
cp_if "$src/boot/uefi-loader/loadvmm.efi" "$OUT/loadvmm.efi"
syms=$(nm "$src/bitvisor.elf")
case $syms in *" T cot_merge_pkt"*) ;; *) log "module not linked in"; exit 1 ;; esac
log "ok: $OUT/bitvisor.elf $OUT/loadvmm.efi"
