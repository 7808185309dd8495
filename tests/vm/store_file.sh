#!/bin/sh
# Issue 9 (in part): a store kept in a file (kvserver --file) survives
# kvserver being killed, and a clean stop; files that are not a whole store
# are refused (exit 2) and left exactly as they were.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"
F=/tmp/kv.store

# 1000 keys, then SIGKILL: every key reads back after a restart on the file.
start_server -m 16M -L 200 --file "$F"
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "put key%d value-%d-%s\n", i, i, "xxxxxxxxxxxxxxxx" }' |
	kvcli batch >/tmp/put.out || fail "batch exited $?"
[ "$(grep -c '^OK$' /tmp/put.out)" = 1000 ] || fail "not every PUT said OK"
# A stream of PUTs of one key, killed in the middle.
(
	n=0
	while [ "$n" -lt 400 ]; do
		n=$((n + 1))
		kvcli put stream "v$n" >/dev/null 2>&1 && echo "$n" >>/tmp/acked
	done
) &
streamer=$!
sleep 2
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
wait "$streamer"
last=$(tail -n 1 /tmp/acked 2>/dev/null || echo 0)
log "kvserver killed after $last acknowledged PUTs of the stream"
start_server -L 200 --file "$F"
grep -m1 'opened' "$KV_SERVER_LOG" | sed 's/^/-- /'
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "get key%d\n", i }' | kvcli batch >/tmp/get.out ||
	fail "batch exited $?"
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "VALUE value-%d-%s\n", i, "xxxxxxxxxxxxxxxx" }' |
	cmp - /tmp/get.out || fail "a key did not survive the kill"
got=$(kvcli get stream) || fail "get stream after the restart: exit $?"
case "$got" in
v*) n=${got#v} ;;
*) fail "stream holds '$got', not a whole value" ;;
esac
[ "$n" -ge "$last" ] || fail "stream holds v$n, older than the last acknowledged v$last"
log "stream holds v$n (last acknowledged v$last)"
kvcli put stream fresh || fail "a PUT right after the restart"
[ "$(kvcli get stream)" = fresh ] || fail "the new PUT did not read back"

# A clean stop, then a restart: nothing lost.
stop_server TERM || fail "kvserver exit status $? on SIGTERM"
start_server -L 200 --file "$F"
grep -q 'clean stop' "$KV_SERVER_LOG" || fail "the header does not say the stop was clean"
[ "$(kvcli get key999)" = "value-999-xxxxxxxxxxxxxxxx" ] || fail "key999 after a clean stop"
[ "$(kvcli get stream)" = fresh ] || fail "stream after a clean stop"
expect_exit 2 kvserver -a "$KV_ADDR" -p 20887 --file "$F" # one server per store
grep -q "in use" "$LAST_ERR" || fail "no reason for a store in use"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"
expect_exit 2 kvserver -a "$KV_ADDR" -m 32M --file "$F" # -m disagrees
grep -q "leave -m out" "$LAST_ERR" || fail "no reason for the -m mismatch"
expect_exit 2 kvserver -a "$KV_ADDR" -k 100 --file "$F" # -k disagrees
grep -q "leave them out" "$LAST_ERR" || fail "no reason for the -k mismatch"

# Files that are not a store are refused, untouched.
head -c 1048576 /dev/urandom >/tmp/random.bin
cp /tmp/random.bin /tmp/random.orig
expect_exit 2 kvserver -a "$KV_ADDR" --file /tmp/random.bin
grep -q "not a store" "$LAST_ERR" || fail "no reason for the random file"
cmp /tmp/random.bin /tmp/random.orig || fail "the random file was changed"
head -c 5000000 "$F" >/tmp/trunc.store
cp /tmp/trunc.store /tmp/trunc.orig
expect_exit 2 kvserver -a "$KV_ADDR" --file /tmp/trunc.store
grep -q "truncated" "$LAST_ERR" || fail "no reason for the truncated store"
cmp /tmp/trunc.store /tmp/trunc.orig || fail "the truncated store was changed"
log "ok"
