#!/bin/sh
# kvvm-disk: 256M
# What syncing the store file costs GET and PUT: a benchmark scenario for the
# Soft-RoCE VM (busybox ash). From the repository root, after the build:
#
#   scripts/vm/run.sh --bin build/bin --out build/sync-out --timeout 900 \
#       --step-timeout 850 --extra "$(command -v strace)" scripts/bench/vm_sync.sh
#
# The "# kvvm-disk:" line above makes run.sh attach a fresh ext4 disk
# (virtio-blk, mounted at $KV_DISK). With strace among the extras, each
# kvserver runs under `strace -f --seccomp-bpf -e trace=msync -T` (only msync
# stops the process) and the time of every msync is kept.
#
# Four configurations, each a fresh kvserver -m 64M:
#   mem       no --file (the slab in anonymous memory)
#   sync0     --file on ext4, --sync-interval 0 (msync only at a clean stop)
#   sync1000  --file on ext4, --sync-interval 1000 (the default)
#   sync100   --file on ext4, --sync-interval 100
# run in KV_SYNC_ROUNDS (3) rounds, the order rotated by one each round, so
# that the host's load, which drifts (other work takes the emulated CPUs),
# falls on every configuration alike; the table gives medians over the rounds.
# For each: the server starts, 1.5 s pass, then sync(1), so every file
# configuration starts from clean pages (registering the slab dirties all of
# them; the first msync or sync(1) writes them all). Then the same four
# phases, one kvcli client at depth 1 over 1000 keys, each bounded by an op
# count and KV_SYNC_SECONDS (5) s:
#   put_32 (stores the keys, then measures overwrites), get_32,
#   put_4k, get_4k (values of 4096 B)
# Per phase: ops/s, p50, p99 (kvcli bench), kvserver's CPU time, the writes,
# sectors and cache flushes of the disk (/sys/block/vda/stat), and the count,
# total and longest time of the msync calls that ended in it.
# KV_SYNC_SECONDS and KV_SYNC_ROUNDS can come from a file bench.env among the
# extras.
# Results: $KV_OUT/results.json, the table in $KV_OUT/table.md, raw outputs
# in $KV_OUT/raw.
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib.sh
. "$KV_LIB"
# shellcheck source=/dev/null
[ -r "${KV_EXTRA:-/nonexistent}/bench.env" ] && . "$KV_EXTRA/bench.env"
[ -n "${KV_DISK:-}" ] || fail "no disk: KV_DISK is not set (run through scripts/vm/run.sh)"

SECS=${KV_SYNC_SECONDS:-5}
ROUNDS=${KV_SYNC_ROUNDS:-3}
CONFIGS="mem sync0 sync1000 sync100"
SLAB=64M
RAW=$KV_OUT/raw
J=/tmp/sync.rows # one line per phase: config round phase key=value...
mkdir -p "$RAW"
: >"$J"
FAILED=""
STRACE=$(command -v strace || true)
[ -n "$STRACE" ] || log "no strace (give it with --extra): msync times not measured"

note_fail() {
	FAILED="$FAILED $1"
	log "FAILED: $1"
}
now() { cut -d' ' -f1 /proc/uptime; }
t_all=$(now)
# cpu_ns PID: nanoseconds on a CPU, all threads.
cpu_ns() { cat "/proc/$1/task"/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# vda N: field N of the disk's stat (5: writes, 7: sectors written, 16: cache
# flushes; Documentation/block/stat.rst).
vda() { awk -v n="$1" '{ print $n }' /sys/block/vda/stat; }
# jnum FILE KEY: the first number stored under "KEY" in a JSON file.
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -n 1 | cut -d: -f2; }

# serve NAME ARGS...: start kvserver (under strace if there is one) and wait
# for "listening on"; SERVER_PID is kvserver itself.
serve() {
	name=$1
	shift
	KV_SERVER_LOG=$RAW/$name.r$round.server.log
	TRACE=$RAW/$name.r$round.msync.txt
	: >"$KV_SERVER_LOG"
	: >"$TRACE"
	rm -f /tmp/kvserver.pid
	if [ -n "$STRACE" ]; then
		"$STRACE" -f -qq --seccomp-bpf -e trace=msync -e signal=none -T -o "$TRACE" \
			sh -c 'echo $$ >/tmp/kvserver.pid; exec kvserver "$@"' sh \
			-a "$KV_ADDR" -q -m "$SLAB" "$@" >"$RAW/$name.r$round.server.out" 2>"$KV_SERVER_LOG" &
	else
		sh -c 'echo $$ >/tmp/kvserver.pid; exec kvserver "$@"' sh \
			-a "$KV_ADDR" -q -m "$SLAB" "$@" >"$RAW/$name.r$round.server.out" 2>"$KV_SERVER_LOG" &
	fi
	WRAP_PID=$!
	i=0
	while [ "$i" -lt 150 ]; do
		if grep -q 'listening on' "$KV_SERVER_LOG"; then
			SERVER_PID=$(cat /tmp/kvserver.pid)
			log "$name (round $round): kvserver $SERVER_PID $*"
			return 0
		fi
		alive "$WRAP_PID" || break
		sleep 0.1
		i=$((i + 1))
	done
	fail "$name: kvserver did not start: $(tail -n 3 "$KV_SERVER_LOG" | tr '\n' ' ')"
}

# msync_durs FROM TO: the durations (s) of the msync lines FROM+1..TO of $TRACE.
msync_durs() {
	sed -n "$(($1 + 1)),$2p" "$TRACE" | sed -n 's/.*msync(.*<\([0-9.]*\)>$/\1/p'
}

# phase CONFIG NAME KVCLI-ARGS...: one kvcli bench run and what it cost around it.
phase() {
	cfg=$1 name=$2
	shift 2
	l0=$(wc -l <"$TRACE")
	s0=$(vda 7) o0=$(vda 5) f0=$(vda 16) c0=$(cpu_ns "$SERVER_PID") w0=$(now)
	f=$RAW/$cfg.r$round.$name
	timeout $((SECS * 4 + 60)) kvcli bench "$@" --seconds "$SECS" >"$f.json" 2>"$f.err"
	rc=$?
	w1=$(now) c1=$(cpu_ns "$SERVER_PID") s1=$(vda 7) o1=$(vda 5) f1=$(vda 16)
	l1=$(wc -l <"$TRACE")
	if [ "$rc" != 0 ] || ! [ -s "$f.json" ]; then
		note_fail "$cfg round $round $name (kvcli exit $rc: $(tail -n 1 "$f.err"))"
		return
	fi
	msync_durs "$l0" "$l1" | awk '{ printf "%.3f\n", $1 * 1000 }' >>"$RAW/msync_ms.$cfg.$name"
	ms=$(msync_durs "$l0" "$l1" | awk '{ n++; s += $1; if ($1 > m) m = $1 }
		END { printf "msync_n=%d msync_total_ms=%.3f msync_max_ms=%.3f", n, s * 1000, m * 1000 }')
	f=$f.json
	row="$cfg $round $name ops_per_sec=$(jnum "$f" ops_per_sec) count=$(jnum "$f" count) p50=$(jnum "$f" p50) p99=$(jnum "$f" p99) secs=$(jnum "$f" seconds) server_cpu_ms=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') writes=$((o1 - o0)) sectors=$((s1 - s0)) flushes=$((f1 - f0)) $ms wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", b - a }')"
	echo "$row" >>"$J"
	log "  $row"
}

# config NAME KVSERVER-ARGS...: a fresh server and store, the four phases.
config() {
	cfg=$1
	shift
	rm -f "$KV_DISK/sync.store"
	serve "$cfg" "$@"
	sleep 1.5 # the first msync (at 1000 ms) writes every page the registration dirtied
	s0=$(vda 7)
	sync
	log "$cfg: sync(1) after 1.5 s wrote $(($(vda 7) - s0)) sectors"
	B="--keys 1000 --depth 1"
	# shellcheck disable=SC2086 # $B is a list of options
	{
		phase "$cfg" put_32 --workload put --value-size 32 --ops 100000 $B
		phase "$cfg" get_32 --workload get --value-size 32 --ops 200000 $B
		phase "$cfg" put_4k --workload put --value-size 4096 --ops 60000 $B
		phase "$cfg" get_4k --workload get --value-size 4096 --ops 100000 $B
	}
	kill -TERM "$SERVER_PID"
	i=0
	while alive "$SERVER_PID" && [ "$i" -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	alive "$SERVER_PID" && { note_fail "$cfg: kvserver still running 20 s after SIGTERM"; kill -KILL "$SERVER_PID"; }
	wait "$WRAP_PID" || note_fail "$cfg: kvserver exit status $?"
	last=$(msync_durs 0 "$(wc -l <"$TRACE")" | tail -n 1)
	log "$cfg: stopped; $(grep -c 'msync(' "$TRACE") msync calls in all, the last (clean stop) ${last:-?} s"
	echo "$cfg $round stop last_msync_s=${last:-0} msyncs=$(grep -c 'msync(' "$TRACE")" >>"$RAW/stops.txt"
}

: >"$RAW/stops.txt"
log "kernel $(uname -r); disk: $(awk -v d="$KV_DISK" '$2 == d { print $1, $3, $4 }' /proc/mounts)"
round=0
while [ "$round" -lt "$ROUNDS" ]; do
	round=$((round + 1))
	# this round's order: CONFIGS rotated left by round - 1
	order=$(echo "$CONFIGS" | awk -v r="$round" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
	log "round $round of $ROUNDS: $order"
	for c in $order; do
		case $c in
		mem) config mem ;;
		sync*) config "$c" --file "$KV_DISK/sync.store" --sync-interval "${c#sync}" ;;
		esac
	done
done
cp "$J" "$RAW/rows.txt"

# ---- results ------------------------------------------------------------------

# results.json: {"meta":{...},"rows":[{"config":..,"phase":..,key:value...}]}
{
	printf '{"meta":{"vm_kernel":"%s","slab":"%s","seconds":%s,"rounds":%s,"strace":%s,"vm_seconds":%s,"failed":"%s"},\n"rows":[' \
		"$(uname -r)" "$SLAB" "$SECS" "$ROUNDS" "$([ -n "$STRACE" ] && echo true || echo false)" \
		"$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')" "$(echo "${FAILED# }" | tr -d '\042\134')"
	awk '{ printf "%s\n{\"config\":\"%s\",\"round\":%d,\"phase\":\"%s\"", (NR > 1 ? "," : ""), $1, $2, $3
		for (i = 4; i <= NF; i++) { split($i, kv, "="); printf ",\"%s\":%s", kv[1], (kv[2] == "" ? "null" : kv[2]) }
		printf "}" }' "$J"
	echo ']}'
} >"$KV_OUT/results.json"

# msync_stats CONFIG PHASE: "count median max" of its msync times (ms), all rounds.
msync_stats() {
	f=$RAW/msync_ms.$1.$2
	[ -s "$f" ] || { echo "0 - -"; return; }
	sort -n "$f" | awk '{ v[NR] = $1 } END { printf "%d %.1f %.1f\n", NR, v[int((NR + 1) / 2)], v[NR] }'
}
for c in $CONFIGS; do
	for p in put_32 get_32 put_4k get_4k; do echo "$c $p $(msync_stats "$c" "$p")"; done
done >/tmp/sync.msync

# table.md: per phase and configuration, medians over the rounds and the
# ratios of the medians to mem's.
awk -v rounds="$ROUNDS" '
	NR == FNR { ms[$1, $2] = $3 " " $4 " " $5; next }
	{ for (i = 4; i <= NF; i++) { split($i, kv, "="); v[$1, $3, kv[1]] = v[$1, $3, kv[1]] " " kv[2] }
	  if (!($3 in seenp)) { seenp[$3] = 1; ph[++np] = $3 }
	  if (!($1 in seenc)) { seenc[$1] = 1; cf[++nc] = $1 } }
	# med(LIST): the median of the numbers in a blank-separated list; lo/hi: its ends
	function sorted(list, a,   n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n
	}
	function med(list,   a, n) { n = sorted(list, a); return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : "" }
	function lo(list,   a) { sorted(list, a); return a[1] }
	function hi(list,   a, n) { n = sorted(list, a); return a[n] }
	function sum(list,   a, n, i, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) t += a[i]; return t + 0 }
	function r(a, b) { return (b > 0 && a != "") ? sprintf("%.2f", a / b) : "n/a" }
	END {
		print "| phase | config | ops/s (median; min-max) | p50 us | p99 us | ops/s vs mem | p50 vs mem | p99 vs mem | msyncs (all rounds) | msync median ms | msync max ms | sectors written (all rounds) | disk flushes (all rounds) | server CPU ms (median) |"
		print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		for (p = 1; p <= np; p++) for (c = 1; c <= nc; c++) {
			k = cf[c]; q = ph[p]
			o = v[k, q, "ops_per_sec"]
			if (o == "") continue
			split(ms[k, q], m, " ")
			printf "| %s | %s | %.0f; %.0f-%.0f | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %d | %d | %.0f |\n", q, k,
				med(o), lo(o), hi(o), med(v[k, q, "p50"]), med(v[k, q, "p99"]),
				r(med(o), med(v["mem", q, "ops_per_sec"])),
				r(med(v[k, q, "p50"]), med(v["mem", q, "p50"])), r(med(v[k, q, "p99"]), med(v["mem", q, "p99"])),
				m[1], m[2], m[3], sum(v[k, q, "sectors"]), sum(v[k, q, "flushes"]), med(v[k, q, "server_cpu_ms"])
		}
	}' /tmp/sync.msync "$J" >"$KV_OUT/table.md"
cat "$KV_OUT/table.md"
[ -z "$FAILED" ] || fail "some measurements failed:$FAILED"
log "ok"
