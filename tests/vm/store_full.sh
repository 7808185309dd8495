#!/bin/sh
# Issue 3 under layout v3 (issue 8): a store fills up, in memory or in its
# index, and says which; what it holds stays whole.
# (1) A 4 MiB store filled by one batch, values of mixed sizes (64 B ..
# 200 KB), until ERROR store full: every key that got OK reads back exactly.
# (2) A 1 MiB value that does not fit: kvcli exits 4, the message says
# "store full: memory" and the item's size; every stored key is intact.
# (3) Deleting makes room again, a pass or two later (the sweep frees what no
# index word names): after deleting the values of 20 KB and more, ten
# values of 100 KB fit and the rest is intact; after deleting everything,
# all the memory comes back and the 1 MiB value fits.
# (4) A store with a tiny index (-I 4K: 64 buckets of 8 words) and plenty of
# memory fills its index first: the message says index; deleting a key
# frees its word at once, so del and re-insert work over and over.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

# fill_lines: batch lines "put fI VALUE" with VALUE printable: "fI:" then a
# filler pattern shifted by I. 80 values of sizes from a cycle (2.4 MB in
# all), then 12 of 200 KB (more than what is left), then 20 small ones to
# fill what holes there are: 112 lines.
fill_lines() {
	awk 'BEGIN {
		a = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		p = a
		while (length(p) < 210000) p = p p
		split("64 1000 20000 150000 300 5000 60000 2500", sz, " ")
		split("64 1000 300 5000 2500", sm, " ")
		for (i = 0; i < 112; i++) {
			s = i < 80 ? sz[i % 8 + 1] : i < 92 ? 200000 : sm[i % 5 + 1]
			h = "f" i ":"
			printf "put f%d %s%s\n", i, h, substr(p, i % 62 + 1, s - length(h))
		}
	}'
}

# want_of IN OUT: for each line of IN (puts) answered OK in OUT (the batch's
# answers, line for line), a "get KEY" line to get.in and "VALUE V" to want.
want_of() {
	awk 'NR == FNR { ok[FNR] = ($0 == "OK"); next }
		ok[FNR] { print "get " $2 > "get.in"; v = $0; sub(/^put [^ ]* /, "", v); print "VALUE " v > "want" }' "$2" "$1"
}

# reclaimed MIN_EXTENT: poll the stats (up to 3 s) until nothing is pending
# and the largest free extent is at least MIN_EXTENT; the stats to $s, the
# ms it took to $took.
reclaimed() {
	t0=$(ms_now)
	i=0
	while :; do
		s=$(kvcli stats)
		[ "$(stat_num bytes_pending "$s")" = 0 ] &&
			[ "$(stat_num largest_free_extent "$s")" -ge "$1" ] && break
		[ "$i" -lt 30 ] || break
		sleep 0.1
		i=$((i + 1))
	done
	took=$(($(ms_now) - t0))
	[ "$(stat_num bytes_pending "$s")" = 0 ] &&
		[ "$(stat_num largest_free_extent "$s")" -ge "$1" ]
}

# --- (1) memory fills first ----------------------------------------------
# Near full, a grant often waits for the next pass to free what a client
# gave back (a quarter lease a try): -L 200 keeps passes quick.
start_server -m 4M -L 200
fill_lines >fill.in
t0=$(ms_now)
kvcli batch <fill.in >fill.out || fail "batch exited $?"
[ "$(wc -l <fill.out)" = 112 ] || fail "batch answered $(wc -l <fill.out) lines of 112"
ok=$(grep -c '^OK$' fill.out)
full=$(grep -c '^ERROR store full' fill.out)
first_refusal=$(awk '/^ERROR/ { print NR - 1; exit }' fill.out)
log "(1) $ok values stored, $full refused as full (first refusal after $first_refusal) in $(($(ms_now) - t0)) ms"
log "(1) answers: $(awk '{ print $1 }' fill.out | tr '\n' ' ' | sed 's/OK /./g')"
wait_stat items "$ok" 30 || fail "(1) items is $(stat_num items), not $ok"
s=$(kvcli stats)
log "(1) $(stats_line "$s")"
[ "$full" -gt 0 ] || fail "the store never reported full"
[ $((ok + full)) = 112 ] || fail "answers other than OK and store full: $(grep -v '^OK$' fill.out | grep -v '^ERROR store full' | sort | uniq -c | cut -c1-200)"
payload=$(stat_num payload_bytes "$s")
data=$(stat_num data_bytes "$s")
[ $((payload * 100 / data)) -ge 60 ] || fail "full with $payload payload bytes of $data (under 60%)"
want_of fill.in fill.out
kvcli batch <get.in | cmp - want || fail "(1) a stored value does not read back exactly"

# --- (2) a big value that does not fit -----------------------------------
head -c 1048576 /dev/urandom >big
t0=$(ms_now)
expect_exit 4 sh -c 'kvcli put big - <big'
log "(2) put of 1 MiB refused in $(($(ms_now) - t0)) ms: $(cat "$LAST_ERR")"
grep -q 'store full' "$LAST_ERR" || fail "(2) no 'store full' in the message"
grep -q 'memory' "$LAST_ERR" || fail "(2) the message does not say memory"
size=$(sed -n 's/.*item of \([0-9]*\) bytes.*/\1/p' "$LAST_ERR")
[ -n "$size" ] && [ "$size" -ge 1048576 ] && [ "$size" -le 1049600 ] ||
	fail "(2) the message does not name the item's size (1 MiB and its key)"
expect_exit 1 kvcli get big
kvcli batch <get.in | cmp - want || fail "(2) a stored value changed after the refused 1 MiB put"
[ "$(stat_num items)" = "$ok" ] || fail "(2) items is not $ok"

# --- (3) deleting makes room again ---------------------------------------
# The values of 20 KB and more go; the small ones stay, spread over the
# region. A pass or two later there is room for ten values of 100 KB.
awk 'NR == FNR { ok[FNR] = ($0 == "OK"); next }
	ok[FNR] { print (length($0) >= 20000 ? "del" : "keep"), $2 }' fill.out fill.in >sorted
awk '$1 == "del" { print "del " $2 }' sorted >del.in
awk '$1 == "keep" { print "get " $2 }' sorted >keep.in
# the wanted answers of the kept keys, in the order of keep.in
paste -d '\n' get.in want | awk 'NR % 2 == 1 { k = $0; next } { v[k] = $0 }
	END { while ((getline l < "keep.in") > 0) print v[l] }' >keep.want
kvcli batch <del.in >del.out || fail "(3) del batch exited $?"
ndel=$(wc -l <del.in)
[ "$(grep -cx OK del.out)" = "$ndel" ] || fail "(3) not every delete said OK"
reclaimed 150000 || fail "(3) 3 s after deleting $ndel values: $(stats_line "$s")"
log "(3) $ndel values of 20 KB and more deleted; reclaimed after $took ms: $(stats_line "$s")"
awk 'BEGIN { p = "0123456789"; while (length(p) < 100000) p = p p
	for (i = 0; i < 10; i++) printf "put r%d %d%s\n", i, i, substr(p, 1, 99999) }' >re.in
t0=$(ms_now)
kvcli batch <re.in >re.out || fail "(3) batch exited $?"
log "(3) ten values of 100 KB: $(sort re.out | uniq -c | tr '\n' ' ')in $(($(ms_now) - t0)) ms"
[ "$(grep -cx OK re.out)" = 10 ] || fail "(3) the ten 100 KB values did not all fit"
awk '{ print "get " $2 }' re.in | kvcli batch >re.got
awk '{ v = $0; sub(/^put [^ ]* /, "", v); print "VALUE " v }' re.in | cmp - re.got ||
	fail "(3) a 100 KB value does not read back exactly"
kvcli batch <keep.in | cmp - keep.want || fail "(3) a value not deleted changed"
sed 's/^del /get /' del.in | kvcli batch >gone.out
[ "$(grep -cx NOT_FOUND gone.out)" = "$ndel" ] || fail "(3) a deleted key is still there"
# Everything goes: all the memory comes back; then the 1 MiB value fits.
{ sed 's/^get /del /' keep.in; sed 's/^put \([^ ]*\) .*/del \1/' re.in; } >del2.in
kvcli batch <del2.in >del2.out || fail "(3) del batch exited $?"
[ "$(grep -cx OK del2.out)" = "$(wc -l <del2.in)" ] || fail "(3) not every delete said OK"
reclaimed "$data" || fail "(3) 3 s after deleting everything: $(stats_line "$s")"
log "(3) everything deleted; reclaimed after $took ms: $(stats_line "$s")"
[ "$(stat_num bytes_allocated "$s")" = 0 ] || fail "(3) bytes still allocated with nothing stored"
t0=$(ms_now)
expect_exit 0 sh -c 'kvcli put big - <big'
log "(3) put of 1 MiB stored in $(($(ms_now) - t0)) ms"
kvcli get big >big.out || fail "(3) get big"
[ "$(wc -c <big.out)" = 1048577 ] || fail "(3) get big gave $(wc -c <big.out) bytes, not 1048576 + newline"
head -c 1048576 big.out | cmp - big || fail "(3) the 1 MiB value changed"
stop_server || fail "kvserver exit status $?"

# --- (4) the index fills first ---------------------------------------------
start_server -m 4M -I 4K
awk 'BEGIN { for (i = 0; i < 700; i++) printf "put i%d value-%d\n", i, i }' >ifill.in
t0=$(ms_now)
kvcli batch <ifill.in >ifill.out || fail "batch exited $?"
log "(4) 700 puts in $(($(ms_now) - t0)) ms"
ok=$(grep -c '^OK$' ifill.out)
full=$(grep -c '^ERROR store full' ifill.out)
total=$(stat_num index_words)
first_refusal=$(awk '/^ERROR/ { print NR - 1; exit }' ifill.out)
log "(4) $ok keys stored, $full refused as full, $total index words; first refusal after $first_refusal stored ($((first_refusal * 100 / total))% full)"
log "(4) $(stats_line)"
[ "$total" = 512 ] || fail "(4) -I 4K gave $total index words, not 512"
[ "$full" -gt 0 ] || fail "(4) the index never filled"
[ $((ok + full)) = 700 ] || fail "(4) answers other than OK and store full"
[ $((ok * 100 / total)) -ge 75 ] || fail "(4) full at $ok of $total words (under 75%)"
want_of ifill.in ifill.out
kvcli batch <get.in | cmp - want || fail "(4) a stored key changed after the index filled"
wait_stat items "$ok" 30 || fail "(4) items is $(stat_num items), not $ok"
key=$(awk '/^ERROR/ { printf "i%d", NR - 1; exit }' ifill.out)
expect_exit 4 kvcli put "$key" v
grep -q 'store full' "$LAST_ERR" || fail "(4) no 'store full' in the message"
grep -q 'index' "$LAST_ERR" || fail "(4) the message does not say index"
grep -q 'memory' "$LAST_ERR" && fail "(4) the message says memory"
# Deleting frees an index word at once; the table does not slowly fill.
first=$(awk '/^OK$/ { printf "i%d", NR - 1; exit }' ifill.out)
t0=$(ms_now)
awk -v k="$first" 'BEGIN { for (n = 1; n <= 10; n++) printf "del %s\nput %s again%d\n", k, k, n }' |
	kvcli batch >again.out || fail "del and re-put batch exited $?"
[ "$(grep -cx OK again.out)" = 20 ] || fail "del and re-put of $first: $(sort again.out | uniq -c | tr '\n' ' ')"
[ "$(kvcli get "$first")" = again10 ] || fail "re-put value"
log "(4) ten rounds of del and re-put of $first in $(($(ms_now) - t0)) ms"
wait_stat items "$ok" 30 || fail "(4) items is $(stat_num items), not $ok"
stop_server || fail "kvserver exit status $?"
