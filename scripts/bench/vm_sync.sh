#!/bin/sh
# kvvm-disk: 256M
# What syncing the store file costs GET and PUT: a benchmark scenario for the
# Soft-RoCE VM (busybox ash). From the repository root, after the build:
#
#   scripts/vm/run.sh --bin build/bin --out build/sync-out --timeout 900 \
#       --step-timeout 850 --extra "$(command -v strace)" scripts/bench/vm_sync.sh
#
# The "# kvvm-disk:" line above makes run.sh attach a fresh ext4 disk
# (virtio-blk, mounted at $KV_DISK). With --file, kvserver's syncer thread
# (server/kv_syncer.h) hashes every page of the slab each --sync-interval,
# dirties the changed ones and msyncs; its stats (kvcli stats: sync_passes,
# sync_pages_dirtied, sync_errors, sync_last_ms, sync_max_ms) are read before
# and after every phase. With strace among the extras (optional, a
# cross-check), each kvserver runs under
# `strace -f --seccomp-bpf -e trace=msync -ttt -T` (only msync stops the
# process): the time of every msync, and of every pass (from one msync's end
# to the next, minus the interval: the hashing, the dirtying and the msync,
# and the thread's wake-up).
#
# Four configurations, each a fresh kvserver -m 64M:
#   mem       no --file (the slab in anonymous memory)
#   sync0     --file on ext4, --sync-interval 0 (no syncer thread: one pass
#             at a clean stop)
#   sync1000  --file on ext4, --sync-interval 1000 (the default)
#   sync100   --file on ext4, --sync-interval 100
# run in KV_SYNC_ROUNDS (3) rounds, the order rotated by one each round, so
# that the host's load, which drifts (other work takes the emulated CPUs),
# falls on every configuration alike; the tables give medians over the rounds.
# For each: the server starts, 1.5 s pass (and, with a syncer thread, its
# first pass ends), then sync(1), so every file configuration starts from
# clean pages (registering the slab dirtied all of them). Then the same four phases, one kvcli
# client at depth 1 over 1000 keys, each bounded by an op count and
# KV_SYNC_SECONDS (5) s:
#   put_32 (stores the keys, then measures overwrites), get_32,
#   put_4k, get_4k (values of 4096 B)
# Per phase: ops/s, p50, p99 (kvcli bench); kvserver's CPU time, its main
# thread and the rest (the syncer) apart (/proc/PID/task/*/schedstat); the
# writes, sectors and cache flushes of the disk (/sys/block/vda/stat); the
# syncer's passes, pages dirtied and last pass time (its stats); the msyncs
# and passes that ended in it (strace). Check: in sync1000 and sync100 every
# PUT phase writes sectors (before the syncer, every periodic msync wrote 0).
# At each stop: how long the clean stop took (its last pass), the sectors it
# wrote, its msync of the slab.
# KV_SYNC_SECONDS and KV_SYNC_ROUNDS can come from a file bench.env among the
# extras.
# Results: $KV_OUT/results.json, the tables in $KV_OUT/table.md, raw outputs
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
[ -n "$STRACE" ] || log "no strace (give it with --extra): msync times not measured, passes from the stats only"

note_fail() {
	FAILED="$FAILED $1"
	log "FAILED: $1"
}
now() { cut -d' ' -f1 /proc/uptime; }
t_all=$(now)
# cpu_ns PID: nanoseconds on a CPU, all threads and the main thread's (the
# event loop). The rest is the syncer's (kvserver's only other thread).
cpu_ns() { # PID: "ALL MAIN", read together
	for t in /proc/"$1"/task/*; do
		printf '%s ' "${t##*/}"
		cat "$t/schedstat" 2>/dev/null || echo 0
	done | awk -v p="$1" '{ s += $2; if ($1 == p) m = $2 } END { printf "%.0f %.0f", s, m }'
}
# vda N: field N of the disk's stat (5: writes, 7: sectors written, 16: cache
# flushes; Documentation/block/stat.rst).
vda() { awk -v n="$1" '{ print $n }' /sys/block/vda/stat; }
# jnum FILE KEY: the first number stored under "KEY" in a JSON file.
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -n 1 | cut -d: -f2; }
# jint FILE KEY: the same, 0 if there is none (mem has no sync_* stats).
jint() {
	v=$(jnum "$1" "$2")
	echo "${v:-0}"
}
# stats_to FILE: kvserver's stats JSON into FILE (empty if kvcli failed).
stats_to() { timeout 30 kvcli stats >"$1" 2>/dev/null || : >"$1"; }

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
		"$STRACE" -f -qq --seccomp-bpf -e trace=msync -e signal=none -ttt -T -o "$TRACE" \
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

# slab_msyncs FROM TO IVL: for each msync of the whole slab (1 MiB or more:
# not the header's) on lines FROM+1..TO of $TRACE, "MSYNC_MS PASS_MS": the
# msync's time, and the pass's, from the end of the slab msync before it to
# this one's end, minus the interval IVL ms ("-" for the first).
slab_msyncs() {
	[ -s "$TRACE" ] || return 0
	awk -v a="$1" -v b="$2" -v ivl="$3" '/msync\(/ && />$/ {
		ts = ""; len = 0
		for (i = 1; i <= NF; i++) if ($i ~ /^msync\(/) { ts = $(i - 1); len = $(i + 1) + 0; break }
		d = $NF; gsub(/[<>]/, "", d)
		if (ts == "" || len < 1048576) next
		e = ts + d
		if (NR > a && NR <= b) printf "%.3f %s\n", d * 1000, (pe != "" ? sprintf("%.3f", (e - pe) * 1000 - ivl) : "-")
		pe = e
	}' "$TRACE"
}

# phase CONFIG NAME KVCLI-ARGS...: one kvcli bench run and what it cost around it.
phase() {
	cfg=$1 name=$2
	shift 2
	f=$RAW/$cfg.r$round.$name
	# Windows, outer to inner: the disk's counters, the msyncs (strace) and
	# the syncer's CPU; its stats; kvcli bench and the server's CPU.
	s0=$(vda 7) o0=$(vda 5) f0=$(vda 16) l0=$(wc -l <"$TRACE")
	c=$(cpu_ns "$SERVER_PID") && x0=${c% *} y0=${c#* }
	stats_to "$f.stats0.json"
	c=$(cpu_ns "$SERVER_PID") && c0=${c% *} m0=${c#* }
	w0=$(now)
	timeout $((SECS * 4 + 60)) kvcli bench "$@" --seconds "$SECS" >"$f.json" 2>"$f.err"
	rc=$?
	w1=$(now)
	c=$(cpu_ns "$SERVER_PID") && c1=${c% *} m1=${c#* }
	stats_to "$f.stats1.json"
	c=$(cpu_ns "$SERVER_PID") && x1=${c% *} y1=${c#* }
	l1=$(wc -l <"$TRACE") s1=$(vda 7) o1=$(vda 5) f1=$(vda 16)
	if [ "$rc" != 0 ] || ! [ -s "$f.json" ]; then
		note_fail "$cfg round $round $name (kvcli exit $rc: $(tail -n 1 "$f.err"))"
		return
	fi
	slab_msyncs "$l0" "$l1" "$IVL" >"$f.msyncs"
	cut -d' ' -f1 "$f.msyncs" >>"$RAW/msync_ms.$cfg.$name"
	cut -d' ' -f2 "$f.msyncs" | grep -v '^-' >>"$RAW/pass_ms.$cfg.$name"
	ms=$(awk '{ n++; s += $1; if ($1 > m) m = $1 }
		END { printf "msync_n=%d msync_total_ms=%.3f msync_max_ms=%.3f", n, s, m }' "$f.msyncs")
	passes=$(($(jint "$f.stats1.json" sync_passes) - $(jint "$f.stats0.json" sync_passes)))
	pages=$(($(jint "$f.stats1.json" sync_pages_dirtied) - $(jint "$f.stats0.json" sync_pages_dirtied)))
	serr=$(($(jint "$f.stats1.json" sync_errors) - $(jint "$f.stats0.json" sync_errors)))
	[ -s "$f.stats1.json" ] || note_fail "$cfg round $round $name: no stats after the phase"
	sectors=$((s1 - s0))
	row="$cfg $round $name ops_per_sec=$(jnum "$f.json" ops_per_sec) count=$(jnum "$f.json" count) p50=$(jnum "$f.json" p50) p99=$(jnum "$f.json" p99) secs=$(jnum "$f.json" seconds)"
	row="$row server_cpu_ms=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') main_cpu_ms=$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') syncer_cpu_ms=$(awk -v a="$x0" -v b="$x1" -v x="$y0" -v y="$y1" 'BEGIN { printf "%.1f", ((b - a) - (y - x)) / 1e6 }')"
	row="$row writes=$((o1 - o0)) sectors=$sectors flushes=$((f1 - f0)) $ms passes=$passes pages=$pages sync_errors=$serr last_ms=$(jnum "$f.stats1.json" sync_last_ms) max_ms=$(jnum "$f.stats1.json" sync_max_ms) wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", b - a }')"
	echo "$row" >>"$J"
	log "  $row"
	[ "$serr" = 0 ] || note_fail "$cfg round $round $name: $serr syncer errors"
	# The point of the syncer: the periodic syncs write what the PUTs changed.
	case $cfg.$name in
	sync[1-9]*.put_*)
		if [ "$sectors" -gt 0 ] && [ "$pages" -gt 0 ]; then
			log "  check: $cfg $name round $round: the syncs wrote $sectors sectors, $pages pages dirtied in $passes passes"
		else
			note_fail "$cfg round $round $name: the periodic syncs wrote $sectors sectors ($pages pages dirtied in $passes passes) after PUTs"
		fi
		;;
	esac
}

# config NAME INTERVAL KVSERVER-ARGS...: a fresh server and store, the four
# phases. INTERVAL: the --sync-interval in ms (0: none or no file).
config() {
	cfg=$1 IVL=$2
	shift 2
	rm -f "$KV_DISK/sync.store"
	serve "$cfg" "$@"
	sleep 1.5
	first="" fpages="" fwait=0
	if [ "$IVL" -gt 0 ]; then
		# wait for the first pass (it may have the whole slab to write)
		while :; do
			stats_to /tmp/sync.stats
			[ "$(jint /tmp/sync.stats sync_passes)" -ge 1 ] && break
			[ "$fwait" -lt 60 ] || { note_fail "$cfg round $round: no syncer pass after 60 polls of its stats"; break; }
			sleep 0.5
			fwait=$((fwait + 1))
		done
		first=$(jnum /tmp/sync.stats sync_last_ms) fpages=$(jnum /tmp/sync.stats sync_pages_dirtied)
	fi
	s0=$(vda 7)
	sync
	ssync=$(($(vda 7) - s0))
	log "$cfg: first pass ${first:--} ms (${fpages:--} pages); sync(1) then wrote $ssync sectors"
	B="--keys 1000 --depth 1"
	# shellcheck disable=SC2086 # $B is a list of options
	{
		phase "$cfg" put_32 --workload put --value-size 32 --ops 100000 $B
		phase "$cfg" get_32 --workload get --value-size 32 --ops 200000 $B
		phase "$cfg" put_4k --workload put --value-size 4096 --ops 60000 $B
		phase "$cfg" get_4k --workload get --value-size 4096 --ops 100000 $B
	}
	stats_to "$RAW/$cfg.r$round.stats.end.json"
	n0=$(wc -l <"$TRACE") s0=$(vda 7) t0=$(now)
	kill -TERM "$SERVER_PID"
	i=0
	while alive "$SERVER_PID" && [ "$i" -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	alive "$SERVER_PID" && { note_fail "$cfg: kvserver still running 20 s after SIGTERM"; kill -KILL "$SERVER_PID"; }
	wait "$WRAP_PID" || note_fail "$cfg: kvserver exit status $?"
	sstop=$(($(vda 7) - s0)) tstop=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	last=$(slab_msyncs "$n0" "$(wc -l <"$TRACE")" 0 | tail -n 1 | cut -d' ' -f1)
	e=$RAW/$cfg.r$round.stats.end.json
	log "$cfg: stopped in $tstop s; the clean stop wrote $sstop sectors, its msync of the slab ${last:-?} ms; $(jint "$e" sync_passes) passes before it, $(jint "$e" sync_pages_dirtied) pages dirtied in all"
	echo "$cfg $round first_pass_ms=$first first_pages=$fpages first_wait=$fwait sync1_sectors=$ssync passes=$(jint "$e" sync_passes) pages=$(jint "$e" sync_pages_dirtied) max_ms=$(jnum "$e" sync_max_ms) stop_s=$tstop stop_sectors=$sstop stop_msync_ms=$last" >>"$RAW/stops.txt"
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
		mem) config mem 0 ;;
		sync*) config "$c" "${c#sync}" --file "$KV_DISK/sync.store" --sync-interval "${c#sync}" ;;
		esac
	done
done
cp "$J" "$RAW/rows.txt"

# ---- results ------------------------------------------------------------------

# results.json: {"meta":{...},"rows":[{"config":..,"phase":..,key:value...}],
# "stops":[{"config":..,"round":..,key:value...}]}
tojson() { # FIELD0: the first key=value field of each line
	awk -v k="$1" '{ printf "%s\n{\"config\":\"%s\",\"round\":%d", (NR > 1 ? "," : ""), $1, $2
		if (k > 3) printf ",\"phase\":\"%s\"", $3
		for (i = k; i <= NF; i++) { split($i, kv, "="); printf ",\"%s\":%s", kv[1], (kv[2] == "" ? "null" : kv[2]) }
		printf "}" }' "$2"
}
{
	printf '{"meta":{"vm_kernel":"%s","slab":"%s","seconds":%s,"rounds":%s,"strace":%s,"vm_seconds":%s,"failed":"%s"},\n"rows":[' \
		"$(uname -r)" "$SLAB" "$SECS" "$ROUNDS" "$([ -n "$STRACE" ] && echo true || echo false)" \
		"$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')" "$(echo "${FAILED# }" | tr -d '\042\134')"
	tojson 4 "$J"
	printf '],\n"stops":['
	tojson 3 "$RAW/stops.txt"
	echo ']}'
} >"$KV_OUT/results.json"

# dist FILE: "count median max" of the numbers in FILE, "0 - -" if none.
dist() {
	[ -s "$1" ] || { echo "0 - -"; return; }
	sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%d %.1f %.1f\n", NR, v[int((NR + 1) / 2)], v[NR] }'
}
for c in $CONFIGS; do
	for p in put_32 get_32 put_4k get_4k; do
		echo "$c $p $(dist "$RAW/msync_ms.$c.$p") $(dist "$RAW/pass_ms.$c.$p")"
	done
done >/tmp/sync.msync

# table.md: per phase and configuration, medians over the rounds and the
# ratios of the medians to mem's; then the syncer and the disk; then the
# starts and stops.
awk -v rounds="$ROUNDS" '
	FILENAME == ARGV[1] { ms[$1, $2] = $3 " " $4 " " $5 " " $6 " " $7 " " $8; next }
	FILENAME == ARGV[2] { st[++ns] = $0; next }
	{ for (i = 4; i <= NF; i++) { split($i, kv, "="); v[$1, $3, kv[1]] = v[$1, $3, kv[1]] " " (kv[2] == "" ? "-" : kv[2]) }
	  if (!($3 in seenp)) { seenp[$3] = 1; ph[++np] = $3 }
	  if (!($1 in seenc)) { seenc[$1] = 1; cf[++nc] = $1 } }
	# med(LIST): the median of the numbers in a blank-separated list ("-" are
	# left out); lo/hi: its ends
	function sorted(list, a,   n, m, i, j, t, b) {
		n = split(list, b, " "); m = 0
		for (i = 1; i <= n; i++) if (b[i] != "-") a[++m] = b[i] + 0
		for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return m
	}
	function med(list,   a, n) { n = sorted(list, a); return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : "" }
	function lo(list,   a) { return sorted(list, a) ? a[1] : "" }
	function hi(list,   a, n) { n = sorted(list, a); return n ? a[n] : "" }
	function sum(list,   a, n, i, t) { n = sorted(list, a); for (i = 1; i <= n; i++) t += a[i]; return t + 0 }
	function r(a, b) { return (b > 0 && a != "") ? sprintf("%.2f", a / b) : "n/a" }
	function f1(x) { return x == "" ? "-" : sprintf("%.1f", x) }
	function commas(list, fmt,   a, n, i, s) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") (a[i] == "-" ? "-" : sprintf(fmt, a[i]))
		return s
	}
	function kv(line, key,   a, n, i, p) { n = split(line, a, " "); for (i = 3; i <= n; i++) { split(a[i], p, "="); if (p[1] == key) return p[2] } return "" }
	END {
		print "| phase | config | ops/s (median; min-max) | p50 us | p99 us | ops/s vs mem | p50 vs mem | p99 vs mem | server CPU ms: main thread (median) | syncer thread (median) |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (p = 1; p <= np; p++) for (c = 1; c <= nc; c++) {
			k = cf[c]; q = ph[p]
			o = v[k, q, "ops_per_sec"]
			if (o == "") continue
			printf "| %s | %s | %.0f; %.0f-%.0f | %.1f | %.1f | %s | %s | %s | %.0f | %.0f |\n", q, k,
				med(o), lo(o), hi(o), med(v[k, q, "p50"]), med(v[k, q, "p99"]),
				r(med(o), med(v["mem", q, "ops_per_sec"])),
				r(med(v[k, q, "p50"]), med(v["mem", q, "p50"])), r(med(v[k, q, "p99"]), med(v["mem", q, "p99"])),
				med(v[k, q, "main_cpu_ms"]), med(v[k, q, "syncer_cpu_ms"])
		}
		print ""
		print "| phase | config | passes (all rounds) | pages dirtied per pass | pass ms, median; max (strace) | last pass ms at the phase end (stats, per round) | msync ms, median; max (strace) | syncer CPU ms per pass | sectors written, per round | disk flushes (all rounds) |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (p = 1; p <= np; p++) for (c = 1; c <= nc; c++) {
			k = cf[c]; q = ph[p]
			if (v[k, q, "ops_per_sec"] == "" || k == "mem") continue
			split(ms[k, q], m, " ")
			n = sum(v[k, q, "passes"]); pg = sum(v[k, q, "pages"]); sn = sum(v[k, q, "msync_n"])
			cpu = sum(v[k, q, "syncer_cpu_ms"])
			printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d |\n", q, k, n,
				(n ? sprintf("%.0f", pg / n) : "-"),
				(m[4] + 0 ? m[5] "; " m[6] : "-"),
				(k == "sync0" ? "-" : commas(v[k, q, "last_ms"], "%.1f")),
				(m[1] + 0 ? m[2] "; " m[3] : "-"),
				((sn ? sn : n) ? sprintf("%.1f", cpu / (sn ? sn : n)) : "-"),
				commas(v[k, q, "sectors"], "%d"), sum(v[k, q, "flushes"])
		}
		print ""
		print "| config | round | first pass ms (stats) | pages it dirtied | sync(1) after it: sectors | passes before the stop | longest pass ms (stats) | clean stop: s from SIGTERM to exit | sectors written | its msync of the slab ms (strace) |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= ns; i++) {
			split(st[i], a, " ")
			if (a[1] == "mem") continue
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", a[1], a[2], f1(kv(st[i], "first_pass_ms")),
				(kv(st[i], "first_pages") == "" ? "-" : kv(st[i], "first_pages")), kv(st[i], "sync1_sectors"),
				kv(st[i], "passes"), f1(kv(st[i], "max_ms")), kv(st[i], "stop_s"), kv(st[i], "stop_sectors"), f1(kv(st[i], "stop_msync_ms"))
		}
	}' /tmp/sync.msync "$RAW/stops.txt" "$J" >"$KV_OUT/table.md"
cat "$KV_OUT/table.md"
[ -z "$FAILED" ] || fail "some measurements failed:$FAILED"
log "ok"
