/*
 * kv_sweep.h - the server's side of the protocol over slab contents: an
 * incremental sweep of the control words that releases the locks of clients
 * that are gone, breaks locks held past their lease (fencing the holder
 * first), and counts used and locked slots. Pure code over a slab in memory,
 * so the simulation runs exactly what kvserver runs.
 *
 * Each call looks at a bounded number of slots, so a large slab never stalls
 * the server's event loop; a full pass takes ceil(nslots / budget) calls.
 */
#ifndef KV_SWEEP_H
#define KV_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_SWEEP_IDS 65536u

/* A lock word a live client held when last seen, for its lease. */
struct kv_sweep_held {
	uint64_t slot;
	uint64_t word;
	uint64_t since_ns;   /* 0: entry unused */
	uint64_t seen_pass;  /* the pass that last saw it */
};

struct kv_sweep_census {
	uint64_t used;   /* words that say used */
	uint64_t locked; /* words with an owner */
};

enum kv_owner_state {
	KV_OWNER_FREE = 0, /* no client has this id: its locks are released */
	KV_OWNER_LIVE,     /* connected: its locks are respected until the lease */
	KV_OWNER_GONE,     /* disconnected or fenced: released, id not yet reusable */
};

/*
 * Called when a live owner held the same lock word for longer than the
 * lease. It must cut the owner off the slab before it returns (destroy or
 * move to error its queue pair), so that no WRITE of it can land afterwards.
 * The sweep then marks it gone and releases its locks.
 */
typedef void (*kv_sweep_fence_fn)(void *ctx, uint16_t owner);

struct kv_sweep {
	uint8_t *slab;
	const struct kv_geometry *g;
	uint8_t *scratch;              /* 2 * rec_size */
	uint64_t lease_ns;             /* 0: locks of live owners are never broken */
	uint64_t cursor;               /* next slot to look at */
	uint64_t passes;               /* full passes completed */
	struct kv_sweep_census cur;    /* counting in the pass under way */
	struct kv_sweep_census last;   /* the last full pass */
	uint64_t released;             /* locks released since start */
	uint64_t fenced;               /* owners fenced since start */
	uint8_t *state;                /* enum kv_owner_state per id */
	uint32_t ngone;                /* ids in KV_OWNER_GONE */
	uint64_t *gone_at;             /* passes when the id went gone */
	struct kv_sweep_held (*held)[2];
	kv_sweep_fence_fn fence;
	void *fence_ctx;
};

/* Set up for a slab; 0 or -ENOMEM. Every id starts free. */
int kv_sweep_init(struct kv_sweep *s, uint8_t *slab, const struct kv_geometry *g,
		  uint64_t lease_ns, kv_sweep_fence_fn fence, void *fence_ctx);
void kv_sweep_free(struct kv_sweep *s);

/* A client got @id / went away (its queue pair is already gone). */
void kv_sweep_owner_live(struct kv_sweep *s, uint16_t id);
void kv_sweep_owner_gone(struct kv_sweep *s, uint16_t id);

/*
 * An id may be handed out again once it is free: a gone id becomes free when
 * a whole pass has run after it went, so no lock can still name it.
 */
bool kv_sweep_id_free(const struct kv_sweep *s, uint16_t id);

/* Whether any id is gone and waiting for a pass (the server sweeps sooner). */
bool kv_sweep_pending(const struct kv_sweep *s);

/*
 * Look at up to @budget slots from the cursor, at time @now_ns. Returns the
 * number of locks released.
 */
unsigned kv_sweep_step(struct kv_sweep *s, uint64_t budget, uint64_t now_ns);

#endif
