#!/bin/sh
# Issue 3: several writers and readers on the same keys at once; every value
# read must be whole: a value is one token "wW-N-" repeated to 600 bytes, so a
# mix of two writes or a half-written slot shows as a mismatched token.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M

writer() { # writer ID: 400 puts spread over 4 keys
	awk -v w="$1" 'BEGIN { for (n = 0; n < 400; n++) { t = "w" w "-" n "-"; v = "";
		while (length(v) + length(t) <= 600) v = v t; printf "put hot%d %s\n", n % 4, v } }' |
		kvcli batch > "/tmp/w$1.out"
}
reader() { # reader ID: 600 gets over the same keys
	awk 'BEGIN { for (n = 0; n < 600; n++) printf "get hot%d\n", n % 4 }' |
		kvcli batch > "/tmp/r$1.out"
}
init=$(awk 'BEGIN { v = ""; while (length(v) + 5 <= 600) v = v "w0-0-"; print v }')
for i in 0 1 2 3; do kvcli put "hot$i" "$init" || fail "initial put"; done
pids=""
for i in 1 2 3; do writer "$i" & pids="$pids $!"; done
for i in 1 2 3; do reader "$i" & pids="$pids $!"; done
for p in $pids; do wait "$p" || fail "a client exited with status $?"; done

for i in 1 2 3; do
	[ "$(grep -c '^OK$' "/tmp/w$i.out")" = 400 ] || fail "writer $i: $(sort "/tmp/w$i.out" | uniq -c | head)"
done
cat /tmp/r1.out /tmp/r2.out /tmp/r3.out | awk '
	/^VALUE / { v = substr($0, 7); n++
		if (match(v, /^w[0-9]+-[0-9]+-/) == 0) { bad++; print "malformed: " substr(v, 1, 40); next }
		t = substr(v, 1, RLENGTH); w = ""; while (length(w) + length(t) <= 600) w = w t
		if (v != w) { bad++; print "torn: " substr(v, 1, 60) } ; next }
	{ other++; print "unexpected: " $0 }
	END { printf "%d values read, %d torn, %d other\n", n, bad, other; exit (bad || other || n != 1800) }' ||
	fail "a reader saw a torn or missing value"
expect_exit 0 kvcli stats
stop_server || fail "kvserver exit status $?"
