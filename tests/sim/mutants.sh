#!/usr/bin/env bash
# shellcheck disable=SC2016  # the $ in the mutants' perl code is perl's
# mutants.sh - mutation test of the protocol simulation (tests/test_sim.c).
#
# What it proves: each protocol defect fixed so far, put back into the code
# on its own (a "mutant"), makes test_sim fail within KV_MUT_SEEDS random
# schedules with that defect's own symptom, and the schedule recorded for it
# in test_sim_regressions fails under it too. So the simulation can find each
# of these defects, and the regression table pins a schedule that shows it.
# A mutant that is not KILLED is a defect the simulation would not notice
# within that many schedules; KV_MUT_SEEDS=200000 reaches every seed in the
# regression table (about 5 minutes on 2 cores).
#
# Usage: tests/sim/mutants.sh [REPO] [MUTANT...]
#   REPO    a git work tree (default: the one holding this script); its files
#           (tracked, and new ones not ignored) are copied as they are
#   MUTANT  names from the table below (default: all)
# Env: KV_MUT_SEEDS (default 20000) schedules per mutant; KV_MUT_TIMEOUT
# (default 300) seconds per run of test_sim. Exit status 0: all KILLED.
set -euo pipefail

repo=$(dirname "${BASH_SOURCE[0]}")
if [[ $# -gt 0 && -d $1 ]]; then repo=$1; shift; fi
repo=$(git -C "$repo" rev-parse --show-toplevel)
seeds=${KV_MUT_SEEDS:-20000} limit=${KV_MUT_TIMEOUT:-300}

# ---- the mutants: name, file, symptom, perl substitution over the whole file
# The symptom (grep -E) is how test_sim must fail for a kill to count: a
# failure of another kind comes from something else (say a defect still in
# the code, which the mutant's changed schedules happen to reach), and the
# search goes on past that seed. In a substitution $fn is any text short of
# a "}" closing a function, so that a match stays inside one function.
declare -A file sym expr
names=()
mutant() { names+=("$1"); file[$1]=$2; sym[$1]=$3; expr[$1]=$4; }
sure='(\nbool kv_slot_pick_sure\($fn\n\tif \(pick != KV_PICK_RECORD && pick != KV_PICK_NONE\)\n\t\treturn false;\n)'

# A GET trusts whichever copy looks newest, never confirming against the word.
mutant stale-read proto/kv_slot.c 'not linearizable' \
	"s/$sure/\$1\tif (pick == KV_PICK_RECORD)\n\t\treturn true; \/* mutant *\/\n/s"
# No whole copy, or a tombstone and a newer torn copy, is "absent" unconfirmed.
mutant false-not-found proto/kv_slot.c 'not linearizable' \
	"s/$sure/\$1\tif (pick == KV_PICK_NONE)\n\t\treturn true; \/* mutant *\/\n/s"
# An inserter ignores other clients' claims of a slot for the same key.
mutant dup-key proto/kv_slot.c 'in two slots|not linearizable' \
	's/(\nunsigned kv_probe_claims\($fn\n\t\*word = 0;\n)/$1\treturn 0; \/* mutant *\/\n/s'
# Locks of hung, stopped or vanished clients are never broken (a vanished
# writer's slot stays locked, or torn).
mutant no-lease proto/kv_sweep.c 'still locked|stayed locked|no whole copy|no end after' \
	's/(\nstatic bool kv__lease_expired\($fn\n\t)return [^;]*;(\n\}\n)/$1return false; \/* mutant *\/$2/s'
# An expired lease is broken without cutting its holder off the wire first.
mutant no-fence proto/kv_sweep.c 'holds seq|in two slots|not linearizable|nobody wrote|say used' \
	's/\n\t+s->fence\(s->fence_ctx, owner\);[^\n]*//'
# The server never adopts a dead writer's complete record: always the old word.
mutant no-adopt proto/kv_slot.c 'holds seq|stayed locked' \
	's/(\nvoid kv_slot_settle\($fn\n\tif \()(\(pick == KV_PICK_RECORD \|\| pick == KV_PICK_NONE\) && v\.seq)/${1}0 \/* mutant *\/ && $2/s'
# "Store full" from the first look at the buckets, without reading them again.
mutant stale-full client/kv_ops.c 'store full' \
	's/(\nstatic int kv__full_or_moved\($fn\n\tint ret;\n)/$1\n\treturn -ENOSPC; \/* mutant *\//s'
# A probe takes an unpublished newest copy (a DEL in flight) for the slot's.
mutant probe-unpublished client/kv_ops.c 'store full' \
	's/(\n\t+if \()(pick != KV_PICK_TORN && !\(pick == KV_PICK_RECORD &&)/${1}0 \/* mutant *\/ && $2/'
# An insert does not check that home is still as its first READ saw it.
mutant home-moved client/kv_ops.c 'store full' \
	's/(\n\t+if \()(c->ws\.ctrl\[op->kh\.home - op->kh\.b1 \* bs\] != home_ctrl\))/${1}0 \/* mutant *\/ && $2/'
# A probe takes "absent" from a slot whose named copy moved on since the
# word was read (two writes landed during the probe's READ).
mutant named-moved client/kv_ops.c 'not linearizable' \
	's/(\n[\t ]+v->seq != kv_ctrl_seq\(word\)\)\n\t\treturn )KV_PICK_TORN;/${1}KV_PICK_NONE; \/* mutant *\//'

want=("${@:-${names[@]}}")
for n in "${want[@]}"; do
	[[ -n ${file[$n]:-} ]] || { echo "mutants.sh: no mutant '$n' (have: ${names[*]})" >&2; exit 2; }
done

# ---- a private copy of the tree, configured once -----------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kv-mutants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src build=$tmp/build orig=$tmp/orig
mkdir -p "$src" "$orig"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
	tar -C "$repo" --null --ignore-failed-read -T - -cf - | tar -C "$src" -xf -
for f in "${file[@]}"; do mkdir -p "$orig/${f%/*}" && cp "$src/$f" "$orig/$f"; done
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 2; }

build() { # test_sim only; a mutant that does not compile is an error, not a kill
	cmake --build "$build" --target test_sim -j"$(nproc)" >"$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; echo "mutants.sh: $1 does not build" >&2; exit 2; }
}
# The search: test_sim's schedules (random and contention; not the pinned
# regressions, checked apart) over $3 seeds from $2, output to $1; $4 "all":
# every case (an empty CK_RUN_CASE would run none). Check prints a failure
# as file:line:F:case:test:iteration: message, ending in KV_SIM_TRACE=seed.
sim() {
	local only=(CK_RUN_CASE=schedules)
	[[ ${4:-} != all ]] || only=()
	env "${only[@]}" KV_SIM_FIRST="$2" KV_SIM_SEEDS="$3" timeout "$limit" \
		"$build/bin/test_sim" >"$1" 2>&1
}
failures() { grep -E '^[^ ]+:[0-9]+:[FE]:' "$1" || true; }
seed_of() { grep -oE 'KV_SIM_TRACE=[0-9]+' <<<"$1" | head -1 | cut -d= -f2 || true; }

# ---- the code as it is (a failure is reported; kills still need their symptom)
start=$SECONDS bad=0
build "the unmutated tree"
if sim "$tmp/orig.log" 1 "$seeds" all; then
	echo "unmutated: test_sim passes $seeds seeds and the regressions ($((SECONDS - start)) s)"
else
	echo "UNMUTATED TREE FAILS ($seeds seeds):" && failures "$tmp/orig.log" && bad=1
fi

# ---- each mutant ------------------------------------------------------------------
printf '%-17s %-8s %5s  %-34s %-7s %s\n' mutant result time "failing test" seed regression
for n in "${want[@]}"; do
	t0=$SECONDS f=${file[$n]} log=$tmp/$n.log
	for g in "${file[@]}"; do # put back what the last mutant changed (new mtime: rebuilt)
		cmp -s "$orig/$g" "$src/$g" || cp "$orig/$g" "$src/$g"
	done
	perl -0pi -e 'BEGIN { $fn = qr/(?:(?!\n\}).)*?/s }' -e "${expr[$n]}" "$src/$f"
	if cmp -s "$orig/$f" "$src/$f"; then
		echo "mutants.sh: mutant $n no longer applies to $f (refactored?): fix its pattern" >&2
		exit 2
	fi
	build "mutant $n"
	# Until a failure with the symptom; past a random schedule that failed
	# otherwise, go on from the next seed.
	first=1 left=$seeds other="" hit=""
	while :; do
		rc=0
		sim "$log" "$first" "$left" || rc=$?
		hit=$(failures "$log" | grep -m1 -E -- "${sym[$n]}" || true)
		[[ -z $hit && $rc -ne 0 && $rc -ne 124 ]] || break
		s=$(seed_of "$(failures "$log" | grep test_sim_random_schedules || true)")
		[[ -n $s ]] || break
		other+=" $s" left=$((left - (s + 1 - first))) first=$((s + 1))
		((left > 0)) || { rc=0; break; }
	done
	result=SURVIVED test=- seed=-
	if [[ -n $hit ]]; then
		result=KILLED test=$(cut -d: -f5 <<<"$hit") seed=$(seed_of "$hit")
	elif [[ $rc -ne 0 ]]; then
		result=OTHER test=$(failures "$log" | head -1 | cut -d: -f5)
		[[ $rc -ne 124 ]] || test="(timeout after ${limit}s)"
	fi
	# Apart from the search: the schedule the regression table keeps for
	# this defect must fail under it, and the same way.
	reg=fails
	if CK_RUN_CASE=regressions KV_SIM_REGRESSION=$n timeout "$limit" \
		"$build/bin/test_sim" >"$log.reg" 2>&1; then
		reg="PASSES (stale entry)"
	elif ! grep -q "^regression $n: " "$log.reg"; then
		reg="no entry"
	elif ! grep "^regression $n: " "$log.reg" | grep -qE -- "${sym[$n]}"; then
		reg="fails otherwise"
	fi
	[[ $result == KILLED && $reg == fails ]] || bad=1
	printf '%-17s %-8s %4ss  %-34s %-7s %s\n' "$n" "$result" $((SECONDS - t0)) "$test" "$seed" "$reg"
	why=$(sed -E 's/^([^:]*:){6} *//; s/ \(replay:.*//' <<<"${hit:-$(failures "$log" | head -1)}")
	[[ -z $why ]] || echo "    ${why:0:150}"
	[[ -z $other ]] || echo "    failed otherwise first, at seed(s):$other"
done
echo "$seeds seeds per mutant; $((SECONDS - start)) s in all"
exit "$bad"
