/*
 * kv_lincheck.c - a linearizability checker for one key's history (a
 * register with put, get and del), after Wing and Gong, with Lowe's
 * memoisation: a configuration (which operations are linearized, what the
 * register holds) that failed once fails again, so it is not searched twice.
 */
#include <stdlib.h>
#include <string.h>

#include "kv_sim.h"

struct kv__memo {
	uint64_t *mask;
	int64_t *val;
	uint8_t *used;
	size_t cap, n;
};

static size_t kv__memo_hash(uint64_t mask, int64_t val, size_t cap)
{
	uint64_t h = mask * 0x9e3779b97f4a7c15ull ^ (uint64_t)val * 0xbf58476d1ce4e5b9ull;

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static bool kv__memo_has(const struct kv__memo *m, uint64_t mask, int64_t val)
{
	if (!m->cap)
		return false;
	for (size_t i = kv__memo_hash(mask, val, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->used[i])
			return false;
		if (m->mask[i] == mask && m->val[i] == val)
			return true;
	}
}

static bool kv__memo_grow(struct kv__memo *m);

static bool kv__memo_add(struct kv__memo *m, uint64_t mask, int64_t val)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap && !kv__memo_grow(m))
		return false;
	for (i = kv__memo_hash(mask, val, m->cap); m->used[i]; i = (i + 1) & (m->cap - 1))
		;
	m->used[i] = 1;
	m->mask[i] = mask;
	m->val[i] = val;
	m->n++;
	return true;
}

static bool kv__memo_grow(struct kv__memo *m)
{
	struct kv__memo big = {.cap = m->cap ? 2 * m->cap : 1024};

	big.mask = malloc(big.cap * sizeof(*big.mask));
	big.val = malloc(big.cap * sizeof(*big.val));
	big.used = calloc(big.cap, 1);
	if (!big.mask || !big.val || !big.used) {
		free(big.mask), free(big.val), free(big.used);
		return false;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->used[i])
			kv__memo_add(&big, m->mask[i], m->val[i]);
	free(m->mask), free(m->val), free(m->used);
	*m = big;
	return true;
}

struct kv__lin {
	const struct kv_lin_op *ops;
	unsigned n;
	uint64_t must; /* operations with a known outcome */
	struct kv__memo memo;
};

/* Apply op to the register; false if its recorded result contradicts it. */
static bool kv__lin_step(const struct kv_lin_op *op, int64_t val, int64_t *out)
{
	bool unknown = op->resp == UINT64_MAX;

	switch (op->kind) {
	case KV_LIN_PUT:
		*out = op->arg;
		return true;
	case KV_LIN_DEL:
		*out = -1;
		return unknown || op->ret == (val != -1);
	case KV_LIN_GET:
	default:
		*out = val;
		return unknown || op->ret == val;
	}
}

static bool kv__lin_search(struct kv__lin *l, uint64_t done, int64_t val)
{
	uint64_t min_resp = UINT64_MAX;

	if ((done & l->must) == l->must)
		return true; /* the unknown rest may never have taken effect */
	if (kv__memo_has(&l->memo, done, val))
		return false;
	for (unsigned i = 0; i < l->n; i++)
		if (!(done >> i & 1) && l->ops[i].resp < min_resp)
			min_resp = l->ops[i].resp;
	/* Any operation invoked before the earliest pending response may be
	 * the next to take effect. */
	for (unsigned i = 0; i < l->n; i++) {
		int64_t next;

		if (done >> i & 1 || l->ops[i].inv > min_resp)
			continue;
		if (kv__lin_step(&l->ops[i], val, &next) &&
		    kv__lin_search(l, done | 1ull << i, next))
			return true;
	}
	kv__memo_add(&l->memo, done, val);
	return false;
}

bool kv_lin_check(const struct kv_lin_op *ops, unsigned n)
{
	struct kv__lin l = {.ops = ops, .n = n};
	bool ok;

	if (n > KV_LIN_MAX_OPS)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (ops[i].resp != UINT64_MAX)
			l.must |= 1ull << i;
	ok = kv__lin_search(&l, 0, -1);
	free(l.memo.mask), free(l.memo.val), free(l.memo.used);
	return ok;
}
