#!/bin/sh
# Issue 8: memory comes back. A 64 MiB store is filled with 1 MiB values
# when new (at least 56 must fit), emptied, churned (three batch writers
# overwriting 200 keys with values of 10 B .. 200 KB, bounded in count and
# time), emptied again; once the sweep has reclaimed everything (nothing
# allocated, nothing pending) it holds at least as many 1 MiB values as when
# new: no space leaks, no fragmentation is left behind.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

start_server -m 64M
head -c 1048576 /dev/urandom >big

# fill_mib PREFIX: store 1 MiB values under PREFIX0, PREFIX1, ... until the
# store is full; the count to $count. 56 go in one batch (printable values,
# all must fit), then one kvcli put each until exit 4 (at most 16 more).
fill_mib() {
	t0=$(ms_now)
	awk -v pre="$1" 'BEGIN {
		p = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		while (length(p) < 1048576 + 62) p = p p
		for (i = 0; i < 56; i++) printf "put %s%d %s\n", pre, i, substr(p, i + 1, 1048576)
	}' | kvcli batch >fill.out || fail "fill batch exited $?"
	[ "$(grep -cx OK fill.out)" = 56 ] || fail "56 values of 1 MiB did not fit: $(sort fill.out | uniq -c | tr '\n' ' ')"
	count=56
	while :; do
		kvcli put "$1$count" - <big 2>fill.err
		rc=$?
		[ "$rc" = 4 ] && break
		[ "$rc" = 0 ] || fail "put $1$count exited $rc: $(cat fill.err)"
		count=$((count + 1))
		[ "$count" -lt 72 ] || fail "more than 72 values of 1 MiB in 64 MiB?"
	done
	log "$count values of 1 MiB stored in $(($(ms_now) - t0)) ms; then: $(cat fill.err)"
	grep -q 'store full: memory' fill.err || fail "the refusal does not say memory"
}

# empty_all PREFIX COUNT: delete PREFIX0 .. PREFIX<COUNT-1>.
empty_all() {
	awk -v pre="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "del %s%d\n", pre, i }' |
		kvcli batch >del.out || fail "del batch exited $?"
	[ "$(grep -cx OK del.out)" = "$2" ] || fail "deleting $2 values: $(sort del.out | uniq -c | tr '\n' ' ')"
}

# reclaimed: poll the stats (up to 5 s) until nothing is allocated or
# pending; the stats to $s.
reclaimed() {
	t0=$(ms_now)
	i=0
	while :; do
		s=$(kvcli stats)
		[ "$(stat_num bytes_allocated "$s")" = 0 ] && [ "$(stat_num bytes_pending "$s")" = 0 ] &&
			[ "$(stat_num items "$s")" = 0 ] && break
		[ "$i" -lt 50 ] || fail "5 s after deleting everything: $(stats_line "$s")"
		sleep 0.1
		i=$((i + 1))
	done
	log "reclaimed after $(($(ms_now) - t0)) ms: $(stats_line "$s")"
}

fill_mib n
new=$count
log "when new: $(stats_line)"
empty_all n "$new"
reclaimed

# Churn: three batch writers over the same 200 keys (c0..c199), 200 puts
# each, sizes log-uniform in 10 B .. 200 KB, values "wW-N-LEN:" and a
# printable filler; a writer still running after 40 s is stopped.
t0=$(ms_now)
for w in 1 2 3; do
	awk -v w="$w" '
	'"$KV_AWK_LOGU"'
	BEGIN {
		srand(w * 7919)
		p = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		while (length(p) < 200000 + 62) p = p p
		for (n = 0; n < 200; n++) {
			len = logu(10, 200000)
			h = "w" w "-" n "-" len ":"
			if (len < length(h)) len = length(h)
			printf "put c%d %s%s\n", int(rand() * 200), h, substr(p, n % 62 + 1, len - length(h))
		}
	}' | kvcli batch >"churn$w.out" 2>"churn$w.err" &
	eval "pid$w=\$!"
done
i=0
while { alive "$pid1" || alive "$pid2" || alive "$pid3"; } && [ "$i" -lt 400 ]; do
	sleep 0.1
	i=$((i + 1))
done
for w in 1 2 3; do
	eval "p=\$pid$w"
	if alive "$p"; then
		log "writer $w still running after 40 s: stopping it"
		kill "$p"
	fi
	wait "$p"
done
puts=$(cat churn1.out churn2.out churn3.out | grep -cx OK)
log "churn: $puts puts OK in $(($(ms_now) - t0)) ms; other answers: $(cat churn1.out churn2.out churn3.out | grep -vx OK | sort | uniq -c | tr '\n' ' ')"
cat churn1.err churn2.err churn3.err | head -n 5
[ "$(cat churn1.out churn2.out churn3.out | grep -vcx OK)" = 0 ] || fail "a churn put failed"
log "after churn: $(stats_line)"
awk 'BEGIN { for (i = 0; i < 200; i++) printf "del c%d\n", i }' | kvcli batch >del.out ||
	fail "del batch exited $?"
[ "$(grep -vcx 'OK\|NOT_FOUND' del.out)" = 0 ] || fail "deleting the churned keys: $(sort del.out | uniq -c | tr '\n' ' ')"
reclaimed
[ "$(stat_num largest_free_extent "$s")" = "$(stat_num data_bytes "$s")" ] ||
	fail "after reclaiming everything the free memory is not one extent: $(stats_line "$s")"

fill_mib m
after=$count
log "after churn: $(stats_line)"
log "1 MiB values: $new when new, $after after churn"
printf 'new %s\nafter_churn %s\nchurn_puts %s\n' "$new" "$after" "$puts" >"$KV_OUT/churn.txt"
[ "$new" -ge 56 ] || fail "only $new values of 1 MiB fit in 64 MiB when new"
[ "$after" -ge "$new" ] || fail "$after values of 1 MiB fit after churn, $new when new"
stop_server || fail "kvserver exit status $?"
