/* kv_alloc.c - the server's allocator of the data region and its mark and
 * sweep reclamation (kv_alloc.h). */
#include "kv_alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORD(i) ((i) / 64)
#define BIT(i) ((i) % 64)

/*
 * The three bitmaps are one allocation, free then held then mark, and two
 * words after the mark bitmap carry the sweep's free run tracking between
 * steps (the header has no field for it): the run of free granules that
 * reaches the end of the last word swept, and the longest run so far.
 */
#define SWEEP_RUN(a) ((a)->mark[(a)->nwords])
#define SWEEP_BEST(a) ((a)->mark[(a)->nwords + 1])

/* Bits of word @w that are granules of the region. */
static uint64_t valid_bits(const struct kv_alloc *a, uint64_t w)
{
	if (w + 1 < a->nwords || BIT(a->ngran) == 0)
		return ~0ull;
	return (1ull << BIT(a->ngran)) - 1;
}

static bool inside(const struct kv_alloc *a, const struct kv_extent *ext)
{
	return ext->len > 0 && ext->off < a->ngran && ext->len <= a->ngran - ext->off;
}

enum range_op { RANGE_COUNT, RANGE_SET, RANGE_CLEAR };

/* Over granules [off, off + len) of @bm: how many bits were set, and set or
 * clear them all. The range must be inside the region. */
static uint64_t range(uint64_t *bm, uint64_t off, uint64_t len, enum range_op op)
{
	uint64_t n = 0, end = off + len;

	while (off < end) {
		uint64_t bits = end - off < 64 - BIT(off) ? end - off : 64 - BIT(off);
		uint64_t m = (bits == 64 ? ~0ull : (1ull << bits) - 1) << BIT(off);
		uint64_t *w = &bm[WORD(off)];

		n += (uint64_t)__builtin_popcountll(*w & m);
		if (op == RANGE_SET)
			*w |= m;
		else if (op == RANGE_CLEAR)
			*w &= ~m;
		off += bits;
	}
	return n;
}

/*
 * The first run of set bits of @bm that starts in [@i, @end): returns its
 * start (@end when there is none) and its length in *len, counted no further
 * than @max (so a search for a short run does not walk a long one to its
 * end). Words with no bit set are skipped whole. No bit past ngran is ever
 * set, so a run stops at ngran at the latest.
 */
static uint64_t next_run(const struct kv_alloc *a, const uint64_t *bm, uint64_t i, uint64_t end,
			 uint64_t max, uint64_t *len)
{
	uint64_t j, w;

	for (; i < end; i = (WORD(i) + 1) * 64) {
		w = bm[WORD(i)] >> BIT(i);
		if (w) {
			i += (uint64_t)__builtin_ctzll(w);
			break;
		}
	}
	if (i >= end) {
		*len = 0;
		return end;
	}
	for (j = i; j < a->ngran && j - i < max; j = (WORD(j) + 1) * 64) {
		w = ~bm[WORD(j)] >> BIT(j);
		if (w) {
			j += (uint64_t)__builtin_ctzll(w);
			break;
		}
	}
	*len = j - i < max ? j - i : max;
	return i;
}

/* The longest run of free granules; its start in *at. */
static uint64_t longest(const struct kv_alloc *a, uint64_t *at)
{
	uint64_t i, len, best = 0;

	*at = a->ngran;
	for (i = 0; (i = next_run(a, a->free, i, a->ngran, UINT64_MAX, &len)) < a->ngran; i += len) {
		if (len > best) {
			best = len;
			*at = i;
		}
	}
	return best;
}

int kv_alloc_init(struct kv_alloc *a, uint64_t ngran)
{
	memset(a, 0, sizeof(*a));
	if (ngran == 0)
		return -EINVAL;
	a->ngran = ngran;
	a->nwords = ngran / 64 + (ngran % 64 != 0);
	a->free = calloc(3 * a->nwords + 2, sizeof(uint64_t));
	if (!a->free) {
		memset(a, 0, sizeof(*a));
		return -ENOMEM;
	}
	a->held = a->free + a->nwords;
	a->mark = a->held + a->nwords;
	for (uint64_t w = 0; w < a->nwords; w++)
		a->free[w] = valid_bits(a, w);
	a->st.granules = a->st.free = a->st.largest_free = ngran;
	return 0;
}

void kv_alloc_free(struct kv_alloc *a)
{
	free(a->free);
	free(a->seals);
	memset(a, 0, sizeof(*a));
}

int kv_alloc_grant(struct kv_alloc *a, uint64_t need, uint64_t want, struct kv_extent *ext)
{
	uint64_t i, at, len;

	uint64_t from = a->rover;

	if (need == 0 || need > want)
		return -EINVAL;
	/* Everything free: start again at the bottom, so that a fill after the
	 * store emptied packs as a new one does. A large run (a large value's
	 * own grant) is first fit from the bottom, so that the small grants the
	 * rover hands out round the region do not cut up the large runs. */
	if (a->st.free == a->ngran)
		a->rover = 0;
	if (need >= KV_ALLOC_LARGE)
		from = 0;
	/* Next fit: a run of @want starting at @from or after it, then one
	 * starting before it (it may reach past @from). */
	for (i = from; (at = next_run(a, a->free, i, a->ngran, want, &len)) < a->ngran;
	     i = at + len)
		if (len == want)
			goto grant;
	for (i = 0; (at = next_run(a, a->free, i, from, want, &len)) < from; i = at + len)
		if (len == want)
			goto grant;
	/* None: the longest run there is, if it has @need. */
	len = longest(a, &at);
	if (len < need) {
		a->st.refused++;
		return -ENOSPC;
	}
grant:
	range(a->free, at, len, RANGE_CLEAR);
	range(a->held, at, len, RANGE_SET);
	a->st.free -= len;
	a->st.held += len;
	a->st.grants++;
	if (need < KV_ALLOC_LARGE)
		a->rover = at + len < a->ngran ? at + len : 0;
	ext->off = at;
	ext->len = len;
	return 0;
}

static int queue_seal(struct kv_alloc *a, uint64_t off, uint64_t len)
{
	if (a->nseals == a->cap_seals) {
		uint32_t cap = a->cap_seals ? 2 * a->cap_seals : 64;
		struct kv_extent *s;

		if (a->cap_seals >= KV_ALLOC_MAX_SEALS)
			return -ENOMEM;
		if (cap > KV_ALLOC_MAX_SEALS)
			cap = KV_ALLOC_MAX_SEALS;
		s = realloc(a->seals, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		a->seals = s;
		a->cap_seals = cap;
	}
	a->seals[a->nseals++] = (struct kv_extent){off, len};
	return 0;
}

/*
 * Only the runs of @ext held now are queued: a granule that is free now may
 * be in another client's grant by the time the pass begins, and a held one
 * stays held (so the holder's) until then. A full queue is not applied at
 * once (that would free space in the middle of a pass): -ENOMEM, nothing
 * queued, and the caller seals again after the next pass begins.
 */
int kv_alloc_seal(struct kv_alloc *a, const struct kv_extent *ext)
{
	uint64_t i, at, len, end = ext->off + ext->len;
	uint32_t n0 = a->nseals;

	if (!inside(a, ext))
		return -EINVAL;
	for (i = ext->off; (at = next_run(a, a->held, i, end, end - i, &len)) < end; i = at + len) {
		len = len < end - at ? len : end - at;
		if (queue_seal(a, at, len) < 0) {
			a->nseals = n0;
			return -ENOMEM;
		}
	}
	return 0;
}

void kv_alloc_pass_begin(struct kv_alloc *a)
{
	for (uint32_t k = 0; k < a->nseals; k++)
		a->st.held -= range(a->held, a->seals[k].off, a->seals[k].len, RANGE_CLEAR);
	a->nseals = 0;
	a->sweeping = true;
	a->sweep_at = 0;
	SWEEP_RUN(a) = SWEEP_BEST(a) = 0;
}

void kv_alloc_mark(struct kv_alloc *a, const struct kv_extent *ext)
{
	if (ext->off >= a->ngran || ext->len == 0)
		return;
	range(a->mark, ext->off, ext->len < a->ngran - ext->off ? ext->len : a->ngran - ext->off,
	      RANGE_SET);
}

bool kv_alloc_sweep_step(struct kv_alloc *a, uint64_t budget)
{
	uint64_t run = SWEEP_RUN(a), best = SWEEP_BEST(a);

	if (!a->sweeping)
		return true;
	for (; budget > 0 && a->sweep_at < a->nwords; budget--, a->sweep_at++) {
		uint64_t w = a->sweep_at, valid = valid_bits(a, w);
		uint64_t freeable = ~a->free[w] & ~a->held[w] & ~a->mark[w] & valid;
		uint64_t f, ones, n = (uint64_t)__builtin_popcountll(freeable);

		a->free[w] |= freeable;
		a->mark[w] = 0;
		a->st.freed += n;
		a->st.free += n;

		/* Free runs: the low bits extend the run carried from the word
		 * before, the high bits start the one carried to the next. */
		f = a->free[w] & valid;
		if (f == ~0ull) {
			run += 64;
			continue;
		}
		run += (uint64_t)__builtin_ctzll(~f);
		if (run > best)
			best = run;
		for (n = 0, ones = f; ones; n++) /* longest run inside the word */
			ones &= ones << 1;
		if (n > best)
			best = n;
		run = (uint64_t)__builtin_clzll(~f);
	}
	SWEEP_RUN(a) = run;
	SWEEP_BEST(a) = best;
	if (a->sweep_at < a->nwords)
		return false;
	a->sweeping = false;
	a->st.passes++;
	a->st.largest_free = run > best ? run : best;
	return true;
}

uint64_t kv_alloc_largest(struct kv_alloc *a)
{
	uint64_t at;

	return a->st.largest_free = longest(a, &at);
}

bool kv_alloc_is_free(const struct kv_alloc *a, const struct kv_extent *ext)
{
	return inside(a, ext) && range(a->free, ext->off, ext->len, RANGE_COUNT) == ext->len;
}

bool kv_alloc_is_held(const struct kv_alloc *a, const struct kv_extent *ext)
{
	return inside(a, ext) && range(a->held, ext->off, ext->len, RANGE_COUNT) == ext->len;
}

uint64_t kv_alloc_reserve(struct kv_alloc *a, const struct kv_extent *ext)
{
	uint64_t n;

	if (!inside(a, ext))
		return 0;
	n = range(a->free, ext->off, ext->len, RANGE_CLEAR);
	a->st.free -= n;
	return n;
}
