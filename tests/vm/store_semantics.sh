#!/bin/sh
# Issue 3: put, overwrite, get, del, absent keys, limits, odd bytes.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M

expect_exit 1 kvcli get nokey
[ -s "$LAST_OUT" ] && fail "get of an absent key printed something on stdout"
expect_exit 1 kvcli del nokey
expect_exit 0 kvcli put k1 v1
expect_exit 0 kvcli get k1
[ "$(cat "$LAST_OUT")" = "v1" ] || fail "get k1: wanted v1"
expect_exit 0 kvcli put k1 "second value"
expect_exit 0 kvcli get k1
[ "$(cat "$LAST_OUT")" = "second value" ] || fail "overwrite lost"
expect_exit 0 kvcli del k1
expect_exit 1 kvcli get k1
expect_exit 1 kvcli del k1
expect_exit 0 kvcli put k1 third
expect_exit 0 kvcli get k1
[ "$(cat "$LAST_OUT")" = "third" ] || fail "re-insert after delete lost"

# Limits: the key 1..250 bytes, the value up to 1 MiB by default (-v; a
# server with -v 1024 below).
k250=$(printf '%250s' '' | tr ' ' K)
k251=$(printf '%251s' '' | tr ' ' K)
v1024=$(printf '%1024s' '' | tr ' ' V)
v1025=$(printf '%1025s' '' | tr ' ' V)
expect_exit 0 kvcli put "$k250" "$v1024"
expect_exit 0 kvcli get "$k250"
[ "$(cat "$LAST_OUT")" = "$v1024" ] || fail "250-byte key with 1024-byte value"
expect_exit 2 kvcli put "$k251" v
grep -q 250 "$LAST_ERR" || fail "key limit message does not name 250"
expect_exit 2 kvcli get "$k251"
# One byte over the default 1 MiB, on stdin (too long for an argument).
head -c 1048577 /dev/zero >/tmp/v1m1
expect_exit 2 sh -c 'kvcli put k2 - </tmp/v1m1'
grep -q 1048576 "$LAST_ERR" || fail "value limit message does not name 1048576"
expect_exit 1 kvcli get k2
expect_exit 2 kvcli put "" v
expect_exit 2 kvcli get ""
expect_exit 2 kvcli put onlykey
expect_exit 2 kvcli frobnicate x

# Odd bytes: spaces, UTF-8, 0xff, control characters; NULs through stdin.
odd_key=$(printf 'k\001 \377\303\251/\\"')
expect_exit 0 kvcli put "$odd_key" "sp ace	tab"
expect_exit 0 kvcli get "$odd_key"
[ "$(cat "$LAST_OUT")" = "sp ace	tab" ] || fail "odd key"
printf 'a\000b\377\nend' > /tmp/bin.val
kvcli put binval - < /tmp/bin.val || fail "put from stdin"
kvcli get binval > /tmp/bin.got || fail "get binary value"
printf '\n' >> /tmp/bin.val
cmp /tmp/bin.val /tmp/bin.got || fail "binary value changed on the way"
printf '' | kvcli put emptyval - || fail "empty value"
[ "$(kvcli get emptyval | od -c | head -1)" = "0000000  \\n" ] || fail "empty value get"

# Stats report the live keys.
expect_exit 0 kvcli stats
grep -q '"items":5,' "$LAST_OUT" || fail "stats: expected 5 items"
grep -q '"slots_used":5,' "$LAST_OUT" || fail "stats: expected slots_used 5 (items)"
stop_server || fail "kvserver exit status $?"

# A server with -v 1024: 1024 bytes fit, 1025 are refused (exit 2) as an
# argument and on stdin, and the message names the limit.
start_server -m 4M -v 1024
expect_exit 0 kvcli put k2 "$v1024"
[ "$(kvcli get k2)" = "$v1024" ] || fail "-v 1024: 1024-byte value"
expect_exit 2 kvcli put k3 "$v1025"
grep -q 1024 "$LAST_ERR" || fail "value limit message does not name 1024"
expect_exit 1 kvcli get k3
printf '%1025s' '' | kvcli put big - ; [ $? = 2 ] || fail "over-long stdin value not refused"
expect_exit 1 kvcli get big
stop_server || fail "kvserver exit status $?"
