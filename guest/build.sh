#!/usr/bin/env bash
# Builds the test guests: Debian's own cloud kernel (apt-get download +
# dpkg -x) and a busybox-static initramfs holding the virtio-net modules,
# our static helpers (guest/src) and the /init + role scripts.
#
#   guest/build.sh [--dbg] [--force] [--latest] [--suite 'SUITE...']
#
# --suite (or $GUEST_SUITE) takes the kernel from other Debian suites than
# the machine's, e.g. 'bullseye bullseye-security' (5.10),
# 'bookworm-backports' (6.12), 'sid' (the newest): through a private apt
# list in $GUEST_APT/SUITES (default build/apt/; never the machine's
# sources; refreshed when older than a day or with --force).  Packages
# that split the image (linux-image-V depends on linux-binary-V and
# linux-modules-V, Linux >= 6.17 in Debian) are fetched in their parts.
# The kernel chosen is sticky (build/guest/kernel.pkg); --latest takes
# what the metapackage names now (the lists are at most a day old).
#
# Output goes to $GUEST_OUT (default build/guest/):
#   kernel.env        KVER= VMLINUZ= SYSTEM_MAP= CONFIG= INITRD= (shell syntax)
#   vmlinuz-KVER config-KVER initrd.img
#   System.map-KVER   Debian's placeholder (one line); SYSTEM_MAP= stays empty
#   vmlinux-KVER System.map-KVER.dbg   only with --dbg: the unstripped kernel
#                     and real System.map from the -dbg package (for drgn);
#                     recorded as VMLINUX= and SYSTEM_MAP= in kernel.env
# Idempotent: when nothing changed it only checks stamps (well under 1 s).
# Environment: GUEST_OUT, GUEST_KPKG (force a kernel package name),
# GUEST_SUITE, GUEST_APT, CC.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
OUT=${GUEST_OUT:-$top/build/guest}
CC=${CC:-cc}
dbg=0 force=0 latest=0 suite=${GUEST_SUITE:-}
while [ $# -gt 0 ]; do
	a=$1
	case $a in
	--dbg) dbg=1 ;;
	--force) force=1 ;;
	--latest) latest=1 ;;
	--suite) suite=$2; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "build.sh: unknown argument $a" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "guest/build: $*" >&2; }
# one build at a time per output directory (tests call us in parallel)
exec 9>"$OUT/.lock"
flock -w 600 9 || { log "another guest/build.sh holds $OUT/.lock"; exit 1; }

# --- 1. which kernel package ---------------------------------------------
# apt with the machine's sources, or with a private list of other suites
apt_opts=(-o APT::Sandbox::User=root)
if [ -n "$suite" ]; then
	case $suite in *[!a-z0-9\ -]*) log "bad --suite '$suite'"; exit 2 ;; esac
	adir=${GUEST_APT:-$top/build/apt}/${suite// /+}
	mkdir -p "$adir/lists/partial"
	for s in $suite; do
		case $s in
		*-security) echo "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $s main" ;;
		*) echo "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $s main" ;;
		esac
	done >"$adir/sources.list"
	apt_opts+=(-o "Dir::Etc::sourcelist=$adir/sources.list"
		-o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$adir/lists"
		-o Dir::Cache="$adir/cache" -o Acquire::Languages=none)
	mkdir -p "$adir/cache/archives/partial"
	exec 8>"$adir/.lock"
	flock -w 600 8 || { log "another build holds $adir/.lock"; exit 1; }
	if [ "$force" = 1 ] || [ ! -f "$adir/.updated" ] ||
		[ -n "$(find "$adir/.updated" -mmin +1440)" ]; then
		log "apt-get update (private list: $suite)"
		apt-get -qq "${apt_opts[@]}" update >&2 || { log "apt-get update failed"; exit 1; }
		touch "$adir/.updated"
	fi
	exec 8>&-
fi
acache() { apt-cache "${apt_opts[@]}" "$@"; }
# The metapackage linux-image-cloud-amd64 depends on the current
# linux-image-VERSION-cloud-amd64; resolve it through apt-cache.
resolve_kpkg() {
	acache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9].*-cloud-amd64$/ {print $2; exit}'
}
kpkg=${GUEST_KPKG:-}
if [ -z "$kpkg" ] && [ -f "$OUT/kernel.pkg" ] && [ "$force" = 0 ] &&
	[ "$latest" = 0 ]; then
	kpkg=$(cat "$OUT/kernel.pkg") # sticky: do not chase updates on every run
fi
if [ -z "$kpkg" ]; then
	kpkg=$(resolve_kpkg)
	if [ -z "$kpkg" ]; then
		if [ -z "$suite" ]; then
			log "apt-cache does not know linux-image-cloud-amd64; running apt-get update"
			if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
			kpkg=$(resolve_kpkg)
		fi
	fi
	[ -n "$kpkg" ] || { log "cannot resolve the cloud kernel package"; exit 1; }
fi
KVER=${kpkg#linux-image-}

# --- 2. fetch and unpack ---------------------------------------------------
fetch() { # package -> path of the .deb in $dl (default $OUT/dl)
	local p=$1 f d=${dl:-$OUT/dl}
	mkdir -p "$d"
	f=$(ls "$d/${p}_"*.deb 2>/dev/null | head -1 || true)
	if [ -z "$f" ]; then
		log "apt-get download $p"
		# We run as root in a directory _apt cannot write: skip the sandbox
		# user rather than print a warning every time.
		(cd "$d" && apt-get -q "${apt_opts[@]}" download "$p" >&2)
		f=$(ls "$d/${p}_"*.deb | head -1)
	fi
	echo "$f"
}
kroot=$OUT/kernel/$KVER
if [ ! -f "$kroot/.done" ] || [ "$force" = 1 ]; then
	# Linux >= 6.17 in Debian: linux-image-V is empty and depends on
	# linux-binary-V (the image), linux-modules-V and linux-base-V
	# (config, modules.builtin).
	parts=$(acache depends "$kpkg" 2>/dev/null |
		awk -v v="$KVER" '$1 == "Depends:" && ($2 == "linux-binary-" v || $2 == "linux-modules-" v || $2 == "linux-base-" v) {print $2}')
	[ -n "$parts" ] || parts=$kpkg
	rm -rf "$kroot"
	mkdir -p "$kroot"
	for p in $parts; do
		deb=$(fetch "$p")
		log "dpkg -x $(basename "$deb")"
		dpkg -x "$deb" "$kroot"
	done
	touch "$kroot/.done"
fi
echo "$kpkg" >"$OUT/kernel.pkg"
# where the package keeps the image and modules: /boot and /lib/modules,
# or (split packages) /usr/lib/modules/V/vmlinuz
mdir=$kroot/lib/modules/$KVER
[ -d "$mdir" ] || mdir=$kroot/usr/lib/modules/$KVER
for f in vmlinuz System.map config; do
	src=$kroot/boot/$f-$KVER
	[ -f "$src" ] || src=$mdir/$f
	if [ ! -f "$src" ]; then
		[ "$f" = vmlinuz ] && { log "no vmlinuz in $kpkg"; exit 1; }
		rm -f "$OUT/$f-$KVER"
		continue
	fi
	cmp -s "$src" "$OUT/$f-$KVER" 2>/dev/null || cp "$src" "$OUT/$f-$KVER"
done
kpkgver=$(dpkg-deb -f "$(ls "$OUT/dl/${kpkg}_"*.deb 2>/dev/null | head -1)" Version 2>/dev/null ||
	ls "$OUT"/dl/*.deb | head -1 | sed 's/.*_\(.*\)_amd64.deb/\1/')

if [ "$dbg" = 1 ] && [ ! -f "$OUT/vmlinux-$KVER" ]; then
	# ~283 MB download; only vmlinux (~590 MB) and the real System.map are
	# extracted (the package unpacks to ~1.7 GB, mostly module debug
	# info).  xz-decompressing the data takes about a minute of CPU.
	ddeb=$(fetch "$kpkg-dbg")
	log "extracting vmlinux and System.map from $(basename "$ddeb")"
	rm -rf "$OUT/dbg.tmp"
	mkdir -p "$OUT/dbg.tmp"
	dpkg-deb --fsys-tarfile "$ddeb" | tar -x -C "$OUT/dbg.tmp" \
		"./usr/lib/debug/boot/vmlinux-$KVER" "./usr/lib/debug/boot/System.map-$KVER"
	mv "$OUT/dbg.tmp/usr/lib/debug/boot/System.map-$KVER" "$OUT/System.map-$KVER.dbg"
	mv "$OUT/dbg.tmp/usr/lib/debug/boot/vmlinux-$KVER" "$OUT/vmlinux-$KVER"
	rm -rf "$OUT/dbg.tmp"
fi

# --- 3. static helpers -----------------------------------------------------
mkdir -p "$OUT/bin"
for s in "$here"/src/*.c; do
	b=$OUT/bin/$(basename "$s" .c)
	if [ ! -x "$b" ] || [ "$s" -nt "$b" ] || [ "$force" = 1 ]; then
		log "cc -static $(basename "$s")"
		$CC -std=gnu11 -O2 -Wall -Wextra -Wshadow -Wcast-qual -Wpointer-arith \
			-Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wundef -Werror \
			-static -o "$b" "$s"
	fi
done

# --- 3b. real services (issue 12) ------------------------------------------
# Unmodified Debian programs: nginx (frontend and backend) and memcached
# in the guests, dnsmasq (run on the host side, in the test's client
# namespace, through the extracted loader).  Fetched with apt-get download
# and unpacked with dpkg -x into $OUT/svc/root; their libraries come from
# the lib* packages of their Depends (recursively), never from the host;
# then the loader's own --list (ldd) must resolve every library inside
# that tree.  Versions are sticky: the .debs stay in $OUT/dl-svc and their
# names are recorded in $OUT/svc/versions (--force re-fetches).
svc_pkgs="nginx memcached dnsmasq-base"
svc_bins="usr/sbin/nginx usr/bin/memcached usr/sbin/dnsmasq"
guest_bins="usr/sbin/nginx usr/bin/memcached"
sroot=$OUT/svc/root
svc_lib=$sroot/lib/x86_64-linux-gnu:$sroot/usr/lib/x86_64-linux-gnu
svc_ld=$sroot/lib64/ld-linux-x86-64.so.2
# The services come from the machine's own suite whatever suite the
# kernel is from (--suite): their loader and libraries travel with them,
# so one set runs on every kernel (and a sid kernel's suite may rename
# libraries, e.g. libdb5.3t64, under packages that still want the old).
if [ ! -f "$OUT/svc/.done" ] || [ "$force" = 1 ]; then
	kapt_opts=("${apt_opts[@]}")
	apt_opts=(-o APT::Sandbox::User=root)
	dl=$OUT/dl-svc
	[ "$force" = 1 ] && rm -f "$dl"/*.deb
	declare -A seen=()
	todo="$svc_pkgs libc6"
	all=
	i=0
	while [ -n "$todo" ] && [ $i -lt 200 ]; do # bounded: 200 packages
		# shellcheck disable=SC2086 # a word list
		set -- $todo
		p=$1
		shift
		todo="$*"
		i=$((i + 1))
		[ -z "${seen[$p]:-}" ] || continue
		seen[$p]=1
		all="$all $p"
		# first alternative of each Depends/PreDepends that is a library
		# (lib*, zlib1g)
		for d in $(acache depends "$p" 2>/dev/null |
			awk '($1 == "Depends:" || $1 == "PreDepends:" || $1 == "|Depends:") && $2 ~ /^(lib|zlib)/ && !alt {print $2} {alt = ($1 ~ /^\|/)}'); do
			[ -n "${seen[$d]:-}" ] || todo="$todo $d"
		done
	done
	rm -rf "$OUT/svc"
	mkdir -p "$sroot"
	for p in $all; do
		deb=$(fetch "$p")
		dpkg -x "$deb" "$sroot"
		echo "$p $(dpkg-deb -f "$deb" Version)"
	done >"$OUT/svc/versions.tmp"
	mv "$OUT/svc/versions.tmp" "$OUT/svc/versions"
	[ -x "$svc_ld" ] || { log "no dynamic loader in libc6"; exit 1; }
	for b in $svc_bins; do
		out=$("$svc_ld" --library-path "$svc_lib" --list "$sroot/$b") ||
			{ log "$b: loader --list failed"; exit 1; }
		if echo "$out" | grep -q "not found"; then
			log "$b: libraries missing from the packages:"
			echo "$out" | grep "not found" >&2
			exit 1
		fi
		outside=$(echo "$out" | awk -v r="$sroot/" '$2 == "=>" && index($3, r) != 1 {print $3}')
		[ -z "$outside" ] || { log "$b: libraries outside $sroot: $outside"; exit 1; }
	done
	log "services: $(awk '{printf "%s %s, ", $1, $2}' "$OUT/svc/versions")"
	touch "$OUT/svc/.done"
	apt_opts=("${kapt_opts[@]}")
	unset dl
fi
# the guests' files: binaries, the libraries they load, the loader
svc_files=()
for b in $guest_bins; do
	svc_files+=("$sroot/$b")
	while read -r l; do svc_files+=("$l"); done < <("$svc_ld" --library-path "$svc_lib" \
		--list "$sroot/$b" | awk '$2 == "=>" {print $3}')
done
svc_files+=("$svc_ld")
mapfile -t svc_files < <(printf '%s\n' "${svc_files[@]}" | sort -u)
{
	echo "SVC_ROOT=$sroot"
	echo "SVC_LD=$svc_ld"
	echo "SVC_LIB=$svc_lib"
	echo "DNSMASQ=$sroot/usr/sbin/dnsmasq"
} >"$OUT/svc.env"

# --- 4. initramfs ----------------------------------------------------------
# Modules for virtio-net over PCI; their dependencies come from modules.dep
# (generated here with busybox depmod: the package ships none).  The cloud
# config has VIRTIO, VIRTIO_PCI, VIRTIO_NET, FAILOVER, NET_FAILOVER all =m.
# qemu_fw_cfg (=m) hands the kernel's VMCOREINFO address to QEMU's
# "-device vmcoreinfo" (run.sh --vmcoreinfo), for drgn on ELF dumps.
want_mods="virtio_pci virtio_net qemu_fw_cfg"
busybox=/bin/busybox # from busybox-static (conflicts with the dynamic one)
[ -x "$busybox" ] || { log "busybox-static missing (scripts/setup)"; exit 1; }

if [ ! -f "$mdir/modules.dep" ]; then
	if [ "$mdir" = "$kroot/lib/modules/$KVER" ]; then
		"$busybox" depmod -b "$kroot" "$KVER"
	else
		"$busybox" depmod -b "$kroot/usr" "$KVER"
	fi
fi
modfiles=()
for m in $want_mods; do
	line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst)?:" "$mdir/modules.dep" || true)
	[ -n "$line" ] || {
		grep -qE "/$m\.ko" "$mdir/modules.builtin" && continue
		log "module $m neither in modules.dep nor built in"; exit 1
	}
	for p in ${line/:/}; do modfiles+=("$p"); done
done
mapfile -t modfiles < <(printf '%s\n' "${modfiles[@]}" | sort -u)

# Inputs of the initramfs: rebuild only when their digest changes.
inputs=("$busybox" "$here/init" "$here"/roles/*.sh "$here"/svc/* "$OUT"/bin/* "${svc_files[@]}")
for p in "${modfiles[@]}"; do inputs+=("$mdir/$p"); done
digest=$( (echo "$KVER ${modfiles[*]}"; sha256sum "${inputs[@]}") | sha256sum | cut -c1-64)
if [ "$force" = 0 ] && [ -f "$OUT/initrd.img" ] &&
	[ "$(cat "$OUT/initrd.digest" 2>/dev/null)" = "$digest" ]; then
	:
else
	log "initramfs: busybox + ${#modfiles[@]} modules (${modfiles[*]##*/})"
	st=$OUT/initramfs.d
	rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,etc/cotrack,proc,sys,dev,tmp,run,root,lib/modules/$KVER}
	cp "$busybox" "$st/bin/busybox"
	# the kernel opens /dev/console for init before /init can mount devtmpfs
	mknod -m 600 "$st/dev/console" c 5 1
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$st/bin/$a"
	done
	for p in "${modfiles[@]}"; do
		mkdir -p "$st/lib/modules/$KVER/$(dirname "$p")"
		case $p in
		*.ko.xz) xz -dc "$mdir/$p" >"$st/lib/modules/$KVER/${p%.xz}" ;;
		*.ko.zst) zstd -qdc "$mdir/$p" >"$st/lib/modules/$KVER/${p%.zst}" ;;
		*) cp "$mdir/$p" "$st/lib/modules/$KVER/$p" ;;
		esac
	done
	"$busybox" depmod -b "$st" "$KVER"
	cp --remove-destination "$OUT"/bin/* "$st/bin/" # never through an applet link
	install -m 755 "$here/init" "$st/init"
	for r in "$here"/roles/*.sh; do install -m 755 "$r" "$st/etc/cotrack/"; done
	echo "$KVER" >"$st/etc/cotrack/kver"
	# real services: files at their Debian paths (symlinks resolved)
	for f in "${svc_files[@]}"; do
		rel=${f#"$sroot"/}
		mkdir -p "$st/$(dirname "$rel")"
		cp -L "$f" "$st/$rel"
	done
	mkdir -p "$st/lib64" "$st/var/lib/nginx" "$st/var/log/nginx" "$st/srv"
	for f in "$here"/svc/*; do install -m 644 "$f" "$st/etc/cotrack/"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$st/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$st/etc/group"
	(cd "$st" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc --owner 0:0 | gzip -6 -n) >"$OUT/initrd.img.tmp"
	mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
	echo "$digest" >"$OUT/initrd.digest"
fi

# --- 5. kernel.env ---------------------------------------------------------
env_tmp=$OUT/kernel.env.tmp
{
	echo "# written by guest/build.sh; source it from shell scripts"
	echo "KPKG=$kpkg"
	echo "KVER=$KVER"
	echo "KPKGVER=$kpkgver"
	echo "VMLINUZ=$OUT/vmlinuz-$KVER"
	# Debian's image package ships a one-line placeholder System.map; the
	# real one comes from the -dbg package (build.sh --dbg).  Empty if absent.
	if [ -f "$OUT/System.map-$KVER.dbg" ]; then
		echo "SYSTEM_MAP=$OUT/System.map-$KVER.dbg"
	else
		echo "SYSTEM_MAP="
	fi
	echo "CONFIG=$OUT/config-$KVER"
	echo "INITRD=$OUT/initrd.img"
	[ -f "$OUT/vmlinux-$KVER" ] && echo "VMLINUX=$OUT/vmlinux-$KVER"
	true
} >"$env_tmp"
cmp -s "$env_tmp" "$OUT/kernel.env" 2>/dev/null && rm -f "$env_tmp" ||
	mv "$env_tmp" "$OUT/kernel.env"
log "ready: $OUT/kernel.env (KVER=$KVER)"
