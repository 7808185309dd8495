/*
 * kv_ops.c - GET, PUT and DEL over one-sided verbs. The protocol and the
 * argument for why it is safe are in docs/design.md; the round trips of the
 * common case are marked RT1..RT3 below.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kv_client_int.h"

#define KV__TORN_RETRIES 12     /* whole-op retries when no copy is whole */
#define KV__LOCK_WAIT_MS 3000   /* how long a slot may stay locked on us */

/* The outcome of looking for a key in the slots it may occupy. */
struct kv__found {
	uint32_t slot;
	uint64_t ctrl;            /* its control word, read before the record */
	struct kv_rec_view rec;   /* points into the workspace */
};

static uint64_t kv__rand(kv_client *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

/* Exponential backoff with jitter: about 2 us doubling up to 1 ms. */
static void kv__backoff(kv_client *c, unsigned attempt)
{
	unsigned shift = attempt < 9 ? attempt : 9;
	uint64_t ns = (2000ull << shift) / 2 + kv__rand(c) % (2000ull << shift);
	struct timespec ts = {0, (long)ns};

	nanosleep(&ts, NULL);
}

static const struct kv_geometry *G(const kv_client *c) { return &c->hello.geo; }

static void kv__rd(struct kv__wr *w, uint64_t off, void *local, uint32_t len)
{
	*w = (struct kv__wr){.op = IBV_WR_RDMA_READ, .off = off, .local = local, .len = len};
}

static void kv__wr8(struct kv__wr *w, uint64_t off, uint64_t *local, uint64_t val)
{
	*local = val;
	*w = (struct kv__wr){.op = IBV_WR_RDMA_WRITE, .off = off, .local = local, .len = 8};
}

static void kv__cas(struct kv__wr *w, uint64_t off, uint64_t *result,
		    uint64_t expect, uint64_t swap)
{
	*w = (struct kv__wr){.op = IBV_WR_ATOMIC_CMP_AND_SWP, .off = off, .local = result,
			     .len = 8, .compare = expect, .swap = swap};
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

static void kv__note_vlen(kv_client *c, size_t vlen)
{
	c->vlen_hint = vlen;
}

/*
 * RT1 of every operation: one READ of the home slot's heads (all of head 0,
 * the start of head 1). A record running past what was read takes a second
 * READ: of both heads when it fits in one, else of the whole slot. Returns
 * the kv_pick verdict (with *rec filled as kv_slot_pick does) or -errno.
 */
static int kv__read_home(kv_client *c, const struct kv_keyhash *kh, size_t klen,
			 struct kv_rec_view *rec)
{
	uint32_t h = G(c)->head_size, rs = G(c)->rec_size;
	uint32_t part = kv__head_read(c, klen);
	struct kv__wr w;
	size_t need = 0;
	int ret, pick;

	kv__rd(&w, kv_slot_off(G(c), kh->home), c->ws.slot, h + part);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	pick = kv_slot_pick(c->ws.slot, h, c->ws.slot + h, part, G(c), rec, &need);
	if (pick == KV_PICK_SHORT && need <= h && part < h) {
		kv__rd(&w, kv_slot_off(G(c), kh->home), c->ws.slot, 2 * h);
		if ((ret = kv__run(c, &w, 1)))
			return ret;
		pick = kv_slot_pick(c->ws.slot, h, c->ws.slot + h, h, G(c), rec, &need);
	}
	if (pick != KV_PICK_SHORT)
		return pick;
	kv__rd(&w, kv_slot_off(G(c), kh->home), c->ws.slot, 2 * rs);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	kv_slot_gather(G(c), c->ws.slot, 0, c->ws.home[0]);
	kv_slot_gather(G(c), c->ws.slot, 1, c->ws.home[1]);
	pick = kv_slot_pick(c->ws.home[0], rs, c->ws.home[1], rs, G(c), rec, &need);
	return pick == KV_PICK_SHORT ? KV_PICK_TORN : pick;
}

/* Read the control words of both candidate buckets (one doorbell). */
static int kv__read_buckets(kv_client *c, const struct kv_keyhash *kh)
{
	uint32_t bs = G(c)->bucket_slots;
	struct kv__wr w[2];

	kv__rd(&w[0], kv_ctrl_off(G(c), (uint64_t)kh->b1 * bs), c->ws.ctrl, bs * 8);
	kv__rd(&w[1], kv_ctrl_off(G(c), (uint64_t)kh->b2 * bs), c->ws.ctrl + bs, bs * 8);
	return kv__run(c, w, 2);
}

/*
 * With the buckets' control words in the workspace, look at every other slot
 * whose fingerprint matches. 0 and *f when the key is there; -ENOENT; -EAGAIN
 * when a candidate had no whole copy.
 */
static int kv__probe(kv_client *c, const struct kv_keyhash *kh, const void *key,
		     size_t klen, uint32_t skip, struct kv__found *f)
{
	uint32_t bs = G(c)->bucket_slots, rec = G(c)->rec_size;
	uint32_t slot[2 * KV_MAX_BUCKET_SLOTS];
	uint64_t ctrl[2 * KV_MAX_BUCKET_SLOTS];
	struct kv__wr w[2 * KV_MAX_BUCKET_SLOTS];
	unsigned n = kv_probe_matches(G(c), kh, c->ws.ctrl, c->ws.ctrl + bs, skip, slot, ctrl);
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
			if (pick == KV_PICK_RECORD && kv_rec_is_key(&f->rec, key, klen)) {
				f->slot = slot[base + i];
				f->ctrl = ctrl[base + i];
				return 0;
			}
			torn |= pick == KV_PICK_TORN;
		}
	}
	return torn ? -EAGAIN : -ENOENT;
}

/* ---- GET ----------------------------------------------------------------- */

static int kv__get_once(kv_client *c, const void *key, size_t klen, struct kv__found *f)
{
	struct kv_keyhash kh;
	int pick, ret;

	kv_key_hash(G(c), key, klen, &kh);
	pick = kv__read_home(c, &kh, klen, &f->rec);                   /* RT1 */
	if (pick < 0)
		return pick;
	if (pick == KV_PICK_RECORD && kv_rec_is_key(&f->rec, key, klen)) {
		f->slot = kh.home;
		return 0;
	}
	if ((ret = kv__read_buckets(c, &kh)))     /* not at home: probe both buckets */
		return ret;
	ret = kv__probe(c, &kh, key, klen, kh.home, f);
	/* A torn home slot may have been hiding the key: retry rather than miss. */
	return ret == -ENOENT && pick == KV_PICK_TORN ? -EAGAIN : ret;
}

/*
 * Run @once until it stops asking for a retry: -EAGAIN (no whole copy) is
 * retried a bounded number of times, then reported as corruption; -EBUSY
 * (slot locked) is retried until the lock wait runs out.
 */
#define KV__RETRY(c, call)                                                   \
	({                                                                   \
		uint64_t kv__start = 0; /* read the clock only on conflict */ \
		unsigned kv__torn = 0, kv__try = 0;                          \
		int kv__r;                                                   \
		for (;;) {                                                   \
			kv__r = (call);                                      \
			if (kv__r == -EAGAIN) {                              \
				(c)->cnt.torn_retries++;                     \
				if (++kv__torn > KV__TORN_RETRIES) {         \
					kv__r = -EBADMSG;                    \
					break;                               \
				}                                            \
			} else if (kv__r == -EBUSY) {                        \
				(c)->cnt.lock_retries++;                     \
				if (!kv__start)                              \
					kv__start = kv__now_ns();            \
				else if (kv__now_ns() - kv__start >          \
					 KV__LOCK_WAIT_MS * 1000000ull)      \
					break;                               \
			} else {                                             \
				break;                                       \
			}                                                    \
			kv__backoff((c), kv__try++);                         \
		}                                                            \
		kv__r;                                                       \
	})

static int kv__check_key(const kv_client *c, size_t klen)
{
	if (klen == 0)
		return -EINVAL;
	return klen > G(c)->max_key ? -E2BIG : 0;
}

int kv_get(kv_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *vlen)
{
	struct kv__found f;
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	ret = KV__RETRY(c, kv__get_once(c, key, klen, &f));
	if (ret)
		return ret;
	kv__note_vlen(c, f.rec.vlen);
	*vlen = f.rec.vlen;
	if (f.rec.vlen > cap)
		return -ENOBUFS;
	memcpy(buf, f.rec.val, f.rec.vlen);
	return 0;
}

int kv_get_multi(kv_client *c, unsigned n, const struct kv_key *keys,
		 struct kv_result *res)
{
	uint32_t h = G(c)->head_size;
	size_t stride = c->multi_stride;
	struct kv__wr w[KV_MAX_DEPTH];
	struct kv_keyhash kh;
	unsigned nw = 0;
	uint32_t part[KV_MAX_DEPTH];
	int ret;

	if (n > c->depth)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		res[i].status = kv__check_key(c, keys[i].klen);
		if (res[i].status)
			continue;
		kv_key_hash(G(c), keys[i].key, keys[i].klen, &kh);
		part[i] = kv__head_read(c, keys[i].klen);
		kv__rd(&w[nw++], kv_slot_off(G(c), kh.home), c->multi + i * stride, h + part[i]);
	}
	if (nw && (ret = kv__run(c, w, nw)))      /* every first READ, one doorbell */
		return ret;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *img = c->multi + i * stride;
		struct kv_rec_view v;
		struct kv__found f;
		size_t need = 0;

		if (res[i].status)
			continue;
		if (kv_slot_pick(img, h, img + h, part[i], G(c), &v, &need) == KV_PICK_RECORD &&
		    kv_rec_is_key(&v, keys[i].key, keys[i].klen)) {
			res[i].val = v.val;
			res[i].vlen = v.vlen;
			kv__note_vlen(c, v.vlen);
			continue;
		}
		/* Anything else takes the full path; its value then goes where
		 * this key's heads were. */
		res[i].status = KV__RETRY(c, kv__get_once(c, keys[i].key, keys[i].klen, &f));
		if (res[i].status == -ENOTCONN || res[i].status == -ECONNRESET ||
		    res[i].status == -ETIMEDOUT)
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
		kv__note_vlen(c, f.rec.vlen);
	}
	return 0;
}

/* ---- PUT and DEL --------------------------------------------------------- */

/*
 * The slot holds our key with control word @ctrl (read before the record).
 * RT2: lock it by CAS, unless @locked says we hold it already. RT3: write the
 * new record into the inactive copy and the unlocked control word behind one
 * doorbell (and put back the home slot's word if @restore_home). @val NULL
 * means delete.
 */
static int kv__write_slot(kv_client *c, const struct kv_keyhash *kh, uint32_t slot,
			  uint64_t ctrl, bool locked, const void *key, size_t klen,
			  const void *val, size_t vlen, const uint64_t *restore_home)
{
	uint16_t me = c->hello.client_id;
	uint64_t seq = kv_seq_next(kv_ctrl_seq(ctrl));
	unsigned copy = 1 - kv_ctrl_active(ctrl);
	uint32_t h = G(c)->head_size;
	bool del = val == NULL;
	struct kv__wr w[4];
	unsigned n = 0;
	size_t len;
	int ret;

	if (!locked) {
		kv__cas(&w[0], kv_ctrl_off(G(c), slot), &c->ws.word[1], ctrl,
			kv_ctrl_with_owner(ctrl, me));
		if ((ret = kv__run(c, w, 1)))                           /* RT2 */
			return ret;
		if (c->ws.word[1] != ctrl)
			return -EBUSY;
	}
	len = del ? kv_rec_encode(c->ws.wrec, seq, KV_REC_TOMBSTONE, NULL, 0, NULL, 0)
		  : kv_rec_encode(c->ws.wrec, seq, 0, key, klen, val, vlen);
	/* The record goes to the copy that is not active, head then tail; the
	 * control word that publishes it and unlocks the slot goes last. */
	w[n++] = (struct kv__wr){.op = IBV_WR_RDMA_WRITE,
				 .off = kv_head_off(G(c), slot, copy), .local = c->ws.wrec,
				 .len = (uint32_t)(len < h ? len : h)};
	if (len > h)
		w[n++] = (struct kv__wr){.op = IBV_WR_RDMA_WRITE,
					 .off = kv_tail_off(G(c), slot, copy),
					 .local = c->ws.wrec + h, .len = (uint32_t)(len - h)};
	kv__wr8(&w[n++], kv_ctrl_off(G(c), slot), &c->ws.wctrl[0],
		del ? kv_ctrl_make(0, 0, false, copy, seq)
		    : kv_ctrl_make(0, kh->fp, true, copy, seq));
	if (restore_home)   /* release the insert lock on the key's home slot */
		kv__wr8(&w[n++], kv_ctrl_off(G(c), kh->home), &c->ws.wctrl[1], *restore_home);
	return kv__run(c, w, n);                                        /* RT3 */
}

/* Put the control words of the slots we locked back as they were. */
static int kv__unlock(kv_client *c, unsigned n, const uint32_t *slot, const uint64_t *old)
{
	struct kv__wr w[2];

	for (unsigned i = 0; i < n; i++)
		kv__wr8(&w[i], kv_ctrl_off(G(c), slot[i]), &c->ws.wctrl[2 + i], old[i]);
	return n ? kv__run(c, w, n) : 0;
}

/* An existing copy of the key somewhere else: update it there. */
static int kv__update_found(kv_client *c, const struct kv_keyhash *kh,
			    const struct kv__found *f, const void *key, size_t klen,
			    const void *val, size_t vlen)
{
	if (kv_ctrl_owner(f->ctrl))
		return -EBUSY;
	if (!kv_ctrl_used(f->ctrl) || f->rec.seq != kv_ctrl_seq(f->ctrl))
		return -EBUSY; /* written between the two reads: a conflict */
	return kv__write_slot(c, kh, f->slot, f->ctrl, false, key, klen, val, vlen, NULL);
}

/*
 * The key is not at home. Take the home slot's lock (the insert lock: no
 * other client can insert this key meanwhile) and, if home is taken, a free
 * slot's lock too, reading both buckets behind the CASes in the same
 * doorbell. Then, sure the key is nowhere, write it.
 */
static int kv__insert(kv_client *c, const struct kv_keyhash *kh, uint64_t home_ctrl,
		      const void *key, size_t klen, const void *val, size_t vlen)
{
	uint16_t me = c->hello.client_id;
	uint32_t bs = G(c)->bucket_slots;
	uint32_t locked[2], target = kh->home;
	uint64_t old[2], tctrl = home_ctrl;
	struct kv__wr w[4];
	struct kv__found f;
	unsigned nl = 0, n = 0;
	int ret;

	if (kv_ctrl_used(home_ctrl)) {
		if ((ret = kv__read_buckets(c, kh)))
			return ret;
		ret = kv__probe(c, kh, key, klen, kh->home, &f);
		if (ret != -ENOENT)
			return ret ? ret : kv__update_found(c, kh, &f, key, klen, val, vlen);
		if ((ret = kv_probe_free(G(c), kh, c->ws.ctrl, c->ws.ctrl + bs, &target, &tctrl)))
			return ret; /* -ENOSPC: nothing was touched */
	}
	locked[nl] = kh->home, old[nl++] = home_ctrl;
	if (target != kh->home)
		locked[nl] = target, old[nl++] = tctrl;
	for (unsigned i = 0; i < nl; i++)
		kv__cas(&w[n++], kv_ctrl_off(G(c), locked[i]), &c->ws.word[1 + i], old[i],
			kv_ctrl_with_owner(old[i], me));
	kv__rd(&w[n++], kv_ctrl_off(G(c), (uint64_t)kh->b1 * bs), c->ws.ctrl, bs * 8);
	kv__rd(&w[n++], kv_ctrl_off(G(c), (uint64_t)kh->b2 * bs), c->ws.ctrl + bs, bs * 8);
	if ((ret = kv__run(c, w, n)))                                   /* RT2 */
		return ret;
	{
		uint32_t got[2];
		uint64_t was[2];
		unsigned ng = 0;

		for (unsigned i = 0; i < nl; i++)
			if (c->ws.word[1 + i] == old[i])
				got[ng] = locked[i], was[ng++] = old[i];
		if (ng < nl) {
			ret = kv__unlock(c, ng, got, was);
			return ret ? ret : -EBUSY;
		}
	}
	/* Under the insert lock: is the key really nowhere? */
	ret = kv__probe(c, kh, key, klen, target, &f);
	if (ret != -ENOENT) {
		int un = kv__unlock(c, nl, locked, old);

		if (un)
			return un;
		return ret ? ret : kv__update_found(c, kh, &f, key, klen, val, vlen);
	}
	return kv__write_slot(c, kh, target, tctrl, true, key, klen, val, vlen,
			      target != kh->home ? &home_ctrl : NULL);
}

static int kv__put_once(kv_client *c, const void *key, size_t klen, const void *val,
			size_t vlen)
{
	struct kv_keyhash kh;
	struct kv__found f;
	uint64_t hctrl;
	bool mine;
	int pick, ret;

	kv_key_hash(G(c), key, klen, &kh);
	pick = kv__read_home(c, &kh, klen, &f.rec);                    /* RT1 */
	if (pick < 0)
		return pick;
	if (pick == KV_PICK_TORN)
		return -EAGAIN;
	/* What the home slot's control word must be if nobody is writing it:
	 * the lock CAS expects exactly that, so RT1 need not read it. When home
	 * holds our key, its fingerprint is the one we just computed. */
	mine = pick == KV_PICK_RECORD && kv_rec_is_key(&f.rec, key, klen);
	hctrl = kv_slot_ctrl_of(G(c), pick, &f.rec, mine ? &kh : NULL);
	if (mine)
		return kv__write_slot(c, &kh, kh.home, hctrl, false, key, klen, val, vlen,
				      NULL);
	if (val == NULL) { /* delete: the key is elsewhere or nowhere */
		if ((ret = kv__read_buckets(c, &kh)))
			return ret;
		ret = kv__probe(c, &kh, key, klen, kh.home, &f);
		return ret ? ret : kv__update_found(c, &kh, &f, key, klen, NULL, 0);
	}
	return kv__insert(c, &kh, hctrl, key, klen, val, vlen);
}

int kv_put(kv_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	if (vlen > G(c)->max_value)
		return -E2BIG;
	if (!val)
		val = "";
	kv__note_vlen(c, vlen); /* values near this size are likely next */
	return KV__RETRY(c, kv__put_once(c, key, klen, val, vlen));
}

int kv_del(kv_client *c, const void *key, size_t klen)
{
	int ret = kv__check_key(c, klen);

	if (ret)
		return ret;
	return KV__RETRY(c, kv__put_once(c, key, klen, NULL, 0));
}

int kv_debug_scribble(kv_client *c, const void *key, size_t klen)
{
	struct kv_keyhash kh;
	struct kv__wr w;
	uint32_t rec = G(c)->rec_size;

	if (kv__check_key(c, klen))
		return -EINVAL;
	kv_key_hash(G(c), key, klen, &kh);
	for (uint32_t i = 0; i < 2 * rec; i++)
		c->ws.slot[i] = (uint8_t)kv__rand(c);
	w = (struct kv__wr){.op = IBV_WR_RDMA_WRITE, .off = kv_slot_off(G(c), kh.home),
			    .local = c->ws.slot, .len = 2 * rec};
	return kv__run(c, &w, 1);
}
