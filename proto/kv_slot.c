/* kv_slot.c - slot layout, hashing and probing (see kv_slot.h). */
#include "kv_slot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"

#define KV_SEED2_MIX 0x9e3779b97f4a7c15ull

#define ld64 kv_ld64le
#define ld32 kv_ld32le
#define ld16 kv_ld16le
#define st64 kv_st64le
#define st32 kv_st32le
#define st16 kv_st16le

void kv_key_hash(const struct kv_geometry *g, const void *key, size_t klen,
		 struct kv_keyhash *kh)
{
	uint64_t h1 = XXH3_64bits_withSeed(key, klen, g->hash_seed);
	uint64_t h2 = XXH3_64bits_withSeed(key, klen, g->hash_seed ^ KV_SEED2_MIX);

	kh->b1 = (uint32_t)(h1 % g->nbuckets);
	kh->home = kh->b1 * g->bucket_slots + (uint32_t)((h1 >> 40) % g->bucket_slots);
	kh->fp = (uint16_t)(h2 >> 48);
	if (kh->fp == 0)
		kh->fp = 1;
	kh->b2 = (uint32_t)((h2 & 0xffffffffffffull) % g->nbuckets);
	if (kh->b2 == kh->b1)
		kh->b2 = (kh->b1 + 1) % g->nbuckets;
}

int kv_geometry_layout(uint64_t slab_len, uint32_t max_key, uint32_t max_value,
		       uint32_t bucket_slots, uint32_t head_size, uint64_t seed,
		       struct kv_geometry *g, char *err, size_t errlen)
{
	uint64_t rec_size = kv_rec_size_for(max_key, max_value);
	uint64_t ctrl_off = (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN;
	uint64_t room, nslots;

	memset(g, 0, sizeof(*g));
	if (max_key == 0 || max_key > KV_KEY_LIMIT || max_value == 0 ||
	    max_value > KV_VALUE_LIMIT || bucket_slots == 0 ||
	    bucket_slots > KV_MAX_BUCKET_SLOTS) {
		snprintf(err, errlen,
			 "key limit must be 1..%u, value limit 1..%u, bucket 1..%u slots",
			 KV_KEY_LIMIT, KV_VALUE_LIMIT, KV_MAX_BUCKET_SLOTS);
		return -EINVAL;
	}
	room = slab_len > ctrl_off + 4096 ? slab_len - ctrl_off - 4096 : 0;
	nslots = room / (8 + 2 * rec_size);
	nslots -= nslots % bucket_slots;
	if (nslots > UINT32_MAX) { /* slot indexes are 32-bit */
		nslots = UINT32_MAX;
		nslots -= nslots % bucket_slots;
	}
	if (nslots / bucket_slots < 2) {
		snprintf(err, errlen,
			 "a %llu-byte slab cannot hold a table of %llu-byte records",
			 (unsigned long long)slab_len, (unsigned long long)rec_size);
		return -EINVAL;
	}
	g->ctrl_off = ctrl_off;
	g->rec_off = (ctrl_off + nslots * 8 + 4095) & ~4095ull;
	g->hash_seed = seed;
	g->nbuckets = (uint32_t)(nslots / bucket_slots);
	g->bucket_slots = bucket_slots;
	g->rec_size = (uint32_t)rec_size;
	g->max_key = max_key;
	g->max_value = max_value;
	g->head_size = head_size < g->rec_size ? head_size : g->rec_size;
	return kv_geometry_check(g, slab_len, err, errlen);
}

void kv_slot_gather(const struct kv_geometry *g, const uint8_t *slot_img,
		    unsigned copy, uint8_t *out)
{
	uint32_t h = g->head_size, t = g->rec_size - g->head_size;

	memcpy(out, slot_img + (copy & 1) * h, h);
	memcpy(out + h, slot_img + 2 * h + (copy & 1) * t, t);
}

size_t kv_rec_encode(uint8_t *buf, uint64_t seq, uint16_t flags,
		     const void *key, size_t klen, const void *val, size_t vlen)
{
	size_t len = kv_rec_len(klen, vlen);

	st64(buf, seq);
	st16(buf + 16, (uint16_t)klen);
	st16(buf + 18, flags);
	st32(buf + 20, (uint32_t)vlen);
	if (klen)
		memcpy(buf + KV_REC_HDR, key, klen);
	if (vlen)
		memcpy(buf + KV_REC_HDR + klen, val, vlen);
	st64(buf + 8, XXH3_64bits_withSeed(buf + 16, len - 16, seq));
	return len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Everything kv_rec_decode checks but the checksum. KV_REC_VALID here means
 * "plausible": the caller still has to verify the sum (kv__rec_sum_ok).
 */
static enum kv_rec_state kv__rec_header(const uint8_t *buf, size_t len,
					const struct kv_geometry *g,
					struct kv_rec_view *v, size_t *need)
{
	uint64_t seq;
	uint16_t klen, flags;
	uint32_t vlen;
	size_t total;

	if (len < KV_REC_HDR) {
		*need = KV_REC_HDR;
		return KV_REC_SHORT;
	}
	seq = ld64(buf);
	klen = ld16(buf + 16);
	flags = ld16(buf + 18);
	vlen = ld32(buf + 20);
	if (seq == 0)
		return all_zero(buf, KV_REC_HDR) ? KV_REC_EMPTY : KV_REC_BAD;
	if (seq > KV_CTRL_SEQ_MASK || klen > g->max_key || vlen > g->max_value ||
	    (flags & ~KV_REC_TOMBSTONE))
		return KV_REC_BAD;
	if ((flags & KV_REC_TOMBSTONE) ? (klen || vlen) : klen == 0)
		return KV_REC_BAD;
	total = kv_rec_len(klen, vlen);
	if (total > g->rec_size)
		return KV_REC_BAD;
	if (total > len) {
		*need = total;
		return KV_REC_SHORT;
	}
	v->seq = seq;
	v->copy = 0;
	v->flags = flags;
	v->klen = klen;
	v->vlen = vlen;
	v->key = buf + KV_REC_HDR;
	v->val = buf + KV_REC_HDR + klen;
	return KV_REC_VALID;
}

/* The checksum of a record whose header kv__rec_header accepted. */
static bool kv__rec_sum_ok(const uint8_t *buf, const struct kv_rec_view *v)
{
	size_t total = kv_rec_len(v->klen, v->vlen);

	return XXH3_64bits_withSeed(buf + 16, total - 16, v->seq) == ld64(buf + 8);
}

enum kv_rec_state kv_rec_decode(const uint8_t *buf, size_t len,
				const struct kv_geometry *g,
				struct kv_rec_view *v, size_t *need)
{
	enum kv_rec_state st = kv__rec_header(buf, len, g, v, need);

	if (st == KV_REC_VALID && !kv__rec_sum_ok(buf, v))
		return KV_REC_BAD;
	return st;
}

bool kv_seq_after(uint64_t a, uint64_t b)
{
	uint64_t d = (a - b) & KV_CTRL_SEQ_MASK;

	return d != 0 && d < KV_CTRL_SEQ_MASK / 2;
}

enum kv_pick kv_slot_pick(const uint8_t *c0, size_t len0, const uint8_t *c1,
			  size_t len1, const struct kv_geometry *g,
			  struct kv_rec_view *v, size_t *need)
{
	const uint8_t *copy[2] = {c0, c1};
	size_t len[2] = {len0, len1};
	struct kv_rec_view view[2];
	enum kv_rec_state st[2];
	size_t want[2] = {0, 0};
	uint64_t seq[2];
	int order[2] = {0, 1};
	int best = -1;

	for (int i = 0; i < 2; i++) {
		st[i] = kv__rec_header(copy[i], len[i], g, &view[i], &want[i]);
		/* A partial copy's seq, if we saw it, ranks it; else it ranks first. */
		seq[i] = st[i] == KV_REC_VALID ? view[i].seq
			 : st[i] == KV_REC_SHORT && len[i] >= 8 ? ld64(copy[i]) : 0;
	}
	if (st[1] == KV_REC_SHORT && len[1] < 8)
		order[0] = 1, order[1] = 0;
	else if (!(st[0] == KV_REC_SHORT && len[0] < 8) && kv_seq_after(seq[1], seq[0]))
		order[0] = 1, order[1] = 0;
	/* Newest first: the first copy that is whole wins, so the older one's
	 * checksum is only computed when the newer one fails. A copy we saw only
	 * part of may be the newer one: then look at all of both. */
	for (int k = 0; k < 2 && best < 0; k++) {
		int i = order[k];

		if (st[i] == KV_REC_SHORT) {
			*need = want[0] > want[1] ? want[0] : want[1];
			return KV_PICK_SHORT;
		}
		if (st[i] != KV_REC_VALID)
			continue;
		if (kv__rec_sum_ok(copy[i], &view[i]))
			best = i;
		else
			st[i] = KV_REC_BAD;
	}
	if (best < 0) {
		/* One copy never written and the other bad is a first write in
		 * flight, or one that died: the slot holds nothing yet. */
		bool bad = st[0] == KV_REC_BAD || st[1] == KV_REC_BAD;

		memset(v, 0, sizeof(*v));
		return bad && st[0] != KV_REC_EMPTY && st[1] != KV_REC_EMPTY ? KV_PICK_TORN
									     : KV_PICK_NONE;
	}
	*v = view[best];
	v->copy = (unsigned)best;
	return (v->flags & KV_REC_TOMBSTONE) ? KV_PICK_NONE : KV_PICK_RECORD;
}

bool kv_slot_pick_sure(const uint8_t *c0, size_t len0, const uint8_t *c1, size_t len1,
		       enum kv_pick pick, const struct kv_rec_view *v)
{
	const uint8_t *copy[2] = {c0, c1};
	size_t len[2] = {len0, len1};

	if (pick != KV_PICK_RECORD && pick != KV_PICK_NONE)
		return false;
	for (unsigned i = 0; i < 2; i++) {
		uint64_t seq;

		if (v->seq && i == v->copy)
			continue;
		if (len[i] < 8)
			return false;
		seq = ld64(copy[i]);
		if (seq != 0 && !(v->seq && kv_seq_after(v->seq, seq)))
			return false;
	}
	return true;
}

uint64_t kv_slot_ctrl_of(const struct kv_geometry *g, enum kv_pick pick,
			 const struct kv_rec_view *v, const struct kv_keyhash *kh)
{
	struct kv_keyhash own;

	if (pick != KV_PICK_RECORD)
		return v->seq ? kv_ctrl_make(0, 0, false, v->copy, v->seq) : 0;
	if (!kh) {
		kv_key_hash(g, v->key, v->klen, &own);
		kh = &own;
	}
	return kv_ctrl_make(0, kh->fp, true, v->copy, v->seq);
}

bool kv_rec_is_key(const struct kv_rec_view *v, const void *key, size_t klen)
{
	return !(v->flags & KV_REC_TOMBSTONE) && v->klen == klen &&
	       memcmp(v->key, key, klen) == 0;
}

unsigned kv_probe_matches(const struct kv_geometry *g, const struct kv_keyhash *kh,
			  const uint64_t *ctrl1, const uint64_t *ctrl2,
			  uint32_t skip, uint32_t *out, uint64_t *out_ctrl)
{
	const uint64_t *ctrl[2] = {ctrl1, ctrl2};
	uint32_t bucket[2] = {kh->b1, kh->b2};
	unsigned n = 0;

	for (int b = 0; b < 2; b++) {
		for (uint32_t i = 0; i < g->bucket_slots; i++) {
			uint64_t c = ctrl[b][i];
			uint32_t slot = bucket[b] * g->bucket_slots + i;

			if (slot == skip || !kv_ctrl_used(c) || kv_ctrl_fp(c) != kh->fp)
				continue;
			out[n] = slot;
			out_ctrl[n++] = c;
		}
	}
	return n;
}

unsigned kv_probe_claims(const struct kv_geometry *g, const struct kv_keyhash *kh,
			 const uint64_t *ctrl1, const uint64_t *ctrl2, uint32_t skip,
			 uint16_t me, uint64_t *word)
{
	const uint64_t *ctrl[2] = {ctrl1, ctrl2};
	uint32_t bucket[2] = {kh->b1, kh->b2};
	unsigned n = 0;

	*word = 0;
	for (int b = 0; b < 2; b++)
		for (uint32_t i = 0; i < g->bucket_slots; i++) {
			uint64_t c = ctrl[b][i];
			uint16_t owner = kv_ctrl_owner(c);

			if (bucket[b] * g->bucket_slots + i == skip || !owner || owner == me ||
			    kv_ctrl_used(c) || kv_ctrl_fp(c) != kh->fp)
				continue;
			*word = *word * 31 + c;
			n++;
		}
	return n;
}

int kv_probe_free(const struct kv_geometry *g, const struct kv_keyhash *kh,
		  const uint64_t *ctrl1, const uint64_t *ctrl2,
		  uint32_t *slot, uint64_t *ctrl)
{
	const uint64_t *ctrl_of[2] = {ctrl1, ctrl2};
	uint32_t bucket[2] = {kh->b1, kh->b2};
	unsigned nfree[2] = {0, 0};
	int pick;

	unsigned nlocked = 0;

	for (int b = 0; b < 2; b++)
		for (uint32_t i = 0; i < g->bucket_slots; i++) {
			if (kv_ctrl_used(ctrl_of[b][i]))
				continue;
			if (kv_ctrl_owner(ctrl_of[b][i]))
				nlocked++; /* being claimed; may be given back */
			else
				nfree[b]++;
		}
	if (!nfree[0] && !nfree[1])
		return nlocked ? -EBUSY : -ENOSPC;
	pick = nfree[1] > nfree[0];
	for (uint32_t i = 0; i < g->bucket_slots; i++) {
		uint64_t c = ctrl_of[pick][i];

		if (!kv_ctrl_used(c) && !kv_ctrl_owner(c)) {
			*slot = bucket[pick] * g->bucket_slots + i;
			*ctrl = c;
			return 0;
		}
	}
	return -ENOSPC; /* not reached */
}

static uint64_t *ctrl_word(uint8_t *slab, const struct kv_geometry *g, uint64_t slot)
{
	return (uint64_t *)(void *)(slab + kv_ctrl_off(g, slot));
}

void kv_slot_settle(uint8_t *slab, const struct kv_geometry *g, uint64_t slot,
		    uint64_t c, uint8_t *scratch)
{
	uint8_t *copy[2] = {scratch, scratch + g->rec_size};
	uint64_t *w = ctrl_word(slab, g, slot);
	unsigned inactive = 1 - kv_ctrl_active(c);
	struct kv_rec_view v, dummy;
	size_t need = 0;
	enum kv_pick pick;
	uint64_t word;

	kv_slot_gather(g, slab + kv_slot_off(g, slot), 0, copy[0]);
	kv_slot_gather(g, slab + kv_slot_off(g, slot), 1, copy[1]);
	pick = kv_slot_pick(copy[0], g->rec_size, copy[1], g->rec_size, g, &v, &need);
	if ((pick == KV_PICK_RECORD || pick == KV_PICK_NONE) && v.seq &&
	    v.copy == inactive && kv_seq_after(v.seq, kv_ctrl_seq(c))) {
		word = kv_slot_ctrl_of(g, pick, &v, NULL);
	} else {
		word = kv_ctrl_with_owner(c, 0);
		if (!kv_ctrl_used(word)) /* a claim for an insert: free again */
			word = kv_ctrl_make(0, 0, false, kv_ctrl_active(word), kv_ctrl_seq(word));
		/* A write that died half-way leaves a torn copy; wipe its
		 * header, so that it reads as never written. Nothing else
		 * writes it: the slot is still locked by the one that is gone. */
		if (kv_rec_decode(copy[inactive], g->rec_size, g, &dummy, &need) == KV_REC_BAD)
			memset(slab + kv_head_off(g, slot, inactive), 0, KV_REC_HDR);
	}
	/* Nobody else can take a locked word, so a plain store is safe against
	 * remote compare-and-swap: theirs compares and fails. */
	__atomic_store_n(w, word, __ATOMIC_RELEASE);
}

unsigned kv_slab_release_owner(uint8_t *slab, const struct kv_geometry *g,
			       uint16_t owner, uint8_t *scratch)
{
	uint64_t n = kv_nslots(g);
	unsigned released = 0;

	for (uint64_t s = 0; s < n; s++) {
		uint64_t *w = ctrl_word(slab, g, s);
		uint64_t c = __atomic_load_n(w, __ATOMIC_ACQUIRE);

		if (owner == 0 || kv_ctrl_owner(c) != owner)
			continue;
		kv_slot_settle(slab, g, s, c, scratch);
		released++;
	}
	return released;
}

void kv_slab_census(const uint8_t *slab, const struct kv_geometry *g,
		    struct kv_slab_census *c)
{
	uint64_t n = kv_nslots(g);

	memset(c, 0, sizeof(*c));
	for (uint64_t s = 0; s < n; s++) {
		uint64_t w;

		memcpy(&w, slab + kv_ctrl_off(g, s), 8);
		c->used += kv_ctrl_used(w);
		c->locked += kv_ctrl_owner(w) != 0;
	}
}
