#!/bin/sh
# Issue 4: stats as JSON from kvcli (over send/recv), from kvserver on SIGUSR1
# and at exit; kvcli bench prints one JSON object and refuses to measure misses.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

# field NAME JSON: the number or string stored under "NAME" (first match).
field() { echo "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

kvserver -a "$KV_ADDR" -m 16M >/tmp/server.out 2>/tmp/server.err &
SERVER_PID=$!
i=0
until grep -q 'listening on' /tmp/server.err; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "kvserver did not start"; sleep 0.1
done
for k in a b c d e; do kvcli put "stat-$k" "v$k" || fail "put"; done
kvcli del stat-e || fail "del"

s=$(kvcli stats) || fail "kvcli stats exited $?"
log "$s"
for f in version uptime_s slab_bytes geometry slots_total slots_used load_factor \
	clients_connected connections_total; do
	echo "$s" | grep -q "\"$f\":" || fail "stats lacks $f"
done
[ "$(field slots_used "$s")" = 4 ] || fail "slots_used $(field slots_used "$s"), wanted 4"
[ "$(field slab_bytes "$s")" = 16777216 ] || fail "slab_bytes"
[ "$(field clients_connected "$s")" = 1 ] || fail "clients_connected should count the asking client"
[ "$(field connections_total "$s")" = 7 ] || fail "connections_total $(field connections_total "$s"), wanted 7"
awk -v lf="$(field load_factor "$s")" -v t="$(field slots_total "$s")" \
	'BEGIN { exit !(lf > 0 && (lf * t > 3.99 && lf * t < 4.01)) }' || fail "load_factor"

kill -USR1 "$SERVER_PID"
sleep 0.5
[ "$(wc -l < /tmp/server.out)" = 1 ] || fail "SIGUSR1 did not print one line on stdout"
u=$(cat /tmp/server.out)
[ "$(field slots_used "$u")" = 4 ] || fail "SIGUSR1 stats: slots_used"
[ "$(field clients_connected "$u")" = 0 ] || fail "SIGUSR1 stats: clients_connected"

# bench: a get run on keys never stored says so; a put run then a get run work.
kvcli bench --workload get --keys 50 --ops 100 >/tmp/b.out 2>/tmp/b.err; rc=$?
[ "$rc" = 1 ] || fail "bench on unstored keys: exit $rc, wanted 1"
grep -q 'never stored' /tmp/b.err || fail "bench on unstored keys did not say so"
[ -s /tmp/b.out ] && fail "bench on unstored keys printed a result"
b=$(kvcli bench --workload put --keys 50 --ops 200 --value-size 16) || fail "bench put"
[ "$(field ops "$b")" = 200 ] || fail "bench put ops $(field ops "$b")"
echo "$b" | grep -q '"put":{"count":200,' || fail "bench put latency count"
[ "$(field atomics "$b")" -ge 200 ] || fail "a PUT posts a CAS"
b=$(kvcli bench --workload c --keys 50 --ops 300 --dist zipf --depth 4 --clients 2) ||
	fail "bench c"
log "$b"
for f in ops seconds ops_per_sec p50 p90 p99 p999 max reads read_bytes writes write_bytes \
	atomics torn_reads lock_conflicts errors; do
	echo "$b" | grep -q "\"$f\":" || fail "bench JSON lacks $f"
done
[ "$(field ops "$b")" = 300 ] || fail "bench c ops"
[ "$(field not_found "$b")" = 0 ] || fail "bench c missed keys"
[ "$(field writes "$b")" = 0 ] || fail "a read-only workload wrote"

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "kvserver exit status $?"
[ "$(wc -l < /tmp/server.out)" = 2 ] || fail "no stats line at exit"
[ "$(field slots_used "$(tail -n 1 /tmp/server.out)")" = 54 ] || fail "exit stats: slots_used"
