/*
 * kv_debug.c - hooks for tests only (kv_debug.h): a client that scribbles
 * over a slot; one that takes a slot's lock as a writer does, stalls holding
 * it (a long pause, a stopped process) and then tries to finish as the late
 * writer it is; and one that vanishes. Like kv_ops.c, every verb goes
 * through c->wire (kv_wire.h).
 */
#include <errno.h>
#include <string.h>

#include "kv_client_int.h"
#include "kv_debug.h"

#define KV__LOCK_TRIES 100 /* looks at a key whose slot is locked or moving */

static const struct kv_geometry *G(const kv_client *c) { return &c->hello.geo; }

/*
 * Where @key lives, published and unlocked: read both buckets' control words,
 * then every slot whose fingerprint matches, and take the one whose newest
 * whole copy is this key at the seq its word names. 0 with *slot and *word;
 * -ENOENT; -EBUSY when a candidate is locked or changed under the read.
 */
static int kv__debug_find(kv_client *c, const struct kv_keyhash *kh, const void *key,
			  size_t klen, uint32_t *slot, uint64_t *word)
{
	uint32_t bs = G(c)->bucket_slots, rec = G(c)->rec_size;
	uint32_t cand[2 * KV_MAX_BUCKET_SLOTS];
	uint64_t cw[2 * KV_MAX_BUCKET_SLOTS];
	struct kv_wr w[2];
	bool busy = false;
	unsigned n;
	int ret;

	w[0] = (struct kv_wr){.op = KV_WR_READ, .off = kv_ctrl_off(G(c), (uint64_t)kh->b1 * bs),
			      .local = c->ws.ctrl, .len = bs * 8};
	w[1] = (struct kv_wr){.op = KV_WR_READ, .off = kv_ctrl_off(G(c), (uint64_t)kh->b2 * bs),
			      .local = c->ws.ctrl + bs, .len = bs * 8};
	if ((ret = kv__run(c, w, 2)))
		return ret;
	/* No slot index is UINT32_MAX: skip nothing, home included. */
	n = kv_probe_matches(G(c), kh, c->ws.ctrl, c->ws.ctrl + bs, UINT32_MAX, cand, cw);
	for (unsigned i = 0; i < n; i++) {
		struct kv_rec_view v;
		size_t need = 0;

		w[0] = (struct kv_wr){.op = KV_WR_READ, .off = kv_slot_off(G(c), cand[i]),
				      .local = c->ws.slot, .len = 2 * rec};
		if ((ret = kv__run(c, w, 1)))
			return ret;
		kv_slot_gather(G(c), c->ws.slot, 0, c->ws.home[0]);
		kv_slot_gather(G(c), c->ws.slot, 1, c->ws.home[1]);
		if (kv_slot_pick(c->ws.home[0], rec, c->ws.home[1], rec, G(c), &v, &need) !=
			    KV_PICK_RECORD ||
		    !kv_rec_is_key(&v, key, klen))
			continue;
		if (kv_ctrl_owner(cw[i]) || kv_ctrl_seq(cw[i]) != v.seq) {
			busy = true; /* locked, or written between the two reads */
			continue;
		}
		*slot = cand[i];
		*word = cw[i];
		return 0;
	}
	return busy ? -EBUSY : -ENOENT;
}

int kv_debug_lock(kv_client *c, const void *key, size_t klen, uint32_t *slot,
		  uint64_t *word)
{
	struct kv_keyhash kh;
	int ret = -EBUSY;

	if (klen == 0)
		return -EINVAL;
	if (klen > G(c)->max_key)
		return -E2BIG;
	kv_key_hash(G(c), key, klen, &kh);
	for (unsigned i = 0; i < KV__LOCK_TRIES && ret == -EBUSY; i++) {
		struct kv_wr w;

		if (i)
			c->wire.ops->pause_ns(c->wire.ctx, 10000000); /* 10 ms */
		if ((ret = kv__debug_find(c, &kh, key, klen, slot, word)))
			continue;
		/* The lock a writer takes: the same word with our id as owner. */
		w = (struct kv_wr){.op = KV_WR_CAS, .off = kv_ctrl_off(G(c), *slot),
				   .local = &c->ws.word[2], .len = 8, .compare = *word,
				   .swap = kv_ctrl_with_owner(*word, c->hello.client_id)};
		if ((ret = kv__run(c, &w, 1)))
			return ret;
		ret = c->ws.word[2] == *word ? 0 : -EBUSY;
	}
	return ret;
}

int kv_debug_late_write(kv_client *c, uint32_t slot, uint64_t word, int *ours)
{
	uint64_t locked = kv_ctrl_with_owner(word, c->hello.client_id);
	unsigned copy = 1 - kv_ctrl_active(word);
	struct kv_wr w[2];
	int ret;

	for (unsigned i = 0; i < KV_REC_HDR; i++)
		c->ws.wrec[i] = (uint8_t)kv_rand_next(&c->rng);
	/* What a writer does after its stall: its record into the inactive copy
	 * (here a garbage header), then the word that unlocks the slot. */
	w[0] = (struct kv_wr){.op = KV_WR_WRITE, .off = kv_head_off(G(c), slot, copy),
			      .local = c->ws.wrec, .len = KV_REC_HDR};
	w[1] = (struct kv_wr){.op = KV_WR_CAS, .off = kv_ctrl_off(G(c), slot),
			      .local = &c->ws.word[2], .len = 8, .compare = locked,
			      .swap = word};
	if ((ret = kv__run(c, w, 2)))
		return ret;
	if (ours)
		*ours = c->ws.word[2] == locked;
	return 0;
}

int kv_debug_scribble(kv_client *c, const void *key, size_t klen)
{
	struct kv_keyhash kh;
	struct kv_wr w;
	uint32_t rec = G(c)->rec_size;

	if (klen == 0 || klen > G(c)->max_key)
		return -EINVAL;
	kv_key_hash(G(c), key, klen, &kh);
	for (uint32_t i = 0; i < 2 * rec; i++)
		c->ws.slot[i] = (uint8_t)kv_rand_next(&c->rng);
	w = (struct kv_wr){.op = KV_WR_WRITE, .off = kv_slot_off(G(c), kh.home),
			   .local = c->ws.slot, .len = 2 * rec};
	return kv__run(c, &w, 1);
}

int kv_debug_vanish(kv_client *c)
{
	if (c->broken || !c->id->qp)
		return -ENOTCONN;
	rdma_destroy_qp(c->id);
	c->broken = true;
	return 0;
}
