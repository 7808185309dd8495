/* kv_sweep.c - the server's incremental sweep of the control words (kv_sweep.h). */
#include "kv_sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	s->held = calloc(KV_SWEEP_IDS, sizeof(*s->held));
	if (!s->scratch || !s->state || !s->gone_at || !s->held) {
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
	free(s->held);
	memset(s, 0, sizeof(*s));
}

void kv_sweep_owner_live(struct kv_sweep *s, uint16_t id)
{
	s->state[id] = KV_OWNER_LIVE;
	memset(s->held[id], 0, sizeof(s->held[id]));
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

/*
 * A live owner holds @slot with @w: has it held exactly this word for longer
 * than the lease? A changed word is progress and restarts the clock.
 */
static bool kv__lease_expired(struct kv_sweep *s, uint16_t owner, uint64_t slot,
			      uint64_t w, uint64_t now)
{
	struct kv_sweep_held *h = s->held[owner];
	struct kv_sweep_held *e = h[0].since_ns && h[0].slot == slot ? &h[0]
				 : h[1].since_ns && h[1].slot == slot ? &h[1] : NULL;

	if (!e) { /* a new lock: take a free entry, or the older one */
		e = !h[0].since_ns ? &h[0] : !h[1].since_ns ? &h[1]
		    : h[0].since_ns <= h[1].since_ns ? &h[0] : &h[1];
		*e = (struct kv_sweep_held){.slot = slot, .word = w, .since_ns = now ? now : 1,
					    .seen_pass = s->passes};
		return false;
	}
	/* Held all along means seen in every pass: missing from the last
	 * one, or another word, is a new lock. */
	if (e->word != w || e->seen_pass + 1 < s->passes) {
		*e = (struct kv_sweep_held){.slot = slot, .word = w, .since_ns = now ? now : 1,
					    .seen_pass = s->passes};
		return false;
	}
	e->seen_pass = s->passes;
	return s->lease_ns && now - e->since_ns > s->lease_ns;
}

unsigned kv_sweep_step(struct kv_sweep *s, uint64_t budget, uint64_t now_ns)
{
	uint64_t n = kv_nslots(s->g);
	unsigned released = 0;

	while (budget--) {
		uint64_t slot = s->cursor;
		uint64_t w = __atomic_load_n((uint64_t *)(void *)(s->slab + kv_ctrl_off(s->g, slot)),
					     __ATOMIC_ACQUIRE);
		uint16_t owner = kv_ctrl_owner(w);

		s->cur.used += kv_ctrl_used(w);
		if (owner) {
			if (s->state[owner] == KV_OWNER_LIVE &&
			    kv__lease_expired(s, owner, slot, w, now_ns)) {
				s->fence(s->fence_ctx, owner); /* nothing of it lands after this */
				kv_sweep_owner_gone(s, owner);
				s->fenced++;
			}
			if (s->state[owner] != KV_OWNER_LIVE) {
				kv_slot_settle(s->slab, s->g, slot, w, s->scratch);
				released++;
			} else {
				s->cur.locked++;
			}
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
