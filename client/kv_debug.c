/*
 * kv_debug.c - hooks for tests only (kv_debug.h): a client that scribbles
 * over a key's block; one that claims a word as an insert does, stalls
 * holding the claim (a long pause, a stopped process) and then tries to
 * finish as the late writer it is; and one that vanishes. Like kv_ops.c, every verb goes
 * through c->wire (kv_wire.h).
 */
#include <errno.h>
#include <string.h>

#include "kv_client_int.h"
#include "kv_debug.h"

static const struct kv_geometry *G(const kv_client *c) { return &c->hello.geo; }

static int kv__debug_buckets(kv_client *c, const struct kv_keyhash *kh)
{
	struct kv_wr w[2];

	w[0] = (struct kv_wr){.op = KV_WR_READ, .off = kv_bucket_off(G(c), kh->b1),
			      .local = c->ws.words, .len = KV_BUCKET_BYTES};
	w[1] = (struct kv_wr){.op = KV_WR_READ, .off = kv_bucket_off(G(c), kh->b2),
			      .local = c->ws.words + KV_BUCKET_WORDS, .len = KV_BUCKET_BYTES};
	return kv__run(c, w, 2);
}

int kv_debug_lock(kv_client *c, const void *key, size_t klen, uint64_t *idx,
		  uint64_t *word)
{
	struct kv_keyhash kh;
	struct kv_wr w;
	int pos, ret;

	if (klen == 0)
		return -EINVAL;
	if (klen > G(c)->max_key)
		return -E2BIG;
	kv_key_hash(G(c), key, klen, &kh);
	if ((ret = kv__debug_buckets(c, &kh)))
		return ret;
	if ((pos = kv_probe_empty(c->ws.words)) < 0)
		return pos;
	*idx = kv_pair_idx(&kh, (unsigned)pos);
	*word = kv_word_claim(kh.fp, c->hello.client_id);
	w = (struct kv_wr){.op = KV_WR_CAS, .off = kv_word_off(G(c), *idx),
			   .local = &c->ws.word[2], .len = 8, .compare = 0, .swap = *word};
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	return c->ws.word[2] == 0 ? 0 : -EBUSY;
}

int kv_debug_late_write(kv_client *c, uint64_t idx, uint64_t word, int *ours)
{
	/* What an inserter does after its stall: publish its block. Here the
	 * word names one granule of garbage at the start of the data region,
	 * which would read as corrupt if it ever landed. */
	uint64_t bad = kv_word_block(kv_word_fp(word), 0, 2, 0);
	struct kv_wr w = {.op = KV_WR_CAS, .off = kv_word_off(G(c), idx),
			  .local = &c->ws.word[2], .len = 8, .compare = word, .swap = bad};
	int ret = kv__run(c, &w, 1);

	if (ret)
		return ret;
	if (ours)
		*ours = c->ws.word[2] == word;
	return 0;
}

int kv_debug_scribble(kv_client *c, const void *key, size_t klen)
{
	struct kv_keyhash kh;
	unsigned pos[2 * KV_BUCKET_WORDS], n;
	struct kv_wr w;
	int ret;

	if (klen == 0 || klen > G(c)->max_key)
		return -EINVAL;
	kv_key_hash(G(c), key, klen, &kh);
	if ((ret = kv__debug_buckets(c, &kh)))
		return ret;
	n = kv_probe_blocks(&kh, c->ws.words, pos);
	for (unsigned i = 0; i < n; i++) {
		uint64_t bw = c->ws.words[pos[i]], len = kv_block_read_len(G(c), bw);
		struct kv_block_view v;

		if (len > c->rblk_len)
			len = c->rblk_len;
		w = (struct kv_wr){.op = KV_WR_READ, .off = kv_block_off(G(c), bw),
				   .local = c->ws.rblk, .len = (uint32_t)len};
		if ((ret = kv__run(c, &w, 1)))
			return ret;
		if (kv_block_check(c->ws.rblk, len, bw, G(c), key, klen, &v) != KV_BLOCK_OK)
			continue;
		/* Garbage over the block's header and the start of its key. */
		for (unsigned b = 0; b < KV_BLOCK_HDR + 8; b++)
			c->ws.wblk[b] = (uint8_t)kv_rand_next(&c->rng);
		w = (struct kv_wr){.op = KV_WR_WRITE, .off = kv_block_off(G(c), bw),
				   .local = c->ws.wblk,
				   .len = (uint32_t)(len < KV_BLOCK_HDR + 8 ? len : KV_BLOCK_HDR + 8)};
		return kv__run(c, &w, 1);
	}
	return -ENOENT;
}

int kv_debug_vanish(kv_client *c)
{
	if (c->broken || !c->id->qp)
		return -ENOTCONN;
	rdma_destroy_qp(c->id);
	c->broken = true;
	return 0;
}

void kv_debug_on_swung(kv_client *c, void (*fn)(kv_client *c))
{
	c->on_swung = fn;
}
