#!/bin/sh
# The hash seed is random per store. With the old constant seed
# (0x6b7673746f7265) anyone could compute keys that fill a victim key's two
# buckets of index words, after which PUT victim failed with "store full"
# (exit 4) in an empty store. kv_collide computes 16 such keys for this
# geometry (-m 16M -I 64K: 1024 buckets of 8 words, a small index so the
# search takes well under a second) and checks, with the client code on a
# local slab under the old seed, that they do fill them (it exits non-zero
# otherwise). Against a real kvserver with the same geometry they are
# ordinary keys: the victim's PUT succeeds. Two servers in a row place the
# same keys in different index words, so their seeds differ.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

# fill_and_victim FILE: PUT the 16 colliding keys (one batch) and then
# victim; write to FILE the index words where an insert of victim and of the
# first key would go (debug-hold-lock claims the first empty word of the
# key's two buckets and prints HELD <word>; with 0 ms it then swings that
# word at once: WROTE). Where the buckets are depends on the seed.
fill_and_victim() {
	sed 's/.*/put & x/' keys | kvcli batch >fill.out || fail "batch exited $?"
	[ "$(grep -cx OK fill.out)" = 16 ] || fail "storing the 16 keys: $(sort fill.out | uniq -c)"
	expect_exit 0 kvcli put victim x
	[ "$(kvcli get victim)" = x ] || fail "get victim after its put"
	kvcli stats | grep -q '"items":17,' || fail "expected 17 items"
	: >"$1"
	for key in victim "$(head -n 1 keys)"; do
		expect_exit 0 kvcli debug-hold-lock "$key" 0
		has_line "$LAST_OUT" WROTE || fail "debug-hold-lock $key: no WROTE"
		sed -n 's/^HELD //p' "$LAST_OUT" >>"$1"
	done
}

t0=$(date +%s)
kv_collide -m 16M -I 64K victim >keys 2>collide.err
rc=$?
sed 's/^/   kv_collide| /' collide.err
[ "$rc" = 0 ] || fail "kv_collide failed its self-check (exit $rc)"
[ "$(wc -l <keys)" = 16 ] || fail "kv_collide printed $(wc -l <keys) keys, not 16"
log "16 keys colliding with victim under the old seed, in $(($(date +%s) - t0)) s: $(tr '\n' ' ' <keys)"

start_server -m 16M -I 64K
fill_and_victim slots.1
stop_server || fail "kvserver exit status $?"
start_server -m 16M -I 64K
fill_and_victim slots.2
stop_server || fail "kvserver exit status $?"
slots1=$(tr '\n' ' ' <slots.1)
slots2=$(tr '\n' ' ' <slots.2)
log "index words claimed for victim and $(head -n 1 keys): server 1: $slots1, server 2: $slots2"
[ "$(echo "$slots1" | wc -w)" = 2 ] || fail "no HELD words from debug-hold-lock"
[ "$slots1" != "$slots2" ] || fail "two stores placed the keys in the same index words: the same seed?"
