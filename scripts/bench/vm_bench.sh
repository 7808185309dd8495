#!/bin/sh
# Benchmark scenario for the Soft-RoCE VM (busybox ash), run by
# scripts/bench/run.sh through scripts/vm/run.sh (then vm_capacity.sh, in the
# same VM). In one run it measures:
#   perftest  ib_read_lat and ib_write_lat at the small GET's READ size (the
#             80 B block of a 13 B key and a 32 B value), ib_atomic_lat,
#             ib_read_bw 64 B (message rate), each 3 times
#   store     kvcli bench: load, GET/PUT depth 1, GET depth 16, YCSB A/B/C zipf,
#             and kvserver's CPU time (utime+stime) around each phase
#   sweep     values of 32 B, 1 KiB, 16 KiB, 256 KiB, 1 MiB on a 512 MiB slab:
#             PUT and warm GET at depth 1 (32 keys read over and over), GET
#             throughput at 64 KiB and 1 MiB; ib_read_lat / ib_write_lat at
#             each size, ib_read_bw at 64 KiB and 1 MiB
#   redis     redis-benchmark GET/SET over TCP loopback, pipeline 1 and 16
# Raw outputs go to $KV_OUT/raw, everything combined to $KV_OUT/results.json.
# Knobs (env, or a file bench.env in $KV_EXTRA): KV_GET_READ_BYTES (80),
# KV_BENCH_LAT_N (2000), KV_BENCH_REPEAT (3 runs of each perftest, the median
# kept), KV_BENCH_SCALE (1; multiplies every op count), KV_BENCH_SWEEP (1; 0
# skips the value-size sweep).
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib.sh
. "$KV_LIB"
# shellcheck source=/dev/null
[ -r "${KV_EXTRA:-/nonexistent}/bench.env" ] && . "$KV_EXTRA/bench.env"

GET_BYTES=${KV_GET_READ_BYTES:-80}
LAT_N=${KV_BENCH_LAT_N:-2000}
REPEAT=${KV_BENCH_REPEAT:-3}
SCALE=${KV_BENCH_SCALE:-1}
SWEEP=${KV_BENCH_SWEEP:-1}
KEYS=1000
VSIZE=32
RAW=$KV_OUT/raw
J=/tmp/bench.json # one JSON fragment per measurement
mkdir -p "$RAW" "$J"
FAILED=""

note_fail() {
	FAILED="$FAILED $1"
	log "FAILED: $1"
}
now() { cut -d' ' -f1 /proc/uptime; }
t_all=$(now)

# ---- perftest -----------------------------------------------------------------

# perf_pair NAME CMD...: CMD as server, 1 s later CMD $KV_ADDR as client; the
# client's output in $RAW/NAME.txt. Up to 3 tries, each starting both afresh
# (a client that comes too early is rejected and can leave the server hung).
perf_pair() {
	out=$RAW/$1
	shift
	n=0
	while [ "$n" -lt 3 ]; do
		n=$((n + 1))
		timeout 60 "$@" >"$out.server.txt" 2>&1 &
		srv=$!
		sleep 1
		if timeout 50 "$@" "$KV_ADDR" >"$out.txt" 2>&1 && wait "$srv"; then
			return 0
		fi
		kill "$srv" 2>/dev/null
		wait "$srv"
		log "try $n of $* failed: $(grep -v '^ *$' "$out.txt" | tail -n 2)"
	done
	return 1
}

# result_row FILE: the numbers line under perftest's "#bytes" header.
result_row() {
	awk '/#bytes/ { h = 1; next } h && $1 ~ /^[0-9]+$/ { print; exit }' "$1"
}

# perf NAME CMD...: run perftest CMD $REPEAT times; the runs' result rows in
# $J/NAME.rows, and as $J/NAME (JSON) the run with the median of column 5
# (t_typical of *_lat, MsgRate of *_bw) plus that column of every run, sorted.
perf() {
	name=$1
	shift
	rep=${PERF_REPEAT:-$REPEAT}
	log "$* (x$rep)"
	: >"$J/$name.rows"
	k=0
	while [ "$k" -lt "$rep" ]; do
		k=$((k + 1))
		perf_pair "$name.$k" "$@" && result_row "$RAW/$name.$k.txt" >>"$J/$name.rows"
	done
	if [ ! -s "$J/$name.rows" ]; then
		note_fail "$name"
		return
	fi
	sort -n -k5,5 "$J/$name.rows" | awk -v cmd="$*" '
		{ row[NR] = $0; v[NR] = $5 }
		END {
			split(row[int((NR + 1) / 2)], f, " ")
			for (i = 1; i <= NR; i++) runs = runs (i > 1 ? "," : "") v[i]
			printf "{\"cmd\":\"%s\",\"bytes\":%d,\"iterations\":%d,", cmd, f[1], f[2]
			if (cmd ~ /_bw/)
				printf "\"bw_peak_MBps\":%s,\"bw_avg_MBps\":%s,\"msg_rate_mpps\":%s,\"msg_rate_runs\":[%s]}\n", f[3], f[4], f[5], runs
			else
				printf "\"t_min_us\":%s,\"t_max_us\":%s,\"t_typical_us\":%s,\"t_avg_us\":%s,\"t_stdev_us\":%s,\"p99_us\":%s,\"p999_us\":%s,\"typical_runs\":[%s]}\n", f[3], f[4], f[5], f[6], f[7], f[8], f[9], runs
		}' >"$J/$name"
	log "  column 5 of each run, sorted: $(grep -o '"[a-z_]*runs":.*' "$J/$name")"
}

# A warm GET of a 32 B value is one doorbell: READ the 8 B index word and the
# 80 B block (32 B header, 13 B key, 32 B value, in 16 B granules); a warm PUT
# WRITEs that block and CASes the word. The references are at that size.
perf read_lat_get ib_read_lat -d rxe0 -R -s "$GET_BYTES" -n "$LAT_N"
perf write_lat_get ib_write_lat -d rxe0 -R -s "$GET_BYTES" -n "$LAT_N"
perf atomic_lat ib_atomic_lat -d rxe0 -R -A CMP_AND_SWAP -n "$LAT_N"
# 16 READs in flight (-t 16), as many as the store's depth-16 GET keeps; and
# perftest's default, 128, for reference.
BW_N=$((20000 * SCALE))
perf read_bw_64_t16 ib_read_bw -d rxe0 -R -s 64 -n "$BW_N" -t 16
perf read_bw_64_t128 ib_read_bw -d rxe0 -R -s 64 -n "$BW_N" -t 128

# ---- the store ----------------------------------------------------------------

# Clock ticks per second from the ELF auxiliary vector (AT_CLKTCK = 17):
# busybox has no getconf. 100 if that does not work.
CLK_TCK=$(od -A n -v -t u8 /proc/self/auxv 2>/dev/null | awk '$1 == 17 { print $2; exit }')
case $CLK_TCK in '' | *[!0-9]* | 0) CLK_TCK=100 ;; esac

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat; counted
# after the ")" that ends the command name, they are 12 and 13).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ t = $12 + $13 } END { print t + 0 }'; }
# cpu_ns PID: nanoseconds on a CPU, all threads (first field of schedstat):
# finer than the ticks, which are 10 ms each.
cpu_ns() { cat "/proc/$1/task"/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }

# phase NAME KVCLI-ARGS...: run kvcli, keep its JSON as $J/NAME, and the
# server's CPU ticks and ns and the wall time it took in $RAW/cpu.txt.
phase() {
	name=$1
	shift
	log "kvcli $*"
	c0=$(cpu_ticks "$SERVER_PID")
	n0=$(cpu_ns "$SERVER_PID")
	w0=$(now)
	timeout 120 kvcli "$@" >"$RAW/$name.json" 2>"$RAW/$name.err"
	rc=$?
	w1=$(now)
	n1=$(cpu_ns "$SERVER_PID")
	c1=$(cpu_ticks "$SERVER_PID")
	echo "$name $((c1 - c0)) $((n1 - n0)) $w0 $w1" >>"$RAW/cpu.txt"
	if [ "$rc" = 0 ] && [ -s "$RAW/$name.json" ]; then
		cp "$RAW/$name.json" "$J/$name"
		log "  $(grep -o '"ops_per_sec":[0-9.]*' "$J/$name") server CPU $((c1 - c0)) ticks, $(((n1 - n0) / 1000)) us"
	else
		note_fail "$name (kvcli exit $rc: $(tail -n 1 "$RAW/$name.err"))"
	fi
}

# jnum FILE KEY: the first number stored under "KEY" in a JSON file.
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -n 1 | cut -d: -f2; }

: >"$RAW/cpu.txt"
start_server -q -m 64M
B="--keys $KEYS --value-size $VSIZE --seconds 15"
# shellcheck disable=SC2086 # $B is a list of options
{
	phase first_connect stats # the first connection and the first census of the slab
	# The server alone for 5 s: what its timer (the sweep, keepalives) costs.
	c0=$(cpu_ticks "$SERVER_PID") n0=$(cpu_ns "$SERVER_PID") w0=$(now)
	sleep 5
	echo "idle $(($(cpu_ticks "$SERVER_PID") - c0)) $(($(cpu_ns "$SERVER_PID") - n0)) $w0 $(now)" >>"$RAW/cpu.txt"
	phase load bench --workload put --ops $((1000 * SCALE)) $B
	for k in 1 2 3; do # a connection alone, three times
		phase "connect_$k" bench --workload get --ops 1 $B
	done
	phase get_d1 bench --workload get --ops $((20000 * SCALE)) --depth 1 $B
	phase put_d1 bench --workload put --ops $((10000 * SCALE)) --depth 1 $B
	phase get_d16 bench --workload get --ops $((40000 * SCALE)) --depth 16 $B
	phase ycsb_a bench --workload a --dist zipf --ops $((15000 * SCALE)) $B
	phase ycsb_b bench --workload b --dist zipf --ops $((20000 * SCALE)) $B
	phase ycsb_c bench --workload c --dist zipf --ops $((20000 * SCALE)) $B
	# Where the time goes (kvcli bench --split times each doorbell to its
	# completion), and a GET of one hot key, which reads the same slot over
	# and over as perftest reads one buffer.
	phase get_split bench --workload get --ops $((10000 * SCALE)) --split $B
	phase get_hot bench --workload get --keys 1 --value-size "$VSIZE" \
		--ops $((10000 * SCALE)) --split --seconds 15
	phase put_split bench --workload put --ops $((5000 * SCALE)) --split $B
}
phase server_stats stats
stop_server TERM || note_fail "kvserver exit status $?"

awk -v hz="$CLK_TCK" '
	BEGIN { printf "{" }
	{ printf "%s\"%s\":%.2f", (NR > 1 ? "," : ""), $1, $2 / hz }
	END { print "}" }' "$RAW/cpu.txt" >"$J/server_cpu_s"
awk '
	BEGIN { printf "{" }
	{ printf "%s\"%s\":{\"ticks\":%d,\"cpu_ms\":%.3f,\"wall_s\":%.2f}", (NR > 1 ? "," : ""), $1, $2, $3 / 1e6, $5 - $4 }
	END { print "}" }' "$RAW/cpu.txt" >"$J/server_cpu"

# ---- value-size sweep ------------------------------------------------------------

# On its own server: a 512 MiB slab (the VM has 1 GiB), so that 1 MiB PUTs,
# whose overwritten blocks come back only by a pass of the sweep (one per
# lease, 1 s), never wait for space. 32 keys of each size (4 at 256 KiB and
# 1 MiB), loaded by the PUT phase (which then overwrites them); the GET phase
# reads the same keys over
# and over, so after its first read of each the client knows where the key's
# word is: a warm GET, one doorbell (the word and the block). Ops are bounded
# in count and in time (--seconds).
SWEEP_KEYS=32
# sweep_n SIZE N1 N16K N256K N1M: the count for SIZE's class
sweep_n() {
	case $1 in
	32 | 1024) echo "$2" ;;
	16384 | 65536) echo "$3" ;;
	262144) echo "$4" ;;
	*) echo "$5" ;;
	esac
}
if [ "$SWEEP" = 1 ]; then
	start_server -q -m 512M
	for sz in 32 1024 16384 65536 262144 1048576; do
		# 4 keys at 256 KiB and 1 MiB, whose phases make few ops: the
		# first (cold) read of each key stays a small share
		k=$SWEEP_KEYS
		[ "$sz" -lt 262144 ] || k=4
		# --split: the client's own time apart from waiting on the wire
		SB="--keys $k --value-size $sz --depth 1 --seconds 8 --split"
		# shellcheck disable=SC2086 # $SB is a list of options
		if [ "$sz" = 65536 ]; then # only GET throughput: the keys, then GETs
			phase "sw_put_$sz" bench --workload put --ops 1 $SB
		else
			phase "sw_put_$sz" bench --workload put --ops $(($(sweep_n "$sz" 3000 400 60 30) * SCALE)) $SB
		fi
		# shellcheck disable=SC2086
		phase "sw_get_$sz" bench --workload get --ops $(($(sweep_n "$sz" 5000 600 100 50) * SCALE)) $SB
	done
	phase sweep_stats stats
	stop_server TERM || note_fail "kvserver (sweep) exit status $?"

	# perftest at each value size: latencies 3 times at the sizes with a
	# target (the 32 B point is the 80 B runs above; 256 KiB and 1 MiB),
	# once at 1 KiB and 16 KiB; fewer iterations as the size grows.
	PERF_REPEAT=1 perf read_lat_1024 ib_read_lat -d rxe0 -R -s 1024 -n 1000
	PERF_REPEAT=1 perf write_lat_1024 ib_write_lat -d rxe0 -R -s 1024 -n 1000
	PERF_REPEAT=1 perf read_lat_16384 ib_read_lat -d rxe0 -R -s 16384 -n 200
	PERF_REPEAT=1 perf write_lat_16384 ib_write_lat -d rxe0 -R -s 16384 -n 200
	perf read_lat_262144 ib_read_lat -d rxe0 -R -s 262144 -n 40
	perf write_lat_262144 ib_write_lat -d rxe0 -R -s 262144 -n 40
	perf read_lat_1048576 ib_read_lat -d rxe0 -R -s 1048576 -n 15
	perf write_lat_1048576 ib_write_lat -d rxe0 -R -s 1048576 -n 15
	# Bandwidth: one READ in flight (-t 1), as a depth-1 GET keeps; and
	# perftest's default 128 in flight at 1 MiB, once, for reference.
	perf read_bw_65536_t1 ib_read_bw -d rxe0 -R -s 65536 -n 150 -t 1
	perf read_bw_1048576_t1 ib_read_bw -d rxe0 -R -s 1048576 -n 30 -t 1
	PERF_REPEAT=1 perf read_bw_1048576_t128 ib_read_bw -d rxe0 -R -s 1048576 -n 60
fi

# ---- redis over TCP loopback --------------------------------------------------

ip link set lo up # /init leaves lo down
redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	>"$RAW/redis-server.log" 2>&1 &
REDIS_PID=$!
i=0
until redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || [ "$i" -ge 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

# rbench NAME N PIPELINE: redis-benchmark SET and GET; CSV in $RAW/NAME.csv,
# {"set":{...},"get":{...}} in $J/NAME (latencies in ms, as redis prints them).
rbench() {
	log "redis-benchmark -t get,set -n $2 -P $3"
	if timeout 60 redis-benchmark -h 127.0.0.1 -t get,set -n "$2" -c 1 -P "$3" -d "$VSIZE" \
		-r "$KEYS" --csv >"$RAW/$1.csv" 2>"$RAW/$1.err" && grep -q '^"GET"' "$RAW/$1.csv"; then
		awk -F, -v n="$2" -v p="$3" '
			BEGIN { printf "{" }
			{ gsub(/"/, "") }
			$1 == "test" { next }
			NF >= 8 { printf "%s\"%s\":{\"requests\":%d,\"pipeline\":%d,\"rps\":%s,\"avg_ms\":%s,\"min_ms\":%s,\"p50_ms\":%s,\"p95_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s}", (sep ? "," : ""), tolower($1), n, p, $2, $3, $4, $5, $6, $7, $8; sep = 1 }
			END { print "}" }' "$RAW/$1.csv" >"$J/$1"
		log "  $(tr '\n' ' ' <"$RAW/$1.csv")"
	else
		note_fail "redis $1"
	fi
}
if alive "$REDIS_PID" && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
	rbench p1 $((5000 * SCALE)) 1
	rbench p16 $((50000 * SCALE)) 16
else
	note_fail "redis-server did not answer"
fi
kill "$REDIS_PID" 2>/dev/null
wait "$REDIS_PID"

# ---- results.json -------------------------------------------------------------

# obj KEY FRAGMENT...: {"KEY":<$J/FRAGMENT>,...}, null for a missing fragment.
obj() {
	sep='{'
	for k in "$@"; do
		printf '%s"%s":' "$sep" "$k"
		if [ -s "$J/$k" ]; then tr -d '\n' <"$J/$k"; else printf null; fi
		sep=,
	done
	echo '}'
}
{
	printf '{"meta":{"vm_kernel":"%s","clk_tck":%s,"lat_iterations":%s,"repeat":%s,"scale":%s,' \
		"$(uname -r)" "$CLK_TCK" "$LAT_N" "$REPEAT" "$SCALE"
	printf '"get_read_bytes":%s,"sweep_keys":%s,' "$GET_BYTES" "$SWEEP_KEYS"
	printf '"vm_seconds":%s,"failed":"%s"},\n' \
		"$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')" "$(echo "${FAILED# }" | tr -d '\042\134')"
	printf '"perftest":'
	obj read_lat_get write_lat_get atomic_lat read_bw_64_t16 read_bw_64_t128 \
		read_lat_1024 write_lat_1024 read_lat_16384 write_lat_16384 \
		read_lat_262144 write_lat_262144 read_lat_1048576 write_lat_1048576 \
		read_bw_65536_t1 read_bw_1048576_t1 read_bw_1048576_t128
	printf ',\n"store":'
	obj load connect_1 get_d1 put_d1 get_d16 ycsb_a ycsb_b ycsb_c get_split get_hot put_split
	printf ',\n"sweep":'
	obj sw_put_32 sw_get_32 sw_put_1024 sw_get_1024 sw_put_16384 sw_get_16384 \
		sw_put_65536 sw_get_65536 sw_put_262144 sw_get_262144 sw_put_1048576 sw_get_1048576
	printf ',\n"server_cpu_s":'
	tr -d '\n' <"$J/server_cpu_s"
	printf ',\n"server_cpu":'
	tr -d '\n' <"$J/server_cpu"
	printf ',\n"server_stats":'
	if [ -s "$J/server_stats" ]; then tr -d '\n' <"$J/server_stats"; else printf null; fi
	printf ',\n"sweep_server_stats":'
	if [ -s "$J/sweep_stats" ]; then tr -d '\n' <"$J/sweep_stats"; else printf null; fi
	printf ',\n"redis":'
	obj p1 p16
	echo '}'
} >"$KV_OUT/results.json"
log "results.json written ($(wc -c <"$KV_OUT/results.json") bytes)"
[ -z "$FAILED" ] || fail "some measurements failed:$FAILED"
log "ok"
