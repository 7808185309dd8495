/*
 * test_slot.c - the slab's table (kv_slot.h): layout, control words, hashing,
 * record copies, picking a copy, probing, and the server's scans over a slab
 * held in local memory.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kv_slot.h"
#include "kv_sweep.h"

#define SLAB_64M (64ull << 20)
#define SMALL_SLAB (512ull << 10)
#define SEED 0x5eed5eed12345678ull

/* ------------------------------------------------------------------ helpers */

/* The server's default table: 64 MiB, keys up to 250 bytes, values 1 KiB. */
static struct kv_geometry geo_64m(void)
{
	struct kv_geometry g;
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE,
					    KV_DEFAULT_BUCKET_SLOTS, KV_DEFAULT_HEAD_SIZE, SEED, &g, err,
					    sizeof(err)), 0);
	return g;
}

/* A small slab, held in local memory, standing in for the server's. */
struct slab {
	uint8_t *mem;
	uint64_t len;
	struct kv_geometry g;
};

static struct slab slab_new(void)
{
	struct slab s = {.len = SMALL_SLAB};
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(s.len, 16, 64, 4, KV_DEFAULT_HEAD_SIZE, SEED, &s.g, err, sizeof(err)),
			 0);
	s.mem = calloc(1, s.len);
	ck_assert_ptr_nonnull(s.mem);
	return s;
}

static uint64_t *ctrl_of(struct slab *s, uint64_t slot)
{
	return (uint64_t *)(void *)(s->mem + kv_ctrl_off(&s->g, slot));
}

static uint8_t *copy_of(struct slab *s, uint64_t slot, unsigned copy)
{
	/* The small geometry's records fit in a head, so a copy is contiguous. */
	ck_assert_uint_eq(s->g.head_size, s->g.rec_size);
	return s->mem + kv_head_off(&s->g, slot, copy);
}

/* kv_slab_release_owner with the scratch buffer the server would own. */
static unsigned release_owner(struct slab *s, uint16_t owner)
{
	uint8_t *scratch = malloc(2 * (size_t)s->g.rec_size);
	unsigned n;

	ck_assert_ptr_nonnull(scratch);
	n = kv_slab_release_owner(s->mem, &s->g, owner, scratch);
	free(scratch);
	return n;
}

static void put_record(struct slab *s, uint64_t slot, unsigned copy, uint64_t seq,
		       const char *key, const char *val)
{
	kv_rec_encode(copy_of(s, slot, copy), seq, 0, key, strlen(key), val, strlen(val));
}

static void put_tombstone(struct slab *s, uint64_t slot, unsigned copy, uint64_t seq)
{
	kv_rec_encode(copy_of(s, slot, copy), seq, KV_REC_TOMBSTONE, NULL, 0, NULL, 0);
}

static uint16_t fp_of(const struct kv_geometry *g, const char *key)
{
	struct kv_keyhash kh;

	kv_key_hash(g, key, strlen(key), &kh);
	return kh.fp;
}

/*
 * @len bytes copied to the very end of a page followed by an inaccessible
 * one: reading a byte past @len faults, with or without ASan.
 */
struct guarded {
	uint8_t *map;
	size_t map_len;
	uint8_t *p;
};

static struct guarded guarded_copy(const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_pages = (len + page - 1) / page + 1;
	struct guarded gb;

	gb.map_len = (data_pages + 1) * page;
	gb.map = mmap(NULL, gb.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	ck_assert_ptr_ne(gb.map, MAP_FAILED);
	ck_assert_int_eq(mprotect(gb.map + data_pages * page, page, PROT_NONE), 0);
	gb.p = gb.map + data_pages * page - len;
	if (len)
		memcpy(gb.p, src, len);
	return gb;
}

static void guarded_free(struct guarded *gb)
{
	munmap(gb->map, gb->map_len);
}

static enum kv_rec_state decode_guarded(const uint8_t *rec, size_t len,
					const struct kv_geometry *g,
					struct kv_rec_view *v, size_t *need)
{
	struct guarded gb = guarded_copy(rec, len);
	enum kv_rec_state st = kv_rec_decode(gb.p, len, g, v, need);

	guarded_free(&gb);
	return st;
}

/* A zeroed buffer of one record copy. */
static uint8_t *rec_buf(const struct kv_geometry *g)
{
	uint8_t *b = calloc(1, g->rec_size);

	ck_assert_ptr_nonnull(b);
	return b;
}

/* A raw record header, little-endian, for hand-made garbage. */
static void raw_header(uint8_t *p, uint64_t seq, uint64_t sum, uint16_t klen,
		       uint16_t flags, uint32_t vlen)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(seq >> (8 * i));
		p[8 + i] = (uint8_t)(sum >> (8 * i));
	}
	p[16] = (uint8_t)klen;
	p[17] = (uint8_t)(klen >> 8);
	p[18] = (uint8_t)flags;
	p[19] = (uint8_t)(flags >> 8);
	for (int i = 0; i < 4; i++)
		p[20 + i] = (uint8_t)(vlen >> (8 * i));
}

/* Bytes that include NUL, 0xff and everything in between. */
static void fill_binary(uint8_t *p, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 37 + salt);
	if (n > 0)
		p[0] = 0x00;
	if (n > 1)
		p[1] = 0xff;
	if (n > 2)
		p[n - 1] = 0x00;
}

static uint64_t xorshift(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* ------------------------------------------------------------------ layout */

static void assert_layout_sane(const struct kv_geometry *g, uint64_t slab_len)
{
	uint64_t nslots = kv_nslots(g);
	char err[160] = "";

	ck_assert_uint_ge(g->nbuckets, 2);
	ck_assert_uint_ge(g->ctrl_off, (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN);
	ck_assert_uint_le(g->ctrl_off + nslots * 8, g->rec_off);
	ck_assert_uint_le(g->rec_off + nslots * 2 * g->rec_size, slab_len);
	ck_assert_uint_eq(g->ctrl_off % 8, 0);
	ck_assert_uint_eq(g->rec_off % 8, 0);
	ck_assert_uint_eq(g->rec_size % 8, 0);
	ck_assert_uint_ge(g->rec_size, KV_REC_HDR + g->max_key + g->max_value);
	ck_assert_msg(kv_geometry_check(g, slab_len, err, sizeof(err)) == 0,
		      "layout fails its own check: %s", err);
}

START_TEST(test_layout_64m)
{
	struct kv_geometry g = geo_64m();
	uint64_t nslots = kv_nslots(&g);

	assert_layout_sane(&g, SLAB_64M);
	ck_assert_uint_eq(g.bucket_slots, KV_DEFAULT_BUCKET_SLOTS);
	ck_assert_uint_eq(g.max_key, KV_KEY_LIMIT);
	ck_assert_uint_eq(g.max_value, KV_DEFAULT_MAX_VALUE);
	ck_assert_uint_eq(g.hash_seed, SEED);
	/* The address helpers agree with the layout. */
	ck_assert_uint_eq(kv_ctrl_off(&g, 0), g.ctrl_off);
	ck_assert_uint_eq(kv_ctrl_off(&g, nslots - 1) + 8, g.ctrl_off + nslots * 8);
	ck_assert_uint_eq(g.head_size, KV_DEFAULT_HEAD_SIZE);
	ck_assert_uint_eq(kv_slot_off(&g, 0), g.rec_off);
	ck_assert_uint_eq(kv_head_off(&g, 0, 0), g.rec_off);
	ck_assert_uint_eq(kv_head_off(&g, 0, 1), g.rec_off + g.head_size);
	ck_assert_uint_eq(kv_tail_off(&g, 0, 0), g.rec_off + 2 * g.head_size);
	ck_assert_uint_eq(kv_tail_off(&g, 0, 1), g.rec_off + g.head_size + g.rec_size);
	ck_assert_uint_eq(kv_slot_off(&g, 1), g.rec_off + 2 * g.rec_size);
	ck_assert_uint_eq(kv_tail_off(&g, nslots - 1, 1) + g.rec_size - g.head_size,
			  g.rec_off + nslots * 2 * g.rec_size);
	/* Most of the slab goes to the table (generously: 90%). */
	ck_assert_uint_ge(nslots * (8 + 2ull * g.rec_size), SLAB_64M / 10 * 9);
}
END_TEST

START_TEST(test_layout_caps_slot_count)
{
	struct kv_geometry g;
	char err[160];

	/* 1 TiB of 48-byte records would be over 2^32 slots: capped, and valid. */
	ck_assert_int_eq(kv_geometry_layout(1ull << 40, 8, 8, 8, 32, SEED, &g, err, sizeof(err)), 0);
	ck_assert_uint_le(kv_nslots(&g), UINT32_MAX);
	ck_assert_uint_eq(kv_nslots(&g) % 8, 0);
	ck_assert_int_eq(kv_geometry_check(&g, 1ull << 40, err, sizeof(err)), 0);
	/* A hello claiming more slots than that is refused. */
	g.nbuckets = (uint32_t)(UINT32_MAX / 8) + 1;
	ck_assert_int_eq(kv_geometry_check(&g, UINT64_MAX, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_check_record_size_must_match_limits)
{
	struct kv_geometry g;
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(1u << 24, 16, 64, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g,
					    err, sizeof(err)), 0);
	g.rec_size += 8; /* bigger than the limits need: a lying hello */
	ck_assert_int_eq(kv_geometry_check(&g, 1u << 24, err, sizeof(err)), -EINVAL);
	g.rec_size -= 8;
	g.head_size = KV_HEAD_LIMIT + 8;
	ck_assert_int_eq(kv_geometry_check(&g, 1u << 24, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_layout_sweep)
{
	/* Around the smallest slab that holds two buckets, every answer is
	 * either a refusal or a table that fits. */
	static const uint32_t shapes[][3] = {
		{KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE, 8}, {16, 64, 4}, {1, 1, 1},
		{KV_KEY_LIMIT, KV_VALUE_LIMIT, KV_MAX_BUCKET_SLOTS},
	};
	char err[160];

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		int accepted = 0;

		for (uint64_t len = 0; len < (96ull << 20); len = len * 9 / 8 + 4093) {
			struct kv_geometry g;
			int ret = kv_geometry_layout(len, shapes[i][0], shapes[i][1],
						     shapes[i][2], KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err));

			ck_assert_msg(ret == 0 || ret == -EINVAL, "slab %llu: %d",
				      (unsigned long long)len, ret);
			if (ret == 0) {
				assert_layout_sane(&g, len);
				accepted++;
			}
		}
		ck_assert_int_gt(accepted, 0);
	}
}
END_TEST

START_TEST(test_layout_too_small)
{
	struct kv_geometry g;
	char err[160];
	static const uint64_t lens[] = {0, 4096, (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN,
					(uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN + 8192};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(kv_geometry_layout(lens[i], KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE,
						 8, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)) == -EINVAL,
			      "a %llu-byte slab was laid out", (unsigned long long)lens[i]);
		ck_assert_str_ne(err, "");
	}
	/* 1 MiB is plenty for small records but not for 16 slots of 1 MiB values. */
	ck_assert_int_eq(kv_geometry_layout(1u << 20, 16, 64, 4, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(kv_geometry_layout(1u << 20, KV_KEY_LIMIT, KV_VALUE_LIMIT, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g,
					    err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_layout_bad_limits)
{
	struct kv_geometry g;
	char err[160];

	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 0, 1024, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, KV_KEY_LIMIT + 1, 1024, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g, err,
					    sizeof(err)), -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 16, 0, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 16, KV_VALUE_LIMIT + 1, 8, KV_DEFAULT_HEAD_SIZE, SEED, &g, err,
					    sizeof(err)), -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 16, 64, 0, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 16, 64, KV_MAX_BUCKET_SLOTS + 1, KV_DEFAULT_HEAD_SIZE, SEED, &g,
					    err, sizeof(err)), -EINVAL);
	/* The limits themselves are fine, given room for two buckets. */
	ck_assert_int_eq(kv_geometry_layout(4 * SLAB_64M, KV_KEY_LIMIT, KV_VALUE_LIMIT,
					    KV_MAX_BUCKET_SLOTS, KV_DEFAULT_HEAD_SIZE, SEED, &g, err, sizeof(err)), 0);
	assert_layout_sane(&g, 4 * SLAB_64M);
}
END_TEST

/* ------------------------------------------------------------- ctrl words */

START_TEST(test_ctrl_round_trip)
{
	static const struct {
		uint16_t owner, fp;
		bool used;
		unsigned active;
		uint64_t seq;
	} cases[] = {
		{0, 0, false, 0, 0},
		{65535, 65535, true, 1, KV_CTRL_SEQ_MASK},
		{1, 0x8001, false, 1, 1},
		{7, 0, true, 0, 123456789},
		{0x8000, 1, true, 0, KV_CTRL_SEQ_MASK - 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t c = kv_ctrl_make(cases[i].owner, cases[i].fp, cases[i].used,
					  cases[i].active, cases[i].seq);

		ck_assert_uint_eq(kv_ctrl_owner(c), cases[i].owner);
		ck_assert_uint_eq(kv_ctrl_fp(c), cases[i].fp);
		ck_assert_int_eq(kv_ctrl_used(c), cases[i].used);
		ck_assert_uint_eq(kv_ctrl_active(c), cases[i].active);
		ck_assert_uint_eq(kv_ctrl_seq(c), cases[i].seq);
	}
	/* Bit positions as documented. */
	ck_assert_uint_eq(kv_ctrl_make(65535, 65535, true, 1, KV_CTRL_SEQ_MASK), UINT64_MAX);
	ck_assert_uint_eq(kv_ctrl_make(1, 0, false, 0, 0), 1ull << 48);
	ck_assert_uint_eq(kv_ctrl_make(0, 1, false, 0, 0), 1ull << 32);
	ck_assert_uint_eq(kv_ctrl_make(0, 0, true, 0, 0), 1ull << 31);
	ck_assert_uint_eq(kv_ctrl_make(0, 0, false, 1, 0), 1ull << 30);
	ck_assert_uint_eq(kv_ctrl_make(0, 0, false, 0, 1), 1ull);
}
END_TEST

START_TEST(test_ctrl_fields_do_not_bleed)
{
	/* A seq past the mask and an active of 2 stay in their own bits. */
	uint64_t c = kv_ctrl_make(0, 0, false, 0, KV_CTRL_SEQ_MASK + 1);

	ck_assert_uint_eq(c, 0);
	c = kv_ctrl_make(0, 0, false, 2, 5);
	ck_assert_uint_eq(kv_ctrl_active(c), 0);
	ck_assert_uint_eq(kv_ctrl_seq(c), 5);
	c = kv_ctrl_make(3, 4, false, 0, UINT64_MAX);
	ck_assert_uint_eq(kv_ctrl_owner(c), 3);
	ck_assert_uint_eq(kv_ctrl_fp(c), 4);
	ck_assert(!kv_ctrl_used(c));
	ck_assert_uint_eq(kv_ctrl_active(c), 0);
	ck_assert_uint_eq(kv_ctrl_seq(c), KV_CTRL_SEQ_MASK);
}
END_TEST

START_TEST(test_ctrl_with_owner)
{
	uint64_t c = kv_ctrl_make(0, 0xbeef, true, 1, 77);
	uint64_t locked = kv_ctrl_with_owner(c, 65535);

	ck_assert_uint_eq(locked, kv_ctrl_make(65535, 0xbeef, true, 1, 77));
	ck_assert_uint_eq(kv_ctrl_with_owner(locked, 7), kv_ctrl_make(7, 0xbeef, true, 1, 77));
	ck_assert_uint_eq(kv_ctrl_with_owner(locked, 0), c);
}
END_TEST

START_TEST(test_seq_next)
{
	ck_assert_uint_eq(kv_seq_next(0), 1);
	ck_assert_uint_eq(kv_seq_next(1), 2);
	ck_assert_uint_eq(kv_seq_next(KV_CTRL_SEQ_MASK - 1), KV_CTRL_SEQ_MASK);
	ck_assert_uint_eq(kv_seq_next(KV_CTRL_SEQ_MASK), 1); /* skips 0 */
}
END_TEST

/* ---------------------------------------------------------------- hashing */

START_TEST(test_hash_properties)
{
	struct kv_geometry g = geo_64m();
	char key[32];

	for (int i = 0; i < 10000; i++) {
		struct kv_keyhash a, b;
		int n = snprintf(key, sizeof(key), "user:%06d", i);

		kv_key_hash(&g, key, (size_t)n, &a);
		memset(&b, 0xa5, sizeof(b));
		kv_key_hash(&g, key, (size_t)n, &b);
		ck_assert_uint_eq(a.b1, b.b1);
		ck_assert_uint_eq(a.b2, b.b2);
		ck_assert_uint_eq(a.home, b.home);
		ck_assert_uint_eq(a.fp, b.fp);

		ck_assert_uint_lt(a.b1, g.nbuckets);
		ck_assert_uint_lt(a.b2, g.nbuckets);
		ck_assert_uint_ne(a.b1, a.b2);
		ck_assert_uint_eq(a.home / g.bucket_slots, a.b1);
		ck_assert_uint_ne(a.fp, 0);
	}
}
END_TEST

START_TEST(test_hash_binary_keys)
{
	struct kv_geometry g = geo_64m();
	uint8_t key[KV_KEY_LIMIT];
	struct kv_keyhash a, b;

	fill_binary(key, sizeof(key), 1);
	kv_key_hash(&g, key, sizeof(key), &a);
	ck_assert_uint_ne(a.b1, a.b2);
	ck_assert_uint_ne(a.fp, 0);
	/* Bytes after a NUL count. */
	kv_key_hash(&g, "a\0b", 3, &a);
	kv_key_hash(&g, "a\0c", 3, &b);
	ck_assert(a.b1 != b.b1 || a.b2 != b.b2 || a.fp != b.fp || a.home != b.home);
	/* The seed matters. */
	g.hash_seed ^= 1;
	kv_key_hash(&g, key, sizeof(key), &b);
	g.hash_seed ^= 1;
	kv_key_hash(&g, key, sizeof(key), &a);
	ck_assert(a.b1 != b.b1 || a.b2 != b.b2 || a.fp != b.fp);
}
END_TEST

START_TEST(test_hash_two_buckets)
{
	/* With two buckets the alternative is always the other one. */
	struct kv_geometry g = geo_64m();
	char key[32];

	g.nbuckets = 2;
	for (int i = 0; i < 1000; i++) {
		struct kv_keyhash kh;
		int n = snprintf(key, sizeof(key), "k%d", i);

		kv_key_hash(&g, key, (size_t)n, &kh);
		ck_assert_uint_lt(kh.b1, 2);
		ck_assert_uint_eq(kh.b2, 1 - kh.b1);
		ck_assert_uint_eq(kh.home / g.bucket_slots, kh.b1);
	}
}
END_TEST

START_TEST(test_hash_spread)
{
	struct kv_geometry g = geo_64m();
	unsigned *b1 = calloc(g.nbuckets, sizeof(*b1));
	unsigned *b2 = calloc(g.nbuckets, sizeof(*b2));
	unsigned offset[KV_MAX_BUCKET_SLOTS] = {0};
	uint8_t *fps = calloc(65536, 1);
	unsigned max1 = 0, max2 = 0, hit1 = 0, hit2 = 0, distinct_fp = 0;
	const int nkeys = 10000;
	char key[32];

	ck_assert_ptr_nonnull(b1);
	ck_assert_ptr_nonnull(b2);
	ck_assert_ptr_nonnull(fps);
	for (int i = 0; i < nkeys; i++) {
		struct kv_keyhash kh;
		int n = snprintf(key, sizeof(key), "user:%06d", i);

		kv_key_hash(&g, key, (size_t)n, &kh);
		b1[kh.b1]++;
		b2[kh.b2]++;
		offset[kh.home % g.bucket_slots]++;
		distinct_fp += !fps[kh.fp];
		fps[kh.fp] = 1;
	}
	for (uint32_t b = 0; b < g.nbuckets; b++) {
		max1 = b1[b] > max1 ? b1[b] : max1;
		max2 = b2[b] > max2 ? b2[b] : max2;
		hit1 += b1[b] != 0;
		hit2 += b2[b] != 0;
	}
	/* About 3 keys a bucket on average: nothing near 20, almost none empty. */
	ck_assert_msg(max1 <= 20, "a bucket got %u of %d keys as b1", max1, nkeys);
	ck_assert_msg(max2 <= 20, "a bucket got %u of %d keys as b2", max2, nkeys);
	ck_assert_msg(hit1 >= g.nbuckets * 9 / 10, "only %u of %u buckets hit as b1", hit1,
		      g.nbuckets);
	ck_assert_msg(hit2 >= g.nbuckets * 9 / 10, "only %u of %u buckets hit as b2", hit2,
		      g.nbuckets);
	for (uint32_t i = 0; i < g.bucket_slots; i++)
		ck_assert_msg(offset[i] >= nkeys / g.bucket_slots * 8 / 10,
			      "home offset %u got %u keys", i, offset[i]);
	ck_assert_msg(distinct_fp >= 8500, "only %u distinct fingerprints", distinct_fp);
	free(b1);
	free(b2);
	free(fps);
}
END_TEST

/* ---------------------------------------------------------------- records */

START_TEST(test_rec_round_trip_max)
{
	struct kv_geometry g = geo_64m();
	uint8_t key[KV_KEY_LIMIT], val[KV_DEFAULT_MAX_VALUE];
	uint8_t *buf = rec_buf(&g);
	struct kv_rec_view v;
	size_t need = 0, len;

	fill_binary(key, sizeof(key), 3);
	fill_binary(val, sizeof(val), 11);
	len = kv_rec_encode(buf, 12345, 0, key, sizeof(key), val, sizeof(val));
	ck_assert_uint_eq(len, KV_REC_HDR + sizeof(key) + sizeof(val));
	ck_assert_uint_eq(len, kv_rec_len(sizeof(key), sizeof(val)));
	ck_assert_uint_le(len, g.rec_size);

	ck_assert_int_eq(kv_rec_decode(buf, g.rec_size, &g, &v, &need), KV_REC_VALID);
	ck_assert_uint_eq(v.seq, 12345);
	ck_assert_uint_eq(v.flags, 0);
	ck_assert_uint_eq(v.klen, sizeof(key));
	ck_assert_uint_eq(v.vlen, sizeof(val));
	ck_assert_ptr_eq(v.key, buf + KV_REC_HDR);
	ck_assert_ptr_eq(v.val, buf + KV_REC_HDR + sizeof(key));
	ck_assert_mem_eq(v.key, key, sizeof(key));
	ck_assert_mem_eq(v.val, val, sizeof(val));
	ck_assert(kv_rec_is_key(&v, key, sizeof(key)));
	ck_assert(!kv_rec_is_key(&v, key, sizeof(key) - 1));
	key[100] ^= 1;
	ck_assert(!kv_rec_is_key(&v, key, sizeof(key)));

	/* Exactly the record's length is enough. */
	ck_assert_int_eq(decode_guarded(buf, len, &g, &v, &need), KV_REC_VALID);
	free(buf);
}
END_TEST

START_TEST(test_rec_round_trip_small)
{
	struct kv_geometry g = geo_64m();
	uint8_t *buf = rec_buf(&g);
	static const uint8_t key[] = {0x00}, val[] = {0xff, 0x00, 0xff};
	struct kv_rec_view v;
	size_t need = 0;

	/* One NUL byte of key, an empty value. */
	ck_assert_uint_eq(kv_rec_encode(buf, 1, 0, key, 1, NULL, 0), KV_REC_HDR + 1);
	ck_assert_int_eq(decode_guarded(buf, KV_REC_HDR + 1, &g, &v, &need), KV_REC_VALID);
	ck_assert_uint_eq(v.klen, 1);
	ck_assert_uint_eq(v.vlen, 0);
	ck_assert_uint_eq(v.seq, 1);

	ck_assert_uint_eq(kv_rec_encode(buf, KV_CTRL_SEQ_MASK, 0, key, 1, val, 3),
			  KV_REC_HDR + 4);
	ck_assert_int_eq(kv_rec_decode(buf, g.rec_size, &g, &v, &need), KV_REC_VALID);
	ck_assert_uint_eq(v.seq, KV_CTRL_SEQ_MASK);
	ck_assert_mem_eq(v.val, val, 3);
	free(buf);
}
END_TEST

START_TEST(test_rec_tombstone)
{
	struct kv_geometry g = geo_64m();
	uint8_t *buf = rec_buf(&g);
	struct kv_rec_view v;
	size_t need = 0;

	ck_assert_uint_eq(kv_rec_encode(buf, 9, KV_REC_TOMBSTONE, NULL, 0, NULL, 0), KV_REC_HDR);
	ck_assert_int_eq(decode_guarded(buf, KV_REC_HDR, &g, &v, &need), KV_REC_VALID);
	ck_assert_uint_eq(v.flags, KV_REC_TOMBSTONE);
	ck_assert_uint_eq(v.seq, 9);
	ck_assert_uint_eq(v.klen, 0);
	ck_assert_uint_eq(v.vlen, 0);
	ck_assert(!kv_rec_is_key(&v, "", 0));
	free(buf);
}
END_TEST

/* Every flipped byte of an encoded record makes it BAD (read as a full copy). */
static void assert_flips_detected(const struct kv_geometry *g, const uint8_t *key,
				  size_t klen, const uint8_t *val, size_t vlen)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	uint8_t *buf = rec_buf(g);
	size_t len = kv_rec_len(klen, vlen);

	for (size_t pos = 0; pos < len; pos++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			struct kv_rec_view v;
			size_t need = 0;
			enum kv_rec_state st;

			memset(buf, 0, g->rec_size);
			kv_rec_encode(buf, 0x2345678, 0, key, klen, val, vlen);
			buf[pos] ^= masks[m];
			st = kv_rec_decode(buf, g->rec_size, g, &v, &need);
			ck_assert_msg(st == KV_REC_BAD,
				      "byte %zu ^ 0x%02x of a %zu-byte record: state %d", pos,
				      masks[m], len, st);
		}
	}
	free(buf);
}

START_TEST(test_rec_flipped_byte_max)
{
	struct kv_geometry g = geo_64m();
	uint8_t key[KV_KEY_LIMIT], val[KV_DEFAULT_MAX_VALUE];

	fill_binary(key, sizeof(key), 5);
	fill_binary(val, sizeof(val), 6);
	assert_flips_detected(&g, key, sizeof(key), val, sizeof(val));
}
END_TEST

START_TEST(test_rec_flipped_byte_small)
{
	struct kv_geometry g = geo_64m();
	static const uint8_t key[] = "k\0y", val[] = {0xff, 0, 1, 2, 0xff};

	assert_flips_detected(&g, key, 3, val, sizeof(val));
}
END_TEST

START_TEST(test_rec_empty)
{
	struct kv_geometry g = geo_64m();
	uint8_t *buf = rec_buf(&g);
	struct kv_rec_view v;
	size_t need = 0;

	ck_assert_int_eq(kv_rec_decode(buf, g.rec_size, &g, &v, &need), KV_REC_EMPTY);
	ck_assert_int_eq(decode_guarded(buf, KV_REC_HDR, &g, &v, &need), KV_REC_EMPTY);
	/* seq 0 with anything else in the header is not empty. */
	raw_header(buf, 0, 0, 1, 0, 0);
	ck_assert_int_eq(kv_rec_decode(buf, g.rec_size, &g, &v, &need), KV_REC_BAD);
	raw_header(buf, 0, 1, 0, 0, 0);
	ck_assert_int_eq(kv_rec_decode(buf, g.rec_size, &g, &v, &need), KV_REC_BAD);
	free(buf);
}
END_TEST

START_TEST(test_rec_short_prefix)
{
	struct kv_geometry g = geo_64m();
	uint8_t key[40], val[300];
	uint8_t *buf = rec_buf(&g);
	size_t len;

	fill_binary(key, sizeof(key), 7);
	fill_binary(val, sizeof(val), 8);
	len = kv_rec_encode(buf, 77, 0, key, sizeof(key), val, sizeof(val));
	for (size_t n = 0; n <= len; n++) {
		struct kv_rec_view v;
		size_t need = 0;
		enum kv_rec_state st = decode_guarded(buf, n, &g, &v, &need);

		if (n == len) {
			ck_assert_int_eq(st, KV_REC_VALID);
			break;
		}
		ck_assert_msg(st == KV_REC_SHORT, "%zu of %zu bytes: state %d", n, len, st);
		ck_assert_msg(need == (n < KV_REC_HDR ? KV_REC_HDR : len),
			      "%zu of %zu bytes: need %zu", n, len, need);
	}
	free(buf);
}
END_TEST

START_TEST(test_rec_garbage_lengths)
{
	struct kv_geometry g = geo_64m();
	static const struct {
		uint64_t seq;
		uint16_t klen, flags;
		uint32_t vlen;
	} bad[] = {
		{5, 0xffff, 0, 0xffffffffu},
		{5, KV_KEY_LIMIT + 1, 0, 0},
		{5, 1, 0, KV_DEFAULT_MAX_VALUE + 1},
		{5, 1, 0, 0x80000000u},
		{5, 1, 2, 1},                  /* unknown flag */
		{5, 1, 0x8000, 1},
		{5, 1, KV_REC_TOMBSTONE, 0},   /* tombstones carry no key */
		{5, 0, KV_REC_TOMBSTONE, 1},   /* ... and no value */
		{5, 0, 0, 5},                  /* a live record has a key */
		{KV_CTRL_SEQ_MASK + 1, 1, 0, 1},
		{UINT64_MAX, 1, 0, 1},
	};
	uint8_t hdr[KV_REC_HDR];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv_rec_view v;
		size_t need = 0;

		raw_header(hdr, bad[i].seq, 0x1234, bad[i].klen, bad[i].flags, bad[i].vlen);
		/* Only the header is there: anything past it would fault. */
		ck_assert_msg(decode_guarded(hdr, sizeof(hdr), &g, &v, &need) == KV_REC_BAD,
			      "garbage header #%zu not BAD", i);
	}
	/* A plausible header over too few bytes asks for the rest. */
	{
		struct kv_rec_view v;
		size_t need = 0;

		raw_header(hdr, 5, 0x1234, 5, 0, 10);
		ck_assert_int_eq(decode_guarded(hdr, sizeof(hdr), &g, &v, &need), KV_REC_SHORT);
		ck_assert_uint_eq(need, KV_REC_HDR + 15);
	}
}
END_TEST

START_TEST(test_rec_random_garbage)
{
	struct kv_geometry g = geo_64m();
	uint8_t *buf = rec_buf(&g);
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (int iter = 0; iter < 3000; iter++) {
		size_t len = (size_t)(xorshift(&rng) % (g.rec_size + 1));
		struct kv_rec_view v;
		size_t need = 0;
		enum kv_rec_state st;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)xorshift(&rng);
		if (iter % 2 && len >= KV_REC_HDR) /* plausible headers, half the time */
			raw_header(buf, xorshift(&rng) & KV_CTRL_SEQ_MASK, xorshift(&rng),
				   (uint16_t)(xorshift(&rng) % (g.max_key + 1)),
				   (uint16_t)(xorshift(&rng) % 2),
				   (uint32_t)(xorshift(&rng) % (g.max_value + 1)));
		st = decode_guarded(buf, len, &g, &v, &need);
		ck_assert_msg(st != KV_REC_VALID, "random bytes passed the checksum");
		if (st == KV_REC_SHORT) {
			ck_assert_uint_gt(need, len);
			ck_assert_uint_le(need, g.rec_size);
		}
	}
	free(buf);
}
END_TEST

/* ------------------------------------------------------------ kv_slot_pick */

/* Two record copies of one slot, as a client reads them. */
struct pair {
	struct kv_geometry g;
	uint8_t *c[2];
};

static struct pair pair_new(void)
{
	struct pair p = {.g = geo_64m()};

	p.c[0] = rec_buf(&p.g);
	p.c[1] = rec_buf(&p.g);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->c[0]);
	free(p->c[1]);
}

static size_t pair_put(struct pair *p, unsigned i, uint64_t seq, const char *val)
{
	memset(p->c[i], 0, p->g.rec_size);
	return kv_rec_encode(p->c[i], seq, 0, "key", 3, val, strlen(val));
}

static void pair_tomb(struct pair *p, unsigned i, uint64_t seq)
{
	memset(p->c[i], 0, p->g.rec_size);
	kv_rec_encode(p->c[i], seq, KV_REC_TOMBSTONE, NULL, 0, NULL, 0);
}

static void pair_tear(struct pair *p, unsigned i)
{
	p->c[i][KV_REC_HDR + 1] ^= 0x40; /* a byte of the key */
}

static enum kv_pick pair_pick(struct pair *p, size_t len, struct kv_rec_view *v,
			      size_t *need)
{
	return kv_slot_pick(p->c[0], len, p->c[1], len, &p->g, v, need);
}

static void assert_picked(struct pair *p, size_t len, uint64_t seq, const char *val)
{
	struct kv_rec_view v;
	size_t need = 0;

	ck_assert_int_eq(pair_pick(p, len, &v, &need), KV_PICK_RECORD);
	ck_assert_uint_eq(v.seq, seq);
	ck_assert_uint_eq(v.vlen, strlen(val));
	ck_assert_mem_eq(v.val, val, strlen(val));
	ck_assert(kv_rec_is_key(&v, "key", 3));
}

START_TEST(test_pick_newest)
{
	struct pair p = pair_new();

	pair_put(&p, 0, 5, "old");
	pair_put(&p, 1, 6, "new");
	assert_picked(&p, p.g.rec_size, 6, "new");
	pair_put(&p, 0, 7, "newer");
	assert_picked(&p, p.g.rec_size, 7, "newer");
	/* One copy never written. */
	memset(p.c[1], 0, p.g.rec_size);
	assert_picked(&p, p.g.rec_size, 7, "newer");
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_torn_and_valid)
{
	struct pair p = pair_new();

	pair_put(&p, 0, 5, "old");
	pair_put(&p, 1, 6, "new");
	pair_tear(&p, 1);
	assert_picked(&p, p.g.rec_size, 5, "old");

	pair_put(&p, 0, 8, "torn");
	pair_tear(&p, 0);
	pair_put(&p, 1, 7, "kept");
	assert_picked(&p, p.g.rec_size, 7, "kept");
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_both_torn)
{
	struct pair p = pair_new();
	struct kv_rec_view v;
	size_t need = 0;
	uint64_t rng = 42;

	pair_put(&p, 0, 5, "a");
	pair_put(&p, 1, 6, "b");
	pair_tear(&p, 0);
	pair_tear(&p, 1);
	ck_assert_int_eq(pair_pick(&p, p.g.rec_size, &v, &need), KV_PICK_TORN);

	/* Garbage in one, nothing in the other: a first write that is in
	 * flight or died; the slot holds nothing (seq 0), it is not corrupt. */
	for (uint32_t i = 0; i < p.g.rec_size; i++)
		p.c[0][i] = (uint8_t)xorshift(&rng);
	memset(p.c[1], 0, p.g.rec_size);
	ck_assert_int_eq(pair_pick(&p, p.g.rec_size, &v, &need), KV_PICK_NONE);
	ck_assert_uint_eq(v.seq, 0);
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_both_empty)
{
	struct pair p = pair_new();
	struct kv_rec_view v;
	size_t need = 0;

	ck_assert_int_eq(pair_pick(&p, p.g.rec_size, &v, &need), KV_PICK_NONE);
	ck_assert_int_eq(pair_pick(&p, KV_REC_HDR, &v, &need), KV_PICK_NONE);
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_tombstone)
{
	struct pair p = pair_new();
	struct kv_rec_view v;
	size_t need = 0;

	pair_put(&p, 0, 5, "alive");
	pair_tomb(&p, 1, 6);
	ck_assert_int_eq(pair_pick(&p, p.g.rec_size, &v, &need), KV_PICK_NONE);
	/* An older tombstone does not hide a newer record. */
	pair_put(&p, 0, 7, "again");
	assert_picked(&p, p.g.rec_size, 7, "again");
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_short_newer)
{
	struct pair p = pair_new();
	char big[501];
	struct kv_rec_view v;
	size_t need = 0, full;

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pair_put(&p, 0, 5, "small");
	full = pair_put(&p, 1, 6, big);
	/* Read 64-byte prefixes: copy 0 is whole, copy 1 newer and cut short. */
	ck_assert_int_eq(pair_pick(&p, 64, &v, &need), KV_PICK_SHORT);
	ck_assert_uint_eq(need, full);
	assert_picked(&p, need, 6, big);

	/* Both cut short: the longer need wins. */
	pair_put(&p, 0, 5, big);
	ck_assert_int_eq(pair_pick(&p, 64, &v, &need), KV_PICK_SHORT);
	ck_assert_uint_eq(need, full);

	/* Only the header seen: ask for the record. */
	ck_assert_int_eq(pair_pick(&p, 16, &v, &need), KV_PICK_SHORT);
	ck_assert_uint_ge(need, KV_REC_HDR);
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_short_older)
{
	struct pair p = pair_new();
	char big[501];

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pair_put(&p, 0, 5, "small");
	pair_put(&p, 1, 4, big);
	/* The cut-short copy is older: no need to read it. */
	assert_picked(&p, 64, 5, "small");
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_tiny_prefix_stays_in_bounds)
{
	/* A prefix shorter than the seq field: its copy may be the newer one,
	 * and nothing past the prefix may be read to find out. */
	struct pair p = pair_new();
	struct guarded c1;
	struct kv_rec_view v;
	size_t need = 0;
	size_t full0 = pair_put(&p, 0, 5, "old");

	pair_put(&p, 1, 6, "new");
	for (size_t len = 0; len < 8; len++) {
		enum kv_pick pick;

		c1 = guarded_copy(p.c[1], len);
		mark_point(); /* a fault here is a read past the prefix */
		pick = kv_slot_pick(p.c[0], full0, c1.p, len, &p.g, &v, &need);
		guarded_free(&c1);
		ck_assert_msg(pick == KV_PICK_SHORT, "%zu-byte prefix: pick %d", len, pick);
		ck_assert_uint_ge(need, KV_REC_HDR);
	}
	pair_free(&p);
}
END_TEST

START_TEST(test_pick_seq_wrap)
{
	struct pair p = pair_new();

	/* After KV_CTRL_SEQ_MASK comes 1. */
	pair_put(&p, 0, KV_CTRL_SEQ_MASK, "before");
	pair_put(&p, 1, 1, "after");
	assert_picked(&p, p.g.rec_size, 1, "after");
	pair_put(&p, 0, 2, "after-after");
	assert_picked(&p, p.g.rec_size, 2, "after-after");
	pair_put(&p, 0, KV_CTRL_SEQ_MASK - 1, "a");
	pair_put(&p, 1, KV_CTRL_SEQ_MASK, "b");
	assert_picked(&p, p.g.rec_size, KV_CTRL_SEQ_MASK, "b");
	pair_put(&p, 0, kv_seq_next(KV_CTRL_SEQ_MASK), "c");
	assert_picked(&p, p.g.rec_size, 1, "c");
	pair_free(&p);
}
END_TEST

/* ---------------------------------------------------------------- probing */

/* A geometry of 16 buckets of 4 slots; the key lives in buckets 3 and 9. */
static struct kv_geometry probe_geo(void)
{
	struct kv_geometry g = {.nbuckets = 16, .bucket_slots = 4};

	return g;
}

static const struct kv_keyhash probe_kh = {.b1 = 3, .b2 = 9, .home = 13, .fp = 0x1234};

START_TEST(test_probe_matches)
{
	struct kv_geometry g = probe_geo();
	const uint64_t ctrl1[4] = {
		kv_ctrl_make(0, 0x1234, true, 0, 5),  /* slot 12: match */
		kv_ctrl_make(0, 0x1235, true, 0, 5),  /* 13: other fp */
		kv_ctrl_make(0, 0x1234, false, 1, 9), /* 14: free, stale fp */
		kv_ctrl_make(4, 0x1234, true, 1, 3),  /* 15: locked, still a match */
	};
	const uint64_t ctrl2[4] = {
		0,
		kv_ctrl_make(0, 0x1234, true, 1, 77), /* 37: match */
		kv_ctrl_make(0, 0x0034, true, 0, 1),
		kv_ctrl_make(0, 0x1200, true, 0, 1),
	};
	uint32_t out[8];
	uint64_t out_ctrl[8];
	unsigned n;

	n = kv_probe_matches(&g, &probe_kh, ctrl1, ctrl2, UINT32_MAX, out, out_ctrl);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(out[0], 12);
	ck_assert_uint_eq(out_ctrl[0], ctrl1[0]);
	ck_assert_uint_eq(out[1], 15);
	ck_assert_uint_eq(out_ctrl[1], ctrl1[3]);
	ck_assert_uint_eq(out[2], 37);
	ck_assert_uint_eq(out_ctrl[2], ctrl2[1]);

	/* The slot already looked at is skipped. */
	n = kv_probe_matches(&g, &probe_kh, ctrl1, ctrl2, 12, out, out_ctrl);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 15);
	ck_assert_uint_eq(out[1], 37);
	n = kv_probe_matches(&g, &probe_kh, ctrl1, ctrl2, 37, out, out_ctrl);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 12);
	ck_assert_uint_eq(out[1], 15);
}
END_TEST

START_TEST(test_probe_matches_none_and_all)
{
	struct kv_geometry g = probe_geo();
	uint64_t empty[4] = {0}, all[4];
	uint32_t out[8];
	uint64_t out_ctrl[8];

	ck_assert_uint_eq(kv_probe_matches(&g, &probe_kh, empty, empty, UINT32_MAX, out,
					   out_ctrl), 0);
	for (int i = 0; i < 4; i++)
		all[i] = kv_ctrl_make(0, 0x1234, true, i & 1, (uint64_t)i + 1);
	ck_assert_uint_eq(kv_probe_matches(&g, &probe_kh, all, all, UINT32_MAX, out,
					   out_ctrl), 8);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(out[i], (i < 4 ? 3 * 4 : 9 * 4) + i % 4);
}
END_TEST

START_TEST(test_probe_free_more_room)
{
	struct kv_geometry g = probe_geo();
	const uint64_t full = kv_ctrl_make(0, 0x1111, true, 0, 1);
	const uint64_t tomb = kv_ctrl_make(0, 0, false, 1, 44); /* freed by a delete */
	uint64_t ctrl1[4] = {full, full, 0, full};
	uint64_t ctrl2[4] = {full, tomb, 0, 0};
	uint32_t slot = 0;
	uint64_t c = 1;

	/* Bucket 9 has three free slots to bucket 3's one. */
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, ctrl1, ctrl2, &slot, &c), 0);
	ck_assert_uint_eq(slot, 9 * 4 + 1);
	ck_assert_uint_eq(c, tomb);

	/* The other way round. */
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, ctrl2, ctrl1, &slot, &c), 0);
	ck_assert_uint_eq(slot, 3 * 4 + 1);
	ck_assert_uint_eq(c, tomb);

	/* Only b2 has room. */
	ctrl1[2] = full;
	ctrl2[1] = full;
	ctrl2[2] = full;
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, ctrl1, ctrl2, &slot, &c), 0);
	ck_assert_uint_eq(slot, 9 * 4 + 3);
	ck_assert_uint_eq(c, 0);
}
END_TEST

START_TEST(test_probe_free_full)
{
	struct kv_geometry g = probe_geo();
	uint64_t used[4], locked[4];
	uint32_t slot = 0xdead;
	uint64_t c = 0xdead;

	for (int i = 0; i < 4; i++) {
		used[i] = kv_ctrl_make(0, (uint16_t)(i + 1), true, 0, 1);
		/* An insert in progress: not used yet, but locked. */
		locked[i] = kv_ctrl_make((uint16_t)(i + 2), 0, false, 0, 0);
	}
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, used, used, &slot, &c), -ENOSPC);
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, locked, locked, &slot, &c), -EBUSY);
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, used, locked, &slot, &c), -EBUSY);
	/* Locked free slots are passed over for an unlocked one. */
	locked[3] = 0;
	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, used, locked, &slot, &c), 0);
	ck_assert_uint_eq(slot, 9 * 4 + 3);
}
END_TEST

START_TEST(test_probe_free_counts_unlocked_only)
{
	struct kv_geometry g = probe_geo();
	const uint64_t full = kv_ctrl_make(0, 0x1111, true, 0, 1);
	const uint64_t inserting = kv_ctrl_make(6, 0, false, 0, 0);
	/* b1: one free slot and two being inserted into; b2: two free. */
	const uint64_t ctrl1[4] = {inserting, inserting, 0, full};
	const uint64_t ctrl2[4] = {full, 0, full, 0};
	uint32_t slot = 0;
	uint64_t c = 1;

	ck_assert_int_eq(kv_probe_free(&g, &probe_kh, ctrl1, ctrl2, &slot, &c), 0);
	ck_assert_uint_eq(slot, 9 * 4 + 1);
	ck_assert_uint_eq(c, 0);
}
END_TEST

/* ---------------------------------------------------------------- the sweep */

#define LEASE_NS 1000000000ull
#define MS 1000000ull

/* What the fence callback saw: how often, whom, and the word it left. */
struct fence_log {
	struct slab *s;
	uint64_t slot;
	unsigned calls;
	uint16_t owner;
	uint64_t word_at_fence;
};

static void record_fence(void *ctx, uint16_t owner)
{
	struct fence_log *f = ctx;

	f->calls++;
	f->owner = owner;
	f->word_at_fence = *ctrl_of(f->s, f->slot);
}

/* One whole pass at time @now; returns the locks released. */
static unsigned sweep_pass(struct kv_sweep *sw, const struct slab *s, uint64_t now)
{
	return kv_sweep_step(sw, kv_nslots(&s->g), now);
}

/* A lock word naming an id nobody has (garbage, or a previous run's client)
 * is released in the first pass, without fencing anyone. */
START_TEST(test_sweep_releases_unknown_owner)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 10};
	struct kv_sweep sw;
	const uint16_t fp = fp_of(&s.g, "alpha");

	put_record(&s, 10, 0, 5, "alpha", "one");
	*ctrl_of(&s, 10) = kv_ctrl_make(9, fp, true, 0, 5);
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 1), 1);
	ck_assert_uint_eq(*ctrl_of(&s, 10), kv_ctrl_make(0, fp, true, 0, 5));
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(sw.last.used, 1);
	ck_assert_uint_eq(sw.last.locked, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A live client's lock survives until it has been held, unchanged, past the
 * lease; then the holder is fenced before anything is released. */
START_TEST(test_sweep_lease_fences_first)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 10};
	const uint16_t fp = fp_of(&s.g, "alpha");
	const uint64_t locked = kv_ctrl_make(5, fp, true, 0, 5);
	struct kv_sweep sw;

	put_record(&s, 10, 0, 5, "alpha", "one");
	put_record(&s, 10, 1, 6, "alpha", "two"); /* its write landed, unpublished */
	*ctrl_of(&s, 10) = locked;
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS), 0);                  /* first seen */
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS + LEASE_NS / 2), 0);
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS + LEASE_NS), 0);       /* exactly the lease */
	ck_assert_uint_eq(sw.last.locked, 1);
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 2 * MS + LEASE_NS), 1);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(f.owner, 5);
	ck_assert_uint_eq(f.word_at_fence, locked);                  /* fenced, then released */
	ck_assert_uint_eq(*ctrl_of(&s, 10), kv_ctrl_make(0, fp, true, 1, 6)); /* adopted */
	ck_assert_uint_eq(sw.fenced, 1);
	ck_assert_uint_eq(sw.released, 1);
	ck_assert(!kv_sweep_id_free(&sw, 5));
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A lock word that changes between passes is progress: no lease runs out. */
START_TEST(test_sweep_progress_restarts_lease)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 10};
	const uint16_t fp = fp_of(&s.g, "alpha");
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	for (uint64_t i = 0; i < 10; i++) {
		*ctrl_of(&s, 10) = kv_ctrl_make(5, fp, true, i % 2, 5 + i);
		ck_assert_uint_eq(sweep_pass(&sw, &s, 1 + i * (LEASE_NS / 2)), 0);
	}
	ck_assert_uint_eq(f.calls, 0);
	/* Unlocked in between and locked again with the same word: a new lock. */
	*ctrl_of(&s, 10) = kv_ctrl_make(0, fp, true, 1, 20);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 6 * LEASE_NS), 0);
	*ctrl_of(&s, 10) = kv_ctrl_make(5, fp, true, 1, 14);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 7 * LEASE_NS), 0);
	ck_assert_uint_eq(f.calls, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* The same lock word taken again and again (an insert lock on a home slot
 * that holds another key) looks held all along; a client that takes new
 * locks meanwhile is working, not stuck, and keeps its lease. */
START_TEST(test_sweep_repeated_word_with_progress)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 10};
	const uint64_t home = kv_ctrl_make(5, fp_of(&s.g, "other"), true, 0, 7);
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	*ctrl_of(&s, 10) = home;
	for (uint64_t i = 0; i < 10; i++) {
		/* Each time, a claim with a new word somewhere else. */
		*ctrl_of(&s, 20) = kv_ctrl_make(5, fp_of(&s.g, "mine"), false, i % 2, 3 + i);
		ck_assert_uint_eq(sweep_pass(&sw, &s, MS + i * (LEASE_NS / 2)), 0);
	}
	ck_assert_uint_eq(f.calls, 0);
	/* Then nothing new for more than a lease: stuck. */
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS + 6 * LEASE_NS), 2);
	ck_assert_uint_eq(f.calls, 1);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* Every step looks again at the locks it saw: one given back and taken
 * again with the same word between two passes is a new lock. */
START_TEST(test_sweep_recheck_sees_release)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 10};
	const uint64_t locked = kv_ctrl_make(5, fp_of(&s.g, "other"), true, 0, 7);
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	*ctrl_of(&s, 10) = locked;
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS), 0);
	ck_assert_uint_eq(sw.ntrack, 1);
	*ctrl_of(&s, 10) = kv_ctrl_with_owner(locked, 0);
	ck_assert_uint_eq(kv_sweep_step(&sw, 0, MS + LEASE_NS / 2), 0); /* looks again only */
	ck_assert_uint_eq(sw.ntrack, 0);
	*ctrl_of(&s, 10) = locked;
	ck_assert_uint_eq(sweep_pass(&sw, &s, 2 * MS + LEASE_NS), 0);
	ck_assert_uint_eq(f.calls, 0);
	/* Held at every look since: now it is past its lease. */
	ck_assert_uint_eq(kv_sweep_step(&sw, 0, 3 * MS + 2 * LEASE_NS), 1);
	ck_assert_uint_eq(f.calls, 1);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* However many locks a stuck client holds, the lease catches it. */
START_TEST(test_sweep_many_locks)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 3};
	struct kv_sweep sw;

	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	kv_sweep_owner_live(&sw, 5);
	for (uint64_t slot = 3; slot < 8; slot++)
		*ctrl_of(&s, slot) = kv_ctrl_make(5, 0, false, 0, slot);
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS), 0);
	ck_assert_uint_eq(sweep_pass(&sw, &s, MS + LEASE_NS / 2), 0);
	ck_assert_uint_eq(sw.last.locked, 5);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 2 * MS + LEASE_NS), 5);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_uint_eq(sweep_pass(&sw, &s, 3 * MS + LEASE_NS), 0);
	ck_assert_uint_eq(sw.last.locked, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* A client that went away: its locks go in the next pass, unfenced, and its
 * id is handed out again only after a whole pass more. */
START_TEST(test_sweep_gone_owner)
{
	struct slab s = slab_new();
	struct fence_log f = {.s = &s, .slot = 13};
	struct kv_sweep sw;

	*ctrl_of(&s, 13) = kv_ctrl_make(5, fp_of(&s.g, "beta"), false, 0, 0); /* a claim */
	ck_assert_int_eq(kv_sweep_init(&sw, s.mem, &s.g, LEASE_NS, record_fence, &f), 0);
	ck_assert(kv_sweep_id_free(&sw, 5));
	ck_assert(!kv_sweep_id_free(&sw, 0));
	kv_sweep_owner_live(&sw, 5);
	ck_assert(!kv_sweep_id_free(&sw, 5));
	ck_assert_uint_eq(kv_sweep_step(&sw, 3, 1), 0); /* part of a pass */
	kv_sweep_owner_gone(&sw, 5);
	ck_assert(kv_sweep_pending(&sw));
	ck_assert_uint_eq(sweep_pass(&sw, &s, 2), 1);   /* finishes one, starts the next */
	ck_assert_uint_eq(*ctrl_of(&s, 13), 0);        /* the claim is free again */
	ck_assert(!kv_sweep_id_free(&sw, 5));
	ck_assert_uint_eq(sweep_pass(&sw, &s, 3), 0);
	ck_assert(kv_sweep_id_free(&sw, 5));
	ck_assert(!kv_sweep_pending(&sw));
	ck_assert_uint_eq(f.calls, 0);
	kv_sweep_free(&sw);
	free(s.mem);
}
END_TEST

/* ---------------------------------------------------- slab release, census */

START_TEST(test_release_adopts_newer_copy)
{
	struct slab s = slab_new();
	const uint16_t fp = fp_of(&s.g, "alpha");

	/* (a) owner 7 wrote seq 6 into the inactive copy and went away. */
	put_record(&s, 10, 0, 5, "alpha", "one");
	put_record(&s, 10, 1, 6, "alpha", "two");
	*ctrl_of(&s, 10) = kv_ctrl_make(7, fp, true, 0, 5);
	/* An insert into a free slot, also complete. */
	put_record(&s, 20, 1, 1, "beta", "x");
	*ctrl_of(&s, 20) = kv_ctrl_make(7, 0, false, 0, 0);

	ck_assert_uint_eq(release_owner(&s, 7), 2);
	ck_assert_uint_eq(*ctrl_of(&s, 10), kv_ctrl_make(0, fp, true, 1, 6));
	ck_assert_uint_eq(*ctrl_of(&s, 20), kv_ctrl_make(0, fp_of(&s.g, "beta"), true, 1, 1));
	/* Nothing left to release. */
	ck_assert_uint_eq(release_owner(&s, 7), 0);
	free(s.mem);
}
END_TEST

START_TEST(test_release_adopts_across_seq_wrap)
{
	struct slab s = slab_new();
	const uint16_t fp = fp_of(&s.g, "w");

	put_record(&s, 3, 1, KV_CTRL_SEQ_MASK, "w", "last");
	put_record(&s, 3, 0, 1, "w", "first-again");
	*ctrl_of(&s, 3) = kv_ctrl_make(7, fp, true, 1, KV_CTRL_SEQ_MASK);
	ck_assert_uint_eq(release_owner(&s, 7), 1);
	ck_assert_uint_eq(*ctrl_of(&s, 3), kv_ctrl_make(0, fp, true, 0, 1));
	free(s.mem);
}
END_TEST

START_TEST(test_release_torn_restores)
{
	struct slab s = slab_new();
	const uint16_t fp = fp_of(&s.g, "alpha");

	/* (b) the write to the inactive copy never finished. */
	put_record(&s, 10, 0, 5, "alpha", "one");
	put_record(&s, 10, 1, 6, "alpha", "two");
	copy_of(&s, 10, 1)[KV_REC_HDR + 6] ^= 0xff;
	*ctrl_of(&s, 10) = kv_ctrl_make(7, fp, true, 0, 5);
	/* Nothing written at all. */
	put_record(&s, 11, 1, 3, "gamma", "g");
	*ctrl_of(&s, 11) = kv_ctrl_make(7, fp_of(&s.g, "gamma"), true, 1, 3);
	/* The inactive copy holds an older write, not a newer one. */
	put_record(&s, 12, 0, 4, "delta", "older");
	put_record(&s, 12, 1, 5, "delta", "current");
	*ctrl_of(&s, 12) = kv_ctrl_make(7, fp_of(&s.g, "delta"), true, 1, 5);
	/* A locked free slot whose insert did not get anywhere. */
	*ctrl_of(&s, 13) = kv_ctrl_make(7, 0, false, 0, 0);

	ck_assert_uint_eq(release_owner(&s, 7), 4);
	ck_assert_uint_eq(*ctrl_of(&s, 10), kv_ctrl_make(0, fp, true, 0, 5));
	ck_assert_uint_eq(*ctrl_of(&s, 11), kv_ctrl_make(0, fp_of(&s.g, "gamma"), true, 1, 3));
	ck_assert_uint_eq(*ctrl_of(&s, 12), kv_ctrl_make(0, fp_of(&s.g, "delta"), true, 1, 5));
	ck_assert_uint_eq(*ctrl_of(&s, 13), 0);
	free(s.mem);
}
END_TEST

START_TEST(test_release_tombstone_frees)
{
	struct slab s = slab_new();
	const uint16_t fp = fp_of(&s.g, "alpha");
	uint64_t c;

	/* (c) owner 7 deleted the key and went away before unlocking. */
	put_record(&s, 10, 0, 5, "alpha", "one");
	put_tombstone(&s, 10, 1, 6);
	*ctrl_of(&s, 10) = kv_ctrl_make(7, fp, true, 0, 5);
	ck_assert_uint_eq(release_owner(&s, 7), 1);
	c = *ctrl_of(&s, 10);
	ck_assert_uint_eq(kv_ctrl_owner(c), 0);
	ck_assert(!kv_ctrl_used(c));
	ck_assert_uint_eq(kv_ctrl_active(c), 1);
	ck_assert_uint_eq(kv_ctrl_seq(c), 6);
	ck_assert_uint_eq(kv_ctrl_fp(c), 0);
	free(s.mem);
}
END_TEST

START_TEST(test_release_other_owners_untouched)
{
	struct slab s = slab_new();
	uint8_t *before = malloc(s.len);
	uint64_t nslots = kv_nslots(&s.g);
	const uint16_t fp = fp_of(&s.g, "alpha");

	ck_assert_ptr_nonnull(before);
	/* (d) owner 8 holds slots in every state; owner 7 holds a few. */
	put_record(&s, 1, 0, 5, "alpha", "one");
	put_record(&s, 1, 1, 6, "alpha", "two");
	*ctrl_of(&s, 1) = kv_ctrl_make(8, fp, true, 0, 5);
	*ctrl_of(&s, 2) = kv_ctrl_make(8, 0, false, 0, 0);
	*ctrl_of(&s, nslots - 1) = kv_ctrl_make(8, 0x4444, true, 1, 99);
	put_record(&s, 5, 1, 2, "mine", "m");
	*ctrl_of(&s, 5) = kv_ctrl_make(7, 0, false, 0, 1);
	*ctrl_of(&s, 6) = kv_ctrl_make(7, 0, false, 0, 0);
	*ctrl_of(&s, nslots - 2) = kv_ctrl_make(7, 0, false, 0, 0);
	*ctrl_of(&s, 7) = kv_ctrl_make(0, 0x7777, true, 1, 3); /* unlocked */
	memcpy(before, s.mem, s.len);

	ck_assert_uint_eq(release_owner(&s, 0), 0);
	ck_assert_mem_eq(s.mem, before, s.len);

	ck_assert_uint_eq(release_owner(&s, 7), 3);
	ck_assert_uint_eq(*ctrl_of(&s, 5), kv_ctrl_make(0, fp_of(&s.g, "mine"), true, 1, 2));
	ck_assert_uint_eq(*ctrl_of(&s, 6), 0);
	ck_assert_uint_eq(*ctrl_of(&s, nslots - 2), 0);
	/* Put back what owner 7 changed: then nothing else may differ. */
	*ctrl_of(&s, 5) = kv_ctrl_make(7, 0, false, 0, 1);
	*ctrl_of(&s, 6) = kv_ctrl_make(7, 0, false, 0, 0);
	*ctrl_of(&s, nslots - 2) = kv_ctrl_make(7, 0, false, 0, 0);
	ck_assert_mem_eq(s.mem, before, s.len);

	ck_assert_uint_eq(release_owner(&s, 9), 0);
	ck_assert_mem_eq(s.mem, before, s.len);
	free(before);
	free(s.mem);
}
END_TEST

START_TEST(test_release_many)
{
	struct slab s = slab_new();
	uint64_t nslots = kv_nslots(&s.g);
	unsigned expect = 0;

	for (uint64_t i = 0; i < nslots; i += 3) {
		*ctrl_of(&s, i) = kv_ctrl_make(65535, 0, false, 0, 0);
		expect++;
	}
	ck_assert_uint_eq(release_owner(&s, 65535), expect);
	for (uint64_t i = 0; i < nslots; i++)
		ck_assert_uint_eq(*ctrl_of(&s, i), 0);
	free(s.mem);
}
END_TEST

START_TEST(test_census_counts)
{
	struct slab s = slab_new();
	struct kv_slab_census c;

	memset(&c, 0xff, sizeof(c));
	kv_slab_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.used, 0);
	ck_assert_uint_eq(c.locked, 0);

	*ctrl_of(&s, 0) = kv_ctrl_make(0, 1, true, 0, 1);
	*ctrl_of(&s, 1) = kv_ctrl_make(3, 1, true, 0, 1);
	*ctrl_of(&s, 2) = kv_ctrl_make(3, 0, false, 0, 0);
	*ctrl_of(&s, 3) = kv_ctrl_make(0, 0, false, 1, 9); /* deleted */
	*ctrl_of(&s, kv_nslots(&s.g) - 1) = kv_ctrl_make(0, 2, true, 1, 2);
	kv_slab_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.used, 3);
	ck_assert_uint_eq(c.locked, 2);
	free(s.mem);
}
END_TEST

START_TEST(test_census_garbage)
{
	struct slab s = slab_new();
	uint64_t nslots = kv_nslots(&s.g);
	struct kv_slab_census c;
	uint64_t rng = 7, used = 0, locked = 0;

	/* Everything set: every slot used and locked. */
	memset(s.mem + s.g.ctrl_off, 0xff, nslots * 8);
	kv_slab_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.used, nslots);
	ck_assert_uint_eq(c.locked, nslots);

	/* Random words, counted bit by bit here; garbage outside the control
	 * words does not count. */
	memset(s.mem, 0xff, s.len);
	for (uint64_t i = 0; i < nslots; i++) {
		uint64_t w = xorshift(&rng);

		if (i % 5 == 0)
			w &= ~(0xffffull << 48);
		*ctrl_of(&s, i) = w;
		used += (w >> 31) & 1;
		locked += (w >> 48) != 0;
	}
	kv_slab_census(s.mem, &s.g, &c);
	ck_assert_uint_eq(c.used, used);
	ck_assert_uint_eq(c.locked, locked);
	free(s.mem);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static TCase *new_case(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 10);
	return tc;
}

static Suite *slot_suite(void)
{
	Suite *s = suite_create("slot");
	TCase *tc;

	tc = new_case("layout");
	tcase_add_test(tc, test_layout_64m);
	tcase_add_test(tc, test_layout_sweep);
	tcase_add_test(tc, test_layout_caps_slot_count);
	tcase_add_test(tc, test_check_record_size_must_match_limits);
	tcase_add_test(tc, test_layout_too_small);
	tcase_add_test(tc, test_layout_bad_limits);
	suite_add_tcase(s, tc);

	tc = new_case("ctrl");
	tcase_add_test(tc, test_ctrl_round_trip);
	tcase_add_test(tc, test_ctrl_fields_do_not_bleed);
	tcase_add_test(tc, test_ctrl_with_owner);
	tcase_add_test(tc, test_seq_next);
	suite_add_tcase(s, tc);

	tc = new_case("hash");
	tcase_add_test(tc, test_hash_properties);
	tcase_add_test(tc, test_hash_binary_keys);
	tcase_add_test(tc, test_hash_two_buckets);
	tcase_add_test(tc, test_hash_spread);
	suite_add_tcase(s, tc);

	tc = new_case("record");
	tcase_add_test(tc, test_rec_round_trip_max);
	tcase_add_test(tc, test_rec_round_trip_small);
	tcase_add_test(tc, test_rec_tombstone);
	tcase_add_test(tc, test_rec_flipped_byte_max);
	tcase_add_test(tc, test_rec_flipped_byte_small);
	tcase_add_test(tc, test_rec_empty);
	tcase_add_test(tc, test_rec_short_prefix);
	tcase_add_test(tc, test_rec_garbage_lengths);
	tcase_add_test(tc, test_rec_random_garbage);
	suite_add_tcase(s, tc);

	tc = new_case("pick");
	tcase_add_test(tc, test_pick_newest);
	tcase_add_test(tc, test_pick_torn_and_valid);
	tcase_add_test(tc, test_pick_both_torn);
	tcase_add_test(tc, test_pick_both_empty);
	tcase_add_test(tc, test_pick_tombstone);
	tcase_add_test(tc, test_pick_short_newer);
	tcase_add_test(tc, test_pick_short_older);
	tcase_add_test(tc, test_pick_tiny_prefix_stays_in_bounds);
	tcase_add_test(tc, test_pick_seq_wrap);
	suite_add_tcase(s, tc);

	tc = new_case("probe");
	tcase_add_test(tc, test_probe_matches);
	tcase_add_test(tc, test_probe_matches_none_and_all);
	tcase_add_test(tc, test_probe_free_more_room);
	tcase_add_test(tc, test_probe_free_full);
	tcase_add_test(tc, test_probe_free_counts_unlocked_only);
	suite_add_tcase(s, tc);

	tc = new_case("slab");
	tcase_add_test(tc, test_release_adopts_newer_copy);
	tcase_add_test(tc, test_release_adopts_across_seq_wrap);
	tcase_add_test(tc, test_release_torn_restores);
	tcase_add_test(tc, test_release_tombstone_frees);
	tcase_add_test(tc, test_release_other_owners_untouched);
	tcase_add_test(tc, test_release_many);
	tcase_add_test(tc, test_census_counts);
	tcase_add_test(tc, test_census_garbage);
	suite_add_tcase(s, tc);

	tc = new_case("sweep");
	tcase_add_test(tc, test_sweep_releases_unknown_owner);
	tcase_add_test(tc, test_sweep_lease_fences_first);
	tcase_add_test(tc, test_sweep_progress_restarts_lease);
	tcase_add_test(tc, test_sweep_repeated_word_with_progress);
	tcase_add_test(tc, test_sweep_many_locks);
	tcase_add_test(tc, test_sweep_recheck_sees_release);
	tcase_add_test(tc, test_sweep_gone_owner);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(slot_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
