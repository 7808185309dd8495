#!/bin/sh
# /init of the Soft-RoCE test VM (runs under busybox ash as PID 1).
# Built into the initramfs by scripts/vm/run.sh; see scripts/vm/README.md.
#
# Console (ttyS0): everything human-readable, interleaved with kernel messages.
# Control channel (ttyS1, only this script writes there): one "KVVM ..." line
# per event, and after each scenario a tar.gz of its files in base64 between
# OUT-BEGIN and OUT-END.
# The host parses ttyS1 only, so console noise cannot confuse it.

export PATH=/usr/sbin:/usr/bin
export HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm /out /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm

# shellcheck source=/dev/null
. /etc/kvvm.conf # KVVM_ADDR KVVM_STEP_TIMEOUT, KVVM_DISK (only with a disk)

stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1

uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
ctl() { echo "KVVM $*" >&3; }
say() { echo "[vm $(uptime_s)] $*"; }

# send_out NAME: ship /out/NAME and /out/NAME.log to the host right away, so a
# later crash cannot lose them.
send_out() {
	ctl OUT-BEGIN "$1"
	tar -C /out -cf - "$1" "$1.log" | gzip -c | base64 >&3
	ctl OUT-END "$1"
}

finish() {
	ctl END "$(uptime_s)"
	exec 3>&- # closing the tty waits until it has drained
	say "powering off"
	poweroff -f
}

setup_rxe() {
	while read -r m; do
		insmod "/lib/modules/kvvm/$m.ko" || { say "insmod $m failed"; return 1; }
	done </etc/kvvm.modules
	# loading dummy.ko may already have created dummy0 (numdummies=1)
	ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy || return 1
	ip link set dummy0 up &&
		ip addr add "$KVVM_ADDR/24" dev dummy0 &&
		rdma link add rxe0 type rxe netdev dummy0 || return 1
	i=0 # devtmpfs nodes may appear a moment later
	while [ ! -e /dev/infiniband/uverbs0 ] || [ ! -e /dev/infiniband/rdma_cm ]; do
		i=$((i + 1))
		[ "$i" -gt 50 ] && { say "no /dev/infiniband nodes"; return 1; }
		sleep 0.1
	done
	# shellcheck disable=SC3045 # busybox ash has ulimit -l
	ulimit -l unlimited
}

# With a disk (run.sh --disk, or "# kvvm-disk:" in a scenario): load its
# modules, wait for the device, mount its ext4 at /mnt/disk (KV_DISK for the
# scenarios). A failure is reported, not fatal: scenarios without KV_DISK
# say so themselves.
KV_DISK_DIR=""
setup_disk() {
	while read -r m; do
		insmod "/usr/lib/modules/kvvm-disk/$m.ko" || { say "insmod $m failed"; return 1; }
	done </etc/kvvm.disk.modules
	i=0
	while [ ! -b "$KVVM_DISK" ]; do
		i=$((i + 1))
		[ "$i" -gt 50 ] && { say "no $KVVM_DISK"; return 1; }
		sleep 0.1
	done
	mkdir -p /mnt/disk
	mount -t ext4 "$KVVM_DISK" /mnt/disk || return 1
	KV_DISK_DIR=/mnt/disk
}

# PIDs of user processes (kernel threads have no exe link), on one line.
user_pids() {
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$p" = 1 ] && continue
		[ -n "$(readlink "$d/exe" 2>/dev/null)" ] && printf '%s ' "$p"
	done
}

# Kill every user process not listed in $1 (leftovers of a scenario).
kill_leftovers() {
	left=""
	for p in $(user_pids); do
		case " $1 " in *" $p "*) ;; *) left="$left $p" ;; esac
	done
	[ -z "$left" ] && return 0
	for p in $left; do
		# busybox timeout leaves its watcher for up to 1 s: not worth a note
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue # gone already
		[ "$comm" = timeout ] && continue
		say "killing leftover process $p: $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")"
	done
	# shellcheck disable=SC2086
	kill -TERM $left 2>/dev/null
	i=0
	while [ "$i" -lt 10 ]; do # up to 1 s for them to go, then KILL
		still=""
		for p in $left; do [ -e "/proc/$p/exe" ] && still="$still $p"; done
		[ -z "$still" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	kill -KILL $still 2>/dev/null
}

run_scenario() { # $1 run name, $2 script path
	name=$1
	mkdir -p "/out/$name" "/tmp/run/$name"
	rm -f /tmp/fifo && mkfifo /tmp/fifo
	tee "/out/$name.log" </tmp/fifo &
	teepid=$!
	before="$(user_pids)"
	t0=$(uptime_s)
	say "=== RUN $name"
	ctl START "$name"
	(
		cd "/tmp/run/$name" || exit 1
		export KV_ADDR="$KVVM_ADDR" KV_OUT="/out/$name" KV_NAME="$name"
		export KV_LIB=/opt/kv/tests/lib.sh KV_EXTRA=/opt/kv/extra
		[ -z "$KV_DISK_DIR" ] || export KV_DISK="$KV_DISK_DIR"
		export PATH="/opt/kv/bin:/opt/kv/extra:$PATH"
		exec timeout -k 5 "$KVVM_STEP_TIMEOUT" sh "$2"
	) >/tmp/fifo 2>&1 </dev/null
	rc=$?
	t1=$(uptime_s)
	kill_leftovers "$before"
	wait "$teepid"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	timed_out=$(awk -v s="$secs" -v l="$KVVM_STEP_TIMEOUT" 'BEGIN { print (s >= l) ? 1 : 0 }')
	if [ "$rc" = 0 ]; then
		say "=== PASS $name (${secs}s)"
	elif [ "$timed_out" = 1 ]; then
		say "=== FAIL $name (timed out after ${KVVM_STEP_TIMEOUT}s, exit $rc)"
		rc=timeout
	else
		say "=== FAIL $name (exit $rc, ${secs}s)"
	fi
	ctl RESULT "$name" "$rc" "$secs"
	send_out "$name"
}

echo # end the firmware's last console line
ctl BOOT "$(uptime_s)"
if ! setup_rxe; then
	ctl SETUP-FAILED "$(uptime_s)"
	say "rxe setup FAILED"
	finish
fi
ctl READY "$(uptime_s)"
say "rxe0 on dummy0 $KVVM_ADDR ready"
if [ -n "${KVVM_DISK:-}" ]; then
	if setup_disk; then
		ctl DISK "$KVVM_DISK ext4 on /mnt/disk, mounted at $(uptime_s)s"
		say "disk $KVVM_DISK: ext4 on /mnt/disk"
	else
		ctl DISK "FAILED: $KVVM_DISK not mounted (see console)"
		say "disk setup FAILED"
	fi
fi

while read -r name script; do
	run_scenario "$name" "/opt/kv/tests/$script"
done </opt/kv/tests/scenarios.list
finish
