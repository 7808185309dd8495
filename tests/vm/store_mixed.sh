#!/bin/sh
# Issue 8: concurrent writers of different sizes on the same few keys never
# show a reader a torn or mixed value. Four batch writers each put 80
# values of 10 B .. 300 KB (log-uniform) on k1..k4; every value describes
# itself: "wW-N-LEN:" then a filler that depends on N alone. Two batch
# readers get k1..k4 over and over meanwhile (until the writers are done),
# and check every value whole:
# its length is LEN and its filler is the one for N. No failure, no torn
# value, nothing missing (the keys exist before the writers start).
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

PAT=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ

start_server -m 64M

# writer W N: N batch lines of puts by writer W.
writer() {
	awk -v w="$1" -v n="$2" -v a="$PAT" '
	'"$KV_AWK_LOGU"'
	BEGIN {
		srand(w * 104729)
		p = a
		while (length(p) < 300000 + 62) p = p p
		for (i = 1; i <= n; i++) {
			len = logu(10, 300000)
			h = "w" w "-" i "-" len ":"
			if (len < length(h)) { len = length(h); h = "w" w "-" i "-" len ":" }
			printf "put k%d %s%s\n", int(rand() * 4) + 1, h, substr(p, i % 62 + 1, len - length(h))
		}
	}'
}

# check: read batch answers; print "checked N bad M", and the first bad
# answers (cut short).
check() {
	awk -v a="$PAT" 'BEGIN { p = a; while (length(p) < 300000 + 62) p = p p }
	{
		ok = 0
		if (substr($0, 1, 6) == "VALUE ") {
			v = substr($0, 7)
			c = index(v, ":")
			h = substr(v, 1, c)
			split(substr(h, 2, c - 2), f, "-")
			if (c > 0 && substr(v, 1, 1) == "w" && length(v) == f[3] + 0 &&
			    substr(v, c + 1) == substr(p, f[2] % 62 + 1, f[3] - c))
				ok = 1
		}
		n++
		if (!ok) { bad++; if (bad <= 3) print "bad answer " n ": " substr($0, 1, 100) " ... (" length($0) " bytes)" }
	}
	END { printf "checked %d bad %d\n", n, bad + 0 }'
}

# The keys exist first, with writer 0's values.
writer 0 4 | awk '{ sub(/^put k[0-9]* /, "put k" NR " "); print }' | kvcli batch >init.out ||
	fail "init batch exited $?"
[ "$(grep -cx OK init.out)" = 4 ] || fail "init: $(cat init.out)"
printf 'get k1\nget k2\nget k3\nget k4\n' | kvcli batch | check >init.check
grep -q '^checked 4 bad 0$' init.check || fail "init values: $(cat init.check)"

t0=$(ms_now)
for w in 1 2 3 4; do
	writer "$w" 80 | kvcli batch >"w$w.out" 2>"w$w.err" &
	eval "wpid$w=\$!"
done
# A reader asks for k1..k4 again and again until the writers are done (at
# most 300 rounds); the pipe's back-pressure paces the loop.
rm -f writers.done
for r in 1 2; do
	{
		i=0
		while [ ! -e writers.done ] && [ "$i" -lt 300 ]; do
			printf 'get k1\nget k2\nget k3\nget k4\n'
			i=$((i + 1))
		done
	} | kvcli batch 2>"r$r.err" | check >"r$r.check" &
	eval "rpid$r=\$!"
done
# Bounded: all of them done within 50 s, or they are stopped.
i=0
while { alive "$wpid1" || alive "$wpid2" || alive "$wpid3" || alive "$wpid4"; } &&
	[ "$i" -lt 500 ]; do
	sleep 0.1
	i=$((i + 1))
done
touch writers.done
while { alive "$rpid1" || alive "$rpid2"; } && [ "$i" -lt 500 ]; do
	sleep 0.1
	i=$((i + 1))
done
stuck=""
for p in "$wpid1" "$wpid2" "$wpid3" "$wpid4" "$rpid1" "$rpid2"; do
	if alive "$p"; then
		stuck="$stuck $p"
		kill "$p"
	fi
	wait "$p"
done
log "writers and readers done in $(($(ms_now) - t0)) ms"
for w in 1 2 3 4; do
	log "writer $w: $(sort "w$w.out" | uniq -c | tr '\n' ' ')$(head -c 200 "w$w.err")"
done
for r in 1 2; do
	log "reader $r: $(cat "r$r.check" | tr '\n' ' ')$(head -c 200 "r$r.err")"
done
[ -z "$stuck" ] || fail "still running after 50 s:$stuck"
for w in 1 2 3 4; do
	[ "$(grep -cx OK "w$w.out")" = 80 ] || fail "writer $w: not 80 OK"
done
for r in 1 2; do
	grep -q '^checked [0-9]* bad 0$' "r$r.check" || fail "reader $r: $(cat "r$r.check")"
	[ "$(sed -n 's/^checked \([0-9]*\) .*/\1/p' "r$r.check")" -ge 40 ] ||
		fail "reader $r checked fewer than 40 values"
	[ -s "r$r.err" ] && fail "reader $r: $(cat "r$r.err")"
done
# The last values are whole too, and each is one some writer put.
printf 'get k1\nget k2\nget k3\nget k4\n' | kvcli batch | check >final.check
grep -q '^checked 4 bad 0$' final.check || fail "final values: $(cat final.check)"
log "$(stats_line)"
stop_server || fail "kvserver exit status $?"
