/* kv_client_int.h - internals shared by the client library's files. */
#ifndef KV_CLIENT_INT_H
#define KV_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "kv.h"
#include "kv_proto.h"
#include "kv_slot.h"

/* One one-sided verb to post; remote offsets are relative to the slab. */
struct kv__wr {
	enum ibv_wr_opcode op; /* RDMA_READ, RDMA_WRITE or ATOMIC_CMP_AND_SWP */
	uint64_t off;
	void *local;           /* inside the client's registered buffer */
	uint32_t len;
	uint64_t compare, swap;
};

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
	struct kv_hello hello;
	unsigned depth;
	unsigned timeout_ms;
	size_t vlen_hint;             /* last value length seen: sizes RT1 */
	bool broken;                  /* the QP failed: every call fails */
	uint64_t rng;
	struct kv_counters cnt;
	char err[256];
};

/* CLOCK_MONOTONIC in ns: the library's one clock. */
static inline uint64_t kv__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Post @n verbs behind one doorbell, wait for all, check each. 0 or -errno. */
int kv__run(kv_client *c, const struct kv__wr *w, unsigned n);

#endif
