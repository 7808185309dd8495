#!/bin/sh
# Slot locks are leases (kvserver -L 500): a client that stalls holding a lock
# past the lease, asleep (a) or stopped by SIGSTOP (b, three rounds), is cut off; a PUT
# blocked behind it gets through soon after the lease; the stalled client's
# late write does not land (its key keeps the new value, and it sees its
# connection gone: CUT OFF, exit 3). A client idle without a lock for four
# leases is not cut off (c).
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M -L 500

ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; } # 10 ms resolution

# held FILE PID: wait up to 10 s for "HELD <slot>" in FILE (read is a
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

# put_behind VALUE: PUT k VALUE while the holder has k locked: exit 0 within
# the 500 ms lease plus a 3000 ms margin.
put_behind() {
	t0=$(ms)
	expect_exit 0 kvcli put k "$1"
	took=$(($(ms) - t0))
	log "put k $1 behind the stalled holder: exit 0 after $took ms"
	[ "$took" -le 3500 ] || fail "put k $1 took $took ms, over the lease + 3000 ms"
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

# (a) The holder sleeps 4 s with k's lock, eight leases.
expect_exit 0 kvcli put k v0
expect_exit 1 kvcli debug-hold-lock nokey 0 # only a stored key's slot is locked
touch hold.out hold2.out # held() reads them at once
kvcli debug-hold-lock k 4000 >hold.out 2>&1 &
holder=$!
held hold.out "$holder"
log "(a) holder $holder holds slot $slot; sleeping 4000 ms"
put_behind v1
cut_off "$holder" hold.out "(a)"
[ "$(kvcli get k)" = v1 ] || fail "(a) get k gave '$(kvcli get k)', not v1"
[ "$(stat_of leases_broken)" = 1 ] || fail "(a) leases_broken is not 1"
[ "$(stat_of slots_locked)" = 0 ] || fail "(a) a slot is still locked"
grep -q "client [0-9]* held a slot lock past its 500 ms lease; cutting it off" \
	"$KV_SERVER_LOG" || fail "(a) no 'past its 500 ms lease' line in the server log"
log "(a) $(grep -m1 'past its' "$KV_SERVER_LOG")"

# (b) The holder would sleep only 300 ms, under the lease, but is stopped
# right after HELD, before its late write (300 ms leaves time for the poll
# under TCG); it resumes after the PUT behind it went through. Three rounds.
for round in 2 3 4; do
	: >hold2.out
	kvcli debug-hold-lock k 300 >hold2.out 2>&1 &
	holder=$!
	held hold2.out "$holder"
	kill -STOP "$holder"
	log "(b) round $round: holder $holder holds slot $slot; stopped"
	put_behind "v$round"
	kill -CONT "$holder"
	cut_off "$holder" hold2.out "(b) round $round"
	[ "$(kvcli get k)" = "v$round" ] || fail "(b) get k gave '$(kvcli get k)', not v$round"
	[ "$(stat_of leases_broken)" = "$round" ] || fail "(b) leases_broken is not $round"
	[ "$(stat_of slots_locked)" = 0 ] || fail "(b) a slot is still locked"
done

# (c) A batch client idle for 2 s (four leases) holding no lock keeps its
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
log "stats: $(kvcli stats | grep -o '"lease_ms":[0-9]*,"leases_broken":[0-9]*,"sweep_passes":[0-9]*')"
stop_server || fail "kvserver exit status $?"
