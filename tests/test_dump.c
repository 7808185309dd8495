/*
 * test_dump.c - the dump format (kv_dumpfmt.c) and the scan under it
 * (kv_scan.c).
 *
 * The format: round trips, the empty dump, binary keys and values, a dump
 * cut at every byte, every bit of a dump flipped, wrong magic and versions,
 * lengths over the limits (refused before anything is allocated), a wrong
 * count, trailing bytes, read errors.
 *
 * The scan runs the real client library (kv_ops.c, kv_scan.c) on a local
 * slab through the kv_wire seam, with the server's real allocator and sweep
 * (kv_sweep.c) behind the grants: every item comes out once with its value;
 * writes left half done by a client that died are settled as a GET settles
 * them; claims, garbage words and corrupt blocks are skipped and counted;
 * and a writer that rewrites keys between every doorbell of the scan, with
 * the sweep freeing and reusing space meanwhile, never makes the scan give
 * a value that was not written, or a stable key twice or not at all.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"
#include "kv_client_int.h"
#include "kv_dumpfmt.h"
#include "kv_index.h"
#include "kv_sweep.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the format: in-memory writer and reader -------------------------------- */

struct membuf {
	uint8_t *p;
	size_t len, cap;
	size_t pos;     /* reading */
	size_t limit;   /* reading: the input ends here */
	size_t step;    /* reading: at most this many bytes per call (0: any) */
	int fail_at;    /* reading: fail with -EIO at this offset (-1: never) */
};

static int mem_write(void *ctx, const void *buf, size_t n)
{
	struct membuf *m = ctx;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->len, buf, n);
	m->len += n;
	return 0;
}

static long mem_read(void *ctx, void *buf, size_t n)
{
	struct membuf *m = ctx;
	size_t left = m->limit - m->pos;

	if (m->fail_at >= 0 && m->pos >= (size_t)m->fail_at)
		return -EIO;
	if (n > left)
		n = left;
	if (m->step && n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

struct item {
	uint8_t *key, *val;
	size_t klen, vlen;
};

static void item_set(struct item *it, const void *k, size_t kl, const void *v, size_t vl)
{
	it->key = malloc(kl ? kl : 1);
	it->val = malloc(vl ? vl : 1);
	ck_assert(it->key && it->val);
	memcpy(it->key, k, kl);
	if (vl)
		memcpy(it->val, v, vl);
	it->klen = kl;
	it->vlen = vl;
}

static void items_free(struct item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(it[i].key);
		free(it[i].val);
	}
}

/* A few items: binary keys and values, NUL and newlines, the limits. */
static size_t sample_items(struct item *it, uint64_t seed)
{
	static const char nul_key[] = {'a', 0, 'b', '\n', 0};
	static const char nl_val[] = "line one\nline two\n\0after a NUL\r\n";
	uint8_t big_key[KV_DUMP_MAX_KEY], val[3000];
	uint64_t rng = kv_rand_seed(seed);
	size_t n = 0;

	for (size_t i = 0; i < sizeof(big_key); i++)
		big_key[i] = (uint8_t)kv_rand_next(&rng);
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)kv_rand_next(&rng);
	item_set(&it[n++], "k", 1, "", 0);                       /* an empty value */
	item_set(&it[n++], nul_key, sizeof(nul_key), nl_val, sizeof(nl_val));
	item_set(&it[n++], big_key, sizeof(big_key), val, 17);  /* the longest key */
	item_set(&it[n++], "\n", 1, val, sizeof(val));
	item_set(&it[n++], "\0", 1, "\0\0\0", 3);
	item_set(&it[n++], "KVDUMP 1\n", 9, "KVDUMP 1\n", 9);   /* looks like a header */
	return n;
}

static void write_dump(struct membuf *m, const struct item *it, size_t n)
{
	struct kv_dump_writer w;

	memset(m, 0, sizeof(*m));
	m->fail_at = -1;
	ck_assert_int_eq(kv_dump_writer_init(&w, mem_write, m), 0);
	ck_assert_int_eq(kv_dump_write_begin(&w), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(kv_dump_write_item(&w, it[i].key, it[i].klen, it[i].val,
						    it[i].vlen), 0);
	ck_assert_int_eq(kv_dump_write_end(&w), 0);
	ck_assert_uint_eq(w.items, n);
	kv_dump_writer_free(&w);
	m->limit = m->len;
}

/*
 * Read the dump in @m from its start: the items it gives must be the first
 * ones of @want, whole. Returns the final result (0 or a negative errno);
 * *got the items given; *why the reason.
 */
static int read_dump(struct membuf *m, const struct item *want, size_t nwant, size_t *got,
		     enum kv_dump_reason *why)
{
	struct kv_dump_reader r;
	const uint8_t *k, *v;
	size_t kl, vl;
	int ret;

	m->pos = 0;
	*got = 0;
	ck_assert_int_eq(kv_dump_reader_init(&r, mem_read, m), 0);
	while ((ret = kv_dump_read_next(&r, &k, &kl, &v, &vl)) == 1) {
		ck_assert_msg(*got < nwant, "more items than were written");
		ck_assert_uint_eq(kl, want[*got].klen);
		ck_assert_uint_eq(vl, want[*got].vlen);
		ck_assert(!memcmp(k, want[*got].key, kl));
		ck_assert(vl == 0 || !memcmp(v, want[*got].val, vl));
		(*got)++;
	}
	*why = r.reason;
	if (ret < 0) {
		ck_assert_str_ne(r.msg, "");
		/* Errors are sticky. */
		ck_assert_int_eq(kv_dump_read_next(&r, &k, &kl, &v, &vl), ret);
	} else {
		ck_assert_int_eq(kv_dump_read_next(&r, &k, &kl, &v, &vl), 0);
	}
	kv_dump_reader_free(&r);
	return ret;
}

START_TEST(test_roundtrip)
{
	struct item it[8];
	size_t n = sample_items(it, 1), got;
	enum kv_dump_reason why;
	struct membuf m;

	write_dump(&m, it, n);
	ck_assert(!memcmp(m.p, "KVDUMP 1\n", 9));
	ck_assert_int_eq(read_dump(&m, it, n, &got, &why), 0);
	ck_assert_uint_eq(got, n);
	ck_assert_int_eq(why, KV_DUMP_OK);
	/* The same, a byte per read and three at a time. */
	m.step = 1;
	ck_assert_int_eq(read_dump(&m, it, n, &got, &why), 0);
	ck_assert_uint_eq(got, n);
	m.step = 3;
	ck_assert_int_eq(read_dump(&m, it, n, &got, &why), 0);
	ck_assert_uint_eq(got, n);
	free(m.p);
	items_free(it, n);
}
END_TEST

START_TEST(test_empty_dump)
{
	static const uint8_t zero[16];
	size_t got;
	enum kv_dump_reason why;
	struct membuf m;

	write_dump(&m, NULL, 0);
	/* The header line, the end record, its check: 33 bytes. */
	ck_assert_uint_eq(m.len, 9 + 16 + 8);
	ck_assert(!memcmp(m.p, "KVDUMP 1\n", 9));
	ck_assert(!memcmp(m.p + 9, zero, 16));
	ck_assert_int_eq(read_dump(&m, NULL, 0, &got, &why), 0);
	ck_assert_uint_eq(got, 0);
	free(m.p);
}
END_TEST

/* The layout is the documented one, byte for byte. */
START_TEST(test_layout)
{
	struct item it[1];
	struct membuf m;
	uint8_t *p;

	item_set(&it[0], "ab", 2, "xyz", 3);
	write_dump(&m, it, 1);
	p = m.p + 9;
	ck_assert_uint_eq(m.len, 9 + (8 + 5 + 8) + 24);
	ck_assert_uint_eq(kv_ld32le(p), 2);
	ck_assert_uint_eq(kv_ld32le(p + 4), 3);
	ck_assert(!memcmp(p + 8, "abxyz", 5));
	ck_assert_uint_eq(kv_ld32le(p + 21), 0);
	ck_assert_uint_eq(kv_ld32le(p + 25), 0);
	ck_assert_uint_eq(kv_ld64le(p + 29), 1);
	free(m.p);
	items_free(it, 1);
}
END_TEST

/* The largest value the format allows round-trips. */
START_TEST(test_max_value)
{
	struct item it[1];
	size_t got;
	enum kv_dump_reason why;
	struct membuf m;

	it[0].klen = 3;
	it[0].key = (uint8_t *)strdup("big");
	it[0].vlen = KV_DUMP_MAX_VALUE;
	it[0].val = malloc(it[0].vlen);
	ck_assert_ptr_nonnull(it[0].val);
	for (size_t i = 0; i < it[0].vlen; i++)
		it[0].val[i] = (uint8_t)(i * 7 + (i >> 12));
	write_dump(&m, it, 1);
	ck_assert_int_eq(read_dump(&m, it, 1, &got, &why), 0);
	ck_assert_uint_eq(got, 1);
	free(m.p);
	items_free(it, 1);
}
END_TEST

/* Cut anywhere before its last byte, a dump is refused as truncated, and
 * every item before the cut is given whole. */
START_TEST(test_truncated_everywhere)
{
	struct item it[8];
	size_t n = sample_items(it, 2), got;
	enum kv_dump_reason why;
	struct membuf m;

	write_dump(&m, it, n);
	for (size_t cut = 0; cut < m.len; cut++) {
		m.limit = cut;
		ck_assert_int_eq(read_dump(&m, it, n, &got, &why), -EBADMSG);
		ck_assert_msg(why == KV_DUMP_E_TRUNCATED, "cut at %zu: reason %d", cut, why);
	}
	free(m.p);
	items_free(it, n);
}
END_TEST

/* Any one bit flipped anywhere is found; nothing damaged is given. */
START_TEST(test_flipped_bits)
{
	struct item it[8];
	size_t n = sample_items(it, 3), got;
	enum kv_dump_reason why;
	struct membuf m;

	write_dump(&m, it, n);
	for (size_t off = 0; off < m.len; off++)
		for (unsigned bit = 0; bit < 8; bit++) {
			m.p[off] ^= (uint8_t)(1u << bit);
			ck_assert_msg(read_dump(&m, it, n, &got, &why) < 0,
				      "bit %u of byte %zu flipped was not noticed", bit, off);
			ck_assert_int_ne(why, KV_DUMP_OK);
			m.p[off] ^= (uint8_t)(1u << bit);
		}
	free(m.p);
	items_free(it, n);
}
END_TEST

/* A raw input; returns the reader's result and reason. */
static int read_raw(const void *bytes, size_t len, enum kv_dump_reason *why, bool *allocated)
{
	struct membuf m = {.p = (uint8_t *)bytes, .len = len, .limit = len, .fail_at = -1};
	struct kv_dump_reader r;
	const uint8_t *k, *v;
	size_t kl, vl;
	int ret;

	ck_assert_int_eq(kv_dump_reader_init(&r, mem_read, &m), 0);
	while ((ret = kv_dump_read_next(&r, &k, &kl, &v, &vl)) == 1)
		;
	*why = r.reason;
	if (allocated)
		*allocated = r.buf != NULL;
	kv_dump_reader_free(&r);
	return ret;
}

START_TEST(test_bad_headers)
{
	static const struct {
		const char *s;
		enum kv_dump_reason why;
	} cases[] = {
		{"KVDUNP 1\n", KV_DUMP_E_MAGIC},
		{"kvdump 1\n", KV_DUMP_E_MAGIC},
		{"\x1f\x8b\x08\x00\x00\x00\x00\x00", KV_DUMP_E_MAGIC}, /* a gzip file */
		{"KVDUMP \n", KV_DUMP_E_MAGIC},
		{"KVDUMP 1x\n", KV_DUMP_E_MAGIC},
		{"KVDUMP 1 \n", KV_DUMP_E_MAGIC},
		{"KVDUMP 12345678901\n", KV_DUMP_E_MAGIC},
		{"KVDUMP 2\n", KV_DUMP_E_VERSION},
		{"KVDUMP 0\n", KV_DUMP_E_VERSION},
		{"KVDUMP 01\n", KV_DUMP_E_VERSION},
		{"KVDUMP 10\n", KV_DUMP_E_VERSION},
		{"", KV_DUMP_E_TRUNCATED},
		{"KVD", KV_DUMP_E_TRUNCATED},
		{"KVDUMP 1", KV_DUMP_E_TRUNCATED},
		{"KVDUMP 1\n", KV_DUMP_E_TRUNCATED},
	};

	for (size_t i = 0; i < N(cases); i++) {
		enum kv_dump_reason why;

		ck_assert_int_eq(read_raw(cases[i].s, strlen(cases[i].s), &why, NULL), -EBADMSG);
		ck_assert_msg(why == cases[i].why, "'%s': reason %d, want %d", cases[i].s, why,
			      cases[i].why);
	}
}
END_TEST

/* A header line and one record header with these lengths, then @extra
 * bytes of zeros. */
static int read_lengths(uint32_t klen, uint32_t vlen, size_t extra, enum kv_dump_reason *why,
			bool *allocated)
{
	size_t len = 9 + 8 + extra;
	uint8_t *b = calloc(1, len);
	int ret;

	memcpy(b, "KVDUMP 1\n", 9);
	kv_st32le(b + 9, klen);
	kv_st32le(b + 13, vlen);
	ret = read_raw(b, len, why, allocated);
	free(b);
	return ret;
}

START_TEST(test_bad_lengths)
{
	enum kv_dump_reason why;
	bool allocated;

	/* Limits are checked before anything is allocated. */
	ck_assert_int_eq(read_lengths(0, 5, 100, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_KLEN);
	ck_assert(!allocated);
	ck_assert_int_eq(read_lengths(KV_DUMP_MAX_KEY + 1, 0, 300, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_KLEN);
	ck_assert(!allocated);
	ck_assert_int_eq(read_lengths(UINT32_MAX, UINT32_MAX, 0, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_KLEN);
	ck_assert(!allocated);
	ck_assert_int_eq(read_lengths(1, KV_DUMP_MAX_VALUE + 1, 0, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_VLEN);
	ck_assert(!allocated);
	ck_assert_int_eq(read_lengths(1, UINT32_MAX, 0, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_VLEN);
	ck_assert(!allocated);
	/* At the limits: allowed (then the input is too short). */
	ck_assert_int_eq(read_lengths(KV_DUMP_MAX_KEY, 0, 10, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_TRUNCATED);
	ck_assert_int_eq(read_lengths(1, 10, 0, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_TRUNCATED);
	/* All zeros after an item's lengths: its check fails. */
	ck_assert_int_eq(read_lengths(2, 3, 5 + 8, &why, &allocated), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_CHECK);
}
END_TEST

/* The writer refuses what the reader would refuse, writing nothing. */
START_TEST(test_writer_limits)
{
	static uint8_t small[4];
	struct kv_dump_writer w;
	struct membuf m = {.fail_at = -1};

	ck_assert_int_eq(kv_dump_writer_init(&w, mem_write, &m), 0);
	ck_assert_int_eq(kv_dump_write_item(&w, "k", 0, small, 1), -EINVAL);
	ck_assert_int_eq(kv_dump_write_item(&w, small, KV_DUMP_MAX_KEY + 1, small, 1), -E2BIG);
	ck_assert_int_eq(kv_dump_write_item(&w, "k", 1, small, (size_t)KV_DUMP_MAX_VALUE + 1),
			 -E2BIG);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_uint_eq(w.items, 0);
	kv_dump_writer_free(&w);
	free(m.p);
}
END_TEST

/* An end record whose count is wrong (its check made right), bytes after
 * the end, a read error. */
START_TEST(test_bad_end)
{
	struct item it[8];
	size_t n = sample_items(it, 4), got;
	enum kv_dump_reason why;
	struct membuf m, t;
	uint8_t *end;

	write_dump(&m, it, n);
	end = m.p + m.len - 16;
	kv_st64le(end, n + 1);
	kv_st64le(end + 8, XXH3_64bits(m.p, m.len - 8));
	ck_assert_int_eq(read_dump(&m, it, n, &got, &why), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_COUNT);
	ck_assert_uint_eq(got, n);
	free(m.p);

	write_dump(&m, it, n);
	t = m;
	mem_write(&t, "x", 1);
	t.limit = t.len;
	ck_assert_int_eq(read_dump(&t, it, n, &got, &why), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_TRAILING);
	ck_assert_uint_eq(got, n);
	free(t.p);
	/* Two dumps back to back are not one. */
	write_dump(&m, it, n);
	t = m;
	t.p = malloc(m.len);
	ck_assert_ptr_nonnull(t.p);
	memcpy(t.p, m.p, m.len);
	t.cap = m.len;
	mem_write(&t, m.p, m.len);
	t.limit = t.len;
	ck_assert_int_eq(read_dump(&t, it, n, &got, &why), -EBADMSG);
	ck_assert_int_eq(why, KV_DUMP_E_TRAILING);
	free(t.p);
	free(m.p);

	write_dump(&m, it, n);
	m.fail_at = 40;
	ck_assert_int_eq(read_dump(&m, it, n, &got, &why), -EIO);
	ck_assert_int_eq(why, KV_DUMP_E_READ);
	free(m.p);
	items_free(it, n);
}
END_TEST

/* ---- the scan: the client library on a local slab ---------------------------- */

#define SLAB_LEN (4u << 20)
#define INDEX_BYTES (64u << 10)   /* 8192 words */
#define MAX_KEY 32u
#define MAX_VALUE (16u << 10)     /* ws.rblk of about 16 KiB: 2048-word chunks */
#define NKEYS 600
#define LEASE_NS 1000000000ull

struct world;

/* One client's end of the wire. */
struct wctx {
	struct world *wd;
	uint16_t id;
	kv_client *kv;
	long fail_after; /* work requests it still executes before it dies (-1: all) */
	bool dead;
};

struct world {
	uint8_t *slab;
	struct kv_hello hello;
	struct kv_sweep sw;
	uint64_t now;
	struct wctx cl[5];
	void (*hook)(struct world *wd); /* before each doorbell of client 0 */
	bool in_hook;
	void *hook_arg;
};

static struct world *W;

static int w_run(void *ctx, const struct kv_wr *w, unsigned n)
{
	struct wctx *c = ctx;
	struct world *wd = c->wd;

	if (c->dead)
		return -ENOTCONN;
	if (c->id == wd->cl[0].id && wd->hook && !wd->in_hook) {
		wd->in_hook = true;
		wd->hook(wd);
		wd->in_hook = false;
	}
	wd->now += 2000;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = wd->slab + w[i].off;

		if (c->fail_after == 0) {
			c->dead = true;
			return -ECONNRESET;
		}
		if (c->fail_after > 0)
			c->fail_after--;
		ck_assert_msg(w[i].off + w[i].len <= wd->hello.slab_len, "verb past the slab");
		switch (w[i].op) {
		case KV_WR_READ:
			memcpy(w[i].local, p, w[i].len);
			break;
		case KV_WR_WRITE:
			memcpy(p, w[i].local, w[i].len);
			break;
		case KV_WR_CAS: {
			uint64_t old;

			memcpy(&old, p, 8);
			memcpy(w[i].local, &old, 8);
			if (old == w[i].compare)
				memcpy(p, &w[i].swap, 8);
			break;
		}
		}
	}
	return 0;
}

static uint64_t w_now(void *ctx)
{
	return ((struct wctx *)ctx)->wd->now;
}

static void w_pause(void *ctx, uint64_t ns)
{
	((struct wctx *)ctx)->wd->now += ns;
}

/* A whole pass of the sweep: frees what no word names. */
static void w_pass(struct world *wd)
{
	uint64_t p = wd->sw.passes;

	while (wd->sw.passes == p)
		kv_sweep_step(&wd->sw, 1u << 20, wd->now);
}

static int w_grant(void *ctx, uint64_t need, unsigned attempt, uint64_t *off, uint64_t *len,
		   uint64_t *largest)
{
	struct wctx *c = ctx;
	struct kv_extent e;
	int ret;

	if (c->dead)
		return -ENOTCONN;
	if (!attempt)
		kv_sweep_grant_fresh(&c->wd->sw, c->id);
	ret = kv_sweep_grant(&c->wd->sw, c->id, need, &e, largest);
	if (ret == -EAGAIN)
		w_pass(c->wd);
	if (ret)
		return ret;
	*off = e.off;
	*len = e.len;
	return 0;
}

static int w_seal(void *ctx, uint64_t off, uint64_t len)
{
	struct wctx *c = ctx;
	struct kv_extent e = {off, len};

	if (c->dead)
		return -ENOTCONN;
	ck_assert_int_eq(kv_sweep_seal(&c->wd->sw, c->id, &e), 0);
	return 0;
}

static const struct kv_wire_ops w_ops = {
	.run = w_run, .now_ns = w_now, .pause_ns = w_pause, .grant = w_grant, .seal = w_seal,
};

static void w_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	(void)ctx;
	(void)owner;
	(void)why;
	ck_abort_msg("a client was fenced");
}

static struct world *world_new(uint64_t seed)
{
	struct world *wd = calloc(1, sizeof(*wd));
	char err[160];

	ck_assert_ptr_nonnull(wd);
	wd->slab = calloc(1, SLAB_LEN);
	ck_assert_ptr_nonnull(wd->slab);
	ck_assert_int_eq(kv_geometry_layout(SLAB_LEN, INDEX_BYTES, MAX_KEY, MAX_VALUE,
					    kv_rand_seed(seed), &wd->hello.geo, err,
					    sizeof(err)), 0);
	wd->hello.slab_len = SLAB_LEN;
	wd->hello.scratch_len = 8;
	wd->hello.lease_ms = 1000;
	ck_assert_int_eq(kv_sweep_init(&wd->sw, wd->slab, &wd->hello.geo, LEASE_NS, w_fence, wd),
			 0);
	for (unsigned i = 0; i < N(wd->cl); i++) {
		struct kv_hello h = wd->hello;
		struct kv_wire wire = {.ops = &w_ops, .ctx = &wd->cl[i]};

		wd->cl[i].wd = wd;
		wd->cl[i].id = (uint16_t)(i + 1);
		wd->cl[i].fail_after = -1;
		h.client_id = wd->cl[i].id;
		kv_sweep_owner_live(&wd->sw, h.client_id);
		wd->cl[i].kv = kv__client_on_wire(&h, &wire, seed * 31 + i);
		ck_assert_ptr_nonnull(wd->cl[i].kv);
	}
	W = wd;
	return wd;
}

static void world_free(struct world *wd)
{
	for (unsigned i = 0; i < N(wd->cl); i++) {
		kv_sweep_owner_gone(&wd->sw, wd->cl[i].id);
		kv_close(wd->cl[i].kv);
	}
	kv_sweep_free(&wd->sw);
	free(wd->slab);
	free(wd);
}

/* The model: what each key should hold. */
struct mkey {
	uint8_t key[MAX_KEY];
	size_t klen;
	uint8_t val[MAX_VALUE];
	size_t vlen;
	bool live;
	unsigned seen; /* times the scan gave it */
};

static void make_key(struct mkey *k, unsigned i, uint64_t *rng)
{
	k->klen = 2 + kv_rand_next(rng) % (MAX_KEY - 1);
	if (k->klen > MAX_KEY)
		k->klen = MAX_KEY;
	for (size_t j = 0; j < k->klen; j++)
		k->key[j] = (uint8_t)kv_rand_next(rng);
	k->key[0] = (uint8_t)i; /* distinct keys */
	k->key[1] = (uint8_t)(i >> 8);
	if (i % 7 == 0)
		k->key[k->klen - 1] = 0; /* NULs in keys */
}

static void make_val(struct mkey *k, uint64_t *rng)
{
	unsigned r = (unsigned)(kv_rand_next(rng) % 10);

	k->vlen = r == 0 ? 0 : r < 7 ? kv_rand_next(rng) % 200 :
		  r < 9 ? kv_rand_next(rng) % 4000 : MAX_VALUE - kv_rand_next(rng) % 3;
	for (size_t j = 0; j < k->vlen; j++)
		k->val[j] = (uint8_t)kv_rand_next(rng);
}

static void fill(struct world *wd, struct mkey *m, unsigned n, uint64_t seed)
{
	uint64_t rng = kv_rand_seed(seed);
	kv_client *c = wd->cl[1].kv;

	for (unsigned i = 0; i < n; i++) {
		make_key(&m[i], i, &rng);
		make_val(&m[i], &rng);
		ck_assert_int_eq(kv_put(c, m[i].key, m[i].klen, m[i].val, m[i].vlen), 0);
		m[i].live = true;
	}
	/* Overwrite a third, delete a sixth, some through another client. */
	for (unsigned i = 0; i < n; i += 3) {
		make_val(&m[i], &rng);
		ck_assert_int_eq(kv_put(wd->cl[i % 2 ? 1 : 2].kv, m[i].key, m[i].klen, m[i].val,
					m[i].vlen), 0);
	}
	for (unsigned i = 1; i < n; i += 6) {
		ck_assert_int_eq(kv_del(wd->cl[1].kv, m[i].key, m[i].klen), 0);
		m[i].live = false;
	}
}

struct collect {
	struct mkey *m;
	unsigned n;
	uint64_t items;
	bool strict; /* every item must be the model's value */
};

static struct mkey *find_key(struct collect *col, const void *key, size_t klen)
{
	for (unsigned i = 0; i < col->n; i++)
		if (col->m[i].klen == klen && !memcmp(col->m[i].key, key, klen))
			return &col->m[i];
	return NULL;
}

static int on_item(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct collect *col = arg;
	struct mkey *k = find_key(col, key, klen);

	ck_assert_msg(k != NULL, "the scan gave a key never written");
	k->seen++;
	col->items++;
	if (col->strict) {
		ck_assert_msg(k->live, "the scan gave a deleted key");
		ck_assert_uint_eq(vlen, k->vlen);
		ck_assert(vlen == 0 || !memcmp(val, k->val, vlen));
	}
	return 0;
}

static void check_all_once(struct mkey *m, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(m[i].seen == (m[i].live ? 1u : 0u), "key %u seen %u times (live %d)",
			      i, m[i].seen, m[i].live);
}

static struct mkey *model_new(unsigned n)
{
	struct mkey *m = calloc(n, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	return m;
}

START_TEST(test_scan_all)
{
	struct world *wd = world_new(10 + (uint64_t)_i);
	struct mkey *m = model_new(NKEYS);
	struct collect col = {m, NKEYS, 0, true};
	struct kv_scan_stats st;
	unsigned live = 0;

	fill(wd, m, NKEYS, 100 + (uint64_t)_i);
	if (_i == 1)
		w_pass(wd); /* tombstones cleared, space freed */
	ck_assert_int_eq(kv_scan(wd->cl[0].kv, on_item, &col, &st), 0);
	check_all_once(m, NKEYS);
	for (unsigned i = 0; i < NKEYS; i++)
		live += m[i].live;
	ck_assert_uint_eq(st.items, live);
	ck_assert_uint_eq(st.words, kv_nwords(&wd->hello.geo));
	ck_assert_uint_eq(st.via_get, 0);
	ck_assert_uint_eq(st.unreadable, 0);
	ck_assert_uint_eq(st.garbage, 0);
	free(m);
	world_free(wd);
}
END_TEST

static int stop_after_3(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	return ++*(int *)arg == 3 ? 42 : 0;
}

START_TEST(test_scan_stop_and_empty)
{
	struct world *wd = world_new(20);
	struct mkey *m = model_new(NKEYS);
	struct collect col = {m, NKEYS, 0, true};
	struct kv_scan_stats st;
	int calls = 0;

	ck_assert_int_eq(kv_scan(wd->cl[0].kv, on_item, &col, &st), 0);
	ck_assert_uint_eq(st.items, 0);
	ck_assert_int_eq(kv_scan(wd->cl[0].kv, NULL, NULL, NULL), -EINVAL);
	fill(wd, m, 50, 21);
	ck_assert_int_eq(kv_scan(wd->cl[0].kv, stop_after_3, &calls, &st), 42);
	ck_assert_int_eq(calls, 3);
	ck_assert_uint_eq(st.items, 3);
	free(m);
	world_free(wd);
}
END_TEST

/* Index words are in host byte order (the CAS target). */
static uint64_t word_at(struct world *wd, uint64_t idx)
{
	uint64_t w;

	memcpy(&w, wd->slab + kv_word_off(&wd->hello.geo, idx), 8);
	return w;
}

static void word_set(struct world *wd, uint64_t idx, uint64_t w)
{
	memcpy(wd->slab + kv_word_off(&wd->hello.geo, idx), &w, 8);
}

/* The index word (in *idx) that names @k's block. */
static uint64_t find_word_or_0(struct world *wd, const struct mkey *k, uint64_t *idx)
{
	const struct kv_geometry *g = &wd->hello.geo;
	static uint8_t buf[MAX_VALUE + 4096];

	for (uint64_t i = 0; i < kv_nwords(g); i++) {
		uint64_t w = word_at(wd, i);
		struct kv_block_view v;
		uint64_t len;

		if (kv_word_kind(w) != KV_WORD_BLOCK)
			continue;
		len = kv_block_read_len(g, w);
		if (len < KV_BLOCK_HDR || len > sizeof(buf))
			continue;
		memcpy(buf, wd->slab + kv_block_off(g, w), len);
		if (kv_block_check(buf, len, w, g, k->key, k->klen, &v) == KV_BLOCK_OK) {
			*idx = i;
			return w;
		}
	}
	return 0;
}

static uint64_t find_word(struct world *wd, const struct mkey *k, uint64_t *idx)
{
	uint64_t w = find_word_or_0(wd, k, idx);

	ck_assert_msg(w != 0, "key not found in the slab");
	return w;
}

/* An empty index word outside @k's buckets. */
static uint64_t empty_word(struct world *wd, const struct mkey *k)
{
	const struct kv_geometry *g = &wd->hello.geo;
	struct kv_keyhash kh;

	kv_key_hash(g, k->key, k->klen, &kh);
	for (uint64_t i = 0; i < kv_nwords(g); i++)
		if (!word_at(wd, i) &&
		    i / KV_BUCKET_WORDS != kh.b1 && i / KV_BUCKET_WORDS != kh.b2)
			return i;
	ck_abort_msg("no empty word");
	return 0;
}

/*
 * Writers that died half way: an update cut before its retire (the old
 * value stands), one cut between retire and commit (the new one does), a
 * DEL cut there (absent), an insert cut holding its claim (absent). Garbage words, a word naming a
 * block past the data region, a corrupt block, a word outside its key's
 * buckets.
 */
START_TEST(test_scan_half_done_and_garbage)
{
	struct world *wd = world_new(30);
	struct mkey *m = model_new(NKEYS);
	struct collect col = {m, NKEYS, 0, true};
	const struct kv_geometry *g = &wd->hello.geo;
	struct kv_scan_stats st;
	struct wctx *dying;
	uint8_t newval[100];
	uint64_t idx, w;
	unsigned a = 3, b = 6, d = 15, ins = NKEYS - 1, bad = 9, moved = 12;

	fill(wd, m, NKEYS - 1, 31);
	memset(newval, 'n', sizeof(newval));
	ck_assert(m[a].live && m[b].live && m[d].live && m[bad].live && m[moved].live);

	/* Update of a: the word swung to an uncommitted block, nothing more. */
	dying = &wd->cl[2];
	ck_assert_int_eq(kv_put(dying->kv, m[a].key, m[a].klen, m[a].val, m[a].vlen), 0);
	dying->fail_after = 2; /* WRITE block + CAS word; then the retire fails */
	ck_assert_int_lt(kv_put(dying->kv, m[a].key, m[a].klen, newval, sizeof(newval)), 0);
	ck_assert(dying->dead);
	w = find_word(wd, &m[a], &idx);
	ck_assert_uint_eq(kv_ld64le(wd->slab + kv_block_off(g, w)), kv_head_uncommitted(w));

	/* Update of b: retired its predecessor, then died before the commit:
	 * the new value is the key's. */
	dying = &wd->cl[3];
	ck_assert_int_eq(kv_put(dying->kv, m[b].key, m[b].klen, m[b].val, m[b].vlen), 0);
	dying->fail_after = 3;
	ck_assert_int_lt(kv_put(dying->kv, m[b].key, m[b].klen, newval, sizeof(newval)), 0);
	memcpy(m[b].val, newval, sizeof(newval));
	m[b].vlen = sizeof(newval);

	/* A DEL of d that retired the value, then died before the commit: the
	 * key is absent (its GET says so). */
	dying = &wd->cl[4];
	ck_assert_int_eq(kv_put(dying->kv, m[d].key, m[d].klen, m[d].val, m[d].vlen), 0);
	dying->fail_after = 3;
	ck_assert_int_lt(kv_del(dying->kv, m[d].key, m[d].klen), 0);
	m[d].live = false;

	/* An insert that died holding its claim (WRITE + 2 READs, CAS + 2 READs). */
	make_key(&m[ins], ins, &(uint64_t){77});
	wd->cl[1].fail_after = 6;
	ck_assert_int_lt(kv_put(wd->cl[1].kv, m[ins].key, m[ins].klen, "x", 1), 0);
	m[ins].live = false;

	/* Garbage: a word of no kind, a block word past the data region. */
	idx = empty_word(wd, &m[0]);
	word_set(wd, idx, 3ull << 62 | 12345);
	idx = empty_word(wd, &m[0]);
	word_set(wd, idx, kv_word_block(1, 1, 3, kv_data_granules(g) + 5));
	/* A corrupt block: one byte of its value. */
	w = find_word(wd, &m[bad], &idx);
	wd->slab[kv_block_off(g, w) + KV_BLOCK_HDR + (m[bad].vlen ? m[bad].klen : 0)] ^= 1;
	m[bad].live = false; /* left out */
	/* A copy of moved's word where a GET of it would not look. */
	w = find_word(wd, &m[moved], &idx);
	idx = empty_word(wd, &m[moved]);
	word_set(wd, idx, w);

	ck_assert_int_eq(kv_scan(wd->cl[0].kv, on_item, &col, &st), 0);
	ck_assert_uint_eq(m[moved].seen, 2); /* its own word, and the stray one via GET */
	m[moved].seen = 1;
	check_all_once(m, NKEYS);
	ck_assert_uint_eq(st.via_get, 3); /* a, b, moved */
	ck_assert_uint_eq(st.unreadable, 2);
	ck_assert_uint_eq(st.garbage, 1);
	/* The scan wrote nothing: the half-done writes are as they were. */
	w = find_word(wd, &m[a], &idx);
	ck_assert_uint_eq(kv_ld64le(wd->slab + kv_block_off(g, w)), kv_head_uncommitted(w));
	free(m);
	world_free(wd);
}
END_TEST

/*
 * A writer rewrites "hot" keys before every doorbell of the scan (values of
 * changing lengths, so blocks move), deletes and re-inserts "flip" keys,
 * and runs whole passes of the sweep every few doorbells, so the space of
 * blocks the scan is about to READ is freed and granted again. Every item
 * the scan gives is a value that was written, whole; a key never deleted is
 * given exactly once; a deleted and re-inserted one at most twice.
 */
#define NHOT 8
#define HOT_VERSIONS 4096

struct churn {
	struct mkey *m;
	unsigned nstable;
	unsigned calls;
	unsigned version[NHOT];
	unsigned scribbled;
	uint64_t rng;
};

static void hot_value(unsigned k, unsigned ver, uint8_t *buf, size_t *len)
{
	*len = 8 + (ver * 37 + k) % 600;
	for (size_t j = 0; j < *len; j++)
		buf[j] = (uint8_t)(k * 31 + ver * 7 + j);
	kv_st32le(buf, k);
	kv_st32le(buf + 4, ver);
}

static void hot_key(unsigned k, char *key, size_t *klen)
{
	*klen = (size_t)snprintf(key, 16, "%s%u", k % 2 ? "flip" : "hot", k);
}

/* The block word of @key in the index, or 0. */
static uint64_t hot_word(struct world *wd, const char *key, size_t klen)
{
	struct mkey *k = calloc(1, sizeof(*k));
	uint64_t idx, w;

	ck_assert_ptr_nonnull(k);
	k->klen = klen;
	memcpy(k->key, key, klen);
	w = find_word_or_0(wd, k, &idx);
	free(k);
	return w;
}

static void churn_hook(struct world *wd)
{
	struct churn *ch = wd->hook_arg;

	for (unsigned n = 0; n < 2; n++) {
		unsigned k = (unsigned)(kv_rand_next(&ch->rng) % NHOT);
		uint8_t val[700];
		char key[16];
		size_t klen, vlen;
		uint64_t old;

		hot_key(k, key, &klen);
		old = hot_word(wd, key, klen);
		if (k % 2 && kv_rand_next(&ch->rng) % 3 == 0) {
			int ret = kv_del(wd->cl[1].kv, key, klen);

			ck_assert(ret == 0 || ret == -ENOENT);
		} else if (ch->version[k] + 1 < HOT_VERSIONS) {
			hot_value(k, ++ch->version[k], val, &vlen);
			ck_assert_int_eq(kv_put(wd->cl[1].kv, key, klen, val, vlen), 0);
		}
		/* The block just replaced is named by no word: its space may be
		 * freed and written again, as if granted anew. */
		if (old && old != hot_word(wd, key, klen)) {
			memset(wd->slab + kv_block_off(&wd->hello.geo, old), 0xa5, KV_BLOCK_HDR);
			ch->scribbled++;
		}
	}
	if (++ch->calls % 3 == 0)
		w_pass(wd);
}

static int on_churn_item(void *arg, const void *key, size_t klen, const void *val,
			 size_t vlen)
{
	struct churn *ch = arg;
	struct collect col = {ch->m, ch->nstable, 0, true};
	uint8_t want[700];
	size_t wlen;
	unsigned k, ver;
	char hk[16];
	size_t hl;

	if (klen > 3 && (!memcmp(key, "hot", 3) || !memcmp(key, "flip", 4))) {
		ck_assert_uint_ge(vlen, 8);
		k = kv_ld32le(val);
		ver = kv_ld32le((const uint8_t *)val + 4);
		ck_assert_uint_lt(k, NHOT);
		hot_key(k, hk, &hl);
		ck_assert(hl == klen && !memcmp(hk, key, klen));
		ck_assert_uint_le(ver, ch->version[k]);
		hot_value(k, ver, want, &wlen);
		ck_assert_msg(wlen == vlen && !memcmp(want, val, vlen),
			      "%.*s: not a value that was written", (int)klen, (const char *)key);
		ch->m[ch->nstable + k].seen++;
		return 0;
	}
	return on_item(&col, key, klen, val, vlen);
}

START_TEST(test_scan_under_writes)
{
	struct world *wd = world_new(40 + (uint64_t)_i);
	struct churn ch = {.nstable = 200, .rng = kv_rand_seed(41 + (uint64_t)_i)};
	struct kv_scan_stats st;
	struct kv_counters cnt;
	uint8_t val[700];
	size_t vlen;

	ch.m = model_new(ch.nstable + NHOT);
	fill(wd, ch.m, ch.nstable, 42 + (uint64_t)_i);
	for (unsigned k = 0; k < NHOT; k++) {
		char key[16];
		size_t klen;

		hot_key(k, key, &klen);
		hot_value(k, 0, val, &vlen);
		ck_assert_int_eq(kv_put(wd->cl[1].kv, key, klen, val, vlen), 0);
	}
	wd->hook = churn_hook;
	wd->hook_arg = &ch;
	ck_assert_int_eq(kv_scan(wd->cl[0].kv, on_churn_item, &ch, &st), 0);
	wd->hook = NULL;
	check_all_once(ch.m, ch.nstable);
	for (unsigned k = 0; k < NHOT; k++)
		if (k % 2 == 0)
			ck_assert_msg(ch.m[ch.nstable + k].seen == 1, "hot%u seen %u times", k,
				      ch.m[ch.nstable + k].seen);
		else
			ck_assert_uint_le(ch.m[ch.nstable + k].seen, 2);
	ck_assert_uint_eq(st.unreadable, 0);
	kv_client_counters(wd->cl[0].kv, &cnt);
	fprintf(stderr, "scan under writes (%d): %u writer calls, %u blocks scribbled, %llu items, "
		"%llu via GET, %llu retries of blocks that did not validate\n", _i, ch.calls,
		ch.scribbled,
		(unsigned long long)st.items, (unsigned long long)st.via_get,
		(unsigned long long)cnt.torn_retries);
	free(ch.m);
	world_free(wd);
}
END_TEST

static Suite *dump_suite(void)
{
	Suite *s = suite_create("dump");
	TCase *tf = tcase_create("format");
	TCase *ts = tcase_create("scan");

	tcase_add_test(tf, test_roundtrip);
	tcase_add_test(tf, test_empty_dump);
	tcase_add_test(tf, test_layout);
	tcase_add_test(tf, test_max_value);
	tcase_add_test(tf, test_truncated_everywhere);
	tcase_add_test(tf, test_flipped_bits);
	tcase_add_test(tf, test_bad_headers);
	tcase_add_test(tf, test_bad_lengths);
	tcase_add_test(tf, test_writer_limits);
	tcase_add_test(tf, test_bad_end);
	tcase_set_timeout(tf, 60);
	suite_add_tcase(s, tf);
	tcase_add_loop_test(ts, test_scan_all, 0, 2);
	tcase_add_test(ts, test_scan_stop_and_empty);
	tcase_add_test(ts, test_scan_half_done_and_garbage);
	tcase_add_loop_test(ts, test_scan_under_writes, 0, 4);
	tcase_set_timeout(ts, 60);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dump_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
