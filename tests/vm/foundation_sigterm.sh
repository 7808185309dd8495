#!/bin/sh
# SIGTERM ends kvserver with exit 0: with no client ever, after clients came
# and went (one of them idle for a while), and with an idle client connected.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

expect_stop_0() {
	stop_server
	rc=$?
	[ "$rc" = 0 ] || fail "kvserver exited $rc on SIGTERM ($1)"
	log "kvserver exit 0 on SIGTERM ($1)"
}

log "1: no client"
start_server
expect_stop_0 "no client"

log "2: a demo client, then an idle client, both gone"
start_server
expect_demo_ok gone-client
# batch keeps one connection open while its stdin stays open
{ echo "get idle-probe"; sleep 1.5; } | timeout 20 kvcli batch >idle.out 2>idle.err
rc=$?
sed 's/^/   idle out| /' idle.out
sed 's/^/   idle err| /' idle.err
has_line idle.out NOT_FOUND || fail "idle client: no NOT_FOUND answer (exit $rc)"
expect_stop_0 "clients gone"

log "3: an idle client still connected"
start_server
{ echo "get idle-probe"; sleep 4; } | timeout 20 kvcli batch >idle.out 2>idle.err &
cli=$!
i=0 # wait for the client's answer: it is connected now
until has_line idle.out NOT_FOUND; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "idle client got no answer within 10 s"
	sleep 0.1
done
expect_stop_0 "idle client connected"
wait "$cli"
log "idle client exit $? after the server went away"
log "ok"
