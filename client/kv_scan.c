/*
 * kv_scan.c - every item of the store, read with one-sided READs alone
 * (kv_scan() in kv.h; the dump of docs/dump.md is built on it).
 *
 * The index is READ in chunks into ws.rblk and copied out; then the blocks
 * its block words name are READ, up to KV__SCAN_BATCH behind one doorbell,
 * packed into ws.rblk. Each block is judged against the word it came from:
 *
 *   validates, committed, head == word, not a tombstone  -> the item, as read
 *   validates, committed, head == word, a tombstone      -> absent: skipped
 *   validates otherwise (uncommitted: a write under way;  -> the GET path for
 *     retired: a write took effect since the word was read;   its key, which
 *     its word is not in its key's buckets)                   settles it
 *   does not validate (freed and reused since the word   -> the word again,
 *     was read, or corrupt)                                   a bounded number
 *                                                             of times
 *
 * Why an item given as read is consistent: the word named W when the chunk
 * was read, and W's block was committed and not retired when it was read;
 * so W's write had taken effect and no later one had (a later write retires
 * W before it commits): W's value was the key's at that instant. The GET
 * path is linearizable (docs/design.md). Nothing here takes a claim or
 * writes the slab.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_client_int.h"

#define KV__SCAN_CHUNK 65536u  /* bytes of index words per READ */
#define KV__SCAN_BATCH 32u     /* block READs behind one doorbell */
#define KV__SCAN_RETRIES 12u   /* looks at a word whose block does not validate */

enum kv__verdict {
	KV__EMIT,  /* current: give it */
	KV__SKIP,  /* absent (a current tombstone, a word gone empty) */
	KV__GET,   /* the key is known; the GET path settles its value */
	KV__BAD,   /* no block that validates: look at the word again */
};

struct kv__scan_key {
	uint16_t klen;
	uint8_t key[KV_KEY_LIMIT];
};

struct kv__scan_blk {
	uint64_t idx, w;
	uint32_t off, len; /* in ws.rblk; len 0: names nothing READable */
};

struct kv__scan {
	kv_client *c;
	kv_scan_fn fn;
	void *arg;
	struct kv_scan_stats *st;
	struct kv_geometry geo;    /* as the scan began */
	uint64_t *words;           /* the chunk of the index being walked */
	struct kv__scan_blk blk[KV__SCAN_BATCH];
	struct kv__scan_blk bad[KV__SCAN_BATCH];
	struct kv__scan_key get[KV__SCAN_BATCH];
	unsigned nblk, nbad, nget;
};

static void kv__scan_rd(struct kv_wr *w, uint64_t off, void *local, uint32_t len)
{
	*w = (struct kv_wr){.op = KV_WR_READ, .off = off, .local = local, .len = len};
}

/*
 * Judge the @len bytes at @buf, read for word @w at index word @idx; on
 * KV__EMIT *v is the item, on KV__GET the key is queued for the GET path.
 */
static enum kv__verdict kv__scan_judge(struct kv__scan *s, uint64_t idx, uint64_t w,
				       uint8_t *buf, uint32_t len, struct kv_block_view *v)
{
	struct kv_keyhash kh;
	uint64_t bucket = idx / KV_BUCKET_WORDS;
	struct kv__scan_key *k;

	if (len < KV_BLOCK_HDR ||
	    kv_block_check(buf, len, w, &s->geo, NULL, 0, v) != KV_BLOCK_OK)
		return KV__BAD;
	kv_key_hash(&s->geo, v->key, v->klen, &kh);
	if (kh.fp == kv_word_fp(w) && (bucket == kh.b1 || bucket == kh.b2)) {
		if (kv__current(v, kv_word_settled(w)))
			return KV__EMIT;
		if (v->head == kv_word_settled(w)) /* a committed tombstone, not retired */
			return KV__SKIP;
	}
	/* A word a GET of this key would not look at (nothing honest makes
	 * one) is also left to the GET path: it says where the key really is. */
	k = &s->get[s->nget++];
	k->klen = v->klen;
	memcpy(k->key, v->key, v->klen);
	return KV__GET;
}

static int kv__scan_emit(struct kv__scan *s, const void *key, size_t klen, const void *val,
			 size_t vlen)
{
	s->st->items++;
	return s->fn(s->arg, key, klen, val, vlen);
}

/*
 * A block that did not validate: READ its word again, and the block of
 * what it names now. A word that moved on is progress (a write, or the
 * sweep clearing a tombstone); one that stays and keeps naming a block that
 * does not validate is corruption, given up on after KV__SCAN_RETRIES looks.
 * Moving words are followed for as many looks again, then also given up on.
 */
static int kv__scan_again(struct kv__scan *s, const struct kv__scan_blk *b)
{
	kv_client *c = s->c;
	uint64_t w = b->w;
	unsigned still = 0, moved = 0;

	for (;;) {
		struct kv_block_view v;
		enum kv__verdict verdict;
		struct kv_wr rd;
		uint32_t len;
		int ret;

		kv__scan_rd(&rd, kv_word_off(&s->geo, b->idx), c->ws.word, 8);
		if ((ret = kv__run(c, &rd, 1)))
			return ret;
		if (c->ws.word[0] != w) {
			w = c->ws.word[0];
			if (kv_word_kind(w) == KV_WORD_BAD)
				s->st->garbage++;
			if (kv_word_kind(w) != KV_WORD_BLOCK)
				return 0; /* emptied or claimed since: absent now */
			if (++moved > KV__SCAN_RETRIES)
				break;
			still = 0;
		} else if (++still > KV__SCAN_RETRIES) {
			break;
		} else if (still > 1) {
			unsigned shift = still < 9 ? still : 9;

			c->wire.ops->pause_ns(c->wire.ctx, 2000ull << shift);
		}
		len = kv__blk_read_len(c, w);
		if (len >= KV_BLOCK_HDR) {
			kv__scan_rd(&rd, kv_block_off(&s->geo, w), c->ws.rblk, len);
			if ((ret = kv__run(c, &rd, 1)))
				return ret;
		}
		verdict = kv__scan_judge(s, b->idx, w, c->ws.rblk, len, &v);
		if (verdict == KV__EMIT)
			return kv__scan_emit(s, v.key, v.klen, v.val, v.vlen);
		if (verdict != KV__BAD)
			return 0;
		c->cnt.torn_retries++;
	}
	s->st->unreadable++;
	return 0;
}

/* The GET path for a queued key. */
static int kv__scan_get(struct kv__scan *s, const struct kv__scan_key *k)
{
	void *val = NULL;
	size_t vlen = 0;
	uint64_t reconnects = s->c->cnt.reconnects;
	int ret = kv_get_alloc(s->c, k->key, k->klen, &val, &vlen);

	if (!ret && s->c->cnt.reconnects != reconnects) {
		/* The GET connected again: the scan's reads so far were of the
		 * old connection; kv.h promises it ends, not resumes. */
		free(val);
		kv__seterr(s->c, "the connection was made again during the scan; scan again");
		return -ECONNRESET;
	}

	if (!ret) {
		s->st->via_get++;
		ret = kv__scan_emit(s, k->key, k->klen, val, vlen);
	} else if (ret == -ENOENT) {
		ret = 0; /* deleted since */
	} else if (ret == -EBADMSG || ret == -EBUSY) {
		s->st->unreadable++;
		ret = 0;
	}
	free(val);
	if (!ret && memcmp(&s->c->hello.geo, &s->geo, sizeof(s->geo))) {
		kv__seterr(s->c, "the store changed during the scan (another geometry)");
		ret = -ESTALE;
	}
	return ret;
}

/* READ the blocks of s->blk behind one doorbell, and settle each. */
static int kv__scan_batch(struct kv__scan *s)
{
	kv_client *c = s->c;
	struct kv_wr rd[KV__SCAN_BATCH];
	unsigned n = 0;
	int ret;

	for (unsigned i = 0; i < s->nblk; i++)
		if (s->blk[i].len)
			kv__scan_rd(&rd[n++], kv_block_off(&s->geo, s->blk[i].w),
				    c->ws.rblk + s->blk[i].off, s->blk[i].len);
	if (n && (ret = kv__run(c, rd, n)))
		return ret;
	s->nbad = s->nget = 0;
	/* First everything that needs ws.rblk as it is now. */
	for (unsigned i = 0; i < s->nblk; i++) {
		const struct kv__scan_blk *b = &s->blk[i];
		struct kv_block_view v;

		switch (kv__scan_judge(s, b->idx, b->w, c->ws.rblk + b->off, b->len, &v)) {
		case KV__EMIT:
			if ((ret = kv__scan_emit(s, v.key, v.klen, v.val, v.vlen)))
				return ret;
			break;
		case KV__BAD:
			s->bad[s->nbad++] = *b;
			break;
		default:
			break;
		}
	}
	for (unsigned i = 0; i < s->nbad; i++)
		if ((ret = kv__scan_again(s, &s->bad[i])))
			return ret;
	for (unsigned i = 0; i < s->nget; i++)
		if ((ret = kv__scan_get(s, &s->get[i])))
			return ret;
	s->nblk = 0;
	return 0;
}

/* Walk @n words of the chunk that starts at index word @first. */
static int kv__scan_words(struct kv__scan *s, uint64_t first, unsigned n)
{
	kv_client *c = s->c;
	uint32_t used = 0;
	int ret;

	s->nblk = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t w = s->words[i];
		uint32_t len;

		switch (kv_word_kind(w)) {
		case KV_WORD_BLOCK:
			break;
		case KV_WORD_BAD:
			s->st->garbage++;
			continue;
		default: /* empty, or a claim: an insert not yet published */
			continue;
		}
		len = kv__blk_read_len(c, w);
		if (len < KV_BLOCK_HDR)
			len = 0; /* it names nothing we can READ: looked at again */
		if (s->nblk == KV__SCAN_BATCH || used + len > c->rblk_len) {
			if ((ret = kv__scan_batch(s)))
				return ret;
			used = 0;
		}
		s->blk[s->nblk++] = (struct kv__scan_blk){first + i, w, used, len};
		used += (len + 15) & ~15u;
	}
	return s->nblk ? kv__scan_batch(s) : 0;
}

int kv_scan(kv_client *c, kv_scan_fn fn, void *arg, struct kv_scan_stats *st)
{
	struct kv_scan_stats dummy;
	struct kv__scan *s;
	uint64_t nwords, at;
	size_t chunk;
	int ret = 0;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!fn)
		return -EINVAL;
	if ((ret = kv__ready(c))) /* a broken connection is made again first */
		return ret;
	c->err[0] = 0;
	s = calloc(1, sizeof(*s));
	chunk = (c->rblk_len < KV__SCAN_CHUNK ? c->rblk_len : KV__SCAN_CHUNK) / 8;
	if (chunk == 0)
		chunk = 1;
	if (!s || !(s->words = malloc(chunk * 8))) {
		free(s);
		return -ENOMEM;
	}
	s->c = c;
	s->fn = fn;
	s->arg = arg;
	s->st = st;
	s->geo = c->hello.geo;
	nwords = kv_nwords(&s->geo);
	for (at = 0; at < nwords && !ret; at += chunk) {
		unsigned n = (unsigned)(nwords - at < chunk ? nwords - at : chunk);
		struct kv_wr rd;

		kv__scan_rd(&rd, kv_word_off(&s->geo, at), c->ws.rblk, n * 8);
		if ((ret = kv__run(c, &rd, 1)))
			break;
		memcpy(s->words, c->ws.rblk, (size_t)n * 8);
		st->words += n;
		ret = kv__scan_words(s, at, n);
	}
	free(s->words);
	free(s);
	return ret;
}
