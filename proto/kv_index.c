/* kv_index.c - index words, blocks, hashing and probing (see kv_index.h). */
#include "kv_index.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"

#define KV_SEED2_MIX 0x9e3779b97f4a7c15ull
#define KV_CHECK_OFF 24

uint64_t kv_len_decode(unsigned code)
{
	unsigned e = (code >> 5) & 31, m = code & 31;

	return e == 0 ? m : (uint64_t)(32 + m) << (e - 1);
}

unsigned kv_len_code(uint64_t n)
{
	if (n < 32)
		return (unsigned)n;
	for (unsigned e = 1; e < 32; e++) {
		/* codes of exponent e cover 32 << (e-1) .. 63 << (e-1) */
		uint64_t unit = 1ull << (e - 1);

		if (n <= 63 * unit) {
			uint64_t m = (n + unit - 1) / unit - 32;

			return e << 5 | (unsigned)m;
		}
	}
	return 0x3ff;
}

void kv_key_hash(const struct kv_geometry *g, const void *key, size_t klen,
		 struct kv_keyhash *kh)
{
	uint64_t h1 = XXH3_64bits_withSeed(key, klen, g->hash_seed);
	uint64_t h2 = XXH3_64bits_withSeed(key, klen, g->hash_seed ^ KV_SEED2_MIX);

	kh->h1 = h1;
	kh->h2 = h2;
	kh->b1 = (uint32_t)(h1 % g->nbuckets);
	kh->fp = (uint16_t)(h2 >> 52);
	kh->b2 = (uint32_t)((h2 & 0xffffffffffffull) % g->nbuckets);
	if (kh->b2 == kh->b1)
		kh->b2 = (kh->b1 + 1) % g->nbuckets;
}

uint64_t kv_block_read_len(const struct kv_geometry *g, uint64_t w)
{
	uint64_t gran = kv_word_gran(w), ng = kv_data_granules(g);
	uint64_t n = kv_len_decode(kv_word_lcode(w));

	if (gran >= ng || n == 0)
		return 0;
	if (n > ng - gran)
		n = ng - gran;
	return n * KV_GRANULE;
}

int kv_geometry_layout(uint64_t slab_len, uint64_t index_bytes, uint32_t max_key,
		       uint32_t max_value, uint64_t seed, struct kv_geometry *g,
		       char *err, size_t errlen)
{
	uint64_t index_off = (uint64_t)KV_SCRATCH_AREAS * KV_SCRATCH_LEN;
	uint64_t room = slab_len > index_off ? slab_len - index_off : 0;
	uint64_t nb, data_off;

	memset(g, 0, sizeof(*g));
	if (max_key == 0 || max_key > KV_KEY_LIMIT || max_value == 0 ||
	    max_value > KV_VALUE_LIMIT) {
		snprintf(err, errlen, "key limit must be 1..%u, value limit 1..%u",
			 KV_KEY_LIMIT, KV_VALUE_LIMIT);
		return -EINVAL;
	}
	if (index_bytes == 0)
		index_bytes = room / KV_INDEX_DEFAULT_DEN * KV_INDEX_DEFAULT_NUM;
	nb = index_bytes / KV_BUCKET_BYTES;
	if (nb > UINT32_MAX)
		nb = UINT32_MAX;
	data_off = (index_off + nb * KV_BUCKET_BYTES + 4095) & ~4095ull;
	if (nb < 2 || data_off + 4096 > slab_len) {
		snprintf(err, errlen,
			 "a %llu-byte slab cannot hold an index of %llu bytes and data",
			 (unsigned long long)slab_len, (unsigned long long)index_bytes);
		return -EINVAL;
	}
	g->index_off = index_off;
	g->data_off = data_off;
	g->data_len = (slab_len - data_off) & ~(uint64_t)(KV_GRANULE - 1);
	if (g->data_len / KV_GRANULE > 1ull << KV_GRAN_BITS)
		g->data_len = (1ull << KV_GRAN_BITS) * KV_GRANULE;
	g->hash_seed = seed;
	g->nbuckets = (uint32_t)nb;
	g->max_key = max_key;
	g->max_value = max_value;
	return kv_geometry_check(g, slab_len, err, errlen);
}

size_t kv_block_encode(uint8_t *buf, uint64_t w, uint64_t head, uint64_t prev,
		       uint16_t flags, uint64_t seed, const void *key, size_t klen,
		       const void *val, size_t vlen)
{
	size_t len = (size_t)kv_block_granules(klen, vlen) * KV_GRANULE;
	size_t used = KV_BLOCK_HDR + klen + vlen;

	kv_st64le(buf, w);
	kv_st64le(buf + 8, 0);
	kv_st32le(buf + 16, (uint32_t)vlen);
	kv_st16le(buf + 20, (uint16_t)klen);
	kv_st16le(buf + 22, flags);
	kv_st64le(buf + KV_CHECK_OFF, 0);
	if (klen)
		memcpy(buf + KV_BLOCK_HDR, key, klen);
	if (vlen && val != buf + KV_BLOCK_HDR + klen)
		memmove(buf + KV_BLOCK_HDR + klen, val, vlen);
	memset(buf + used, 0, len - used);
	kv_st64le(buf + KV_CHECK_OFF, XXH3_64bits_withSeed(buf, used, seed));
	kv_block_set_head(buf, head, prev);
	return len;
}

enum kv_block_state kv_block_check(uint8_t *buf, size_t len, uint64_t w,
				   const struct kv_geometry *g, const void *key,
				   size_t klen, struct kv_block_view *v)
{
	uint64_t check, sum, head, prev;
	size_t used;
	uint16_t bk, fl;
	uint32_t bv;

	if (len < KV_BLOCK_HDR || kv_word_kind(w) != KV_WORD_BLOCK)
		return KV_BLOCK_BAD;
	head = kv_ld64le(buf);
	prev = kv_ld64le(buf + 8);
	w = kv_word_settled(w); /* the head never carries the pending bit */
	if ((head & ~KV_HEAD_STATE) != (w & ~KV_HEAD_STATE) ||
	    (head & KV_HEAD_STATE) == KV_HEAD_RETIRED)
		return KV_BLOCK_BAD;
	kv_block_peek(buf, &bk, &bv, &fl);
	if (bk == 0 || bk > g->max_key || bv > g->max_value || (fl & ~KV_BLOCK_TOMBSTONE) ||
	    ((fl & KV_BLOCK_TOMBSTONE) && bv) ||
	    (prev && kv_word_kind(prev) != KV_WORD_BLOCK))
		return KV_BLOCK_BAD;
	used = KV_BLOCK_HDR + (size_t)bk + bv;
	if (used > len || kv_block_granules(bk, bv) > kv_len_decode(kv_word_lcode(w)))
		return KV_BLOCK_BAD;
	check = kv_ld64le(buf + KV_CHECK_OFF);
	kv_block_set_head(buf, w, 0);
	kv_st64le(buf + KV_CHECK_OFF, 0);
	sum = XXH3_64bits_withSeed(buf, used, g->hash_seed);
	kv_st64le(buf + KV_CHECK_OFF, check);
	kv_block_set_head(buf, head, prev);
	if (sum != check)
		return KV_BLOCK_BAD;
	v->head = head;
	v->prev = prev;
	v->flags = fl;
	v->klen = bk;
	v->vlen = bv;
	v->key = buf + KV_BLOCK_HDR;
	v->val = buf + KV_BLOCK_HDR + bk;
	if (key && (bk != klen || memcmp(v->key, key, klen) != 0))
		return KV_BLOCK_OTHER;
	return KV_BLOCK_OK;
}

unsigned kv_probe_blocks(const struct kv_keyhash *kh, const uint64_t *words,
			 unsigned *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++)
		if (kv_word_kind(words[i]) == KV_WORD_BLOCK && kv_word_fp(words[i]) == kh->fp)
			out[n++] = i;
	return n;
}

unsigned kv_probe_claims(const struct kv_keyhash *kh, const uint64_t *words,
			 uint16_t me, unsigned skip, uint16_t *lowest)
{
	unsigned n = 0;

	*lowest = UINT16_MAX;
	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++) {
		uint64_t w = words[i];

		if (i == skip || kv_word_kind(w) != KV_WORD_CLAIM || kv_word_fp(w) != kh->fp ||
		    kv_word_owner(w) == me)
			continue;
		n++;
		if (kv_word_owner(w) < *lowest)
			*lowest = kv_word_owner(w);
	}
	return n;
}

int kv_probe_empty(const uint64_t *words)
{
	int first[2] = {-1, -1};
	unsigned nempty[2] = {0, 0};

	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++) {
		unsigned b = i / KV_BUCKET_WORDS;

		if (words[i] != 0)
			continue;
		if (first[b] < 0)
			first[b] = (int)i;
		nempty[b]++;
	}
	if (!nempty[0] && !nempty[1])
		return -ENOSPC;
	return nempty[1] > nempty[0] ? first[1] : first[0];
}

bool kv_slab_cas(uint8_t *p, uint64_t expect, uint64_t swap)
{
	return __atomic_compare_exchange_n((uint64_t *)(void *)p, &expect, swap, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

uint64_t kv_block_span(const uint8_t *slab, const struct kv_geometry *g, uint64_t w)
{
	uint64_t len = kv_block_read_len(g, w) / KV_GRANULE;
	const uint8_t *b = slab + kv_block_off(g, w);
	uint16_t klen, flags;
	uint32_t vlen;
	uint64_t n;

	if (len * KV_GRANULE < KV_BLOCK_HDR ||
	    (kv_ld64le(b) & ~KV_HEAD_STATE) != (kv_word_settled(w) & ~KV_HEAD_STATE))
		return len;
	kv_block_peek(b, &klen, &vlen, &flags);
	n = kv_block_granules(klen, vlen);
	return n <= len ? n : len;
}

bool kv_block_finish(uint8_t *slab, const struct kv_geometry *g, uint64_t w, uint64_t prev)
{
	prev = kv_word_settled(prev);
	if (prev && kv_word_kind(prev) == KV_WORD_BLOCK &&
	    kv_block_read_len(g, prev) >= KV_BLOCK_HDR)
		kv_slab_cas(slab + kv_block_off(g, prev), prev, kv_head_retired(prev));
	return kv_slab_cas(slab + kv_block_off(g, w), kv_head_uncommitted(w), kv_word_settled(w));
}

void kv_index_census(const uint8_t *slab, const struct kv_geometry *g,
		     struct kv_index_census *c)
{
	uint64_t n = kv_nwords(g);

	memset(c, 0, sizeof(*c));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w = __atomic_load_n((const uint64_t *)(const void *)
					     (slab + kv_word_off(g, i)), __ATOMIC_RELAXED);

		switch (kv_word_kind(w)) {
		case KV_WORD_BLOCK: c->items++; break;
		case KV_WORD_CLAIM: c->claims++; break;
		case KV_WORD_BAD: c->bad++; break;
		default: break;
		}
	}
}
