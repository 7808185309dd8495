/* test_batchparse.c - a `kvcli batch` request line (client/kv_batchparse.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kv_batchparse.h"

#define USAGE_PUT "usage: put KEY VALUE"
#define UNKNOWN "unknown command; expected put KEY VALUE, get KEY or del KEY"

/* Parse @line (a C string) and check the command, key, value or error. */
static void expect(const char *line, enum kv_batch_cmd cmd, const char *key, const char *val,
		   const char *error)
{
	size_t n = strlen(line);
	char *copy = malloc(n ? n : 1); /* exactly the line: ASan sees overreads */
	struct kv_batch_req r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, line, n);
	ck_assert_int_eq(kv_batch_parse(copy, n, &r), cmd);
	ck_assert_int_eq(r.cmd, cmd);
	if (cmd == KV_BATCH_BAD) {
		ck_assert_str_eq(r.error, error);
		ck_assert_ptr_null(r.key);
	} else {
		ck_assert_ptr_null(r.error);
		ck_assert_uint_eq(r.klen, strlen(key));
		ck_assert(memcmp(r.key, key, r.klen) == 0);
		if (val) {
			ck_assert_uint_eq(r.vlen, strlen(val));
			ck_assert(memcmp(r.val, val, r.vlen) == 0);
		} else {
			ck_assert_ptr_null(r.val);
		}
	}
	free(copy);
}

START_TEST(test_requests)
{
	expect("put k v", KV_BATCH_PUT, "k", "v", NULL);
	expect("put key a value with spaces", KV_BATCH_PUT, "key", "a value with spaces", NULL);
	expect("put k ", KV_BATCH_PUT, "k", "", NULL);
	expect("put  v", KV_BATCH_PUT, "", "v", NULL); /* empty key: the library says so */
	expect("get k", KV_BATCH_GET, "k", NULL, NULL);
	expect("get a key with spaces", KV_BATCH_GET, "a key with spaces", NULL, NULL);
	expect("get ", KV_BATCH_GET, "", NULL, NULL);
	expect("del k", KV_BATCH_DEL, "k", NULL, NULL);
	expect("del  k", KV_BATCH_DEL, " k", NULL, NULL);
}
END_TEST

START_TEST(test_bad_lines)
{
	expect("put", KV_BATCH_BAD, NULL, NULL, USAGE_PUT);
	expect("put k", KV_BATCH_BAD, NULL, NULL, USAGE_PUT);
	expect("put ", KV_BATCH_BAD, NULL, NULL, USAGE_PUT);
	expect("get", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("del", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect(" get k", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("GET k", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("gets k", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("ge", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
	expect("get\tk", KV_BATCH_BAD, NULL, NULL, UNKNOWN);
}
END_TEST

/* The line ends at its first NUL, as kvcli has always read it. */
START_TEST(test_nul_ends_the_line)
{
	static const char line[] = "put k v\0tail";
	struct kv_batch_req r;

	ck_assert_int_eq(kv_batch_parse(line, sizeof(line) - 1, &r), KV_BATCH_PUT);
	ck_assert_uint_eq(r.klen, 1);
	ck_assert_uint_eq(r.vlen, 1);
	ck_assert_int_eq(kv_batch_parse("get\0 k", 6, &r), KV_BATCH_BAD);
	ck_assert_int_eq(kv_batch_parse("put k\0 v", 8, &r), KV_BATCH_BAD);
	ck_assert_str_eq(r.error, USAGE_PUT);
	/* Only @len bytes are looked at. */
	ck_assert_int_eq(kv_batch_parse("get k", 3, &r), KV_BATCH_BAD);
	ck_assert_int_eq(kv_batch_parse("get k", 4, &r), KV_BATCH_GET);
	ck_assert_uint_eq(r.klen, 0);
}
END_TEST

static Suite *batchparse_suite(void)
{
	Suite *s = suite_create("batchparse");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_bad_lines);
	tcase_add_test(tc, test_nul_ends_the_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(batchparse_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
