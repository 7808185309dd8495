/*
 * kv_sim.h - a deterministic simulation of the one-sided protocol.
 *
 * N clients run the real kv_ops.c (through the kv_wire seam) on one local
 * slab with a tiny geometry; the server's real sweep (kv_sweep.c) clears the
 * claims of dead clients, breaks expired leases, grants space, and frees
 * what no word names (kv_alloc.c). A seeded scheduler
 * decides every interleaving: which client runs, which work request executes
 * next, where a READ or WRITE is cut into 8-byte-aligned pieces, when a
 * client crashes (between any two pieces), stalls (SIGSTOP: its posted
 * requests still execute), or vanishes (no disconnect ever comes), and when
 * the server sweeps. Every run records a history and checks it for
 * linearizability per key (kv_lincheck.c), then checks the slab's invariants.
 */
#ifndef KV_SIM_H
#define KV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_sim_opts {
	uint64_t seed;
	unsigned clients;     /* 2..8; 0: chosen from the seed */
	unsigned keys;        /* 1..4; 0: chosen from the seed */
	unsigned ops;         /* operations in all; 0: chosen from the seed */
	unsigned crash_per_mille;  /* chance per client step; ~0 means default */
	bool no_faults;       /* no crash, stall or vanish, no restart */
	bool no_restart;      /* never restart the server */
	bool powerloss;       /* the syncer's snapshots of the index, and a power
			       * loss at some step (instead of a restart) */
	bool paced;           /* the server sweeps at kvserver's pace (a pass a
			       * lease), not at random moments with random steps */
	bool trace;           /* print every scheduling decision to stderr */
};

struct kv_sim_result {
	bool ok;
	char why[512];        /* on failure: what broke, with the seed */
	uint64_t ops_done;    /* operations that returned */
	uint64_t ops_unknown; /* of a client that crashed, vanished or was fenced */
	uint64_t steps;
	uint64_t crashes, stalls, vanishes, fences, released;
	uint64_t grants;      /* grants the server made */
	uint64_t restarts;    /* the server restarted (kv_recover) */
	uint64_t reconnects;  /* clients that connected again after a restart */
	uint64_t narrowed;    /* runs with 1-bit tags (reused space, same word) */
	uint64_t snapshots;   /* index snapshots made durable */
	uint64_t powerlosses; /* power losses, the store opened from a snapshot */
	uint64_t lost_writes; /* acknowledged writes after that snapshot (lost) */
};

/* Run one schedule. Deterministic in opts. */
void kv_sim_run(const struct kv_sim_opts *opts, struct kv_sim_result *res);

/* ---- linearizability (kv_lincheck.c) --------------------------------------- */

enum kv_lin_kind { KV_LIN_PUT, KV_LIN_GET, KV_LIN_DEL };

struct kv_lin_op {
	enum kv_lin_kind kind;
	int64_t arg;      /* PUT: the value's id */
	int64_t ret;      /* GET: the value's id or -1 (absent); DEL: 1 found, 0 absent */
	uint64_t inv, resp; /* logical times; resp UINT64_MAX when the outcome is unknown */
	int client;
};

#define KV_LIN_MAX_OPS 64

/*
 * Is this history of one key (a register: PUT sets, DEL clears, GET reads;
 * initially absent) linearizable? An operation with unknown outcome may take
 * effect at any time after its invocation, or never. Wing and Gong's search
 * with Lowe's memoisation of (linearized set, register value).
 */
bool kv_lin_check(const struct kv_lin_op *ops, unsigned n);

#endif
