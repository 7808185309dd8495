#!/bin/sh
# 50 connect/disconnect cycles must not leak fds or memory in kvserver.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

CYCLES=50
RSS_SLACK_KB=2048

start_server
KV_QUIET=1
for i in 1 2 3 4 5; do expect_demo_ok "warm-up-$i"; done
fd0=$(fd_count "$SERVER_PID")
rss0=$(rss_kb "$SERVER_PID")
log "after warm-up: fds=$fd0 rss=${rss0}kB"

i=0
while [ "$i" -lt "$CYCLES" ]; do
	i=$((i + 1))
	expect_demo_ok "cycle-$i"
done

j=0 # the server may close a connection's fds just after the client left
while [ "$(fd_count "$SERVER_PID")" != "$fd0" ] && [ "$j" -lt 20 ]; do
	sleep 0.1
	j=$((j + 1))
done
fd1=$(fd_count "$SERVER_PID")
rss1=$(rss_kb "$SERVER_PID")
log "after $CYCLES cycles: fds=$fd1 rss=${rss1}kB (growth $((rss1 - rss0))kB, limit ${RSS_SLACK_KB}kB)"
printf 'cycles %s\nfds %s %s\nrss_kb %s %s\n' "$CYCLES" "$fd0" "$fd1" "$rss0" "$rss1" >"$KV_OUT/cycles.txt"
[ "$fd1" = "$fd0" ] || { ls -l "/proc/$SERVER_PID/fd"; fail "fd count changed: $fd0 -> $fd1"; }
[ $((rss1 - rss0)) -le "$RSS_SLACK_KB" ] || fail "RSS grew by $((rss1 - rss0))kB"
stop_server
rc=$?
[ "$rc" = 0 ] || fail "kvserver exited $rc on SIGTERM"
log "ok"
