#!/bin/sh
# Issue 8: values of any size up to the server's -v round-trip byte-exact:
# 0 B, 1 B, 250 B, 4 KiB, 1 MiB and the configured maximum (-v 8M: 8 MiB),
# random bytes put from stdin; one byte over the maximum is refused (exit 2)
# and stores nothing. Overwrites across sizes (big to small and back) keep
# only the newest value. A key of 250 bytes works; 251 is refused (exit 2).
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

MAX=8388608
start_server -v 8M -m 64M

# roundtrip KEY FILE: put FILE's bytes under KEY from stdin; get prints them
# and a newline: N + 1 bytes, the first N the same as FILE.
roundtrip() {
	n=$(wc -c <"$2")
	t0=$(ms_now)
	kvcli put "$1" - <"$2" || fail "put $1 ($n bytes) exited $?"
	t1=$(ms_now)
	kvcli get "$1" >got || fail "get $1 ($n bytes) exited $?"
	t2=$(ms_now)
	[ "$(wc -c <got)" = $((n + 1)) ] || fail "get $1 gave $(wc -c <got) bytes, not $n + newline"
	head -c "$n" got | cmp - "$2" || fail "get $1: the $n bytes differ"
	[ "$(tail -c 1 got | od -An -c | tr -d ' ')" = '\n' ] || fail "get $1: no newline at the end"
	log "$1: $n bytes: put $((t1 - t0)) ms, get $((t2 - t1)) ms, byte-exact"
}

for n in 0 1 250 4096 1048576 "$MAX"; do
	head -c "$n" /dev/urandom >"v$n"
	roundtrip "size$n" "v$n"
done
s=$(kvcli stats)
[ "$(stat_num items "$s")" = 6 ] || fail "items $(stat_num items "$s"), not 6"
[ "$(stat_num max_value "$s")" = "$MAX" ] || fail "max_value $(stat_num max_value "$s"), not $MAX"
log "$(stats_line "$s")"

# One byte over the maximum: refused as too long, nothing stored.
head -c $((MAX + 1)) /dev/urandom >over
expect_exit 2 sh -c 'kvcli put over - <over'
grep -q "$MAX" "$LAST_ERR" || fail "the value limit message does not name $MAX"
expect_exit 1 kvcli get over

# Overwrites across sizes: the 8 MiB key gets 1 byte, then 1 MiB; the empty
# one gets 4 KiB; every other key keeps its value.
roundtrip "size$MAX" v1
roundtrip "size$MAX" v1048576
roundtrip size0 v4096
for n in 1 250 4096 1048576; do
	kvcli get "size$n" >got || fail "get size$n"
	head -c "$n" got | cmp - "v$n" || fail "size$n changed after the overwrites"
done

# Keys: 250 bytes work, 251 are refused.
k250=$(printf '%250s' '' | tr ' ' K)
k251=$(printf '%251s' '' | tr ' ' K)
roundtrip "$k250" v4096
expect_exit 2 sh -c "kvcli put $k251 - <v1"
grep -q 250 "$LAST_ERR" || fail "key limit message does not name 250"
expect_exit 2 kvcli get "$k251"
[ "$(stat_num items)" = 7 ] || fail "items is not 7 at the end"
stop_server || fail "kvserver exit status $?"
