/*
 * kv_server_int.h - what kvserver's two halves share: the event loop,
 * devices, the sweep and the stats (kv_server.c), and the connections with
 * their control messages (kv_server_conn.c). Not installed, not for tests.
 */
#ifndef KV_SERVER_INT_H
#define KV_SERVER_INT_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "kv_server.h"
#include "kv_sweep.h"
#include "kv_file.h"
#include "kv_auth.h"
#include "kv_syncer.h"

#define KV_RECV_DEPTH 4
#define KV_MAX_CLIENT_ID 65535
#define KV_KEEPALIVE_NS 1000000000ull /* each connection's keepalive period */
#define KV_KEEPALIVE_DEADLINE_NS 10000000000ull /* unanswered this long: gone */
#define KV_WRID_KEEPALIVE 0x4b41ull    /* above the receive buffers' wr_ids */
#define KV_CUT_REAP_NS 60000000000ull  /* a cut connection the CM forgot: freed */
#define KV_ACK_TIMEOUT 14              /* 4.096 us * 2^14 = 67 ms a retry */
#define KV_AUTH_DEADLINE_NS 2000000000ull /* not authenticated by then: dropped */

struct kv__dev {
	struct ibv_context *verbs;
	struct ibv_device_attr attr;
	struct ibv_pd *pd;
	struct ibv_mr *slab_mr;
	struct ibv_mr *slab_mr_ro; /* READ only, for ro users (with users only) */
	struct ibv_comp_channel *channel;
	bool port_down;     /* between IBV_EVENT_PORT_ERR and PORT_ACTIVE */
};

struct kv_conn {
	struct kv_server *srv;
	struct rdma_cm_id *id;
	struct kv__dev *dev;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *buf; /* send buffer, then KV_RECV_DEPTH receive buffers */
	uint16_t client_id;
	bool established;
	bool fenced;        /* its queue pair is gone: it can touch nothing */
	uint64_t cut_ns;    /* when it was cut */
	bool send_busy;
	bool ka_busy;       /* a keepalive is in flight */
	uint64_t ka_last_ns;
	uint16_t pending;   /* a request (its type) that came while the send
			       buffer was busy: answered when it is free */
	uint64_t pending_need; /* of a pending grant request */
	struct kv_conn *prev, *next;
	struct ibv_qp *qp;  /* ours, not rdma_cm's: we set its access rights */
	bool authed;        /* past the handshake (at once without users) */
	bool close_after_send; /* a refusal is on its way: then disconnect */
	uint8_t role;       /* enum kv_role */
	uint8_t snonce[KV_AUTH_NONCE];
	uint64_t accepted_ns;
	char user[KV_AUTH_NAME_MAX + 1];
	uint8_t auth_msg[KV_MSG_HDR_LEN + 65 + KV_AUTH_NAME_MAX]; /* a pending AUTH */
	size_t auth_len;
	char host[NI_MAXHOST];
};

struct kv_server {
	struct kv_server_opts opts;
	struct kv_slab slab;
	struct kv_file_header fhdr; /* of the store file (--file) */
	int snap_newest;            /* its slot of the newest valid snapshot, or -1 */
	uint64_t snap_seq;          /* and that snapshot's sequence number */
	struct kv_geometry geo;
	struct kv_sweep sweep;      /* claims, leases, client ids, data space */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	int epfd;
	int sigfd;
	int timerfd;                /* drives the sweep */
	uint64_t tick_ns;           /* the timer's period now */
	struct kv__dev *devs;
	int ndevs;
	struct ibv_context **dev_list; /* from rdma_get_devices, or NULL */
	struct kv_conn *conns;
	uint64_t nconns;
	uint64_t conns_total;
	uint64_t protocol_errors;
	uint16_t next_id;           /* where the search for a free client id starts */
	struct timespec start;
	struct rdma_cm_id *orphan;  /* a refused id with no connection struct */
	char where[NI_MAXHOST + 8]; /* ADDR:PORT we listen on */
	bool relisten;              /* the listener must be made again */
	bool stop;
	struct kv_auth_db auth;     /* --auth-file's users (none: open store) */
	struct kv_syncer syncer;    /* --file: changed pages to disk, its own thread */
	uint32_t nlive;             /* connections in the list, at any stage */
	uint64_t auth_failures;     /* handshakes refused or timed out */
};

/* A log line about a connection (-q silences these), and an error line. */
__attribute__((format(printf, 2, 3)))
void kv__srv_log(const struct kv_server *s, const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void kv__srv_err(const char *fmt, ...);

/* kv_server_conn.c: the CM events, completions and control messages. */
void kv__on_cm_event(struct kv_server *s);
void kv__on_cq_event(struct kv_server *s, struct kv__dev *d);
void kv__conn_destroy(struct kv_conn *c);
void kv__conn_disconnect(struct kv_conn *c);
/* Cut @owner's queue pair at once (its lease ran out); the sweep's fence. */
void kv__conn_fence(void *server, uint16_t owner, enum kv_fence_why why);
/* Send a keepalive to every connection whose last one is a period old. */
void kv__keepalive(struct kv_server *s, uint64_t now);

/* kv_server.c: the device a connection arrived on; the sweep, sooner. */
struct kv__dev *kv__dev_of(struct kv_server *s, struct ibv_context *verbs);
void kv__sweep_hurry(struct kv_server *s);
void kv__relisten(struct kv_server *s);

#endif
