/*
 * kv_syncer.h - getting a store file's one-sided writes to disk.
 *
 * The RDMA device writes into the slab's pages without the kernel knowing:
 * once a page of a file on a disk filesystem has been written back, it is
 * clean, and nothing the device writes into it afterwards makes it dirty
 * again (measured on ext4, tests/vm/store_disk.sh), so msync alone would
 * write nothing. The syncer finds the pages that changed since its last
 * pass (an XXH3 of every page, kept in server memory) and makes each dirty
 * again with a CPU write that changes nothing (an atomic add of 0 to its
 * first word, atomic with respect to the device's and the sweep's writes),
 * then msyncs. It runs on a thread of its own, so the event loop never
 * waits for the disk. A write that lands after a page was hashed is found
 * by the next pass: what a power loss can lose is bounded by the interval
 * plus the length of one pass.
 *
 * Pages reach the disk in no order, so after a power loss the disk may hold
 * an index page newer than a data page its words name. So each pass also
 * keeps a copy of the index (a snapshot), taken before the data pages are
 * synced, and writes it to the older of two slots in the file (kv_file.h)
 * once they are: every block a slot's copy names is on disk. The sweep keeps
 * the space both copies name (kv_sweep.keep), so it is never reused while a
 * slot may be brought back. After a power loss kvserver opens the store from
 * the newest valid slot (kv_recover_snapshot).
 */
#ifndef KV_SYNCER_H
#define KV_SYNCER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv_proto.h"
#include "kv_slab.h"

struct kv_syncer {
	struct kv_slab *slab;
	uint64_t *hash;        /* per page of the mapping */
	size_t npages, page;
	bool first;            /* the next pass dirties every page (after an
				  msync error) */
	uint32_t interval_ms;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	/* Snapshots (kv_syncer_snap_init), when the store file has slots. */
	int fd;
	const uint8_t *index;  /* the live index in the slab */
	uint64_t index_bytes;
	uint64_t slot_off[2];
	uint64_t *snap[2];     /* the copies, in the slots' order; the sweep
				  reads them (8-byte atomic loads) */
	int newest;            /* the slot of the newest valid snapshot, or -1 */
	bool stuck;            /* a slot header's write failed: either slot may
				  be the newest on disk, so neither copy may be
				  overwritten (nor their blocks freed): no more
				  snapshots until kvserver starts again */
	pthread_mutex_t copy_mu; /* held while copying (kv_sweep.copy_mu) */
	uint64_t seq, generation;
	/* Read with kv_syncer_stats (under mu). */
	uint64_t snapshots, snap_errors;
	uint64_t passes, pages_dirtied, errors;
	uint64_t last_ns, max_ns;  /* the duration of a pass, msync included */
	int last_err;
};

struct kv_syncer_stats {
	uint64_t passes, pages_dirtied, errors;
	uint64_t snapshots, snap_errors, seq;
	bool snap_stuck;
	double last_ms, max_ms;
};

/* Set up for @slab (a store file's), hashing every page as it is now: call
 * it before the slab is registered. 0 or -ENOMEM. No thread yet. */
int kv_syncer_init(struct kv_syncer *sy, struct kv_slab *slab, uint32_t interval_ms);

/*
 * Keep snapshots of the index (@g) in the slots of the store file @fd (slab
 * of @slab_len bytes): slot @newest (-1: none) holds the newest valid one,
 * of sequence number @seq; they are written with @generation. 0 or -ENOMEM.
 */
int kv_syncer_snap_init(struct kv_syncer *sy, int fd, const struct kv_geometry *g,
			uint64_t slab_len, int newest, uint64_t seq, uint64_t generation);

/* Take a snapshot now, on the caller's thread: copy the index, msync the
 * whole store file (not only the pages whose hash changed), write the copy
 * to the older slot. For a store just opened, before it serves. 0 or -errno. */
int kv_syncer_snapshot_now(struct kv_syncer *sy);

/* Make both slots invalid (a store that keeps no snapshots: one of an
 * earlier run must never be brought back). 0 or -errno. */
int kv_slots_invalidate(int fd, uint64_t slab_len, const struct kv_geometry *g);

/* Start the thread that passes every interval (not for interval 0). */
int kv_syncer_start(struct kv_syncer *sy);

/* One pass, on the caller's thread: find changed pages, dirty them, msync.
 * 0 or -errno. Not while the thread runs (stop it first). errors in the
 * stats says whether any pass ever failed. */
int kv_syncer_pass(struct kv_syncer *sy);

/* Stop and join the thread, if it runs. */
void kv_syncer_stop(struct kv_syncer *sy);

/* Stop and join the thread (if any); free. Safe on a zeroed struct. */
void kv_syncer_free(struct kv_syncer *sy);

void kv_syncer_stats(struct kv_syncer *sy, struct kv_syncer_stats *st);

#endif
