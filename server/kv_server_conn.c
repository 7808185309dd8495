/*
 * kv_server_conn.c - kvserver's connections: accepting a client, its hello,
 * its control messages (stats, grants of data space and their seals), and its
 * end, whether it disconnects, fails, or is cut off by the sweep because it
 * held an insert claim, or left a write half done, past its lease.
 */
#include "kv_server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_index.h"

/* ---- client ids ---------------------------------------------------------- */

/*
 * The next id after the last one given whose claims the sweep has proven
 * gone: an id that may still name a claim in the slab is never handed out.
 */
static uint16_t kv__id_alloc(struct kv_server *s)
{
	for (uint32_t i = 0; i < KV_MAX_CLIENT_ID; i++) {
		uint16_t id = (uint16_t)((s->next_id + i) % KV_MAX_CLIENT_ID + 1);

		if (kv_sweep_id_free(&s->sweep, id)) {
			s->next_id = id;
			kv_sweep_owner_live(&s->sweep, id);
			return id;
		}
	}
	return 0;
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

	return -ibv_post_recv(c->qp, &wr, &bad);
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
	int ret = ibv_post_send(c->qp, &wr, &bad);

	if (!ret)
		c->send_busy = true;
	return -ret;
}

void kv__conn_destroy(struct kv_conn *c)
{
	struct kv_server *s = c->srv;

	/* The queue pair first: once it is gone nothing of this client lands
	 * in the slab, and the sweep may release what it holds (its claims, and
	 * its grants: sealed by kv_sweep_owner_gone). */
	if (c->qp)
		rdma_destroy_qp(c->id);
	c->qp = NULL;
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	free(c->buf);
	if (c->client_id && !c->fenced) { /* a cut one's id may be someone's now */
		kv_sweep_owner_gone(&s->sweep, c->client_id);
		kv__sweep_hurry(s);
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->established)
		s->nconns--;
	s->nlive--;
	rdma_destroy_id(c->id);
	free(c);
}

/*
 * Disconnect @c: its queue pair to the error state first (the queue pair
 * is ours, so rdma_cm does not do it), so that nothing more of it lands in
 * the slab, then the CM's disconnect. DISCONNECTED frees the rest.
 */
void kv__conn_disconnect(struct kv_conn *c)
{
	if (c->qp)
		ibv_modify_qp(c->qp, &(struct ibv_qp_attr){.qp_state = IBV_QPS_ERR},
			      IBV_QP_STATE);
	rdma_disconnect(c->id);
}

/*
 * Cut @c off the slab now: tell it, and destroy its queue pair, which waits
 * for the device to finish with it, so that nothing of it lands afterwards;
 * then the sweep may release what it held. The rest of the connection goes
 * when DISCONNECTED comes.
 */
static void kv__conn_cut(struct kv_conn *c)
{
	struct kv_server *s = c->srv;

	if (c->fenced)
		return;
	c->fenced = true;
	c->cut_ns = kv_now_ns();
	if (c->established) {
		kv__conn_disconnect(c);
		c->established = false;
		s->nconns--;
	}
	if (c->qp) {
		rdma_destroy_qp(c->id);
		c->qp = NULL;
	}
	if (c->client_id) {
		kv_sweep_owner_gone(&s->sweep, c->client_id);
		kv__sweep_hurry(s);
	}
}

void kv__conn_fence(void *server, uint16_t owner, enum kv_fence_why why)
{
	struct kv_server *s = server;
	struct kv_conn *c = s->conns;

	while (c && (c->client_id != owner || c->fenced))
		c = c->next;
	if (!c)
		return;
	kv__srv_err("client %u %s past its %u ms lease; cutting it off", owner,
		    why == KV_FENCE_WRITE ? "left a write half done (published, not committed)"
					  : "held an insert claim",
		    s->opts.lease_ms);
	kv__conn_cut(c);
}

/*
 * A peer can vanish without a word (its host dies, its link goes down) and
 * then no disconnect ever comes, since the server never sends it anything.
 * So every second each connection gets a zero-length RDMA WRITE, which
 * touches no memory (no rkey needed) but must be acknowledged: a peer that
 * is gone makes it fail after the queue pair's retries, and the connection
 * is cut. One work request a second per client is the whole cost.
 */
void kv__keepalive(struct kv_server *s, uint64_t now)
{
	for (struct kv_conn *c = s->conns, *next; c; c = next) {
		struct ibv_send_wr wr = {.wr_id = KV_WRID_KEEPALIVE, .opcode = IBV_WR_RDMA_WRITE,
					 .send_flags = IBV_SEND_SIGNALED};
		struct ibv_send_wr *bad;
		int ret;

		next = c->next;
		if (c->fenced && !c->authed && now - c->accepted_ns > KV_AUTH_DEADLINE_NS) {
			/* Never authenticated: it holds no id, no claim, no grant;
			 * free its place now, not when the CM says it is gone (a
			 * peer that ignores the disconnect would hold it a minute). */
			kv__conn_destroy(c);
			continue;
		}
		if (c->fenced && now - c->cut_ns > KV_CUT_REAP_NS) {
			/* Cut long ago and the CM never said it is gone (a peer
			 * that vanished): free what is left of it now. */
			kv__srv_log(s, "client %u: no disconnect %llu s after it was cut; freeing it",
				    c->client_id, KV_CUT_REAP_NS / 1000000000ull);
			kv__conn_destroy(c);
			continue;
		}
		if (!c->authed && !c->fenced && c->accepted_ns &&
		    now - c->accepted_ns > KV_AUTH_DEADLINE_NS) {
			s->auth_failures++;
			kv__srv_log(s, "a client from %s did not authenticate within %llu ms; "
				    "dropping it", c->host, KV_AUTH_DEADLINE_NS / 1000000ull);
			kv__conn_cut(c);
			continue;
		}
		if (c->ka_busy && !c->fenced && now - c->ka_last_ns > KV_KEEPALIVE_DEADLINE_NS &&
		    !c->dev->port_down) {
			/* The QP's own retries are the client's to set (a retry
			 * count of 7 never gives up on rxe): a deadline of ours. */
			kv__srv_log(s, "client %u: no keepalive answer in %llu s; disconnecting it",
				    c->client_id, KV_KEEPALIVE_DEADLINE_NS / 1000000000ull);
			kv__conn_cut(c);
			continue;
		}
		if (!c->established || c->fenced || c->ka_busy || c->dev->port_down ||
		    now - c->ka_last_ns < KV_KEEPALIVE_NS)
			continue;
		c->ka_last_ns = now;
		if ((ret = ibv_post_send(c->qp, &wr, &bad))) {
			kv__srv_log(s, "client %u: keepalive: %s; disconnecting it", c->client_id,
				    strerror(ret));
			kv__conn_cut(c);
			continue;
		}
		c->ka_busy = true;
	}
}

/* Resources for a new client: id, CQ, QP, buffers, posted receives. */
static int kv__conn_setup(struct kv_server *s, struct kv_conn *c)
{
	struct ibv_qp_init_attr qpa = {0};
	int ret;

	c->dev = kv__dev_of(s, c->id->verbs);
	if (!c->dev) {
		kv__srv_err("connection on a device the slab is not registered with");
		return -ENODEV;
	}
	if (!s->auth.n) { /* an open store: everyone is in at once */
		c->client_id = kv__id_alloc(s);
		if (!c->client_id) {
			kv__srv_err("all %u client ids in use or not yet swept", KV_MAX_CLIENT_ID);
			return -EMFILE;
		}
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
	qpa.cap.max_send_wr = 4; /* a SEND and a keepalive at most */
	qpa.cap.max_recv_wr = KV_RECV_DEPTH;
	qpa.cap.max_send_sge = 1;
	qpa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->dev->pd, &qpa))
		return -errno;
	c->qp = c->id->qp;
	for (unsigned i = 0; i < KV_RECV_DEPTH; i++)
		if ((ret = kv__post_recv(c, i)))
			return ret;
	return 0;
}

/* The remote rights a role gets on its queue pair. */
static int kv__role_access(uint8_t role)
{
	if (role == KV_ROLE_RO)
		return IBV_ACCESS_REMOTE_READ;
	return IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
}

/*
 * Set the remote rights of @c's queue pair (RTS to RTS). rdma_accept gives
 * a new queue pair READ, WRITE and ATOMIC (it takes the queue pair through
 * INIT itself, with the CM's rights, so they cannot be set before); with
 * users, the server takes them all away the moment rdma_accept returns and
 * gives back the role's after authentication. 0 or -errno.
 */
static int kv__qp_access(struct kv_conn *c, int access)
{
	return -ibv_modify_qp(c->qp, &(struct ibv_qp_attr){.qp_access_flags = (unsigned)access},
			      IBV_QP_ACCESS_FLAGS);
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
		kv__srv_err("refusing a client: out of memory");
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
	s->nlive++;
	c->accepted_ns = kv_now_ns();
	if (s->nlive > s->opts.max_clients) {
		kv__srv_err("refusing a client: %u connections already (--max-clients)",
			    s->opts.max_clients);
		rdma_reject(c->id, NULL, 0);
		return c;
	}
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
		/* Our SENDs and keepalives give up on a peer that is gone after
		 * 6 retries of 4.096 us * 2^14 = 67 ms each, not never (rxe
		 * takes a retry count of 7 to mean for ever). */
		if (rdma_set_option(c->id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT,
				    &(uint8_t){KV_ACK_TIMEOUT}, sizeof(uint8_t)))
			kv__srv_log(s, "setting the ACK timeout: %s", strerror(errno));
		param.retry_count = 6;
		if (rdma_accept(c->id, &param))
			ret = -errno;
		else if (s->auth.n && (ret = kv__qp_access(c, 0)))
			kv__srv_err("taking the rights of a new queue pair: %s", strerror(-ret));
	}
	if (ret) {
		kv__srv_err("refusing a client: %s", strerror(-ret));
		rdma_reject(c->id, NULL, 0);
		return c;
	}
	s->conns_total++;
	return NULL;
}

/* The hello for @c, now that it has an id. */
static void kv__hello_of(struct kv_server *s, struct kv_conn *c, struct kv_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->slab_addr = (uintptr_t)s->slab.base;
	h->slab_len = s->slab.len;
	h->rkey = c->role == KV_ROLE_RO ? c->dev->slab_mr_ro->rkey : c->dev->slab_mr->rkey;
	h->client_id = c->client_id;
	h->scratch_off = (uint64_t)(c->client_id % KV_SCRATCH_AREAS) * KV_SCRATCH_LEN;
	h->scratch_len = KV_SCRATCH_LEN;
	h->geo = s->geo;
	h->lease_ms = s->opts.lease_ms;
}

static void kv__on_established(struct kv_server *s, struct kv_conn *c)
{
	struct kv_hello h;
	struct sockaddr *peer = rdma_get_peer_addr(c->id);
	size_t len;
	int ret;

	if (c->fenced) { /* cut before it was established: its QP is gone */
		rdma_disconnect(c->id);
		return;
	}
	c->established = true;
	c->ka_last_ns = kv_now_ns();
	s->nconns++;
	snprintf(c->host, sizeof(c->host), "?");
	getnameinfo(peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in),
		    c->host, sizeof(c->host), NULL, 0, NI_NUMERICHOST);
	if (s->auth.n) {
		/* It learns nothing of the slab before it proves who it is. */
		if (kv_auth_random(c->snonce, sizeof(c->snonce))) {
			kv__srv_err("no random bytes for a challenge; dropping %s", c->host);
			kv__conn_disconnect(c);
			return;
		}
		len = kv_challenge_encode(c->buf, c->snonce);
	} else {
		c->authed = true;
		c->role = KV_ROLE_OPEN;
		kv__hello_of(s, c, &h);
		len = kv_hello_encode(c->buf, &h);
	}
	ret = kv__post_send(c, len);
	if (ret) {
		kv__srv_err("sending %s to %s: %s", s->auth.n ? "a challenge" : "hello", c->host,
			    strerror(-ret));
		kv__conn_disconnect(c);
		return;
	}
	if (!s->auth.n)
		kv__srv_log(s, "client %u connected from %s (%" PRIu64 " connected)",
			    c->client_id, c->host, s->nconns);
}

/* The client's queue pair number, as our queue pair knows it (0 if the
 * device will not say: the client's MAC then fails). */
static uint32_t kv__peer_qpn(struct kv_conn *c)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(c->qp, &a, IBV_QP_DEST_QPN, &ia))
		return 0;
	return a.dest_qp_num;
}

/* Refuse @c's authentication: say why, then disconnect (after the send). */
static void kv__auth_refuse(struct kv_server *s, struct kv_conn *c, const char *why,
			    const char *log_why)
{
	s->auth_failures++;
	kv__srv_log(s, "client from %s: authentication as '%s' refused: %s", c->host, c->user,
		    log_why);
	c->close_after_send = true;
	if (kv__post_send(c, kv_refusal_encode(c->buf, why)))
		kv__conn_disconnect(c);
}

/*
 * An AUTH from @c (its send buffer is free): check the MAC in constant
 * time; then an id, the role's rights on its queue pair, and the WELCOME
 * with the hello. The secret is never logged, and a refusal does not say
 * whether the user exists.
 */
static void kv__on_auth(struct kv_server *s, struct kv_conn *c, const uint8_t *msg,
			size_t len)
{
	const struct kv_auth_user *u;
	uint8_t cnonce[KV_AUTH_NONCE], mac[KV_AUTH_MAC], want[KV_AUTH_MAC];
	uint8_t payload[KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN];
	struct kv_hello h;
	size_t nlen = 0;
	uint32_t peer;
	int ret;

	if (kv_auth_decode(msg, len, cnonce, mac, c->user, &nlen) ||
	    !kv_auth_name_ok(c->user, nlen)) {
		s->protocol_errors++;
		snprintf(c->user, sizeof(c->user), "?");
		kv__auth_refuse(s, c, "malformed authentication", "malformed message");
		return;
	}
	u = kv_auth_find(&s->auth, c->user, nlen);
	peer = kv__peer_qpn(c);
	/* An unknown user costs the same MAC as a known one. A MAC that could
	 * not be computed refuses (never compared). */
	ret = kv_auth_client_mac(u ? u->secret : (const uint8_t *)"unknown user....",
				 u ? u->secret_len : 16, c->snonce, cnonce, peer, c->qp->qp_num,
				 c->user, nlen, want);
	if (ret) {
		kv__srv_err("computing a MAC: libcrypto failed; refusing %s", c->host);
		kv__auth_refuse(s, c, "the server could not check the answer", "libcrypto failed");
		return;
	}
	if (!kv_auth_mac_eq(mac, want) || !u) {
		kv__auth_refuse(s, c, "unknown user or wrong secret",
				u ? "wrong secret" : "unknown user");
		return;
	}
	c->client_id = kv__id_alloc(s);
	if (!c->client_id) {
		kv__srv_err("all %u client ids in use or not yet swept", KV_MAX_CLIENT_ID);
		kv__auth_refuse(s, c, "the server has no free client id; try later",
				"no free client id");
		return;
	}
	c->role = (uint8_t)u->role;
	ret = kv__qp_access(c, kv__role_access(c->role));
	if (ret) {
		kv__srv_err("client %u: giving its queue pair %s rights: %s", c->client_id,
			    c->role == KV_ROLE_RO ? "read" : "read-write", strerror(-ret));
		kv__conn_disconnect(c);
		return;
	}
	c->authed = true;
	kv__hello_of(s, c, &h);
	kv_hello_encode(payload, &h);
	if (kv_auth_server_mac(u->secret, u->secret_len, c->snonce, cnonce, peer, c->qp->qp_num,
			       c->role, payload + KV_MSG_HDR_LEN, mac) ||
	    kv__post_send(c, kv_welcome_encode(c->buf, c->role, mac, &h))) {
		kv__conn_disconnect(c);
		return;
	}
	kv__srv_log(s, "client %u connected from %s as %s (%s; %" PRIu64 " connected)",
		    c->client_id, c->host, c->user, c->role == KV_ROLE_RO ? "ro" : "rw",
		    s->nconns);
}

/* One switch over every CM event; the event is acked at the single exit. */
void kv__on_cm_event(struct kv_server *s)
{
	struct rdma_cm_event *ev;
	struct kv_conn *gone = NULL;
	bool relisten = false;

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
				kv__srv_log(s, "client %u: %s", c->client_id,
					rdma_event_str(ev->event));
				gone = c;
			}
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			kv__srv_err("RDMA device removed; shutting down");
			s->stop = true;
			break;
		case RDMA_CM_EVENT_ADDR_CHANGE:
			kv__srv_log(s, "%s: %s", ev->id == s->listen_id ? "listener" : "a client",
				    rdma_event_str(ev->event));
			relisten = relisten || ev->id == s->listen_id;
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		default:
			break;
		}
		rdma_ack_cm_event(ev);
		if (relisten) { /* once its event is acked */
			kv__relisten(s);
			relisten = false;
		}
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
static void kv__send_grant(struct kv_server *s, struct kv_conn *c, uint64_t need);

/* Answer request @type (its send buffer is free). */
static void kv__answer(struct kv_server *s, struct kv_conn *c, uint16_t type, uint64_t need)
{
	if (type == KV_MSG_AUTH)
		kv__on_auth(s, c, c->auth_msg, c->auth_len);
	else if (type == KV_MSG_GRANT_REQ)
		kv__send_grant(s, c, need);
	else
		kv__send_stats(s, c);
}

/* A seal: the client will publish nothing more in that grant. No reply. */
static void kv__on_seal(struct kv_server *s, struct kv_conn *c, uint64_t off, uint64_t len)
{
	struct kv_extent ext = {off, len};
	int ret = -EINVAL;

	if (c->established && c->client_id)
		ret = kv_sweep_seal(&s->sweep, c->client_id, &ext);
	if (!ret)
		return;
	/* Nothing changed; a client that seals what it was not granted is
	 * broken or hostile: drop it (its grants then go back). */
	s->protocol_errors++;
	kv__srv_err("client %u sealed %" PRIu64 " bytes at %" PRIu64 ", which it was not "
		    "granted (%s); disconnecting it", c->client_id, len, off, strerror(-ret));
	kv__conn_disconnect(c);
}

static void kv__on_request(struct kv_server *s, struct kv_conn *c,
			   const uint8_t *msg, size_t len)
{
	struct kv_msg_header hdr = {0};
	uint64_t a = 0, b = 0;
	int ret;

	if (!c->authed) {
		/* Before it has proven who it is, a client may say one thing. */
		if (!c->established || c->pending || c->close_after_send ||
		    kv_msg_get_header(msg, len, &hdr) || hdr.type != KV_MSG_AUTH ||
		    len > sizeof(c->auth_msg)) {
			s->protocol_errors++;
			s->auth_failures++;
			kv__srv_log(s, "a client from %s sent %s before authenticating; "
				    "disconnecting it", c->host, kv_msg_type_name(hdr.type));
			kv__conn_disconnect(c);
			return;
		}
		memcpy(c->auth_msg, msg, len);
		c->auth_len = len;
		if (c->send_busy) /* the challenge's completion is still to come */
			c->pending = KV_MSG_AUTH;
		else
			kv__on_auth(s, c, c->auth_msg, c->auth_len);
		return;
	}
	ret = kv_request_decode(msg, len, &hdr, &a, &b);
	if (!ret && hdr.type == KV_MSG_SEAL) {
		kv__on_seal(s, c, a, b);
		return;
	}
	if (!ret && hdr.type == KV_MSG_GRANT_REQ && b == 0 && c->established && c->client_id)
		kv_sweep_grant_fresh(&s->sweep, c->client_id); /* asking anew */
	if (!ret && c->send_busy && !c->pending) {
		/* Our last SEND's completion may trail the client's next request
		 * (nothing orders the two in the CQ): answer when it is done. */
		c->pending = hdr.type;
		c->pending_need = a;
		return;
	}
	if (ret || c->send_busy) {
		s->protocol_errors++;
		kv__srv_err("client %u sent a bad control message (%zu bytes, %s); disconnecting it",
			c->client_id, len, ret ? "malformed" : kv_msg_type_name(hdr.type));
		kv__conn_disconnect(c);
		return;
	}
	kv__answer(s, c, hdr.type, a);
}

/*
 * SEND @c a grant of at least @need bytes of the data region (its send buffer
 * is free): status 0 and the extent, or the positive errno of the refusal,
 * 0 and the longest free run. Only a client past its hello, with a live id,
 * gets space.
 */
static void kv__send_grant(struct kv_server *s, struct kv_conn *c, uint64_t need)
{
	struct kv_extent ext = {0, 0};
	uint64_t largest = 0;
	int ret = -EINVAL;

	if (c->role == KV_ROLE_RO)
		ret = -EPERM; /* it could not write in it anyway */
	else if (c->established && c->client_id)
		ret = kv_sweep_grant(&s->sweep, c->client_id, need, &ext, &largest);
	else
		s->protocol_errors++;
	if (kv__post_send(c, ret ? kv_extent_encode(c->buf, KV_MSG_GRANT, (uint32_t)-ret, 0,
						     largest)
				 : kv_extent_encode(c->buf, KV_MSG_GRANT, 0, ext.off, ext.len)))
		kv__conn_disconnect(c); /* a grant made is sealed when it is gone */
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
		kv__conn_disconnect(c);
}

static void kv__on_completion(struct kv_server *s, struct kv_conn *c,
			      const struct ibv_wc *wc)
{
	if (c->fenced) /* its queue pair is gone; DISCONNECTED frees the rest */
		return;
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			kv__srv_log(s, "client %u: %s%s; disconnecting it", c->client_id,
				    wc->wr_id == KV_WRID_KEEPALIVE ? "keepalive: " : "",
				    ibv_wc_status_str(wc->status));
			s->protocol_errors += wc->status == IBV_WC_LOC_LEN_ERR;
			kv__conn_cut(c); /* DISCONNECTED then frees it */
		}
		return;
	}
	if (wc->wr_id == KV_WRID_KEEPALIVE) {
		c->ka_busy = false;
		return;
	}
	if (wc->opcode == IBV_WC_SEND) {
		c->send_busy = false;
		if (c->close_after_send) { /* the refusal is delivered */
			kv__conn_disconnect(c);
			return;
		}
		if (c->pending) {
			uint16_t type = c->pending;

			c->pending = 0;
			kv__answer(s, c, type, c->pending_need);
		}
		return;
	}
	if (wc->opcode == IBV_WC_RECV && wc->wr_id >= 1 && wc->wr_id <= KV_RECV_DEPTH) {
		unsigned i = (unsigned)wc->wr_id - 1;

		kv__on_request(s, c, kv__recv_buf(c, i), wc->byte_len);
		if (kv__post_recv(c, i))
			kv__conn_disconnect(c);
	}
}

/* Get the CQ event, ack it, re-arm, then poll until empty. */
void kv__on_cq_event(struct kv_server *s, struct kv__dev *d)
{
	struct ibv_cq *cq;
	void *ctx;

	while (ibv_get_cq_event(d->channel, &cq, &ctx) == 0) {
		struct kv_conn *c = ctx;
		struct ibv_wc wc[8];
		int n;

		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0)) {
			kv__conn_disconnect(c);
			continue;
		}
		while ((n = ibv_poll_cq(cq, 8, wc)) > 0)
			for (int i = 0; i < n; i++)
				kv__on_completion(s, c, &wc[i]);
	}
}

