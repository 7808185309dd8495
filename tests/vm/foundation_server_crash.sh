#!/bin/sh
# A server killed under its clients, and not restarted: a batch answers
# ERROR while it tries to reconnect, and exits 3 (transport) once the server
# has been away for its timeout (-t 2000), instead of hanging; a new server
# starts on the port.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M
awk 'BEGIN { for (n = 0; n < 100000; n++) printf "put k%d v%d\nget k%d\n", n % 50, n, n % 50 }' |
	kvcli -t 2000 batch > /tmp/crash.out 2>/tmp/crash.err &
client=$!
sleep 1
alive "$client" || fail "the client finished before the server was killed"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
i=0
while alive "$client"; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the client still runs 10 s after the server died"
	sleep 0.1
done
wait "$client"
rc=$?
log "client exit $rc after about $((i / 10)).$((i % 10)) s: $(tail -n 1 /tmp/crash.err)"
[ "$rc" = 3 ] || fail "client exit $rc, wanted 3"
[ "$(grep -c '^ERROR' /tmp/crash.out)" -ge 1 ] || fail "no ERROR line during the outage"
start_server -m 16M
expect_exit 1 kvcli get k1   # a fresh slab: the old keys are gone
expect_exit 0 kvcli put k1 back
stop_server || fail "kvserver exit status $?"
