#!/bin/sh
# Insert claims are leases (kvserver -L 500). An insert first claims an empty
# index word of its key's buckets; the claim names the key's fingerprint, and
# an insert of that key waits while another client's claim stands. A client
# that stalls holding a claim past the lease, asleep (a) or stopped by SIGSTOP
# (b, three rounds), is cut off; the insert blocked behind it gets through
# soon after the lease; the stalled client's late write (a CAS of its claimed
# word to a garbage block word) never lands: GET returns the insert's value,
# never corruption, and the holder sees its connection gone (CUT OFF, exit 3).
# Updates of an existing key never wait for claims (0). A client idle without
# a claim for four leases is not cut off (c). A writer stopped between its
# two doorbells is fenced after the lease and its write finished (d).
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; } # 10 ms resolution

# held FILE PID: wait up to 10 s for "HELD <word>" in FILE (read is a
# builtin: no fork between seeing it and the caller's next step).
held() {
	i=0
	while [ "$i" -lt 1000 ]; do
		read -r word slot <"$1"
		[ "$word" = HELD ] && return 0
		[ -d "/proc/$2" ] || fail "the holder exited before HELD: $(cat "$1")"
		sleep 0.01
		i=$((i + 1))
	done
	fail "no HELD from the holder within 10 s"
}

# finish PID TENTHS: wait up to TENTHS/10 s for PID; its exit status.
finish() {
	i=0
	while alive "$1" && [ "$i" -lt "$2" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	alive "$1" && { kill -KILL "$1"; fail "process $1 still running after $(($2 / 10)) s"; }
	wait "$1"
}

# stat_of NAME: a number from the stats JSON.
stat_of() { kvcli stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# timed_put KEY VALUE: PUT, exit 0 expected; the ms it took go to $took.
timed_put() {
	t0=$(ms)
	expect_exit 0 kvcli put "$1" "$2"
	took=$(($(ms) - t0))
}

# put_behind VALUE BROKEN: insert k VALUE while the holder claims a word for
# k: exit 0 within the 500 ms lease plus a 3000 ms margin, and only once the
# server broke the claim (it counts the broken lease before it clears the
# claim, so leases_broken is BROKEN already when the insert is through).
put_behind() {
	timed_put k "$1"
	log "insert k $1 behind the stalled holder: exit 0 after $took ms"
	[ "$took" -le 3500 ] || fail "put k $1 took $took ms, over the lease + 3000 ms"
	n=$(stat_of leases_broken)
	[ "$n" = "$2" ] || fail "put k $1 went through with leases_broken $n, not $2: it did not wait for the claim"
}

# cut_off PID FILE ROUND: the holder ends with exit 3 and CUT OFF.
cut_off() {
	finish "$1" 150
	rc=$?
	sed 's/^/   holder| /' "$2"
	if has_line "$2" WROTE; then
		fail "$3: the holder's late write landed"
	fi
	if [ "$rc" != 3 ] || ! has_line "$2" 'CUT OFF'; then
		fail "$3: holder exit $rc, not 3 with CUT OFF"
	fi
}

touch hold.out hold2.out # held() reads them at once

# (0) A lease far longer than the test (10 s): a claim on k's fingerprint
# does not hold back an update of k (k exists: its word is swung in place)
# nor a DEL of it, and the claim is still there after them; a claim-free
# insert of another key does not wait either. The holder is then killed: the
# server releases the claims of a client that went away.
start_server -m 16M -L 10000
expect_exit 0 kvcli put k v0
expect_exit 0 kvcli put k2 w0
kvcli debug-hold-lock k 8000 >hold.out 2>&1 &
holder=$!
held hold.out "$holder"
[ "$(stat_of slots_locked)" = 1 ] || fail "(0) the holder's claim is not counted"
timed_put k u1
log "(0) update of k with a claim on its fingerprint standing: exit 0 after $took ms"
[ "$took" -le 3000 ] || fail "(0) the update of k took $took ms: it waited for the claim"
expect_exit 0 kvcli get k
[ "$(cat "$LAST_OUT")" = u1 ] || fail "(0) get k after the update: $(cat "$LAST_OUT")"
t0=$(ms)
expect_exit 0 kvcli del k2
log "(0) del k2: $(($(ms) - t0)) ms"
timed_put other x
log "(0) insert of another key: $took ms"
[ "$took" -le 3000 ] || fail "(0) the insert of another key took $took ms"
alive "$holder" || fail "(0) the holder is gone before the end of (0)"
[ "$(stat_of slots_locked)" = 1 ] || fail "(0) the claim did not stand through the updates"
kill -KILL "$holder"
wait "$holder"
i=0
while [ "$(stat_of slots_locked)" != 0 ] && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(stat_of slots_locked)" = 0 ] || fail "(0) the killed holder's claim was not released in 5 s"
[ "$(stat_of leases_broken)" = 0 ] || fail "(0) a lease was broken"
[ "$(kvcli get k)" = u1 ] || fail "(0) get k at the end: $(kvcli get k)"
stop_server || fail "kvserver exit status $?"

start_server -m 16M -L 500

# (a) k does not exist. The holder claims a word for it and sleeps 4 s,
# eight leases; an insert of k waits for the claim, which the server breaks.
# hold.out is emptied first: the holder's own redirection runs in the child,
# after the fork, and held() could read (0)'s stale HELD before it.
: >hold.out
kvcli debug-hold-lock k 4000 >hold.out 2>&1 &
holder=$!
held hold.out "$holder"
log "(a) holder $holder claims word $slot for k; sleeping 4000 ms"
put_behind v1 1
cut_off "$holder" hold.out "(a)"
expect_exit 0 kvcli get k
[ "$(cat "$LAST_OUT")" = v1 ] || fail "(a) get k gave '$(cat "$LAST_OUT")', not v1"
[ "$(stat_of leases_broken)" = 1 ] || fail "(a) leases_broken is not 1"
[ "$(stat_of slots_locked)" = 0 ] || fail "(a) a claim still stands"
grep -q "client [0-9]* held an insert claim past its 500 ms lease; cutting it off" \
	"$KV_SERVER_LOG" || fail "(a) no 'past its 500 ms lease' line in the server log"
log "(a) $(grep -m1 'past its' "$KV_SERVER_LOG")"

# (b) k is deleted, so that a PUT of it is an insert again. The holder would
# sleep only 300 ms, under the lease, but is stopped right after HELD, before
# its late write (300 ms leaves time for the poll under TCG); it resumes
# after the insert behind it went through. Three rounds.
for round in 2 3 4; do
	expect_exit 0 kvcli del k
	: >hold2.out
	kvcli debug-hold-lock k 300 >hold2.out 2>&1 &
	holder=$!
	held hold2.out "$holder"
	kill -STOP "$holder"
	log "(b) round $round: holder $holder claims word $slot for k; stopped"
	put_behind "v$round" "$round"
	kill -CONT "$holder"
	cut_off "$holder" hold2.out "(b) round $round"
	expect_exit 0 kvcli get k
	[ "$(cat "$LAST_OUT")" = "v$round" ] || fail "(b) get k gave '$(cat "$LAST_OUT")', not v$round"
	[ "$(stat_of leases_broken)" = "$round" ] || fail "(b) leases_broken is not $round"
	[ "$(stat_of slots_locked)" = 0 ] || fail "(b) a claim still stands"
done

# (c) A batch client idle for 2 s (four leases) holding no claim keeps its
# connection.
{
	echo 'get k'
	sleep 2
	echo 'get k'
} | kvcli batch >idle.out 2>&1 &
idle=$!
finish "$idle" 100 || fail "(c) the idle batch client exited $?: $(cat idle.out)"
[ "$(grep -cx 'VALUE v4' idle.out)" = 2 ] || fail "(c) idle client got: $(cat idle.out)"
[ "$(stat_of leases_broken)" = 4 ] || fail "(c) the idle client was cut off"
log "(c) idle batch client answered after 2 s: $(tr '\n' ' ' <idle.out)"
[ "$(kvcli get k)" = v4 ] || fail "get k at the end: $(kvcli get k)"
[ "$(stat_of items)" = 1 ] || fail "items is not 1 at the end"

# (d) A writer that stops between a write's two doorbells: its word is
# swung to its new block (SWUNG), but it neither retires the old block nor
# commits the new one for 4 s. A GET meanwhile gets the old value (or the
# new one once the server finished the write), never corruption. A PUT of
# the key waits for the write to be committed: the server fences the
# writer after the lease and finishes its write, so the PUT gets through
# within the lease + 3000 ms, and its value is the key's. The stopped
# writer's retire and commit never land (CUT OFF, exit 3).
expect_exit 0 kvcli put h h1
: >half.out
kvcli debug-half-put h h2 4000 >half.out 2>&1 &
half=$!
i=0
until has_line half.out SWUNG; do
	[ -d "/proc/$half" ] || fail "(d) the writer exited before SWUNG: $(cat half.out)"
	[ "$i" -lt 1000 ] || fail "(d) no SWUNG from the writer within 10 s"
	sleep 0.01
	i=$((i + 1))
done
expect_exit 0 kvcli get h
got=$(cat "$LAST_OUT")
case $got in h1 | h2) ;; *) fail "(d) get h during the half write gave '$got'" ;; esac
log "(d) get h while the writer is stopped after its swing: $got"
timed_put h h3
log "(d) put h behind the stopped writer: exit 0 after $took ms"
[ "$took" -le 3500 ] || fail "(d) put h took $took ms, over the lease + 3000 ms"
[ "$(stat_of leases_broken)" = 5 ] || fail "(d) leases_broken is not 5: the writer was not fenced"
finish "$half" 150
rc=$?
sed 's/^/   writer| /' half.out
has_line half.out FINISHED && fail "(d) the stopped writer's retire and commit landed"
{ [ "$rc" = 3 ] && has_line half.out 'CUT OFF'; } || fail "(d) writer exit $rc, not 3 with CUT OFF"
[ "$(kvcli get h)" = h3 ] || fail "(d) get h at the end: $(kvcli get h)"
grep -q "client [0-9]* left a write half done (published, not committed) past its 500 ms lease" \
	"$KV_SERVER_LOG" || fail "(d) no 'left a write half done' line in the server log"
[ "$(stat_of items)" = 2 ] || fail "items is not 2 at the end"
log "stats: $(kvcli stats | grep -o '"lease_ms":[0-9]*,"leases_broken":[0-9]*,"sweep_passes":[0-9]*')"
stop_server || fail "kvserver exit status $?"
