#!/bin/sh
# kvcli demo against a live kvserver: short and long strings, usage error.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

start_server
expect_demo_ok hello

long=$(seq 1 400 | tr -d '\n' | cut -c1-1000)
[ "${#long}" = 1000 ] || fail "test bug: long string is ${#long} chars"
expect_demo_ok "$long"

log "usage error: demo without -s"
expect_exit 2 kvcli demo

alive "$SERVER_PID" || fail "kvserver died"
stop_server
rc=$?
[ "$rc" = 0 ] || fail "kvserver exited $rc on SIGTERM"
log "ok"
