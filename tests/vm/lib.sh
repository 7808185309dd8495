# shellcheck shell=sh
# Helpers for VM scenarios (busybox ash). A scenario starts with: . "$KV_LIB"
# Set by the VM: KV_ADDR (rxe address), KV_OUT (files come back to the host),
# KV_NAME (this run's name), PATH with /opt/kv/bin (project binaries) first.

KV_SERVER_N=0

log() { echo "-- $KV_NAME: $*"; }

# fail MSG: print MSG (and the tail of the server log, if any) and end the scenario.
fail() {
	echo "FAIL: $KV_NAME: $*" >&2
	if [ -n "${KV_SERVER_LOG:-}" ] && [ -f "$KV_SERVER_LOG" ]; then
		echo "---- last lines of $KV_SERVER_LOG:" >&2
		tail -n 20 "$KV_SERVER_LOG" >&2
	fi
	exit 1
}

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# start_server [ARGS]: start kvserver in the background (-a $KV_ADDR unless
# ARGS has -a), stderr to $KV_SERVER_LOG; wait up to 10 s for "listening on".
# Exports SERVER_PID and KV_SERVER_LOG.
start_server() {
	KV_SERVER_N=$((KV_SERVER_N + 1))
	KV_SERVER_LOG=$KV_OUT/kvserver.$KV_SERVER_N.log
	export KV_SERVER_LOG
	: >"$KV_SERVER_LOG" # exists before the background redirection happens
	case " $* " in
	*" -a "*) kvserver "$@" 2>"$KV_SERVER_LOG" & ;;
	*) kvserver -a "$KV_ADDR" "$@" 2>"$KV_SERVER_LOG" & ;;
	esac
	SERVER_PID=$!
	export SERVER_PID
	i=0
	while [ "$i" -lt 100 ]; do
		grep -q 'listening on' "$KV_SERVER_LOG" && {
			log "kvserver $SERVER_PID: $(grep -m1 'listening on' "$KV_SERVER_LOG")"
			return 0
		}
		if ! alive "$SERVER_PID"; then
			wait "$SERVER_PID"
			fail "kvserver exited with status $? before printing 'listening on'"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "kvserver did not print 'listening on' within 10 s"
}

# stop_server [SIGNAL]: signal kvserver (TERM by default), wait at most 10 s
# (then KILL), return its exit status.
stop_server() {
	kill "-${1:-TERM}" "$SERVER_PID" || fail "cannot signal kvserver $SERVER_PID"
	i=0
	while alive "$SERVER_PID" && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if alive "$SERVER_PID"; then
		log "kvserver $SERVER_PID still running 10 s after SIG${1:-TERM}: killing it"
		kill -KILL "$SERVER_PID"
	fi
	wait "$SERVER_PID"
}

# expect_exit CODE CMD...: run CMD, fail unless it exits with CODE. Its stdout
# and stderr are kept in the files $LAST_OUT and $LAST_ERR, and echoed unless
# KV_QUIET=1 (they are always echoed on failure).
LAST_OUT=/tmp/$$.last.out
LAST_ERR=/tmp/$$.last.err
expect_exit() {
	want=$1
	shift
	"$@" >"$LAST_OUT" 2>"$LAST_ERR"
	got=$?
	if [ "$got" != "$want" ] || [ "${KV_QUIET:-0}" != 1 ]; then
		sed 's/^/   out| /' "$LAST_OUT"
		sed 's/^/   err| /' "$LAST_ERR"
	fi
	[ "$got" = "$want" ] || fail "expected exit $want, got $got from: $*"
}

# has_line FILE TEXT: FILE has a line that is exactly TEXT.
has_line() { grep -Fqx -- "$2" "$1"; }

# expect_demo_ok STRING [KVCLI OPTIONS]: kvcli demo succeeds: exit 0, the
# SUCCESS line on stdout, no FAILURE line.
expect_demo_ok() {
	s=$1
	shift
	expect_exit 0 kvcli "$@" demo -s "$s"
	has_line "$LAST_OUT" 'SUCCESS, source and destination buffers match' ||
		fail "kvcli demo: no SUCCESS line on stdout"
	! grep -q '^FAILURE' "$LAST_OUT" "$LAST_ERR" || fail "kvcli demo printed a FAILURE line"
}

# fd_count PID: number of open file descriptors.
fd_count() {
	set -- "/proc/$1/fd"/*
	[ -e "$1" ] && echo $# || echo 0
}

# rss_kb PID: resident set size in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# stat_num NAME [JSON]: the number stored under "NAME" in the stats JSON
# (a fresh kvcli stats unless JSON is given; the last match if several).
stat_num() {
	if [ $# -ge 2 ]; then
		echo "$2"
	else
		kvcli stats
	fi | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"
}

# stats_line [JSON]: the allocator's stats in one line, for the log.
stats_line() {
	j=${1:-$(kvcli stats)}
	for f in items payload_bytes data_bytes bytes_allocated bytes_free bytes_held \
		bytes_pending largest_free_extent fragmentation index_words index_load; do
		printf '%s=%s ' "$f" "$(stat_num "$f" "$j")"
	done
	echo
}

# ms_now: milliseconds since boot (10 ms resolution).
ms_now() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# wait_stat NAME VALUE TENTHS: poll the stats up to TENTHS/10 s until NAME
# is VALUE; 0 if it got there.
wait_stat() {
	i=0
	while [ "$(stat_num "$1")" != "$2" ]; do
		[ "$i" -lt "$3" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# An awk function for scenarios that draw sizes: logu(lo, hi) is a number in
# [lo, hi], its decade drawn uniformly, then uniform in the decade (busybox
# awk has no log or exp). Paste it into a program: awk '...'"$KV_AWK_LOGU"'...'.
KV_AWK_LOGU='function logu(lo, hi,   nd, d, a, b, i) {
		nd = 0
		for (a = lo; a < hi; a *= 10) nd++
		d = int(rand() * nd)
		a = lo
		for (i = 0; i < d; i++) a *= 10
		b = a * 10 > hi ? hi : a * 10
		return a + int(rand() * (b - a + 1))
	}'
