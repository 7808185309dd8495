#!/bin/sh
# Issue 9: kvcli dump and restore move every item to a store of another
# size. A store of -m 64M gets 3000 text items of 1 B .. 4 KB (keys of 3 to
# 160 bytes), a fifth of them overwritten and a seventh deleted, and five
# items put from files: random bytes with NULs and newlines, a 0-byte value,
# a 1 MiB value, a 250-byte key, a key with a newline and a tab. While a
# batch writer rewrites one key ("hot") without pause, `kvcli dump` writes
# the store to a file. A store of -m 256M -I 32M restores it; then every
# key holds its value (all 3000 through one batch, the five from files with
# cmp), the deleted keys are absent, the store counts exactly the dumped
# items, "hot" holds one whole value the writer put, and a dump of the new
# store has as many items and as many bytes as the first (the order of the
# index differs). A truncated dump and a dump with one byte changed make
# restore exit 2 naming the item (the items before it stay restored), and
# so does a value over the server's limit; a store too small exits 4;
# something that is not a dump exits 2.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

N=3000
PAT=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ

# The model: puts.txt (batch input: puts, overwrites, deletes), gets.txt
# (a get of every key) and want.txt (the answers the store must give).
awk -v n="$N" -v a="$PAT" '
'"$KV_AWK_LOGU"'
BEGIN {
	srand(9)
	p = a
	while (length(p) < 4000 + 62) p = p p
	for (i = 0; i < n; i++) {
		k = "k" i "-"
		kl = logu(3, 160)
		while (length(k) < kl) k = k substr(a, (i + length(k)) % 62 + 1, 1)
		v = substr(p, i % 62 + 1, logu(1, 4000))
		print "put " k " " v > "puts.txt"
		key[i] = k
		val[i] = v
	}
	for (i = 0; i < n; i += 5) {
		val[i] = "o" substr(p, (i + 7) % 62 + 1, logu(1, 4000))
		print "put " key[i] " " val[i] > "puts.txt"
	}
	for (i = 3; i < n; i += 7) {
		print "del " key[i] > "puts.txt"
		val[i] = ""
	}
	for (i = 0; i < n; i++) {
		print "get " key[i] > "gets.txt"
		print (val[i] == "" ? "NOT_FOUND" : "VALUE " val[i]) > "want.txt"
	}
}'
live=$(grep -c '^VALUE ' want.txt)

start_server -m 64M
t0=$(ms_now)
kvcli batch <puts.txt >puts.out || fail "batch of puts exited $?"
[ "$(grep -cvx OK puts.out)" = 0 ] || fail "puts: $(sort puts.out | uniq -c | head -5)"
t1=$(ms_now)
log "$(wc -l <puts.txt) puts, overwrites and deletes in $((t1 - t0)) ms; $live keys live"

# Items from files.
head -c 5000 /dev/urandom >bin.v
printf 'a\000b\nc\000\000\n\r\n' >>bin.v
: >empty.v
head -c 1048576 /dev/urandom >big.v
head -c 777 /dev/urandom >k250.v
printf 'tab\there\nnewline' >odd.v
K250=$(printf '%250s' '' | tr ' ' K)
ODD=$(printf 'line\nbreak\ttab')
kvcli put bin - <bin.v || fail "put bin"
kvcli put empty - <empty.v || fail "put empty"
kvcli put big - <big.v || fail "put big"
kvcli put "$K250" - <k250.v || fail "put the 250-byte key"
kvcli put "$ODD" - <odd.v || fail "put the key with a newline"
kvcli batch <gets.txt | cmp - want.txt || fail "the first store does not hold the model"

# A writer that rewrites "hot" without pause: "h<n>:" then a filler that
# depends on n alone, of n % 300 bytes. (hot.out exists before the wait
# reads it: a background job's redirection happens after the fork.)
: >hot.out
: >hot.err
awk -v a="$PAT" 'BEGIN {
	p = a a a a a a
	for (n = 1; n <= 200000; n++)
		printf "put hot h%d:%s:%d\n", n, substr(p, n % 62 + 1, n % 300), n
}' | kvcli batch >hot.out 2>hot.err &
hot=$!
i=0
while [ "$(grep -c OK hot.out)" -lt 20 ] && [ "$i" -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
h0=$(grep -c OK hot.out)
[ "$h0" -ge 20 ] || fail "the hot writer did not start: $(head -c 300 hot.err)"

t0=$(ms_now)
expect_exit 0 sh -c 'kvcli dump >d1'
t1=$(ms_now)
h1=$(grep -c OK hot.out)
kill "$hot"
wait "$hot"
log "dump: $(wc -c <d1) bytes in $((t1 - t0)) ms, while the writer put hot $((h1 - h0)) times"
[ "$h1" -gt "$h0" ] || fail "the writer made no progress during the dump"
dumped=$(sed -n 's/.*dumped \([0-9]*\) items.*/\1/p' "$LAST_ERR")
[ "$dumped" = $((live + 6)) ] || fail "dumped '$dumped' items, not $live + 6"
[ "$(head -c 9 d1)" = "KVDUMP 1" ] || fail "the dump does not start with its header line"
stop_server || fail "kvserver exit status $?"

# Another size, another index.
start_server -m 256M -I 32M
t0=$(ms_now)
expect_exit 0 sh -c 'kvcli restore <d1'
t1=$(ms_now)
has_line "$LAST_ERR" "kvcli: restored $dumped items" || fail "restore did not say it restored $dumped items"
log "restored $dumped items in $((t1 - t0)) ms"

kvcli batch <gets.txt >gets.out || fail "batch of gets exited $?"
cmp gets.out want.txt || fail "the restored store differs from the model"
# fget KEY FILE: KEY holds FILE's bytes (get adds a newline).
fget() {
	kvcli get "$1" >got || fail "get $(printf %.20s "$1")... exited $?"
	n=$(wc -c <"$2")
	[ "$(wc -c <got)" = $((n + 1)) ] || fail "get $(printf %.20s "$1"): $(wc -c <got) bytes, not $n + 1"
	head -c "$n" got | cmp - "$2" || fail "get $(printf %.20s "$1"): the bytes differ"
}
fget bin bin.v
fget empty empty.v
fget big big.v
fget "$K250" k250.v
fget "$ODD" odd.v
# hot: one value the writer put, whole.
kvcli get hot >hot.v || fail "get hot exited $?"
awk -v a="$PAT" -v max=$((h1 + 1)) 'BEGIN { p = a a a a a a }
	{ n = substr($0, 2, index($0, ":") - 2) + 0
	  if ($0 != sprintf("h%d:%s:%d", n, substr(p, n % 62 + 1, n % 300), n) || n < 1 || n > max)
		exit 1 }' hot.v || fail "hot holds '$(head -c 80 hot.v)', not a value the writer put"
log "hot holds $(cut -d: -f1 hot.v) (the writer had put h$h0 when the dump began, h$h1 when it ended)"
# An index of 2^22 words is counted by the sweep's passes (a lease apart).
wait_stat items "$dumped" 30 || fail "the new store has $(stat_num items) items, not $dumped"

# A dump of the new store: the same items in another order.
expect_exit 0 sh -c 'kvcli dump >d2'
has_line "$LAST_ERR" "kvcli: dumped $dumped items ($(stat_num index_words) index words read, 0 items settled by a GET)" ||
	fail "the second dump did not give $dumped items"
[ "$(wc -c <d2)" = "$(wc -c <d1)" ] || fail "the dumps have $(wc -c <d1) and $(wc -c <d2) bytes"
stop_server || fail "kvserver exit status $?"

# Damaged dumps, into a fresh store: exit 2, the item named, the items
# before it restored.
start_server -m 64M
size=$(wc -c <d1)
head -c $((size / 2)) d1 >trunc
expect_exit 2 sh -c 'kvcli restore <trunc'
grep -q 'item [0-9]*: the dump ends' "$LAST_ERR" || fail "no reason for the truncated dump"
before=$(sed -n 's/.*restored \([0-9]*\) items (those before the error).*/\1/p' "$LAST_ERR")
if [ -z "$before" ] || [ "$before" -eq 0 ]; then fail "no count of the items restored"; fi
[ "$(stat_num items)" = "$before" ] || fail "$(stat_num items) items stored, $before restored"
log "truncated at $((size / 2)) of $size bytes: $before items restored, then refused"
# One byte changed a third of the way in.
cp d1 flip
off=$((size / 3))
b=$(od -An -tu1 -j "$off" -N1 d1 | tr -d ' ')
# shellcheck disable=SC2059 # the format is the octal escape of the new byte
printf "\\$(printf %o $((b ^ 1)))" | dd of=flip bs=1 seek="$off" conv=notrunc 2>/dev/null
cmp -s d1 flip && fail "the byte did not change"
expect_exit 2 sh -c 'kvcli restore <flip'
grep -q 'restore: item [0-9]*: ' "$LAST_ERR" || fail "no item named for the changed byte"
expect_exit 2 sh -c 'echo hello | kvcli restore'
grep -q 'not a dump' "$LAST_ERR" || fail "no reason for a file that is not a dump"
expect_exit 2 sh -c 'kvcli restore <empty.v'
stop_server || fail "kvserver exit status $?"

# A server whose values are shorter than the 1 MiB one: exit 2, named.
start_server -m 64M -v 512K
expect_exit 2 sh -c 'kvcli restore <d1'
grep -q "item [0-9]*: its value of 1048576 bytes is over the server's limit of 524288" "$LAST_ERR" ||
	fail "no reason for the value over the limit"
stop_server || fail "kvserver exit status $?"

# A store too small for the dump: exit 4, the item's size named.
start_server -m 2M
expect_exit 4 sh -c 'kvcli restore <d1'
grep -q 'item [0-9]*: store full: .*(key of [0-9]* bytes, value of [0-9]* bytes' "$LAST_ERR" ||
	fail "no size named for the store full"
stop_server || fail "kvserver exit status $?"
log "ok"
