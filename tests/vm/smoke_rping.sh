#!/bin/sh
# Harness self-test, no project binaries needed: rping and ib_read_lat over
# rxe0, and one file written to $KV_OUT.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

ibv_devices | grep -q rxe0 || fail "ibv_devices does not list rxe0"
ibv_devinfo -d rxe0 | grep -q 'PORT_ACTIVE' || fail "rxe0 port is not active"

log "rping, 3 iterations"
rping -s -a "$KV_ADDR" -C 3 >/dev/null &
srv=$!
sleep 0.3
n=0 # the server may still be starting
until timeout 20 rping -c -a "$KV_ADDR" -C 3 -v; do
	n=$((n + 1))
	[ "$n" -lt 5 ] || fail "rping client failed $n times"
	sleep 0.5
done
wait "$srv" || fail "rping server exited with $?"

# perf_pair CMD...: CMD as server, then CMD $KV_ADDR as client; output in
# $KV_OUT/CMD.txt. A client that comes before the server listens is rejected
# and can leave the server hung, so each of 3 tries starts both afresh.
perf_pair() {
	n=0
	while [ "$n" -lt 3 ]; do
		n=$((n + 1))
		timeout 30 "$@" >/tmp/perf.server 2>&1 &
		srv=$!
		sleep 1
		if timeout 20 "$@" "$KV_ADDR" >"$KV_OUT/$1.txt" 2>&1 && wait "$srv"; then
			cat "$KV_OUT/$1.txt"
			return 0
		fi
		kill "$srv" 2>/dev/null
		wait "$srv"
		log "try $n of $* failed; client said: $(grep -v '^ *$' "$KV_OUT/$1.txt" | tail -n 3)"
	done
	return 1
}

# -R (connect with rdma_cm): perftest's default TCP exchange hangs on rxe here
log "ib_read_lat -R -s 64 -n 100"
perf_pair ib_read_lat -d rxe0 -R -s 64 -n 100 || fail "ib_read_lat failed 3 times"
grep -Eq '^ *64 +100 ' "$KV_OUT/ib_read_lat.txt" || fail "no 64-byte result line from ib_read_lat"
log "ok"
