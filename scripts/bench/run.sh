#!/usr/bin/env bash
# The benchmark in one command, from the repository root:
#
#   scripts/bench/run.sh
#
# Builds (cmake), runs scripts/bench/vm_bench.sh (latencies, the value-size
# sweep, Redis) and scripts/bench/vm_capacity.sh (items per 64 MiB, the store
# beside Redis) in one Soft-RoCE VM (scripts/vm/run.sh, 900 s at most), then
# writes docs/benchmarks.md, docs/benchmarks.json and docs/img/latency.png and
# prints the ratios table.
# Env: KV_GET_READ_BYTES (80), KV_BENCH_LAT_N (2000), KV_BENCH_SCALE (1),
# KV_BENCH_SWEEP (1), KV_BENCH_CAPACITY (1; 0 skips the capacity scenario),
# KV_BENCH_DEADLINE (865: VM uptime by which the capacity fills end): passed
# to the VM scenarios; KV_BENCH_NO_BUILD=1 skips the build.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bench=scripts/bench
out=build/bench-out

die() { echo "bench: $*" >&2; exit 2; }
for t in python3 gnuplot qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t not found"
done

# The tree that is built and measured (others may commit during the run).
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
if [ -z "${KV_BENCH_NO_BUILD:-}" ]; then
	cmake -S . -B build >/dev/null
	cmake --build build -j2
fi
for b in kvserver kvcli; do
	[ -x "build/bin/$b" ] || die "no build/bin/$b"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kvbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
{
	echo "KV_GET_READ_BYTES=${KV_GET_READ_BYTES:-80}"
	echo "KV_BENCH_LAT_N=${KV_BENCH_LAT_N:-2000}"
	echo "KV_BENCH_SCALE=${KV_BENCH_SCALE:-1}"
	echo "KV_BENCH_SWEEP=${KV_BENCH_SWEEP:-1}"
	echo "KV_BENCH_DEADLINE=${KV_BENCH_DEADLINE:-865}"
	[ -z "${KV_BENCH_REPEAT:-}" ] || echo "KV_BENCH_REPEAT=$KV_BENCH_REPEAT"
} >"$work/bench.env"
scenarios=("$bench/vm_bench.sh")
[ "${KV_BENCH_CAPACITY:-1}" = 0 ] || scenarios+=("$bench/vm_capacity.sh")

rm -rf "$out/vm_bench" "$out/vm_capacity" # never report a previous run's results
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
set +e
scripts/vm/run.sh --out "$out" --timeout 900 --step-timeout 620 \
	--extra "$work/bench.env" "${scenarios[@]}"
vm_rc=$?
set -e
secs=$(($(date +%s) - t0))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
results=$out/vm_bench/results.json
[ -s "$results" ] || die "no $results (scripts/vm/run.sh exit $vm_rc)"
capacity=$out/vm_capacity/capacity.json
[ -s "$capacity" ] || echo "bench: no $capacity: the report goes without capacity" >&2

mkdir -p docs/img
python3 -B "$bench/report.py" --results "$results" \
	--md docs/benchmarks.md --json docs/benchmarks.json --dat "$work/latency.dat" \
	--capacity "$capacity" \
	--command "$bench/run.sh" --seconds "$secs" --vm-status "$vm_rc" \
	--commit "$commit" --host-kernel "$(uname -r)" \
	--qemu "$(qemu-system-x86_64 --version | head -n 1)" \
	--host "$(nproc) CPUs, load average $load_before before, $load_after after"
gnuplot -e "datafile='$work/latency.dat'; outfile='docs/img/latency.png'" "$bench/latency.gp"
echo "bench: wrote docs/benchmarks.md docs/benchmarks.json docs/img/latency.png (run took ${secs}s)"
exit "$vm_rc"
