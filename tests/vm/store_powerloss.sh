#!/bin/sh
# kvvm-disk: 128M
# Issue 9: a power loss, played on a real ext4 file. After a power loss the
# disk holds pages of different ages: msync writes them in no order, and
# pages the RDMA device wrote since the syncer's last pass are old on disk.
# The worst case for the index is a page of it newer than the data its
# words name. This scenario makes that image by hand:
#   - kvserver --file, 60 keys written and a snapshot of the index taken
#     after them (two sync passes begin after the writes: the second one
#     copies an index that holds them all, and writes it to a slot unless
#     the newest slot holds the same already);
#   - right after, within the same sync interval (4 s), every key rewritten
#     with a longer value (new blocks) and 20 new keys inserted;
#   - SIGKILL; the image is the file as the disk holds it (O_DIRECT reads),
#     with the index pages taken from the page cache (the newest);
#   - kvserver opens the image as after a reboot (KVSERVER_BOOT_ID stands
#     for another boot): from the newest snapshot slot. Every one of the 60
#     keys is there, byte-exact, with its first value or its second (none
#     lost whole), a new key is absent or exact, and the store takes writes.
#   - The same image opened as after a crash of kvserver alone (same boot
#     id: the index as found, words that name no valid block dropped) shows
#     what the snapshot saved: the keys that path loses are counted.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"
[ -n "${KV_DISK:-}" ] || fail "no disk: KV_DISK is not set (scripts/vm/run.sh makes one for '# kvvm-disk:')"
F=$KV_DISK/pl.store
IMG=$KV_DISK/pl.image
IMG2=$KV_DISK/pl.image2
rm -f "$F" "$IMG" "$IMG2"

stat_of() { kvcli stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
val1() { echo "first-$1"; }
val2() { echo "second-value-of-$1-$(printf '%040d' 0)"; }

start_server -m 8M -L 200 --sync-interval 4000 --file "$F"
i=0
while [ "$i" -lt 60 ]; do
	echo "put k$i $(val1 "$i")"
	i=$((i + 1))
done | kvcli batch >b1.out 2>&1 || fail "first batch: exit $?"
[ "$(grep -c '^OK$' b1.out)" = 60 ] || fail "first batch: $(sort b1.out | uniq -c | tr '\n' ' ')"
# Two more sync passes: the second began after every first value.
s0=$(stat_of sync_passes)
t=0
while [ "$(stat_of sync_passes)" -lt $((s0 + 2)) ]; do
	[ "$t" -lt 200 ] || fail "no two sync passes in 20 s (sync_passes $(stat_of sync_passes))"
	sleep 0.1
	t=$((t + 1))
done
[ "$(stat_of sync_snapshots)" -ge 2 ] || fail "no snapshot after the first writes (sync_snapshots $(stat_of sync_snapshots))"
# Right after a snapshot: rewrite and insert, all within the interval.
i=0
while [ "$i" -lt 60 ]; do
	echo "put k$i $(val2 "$i")"
	i=$((i + 1))
done >b2.in
i=0
while [ "$i" -lt 20 ]; do
	echo "put n$i new-$i"
	i=$((i + 1))
done >>b2.in
kvcli batch <b2.in >b2.out 2>&1 || fail "second batch: exit $?"
[ "$(grep -c '^OK$' b2.out)" = 80 ] || fail "second batch: $(sort b2.out | uniq -c | tr '\n' ' ')"
geo=$(kvcli stats)
ioff=$(echo "$geo" | sed -n 's/.*"index_offset":\([0-9]*\).*/\1/p')
nb=$(echo "$geo" | sed -n 's/.*"buckets":\([0-9]*\).*/\1/p')
# The image, taken while kvserver still runs (its registration pins the
# pages; unpinning them at its exit makes them all dirty, and all of them
# would reach the disk): the disk's pages, then the index's pages from the
# page cache over them.
dd if="$F" of="$IMG" bs=1M iflag=direct 2>/dev/null || fail "dd of the disk's image"
ipage=$(((4096 + ioff) / 4096))
npage=$(((nb * 64 + 4095) / 4096))
dd if="$F" of="$IMG" bs=4096 skip="$ipage" seek="$ipage" count="$npage" conv=notrunc 2>/dev/null ||
	fail "dd of the index pages"
s1=$(stat_of sync_passes)
[ "$s1" = $((s0 + 2)) ] || log "note: a sync pass ran during the second batch ($s0 -> $s1): some second values may be in a snapshot"
if cmp -s "$F" "$IMG"; then
	log "note: the disk already held every page (nothing was newer in the cache)"
else
	log "image: $(cmp -l "$F" "$IMG" | wc -l) bytes differ from the page cache's file"
fi
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
cp "$IMG" "$IMG2"
log "image: $(stat -c %s "$IMG") bytes; index pages $ipage..$((ipage + npage - 1)) from the cache"

# After a reboot: from the snapshot.
export KVSERVER_BOOT_ID=00000000-0000-4000-8000-000000000001
start_server -L 200 --sync-interval 4000 --file "$IMG"
unset KVSERVER_BOOT_ID
grep -q 'stopped by a crash of the machine (another boot id): its index is snapshot' \
	"$KV_SERVER_LOG" || fail "kvserver did not open the image from a snapshot: $(cat "$KV_SERVER_LOG")"
log "$(grep -m1 'crash of the machine' "$KV_SERVER_LOG" | sed 's/^kvserver: //')"
grep -q 'keys lost' "$KV_SERVER_LOG" && fail "keys lost after opening from the snapshot: $(grep 'keys lost' "$KV_SERVER_LOG")"
i=0
while [ "$i" -lt 60 ]; do
	echo "get k$i"
	i=$((i + 1))
done | kvcli batch >g.out 2>&1 || fail "get batch: exit $?"
i=0 first=0 second=0
while IFS= read -r line; do
	case $line in
	"VALUE $(val1 "$i")") first=$((first + 1)) ;;
	"VALUE $(val2 "$i")") second=$((second + 1)) ;;
	*) fail "k$i after the power loss: '$line'" ;;
	esac
	i=$((i + 1))
done <g.out
[ "$i" = 60 ] || fail "$i answers for 60 keys"
newk=0
i=0
while [ "$i" -lt 20 ]; do
	if out=$(kvcli get "n$i"); then
		[ "$out" = "new-$i" ] || fail "n$i after the power loss: '$out'"
		newk=$((newk + 1))
	else
		rc=$?
		[ "$rc" = 1 ] || fail "get n$i: exit $rc"
	fi
	i=$((i + 1))
done
log "after the power loss: $first first values, $second second values, $newk of 20 new keys (none lost, none torn)"
[ $((first + second)) = 60 ] || fail "keys lost"
kvcli put k0 after || fail "put after the power loss: exit $?"
[ "$(kvcli get k0)" = after ] || fail "k0 after a put on the recovered store"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"

# The same image as after a crash of kvserver alone: the index as found.
start_server -L 200 --sync-interval 4000 --file "$IMG2"
lost=$(sed -n 's/.*: \([0-9]*\) keys lost.*/\1/p' "$KV_SERVER_LOG" | head -n 1)
log "the same image opened from its index as found: ${lost:-0} keys lost (the snapshot lost none)"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"
rm -f "$F" "$IMG" "$IMG2"
log "ok"
