#!/bin/sh
# Issue 9: clients ride through a kvserver restart. One `kvcli batch`,
# connected before kvserver is killed, answers a request during the outage
# with ERROR, answers again once kvserver is back on its file, and keeps
# going; a stream of PUTs through it, cut by a kill, loses no acknowledged
# write; a batch whose server stays away past the timeout exits 3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"
F=/tmp/kv.store
IN=/tmp/batch.in
OUT=/tmp/batch.out

# wait_lines N SECS: until $OUT has N lines; fails after SECS.
wait_lines() {
	i=0
	while [ "$(wc -l <"$OUT")" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -le $(($2 * 20)) ] || fail "batch gave $(wc -l <"$OUT") of $1 replies in $2 s"
		alive "$batch" || fail "batch exited early, after $(wc -l <"$OUT") replies"
		sleep 0.05
	done
}
# line N: the Nth reply
line() { sed -n "${1}p" "$OUT"; }

start_server -m 16M -L 200 --file "$F"
rm -f "$IN"
mkfifo "$IN"
: >"$OUT"
kvcli batch <"$IN" >"$OUT" 2>/tmp/batch.err &
batch=$!
exec 3>"$IN"
echo "put a 1" >&3
wait_lines 1 20
[ "$(line 1)" = OK ] || fail "first put: $(line 1)"

# 1. Killed and away: a request now gets an ERROR line, and the batch lives.
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
echo "get a" >&3
wait_lines 2 20
case "$(line 2)" in
ERROR*) log "during the outage: $(line 2 | cut -c1-160)" ;;
*) fail "a request while kvserver is down: '$(line 2)', wanted ERROR" ;;
esac

# 2. Back on its file: the same batch answers, with the old data.
start_server -L 200 --file "$F" 3>&- # not a writer of the batch's input
echo "get a" >&3
wait_lines 3 20
[ "$(line 3)" = "VALUE 1" ] || fail "after the restart: '$(line 3)', wanted VALUE 1"
echo "put b 2" >&3
echo "get b" >&3
wait_lines 5 20
[ "$(line 4)" = OK ] && [ "$(line 5)" = "VALUE 2" ] ||
	fail "put/get after the restart: '$(line 4)' '$(line 5)'"

# 3. A stream of PUTs of one key through the batch, kvserver killed in the
# middle and restarted at once: every request is answered (OK or ERROR),
# the batch never exits, and the key holds a whole value no older than the
# last one acknowledged.
base=5
n=0
while [ $n -lt 300 ]; do
	n=$((n + 1))
	echo "put s v$n" >&3
done
wait_lines $((base + 20)) 30 # the stream is under way
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
start_server -L 200 --file "$F" 3>&- # not a writer of the batch's input
wait_lines $((base + 300)) 120
acked=$(awk -v b=$base 'NR > b && $0 == "OK" { last = NR - b } END { print last + 0 }' "$OUT")
errors=$(awk -v b=$base 'NR > b && /^ERROR/' "$OUT" | wc -l)
others=$(awk -v b=$base 'NR > b && $0 != "OK" && !/^ERROR/' "$OUT" | wc -l)
[ "$others" = 0 ] || fail "stream replies other than OK or ERROR: $others"
log "stream: 300 PUTs, $errors ERROR (outage), last acknowledged v$acked"
awk -v b=$base 'NR > b && /^ERROR/' "$OUT" | sort | uniq -c | cut -c1-200 | sed 's/^/-- /'
echo "get s" >&3
wait_lines $((base + 301)) 20
got=$(line $((base + 301)))
case "$got" in
"VALUE v"*) v=${got#VALUE v} ;;
*) fail "stream key holds '$got'" ;;
esac
[ "$v" -ge "$acked" ] || fail "stream key holds v$v, older than the last acknowledged v$acked"
[ "$(line $((base + 300)))" = OK ] || fail "the stream's last PUT, after the restart: $(line $((base + 300)))"
log "stream key holds v$v"

# 4. Away past the timeout: ERROR lines, then exit 3 (not a hang).
exec 3>&-
wait "$batch" || fail "batch exit $? at the end of its input, wanted 0"
stop_server TERM || fail "kvserver exit status $? on SIGTERM"
start_server -L 200 --file "$F" 3>&- # not a writer of the batch's input
rm -f "$IN"
mkfifo "$IN"
: >"$OUT"
kvcli -t 2000 batch <"$IN" >"$OUT" 2>/tmp/batch.err &
batch=$!
exec 3>"$IN"
echo "get b" >&3
wait_lines 1 20
[ "$(line 1)" = "VALUE 2" ] || fail "get b: $(line 1)"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
t0=$(ms_now)
trap '' PIPE # a write after the batch exits fails, it does not kill us
n=0
while alive "$batch" && [ $n -lt 40 ]; do
	n=$((n + 1))
	echo "get b" >&3 2>/dev/null || break
	sleep 0.25
done
exec 3>&-
wait "$batch"
rc=$?
t1=$(ms_now)
log "server gone: batch exit $rc after $((t1 - t0)) ms, $(grep -c '^ERROR' "$OUT") ERROR lines; $(tail -n 1 /tmp/batch.err)"
[ "$rc" = 3 ] || fail "batch exit $rc with its server gone, wanted 3"
[ "$(grep -c '^ERROR' "$OUT")" -ge 2 ] || fail "no ERROR lines before the exit"
[ $((t1 - t0)) -lt 10000 ] || fail "batch took $((t1 - t0)) ms to give up (timeout 2000)"
