/* test_recover.c - opening a store whose server died (kv_recover.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

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

static void store_new_sized(struct store *s, size_t slab, uint64_t index)
{
	char err[160];

	s->mem = calloc(1, slab);
	ck_assert_ptr_nonnull(s->mem);
	ck_assert_int_eq(kv_geometry_layout(slab, index, 16, 4096, 0x5eed, &s->g, err,
					    sizeof(err)), 0);
	ck_assert_int_eq(kv_alloc_init(&s->a, kv_data_granules(&s->g)), 0);
}

static void store_new(struct store *s)
{
	store_new_sized(s, SLAB, 4096);
}

static void store_free(struct store *s)
{
	kv_alloc_free(&s->a);
	free(s->mem);
}

static void set_word(struct store *s, uint64_t idx, uint64_t w)
{
	memcpy(s->mem + kv_word_off(&s->g, idx), &w, 8);
}

/* Write a block of @key/@val (@klen/@vlen bytes) for word @w with @head (a
 * state of its word: 0 uncommitted, 1 committed, 2 retired) and @prev; put
 * @w in index word @idx unless @idx is -1. */
static void put_block_w(struct store *s, int64_t idx, uint64_t w, const void *key, size_t klen,
			const void *val, size_t vlen, uint16_t flags, int state, uint64_t prev)
{
	uint64_t head = state == 0 ? kv_head_uncommitted(w) : state == 2 ? kv_head_retired(w) : w;

	kv_block_encode(s->mem + kv_block_off(&s->g, w), w, head, prev, flags, s->g.hash_seed,
			key, klen, val, vlen);
	if (idx >= 0)
		set_word(s, (uint64_t)idx, w);
}

/* The same for string @key and @val at granule @gran; returns the word. */
static uint64_t put_block(struct store *s, int64_t idx, uint64_t gran, const char *key,
			  const char *val, uint16_t flags, int state, uint64_t prev)
{
	size_t klen = strlen(key), vlen = strlen(val);
	uint64_t n = kv_block_granules(klen, vlen);
	uint64_t w = kv_word_block(0x123, (unsigned)gran & 0x7f, kv_len_code(n), gran);

	put_block_w(s, idx, w, key, klen, val, vlen, flags, state, prev);
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

/* Block words whose block cannot hold a header inside the data region are
 * garbage words; one that can, at the region's very end, is a bad block whose
 * (clamped) space is kept. */
START_TEST(test_recover_region_edges)
{
	struct store s;
	struct kv_recover_report r;
	uint64_t ng, edge;

	store_new(&s);
	ng = kv_data_granules(&s.g);
	set_word(&s, 0, kv_word_block(1, 1, 0, 0));                  /* no length */
	set_word(&s, 1, kv_word_block(1, 1, 1, 0));                  /* one granule */
	set_word(&s, 2, kv_word_block(1, 1, 2, ng - 1));             /* one granule left */
	set_word(&s, 3, kv_word_block(1, 1, 3, ng));                 /* past the end */
	set_word(&s, 4, kv_word_block(1, 1, 3, (1ull << KV_GRAN_BITS) - 1));
	edge = kv_word_block(1, 1, 5, ng - 2);                       /* 2 of its 5 granules */
	set_word(&s, 5, edge);
	set_word(&s, 6, kv_word_claim(9, 9));
	set_word(&s, 7, 5);                                          /* kind 0, not 0 */
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.bad_words, 6);
	ck_assert_uint_eq(r.bad_blocks, 1);
	ck_assert_uint_eq(r.claims_cleared, 1);
	ck_assert_uint_eq(r.items, 0);
	ck_assert_uint_eq(r.overlaps, 0);
	ck_assert(!kv_alloc_is_free(&s.a, &(struct kv_extent){ng - 2, 1}));
	ck_assert(!kv_alloc_is_free(&s.a, &(struct kv_extent){ng - 1, 1}));
	ck_assert_uint_eq(s.a.st.free, ng - 2);
	for (uint64_t i = 0; i < 6; i++)
		ck_assert_uint_ne(word(&s, i), 0); /* garbage is left as it is */
	ck_assert_uint_eq(word(&s, 5), edge);
	store_free(&s);
}
END_TEST

/* ---- against the walk in index order kv_recover was ------------------------ */

/* kv_recover as it was before it read the blocks in address order: each
 * word in index order, on its own. The reference for what it must still do. */
static void ref_recover(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
			struct kv_recover_report *r)
{
	size_t cap = (size_t)kv_len_decode(kv_len_code(kv_block_granules(g->max_key,
									    g->max_value))) *
		     KV_GRANULE;
	uint8_t *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	memset(r, 0, sizeof(*r));
	for (uint64_t i = 0; i < kv_nwords(g); i++) {
		uint64_t *wp = (uint64_t *)(void *)(slab + kv_word_off(g, i)), w = *wp;
		uint64_t len = kv_block_read_len(g, w);
		struct kv_extent e = {kv_word_gran(w), len / KV_GRANULE};
		struct kv_block_view v;

		switch (kv_word_kind(w)) {
		case KV_WORD_EMPTY:
			continue;
		case KV_WORD_CLAIM:
			*wp = 0;
			r->claims_cleared++;
			continue;
		case KV_WORD_BLOCK:
			break;
		default:
			r->bad_words++;
			continue;
		}
		if (len < KV_BLOCK_HDR) {
			r->bad_words++;
			continue;
		}
		memcpy(buf, slab + kv_block_off(g, w), len < cap ? len : cap);
		if (kv_block_check(buf, len < cap ? len : cap, w, g, NULL, 0, &v) != KV_BLOCK_OK) {
			r->bad_blocks++;
			if (kv_alloc_reserve(a, &e) < e.len)
				r->overlaps++;
			continue;
		}
		e.len = kv_block_granules(v.klen, v.vlen);
		if (!kv_view_committed(&v) && kv_block_finish(slab, g, w, v.prev))
			r->writes_finished++;
		if (kv_view_tomb(&v)) {
			*wp = 0;
			r->tombs_cleared++;
			continue;
		}
		if (kv_alloc_reserve(a, &e) < e.len)
			r->overlaps++;
		r->items++;
	}
	free(buf);
}

static uint64_t rnd(uint64_t *st, uint64_t n)
{
	return kv_rand_next(st) % n;
}

static uint64_t empty_slot(struct store *s, uint64_t *st)
{
	for (;;) {
		uint64_t i = rnd(st, kv_nwords(&s->g));

		if (word(s, i) == 0)
			return i;
	}
}

/* A random word for a block of @klen/@vlen at @gran. */
static uint64_t rnd_word(uint64_t *st, uint64_t gran, size_t klen, size_t vlen)
{
	return kv_word_block((uint16_t)rnd(st, 4096), (unsigned)rnd(st, 128),
			     kv_len_code(kv_block_granules(klen, vlen)), gran);
}

/*
 * A store a server died on, with everything recovery meets, blocks front to
 * back as grants lay them out, words in random index words: live blocks of
 * all sizes, writes left unfinished (their predecessor before or after them),
 * tombstones committed or not, torn blocks, retired blocks still named,
 * stale blocks and gaps of junk, claims, garbage words of every kind (some
 * naming space inside blocks or past the region), words named twice, and
 * @crowd garbage words naming one range of the data region. Values are of
 * up to 120 bytes, and one in 20 up to @maxval.
 */
static void random_store(struct store *s, uint64_t seed, unsigned nblocks, unsigned crowd,
			 size_t maxval)
{
	uint64_t st = kv_rand_seed(seed), ng = kv_data_granules(&s->g), gran = 0;
	uint64_t named[64] = {0};
	uint8_t key[16], val[4096];

	for (unsigned i = 0; i < nblocks; i++) {
		unsigned kind = (unsigned)rnd(&st, 100);
		size_t klen = 1 + rnd(&st, 16);
		size_t vlen = rnd(&st, kind >= 95 ? maxval + 1 : (maxval < 120 ? maxval : 120) + 1);
		uint64_t n = kv_block_granules(klen, vlen), w, p;

		for (size_t b = 0; b < klen; b++)
			key[b] = (uint8_t)kv_rand_next(&st);
		for (size_t b = 0; b < vlen; b += 8)
			val[b] = (uint8_t)kv_rand_next(&st);
		if (gran + 2 * n + 64 > ng)
			break;
		w = rnd_word(&st, gran, klen, vlen);
		if (kind < 60 || kind >= 95) { /* live */
			put_block_w(s, (int64_t)empty_slot(s, &st), w, key, klen, val, vlen, 0, 1, 0);
			named[i % 64] = w;
			gran += n;
		} else if (kind < 72) { /* unfinished PUT (or DEL): its predecessor unnamed */
			int del = kind >= 70, after = (int)rnd(&st, 2);
			uint64_t pg = after ? gran + n : gran, wg = after ? gran : gran + n;

			p = rnd_word(&st, pg, klen, vlen);
			put_block_w(s, -1, p, key, klen, val, vlen, 0, 1, 0);
			w = rnd_word(&st, wg, klen, del ? 0 : vlen);
			put_block_w(s, (int64_t)empty_slot(s, &st), w, key, klen, val, del ? 0 : vlen,
				    del ? KV_BLOCK_TOMBSTONE : 0, 0, p);
			named[i % 64] = w;
			gran += 2 * n;
		} else if (kind < 76) { /* committed DEL, torn, retired and named */
			put_block_w(s, (int64_t)empty_slot(s, &st), w, key, klen,
				    val, kind == 72 ? 0 : vlen, kind == 72 ? KV_BLOCK_TOMBSTONE : 0,
				    kind == 75 ? 2 : 1, 0);
			if (kind == 73 || kind == 74)
				s->mem[kv_block_off(&s->g, w) + rnd(&st, KV_BLOCK_HDR + klen + vlen)] ^=
					(uint8_t)(1 + rnd(&st, 255));
			gran += n;
		} else if (kind < 80) { /* stale: nobody names it */
			put_block_w(s, -1, w, key, klen, val, vlen, 0, (int)rnd(&st, 3), 0);
			gran += n;
		} else if (kind < 85) { /* a gap of junk */
			uint64_t len = 1 + rnd(&st, 40);

			for (uint64_t b = 0; b < len * KV_GRANULE; b++)
				s->mem[kv_block_off(&s->g, w) + b] = (uint8_t)kv_rand_next(&st);
			gran += len;
		} else if (kind < 88) { /* a garbage word of any kind */
			set_word(s, empty_slot(s, &st), kv_rand_next(&st) >> rnd(&st, 3));
		} else if (kind < 90) { /* a garbage block word, anywhere, of any length */
			set_word(s, empty_slot(s, &st),
				 kv_word_block(1, 2, (unsigned)rnd(&st, kind == 88 ? 40 : 1024),
					       rnd(&st, ng + 8)));
		} else if (kind < 93) {
			set_word(s, empty_slot(s, &st), kv_word_claim(3, (uint16_t)rnd(&st, 99)));
		} else if (named[(i + 1) % 64]) { /* a word named twice */
			set_word(s, empty_slot(s, &st), named[(i + 1) % 64]);
		}
	}
	for (unsigned i = 0, base = (unsigned)rnd(&st, (uint32_t)(ng / 2)); i < crowd; i++)
		set_word(s, empty_slot(s, &st),
			 kv_word_block(5, 6, 2 + (unsigned)rnd(&st, 8), base + rnd(&st, 64)));
}

/* Two recoveries of the same store did the same, to the byte. */
static void assert_same(const struct store *s1, const struct kv_recover_report *r1,
			const struct store *s2, const struct kv_recover_report *r2, size_t slab,
			bool overlaps_exact)
{
	ck_assert_uint_eq(r1->items, r2->items);
	ck_assert_uint_eq(r1->claims_cleared, r2->claims_cleared);
	ck_assert_uint_eq(r1->writes_finished, r2->writes_finished);
	ck_assert_uint_eq(r1->tombs_cleared, r2->tombs_cleared);
	ck_assert_uint_eq(r1->bad_words, r2->bad_words);
	ck_assert_uint_eq(r1->bad_blocks, r2->bad_blocks);
	if (overlaps_exact)
		ck_assert_uint_eq(r1->overlaps, r2->overlaps);
	else
		ck_assert_uint_eq(!r1->overlaps, !r2->overlaps);
	ck_assert(memcmp(s1->mem, s2->mem, slab) == 0);
	ck_assert_uint_eq(s1->a.st.free, s2->a.st.free);
	ck_assert_uint_eq(s2->a.st.held, 0);
	ck_assert(memcmp(s1->a.free, s2->a.free, s1->a.nwords * 8) == 0);
}

/*
 * Random stores, recovered three ways from the same bytes: by the walk in
 * index order (the reference), by kv_recover, and by kv_recover_mem with room
 * for a few hundred words at a time (many groups). All three must leave the
 * same slab and the same allocator and count the same, but for which
 * overlaps count (the order decides; whether there are any does not).
 */
START_TEST(test_recover_as_index_order)
{
	/* The first store is large enough for ranges of 2^10 granules (a sort
	 * in two digits), and it has a range crowded past its granules (the
	 * heap sort); the others are small and quick, with ranges of 2^7
	 * granules, the second crowded with blocks of tiny values (a sort in
	 * one digit). */
	const size_t slab = _i == 0 ? 40u << 20 : 6u << 20;
	struct store s[3];
	struct kv_recover_report r[3];

	store_new_sized(&s[0], slab, slab / 16);
	store_new_sized(&s[1], slab, slab / 16);
	store_new_sized(&s[2], slab, slab / 16);
	random_store(&s[0], 1000 + (uint64_t)_i, _i == 0 ? 60000 : 15000, _i == 0 ? 3000 : 0,
		     _i == 1 ? 12 : 4096);
	memcpy(s[1].mem, s[0].mem, slab);
	memcpy(s[2].mem, s[0].mem, slab);
	ref_recover(s[0].mem, &s[0].g, &s[0].a, &r[0]);
	ck_assert_int_eq(kv_recover(s[1].mem, &s[1].g, &s[1].a, &r[1]), 0);
	ck_assert_int_eq(kv_recover_mem(s[2].mem, &s[2].g, &s[2].a, &r[2], 16 * 300), 0);
	/* The stores had a bit of everything. */
	ck_assert_uint_gt(r[0].items, 1000);
	ck_assert_uint_gt(r[0].claims_cleared, 0);
	ck_assert_uint_gt(r[0].writes_finished, 0);
	ck_assert_uint_gt(r[0].tombs_cleared, 0);
	ck_assert_uint_gt(r[0].bad_words, 0);
	ck_assert_uint_gt(r[0].bad_blocks, 0);
	ck_assert_uint_gt(r[0].overlaps, 0);
	assert_same(&s[0], &r[0], &s[1], &r[1], slab, false);
	assert_same(&s[1], &r[1], &s[2], &r[2], slab, true);
	/* And again: nothing left to do, nothing changes. */
	for (int k = 1; k < 3; k++) {
		kv_alloc_free(&s[k].a);
		ck_assert_int_eq(kv_alloc_init(&s[k].a, kv_data_granules(&s[k].g)), 0);
	}
	memcpy(s[0].mem, s[1].mem, slab);
	ck_assert_int_eq(kv_recover(s[1].mem, &s[1].g, &s[1].a, &r[1]), 0);
	ck_assert_int_eq(kv_recover_mem(s[2].mem, &s[2].g, &s[2].a, &r[2], 16 * 300), 0);
	ck_assert_uint_eq(r[1].writes_finished + r[1].tombs_cleared + r[1].claims_cleared, 0);
	ck_assert(memcmp(s[0].mem, s[1].mem, slab) == 0);
	assert_same(&s[1], &r[1], &s[2], &r[2], slab, true);
	for (int k = 0; k < 3; k++)
		store_free(&s[k]);
}
END_TEST

/* The store file's header: a round trip, and every way a file is refused. */
START_TEST(test_file_header)
{
	struct store s;
	struct kv_file_header h = {.clean = 1, .generation = 7, .slab_len = SLAB}, d;
	uint8_t buf[KV_FILE_HDR], copy[KV_FILE_HDR];
	char err[160];

	memset(&d, 0, sizeof(d)); /* its geometry is compared whole, padding too */
	store_new(&s);
	h.geo = s.g;
	for (unsigned i = 0; i < 16; i++)
		h.boot_id[i] = (uint8_t)(0xb0 + i);
	const uint64_t FL = kv_file_len(SLAB, &s.g);
	/* Header, slab (to a page), then two slots of a page and the index. */
	ck_assert_uint_eq(FL, KV_FILE_HDR + (SLAB + 4095) / 4096 * 4096 +
			      2 * (KV_SLOT_HDR + (kv_file_index_bytes(&s.g) + 4095) / 4096 * 4096));
	kv_file_header_encode(buf, &h);
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), FL, &d, err,
					       sizeof(err)), 0);
	ck_assert_uint_eq(d.clean, 1);
	ck_assert_uint_eq(d.generation, 7);
	ck_assert_uint_eq(d.slab_len, SLAB);
	ck_assert_mem_eq(&d.geo, &s.g, sizeof(s.g));
	ck_assert_mem_eq(d.boot_id, h.boot_id, 16);
	/* A longer file is fine (the header says how much is the store). */
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), FL + 1, &d,
					       err, sizeof(err)), 0);
	/* Truncated: the slots are part of the store. */
	ck_assert_int_eq(kv_file_header_decode(buf, sizeof(buf), FL - 1, &d,
					       err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	ck_assert_int_eq(kv_file_header_decode(buf, 100, 100, &d, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too short"));
	/* Any byte changed anywhere in the page: refused. */
	for (size_t i = 0; i < KV_FILE_HDR; i += 61) {
		memcpy(copy, buf, sizeof(buf));
		copy[i] ^= 0x20;
		ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), FL, &d,
						       err, sizeof(err)), -EINVAL);
	}
	memcpy(copy, buf, sizeof(buf));
	copy[0] = 'X';
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), FL, &d, err,
					       sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a store"));
	/* Another layout, even with a right checksum. */
	kv_st32le(copy, 0);
	memcpy(copy, buf, sizeof(buf));
	kv_st32le(copy + 8, KV_FILE_LAYOUT + 1);
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), FL, &d, err,
					       sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "layout"));
	/* A byte set between the last field and the checksum, with a right
	 * checksum (found by fuzz_file): not a page this layout writes. */
	for (size_t i = 76; i < KV_FILE_BOOT_OFF; i++) {
		memcpy(copy, buf, sizeof(buf));
		copy[i] = 0x40;
		kv_st64le(copy + KV_FILE_CHECK_OFF, XXH3_64bits(copy, KV_FILE_CHECK_OFF));
		ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), FL, &d,
						       err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "bytes set"));
	}
	/* A geometry that does not fit its slab, with a right checksum. */
	h.slab_len = SLAB / 2;
	kv_file_header_encode(copy, &h);
	ck_assert_int_eq(kv_file_header_decode(copy, sizeof(copy), FL, &d, err,
					       sizeof(err)), -EINVAL);
	store_free(&s);
}
END_TEST

/* A snapshot slot's header: a round trip, and what makes a slot invalid (a
 * copy or a header half written when the power went). */
START_TEST(test_file_slot)
{
	uint8_t page[KV_SLOT_HDR], copy[KV_SLOT_HDR], index[4096];
	uint64_t seq = 0, gen = 0;

	for (size_t i = 0; i < sizeof(index); i++)
		index[i] = (uint8_t)(i * 7);
	kv_file_slot_encode(page, 42, 3, index, sizeof(index));
	ck_assert(kv_file_slot_decode(page, sizeof(page), index, sizeof(index), &seq, &gen));
	ck_assert_uint_eq(seq, 42);
	ck_assert_uint_eq(gen, 3);
	ck_assert(!kv_file_slot_decode(page, 100, index, sizeof(index), &seq, &gen));
	ck_assert(!kv_file_slot_decode(page, sizeof(page), index, sizeof(index) - 8, &seq, &gen));
	index[1000] ^= 1; /* the copy, half rewritten */
	ck_assert(!kv_file_slot_decode(page, sizeof(page), index, sizeof(index), &seq, &gen));
	index[1000] ^= 1;
	for (size_t i = 0; i < sizeof(page); i += 37) { /* any byte of the header */
		memcpy(copy, page, sizeof(page));
		copy[i] ^= 0x10;
		ck_assert(!kv_file_slot_decode(copy, sizeof(copy), index, sizeof(index), &seq, &gen));
	}
	memset(copy, 0, sizeof(copy)); /* never written, or cleared */
	ck_assert(!kv_file_slot_decode(copy, sizeof(copy), index, sizeof(index), &seq, &gen));
}
END_TEST

/*
 * After a power loss kvserver puts the newest snapshot's index in place and
 * makes current again the blocks it names that a lost write had retired;
 * kv_recover then finishes what the snapshot caught in flight. Here: key a
 * was rewritten after the snapshot (its old block retired on disk, the new
 * word lost), key b was in the middle of a write when the snapshot was taken
 * (uncommitted, its predecessor committed), key c was inserted after it.
 */
START_TEST(test_recover_snapshot)
{
	struct store s;
	struct kv_recover_report r;
	uint64_t wa, wa2, wb0, wb, wc;
	size_t ilen;
	uint8_t *snap;

	store_new(&s);
	ilen = kv_file_index_bytes(&s.g);
	wa = put_block(&s, 1, 0, "a", "a-old", 0, 1, 0);
	wb0 = put_block(&s, -1, 10, "b", "b-old", 0, 1, 0);
	wb = put_block(&s, 2, 20, "b", "b-new", 0, 0, wb0); /* in flight: swung */
	snap = malloc(ilen);
	ck_assert_ptr_nonnull(snap);
	memcpy(snap, s.mem + s.g.index_off, ilen);
	/* After the snapshot: a rewritten (its old block retired), b's write
	 * finished, c inserted. */
	wa2 = put_block(&s, 1, 30, "a", "a-new", 0, 1, wa);
	kv_st64le(s.mem + kv_block_off(&s.g, wa), kv_head_retired(wa));
	kv_st64le(s.mem + kv_block_off(&s.g, wb0), kv_head_retired(wb0));
	kv_st64le(s.mem + kv_block_off(&s.g, wb), wb);
	wc = put_block(&s, 3, 40, "c", "c-new", 0, 1, 0);
	/* The power goes: the index on disk is of no use. */
	memset(s.mem + s.g.index_off, 0xee, ilen);
	ck_assert_uint_eq(kv_recover_snapshot(s.mem, &s.g, snap), 1); /* a's old block */
	ck_assert_int_eq(kv_recover(s.mem, &s.g, &s.a, &r), 0);
	ck_assert_uint_eq(r.items, 2);
	ck_assert_uint_eq(r.bad_words + r.bad_blocks, 0);
	ck_assert_uint_eq(word(&s, 1), wa);
	ck_assert_uint_eq(head_of(&s, wa), wa);  /* a: its old value, current */
	ck_assert_uint_eq(word(&s, 2), wb);
	ck_assert_uint_eq(head_of(&s, wb), wb);  /* b: its new value */
	ck_assert_uint_eq(word(&s, 3), 0);       /* c: lost */
	/* What the snapshot does not name is free again: a's new block, c's. */
	ck_assert(kv_alloc_is_free(&s.a, &(struct kv_extent){kv_word_gran(wa2), 1}));
	ck_assert(kv_alloc_is_free(&s.a, &(struct kv_extent){kv_word_gran(wc), 1}));
	ck_assert(!kv_alloc_is_free(&s.a, &(struct kv_extent){kv_word_gran(wa), 1}));
	free(snap);
	store_free(&s);
}
END_TEST

/* After a power loss: a word whose block is not there (its page older on
 * disk than the index page) is cleared with drop_bad, its space free; the
 * other keys are untouched. Without drop_bad it is kept (test above). */
START_TEST(test_recover_drop_bad)
{
	struct store s;
	struct kv_recover_report r;
	uint64_t w1, w2;

	store_new(&s);
	w1 = put_block(&s, 1, 0, "k1", "one", 0, 1, 0);
	w2 = put_block(&s, 2, 40, "k2", "lost", 0, 1, 0);
	memset(s.mem + kv_block_off(&s.g, w2), 0, KV_BLOCK_HDR); /* never reached disk */
	ck_assert_int_eq(kv_recover_opt(s.mem, &s.g, &s.a, &r, 0, true), 0);
	ck_assert_uint_eq(r.bad_blocks, 1);
	ck_assert_uint_eq(r.bad_dropped, 1);
	ck_assert_uint_eq(r.items, 1);
	ck_assert_uint_eq(word(&s, 2), 0);
	ck_assert_uint_eq(word(&s, 1), w1);
	ck_assert(kv_alloc_is_free(&s.a, &(struct kv_extent){40, 1}));
	ck_assert(!kv_alloc_is_free(&s.a, &(struct kv_extent){0, 1}));
	store_free(&s);
}
END_TEST

static Suite *recover_suite(void)
{
	Suite *s = suite_create("recover");
	TCase *tc = tcase_create("recover");

	tcase_add_test(tc, test_recover_all_cases);
	tcase_add_test(tc, test_recover_drop_bad);
	tcase_add_test(tc, test_recover_overlap);
	tcase_add_test(tc, test_recover_idempotent);
	tcase_add_test(tc, test_recover_region_edges);
	tcase_add_loop_test(tc, test_recover_as_index_order, 0, 4);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_file_header);
	tcase_add_test(tc, test_file_slot);
	tcase_add_test(tc, test_recover_snapshot);
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
