/*
 * kv_sim.c - the simulation (kv_sim.h): clients as coroutines (ucontext) on
 * one thread, so every schedule is a pure function of the seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <ucontext.h>

#include "kv_client_int.h"
#include "kv_index.h"
#include "kv_recover.h"
#include "kv_sim.h"
#include "kv_sweep.h"

#define SIM_MAX_CLIENTS 8
#define SIM_MAX_KEYS 4
#define SIM_STACK (256u << 10)
#define SIM_STEP_NS 200u          /* virtual time per scheduling step */
#define SIM_LEASE_MS 1u
#define SIM_MAX_STEPS 4000000u
#define SIM_MAX_VALUE 1024u

enum sim_state {
	SIM_READY,   /* runs its code when picked */
	SIM_WIRE,    /* a chain is executing */
	SIM_PAUSED,  /* backing off until wake */
	SIM_DONE,
	SIM_DEAD,    /* crashed, vanished, or fenced and stopped */
};

struct sim_client {
	int idx;
	uint16_t id;
	kv_client *kv;
	ucontext_t uc;
	void *stack;
	enum sim_state st;
	struct kv_wr chain[KV__MAX_WR];
	unsigned n, cur;
	uint32_t done;          /* bytes of chain[cur] executed */
	int result;
	uint64_t wake;          /* SIM_PAUSED until */
	uint64_t stall_until;   /* stopped: runs no code until then */
	uint64_t slow_until;    /* SIM_WIRE: the rest of a READ is late until then */
	bool fenced;            /* the server cut it off the wire */
	bool cut;               /* its connection died with the server (a restart):
				   it fails until the library connects again */
	bool vanished;          /* gone without a disconnect */
	bool disconnect_pending;
	bool stalled;           /* stopped at some point during this operation */
	unsigned ops_left;
	int op;                 /* history index of the operation under way, or -1 */
};

struct sim_key {
	char s[8];
	size_t len;
};

struct sim_hist {
	unsigned epoch;         /* power losses before it (a history of its own) */
	int key;
	struct kv_lin_op op;
};

struct sim {
	struct kv_sim_opts o;
	struct kv_sim_result *res;
	uint64_t rng;
	uint64_t vt;            /* virtual ns */
	uint64_t next_tick;     /* paced: when the server's timer fires next */
	uint64_t clock;         /* logical time of invocations and responses */
	uint8_t *slab;
	size_t slab_len;
	struct kv_hello hello;
	struct kv_sweep sweep;
	struct sim_client cl[SIM_MAX_CLIENTS + 1]; /* and the final reader */
	unsigned ncl;
	struct sim_key keys[SIM_MAX_KEYS];
	unsigned nkeys;
	struct sim_hist hist[256];
	unsigned nhist;
	int64_t next_value;
	ucontext_t sched;
	struct sim_client *running;
	uint64_t restart_at;    /* the step at which the server restarts (0: never) */
	unsigned tag_mask;      /* the clients' tags (0: all 6 bits) */
	/* Power loss (opts.powerloss): the syncer's two copies of the index
	 * (kv_syncer.h), the one a power loss comes back to, the one being
	 * written, and the logical time each was copied at. */
	uint64_t *keep[2];
	uint64_t *wclock[2];    /* the logical time each word was copied at */
	int newest, pending;
	int copying;            /* the copy under way (its words so far), or -1 */
	uint64_t copy_cur;
	pthread_mutex_t copy_mu; /* held while copying (kv_sweep.copy_mu) */
	uint64_t powerloss_at;  /* the step (0: none) */
	unsigned epoch;
	bool failed;
};

static struct sim *g_sim; /* the coroutines' way back to their simulation */

__attribute__((format(printf, 2, 3)))
static void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->failed)
		return;
	s->failed = true;
	n = snprintf(s->res->why, sizeof(s->res->why), "seed %llu: ",
		     (unsigned long long)s->o.seed);
	va_start(ap, fmt);
	vsnprintf(s->res->why + n, sizeof(s->res->why) - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void sim_trace(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->o.trace)
		return;
	fprintf(stderr, "[%8llu %6llu] ", (unsigned long long)s->res->steps,
		(unsigned long long)(s->vt / 1000));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t sim_rand(struct sim *s, uint64_t n)
{
	return n ? kv_rand_next(&s->rng) % n : 0;
}

/* ---- the wire --------------------------------------------------------------- */

static void sim_yield(struct sim_client *c)
{
	swapcontext(&c->uc, &g_sim->sched);
}

static int sim_wire_run(void *ctx, const struct kv_wr *w, unsigned n)
{
	struct sim_client *c = ctx;

	if (c->fenced)
		return -ECONNRESET;
	if (c->cut) {
		c->kv->broken = true; /* as kv__break does on the verbs wire */
		return -ECONNRESET;
	}
	memcpy(c->chain, w, n * sizeof(*w));
	c->n = n;
	c->cur = 0;
	c->done = 0;
	c->result = 0;
	c->st = SIM_WIRE;
	sim_yield(c);
	return c->result;
}

static uint64_t sim_wire_now(void *ctx)
{
	(void)ctx;
	return g_sim->vt;
}

static void sim_wire_pause(void *ctx, uint64_t ns)
{
	struct sim_client *c = ctx;

	c->wake = g_sim->vt + ns;
	c->st = SIM_PAUSED;
	sim_yield(c);
}

/* A control message: it takes a while, and the client may be cut off or
 * crash meanwhile (then it never resumes). */
static int sim_msg_delay(struct sim_client *c)
{
	if (!c->fenced && !c->cut)
		sim_wire_pause(c, (1 + sim_rand(g_sim, 20)) * 1000ull);
	if (c->cut)
		c->kv->broken = true;
	return c->fenced || c->cut ? -ECONNRESET : 0;
}

static int sim_wire_grant(void *ctx, uint64_t need, unsigned attempt, uint64_t *off,
			  uint64_t *len, uint64_t *largest)
{
	struct sim_client *c = ctx;
	struct kv_extent e;
	int ret = sim_msg_delay(c);

	if (ret)
		return ret;
	if (!attempt)
		kv_sweep_grant_fresh(&g_sim->sweep, c->id);
	ret = kv_sweep_grant(&g_sim->sweep, c->id, need, &e, largest);
	sim_trace(g_sim, "c%d grant of %llu: %d (%llu + %llu)", c->idx,
		  (unsigned long long)need, ret, (unsigned long long)e.off,
		  (unsigned long long)e.len);
	if (ret)
		return ret;
	*off = e.off;
	*len = e.len;
	g_sim->res->grants++;
	return sim_msg_delay(c); /* the reply travels too */
}

static int sim_wire_seal(void *ctx, uint64_t off, uint64_t len)
{
	struct sim_client *c = ctx;
	struct kv_extent e = {off, len};
	int ret = sim_msg_delay(c);

	if (ret)
		return ret;
	sim_trace(g_sim, "c%d seals %llu + %llu", c->idx, (unsigned long long)off,
		  (unsigned long long)len);
	if (kv_sweep_seal(&g_sim->sweep, c->id, &e))
		sim_fail(g_sim, "client %d sealed %llu + %llu, not a grant it holds", c->idx,
			 (unsigned long long)off, (unsigned long long)len);
	return 0;
}

/* The library connects again (kv__ready) after a server restart: it takes
 * a while, then the new server's hello (the same id: it counts from 1). */
static int sim_wire_reconnect(void *ctx, struct kv_hello *h)
{
	struct sim_client *c = ctx;

	if (c->fenced)
		return -ECONNRESET;
	sim_wire_pause(c, (1 + sim_rand(g_sim, 20)) * 1000ull);
	c->cut = false;
	*h = g_sim->hello;
	h->client_id = c->id;
	kv_sweep_owner_live(&g_sim->sweep, c->id);
	g_sim->res->reconnects++;
	sim_trace(g_sim, "c%d connects again", c->idx);
	return 0;
}

static const struct kv_wire_ops sim_wire = {
	.run = sim_wire_run, .now_ns = sim_wire_now, .pause_ns = sim_wire_pause,
	.grant = sim_wire_grant, .seal = sim_wire_seal, .reconnect = sim_wire_reconnect,
};

/*
 * Execute the next piece of c's chain: a CAS whole, a READ or WRITE from
 * where it stands to a random 8-byte boundary. Real NICs promise no more
 * than 8 aligned bytes at a time.
 */
static void sim_exec_piece(struct sim *s, struct sim_client *c)
{
	struct kv_wr *w = &c->chain[c->cur];
	uint32_t left = w->len - c->done, piece;
	uint64_t at = w->off + c->done;

	if (w->off + w->len > s->slab_len) {
		sim_fail(s, "client %d: %s outside the slab (off %llu len %u)", c->idx,
			 w->op == KV_WR_READ ? "READ" : "WRITE", (unsigned long long)w->off, w->len);
		c->result = -EFAULT;
		c->st = SIM_READY;
		return;
	}
	if (w->op == KV_WR_CAS) {
		uint64_t *p = (uint64_t *)(void *)(s->slab + w->off);
		uint64_t old = *p;

		if (old == w->compare)
			*p = w->swap;
		memcpy(w->local, &old, 8);
		piece = 8;
		sim_trace(s, "c%d CAS word @%llu %llx -> %llx: %s", c->idx,
			  (unsigned long long)w->off, (unsigned long long)w->compare,
			  (unsigned long long)w->swap, old == w->compare ? "ok" : "failed");
	} else {
		/* The first piece ends at an 8-byte boundary of the slab. */
		uint32_t to_boundary = (uint32_t)(8 - at % 8);
		uint32_t nwords = (left + 7) / 8 + 1;

		piece = to_boundary + 8 * (uint32_t)sim_rand(s, nwords);
		if (piece > left || sim_rand(s, 4) == 0)
			piece = left;
		if (w->op == KV_WR_READ)
			memcpy((uint8_t *)w->local + c->done, s->slab + at, piece);
		else
			memcpy(s->slab + at, (uint8_t *)w->local + c->done, piece);
		sim_trace(s, "c%d %s @%llu +%u of %u", c->idx,
			  w->op == KV_WR_READ ? "READ " : "WRITE", (unsigned long long)at, piece,
			  w->len);
	}
	c->done += piece;
	if (c->done < w->len) {
		/* Now and then the rest of a READ is late, long enough for
		 * whole writes to land between its pieces. */
		if (w->op == KV_WR_READ && sim_rand(s, 32) == 0)
			c->slow_until = s->vt + (1 + sim_rand(s, 100)) * 1000ull;
		return;
	}
	c->done = 0;
	if (++c->cur == c->n) {
		c->st = SIM_READY; /* resumes with c->result 0 */
		/* Now and then the process is slow to see its completion (it
		 * was preempted): others run between two of its doorbells. */
		if (!s->o.no_faults && sim_rand(s, 48) == 0) {
			c->stall_until = s->vt + (1 + sim_rand(s, 1500)) * 1000ull;
			c->stalled = true;
		}
	}
}

/* ---- values ---------------------------------------------------------------- */

/* A value names itself: 4 bytes of id, then a pattern that depends on it. */
static size_t sim_value(const struct sim *s, int64_t id, uint8_t *buf)
{
	uint32_t max = s->hello.geo.max_value;
	size_t len = 4 + (size_t)((uint64_t)id * 2654435761u >> 7) % (max - 3);

	kv_st32le(buf, (uint32_t)id);
	for (size_t i = 4; i < len; i++)
		buf[i] = (uint8_t)(id * 31 + (int64_t)i);
	return len;
}

/* The id of a value read back, or -2 if it is not one we wrote, whole. */
static int64_t sim_value_id(const struct sim *s, const uint8_t *buf, size_t len)
{
	uint8_t want[SIM_MAX_VALUE];
	int64_t id;

	if (len < 4)
		return -2;
	id = kv_ld32le(buf);
	if (id >= s->next_value || sim_value(s, id, want) != len || memcmp(want, buf, len))
		return -2;
	return id;
}

/* ---- clients --------------------------------------------------------------- */

static void sim_check_index(struct sim *s, bool final);
static void sim_check_history(struct sim *s, unsigned epoch);
static struct kv_extent sim_named(const struct sim *s, uint64_t w);

static bool sim_transport_error(int r)
{
	return r == -ECONNRESET || r == -ENOTCONN || r == -ETIMEDOUT || r == -EIO ||
	       r == -KV_EUNKNOWN;
}

static int sim_hist_open(struct sim *s, int client, int key, enum kv_lin_kind kind, int64_t arg)
{
	struct sim_hist *h = &s->hist[s->nhist];

	h->key = key;
	h->epoch = s->epoch;
	h->op = (struct kv_lin_op){.kind = kind, .arg = arg, .inv = ++s->clock,
				   .resp = UINT64_MAX, .client = client};
	return (int)s->nhist++;
}

static void sim_client_op(struct sim *s, struct sim_client *c)
{
	uint8_t val[SIM_MAX_VALUE];
	int key = (int)sim_rand(s, s->nkeys);
	struct sim_key *k = &s->keys[key];
	unsigned kind = (unsigned)sim_rand(s, 10); /* 4 PUT, 4 GET, 2 DEL */
	struct sim_hist *h;
	int64_t ret = 0;
	size_t vlen = 0;
	int r;

	c->stalled = false;
	if (kind < 4) {
		int64_t id = s->next_value++;

		vlen = sim_value(s, id, val);
		c->op = sim_hist_open(s, c->idx, key, KV_LIN_PUT, id);
		sim_trace(s, "c%d PUT %s = v%lld (%zu B)", c->idx, k->s, (long long)id, vlen);
		r = kv_put(c->kv, k->s, k->len, val, vlen);
	} else if (kind < 8) {
		c->op = sim_hist_open(s, c->idx, key, KV_LIN_GET, 0);
		sim_trace(s, "c%d GET %s", c->idx, k->s);
		r = kv_get(c->kv, k->s, k->len, val, sizeof(val), &vlen);
		ret = r == 0 ? sim_value_id(s, val, vlen) : -1;
		if (r == 0 && ret == -2)
			sim_fail(s, "client %d: GET %s returned %zu bytes that no PUT wrote (torn?)",
				 c->idx, k->s, vlen);
	} else {
		c->op = sim_hist_open(s, c->idx, key, KV_LIN_DEL, 0);
		sim_trace(s, "c%d DEL %s", c->idx, k->s);
		r = kv_del(c->kv, k->s, k->len);
		ret = r == 0;
	}
	h = &s->hist[c->op];
	c->op = -1;
	sim_trace(s, "c%d -> %d (%s)", c->idx, r, kv_strerror(r));
	if (sim_transport_error(r) && (c->fenced || c->cut)) {
		/* A write cut off before any CAS went out says it did not take
		 * effect (kv.h): hold it to that by leaving it out of the
		 * history. -KV_EUNKNOWN: outcome unknown, resp stays open. */
		if (r != -KV_EUNKNOWN && h->op.kind != KV_LIN_GET)
			h->key = -1;
		return;
	}

	if (r && r != -ENOENT) {
		sim_fail(s, "client %d: %s of %s failed: %s", c->idx,
			 h->op.kind == KV_LIN_PUT ? "PUT" : h->op.kind == KV_LIN_GET ? "GET" : "DEL",
			 k->s, kv_strerror(r));
		return;
	}
	if (r == -ENOENT && h->op.kind == KV_LIN_PUT) {
		sim_fail(s, "client %d: PUT said not found", c->idx);
		return;
	}
	h->op.ret = ret;
	h->op.resp = ++s->clock;
	s->res->ops_done++;
}

static void sim_client_main(void)
{
	struct sim *s = g_sim;
	struct sim_client *c = s->running;

	while (c->ops_left && !c->fenced && !s->failed) {
		c->ops_left--;
		sim_client_op(s, c);
	}
	if (!c->fenced && !s->failed) /* kv_close: what it holds goes back */
		kv__seal_all(c->kv);
	c->st = c->fenced ? SIM_DEAD : SIM_DONE;
	swapcontext(&c->uc, &s->sched);
}

static int sim_client_init(struct sim *s, struct sim_client *c, int idx, unsigned ops)
{
	struct kv_wire wire = {.ops = &sim_wire, .ctx = c};
	struct kv_hello h = s->hello;

	c->idx = idx;
	c->id = (uint16_t)(idx + 1);
	c->op = -1;
	c->ops_left = ops;
	h.client_id = c->id;
	c->kv = kv__client_on_wire(&h, &wire, s->o.seed * 131 + (uint64_t)idx);
	c->stack = malloc(SIM_STACK);
	if (!c->kv || !c->stack)
		return -ENOMEM;
	c->kv->tag_mask = s->tag_mask;
	{	/* caches of every size, none included: warm and cold paths mix */
		static const unsigned sizes[] = {0, 1, 3, 64};
		unsigned n = sizes[sim_rand(s, 4)];

		free(c->kv->cache);
		c->kv->cache = n ? calloc(n, sizeof(*c->kv->cache)) : NULL;
		c->kv->ncache = c->kv->cache ? n : 0;
	}
	getcontext(&c->uc);
	c->uc.uc_stack.ss_sp = c->stack;
	c->uc.uc_stack.ss_size = SIM_STACK;
	c->uc.uc_link = NULL;
	makecontext(&c->uc, sim_client_main, 0);
	kv_sweep_owner_live(&s->sweep, c->id);
	return 0;
}

/* ---- faults and the server ------------------------------------------------- */

static void sim_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	struct sim *s = ctx;
	struct sim_client *c = &s->cl[owner - 1];

	/* Only a client that stopped may lose its lease: one that kept
	 * running, however slowly, must never be cut off. */
	if (!c->stalled && c->st != SIM_DEAD)
		sim_fail(s, "client %d was fenced, but it never stopped during its operation",
			 c->idx);
	/* The server cuts its queue pair: nothing more of it lands. */
	c->fenced = true;
	s->res->fences++;
	sim_trace(s, "server fences c%d (lease: %s)", c->idx,
		  why == KV_FENCE_WRITE ? "a write left uncommitted" : "a claim");
	if (c->st == SIM_WIRE) {
		c->result = -ECONNRESET;
		c->st = SIM_READY;
	}
}

/* The process dies: its queue pair with it, mid-request or not. */
static void sim_crash(struct sim *s, struct sim_client *c, bool vanish)
{
	c->st = SIM_DEAD;
	c->vanished = vanish;
	if (!vanish)
		c->disconnect_pending = true; /* the server hears of it later */
	if (vanish)
		s->res->vanishes++;
	else
		s->res->crashes++;
	sim_trace(s, "c%d %s", c->idx, vanish ? "vanishes" : "crashes");
}

/* Units of sweep work in a pass: index words, then bitmap words. */
static uint64_t sim_pass_work(const struct sim *s)
{
	return kv_nwords(&s->hello.geo) + kv_data_granules(&s->hello.geo) / 64 + 1;
}

/* One step of the server: disconnects it has heard of, then @budget slots
 * of the sweep (0: a random number of them). */
static void sim_server_step(struct sim *s, uint64_t budget)
{
	for (unsigned i = 0; i < s->ncl; i++) {
		struct sim_client *c = &s->cl[i];

		if (c->disconnect_pending && sim_rand(s, 2)) {
			c->disconnect_pending = false;
			kv_sweep_owner_gone(&s->sweep, c->id);
			sim_trace(s, "server: c%d disconnected", c->idx);
		}
	}
	if (!budget)
		budget = 1 + sim_rand(s, sim_pass_work(s));
	s->res->released += kv_sweep_step(&s->sweep, budget, s->vt);
	sim_check_index(s, false);
}

/* Paced as kvserver is: a tick every tenth of a lease, a tenth of the slots
 * (and one) a tick, so a pass takes a lease. */
static void sim_server_ticks(struct sim *s)
{
	const uint64_t tick = SIM_LEASE_MS * 100000ull;

	while (s->vt >= s->next_tick) {
		sim_server_step(s, sim_pass_work(s) / 10 + 1);
		s->next_tick += tick;
	}
}

/* ---- the scheduler ----------------------------------------------------------- */

static bool sim_can_run(const struct sim *s, const struct sim_client *c)
{
	switch (c->st) {
	case SIM_WIRE:
		return c->slow_until <= s->vt; /* a stopped process's NIC still executes */
	case SIM_READY:
		return c->stall_until <= s->vt;
	case SIM_PAUSED:
		return c->wake <= s->vt && c->stall_until <= s->vt;
	default:
		return false;
	}
}

static void sim_resume(struct sim *s, struct sim_client *c)
{
	c->st = SIM_READY;
	s->running = c;
	swapcontext(&s->sched, &c->uc);
	s->running = NULL;
}

static void sim_maybe_fault(struct sim *s, struct sim_client *c)
{
	unsigned r;

	if (s->o.no_faults || c->st == SIM_DONE || c->st == SIM_DEAD || c->fenced)
		return;
	r = (unsigned)sim_rand(s, 1000000);
	if (r < s->o.crash_per_mille * 1000u / 4) {
		sim_crash(s, c, false);
	} else if (r < s->o.crash_per_mille * 1000u / 4 + 150) {
		/* Stopped for up to a few leases: the server may fence it. */
		c->stall_until = s->vt + (50 + sim_rand(s, 4000)) * 1000ull;
		c->stalled = true;
		s->res->stalls++;
		sim_trace(s, "c%d stalls until %llu us", c->idx,
			  (unsigned long long)(c->stall_until / 1000));
	} else if (r < s->o.crash_per_mille * 1000u / 4 + 170) {
		sim_crash(s, c, true);
	}
}

/* Nothing can run now: let virtual time pass to the next wake-up. */
static bool sim_idle(struct sim *s)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < s->ncl; i++) {
		struct sim_client *c = &s->cl[i];
		uint64_t t;

		if (c->st == SIM_READY)
			t = c->stall_until;
		else if (c->st == SIM_WIRE)
			t = c->slow_until;
		else if (c->st == SIM_PAUSED)
			t = c->wake > c->stall_until ? c->wake : c->stall_until;
		else
			continue;
		if (t < next)
			next = t;
	}
	if (next == UINT64_MAX)
		return false;
	/* The server runs meanwhile, in steps of a tenth of a lease. */
	if (next > s->vt + SIM_LEASE_MS * 100000ull)
		next = s->vt + SIM_LEASE_MS * 100000ull;
	s->vt = next > s->vt ? next : s->vt + SIM_STEP_NS;
	if (s->o.paced)
		sim_server_ticks(s);
	else
		sim_server_step(s, 0);
	return true;
}

/*
 * The server dies and comes back on the same slab (issue 9's recovery):
 * every connection dies with it, wherever its verbs stand (a WRITE half
 * placed, a write swung but not retired, a claim held); the slab stays as
 * they left it; a new server state (no owner live, nothing held) is rebuilt
 * from the slab by kv_recover. Operations in flight have unknown outcomes.
 * Clients whose process was still running are cut: the operation under
 * way fails (-KV_EUNKNOWN once it posted a CAS, else a transport error and
 * no effect), and their next call connects again through the library's own
 * kv__ready (sim_wire_reconnect: the new hello, the same id, as the new
 * server counts from 1), dropping the grant and cache of the old
 * connection. Those that had crashed or vanished stay dead.
 */
/* Every connection dies wherever its verbs stand; processes live on. */
static void sim_cut_all(struct sim *s)
{
	for (unsigned i = 0; i < s->ncl; i++) {
		struct sim_client *c = &s->cl[i];

		if (c->st == SIM_DONE || c->st == SIM_DEAD || c->fenced)
			continue;
		/* Its process lives on; its connection is gone: a chain under
		 * way stops where it stands and fails. */
		c->cut = true;
		if (c->st == SIM_WIRE) {
			c->result = -ECONNRESET;
			c->kv->broken = true;
			c->st = SIM_READY;
		}
	}
}

/* A fresh server state from the slab as it is: kv_recover, a new sweep. */
static void sim_server_fresh(struct sim *s, const char *what)
{
	struct kv_recover_report rep;
	struct kv_grant_policy policy;

	policy = s->sweep.policy; /* the run's small grants, not the default */
	kv_sweep_free(&s->sweep);
	if (kv_sweep_init(&s->sweep, s->slab, &s->hello.geo, SIM_LEASE_MS * 1000000ull,
			  sim_fence, s) ||
	    ((void)(s->sweep.policy = policy), 0) ||
	    kv_recover(s->slab, &s->hello.geo, &s->sweep.alloc, &rep)) {
		sim_fail(s, "%s: out of memory", what);
		return;
	}
	sim_trace(s, "%s: %llu items, %llu claims cleared, %llu writes finished, "
		  "%llu tombstones cleared, %llu bad words, %llu bad blocks", what,
		  (unsigned long long)rep.items, (unsigned long long)rep.claims_cleared,
		  (unsigned long long)rep.writes_finished, (unsigned long long)rep.tombs_cleared,
		  (unsigned long long)rep.bad_words, (unsigned long long)rep.bad_blocks);
	if (rep.bad_words || rep.bad_blocks || rep.overlaps)
		sim_fail(s, "%s: %llu bad words, %llu bad blocks, %llu overlaps in the index", what,
			 (unsigned long long)rep.bad_words, (unsigned long long)rep.bad_blocks,
			 (unsigned long long)rep.overlaps);
}

static void sim_restart(struct sim *s)
{
	sim_cut_all(s);
	sim_server_fresh(s, "server restarts");
	s->res->restarts++;
	sim_check_index(s, false);
}

/*
 * The syncer (kv_syncer.h), one step of it: copy some words of the index
 * into the older copy, holding copy_mu as kvserver's does (the sweep's walk
 * waits meanwhile, and so no key moves), each word at this step's instant;
 * or, the copy done and the data synced since, write it to its slot: from
 * then on a power loss comes back to it.
 */
static void sim_snapshot(struct sim *s)
{
	const struct kv_geometry *g = &s->hello.geo;
	uint64_t n = kv_nwords(g), t;

	if (s->copying < 0 && s->pending >= 0) {
		s->newest = s->pending;
		s->pending = -1;
		s->res->snapshots++;
		sim_trace(s, "syncer: that copy is in its slot");
		return;
	}
	if (s->copying < 0) {
		pthread_mutex_lock(&s->copy_mu);
		s->copying = s->newest == 0 ? 1 : 0;
		s->copy_cur = 0;
	}
	t = ++s->clock;
	for (uint64_t m = 1 + sim_rand(s, 8); m && s->copy_cur < n; m--, s->copy_cur++) {
		memcpy(&s->keep[s->copying][s->copy_cur], s->slab + kv_word_off(g, s->copy_cur), 8);
		s->wclock[s->copying][s->copy_cur] = t;
	}
	sim_trace(s, "syncer copies index words to %llu (t %llu)", (unsigned long long)s->copy_cur,
		  (unsigned long long)t);
	if (s->copy_cur == n) {
		s->pending = s->copying;
		s->copying = -1;
		pthread_mutex_unlock(&s->copy_mu);
	}
}

/* The value id the block of word @w holds, -1 for a tombstone, -2 if none
 * of the run's keys (*key: which). */
static int64_t sim_block_value(struct sim *s, uint64_t w, int *key)
{
	const struct kv_geometry *g = &s->hello.geo;
	uint8_t blk[SIM_MAX_VALUE + 64];
	uint64_t len = kv_block_read_len(g, w);
	struct kv_block_view v;

	*key = -1;
	if (len > sizeof(blk))
		len = sizeof(blk);
	memcpy(blk, s->slab + kv_block_off(g, w), len);
	if (kv_block_check(blk, len, w, g, NULL, 0, &v) != KV_BLOCK_OK)
		return -3;
	for (unsigned k = 0; k < s->nkeys; k++)
		if (v.klen == s->keys[k].len && !memcmp(v.key, s->keys[k].s, v.klen))
			*key = (int)k;
	if (*key < 0)
		return -2;
	return kv_view_tomb(&v) ? -1 : sim_value_id(s, v.val, v.vlen);
}

/*
 * The machine goes down. Every connection dies; on disk, the newest copy in
 * a slot, and the blocks it names whole (the syncer synced them before the
 * copy went to its slot, and the sweep kept their space since); every other
 * granule of the data region may hold anything (pages of any age): here,
 * random bytes. kvserver opens it from the copy (kv_recover_snapshot, then
 * kv_recover). Each key must then hold the value it had when its word was
 * copied: a GET at that instant is added to the history before the loss,
 * which must be linearizable with it. The history after the loss starts
 * from those values.
 */
static void sim_powerloss(struct sim *s)
{
	const struct kv_geometry *g = &s->hello.geo;
	const uint64_t *snap = s->keep[s->newest], *wclock = s->wclock[s->newest];
	uint64_t n = kv_nwords(g), ng = kv_data_granules(g), at[SIM_MAX_KEYS];
	uint8_t *kept = calloc(ng ? ng : 1, 1);
	int64_t val[SIM_MAX_KEYS];
	unsigned old = s->epoch;

	if (!kept) {
		sim_fail(s, "power loss: out of memory");
		return;
	}
	if (s->copying >= 0) { /* a copy under way is lost with the power */
		s->copying = -1;
		pthread_mutex_unlock(&s->copy_mu);
	}
	/* Each key's instant in the copy: when its word was copied; for a key
	 * with no word in it, when the first of its 16 words was (it had no
	 * word then: none is cleared while a copy is taken). */
	for (unsigned k = 0; k < s->nkeys; k++) {
		struct kv_keyhash kh;

		kv_key_hash(g, s->keys[k].s, s->keys[k].len, &kh);
		at[k] = UINT64_MAX;
		for (unsigned j = 0; j < KV_BUCKET_WORDS; j++) {
			uint64_t i1 = (uint64_t)kh.b1 * KV_BUCKET_WORDS + j;
			uint64_t i2 = (uint64_t)kh.b2 * KV_BUCKET_WORDS + j;

			at[k] = wclock[i1] < at[k] ? wclock[i1] : at[k];
			at[k] = wclock[i2] < at[k] ? wclock[i2] : at[k];
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		int key;

		if (kv_word_kind(snap[i]) == KV_WORD_BLOCK && sim_block_value(s, snap[i], &key) >= -1 &&
		    key >= 0)
			at[key] = wclock[i];
	}
	sim_trace(s, "power loss: back to the copy in slot %d", s->newest);
	sim_cut_all(s);
	for (uint64_t i = 0; i < n && !s->failed; i++) {
		struct kv_extent e;
		int key;

		if (kv_word_kind(snap[i]) != KV_WORD_BLOCK)
			continue;
		if (sim_block_value(s, snap[i], &key) < -1) {
			sim_fail(s, "power loss: the copy's word %llu (%llx) names a block that is "
				 "not whole: its space was reused while a slot could bring it back",
				 (unsigned long long)i, (unsigned long long)snap[i]);
			break;
		}
		e = sim_named(s, snap[i]);
		for (uint64_t gr = e.off; gr < e.off + e.len && gr < ng; gr++)
			kept[gr] = 1;
	}
	for (uint64_t gr = 0; gr < ng && !s->failed; gr++)
		if (!kept[gr])
			for (unsigned b = 0; b < KV_GRANULE; b++)
				s->slab[g->data_off + gr * KV_GRANULE + b] = (uint8_t)sim_rand(s, 256);
	free(kept);
	if (s->failed)
		return;
	kv_recover_snapshot(s->slab, g, (const uint8_t *)snap);
	sim_server_fresh(s, "power loss, opened from the copy");
	if (s->failed)
		return;
	s->res->powerlosses++;
	/* The new server's first copy, before anyone writes. */
	memcpy(s->keep[0], s->slab + g->index_off, (size_t)n * 8);
	memset(s->keep[1], 0, (size_t)n * 8);
	s->clock++;
	for (uint64_t i = 0; i < n; i++)
		s->wclock[0][i] = s->clock;
	s->newest = 0;
	s->pending = -1;
	s->sweep.keep[0] = s->keep[0];
	s->sweep.keep[1] = s->keep[1];
	s->sweep.copy_mu = &s->copy_mu;
	for (unsigned k = 0; k < SIM_MAX_KEYS; k++)
		val[k] = -1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w;
		int key;
		int64_t v;

		memcpy(&w, s->slab + kv_word_off(g, i), 8);
		if (kv_word_kind(w) != KV_WORD_BLOCK)
			continue;
		v = sim_block_value(s, w, &key);
		if (key >= 0 && v >= -1)
			val[key] = v;
	}
	for (unsigned i = 0; i < s->nhist; i++) { /* acknowledged after the copy */
		const struct sim_hist *h = &s->hist[i];

		if (h->epoch == old && h->key >= 0 && h->op.kind != KV_LIN_GET &&
		    h->op.resp != UINT64_MAX && h->op.resp > at[h->key])
			s->res->lost_writes++;
	}
	/* The loss may undo whatever came after the copy: the state must be
	 * that of a prefix of the history, the operations completed before
	 * the copy and any of those under way then (outcome unknown), read by
	 * a GET at the instant of the copy. And the whole history before the
	 * loss must be linearizable as it stands. */
	sim_check_history(s, old);
	{
		unsigned n0 = s->nhist, prefix = old | 0x40000000u;

		for (unsigned i = 0; i < n0 && s->nhist < 250; i++) {
			struct sim_hist h = s->hist[i];

			if (h.epoch != old || h.key < 0 || h.op.inv > at[h.key])
				continue;
			if (h.op.resp != UINT64_MAX && h.op.resp > at[h.key]) {
				if (h.op.kind == KV_LIN_GET)
					continue; /* read after the copy: not in the prefix */
				h.op.resp = UINT64_MAX;
			}
			h.epoch = prefix;
			s->hist[s->nhist++] = h;
		}
		for (unsigned k = 0; k < s->nkeys && s->nhist < 250; k++) {
			struct sim_hist *h = &s->hist[s->nhist++];

			*h = (struct sim_hist){.epoch = prefix, .key = (int)k,
					       .op = {.kind = KV_LIN_GET, .ret = val[k], .inv = at[k],
						      .resp = at[k], .client = -1}};
		}
		if (!s->failed)
			sim_check_history(s, prefix);
	}
	s->epoch++;
	for (unsigned k = 0; k < s->nkeys && s->nhist < 250; k++)
		if (val[k] >= 0) {
			int h = sim_hist_open(s, -1, (int)k, KV_LIN_PUT, val[k]);

			s->hist[h].op.resp = s->hist[h].op.inv;
			s->hist[h].op.ret = 0;
		}
	sim_check_index(s, false);
}

static void sim_schedule(struct sim *s)
{
	struct sim_client *run[SIM_MAX_CLIENTS];

	while (!s->failed) {
		unsigned n = 0;

		if (s->restart_at && s->res->steps == s->restart_at) {
			sim_restart(s);
			s->restart_at = 0;
			continue;
		}
		if (s->powerloss_at && s->res->steps == s->powerloss_at) {
			sim_powerloss(s);
			s->powerloss_at = 0;
			continue;
		}
		for (unsigned i = 0; i < s->ncl; i++)
			if (sim_can_run(s, &s->cl[i]))
				run[n++] = &s->cl[i];
		if (++s->res->steps > SIM_MAX_STEPS) {
			sim_fail(s, "no end after %u steps (livelock?)", SIM_MAX_STEPS);
			return;
		}
		if (n == 0) {
			if (!sim_idle(s))
				return; /* everyone is done or dead */
			continue;
		}
		s->vt += SIM_STEP_NS;
		if (s->o.paced)
			sim_server_ticks(s);
		else if (sim_rand(s, 16) == 0) {
			sim_server_step(s, 0);
			continue;
		}
		if (s->o.powerloss && sim_rand(s, 24) == 0) {
			sim_snapshot(s);
			continue;
		}
		{
			struct sim_client *c = run[sim_rand(s, n)];

			sim_maybe_fault(s, c);
			if (c->st == SIM_DEAD)
				continue;
			if (c->st == SIM_WIRE)
				sim_exec_piece(s, c);
			else if (sim_can_run(s, c))
				sim_resume(s, c);
			sim_check_index(s, false);
		}
	}
}

/* ---- setup and the checks after a run ---------------------------------------- */

static int sim_geometry(struct sim *s)
{
	struct kv_geometry *g = &s->hello.geo;
	char err[160];

	memset(&s->hello, 0, sizeof(s->hello));
	g->nbuckets = 2 + (uint32_t)sim_rand(s, 2);
	g->max_key = 8;
	/* Mostly small values; some long enough for float-coded lengths. */
	g->max_value = (uint32_t[]){40, 40, 248, SIM_MAX_VALUE - 24}[sim_rand(s, 4)];
	g->hash_seed = kv_rand_next(&s->rng);
	g->index_off = 0;
	g->data_off = (uint64_t)g->nbuckets * KV_BUCKET_BYTES;
	/* Room for every key's block and every client's grant twice over, and
	 * little more: grants run round the region and reuse what passes
	 * freed in every run, but a PUT never truly finds the store full. */
	g->data_len = 2 * (s->nkeys + s->ncl) * kv_block_granules(g->max_key, g->max_value) *
			      KV_GRANULE + 16 * sim_rand(s, 64);
	s->slab_len = g->data_off + g->data_len;
	s->hello.slab_len = s->slab_len;
	s->hello.scratch_len = 8;
	s->hello.lease_ms = SIM_LEASE_MS;
	if (kv_geometry_check(g, s->slab_len, err, sizeof(err))) {
		sim_fail(s, "geometry: %s", err);
		return -EINVAL;
	}
	s->slab = calloc(1, s->slab_len);
	return s->slab ? 0 : -ENOMEM;
}

/* Keys that collide: often one has the fingerprint of the first and shares
 * a bucket with it, so that reads must tell them apart by the block. */
static void sim_keys(struct sim *s)
{
	struct kv_keyhash want, kh;

	for (unsigned i = 0; i < s->nkeys; i++) {
		bool collide = i > 0 && sim_rand(s, 2);

		for (unsigned tries = 0; tries < (collide ? 6000u : 1u); tries++) {
			snprintf(s->keys[i].s, sizeof(s->keys[i].s), "k%u",
				 (unsigned)sim_rand(s, 1000000));
			s->keys[i].len = strlen(s->keys[i].s);
			if (!collide)
				break;
			kv_key_hash(&s->hello.geo, s->keys[i].s, s->keys[i].len, &kh);
			if (kh.fp == want.fp && (kh.b1 == want.b1 || kh.b1 == want.b2) &&
			    strcmp(s->keys[i].s, s->keys[0].s))
				break;
		}
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(s->keys[i].s, s->keys[j].s))
				snprintf(s->keys[i].s, sizeof(s->keys[i].s), "d%c", (char)('0' + i));
		s->keys[i].len = strlen(s->keys[i].s);
		if (i == 0)
			kv_key_hash(&s->hello.geo, s->keys[0].s, s->keys[0].len, &want);
	}
}

/*
 * In half the runs whose keys all differ in fingerprint, the clients draw
 * tags of one bit instead of six: space reused for a key then gets the
 * same word again one time in two, not one in 64, so the schedules reach
 * the ABA cases (a late CAS of a stopped client meeting a new block with
 * its old word) that real tags make rare. Keys of one fingerprint are left
 * out: for them a repeated word is the residual risk docs/design.md states
 * ("Readers with stale words"). Decided from its own stream, so that the
 * schedules' random choices stay what they were.
 */
static unsigned sim_tag_mask(const struct sim *s)
{
	uint64_t r = kv_rand_seed(s->o.seed ^ 0x7a6b5c4d3e2f1a0bull);
	struct kv_keyhash a, b;

	if (kv_rand_next(&r) % 2)
		return 0;
	for (unsigned i = 0; i < s->nkeys; i++)
		for (unsigned j = 0; j < i; j++) {
			kv_key_hash(&s->hello.geo, s->keys[i].s, s->keys[i].len, &a);
			kv_key_hash(&s->hello.geo, s->keys[j].s, s->keys[j].len, &b);
			if (a.fp == b.fp)
				return 0;
		}
	return 1;
}

/* The granules block word @w covers: its own block's, when the block there
 * is whole, else what the word's length says. */
static struct kv_extent sim_named(const struct sim *s, uint64_t w)
{
	return (struct kv_extent){kv_word_gran(w), kv_block_span(s->slab, &s->hello.geo, w)};
}

/*
 * At every step: each word of the index that names a block names a whole,
 * valid block of one of our keys, in space the allocator has not freed, and
 * no two words name the same key or overlapping space. (Blocks never change
 * once published; space is freed only when nothing names it.)
 */
static void sim_check_index(struct sim *s, bool final)
{
	const struct kv_geometry *g = &s->hello.geo;
	struct kv_extent named[3 * KV_BUCKET_WORDS];
	int where[SIM_MAX_KEYS];
	unsigned nn = 0;

	for (unsigned k = 0; k < SIM_MAX_KEYS; k++)
		where[k] = -1;
	/* No granule the slotted copy (or the one about to be) names is free:
	 * a power loss can bring it back at any step. */
	for (int c = 0; c < 2 && s->o.powerloss && s->sweep.keep[0]; c++) {
		int k = c == 0 ? s->newest : s->pending;

		for (uint64_t i = 0; k >= 0 && i < kv_nwords(g) && !s->failed; i++) {
			uint64_t kw = s->keep[k][i];
			struct kv_extent e;

			if (kv_word_kind(kw) != KV_WORD_BLOCK)
				continue;
			e = sim_named(s, kw);
			for (uint64_t gr = e.off; gr < e.off + e.len; gr++)
				if (kv_alloc_is_free(&s->sweep.alloc, &(struct kv_extent){gr, 1})) {
					sim_fail(s, "the %s copy's word %llu (%llx) names granule %llu, "
						 "which is free", c == 0 ? "slotted" : "finished",
						 (unsigned long long)i, (unsigned long long)kw,
						 (unsigned long long)gr);
					return;
				}
		}
	}
	for (uint64_t i = 0; i < kv_nwords(g) && !s->failed; i++) {
		uint64_t w;
		uint8_t blk[SIM_MAX_VALUE + 64];
		struct kv_block_view v;
		struct kv_extent e;
		uint64_t len;
		int key = -1;

		memcpy(&w, s->slab + kv_word_off(g, i), 8);
		if (kv_word_kind(w) == KV_WORD_EMPTY)
			continue;
		if (kv_word_kind(w) == KV_WORD_CLAIM) {
			if (final)
				sim_fail(s, "word %llu still claimed by client %u after the run",
					 (unsigned long long)i, kv_word_owner(w));
			continue;
		}
		if (kv_word_kind(w) != KV_WORD_BLOCK) {
			sim_fail(s, "word %llu is garbage: %llx", (unsigned long long)i,
				 (unsigned long long)w);
			return;
		}
		len = kv_block_read_len(g, w);
		if (len > sizeof(blk))
			len = sizeof(blk);
		memcpy(blk, s->slab + kv_block_off(g, w), len);
		if (kv_block_check(blk, len, w, g, NULL, 0, &v) != KV_BLOCK_OK) {
			sim_fail(s, "word %llu (%llx) names a block that does not validate",
				 (unsigned long long)i, (unsigned long long)w);
			return;
		}
		/* Retired means a successor took effect: that successor's
		 * word replaced this one first. */
		if (kv_view_retired(&v)) {
			sim_fail(s, "word %llu (%llx) names a retired block",
				 (unsigned long long)i, (unsigned long long)w);
			return;
		}
		for (unsigned k = 0; k < s->nkeys; k++)
			if (v.klen == s->keys[k].len && !memcmp(v.key, s->keys[k].s, v.klen))
				key = (int)k;
		if (key < 0) {
			sim_fail(s, "word %llu names a block of a key nobody wrote",
				 (unsigned long long)i);
			return;
		}
		if (where[key] >= 0) {
			sim_fail(s, "key %s is in two words: %d and %llu", s->keys[key].s,
				 where[key], (unsigned long long)i);
			return;
		}
		where[key] = (int)i;
		e = sim_named(s, w);
		for (uint64_t gr = e.off; gr < e.off + e.len; gr++) {
			struct kv_extent one = {gr, 1};

			if (kv_alloc_is_free(&s->sweep.alloc, &one)) {
				sim_fail(s, "word %llu names granule %llu, which is free",
					 (unsigned long long)i, (unsigned long long)gr);
				return;
			}
		}
		for (unsigned j = 0; j < nn; j++)
			if (e.off < named[j].off + named[j].len && named[j].off < e.off + e.len) {
				sim_fail(s, "two words name overlapping blocks");
				return;
			}
		/* A named block may lie in its writer's open grant, whole, and
		 * in no other. */
		for (unsigned id = 1, in = 0; id <= s->ncl + 1; id++)
			for (unsigned gi = 0; gi < KV_OWNER_GRANTS; gi++) {
				const struct kv_extent *gr = &s->sweep.grants[id][gi];

				if (!gr->len || e.off >= gr->off + gr->len || gr->off >= e.off + e.len)
					continue;
				if (e.off < gr->off || e.off + e.len > gr->off + gr->len || in++) {
					sim_fail(s, "word %llu names a block that straddles client %u's grant",
						 (unsigned long long)i, id);
					return;
				}
			}
		named[nn++] = e;
	}
	if (final && !s->failed) {
		/* Nothing held, nothing leaked: free is everything not named. */
		uint64_t live = 0;
		const struct kv_alloc_stats *st = &s->sweep.alloc.st;

		for (unsigned j = 0; j < nn; j++)
			live += named[j].len;
		if (st->held)
			sim_fail(s, "%llu granules still held after every client left",
				 (unsigned long long)st->held);
		else if (st->free + live != st->granules)
			sim_fail(s, "space leaked: %llu granules, %llu free, %llu named",
				 (unsigned long long)st->granules, (unsigned long long)st->free,
				 (unsigned long long)live);
	}
}


static void sim_check_history(struct sim *s, unsigned epoch)
{
	for (unsigned k = 0; k < s->nkeys && !s->failed; k++) {
		struct kv_lin_op ops[KV_LIN_MAX_OPS];
		unsigned n = 0;

		for (unsigned i = 0; i < s->nhist; i++) {
			const struct kv_lin_op *op = &s->hist[i].op;

			if (s->hist[i].key != (int)k || s->hist[i].epoch != epoch)
				continue;
			if (op->kind == KV_LIN_GET && op->resp == UINT64_MAX)
				continue; /* a read that never returned says nothing */
			if (n == KV_LIN_MAX_OPS) {
				sim_fail(s, "key %s: more than %d operations", s->keys[k].s,
					 KV_LIN_MAX_OPS);
				return;
			}
			ops[n++] = *op;
		}
		if (!kv_lin_check(ops, n)) {
			char line[64];
			size_t len = 0;
			char buf[sizeof(s->res->why)];

			buf[0] = 0;
			for (unsigned i = 0; i < n && len + 40 < sizeof(buf); i++) {
				const struct kv_lin_op *op = &ops[i];

				snprintf(line, sizeof(line), " c%d:%s%lld=%lld[%llu,%lld]", op->client,
					 op->kind == KV_LIN_PUT ? "put" : op->kind == KV_LIN_GET ? "get" : "del",
					 (long long)op->arg, (long long)op->ret, (unsigned long long)op->inv,
					 op->resp == UINT64_MAX ? -1ll : (long long)op->resp);
				len += strlen(line);
				strncat(buf, line, sizeof(buf) - strlen(buf) - 1);
			}
			sim_fail(s, "key %s: history not linearizable:%s", s->keys[k].s, buf);
		}
	}
}

static void sim_final_client_main(void)
{
	struct sim *s = g_sim;
	struct sim_client *c = s->running;

	for (unsigned k = 0; k < s->nkeys && !s->failed; k++) {
		uint8_t val[1024];
		size_t vlen = 0;
		int h = sim_hist_open(s, c->idx, (int)k, KV_LIN_GET, 0);
		int r = kv_get(c->kv, s->keys[k].s, s->keys[k].len, val, sizeof(val), &vlen);

		if (r && r != -ENOENT) {
			sim_fail(s, "final GET of %s failed: %s", s->keys[k].s, kv_strerror(r));
			break;
		}
		s->hist[h].op.ret = r ? -1 : sim_value_id(s, val, vlen);
		s->hist[h].op.resp = ++s->clock;
		if (s->hist[h].op.ret == -2)
			sim_fail(s, "final GET of %s: a value nobody wrote", s->keys[k].s);
	}
	c->st = SIM_DONE;
	swapcontext(&c->uc, &s->sched);
}

void kv_sim_run(const struct kv_sim_opts *opts, struct kv_sim_result *res)
{
	struct sim *s = calloc(1, sizeof(*s));
	unsigned ops_each[SIM_MAX_CLIENTS] = {0};

	memset(res, 0, sizeof(*res));
	if (!s) {
		snprintf(res->why, sizeof(res->why), "out of memory");
		return;
	}
	s->o = *opts;
	s->res = res;
	pthread_mutex_init(&s->copy_mu, NULL);
	s->rng = kv_rand_seed(opts->seed);
	g_sim = s;
	s->ncl = opts->clients ? opts->clients : 2 + (unsigned)sim_rand(s, 7);
	s->nkeys = opts->keys ? opts->keys : 1 + (unsigned)sim_rand(s, 4);
	if (!s->o.crash_per_mille)
		s->o.crash_per_mille = 1 + (unsigned)sim_rand(s, 8);
	if (s->ncl > SIM_MAX_CLIENTS)
		s->ncl = SIM_MAX_CLIENTS;
	/* A quarter of the runs (not the fault-free ones) end with the server
	 * restarting at some step; drawn from a stream of its own, so that the
	 * schedules themselves are those of the seed without restarts. */
	if (!opts->no_faults && !opts->no_restart) {
		uint64_t r = kv_rand_seed(opts->seed ^ 0x7265737461727421ull);

		if (kv_rand_next(&r) % 4 == 0)
			s->restart_at = 20 + kv_rand_next(&r) % 600;
	}
	if (s->nkeys > SIM_MAX_KEYS)
		s->nkeys = SIM_MAX_KEYS;
	{
		unsigned total = opts->ops ? opts->ops : 8 + (unsigned)sim_rand(s, 48);

		if (total > 60)
			total = 60;
		for (unsigned i = 0; i < total; i++)
			ops_each[sim_rand(s, s->ncl)]++;
	}
	if (sim_geometry(s) ||
	    kv_sweep_init(&s->sweep, s->slab, &s->hello.geo, SIM_LEASE_MS * 1000000ull,
			  sim_fence, s)) {
		if (!s->failed)
			sim_fail(s, "setup failed");
		goto out;
	}
	/* Grants small enough that every run seals, frees and grants again. */
	s->sweep.policy.min_bytes = 32 + 16 * sim_rand(s, 6);
	s->sweep.policy.max_bytes = s->sweep.policy.min_bytes + 16 * sim_rand(s, 12);
	if (opts->powerloss) { /* the syncer's copies; the first one of an empty index */
		size_t len = (size_t)kv_nwords(&s->hello.geo) * 8;

		s->keep[0] = calloc(1, len);
		s->keep[1] = calloc(1, len);
		s->wclock[0] = calloc(1, len);
		s->wclock[1] = calloc(1, len);
		if (!s->keep[0] || !s->keep[1] || !s->wclock[0] || !s->wclock[1]) {
			sim_fail(s, "out of memory");
			goto out;
		}
		s->newest = 0;
		s->pending = -1;
		s->copying = -1;
		s->sweep.keep[0] = s->keep[0];
		s->sweep.keep[1] = s->keep[1];
		s->sweep.copy_mu = &s->copy_mu;
		s->restart_at = 0;
		s->powerloss_at = 20 + sim_rand(s, 600);
	}
	sim_keys(s);
	s->tag_mask = sim_tag_mask(s);
	s->res->narrowed = s->tag_mask != 0;
	for (unsigned i = 0; i < s->ncl; i++)
		if (sim_client_init(s, &s->cl[i], (int)i, ops_each[i])) {
			sim_fail(s, "out of memory");
			goto out;
		}
	sim_schedule(s);
	/* As at a clean stop: no copy is kept any more (what they named and the
	 * index does not is garbage now). */
	if (s->copying >= 0 && s->o.powerloss) {
		s->copying = -1;
		pthread_mutex_unlock(&s->copy_mu);
	}
	s->sweep.keep[0] = s->sweep.keep[1] = NULL;
	s->sweep.copy_mu = NULL;
	/* Every client is done or gone: let the server hear of every death and
	 * sweep until no lock can be left (two passes after the last one). */
	for (unsigned i = 0; i < s->ncl; i++) /* a vanished one never tells */
		if (s->cl[i].st == SIM_DEAD && !s->cl[i].vanished)
			kv_sweep_owner_gone(&s->sweep, s->cl[i].id);
	for (unsigned pass = 0; pass < 3 && !s->failed; pass++) {
		/* A vanished client's lease runs out; the others disconnect. */
		s->vt += 2 * SIM_LEASE_MS * 1000000ull;
		s->res->released += kv_sweep_step(&s->sweep, 2 * sim_pass_work(s), s->vt);
		s->res->released += kv_sweep_step(&s->sweep, 2 * sim_pass_work(s), s->vt);
		sim_check_index(s, false);
		for (unsigned i = 0; i < s->ncl; i++) /* the others disconnect */
			if (!s->cl[i].vanished)
				kv_sweep_owner_gone(&s->sweep, s->cl[i].id);
	}
	/* A vanished client never says it is gone: only its lease can have
	 * cleared its claim. Then the harness forgets it, and its grants go. */
	for (uint64_t i = 0; i < kv_nwords(&s->hello.geo) && !s->failed; i++) {
		uint64_t w;

		memcpy(&w, s->slab + kv_word_off(&s->hello.geo, i), 8);
		if (kv_word_kind(w) == KV_WORD_CLAIM)
			sim_fail(s, "word %llu still claimed by client %u after its lease",
				 (unsigned long long)i, kv_word_owner(w));
	}
	for (unsigned i = 0; i < s->ncl; i++)
		kv_sweep_owner_gone(&s->sweep, s->cl[i].id);
	for (unsigned pass = 0; pass < 3 && !s->failed; pass++)
		s->res->released += kv_sweep_step(&s->sweep, 2 * sim_pass_work(s), s->vt);
	for (unsigned i = 0; i < s->ncl; i++)
		if (s->cl[i].op >= 0 || s->cl[i].st == SIM_DEAD)
			res->ops_unknown += s->cl[i].op >= 0;
	if (!s->failed)
		sim_check_index(s, true);
	if (!s->failed) {
		struct sim_client *c = &s->cl[s->ncl];

		memset(c, 0, sizeof(*c));
		if (!sim_client_init(s, c, (int)s->ncl, 0)) {
			makecontext(&c->uc, sim_final_client_main, 0);
			s->ncl++;
			s->o.no_faults = true;
			while (c->st != SIM_DONE && !s->failed) {
				if (c->st == SIM_WIRE) {
					s->vt = c->slow_until > s->vt ? c->slow_until : s->vt;
					sim_exec_piece(s, c);
				} else {
					s->vt = c->st == SIM_PAUSED && c->wake > s->vt ? c->wake : s->vt;
					sim_resume(s, c);
				}
			}
		}
	}
	if (!s->failed)
		sim_check_history(s, s->epoch);
out:
	res->ok = !s->failed;
	for (unsigned i = 0; i < s->ncl; i++) {
		kv_close(s->cl[i].kv);
		free(s->cl[i].stack);
	}
	kv_sweep_free(&s->sweep);
	free(s->keep[0]);
	free(s->keep[1]);
	free(s->wclock[0]);
	free(s->wclock[1]);
	pthread_mutex_destroy(&s->copy_mu);
	free(s->slab);
	free(s);
	g_sim = NULL;
}
