/*
 * kv_verbs.c - the real wire under kv_ops.c (see kv_wire.h): one-sided
 * verbs posted on the client's RC queue pair, and the completion polling the
 * control messages share.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kv_client_int.h"

/*
 * The QP failed or stalled: nothing more can be trusted to complete. Say so
 * to the server at once, so that it clears any claim we hold, rather
 * than when the application gets round to kv_close().
 */
void kv__break(kv_client *c)
{
	if (c->broken)
		return;
	c->broken = true;
	if (c->connected)
		rdma_disconnect(c->id);
	c->connected = false; /* kv_close need not disconnect again */
}

/*
 * Called while a wait drags on: a DISCONNECTED (or any) CM event means the
 * server dropped us and nothing more will complete. 0 or -ECONNRESET.
 */
int kv__check_cm(kv_client *c)
{
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type type;

	if (!c->ec || rdma_get_cm_event(c->ec, &ev)) /* non-blocking: EAGAIN */
		return 0;
	type = ev->event;
	rdma_ack_cm_event(ev);
	kv__break(c);
	kv__seterr(c, "the server closed the connection (%s)", rdma_event_str(type));
	return -ECONNRESET;
}

int kv__poll(kv_client *c, struct ibv_cq *cq, unsigned n, struct ibv_wc *last)
{
	uint64_t deadline = 0;
	unsigned got = 0, spins = 0;
	struct ibv_wc wc[16];

	while (got < n) {
		int k = ibv_poll_cq(cq, (int)(n - got < 16 ? n - got : 16), wc);

		if (k < 0) {
			kv__break(c);
			kv__seterr(c, "ibv_poll_cq failed");
			return -EIO;
		}
		for (int i = 0; i < k; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				kv__break(c);
				kv__seterr(c, "work request failed: %s",
					   ibv_wc_status_str(wc[i].status));
				return wc[i].status == IBV_WC_REM_ACCESS_ERR ? -EFAULT
									   : -ECONNRESET;
			}
			if (last)
				*last = wc[i];
		}
		got += (unsigned)k;
		if (k == 0 && ++spins % 4096 == 0) {
			uint64_t now = kv_now_ns() / 1000000;
			int ret = kv__check_cm(c);

			if (ret)
				return ret;
			if (!deadline)
				deadline = now + c->step_ms;
			else if (now > deadline) {
				kv__break(c);
				kv__seterr(c, "no completion within %u ms", c->step_ms);
				return -ETIMEDOUT;
			}
		}
	}
	return 0;
}

static const enum ibv_wr_opcode kv__opcode[] = {
	[KV_WR_READ] = IBV_WR_RDMA_READ,
	[KV_WR_WRITE] = IBV_WR_RDMA_WRITE,
	[KV_WR_CAS] = IBV_WR_ATOMIC_CMP_AND_SWP,
};

static int kv__verbs_run(void *ctx, const struct kv_wr *w, unsigned n)
{
	kv_client *c = ctx;
	struct ibv_send_wr wr[KV__MAX_WR], *bad;
	struct ibv_sge sge[KV__MAX_WR];
	uint64_t t0 = 0;
	int ret;

	if (c->broken)
		return -ENOTCONN;
	if (n == 0 || n > KV__MAX_WR)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		sge[i].addr = (uintptr_t)w[i].local;
		sge[i].length = w[i].len;
		sge[i].lkey = c->mr->lkey;
		memset(&wr[i], 0, sizeof(wr[i]));
		wr[i].wr_id = i;
		wr[i].sg_list = &sge[i];
		wr[i].num_sge = 1;
		wr[i].opcode = kv__opcode[w[i].op];
		/* Only the last is signaled: an RC queue completes in order, so
		 * its completion means every earlier one is done (and an error
		 * on any of them still makes a completion). */
		wr[i].send_flags = i + 1 == n ? IBV_SEND_SIGNALED : 0;
		/* Small WRITEs (a block header, a short block) travel inside
		 * the work request: the device need not fetch them. */
		if (w[i].op == KV_WR_WRITE && w[i].len <= c->max_inline)
			wr[i].send_flags |= IBV_SEND_INLINE;
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
		if (w[i].op == KV_WR_CAS) {
			wr[i].wr.atomic.remote_addr = c->hello.slab_addr + w[i].off;
			wr[i].wr.atomic.rkey = c->hello.rkey;
			wr[i].wr.atomic.compare_add = w[i].compare;
			wr[i].wr.atomic.swap = w[i].swap;
		} else {
			wr[i].wr.rdma.remote_addr = c->hello.slab_addr + w[i].off;
			wr[i].wr.rdma.rkey = c->hello.rkey;
		}
	}
	if (c->time_waits)
		t0 = kv_now_ns();
	if (c->debug)
		for (unsigned i = 0; i < n; i++)
			fprintf(stderr, "kv: post op %d off %llu len %u rkey %x addr %llx lkey %x local %p\n",
				w[i].op, (unsigned long long)w[i].off, w[i].len, c->hello.rkey,
				(unsigned long long)c->hello.slab_addr, c->mr->lkey, w[i].local);
	ret = ibv_post_send(c->id->qp, wr, &bad);
	if (ret) {
		/* Part of the chain may be on its way, unsignaled: give up the
		 * connection rather than guess what the slab now holds. */
		kv__break(c);
		kv__seterr(c, "ibv_post_send: %s", strerror(ret));
		return -ret;
	}
	ret = kv__poll(c, c->send_cq, 1, NULL);
	if (c->time_waits)
		c->cnt.wait_ns += kv_now_ns() - t0;
	return ret;
}

static uint64_t kv__verbs_now(void *ctx)
{
	(void)ctx;
	return kv_now_ns();
}

static void kv__verbs_pause(void *ctx, uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	(void)ctx;
	nanosleep(&ts, NULL);
}

const struct kv_wire_ops kv__verbs_wire = {
	.run = kv__verbs_run,
	.now_ns = kv__verbs_now,
	.pause_ns = kv__verbs_pause,
	.grant = kv__verbs_grant,
	.seal = kv__verbs_seal,
};
