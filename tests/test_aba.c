/*
 * test_aba.c - a word that comes back the same, met by a client that cached
 * it long before (the scenario a review found, scripted step by step on a
 * local slab with the real client library, sweep and allocator).
 *
 * Every tag is 0 here, so space reused for a key with the same length gets
 * the very same word every time (real tags make that 1 in 64 per reuse).
 * Client C caches key k's word W; k is deleted and its space freed; k is
 * written again, and a writer A lands its block where W's was, with word W
 * again, and stops right after its swing, before its retire and commit.
 * C's warm PUT then finds its cached W in k's word. Were it to swing it, it
 * would replace a write under way: the block A replaced would never be
 * retired, and A's late retire could meet another block of that word. So
 * A's swing leaves the word pending, C's CAS (expecting W settled) fails,
 * and C waits for A's write; once A finishes, C's PUT goes through.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_client_int.h"
#include "kv_index.h"
#include "kv_sweep.h"

#define SLAB_LEN (512ull << 10)
#define INDEX_BYTES (8u << 10)
#define NCL 6

struct world;
struct wctx {
	struct world *wd;
	uint16_t id;
	kv_client *kv;
};
struct world {
	uint8_t *slab;
	struct kv_hello hello;
	struct kv_sweep sw;
	uint64_t now;
	struct wctx cl[NCL];
	unsigned fences;
};

static int w_run(void *ctx, const struct kv_wr *w, unsigned n)
{
	struct wctx *c = ctx;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = c->wd->slab + w[i].off;
		uint64_t old;

		switch (w[i].op) {
		case KV_WR_READ: memcpy(w[i].local, p, w[i].len); break;
		case KV_WR_WRITE: memcpy(p, w[i].local, w[i].len); break;
		case KV_WR_CAS:
			memcpy(&old, p, 8);
			memcpy(w[i].local, &old, 8);
			if (old == w[i].compare)
				memcpy(p, &w[i].swap, 8);
			break;
		}
	}
	return 0;
}
static uint64_t w_now(void *ctx) { return ((struct wctx *)ctx)->wd->now; }
static void w_pause(void *ctx, uint64_t ns) { ((struct wctx *)ctx)->wd->now += ns; }
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

	return kv_sweep_seal(&c->wd->sw, c->id, &e);
}
static const struct kv_wire_ops w_ops = {
	.run = w_run, .now_ns = w_now, .pause_ns = w_pause, .grant = w_grant, .seal = w_seal,
};
static void w_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	(void)owner;
	(void)why;
	((struct world *)ctx)->fences++;
}

static struct world *W;
static uint64_t key_idx = ~0ull;
static uint64_t old_word, a_word;
static int c_put;

static uint64_t word_of_key(void)
{
	uint64_t w;

	memcpy(&w, W->slab + kv_word_off(&W->hello.geo, key_idx), 8);
	return w;
}
static uint64_t head_at(uint64_t w)
{
	return kv_ld64le(W->slab + kv_block_off(&W->hello.geo, w));
}
static void find_idx(void)
{
	struct kv_keyhash kh;

	kv_key_hash(&W->hello.geo, "k", 1, &kh);
	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++) {
		uint64_t idx = kv_pair_idx(&kh, i), w;

		memcpy(&w, W->slab + kv_word_off(&W->hello.geo, idx), 8);
		if (kv_word_kind(w) == KV_WORD_BLOCK && kv_word_fp(w) == kh.fp) {
			key_idx = idx;
			return;
		}
	}
	ck_abort_msg("k is in no word");
}

/* A has swung k's word and stops: C, with the word cached long ago, PUTs. */
static void a_stops(kv_client *c)
{
	struct wctx *C = &W->cl[1];

	(void)c;
	a_word = word_of_key();
	ck_assert_uint_eq(kv_word_settled(a_word), old_word); /* the same word again */
	ck_assert_uint_eq(head_at(a_word), kv_head_uncommitted(a_word));
	c_put = kv_put(C->kv, "k", 1, "c5xxx", 5);
	ck_assert_uint_eq(word_of_key(), a_word); /* not swung over A's write */
}

START_TEST(test_stale_word_meets_a_write_under_way)
{
	struct world *wd = calloc(1, sizeof(*wd));
	struct wctx *P, *C, *Q, *A, *R;
	char err[160], buf[64];
	size_t vl;

	ck_assert_ptr_nonnull(wd);
	W = wd;
	wd->slab = calloc(1, SLAB_LEN);
	ck_assert_ptr_nonnull(wd->slab);
	ck_assert_int_eq(kv_geometry_layout(SLAB_LEN, INDEX_BYTES, 16, 64, kv_rand_seed(7),
					    &wd->hello.geo, err, sizeof(err)), 0);
	wd->hello.geo.data_len = 18 * KV_GRANULE; /* grants of two blocks: next-fit wraps */
	wd->hello.slab_len = SLAB_LEN;
	wd->hello.scratch_len = 8;
	wd->hello.lease_ms = 1000;
	ck_assert_int_eq(kv_sweep_init(&wd->sw, wd->slab, &wd->hello.geo, 1000000000ull,
				       w_fence, wd), 0);
	wd->sw.policy.min_bytes = wd->sw.policy.max_bytes = 2 * 48;
	for (unsigned i = 0; i < NCL; i++) {
		struct kv_hello h = wd->hello;
		struct kv_wire wire = {.ops = &w_ops, .ctx = &wd->cl[i]};

		wd->cl[i].wd = wd;
		wd->cl[i].id = (uint16_t)(i + 1);
		h.client_id = wd->cl[i].id;
		kv_sweep_owner_live(&wd->sw, h.client_id);
		wd->cl[i].kv = kv__client_on_wire(&h, &wire, 1000 + i);
		ck_assert_ptr_nonnull(wd->cl[i].kv);
		wd->cl[i].kv->tag_mask = 0x80; /* outside the tag's bits: every tag 0 */
	}
	P = &wd->cl[0], C = &wd->cl[1], Q = &wd->cl[2], A = &wd->cl[3], R = &wd->cl[4];

	/* P writes k twice; C reads it and caches its word. */
	ck_assert_int_eq(kv_put(P->kv, "k", 1, "v1xxx", 5), 0);
	ck_assert_int_eq(kv_put(P->kv, "k", 1, "v2xxx", 5), 0);
	kv__seal_all(P->kv);
	find_idx();
	old_word = word_of_key();
	ck_assert_int_eq(kv_get(C->kv, "k", 1, buf, sizeof(buf), &vl), 0);
	/* Q deletes k; the passes free all of it. */
	ck_assert_int_eq(kv_del(Q->kv, "k", 1), 0);
	kv__seal_all(Q->kv);
	for (int i = 0; i < 4; i++)
		w_pass(wd);
	ck_assert_uint_eq(wd->sw.alloc.st.free, wd->sw.alloc.st.granules);
	/* R inserts k again; A writes another key, then k, whose block lands
	 * where the block of C's cached word was, with that word. */
	ck_assert_int_eq(kv_put(R->kv, "k", 1, "r3xxx", 5), 0);
	kv__seal_all(R->kv);
	find_idx();
	ck_assert_int_eq(kv_put(A->kv, "j", 1, "a0xxx", 5), 0);
	A->kv->on_swung = a_stops;
	ck_assert_int_eq(kv_put(A->kv, "k", 1, "a4xxx", 5), 0);
	A->kv->on_swung = NULL;
	/* C waited for a write of the key that never finished while it
	 * waited (nothing ran A meanwhile): it gave up, changing nothing. */
	ck_assert_int_eq(c_put, -EBUSY);
	ck_assert_uint_eq(word_of_key(), kv_word_settled(a_word));
	ck_assert_uint_eq(head_at(a_word), kv_word_settled(a_word));
	ck_assert_int_eq(kv_get(R->kv, "k", 1, buf, sizeof(buf), &vl), 0);
	ck_assert_mem_eq(buf, "a4xxx", 5);
	/* Now C's PUT goes through, over A's committed block. */
	ck_assert_int_eq(kv_put(C->kv, "k", 1, "c5xxx", 5), 0);
	ck_assert_int_eq(kv_get(R->kv, "k", 1, buf, sizeof(buf), &vl), 0);
	ck_assert_mem_eq(buf, "c5xxx", 5);
	ck_assert_uint_eq(wd->fences, 0);
	for (unsigned i = 0; i < NCL; i++)
		kv_close(wd->cl[i].kv);
	kv_sweep_free(&wd->sw);
	free(wd->slab);
	free(wd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aba");
	TCase *tc = tcase_create("aba");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_stale_word_meets_a_write_under_way);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
