#!/bin/sh
# Issue 7: a peer that vanishes, and a link flap. kvserver listens on a
# second rxe device (rxe1 on dummy1). A client "vanishes" (its queue pair is
# destroyed without a word: no disconnect ever reaches the server) and the
# server's keepalive must find it gone and free it; then dummy1 goes down
# and up, and afterwards new clients connect while an idle client connected
# across the flap still works.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

ip link add dummy1 type dummy || fail "cannot add dummy1"
ip addr add 198.51.100.1/24 dev dummy1
ip link set dummy1 up
rdma link add rxe1 type rxe netdev dummy1 || fail "cannot add rxe1"
KV_ADDR=198.51.100.1
export KV_ADDR

# connected: clients the server counts now, kvcli stats itself included.
connected() {
	kvcli -t 2000 stats >stats.out 2>stats.err || fail "stats: $(cat stats.err)"
	sed -n 's/.*"clients_connected":\([0-9]*\).*/\1/p' stats.out
}
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# wait_for SECS CMD...: run CMD every 0.1 s until it succeeds; fail after SECS.
wait_for() {
	n=$(($1 * 10))
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

start_server -m 16M
expect_exit 0 kvcli put k v0

# A client whose host dies.
kvcli debug-vanish 60000 >vanish.out 2>vanish.err &
vanisher=$!
wait_for 10 grep -q VANISHED vanish.out || fail "debug-vanish did not start: $(cat vanish.err)"
t0=$(now_ms)
[ "$(connected)" = 2 ] || fail "expected the vanished client still counted: $(cat stats.out)"
only_stats() { [ "$(connected)" = 1 ]; }
wait_for 20 only_stats ||
	fail "the vanished client still counted as connected 20 s later"
log "the server freed the vanished client $(($(now_ms) - t0)) ms after it vanished"
grep -q "keepalive" "$KV_SERVER_LOG" || fail "no keepalive line in the server log"
log "server: $(grep keepalive "$KV_SERVER_LOG")"
kill "$vanisher"

# An idle client across the flap.
(sleep 6; echo "get k") | kvcli batch >batch.out 2>batch.err &
bystander=$!
sleep 1
[ "$(connected)" = 2 ] || fail "expected the bystander connected: $(cat stats.out)"

ip link set dummy1 down
sleep 1
ip link set dummy1 up
t0=$(now_ms)
wait_for 15 kvcli -t 1000 get k >get.out 2>get.err ||
	fail "no client could connect within 15 s of the link coming back: $(cat get.err)"
log "a new client connected $(($(now_ms) - t0)) ms after the link came back"
[ "$(cat get.out)" = v0 ] || fail "get after the flap gave: $(cat get.out)"
wait "$bystander" || fail "the client connected across the flap failed: $(cat batch.err)"
[ "$(cat batch.out)" = "VALUE v0" ] || fail "the bystander saw: $(cat batch.out batch.err)"
expect_exit 0 kvcli put k v1
expect_exit 0 kvcli get k
has_line "$LAST_OUT" v1 || fail "get after the flap: $(cat "$LAST_OUT")"
log "server: $(grep -E 'rxe1|listening' "$KV_SERVER_LOG" | tr '\n' '|')"
stop_server || fail "kvserver exit status $?"
