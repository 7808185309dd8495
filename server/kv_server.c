/* kv_server.c - kvserver's event loop and per-client resources. */
#include "kv_server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "kv_slot.h"

#define KV_RECV_DEPTH 4
#define KV_MAX_CLIENT_ID 65535
#define KV_EP_CM 0
#define KV_EP_SIGNAL 1
#define KV_EP_DEV 2 /* + device index */

struct kv__dev {
	struct ibv_context *verbs;
	struct ibv_device_attr attr;
	struct ibv_pd *pd;
	struct ibv_mr *slab_mr;
	struct ibv_comp_channel *channel;
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
	bool send_busy;
	bool stats_pending; /* a request came while the send buffer was busy */
	struct kv_conn *prev, *next;
};

struct kv_server {
	struct kv_server_opts opts;
	struct kv_slab slab;
	struct kv_geometry geo;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	int epfd;
	int sigfd;
	struct kv__dev *devs;
	int ndevs;
	struct ibv_context **dev_list; /* from rdma_get_devices, or NULL */
	struct kv_conn *conns;
	uint64_t nconns;
	uint64_t conns_total;
	uint64_t locks_released;
	uint64_t protocol_errors;
	uint8_t id_used[(KV_MAX_CLIENT_ID + 1) / 8];
	struct timespec start;
	uint8_t *release_buf;       /* 2 * rec_size, for kv_slab_release_owner */
	struct rdma_cm_id *orphan;  /* a refused id with no connection struct */
	char where[NI_MAXHOST + 8]; /* ADDR:PORT we listen on */
	bool stop;
};

__attribute__((format(printf, 1, 0)))
static void kv__vsay(const char *fmt, va_list ap)
{
	fputs("kvserver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* A log line about a connection; -q silences these. */
__attribute__((format(printf, 2, 3)))
static void kv__log(const struct kv_server *s, const char *fmt, ...)
{
	va_list ap;

	if (s && s->opts.quiet)
		return;
	va_start(ap, fmt);
	kv__vsay(fmt, ap);
	va_end(ap);
}

/* An error line, always printed. */
__attribute__((format(printf, 1, 2)))
static void kv__err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kv__vsay(fmt, ap);
	va_end(ap);
}

/* ---- client ids ---------------------------------------------------------- */

static uint16_t kv__id_alloc(struct kv_server *s)
{
	for (uint32_t id = 1; id <= KV_MAX_CLIENT_ID; id++) {
		if (!(s->id_used[id / 8] & (1u << (id % 8)))) {
			s->id_used[id / 8] |= (uint8_t)(1u << (id % 8));
			return (uint16_t)id;
		}
	}
	return 0;
}

static void kv__id_free(struct kv_server *s, uint16_t id)
{
	s->id_used[id / 8] &= (uint8_t)~(1u << (id % 8));
}

/* ---- devices ------------------------------------------------------------- */

static int kv__epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int kv__dev_open(struct kv_server *s, struct kv__dev *d,
			struct ibv_context *verbs, int index)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
	int ret;

	d->verbs = verbs;
	if ((ret = ibv_query_device(verbs, &d->attr))) {
		kv__err("ibv_query_device(%s): %s", ibv_get_device_name(verbs->device),
			strerror(ret));
		return -ret;
	}
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd) {
		ret = -errno;
		kv__err("ibv_alloc_pd: %s", strerror(errno));
		return ret;
	}
	d->slab_mr = ibv_reg_mr(d->pd, s->slab.base, s->slab.len, access);
	if (!d->slab_mr) {
		ret = -errno;
		kv__err("registering the %zu-byte slab on %s: %s (is `ulimit -l` large enough?)",
			s->slab.len, ibv_get_device_name(verbs->device), strerror(errno));
		goto out_dealloc_pd;
	}
	d->channel = ibv_create_comp_channel(verbs);
	if (!d->channel) {
		ret = -errno;
		kv__err("ibv_create_comp_channel: %s", strerror(errno));
		goto out_dereg_mr;
	}
	ret = kv__epoll_add(s->epfd, d->channel->fd, KV_EP_DEV + (uint64_t)index);
	if (ret) {
		kv__err("epoll: %s", strerror(-ret));
		goto out_destroy_channel;
	}
	return 0;

out_destroy_channel:
	ibv_destroy_comp_channel(d->channel);
	d->channel = NULL;
out_dereg_mr:
	ibv_dereg_mr(d->slab_mr);
	d->slab_mr = NULL;
out_dealloc_pd:
	ibv_dealloc_pd(d->pd);
	d->pd = NULL;
	return ret;
}

static void kv__dev_close(struct kv__dev *d)
{
	if (d->channel)
		ibv_destroy_comp_channel(d->channel);
	if (d->slab_mr)
		ibv_dereg_mr(d->slab_mr);
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	memset(d, 0, sizeof(*d));
}

/* Register the slab on the listening id's device, or on every device. */
static int kv__devs_open(struct kv_server *s)
{
	struct ibv_context *single[1];
	struct ibv_context **list = single;
	int n = 1, ret;

	if (s->listen_id->verbs) {
		single[0] = s->listen_id->verbs;
	} else {
		s->dev_list = rdma_get_devices(&n);
		list = s->dev_list;
		if (!list || n == 0) {
			kv__err("no RDMA device found (ibv_devices lists none; load rdma_rxe or siw, see docs/running.md)");
			return -ENODEV;
		}
	}
	s->devs = calloc((size_t)n, sizeof(*s->devs));
	if (!s->devs)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if ((ret = kv__dev_open(s, &s->devs[i], list[i], i)))
			return ret;
		s->ndevs = i + 1;
	}
	return 0;
}

static struct kv__dev *kv__dev_of(struct kv_server *s, struct ibv_context *verbs)
{
	for (int i = 0; i < s->ndevs; i++)
		if (s->devs[i].verbs == verbs)
			return &s->devs[i];
	return NULL;
}

/* ---- connections --------------------------------------------------------- */

static uint8_t *kv__recv_buf(struct kv_conn *c, unsigned i)
{
	return c->buf + KV_MSG_MAX * (1 + i);
}

static int kv__post_recv(struct kv_conn *c, unsigned i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)kv__recv_buf(c, i),
		.length = KV_MSG_MAX,
		.lkey = c->mr->lkey,
	};
	struct ibv_recv_wr wr = {.wr_id = i + 1, .sg_list = &sge, .num_sge = 1};
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(c->id->qp, &wr, &bad);
}

static int kv__post_send(struct kv_conn *c, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)c->buf,
		.length = (uint32_t)len,
		.lkey = c->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;
	int ret = ibv_post_send(c->id->qp, &wr, &bad);

	if (!ret)
		c->send_busy = true;
	return -ret;
}

static void kv__conn_destroy(struct kv_conn *c)
{
	struct kv_server *s = c->srv;

	if (c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	free(c->buf);
	if (c->client_id) {
		unsigned n = kv_slab_release_owner(s->slab.base, &s->geo, c->client_id,
						   s->release_buf);

		if (n)
			kv__log(s, "client %u left %u slot lock(s); released", c->client_id, n);
		s->locks_released += n;
		kv__id_free(s, c->client_id);
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->established)
		s->nconns--;
	rdma_destroy_id(c->id);
	free(c);
}

/* Resources for a new client: id, CQ, QP, buffers, posted receives. */
static int kv__conn_setup(struct kv_server *s, struct kv_conn *c)
{
	struct ibv_qp_init_attr qpa = {0};
	int ret;

	c->dev = kv__dev_of(s, c->id->verbs);
	if (!c->dev) {
		kv__err("connection on a device the slab is not registered with");
		return -ENODEV;
	}
	c->client_id = kv__id_alloc(s);
	if (!c->client_id) {
		kv__err("all %u client ids in use", KV_MAX_CLIENT_ID);
		return -EMFILE;
	}
	c->buf = aligned_alloc(64, KV_MSG_MAX * (1 + KV_RECV_DEPTH));
	if (!c->buf)
		return -ENOMEM;
	c->mr = ibv_reg_mr(c->dev->pd, c->buf, KV_MSG_MAX * (1 + KV_RECV_DEPTH),
			   IBV_ACCESS_LOCAL_WRITE);
	if (!c->mr)
		return -errno;
	c->cq = ibv_create_cq(c->id->verbs, 2 + KV_RECV_DEPTH, c, c->dev->channel, 0);
	if (!c->cq)
		return -errno;
	if ((ret = ibv_req_notify_cq(c->cq, 0)))
		return -ret;
	qpa.send_cq = c->cq;
	qpa.recv_cq = c->cq;
	qpa.qp_type = IBV_QPT_RC;
	qpa.cap.max_send_wr = 2;
	qpa.cap.max_recv_wr = KV_RECV_DEPTH;
	qpa.cap.max_send_sge = 1;
	qpa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->dev->pd, &qpa))
		return -errno;
	for (unsigned i = 0; i < KV_RECV_DEPTH; i++)
		if ((ret = kv__post_recv(c, i)))
			return ret;
	return 0;
}

/*
 * Accept a client, or refuse it. Returns a connection the caller destroys
 * once the event is acked (rdma_destroy_id waits for that), or NULL.
 */
static struct kv_conn *kv__on_connect_request(struct kv_server *s,
					      struct rdma_cm_event *ev)
{
	struct rdma_conn_param param = {0};
	struct kv_conn *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		kv__err("refusing a client: out of memory");
		rdma_reject(ev->id, NULL, 0);
		s->orphan = ev->id; /* destroyed once the event is acked */
		return NULL;
	}
	c->srv = s;
	c->id = ev->id;
	ev->id->context = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	ret = kv__conn_setup(s, c);
	if (!ret) {
		/* Clients read and CAS the slab: take as many reads in flight
		 * as they ask for, up to what the device allows. The event's
		 * parameters are already from our side's point of view. */
		param.responder_resources = ev->param.conn.responder_resources;
		if (param.responder_resources > c->dev->attr.max_qp_rd_atom)
			param.responder_resources = (uint8_t)c->dev->attr.max_qp_rd_atom;
		param.initiator_depth = 0;
		param.rnr_retry_count = 7;
		if (rdma_accept(c->id, &param))
			ret = -errno;
	}
	if (ret) {
		kv__err("refusing a client: %s", strerror(-ret));
		rdma_reject(c->id, NULL, 0);
		return c;
	}
	s->conns_total++;
	return NULL;
}

static void kv__on_established(struct kv_server *s, struct kv_conn *c)
{
	struct kv_hello h = {0};
	char host[NI_MAXHOST] = "?";
	struct sockaddr *peer = rdma_get_peer_addr(c->id);
	int ret;

	c->established = true;
	s->nconns++;
	getnameinfo(peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in),
		    host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	h.slab_addr = (uintptr_t)s->slab.base;
	h.slab_len = s->slab.len;
	h.rkey = c->dev->slab_mr->rkey;
	h.client_id = c->client_id;
	h.scratch_off = (uint64_t)(c->client_id % KV_SCRATCH_AREAS) * KV_SCRATCH_LEN;
	h.scratch_len = KV_SCRATCH_LEN;
	h.geo = s->geo;
	ret = kv__post_send(c, kv_hello_encode(c->buf, &h));
	if (ret) {
		kv__err("sending hello to %s: %s", host, strerror(-ret));
		rdma_disconnect(c->id);
		return;
	}
	kv__log(s, "client %u connected from %s (%" PRIu64 " connected)",
		c->client_id, host, s->nconns);
}

/* One switch over every CM event; the event is acked at the single exit. */
static void kv__on_cm_event(struct kv_server *s)
{
	struct rdma_cm_event *ev;
	struct kv_conn *gone = NULL;

	while (rdma_get_cm_event(s->ec, &ev) == 0) {
		struct kv_conn *c = ev->id->context;

		switch (ev->event) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			gone = kv__on_connect_request(s, ev);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			kv__on_established(s, c);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
			if (c && ev->id != s->listen_id) {
				kv__log(s, "client %u: %s", c->client_id,
					rdma_event_str(ev->event));
				gone = c;
			}
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			kv__err("RDMA device removed; shutting down");
			s->stop = true;
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_ADDR_CHANGE:
		default:
			break;
		}
		rdma_ack_cm_event(ev);
		/* rdma_destroy_id waits for the id's events to be acked. */
		if (gone) {
			kv__conn_destroy(gone);
			gone = NULL;
		}
		if (s->orphan) {
			rdma_destroy_id(s->orphan);
			s->orphan = NULL;
		}
	}
}

static void kv__send_stats(struct kv_server *s, struct kv_conn *c);

static void kv__on_request(struct kv_server *s, struct kv_conn *c,
			   const uint8_t *msg, size_t len)
{
	struct kv_msg_header hdr;
	int ret = kv_msg_get_header(msg, len, &hdr);

	if (!ret && hdr.type == KV_MSG_STATS_REQ && !hdr.payload_len && c->send_busy &&
	    !c->stats_pending) {
		/* Our last SEND's completion may trail the client's next request
		 * (nothing orders the two in the CQ): answer when it is done. */
		c->stats_pending = true;
		return;
	}
	if (ret || hdr.type != KV_MSG_STATS_REQ || hdr.payload_len || c->send_busy) {
		s->protocol_errors++;
		kv__err("client %u sent a bad control message (%zu bytes, %s); disconnecting it",
			c->client_id, len, ret ? "malformed" : kv_msg_type_name(hdr.type));
		rdma_disconnect(c->id);
		return;
	}
	kv__send_stats(s, c);
}

/* SEND the stats JSON to @c (its send buffer is free). */
static void kv__send_stats(struct kv_server *s, struct kv_conn *c)
{
	struct kv_server_stats st;
	char *json;
	size_t jlen;

	kv_server_get_stats(s, &st);
	json = kv_stats_to_json(&st);
	jlen = json ? strlen(json) : 0;
	if (jlen > KV_MSG_MAX - KV_MSG_HDR_LEN)
		jlen = 0;
	kv_msg_put_header(c->buf, KV_MSG_STATS_RESP, (uint32_t)jlen,
			  json && jlen ? 0 : ENOMEM);
	memcpy(c->buf + KV_MSG_HDR_LEN, json ? json : "", jlen);
	free(json);
	if (kv__post_send(c, KV_MSG_HDR_LEN + jlen))
		rdma_disconnect(c->id);
}

static void kv__on_completion(struct kv_server *s, struct kv_conn *c,
			      const struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			kv__log(s, "client %u: %s; disconnecting it", c->client_id,
				ibv_wc_status_str(wc->status));
			s->protocol_errors += wc->status == IBV_WC_LOC_LEN_ERR;
			rdma_disconnect(c->id); /* DISCONNECTED then frees it */
		}
		return;
	}
	if (wc->opcode == IBV_WC_SEND) {
		c->send_busy = false;
		if (c->stats_pending) {
			c->stats_pending = false;
			kv__send_stats(s, c);
		}
		return;
	}
	if (wc->opcode == IBV_WC_RECV && wc->wr_id >= 1 && wc->wr_id <= KV_RECV_DEPTH) {
		unsigned i = (unsigned)wc->wr_id - 1;

		kv__on_request(s, c, kv__recv_buf(c, i), wc->byte_len);
		if (kv__post_recv(c, i))
			rdma_disconnect(c->id);
	}
}

/* Get the CQ event, ack it, re-arm, then poll until empty. */
static void kv__on_cq_event(struct kv_server *s, struct kv__dev *d)
{
	struct ibv_cq *cq;
	void *ctx;

	while (ibv_get_cq_event(d->channel, &cq, &ctx) == 0) {
		struct kv_conn *c = ctx;
		struct ibv_wc wc[8];
		int n;

		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0)) {
			rdma_disconnect(c->id);
			continue;
		}
		while ((n = ibv_poll_cq(cq, 8, wc)) > 0)
			for (int i = 0; i < n; i++)
				kv__on_completion(s, c, &wc[i]);
	}
}

static void kv__print_stats(struct kv_server *s)
{
	struct kv_server_stats st;
	char *json;

	kv_server_get_stats(s, &st);
	json = kv_stats_to_json(&st);
	if (json) {
		printf("%s\n", json);
		fflush(stdout);
	}
	free(json);
}

static void kv__on_signal(struct kv_server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			kv__print_stats(s);
		} else {
			kv__log(s, "got %s; shutting down", strsignal((int)si.ssi_signo));
			s->stop = true;
		}
	}
}

/* ---- lifecycle ----------------------------------------------------------- */

static int kv__listen(struct kv_server *s)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	char port[8], host[NI_MAXHOST];
	int ret;

	snprintf(port, sizeof(port), "%u", s->opts.port);
	if (!s->opts.addr)
		hints.ai_family = AF_INET;
	ret = getaddrinfo(s->opts.addr, port, &hints, &res);
	if (ret) {
		kv__err("address %s: %s", s->opts.addr, gai_strerror(ret));
		return -EINVAL;
	}
	ret = rdma_bind_addr(s->listen_id, res->ai_addr);
	if (!ret)
		ret = rdma_listen(s->listen_id, 128);
	if (ret) {
		ret = -errno;
		kv__err("listening on %s:%s: %s", s->opts.addr ? s->opts.addr : "0.0.0.0",
			port, strerror(errno));
	}
	if (!ret && getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host),
				NULL, 0, NI_NUMERICHOST))
		snprintf(host, sizeof(host), "%s", s->opts.addr);
	freeaddrinfo(res);
	if (!ret)
		snprintf(s->where, sizeof(s->where), "%s:%s", host, port);
	return ret;
}

static int kv__signals(struct kv_server *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return -errno;
	return kv__epoll_add(s->epfd, s->sigfd, KV_EP_SIGNAL);
}

int kv_server_create(struct kv_server **out, const struct kv_server_opts *o)
{
	struct kv_server *s = calloc(1, sizeof(*s));
	char err[256];
	int ret;

	if (!s)
		return -ENOMEM;
	s->opts = *o;
	s->epfd = s->sigfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	ret = kv_slab_alloc(&s->slab, o->slab_size);
	if (ret) {
		kv__err("allocating a %" PRIu64 "-byte slab: %s", o->slab_size, strerror(-ret));
		goto fail;
	}
	ret = kv_geometry_layout(s->slab.len, o->max_key, o->max_value,
				 KV_DEFAULT_BUCKET_SLOTS, o->head_size, 0x6b7673746f7265ull /* "kvstore" */,
				 &s->geo, err, sizeof(err));
	if (ret) {
		kv__err("%s", err);
		goto fail;
	}
	s->release_buf = malloc(2 * (size_t)s->geo.rec_size);
	if (!s->release_buf) {
		ret = -ENOMEM;
		kv__err("out of memory");
		goto fail;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0 || (ret = kv__signals(s))) {
		ret = ret ? ret : -errno;
		kv__err("epoll/signalfd: %s", strerror(-ret));
		goto fail;
	}
	s->ec = rdma_create_event_channel();
	if (!s->ec) {
		ret = -errno;
		kv__err("rdma_create_event_channel: %s (is rdma_ucm loaded?)", strerror(errno));
		goto fail;
	}
	if ((ret = kv__epoll_add(s->epfd, s->ec->fd, KV_EP_CM)))
		goto fail;
	if (rdma_create_id(s->ec, &s->listen_id, NULL, RDMA_PS_TCP)) {
		ret = -errno;
		kv__err("rdma_create_id: %s", strerror(errno));
		goto fail;
	}
	/* Bind first: a specific address tells us which device to register on. */
	if ((ret = kv__listen(s)) == 0 && (ret = kv__devs_open(s)) == 0) {
		/* Only now, with the slab registered, can a client be served. */
		fprintf(stderr, "kvserver: listening on %s\n", s->where);
		*out = s;
		return 0;
	}
fail:
	kv_server_destroy(s);
	return ret;
}

int kv_server_run(struct kv_server *s)
{
	struct epoll_event evs[16];

	while (!s->stop) {
		int n = epoll_wait(s->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			kv__err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n && !s->stop; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == KV_EP_CM)
				kv__on_cm_event(s);
			else if (tag == KV_EP_SIGNAL)
				kv__on_signal(s);
			else if (tag - KV_EP_DEV < (uint64_t)s->ndevs)
				kv__on_cq_event(s, &s->devs[tag - KV_EP_DEV]);
		}
	}
	return 0;
}

void kv_server_destroy(struct kv_server *s)
{
	if (!s)
		return;
	while (s->conns) {
		if (s->conns->established)
			rdma_disconnect(s->conns->id);
		kv__conn_destroy(s->conns);
	}
	if (s->listen_id)
		rdma_destroy_id(s->listen_id);
	for (int i = 0; i < s->ndevs; i++)
		kv__dev_close(&s->devs[i]);
	free(s->devs);
	if (s->dev_list)
		rdma_free_devices(s->dev_list);
	if (s->ec)
		rdma_destroy_event_channel(s->ec);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	kv_slab_free(&s->slab);
	free(s->release_buf);
	free(s);
}

void kv_server_get_stats(struct kv_server *s, struct kv_server_stats *st)
{
	struct kv_slab_census census;
	struct timespec now;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &now);
	st->uptime_s = (double)(now.tv_sec - s->start.tv_sec) +
		       (double)(now.tv_nsec - s->start.tv_nsec) / 1e9;
	st->slab_bytes = s->slab.len;
	st->huge_pages = s->slab.huge_pages;
	st->geo = s->geo;
	if (s->slab.base && s->geo.nbuckets) {
		kv_slab_census(s->slab.base, &s->geo, &census);
		st->slots_total = kv_nslots(&s->geo);
		st->slots_used = census.used;
		st->slots_locked = census.locked;
	}
	st->clients_connected = s->nconns;
	st->connections_total = s->conns_total;
	st->locks_released = s->locks_released;
	st->protocol_errors = s->protocol_errors;
}
