/* test_recover.c - opening a store whose server died (kv_recover.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_file.h"
#include "kv_index.h"
#include "kv_recover.h"

#define SLAB (1u << 20)

struct store {
	uint8_t *mem;
	struct kv_geometry g;
	struct kv_alloc a;
};

static void store_new(struct store *s)
{
	char err[160];

	s->mem = calloc(1, SLAB);
	ck_assert_ptr_nonnull(s->mem);
	ck_assert_int_eq(kv_geometry_layout(SLAB, 4096, 16, 4096, 0x5eed, &s->g, err,
					    sizeof(err)), 0);
	ck_assert_int_eq(kv_alloc_init(&s->a, kv_data_granules(&s->g)), 0);
}

static void store_free(struct store *s)
{
	kv_alloc_free(&s->a);
	free(s->mem);
}

/* Write a block of @key/@val at granule @gran with @head (a state of its
 * word) and @prev; put its word in index word @idx unless @idx is -1.
 * Returns the word. */
static uint64_t put_block(struct store *s, int64_t idx, uint64_t gran, const char *key,
			  const char *val, uint16_t flags, int state, uint64_t prev)
{
	size_t klen = strlen(key), vlen = strlen(val);
	uint64_t n = kv_block_granules(klen, vlen);
	uint64_t w = kv_word_block(0x123, (unsigned)gran & 0x7f, kv_len_code(n), gran);
	uint64_t head = state == 0 ? kv_head_uncommitted(w) : state == 2 ? kv_head_retired(w) : w;

	kv_block_encode(s->mem + kv_block_off(&s->g, w), w, head, prev, flags, s->g.hash_seed,
			key, klen, val, vlen);
	if (idx >= 0)
		memcpy(s->mem + kv_word_off(&s->g, (uint64_t)idx), &w, 8);
	return w;
}

static uint64_t word(const struct store *s, uint64_t idx)
{
	uint64_t w;

	memcpy(&w, s->mem + kv_word_off(&s->g, idx), 8);
	return w;
}

static uint64_t head_of(const struct store *s, uint64_t w)
{
	return kv_ld64le(s->mem + kv_block_off(&s->g, w));
}

START_TEST(test_recover_all_cases)
{
	struct store s;
	struct kv_recover_report r;
	uint64_t claim = kv_word_claim(0x123, 7), bad = 3ull << 62 | 42;
	uint64_t w1, w2a, w2b, w3, w4, w5, used;

	store_new(&s);
	memcpy(s.mem + kv_word_off(&s.g, 0), &claim, 8);                   /* a claim */
	w1 = put_block(&s, 1, 0, "k1", "one", 0, 1, 0);                      /* committed */
	w2a = put_block(&s, -1, 10, "k2", "old", 0, 1, 0);                   /* its prev */
	w2b = put_block(&s, 2, 20, "k2", "new", 0, 0, w2a);                  /* uncommitted */
	w3 = put_block(&s, 3, 30, "k3", "", KV_BLOCK_TOMBSTONE, 1, 0);       /* a DEL */
	memcpy(s.mem + kv_word_off(&s.g, 4), &bad, 8);                       /* garbage */
	w4 = put_block(&s, 5, 40, "k4", "torn", 0, 1, 0);                    /* torn */
	s.mem[kv_block_off(&s.g, w4) + KV_BLOCK_HDR + 3] ^= 1;
	w5 = put_block(&s, 6, 50, "k5", "five", 0, 1, 0);                    /* live */

	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.claims_cleared, 1);
	ck_assert_uint_eq(word(&s, 0), 0);
	ck_assert_uint_eq(r.items, 3); /* k1, k2 (new), k5 */
	ck_assert_uint_eq(word(&s, 1), w1);
	ck_assert_uint_eq(head_of(&s, w1), w1);
	/* The dead writer's PUT took effect: old retired, new committed. */
	ck_assert_uint_eq(r.writes_finished, 1);
	ck_assert_uint_eq(head_of(&s, w2a), kv_head_retired(w2a));
	ck_assert_uint_eq(head_of(&s, w2b), w2b);
	ck_assert_uint_eq(word(&s, 2), w2b);
	/* The DEL's word goes, and so does its space. */
	ck_assert_uint_eq(r.tombs_cleared, 1);
	ck_assert_uint_eq(word(&s, 3), 0);
	ck_assert(kv_alloc_is_free(&s.a, &(struct kv_extent){kv_word_gran(w3),
							    kv_block_granules(2, 0)}));
	/* Garbage is counted and left; a torn block keeps its word and space. */
	ck_assert_uint_eq(r.bad_words, 1);
	ck_assert_uint_eq(word(&s, 4), bad);
	ck_assert_uint_eq(r.bad_blocks, 1);
	ck_assert_uint_eq(word(&s, 5), w4);
	ck_assert(!kv_alloc_is_free(&s.a, &(struct kv_extent){40, 1}));
	ck_assert_uint_eq(r.overlaps, 0);
	/* Exactly the named blocks are used: the old k2 block is free again. */
	ck_assert(kv_alloc_is_free(&s.a, &(struct kv_extent){10, kv_block_granules(2, 3)}));
	used = kv_block_granules(2, 3) * 2 + kv_len_decode(kv_word_lcode(w4)) +
	       kv_block_granules(2, 4);
	ck_assert_uint_eq(s.a.st.free, kv_data_granules(&s.g) - used);
	ck_assert_uint_eq(s.a.st.held, 0);
	ck_assert_uint_eq(word(&s, 6), w5);
	store_free(&s);
}
END_TEST

/* Two words naming the same space: garbage, counted, both kept. */
START_TEST(test_recover_overlap)
{
	struct store s;
	struct kv_recover_report r;
	uint64_t w;

	store_new(&s);
	w = put_block(&s, 0, 5, "ka", "x", 0, 1, 0);
	memcpy(s.mem + kv_word_off(&s.g, 9), &w, 8);
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.items, 2);
	ck_assert_uint_eq(r.overlaps, 1);
	ck_assert_uint_eq(s.a.st.free, kv_data_granules(&s.g) - kv_block_granules(2, 1));
	store_free(&s);
}
END_TEST

/* An empty store recovers to an empty store; running it twice changes
 * nothing the second time. */
START_TEST(test_recover_idempotent)
{
	struct store s;
	struct kv_recover_report r;
	uint8_t *copy = malloc(SLAB);

	ck_assert_ptr_nonnull(copy);
	store_new(&s);
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(s.a.st.free, kv_data_granules(&s.g));
	put_block(&s, 0, 0, "k1", "one", 0, 1, 0);
	put_block(&s, 1, 8, "k2", "two", 0, 0, 0);
	kv_alloc_free(&s.a);
	ck_assert_int_eq(kv_alloc_init(&s.a, kv_data_granules(&s.g)), 0);
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.writes_finished, 1);
	memcpy(copy, s.mem, SLAB);
	kv_alloc_free(&s.a);
	ck_assert_int_eq(kv_alloc_init(&s.a, kv_data_granules(&s.g)), 0);
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.writes_finished, 0);
	ck_assert_uint_eq(r.items, 2);
	ck_assert_mem_eq(copy, s.mem, SLAB);
	free(copy);
	store_free(&s);
}
END_TEST

/* The store file's header: a round trip, and every way a file is refused. */
START_TEST(test_file_header)
{
	struct store s;
	struct kv_file_header h = {.clean = 1, .generation = 7, .slab_len = SLAB}, d;
	uint8_t buf[KV_FILE_HDR], copy[KV_FILE_HDR];
	char err[160];

	store_new(&s);
	h.geo = s.g;
	kv_file_header_encode(buf, &h);
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), KV_FILE_HDR + SLAB, &d, err,
					       sizeof(err)), 0);
	ck_assert_uint_eq(d.clean, 1);
	ck_assert_uint_eq(d.generation, 7);
	ck_assert_uint_eq(d.slab_len, SLAB);
	ck_assert_mem_eq(&d.geo, &s.g, sizeof(s.g));
	/* A longer file is fine (the header says how much is the store). */
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), KV_FILE_HDR + SLAB + 1, &d,
					       err, sizeof(err)), 0);
	/* Truncated. */
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), KV_FILE_HDR + SLAB - 1, &d,
					       err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	ck_assert_int_eq(kv_file_header_decode(buf, 100, 100, &d, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too short"));
	/* Any byte changed anywhere in the page: refused. */
	for (size_t i = 0; i < KV_FILE_HDR; i += 61) {
		memcpy(copy, buf, sizeof(buf));
		copy[i] ^= 0x20;
		ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), KV_FILE_HDR + SLAB, &d,
						       err, sizeof(err)), -EINVAL);
	}
	memcpy(copy, buf, sizeof(buf));
	copy[0] = 'X';
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), KV_FILE_HDR + SLAB, &d, err,
					       sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a store"));
	/* Another layout, even with a right checksum. */
	kv_st32le(copy, 0);
	memcpy(copy, buf, sizeof(buf));
	kv_st32le(copy + 8, KV_FILE_LAYOUT + 1);
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), KV_FILE_HDR + SLAB, &d, err,
					       sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "layout"));
	/* A geometry that does not fit its slab, with a right checksum. */
	h.slab_len = SLAB / 2;
	kv_file_header_encode(copy, &h);
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), KV_FILE_HDR + SLAB, &d, err,
					       sizeof(err)), -EINVAL);
	store_free(&s);
}
END_TEST

static Suite *recover_suite(void)
{
	Suite *s = suite_create("recover");
	TCase *tc = tcase_create("recover");

	tcase_add_test(tc, test_recover_all_cases);
	tcase_add_test(tc, test_recover_overlap);
	tcase_add_test(tc, test_recover_idempotent);
	tcase_add_test(tc, test_file_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(recover_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
