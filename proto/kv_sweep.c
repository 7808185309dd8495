/* kv_sweep.c - the server's incremental walk of the index (kv_sweep.h). */
#include "kv_sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_index.h"

#define KV_POLICY_MIN (64u << 10)
#define KV_POLICY_MAX (1u << 20)

int kv_sweep_init(struct kv_sweep *s, uint8_t *slab, const struct kv_geometry *g,
		  uint64_t lease_ns, kv_sweep_fence_fn fence, void *fence_ctx)
{
	memset(s, 0, sizeof(*s));
	s->slab = slab;
	s->g = g;
	s->lease_ns = lease_ns;
	s->fence = fence;
	s->fence_ctx = fence_ctx;
	s->policy.min_bytes = KV_POLICY_MIN;
	s->policy.max_bytes = KV_POLICY_MAX;
	s->state = calloc(KV_SWEEP_IDS, 1);
	s->gone_at = calloc(KV_SWEEP_IDS, sizeof(*s->gone_at));
	s->grants = calloc(KV_SWEEP_IDS, sizeof(*s->grants));
	s->progress_ns = calloc(KV_SWEEP_IDS, sizeof(*s->progress_ns));
	s->track = calloc(KV_SWEEP_TRACK, sizeof(*s->track));
	s->refused_at = calloc(KV_SWEEP_IDS, sizeof(*s->refused_at));
	s->refused_freed = calloc(KV_SWEEP_IDS, sizeof(*s->refused_freed));
	s->unc = calloc(KV_SWEEP_TRACK, sizeof(*s->unc));
	if (!s->state || !s->gone_at || !s->grants || !s->progress_ns || !s->track ||
	    !s->refused_at || !s->refused_freed || !s->unc ||
	    kv_alloc_init(&s->alloc, kv_data_granules(g))) {
		kv_sweep_free(s);
		return -ENOMEM;
	}
	return 0;
}

void kv_sweep_free(struct kv_sweep *s)
{
	free(s->state);
	free(s->gone_at);
	free(s->grants);
	free(s->progress_ns);
	free(s->track);
	free(s->refused_at);
	free(s->refused_freed);
	free(s->unc);
	kv_alloc_free(&s->alloc);
	memset(s, 0, sizeof(*s));
}

void kv_sweep_owner_live(struct kv_sweep *s, uint16_t id)
{
	s->state[id] = KV_OWNER_LIVE;
	s->nlive++;
	if (id > s->id_hi)
		s->id_hi = id;
	s->progress_ns[id] = 0; /* set by its first claim */
	s->refused_at[id] = 0;
	memset(s->grants[id], 0, sizeof(s->grants[id]));
}

/* Nothing of a gone owner can land any more: what it did not publish is
 * garbage. A seal the allocator cannot queue now (its queue is full) is
 * tried again at the next pass's end; the id stays gone until then. */
static bool kv__seal_gone(struct kv_sweep *s, uint16_t id)
{
	bool all = true;

	for (unsigned i = 0; i < KV_OWNER_GRANTS; i++) {
		struct kv_extent *e = &s->grants[id][i];

		if (e->len && !kv_alloc_seal(&s->alloc, e))
			e->len = 0;
		all = all && !e->len;
	}
	return all;
}

void kv_sweep_owner_gone(struct kv_sweep *s, uint16_t id)
{
	if (s->state[id] != KV_OWNER_LIVE)
		return;
	s->state[id] = KV_OWNER_GONE;
	s->nlive--;
	s->gone_at[id] = s->passes;
	s->ngone++;
	kv__seal_gone(s, id);
}

/* The pass under way when it went may have passed its claims already: wait
 * for the next one to end. */
static void kv__sweep_expire(struct kv_sweep *s)
{
	for (uint32_t id = 1; id < KV_SWEEP_IDS && s->ngone; id++)
		if (s->state[id] == KV_OWNER_GONE && kv__seal_gone(s, id) &&
		    s->passes >= s->gone_at[id] + 2) {
			s->state[id] = KV_OWNER_FREE;
			s->ngone--;
		}
}

bool kv_sweep_id_free(const struct kv_sweep *s, uint16_t id)
{
	return id && s->state[id] == KV_OWNER_FREE;
}

bool kv_sweep_pending(const struct kv_sweep *s)
{
	return s->ngone != 0;
}

uint64_t kv_sweep_used_bytes(const struct kv_sweep *s)
{
	const struct kv_alloc_stats *st = &s->alloc.st;

	return (st->granules - st->free - st->held) * KV_GRANULE;
}

int kv_sweep_grant(struct kv_sweep *s, uint16_t owner, uint64_t need,
		   struct kv_extent *ext, uint64_t *largest)
{
	struct kv_extent *slot = NULL, got;
	uint64_t need_g = (need + KV_GRANULE - 1) / KV_GRANULE, want_g, want;
	uint64_t free_b = s->alloc.st.free * KV_GRANULE;
	int ret;

	*largest = 0;
	if (s->state[owner] != KV_OWNER_LIVE || need == 0 || need > s->g->data_len)
		return -EINVAL;
	for (unsigned i = 0; i < KV_OWNER_GRANTS && !slot; i++)
		if (!s->grants[owner][i].len)
			slot = &s->grants[owner][i];
	if (!slot)
		return -EMFILE;
	/* An eighth of the free space per client, within the policy's bounds:
	 * what idle clients strand shrinks as the store fills. */
	want = free_b / (8ull * (s->nlive ? s->nlive : 1));
	if (want < s->policy.min_bytes)
		want = s->policy.min_bytes;
	if (want > s->policy.max_bytes)
		want = s->policy.max_bytes;
	want_g = want / KV_GRANULE;
	if (want_g < need_g)
		want_g = need_g;
	ret = kv_alloc_grant(&s->alloc, need_g, want_g, &got);
	if (ret) {
		uint64_t *r = &s->refused_at[owner], *f = &s->refused_freed[owner];

		/* Full only if a whole pass, begun after the refusal, freed
		 * nothing at all: the pass under way may have begun before the
		 * last seal, and space freed since may have gone to other
		 * clients (then this is churn, not a full store: wait again).
		 * The client asks again meanwhile, and gives up on its own
		 * after a few leases. */
		*largest = kv_alloc_largest(&s->alloc) * KV_GRANULE;
		if (*r && s->passes >= *r && s->alloc.st.freed == *f) {
			*r = 0;
			return -ENOSPC;
		}
		if (!*r || s->passes >= *r) {
			*r = s->passes + 2;
			*f = s->alloc.st.freed;
		}
		return -EAGAIN;
	}
	s->refused_at[owner] = 0;
	*slot = got;
	ext->off = got.off * KV_GRANULE;
	ext->len = got.len * KV_GRANULE;
	return 0;
}

void kv_sweep_grant_fresh(struct kv_sweep *s, uint16_t owner)
{
	s->refused_at[owner] = 0;
}

int kv_sweep_seal(struct kv_sweep *s, uint16_t owner, const struct kv_extent *ext)
{
	if (s->state[owner] != KV_OWNER_LIVE || ext->off % KV_GRANULE || ext->len % KV_GRANULE)
		return -EINVAL;
	for (unsigned i = 0; i < KV_OWNER_GRANTS; i++) {
		struct kv_extent *e = &s->grants[owner][i];

		if (e->len && e->off * KV_GRANULE == ext->off && e->len * KV_GRANULE == ext->len) {
			int ret = kv_alloc_seal(&s->alloc, e);

			if (!ret)
				e->len = 0;
			return ret;
		}
	}
	return -EINVAL;
}

/* The tracked entry for claim word @idx, or NULL. */
static struct kv_sweep_claim *kv__tracked(struct kv_sweep *s, uint64_t idx)
{
	for (uint32_t i = 0; i < s->ntrack; i++)
		if (s->track[i].idx == idx)
			return &s->track[i];
	return NULL;
}

static uint64_t *kv__wordp(const struct kv_sweep *s, uint64_t idx)
{
	return (uint64_t *)(void *)(s->slab + kv_word_off(s->g, idx));
}

/* Clear a claim of an owner that is gone; a word that changed meanwhile is
 * someone else's (no CAS can match a claim of a gone owner). */
static unsigned kv__settle(struct kv_sweep *s, uint64_t idx, uint64_t w)
{
	return kv_slab_cas((uint8_t *)kv__wordp(s, idx), w, 0) ? 1 : 0;
}

/*
 * Look at claim word @idx holding @w at @now: clear it if its owner is not
 * live (fencing an owner past its lease first). Returns 1 if it cleared it;
 * *held says whether a live owner still holds it.
 */
static unsigned kv__look_claim(struct kv_sweep *s, uint64_t idx, uint64_t w, uint64_t now,
			       bool *held)
{
	uint16_t owner = kv_word_owner(w);
	struct kv_sweep_claim *t = kv__tracked(s, idx);

	*held = false;
	if (s->state[owner] == KV_OWNER_LIVE) {
		if (!t || t->word != w) { /* a new claim: its owner is working */
			if (!t && s->ntrack < KV_SWEEP_TRACK)
				t = &s->track[s->ntrack++];
			if (t)
				*t = (struct kv_sweep_claim){idx, w, now};
			s->progress_ns[owner] = now;
		} else if (s->lease_ns && now - t->since_ns > s->lease_ns &&
			   now - s->progress_ns[owner] > s->lease_ns) {
			s->fence(s->fence_ctx, owner, KV_FENCE_CLAIM); /* nothing of it lands after this */
			kv_sweep_owner_gone(s, owner);
			s->fenced++;
		}
	}
	if (s->state[owner] == KV_OWNER_LIVE) {
		*held = true;
		return 0;
	}
	return kv__settle(s, idx, w);
}

/* Look again at the claims seen held; forget those that are gone. */
static unsigned kv__recheck(struct kv_sweep *s, uint64_t now)
{
	unsigned released = 0;

	for (uint32_t i = 0; i < s->ntrack;) {
		uint64_t idx = s->track[i].idx;
		uint64_t w = __atomic_load_n(kv__wordp(s, idx), __ATOMIC_ACQUIRE);
		bool held = false;

		if (kv_word_kind(w) == KV_WORD_CLAIM)
			released += kv__look_claim(s, idx, w, now, &held);
		if (held)
			i++;
		else
			s->track[i] = s->track[--s->ntrack];
	}
	return released;
}

/* The live owner whose open grant holds granule @gran, or 0: nobody can
 * still be writing there (its writer sealed it after its operation ended,
 * or is gone and cut off the slab). Only asked before a fence. */
static uint16_t kv__writer(const struct kv_sweep *s, uint64_t gran)
{
	for (uint32_t id = 1; id <= s->id_hi; id++) {
		if (s->state[id] != KV_OWNER_LIVE)
			continue;
		for (unsigned i = 0; i < KV_OWNER_GRANTS; i++) {
			const struct kv_extent *e = &s->grants[id][i];

			if (e->len && gran >= e->off && gran - e->off < e->len)
				return (uint16_t)id;
		}
	}
	return 0;
}

/* Block word @w's head in the slab (its length was checked by the caller). */
static uint64_t kv__head(const struct kv_sweep *s, uint64_t w)
{
	return __atomic_load_n((uint64_t *)(void *)(s->slab + kv_block_off(s->g, w)),
			       __ATOMIC_ACQUIRE);
}

/*
 * Block word @w at @idx names a block found uncommitted, or is pending, at
 * @now (@t: its entry among those looked at again, or NULL to find or make
 * one): a write under way. Finish it (retire its predecessor, commit it,
 * settle the word) when nothing of its writer can land any more: at once if
 * its space is no longer held (the grant it lies in was sealed: its writer's
 * call is over, or its writer is gone and cut off), else once it has stayed
 * under way for a lease, after fencing the writer (a live writer finishes
 * within a round trip). Until then it is looked at again every step. True
 * when it is finished now.
 */
static bool kv__uncommitted(struct kv_sweep *s, uint64_t idx, uint64_t w, uint64_t now,
			    struct kv_sweep_claim *t)
{
	uint64_t gran = kv_word_gran(w);

	if (kv_alloc_is_held(&s->alloc, &(struct kv_extent){gran, 1})) {
		uint16_t writer;

		for (uint32_t i = 0; i < s->nunc && !t; i++)
			if (s->unc[i].idx == idx && s->unc[i].word == w)
				t = &s->unc[i];
		if (!t) {
			if (s->nunc < KV_SWEEP_TRACK)
				s->unc[s->nunc++] = (struct kv_sweep_claim){idx, w, now};
			return false;
		}
		if (!s->lease_ns || now - t->since_ns <= s->lease_ns)
			return false;
		/* Sealed since (held until the next pass begins): no fence. */
		if ((writer = kv__writer(s, gran))) {
			s->fence(s->fence_ctx, writer, KV_FENCE_WRITE); /* nothing lands after */
			kv_sweep_owner_gone(s, writer);
			s->fenced++;
		}
	}
	kv_block_finish(s->slab, s->g, w, kv_ld64le(s->slab + kv_block_off(s->g, w) + 8));
	if (kv_word_pending(w))
		kv_slab_cas((uint8_t *)kv__wordp(s, idx), w, kv_word_settled(w));
	return true;
}

/* Is the write of block word @w, whose block's head is @head, under way:
 * its block uncommitted, or its word not yet settled? */
static bool kv__under_way(uint64_t head, uint64_t w)
{
	return head == kv_head_uncommitted(w) || kv_word_pending(w);
}

/* Look again at the blocks seen uncommitted; forget those that moved on. */
static void kv__recheck_uncommitted(struct kv_sweep *s, uint64_t now)
{
	for (uint32_t i = 0; i < s->nunc;) {
		struct kv_sweep_claim *t = &s->unc[i];
		uint64_t w = __atomic_load_n(kv__wordp(s, t->idx), __ATOMIC_ACQUIRE);

		if (w == t->word && kv__under_way(kv__head(s, w), w) &&
		    !kv__uncommitted(s, t->idx, w, now, t))
			i++;
		else
			*t = s->unc[--s->nunc];
	}
}

/*
 * Index word @idx names block @w. Mark its extent (exactly its block when the
 * header there is its own, else all the word's length says), and finish what
 * a writer may have left: an uncommitted block gets its predecessor retired
 * and itself committed (kv__uncommitted), and a committed tombstone goes: its
 * word back to 0 (a DEL's block is only kept until then). While a block is
 * uncommitted its predecessor is marked too: its writer's retire may still
 * land there. Returns whether the word still names a live item.
 */
static bool kv__walk_block(struct kv_sweep *s, uint64_t idx, uint64_t w, uint64_t now)
{
	const struct kv_geometry *g = s->g;
	uint64_t len = kv_block_read_len(g, w), gran = kv_word_gran(w);
	struct kv_extent e = {gran, len / KV_GRANULE};
	bool live = true;

	if (!len)
		return true;
	if (len >= KV_BLOCK_HDR) {
		uint8_t *b = s->slab + kv_block_off(g, w);
		uint64_t head = kv__head(s, w);
		uint16_t klen, flags;
		uint32_t vlen;
		uint64_t n;

		kv_block_peek(b, &klen, &vlen, &flags);
		n = kv_block_granules(klen, vlen);
		if ((head & ~KV_HEAD_STATE) == (kv_word_settled(w) & ~KV_HEAD_STATE) &&
		    n <= e.len) {
			uint64_t prev = kv_ld64le(b + 8);

			e.len = n;
			if (kv__under_way(head, w) && kv__uncommitted(s, idx, w, now, NULL)) {
				head = kv_word_settled(w);
				w = head;
			}
			if (head == kv_head_uncommitted(w) && kv_word_kind(prev) == KV_WORD_BLOCK)
				kv_alloc_mark(&s->alloc, &(struct kv_extent){
					kv_word_gran(prev), kv_block_span(s->slab, g, prev)});
			if (head == w && (flags & KV_BLOCK_TOMBSTONE) &&
			    kv_slab_cas(s->slab + kv_word_off(g, idx), w, 0)) {
				s->cur.tombs_cleared++;
				return false; /* its space is freed at this pass's end */
			}
			live = !(flags & KV_BLOCK_TOMBSTONE);
			if (live)
				s->cur.payload_bytes += klen + (uint64_t)vlen;
		}
	}
	s->cur.block_bytes += e.len * KV_GRANULE;
	kv_alloc_mark(&s->alloc, &e);
	return live;
}

/* Mark what the syncer's copies of word @idx name. */
static void kv__walk_keep(struct kv_sweep *s, uint64_t idx)
{
	for (unsigned k = 0; k < 2; k++) {
		uint64_t kw;

		if (!s->keep[k])
			continue;
		kw = __atomic_load_n(&s->keep[k][idx], __ATOMIC_RELAXED);
		/* Even when it is the live word: the walk may clear that one
		 * (a committed tombstone's) and not mark its block. */
		if (kv_word_kind(kw) == KV_WORD_BLOCK)
			kv_alloc_mark(&s->alloc, &(struct kv_extent){
				kv_word_gran(kw), kv_block_span(s->slab, s->g, kw)});
	}
}

static void kv__pass_end(struct kv_sweep *s)
{
	s->last = s->cur;
	memset(&s->cur, 0, sizeof(s->cur));
	s->passes++;
	s->sweeping = false;
	s->cursor = 0;
	kv__sweep_expire(s);
}

unsigned kv_sweep_step(struct kv_sweep *s, uint64_t budget, uint64_t now_ns)
{
	uint64_t n = kv_nwords(s->g);
	unsigned released = kv__recheck(s, now_ns);

	kv__recheck_uncommitted(s, now_ns);
	while (budget) {
		if (s->sweeping) {
			uint64_t b = budget;

			budget = 0;
			if (kv_alloc_sweep_step(&s->alloc, b))
				kv__pass_end(s);
			break;
		}
		if (s->copy_mu && pthread_mutex_trylock(s->copy_mu))
			break; /* the syncer copies the index: walk after it */
		if (s->cursor == 0)
			kv_alloc_pass_begin(&s->alloc);
		for (; budget && s->cursor < n; budget--, s->cursor++) {
			uint64_t w = __atomic_load_n(kv__wordp(s, s->cursor), __ATOMIC_ACQUIRE);
			bool held;

			kv__walk_keep(s, s->cursor);
			switch (kv_word_kind(w)) {
			case KV_WORD_BLOCK:
				s->cur.items += kv__walk_block(s, s->cursor, w, now_ns);
				break;
			case KV_WORD_CLAIM:
				released += kv__look_claim(s, s->cursor, w, now_ns, &held);
				s->cur.claims += held;
				break;
			default:
				break;
			}
		}
		if (s->copy_mu)
			pthread_mutex_unlock(s->copy_mu);
		if (s->cursor == n)
			s->sweeping = true;
	}
	s->released += released;
	return released;
}
