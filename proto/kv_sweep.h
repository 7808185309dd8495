/*
 * kv_sweep.h - the server's side of the protocol over slab contents: an
 * incremental walk of the index words that releases the insert claims of
 * clients that are gone, breaks claims held past their lease (fencing the
 * holder first), marks the blocks the index names for the allocator, finishes
 * writes a client left uncommitted, clears committed DEL tombstones, counts
 * items, and hands out and takes back the clients' grants of data space.
 *
 * Claims are the only locks of the store: an update or a delete publishes
 * with one CAS and holds nothing. A claim is held for one round trip by a
 * working client, so one seen with the same word at every look for a whole
 * lease, by an owner that took no new claim meanwhile, is held by a stopped,
 * hung or vanished client: the sweep fences it and clears the claim. Claims
 * seen held are looked at again at every step (up to KV_SWEEP_TRACK of them).
 *
 * A write publishes its block uncommitted and then, behind one doorbell,
 * retires the block it replaced and commits its own. Until the commit, that
 * retire may still land, so the sweep keeps the replaced block's space (it
 * marks it through the new block's prev): space that a late CAS of a stopped
 * writer could reach is never granted again, where a new block of the same
 * word would take the CAS. A block left uncommitted is finished by the sweep
 * (retire, then commit): at once when its writer no longer holds the grant
 * it lies in (that writer is gone or its operation is over), else after a
 * lease, fencing the writer first, as for a claim.
 *
 * A pass is a walk of every index word (marking named extents in the
 * allocator), then the allocator's sweep of its bitmaps, which frees what the
 * walk did not mark. Each call does a bounded amount of work, so a large slab
 * never stalls the server's event loop. Pure code over a slab in memory, so
 * the simulation runs exactly what kvserver runs.
 */
#ifndef KV_SWEEP_H
#define KV_SWEEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv_alloc.h"
#include "kv_proto.h"

#define KV_SWEEP_IDS 65536u
#define KV_SWEEP_TRACK 4096u   /* claims (and half-done writes) looked at
				  again every step */
#define KV_OWNER_GRANTS 4u     /* open grants a client may hold at once */

/* A claim seen held, for the lease. */
struct kv_sweep_claim {
	uint64_t idx;      /* index word */
	uint64_t word;
	uint64_t since_ns; /* when this word was first seen there */
};

struct kv_sweep_census {
	uint64_t items;          /* block words */
	uint64_t claims;         /* claim words of live owners */
	uint64_t payload_bytes;  /* key + value bytes of the items */
	uint64_t block_bytes;    /* bytes of their blocks (granules) */
	uint64_t tombs_cleared;  /* committed DEL tombstones whose word went to 0 */
};

enum kv_owner_state {
	KV_OWNER_FREE = 0, /* no client has this id: nothing names it */
	KV_OWNER_LIVE,     /* connected: its claims are respected until the lease */
	KV_OWNER_GONE,     /* disconnected or fenced: released, id not yet reusable */
};

/*
 * Called when a live owner held the same claim for longer than the lease and
 * took no new claim meanwhile, or left a block it published uncommitted for
 * longer than the lease. It must cut the owner off the slab before it
 * returns (destroy or move to error its queue pair), so that nothing of it
 * can land afterwards. The sweep then marks it gone and releases its claims
 * and grants.
 */
enum kv_fence_why {
	KV_FENCE_CLAIM = 0, /* it held an insert claim past the lease */
	KV_FENCE_WRITE,     /* it left a write it published uncommitted as long */
};
typedef void (*kv_sweep_fence_fn)(void *ctx, uint16_t owner, enum kv_fence_why why);

/* Grant sizes: the server scales them with free space and clients. */
struct kv_grant_policy {
	uint64_t min_bytes, max_bytes;
};

struct kv_sweep {
	uint8_t *slab;
	const struct kv_geometry *g;
	struct kv_alloc alloc;
	struct kv_grant_policy policy;
	uint64_t lease_ns;             /* 0: claims of live owners are never broken */
	uint64_t cursor;               /* next index word of the walk */
	bool sweeping;                 /* the walk is done; the allocator sweeps */
	uint64_t passes;               /* full passes completed */
	struct kv_sweep_census cur;    /* counting in the pass under way */
	struct kv_sweep_census last;   /* the last full pass */
	uint64_t released;             /* claims released since start */
	uint64_t fenced;               /* owners fenced since start */
	uint8_t *state;                /* enum kv_owner_state per id */
	uint32_t ngone, nlive;
	uint64_t *gone_at;             /* passes when the id went gone */
	struct kv_extent (*grants)[KV_OWNER_GRANTS]; /* per id; len 0: none */
	struct kv_sweep_claim *track;
	uint32_t ntrack;
	uint64_t *progress_ns;         /* per id: when it was last seen take a new claim */
	uint64_t *refused_at;          /* per id: pass count at which a refused
					  grant may become "store full" (0: none) */
	uint64_t *refused_freed;       /* per id: granules freed (st.freed) then */
	struct kv_sweep_claim *unc;    /* blocks seen uncommitted with a live
					  writer, looked at again every step */
	uint32_t nunc;
	uint16_t id_hi;                /* the highest id ever live */
	kv_sweep_fence_fn fence;
	void *fence_ctx;
	/* Copies of the index the syncer keeps (kv_syncer.h), or NULL: what
	 * their block words name is marked too, so the space a power loss
	 * could bring back is never granted again. Another thread writes them,
	 * word by word (8-byte atomic stores). */
	const uint64_t *keep[2];
	/* Held by the syncer while it copies the index (or NULL): the walk
	 * does not run meanwhile (trylock; a step that finds it held walks
	 * nothing), so each copy is one instant to the walk. Nor does a key
	 * move during a copy: only the walk clears a word (a committed
	 * tombstone's), so no key is in two words of one copy. */
	pthread_mutex_t *copy_mu;
};

/* Set up for a slab whose index is all empty and data all free; 0 or -ENOMEM. */
int kv_sweep_init(struct kv_sweep *s, uint8_t *slab, const struct kv_geometry *g,
		  uint64_t lease_ns, kv_sweep_fence_fn fence, void *fence_ctx);
void kv_sweep_free(struct kv_sweep *s);

/* A client got @id / went away (its queue pair is already gone: its open
 * grants are sealed now). */
void kv_sweep_owner_live(struct kv_sweep *s, uint16_t id);
void kv_sweep_owner_gone(struct kv_sweep *s, uint16_t id);

/* A gone id becomes free when two passes have ended since it went. */
bool kv_sweep_id_free(const struct kv_sweep *s, uint16_t id);

/* Whether any id is gone and waiting for a pass (the server sweeps sooner). */
bool kv_sweep_pending(const struct kv_sweep *s);

/*
 * A grant of at least @need bytes of the data region for live @owner (byte
 * offset and length in *ext, granule-aligned). 0; -EAGAIN when no run of
 * @need is free now (*largest: the longest free run, bytes): ask again, a
 * pass may free what was overwritten, deleted or sealed; -ENOSPC when the
 * owner asked before and a whole pass has run since that freed nothing, so
 * the store is truly full for this size; -EMFILE when the owner holds
 * KV_OWNER_GRANTS already; -EINVAL when need is 0 or past the region, or the
 * owner is not live.
 */
int kv_sweep_grant(struct kv_sweep *s, uint16_t owner, uint64_t need,
		   struct kv_extent *ext, uint64_t *largest);

/* @owner asks anew (not again after a refusal): a refusal starts the count
 * of passes that "store full" waits for. */
void kv_sweep_grant_fresh(struct kv_sweep *s, uint16_t owner);

/* @owner will publish nothing more in its grant @ext (bytes, as granted).
 * -EINVAL when @ext is not one of its open grants (nothing changes). */
int kv_sweep_seal(struct kv_sweep *s, uint16_t owner, const struct kv_extent *ext);

/*
 * Do up to @budget units of work (index words, then bitmap words) at time
 * @now_ns. Returns the number of claims released.
 */
unsigned kv_sweep_step(struct kv_sweep *s, uint64_t budget, uint64_t now_ns);

/* Bytes of the data region that are neither free nor held by a client. */
uint64_t kv_sweep_used_bytes(const struct kv_sweep *s);

#endif
