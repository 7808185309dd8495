/* kv_client_int.h - internals shared by the client library's files. */
#ifndef KV_CLIENT_INT_H
#define KV_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "kv.h"
#include "kv_base.h"
#include "kv_proto.h"
#include "kv_index.h"
#include "kv_wire.h"

#define KV__MAX_WR (2 * KV_MAX_DEPTH + 8)
#define KV__CACHE_ENTRIES 4096 /* where keys' words are: 32 B each */

/* Scratch for one operation, carved from the registered buffer. */
struct kv__ws {
	uint64_t *words;  /* b1's then b2's words (16) */
	uint64_t *word;   /* 8 single words: CAS results, a word re-read */
	uint8_t *rblk;    /* a block read: the longest a word can name */
	uint8_t *wblk;    /* the block being written */
};

/* A grant of the data region this client carves blocks from (bytes). */
struct kv__grant {
	uint64_t off, len, used;
};

/* Where a key's word was last seen, and which word: a warm operation goes
 * straight to it. Direct-mapped by the key's hash. */
struct kv__cached {
	uint64_t h1, h2;  /* the key's two 64-bit hashes; 0, 0: empty */
	uint64_t idx;     /* index word */
	uint64_t word;
};

struct kv_client {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *send_cq, *recv_cq;
	struct ibv_mr *mr;      /* operation buffer, registered after the hello */
	struct ibv_mr *mr_msg;  /* control messages */
	uint32_t mr_msg_lkey;
	uint8_t *buf;
	uint8_t *msgbuf;
	size_t buf_len;
	size_t rblk_len;        /* bytes of ws.rblk */
	size_t multi_stride;    /* bytes per key in the kv_get_multi area */
	bool connected;
	bool debug;             /* KV_DEBUG set: log every verb posted */
	bool recv_posted;       /* a control-message receive is outstanding */
	uint32_t max_inline;    /* largest WRITE sent inline */
	bool time_waits;        /* see kv_connect_opts */
	uint8_t *msg_send, *msg_recv; /* KV_MSG_MAX each */
	uint8_t *demo_src, *demo_dst;
	uint8_t *multi;               /* depth values */
	struct kv__ws ws;
	struct kv_wire wire;          /* verbs, or the simulation's */
	uint64_t seen;                /* what the last attempt saw of its slots:
					 a change between attempts is progress */
	struct kv_hello hello;
	unsigned depth;
	unsigned timeout_ms;
	struct kv__grant small;       /* the open grant PUTs bump-allocate in */
	struct kv__cached *cache;
	unsigned ncache;              /* entries (0: no cache), in pairs */
	unsigned cache_last;          /* the entry used last */
	bool broken;                  /* the QP failed: the next call reconnects */
	bool reconnect;               /* see kv_connect_opts.no_reconnect */
	char *addr, *port;            /* what kv_connect() was given, to reconnect */
	char where[320];              /* "addr:port" for messages */
	unsigned step_ms;             /* bound on one connection step's wait */
	unsigned reconnect_ms;        /* one call's budget for connecting again */
	uint64_t last_ready_ns;       /* when the last operation began */
	char user[65];                /* "" when none */
	uint8_t secret[256];          /* wiped at kv_close */
	size_t secret_len;
	uint8_t role;                 /* enum kv_role (kv_auth.h) */
	unsigned op_cas;              /* CASes posted by the running operation */
	void (*on_swung)(kv_client *c); /* tests: called after a write's word
					   swung, before its retire and commit
					   (kvcli debug-half-put stalls there) */
	unsigned tag_mask;            /* 0: tags of all 6 bits; else only these
					 (the simulation narrows them so that
					 space reused for a key gets the same
					 word again, the ABA case, often) */
	uint64_t rng;
	struct kv_counters cnt;
	char err[256];
};

/* Post @n verbs on c's wire behind one doorbell, wait for all, count them.
 * 0 or -errno. */
int kv__run(kv_client *c, const struct kv_wr *w, unsigned n);

/* Seal the grants this client holds (kv_close, and the simulation). */
int kv__seal_all(kv_client *c);

/* Grant and seal over send/recv (kv_conn.c), for the verbs wire. */
int kv__verbs_grant(void *ctx, uint64_t need, unsigned attempt, uint64_t *off,
		    uint64_t *len, uint64_t *largest);
int kv__verbs_seal(void *ctx, uint64_t off, uint64_t len);

/* The verbs wire (kv_verbs.c); its context is the kv_client. */
extern const struct kv_wire_ops kv__verbs_wire;
void kv__break(kv_client *c);

/* 0 when the connection still stands, else -ECONNRESET (and broken): a CM
 * event such as DISCONNECTED is waiting. Never blocks. */
int kv__check_cm(kv_client *c);

/*
 * Called first by every public operation: if the connection broke, connect
 * again (backoff within the connect timeout) and take the new hello. 0, or
 * the last attempt's negative errno with the reason in c->err.
 */
int kv__ready(kv_client *c);
int kv__poll(kv_client *c, struct ibv_cq *cq, unsigned n, struct ibv_wc *last);

__attribute__((format(printf, 2, 3)))
void kv__seterr(kv_client *c, const char *fmt, ...);

/*
 * Carve the operation buffer for the geometry in c->hello (plain memory; the
 * verbs path registers it afterwards). 0 or -ENOMEM.
 */
int kv__buffers_alloc(kv_client *c);

/*
 * A client on any wire, for the simulation: no connection, buffers from
 * malloc, the given hello. kv_close() frees it. NULL when out of memory.
 */
kv_client *kv__client_on_wire(const struct kv_hello *h, const struct kv_wire *wire,
			      uint64_t rng_seed);

/* Shared with kv_scan.c (kv_ops.c). Bytes to READ for block word @w: what
 * it names, within ws.rblk. */
uint32_t kv__blk_read_len(const kv_client *c, uint64_t w);

/* A block read for word @w that a warm GET may return: committed, not
 * retired, not a tombstone (kv_ops.c). */
bool kv__current(const struct kv_block_view *v, uint64_t w);

#endif
