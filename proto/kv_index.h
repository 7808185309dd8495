/*
 * kv_index.h - the slab's layout: an index of 8-byte words and out-of-place
 * blocks in a data region. Pure code over byte buffers, shared by server,
 * client and tests. docs/design.md has the pictures and the argument.
 *
 *   0            scratch areas (the demo's), KV_SCRATCH_AREAS x KV_SCRATCH_LEN
 *   index_off    nbuckets buckets of KV_BUCKET_WORDS 8-byte words (64 B each)
 *   data_off     data_len bytes of blocks, carved at KV_GRANULE (16 B)
 *
 * Index word (host byte order: RDMA atomics work on it):
 *
 *   63..62 kind   00 empty (then the whole word is 0), 01 block, 10 claim
 *   61..50 fp     12-bit fingerprint of the key
 *   block: 49 pending (its write is under way: KV_WORD_PENDING), 48..43
 *          tag (6 bits, random per write), 42..33 lcode (the block's
 *          length in granules, float-coded: kv_len_decode), 32..0 granule
 *          index of the block in the data region
 *   claim: 15..0 owner (the client id inserting a key with this fp)
 *
 * Block (little-endian, KV_BLOCK_HDR bytes of header, padded to a granule):
 *
 *   0  u64 head   the index word that publishes this block (without the
 *                 pending bit), its two top
 *                 bits (the word's kind, 01) replaced by the block's state:
 *                 00 uncommitted, 01 committed (then head == the word),
 *                 11 committed and retired
 *   8  u64 prev   the word this block replaced (0: none)
 *   16 u32 vlen
 *   20 u16 klen
 *   22 u16 flags  KV_BLOCK_TOMBSTONE: a DEL (no value)
 *   24 u64 check  XXH3-64, seeded with the store's seed, of the block with
 *                 head set to the word, prev and check zero
 *   32 key, value
 *
 * A block is written whole before the word that names it is published, and
 * afterwards only its state changes, by CAS, one bit at a time: COMMITTED
 * once its predecessor is retired, RETIRED once a successor took effect.
 * A reader trusts a block only if it validates against the word it came
 * from: head equal to the word but for the state, lengths in bounds and
 * within the word's length, checksum right. A block freed and reused, or torn
 * by a writer of the reused space, fails this.
 */
#ifndef KV_INDEX_H
#define KV_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_GRANULE 16u
#define KV_BUCKET_WORDS 8u
#define KV_BUCKET_BYTES (8u * KV_BUCKET_WORDS)
#define KV_BLOCK_HDR 32u
#define KV_BLOCK_TOMBSTONE 1u
#define KV_HEAD_COMMITTED (1ull << 62) /* as in every block word */
#define KV_HEAD_RETIRED (1ull << 63)
#define KV_HEAD_STATE (3ull << 62)
#define KV_KEY_LIMIT 250u                 /* longest key a store may allow */
#define KV_VALUE_LIMIT (64u << 20)        /* largest -v a server accepts */
#define KV_DEFAULT_MAX_VALUE (1u << 20)
#define KV_SCRATCH_AREAS 64
#define KV_SCRATCH_LEN 4096
#define KV_INDEX_DEFAULT_NUM 3u           /* default index: 3/32 of the slab */
#define KV_INDEX_DEFAULT_DEN 32u
#define KV_GRAN_BITS 33

enum kv_word_kind {
	KV_WORD_EMPTY = 0,
	KV_WORD_BLOCK = 1,
	KV_WORD_CLAIM = 2,
	KV_WORD_BAD = 3, /* kind 3, or kind 0 with other bits set */
};

static inline enum kv_word_kind kv_word_kind(uint64_t w)
{
	unsigned k = (unsigned)(w >> 62);

	return w == 0 ? KV_WORD_EMPTY : k == 0 ? KV_WORD_BAD : (enum kv_word_kind)k;
}
/* Set in a block word while its write is under way: its writer swung the
 * word to its block and has yet to retire the old one, commit its own and
 * clear this bit (one doorbell). A writer swings only a word without it, so
 * no write ever replaces one under way, even if a word comes back the same
 * (the same space, length and tag) for a client that cached it long ago. */
#define KV_WORD_PENDING (1ull << 49)
#define KV_TAG_BITS 6
static inline uint16_t kv_word_fp(uint64_t w) { return (uint16_t)((w >> 50) & 0xfff); }
static inline unsigned kv_word_tag(uint64_t w) { return (unsigned)((w >> 43) & 0x3f); }
static inline bool kv_word_pending(uint64_t w) { return (w & KV_WORD_PENDING) != 0; }
/* The word as its block's head carries it: without the pending bit. */
static inline uint64_t kv_word_settled(uint64_t w) { return w & ~KV_WORD_PENDING; }
static inline unsigned kv_word_lcode(uint64_t w) { return (unsigned)((w >> 33) & 0x3ff); }
static inline uint64_t kv_word_gran(uint64_t w) { return w & ((1ull << KV_GRAN_BITS) - 1); }
static inline uint16_t kv_word_owner(uint64_t w) { return (uint16_t)w; }

static inline uint64_t kv_word_block(uint16_t fp, unsigned tag, unsigned lcode, uint64_t gran)
{
	return 1ull << 62 | (uint64_t)(fp & 0xfff) << 50 | (uint64_t)(tag & 0x3f) << 43 |
	       (uint64_t)(lcode & 0x3ff) << 33 | (gran & ((1ull << KV_GRAN_BITS) - 1));
}
static inline uint64_t kv_word_claim(uint16_t fp, uint16_t owner)
{
	return 2ull << 62 | (uint64_t)(fp & 0xfff) << 50 | owner;
}

/*
 * Lengths in 10 bits: code e<<5|m with e = 0 means m granules (0..31);
 * otherwise (32 + m) << (e - 1) granules, never more than 1/32 above what
 * it must cover. kv_len_code() gives the smallest code covering @n, or
 * 0x3ff's value if @n is beyond any code (no block is that long).
 */
uint64_t kv_len_decode(unsigned code);
unsigned kv_len_code(uint64_t granules);

/* Granules a block of these lengths takes. */
static inline uint64_t kv_block_granules(size_t klen, size_t vlen)
{
	return (KV_BLOCK_HDR + (uint64_t)klen + vlen + KV_GRANULE - 1) / KV_GRANULE;
}

/* Where a key may live: bucket b1 or b2 (distinct), with fingerprint fp. */
struct kv_keyhash {
	uint64_t h1, h2; /* the key's two seeded 64-bit hashes */
	uint32_t b1, b2;
	uint16_t fp;
};

void kv_key_hash(const struct kv_geometry *g, const void *key, size_t klen,
		 struct kv_keyhash *kh);

static inline uint64_t kv_nwords(const struct kv_geometry *g)
{
	return (uint64_t)g->nbuckets * KV_BUCKET_WORDS;
}
static inline uint64_t kv_word_off(const struct kv_geometry *g, uint64_t idx)
{
	return g->index_off + idx * 8;
}
static inline uint64_t kv_bucket_off(const struct kv_geometry *g, uint32_t b)
{
	return g->index_off + (uint64_t)b * KV_BUCKET_BYTES;
}
static inline uint64_t kv_data_granules(const struct kv_geometry *g)
{
	return g->data_len / KV_GRANULE;
}
/* Slab offset of the block a block word names. */
static inline uint64_t kv_block_off(const struct kv_geometry *g, uint64_t w)
{
	return g->data_off + kv_word_gran(w) * KV_GRANULE;
}

/*
 * Bytes a reader fetches for block word @w: its coded length, cut at the end
 * of the data region. 0 when the word points outside the region (a word no
 * honest writer made).
 */
uint64_t kv_block_read_len(const struct kv_geometry *g, uint64_t w);

/*
 * Lay out a slab of @slab_len bytes with an index of @index_bytes (0: the
 * default fraction). 0, or -EINVAL with a reason in @err.
 */
int kv_geometry_layout(uint64_t slab_len, uint64_t index_bytes, uint32_t max_key,
		       uint32_t max_value, uint64_t seed, struct kv_geometry *g,
		       char *err, size_t errlen);

/* The head a block of word @w carries uncommitted, and retired (committed:
 * kv_word_settled(w)). */
static inline uint64_t kv_head_uncommitted(uint64_t w)
{
	return w & ~(KV_HEAD_STATE | KV_WORD_PENDING);
}
static inline uint64_t kv_head_retired(uint64_t w)
{
	return (w & ~KV_WORD_PENDING) | KV_HEAD_RETIRED;
}

/*
 * Write a block for word @w into @buf (kv_block_granules() * 16 bytes; the
 * padding is zeroed): head @head (@w in one of its states), @prev, @flags.
 * Returns the padded length. Head and prev may be rewritten later
 * (kv_block_set_head) without touching the checksum.
 */
size_t kv_block_encode(uint8_t *buf, uint64_t w, uint64_t head, uint64_t prev,
		       uint16_t flags, uint64_t seed, const void *key, size_t klen,
		       const void *val, size_t vlen);
static inline void kv_block_set_head(uint8_t *buf, uint64_t head, uint64_t prev)
{
	for (unsigned i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(head >> (8 * i));
		buf[8 + i] = (uint8_t)(prev >> (8 * i));
	}
}

enum kv_block_state {
	KV_BLOCK_OK,    /* validates against the word; it is this key */
	KV_BLOCK_OTHER, /* validates, but holds another key (fingerprints collide) */
	KV_BLOCK_BAD,   /* torn, reused, or garbage: the word may have moved on */
};

struct kv_block_view {
	uint64_t head;   /* as read: its state bits say committed, retired */
	uint64_t prev;
	uint16_t klen;
	uint16_t flags;
	uint32_t vlen;
	const uint8_t *key;
	const uint8_t *val;
};

static inline bool kv_view_committed(const struct kv_block_view *v)
{
	return (v->head & KV_HEAD_COMMITTED) != 0;
}
static inline bool kv_view_retired(const struct kv_block_view *v)
{
	return (v->head & KV_HEAD_RETIRED) != 0;
}
static inline bool kv_view_tomb(const struct kv_block_view *v)
{
	return (v->flags & KV_BLOCK_TOMBSTONE) != 0;
}

/* Lengths and flags from a block header (no checks: for counting). */
static inline void kv_block_peek(const uint8_t *b, uint16_t *klen, uint32_t *vlen,
				 uint16_t *flags)
{
	*vlen = (uint32_t)b[16] | (uint32_t)b[17] << 8 | (uint32_t)b[18] << 16 |
		(uint32_t)b[19] << 24;
	*klen = (uint16_t)(b[20] | b[21] << 8);
	*flags = (uint16_t)(b[22] | b[23] << 8);
}

/*
 * Judge @len bytes read for word @w (its state aside). @buf is the caller's:
 * the head, prev and check fields are set for the sum and restored in place.
 * @key may be NULL: then a valid block is KV_BLOCK_OK whatever its key.
 * Never reads past @len.
 */
enum kv_block_state kv_block_check(uint8_t *buf, size_t len, uint64_t w,
				   const struct kv_geometry *g, const void *key,
				   size_t klen, struct kv_block_view *v);

/*
 * Probing the 16 words of b1 then b2 (words[0..7] and words[8..15]).
 * Index of word i of the pair: kv_pair_idx().
 */
static inline uint64_t kv_pair_idx(const struct kv_keyhash *kh, unsigned i)
{
	return (uint64_t)(i < KV_BUCKET_WORDS ? kh->b1 : kh->b2) * KV_BUCKET_WORDS +
	       i % KV_BUCKET_WORDS;
}

/* Block words with the key's fingerprint: their positions (0..15) go to
 * @out; returns how many. */
unsigned kv_probe_blocks(const struct kv_keyhash *kh, const uint64_t *words,
			 unsigned *out);

/*
 * Claims with the key's fingerprint by clients other than @me, outside
 * position @skip. Returns how many; *lowest gets the lowest owner among them.
 */
unsigned kv_probe_claims(const struct kv_keyhash *kh, const uint64_t *words,
			 uint16_t me, unsigned skip, uint16_t *lowest);

/* An empty word for an insert, in the bucket with more empty words (b1 on a
 * tie). Its position, or -ENOSPC when both buckets are full. */
int kv_probe_empty(const uint64_t *words);

/*
 * Server side, on the slab in its own memory: a CAS of the CPU on an 8-byte
 * word (see docs/design.md on CPU and NIC atomics).
 */
bool kv_slab_cas(uint8_t *p, uint64_t expect, uint64_t swap);

/*
 * Granules block word @w covers in @slab: exactly its block's when the
 * header there is its own and fits the word's length, else all the word's
 * length says (0 when it points outside the data region).
 */
uint64_t kv_block_span(const uint8_t *slab, const struct kv_geometry *g, uint64_t w);

/*
 * Server side: finish the write of block word @w, found uncommitted with
 * predecessor @prev, as its writer would: retire @prev's block (when @prev
 * is a block word inside the data region), then commit @w's. Either CAS may
 * find the work done. True when this call committed it. The index word's
 * pending bit is the caller's to clear, after this.
 */
bool kv_block_finish(uint8_t *slab, const struct kv_geometry *g, uint64_t w, uint64_t prev);

struct kv_index_census {
	uint64_t items;   /* block words */
	uint64_t claims;  /* claim words */
	uint64_t bad;     /* words of no kind */
};

/* Count words of the index in @slab; tolerates any garbage. */
void kv_index_census(const uint8_t *slab, const struct kv_geometry *g,
		     struct kv_index_census *c);

#endif
