#!/bin/sh
# Capacity scenario for the Soft-RoCE VM (busybox ash), run by
# scripts/bench/run.sh after vm_bench.sh in the same VM: how many items of a
# 16-byte key and a value of 32 B, 256 B, 4096 B or 1 MiB fit in 64 MiB.
#   store  kvserver -m 64M with default settings (index 3/32 of the slab,
#          values up to 1 MiB), filled with distinct keys until the first
#          "store full": `kvcli batch` (put KEY VALUE lines) for the small
#          sizes, `kvcli put KEY - < file` one process per item for 1 MiB.
#          The count is the OKs before the first refusal; kvserver's stats
#          (items, bytes) are kept beside it.
#   redis  redis-server --maxmemory 64mb --maxmemory-policy noeviction, filled
#          with the same items (redis-cli --pipe) until it answers OOM; the
#          count is DBSIZE.
# Every fill is bounded in items and in time: the scenario ends by VM uptime
# KV_BENCH_DEADLINE (865 s; run.sh gives the VM 900 s), and
# KV_BENCH_CAP_SECONDS (600) after it started (run.sh's step timeout is 620 s),
# giving each fill what is left; a fill cut short is reported as such, its count a lower bound.
# Results in $KV_OUT/capacity.json, raw outputs in $KV_OUT/raw.
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib.sh
. "$KV_LIB"
# shellcheck source=/dev/null
[ -r "${KV_EXTRA:-/nonexistent}/bench.env" ] && . "$KV_EXTRA/bench.env"

DEADLINE=${KV_BENCH_DEADLINE:-865}
CAP_DIV=${KV_BENCH_CAP_DIV:-1} # divides every fill's item bound (a quick check of the scenario)
RAW=$KV_OUT/raw
J=/tmp/cap.json # one JSON fragment per fill
RPORT=6390
mkdir -p "$RAW" "$J"
FAILED=""

note_fail() {
	FAILED="$FAILED $1"
	log "FAILED: $1"
}
now() { cut -d' ' -f1 /proc/uptime; }
# left: whole seconds until the deadline (may be negative)
left() { awk -v d="$DEADLINE" -v n="$(now)" 'BEGIN { printf "%d", d - n }'; }
# budget CAP RESERVE: seconds for the next fill: CAP at most, leaving RESERVE
# for the fills after it; 0 when not even 10 s are left.
budget() {
	awk -v l="$(left)" -v c="$1" -v r="$2" 'BEGIN {
		b = l - r; if (b > c) b = c; if (b < 10) b = 0; printf "%d", b }'
}
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -n 1 | cut -d: -f2; }
t_all=$(now)
# and within the scenario's own time (run.sh's --step-timeout 620): 600 s
CAP_SECONDS=${KV_BENCH_CAP_SECONDS:-600}
DEADLINE=$(awk -v d="$DEADLINE" -v t="$t_all" -v s="$CAP_SECONDS" 'BEGIN { e = t + s; printf "%d", (d < e ? d : e) }')
log "fills end by VM uptime $DEADLINE s (now $t_all)"

# gen_lines FORMAT N VSIZE: N lines FORMAT (with %015d for the item number
# and %s for the value: VSIZE bytes of 'v'), item i's key "k" + 15 digits (16 B).
gen_lines() {
	awk -v fmt="$1" -v n="$2" -v vs="$3" 'BEGIN {
		v = "v"; while (length(v) < vs) v = v v; v = substr(v, 1, vs)
		for (i = 0; i < n; i++) printf fmt, i, v }'
}

# ---- the store ----------------------------------------------------------------

# ours_small NAME VSIZE MAX CAP RESERVE: fill a fresh kvserver -m 64M with up
# to MAX items through kvcli batch until the first ERROR line.
ours_small() {
	name=$1 vs=$2 max=$(($3 / CAP_DIV))
	secs=$(budget "$4" "$5")
	if [ "$secs" = 0 ]; then
		note_fail "ours_$name (no time left)"
		return
	fi
	start_server -q -m 64M
	log "store, $vs B values: up to $max items, $secs s at most"
	# The lines first (awk beside kvcli would take a CPU from it and rxe).
	gen_lines "put k%015d %s\n" "$max" "$vs" >/tmp/cap_lines
	secs=$(budget "$4" "$5") # what is left after the lines
	[ "$secs" -ge 10 ] || secs=10
	t0=$(now)
	# The counter stops at the first ERROR: kvcli batch then dies of SIGPIPE
	# at its next answer.
	timeout "$secs" kvcli batch </tmp/cap_lines 2>"$RAW/cap_ours_$name.err" |
		awk '$0 == "OK" { ok++; next }
			{ err = $0; exit }
			END { printf "%d\n%s\n", ok, err }' >"$RAW/cap_ours_$name.txt"
	t1=$(now)
	rm -f /tmp/cap_lines
	ok=$(sed -n 1p "$RAW/cap_ours_$name.txt")
	err=$(sed -n 2p "$RAW/cap_ours_$name.txt" | tr -d '\042\134')
	kvcli stats >"$RAW/cap_ours_$name.stats.json" 2>>"$RAW/cap_ours_$name.err" ||
		note_fail "ours_$name stats"
	stop_server TERM || note_fail "kvserver (capacity $name) exit status $?"
	cap_record "ours_$name" "$vs" "$ok" "$err" "$t0" "$t1" "$max" "$RAW/cap_ours_$name.stats.json"
}

# cap_record NAME VSIZE COUNT ERRTEXT T0 T1 MAX [STATS]: $J/NAME
cap_record() {
	full=false
	case $4 in *"store full"* | *OOM*) full=true ;; esac
	items=null
	[ -n "${8:-}" ] && [ -s "$8" ] && items=$(jnum "$8" items)
	{
		printf '{"value_bytes":%s,"key_bytes":16,"count":%s,"full":%s,"first_error":"%s",' \
			"$2" "${3:-0}" "$full" "$4"
		printf '"seconds":%s,"max_items":%s,"server_items":%s' \
			"$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.1f", b - a }')" "$7" "${items:-null}"
		if [ -n "${8:-}" ] && [ -s "$8" ]; then
			for k in index_words data_bytes bytes_allocated bytes_free largest_free_extent payload_bytes; do
				printf ',"%s":%s' "$k" "$(jnum "$8" "$k")"
			done
		fi
		echo '}'
	} >"$J/$1"
	log "  $1: $3 items in $(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.1f", b - a }') s, full=$full ($4)"
}

# ours_big MAX CAP RESERVE: 1 MiB values, one `kvcli put KEY -` each, until
# one exits 4 (store full).
ours_big() {
	max=$(($1 / CAP_DIV))
	secs=$(budget "$2" "$3")
	if [ "$secs" = 0 ]; then
		note_fail "ours_1m (no time left)"
		return
	fi
	start_server -q -m 64M
	log "store, 1 MiB values: up to $max items, $secs s at most"
	t0=$(now)
	end=$(awk -v a="$t0" -v s="$secs" 'BEGIN { printf "%d", a + s }')
	ok=0 err="" i=0
	: >"$RAW/cap_ours_1m.err"
	while [ "$i" -lt "$max" ] && [ "$(left)" -gt 0 ] &&
		[ "$(awk -v e="$end" -v n="$(now)" 'BEGIN { print (n < e) }')" = 1 ]; do
		k=$(printf 'k%015d' "$i")
		timeout 60 kvcli put "$k" - </tmp/v1m 2>>"$RAW/cap_ours_1m.err"
		rc=$?
		if [ "$rc" != 0 ]; then
			err="exit $rc: $(tail -n 1 "$RAW/cap_ours_1m.err" | tr -d '\042\134')"
			break
		fi
		ok=$((ok + 1))
		i=$((i + 1))
	done
	t1=$(now)
	kvcli stats >"$RAW/cap_ours_1m.stats.json" 2>>"$RAW/cap_ours_1m.err" || note_fail "ours_1m stats"
	stop_server TERM || note_fail "kvserver (capacity 1m) exit status $?"
	cap_record ours_1m 1048576 "$ok" "$err" "$t0" "$t1" "$max" "$RAW/cap_ours_1m.stats.json"
}

# ---- redis ----------------------------------------------------------------------

ip link set lo up # /init leaves lo down
redis_start() {
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
		--maxmemory 64mb --maxmemory-policy noeviction --daemonize no \
		>>"$RAW/cap_redis-server.log" 2>&1 &
	RPID=$!
	i=0
	until redis-cli -p "$RPORT" ping >/dev/null 2>&1 || [ "$i" -ge 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
redis_stop() {
	kill "$RPID" 2>/dev/null
	wait "$RPID"
}

# redis_fill NAME VSIZE MAX CAP RESERVE: up to MAX SETs through one
# redis-cli --pipe (inline commands); the count is DBSIZE.
redis_fill() {
	name=$1 vs=$2 max=$(($3 / CAP_DIV))
	secs=$(budget "$4" "$5")
	if [ "$secs" = 0 ]; then
		note_fail "redis_$name (no time left)"
		return
	fi
	redis_start
	log "redis, $vs B values: up to $max SETs, $secs s at most"
	t0=$(now)
	if [ "$vs" = 1048576 ]; then # RESP: a 1 MiB argument, as a file
		i=0
		while [ "$i" -lt "$max" ]; do
			# shellcheck disable=SC2016 # RESP's $LEN lines, not expansions
			printf '*3\r\n$3\r\nSET\r\n$16\r\nk%015d\r\n$1048576\r\n' "$i"
			cat /tmp/v1m
			printf '\r\n'
			i=$((i + 1))
		done
	else
		gen_lines "SET k%015d %s\r\n" "$max" "$vs" >/tmp/cap_lines
		cat /tmp/cap_lines
	fi | timeout "$secs" redis-cli -p "$RPORT" --pipe >"$RAW/cap_redis_$name.txt" 2>&1
	rm -f /tmp/cap_lines
	t1=$(now)
	n=$(redis-cli -p "$RPORT" dbsize 2>/dev/null)
	redis-cli -p "$RPORT" info memory >"$RAW/cap_redis_$name.mem.txt" 2>&1
	err=$(grep -m 1 -o 'OOM[^.]*' "$RAW/cap_redis_$name.txt" | tr -d '\042\134\r')
	case $n in '' | *[!0-9]*) note_fail "redis_$name dbsize ($n)"; n=0 ;; esac
	redis_stop
	cap_record "redis_$name" "$vs" "$n" "$err" "$t0" "$t1" "$max"
	used=$(awk -F: '/^used_memory:/ { gsub(/\r/, ""); print $2 }' "$RAW/cap_redis_$name.mem.txt")
	[ -n "$used" ] && sed -i "s/}\$/,\"used_memory\":$used}/" "$J/redis_$name"
}

# A 1 MiB value (no newline: both stores take it as is).
head -c 1048576 /dev/zero | tr '\0' 'v' >/tmp/v1m

# The short fills first (1 MiB and 4096 B, store and Redis: a minute or so),
# then the issue's headline, 16-byte keys and 32 B values (Redis, then the
# store: the longest fill, several minutes), then 256 B with what is left.
# RESERVE keeps time for what comes after each fill. KV_BENCH_CAP_FILLS picks
# fills by name (ours_1m redis_1m ours_4096 redis_4096 redis_32 ours_32
# ours_256 redis_256; default all, in this order).
FILLS=${KV_BENCH_CAP_FILLS:-all}
want() { [ "$FILLS" = all ] || case " $FILLS " in *" $1 "*) true ;; *) false ;; esac; }
want ours_1m && ours_big 80 120 400
want redis_1m && redis_fill 1m 1048576 80 60 380
want ours_4096 && ours_small 4096 4096 20000 60 340
want redis_4096 && redis_fill 4096 4096 20000 40 320
want redis_32 && redis_fill 32 32 530000 120 260
want ours_32 && ours_small 32 32 790000 900 40
want ours_256 && ours_small 256 256 260000 200 20
want redis_256 && redis_fill 256 256 260000 60 0

# ---- capacity.json ------------------------------------------------------------------
{
	printf '{"meta":{"deadline_uptime_s":%s,"seconds":%s,"failed":"%s"}' "$DEADLINE" \
		"$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')" \
		"$(echo "${FAILED# }" | tr -d '\042\134')"
	for k in ours_32 redis_32 ours_256 redis_256 ours_4096 redis_4096 ours_1m redis_1m; do
		printf ',\n"%s":' "$k"
		if [ -s "$J/$k" ]; then tr -d '\n' <"$J/$k"; else printf null; fi
	done
	echo '}'
} >"$KV_OUT/capacity.json"
log "capacity.json written ($(wc -c <"$KV_OUT/capacity.json") bytes)"
[ -z "$FAILED" ] || fail "some measurements failed:$FAILED"
log "ok"
