/* test_parse.c - strict number parsing for the command lines (kv_parse.h). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "kv_parse.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 0x5a5a5a5a5a5a5a5aull

struct size_case {
	const char *s;
	uint64_t want;
};

static const struct size_case good_sizes[] = {
	{"64M", 64ull << 20},
	{"1G", 1ull << 30},
	{"4k", 4096},
	{"4K", 4096},
	{"512", 512},
	{"2MiB", 2ull << 20},
	{"2MB", 2ull << 20},
	{"1KiB", 1024},
	{"3GB", 3ull << 30},
	{"7B", 7},
	{"0", 0},
	{"18446744073709551615", UINT64_MAX},
	{"17179869183G", (17179869183ull) << 30}, /* the largest G that fits */
};

static const char *const bad_sizes[] = {
	"", "-1", "+1", " 1", "1 ", "12Q", "M", "1.5M", "0x10", "1e3", "1 M", "1Ki",
	"1iB", "1KiX", "1MBB", "1MiBB", "1KB2", "GB",
	"99999999999999999999",     /* past 2^64 before any suffix */
	"18446744073709551616",     /* 2^64 */
	"17179869184G",             /* 2^64 after the shift */
	"18014398509481984M",       /* 2^74 */
};

START_TEST(test_size_accepts)
{
	const struct size_case *c = &good_sizes[_i];
	uint64_t v = SENTINEL;

	ck_assert_msg(kv_parse_size(c->s, 0, UINT64_MAX, &v) == 0, "'%s' was rejected", c->s);
	ck_assert_msg(v == c->want, "'%s' gave %llu, want %llu", c->s,
		      (unsigned long long)v, (unsigned long long)c->want);
}
END_TEST

START_TEST(test_size_rejects)
{
	const char *s = bad_sizes[_i];
	uint64_t v = SENTINEL;

	ck_assert_msg(kv_parse_size(s, 0, UINT64_MAX, &v) == -EINVAL, "'%s' was accepted", s);
}
END_TEST

START_TEST(test_size_range)
{
	uint64_t v = SENTINEL;

	/* Bounds are inclusive, and checked after the suffix is applied. */
	ck_assert_int_eq(kv_parse_size("1K", 1024, 1024, &v), 0);
	ck_assert_uint_eq(v, 1024);
	ck_assert_int_eq(kv_parse_size("1M", 1ull << 20, 1ull << 40, &v), 0);
	ck_assert_uint_eq(v, 1ull << 20);
	ck_assert_int_eq(kv_parse_size("1024G", 1ull << 20, 1ull << 40, &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);

	ck_assert_int_eq(kv_parse_size("1023", 1024, 4096, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_size("4097", 1024, 4096, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_size("5K", 1024, 4096, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_size("1023K", 1ull << 20, 1ull << 40, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_size("1025G", 1ull << 20, 1ull << 40, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_size("0", 1, 10, &v), -EINVAL);
}
END_TEST

START_TEST(test_uint_accepts)
{
	uint64_t v = SENTINEL;

	ck_assert_int_eq(kv_parse_uint("0", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(kv_parse_uint("10", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(kv_parse_uint("250", 1, 250, &v), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(kv_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

static const char *const bad_uints[] = {
	"", "-1", "-0", "+1", " 1", "1 ", "1.0", "12k", "1M", "0x10", "abc", "1e3",
	"18446744073709551616", "99999999999999999999",
};

START_TEST(test_uint_rejects)
{
	const char *s = bad_uints[_i];
	uint64_t v = SENTINEL;

	ck_assert_msg(kv_parse_uint(s, 0, UINT64_MAX, &v) == -EINVAL, "'%s' was accepted", s);
}
END_TEST

START_TEST(test_uint_range)
{
	uint64_t v = SENTINEL;

	ck_assert_int_eq(kv_parse_uint("0", 1, 250, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_uint("251", 1, 250, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_uint("3600001", 1, 3600000, &v), -EINVAL);
	ck_assert_int_eq(kv_parse_uint("3600000", 1, 3600000, &v), 0);
	ck_assert_uint_eq(v, 3600000);
}
END_TEST

START_TEST(test_port_accepts)
{
	uint16_t p = 0;

	ck_assert_int_eq(kv_parse_port("1", &p), 0);
	ck_assert_uint_eq(p, 1);
	ck_assert_int_eq(kv_parse_port("65535", &p), 0);
	ck_assert_uint_eq(p, 65535);
	ck_assert_int_eq(kv_parse_port("20886", &p), 0);
	ck_assert_uint_eq(p, 20886);
}
END_TEST

static const char *const bad_ports[] = {
	"0", "65536", "80x", "x80", "", "-1", " 80", "80 ", "8.0", "1K",
	"65537", "131072", "4294967297", "99999999999999999999",
};

START_TEST(test_port_rejects)
{
	const char *s = bad_ports[_i];
	uint16_t p = 4242;

	ck_assert_msg(kv_parse_port(s, &p) == -EINVAL, "port '%s' was accepted", s);
}
END_TEST

static Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc;

	tc = tcase_create("size");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_size_accepts, 0, N(good_sizes));
	tcase_add_loop_test(tc, test_size_rejects, 0, N(bad_sizes));
	tcase_add_test(tc, test_size_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("uint");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_uint_accepts);
	tcase_add_loop_test(tc, test_uint_rejects, 0, N(bad_uints));
	tcase_add_test(tc, test_uint_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("port");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_port_accepts);
	tcase_add_loop_test(tc, test_port_rejects, 0, N(bad_ports));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
