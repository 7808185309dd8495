/*
 * test_index.c - the slab's index (kv_index.h): length codes, index words,
 * layout, hashing, blocks, probing and the census; and the server's sweep
 * (kv_sweep.h) over a slab held in local memory: claims, leases and fencing,
 * client ids, grants of data space, and reclamation of what is not named.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_index.h"
#include "kv_sweep.h"

#define SLAB_64M (64ull << 20)
#define SMALL_SLAB (512ull << 10)
#define SMALL_INDEX (8u << 10) /* 128 buckets, 1024 words */
#define SEED 0x5eed5eed12345678ull
#define MS 1000000ull
#define LEASE_NS (1000 * MS)

/* ------------------------------------------------------------------ helpers */

/* A small slab, held in local memory, standing in for the server's: keys up
 * to 16 bytes, values up to 64. */
struct slab {
	uint8_t *mem;
	uint64_t len;
	struct kv_geometry g;
};

static struct slab slab_new(void)
{
	struct slab s = {.len = SMALL_SLAB};
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(s.len, SMALL_INDEX, 16, 64, SEED, &s.g, err,
					    sizeof(err)), 0);
	s.mem = calloc(1, s.len);
	ck_assert_ptr_nonnull(s.mem);
	return s;
}

static uint64_t *word_at(struct slab *s, uint64_t idx)
{
	return (uint64_t *)(void *)(s->mem + kv_word_off(&s->g, idx));
}

static uint16_t fp_of(const struct kv_geometry *g, const char *key)
{
	struct kv_keyhash kh;

	kv_key_hash(g, key, strlen(key), &kh);
	return kh.fp;
}

/* A geometry for checking blocks: a data region of 1 MiB, limits 16 / 64. */
static struct kv_geometry block_geo(void)
{
	struct kv_geometry g;
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(2ull << 20, 64u << 10, 16, 64, SEED, &g, err,
					    sizeof(err)), 0);
	return g;
}

/* The word for a block of @klen + @vlen at granule @gran. */
static uint64_t block_word(uint16_t fp, unsigned tag, size_t klen, size_t vlen, uint64_t gran)
{
	return kv_word_block(fp, tag, kv_len_code(kv_block_granules(klen, vlen)), gran);
}

/* A block in a heap buffer of exactly its padded length (ASan sees overreads). */
static uint8_t *block_new(uint64_t w, const char *key, const char *val, size_t *len)
{
	size_t klen = strlen(key), vlen = strlen(val);
	size_t n = (size_t)kv_block_granules(klen, vlen) * KV_GRANULE;
	uint8_t *b = malloc(n);

	ck_assert_ptr_nonnull(b);
	memset(b, 0xcc, n);
	ck_assert_uint_eq(kv_block_encode(b, w, w, 0, 0, SEED, key, klen, val, vlen), n);
	*len = n;
	return b;
}

/* ------------------------------------------------------------ length codes */

static void assert_code_covers(uint64_t n)
{
	unsigned c = kv_len_code(n);
	uint64_t d = kv_len_decode(c);

	ck_assert_msg(c <= 0x3ff, "code %u of %llu has more than 10 bits", c,
		      (unsigned long long)n);
	ck_assert_msg(d >= n, "code %u of %llu decodes to %llu, short", c,
		      (unsigned long long)n, (unsigned long long)d);
	ck_assert_msg(d <= n + n / 32 + 1, "code %u of %llu decodes to %llu, too long", c,
		      (unsigned long long)n, (unsigned long long)d);
}

START_TEST(test_len_code_small)
{
	unsigned prev = 0;

	ck_assert_uint_eq(kv_len_code(0), 0);
	ck_assert_uint_eq(kv_len_decode(0), 0);
	for (uint64_t n = 0; n <= 100000; n++) {
		unsigned c = kv_len_code(n);

		assert_code_covers(n);
		ck_assert_msg(c >= prev, "code of %llu (%u) below that of %llu (%u)",
			      (unsigned long long)n, c, (unsigned long long)n - 1, prev);
		prev = c;
	}
	for (uint64_t n = 0; n < 32; n++) /* exact below 32 granules */
		ck_assert_uint_eq(kv_len_decode(kv_len_code(n)), n);
}
END_TEST

START_TEST(test_len_code_big)
{
	const uint64_t top = (uint64_t)KV_VALUE_LIMIT / KV_GRANULE;
	const uint64_t biggest = kv_block_granules(KV_KEY_LIMIT, KV_VALUE_LIMIT);
	uint64_t rng = 42, prev_n = 100000;
	unsigned prev = kv_len_code(prev_n);

	/* Climbing by irregular steps up to the largest block there is. */
	for (uint64_t n = 100001; n <= biggest + 64; n += 1 + n / 997) {
		unsigned c = kv_len_code(n);

		assert_code_covers(n);
		ck_assert_msg(c >= prev, "code of %llu below that of %llu",
			      (unsigned long long)n, (unsigned long long)prev_n);
		prev = c;
		prev_n = n;
	}
	for (int i = 0; i < 100000; i++)
		assert_code_covers(kv_rand_next(&rng) % (top + 1));
	/* Around every power of two, and the edges of the range. */
	for (unsigned e = 0; e <= 22; e++) {
		uint64_t p = 1ull << e;

		assert_code_covers(p - 1);
		assert_code_covers(p);
		assert_code_covers(p + 1);
	}
	assert_code_covers(top);
	assert_code_covers(biggest);
	ck_assert_uint_ge(kv_len_decode(kv_len_code(biggest)), biggest);
	/* Decoding is monotonic in the code, over every code. */
	for (unsigned c = 1; c < 0x400; c++)
		ck_assert_uint_ge(kv_len_decode(c), kv_len_decode(c - 1));
}
END_TEST

/* -------------------------------------------------------------- index words */

START_TEST(test_word_block_fields)
{
	static const struct {
		uint16_t fp;
		unsigned tag, lcode;
		uint64_t gran;
	} cases[] = {
		{0, 0, 0, 0},
		{0xfff, 0x3f, 0x3ff, (1ull << KV_GRAN_BITS) - 1},
		{0xfff, 0, 0, 0},
		{0, 0x3f, 0, 0},
		{0, 0, 0x3ff, 0},
		{0, 0, 0, (1ull << KV_GRAN_BITS) - 1},
		{0x123, 0x25, 0x2a7, 0x1deadbeefull},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t w = kv_word_block(cases[i].fp, cases[i].tag, cases[i].lcode,
					   cases[i].gran);

		ck_assert_int_eq(kv_word_kind(w), KV_WORD_BLOCK);
		ck_assert_uint_eq(kv_word_fp(w), cases[i].fp);
		ck_assert_uint_eq(kv_word_tag(w), cases[i].tag);
		ck_assert_uint_eq(kv_word_lcode(w), cases[i].lcode);
		ck_assert_uint_eq(kv_word_gran(w), cases[i].gran);
		ck_assert_uint_eq(w >> 62, 1);
		ck_assert(!kv_word_pending(w)); /* a word is made settled */
		ck_assert_uint_eq(kv_word_settled(w | KV_WORD_PENDING), w);
		ck_assert_uint_eq(kv_word_tag(w | KV_WORD_PENDING), cases[i].tag);
		ck_assert_uint_eq(kv_word_fp(w | KV_WORD_PENDING), cases[i].fp);
		ck_assert_uint_eq(kv_head_uncommitted(w | KV_WORD_PENDING), w & ~KV_HEAD_STATE);
		ck_assert_uint_eq(kv_head_retired(w | KV_WORD_PENDING), w | KV_HEAD_RETIRED);
	}
	/* Out-of-range arguments are cut to their fields, not spilled over
	 * (the tag, 6 bits, not into the pending bit). */
	{
		uint64_t w = kv_word_block(0xffff, 0xff, 0xfff, ~0ull);

		ck_assert_int_eq(kv_word_kind(w), KV_WORD_BLOCK);
		ck_assert_uint_eq(kv_word_fp(w), 0xfff);
		ck_assert_uint_eq(kv_word_tag(w), 0x3f);
		ck_assert(!kv_word_pending(w));
		ck_assert_uint_eq(kv_word_lcode(w), 0x3ff);
		ck_assert_uint_eq(kv_word_gran(w), (1ull << KV_GRAN_BITS) - 1);
	}
}
END_TEST

START_TEST(test_word_claim_fields)
{
	uint64_t w = kv_word_claim(0xabc, 0xfffe);

	ck_assert_int_eq(kv_word_kind(w), KV_WORD_CLAIM);
	ck_assert_uint_eq(kv_word_fp(w), 0xabc);
	ck_assert_uint_eq(kv_word_owner(w), 0xfffe);
	ck_assert_uint_eq(w >> 62, 2);
	w = kv_word_claim(0xffff, 1);
	ck_assert_uint_eq(kv_word_fp(w), 0xfff);
	ck_assert_uint_eq(kv_word_owner(w), 1);
	w = kv_word_claim(0, 0);
	ck_assert_int_eq(kv_word_kind(w), KV_WORD_CLAIM); /* never 0: never empty */
	ck_assert_uint_ne(w, 0);
}
END_TEST

START_TEST(test_word_kinds)
{
	uint64_t rng = 7;

	ck_assert_int_eq(kv_word_kind(0), KV_WORD_EMPTY);
	/* Kind 0 with anything set is no word anybody writes. */
	ck_assert_int_eq(kv_word_kind(1), KV_WORD_BAD);
	ck_assert_int_eq(kv_word_kind(1ull << 61), KV_WORD_BAD);
	ck_assert_int_eq(kv_word_kind((1ull << 62) - 1), KV_WORD_BAD);
	/* Kind 3, whatever else. */
	ck_assert_int_eq(kv_word_kind(3ull << 62), KV_WORD_BAD);
	ck_assert_int_eq(kv_word_kind(~0ull), KV_WORD_BAD);
	ck_assert_int_eq(kv_word_kind(1ull << 62), KV_WORD_BLOCK);
	ck_assert_int_eq(kv_word_kind(2ull << 62), KV_WORD_CLAIM);
	for (int i = 0; i < 10000; i++) {
		uint64_t w = kv_rand_next(&rng);
		enum kv_word_kind k = kv_word_kind(w);

		switch (w >> 62) {
		case 0: ck_assert_int_eq(k, KV_WORD_BAD); break;
		case 1: ck_assert_int_eq(k, KV_WORD_BLOCK); break;
		case 2: ck_assert_int_eq(k, KV_WORD_CLAIM); break;
		default: ck_assert_int_eq(k, KV_WORD_BAD); break;
		}
	}
}
END_TEST

/* ------------------------------------------------------------------- layout */

static void assert_layout_sane(const struct kv_geometry *g, uint64_t slab_len)
{
	char err[160];

	ck_assert_int_eq(kv_geometry_check(g, slab_len, err, sizeof(err)), 0);
	ck_assert_uint_eq(g->index_off, (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN);
	ck_assert_uint_ge(g->nbuckets, 2);
	ck_assert_uint_eq(g->data_off % 4096, 0);
	ck_assert_uint_ge(g->data_off, g->index_off + (uint64_t)g->nbuckets * KV_BUCKET_BYTES);
	ck_assert_uint_lt(g->data_off - (g->index_off + (uint64_t)g->nbuckets * KV_BUCKET_BYTES),
			  4096);
	ck_assert_uint_eq(g->data_len % KV_GRANULE, 0);
	ck_assert_uint_le(g->data_off + g->data_len, slab_len);
}

START_TEST(test_layout_default_index)
{
	struct kv_geometry g;
	char err[160] = "";
	uint64_t room = SLAB_64M - (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN;
	uint64_t index = room / KV_INDEX_DEFAULT_DEN * KV_INDEX_DEFAULT_NUM;

	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 0, KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE, SEED,
					    &g, err, sizeof(err)), 0);
	assert_layout_sane(&g, SLAB_64M);
	ck_assert_uint_eq(g.nbuckets, index / KV_BUCKET_BYTES);
	ck_assert_uint_eq(g.data_len, SLAB_64M - g.data_off); /* the rest, to the end */
	ck_assert_uint_eq(g.hash_seed, SEED);
	ck_assert_uint_eq(g.max_key, KV_KEY_LIMIT);
	ck_assert_uint_eq(g.max_value, KV_DEFAULT_MAX_VALUE);
	/* About 3/32 of the slab is index. */
	ck_assert_uint_ge((uint64_t)g.nbuckets * KV_BUCKET_BYTES * 32, room * 3 - 32 * 64);
	ck_assert_uint_le((uint64_t)g.nbuckets * KV_BUCKET_BYTES * 32, room * 3);
}
END_TEST

START_TEST(test_layout_explicit_index)
{
	struct kv_geometry g;
	char err[160] = "";

	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 1u << 20, 64, 4096, SEED, &g, err,
					    sizeof(err)), 0);
	assert_layout_sane(&g, SLAB_64M);
	ck_assert_uint_eq(g.nbuckets, (1u << 20) / KV_BUCKET_BYTES);
	ck_assert_uint_eq(g.data_off, g.index_off + (1u << 20));
	ck_assert_uint_eq(g.max_key, 64);
	ck_assert_uint_eq(g.max_value, 4096);

	/* Not a whole number of buckets: rounded down. */
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 1000, 64, 4096, SEED, &g, err,
					    sizeof(err)), 0);
	assert_layout_sane(&g, SLAB_64M);
	ck_assert_uint_eq(g.nbuckets, 1000 / KV_BUCKET_BYTES);

	/* The smallest index: two buckets. */
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 2 * KV_BUCKET_BYTES, 64, 4096, SEED, &g,
					    err, sizeof(err)), 0);
	assert_layout_sane(&g, SLAB_64M);
	ck_assert_uint_eq(g.nbuckets, 2);

	/* A slab that is mostly index. */
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 60ull << 20, 64, 4096, SEED, &g, err,
					    sizeof(err)), 0);
	assert_layout_sane(&g, SLAB_64M);

	/* A huge slab: the data region stops where granule numbers do. */
	ck_assert_int_eq(kv_geometry_layout(1ull << 40, 0, KV_KEY_LIMIT, KV_VALUE_LIMIT, SEED,
					    &g, err, sizeof(err)), 0);
	assert_layout_sane(&g, 1ull << 40);
	ck_assert_uint_eq(kv_data_granules(&g), 1ull << KV_GRAN_BITS);
}
END_TEST

START_TEST(test_layout_too_small)
{
	struct kv_geometry g;
	char err[160];
	const uint64_t scratch = (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN;

	/* Nothing but the scratch areas. */
	err[0] = '\0';
	ck_assert_int_eq(kv_geometry_layout(scratch, 0, 16, 64, SEED, &g, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(kv_geometry_layout(0, 0, 16, 64, SEED, &g, err, sizeof(err)), -EINVAL);
	/* An index of one bucket. */
	err[0] = '\0';
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, KV_BUCKET_BYTES, 16, 64, SEED, &g, err,
					    sizeof(err)), -EINVAL);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 2 * KV_BUCKET_BYTES - 1, 16, 64, SEED, &g,
					    err, sizeof(err)), -EINVAL);
	/* An index that leaves less than a page of data. */
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, SLAB_64M - scratch, 16, 64, SEED, &g, err,
					    sizeof(err)), -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, SLAB_64M, 16, 64, SEED, &g, err,
					    sizeof(err)), -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, SLAB_64M - scratch - 4096 + KV_BUCKET_BYTES,
					    16, 64, SEED, &g, err, sizeof(err)), -EINVAL);
	/* Just enough: a page of data. */
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, SLAB_64M - scratch - 4096, 16, 64, SEED,
					    &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.data_len, 4096);
}
END_TEST

START_TEST(test_layout_bad_limits)
{
	static const uint32_t bad[][2] = {
		{0, 64}, {KV_KEY_LIMIT + 1, 64}, {16, 0}, {16, KV_VALUE_LIMIT + 1},
		{UINT32_MAX, UINT32_MAX},
	};
	struct kv_geometry g;
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(kv_geometry_layout(SLAB_64M, 0, bad[i][0], bad[i][1], SEED, &g, err,
						 sizeof(err)) == -EINVAL,
			      "limits %u / %u accepted", bad[i][0], bad[i][1]);
		ck_assert_str_ne(err, "");
	}
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 0, KV_KEY_LIMIT, KV_VALUE_LIMIT, SEED, &g,
					    err, sizeof(err)), 0);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 0, 1, 1, SEED, &g, err, sizeof(err)), 0);
}
END_TEST

/* ------------------------------------------------------------------ hashing */

START_TEST(test_hash_properties)
{
	struct kv_geometry g = block_geo();
	struct kv_keyhash a, b;
	char key[32];

	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		kv_key_hash(&g, key, strlen(key), &a);
		ck_assert_uint_lt(a.b1, g.nbuckets);
		ck_assert_uint_lt(a.b2, g.nbuckets);
		ck_assert_uint_ne(a.b1, a.b2);
		ck_assert_uint_le(a.fp, 0xfff);
		ck_assert_uint_eq(a.fp, (uint16_t)(a.h2 >> 52));
		kv_key_hash(&g, key, strlen(key), &b); /* deterministic */
		ck_assert_uint_eq(a.h1, b.h1);
		ck_assert_uint_eq(a.h2, b.h2);
		ck_assert_uint_eq(a.b1, b.b1);
		ck_assert_uint_eq(a.b2, b.b2);
		ck_assert_uint_eq(a.fp, b.fp);
	}
	/* Another seed, other buckets (for almost every key). */
	{
		struct kv_geometry g2 = g;
		int same = 0;

		g2.hash_seed ^= 1;
		for (int i = 0; i < 1000; i++) {
			snprintf(key, sizeof(key), "key-%d", i);
			kv_key_hash(&g, key, strlen(key), &a);
			kv_key_hash(&g2, key, strlen(key), &b);
			same += a.b1 == b.b1 && a.b2 == b.b2 && a.fp == b.fp;
		}
		ck_assert_int_lt(same, 5);
	}
	/* Two buckets: always both. */
	g.nbuckets = 2;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		kv_key_hash(&g, key, strlen(key), &a);
		ck_assert_uint_eq(a.b1 + a.b2, 1);
	}
}
END_TEST

START_TEST(test_pair_idx)
{
	const struct kv_keyhash kh = {.b1 = 3, .b2 = 9, .fp = 0x123};

	for (unsigned i = 0; i < KV_BUCKET_WORDS; i++) {
		ck_assert_uint_eq(kv_pair_idx(&kh, i), 3 * KV_BUCKET_WORDS + i);
		ck_assert_uint_eq(kv_pair_idx(&kh, KV_BUCKET_WORDS + i), 9 * KV_BUCKET_WORDS + i);
	}
}
END_TEST

/* ------------------------------------------------------------------- blocks */

START_TEST(test_block_round_trip)
{
	struct kv_geometry g = block_geo();
	uint64_t w = block_word(0x321, 5, 5, 3, 77);
	struct kv_block_view v;
	size_t len;
	uint8_t *b = block_new(w, "alpha", "one", &len);

	ck_assert_uint_eq(len, 48); /* 32 + 5 + 3 = 40: three granules */
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	ck_assert_uint_eq(v.klen, 5);
	ck_assert_uint_eq(v.vlen, 3);
	ck_assert_mem_eq(v.key, "alpha", 5);
	ck_assert_mem_eq(v.val, "one", 3);
	ck_assert_ptr_eq(v.key, b + KV_BLOCK_HDR);
	/* The header as documented: head word, prev, lengths, flags, little-endian. */
	ck_assert_uint_eq(kv_ld64le(b), w);
	ck_assert_uint_eq(kv_ld64le(b + 8), 0);
	ck_assert_uint_eq(kv_ld32le(b + 16), 3);
	ck_assert_uint_eq(kv_ld16le(b + 20), 5);
	ck_assert_uint_eq(kv_ld16le(b + 22), 0);
	/* No key given: any valid block is OK. */
	ck_assert_int_eq(kv_block_check(b, len, w, &g, NULL, 0, &v), KV_BLOCK_OK);
	/* Another key with this fingerprint: a valid block, not ours. */
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alphb", 5, &v), KV_BLOCK_OTHER);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alph", 4, &v), KV_BLOCK_OTHER);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alphaa", 6, &v), KV_BLOCK_OTHER);
	free(b);
}
END_TEST

START_TEST(test_block_sizes_and_padding)
{
	struct kv_geometry g = block_geo();
	char key[17], val[65];

	memset(key, 'k', sizeof(key));
	memset(val, 'v', sizeof(val));
	for (size_t klen = 1; klen <= 16; klen += 5) {
		for (size_t vlen = 0; vlen <= 64; vlen++) {
			size_t n = (size_t)kv_block_granules(klen, vlen) * KV_GRANULE;
			uint64_t w = block_word(0x0f0, 1, klen, vlen, 5);
			uint8_t *b = malloc(n);
			struct kv_block_view v;

			ck_assert_ptr_nonnull(b);
			memset(b, 0xcc, n);
			ck_assert_uint_eq(kv_block_encode(b, w, w, 0, 0, SEED, key, klen, val, vlen), n);
			ck_assert_uint_ge(n, KV_BLOCK_HDR + klen + vlen);
			ck_assert_uint_lt(n, KV_BLOCK_HDR + klen + vlen + KV_GRANULE);
			for (size_t i = KV_BLOCK_HDR + klen + vlen; i < n; i++)
				ck_assert_uint_eq(b[i], 0); /* padding zeroed */
			ck_assert_int_eq(kv_block_check(b, n, w, &g, key, klen, &v), KV_BLOCK_OK);
			ck_assert_uint_eq(v.vlen, vlen);
			/* Exactly the used bytes are enough. */
			ck_assert_int_eq(kv_block_check(b, KV_BLOCK_HDR + klen + vlen, w, &g, key,
							klen, &v), KV_BLOCK_OK);
			free(b);
		}
	}
}
END_TEST

/* The check field is zeroed and restored in place: the buffer is unchanged. */
START_TEST(test_block_check_leaves_buffer)
{
	struct kv_geometry g = block_geo();
	uint64_t w = block_word(0x321, 5, 5, 3, 77);
	struct kv_block_view v;
	size_t len;
	uint8_t *b = block_new(w, "alpha", "one", &len);
	uint8_t copy[64];

	memcpy(copy, b, len);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	ck_assert_mem_eq(b, copy, len);
	b[30] ^= 1;
	copy[30] ^= 1;
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_BAD);
	ck_assert_mem_eq(b, copy, len);
	free(b);
}
END_TEST

START_TEST(test_block_wrong_word)
{
	struct kv_geometry g = block_geo();
	uint64_t w = block_word(0x321, 5, 5, 3, 77);
	struct kv_block_view v;
	size_t len;
	uint8_t *b = block_new(w, "alpha", "one", &len);

	/* A word that moved on: another tag, place, length or fingerprint. */
	ck_assert_int_eq(kv_block_check(b, len, block_word(0x321, 6, 5, 3, 77), &g, "alpha", 5,
					&v), KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, len, block_word(0x321, 5, 5, 3, 78), &g, "alpha", 5,
					&v), KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, len, block_word(0x322, 5, 5, 3, 77), &g, "alpha", 5,
					&v), KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, len, kv_word_block(0x321, 5, 2, 77), &g, "alpha", 5,
					&v), KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, len, kv_word_claim(0x321, 5), &g, "alpha", 5, &v),
			 KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, len, 0, &g, "alpha", 5, &v), KV_BLOCK_BAD);
	free(b);

	/* A block whose own head is a claim word is no block, even checked
	 * against that word. */
	{
		uint64_t c = kv_word_claim(0x321, 5);

		b = block_new(c, "alpha", "one", &len);
		ck_assert_int_eq(kv_block_check(b, len, c, &g, "alpha", 5, &v), KV_BLOCK_BAD);
		free(b);
	}
}
END_TEST

START_TEST(test_block_flipped_bytes)
{
	struct kv_geometry g = block_geo();
	char key[17] = "0123456789abcdef", val[65];
	uint64_t w = block_word(0xabc, 99, 16, 64, 1000);
	size_t n = (size_t)kv_block_granules(16, 64) * KV_GRANULE;
	size_t used = KV_BLOCK_HDR + 16 + 64;
	uint8_t *b = malloc(n);
	struct kv_block_view v;

	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < 64; i++)
		val[i] = (char)(i * 7);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 16, val, 64);
	ck_assert_int_eq(kv_block_check(b, n, w, &g, key, 16, &v), KV_BLOCK_OK);
	for (size_t pos = 0; pos < used; pos++) {
		if (pos >= 8 && pos < 16)
			continue; /* prev: not summed (see test_block_state_and_prev) */
		for (int bit = 0; bit < 8; bit++) {
			if (pos == 7 && bit >= 6)
				continue; /* the state bits */
			b[pos] ^= (uint8_t)(1u << bit);
			ck_assert_msg(kv_block_check(b, n, w, &g, key, 16, &v) == KV_BLOCK_BAD,
				      "byte %zu bit %d flipped, not seen", pos, bit);
			ck_assert_msg(kv_block_check(b, n, w, &g, NULL, 0, &v) == KV_BLOCK_BAD,
				      "byte %zu bit %d flipped, not seen (no key)", pos, bit);
			b[pos] ^= (uint8_t)(1u << bit);
		}
		if (pos == 7)
			continue;
		/* A whole byte replaced. */
		b[pos] ^= 0xff;
		ck_assert_int_eq(kv_block_check(b, n, w, &g, key, 16, &v), KV_BLOCK_BAD);
		b[pos] ^= 0xff;
	}
	ck_assert_int_eq(kv_block_check(b, n, w, &g, key, 16, &v), KV_BLOCK_OK);
	free(b);
}
END_TEST

/* The state bits and prev change without the checksum: the view says so. */
START_TEST(test_block_state_and_prev)
{
	struct kv_geometry g = block_geo();
	uint64_t w = block_word(0x321, 5, 5, 3, 77), p = block_word(0x321, 9, 5, 3, 10);
	struct kv_block_view v;
	size_t len;
	uint8_t *b = block_new(w, "alpha", "one", &len);

	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	ck_assert(kv_view_committed(&v) && !kv_view_retired(&v) && !kv_view_tomb(&v));
	kv_block_set_head(b, kv_head_uncommitted(w), p);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	ck_assert(!kv_view_committed(&v));
	ck_assert_uint_eq(v.prev, p);
	ck_assert_uint_eq(v.head, kv_head_uncommitted(w));
	kv_block_set_head(b, kv_head_retired(w), p);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	ck_assert(kv_view_committed(&v) && kv_view_retired(&v));
	/* Retired but never committed is no state a block can be in. */
	kv_block_set_head(b, kv_head_uncommitted(w) | KV_HEAD_RETIRED, p);
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_BAD);
	/* A prev that is no block word is garbage. */
	kv_block_set_head(b, w, kv_word_claim(1, 2));
	ck_assert_int_eq(kv_block_check(b, len, w, &g, "alpha", 5, &v), KV_BLOCK_BAD);
	free(b);
	/* A tombstone: flag set, no value; a "tombstone" with a value is garbage. */
	{
		uint8_t t[64];

		kv_block_encode(t, w, w, 0, KV_BLOCK_TOMBSTONE, SEED, "alpha", 5, NULL, 0);
		ck_assert_int_eq(kv_block_check(t, 48, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
		ck_assert(kv_view_tomb(&v));
		kv_block_encode(t, w, w, 0, KV_BLOCK_TOMBSTONE, SEED, "alpha", 5, "x", 1);
		ck_assert_int_eq(kv_block_check(t, 48, w, &g, "alpha", 5, &v), KV_BLOCK_BAD);
	}
}
END_TEST

START_TEST(test_block_truncated)
{
	struct kv_geometry g = block_geo();
	uint64_t w = block_word(0x321, 5, 5, 40, 77);
	size_t len, used = KV_BLOCK_HDR + 5 + 40;
	struct kv_block_view v;
	uint8_t *b = block_new(w, "alpha", "0123456789012345678901234567890123456789", &len);

	for (size_t n = 0; n < used; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: no overread */

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b, n);
		ck_assert_msg(kv_block_check(copy, n, w, &g, "alpha", 5, &v) == KV_BLOCK_BAD,
			      "a %zu-byte prefix accepted", n);
		free(copy);
	}
	ck_assert_int_eq(kv_block_check(b, used, w, &g, "alpha", 5, &v), KV_BLOCK_OK);
	free(b);
}
END_TEST

/* Lengths the geometry does not allow, or the word does not cover. */
START_TEST(test_block_bad_lengths)
{
	struct kv_geometry g = block_geo(); /* keys up to 16, values up to 64 */
	char key[32], val[80];
	struct kv_block_view v;
	uint8_t b[256];
	uint64_t w;

	memset(key, 'k', sizeof(key));
	memset(val, 'v', sizeof(val));
	/* Longest allowed: fine. */
	w = block_word(1, 1, 16, 64, 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 16, val, 64);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 16, &v), KV_BLOCK_OK);
	/* A key too long. */
	w = block_word(1, 1, 17, 0, 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 17, val, 0);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 17, &v), KV_BLOCK_BAD);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, NULL, 0, &v), KV_BLOCK_BAD);
	/* A value too long. */
	w = block_word(1, 1, 4, 65, 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 4, val, 65);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 4, &v), KV_BLOCK_BAD);
	/* An empty key. */
	w = block_word(1, 1, 0, 4, 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 0, val, 4);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, NULL, 0, &v), KV_BLOCK_BAD);
	/* A block longer than its word says. */
	w = kv_word_block(1, 1, kv_len_code(kv_block_granules(4, 64) - 1), 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 4, val, 64);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 4, &v), KV_BLOCK_BAD);
	/* Flags that are not 0 (a valid checksum over them). */
	w = block_word(1, 1, 4, 4, 0);
	kv_block_encode(b, w, w, 0, 0, SEED, key, 4, val, 4);
	b[14] = 1;
	kv_st64le(b + 16, 0);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 4, &v), KV_BLOCK_BAD);
	/* Another seed: another store's block. */
	kv_block_encode(b, w, w, 0, 0, SEED ^ 1, key, 4, val, 4);
	ck_assert_int_eq(kv_block_check(b, sizeof(b), w, &g, key, 4, &v), KV_BLOCK_BAD);
}
END_TEST

/* Random bytes are never a block, whether the head matches or not. */
START_TEST(test_block_random_garbage)
{
	struct kv_geometry g = block_geo();
	uint64_t rng = 0x1234567;
	uint8_t b[256];
	struct kv_block_view v;

	for (int i = 0; i < 200000; i++) {
		uint64_t w = kv_word_block((uint16_t)kv_rand_next(&rng), (unsigned)kv_rand_next(&rng),
					   (unsigned)(kv_rand_next(&rng) % 16),
					   kv_rand_next(&rng) % 1000);
		size_t len = (size_t)(kv_rand_next(&rng) % sizeof(b)) + 1;

		for (size_t j = 0; j < sizeof(b); j += 8) {
			uint64_t r = kv_rand_next(&rng);

			memcpy(b + j, &r, 8);
		}
		switch (i % 4) {
		case 0: /* pure garbage */
			break;
		case 1: /* the right head */
			kv_st64le(b, w);
			break;
		case 2: /* the right head, plausible lengths and flags */
			kv_st64le(b, w);
			kv_st32le(b + 16, (uint32_t)(kv_rand_next(&rng) % 65));
			kv_st16le(b + 20, (uint16_t)(kv_rand_next(&rng) % 16 + 1));
			kv_st16le(b + 22, 0);
			break;
		case 3: /* ... and a word long enough for them */
			kv_st64le(b, 0);
			kv_st32le(b + 16, (uint32_t)(kv_rand_next(&rng) % 65));
			kv_st16le(b + 20, (uint16_t)(kv_rand_next(&rng) % 16 + 1));
			kv_st16le(b + 22, 0);
			w = kv_word_block(0x55, 3, kv_len_code(16), 0);
			kv_st64le(b, w);
			len = sizeof(b);
			break;
		}
		ck_assert_msg(kv_block_check(b, len, w, &g, NULL, 0, &v) == KV_BLOCK_BAD,
			      "garbage #%d accepted", i);
	}
}
END_TEST

START_TEST(test_block_read_len)
{
	struct kv_geometry g = block_geo();
	uint64_t ng = kv_data_granules(&g);

	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, 0)), 160);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, kv_len_code(100), 5)),
			  kv_len_decode(kv_len_code(100)) * KV_GRANULE);
	/* Cut at the end of the data region. */
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, ng - 3)), 3 * KV_GRANULE);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, ng - 10)), 160);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 0x3ff, 0)), g.data_len);
	/* Outside it, or of no length: nothing to read. */
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, ng)), 0);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, ng + 5)), 0);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 10, (1ull << KV_GRAN_BITS) - 1)),
			  0);
	ck_assert_uint_eq(kv_block_read_len(&g, kv_word_block(1, 1, 0, 0)), 0);
	/* Where a block is. */
	ck_assert_uint_eq(kv_block_off(&g, kv_word_block(1, 1, 10, 7)),
			  g.data_off + 7 * KV_GRANULE);
}
END_TEST

/* ------------------------------------------------------------------ probing */

static const struct kv_keyhash probe_kh = {.b1 = 3, .b2 = 9, .fp = 0x123};

START_TEST(test_probe_blocks)
{
	uint64_t words[2 * KV_BUCKET_WORDS] = {0};
	unsigned out[2 * KV_BUCKET_WORDS];

	ck_assert_uint_eq(kv_probe_blocks(&probe_kh, words, out), 0);
	words[2] = kv_word_block(0x123, 1, 2, 3);
	words[10] = kv_word_block(0x123, 9, 9, 9);
	words[3] = kv_word_block(0x124, 1, 2, 3);  /* another fingerprint */
	words[4] = kv_word_claim(0x123, 5);        /* a claim, not a block */
	words[5] = 0x123ull << 50;                 /* kind 0 with the fp: bad */
	words[15] = (3ull << 62) | (0x123ull << 50); /* kind 3 */
	ck_assert_uint_eq(kv_probe_blocks(&probe_kh, words, out), 2);
	ck_assert_uint_eq(out[0], 2);
	ck_assert_uint_eq(out[1], 10);
	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++)
		words[i] = kv_word_block(0x123, i, 1, i);
	ck_assert_uint_eq(kv_probe_blocks(&probe_kh, words, out), 2 * KV_BUCKET_WORDS);
	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++)
		ck_assert_uint_eq(out[i], i);
}
END_TEST

START_TEST(test_probe_claims)
{
	uint64_t words[2 * KV_BUCKET_WORDS] = {0};
	uint16_t lowest = 0;

	ck_assert_uint_eq(kv_probe_claims(&probe_kh, words, 9, 16, &lowest), 0);
	ck_assert_uint_eq(lowest, UINT16_MAX);
	words[1] = kv_word_claim(0x123, 7);
	words[12] = kv_word_claim(0x123, 5);
	words[6] = kv_word_claim(0x123, 9);   /* mine */
	words[7] = kv_word_claim(0x124, 2);   /* another fingerprint */
	words[8] = kv_word_block(0x123, 1, 1, 2);
	ck_assert_uint_eq(kv_probe_claims(&probe_kh, words, 9, 16, &lowest), 2);
	ck_assert_uint_eq(lowest, 5);
	ck_assert_uint_eq(kv_probe_claims(&probe_kh, words, 9, 12, &lowest), 1); /* skip 12 */
	ck_assert_uint_eq(lowest, 7);
	ck_assert_uint_eq(kv_probe_claims(&probe_kh, words, 7, 16, &lowest), 2);
	ck_assert_uint_eq(lowest, 5);
	ck_assert_uint_eq(kv_probe_claims(&probe_kh, words, 5, 1, &lowest), 1);
	ck_assert_uint_eq(lowest, 9);
}
END_TEST

START_TEST(test_probe_empty)
{
	uint64_t words[2 * KV_BUCKET_WORDS] = {0};

	ck_assert_int_eq(kv_probe_empty(words), 0); /* a tie: b1 */
	/* b1: 2 empty, b2: 5 empty: the emptier b2. */
	for (unsigned i = 0; i < 6; i++)
		words[i] = kv_word_block(1, 1, 1, i);
	for (unsigned i = 8; i < 11; i++)
		words[i] = kv_word_claim(1, 1);
	ck_assert_int_eq(kv_probe_empty(words), 11);
	/* 2 and 2: a tie again, b1's first empty word. */
	words[11] = words[12] = words[13] = 1; /* bad words are not empty */
	ck_assert_int_eq(kv_probe_empty(words), 6);
	/* b1 full, one empty in b2. */
	words[6] = words[7] = kv_word_block(1, 1, 1, 1);
	words[14] = 2;
	ck_assert_int_eq(kv_probe_empty(words), 15);
	/* Only b1 has room. */
	words[15] = 3ull << 62;
	words[7] = 0;
	ck_assert_int_eq(kv_probe_empty(words), 7);
	/* Full. */
	words[7] = kv_word_claim(3, 3);
	ck_assert_int_eq(kv_probe_empty(words), -ENOSPC);
}
END_TEST

/* ------------------------------------------------------------------- census */

START_TEST(test_census_mixed)
{
	struct slab s = slab_new();
	struct kv_index_census c;
	uint64_t n = kv_nwords(&s.g);

	kv_index_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.items, 0);
	ck_assert_uint_eq(c.claims, 0);
	ck_assert_uint_eq(c.bad, 0);
	ck_assert_uint_eq(n, SMALL_INDEX / 8);
	for (uint64_t i = 0; i < 5; i++)
		*word_at(&s, i * 100) = kv_word_block((uint16_t)i, 1, 1, i);
	for (uint64_t i = 0; i < 3; i++)
		*word_at(&s, i * 100 + 1) = kv_word_claim((uint16_t)i, (uint16_t)(i + 1));
	*word_at(&s, 2) = 7;              /* kind 0, not empty */
	*word_at(&s, n - 1) = ~0ull;      /* kind 3: the last word counts too */
	*word_at(&s, n - 2) = kv_word_block(1, 1, 1, 1);
	/* Whatever lies outside the index is not counted. */
	memset(s.mem, 0xff, s.g.index_off);
	memset(s.mem + s.g.data_off, 0x55, s.g.data_len);
	kv_index_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.items, 6);
	ck_assert_uint_eq(c.claims, 3);
	ck_assert_uint_eq(c.bad, 2);
	free(s.mem);
}
END_TEST

/* -------------------------------------------------------------------- sweep */

/* What the fence callback saw: how often, whom, and the word it left. */
struct fence_log {
	struct slab *s;
	uint64_t idx;
	unsigned calls;
	uint16_t owner;
	enum kv_fence_why why;
	uint64_t word_at_fence;
};

static void record_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	struct fence_log *f = ctx;

	f->calls++;
	f->owner = owner;
	f->why = why;
	f->word_at_fence = *word_at(f->s, f->idx);
}

/* Finish the pass under way (or make a whole one) at time @now; returns the
 * claims released. */
static unsigned full_pass(struct kv_sweep *sw, uint64_t now)
{
	uint64_t passes = sw->passes;
	unsigned released = 0;

	do
		released += kv_sweep_step(sw, 1u << 20, now);
	while (sw->passes == passes);
	return released;
}

/* A claim naming an id nobody has (garbage, or a previous run's client) is
 * released in the first pass, without fencing anyone. */
START_TEST(test_sweep_releases_unknown_owner)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	struct kv_sweep sw;

	*word_at(&s, 10) = kv_word_claim(fp_of(&s.g, "alpha"), 9);
	*word_at(&s, 11) = kv_word_block(fp_of(&s.g, "beta"), 1, 2, 0);
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	ck_assert_uint_eq(full_pass(&sw, 1), 1);
	ck_assert_uint_eq(*word_at(&s, 10), 0);
	ck_assert_uint_eq(*word_at(&s, 11), kv_word_block(fp_of(&s.g, "beta"), 1, 2, 0));
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(sw.last.items, 1);
	ck_assert_uint_eq(sw.last.claims, 0);
	ck_assert_uint_eq(sw.released, 1);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A live client's claim survives until it has been held, unchanged, past the
 * lease; then the holder is fenced before the claim is cleared. */
START_TEST(test_sweep_lease_fences_first)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	const uint64_t claim = kv_word_claim(fp_of(&s.g, "alpha"), 5);
	struct kv_sweep sw;

	*word_at(&s, 10) = claim;
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_uint_eq(full_pass(&sw, MS), 0);                  /* first seen */
	ck_assert_uint_eq(full_pass(&sw, MS + LEASE_NS / 2), 0);
	ck_assert_uint_eq(full_pass(&sw, MS + LEASE_NS), 0);       /* exactly the lease */
	ck_assert_uint_eq(sw.last.claims, 1);
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(full_pass(&sw, 2 * MS + LEASE_NS), 1);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(f.owner, 5);
	ck_assert_uint_eq(f.word_at_fence, claim);                 /* fenced, then cleared */
	ck_assert_uint_eq(*word_at(&s, 10), 0);
	ck_assert_uint_eq(sw.fenced, 1);
	ck_assert_uint_eq(sw.released, 1);
	ck_assert_uint_eq(sw.last.claims, 0);
	ck_assert(!kv_sweep_id_free(&sw, 5));
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A claim word that changes between passes is progress: no lease runs out. */
START_TEST(test_sweep_changing_claim_not_fenced)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	for (uint64_t i = 0; i < 10; i++) {
		*word_at(&s, 10) = kv_word_claim((uint16_t)(0x100 + i), 5);
		ck_assert_uint_eq(full_pass(&sw, 1 + i * (LEASE_NS / 2)), 0);
	}
	ck_assert_uint_eq(f.calls, 0);
	/* Gone in between and taken again with the same word: a new claim. */
	*word_at(&s, 10) = 0;
	ck_assert_uint_eq(full_pass(&sw, 6 * LEASE_NS), 0);
	*word_at(&s, 10) = kv_word_claim(0x109, 5);
	ck_assert_uint_eq(full_pass(&sw, 7 * LEASE_NS), 0);
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(*word_at(&s, 10), kv_word_claim(0x109, 5));
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* The same claim word seen all along, by a client that takes new claims
 * meanwhile, is a working client's: it keeps its lease until it stops. */
START_TEST(test_sweep_repeated_word_with_progress)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	*word_at(&s, 10) = kv_word_claim(0x0aa, 5);
	for (uint64_t i = 0; i < 10; i++) {
		*word_at(&s, 20) = kv_word_claim((uint16_t)(0x200 + i), 5); /* a new one */
		ck_assert_uint_eq(full_pass(&sw, MS + i * (LEASE_NS / 2)), 0);
	}
	ck_assert_uint_eq(f.calls, 0);
	/* Then nothing new for more than a lease: stuck. */
	ck_assert_uint_eq(full_pass(&sw, MS + 6 * LEASE_NS), 2);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(*word_at(&s, 10), 0);
	ck_assert_uint_eq(*word_at(&s, 20), 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* Every step looks again at the claims it saw: one given back and taken
 * again with the same word between two passes is a new claim. */
START_TEST(test_sweep_recheck_sees_release)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	const uint64_t claim = kv_word_claim(0x0bb, 5);
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	*word_at(&s, 10) = claim;
	ck_assert_uint_eq(full_pass(&sw, MS), 0);
	ck_assert_uint_eq(sw.ntrack, 1);
	*word_at(&s, 10) = kv_word_block(0x0bb, 1, 1, 0); /* published */
	ck_assert_uint_eq(kv_sweep_step(&sw, 0, MS + LEASE_NS / 2), 0); /* looks again only */
	ck_assert_uint_eq(sw.ntrack, 0);
	*word_at(&s, 10) = claim;
	ck_assert_uint_eq(full_pass(&sw, 2 * MS + LEASE_NS), 0);
	ck_assert_uint_eq(f.calls, 0);
	/* Held at every look since: now it is past its lease. */
	ck_assert_uint_eq(kv_sweep_step(&sw, 0, 3 * MS + 2 * LEASE_NS), 1);
	ck_assert_uint_eq(f.calls, 1);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* However many claims a stuck client holds, the lease catches it once. */
START_TEST(test_sweep_many_claims)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 3};
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	for (uint64_t i = 3; i < 8; i++)
		*word_at(&s, i * 50) = kv_word_claim((uint16_t)i, 5);
	ck_assert_uint_eq(full_pass(&sw, MS), 0);
	ck_assert_uint_eq(full_pass(&sw, MS + LEASE_NS / 2), 0);
	ck_assert_uint_eq(sw.last.claims, 5);
	ck_assert_uint_eq(full_pass(&sw, 2 * MS + LEASE_NS), 5);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(full_pass(&sw, 3 * MS + LEASE_NS), 0);
	ck_assert_uint_eq(sw.last.claims, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* Write block @w of "alpha" (head @head, prev @prev) at its place in @s. */
static void put_alpha(struct slab *s, uint64_t w, uint64_t head, uint64_t prev)
{
	uint8_t *b = s->mem + kv_block_off(&s->g, w);

	kv_block_encode(b, w, head, prev, 0, SEED, "alpha", 5, "value", 5);
}

/* A word of "alpha" for a block at the start of @ext (bytes, as granted). */
static uint64_t alpha_word(struct slab *s, const struct kv_extent *ext, unsigned tag)
{
	return kv_word_block(fp_of(&s->g, "alpha"), tag,
			     kv_len_code(kv_block_granules(5, 5)), ext->off / KV_GRANULE);
}

/*
 * A writer that published its block and stopped before its retire and
 * commit. While it holds the grant the block lies in, the sweep waits a
 * lease, keeping the replaced block's space (the writer's retire may still
 * land there); then it fences the writer and finishes the write. A block
 * whose grant is sealed is finished at once, without fencing anyone.
 */
START_TEST(test_sweep_half_write)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	struct kv_extent old_ext, new_ext;
	uint64_t largest, w_old, w_new, used_old;
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 4);
	kv_sweep_owner_live(&sw, 5);
	/* alpha's value, written by 4 in its grant, sealed. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 4, 64, &old_ext, &largest), 0);
	w_old = alpha_word(&s, &old_ext, 1);
	put_alpha(&s, w_old, w_old, 0);
	ck_assert_int_eq(kv_sweep_seal(&sw, 4, &old_ext), 0);
	/* 5 writes alpha again in its grant, swings the word, and stops. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 64, &new_ext, &largest), 0);
	w_new = alpha_word(&s, &new_ext, 2);
	put_alpha(&s, w_new, kv_head_uncommitted(w_new), w_old);
	*word_at(&s, 10) = w_new;

	full_pass(&sw, MS);
	used_old = kv_sweep_used_bytes(&sw);
	/* Of 4's sealed grant only the old block is used: it is kept. */
	ck_assert_uint_eq(used_old, kv_block_granules(5, 5) * KV_GRANULE);
	full_pass(&sw, MS + LEASE_NS / 2);
	full_pass(&sw, MS + LEASE_NS);            /* exactly the lease */
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_new)), kv_head_uncommitted(w_new));
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_old)), w_old);
	/* Unnamed for three passes, but kept: the retire is still to come. */
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw), used_old);

	kv_sweep_step(&sw, 0, 2 * MS + LEASE_NS); /* looks again only: fence, finish */
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(f.owner, 5);
	ck_assert_int_eq(f.why, KV_FENCE_WRITE);
	ck_assert_uint_eq(sw.fenced, 1);
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_old)), kv_head_retired(w_old));
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_new)), w_new);
	full_pass(&sw, 3 * MS + LEASE_NS);
	full_pass(&sw, 4 * MS + LEASE_NS);
	/* The old block's space came back; the new block (5's grant, sealed
	 * when it was fenced) is what is used now. */
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw),
			  kv_block_granules(5, 5) * KV_GRANULE);
	ck_assert_uint_eq(*word_at(&s, 10), w_new);

	/* 4 writes alpha over 5's value and stops, then seals its grant (as
	 * after a call that failed): nothing of it can land; finished at once. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 4, 64, &old_ext, &largest), 0);
	w_old = w_new;
	w_new = alpha_word(&s, &old_ext, 3);
	put_alpha(&s, w_new, kv_head_uncommitted(w_new), w_old);
	*word_at(&s, 10) = w_new;
	ck_assert_int_eq(kv_sweep_seal(&sw, 4, &old_ext), 0);
	full_pass(&sw, 5 * MS + LEASE_NS);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_old)), kv_head_retired(w_old));
	ck_assert_uint_eq(kv_ld64le(s.mem + kv_block_off(&s.g, w_new)), w_new);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A block that only a snapshot of the index names (the syncer's copies,
 * kv_sweep.keep) keeps its space; once no copy names it, it is freed. */
START_TEST(test_sweep_keeps_snapshot)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	uint64_t *copy = calloc(kv_nwords(&s.g), 8), largest, w;
	struct kv_extent ext;
	struct kv_sweep sw;

	ck_assert_ptr_nonnull(copy);
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 4);
	ck_assert_int_eq(kv_sweep_grant(&sw, 4, 64, &ext, &largest), 0);
	w = alpha_word(&s, &ext, 1);
	put_alpha(&s, w, w, 0);
	*word_at(&s, 10) = w;
	ck_assert_int_eq(kv_sweep_seal(&sw, 4, &ext), 0);
	copy[10] = w;              /* the copy saw it */
	sw.keep[1] = copy;
	*word_at(&s, 10) = 0;      /* then it went (say a DEL, its tombstone cleared) */
	for (uint64_t i = 0; i < 3; i++)
		full_pass(&sw, MS * (i + 1));
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw), kv_block_granules(5, 5) * KV_GRANULE);
	copy[10] = 0;              /* the next copy does not name it */
	full_pass(&sw, 5 * MS);
	full_pass(&sw, 6 * MS);
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw), 0);
	kv_sweep_free(&sw);
	free(copy);
	free(s.mem);
}
END_TEST

/* No lease (0): a live client's claims are never broken. */
START_TEST(test_sweep_no_lease)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 10};
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, 0, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	*word_at(&s, 10) = kv_word_claim(0x0cc, 5);
	for (uint64_t i = 0; i < 5; i++)
		ck_assert_uint_eq(full_pass(&sw, MS + i * 1000 * LEASE_NS), 0);
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(*word_at(&s, 10), kv_word_claim(0x0cc, 5));
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A client that went away: its claims go in the next pass, unfenced, and its
 * id is free only when two passes have ended since it went. */
START_TEST(test_sweep_gone_owner)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .idx = 13};
	struct kv_sweep sw;

	*word_at(&s, 13) = kv_word_claim(fp_of(&s.g, "beta"), 5);
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	ck_assert(kv_sweep_id_free(&sw, 5));
	ck_assert(!kv_sweep_id_free(&sw, 0));
	kv_sweep_owner_live(&sw, 5);
	ck_assert(!kv_sweep_id_free(&sw, 5));
	ck_assert_uint_eq(kv_sweep_step(&sw, 3, 1), 0); /* part of a pass */
	ck_assert(!kv_sweep_pending(&sw));
	kv_sweep_owner_gone(&sw, 5);
	ck_assert(kv_sweep_pending(&sw));
	ck_assert(!kv_sweep_id_free(&sw, 5));
	ck_assert_uint_eq(full_pass(&sw, 2), 1);       /* the pass under way ends */
	ck_assert_uint_eq(*word_at(&s, 13), 0);        /* the claim is gone */
	ck_assert(!kv_sweep_id_free(&sw, 5));          /* one pass: not yet */
	ck_assert_uint_eq(full_pass(&sw, 3), 0);
	ck_assert(kv_sweep_id_free(&sw, 5));           /* two */
	ck_assert(!kv_sweep_pending(&sw));
	ck_assert_uint_eq(f.calls, 0);
	/* Gone twice is gone once. */
	kv_sweep_owner_live(&sw, 5);
	kv_sweep_owner_gone(&sw, 5);
	kv_sweep_owner_gone(&sw, 5);
	ck_assert_uint_eq(sw.ngone, 1);
	ck_assert_uint_eq(sw.nlive, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* ------------------------------------------------------------ sweep: grants */

static bool overlap(const struct kv_extent *a, const struct kv_extent *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

START_TEST(test_grant_disjoint)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e[2 * KV_OWNER_GRANTS], more;
	uint64_t largest = 99, held = 0;
	unsigned n = 0;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	sw.policy.min_bytes = 1024; /* grants small enough for this little slab */
	sw.policy.max_bytes = 8192;
	kv_sweep_owner_live(&sw, 5);
	kv_sweep_owner_live(&sw, 6);
	for (unsigned i = 0; i < KV_OWNER_GRANTS; i++) {
		for (uint16_t owner = 5; owner <= 6; owner++) {
			uint64_t need = 100 + 1000 * i;

			ck_assert_int_eq(kv_sweep_grant(&sw, owner, need, &e[n], &largest), 0);
			ck_assert_uint_ge(e[n].len, need);
			ck_assert_uint_le(e[n].len, need > 8192 ? need + KV_GRANULE : 8192);
			ck_assert_uint_eq(e[n].off % KV_GRANULE, 0);
			ck_assert_uint_eq(e[n].len % KV_GRANULE, 0);
			ck_assert_uint_le(e[n].off + e[n].len, s.g.data_len);
			held += e[n].len;
			n++;
		}
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			ck_assert_msg(!overlap(&e[i], &e[j]), "grants %u and %u overlap", i, j);
	ck_assert_uint_eq(sw.alloc.st.held * KV_GRANULE, held);
	/* A fifth open grant: no. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &more, &largest), -EMFILE);
	ck_assert_int_eq(kv_sweep_grant(&sw, 6, 16, &more, &largest), -EMFILE);
	/* One sealed: room for one more. */
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e[0]), 0);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &more, &largest), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert(!overlap(&more, &e[i]));
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &more, &largest), -EMFILE);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

START_TEST(test_grant_refusals)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e;
	uint64_t largest;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	/* Not live: no space. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EINVAL);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 0, &e, &largest), -EINVAL);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, s.g.data_len + 1, &e, &largest), -EINVAL);
	ck_assert_uint_eq(sw.alloc.st.held, 0);
	/* All of it, then nothing is left: ask again after a pass... */
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, s.g.data_len, &e, &largest), 0);
	ck_assert_uint_eq(e.off, 0);
	ck_assert_uint_eq(e.len, s.g.data_len);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EAGAIN);
	ck_assert_uint_eq(largest, 0);
	full_pass(&sw, MS);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EAGAIN);
	/* ... and when a whole pass since did not free any, it is full. */
	full_pass(&sw, 2 * MS);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -ENOSPC);
	ck_assert_uint_eq(largest, 0);
	/* Gone: its grant is sealed; the id may not ask any more. */
	kv_sweep_owner_gone(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EINVAL);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* Space freed while a client waits, and taken by another: churn, not full. */
START_TEST(test_grant_refused_during_churn)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent all, e;
	uint64_t largest;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	kv_sweep_owner_live(&sw, 6);
	ck_assert_int_eq(kv_sweep_grant(&sw, 6, s.g.data_len, &all, &largest), 0);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EAGAIN);
	/* 6 gives everything back; a pass frees it; 6 takes it all again. */
	ck_assert_int_eq(kv_sweep_seal(&sw, 6, &all), 0);
	full_pass(&sw, MS);
	full_pass(&sw, 2 * MS);
	ck_assert_uint_eq(sw.alloc.st.free, s.g.data_len / KV_GRANULE);
	ck_assert_int_eq(kv_sweep_grant(&sw, 6, s.g.data_len, &all, &largest), 0);
	/* 5 was refused, passes ran, but they freed space: ask again. */
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -EAGAIN);
	full_pass(&sw, 3 * MS);
	full_pass(&sw, 4 * MS);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 16, &e, &largest), -ENOSPC);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

START_TEST(test_seal_checks)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e, e6, bad;
	uint64_t largest;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	kv_sweep_owner_live(&sw, 6);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 4096, &e, &largest), 0);
	ck_assert_int_eq(kv_sweep_grant(&sw, 6, 4096, &e6, &largest), 0);
	/* Nothing it was granted. */
	bad = (struct kv_extent){e.off + KV_GRANULE, e.len - KV_GRANULE};
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &bad), -EINVAL); /* a part */
	bad = (struct kv_extent){e.off, e.len + KV_GRANULE};
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &bad), -EINVAL); /* more */
	bad = (struct kv_extent){e.off + 1, e.len};
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &bad), -EINVAL); /* unaligned */
	bad = (struct kv_extent){0, 0};
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &bad), -EINVAL);
	bad = (struct kv_extent){s.g.data_len, 4096};
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &bad), -EINVAL); /* outside */
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e6), -EINVAL);  /* another's */
	ck_assert_int_eq(kv_sweep_seal(&sw, 7, &e), -EINVAL);   /* not live */
	ck_assert_uint_eq(sw.alloc.nseals, 0);                  /* nothing changed */
	/* Its own, once. */
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), 0);
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), -EINVAL);
	ck_assert_int_eq(kv_sweep_seal(&sw, 6, &e6), 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* Sealed space the next pass will free is not "full": try again. */
START_TEST(test_grant_eagain)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e;
	uint64_t largest;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, s.g.data_len, &e, &largest), 0);
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), 0);
	/* A pass begins (the seal takes effect) but has not swept yet. */
	kv_sweep_step(&sw, 1, MS);
	ck_assert_uint_eq(sw.alloc.st.held, 0);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 4096, &e, &largest), -EAGAIN);
	ck_assert_uint_eq(largest, 0);
	ck_assert_uint_eq(full_pass(&sw, 2 * MS), 0);
	ck_assert_uint_eq(sw.alloc.st.free, kv_data_granules(&s.g));
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 4096, &e, &largest), 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* ------------------------------------------------------ sweep: reclamation */

/* Write a block for @key = @val into granted space at byte @at of the data
 * region; returns its word (not yet published). */
static uint64_t put_block(struct slab *s, uint64_t at, const char *key, const char *val,
			  unsigned tag)
{
	size_t klen = strlen(key), vlen = strlen(val);
	uint64_t w = block_word(fp_of(&s->g, key), tag, klen, vlen, at / KV_GRANULE);

	kv_block_encode(s->mem + s->g.data_off + at, w, w, 0, 0, s->g.hash_seed, key, klen, val, vlen);
	return w;
}

/* The index word a key is published in: the first of its b1. */
static uint64_t idx_of(struct slab *s, const char *key)
{
	struct kv_keyhash kh;

	kv_key_hash(&s->g, key, strlen(key), &kh);
	return kv_pair_idx(&kh, 0);
}

START_TEST(test_reclaim_block_lives_while_named)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e, blk;
	const uint64_t all = kv_data_granules(&s.g);
	const char *key = "alpha", *val = "a value of some length, 41 bytes long...";
	uint64_t largest, w, ng = kv_block_granules(strlen(key), strlen(val));

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 1000, &e, &largest), 0);
	ck_assert_uint_eq(sw.alloc.st.free, all - e.len / KV_GRANULE);
	/* A block at the start of the grant, published, the grant sealed. */
	w = put_block(&s, e.off, key, val, 3);
	*word_at(&s, idx_of(&s, key)) = w;
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), 0);
	blk = (struct kv_extent){e.off / KV_GRANULE, ng};
	/* The pass frees the rest of the grant, not the block. */
	ck_assert_uint_eq(full_pass(&sw, MS), 0);
	ck_assert_uint_eq(sw.alloc.st.held, 0);
	ck_assert_uint_eq(sw.alloc.st.free, all - ng);
	ck_assert(!kv_alloc_is_free(&sw.alloc, &blk));
	ck_assert_uint_eq(sw.last.items, 1);
	ck_assert_uint_eq(sw.last.payload_bytes, strlen(key) + strlen(val));
	ck_assert_uint_eq(sw.last.block_bytes, ng * KV_GRANULE);
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw), ng * KV_GRANULE);
	/* Still named: still there, pass after pass. */
	for (int i = 0; i < 3; i++)
		full_pass(&sw, 2 * MS + (uint64_t)i);
	ck_assert(!kv_alloc_is_free(&sw.alloc, &blk));
	ck_assert_uint_eq(sw.alloc.st.free, all - ng);
	/* Deleted (the word cleared): the next whole pass frees it. */
	*word_at(&s, idx_of(&s, key)) = 0;
	ck_assert_uint_eq(full_pass(&sw, 10 * MS), 0);
	ck_assert_uint_eq(sw.alloc.st.free, all);
	ck_assert(kv_alloc_is_free(&sw.alloc, &blk));
	ck_assert_uint_eq(sw.last.items, 0);
	ck_assert_uint_eq(sw.last.payload_bytes, 0);
	ck_assert_uint_eq(kv_sweep_used_bytes(&sw), 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A word cleared in the middle of a pass, before the walk reached it: its
 * block goes in that very pass; one after: in the next. Either way, once a
 * whole pass has run since, it is free. */
START_TEST(test_reclaim_word_cleared_mid_pass)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e;
	const uint64_t all = kv_data_granules(&s.g);
	uint64_t largest, w;
	const uint64_t idx = kv_nwords(&s.g) - 1; /* the walk's last word */

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 64, &e, &largest), 0);
	w = put_block(&s, e.off, "k", "v", 1);
	*word_at(&s, idx) = w;
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), 0);
	full_pass(&sw, MS);
	ck_assert_uint_lt(sw.alloc.st.free, all);
	kv_sweep_step(&sw, 10, 2 * MS);  /* a pass begins */
	*word_at(&s, idx) = 0;           /* deleted before the walk reaches it */
	full_pass(&sw, 3 * MS);
	ck_assert_uint_eq(sw.alloc.st.free, all);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* What a client that went away held and did not publish comes back; what it
 * published stays. */
START_TEST(test_reclaim_gone_owner_grants)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e1, e2, blk;
	const uint64_t all = kv_data_granules(&s.g);
	uint64_t largest, w, ng = kv_block_granules(4, 10);

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 2000, &e1, &largest), 0);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 3000, &e2, &largest), 0);
	/* Unsealed, as a client that crashed leaves them: passes change nothing. */
	full_pass(&sw, MS);
	full_pass(&sw, 2 * MS);
	ck_assert_uint_eq(sw.alloc.st.held * KV_GRANULE, e1.len + e2.len);
	ck_assert_uint_eq(sw.alloc.st.free * KV_GRANULE, s.g.data_len - e1.len - e2.len);
	/* One block published in the second grant. */
	w = put_block(&s, e2.off + 64, "beta", "0123456789", 2);
	*word_at(&s, idx_of(&s, "beta")) = w;
	blk = (struct kv_extent){(e2.off + 64) / KV_GRANULE, ng};
	kv_sweep_owner_gone(&sw, 5);
	ck_assert_uint_eq(full_pass(&sw, 3 * MS), 0);
	ck_assert_uint_eq(sw.alloc.st.held, 0);
	ck_assert_uint_eq(sw.alloc.st.free, all - ng);
	ck_assert(!kv_alloc_is_free(&sw.alloc, &blk));
	/* Deleted by someone else later: all free. */
	*word_at(&s, idx_of(&s, "beta")) = 0;
	full_pass(&sw, 4 * MS);
	ck_assert_uint_eq(sw.alloc.st.free, all);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A word whose block was overwritten (torn, or garbage) still keeps all the
 * granules its length names: nothing it may name is handed out again. */
START_TEST(test_reclaim_torn_block_keeps_extent)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s};
	struct kv_sweep sw;
	struct kv_extent e, named;
	const uint64_t all = kv_data_granules(&s.g);
	uint64_t largest, w;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_int_eq(kv_sweep_grant(&sw, 5, 4096, &e, &largest), 0);
	w = kv_word_block(0x77, 1, kv_len_code(40), e.off / KV_GRANULE);
	memset(s.mem + s.g.data_off + e.off, 0xab, 40 * KV_GRANULE); /* not its block */
	*word_at(&s, 5) = w;
	ck_assert_int_eq(kv_sweep_seal(&sw, 5, &e), 0);
	full_pass(&sw, MS);
	named = (struct kv_extent){e.off / KV_GRANULE, kv_len_decode(kv_len_code(40))};
	ck_assert(!kv_alloc_is_free(&sw.alloc, &named));
	ck_assert_uint_eq(sw.alloc.st.free, all - named.len);
	ck_assert_uint_eq(sw.last.items, 1);
	ck_assert_uint_eq(sw.last.payload_bytes, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static TCase *new_case(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 30);
	return tc;
}

static Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc;

	tc = new_case("lengths");
	tcase_add_test(tc, test_len_code_small);
	tcase_add_test(tc, test_len_code_big);
	suite_add_tcase(s, tc);

	tc = new_case("words");
	tcase_add_test(tc, test_word_block_fields);
	tcase_add_test(tc, test_word_claim_fields);
	tcase_add_test(tc, test_word_kinds);
	suite_add_tcase(s, tc);

	tc = new_case("layout");
	tcase_add_test(tc, test_layout_default_index);
	tcase_add_test(tc, test_layout_explicit_index);
	tcase_add_test(tc, test_layout_too_small);
	tcase_add_test(tc, test_layout_bad_limits);
	suite_add_tcase(s, tc);

	tc = new_case("hash");
	tcase_add_test(tc, test_hash_properties);
	tcase_add_test(tc, test_pair_idx);
	suite_add_tcase(s, tc);

	tc = new_case("block");
	tcase_add_test(tc, test_block_round_trip);
	tcase_add_test(tc, test_block_sizes_and_padding);
	tcase_add_test(tc, test_block_check_leaves_buffer);
	tcase_add_test(tc, test_block_wrong_word);
	tcase_add_test(tc, test_block_flipped_bytes);
	tcase_add_test(tc, test_block_state_and_prev);
	tcase_add_test(tc, test_block_truncated);
	tcase_add_test(tc, test_block_bad_lengths);
	tcase_add_test(tc, test_block_random_garbage);
	tcase_add_test(tc, test_block_read_len);
	suite_add_tcase(s, tc);

	tc = new_case("probe");
	tcase_add_test(tc, test_probe_blocks);
	tcase_add_test(tc, test_probe_claims);
	tcase_add_test(tc, test_probe_empty);
	tcase_add_test(tc, test_census_mixed);
	suite_add_tcase(s, tc);

	tc = new_case("sweep");
	tcase_add_test(tc, test_sweep_releases_unknown_owner);
	tcase_add_test(tc, test_sweep_lease_fences_first);
	tcase_add_test(tc, test_sweep_changing_claim_not_fenced);
	tcase_add_test(tc, test_sweep_repeated_word_with_progress);
	tcase_add_test(tc, test_sweep_recheck_sees_release);
	tcase_add_test(tc, test_sweep_many_claims);
	tcase_add_test(tc, test_sweep_no_lease);
	tcase_add_test(tc, test_sweep_half_write);
	tcase_add_test(tc, test_sweep_keeps_snapshot);
	tcase_add_test(tc, test_sweep_gone_owner);
	suite_add_tcase(s, tc);

	tc = new_case("grant");
	tcase_add_test(tc, test_grant_disjoint);
	tcase_add_test(tc, test_grant_refusals);
	tcase_add_test(tc, test_grant_refused_during_churn);
	tcase_add_test(tc, test_seal_checks);
	tcase_add_test(tc, test_grant_eagain);
	suite_add_tcase(s, tc);

	tc = new_case("reclaim");
	tcase_add_test(tc, test_reclaim_block_lives_while_named);
	tcase_add_test(tc, test_reclaim_word_cleared_mid_pass);
	tcase_add_test(tc, test_reclaim_gone_owner_grants);
	tcase_add_test(tc, test_reclaim_torn_block_keeps_extent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
