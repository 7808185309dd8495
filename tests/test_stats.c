/* test_stats.c - the server's stats as JSON (kv_stats_to_json), read back with jansson. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kv_server.h"
#include "kv_index.h"

/* Stats in which every number is distinct and checkable. */
static struct kv_server_stats sample_stats(void)
{
	struct kv_server_stats st;

	memset(&st, 0, sizeof(st));
	st.uptime_s = 12.5;
	st.slab_bytes = 64ull << 20;
	st.huge_pages = true;
	st.geo.index_off = 262144;
	st.geo.data_off = 6553600;
	st.geo.data_len = 60555264;
	st.geo.hash_seed = 0xfeedfacecafebeefull;
	st.geo.nbuckets = 98304;
	st.geo.max_key = 250;
	st.geo.max_value = 1u << 20;
	st.index_words = 786432;
	st.items = 196608; /* a quarter: exact in binary */
	st.claims = 2;
	st.payload_bytes = 5000000;
	st.data_bytes = 60555264;
	st.bytes_free = 40000000;
	st.bytes_allocated = 20555264;
	st.bytes_held = 1048576;
	st.bytes_pending = 123456;
	st.largest_free_extent = 30000000; /* fragmentation 0.25 */
	st.max_key = 250;
	st.max_value = 1u << 20;
	st.clients_connected = 3;
	st.connections_total = 17;
	st.locks_released = 4;
	st.lease_ms = 1000;
	st.leases_broken = 2;
	st.sweep_passes = 99;
	st.protocol_errors = 1;
	return st;
}

/* Render @st and parse it back; the caller owns the result. */
static json_t *round_trip(const struct kv_server_stats *st)
{
	char *text = kv_stats_to_json(st);
	json_error_t jerr;
	json_t *root;

	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strchr(text, '\n') == NULL, "not one line: %s", text);
	root = json_loads(text, 0, &jerr);
	ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, text);
	ck_assert(json_is_object(root));
	free(text);
	return root;
}

static json_int_t int_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	ck_assert_msg(json_is_integer(v), "field %s missing or not an integer", name);
	return json_integer_value(v);
}

static double real_field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	ck_assert_msg(json_is_number(v), "field %s missing or not a number", name);
	return json_number_value(v);
}

START_TEST(test_stats_fields)
{
	struct kv_server_stats st = sample_stats();
	json_t *root = round_trip(&st);
	json_t *version = json_object_get(root, "version");

	ck_assert(json_is_string(version));
	ck_assert_str_eq(json_string_value(version), KV_VERSION);
	ck_assert_int_eq(int_field(root, "protocol"), KV_PROTO_VERSION);
	ck_assert_double_eq(real_field(root, "uptime_s"), 12.5);
	ck_assert_int_eq(int_field(root, "slab_bytes"), 64ll << 20);
	ck_assert(json_is_true(json_object_get(root, "huge_pages")));
	ck_assert(json_is_object(json_object_get(root, "geometry")));
	ck_assert_int_eq(int_field(root, "slots_total"), 786432);
	ck_assert_int_eq(int_field(root, "slots_used"), 196608);
	ck_assert_int_eq(int_field(root, "slots_locked"), 2);
	ck_assert_double_eq(real_field(root, "load_factor"), 0.25);
	ck_assert_int_eq(int_field(root, "clients_connected"), 3);
	ck_assert_int_eq(int_field(root, "connections_total"), 17);
	ck_assert_int_eq(int_field(root, "locks_released"), 4);
	ck_assert_int_eq(int_field(root, "lease_ms"), 1000);
	ck_assert_int_eq(int_field(root, "leases_broken"), 2);
	ck_assert_int_eq(int_field(root, "sweep_passes"), 99);
	ck_assert_int_eq(int_field(root, "protocol_errors"), 1);
	json_decref(root);
}
END_TEST

/* The fields of the index and the data region (issue 8). */
START_TEST(test_stats_memory_fields)
{
	struct kv_server_stats st = sample_stats();
	json_t *root = round_trip(&st);

	ck_assert_int_eq(int_field(root, "items"), 196608);
	ck_assert_int_eq(int_field(root, "index_words"), 786432);
	ck_assert(json_is_real(json_object_get(root, "index_load")));
	ck_assert_double_eq(real_field(root, "index_load"), 0.25);
	ck_assert_int_eq(int_field(root, "payload_bytes"), 5000000);
	ck_assert_int_eq(int_field(root, "data_bytes"), 60555264);
	ck_assert_int_eq(int_field(root, "bytes_allocated"), 20555264);
	ck_assert_int_eq(int_field(root, "bytes_free"), 40000000);
	ck_assert_int_eq(int_field(root, "bytes_held"), 1048576);
	ck_assert_int_eq(int_field(root, "bytes_pending"), 123456);
	ck_assert_int_eq(int_field(root, "largest_free_extent"), 30000000);
	ck_assert(json_is_real(json_object_get(root, "fragmentation")));
	ck_assert_double_eq(real_field(root, "fragmentation"), 0.25);
	ck_assert_int_eq(int_field(root, "max_value"), 1 << 20);
	ck_assert_int_eq(int_field(root, "max_key"), 250);
	json_decref(root);
}
END_TEST

/* One free run holding all the free space: no fragmentation. */
START_TEST(test_stats_fragmentation_bounds)
{
	struct kv_server_stats st = sample_stats();
	json_t *root;

	st.largest_free_extent = st.bytes_free;
	root = round_trip(&st);
	ck_assert_double_eq(real_field(root, "fragmentation"), 0.0);
	json_decref(root);

	st.largest_free_extent = 16;
	st.bytes_free = 16 * 1024;
	root = round_trip(&st);
	ck_assert_double_le(real_field(root, "fragmentation"), 1.0);
	ck_assert_double_ge(real_field(root, "fragmentation"), 0.999);
	json_decref(root);

	st.largest_free_extent = 0;
	st.bytes_free = 0; /* full: 0, not NaN */
	root = round_trip(&st);
	ck_assert_double_eq(real_field(root, "fragmentation"), 0.0);
	json_decref(root);
}
END_TEST

START_TEST(test_stats_geometry)
{
	struct kv_server_stats st = sample_stats();
	json_t *root = round_trip(&st);
	json_t *geo = json_object_get(root, "geometry");

	ck_assert(json_is_object(geo));
	ck_assert_int_eq(int_field(geo, "buckets"), 98304);
	ck_assert_int_eq(int_field(geo, "bucket_words"), KV_BUCKET_WORDS);
	ck_assert_int_eq(int_field(geo, "max_key"), 250);
	ck_assert_int_eq(int_field(geo, "max_value"), 1 << 20);
	ck_assert_int_eq(int_field(geo, "index_offset"), 262144);
	ck_assert_int_eq(int_field(geo, "data_offset"), 6553600);
	ck_assert_int_eq(int_field(geo, "data_bytes"), 60555264);
	/* The fixed slots' layout is gone, and the seed is never told. */
	ck_assert_ptr_null(json_object_get(geo, "bucket_slots"));
	ck_assert_ptr_null(json_object_get(geo, "record_bytes"));
	ck_assert_ptr_null(json_object_get(geo, "hash_seed"));
	ck_assert_ptr_null(json_object_get(root, "rec_size"));
	ck_assert_ptr_null(json_object_get(root, "head_size"));
	json_decref(root);
}
END_TEST

START_TEST(test_stats_empty_table)
{
	struct kv_server_stats st;
	json_t *root;

	memset(&st, 0, sizeof(st));
	root = round_trip(&st);
	/* No words: a load factor of 0, not NaN (which would not be JSON). */
	ck_assert_double_eq(real_field(root, "load_factor"), 0.0);
	ck_assert_double_eq(real_field(root, "index_load"), 0.0);
	ck_assert_double_eq(real_field(root, "fragmentation"), 0.0);
	ck_assert_int_eq(int_field(root, "slots_total"), 0);
	ck_assert_int_eq(int_field(root, "bytes_free"), 0);
	ck_assert_double_eq(real_field(root, "uptime_s"), 0.0);
	json_decref(root);
}
END_TEST

START_TEST(test_stats_large_numbers)
{
	struct kv_server_stats st = sample_stats();
	json_t *root;

	st.slab_bytes = 1ull << 40;
	st.index_words = 1ull << 33;
	st.items = 1ull << 33;
	st.data_bytes = 1ull << 37;
	st.bytes_free = 1ull << 36;
	st.largest_free_extent = 1ull << 36;
	st.payload_bytes = (1ull << 37) - 1;
	st.connections_total = (1ull << 53) + 1;
	st.uptime_s = 86400.0 * 365;
	root = round_trip(&st);
	ck_assert_int_eq(int_field(root, "slab_bytes"), 1ll << 40);
	ck_assert_int_eq(int_field(root, "slots_total"), 1ll << 33);
	ck_assert_int_eq(int_field(root, "index_words"), 1ll << 33);
	ck_assert_double_eq(real_field(root, "load_factor"), 1.0);
	ck_assert_double_eq(real_field(root, "index_load"), 1.0);
	ck_assert_int_eq(int_field(root, "data_bytes"), 1ll << 37);
	ck_assert_int_eq(int_field(root, "payload_bytes"), (1ll << 37) - 1);
	ck_assert_double_eq(real_field(root, "fragmentation"), 0.0);
	ck_assert_int_eq(int_field(root, "connections_total"), (1ll << 53) + 1);
	ck_assert_double_eq(real_field(root, "uptime_s"), 86400.0 * 365);
	json_decref(root);
}
END_TEST

/* The JSON goes in one control message. */
START_TEST(test_stats_fits_a_message)
{
	struct kv_server_stats st;
	char *text;

	memset(&st, 0xff, sizeof(st)); /* every number at its longest */
	st.huge_pages = true;
	st.file = true; /* the sync fields too (0xff is no bool: UBSan) */
	st.uptime_s = 1e12;
	st.sync_last_ms = 1e12; /* and no NaN */
	st.sync_max_ms = 1e12;
	text = kv_stats_to_json(&st);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_lt(strlen(text), KV_MSG_MAX - KV_MSG_HDR_LEN);
	free(text);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("json");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_stats_fields);
	tcase_add_test(tc, test_stats_memory_fields);
	tcase_add_test(tc, test_stats_fragmentation_bounds);
	tcase_add_test(tc, test_stats_geometry);
	tcase_add_test(tc, test_stats_empty_table);
	tcase_add_test(tc, test_stats_large_numbers);
	tcase_add_test(tc, test_stats_fits_a_message);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
