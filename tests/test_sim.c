/*
 * test_sim.c - the protocol under a deterministic simulation (tests/sim/):
 * the linearizability checker itself, thousands of random schedules with
 * crashes, stalls and vanishing clients, and the schedules that found each
 * defect fixed so far.
 *
 * KV_SIM_SEEDS=N runs N schedules instead of the default (the long mode),
 * KV_SIM_FIRST=S starts at seed S, KV_SIM_TRACE=SEED prints that schedule
 * (KV_SIM_TRACE_OPTS=paced or contention: with that test's options).
 * KV_SIM_PACED_SEEDS=N runs N schedules with the server at kvserver's pace,
 * KV_SIM_POWER_SEEDS=N N schedules with the syncer's snapshots and a power
 * loss (KV_SIM_TRACE_OPTS=powerloss to trace one).
 * KV_SIM_REGRESSION=NAME runs only that entry of the regressions table;
 * CK_RUN_CASE=regressions runs only that table (tests/sim/mutants.sh).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_sim.h"

#define DEFAULT_SEEDS 3000

/* ---- the checker ---------------------------------------------------------- */

#define OP(k, a, r, i, e) {.kind = (k), .arg = (a), .ret = (r), .inv = (i), .resp = (e)}
#define OPEN UINT64_MAX

START_TEST(test_lin_sequential)
{
	struct kv_lin_op ok[] = {
		OP(KV_LIN_GET, 0, -1, 1, 2), OP(KV_LIN_PUT, 7, 0, 3, 4),
		OP(KV_LIN_GET, 0, 7, 5, 6), OP(KV_LIN_DEL, 0, 1, 7, 8),
		OP(KV_LIN_DEL, 0, 0, 9, 10), OP(KV_LIN_GET, 0, -1, 11, 12),
	};

	ck_assert(kv_lin_check(ok, 6));
}
END_TEST

/* A read of the past, after a newer write completed, is refused. */
START_TEST(test_lin_stale_read)
{
	struct kv_lin_op bad[] = {
		OP(KV_LIN_PUT, 1, 0, 1, 2), OP(KV_LIN_PUT, 2, 0, 3, 4),
		OP(KV_LIN_GET, 0, 1, 5, 6),
	};

	ck_assert(!kv_lin_check(bad, 3));
	bad[2].inv = 3; /* overlapping the second PUT: now fine */
	ck_assert(kv_lin_check(bad, 3));
}
END_TEST

/* A lost acknowledged write, and a deleted key that comes back. */
START_TEST(test_lin_lost_and_resurrected)
{
	struct kv_lin_op lost[] = {OP(KV_LIN_PUT, 1, 0, 1, 2), OP(KV_LIN_GET, 0, -1, 3, 4)};
	struct kv_lin_op back[] = {
		OP(KV_LIN_PUT, 1, 0, 1, 2), OP(KV_LIN_DEL, 0, 1, 3, 4),
		OP(KV_LIN_GET, 0, 1, 5, 6),
	};

	ck_assert(!kv_lin_check(lost, 2));
	ck_assert(!kv_lin_check(back, 3));
}
END_TEST

/* An operation of a client that died may take effect late, or never. */
START_TEST(test_lin_unknown_outcome)
{
	struct kv_lin_op late[] = {
		OP(KV_LIN_PUT, 1, 0, 1, OPEN), OP(KV_LIN_GET, 0, -1, 2, 3),
		OP(KV_LIN_GET, 0, 1, 4, 5),
	};
	struct kv_lin_op never[] = {OP(KV_LIN_PUT, 1, 0, 1, OPEN), OP(KV_LIN_GET, 0, -1, 2, 3)};
	/* ...but not before it was invoked. */
	struct kv_lin_op early[] = {OP(KV_LIN_GET, 0, 1, 1, 2), OP(KV_LIN_PUT, 1, 0, 3, OPEN)};
	/* ...and not twice: once seen gone, a value cannot return. */
	struct kv_lin_op twice[] = {
		OP(KV_LIN_PUT, 1, 0, 1, OPEN), OP(KV_LIN_GET, 0, 1, 2, 3),
		OP(KV_LIN_PUT, 2, 0, 4, 5), OP(KV_LIN_GET, 0, 1, 6, 7),
	};

	ck_assert(kv_lin_check(late, 3));
	ck_assert(kv_lin_check(never, 2));
	ck_assert(!kv_lin_check(early, 2));
	ck_assert(!kv_lin_check(twice, 4));
}
END_TEST

/* ---- random schedules ------------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void run_seed(const struct kv_sim_opts *o, struct kv_sim_result *total)
{
	struct kv_sim_result r;

	kv_sim_run(o, &r);
	ck_assert_msg(r.ok, "%s (replay: KV_SIM_TRACE=%llu%s build/bin/test_sim)", r.why,
		      (unsigned long long)o->seed,
		      o->powerloss ? " KV_SIM_TRACE_OPTS=powerloss"
		      : o->paced ? " KV_SIM_TRACE_OPTS=paced"
		      : o->no_faults ? " KV_SIM_TRACE_OPTS=contention" : "");
	total->ops_done += r.ops_done;
	total->ops_unknown += r.ops_unknown;
	total->steps += r.steps;
	total->crashes += r.crashes;
	total->stalls += r.stalls;
	total->vanishes += r.vanishes;
	total->fences += r.fences;
	total->released += r.released;
	total->restarts += r.restarts;
	total->reconnects += r.reconnects;
	total->narrowed += r.narrowed;
	total->snapshots += r.snapshots;
	total->powerlosses += r.powerlosses;
	total->lost_writes += r.lost_writes;
}

START_TEST(test_sim_random_schedules)
{
	uint64_t first = env_u64("KV_SIM_FIRST", 1), n = env_u64("KV_SIM_SEEDS", DEFAULT_SEEDS);
	struct kv_sim_result total = {0};

	for (uint64_t seed = first; seed < first + n; seed++) {
		struct kv_sim_opts o = {.seed = seed};

		run_seed(&o, &total);
	}
	printf("sim: %llu schedules, %llu operations returned, %llu of unknown outcome, "
	       "%llu steps; %llu crashes, %llu stalls, %llu vanished, %llu fenced, "
	       "%llu locks released by the server, %llu server restarts "
	       "(%llu clients connected again); %llu runs with 1-bit tags\n",
	       (unsigned long long)n, (unsigned long long)total.ops_done,
	       (unsigned long long)total.ops_unknown, (unsigned long long)total.steps,
	       (unsigned long long)total.crashes, (unsigned long long)total.stalls,
	       (unsigned long long)total.vanishes, (unsigned long long)total.fences,
	       (unsigned long long)total.released, (unsigned long long)total.restarts,
	       (unsigned long long)total.reconnects, (unsigned long long)total.narrowed);
}
END_TEST

/* Without faults, many clients on one key: nothing may fail or block. */
START_TEST(test_sim_contention_without_faults)
{
	struct kv_sim_result total = {0};

	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct kv_sim_opts o = {.seed = seed, .clients = 8, .keys = 1, .ops = 60,
					.no_faults = true};

		run_seed(&o, &total);
	}
	ck_assert_uint_eq(total.ops_unknown, 0);
}
END_TEST

/*
 * The server at kvserver's pace (a pass per lease, a tenth a tick): leases
 * are broken only by the sweep's rhythm, and a client that never stopped
 * must never be fenced (kv_sim.c fails the run if it is).
 */
START_TEST(test_sim_server_paced)
{
	uint64_t n = env_u64("KV_SIM_PACED_SEEDS", DEFAULT_SEEDS / 3);
	struct kv_sim_result total = {0};

	for (uint64_t seed = 1; seed <= n; seed++) {
		struct kv_sim_opts o = {.seed = seed, .paced = true};

		run_seed(&o, &total);
	}
	printf("sim, paced: %llu schedules, %llu operations, %llu fenced\n",
	       (unsigned long long)n, (unsigned long long)total.ops_done,
	       (unsigned long long)total.fences);
}
END_TEST

/*
 * The syncer's snapshots of the index, and a power loss at some step: the
 * store comes back from the newest snapshot in a slot, with every granule
 * no snapshot block covers turned to garbage (pages of any age). Each key
 * must hold its value at the instant its word was copied, the blocks must
 * be whole, and the history after it linearizable from there.
 */
START_TEST(test_sim_power_loss)
{
	uint64_t n = env_u64("KV_SIM_POWER_SEEDS", DEFAULT_SEEDS / 3);
	struct kv_sim_result total = {0};

	for (uint64_t seed = 1; seed <= n; seed++) {
		struct kv_sim_opts o = {.seed = seed, .powerloss = true};

		run_seed(&o, &total);
	}
	printf("sim, power loss: %llu schedules, %llu operations, %llu snapshots in slots, "
	       "%llu power losses, %llu acknowledged writes after the snapshot lost\n",
	       (unsigned long long)n, (unsigned long long)total.ops_done,
	       (unsigned long long)total.snapshots, (unsigned long long)total.powerlosses,
	       (unsigned long long)total.lost_writes);
}
END_TEST

START_TEST(test_sim_trace_one)
{
	uint64_t seed = env_u64("KV_SIM_TRACE", 0);
	const char *how = getenv("KV_SIM_TRACE_OPTS");
	struct kv_sim_opts o = {.seed = seed, .trace = true};
	struct kv_sim_result r;

	if (!seed)
		return;
	if (how && !strcmp(how, "paced"))
		o.paced = true;
	if (how && !strcmp(how, "powerloss"))
		o.powerloss = true;
	if (how && !strcmp(how, "contention"))
		o = (struct kv_sim_opts){.seed = seed, .trace = true, .clients = 8, .keys = 1,
					 .ops = 60, .no_faults = true};
	kv_sim_run(&o, &r);
	printf("seed %llu: %s\n", (unsigned long long)seed, r.ok ? "ok" : r.why);
}
END_TEST

/* ---- regressions ------------------------------------------------------------- */

/*
 * One schedule per protocol defect that tests/sim/mutants.sh puts in (the
 * mutant of that name): the first that failed with the defect's own symptom
 * (KV_MUT_SEEDS=120000 finds them all), with the options of the test that
 * caught it. On the code as it is each must pass;
 * mutants.sh checks that each still fails under its own mutant. A change to
 * the protocol code or to the simulation changes the schedules: then rerun
 * mutants.sh and record the new seeds.
 */
#define CONTENTION(s) {.seed = (s), .clients = 8, .keys = 1, .ops = 60, .no_faults = true}

static const struct {
	const char *defect;
	struct kv_sim_opts o;
	bool restarts;      /* recorded with the restart event (others without) */
} regressions[] = {
	/* mutant dup-claim: an insert ignores other clients' claims */
	{"dup-claim", CONTENTION(3)},
	/* mutant late-block: an insert ignores a block of the key published
	 * between its first look and its claim */
	{"late-block", CONTENTION(1)},
	/* mutant warm-unchecked: a warm GET trusts its block without checking
	 * that it is committed and not retired */
	{"warm-unchecked", CONTENTION(17)},
	/* mutant resolve-no-prev: a cold GET takes an uncommitted block's value
	 * without reading its predecessor */
	{"resolve-no-prev", {.seed = 2957}, true},
	/* mutant commit-first: a write commits its block before it retires the
	 * one it replaced */
	{"commit-first", {.seed = 19042}, true},
	/* mutant no-wait: a writer replaces an uncommitted block without
	 * waiting for its commit (its predecessor is never retired) */
	{"no-wait", {.seed = 168}, true},
	/* mutant finish-live: the sweep finishes a live writer's block at
	 * once, without lease or fence */
	{"finish-live", {.seed = 106482}, true},
	/* mutant tomb-uncommitted: the sweep clears the word of a tombstone not
	 * yet committed */
	{"tomb-uncommitted", {.seed = 1070}, true},
	/* mutant no-lease: a vanished client's claim is never broken */
	{"no-lease", {.seed = 570}, true},
	/* mutant no-fence: a claim broken past its lease, its holder not cut off */
	{"no-fence", {.seed = 5}},
	/* mutant seal-now: a seal frees space in the middle of a pass */
	{"seal-now", CONTENTION(3)},
	/* mutant no-mark: the walk marks no block, the sweep frees named ones */
	{"no-mark", CONTENTION(1)},
	/* mutant gone-unsealed: a gone client's grants are never sealed */
	{"gone-unsealed", {.seed = 3}},
	/* mutant no-seal: a client forgets its grants unsealed */
	{"no-seal", CONTENTION(1)},
	/* mutant other-key: a lookup takes another key's block (same
	 * fingerprint) for the key's */
	{"other-key", {.seed = 3}},
	/* mutant no-keep-snapshot: the sweep frees space only a snapshot of
	 * the index names */
	{"no-keep-snapshot", {.seed = 2, .powerloss = true}},
	/* mutant no-copy-lock: the walk runs while the syncer copies */
	{"no-copy-lock", {.seed = 79, .powerloss = true}},
	/* mutant keep-live-skip: a copy's word equal to the live one is not
	 * marked */
	{"keep-live-skip", {.seed = 13, .powerloss = true}},
	/* mutant snapshot-no-unretire: opened from a snapshot, blocks a lost
	 * write retired stay retired */
	{"snapshot-no-unretire", {.seed = 1, .powerloss = true}},
	/* mutant recover-no-reserve: opening a store leaves the blocks the
	 * index names free */
	{"recover-no-reserve", {.seed = 1}, true},
	/* mutant reconnect-keeps-grant: after a restart the library carves
	 * blocks from the old connection's grant */
	{"reconnect-keeps-grant", {.seed = 1}, true},
	/* mutant unknown-as-failed: a write cut off after its CAS says it
	 * did not take effect */
	{"unknown-as-failed", {.seed = 8}, true},
};

START_TEST(test_sim_regressions)
{
	const char *only = getenv("KV_SIM_REGRESSION");
	unsigned ran = 0, failed = 0;
	char first[640] = "";

	for (size_t i = 0; i < sizeof(regressions) / sizeof(regressions[0]); i++) {
		struct kv_sim_result r;

		if (only && *only && strcmp(only, regressions[i].defect))
			continue;
		ran++;
		struct kv_sim_opts o = regressions[i].o;

		o.no_restart = !regressions[i].restarts;
		kv_sim_run(&o, &r);
		if (r.ok)
			continue;
		fprintf(stderr, "regression %s: %s\n", regressions[i].defect, r.why);
		if (!failed++)
			snprintf(first, sizeof(first), "regression %s: %s", regressions[i].defect,
				 r.why);
	}
	ck_assert_msg(ran, "no regression entry named %s", only);
	ck_assert_msg(!failed, "%u of %u failed; the first: %s", failed, ran, first);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("lincheck");

	tcase_add_test(tc, test_lin_sequential);
	tcase_add_test(tc, test_lin_stale_read);
	tcase_add_test(tc, test_lin_lost_and_resurrected);
	tcase_add_test(tc, test_lin_unknown_outcome);
	suite_add_tcase(s, tc);
	tc = tcase_create("schedules");
	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc, test_sim_trace_one);
	tcase_add_test(tc, test_sim_contention_without_faults);
	tcase_add_test(tc, test_sim_random_schedules);
	tcase_add_test(tc, test_sim_server_paced);
	tcase_add_test(tc, test_sim_power_loss);
	suite_add_tcase(s, tc);
	tc = tcase_create("regressions");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_sim_regressions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
