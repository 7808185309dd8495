/*
 * kv_recover.h - opening a store whose server died (issue 9:
 * docs/proposals/durability.md); kvserver runs it when it opens a store
 * file. Pure code over a slab in memory, like the sweep, so that unit tests
 * and the simulation run what kvserver runs.
 *
 * Walks over the index (two, or more for a huge index crowded with block
 * words), reading the blocks its words name in address order, after which the
 * store is as a server that has just started expects it: no claim (no client
 * of the old process survives it), every write left uncommitted finished
 * (its predecessor retired, it committed), every committed tombstone's word
 * cleared, and the allocator holding exactly the blocks the index names as
 * used, the rest free.
 */
#ifndef KV_RECOVER_H
#define KV_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_alloc.h"
#include "kv_proto.h"

struct kv_recover_report {
	uint64_t items;          /* live keys */
	uint64_t claims_cleared;
	uint64_t writes_finished;/* uncommitted blocks committed */
	uint64_t tombs_cleared;
	uint64_t bad_words;      /* of no kind, or naming space outside the region */
	uint64_t bad_blocks;     /* named blocks that do not validate: kept, space
				    reserved (or dropped: kv_recover_opt) */
	uint64_t bad_dropped;    /* of them, words cleared (drop_bad)*/
	uint64_t overlaps;       /* named extents that overlap one before them in
				    address order (garbage): 0 exactly when no
				    two overlap */
};

/*
 * Recover @slab (geometry @g) into allocator @a, freshly initialised with
 * kv_alloc_init(kv_data_granules(g)). Words that are garbage are counted and
 * left as they are (a reader reports them corrupt); nothing the index names
 * is ever freed. 0, or -ENOMEM (nothing changed).
 */
int kv_recover(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
	       struct kv_recover_report *r);

/*
 * The same, holding at most @mem bytes of gathered block words at a time (16
 * per word; one range of the data region's words at least): a store with
 * more is done in groups of ranges, each with one more pass over the index.
 * 0 means kv_recover's choice: half the index's size, or 64 MiB if that is
 * more. The result does not depend on @mem.
 */
int kv_recover_mem(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
		   struct kv_recover_report *r, size_t mem);

/*
 * The same, and with @drop_bad the word of a block that does not validate
 * is cleared (its key is lost, its space free) instead of kept. For a store
 * opened after an unclean stop, which may have been a power loss: the disk
 * may hold an index page newer than the data page its word names (msync
 * writes pages in no order), and a word whose block is not there would
 * otherwise leave its key unreadable and unwritable for good.
 */
int kv_recover_opt(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
		   struct kv_recover_report *r, size_t mem, bool drop_bad);

/*
 * After a power loss: put the index copy @snap (kv_file_index_bytes(g)
 * bytes, as the syncer wrote it to a slot) in place of @slab's index, and
 * make every block it names that a later write retired current again (that
 * write is lost with the power: its word is not in the copy). Every block
 * the copy names is on disk whole: the syncer wrote the copy after syncing
 * the data pages, and the sweep kept their space while the copy was the
 * newest. Returns how many blocks were made current again. Run kv_recover
 * after it.
 */
uint64_t kv_recover_snapshot(uint8_t *slab, const struct kv_geometry *g, const uint8_t *snap);

#endif
