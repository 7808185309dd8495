#!/bin/sh
# Issue 3: fill the store until it reports full; earlier keys stay readable.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 1M
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "put fill%d value-%d\n", i, i }' |
	kvcli batch > /tmp/fill.out || fail "batch exited $?"
ok=$(grep -c '^OK$' /tmp/fill.out)
full=$(grep -c '^ERROR store full' /tmp/fill.out)
total=$(kvcli stats | sed 's/.*"slots_total":\([0-9]*\).*/\1/')
first_refusal=$(awk '/^ERROR/ { print NR - 1; exit }' /tmp/fill.out)
log "$ok keys stored, $full refused as full, $total slots; first refusal after $first_refusal stored ($((first_refusal * 100 / total))% full)"
[ "$full" -gt 0 ] || fail "the store never reported full"
[ $((ok * 100 / total)) -ge 75 ] || fail "full at $ok of $total slots (under 75%)"
# Every key that got OK reads back its own value.
awk '{ if ($0 == "OK") printf "get fill%d\n", NR - 1 }' /tmp/fill.out > /tmp/get
awk '{ if ($0 == "OK") printf "VALUE value-%d\n", NR - 1 }' /tmp/fill.out > /tmp/want
kvcli batch < /tmp/get | cmp - /tmp/want || fail "a stored key changed after the store filled"
key=$(awk '/^ERROR/ { printf "fill%d", NR - 1; exit }' /tmp/fill.out)
expect_exit 4 kvcli put "$key" v
grep -qi full "$LAST_ERR" || fail "no 'full' in the message"
# Deleting makes room again, and the table does not slowly fill.
first=$(awk '/^OK$/ { printf "fill%d", NR - 1; exit }' /tmp/fill.out)
for n in 1 2 3 4 5 6 7 8 9 10; do
	kvcli del "$first" || fail "del $first"
	kvcli put "$first" "again$n" || fail "re-put $first after delete (round $n)"
done
[ "$(kvcli get "$first")" = again10 ] || fail "re-put value"
stop_server || fail "kvserver exit status $?"
