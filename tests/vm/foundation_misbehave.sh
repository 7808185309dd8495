#!/bin/sh
# Issue 2: a client that sends garbage on the control path is dropped; the
# server and its other clients do not notice, and nothing leaks.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M
expect_exit 0 kvcli put keep me
# A client that stays connected through all of it.
printf 'get keep\n' > /tmp/fifo.in
( sleep 4; printf 'get keep\n' ) | kvcli batch > /tmp/bystander.out &
bystander=$!
sleep 0.5
fds=$(fd_count "$SERVER_PID")

# Garbage, a wrong version, a hello sent back, an oversized message.
printf 'not a kvrd message at all' | kvcli debug-send-raw; rc1=$?
printf 'KVRD\000\011\000\002\000\000\000\000\000\000\000\000' | kvcli debug-send-raw; rc2=$?
printf 'KVRD\000\001\000\001\000\000\000\000\000\000\000\000' | kvcli debug-send-raw; rc3=$?
head -c 9000 /dev/zero | kvcli debug-send-raw; rc4=$?
log "exit codes of the misbehaving clients: $rc1 $rc2 $rc3 $rc4"
for rc in $rc1 $rc2 $rc3 $rc4; do
	[ "$rc" = 3 ] || fail "a misbehaving client was not dropped (exit $rc)"
done
# A well-formed stats request on the same path still works.
expect_exit 0 kvcli stats
grep -q '"protocol_errors":3' "$LAST_OUT" || fail "expected 3 protocol errors counted"
wait "$bystander" || fail "the bystander client failed"
[ "$(cat /tmp/bystander.out)" = "VALUE me" ] || fail "bystander saw: $(cat /tmp/bystander.out)"
alive "$SERVER_PID" || fail "kvserver died"
sleep 0.5
[ "$(fd_count "$SERVER_PID")" -le "$fds" ] || fail "fds grew from $fds to $(fd_count "$SERVER_PID")"
stop_server || fail "kvserver exit status $?"
