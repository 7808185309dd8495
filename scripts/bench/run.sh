#!/usr/bin/env bash
# The benchmark in one command, from the repository root:
#
#   scripts/bench/run.sh
#
# Builds (cmake), runs scripts/bench/vm_bench.sh in the Soft-RoCE VM
# (scripts/vm/run.sh), then writes docs/benchmarks.md, docs/benchmarks.json
# and docs/img/latency.png and prints the ratios table.
# Env: KV_GET_READ_BYTES (232), KV_BENCH_LAT_N (2000), KV_BENCH_SCALE (1):
# passed to the VM scenario; KV_BENCH_NO_BUILD=1 skips the build.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bench=scripts/bench
out=build/bench-out

die() { echo "bench: $*" >&2; exit 2; }
for t in python3 gnuplot qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t not found"
done

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
	echo "KV_GET_READ_BYTES=${KV_GET_READ_BYTES:-232}"
	echo "KV_BENCH_LAT_N=${KV_BENCH_LAT_N:-2000}"
	echo "KV_BENCH_SCALE=${KV_BENCH_SCALE:-1}"
} >"$work/bench.env"

rm -rf "$out/vm_bench" # never report a previous run's results
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
set +e
scripts/vm/run.sh --out "$out" --timeout 900 --step-timeout 600 \
	--extra "$work/bench.env" "$bench/vm_bench.sh"
vm_rc=$?
set -e
secs=$(($(date +%s) - t0))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
results=$out/vm_bench/results.json
[ -s "$results" ] || die "no $results (scripts/vm/run.sh exit $vm_rc)"

commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
mkdir -p docs/img
python3 -B "$bench/report.py" --results "$results" \
	--md docs/benchmarks.md --json docs/benchmarks.json --dat "$work/latency.dat" \
	--command "$bench/run.sh" --seconds "$secs" --vm-status "$vm_rc" \
	--commit "$commit" --host-kernel "$(uname -r)" \
	--qemu "$(qemu-system-x86_64 --version | head -n 1)" \
	--host "$(nproc) CPUs, load average $load_before before, $load_after after"
gnuplot -e "datafile='$work/latency.dat'; outfile='docs/img/latency.png'" "$bench/latency.gp"
echo "bench: wrote docs/benchmarks.md docs/benchmarks.json docs/img/latency.png (run took ${secs}s)"
exit "$vm_rc"
