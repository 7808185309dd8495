/*
 * test_sim.c - the protocol under a deterministic simulation (tests/sim/):
 * the linearizability checker itself, thousands of random schedules with
 * crashes, stalls and vanishing clients, and the schedules that found each
 * defect fixed so far.
 *
 * KV_SIM_SEEDS=N runs N schedules instead of the default (the long mode),
 * KV_SIM_FIRST=S starts at seed S, KV_SIM_TRACE=SEED prints that schedule.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
	ck_assert_msg(r.ok, "%s (replay: KV_SIM_TRACE=%llu build/bin/test_sim)", r.why,
		      (unsigned long long)o->seed);
	total->ops_done += r.ops_done;
	total->ops_unknown += r.ops_unknown;
	total->steps += r.steps;
	total->crashes += r.crashes;
	total->stalls += r.stalls;
	total->vanishes += r.vanishes;
	total->fences += r.fences;
	total->released += r.released;
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
	       "%llu locks released by the server\n",
	       (unsigned long long)n, (unsigned long long)total.ops_done,
	       (unsigned long long)total.ops_unknown, (unsigned long long)total.steps,
	       (unsigned long long)total.crashes, (unsigned long long)total.stalls,
	       (unsigned long long)total.vanishes, (unsigned long long)total.fences,
	       (unsigned long long)total.released);
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

START_TEST(test_sim_trace_one)
{
	uint64_t seed = env_u64("KV_SIM_TRACE", 0);
	struct kv_sim_opts o = {.seed = seed, .trace = true};
	struct kv_sim_result r;

	if (!seed)
		return;
	kv_sim_run(&o, &r);
	printf("seed %llu: %s\n", (unsigned long long)seed, r.ok ? "ok" : r.why);
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
