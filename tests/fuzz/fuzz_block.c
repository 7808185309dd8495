/*
 * fuzz_block.c - a block read from the slab, which any client can have
 * written anything into (kv_block_check, the judge every reader and the
 * server's recovery trust), and the index word's fields that locate it
 * (length codes: kv_len_decode/kv_len_code; kv_block_read_len; probing the
 * words of a bucket pair).
 *
 * Input: a flags byte, the store's key and value limits, its seed, an index
 * word, a key to look for, then the bytes read for the word (the block).
 *
 * Contract: kv_block_check never reads past the bytes it is given and
 * leaves them as they were; a block it accepts lies whole inside them, has
 * lengths within the store's limits and within the word's length, a head
 * that is the word's without its pending bit, a committed/retired state a
 * writer can make, and is
 * exactly what kv_block_encode makes of its fields; OK and OTHER agree with
 * the key looked for. A block kv_block_encode makes is accepted with the
 * fields it was made of whenever they are within the limits. Length codes
 * round trip and cover what they code; the bytes a reader fetches for a
 * word stay inside the data region; probes name only words of their kind.
 */
#include "fuzz_util.h"

#include "kv_base.h"
#include "kv_index.h"
#include "kv_proto.h"

typedef unsigned __int128 u128;

static void check_len_codes(uint64_t n, unsigned c)
{
	uint64_t d = kv_len_decode(c & 0x3ff);
	unsigned code = kv_len_code(n);

	FUZZ_CHECK(kv_len_code(d) == (c & 0x3ff));
	FUZZ_CHECK(code <= 0x3ff);
	if (n <= kv_len_decode(0x3ff)) {
		uint64_t cover = kv_len_decode(code);

		FUZZ_CHECK(cover >= n);
		FUZZ_CHECK(n < 32 ? cover == n : (u128)(cover - n) * 31 < n);
		FUZZ_CHECK(code == 0 || kv_len_decode(code - 1) < n); /* the smallest */
	} else {
		FUZZ_CHECK(code == 0x3ff);
	}
}

static void check_read_len(const struct kv_geometry *g, uint64_t w)
{
	uint64_t len = kv_block_read_len(g, w), gran = kv_word_gran(w);

	FUZZ_CHECK(len % KV_GRANULE == 0);
	FUZZ_CHECK(len <= kv_len_decode(kv_word_lcode(w)) * KV_GRANULE);
	if (gran >= kv_data_granules(g))
		FUZZ_CHECK(len == 0);
	else
		FUZZ_CHECK((u128)gran * KV_GRANULE + len <= g->data_len);
}

static void check_probes(const uint8_t *raw, size_t n)
{
	uint64_t words[2 * KV_BUCKET_WORDS];
	struct kv_keyhash kh = {.fp = 0};
	unsigned pos[2 * KV_BUCKET_WORDS], k;
	uint16_t lowest;
	int e;

	memset(words, 0, sizeof(words));
	memcpy(words, raw, n < sizeof(words) ? n : sizeof(words));
	kh.fp = kv_word_fp(words[0]);
	k = kv_probe_blocks(&kh, words, pos);
	FUZZ_CHECK(k <= 2 * KV_BUCKET_WORDS);
	for (unsigned i = 0; i < k; i++)
		FUZZ_CHECK(pos[i] < 2 * KV_BUCKET_WORDS &&
			   kv_word_kind(words[pos[i]]) == KV_WORD_BLOCK &&
			   kv_word_fp(words[pos[i]]) == kh.fp);
	k = kv_probe_claims(&kh, words, (uint16_t)words[1], (unsigned)(words[2] & 31), &lowest);
	FUZZ_CHECK(k <= 2 * KV_BUCKET_WORDS);
	FUZZ_CHECK(k == 0 || lowest != (uint16_t)words[1]);
	e = kv_probe_empty(words);
	FUZZ_CHECK(e == -ENOSPC || (e >= 0 && e < (int)(2 * KV_BUCKET_WORDS) && words[e] == 0));
}

/* The block kv_block_encode makes of these fields is accepted with them. */
static void check_encode(const struct kv_geometry *g, uint64_t w, unsigned state,
			 uint16_t flags, uint64_t prev, const uint8_t *key, size_t klen,
			 const uint8_t *val, size_t vlen)
{
	uint64_t n = kv_block_granules(klen, vlen);
	uint64_t wn = kv_word_block(kv_word_fp(w), kv_word_tag(w), kv_len_code(n), kv_word_gran(w));
	uint64_t head = (wn & ~KV_HEAD_STATE) | (uint64_t)state << 62;
	struct kv_block_view v;
	enum kv_block_state st;
	size_t len = (size_t)n * KV_GRANULE;
	uint8_t *buf = malloc(len);
	bool valid = klen >= 1 && klen <= g->max_key && vlen <= g->max_value &&
		     !((flags & KV_BLOCK_TOMBSTONE) && vlen) && (flags & ~KV_BLOCK_TOMBSTONE) == 0 &&
		     state != 2 && (prev == 0 || kv_word_kind(prev) == KV_WORD_BLOCK);

	if (!buf)
		abort();
	FUZZ_CHECK(kv_block_encode(buf, wn, head, prev, flags, g->hash_seed, key, klen, val,
				   vlen) == len);
	st = kv_block_check(buf, len, wn, g, key, klen, &v);
	FUZZ_CHECK(valid ? st == KV_BLOCK_OK : st == KV_BLOCK_BAD);
	if (valid) {
		FUZZ_CHECK(v.klen == klen && v.vlen == vlen && v.flags == flags &&
			   v.head == head && v.prev == prev);
		FUZZ_CHECK(memcmp(v.key, key, klen) == 0 && (vlen == 0 || memcmp(v.val, val, vlen) == 0));
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t flags = fz_u8(&f);
	struct kv_geometry g = {.nbuckets = 2};
	uint8_t key[256], *buf, *orig;
	size_t klen, len;
	uint64_t w, n;
	struct kv_block_view v;
	enum kv_block_state st;

	g.max_key = 1 + fz_u8(&f) % KV_KEY_LIMIT;
	g.max_value = flags & 0x80 ? fz_u32(&f) % (KV_VALUE_LIMIT + 1) : fz_u16(&f);
	g.hash_seed = fz_u64(&f);
	g.data_len = ((uint64_t)fz_u32(&f) + 1) * KV_GRANULE;
	w = fz_u64(&f);
	klen = fz_u8(&f);
	fz_bytes(&f, key, klen);
	len = f.n;
	buf = fz_dup(f.p, len);
	orig = fz_dup(f.p, len);

	st = kv_block_check(buf, len, w, &g, flags & 1 ? key : NULL, klen, &v);
	FUZZ_CHECK(st == KV_BLOCK_OK || st == KV_BLOCK_OTHER || st == KV_BLOCK_BAD);
	FUZZ_CHECK(memcmp(buf, orig, len) == 0);
	if (st != KV_BLOCK_BAD) {
		size_t used = KV_BLOCK_HDR + (size_t)v.klen + v.vlen;
		uint8_t *enc;

		FUZZ_CHECK(kv_word_kind(w) == KV_WORD_BLOCK);
		FUZZ_CHECK(used <= len);
		FUZZ_CHECK(v.key == buf + KV_BLOCK_HDR && v.val == v.key + v.klen);
		FUZZ_CHECK(v.klen >= 1 && v.klen <= g.max_key && v.vlen <= g.max_value);
		FUZZ_CHECK(kv_block_granules(v.klen, v.vlen) <= kv_len_decode(kv_word_lcode(w)));
		/* The head is the word without its pending bit (kv_word_settled). */
		FUZZ_CHECK((v.head & ~KV_HEAD_STATE) == (kv_word_settled(w) & ~KV_HEAD_STATE));
		FUZZ_CHECK(!kv_word_pending(v.head));
		FUZZ_CHECK((v.head & KV_HEAD_STATE) != KV_HEAD_RETIRED);
		FUZZ_CHECK(!kv_view_tomb(&v) || v.vlen == 0);
		FUZZ_CHECK((v.flags & ~KV_BLOCK_TOMBSTONE) == 0);
		FUZZ_CHECK(v.prev == 0 || kv_word_kind(v.prev) == KV_WORD_BLOCK);
		if (flags & 1)
			FUZZ_CHECK((st == KV_BLOCK_OK) ==
				   (v.klen == klen && memcmp(v.key, key, klen) == 0));
		else
			FUZZ_CHECK(st == KV_BLOCK_OK);
		enc = malloc(kv_block_granules(v.klen, v.vlen) * KV_GRANULE);
		if (!enc)
			abort();
		kv_block_encode(enc, kv_word_settled(w), v.head, v.prev, v.flags, g.hash_seed,
				v.key, v.klen, v.val, v.vlen);
		FUZZ_CHECK(memcmp(enc, buf, used) == 0);
		free(enc);
	}

	n = w >> (flags >> 1 & 63);
	check_len_codes(n, kv_word_lcode(w));
	check_read_len(&g, w);
	check_probes(orig, len);
	if (klen && len <= (1u << 16))
		check_encode(&g, w, (unsigned)(flags >> 5 & 3), (uint16_t)(flags >> 3 & 3),
			     len >= 8 ? kv_ld64le(orig) : 0, key, klen, orig, len);
	free(buf);
	free(orig);
	return 0;
}
