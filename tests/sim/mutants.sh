#!/usr/bin/env bash
# shellcheck disable=SC2016  # the $ in the mutants' perl code is perl's
# mutants.sh - mutation test of the protocol simulation (tests/test_sim.c).
#
# What it proves: each protocol defect of the table below, put into the code
# on its own (a "mutant"), makes test_sim fail within KV_MUT_SEEDS random
# schedules with that defect's own symptom, and the schedule recorded for it
# in test_sim_regressions fails under it too. So the simulation can find each
# of these defects, and the regression table pins a schedule that shows it.
# A mutant that is not KILLED is a defect the simulation would not notice
# within that many schedules; the default KV_MUT_SEEDS=120000 reaches every
# seed in the regression table (about ten minutes on 2 cores).
#
# Usage: tests/sim/mutants.sh [REPO] [MUTANT...]
#   REPO    a git work tree (default: the one holding this script); its files
#           (tracked, and new ones not ignored) are copied as they are
#   MUTANT  names from the table below (default: all)
# Env: KV_MUT_SEEDS (default 120000) schedules per mutant; KV_MUT_TIMEOUT
# (default 600) seconds per run of test_sim. Exit status 0: all KILLED.
set -euo pipefail

repo=$(dirname "${BASH_SOURCE[0]}")
if [[ $# -gt 0 && -d $1 ]]; then repo=$1; shift; fi
repo=$(git -C "$repo" rev-parse --show-toplevel)
seeds=${KV_MUT_SEEDS:-120000} limit=${KV_MUT_TIMEOUT:-600}

# ---- the mutants: name, file, symptom, perl substitution over the whole file
# The symptom (grep -E) is how test_sim must fail for a kill to count: a
# failure of another kind comes from something else (say a defect still in
# the code, which the mutant's changed schedules happen to reach), and the
# search goes on past that seed. In a substitution $fn is any text short of
# a "}" closing a function, so that a match stays inside one function.
declare -A file sym expr
names=()
mutant() { names+=("$1"); file[$1]=$2; sym[$1]=$3; expr[$1]=$4; }
# An insert ignores other clients' claims of a word for the same fingerprint.
mutant dup-claim proto/kv_index.c 'in two words|not linearizable' \
	's/(\nunsigned kv_probe_claims\($fn\n\t\*lowest = UINT16_MAX;\n)/$1\treturn 0; \/* mutant *\/\n/s'
# An insert ignores blocks of its fingerprint published after its first look
# (between that READ and its claim).
mutant late-block client/kv_ops.c 'in two words' \
	's/(\nstatic int kv__claim_check\($fn\n\tfor \(unsigned i = 0; )(i < nb;)/${1}0 \/* mutant *\/ \&\& $2/s'
# A warm GET trusts the block it reads without checking that it is committed
# and not retired: a write after it may have taken effect already.
mutant warm-unchecked client/kv_ops.c 'not linearizable' \
	's/(\nbool kv__current\($fn\n\treturn )(v->head == w)/${1}(1 \/* mutant *\/ || $2)/s'
# A cold GET that finds an uncommitted block takes its value at once, without
# reading its predecessor (whose value is the key's until it is retired).
mutant resolve-no-prev client/kv_ops.c 'not linearizable' \
	's/(\nstatic int kv__resolve\($fn\n\tif \()(prev\))/${1}0 \/* mutant *\/ \&\& $2/s'
# A write commits its block before it retires the one it replaced: between
# the two CASes a reader may trust the new block while another still trusts
# the old.
mutant commit-first client/kv_ops.c 'not linearizable' \
	's/(\nstatic int kv__finish\($fn\n)(\tif \(prev [^\n]*\n[^\n]*\n[^\n]*\n)(\tkv__cas\(&x\[n\+\+\][^\n]*\n)/${1}\t\/* mutant: commit first *\/\n$3$2/s'
# A writer replaces an uncommitted block without waiting for it to be
# committed: the block before it is never retired.
mutant no-wait client/kv_ops.c 'not linearizable|retired block' \
	's/(\nstatic int kv__put_once\($fn\n\tif \()!kv_view_committed\(&f->v\) \|\| kv_word_pending\(f->word\)\) \{/${1}0 \/* mutant *\/) {/s'
# The sweep finishes a live writer's uncommitted block at once, without a
# lease and without fencing it: the writer's own retire is still to land.
mutant finish-live proto/kv_sweep.c 'retired block|not linearizable' \
	's/(\nstatic bool kv__uncommitted\($fn\n\tif \()(kv_alloc_is_held)/${1}0 \/* mutant *\/ \&\& $2/s'
# The sweep clears a tombstone's word without checking that the DEL was
# committed (its predecessor may not be retired yet).
mutant tomb-uncommitted proto/kv_sweep.c 'not linearizable' \
	's/(\nstatic bool kv__walk_block\($fn\n\t\t\tif \()(head == w) && \(flags & KV_BLOCK_TOMBSTONE\)/${1}(1 \/* mutant *\/ || $2) \&\& (flags \& KV_BLOCK_TOMBSTONE)/s'
# A claim past its lease is broken without cutting its holder off the wire:
# the holder, still connected, finds its claim gone ("we were cut off", a
# reset it was never given), or its late WRITEs land in space reused since.
# Claims of stopped or vanished clients are never broken (no lease): a
# vanished client's claim is still there after the run.
mutant no-lease proto/kv_sweep.c 'still claimed' \
	's/(\nstatic unsigned kv__look_claim\($fn\n\t\t\} else if \()(s->lease_ns &&)/${1}0 \/* mutant *\/ \&\& $2/s'
mutant no-fence proto/kv_sweep.c 'Connection reset|outcome unknown|does not validate|nobody wrote|torn|not linearizable|not a grant' \
	's/\n\t+s->fence\(s->fence_ctx, owner, KV_FENCE_CLAIM\);[^\n]*//'
# A seal takes effect at once, in the middle of a pass, not at pass begin.
mutant seal-now proto/kv_alloc.c 'is free|does not validate|not linearizable' \
	's/(\nint kv_alloc_seal\($fn\n\t\t)if \(queue_seal\(a, at, len\) < 0\) \{/${1}a->st.held -= range(a->held, at, len, RANGE_CLEAR); \/* mutant *\/\n\t\tif (0) {/s'
# The walk marks nothing: every pass frees named blocks.
mutant no-mark proto/kv_sweep.c 'is free|does not validate' \
	's/(\n\ts->cur\.block_bytes \+= e\.len \* KV_GRANULE;)\n\tkv_alloc_mark\(&s->alloc, &e\);/$1 \/* mutant *\//'
# The grants of a client that is gone are never sealed (never freed).
mutant gone-unsealed proto/kv_sweep.c 'held after|leaked' \
	's/(\nstatic bool kv__seal_gone\($fn\n\t\tif \()(e->len &&)/${1}0 \/* mutant *\/ \&\& $2/s'
# A client never seals a grant: it forgets it and asks for a new one, and the
# space it did not use stays held (until it disconnects).
mutant no-seal client/kv_ops.c 'store full|Too many open' \
	's/(\nstatic int kv__seal\($fn\n\tif \()(g->len\))/${1}0 \/* mutant *\/ \&\& $2/s'
# A lookup takes a block of another key with the same fingerprint for the
# key's (PUT and DEL swing, GET returns, another key's word).
mutant other-key client/kv_ops.c 'not linearizable|in two words' \
	's/(\nstatic int kv__find\($fn\n\t\tswitch \(ret)\)/$1 \& 2 \/* mutant: OTHER is OK *\/)/s'

# The walk does not mark what the syncer's copies of the index name: space a
# slot can bring back after a power loss is granted again and overwritten.
mutant no-keep-snapshot proto/kv_sweep.c 'is free|not whole|does not validate|not linearizable' \
	's/\n\t\t\tkv__walk_keep\(s, s->cursor\);//'
# The sweep's walk runs while the syncer copies the index: it can clear a
# tombstone's word the copy already took and the key be copied again in
# another word, or free a block whose word the copy is about to take.
mutant no-copy-lock proto/kv_sweep.c 'not linearizable|two words|is free|not whole' \
	's/\t\tif \(s->copy_mu && pthread_mutex_trylock\(s->copy_mu\)\)\n\t\t\tbreak;[^\n]*\n/\t\t\/* mutant: no copy lock *\/\n/; s/\t\tif \(s->copy_mu\)\n\t\t\tpthread_mutex_unlock\(s->copy_mu\);\n//'
# The walk marks a copy's word only when it differs from the live one: a
# committed tombstone the walk clears goes free while a copy names it.
mutant keep-live-skip proto/kv_sweep.c 'is free|not whole|not linearizable' \
	's/(\n\t\tkw = __atomic_load_n\(&s->keep\[k\]\[idx\], __ATOMIC_RELAXED\);\n)/$1\t\tif (kw == __atomic_load_n(kv__wordp(s, idx), __ATOMIC_RELAXED))\n\t\t\tcontinue; \/* mutant *\/\n/'
# Opening from a snapshot leaves retired the blocks it names that a write
# lost with the power had retired.
mutant snapshot-no-unretire proto/kv_recover.c 'retired block|not linearizable' \
	's/(\n\t\tif \(\*head == kv_head_retired\(w\)\) \{\n)\t\t\t\*head = kv_word_settled\(w\);\n/$1\t\t\t\/* mutant *\/\n/'

# Opening a store after the server died leaves the blocks the index names
# free (the allocator not rebuilt from the index).
mutant recover-no-reserve proto/kv_recover.c 'which is free' \
	's/\n\tkv__reserve\(q, &e\);\n\tr->items\+\+;/\n\tr->items++; \/* mutant *\//'

# After a server restart the library keeps the old connection's grant and
# carves blocks from space the new server never granted it.
mutant reconnect-keeps-grant client/kv_conn.c 'which is free|grant|not linearizable|in two words' \
	's/(\nstatic int kv__reconnected\($fn\n\tc->broken = false;\n)\tc->small = \(struct kv__grant\)\{0\};\n/$1\t\/* mutant: grant kept *\/\n/s'
# A write cut off after its CAS went out says it did not take effect (a plain
# transport error instead of -KV_EUNKNOWN).
mutant unknown-as-failed client/kv_ops.c 'not linearizable' \
	's/(\nstatic int kv__write_result\($fn\n\treturn )ret && c->op_cas/${1}0 \/* mutant *\/ \&\& ret \&\& c->op_cas/s'

# Defects the simulation does not catch (not run; "#" off to try one):
# - no-head: now all but equivalent: the checksum is taken with the head set
#   to the block's word, so a block of another word fails it anyway; the
#   head check only rejects what the checksum would.
# - no-checksum: a block torn by a writer of reused space. A block's space
#   is reused only after it was retired (or its tombstone's word cleared)
#   and a whole pass went by, and a reader checks the head first: a torn
#   READ must have read a committed head before the retire and the rest
#   after the new WRITE. Not killed in 400000 seeds (at 3ab812c, 99681).
# - stale-full: unreachable here: at most 4 keys and 8 claims in 16 words.
# - no-pending: a writer swings the word without the pending bit, so a warm
#   PUT whose cached word came back the same (same space, length and tag)
#   replaces a write under way. Needs a word cached across the key's delete,
#   the space freed and regranted, a write of the key landing there with the
#   same tag, and the warm PUT inside that write: not killed in 80000 seeds
#   with every tag forced to 0 (a review's count). tests/test_aba.c plays it
#   step by step and fails under it (checked by hand).
# - no-keep-prev: the walk frees the block an uncommitted one replaced, where
#   its stopped writer's retire may still land. The key's other writers wait
#   for the commit and the writer is fenced after a lease, so only a block of
#   another key with the same fingerprint, length and tag, carved in that
#   very space within the lease, would take the retire. Not killed in 200000
#   seeds (nor in 40000 with 1-bit tags also for such keys, caches off).
#   tests/test_index.c test_sweep_half_write fails under it (checked by hand).
# mutant no-keep-prev proto/kv_sweep.c 'retired block|not linearizable' \
# 	's/(\n\t\t\tif \(head == kv_head_uncommitted\(w\) && )(kv_word_kind\(prev\) == KV_WORD_BLOCK\))/${1}0 \/* mutant *\/ \&\& $2/s'
# A reader trusts a block whose checksum is wrong (torn, or being reused).
# mutant no-checksum proto/kv_index.c 'not linearizable|nobody wrote|torn' \
# 	's/(\nenum kv_block_state kv_block_check\($fn\n\tif \()(sum != check\))/${1}0 \/* mutant *\/ \&\& $2/s'
# Claims of hung, stopped or vanished clients are never broken (no lease).
# A reader trusts a block whose head is not the word it came from (reused).
# mutant no-head proto/kv_index.c 'not linearizable|nobody wrote|torn' \
# 	's/(\nenum kv_block_state kv_block_check\($fn\n\tif \()(\(head & ~KV_HEAD_STATE\) != \(w & ~KV_HEAD_STATE\)) \|\|/${1}(0 \/* mutant *\/ \&\& $2) ||/s'
# "Store full" from the first look at the buckets, without reading them again.
# mutant stale-full client/kv_ops.c 'store full' \
# 	's/(\nstatic int kv__full_or_moved\($fn\n\tint ret;\n)/$1\n\treturn -ENOSPC; \/* mutant *\//s'

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
