#!/bin/sh
# Harness self-test, no project binaries needed: rping and ib_read_lat over
# rxe0, and one file written to $KV_OUT.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

ibv_devices | grep -q rxe0 || fail "ibv_devices does not list rxe0"
ibv_devinfo -d rxe0 | grep -q 'PORT_ACTIVE' || fail "rxe0 port is not active"

# retry CMD...: run a client up to 10 times, 0.3 s apart (its server may
# still be starting).
retry() {
	n=0
	until "$@"; do
		n=$((n + 1))
		[ "$n" -lt 10 ] || return 1
		sleep 0.3
	done
}

log "rping, 3 iterations"
rping -s -a "$KV_ADDR" -C 3 >/dev/null &
srv=$!
retry rping -c -a "$KV_ADDR" -C 3 -v || fail "rping client failed"
wait "$srv" || fail "rping server exited with $?"

# -R (connect with rdma_cm): perftest's default TCP exchange hangs on rxe here
log "ib_read_lat -R -s 64 -n 100"
ib_read_lat -d rxe0 -R -s 64 -n 100 >/dev/null 2>&1 &
srv=$!
retry ib_read_lat -d rxe0 -R -s 64 -n 100 "$KV_ADDR" >"$KV_OUT/ib_read_lat.txt" 2>&1 ||
	{ cat "$KV_OUT/ib_read_lat.txt"; fail "ib_read_lat client failed"; }
wait "$srv" || fail "ib_read_lat server exited with $?"
cat "$KV_OUT/ib_read_lat.txt"
grep -Eq '^ *64 +100 ' "$KV_OUT/ib_read_lat.txt" || fail "no 64-byte result line from ib_read_lat"
log "ok"
