/*
 * kv_ops.c - GET, PUT and DEL over one-sided verbs. The protocol and the
 * argument for why it is linearizable are in docs/design.md; the round trips
 * are marked RT below. Everything here reaches the slab through c->wire
 * (kv_wire.h): verbs, or the simulation's local slab.
 *
 * In short: a key is named by one 8-byte word in one of its two buckets; the
 * word points at an immutable block (header, key, value, checksum) written
 * out of place in space the server granted this client. A PUT writes a new
 * block, then swings the word to it with one CAS; a DEL swings it to 0; an
 * insert first claims an empty word (a CAS), so that two inserts of a key
 * cannot both land. A GET reads the word, then the block, and trusts the
 * block only if it validates against the word.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_client_int.h"
#include "kv_auth.h"

#define KV__TORN_RETRIES 12      /* attempts that saw no whole block and no progress */
#define KV__LOCK_WAIT_MS 3000    /* a claim that makes no progress, past its lease */
#define KV__NPAIR (2 * KV_BUCKET_WORDS)

/* One operation: what the caller asked for, the key's hash, our block. */
struct kv__op {
	const void *key;
	size_t klen;
	const void *val; /* PUT: the value; DEL: none (a tombstone) */
	size_t vlen;
	bool del;
	struct kv_keyhash kh;
	uint64_t w_new;  /* the word naming our block (a DEL's: a tombstone) */
	uint64_t blk_off;/* PUT: where the block goes (slab offset) */
	size_t blk_len;
	bool written;    /* PUT: the block is in the slab */
	uint64_t slab_head, slab_prev; /* what its head and prev are there */
	uint64_t other[KV__NPAIR]; /* words proven to hold another key */
	unsigned nother;
};

/* Where the key was found. */
struct kv__found {
	uint64_t idx;   /* its index word */
	uint64_t word;  /* the word, as read before the block */
	struct kv_block_view v; /* into c->ws.rblk */
};

static const struct kv_geometry *G(const kv_client *c) { return &c->hello.geo; }

int kv__run(kv_client *c, const struct kv_wr *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (w[i].op == KV_WR_CAS) {
			c->cnt.atomics++;
			c->op_cas++;
		} else if (w[i].op == KV_WR_READ) {
			c->cnt.reads++;
			c->cnt.read_bytes += w[i].len;
		} else {
			c->cnt.writes++;
			c->cnt.write_bytes += w[i].len;
		}
	}
	c->cnt.doorbells++;
	return c->wire.ops->run(c->wire.ctx, w, n);
}

/* Exponential backoff with jitter: about 2 us doubling up to 1 ms. */
static void kv__backoff(kv_client *c, unsigned attempt)
{
	unsigned shift = attempt < 9 ? attempt : 9;
	uint64_t ns = (2000ull << shift) / 2 + kv_rand_next(&c->rng) % (2000ull << shift);

	c->wire.ops->pause_ns(c->wire.ctx, ns);
}

static void kv__rd(struct kv_wr *w, uint64_t off, void *local, uint32_t len)
{
	*w = (struct kv_wr){.op = KV_WR_READ, .off = off, .local = local, .len = len};
}

static void kv__cas(struct kv_wr *w, uint64_t off, uint64_t *result,
		    uint64_t expect, uint64_t swap)
{
	*w = (struct kv_wr){.op = KV_WR_CAS, .off = off, .local = result,
			    .len = 8, .compare = expect, .swap = swap};
}

/* Note what blocked this attempt; the retry policy compares attempts. */
static void kv__saw(kv_client *c, uint64_t word)
{
	c->seen = c->seen * 0x100000001b3ull + word + 1;
}

/* ---- the cache of where keys' words are ----------------------------------- */

/*
 * Two-way sets: a key's two candidate entries are a pair; a new key takes
 * the one of the pair not used last. (1000 keys in 4096 entries: about 1%
 * misses, against 12% direct-mapped.) A cache of one entry is one way;
 * an odd last entry goes unused.
 */
static struct kv__cached *kv__cache_set(kv_client *c, const struct kv_keyhash *kh)
{
	uint64_t h = kh->h1 ^ kh->h2 >> 17;

	if (c->ncache < 2)
		return c->ncache ? c->cache : NULL;
	return &c->cache[h % (c->ncache / 2) * 2];
}

static bool kv__cache_is(const struct kv__cached *e, const struct kv_keyhash *kh)
{
	return e->word && e->h1 == kh->h1 && e->h2 == kh->h2;
}

static struct kv__cached *kv__cache_get(kv_client *c, const struct kv_keyhash *kh)
{
	struct kv__cached *e = kv__cache_set(c, kh);
	unsigned ways = c->ncache > 1 ? 2 : 1;

	for (unsigned k = 0; e && k < ways; k++)
		if (kv__cache_is(&e[k], kh)) {
			c->cache_last = (unsigned)(&e[k] - c->cache);
			return &e[k];
		}
	return NULL;
}

/* Remember that word @idx held @word for this key (0: forget the key). */
static void kv__cache_put(kv_client *c, const struct kv_keyhash *kh, uint64_t idx,
			  uint64_t word)
{
	struct kv__cached *e = kv__cache_set(c, kh), *to;
	unsigned ways = c->ncache > 1 ? 2 : 1;

	if (!e)
		return;
	for (unsigned k = 0; k < ways; k++)
		if (e[k].h1 == kh->h1 && e[k].h2 == kh->h2) { /* the key's own entry */
			if (word)
				e[k] = (struct kv__cached){kh->h1, kh->h2, idx, word};
			else
				memset(&e[k], 0, sizeof(e[k]));
			return;
		}
	if (!word)
		return;
	/* A new key: an empty way, else the way not used last. */
	to = ways == 1 || !e[0].word ? &e[0] : !e[1].word ? &e[1] :
	     (unsigned)(e - c->cache) == c->cache_last ? &e[1] : &e[0];
	*to = (struct kv__cached){kh->h1, kh->h2, idx, word};
	c->cache_last = (unsigned)(to - c->cache);
}

/* ---- reading --------------------------------------------------------------- */

/* Bytes to READ for block word @w: what it names, within our buffer. */
uint32_t kv__blk_read_len(const kv_client *c, uint64_t w)
{
	uint64_t len = kv_block_read_len(G(c), w);

	return (uint32_t)(len < c->rblk_len ? len : c->rblk_len);
}

/* READ both buckets of the key into ws.words behind @pre (posted first). */
static int kv__read_buckets(kv_client *c, const struct kv_keyhash *kh,
			    const struct kv_wr *pre, unsigned npre)
{
	struct kv_wr w[4];
	unsigned n = 0;

	for (unsigned i = 0; i < npre; i++)
		w[n++] = pre[i];
	kv__rd(&w[n++], kv_bucket_off(G(c), kh->b1), c->ws.words, KV_BUCKET_BYTES);
	kv__rd(&w[n++], kv_bucket_off(G(c), kh->b2), c->ws.words + KV_BUCKET_WORDS,
	       KV_BUCKET_BYTES);
	return kv__run(c, w, n);
}

static bool kv__proven_other(const struct kv__op *op, uint64_t w)
{
	for (unsigned i = 0; i < op->nother; i++)
		if (op->other[i] == w)
			return true;
	return false;
}

/*
 * READ the block word @w names into ws.rblk and judge it for the key (a word
 * too short to name a block is not READ): its enum kv_block_state, *v set
 * when it validates, or a negative errno.
 */
static int kv__read_block(kv_client *c, const struct kv__op *op, uint64_t w,
			  struct kv_block_view *v)
{
	uint32_t len = kv__blk_read_len(c, w);
	enum kv_block_state st = KV_BLOCK_BAD;
	struct kv_wr rd;
	int ret;

	if (len >= KV_BLOCK_HDR) {
		kv__rd(&rd, kv_block_off(G(c), w), c->ws.rblk, len);
		if ((ret = kv__run(c, &rd, 1)))                          /* RT */
			return ret;
		st = kv_block_check(c->ws.rblk, len, w, G(c), op->key, op->klen, v);
	}
	if (st == KV_BLOCK_BAD)
		kv__saw(c, w); /* its word moved on, or it is corrupt */
	return (int)st;
}

/*
 * With both buckets just read into ws.words: READ each block word with the
 * key's fingerprint (one RT each; usually there is one) until one holds the
 * key. 0 and *f; -ENOENT when none does; -EAGAIN when none does and a block
 * did not validate (its word moved on, or it is corrupt): look again.
 */
static int kv__find(kv_client *c, struct kv__op *op, struct kv__found *f)
{
	unsigned pos[KV__NPAIR], n = kv_probe_blocks(&op->kh, c->ws.words, pos);
	bool bad = false;

	for (unsigned i = 0; i < n; i++) {
		uint64_t w = c->ws.words[pos[i]];
		int ret;

		if (kv__proven_other(op, w))
			continue;
		ret = kv__read_block(c, op, w, &f->v);
		if (ret < 0)
			return ret;
		switch (ret) {
		case KV_BLOCK_OK:
			f->idx = kv_pair_idx(&op->kh, pos[i]);
			f->word = w;
			return 0;
		case KV_BLOCK_OTHER:
			if (op->nother < KV__NPAIR)
				op->other[op->nother++] = w;
			break;
		default:
			/* Not this key's block, or its word moved on: if another
			 * word holds the key, that is the key's (a key is in one
			 * word at most); if none does, look again. */
			bad = true;
			break;
		}
	}
	return bad ? -EAGAIN : -ENOENT;
}

/* ---- the retry policy ------------------------------------------------------ */

/*
 * How long a conflict may last with nothing moving: the server clears a
 * claim held past its lease, so waiting somewhat longer than that is enough.
 */
static uint64_t kv__lock_wait_ns(const kv_client *c)
{
	return (KV__LOCK_WAIT_MS + 2ull * c->hello.lease_ms) * 1000000ull;
}

typedef int (*kv__once_fn)(kv_client *c, struct kv__op *op, struct kv__found *f);

/*
 * Run @once until it stops asking for a retry. Each attempt leaves in
 * c->seen a digest of what blocked it; when that changes between attempts,
 * someone is making progress, and contention alone never makes an operation
 * fail. Without progress, -EAGAIN (no whole block) is retried
 * KV__TORN_RETRIES times and then reported as corruption (-EBADMSG), and
 * -EBUSY (a claim, a lost CAS) until the lock wait runs out.
 */
static int kv__retry(kv_client *c, kv__once_fn once, struct kv__op *op, struct kv__found *f)
{
	uint64_t last = 0, still_since = 0;
	unsigned torn = 0, attempt = 0;
	bool first = true;

	for (;;) {
		int r;

		c->seen = 0;
		op->nother = 0;
		r = once(c, op, f);
		if (r != -EAGAIN && r != -EBUSY)
			return r;
		if (r == -EAGAIN)
			c->cnt.torn_retries++;
		else
			c->cnt.lock_retries++;
		if (first || c->seen != last) { /* progress, or the first conflict */
			last = c->seen;
			first = false;
			torn = 0;
			still_since = c->wire.ops->now_ns(c->wire.ctx);
			attempt = attempt > 4 ? 4 : attempt;
		}
		if (r == -EAGAIN && ++torn > KV__TORN_RETRIES)
			return -EBADMSG;
		if (r == -EBUSY &&
		    c->wire.ops->now_ns(c->wire.ctx) - still_since > kv__lock_wait_ns(c))
			return -EBUSY;
		kv__backoff(c, attempt++);
	}
}

/* ---- GET ----------------------------------------------------------------- */

/*
 * The key's word names a block not yet committed: its write is under way
 * (or its writer died), and takes effect when its predecessor is retired.
 * READ the predecessor: whole, of the key and not retired, its value is
 * still the key's; else the new block's is (READ again: the buffer was
 * reused). 0 with f->v the value's block; -EAGAIN.
 */
static int kv__resolve(kv_client *c, const struct kv__op *op, struct kv__found *f)
{
	struct kv_block_view pv;
	uint64_t prev = f->v.prev;
	int ret;

	if (prev) {
		if ((ret = kv__read_block(c, op, prev, &pv)) < 0)
			return ret;
		/* A real predecessor was committed before it was replaced; an
		 * uncommitted "prev" is someone's unpublished block in reused
		 * space that happens to carry the same word. */
		if (ret == KV_BLOCK_OK && kv_view_committed(&pv) && !kv_view_retired(&pv)) {
			f->v = pv;
			return 0;
		}
	}
	ret = kv__read_block(c, op, f->word, &f->v);
	return ret < 0 ? ret : ret == KV_BLOCK_OK ? 0 : -EAGAIN;
}

/*
 * A block read for word @w that a warm GET may return: committed and not
 * retired (its write took effect and none after it has, so its value is the
 * key's now), and not a tombstone (the sweep clears a tombstone's word
 * without retiring it).
 */
bool kv__current(const struct kv_block_view *v, uint64_t w)
{
	return v->head == w && !kv_view_tomb(v);
}

static int kv__get_once(kv_client *c, struct kv__op *op, struct kv__found *f)
{
	struct kv__cached *e = kv__cache_get(c, &op->kh);
	int ret;

	if (e) { /* warm: one READ of the block this client last saw */
		ret = kv__read_block(c, op, e->word, &f->v);                /* RT1 */
		if (ret < 0)
			return ret;
		if (ret == KV_BLOCK_OK && kv__current(&f->v, e->word)) {
			f->idx = e->idx;
			f->word = e->word;
			return 0;
		}
		kv__cache_put(c, &op->kh, 0, 0);
	}
	if ((ret = kv__read_buckets(c, &op->kh, NULL, 0)))                /* RT1 */
		return ret;
	if ((ret = kv__find(c, op, f)))                                   /* RT2 */
		return ret;
	if (!kv_view_committed(&f->v) && (ret = kv__resolve(c, op, f)))   /* RT3 */
		return ret;
	/* A committed block is the key's value, its word pending or not; the
	 * cache keeps the word as it will be once settled. */
	if (kv__current(&f->v, kv_word_settled(f->word)))
		kv__cache_put(c, &op->kh, f->idx, kv_word_settled(f->word));
	return kv_view_tomb(&f->v) ? -ENOENT : 0;
}

static int kv__check_key(const kv_client *c, size_t klen)
{
	if (klen == 0)
		return -EINVAL;
	return klen > G(c)->max_key ? -E2BIG : 0;
}

static void kv__op_init(kv_client *c, struct kv__op *op, const void *key, size_t klen)
{
	if (!c->broken)
		c->err[0] = 0; /* the message of this operation's failure, if any */
	memset(op, 0, sizeof(*op));
	c->op_cas = 0;
	op->key = key;
	op->klen = klen;
	kv_key_hash(G(c), key, klen, &op->kh);
}

/* Look up @key; on 0, *f's view points into the workspace. */
static int kv__get(kv_client *c, const void *key, size_t klen, struct kv__found *f)
{
	struct kv__op op;
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	kv__op_init(c, &op, key, klen);
	return kv__retry(c, kv__get_once, &op, f);
}

int kv_get(kv_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *vlen)
{
	struct kv__found f;
	int ret = kv__ready(c);

	if (!ret)
		ret = kv__get(c, key, klen, &f);
	if (ret)
		return ret;
	*vlen = f.v.vlen;
	if (f.v.vlen > cap)
		return -ENOBUFS;
	if (f.v.vlen)
		memcpy(buf, f.v.val, f.v.vlen);
	return 0;
}

int kv_get_alloc(kv_client *c, const void *key, size_t klen, void **val, size_t *vlen)
{
	struct kv__found f;
	int ret = kv__ready(c);

	*val = NULL;
	if (!ret)
		ret = kv__get(c, key, klen, &f);
	if (ret)
		return ret;
	*val = malloc(f.v.vlen ? f.v.vlen : 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, f.v.val, f.v.vlen);
	*vlen = f.v.vlen;
	return 0;
}

static bool kv__transport_error(int err)
{
	return err == -ENOTCONN || err == -ECONNRESET || err == -ETIMEDOUT || err == -EIO;
}

int kv_get_multi(kv_client *c, unsigned n, const struct kv_key *keys,
		 struct kv_result *res)
{
	size_t stride = c->multi_stride;
	struct kv_wr w[KV_MAX_DEPTH];
	struct kv__cached warm[KV_MAX_DEPTH];
	struct kv__op op;
	unsigned nw = 0;
	int ret = kv__ready(c);

	if (ret)
		return ret;
	stride = c->multi_stride; /* the hello may be new */
	if (n > c->depth)
		return -EINVAL;
	/* Every key whose block this client knows: its READ, all behind one
	 * doorbell. */
	for (unsigned i = 0; i < n; i++) {
		struct kv__cached *e;
		uint32_t len;

		memset(&warm[i], 0, sizeof(warm[i]));
		res[i].status = kv__check_key(c, keys[i].klen);
		if (res[i].status)
			continue;
		kv__op_init(c, &op, keys[i].key, keys[i].klen);
		e = kv__cache_get(c, &op.kh);
		if (!e || (len = kv__blk_read_len(c, e->word)) < KV_BLOCK_HDR || len > stride)
			continue;
		warm[i] = *e;
		kv__rd(&w[nw++], kv_block_off(G(c), e->word), c->multi + i * stride, len);
	}
	if (nw && (ret = kv__run(c, w, nw)))
		return ret;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *blk = c->multi + i * stride;
		struct kv_block_view v;
		struct kv__found f;

		if (res[i].status)
			continue;
		if (warm[i].word &&
		    kv_block_check(blk, kv__blk_read_len(c, warm[i].word), warm[i].word, G(c),
				   keys[i].key, keys[i].klen, &v) == KV_BLOCK_OK &&
		    kv__current(&v, warm[i].word)) {
			res[i].val = v.val;
			res[i].vlen = v.vlen;
			continue;
		}
		res[i].status = kv__get(c, keys[i].key, keys[i].klen, &f);
		if (kv__transport_error(res[i].status))
			return res[i].status;
		if (res[i].status)
			continue;
		res[i].vlen = f.v.vlen;
		if (f.v.vlen > stride) {
			res[i].status = -ENOBUFS;
			continue;
		}
		memcpy(blk, f.v.val, f.v.vlen);
		res[i].val = blk;
	}
	return 0;
}

/* ---- space for blocks ------------------------------------------------------ */

/* Ask for a grant of @need bytes; wait (a few leases at most) while the
 * server says a pass may free enough. */
static int kv__grant(kv_client *c, uint64_t need, struct kv__grant *g)
{
	uint64_t start = c->wire.ops->now_ns(c->wire.ctx);
	uint64_t wait = (1000ull + 3ull * c->hello.lease_ms) * 1000000ull;
	uint64_t largest = 0;
	unsigned attempt = 0;

	if (need > G(c)->data_len) {
		kv__seterr(c, "memory: an item of %llu bytes is larger than the whole data "
			      "region (%llu bytes)", (unsigned long long)need,
			   (unsigned long long)G(c)->data_len);
		return -ENOSPC;
	}
	for (;;) {
		int ret = c->wire.ops->grant(c->wire.ctx, need, attempt++, &g->off, &g->len,
					     &largest);

		if (!ret) {
			g->used = 0;
			return 0;
		}
		if (ret == -EAGAIN && c->wire.ops->now_ns(c->wire.ctx) - start < wait) {
			c->wire.ops->pause_ns(c->wire.ctx, c->hello.lease_ms * 250000ull + 1000000);
			continue;
		}
		if (ret == -EAGAIN || ret == -ENOSPC) {
			kv__seterr(c, "memory: no room for an item of %llu bytes "
				      "(largest free extent %llu bytes)",
				   (unsigned long long)need, (unsigned long long)largest);
			return -ENOSPC;
		}
		return ret;
	}
}

static int kv__seal(kv_client *c, struct kv__grant *g)
{
	int ret = 0;

	if (g->len)
		ret = c->wire.ops->seal(c->wire.ctx, g->off, g->len);
	memset(g, 0, sizeof(*g));
	return ret;
}

int kv__seal_all(kv_client *c)
{
	return kv__seal(c, &c->small);
}

/*
 * Space for a block of @len bytes: bumped off the open grant, or from a new
 * one. Every earlier operation of this client has finished, so the open
 * grant, too short for this block, can be sealed first: the server then
 * counts its tail as space a pass will give back.
 */
static int kv__alloc(kv_client *c, size_t len, uint64_t *off)
{
	int ret;

	if (c->small.len - c->small.used < len) {
		if ((ret = kv__seal(c, &c->small)) || (ret = kv__grant(c, len, &c->small)))
			return ret;
	}
	*off = c->small.off + c->small.used;
	c->small.used += len;
	return 0;
}

/* ---- PUT and DEL --------------------------------------------------------- */

/*
 * Our block as the slab must hold it before the CAS that publishes it: head
 * @head, predecessor @prev. The first WRITE carries all of it; later only
 * the 16 bytes of head and prev, when they differ. Adds at most one WRITE to
 * @w; returns how many.
 */
static unsigned kv__blk_write(kv_client *c, struct kv__op *op, uint64_t head, uint64_t prev,
			      struct kv_wr *w)
{
	uint32_t len = (uint32_t)op->blk_len;

	if (op->written && op->slab_head == head && op->slab_prev == prev)
		return 0;
	kv_block_set_head(c->ws.wblk, head, prev);
	if (op->written)
		len = 16;
	*w = (struct kv_wr){.op = KV_WR_WRITE, .off = op->blk_off, .local = c->ws.wblk,
			    .len = len};
	op->slab_head = head;
	op->slab_prev = prev;
	return 1;
}

/*
 * Make our write of block word @w (published at index word @idx with the
 * pending bit, its block uncommitted) take effect: retire its predecessor
 * @prev, commit it, clear the word's pending bit, behind one doorbell and
 * in that order. Any CAS may find the work done already (by the sweep,
 * which fences us first). The sweep keeps @prev's space while @w is
 * uncommitted, so the retire cannot land in space granted again.
 */
static int kv__finish(kv_client *c, uint64_t idx, uint64_t w, uint64_t prev)
{
	struct kv_wr x[3];
	unsigned n = 0;

	if (prev && kv_block_read_len(G(c), prev) >= KV_BLOCK_HDR)
		kv__cas(&x[n++], kv_block_off(G(c), prev), &c->ws.word[2], prev,
			kv_head_retired(prev));
	kv__cas(&x[n++], kv_block_off(G(c), w), &c->ws.word[3], kv_head_uncommitted(w), w);
	kv__cas(&x[n++], kv_word_off(G(c), idx), &c->ws.word[4], w | KV_WORD_PENDING, w);
	return kv__run(c, x, n);
}

/*
 * Word @idx holds @old (settled: no write of the key under way), whose block
 * is committed (a key's current value). Swing it to our block, pending,
 * then make that take effect: retire @old's block (the instant the write
 * takes effect), commit ours, settle the word. 0, or -EBUSY when the word
 * had moved on (or a write of the key is under way: then it is pending).
 */
static int kv__swing(kv_client *c, struct kv__op *op, uint64_t idx, uint64_t old)
{
	struct kv_wr w[2];
	unsigned n = kv__blk_write(c, op, kv_head_uncommitted(op->w_new), old, w);
	int ret;

	kv__cas(&w[n++], kv_word_off(G(c), idx), &c->ws.word[1], old,
		op->w_new | KV_WORD_PENDING);
	if ((ret = kv__run(c, w, n)))                                    /* RT */
		return ret;
	op->written = true;
	if (c->ws.word[1] != old) {
		kv__saw(c, c->ws.word[1]);
		kv__cache_put(c, &op->kh, 0, 0);
		return -EBUSY;
	}
	if (c->on_swung)
		c->on_swung(c);
	if ((ret = kv__finish(c, idx, op->w_new, old)))                   /* RT */
		return ret;
	kv__cache_put(c, &op->kh, idx, op->del ? 0 : op->w_new);
	return 0;
}

/* Give back a claim we hold (word @idx). */
static int kv__unclaim(kv_client *c, uint64_t idx, uint64_t claim)
{
	struct kv_wr w;

	kv__cas(&w, kv_word_off(G(c), idx), &c->ws.word[2], claim, 0);
	return kv__run(c, &w, 1);
}

/*
 * Both buckets, read just now, looked full. But words were read one by one:
 * one read full may have been freed before another filled. Only a second
 * read that sees the same words proves the store full for this key. -ENOSPC,
 * or -EBUSY to look again.
 */
static int kv__full_or_moved(kv_client *c, struct kv__op *op)
{
	uint64_t before[KV__NPAIR];
	int ret;

	for (unsigned i = 0; i < KV__NPAIR; i++)
		if (kv_word_kind(c->ws.words[i]) == KV_WORD_CLAIM) { /* may go back to 0 */
			kv__saw(c, c->ws.words[i]);
			return -EBUSY;
		}
	memcpy(before, c->ws.words, sizeof(before));
	if ((ret = kv__read_buckets(c, &op->kh, NULL, 0)))
		return ret;
	if (!memcmp(before, c->ws.words, sizeof(before))) {
		kv__seterr(c, "index: both buckets of this key are full "
			      "(item of %zu bytes)", op->klen + op->vlen);
		return -ENOSPC;
	}
	for (unsigned i = 0; i < KV__NPAIR; i++)
		kv__saw(c, c->ws.words[i]);
	return -EBUSY;
}

/*
 * Holding a claim on word @pos, with both buckets just read: may the key go
 * in? 0 yes; -EEXIST when a block of it may have landed elsewhere; -EBUSY
 * when another client claims a word for this fingerprint (it may be
 * inserting this key). Either way we give our claim back and look again
 * after a backoff: a claim is never held while waiting, so that a claim
 * held long means a client that stopped (the lease).
 */
static int kv__claim_check(kv_client *c, struct kv__op *op, unsigned pos)
{
	unsigned bp[KV__NPAIR], nb = kv_probe_blocks(&op->kh, c->ws.words, bp);
	uint16_t lowest;

	for (unsigned i = 0; i < nb; i++)
		if (!kv__proven_other(op, c->ws.words[bp[i]])) {
			kv__saw(c, c->ws.words[bp[i]]);
			return -EEXIST;
		}
	if (kv_probe_claims(&op->kh, c->ws.words, c->hello.client_id, pos, &lowest)) {
		for (unsigned i = 0; i < KV__NPAIR; i++)
			if (kv_word_kind(c->ws.words[i]) == KV_WORD_CLAIM)
				kv__saw(c, c->ws.words[i]);
		return -EBUSY;
	}
	return 0;
}

/*
 * The key is in neither bucket: claim an empty word for it (a CAS), reading
 * both buckets behind the CAS. Nobody else inserts this key while we hold
 * the claim: an insert that claims after us sees our claim, one before us
 * is seen by us. Then publish our block in the claimed word.
 */
static int kv__insert(kv_client *c, struct kv__op *op)
{
	uint64_t claim = kv_word_claim(op->kh.fp, c->hello.client_id), idx;
	int pos = kv_probe_empty(c->ws.words), ret;
	struct kv_wr w[4];
	unsigned n;

	if (pos == -ENOSPC)
		return kv__full_or_moved(c, op);
	idx = kv_pair_idx(&op->kh, (unsigned)pos);
	kv__cas(&w[0], kv_word_off(G(c), idx), &c->ws.word[1], 0, claim);
	if ((ret = kv__read_buckets(c, &op->kh, w, 1)))                  /* RT */
		return ret;
	if (c->ws.word[1] != 0) {
		kv__saw(c, c->ws.word[1]);
		return -EBUSY;
	}
	ret = kv__claim_check(c, op, (unsigned)pos);
	if (ret) {
		int un = kv__unclaim(c, idx, claim);

		return un ? un : ret == -EEXIST ? -EBUSY : ret;
	}
	/* An insert has no predecessor: its block is committed at birth, and
	 * the CAS that publishes it is the instant it takes effect. */
	n = kv__blk_write(c, op, op->w_new, 0, w);
	kv__cas(&w[n++], kv_word_off(G(c), idx), &c->ws.word[1], claim, op->w_new);
	if ((ret = kv__run(c, w, n)))                                     /* RT */
		return ret;
	op->written = true;
	if (c->ws.word[1] != claim) /* only the server clears our claim: we were cut off */
		return -ECONNRESET;
	kv__cache_put(c, &op->kh, idx, op->w_new);
	return 0;
}

static int kv__put_once(kv_client *c, struct kv__op *op, struct kv__found *f)
{
	struct kv__cached *e = kv__cache_get(c, &op->kh);
	struct kv_wr w[1];
	unsigned n;
	int ret;

	if (e) { /* warm: write the block and swing the word, one doorbell */
		ret = kv__swing(c, op, e->idx, e->word);                  /* RT1, RT2 */
		if (ret != -EBUSY)
			return ret;
	}
	/* Cold: the block goes with the first READs, uncommitted until the CAS
	 * that publishes it is behind a WRITE that says otherwise: a block
	 * never published (this PUT fails, or its client dies) never looks
	 * committed to a reader that reaches its space with a stale word. */
	n = kv__blk_write(c, op, kv_head_uncommitted(op->w_new), 0, w);
	if ((ret = kv__read_buckets(c, &op->kh, w, n)))                   /* RT1 */
		return ret;
	op->written = true;
	ret = kv__find(c, op, f);                                         /* RT2 */
	if (ret == -ENOENT)
		return op->del ? -ENOENT : kv__insert(c, op);             /* RT3.. */
	if (ret)
		return ret;
	/* A write of the key is under way, or its writer stopped: wait until
	 * it is committed (its writer's next doorbell, or the sweep's, which
	 * fences a writer that stopped first). Ours replaces committed blocks
	 * only. Finishing it here instead would put a retire CAS of ours on
	 * space of which we hold nothing: if we stopped before it landed,
	 * that space could be freed and reused by a block of the same word. */
	if (!kv_view_committed(&f->v) || kv_word_pending(f->word)) {
		kv__saw(c, f->word);
		return -EBUSY;
	}
	if (op->del && kv_view_tomb(&f->v))
		return -ENOENT; /* deleted already */
	return kv__swing(c, op, f->idx, f->word);                         /* RT3, RT4 */
}

/* Allocate and write locally the block this PUT or DEL publishes. */
static int kv__prepare(kv_client *c, struct kv__op *op, const void *val, size_t vlen)
{
	uint64_t gran;
	unsigned tag;
	int ret;

	op->val = val ? val : "";
	op->vlen = vlen;
	op->blk_len = (size_t)kv_block_granules(op->klen, vlen) * KV_GRANULE;
	if ((ret = kv__alloc(c, op->blk_len, &op->blk_off)))
		return ret;
	gran = op->blk_off / KV_GRANULE;
	op->blk_off += G(c)->data_off;
	tag = (unsigned)kv_rand_next(&c->rng);
	if (c->tag_mask)
		tag &= c->tag_mask;
	op->w_new = kv_word_block(op->kh.fp, tag, kv_len_code(op->blk_len / KV_GRANULE), gran);
	kv_block_encode(c->ws.wblk, op->w_new, kv_head_uncommitted(op->w_new), 0,
			op->del ? KV_BLOCK_TOMBSTONE : 0, G(c)->hash_seed, op->key, op->klen,
			op->val, vlen);
	op->slab_head = kv_head_uncommitted(op->w_new);
	op->slab_prev = 0;
	return 0;
}

/* A user of role ro may not write; the device would refuse it anyway. */
static int kv__check_role(kv_client *c)
{
	if (c->role == KV_ROLE_RO) {
		kv__seterr(c, "user %s has role ro: writes are not allowed", c->user);
		return -EPERM;
	}
	return 0;
}

/* The result of a PUT or DEL: cut off after a CAS went out, its outcome is
 * unknown (the CAS publishing it may have run). */
static int kv__write_result(kv_client *c, int ret)
{
	return ret && c->op_cas && (kv__transport_error(ret) || c->broken) ? -KV_EUNKNOWN : ret;
}

int kv_put(kv_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct kv__found f;
	struct kv__op op;
	int ret = kv__ready(c);

	if (!ret)
		ret = kv__check_role(c);
	if (!ret)
		ret = kv__check_key(c, klen);
	if (ret)
		return ret;
	if (vlen > G(c)->max_value)
		return -E2BIG;
	kv__op_init(c, &op, key, klen);
	if ((ret = kv__prepare(c, &op, val, vlen)))
		return kv__write_result(c, ret);
	return kv__write_result(c, kv__retry(c, kv__put_once, &op, &f));
}

/* A DEL writes a tombstone block (the key, no value) in the key's word, so
 * that the value it replaces is retired like any other. */
int kv_del(kv_client *c, const void *key, size_t klen)
{
	struct kv__found f;
	struct kv__op op;
	int ret = kv__ready(c);

	if (!ret)
		ret = kv__check_role(c);
	if (!ret)
		ret = kv__check_key(c, klen);
	if (ret)
		return ret;
	kv__op_init(c, &op, key, klen);
	op.del = true;
	if ((ret = kv__prepare(c, &op, NULL, 0)))
		return kv__write_result(c, ret);
	return kv__write_result(c, kv__retry(c, kv__put_once, &op, &f));
}
