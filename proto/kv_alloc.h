/*
 * kv_alloc.h - the server's allocator of the slab's data region, and the
 * reclamation that gives space back. Pure code over bitmaps in server memory:
 * nothing of it lives in the slab, because the index is the only truth about
 * which blocks are live, and everything here can be rebuilt from it.
 *
 * Units are granules (KV_GRANULE = 16 bytes), counted from the start of the
 * data region. Each granule is in one of three states:
 *
 *   free   in no client's hands; the server may grant it
 *   held   inside a grant a client may still write and publish blocks in
 *   used   neither: space a client has given up (sealed), or that a dead
 *          client left; live if an index word names it, else garbage that
 *          the next mark pass frees
 *
 * Clients get space in grants (a run of contiguous free granules) and
 * bump-allocate blocks in it themselves. When a client will publish nothing
 * more in a grant it seals it (the server also seals the grants of a client
 * that is gone). A seal takes effect at the next pass begin, never in the
 * middle of a pass.
 *
 * A mark pass: kv_alloc_pass_begin(), then kv_alloc_mark() for every extent
 * an index word names (the server's sweep walks the index), then
 * kv_alloc_sweep_step() until it returns true. The sweep frees every granule
 * that is neither free, held nor marked, and clears the marks. This is safe
 * because a granule that was not held at pass begin can no longer gain a name
 * (only a client holding a grant publishes into it), so a granule whose name
 * the walk did not see had none left when the walk reached its word.
 *
 * Cost: three bits of server memory per granule (3 MiB per GiB of data).
 */
#ifndef KV_ALLOC_H
#define KV_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define KV_ALLOC_MAX_SEALS (1u << 20) /* seals queued in one pass (16 B each) */
#define KV_ALLOC_LARGE (1u << 14)     /* granules (256 KiB): a large run, first fit */

struct kv_extent {
	uint64_t off, len; /* granules */
};

struct kv_alloc_stats {
	uint64_t granules;      /* of the data region */
	uint64_t free;          /* granules free */
	uint64_t held;          /* granules in grants not yet sealed */
	uint64_t largest_free;  /* longest run of free granules (from the last
				   sweep, or refreshed by kv_alloc_largest) */
	uint64_t grants;        /* grants made since start */
	uint64_t refused;       /* grants refused for lack of space */
	uint64_t freed;         /* granules freed by sweeps since start */
	uint64_t passes;        /* sweeps completed */
};

struct kv_alloc {
	uint64_t ngran;
	uint64_t nwords;         /* 64-bit words of each bitmap */
	uint64_t *free;          /* 1 = free */
	uint64_t *held;          /* 1 = held */
	uint64_t *mark;          /* 1 = named, seen by this pass's walk */
	struct kv_extent *seals; /* sealed since the pass began */
	uint32_t nseals, cap_seals;
	uint64_t rover;          /* next-fit: where the next search starts */
	uint64_t sweep_at;       /* bitmap word the sweep is at */
	bool sweeping;           /* between pass_begin and the sweep's end */
	struct kv_alloc_stats st;
};

/* Everything free. 0 or -ENOMEM; @ngran > 0. */
int kv_alloc_init(struct kv_alloc *a, uint64_t ngran);
void kv_alloc_free(struct kv_alloc *a);

/*
 * Grant a run of contiguous free granules: of @want granules if such a run
 * exists, else the longest run there is if it has at least @need (need <=
 * want). The run becomes held. 0 and *ext, or -ENOSPC (nothing changes) when
 * no run of @need exists; -EINVAL when need is 0 or need > want.
 */
int kv_alloc_grant(struct kv_alloc *a, uint64_t need, uint64_t want, struct kv_extent *ext);

/*
 * The holder will publish nothing more in @ext (all of it, or a part of a
 * grant). Granules of @ext that are not held are ignored. It takes effect at
 * the next kv_alloc_pass_begin(). -EINVAL when @ext is outside the region.
 */
int kv_alloc_seal(struct kv_alloc *a, const struct kv_extent *ext);

/* Apply the seals made since the last pass began (held -> used), and start a
 * walk. Marks must be clear (the previous sweep ended). */
void kv_alloc_pass_begin(struct kv_alloc *a);

/* An index word names @ext during the walk. Clamped to the region. */
void kv_alloc_mark(struct kv_alloc *a, const struct kv_extent *ext);

/*
 * After the walk: look at up to @budget bitmap words (64 granules each) from
 * where the sweep is; free used granules that are not marked; clear marks.
 * True when the sweep has reached the end (then largest_free is exact as of
 * the sweep, and st.passes counts one more).
 */
bool kv_alloc_sweep_step(struct kv_alloc *a, uint64_t budget);

/* Longest run of free granules, by a full scan (also refreshes the stat). */
uint64_t kv_alloc_largest(struct kv_alloc *a);

/*
 * Opening a store (kv_recover): the granules of @ext, named by the index, are
 * used (not free, not held). Returns how many were free before; fewer than
 * ext->len means part of it was reserved already (two words name the same
 * space: garbage). 0 when @ext is outside the region.
 */
uint64_t kv_alloc_reserve(struct kv_alloc *a, const struct kv_extent *ext);

/* Whether every granule of @ext is in state free / held / used. */
bool kv_alloc_is_free(const struct kv_alloc *a, const struct kv_extent *ext);
bool kv_alloc_is_held(const struct kv_alloc *a, const struct kv_extent *ext);

#endif
