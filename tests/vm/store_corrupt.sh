#!/bin/sh
# Issue 3: garbage in the slab makes a GET report a corrupt slot; neither the
# client nor the server crashes, and other keys are untouched.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M
expect_exit 0 kvcli put victim v
expect_exit 0 kvcli put bystander b
expect_exit 0 kvcli debug-scribble victim
expect_exit 5 kvcli get victim
grep -qi corrupt "$LAST_ERR" || fail "no 'corrupt' in the message"
expect_exit 0 kvcli get bystander
[ "$(cat "$LAST_OUT")" = b ] || fail "bystander changed"
alive "$SERVER_PID" || fail "kvserver died"
expect_exit 0 kvcli stats
stop_server || fail "kvserver exit status $?"
