#!/bin/sh
# kvvm-disk: 64M
# Issue 9, step 1 of docs/proposals/durability.md: can the RDMA device pin a
# shared mapping of a file on a disk filesystem? The store file is on ext4
# (a virtio-blk disk the harness makes on the host, mounted at $KV_DISK).
# If kvserver cannot register it, the scenario checks that it says so clearly
# (exit 3, the registration named). If it can: a PUT and a GET, SIGKILL, a
# restart on the same file, the value back. On the way it records what the
# kernel did (VmPin), and checks that a value written by RDMA after the
# file's first msync reaches the disk at the next syncs (O_DIRECT reads of
# the file see the disk, not the page cache; sectors written from the
# disk's stat).
# Everything it finds goes to $KV_OUT/findings.txt.
# Found on Debian's 6.1.0-57 (6.1.192): the registration works (VmPin is the
# slab), and so do kill -9 and restart; but a value the device writes after a
# page's first writeback is not written by later msyncs or sync(1) (0 sectors):
# the pin dirtied every page once, RDMA writes do not dirty them again. So
# kvserver's syncer dirties the pages that changed itself; this scenario
# checks that the value is then on the disk.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"
[ -n "${KV_DISK:-}" ] || fail "no disk: KV_DISK is not set (scripts/vm/run.sh makes one for '# kvvm-disk:')"
F=$KV_DISK/kv.store
FIND=$KV_OUT/findings.txt
note() {
	log "$*"
	echo "$*" >>"$FIND"
}
: >"$FIND"
note "kernel: $(uname -r) ($(uname -v))"
note "filesystem: $(awk -v d="$KV_DISK" '$2 == d { print $1, $2, $3, $4 }' /proc/mounts)"
grep -q " $KV_DISK ext4 " /proc/mounts || fail "$KV_DISK is not ext4"
dmesg >"$KV_OUT/dmesg.before"

# on_disk STRING: STRING is in the file as the disk holds it (O_DIRECT reads
# bypass the page cache, after writing back the pages the kernel knows are dirty).
# (strings: busybox grep stops a line at a NUL byte)
on_disk() { dd if="$F" bs=1M iflag=direct 2>/dev/null | strings -n 8 | grep -q -F "$1"; }
in_cache() { strings -n 8 "$F" | grep -q -F "$1"; }
# vda_written: sectors written to the disk so far (field 7 of its stat).
vda_written() { awk '{ print $7 }' /sys/block/vda/stat; }
marker() { echo "$1-$(head -c 8 /dev/urandom | od -A n -t x1 | tr -d ' \n')"; }

# Start kvserver by hand: start_server would end the scenario on a refusal,
# and a refusal is an answer here.
KV_SERVER_N=1
KV_SERVER_LOG=$KV_OUT/kvserver.1.log
export KV_SERVER_LOG
ws=$(vda_written)
kvserver -a "$KV_ADDR" -m 16M -L 200 --sync-interval 200 --file "$F" 2>"$KV_SERVER_LOG" &
SERVER_PID=$!
i=0
while [ "$i" -lt 100 ] && alive "$SERVER_PID" && ! grep -q 'listening on' "$KV_SERVER_LOG"; do
	sleep 0.1
	i=$((i + 1))
done
if ! grep -q 'listening on' "$KV_SERVER_LOG"; then
	alive "$SERVER_PID" && fail "kvserver neither listened nor exited within 10 s"
	wait "$SERVER_PID"
	rc=$?
	note "REFUSED: kvserver --file on ext4 exited $rc: $(grep -v '^ *$' "$KV_SERVER_LOG" | tail -n 3 | tr '\n' ' ')"
	dmesg | tail -n 20 >"$KV_OUT/dmesg.refused"
	# The clear failure expected from a kernel that refuses long-term pins of
	# shared file mappings: exit 3, the registration named, the errno given.
	[ "$rc" = 3 ] || fail "kvserver exit $rc, not 3 (an RDMA or system error)"
	grep -q 'registering the [0-9]*-byte slab' "$KV_SERVER_LOG" ||
		fail "kvserver's message does not name the registration"
	log "ok (the device may not pin a shared mapping of an ext4 file on this kernel)"
	exit 0
fi
note "REGISTERED: $(grep -m1 'listening on' "$KV_SERVER_LOG")"
note "kvserver: $(grep -m1 -e created -e opened "$KV_SERVER_LOG" | sed 's/^kvserver: //')"
note "pinned: $(grep -E '^(VmLck|VmPin)' "/proc/$SERVER_PID/status" | tr -s ' \t' ' ' | tr '\n' ' ')"

# A PUT and a GET.
V=$(marker value)
kvcli put k1 "$V" || fail "put k1: exit $?"
[ "$(kvcli get k1)" = "$V" ] || fail "k1 does not read back"

# Durability: a value the device wrote after the first msync of the whole
# file (kvserver syncs every 200 ms), then 1 s = about five syncs later, is
# on the disk. RDMA writes leave a written-back page clean; kvserver's syncer
# finds the changed pages and dirties them again before each msync
# (server/kv_syncer.h). Without it this was NO, with 0 sectors written.
sleep 1
note "first syncs: $(($(vda_written) - ws)) sectors written in the first second (the file is $((16 * 2048)) sectors)"
M=$(marker probe)
w0=$(vda_written)
kvcli put k2 "$M" || fail "put k2: exit $?"
sleep 1
w1=$(vda_written)
in_cache "$M" || fail "the probe value is not even in the page cache"
if on_disk "$M"; then d=yes; else d=NO; fi
note "probe: a PUT 1 s after start, then 1 s of syncs every 200 ms: on disk: $d; $((w1 - w0)) sectors written meanwhile"
[ $((w1 - w0)) -gt 0 ] || fail "the syncs wrote nothing after the PUT"
[ "$d" = yes ] || fail "an acknowledged PUT is not on the disk after five syncs"
note "syncer: $(kvcli stats | tr ',' '\n' | grep '"sync_' | tr -d '"' | tr '\n' ' ')"
w0=$(vda_written)
sync
w1=$(vda_written)
if on_disk "$M"; then d=yes; else d=NO; fi
note "probe: after sync(1) as well: on disk: $d; $((w1 - w0)) sectors written by sync"
[ "$d" = yes ] || fail "not on disk after sync(1)"

# SIGKILL, then a restart on the same file: the values are back.
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
if on_disk "$M"; then d=yes; else d=NO; fi
note "probe: after SIGKILL of kvserver (the MR deregistered at exit): on disk: $d"
start_server -L 200 --sync-interval 200 --file "$F"
note "restart: $(grep -m1 'opened' "$KV_SERVER_LOG" | sed 's/^kvserver: //')"
[ "$(kvcli get k1)" = "$V" ] || fail "k1 after the restart"
[ "$(kvcli get k2)" = "$M" ] || fail "k2 after the restart"
sleep 1
if on_disk "$M"; then d=yes; else d=NO; fi
note "probe: 1 s after the restart (its registration dirtied every page again): on disk: $d"
kvcli put k3 three || fail "put k3 after the restart"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"
start_server -L 200 --file "$F"
grep -q 'clean stop' "$KV_SERVER_LOG" || fail "the header does not say the stop was clean"
[ "$(kvcli get k3)" = three ] || fail "k3 after a clean stop"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"

dmesg >"$KV_OUT/dmesg.after"
awk 'NR == FNR { seen[$0] = 1; next } !($0 in seen)' "$KV_OUT/dmesg.before" "$KV_OUT/dmesg.after" >"$KV_OUT/dmesg.new"
if grep -q -E 'WARNING|BUG|Oops|ext4.*error' "$KV_OUT/dmesg.new"; then
	note "kernel messages during the scenario: $(grep -E 'WARNING|BUG|Oops|error' "$KV_OUT/dmesg.new" | head -n 3 | tr '\n' ' ')"
	fail "the kernel complained (see $KV_NAME/dmesg.new)"
fi
log "ok"
