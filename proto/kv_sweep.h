/*
 * kv_sweep.h - the server's side of the protocol over slab contents: an
 * incremental sweep of the control words that releases the locks of clients
 * that are gone, breaks locks held past their lease (fencing the holder
 * first), and counts used and locked slots.
 *
 * The lease: a pass sees each slot once, so a lock word seen in two passes
 * in a row may be one lock held all along or the same word taken again (an
 * insert lock on a home slot that holds another key looks the same every
 * time). So a lock counts as held past its lease only if its owner has also
 * taken no new lock word anywhere for a lease: every operation a working
 * client completes leaves a new word behind (a new seq, a new claim), while
 * a stopped, hung or vanished one takes none. And since a pass samples a
 * slot only once a lease, every step also looks again at the slots it saw
 * locked (up to KV_SWEEP_TRACK of them): a lock must be seen held, with the
 * same word, at every step for a whole lease. A working client that takes
 * the same word again and again (an insert lock held a quarter of the time)
 * is then caught only if every one of those looks, ten a lease at kvserver's
 * pace, finds it locked and none finds a new lock of it: about 1e-6 a lease
 * for one client inserting without a pause. A client that keeps working
 * while it leaks a lock is not caught; it is a bug the lease does not cover. Pure code over a slab in memory,
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
#define KV_SWEEP_TRACK 4096u /* locked slots looked at again every step */

/* What the last pass saw locked in one slot, for the lease. */
struct kv_sweep_lock {
	uint32_t hash;     /* of the lock word; 0: none */
	uint32_t since_ms; /* when this word was first seen there */
	uint32_t pass;     /* the pass that last saw it (low 32 bits) */
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
 * lease, and took no new lock meanwhile. It must cut the owner off the slab before it returns (destroy or
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
	struct kv_sweep_lock *lock;    /* per slot */
	uint64_t *track;               /* slots a pass saw locked by a live owner */
	uint32_t ntrack;
	uint64_t *progress_ns;         /* per id: when it was last seen take a new lock */
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
