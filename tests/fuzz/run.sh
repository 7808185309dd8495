#!/usr/bin/env bash
# run.sh BIN SEEDS OUT [LIBFUZZER FLAGS...]: run one libFuzzer target for
# $KV_FUZZ_SECONDS seconds (default 20), starting from the committed seeds in
# SEEDS (read only) and the corpus it grew before in OUT/corpus. A crash or a
# broken contract fails the run; the input that did it is in OUT/artifacts.
# Prints how many inputs ran.
set -uo pipefail

bin=$1 seeds=$2 out=$3
shift 3
secs=${KV_FUZZ_SECONDS:-20}
name=$(basename "$bin")
mkdir -p "$out/corpus" "$out/artifacts"
log=$out/log

"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" "$@" "$out/corpus" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$log"
	echo "$name: FAILED (exit $rc) after ${execs:-?} executions; inputs in $out/artifacts, log $log"
	exit 1
fi
echo "$name: ${execs:-?} executions in $secs s, ${cov:-cov: ?}, corpus $(ls "$out/corpus" | wc -l) + $(ls "$seeds" | wc -l) seeds"
