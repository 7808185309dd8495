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
#include "kv_slot.h"
#include "kv_wire.h"

#define KV__MAX_WR (2 * KV_MAX_DEPTH + 8)

/* Scratch for one operation, carved from the registered buffer. */
struct kv__ws {
	uint64_t *ctrl;   /* b1's then b2's control words */
	uint64_t *word;   /* 4 single words: home ctrl, CAS results */
	uint64_t *wctrl;  /* 4 words to write */
	uint8_t *slot;      /* image of the home slot, 2 * rec_size */
	uint8_t *home[2];   /* its copies, gathered, rec_size each */
	uint8_t *cand;      /* images of candidate slots */
	uint8_t *gather[2]; /* a candidate's copies, gathered */
	uint8_t *wrec;    /* the record being written */
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
	unsigned ncand;         /* candidate slots the workspace holds at once */
	size_t multi_stride;    /* bytes per copy in the kv_get_multi area */
	bool connected;
	bool debug;             /* KV_DEBUG set: log every verb posted */
	bool recv_posted;       /* a control-message receive is outstanding */
	uint32_t max_inline;    /* largest WRITE sent inline */
	bool time_waits;        /* see kv_connect_opts */
	uint8_t *msg_send, *msg_recv; /* KV_MSG_MAX each */
	uint8_t *demo_src, *demo_dst;
	uint8_t *multi;               /* depth slot-head images */
	struct kv__ws ws;
	struct kv_wire wire;          /* verbs, or the simulation's */
	uint64_t seen;                /* what the last attempt saw of its slots:
					 a change between attempts is progress */
	struct kv_hello hello;
	unsigned depth;
	unsigned timeout_ms;
	size_t vlen_hint;             /* last value length seen: sizes RT1 */
	bool broken;                  /* the QP failed: every call fails */
	uint64_t rng;
	struct kv_counters cnt;
	char err[256];
};

/* Post @n verbs on c's wire behind one doorbell, wait for all, count them.
 * 0 or -errno. */
int kv__run(kv_client *c, const struct kv_wr *w, unsigned n);

/* The verbs wire (kv_verbs.c); its context is the kv_client. */
extern const struct kv_wire_ops kv__verbs_wire;
void kv__break(kv_client *c);
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

#endif
