#!/usr/bin/env bash
# Run test scenarios inside a throw-away QEMU VM with Soft-RoCE (rdma_rxe).
#
#   scripts/vm/run.sh [--bin DIR] [--out DIR] [--timeout SECS]
#                     [--step-timeout SECS] [--extra FILE]... [--disk SIZE]
#                     SCENARIO.sh...
#
# Boots the host's Debian kernel (TCG, no NIC) with an initramfs holding
# busybox, the rxe modules, rdma-core, perftest, redis and every executable of
# --bin DIR, then runs the scenarios in order inside one VM. Exit status 0 only
# if every scenario passed and the VM reached its end marker. --disk SIZE (or a
# line "# kvvm-disk: SIZE" in a scenario) adds a fresh ext4 disk, made on the
# host, that the VM mounts at /mnt/disk (KV_DISK).
# How it works, the knobs and measured timings: scripts/vm/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bin_dir=$root/build/bin
out_dir=""
vm_timeout=${KV_VM_TIMEOUT:-300}
step_timeout=${KV_VM_STEP_TIMEOUT:-120}
cache_dir=${KV_VM_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/kv-vm}
addr=192.0.2.1
extras=()
scenarios=()
disk_size="" # --disk, or the largest "# kvvm-disk: SIZE" of the scenarios

say() { echo "[host] $*"; }
die() { echo "[host] error: $*" >&2; exit 2; }
usage() { sed -n '4,6s/^# *//p' "$0" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--bin) bin_dir=${2:?}; shift 2 ;;
	--out) out_dir=${2:?}; shift 2 ;;
	--timeout) vm_timeout=${2:?}; shift 2 ;;
	--step-timeout) step_timeout=${2:?}; shift 2 ;;
	--extra) extras+=("${2:?}"); shift 2 ;;
	--disk) disk_size=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*/lib.sh | lib.sh) shift ;; # helpers, not a scenario (tests/vm/*.sh)
	*) scenarios+=("$1"); shift ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || usage
for f in "${scenarios[@]}" "${extras[@]}"; do
	[ -f "$f" ] || die "no such file: $f"
done
# A scenario that needs a disk says so in a line "# kvvm-disk: SIZE" (K/M/G).
disk_bytes=0
if [ -n "$disk_size" ]; then
	disk_bytes=$(numfmt --from=iec "$disk_size" 2>/dev/null) || die "--disk $disk_size: not a size"
fi
for f in "${scenarios[@]}"; do
	d=$(sed -n '1,30s/^# kvvm-disk: *\([0-9][0-9]*[KMG]\{0,1\}\) *$/\1/p' "$f" | head -n 1)
	[ -n "$d" ] || continue
	b=$(numfmt --from=iec "$d")
	if [ "$b" -gt "$disk_bytes" ]; then disk_bytes=$b; disk_size=$d; fi
done
clean_out=""
if [ -z "$out_dir" ]; then # the default one is ours to empty (at the end)
	out_dir=$root/build/vm-out
	clean_out=1
fi

t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- kernel: the newest one that has rdma_rxe --------------------------------
kver=""
for k in $(printf '%s\n' /boot/vmlinuz-* | sort -rV); do
	v=${k#/boot/vmlinuz-}
	if [ -d "/lib/modules/$v/kernel/drivers/infiniband/sw/rxe" ]; then kver=$v; break; fi
done
[ -n "$kver" ] || die "no /boot/vmlinuz-* with rdma_rxe (apt-get install linux-image-amd64)"
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver

work=$(mktemp -d "${TMPDIR:-/tmp}/kvvm.XXXXXX")
if [ -n "${KV_VM_KEEP:-}" ]; then
	trap 'say "kept $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

# --- manifest helpers ---------------------------------------------------------
# A manifest line is "SRC DST": host file SRC becomes DST in the VM (dereferenced).

# VM path of a host path: the VM has merged /usr like Debian, so archives only
# ever hold real directories under usr/ (never a /lib or /bin entry).
vmpath() {
	case $1 in
	/lib/* | /lib64/* | /bin/* | /sbin/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}

# Shared libraries (and the loader) a dynamic executable needs, one per line.
libs_of() {
	ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' || true
}

# add_exe SRC DST: the file plus its ldd closure.
add_exe() {
	local lib
	echo "$1 $2"
	for lib in $(libs_of "$1"); do echo "$lib $(vmpath "$lib")"; done
}

# --- base archive: system files only, cached by its manifest -----------------
tool_names="ip rdma rping ibv_devices ibv_devinfo ib_read_lat ib_write_lat
	ib_atomic_lat ib_read_bw redis-server redis-benchmark redis-cli"
mods_wanted="crc32_generic udp_tunnel ip6_udp_tunnel configfs ib_core ib_uverbs
	rdma_rxe iw_cm ib_cm rdma_cm rdma_ucm dummy"
# Only with a disk (in the run archive, loaded by /init when KVVM_DISK is set).
disk_mods_wanted="virtio_pci virtio_blk crc32c_generic ext4"

# Module file (relative to $moddir) of module NAME, and its dependencies.
mod_file() { awk -F: -v n="$1" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko(\.[a-z]+)?$/, "", f); if (f == n) { print $1; exit } }' "$moddir/modules.dep"; }
mod_deps() { awk -F: -v p="$1" '$1 == p { print $2; exit }' "$moddir/modules.dep"; }

# Print module files in load order (dependencies first), once each: of the
# modules named in $1 (default $mods_wanted), leaving out those in file $2.
mods_in_order() {
	local seen=" " m
	if [ -n "${2:-}" ]; then seen=" $(tr '\n' ' ' <"$2")"; fi
	visit() {
		local f=$1 d
		case $seen in *" $f "*) return ;; esac
		for d in $(mod_deps "$f"); do visit "$d"; done
		seen="$seen$f "
		echo "$f"
	}
	for m in ${1:-$mods_wanted}; do
		f=$(mod_file "$m")
		[ -n "$f" ] || die "module $m not found in $moddir/modules.dep"
		visit "$f"
	done
}

base_manifest() {
	local t p prov
	echo "$(command -v busybox) /usr/bin/busybox"
	for t in $tool_names; do
		p=$(command -v "$t") || die "$t not found on the host (see scripts/vm/README.md)"
		add_exe "$p" "/usr/$(basename "$(dirname "$p")")/$t"
	done
	prov=""
	for p in /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so; do [ -f "$p" ] && prov=$p; done
	[ -n "$prov" ] || die "rxe provider not found (apt-get install ibverbs-providers)"
	add_exe "$prov" "$prov"
	echo "/etc/libibverbs.d/rxe.driver /etc/libibverbs.d/rxe.driver"
	p=$(ldconfig -p | awk '$1 == "libgcc_s.so.1" && /x86-64/ && !n++ { print $NF }')
	[ -n "$p" ] || die "libgcc_s.so.1 not found"
	echo "$p $(vmpath "$p")"
}

# stage MANIFEST DIR: copy the files of a manifest into a staging tree.
stage() {
	local src dst
	sort -u -k2,2 "$1" | while read -r src dst; do
		mkdir -p "$2$(dirname "$dst")"
		cp -L "$src" "$2$dst"
	done
}

# pack DIR ARCHIVE: gzip'd newc cpio of a staging tree, owned by root.
pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$2"
}

# stage_mods LIST DIR: the module files of LIST (from mods_in_order),
# decompressed into DIR as NAME.ko; prints the names in load order.
stage_mods() {
	local f name
	while read -r f; do
		name=$(basename "$f"); name=${name%%.ko*}
		case $f in
		*.ko) cp "$moddir/$f" "$2/$name.ko" ;;
		*.ko.xz) xz -dc "$moddir/$f" >"$2/$name.ko" ;;
		*.ko.zst) zstd -qdc "$moddir/$f" >"$2/$name.ko" ;;
		*.ko.gz) gzip -dc "$moddir/$f" >"$2/$name.ko" ;;
		*) die "unknown module format: $f" ;;
		esac
		echo "$name"
	done <"$1"
}

build_base() { # $1 manifest, $2 module list, $3 archive
	local s=$work/base f name a
	stage "$1" "$s"
	mkdir -p "$s/usr/bin" "$s/usr/sbin" "$s/usr/lib64" "$s/usr/lib/modules/kvvm" "$s/etc"
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$s/$d"; done
	mkdir -p "$s/proc" "$s/sys" "$s/dev" "$s/tmp" "$s/root" "$s/out"
	stage_mods "$2" "$s/lib/modules/kvvm" >"$s/etc/kvvm.modules"
	for a in $(busybox --list); do # applets, where no real tool is shipped
		[ -e "$s/usr/bin/$a" ] || [ -e "$s/usr/sbin/$a" ] || ln -s busybox "$s/usr/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$s/etc/passwd"
	printf 'root:x:0:\n' >"$s/etc/group"
	printf '127.0.0.1 localhost\n' >"$s/etc/hosts"
	pack "$s" "$3"
	rm -rf "$s"
}

t0=$(date +%s.%N)
base_manifest >"$work/base.manifest"
mods_in_order >"$work/modules"
key=$( {
	echo "$kver"
	sha256sum <"$0"
	while read -r src _; do stat -L -c '%n %s %Y' "$src"; done <"$work/base.manifest"
	cat "$work/base.manifest" "$work/modules"
	busybox --list
} | sha256sum | cut -c1-16)
base=""
if [ -n "$cache_dir" ] && [ -f "$cache_dir/base-$key.cpio.gz" ]; then
	base=$cache_dir/base-$key.cpio.gz
else
	build_base "$work/base.manifest" "$work/modules" "$work/base.cpio.gz"
	base=$work/base.cpio.gz
	if [ -n "$cache_dir" ] && mkdir -p "$cache_dir"; then
		rm -f "$cache_dir"/base-*.cpio.gz
		cp "$base" "$cache_dir/base-$key.cpio.gz.tmp" &&
			mv "$cache_dir/base-$key.cpio.gz.tmp" "$cache_dir/base-$key.cpio.gz"
	fi
fi

# --- kernel image: an uncompressed vmlinux boots directly (PVH entry) and
# skips ~3 s of in-guest decompression under TCG; else the bzImage as it is.
vmlinux_of() { # $1 bzImage, $2 output ELF
	local magic cmd off
	for magic in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd' '\x1f\x8b\x08\x00:gzip'; do
		cmd=${magic#*:}
		off=$(LC_ALL=C grep -obUaP "${magic%:*}" "$1" | awk -F: 'NR == 1 { print $1 }')
		[ -n "$off" ] || continue
		tail -c +"$((off + 1))" "$1" | "$cmd" -dc >"$2" 2>/dev/null
		[ "$(head -c4 "$2")" = $'\x7fELF' ] && return 0
	done
	return 1
}
boot_kernel=$kernel
if grep -q '^CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null; then
	vmlinux=$work/vmlinux
	if [ -n "$cache_dir" ]; then
		vmlinux=$cache_dir/vmlinux-$kver-$(stat -c '%s-%Y' "$kernel")
		[ -f "$vmlinux" ] || rm -f "$cache_dir"/vmlinux-* # one kernel at a time
	fi
	if [ -f "$vmlinux" ] || { mkdir -p "$(dirname "$vmlinux")" &&
		vmlinux_of "$kernel" "$vmlinux.tmp" && mv "$vmlinux.tmp" "$vmlinux"; }; then
		boot_kernel=$vmlinux
	else
		rm -f "$vmlinux.tmp"
		say "note: could not unpack $kernel, booting the bzImage (slower)"
	fi
fi

# --- run archive: project binaries, scenarios, extras; built every time -------
s=$work/run
mkdir -p "$s/opt/kv/bin" "$s/opt/kv/tests" "$s/opt/kv/extra" "$s/etc"
cut -d' ' -f2 "$work/base.manifest" | sort -u >"$work/base.paths"
{
	if [ -d "$bin_dir" ]; then
		for f in "$bin_dir"/*; do
			if [ -f "$f" ] && [ -x "$f" ]; then add_exe "$f" "/opt/kv/bin/$(basename "$f")"; fi
		done
	else
		say "note: no binaries directory $bin_dir (project binaries not included)"
	fi
	for f in "${extras[@]}"; do
		if [ -x "$f" ]; then add_exe "$f" "/opt/kv/extra/$(basename "$f")"; else echo "$f /opt/kv/extra/$(basename "$f")"; fi
	done
} | awk 'NR == FNR { have[$1] = 1; next } !($2 in have)' "$work/base.paths" - >"$work/run.manifest"
stage "$work/run.manifest" "$s"
cp "$here/init.sh" "$s/init"
chmod 755 "$s/init"
cp "$root/tests/vm/lib.sh" "$s/opt/kv/tests/lib.sh"
printf 'KVVM_ADDR=%s\nKVVM_STEP_TIMEOUT=%s\n' "$addr" "$step_timeout" >"$s/etc/kvvm.conf"
# --- the disk (only if asked): a fresh ext4 image, its modules, KVVM_DISK ------
drive_args=()
if [ "$disk_bytes" -gt 0 ]; then
	command -v mkfs.ext4 >/dev/null || die "a disk needs mkfs.ext4 on the host (apt-get install e2fsprogs)"
	mods_in_order "$disk_mods_wanted" "$work/modules" >"$work/disk.modules"
	mkdir -p "$s/usr/lib/modules/kvvm-disk"
	stage_mods "$work/disk.modules" "$s/usr/lib/modules/kvvm-disk" >"$s/etc/kvvm.disk.modules"
	truncate -s "$disk_bytes" "$work/disk.img"
	# 4 KiB blocks (mke2fs picks 1 KiB under 512 MiB); inode tables and the
	# journal initialized now, so no lazy-init thread writes during a scenario
	mkfs.ext4 -F -q -b 4096 -L kvdisk -E lazy_itable_init=0,lazy_journal_init=0 "$work/disk.img" ||
		die "mkfs.ext4 failed"
	drive_args=(-drive "file=$work/disk.img,if=virtio,format=raw,cache=writeback")
	echo "KVVM_DISK=/dev/vda" >>"$s/etc/kvvm.conf"
fi
declare -A runs=()
for f in "${scenarios[@]}"; do
	b=$(basename "$f")
	name=${b%.sh}
	n=${runs[$name]:-0}
	runs[$name]=$((n + 1))
	if [ "$n" -gt 0 ]; then name=$name.$((n + 1)); fi # the same scenario again
	cp "$f" "$s/opt/kv/tests/$b"
	echo "$name $b"
done >"$s/opt/kv/tests/scenarios.list"
pack "$s" "$work/run.cpio.gz"
cat "$base" "$work/run.cpio.gz" >"$work/initrd"
say "kernel $kver; initramfs $(du -k "$work/initrd" | cut -f1) KiB built in $(elapsed "$t0")s$([ "$base" = "$work/base.cpio.gz" ] || echo ' (base from cache)')"
[ "$disk_bytes" -eq 0 ] || say "disk: $disk_size ext4 image (virtio-blk /dev/vda, mounted at /mnt/disk)"

# --- boot ---------------------------------------------------------------------
t_boot=$(date +%s.%N)
set +e
timeout -k 5 "$vm_timeout" qemu-system-x86_64 \
	-nodefaults -no-user-config -nographic -monitor none \
	-accel tcg -cpu max -smp 2 -m 1024 -nic none -no-reboot \
	-kernel "$boot_kernel" -initrd "$work/initrd" "${drive_args[@]}" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off clocksource=tsc tsc=reliable" \
	-serial stdio -serial "file:$work/ctl" </dev/null |
	sed -u 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g'
qemu_rc=${PIPESTATUS[0]}
set -e
vm_secs=$(elapsed "$t_boot")

# --- results ------------------------------------------------------------------
tr -d '\r' <"$work/ctl" >"$work/ctl.txt"
if [ -n "$clean_out" ]; then rm -rf "$out_dir"; fi
mkdir -p "$out_dir"
# Each complete OUT-BEGIN..OUT-END block is one base64 tar.gz.
awk -v d="$work" '
	/^KVVM OUT-BEGIN / { f = d "/out." ++n ".b64"; next }
	/^KVVM OUT-END / { if (f != "") print f; f = ""; next }
	f != "" { print > f }' "$work/ctl.txt" >"$work/blocks"
while read -r b; do
	base64 -d <"$b" | tar -xzf - -C "$out_dir" || say "could not unpack a block of output files"
done <"$work/blocks"
status=0
echo "==================== summary ===================="
ready=$(awk '$2 == "READY" { print $3 }' "$work/ctl.txt")
if [ -n "$ready" ]; then
	say "VM boot + rxe setup: ${ready}s (VM uptime)"
elif grep -q '^KVVM SETUP-FAILED' "$work/ctl.txt"; then
	say "FAIL: rxe setup failed in the VM (see console above)"; status=1
fi
if [ "$disk_bytes" -gt 0 ]; then # the scenarios fail without it; this says why
	say "disk: $(awk '$2 == "DISK" { $1 = $2 = ""; print substr($0, 3) }' "$work/ctl.txt" | grep . || echo 'no report from the VM')"
fi
pass=0 fail=0
while read -r _ _ name rc secs; do
	if [ "$rc" = 0 ]; then
		echo "=== PASS $name (${secs}s)"; pass=$((pass + 1))
	elif [ "$rc" = timeout ]; then
		echo "=== FAIL $name (timed out after ${secs}s)"; fail=$((fail + 1))
	else
		echo "=== FAIL $name (exit $rc, ${secs}s)"; fail=$((fail + 1))
	fi
done < <(grep '^KVVM RESULT ' "$work/ctl.txt")
died=$(awk '$2 == "START" { s = $3 } $2 == "RESULT" { s = "" } END { print s }' "$work/ctl.txt")
if [ -n "$died" ]; then
	echo "=== FAIL $died (the VM stopped during it)"; fail=$((fail + 1))
fi
not_run=$((${#scenarios[@]} - pass - fail))
[ "$fail" -eq 0 ] && [ "$not_run" -eq 0 ] || status=1
[ "$not_run" -eq 0 ] || echo "=== NOT RUN: $not_run scenario(s)"
if ! grep -q '^KVVM END' "$work/ctl.txt"; then
	status=1
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		say "FAIL: VM timed out after ${vm_timeout}s (--timeout) before its end marker"
	else
		say "FAIL: VM stopped before its end marker (crash or kernel panic? qemu exit $qemu_rc)"
	fi
fi
say "$pass passed, $fail failed; VM ran ${vm_secs}s, total $(elapsed "$t_start")s; output in $out_dir"
exit "$status"
