#!/bin/sh
# Four kvcli demo clients at once, each with its own string; all must succeed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

start_server
pids=""
for i in 1 2 3 4; do
	s="client-$i-$(seq "$i" $((i * 60)) | tr -d '\n')"
	timeout 30 kvcli demo -s "$s" >"out.$i" 2>"err.$i" &
	pids="$pids $!"
done
i=0
bad=0
for p in $pids; do
	i=$((i + 1))
	wait "$p"
	rc=$?
	sed "s/^/   $i out| /" "out.$i"
	sed "s/^/   $i err| /" "err.$i"
	if [ "$rc" != 0 ]; then
		log "client $i exited $rc"
		bad=1
	elif ! has_line "out.$i" 'SUCCESS, source and destination buffers match'; then
		log "client $i: no SUCCESS line"
		bad=1
	fi
done
[ "$bad" = 0 ] || fail "not every concurrent client succeeded"
alive "$SERVER_PID" || fail "kvserver died"
stop_server
rc=$?
[ "$rc" = 0 ] || fail "kvserver exited $rc on SIGTERM"
log "ok"
