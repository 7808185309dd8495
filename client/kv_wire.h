/*
 * kv_wire.h - the one seam under the client's data path.
 *
 * Everything kv_ops.c does to the slab goes through struct kv_wire: post a
 * chain of one-sided work requests behind one doorbell and wait for all of
 * them, read the clock, pause, and the two control messages of allocation
 * (grant, seal). The real wire is verbs (kv_verbs.c); the
 * simulation in tests/ puts a local slab and a seeded scheduler behind the
 * same three calls, so it runs the very same kv_ops.c. kv_ops.c never knows
 * which one it is on.
 *
 * What a wire must give, as an RC queue pair does:
 * - the requests of one chain execute in order; a READ or WRITE longer than
 *   8 bytes may be executed in 8-byte pieces with other clients' requests in
 *   between, and a CAS is atomic;
 * - run() returns 0 only when every request of the chain has executed; on
 *   an error the chain may have executed in part, and the wire is broken:
 *   every later run() fails too.
 */
#ifndef KV_WIRE_H
#define KV_WIRE_H

#include <stdint.h>

struct kv_hello;

enum kv_wr_op {
	KV_WR_READ,  /* remote [off, off + len) -> local */
	KV_WR_WRITE, /* local -> remote [off, off + len) */
	KV_WR_CAS,   /* 8 bytes at off: if == compare, := swap; old value -> local */
};

/* One one-sided verb; remote offsets are relative to the slab. */
struct kv_wr {
	enum kv_wr_op op;
	uint64_t off;
	void *local;   /* inside the client's registered buffer */
	uint32_t len;  /* 8 for a CAS */
	uint64_t compare, swap;
};

struct kv_wire_ops {
	/* Post @n requests behind one doorbell, wait for all. 0 or -errno. */
	int (*run)(void *ctx, const struct kv_wr *w, unsigned n);
	/* A monotonic clock in ns: lock waits and backoff are measured on it. */
	uint64_t (*now_ns)(void *ctx);
	/* Let about @ns pass (backoff between retries). */
	void (*pause_ns)(void *ctx, uint64_t ns);
	/*
	 * Ask the server for a grant of at least @need bytes of the data region
	 * (kv_sweep_grant), for the @attempt-th time in a row (0: anew):
	 * 0 and the extent (bytes, data-relative) in *ext; -ENOSPC (*largest:
	 * the longest free run), -EAGAIN (a pass may free enough), or a
	 * transport error.
	 */
	int (*grant)(void *ctx, uint64_t need, unsigned attempt, uint64_t *off,
		     uint64_t *len, uint64_t *largest);
	/* Tell the server nothing more will be published in this grant. */
	int (*seal)(void *ctx, uint64_t off, uint64_t len);
	/*
	 * Optional (the simulation's): connect again after the wire broke and
	 * fill *h with the server's new hello. 0 or -errno. The verbs wire has
	 * none: kv_conn.c remakes its whole connection itself.
	 */
	int (*reconnect)(void *ctx, struct kv_hello *h);
};

struct kv_wire {
	const struct kv_wire_ops *ops;
	void *ctx;
};

#endif
