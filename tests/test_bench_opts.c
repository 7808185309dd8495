/* test_bench_opts.c - `kvcli bench` option parsing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv_cli.h"

static FILE *sink(void)
{
	FILE *f = fopen("/dev/null", "w");

	ck_assert_ptr_nonnull(f);
	return f;
}

#define PARSE(b, ...)                                                          \
	({                                                                     \
		char *argv_[] = {"bench", __VA_ARGS__, NULL};                 \
		FILE *e_ = sink();                                             \
		int r_ = kv_bench_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, \
					argv_, (b), e_);                       \
		fclose(e_);                                                    \
		r_;                                                            \
	})

START_TEST(test_defaults)
{
	struct kv_bench_opts b;
	char *argv[] = {"bench", NULL};

	ck_assert_int_eq(kv_bench_parse(1, argv, &b, stderr), 0);
	ck_assert_int_eq(b.workload, KV_WL_GET);
	ck_assert_uint_eq(b.ops, 10000);
	ck_assert_uint_eq(b.keys, 1000);
	ck_assert_uint_eq(b.value_size, 32);
	ck_assert_int_eq(b.zipf, 0);
	ck_assert_uint_eq(b.depth, 1);
	ck_assert_uint_eq(b.clients, 1);
}
END_TEST

START_TEST(test_all_options)
{
	struct kv_bench_opts b;

	ck_assert_int_eq(PARSE(&b, "--workload", "b", "--ops", "500", "--keys", "77",
			       "--value-size", "1K", "--dist", "zipf", "--depth", "16",
			       "--clients", "4", "--seconds", "9"), 0);
	ck_assert_int_eq(b.workload, KV_WL_B);
	ck_assert_uint_eq(b.ops, 500);
	ck_assert_uint_eq(b.keys, 77);
	ck_assert_uint_eq(b.value_size, 1024);
	ck_assert_int_eq(b.zipf, 1);
	ck_assert_uint_eq(b.depth, 16);
	ck_assert_uint_eq(b.clients, 4);
	ck_assert_uint_eq(b.seconds, 9);
	ck_assert_int_eq(PARSE(&b, "--workload", "a"), 0);
	ck_assert_int_eq(b.workload, KV_WL_A);
	ck_assert_int_eq(PARSE(&b, "--workload", "put", "--dist", "uniform"), 0);
	ck_assert_int_eq(b.workload, KV_WL_PUT);
	ck_assert_int_eq(b.zipf, 0);
}
END_TEST

START_TEST(test_rejects)
{
	struct kv_bench_opts b;

	ck_assert_int_lt(PARSE(&b, "--workload", "d"), 0);
	ck_assert_int_lt(PARSE(&b, "--dist", "pareto"), 0);
	ck_assert_int_lt(PARSE(&b, "--depth", "0"), 0);
	ck_assert_int_lt(PARSE(&b, "--depth", "65"), 0);
	ck_assert_int_lt(PARSE(&b, "--clients", "0"), 0);
	ck_assert_int_lt(PARSE(&b, "--ops", "-5"), 0);
	ck_assert_int_lt(PARSE(&b, "--keys", "lots"), 0);
	ck_assert_int_lt(PARSE(&b, "--value-size", "65M"), 0);
	ck_assert_int_lt(PARSE(&b, "--value-size", "67108865"), 0);
	ck_assert_int_lt(PARSE(&b, "--ops"), 0);
	ck_assert_int_lt(PARSE(&b, "--frobnicate"), 0);
	ck_assert_int_lt(PARSE(&b, "extra"), 0);
}
END_TEST

/* Values up to the server's 64 MiB; above 4059 B (kv_get_multi's 4 KiB a key
 * less the block header and key) only at depth 1. */
START_TEST(test_value_size)
{
	struct kv_bench_opts b;

	ck_assert_int_eq(PARSE(&b, "--value-size", "1M"), 0);
	ck_assert_uint_eq(b.value_size, 1u << 20);
	ck_assert_int_eq(PARSE(&b, "--value-size", "64M"), 0);
	ck_assert_uint_eq(b.value_size, 64u << 20);
	ck_assert_int_eq(PARSE(&b, "--value-size", "0"), 0);
	ck_assert_uint_eq(b.value_size, 0);
	ck_assert_int_eq(PARSE(&b, "--value-size", "256K", "--depth", "1"), 0);
	ck_assert_uint_eq(b.value_size, 256u << 10);
	ck_assert_int_eq(PARSE(&b, "--value-size", "4059", "--depth", "16"), 0);
	ck_assert_uint_eq(b.depth, 16);
	ck_assert_int_lt(PARSE(&b, "--value-size", "4060", "--depth", "2"), 0);
	ck_assert_int_lt(PARSE(&b, "--depth", "16", "--value-size", "64K"), 0);
}
END_TEST

static Suite *bench_suite(void)
{
	Suite *s = suite_create("bench_opts");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_options);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_value_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bench_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
