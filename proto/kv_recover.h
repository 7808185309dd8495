/*
 * kv_recover.h - opening a store whose server died (issue 9, not yet wired
 * into kvserver: docs/proposals/durability.md). Pure code over a slab in
 * memory, like the sweep, so that unit tests and the simulation run what
 * kvserver will run.
 *
 * One walk over the index, after which the store is as a server that has
 * just started expects it: no claim (no client of the old process survives
 * it), every write left uncommitted finished (its predecessor retired, it
 * committed), every committed tombstone's word cleared, and the allocator
 * holding exactly the blocks the index names as used, the rest free.
 */
#ifndef KV_RECOVER_H
#define KV_RECOVER_H

#include <stdint.h>

#include "kv_alloc.h"
#include "kv_proto.h"

struct kv_recover_report {
	uint64_t items;          /* live keys */
	uint64_t claims_cleared;
	uint64_t writes_finished;/* uncommitted blocks committed */
	uint64_t tombs_cleared;
	uint64_t bad_words;      /* of no kind, or naming space outside the region */
	uint64_t bad_blocks;     /* named blocks that do not validate: kept, space reserved */
	uint64_t overlaps;       /* named extents that overlap another: garbage */
};

/*
 * Recover @slab (geometry @g) into allocator @a, freshly initialised with
 * kv_alloc_init(kv_data_granules(g)). Words that are garbage are counted and
 * left as they are (a reader reports them corrupt); nothing the index names
 * is ever freed. 0, or -ENOMEM (nothing changed).
 */
int kv_recover(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
	       struct kv_recover_report *r);

#endif
