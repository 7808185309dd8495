#!/bin/sh
# Issue 3: a writer killed with SIGKILL in the middle of a stream of PUTs
# leaves the key with a whole value that takes a new PUT within about a second.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M

whole() { # the value is one token repeated, as written below
	echo "$1" | awk '{ if (match($0, /^c[0-9]+-/) == 0) exit 1; t = substr($0, 1, RLENGTH)
		w = ""; while (length(w) + length(t) <= 900) w = w t; exit ($0 != w) }'
}
kvcli put crashkey after0 || fail "first put"
round=0
for pause in 0.2 0.4 0.6 0.8 1.0; do
	round=$((round + 1))
	awk 'BEGIN { for (n = 0; n < 200000; n++) { t = "c" n "-"; v = "";
		while (length(v) + length(t) <= 900) v = v t; printf "put crashkey %s\n", v } }' |
		kvcli batch > /dev/null &
	writer=$!
	sleep "$pause"
	alive "$writer" || fail "round $round: the writer ended before the kill"
	kill -KILL "$writer"
	wait "$writer" 2>/dev/null
	start=$(date +%s)
	v=$(kvcli get crashkey) || fail "round $round: get after the kill exited $?"
	# Whole means: one of the stream's values, or the previous round's.
	[ "$v" = "after$((round - 1))" ] || whole "$v" ||
		fail "round $round: torn value after the kill: $(echo "$v" | cut -c1-60)"
	i=0
	until kvcli put crashkey "after$round" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 10 ] || fail "round $round: key not writable after the kill"
		sleep 0.2
	done
	[ "$(kvcli get crashkey)" = "after$round" ] || fail "round $round: new PUT lost"
	log "round $round: whole value $(echo "$v" | cut -c1-12)..., writable again after $(( $(date +%s) - start )) s"
done
stats=$(kvcli stats) || fail "stats"
echo "$stats" | grep -q '"slots_locked":0' || fail "a lock survived its owner"
log "locks the server released for killed writers: $(echo "$stats" | sed 's/.*"locks_released":\([0-9]*\).*/\1/')"
stop_server || fail "kvserver exit status $?"
