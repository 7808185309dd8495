/* test_hist.c - the bench's latency histogram. */
#include <check.h>
#include <stdlib.h>

#include "kv_hist.h"

static struct kv_hist *hist_new(void)
{
	struct kv_hist *h = calloc(1, sizeof(*h));

	ck_assert_ptr_nonnull(h);
	return h;
}

/* |got - want| within @pct percent of want. */
static void assert_near(uint64_t got, uint64_t want, double pct)
{
	double d = (double)got - (double)want;

	ck_assert_msg((d < 0 ? -d : d) <= (double)want * pct / 100.0,
		      "got %llu, want %llu +- %.1f%%", (unsigned long long)got,
		      (unsigned long long)want, pct);
}

START_TEST(test_empty)
{
	struct kv_hist *h = hist_new();

	ck_assert_uint_eq(kv_hist_quantile(h, 0.5), 0);
	free(h);
}
END_TEST

START_TEST(test_single_value_is_exact_when_max)
{
	struct kv_hist *h = hist_new();

	kv_hist_add(h, 45123);
	ck_assert_uint_eq(kv_hist_quantile(h, 0.5), 45123);
	ck_assert_uint_eq(kv_hist_quantile(h, 0.999), 45123);
	ck_assert_uint_eq(h->count, 1);
	free(h);
}
END_TEST

START_TEST(test_small_values_exact)
{
	struct kv_hist *h = hist_new();

	for (uint64_t v = 0; v < 40; v++)
		kv_hist_add(h, v);
	ck_assert_uint_eq(kv_hist_quantile(h, 0.5), 20);
	ck_assert_uint_eq(kv_hist_quantile(h, 0.0), 0);
	free(h);
}
END_TEST

START_TEST(test_uniform_quantiles)
{
	struct kv_hist *h = hist_new();

	for (uint64_t v = 1; v <= 2000000; v += 3)
		kv_hist_add(h, v);
	assert_near(kv_hist_quantile(h, 0.50), 1000000, 1.6);
	assert_near(kv_hist_quantile(h, 0.90), 1800000, 1.6);
	assert_near(kv_hist_quantile(h, 0.99), 1980000, 1.6);
	ck_assert_uint_le(kv_hist_quantile(h, 1.0), h->max_ns);
	free(h);
}
END_TEST

START_TEST(test_huge_values_and_merge)
{
	struct kv_hist *a = hist_new(), *b = hist_new();

	kv_hist_add(a, UINT64_MAX);
	kv_hist_add(b, 1000);
	kv_hist_add(b, 1000);
	kv_hist_merge(a, b);
	ck_assert_uint_eq(a->count, 3);
	ck_assert_uint_eq(a->max_ns, UINT64_MAX);
	assert_near(kv_hist_quantile(a, 0.5), 1000, 1.6);
	ck_assert_uint_ge(kv_hist_quantile(a, 0.99), 1ull << 63);
	free(a);
	free(b);
}
END_TEST

static Suite *hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc = tcase_create("quantiles");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_single_value_is_exact_when_max);
	tcase_add_test(tc, test_small_values_exact);
	tcase_add_test(tc, test_uniform_quantiles);
	tcase_add_test(tc, test_huge_values_and_merge);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
