/* kv_sweep.c - the server's incremental sweep of the control words (kv_sweep.h). */
#include "kv_sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_slot.h"

int kv_sweep_init(struct kv_sweep *s, uint8_t *slab, const struct kv_geometry *g,
		  uint64_t lease_ns, kv_sweep_fence_fn fence, void *fence_ctx)
{
	memset(s, 0, sizeof(*s));
	s->slab = slab;
	s->g = g;
	s->lease_ns = lease_ns;
	s->fence = fence;
	s->fence_ctx = fence_ctx;
	s->scratch = malloc(2 * (size_t)g->rec_size);
	s->state = calloc(KV_SWEEP_IDS, 1);
	s->gone_at = calloc(KV_SWEEP_IDS, sizeof(*s->gone_at));
	s->lock = calloc(kv_nslots(g), sizeof(*s->lock));
	s->progress_ns = calloc(KV_SWEEP_IDS, sizeof(*s->progress_ns));
	s->track = calloc(KV_SWEEP_TRACK, sizeof(*s->track));
	if (!s->scratch || !s->state || !s->gone_at || !s->lock || !s->progress_ns || !s->track) {
		kv_sweep_free(s);
		return -ENOMEM;
	}
	return 0;
}

void kv_sweep_free(struct kv_sweep *s)
{
	free(s->scratch);
	free(s->state);
	free(s->gone_at);
	free(s->lock);
	free(s->progress_ns);
	free(s->track);
	memset(s, 0, sizeof(*s));
}

void kv_sweep_owner_live(struct kv_sweep *s, uint16_t id)
{
	s->state[id] = KV_OWNER_LIVE;
	s->progress_ns[id] = 0; /* set by its first lock */
}

void kv_sweep_owner_gone(struct kv_sweep *s, uint16_t id)
{
	if (s->state[id] != KV_OWNER_LIVE)
		return;
	s->state[id] = KV_OWNER_GONE;
	s->gone_at[id] = s->passes;
	s->ngone++;
}

/* The pass under way when it went may have passed its slots already: wait
 * for the next one to end. */
static void kv__sweep_expire(struct kv_sweep *s)
{
	for (uint32_t id = 1; id < KV_SWEEP_IDS && s->ngone; id++)
		if (s->state[id] == KV_OWNER_GONE && s->passes >= s->gone_at[id] + 2) {
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

/* A nonzero 32-bit digest of a lock word (splitmix64's finalizer). */
static uint32_t kv__word_hash(uint64_t w)
{
	uint32_t h = (uint32_t)(kv_rand_seed(w) >> 32);

	return h ? h : 1;
}

/*
 * A live owner holds @slot with @w. Is this word there since more than a
 * lease ago, with no new lock of the owner anywhere since (kv_sweep.h)?
 * *fresh says whether it is a new lock. The word counts as the same lock
 * only if it was seen in this pass or the one before: a slot seen unlocked
 * in between is never looked up, so unlocked slots cost no memory access.
 */
static bool kv__lease_expired(struct kv_sweep *s, uint16_t owner, uint64_t slot,
			      uint64_t w, uint64_t now, bool *fresh)
{
	struct kv_sweep_lock *l = &s->lock[slot];
	uint32_t h = kv__word_hash(w), now_ms = (uint32_t)(now / 1000000u);
	uint32_t pass = (uint32_t)s->passes;

	*fresh = l->hash != h || (uint32_t)(pass - l->pass) > 1;
	l->pass = pass;
	if (*fresh) {
		l->hash = h;
		l->since_ms = now_ms;
		s->progress_ns[owner] = now;
		return false;
	}
	return s->lease_ns && (uint64_t)(uint32_t)(now_ms - l->since_ms) * 1000000u > s->lease_ns &&
	       now - s->progress_ns[owner] > s->lease_ns;
}

static uint64_t kv__word(const struct kv_sweep *s, uint64_t slot)
{
	return __atomic_load_n((uint64_t *)(void *)(s->slab + kv_ctrl_off(s->g, slot)),
			       __ATOMIC_ACQUIRE);
}

/*
 * Look at @slot, locked with @w, at @now: release it if its owner is not
 * live, fence an owner past its lease first. Returns 1 if it released the
 * lock; *held says whether a live owner still holds it, *fresh whether that
 * is a lock not seen before.
 */
static unsigned kv__look(struct kv_sweep *s, uint64_t slot, uint64_t w, uint64_t now,
			 bool *held, bool *fresh)
{
	uint16_t owner = kv_ctrl_owner(w);

	*held = *fresh = false;
	if (s->state[owner] == KV_OWNER_LIVE && kv__lease_expired(s, owner, slot, w, now, fresh)) {
		s->fence(s->fence_ctx, owner); /* nothing of it lands after this */
		kv_sweep_owner_gone(s, owner);
		s->fenced++;
	}
	if (s->state[owner] == KV_OWNER_LIVE) {
		*held = true;
		return 0;
	}
	kv_slot_settle(s->slab, s->g, slot, w, s->scratch);
	s->lock[slot].hash = 0;
	*fresh = false;
	return 1;
}

/* Look again at the slots seen locked; forget those that are not any more. */
static unsigned kv__recheck(struct kv_sweep *s, uint64_t now)
{
	unsigned released = 0;

	for (uint32_t i = 0; i < s->ntrack;) {
		uint64_t slot = s->track[i], w = kv__word(s, slot);
		bool held = false, fresh;

		if (kv_ctrl_owner(w))
			released += kv__look(s, slot, w, now, &held, &fresh);
		else
			s->lock[slot].hash = 0; /* given back: a new lock next time */
		if (held)
			i++;
		else
			s->track[i] = s->track[--s->ntrack];
	}
	return released;
}

unsigned kv_sweep_step(struct kv_sweep *s, uint64_t budget, uint64_t now_ns)
{
	uint64_t n = kv_nslots(s->g);
	unsigned released = kv__recheck(s, now_ns);

	while (budget--) {
		uint64_t slot = s->cursor;
		uint64_t w = kv__word(s, slot);

		s->cur.used += kv_ctrl_used(w);
		if (kv_ctrl_owner(w)) {
			bool held, fresh;

			released += kv__look(s, slot, w, now_ns, &held, &fresh);
			s->cur.locked += held;
			if (fresh && s->ntrack < KV_SWEEP_TRACK)
				s->track[s->ntrack++] = slot;
		}
		if (++s->cursor == n) {
			s->cursor = 0;
			s->last = s->cur;
			memset(&s->cur, 0, sizeof(s->cur));
			s->passes++;
			kv__sweep_expire(s);
		}
	}
	s->released += released;
	return released;
}
