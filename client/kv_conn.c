/* kv_conn.c - the client's connection: rdma_cm setup, hello, control messages. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kv_client_int.h"
#include "kv_debug.h"
#include "kv_auth.h"

#include <openssl/crypto.h>

#define KV__ALIGN(x) (((x) + 63) & ~(size_t)63)

void kv__seterr(kv_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static int kv__post_recv(kv_client *c)
{
	struct ibv_sge sge = {(uintptr_t)c->msg_recv, KV_MSG_MAX, c->mr_msg_lkey};
	struct ibv_recv_wr wr = {.wr_id = 1, .sg_list = &sge, .num_sge = 1}, *bad;

	return -ibv_post_recv(c->id->qp, &wr, &bad);
}

/* Wait for the posted receive; returns its length or a negative errno. */
static int kv__wait_recv(kv_client *c)
{
	struct ibv_wc wc = {0};
	int ret = kv__poll(c, c->recv_cq, 1, &wc);

	return ret ? ret : (int)wc.byte_len;
}

static int kv__send_msg(kv_client *c, size_t len)
{
	struct ibv_sge sge = {(uintptr_t)c->msg_send, (uint32_t)len, c->mr_msg_lkey};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED}, *bad;
	int ret = ibv_post_send(c->id->qp, &wr, &bad);

	return ret ? -ret : kv__poll(c, c->send_cq, 1, NULL);
}

/* ---- rdma_cm ------------------------------------------------------------- */

/* Wait for @want on the CM channel; any other event is a named failure. */
static int kv__wait_cm(kv_client *c, enum rdma_cm_event_type want, const char *where)
{
	struct pollfd pfd = {.fd = c->ec->fd, .events = POLLIN};
	struct rdma_cm_event *ev;
	int ret;

	ret = poll(&pfd, 1, (int)c->step_ms);
	if (ret == 0) {
		kv__seterr(c, "%s: no %s within %u ms", where, rdma_event_str(want),
			   c->step_ms);
		return -ETIMEDOUT;
	}
	if (ret < 0 || rdma_get_cm_event(c->ec, &ev)) {
		kv__seterr(c, "%s: %s", where, strerror(errno));
		return -errno;
	}
	if (ev->event == want) {
		ret = 0;
	} else if (ev->event == RDMA_CM_EVENT_REJECTED) {
		/* IB CM reason 8 is "invalid service id": nobody listens there. */
		kv__seterr(c, "%s: connection refused: %s (RDMA_CM_EVENT_REJECTED, reason %d)",
			   where, ev->status == 8 ? "no kvserver listening on that port"
						  : "the server refused it", ev->status);
		ret = -ECONNREFUSED;
	} else {
		kv__seterr(c, "%s: %s (status %d%s%s)", where, rdma_event_str(ev->event),
			   ev->status, ev->status < 0 ? ": " : "",
			   ev->status < 0 ? strerror(-ev->status) : "");
		ret = ev->event == RDMA_CM_EVENT_ADDR_ERROR ||
		      ev->event == RDMA_CM_EVENT_ROUTE_ERROR ||
		      ev->event == RDMA_CM_EVENT_UNREACHABLE ? -EHOSTUNREACH : -ECONNABORTED;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

static int kv__setup_qp(kv_client *c)
{
	struct ibv_qp_init_attr qpa = {0};
	size_t msg_len = 4 * KV_MSG_MAX;

	c->pd = ibv_alloc_pd(c->id->verbs);
	if (!c->pd)
		return -errno;
	c->send_cq = ibv_create_cq(c->id->verbs, KV__MAX_WR + 2, NULL, NULL, 0);
	c->recv_cq = ibv_create_cq(c->id->verbs, 2, NULL, NULL, 0);
	if (!c->send_cq || !c->recv_cq)
		return -errno;
	qpa.send_cq = c->send_cq;
	qpa.recv_cq = c->recv_cq;
	qpa.qp_type = IBV_QPT_RC;
	qpa.cap.max_send_wr = KV__MAX_WR + 2;
	qpa.cap.max_recv_wr = 2;
	qpa.cap.max_send_sge = 1;
	qpa.cap.max_recv_sge = 1;
	qpa.cap.max_inline_data = 256;
	if (rdma_create_qp(c->id, c->pd, &qpa)) {
		qpa.cap.max_inline_data = 0; /* a device without inline data */
		if (rdma_create_qp(c->id, c->pd, &qpa))
			return -errno;
	}
	c->max_inline = qpa.cap.max_inline_data; /* what the device granted */
	c->msgbuf = aligned_alloc(4096, msg_len);
	if (!c->msgbuf)
		return -ENOMEM;
	memset(c->msgbuf, 0, msg_len);
	c->mr_msg = ibv_reg_mr(c->pd, c->msgbuf, msg_len, IBV_ACCESS_LOCAL_WRITE);
	if (!c->mr_msg)
		return -errno;
	c->mr_msg_lkey = c->mr_msg->lkey;
	c->msg_send = c->msgbuf;
	c->msg_recv = c->msgbuf + KV_MSG_MAX;
	return kv__post_recv(c);
}

int kv__buffers_alloc(kv_client *c)
{
	const struct kv_geometry *g = &c->hello.geo;
	uint64_t gmax = kv_block_granules(g->max_key, g->max_value);
	size_t wblk = (size_t)gmax * KV_GRANULE;
	size_t off = 0, len;

	/* A READ fetches what the word's coded length says, up to 1/32 more
	 * than the block. */
	c->rblk_len = (size_t)kv_len_decode(kv_len_code(gmax)) * KV_GRANULE;
	/* A kv_get_multi() key gets a word and a block of up to 4 KiB. */
	c->multi_stride = KV__ALIGN(c->rblk_len < 4096 ? c->rblk_len : 4096);
	len = KV__ALIGN(KV_BUCKET_BYTES * 2) + 64 + KV__ALIGN(c->rblk_len) + KV__ALIGN(wblk) +
	      (size_t)c->depth * (c->multi_stride + KV_BUCKET_BYTES) + 2 * KV_SCRATCH_LEN;
	c->buf = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
	if (!c->buf)
		return -ENOMEM;
	memset(c->buf, 0, len);
	c->buf_len = len;
#define KV__CARVE(ptr, type, n) (ptr = (type)(void *)(c->buf + off), off += KV__ALIGN(n))
	KV__CARVE(c->ws.words, uint64_t *, KV_BUCKET_BYTES * 2);
	KV__CARVE(c->ws.word, uint64_t *, 64);
	KV__CARVE(c->ws.rblk, uint8_t *, c->rblk_len);
	KV__CARVE(c->ws.wblk, uint8_t *, wblk);
	KV__CARVE(c->multi, uint8_t *, (size_t)c->depth * (c->multi_stride + KV_BUCKET_BYTES));
	KV__CARVE(c->demo_src, uint8_t *, KV_SCRATCH_LEN);
	KV__CARVE(c->demo_dst, uint8_t *, KV_SCRATCH_LEN);
#undef KV__CARVE
	if (!c->ncache) {
		c->ncache = KV__CACHE_ENTRIES;
		c->cache = calloc(c->ncache, sizeof(*c->cache));
		if (!c->cache)
			c->ncache = 0;
	}
	return 0;
}

/* Carve the operation buffer once the geometry is known, and register it. */
static int kv__setup_buffers(kv_client *c)
{
	int ret = kv__buffers_alloc(c);

	if (ret)
		return ret;
	c->mr = ibv_reg_mr(c->pd, c->buf, c->buf_len, IBV_ACCESS_LOCAL_WRITE);
	return c->mr ? 0 : -errno;
}

kv_client *kv__client_on_wire(const struct kv_hello *h, const struct kv_wire *wire,
			      uint64_t rng_seed)
{
	kv_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->hello = *h;
	c->depth = 1;
	c->timeout_ms = c->step_ms = 5000;
	c->wire = *wire;
	c->reconnect = wire->ops->reconnect != NULL;
	c->rng = kv_rand_seed(rng_seed);
	if (kv__buffers_alloc(c)) {
		free(c);
		return NULL;
	}
	return c;
}

static unsigned kv__stall_auth_ms, *kv__stall_dropped_ms;

void kv_debug_stall_auth(unsigned ms, unsigned *dropped_ms)
{
	kv__stall_auth_ms = ms;
	kv__stall_dropped_ms = dropped_ms;
}

/* kv_debug_stall_auth(): wait at the challenge for a disconnect. */
static int kv__stall_at_challenge(kv_client *c, const char *where)
{
	uint64_t t0 = kv_now_ns();
	struct pollfd pfd = {.fd = c->ec->fd, .events = POLLIN};
	struct rdma_cm_event *ev;

	if (poll(&pfd, 1, (int)kv__stall_auth_ms) > 0 && !rdma_get_cm_event(c->ec, &ev)) {
		unsigned ms = (unsigned)((kv_now_ns() - t0) / 1000000);

		kv__seterr(c, "%s: dropped by the server after %u ms at its challenge (%s)",
			   where, ms, rdma_event_str(ev->event));
		rdma_ack_cm_event(ev);
		if (kv__stall_dropped_ms)
			*kv__stall_dropped_ms = ms;
		return -ECONNRESET;
	}
	kv__seterr(c, "%s: still connected after %u ms at the challenge", where,
		   kv__stall_auth_ms);
	return -ETIMEDOUT;
}

/*
 * The server asked who we are (a CHALLENGE of @len bytes in msg_recv):
 * answer with our name, a nonce and the MAC, and take the WELCOME: its
 * MAC proves the server holds our secret too, and it carries the hello.
 * 0, -EACCES (not authorized, the reason in c->err) or another error.
 */
static int kv__authenticate(kv_client *c, size_t len, const char *where)
{
	uint8_t snonce[KV_AUTH_NONCE], cnonce[KV_AUTH_NONCE], mac[KV_AUTH_MAC],
		want[KV_AUTH_MAC], role = 0;
	const uint8_t *payload;
	char reason[KV_AUTH_REASON_MAX + 1], err[200];
	uint32_t sqpn;
	int ret;

	if (kv_challenge_decode(c->msg_recv, len, snonce)) {
		kv__seterr(c, "%s: malformed challenge (%zu bytes)", where, len);
		return -EPROTO;
	}
	if (kv__stall_auth_ms)
		return kv__stall_at_challenge(c, where);
	if (!c->user[0]) {
		kv__seterr(c, "%s: not authorized: the server requires a user; set KV_USER and "
			   "KV_SECRET, or give --user and --secret-file", where);
		return -EACCES;
	}
	if (kv_auth_random(cnonce, sizeof(cnonce))) {
		kv__seterr(c, "%s: no random bytes for the handshake", where);
		return -EIO;
	}
	{
		struct ibv_qp_attr a;
		struct ibv_qp_init_attr ia;

		/* The server's queue pair, as ours knows it: both go into the MACs. */
		if (ibv_query_qp(c->id->qp, &a, IBV_QP_DEST_QPN, &ia)) {
			kv__seterr(c, "%s: ibv_query_qp: %s", where, strerror(errno));
			return -EIO;
		}
		sqpn = a.dest_qp_num;
	}
	if (kv_auth_client_mac(c->secret, c->secret_len, snonce, cnonce, c->id->qp->qp_num, sqpn,
			       c->user, strlen(c->user), mac)) {
		kv__seterr(c, "%s: computing the MAC: libcrypto failed", where);
		return -EIO;
	}
	if ((ret = kv__post_recv(c)) ||
	    (ret = kv__send_msg(c, kv_auth_encode(c->msg_send, cnonce, mac, c->user,
						   strlen(c->user))))) {
		kv__seterr(c, "%s: sending the authentication: %s", where, strerror(-ret));
		return ret;
	}
	ret = kv__wait_recv(c);
	if (ret < 0) {
		kv__seterr(c, "%s: user %s: no answer to the authentication: %s", where, c->user,
			   strerror(-ret));
		return ret;
	}
	ret = kv_welcome_decode(c->msg_recv, (size_t)ret, &role, mac, &c->hello, &payload, reason,
				sizeof(reason), err, sizeof(err));
	if (ret == -EACCES) {
		kv__seterr(c, "%s: not authorized: user %s: %s", where, c->user, reason);
		return -EACCES;
	}
	if (ret) {
		kv__seterr(c, "%s: %s", where, err);
		return -EPROTO;
	}
	if (kv_auth_server_mac(c->secret, c->secret_len, snonce, cnonce, c->id->qp->qp_num, sqpn,
			       role, payload, want) ||
	    !kv_auth_mac_eq(mac, want)) {
		kv__seterr(c, "%s: not authorized: the server did not prove it knows user %s's "
			   "secret (not the server you meant?)", where, c->user);
		return -EACCES;
	}
	c->role = role;
	return 0;
}

/* Take the user and secret from @opts, else from KV_USER and KV_SECRET. */
static int kv__credentials(kv_client *c, const struct kv_connect_opts *opts)
{
	const char *user = opts ? opts->user : NULL;
	const void *secret = opts ? opts->secret : NULL;
	size_t slen = opts ? opts->secret_len : 0;
	char buf[KV_AUTH_SECRET_MAX + 2];

	if (!user) {
		user = getenv("KV_USER");
		secret = getenv("KV_SECRET");
		slen = secret ? strlen(secret) : 0;
		if (!user || !*user)
			return 0; /* none: fine for an open server */
	} else if (opts->secret_file) {
		/* read(2) into our own buffer, wiped after: no stdio buffer
		 * holding the file (and more than its first line) in freed memory. */
		int fd = open(opts->secret_file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		ssize_t n;

		if (fd < 0 || fstat(fd, &st)) {
			kv__seterr(c, "secret file %s: %s", opts->secret_file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -EINVAL;
		}
		if (st.st_mode & (S_IRWXG | S_IRWXO)) {
			close(fd);
			kv__seterr(c, "secret file %s: group or others may access it (mode %04o); "
				   "chmod 600 it", opts->secret_file, (unsigned)(st.st_mode & 07777));
			return -EINVAL;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0) {
			kv__seterr(c, "secret file %s: %s", opts->secret_file, strerror(errno));
			return -EINVAL;
		}
		buf[n] = '\0';
		slen = strcspn(buf, "\r\n"); /* its first line */
		secret = buf;
	}
	if (!kv_auth_name_ok(user, strlen(user))) {
		kv__seterr(c, "user name '%.64s' is not 1..%d of A-Z a-z 0-9 _ . @ -", user,
			   KV_AUTH_NAME_MAX);
		return -EINVAL;
	}
	if (!secret || slen == 0 || slen > KV_AUTH_SECRET_MAX) {
		kv__seterr(c, "user %s: no secret (KV_SECRET or a secret file), or one over %d "
			   "bytes", user, KV_AUTH_SECRET_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -EINVAL;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	memcpy(c->secret, secret, slen);
	c->secret_len = slen;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int kv__handshake(kv_client *c, const char *where)
{
	struct ibv_device_attr attr;
	struct rdma_conn_param param = {0};
	char err[200];
	int ret;

	if ((ret = kv__setup_qp(c))) {
		kv__seterr(c, "%s: setting up the queue pair: %s", where, strerror(-ret));
		return ret;
	}
	param.initiator_depth = 16;
	if (!ibv_query_device(c->id->verbs, &attr) &&
	    attr.max_qp_init_rd_atom < param.initiator_depth)
		param.initiator_depth = (uint8_t)attr.max_qp_init_rd_atom;
	param.responder_resources = 0;
	param.retry_count = 6; /* 7 means retry for ever on rxe */
	param.rnr_retry_count = 7;
	if (rdma_connect(c->id, &param)) {
		kv__seterr(c, "%s: rdma_connect: %s", where, strerror(errno));
		return -errno;
	}
	if ((ret = kv__wait_cm(c, RDMA_CM_EVENT_ESTABLISHED, where)))
		return ret;
	c->connected = true;
	ret = kv__wait_recv(c);
	if (ret < 0) {
		kv__seterr(c, "%s: waiting for the server's hello: %s", where, strerror(-ret));
		return ret;
	}
	c->role = KV_ROLE_OPEN;
	if ((size_t)ret >= KV_MSG_HDR_LEN && c->msg_recv[6] == 0 &&
	    c->msg_recv[7] == KV_MSG_CHALLENGE) {
		if ((ret = kv__authenticate(c, (size_t)ret, where)))
			return ret;
	} else if (kv_hello_decode(c->msg_recv, (size_t)ret, &c->hello, err, sizeof(err))) {
		kv__seterr(c, "%s: %s", where, err);
		return -EPROTO;
	} else if (c->user[0]) {
		/* Credentials were given: a server that does not ask for them
		 * cannot prove it is the one that holds them. */
		kv__seterr(c, "%s: not authorized: the server did not ask user %s to "
			   "authenticate (an open store, or not the server you meant); unset "
			   "KV_USER or drop --user to use an open store", where, c->user);
		return -EACCES;
	}
	if ((ret = kv__setup_buffers(c))) {
		kv__seterr(c, "%s: registering buffers: %s", where, strerror(-ret));
		return ret;
	}
	c->debug = getenv("KV_DEBUG") != NULL;
	c->rng = kv_rand_seed(kv_now_ns() ^ ((uint64_t)getpid() << 16) ^ c->hello.client_id);
	c->wire = (struct kv_wire){.ops = &kv__verbs_wire, .ctx = c};
	return 0;
}

/* Resolve, connect and take the hello, on a client whose verbs resources
 * are all unset (new, or after kv__teardown). 0 or a negative errno, with
 * the reason in c->err. */
static int kv__open(kv_client *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	const char *where = c->where;
	int ret;

	ret = getaddrinfo(c->addr, c->port, &hints, &res);
	if (ret) {
		kv__seterr(c, "%s: cannot resolve: %s", where, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	c->ec = rdma_create_event_channel();
	if (!c->ec) {
		ret = -errno;
		kv__seterr(c, "%s: cannot open the RDMA CM (%s; is rdma_ucm loaded?)",
			   where, strerror(errno));
		goto out;
	}
	if (fcntl(c->ec->fd, F_SETFL, fcntl(c->ec->fd, F_GETFL) | O_NONBLOCK) ||
	    rdma_create_id(c->ec, &c->id, c, RDMA_PS_TCP)) {
		ret = -errno;
		kv__seterr(c, "%s: rdma_create_id: %s", where, strerror(errno));
		goto out;
	}
	if (rdma_resolve_addr(c->id, NULL, res->ai_addr, (int)c->step_ms)) {
		ret = -errno;
		kv__seterr(c, "%s: rdma_resolve_addr: %s (no RDMA device on a route there?)",
			   where, strerror(errno));
		goto out;
	}
	if ((ret = kv__wait_cm(c, RDMA_CM_EVENT_ADDR_RESOLVED, where)))
		goto out;
	if (rdma_resolve_route(c->id, (int)c->step_ms)) {
		ret = -errno;
		kv__seterr(c, "%s: rdma_resolve_route: %s", where, strerror(errno));
		goto out;
	}
	if ((ret = kv__wait_cm(c, RDMA_CM_EVENT_ROUTE_RESOLVED, where)))
		goto out;
	ret = kv__handshake(c, where);
out:
	freeaddrinfo(res);
	return ret;
}

/* Free every verbs resource and the buffers registered with them; the
 * client itself, its cache and its counters stay. */
static void kv__teardown(kv_client *c)
{
	if (c->connected)
		rdma_disconnect(c->id);
	c->connected = false;
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->mr_msg)
		ibv_dereg_mr(c->mr_msg);
	if (c->send_cq)
		ibv_destroy_cq(c->send_cq);
	if (c->recv_cq)
		ibv_destroy_cq(c->recv_cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ec)
		rdma_destroy_event_channel(c->ec);
	c->mr = c->mr_msg = NULL;
	c->send_cq = c->recv_cq = NULL;
	c->pd = NULL;
	c->id = NULL;
	c->ec = NULL;
	free(c->buf);
	free(c->msgbuf);
	c->buf = c->msgbuf = NULL;
	c->recv_posted = false;
}

int kv_connect(kv_client **out, const char *addr, const char *port,
	       const struct kv_connect_opts *opts, char *err, size_t errlen)
{
	char dflt_port[8];
	kv_client *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (!port) { /* the default's one home is kv_proto.h */
		snprintf(dflt_port, sizeof(dflt_port), "%u", KV_DEFAULT_PORT);
		port = dflt_port;
	}
	snprintf(c->where, sizeof(c->where), "%s%s%s:%s", strchr(addr, ':') ? "[" : "", addr,
		 strchr(addr, ':') ? "]" : "", port);
	c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 5000;
	c->step_ms = c->timeout_ms;
	c->depth = opts && opts->depth ? opts->depth : 1;
	c->time_waits = opts && opts->time_waits;
	c->reconnect = !(opts && opts->no_reconnect);
	c->reconnect_ms = opts && opts->reconnect_ms ? opts->reconnect_ms : c->timeout_ms;
	if (c->depth > KV_MAX_DEPTH)
		c->depth = KV_MAX_DEPTH;
	if ((ret = kv__credentials(c, opts)))
		goto fail;
	c->addr = strdup(addr);
	c->port = strdup(port);
	if (!c->addr || !c->port) {
		ret = -ENOMEM;
		kv__seterr(c, "%s: out of memory", c->where);
		goto fail;
	}
	if ((ret = kv__open(c)))
		goto fail;
	*out = c;
	return 0;

fail:
	if (err)
		snprintf(err, errlen, "%s", c->err);
	kv_close(c);
	return ret;
}

static int kv__reconnected(kv_client *c, uint64_t seed);

/*
 * Connect again after the connection broke: the server restarted (a new
 * address, rkey and client id in its hello) or dropped us. Whatever this
 * client held belongs to the old connection: its grant (the server sealed
 * it, or a restarted server rebuilt its allocator without it) and any claim
 * (leases and recovery clear them). The words it cached may be stale; a
 * warm GET would catch that, but a restart is rare enough to start cold.
 */
static int kv__reconnect(kv_client *c)
{
	uint64_t start = kv_now_ns() / 1000000, now = start;
	uint64_t seed = c->hello.geo.hash_seed; /* which store we were on */
	unsigned pause = 10;
	char err[sizeof(c->err)];
	int ret;

	for (;;) {
		uint64_t left = now - start < c->reconnect_ms ? c->reconnect_ms - (now - start) : 1;

		kv__teardown(c);
		c->step_ms = left < c->timeout_ms ? (unsigned)left : c->timeout_ms;
		ret = kv__open(c);
		if (!ret)
			break;
		now = kv_now_ns() / 1000000;
		if (now - start + pause >= c->reconnect_ms)
			break;
		usleep(pause * 1000u);
		pause = pause * 2 < 500 ? pause * 2 : 500;
		now = kv_now_ns() / 1000000;
	}
	c->step_ms = c->timeout_ms;
	if (ret) {
		/* Keep the cause; say that it was a reconnect that failed. */
		snprintf(err, sizeof(err), "%s", c->err);
		kv__seterr(c, "reconnecting for %llu ms: %s",
			   (unsigned long long)(kv_now_ns() / 1000000 - start), err);
		kv__teardown(c);
		return ret;
	}
	return kv__reconnected(c, seed);
}

/* A new connection is up, with c->hello the new server's: drop what belonged
 * to the old one. -ESTALE (once) when it serves another store. */
static int kv__reconnected(kv_client *c, uint64_t seed)
{
	c->broken = false;
	c->small = (struct kv__grant){0};
	if (c->cache)
		memset(c->cache, 0, (size_t)c->ncache * sizeof(*c->cache));
	c->cnt.reconnects++;
	if (seed && c->hello.geo.hash_seed != seed) {
		/* Not the store we were on (restarted without its file, or on
		 * another): say so once; the calls after this one use it. */
		kv__seterr(c, "%s: the server came back with another store (not the one this "
			   "client was using): what was written before may be gone", c->where);
		return -ESTALE;
	}
	return 0;
}

int kv__ready(kv_client *c)
{
	/* After a pause (only then: it costs a system call), look for a
	 * DISCONNECTED that came while the client was idle, so that the
	 * operation starts on a new connection instead of failing on the old. */
	if (!c->broken && c->ec) {
		uint64_t now = kv_now_ns();

		if (now - c->last_ready_ns > 1000000)
			kv__check_cm(c);
		c->last_ready_ns = now;
	}
	if (!c->broken)
		return 0;
	if (c->reconnect && c->wire.ops->reconnect) { /* the simulation's wire */
		uint64_t seed = c->hello.geo.hash_seed;
		struct kv_geometry old = c->hello.geo;
		int ret = c->wire.ops->reconnect(c->wire.ctx, &c->hello);

		if (ret)
			return ret;
		if (memcmp(&old, &c->hello.geo, sizeof(old))) { /* buffers for it */
			free(c->buf);
			c->buf = NULL;
			if ((ret = kv__buffers_alloc(c)))
				return ret;
		}
		return kv__reconnected(c, seed);
	}
	if (!c->reconnect || !c->addr) {
		kv__seterr(c, "%s: the connection is broken", c->where);
		return -ENOTCONN;
	}
	return kv__reconnect(c);
}

void kv_close(kv_client *c)
{
	if (!c)
		return;
	if (c->connected && !c->broken)
		kv__seal_all(c); /* space it will not use comes back a pass sooner */
	kv__teardown(c);
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	free(c->cache);
	free(c->addr);
	free(c->port);
	free(c);
}

/* ---- control messages and the demo ---------------------------------------- */

/* Send the @len-byte request in msg_send and wait for the reply in msg_recv.
 * Its length, or a negative errno. */
static int kv__request(kv_client *c, size_t len)
{
	int ret;

	if (c->broken)
		return -ENOTCONN;
	if (!c->recv_posted && (ret = kv__post_recv(c)))
		return ret;
	c->recv_posted = true; /* stays posted if the request fails to go */
	if ((ret = kv__send_msg(c, len)))
		return ret;
	ret = kv__wait_recv(c);
	if (ret >= 0)
		c->recv_posted = false;
	return ret;
}

int kv__verbs_grant(void *ctx, uint64_t need, unsigned attempt, uint64_t *off,
		    uint64_t *len, uint64_t *largest)
{
	kv_client *c = ctx;
	uint32_t status;
	uint64_t a, b;
	int n = kv__request(c, kv_extent_encode(c->msg_send, KV_MSG_GRANT_REQ, 0, need,
						 attempt));

	if (n < 0)
		return n;
	if (kv_extent_decode(c->msg_recv, (size_t)n, KV_MSG_GRANT, &status, &a, &b)) {
		kv__seterr(c, "malformed grant (%d bytes)", n);
		return -EPROTO;
	}
	if (status) {
		*largest = b;
		return status < 4096 ? -(int)status : -EPROTO;
	}
	/* The server's word is checked like any other input: a grant outside
	 * the data region, or unaligned, would make us write anywhere. */
	if (!kv_grant_ok(a, b, need, c->hello.geo.data_len)) {
		kv__seterr(c, "grant outside the data region (%llu + %llu)",
			   (unsigned long long)a, (unsigned long long)b);
		return -EPROTO;
	}
	*off = a;
	*len = b;
	return 0;
}

int kv__verbs_seal(void *ctx, uint64_t off, uint64_t len)
{
	kv_client *c = ctx;

	if (c->broken)
		return -ENOTCONN;
	return kv__send_msg(c, kv_extent_encode(c->msg_send, KV_MSG_SEAL, 0, off, len));
}

int kv_stats(kv_client *c, char **json)
{
	struct kv_msg_header hdr;
	int len;

	*json = NULL;
	if ((len = kv__ready(c)))
		return len;
	len = kv__request(c, kv_msg_put_header(c->msg_send, KV_MSG_STATS_REQ, 0, 0));
	if (len < 0)
		return len;
	if (kv_msg_get_header(c->msg_recv, (size_t)len, &hdr) ||
	    hdr.type != KV_MSG_STATS_RESP) {
		kv__seterr(c, "malformed stats response (%d bytes)", len);
		return -EPROTO;
	}
	if (hdr.status)
		return hdr.status < 4096 ? -(int)hdr.status : -EPROTO;
	*json = strndup((const char *)c->msg_recv + KV_MSG_HDR_LEN, hdr.payload_len);
	return *json ? 0 : -ENOMEM;
}

int kv_demo(kv_client *c, const void *s, size_t len)
{
	struct kv_wr w;
	int ret = kv__ready(c); /* first: a reconnect brings new buffers */

	if (ret)
		return ret;
	if (c->role == KV_ROLE_RO) {
		kv__seterr(c, "user %s has role ro: the demo WRITEs", c->user);
		return -EPERM;
	}
	w = (struct kv_wr){.op = KV_WR_WRITE, .off = c->hello.scratch_off,
			   .local = c->demo_src, .len = (uint32_t)len};
	if (len == 0 || len > c->hello.scratch_len || len > KV_SCRATCH_LEN)
		return -E2BIG;
	memcpy(c->demo_src, s, len);
	memset(c->demo_dst, 0, len);
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	w.op = KV_WR_READ;
	w.local = c->demo_dst;
	if ((ret = kv__run(c, &w, 1)))
		return ret;
	return memcmp(c->demo_src, c->demo_dst, len) ? -EILSEQ : 0;
}

int kv_debug_send_raw(kv_client *c, const void *msg, size_t len)
{
	if (len == 0 || len > 4 * KV_MSG_MAX - KV_MSG_MAX)
		return -E2BIG;
	if (c->broken)
		return -ENOTCONN;
	memcpy(c->msg_send, msg, len); /* msg_send is followed by 3 more buffers */
	return kv__send_msg(c, len);
}

void kv_client_limits(const kv_client *c, struct kv_limits *l)
{
	l->max_key = c->hello.geo.max_key;
	l->max_value = c->hello.geo.max_value;
	l->max_demo = c->hello.scratch_len < KV_SCRATCH_LEN ? c->hello.scratch_len
							   : KV_SCRATCH_LEN;
	l->slots = kv_nwords(&c->hello.geo);
	l->client_id = c->hello.client_id;
	l->read_only = c->role == KV_ROLE_RO;
}

void kv_client_counters(const kv_client *c, struct kv_counters *out)
{
	*out = c->cnt;
}

const char *kv_client_errmsg(const kv_client *c)
{
	return c ? c->err : "";
}

const char *kv_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -ENOENT: return "key not found";
	case -EINVAL: return "invalid argument";
	case -E2BIG: return "key or value too long";
	case -ENOSPC: return "store full";
	case -EBUSY: return "the key stayed claimed by another client";
	case -EBADMSG: return "corrupt block: no valid copy after retries";
	case -ENOBUFS: return "value larger than the buffer";
	case -EILSEQ: return "buffers do not match";
	case -ENOTCONN: return "connection is broken";
	case -EPROTO: return "protocol error";
	case -EACCES: return "not authorized";
	case -EPERM: return "not allowed for this user's role (ro)";
	case -ESTALE: return "the server came back with another store";
	case -KV_EUNKNOWN:
		return "outcome unknown: the connection failed while the write was in flight";
	default: return strerror(-err);
	}
}
