#!/bin/sh
# Issue 10: only those who belong. kvserver --auth-file: no credentials, a
# wrong secret, an unknown user exit 6; a rw user puts and gets; a ro user
# gets, its put and del exit 6, and its raw WRITE and CAS (debug commands
# that skip the library's role check) are refused by the device with a
# remote access error, the value unchanged and the server and others fine;
# unauthenticated connect churn beside an authorised batch: every
# authorised request answered, no descriptors leaked; a client silent at the
# challenge dropped after about 2 s; no secret in the log.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"
A=/tmp/users
RW_SECRET=rw-secret-5b8f0c9e2d7a41f3a6e0
RO_SECRET=ro-secret-0c1d2e3f4a5b6c7d8e9f
printf '# users of the test store\nalice rw %s\nreader ro %s\n' "$RW_SECRET" "$RO_SECRET" >"$A"
printf '%s\n' "$RW_SECRET" >/tmp/alice.secret
printf '%s\n' "$RO_SECRET" >/tmp/reader.secret
printf 'not-the-secret-at-all\n' >/tmp/wrong.secret
chmod 600 "$A" /tmp/alice.secret /tmp/reader.secret /tmp/wrong.secret

# The auth file is refused when others may read it, or malformed.
chmod 644 "$A"
expect_exit 2 kvserver -a "$KV_ADDR" -m 16M --auth-file "$A"
grep -q "chmod 600" "$LAST_ERR" || fail "no reason for a readable auth file"
chmod 600 "$A"
printf 'bob admin 0123456789abcdef01\n' >/tmp/bad.users
chmod 600 /tmp/bad.users
expect_exit 2 kvserver -a "$KV_ADDR" -m 16M --auth-file /tmp/bad.users
grep -q "line 1" "$LAST_ERR" || fail "no line number for a malformed auth file"

start_server -m 16M -L 200 --auth-file "$A"
grep -q "2 users from" "$KV_SERVER_LOG" || fail "the server does not say it has users"
! grep -q "warning: no --auth-file" "$KV_SERVER_LOG" || fail "warned of an open store"

# server_rss PID: the server's resident KiB in small pages, but the slab's
# mapping (16 MiB here). Transparent huge pages come 2 MiB at a time when a
# large calloc'd table (the sweep's per-id tables) or the slab is first
# touched further in: one-time growth, not a leak, and it came at random
# moments (a clean-clone run saw +2040 KiB, another +3992). Under ASan,
# VmRSS whole (its allocator's own mappings are large too).
server_rss() {
	if grep -q libasan "/proc/$1/maps"; then
		rss_kb "$1"
	else
		awk '/^Size:/ { big = $2 >= 16384 }
		     /^Rss:/ { if (!big) s += $2 }
		     /^AnonHugePages:/ { if (!big) s -= $2 }
		     END { print s + 0 }' "/proc/$1/smaps"
	fi
}

# refused WHAT: the device turned the work request down. rxe answers a
# WRITE or CAS on a queue pair without that right with a NAK of "invalid
# request" (the queue pair does not allow the operation); a device may also
# call it a remote access error.
refused() {
	grep -Eq "remote (access|invalid request) error" "$LAST_ERR" ||
		fail "$1: not refused by the device"
}

RW="--user alice --secret-file /tmp/alice.secret"
RO="--user reader --secret-file /tmp/reader.secret"
# shellcheck disable=SC2086 # word splitting of $RW/$RO is wanted
{
	expect_exit 6 kvcli get k
	grep -q "not authorized" "$LAST_ERR" || fail "no credentials: no 'not authorized'"
	expect_exit 6 kvcli --user alice --secret-file /tmp/wrong.secret get k
	grep -q "user alice" "$LAST_ERR" || fail "wrong secret: the user is not named"
	expect_exit 6 kvcli --user mallory --secret-file /tmp/wrong.secret get k
	expect_exit 6 env KV_USER=alice KV_SECRET=not-the-secret-at-all kvcli get k
	expect_exit 2 kvcli --user alice get k # --secret-file missing
	expect_exit 2 kvcli --user alice --secret-file /nonexistent get k
	cp /tmp/alice.secret /tmp/open.secret
	chmod 644 /tmp/open.secret
	expect_exit 2 kvcli --user alice --secret-file /tmp/open.secret get k
	grep -q "chmod 600" "$LAST_ERR" || fail "a secret file others may read: no reason"

	expect_exit 0 kvcli $RW put k v1
	expect_exit 0 env KV_USER=alice KV_SECRET="$RW_SECRET" kvcli put k2 w1
	[ "$(kvcli $RW get k)" = v1 ] || fail "rw get"
	expect_demo_ok "hello from alice" $RW

	# ro: reads, and nothing else, whatever the client does.
	[ "$(kvcli $RO get k)" = v1 ] || fail "ro get"
	expect_exit 6 kvcli $RO put k x
	grep -q "role ro" "$LAST_ERR" || fail "ro put: no reason"
	expect_exit 6 kvcli $RO del k
	expect_exit 6 kvcli $RO demo -s x
	expect_exit 3 kvcli $RO debug-scribble k
	log "ro raw WRITE: $(cat "$LAST_ERR")"
	refused "ro raw WRITE"
	expect_exit 3 kvcli $RO debug-hold-lock newkey 0
	log "ro raw CAS: $(cat "$LAST_ERR")"
	refused "ro raw CAS"
	alive "$SERVER_PID" || fail "the server died"
	[ "$(kvcli $RW get k)" = v1 ] || fail "the value changed under the ro raw WRITE"
	expect_exit 1 kvcli $RW get newkey
	expect_exit 0 kvcli $RW put newkey fine
	[ "$(kvcli $RO get newkey)" = fine ] || fail "ro get after the raw attempts"

	# A client that connects and never answers the challenge is dropped
	# after about 2 s, and holds nobody up meanwhile.
	kvcli debug-stall-auth 8000 >/tmp/stall.out 2>/tmp/stall.err &
	staller=$!
	sleep 0.5
	expect_exit 0 kvcli $RW put during-stall yes
	wait "$staller" || fail "debug-stall-auth exit $?: $(cat /tmp/stall.out /tmp/stall.err)"
	ms=$(sed -n 's/^DROPPED AFTER //p' /tmp/stall.out)
	log "a client silent at the challenge: dropped after $ms ms"
	[ "$ms" -ge 1500 ] && [ "$ms" -le 5000 ] || fail "dropped after $ms ms, not about 2 s"

	# Unauthenticated connects beside an authorised batch.
	# A first round of the same (20 connects and a batch): what the server
	# allocates once (malloc arenas, the device's first queue pair buffers;
	# 2 to 4 MiB of it came after 20 connects alone in some runs) is not a
	# leak; the second round must take nothing more.
	awk 'BEGIN { for (i = 0; i < 100; i++) printf "get k\n" }' |
		kvcli $RW batch >/dev/null 2>&1 &
	batch=$!
	n=0
	while [ $n -lt 20 ]; do
		n=$((n + 1))
		kvcli get k >/dev/null 2>&1
	done
	wait "$batch" || fail "the first authorised batch exited $?"
	sleep 1
	fd0=$(fd_count "$SERVER_PID")
	rss0=$(server_rss "$SERVER_PID")
	awk 'BEGIN { for (i = 0; i < 300; i++) printf "get k\n" }' |
		kvcli $RW batch >/tmp/auth_batch.out 2>/tmp/auth_batch.err &
	batch=$!
	n=0
	while [ $n -lt 40 ]; do
		n=$((n + 1))
		kvcli get k >/dev/null 2>&1
		[ $? = 6 ] || fail "unauthenticated connect $n: not exit 6"
	done
	wait "$batch" || fail "the authorised batch exited $?: $(cat /tmp/auth_batch.err)"
	[ "$(grep -c '^VALUE v1$' /tmp/auth_batch.out)" = 300 ] ||
		fail "authorised batch: $(grep -c '^VALUE v1$' /tmp/auth_batch.out) of 300 answered"
	i=0
	while [ "$(fd_count "$SERVER_PID")" -gt "$fd0" ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	log "server fds: $fd0 before 40 more unauthenticated connects, $(fd_count "$SERVER_PID") after"
	[ "$(fd_count "$SERVER_PID")" -le "$fd0" ] || fail "descriptors leaked"
	# Under ASan freed memory waits in a quarantine (a few MiB) before reuse.
	slack=1024
	grep -q libasan "/proc/$SERVER_PID/maps" && slack=16384
	# Connections refused last are torn down a moment after their fds go
	# (their queue pairs' buffers unmapped): give that 5 s; a leak stays.
	i=0
	while rss1=$(server_rss "$SERVER_PID") && [ "$rss1" -gt $((rss0 + slack)) ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	log "server RSS but the slab: $rss0 KiB before, $rss1 KiB after ($i tenths of a second later)"
	[ "$rss1" -le $((rss0 + slack)) ] || fail "the server's memory grew by $((rss1 - rss0)) KiB"
}

stats=$(kvcli $RO stats) || fail "ro stats"
stop_server TERM || fail "kvserver exit status $?"
for sec in "$RW_SECRET" "$RO_SECRET" not-the-secret-at-all; do
	! grep -qF "$sec" "$KV_SERVER_LOG" || fail "a secret is in the server's log"
done
grep -q "refused" "$KV_SERVER_LOG" || fail "the log does not say authentications were refused"
log "server log: $(grep -c refused "$KV_SERVER_LOG") refusals logged, no secret in it"

# Credentials given to a server that does not ask for them: refused (it
# cannot prove it is the server that holds them).
start_server -m 16M
# shellcheck disable=SC2086
expect_exit 6 kvcli $RW get k
grep -q "did not ask" "$LAST_ERR" || fail "an open server accepted with credentials set"
expect_exit 1 kvcli get k
stop_server TERM || fail "kvserver exit status $?"
