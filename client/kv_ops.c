/*
 * kv_ops.c - GET, PUT and DEL over one-sided verbs. The protocol and the
 * argument for why it is linearizable are in docs/design.md; the round trips
 * of the common case are marked RT1..RT3 below. Everything here reaches the
 * slab through c->wire (kv_wire.h): verbs, or the simulation's local slab.
 */
#include <errno.h>
#include <string.h>

#include "kv_client_int.h"

#define KV__TORN_RETRIES 12      /* attempts that saw no whole copy and no progress */
#define KV__LOCK_WAIT_MS 3000    /* a lock that makes no progress, past its lease */

/* One operation: what the caller asked for, and the key's hash. */
struct kv__op {
	const void *key;
	size_t klen;
	const void *val; /* PUT: the value; unused for DEL */
	size_t vlen;
	bool del;
	struct kv_keyhash kh;
};

/* What a look at the key's slots found. */
struct kv__found {
	uint32_t slot;
	uint64_t ctrl;            /* its control word, read before the record */
	struct kv_rec_view rec;   /* points into the workspace */
};

/* A slot's copies as read, and what kv_slot_pick made of them. */
struct kv__look {
	enum kv_pick pick;
	bool sure;                /* kv_slot_pick_sure: no need to confirm */
	struct kv_rec_view rec;
};

static const struct kv_geometry *G(const kv_client *c) { return &c->hello.geo; }

int kv__run(kv_client *c, const struct kv_wr *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (w[i].op == KV_WR_CAS) {
			c->cnt.atomics++;
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

static void kv__wr8(struct kv_wr *w, uint64_t off, uint64_t *local, uint64_t val)
{
	*local = val;
	*w = (struct kv_wr){.op = KV_WR_WRITE, .off = off, .local = local, .len = 8};
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

/*
 * How much of the second head the first READ takes: enough for this key and
 * a value as long as the last one this client saw, up to a whole head. The
 * READ then covers head 0 and that much of head 1, often well under 2H.
 */
static uint32_t kv__head_read(const kv_client *c, size_t klen)
{
	size_t want = (KV_REC_HDR + klen + c->vlen_hint + 7) & ~(size_t)7;

	return (uint32_t)(want < G(c)->head_size ? want : G(c)->head_size);
}

/* Pick from two copies and judge whether the pick needs confirming. */
static void kv__pick(kv_client *c, const uint8_t *c0, size_t l0, const uint8_t *c1,
		     size_t l1, struct kv__look *lk, size_t *need)
{
	lk->pick = kv_slot_pick(c0, l0, c1, l1, G(c), &lk->rec, need);
	lk->sure = kv_slot_pick_sure(c0, l0, c1, l1, lk->pick, &lk->rec);
}

/*
 * RT1 of every operation: one READ of the home slot's heads (all of head 0,
 * the start of head 1). A record running past what was read takes a second
 * READ: of both heads when it fits in one, else of the whole slot. 0 or
 * -errno; the verdict goes to *lk.
 */
static int kv__read_home(kv_client *c, const struct kv__op *op, struct kv__look *lk)
{
	uint32_t h = G(c)->head_size, rs = G(c)->rec_size;
	uint32_t part = kv__head_read(c, op->klen);
	uint64_t off = kv_slot_off(G(c), op->kh.home);
	struct kv_wr w;
	size_t need = 0;
	int ret;

	kv__rd(&w, off, c->ws.slot, h + part);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	kv__pick(c, c->ws.slot, h, c->ws.slot + h, part, lk, &need);
	if (lk->pick == KV_PICK_SHORT && need <= h && part < h) {
		kv__rd(&w, off, c->ws.slot, 2 * h);
		if ((ret = kv__run(c, &w, 1)))
			return ret;
		kv__pick(c, c->ws.slot, h, c->ws.slot + h, h, lk, &need);
	}
	if (lk->pick != KV_PICK_SHORT)
		return 0;
	kv__rd(&w, off, c->ws.slot, 2 * rs);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	kv_slot_gather(G(c), c->ws.slot, 0, c->ws.home[0]);
	kv_slot_gather(G(c), c->ws.slot, 1, c->ws.home[1]);
	kv__pick(c, c->ws.home[0], rs, c->ws.home[1], rs, lk, &need);
	if (lk->pick == KV_PICK_SHORT) /* cannot be, with whole copies */
		lk->pick = KV_PICK_TORN;
	return 0;
}

/* READ one control word into *word. */
static int kv__read_ctrl(kv_client *c, uint32_t slot, uint64_t *word)
{
	struct kv_wr w;
	int ret;

	kv__rd(&w, kv_ctrl_off(G(c), slot), &c->ws.word[0], 8);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	*word = c->ws.word[0];
	kv__saw(c, *word);
	return 0;
}

/*
 * A GET (or a DEL deciding the key is absent) may answer from the home slot
 * only if no newer complete write can hide in the copy it could not use: if
 * kv_slot_pick_sure says so, or the control word, read now, still names the
 * picked seq. 0 when the look stands; -EAGAIN to retry (c->seen tells the
 * retry policy whether anything moved).
 */
static int kv__confirm_home(kv_client *c, const struct kv__op *op,
			    const struct kv__look *lk)
{
	uint64_t word;
	int ret;

	if (lk->sure)
		return 0;
	if ((ret = kv__read_ctrl(c, op->kh.home, &word)))
		return ret;
	if (lk->pick == KV_PICK_TORN || kv_ctrl_seq(word) != lk->rec.seq)
		return -EAGAIN;
	return 0;
}

/* Read the control words of both candidate buckets (one doorbell). */
static int kv__read_buckets(kv_client *c, const struct kv_keyhash *kh)
{
	uint32_t bs = G(c)->bucket_slots;
	struct kv_wr w[2];

	kv__rd(&w[0], kv_ctrl_off(G(c), (uint64_t)kh->b1 * bs), c->ws.ctrl, bs * 8);
	kv__rd(&w[1], kv_ctrl_off(G(c), (uint64_t)kh->b2 * bs), c->ws.ctrl + bs, bs * 8);
	return kv__run(c, w, 2);
}

/*
 * The copy (in c->ws.gather) that control word @word names: KV_PICK_RECORD
 * and *v if it is whole and still at the word's seq, KV_PICK_NONE if that is
 * a tombstone; KV_PICK_TORN if it moved on since the word was read (writes
 * completed meanwhile: look again, this read proves nothing).
 */
static enum kv_pick kv__pick_named(kv_client *c, uint64_t word, struct kv_rec_view *v)
{
	size_t need = 0;

	if (kv_rec_decode(c->ws.gather[kv_ctrl_active(word)], G(c)->rec_size, G(c), v, &need) !=
		    KV_REC_VALID ||
	    v->seq != kv_ctrl_seq(word))
		return KV_PICK_TORN;
	if (v->flags & KV_REC_TOMBSTONE)
		return KV_PICK_NONE;
	v->copy = kv_ctrl_active(word);
	return KV_PICK_RECORD;
}

/*
 * With the buckets' control words in the workspace, look at every other slot
 * whose fingerprint matches. 0 and *f when the key is there; -ENOENT; -EAGAIN
 * when a candidate had no whole copy.
 */
static int kv__probe(kv_client *c, const struct kv__op *op, uint32_t skip,
		     struct kv__found *f)
{
	uint32_t bs = G(c)->bucket_slots, rec = G(c)->rec_size;
	uint32_t slot[2 * KV_MAX_BUCKET_SLOTS];
	uint64_t ctrl[2 * KV_MAX_BUCKET_SLOTS];
	struct kv_wr w[2 * KV_MAX_BUCKET_SLOTS];
	unsigned n = kv_probe_matches(G(c), &op->kh, c->ws.ctrl, c->ws.ctrl + bs, skip,
				      slot, ctrl);
	bool torn = false;

	for (unsigned base = 0; base < n; base += c->ncand) {
		unsigned k = n - base < c->ncand ? n - base : c->ncand;
		int ret;

		for (unsigned i = 0; i < k; i++)
			kv__rd(&w[i], kv_slot_off(G(c), slot[base + i]),
			       c->ws.cand + i * 2 * (size_t)rec, 2 * rec);
		if ((ret = kv__run(c, w, k)))
			return ret;
		for (unsigned i = 0; i < k; i++) {
			const uint8_t *img = c->ws.cand + i * 2 * (size_t)rec;
			size_t need = 0;
			int pick;

			kv_slot_gather(G(c), img, 0, c->ws.gather[0]);
			kv_slot_gather(G(c), img, 1, c->ws.gather[1]);
			pick = kv_slot_pick(c->ws.gather[0], rec, c->ws.gather[1], rec, G(c),
					    &f->rec, &need);
			if (pick != KV_PICK_TORN && !(pick == KV_PICK_RECORD &&
						     kv_rec_is_key(&f->rec, op->key, op->klen)))
				/* The newest copy may be a write not yet published
				 * (a DEL in flight, say): what the word names, read
				 * before it, is what this slot held then. */
				pick = kv__pick_named(c, ctrl[base + i], &f->rec);
			if (pick == KV_PICK_RECORD && kv_rec_is_key(&f->rec, op->key, op->klen)) {
				f->slot = slot[base + i];
				f->ctrl = ctrl[base + i];
				return 0;
			}
			if (pick == KV_PICK_TORN) {
				torn = true;
				kv__saw(c, ctrl[base + i]);
			}
		}
	}
	return torn ? -EAGAIN : -ENOENT;
}

/*
 * Away from home a key is published by its control word: a record there
 * counts only once the word names its seq (docs/design.md). The word read
 * before the record usually does; else read it again. 0 or -EAGAIN.
 */
static int kv__confirm_away(kv_client *c, const struct kv__op *op, struct kv__found *f)
{
	uint64_t word;
	int ret;

	if (kv_ctrl_seq(f->ctrl) == f->rec.seq)
		return 0;
	if ((ret = kv__read_ctrl(c, f->slot, &word)))
		return ret;
	if (!kv_ctrl_used(word) || kv_ctrl_fp(word) != op->kh.fp ||
	    kv_ctrl_seq(word) != f->rec.seq)
		return -EAGAIN;
	f->ctrl = word;
	return 0;
}

/* Neither home nor any published slot holds the key? -ENOENT, or 0 and *f. */
static int kv__find_away(kv_client *c, const struct kv__op *op, struct kv__found *f)
{
	int ret;

	if ((ret = kv__read_buckets(c, &op->kh)))
		return ret;
	if ((ret = kv__probe(c, op, op->kh.home, f)))
		return ret;
	return kv__confirm_away(c, op, f);
}

/* ---- the retry policy ------------------------------------------------------ */

/*
 * How long a conflict may last with nothing moving: the server breaks a lock
 * held past its lease, so waiting somewhat longer than that is enough.
 */
static uint64_t kv__lock_wait_ns(const kv_client *c)
{
	return (KV__LOCK_WAIT_MS + 2ull * c->hello.lease_ms) * 1000000ull;
}

typedef int (*kv__once_fn)(kv_client *c, const struct kv__op *op, struct kv__found *f);

/*
 * Run @once until it stops asking for a retry. Each attempt leaves in
 * c->seen a digest of what blocked it (lock words, control words); when that
 * changes between attempts, someone is making progress, and contention alone
 * never makes an operation fail. Without progress, -EAGAIN (no whole copy)
 * is retried KV__TORN_RETRIES times and then reported as corruption
 * (-EBADMSG), and -EBUSY (a lock) until the lock wait runs out.
 */
static int kv__retry(kv_client *c, kv__once_fn once, const struct kv__op *op,
		     struct kv__found *f)
{
	uint64_t last = 0, still_since = 0;
	unsigned torn = 0, attempt = 0;
	bool first = true;

	for (;;) {
		int r;

		c->seen = 0;
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

static int kv__get_once(kv_client *c, const struct kv__op *op, struct kv__found *f)
{
	struct kv__look lk;
	int ret;

	if ((ret = kv__read_home(c, op, &lk)))                            /* RT1 */
		return ret;
	if ((ret = kv__confirm_home(c, op, &lk)))
		return ret;
	if (lk.pick == KV_PICK_RECORD && kv_rec_is_key(&lk.rec, op->key, op->klen)) {
		f->slot = op->kh.home;
		f->rec = lk.rec;
		return 0;
	}
	return kv__find_away(c, op, f);          /* not at home: probe both buckets */
}

static int kv__check_key(const kv_client *c, size_t klen)
{
	if (klen == 0)
		return -EINVAL;
	return klen > G(c)->max_key ? -E2BIG : 0;
}

static void kv__op_init(kv_client *c, struct kv__op *op, const void *key, size_t klen)
{
	memset(op, 0, sizeof(*op));
	op->key = key;
	op->klen = klen;
	kv_key_hash(G(c), key, klen, &op->kh);
}

int kv_get(kv_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *vlen)
{
	struct kv__found f;
	struct kv__op op;
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	kv__op_init(c, &op, key, klen);
	if ((ret = kv__retry(c, kv__get_once, &op, &f)))
		return ret;
	c->vlen_hint = f.rec.vlen;
	*vlen = f.rec.vlen;
	if (f.rec.vlen > cap)
		return -ENOBUFS;
	memcpy(buf, f.rec.val, f.rec.vlen);
	return 0;
}

static bool kv__transport_error(int err)
{
	return err == -ENOTCONN || err == -ECONNRESET || err == -ETIMEDOUT || err == -EIO;
}

int kv_get_multi(kv_client *c, unsigned n, const struct kv_key *keys,
		 struct kv_result *res)
{
	uint32_t h = G(c)->head_size;
	size_t stride = c->multi_stride;
	struct kv_wr w[KV_MAX_DEPTH];
	struct kv__op op;
	unsigned nw = 0;
	uint32_t part[KV_MAX_DEPTH];
	int ret;

	if (n > c->depth)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		res[i].status = kv__check_key(c, keys[i].klen);
		if (res[i].status)
			continue;
		kv__op_init(c, &op, keys[i].key, keys[i].klen);
		part[i] = kv__head_read(c, keys[i].klen);
		kv__rd(&w[nw++], kv_slot_off(G(c), op.kh.home), c->multi + i * stride, h + part[i]);
	}
	if (nw && (ret = kv__run(c, w, nw)))      /* every first READ, one doorbell */
		return ret;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *img = c->multi + i * stride;
		struct kv__look lk;
		struct kv__found f;
		size_t need = 0;

		if (res[i].status)
			continue;
		kv__pick(c, img, h, img + h, part[i], &lk, &need);
		if (lk.pick == KV_PICK_RECORD && lk.sure &&
		    kv_rec_is_key(&lk.rec, keys[i].key, keys[i].klen)) {
			res[i].val = lk.rec.val;
			res[i].vlen = lk.rec.vlen;
			c->vlen_hint = lk.rec.vlen;
			continue;
		}
		/* Anything else takes the full path; its value then goes where
		 * this key's heads were. */
		kv__op_init(c, &op, keys[i].key, keys[i].klen);
		res[i].status = kv__retry(c, kv__get_once, &op, &f);
		if (kv__transport_error(res[i].status))
			return res[i].status;
		if (res[i].status)
			continue;
		res[i].vlen = f.rec.vlen;
		if (f.rec.vlen > stride) {
			res[i].status = -ENOBUFS;
			continue;
		}
		memmove(img, f.rec.val, f.rec.vlen);
		res[i].val = img;
		c->vlen_hint = f.rec.vlen;
	}
	return 0;
}

/* ---- PUT and DEL --------------------------------------------------------- */

/*
 * The slot holds our key, or is free for it, with control word @ctrl. RT2:
 * lock it by CAS, unless @locked says we hold it already. RT3: write the new
 * record (or tombstone) into the inactive copy and the unlocked control word
 * behind one doorbell, and put back the home slot's word if @restore_home.
 */
static int kv__write_slot(kv_client *c, const struct kv__op *op, uint32_t slot,
			  uint64_t ctrl, bool locked, const uint64_t *restore_home)
{
	uint16_t me = c->hello.client_id;
	uint64_t seq = kv_seq_next(kv_ctrl_seq(ctrl));
	unsigned copy = 1 - kv_ctrl_active(ctrl);
	uint32_t h = G(c)->head_size;
	struct kv_wr w[4];
	unsigned n = 0;
	size_t len;
	int ret;

	if (!locked) {
		kv__cas(&w[0], kv_ctrl_off(G(c), slot), &c->ws.word[1], ctrl,
			kv_ctrl_with_owner(ctrl, me));
		if ((ret = kv__run(c, w, 1)))                           /* RT2 */
			return ret;
		if (c->ws.word[1] != ctrl) {
			kv__saw(c, c->ws.word[1]);
			return -EBUSY;
		}
	}
	len = op->del ? kv_rec_encode(c->ws.wrec, seq, KV_REC_TOMBSTONE, NULL, 0, NULL, 0)
		      : kv_rec_encode(c->ws.wrec, seq, 0, op->key, op->klen, op->val, op->vlen);
	/* The record goes to the copy that is not active, head then tail; the
	 * control word that publishes it and unlocks the slot goes last. */
	w[n++] = (struct kv_wr){.op = KV_WR_WRITE, .off = kv_head_off(G(c), slot, copy),
				.local = c->ws.wrec, .len = (uint32_t)(len < h ? len : h)};
	if (len > h)
		w[n++] = (struct kv_wr){.op = KV_WR_WRITE, .off = kv_tail_off(G(c), slot, copy),
					.local = c->ws.wrec + h, .len = (uint32_t)(len - h)};
	kv__wr8(&w[n++], kv_ctrl_off(G(c), slot), &c->ws.wctrl[0],
		op->del ? kv_ctrl_make(0, 0, false, copy, seq)
			: kv_ctrl_make(0, op->kh.fp, true, copy, seq));
	if (restore_home)   /* release the insert lock on the key's home slot */
		kv__wr8(&w[n++], kv_ctrl_off(G(c), op->kh.home), &c->ws.wctrl[1], *restore_home);
	return kv__run(c, w, n);                                        /* RT3 */
}

/* Put the control words of the slots we locked back as they were. */
static int kv__unlock(kv_client *c, unsigned n, const uint32_t *slot, const uint64_t *old)
{
	struct kv_wr w[2];

	for (unsigned i = 0; i < n; i++)
		kv__wr8(&w[i], kv_ctrl_off(G(c), slot[i]), &c->ws.wctrl[2 + i], old[i]);
	return n ? kv__run(c, w, n) : 0;
}

/* An existing copy of the key somewhere else: update it there. */
static int kv__update_found(kv_client *c, const struct kv__op *op, const struct kv__found *f)
{
	if (kv_ctrl_owner(f->ctrl) || !kv_ctrl_used(f->ctrl) ||
	    f->rec.seq != kv_ctrl_seq(f->ctrl)) {
		kv__saw(c, f->ctrl); /* locked, or written between the two reads */
		return -EBUSY;
	}
	return kv__write_slot(c, op, f->slot, f->ctrl, false, NULL);
}

/*
 * Under the insert lock, with both buckets' words just read: is the key
 * really nowhere? Someone else's claim of a slot for this fingerprint means
 * an insert of it may still land (a client that died, whose claim the server
 * has not settled yet): wait. 0 when the key is nowhere, else as kv__probe,
 * or -EBUSY.
 */
static int kv__insert_check(kv_client *c, const struct kv__op *op, uint32_t target,
			    struct kv__found *f)
{
	uint32_t bs = G(c)->bucket_slots;
	uint64_t word;
	int ret;

	if (kv_probe_claims(G(c), &op->kh, c->ws.ctrl, c->ws.ctrl + bs, target,
			    c->hello.client_id, &word)) {
		kv__saw(c, word);
		return -EBUSY;
	}
	ret = kv__probe(c, op, target, f);
	return ret == -ENOENT ? 0 : ret ? ret : -EEXIST;
}

/*
 * Both buckets looked full, but the probe read the candidates after their
 * words: one of them may have been freed meanwhile (our key deleted, say).
 * Only words that stayed the same across the probe prove the store full for
 * this key. -ENOSPC (nothing was touched), or -EBUSY to look again.
 */
static int kv__full_or_moved(kv_client *c, const struct kv__op *op)
{
	uint32_t bs = G(c)->bucket_slots;
	uint64_t before[2 * KV_MAX_BUCKET_SLOTS];
	int ret;

	memcpy(before, c->ws.ctrl, 2 * bs * 8);
	if ((ret = kv__read_buckets(c, &op->kh)))
		return ret;
	if (!memcmp(before, c->ws.ctrl, 2 * bs * 8))
		return -ENOSPC;
	for (uint32_t i = 0; i < 2 * bs; i++)
		kv__saw(c, c->ws.ctrl[i]);
	return -EBUSY;
}

/*
 * The key is not at home. Take the home slot's lock (the insert lock: no
 * other client can insert this key meanwhile) and, if home is taken, claim a
 * free slot too (its lock word carries the key's fingerprint, so that an
 * insert of the same key waits for it even if we die), reading both buckets
 * behind the CASes in the same doorbell. Then, sure the key is nowhere,
 * write it.
 */
static int kv__insert(kv_client *c, const struct kv__op *op, uint64_t home_ctrl)
{
	uint16_t me = c->hello.client_id;
	uint32_t bs = G(c)->bucket_slots;
	uint32_t locked[2], target = op->kh.home;
	uint64_t old[2], swap[2], tctrl = home_ctrl;
	struct kv_wr w[4];
	struct kv__found f;
	unsigned nl = 0, n = 0, ng = 0;
	int ret;

	if (kv_ctrl_used(home_ctrl)) {
		if ((ret = kv__read_buckets(c, &op->kh)))
			return ret;
		/* The probe skips home, so home must still be as RT1 saw it:
		 * else our key may have landed there since (and "full" below
		 * would be a lie). */
		if (c->ws.ctrl[op->kh.home - op->kh.b1 * bs] != home_ctrl) {
			kv__saw(c, c->ws.ctrl[op->kh.home - op->kh.b1 * bs]);
			return -EBUSY;
		}
		ret = kv__probe(c, op, op->kh.home, &f);
		if (ret != -ENOENT)
			return ret ? ret : kv__update_found(c, op, &f);
		ret = kv_probe_free(G(c), &op->kh, c->ws.ctrl, c->ws.ctrl + bs, &target, &tctrl);
		if (ret == -EBUSY) /* only claims: any word that moves is progress */
			for (uint32_t i = 0; i < 2 * bs; i++)
				kv__saw(c, c->ws.ctrl[i]);
		if (ret == -ENOSPC)
			return kv__full_or_moved(c, op);
		if (ret)
			return ret;
	}
	locked[nl] = op->kh.home, old[nl] = home_ctrl;
	swap[nl++] = kv_ctrl_with_owner(home_ctrl, me);
	if (target != op->kh.home) {
		locked[nl] = target, old[nl] = tctrl;
		swap[nl++] = kv_ctrl_make(me, op->kh.fp, false, kv_ctrl_active(tctrl),
					  kv_ctrl_seq(tctrl));
	}
	for (unsigned i = 0; i < nl; i++)
		kv__cas(&w[n++], kv_ctrl_off(G(c), locked[i]), &c->ws.word[1 + i], old[i], swap[i]);
	kv__rd(&w[n++], kv_ctrl_off(G(c), (uint64_t)op->kh.b1 * bs), c->ws.ctrl, bs * 8);
	kv__rd(&w[n++], kv_ctrl_off(G(c), (uint64_t)op->kh.b2 * bs), c->ws.ctrl + bs, bs * 8);
	if ((ret = kv__run(c, w, n)))                                   /* RT2 */
		return ret;
	for (unsigned i = 0; i < nl; i++) {
		if (c->ws.word[1 + i] == old[i]) { /* keep what we got first */
			locked[ng] = locked[i];
			old[ng++] = old[i];
		} else {
			kv__saw(c, c->ws.word[1 + i]);
		}
	}
	if (ng < nl) {
		ret = kv__unlock(c, ng, locked, old);
		return ret ? ret : -EBUSY;
	}
	ret = kv__insert_check(c, op, target, &f);
	if (ret) {
		int un = kv__unlock(c, nl, locked, old);

		if (un)
			return un;
		return ret == -EEXIST ? kv__update_found(c, op, &f) : ret;
	}
	return kv__write_slot(c, op, target, tctrl, true,
			      target != op->kh.home ? &home_ctrl : NULL);
}

static int kv__put_once(kv_client *c, const struct kv__op *op, struct kv__found *unused)
{
	struct kv__look lk;
	struct kv__found f;
	uint64_t hctrl;
	bool mine;
	int ret;

	(void)unused;
	if ((ret = kv__read_home(c, op, &lk)))                           /* RT1 */
		return ret;
	if (lk.pick == KV_PICK_TORN) {
		uint64_t word;

		return (ret = kv__read_ctrl(c, op->kh.home, &word)) ? ret : -EAGAIN;
	}
	/* What the home slot's control word must be if nobody is writing it:
	 * the lock CAS expects exactly that, so RT1 need not read it, and a
	 * successful CAS confirms the look. When home holds our key, its
	 * fingerprint is the one we just computed. */
	mine = lk.pick == KV_PICK_RECORD && kv_rec_is_key(&lk.rec, op->key, op->klen);
	hctrl = kv_slot_ctrl_of(G(c), lk.pick, &lk.rec, mine ? &op->kh : NULL);
	if (mine)
		return kv__write_slot(c, op, op->kh.home, hctrl, false, NULL);
	if (op->del) { /* the key is elsewhere or nowhere: no CAS confirms that */
		if ((ret = kv__confirm_home(c, op, &lk)))
			return ret;
		ret = kv__find_away(c, op, &f);
		return ret ? ret : kv__update_found(c, op, &f);
	}
	return kv__insert(c, op, hctrl);
}

int kv_put(kv_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct kv__op op;
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	if (vlen > G(c)->max_value)
		return -E2BIG;
	kv__op_init(c, &op, key, klen);
	op.val = val ? val : "";
	op.vlen = vlen;
	c->vlen_hint = vlen; /* values near this size are likely next */
	return kv__retry(c, kv__put_once, &op, NULL);
}

int kv_del(kv_client *c, const void *key, size_t klen)
{
	struct kv__op op;
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	kv__op_init(c, &op, key, klen);
	op.del = true;
	return kv__retry(c, kv__put_once, &op, NULL);
}