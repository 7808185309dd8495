/* test_alloc.c - the data region's allocator and its mark and sweep
 * (kv_alloc.h), by hand and against a byte-per-granule model. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_alloc.h"
#include "kv_base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 0x5a5a5a5a5a5a5a5aull

static struct kv_extent ext(uint64_t off, uint64_t len)
{
	return (struct kv_extent){off, len};
}

/* Grant and expect exactly @off/@len. */
static void grant_ok(struct kv_alloc *a, uint64_t need, uint64_t want, uint64_t off, uint64_t len)
{
	struct kv_extent e = {SENTINEL, SENTINEL};

	ck_assert_int_eq(kv_alloc_grant(a, need, want, &e), 0);
	ck_assert_uint_eq(e.off, off);
	ck_assert_uint_eq(e.len, len);
}

static void seal_ok(struct kv_alloc *a, uint64_t off, uint64_t len)
{
	struct kv_extent e = ext(off, len);

	ck_assert_int_eq(kv_alloc_seal(a, &e), 0);
}

static void sweep_all(struct kv_alloc *a, uint64_t budget)
{
	uint64_t steps = 0;

	while (!kv_alloc_sweep_step(a, budget))
		ck_assert_uint_le(++steps, a->nwords);
}

/* A whole pass whose walk names @marks. */
static void pass(struct kv_alloc *a, const struct kv_extent *marks, size_t nmarks)
{
	kv_alloc_pass_begin(a);
	for (size_t k = 0; k < nmarks; k++)
		kv_alloc_mark(a, &marks[k]);
	sweep_all(a, 3);
}

static bool is_free(const struct kv_alloc *a, uint64_t off, uint64_t len)
{
	struct kv_extent e = ext(off, len);

	return kv_alloc_is_free(a, &e);
}

static bool is_held(const struct kv_alloc *a, uint64_t off, uint64_t len)
{
	struct kv_extent e = ext(off, len);

	return kv_alloc_is_held(a, &e);
}

/* Used: neither free nor held, granule by granule. */
static bool is_used(const struct kv_alloc *a, uint64_t off, uint64_t len)
{
	for (uint64_t i = off; i < off + len; i++)
		if (is_free(a, i, 1) || is_held(a, i, 1))
			return false;
	return true;
}

static uint64_t used(const struct kv_alloc *a)
{
	return a->st.granules - a->st.free - a->st.held;
}

/* No bit past the region in any bitmap, and the marks all clear. */
static void check_tail(const struct kv_alloc *a, bool marks_clear)
{
	uint64_t last = a->nwords - 1, extra = a->ngran % 64 ? ~0ull << (a->ngran % 64) : 0;

	ck_assert_uint_eq(a->nwords, (a->ngran + 63) / 64);
	ck_assert_uint_eq(a->free[last] & extra, 0);
	ck_assert_uint_eq(a->held[last] & extra, 0);
	ck_assert_uint_eq(a->mark[last] & extra, 0);
	for (uint64_t w = 0; marks_clear && w < a->nwords; w++)
		ck_assert_uint_eq(a->mark[w], 0);
}

/* Longest free run, granule by granule through the public calls. */
static uint64_t slow_largest(const struct kv_alloc *a)
{
	uint64_t run = 0, best = 0;

	for (uint64_t i = 0; i < a->ngran; i++) {
		run = is_free(a, i, 1) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

START_TEST(test_init)
{
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 100), 0);
	ck_assert_uint_eq(a.st.granules, 100);
	ck_assert_uint_eq(a.st.free, 100);
	ck_assert_uint_eq(a.st.held, 0);
	ck_assert_uint_eq(a.st.largest_free, 100);
	ck_assert(is_free(&a, 0, 100));
	ck_assert(!is_held(&a, 0, 1));
	ck_assert(!is_free(&a, 0, 101));
	ck_assert(!is_free(&a, 100, 1));
	ck_assert(!is_free(&a, 0, 0));
	ck_assert(!is_free(&a, 1, UINT64_MAX));
	ck_assert_uint_eq(kv_alloc_largest(&a), 100);
	check_tail(&a, true);
	kv_alloc_free(&a);
	ck_assert_int_eq(kv_alloc_init(&a, 0), -EINVAL);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_grant_exact)
{
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 256), 0);
	grant_ok(&a, 8, 8, 0, 8);
	grant_ok(&a, 4, 10, 8, 10);
	ck_assert_uint_eq(a.rover, 18);
	ck_assert_uint_eq(a.st.free, 238);
	ck_assert_uint_eq(a.st.held, 18);
	ck_assert_uint_eq(a.st.grants, 2);
	ck_assert_uint_eq(a.st.refused, 0);
	ck_assert(is_held(&a, 0, 18));
	ck_assert(!is_held(&a, 0, 19));
	ck_assert(!is_free(&a, 17, 1));
	ck_assert(is_free(&a, 18, 238));
	/* Across word boundaries, up to the very end. */
	grant_ok(&a, 200, 200, 18, 200);
	grant_ok(&a, 38, 38, 218, 38);
	ck_assert_uint_eq(a.rover, 0);
	ck_assert_uint_eq(a.st.free, 0);
	ck_assert(is_held(&a, 0, 256));
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_grant_longest)
{
	struct kv_alloc a;
	struct kv_extent e = {SENTINEL, SENTINEL};

	ck_assert_int_eq(kv_alloc_init(&a, 64), 0);
	grant_ok(&a, 64, 64, 0, 64);
	seal_ok(&a, 5, 5);
	seal_ok(&a, 20, 10);
	seal_ok(&a, 40, 3);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.freed, 18);
	ck_assert_uint_eq(a.st.free, 18);
	ck_assert_uint_eq(a.st.largest_free, 10);
	/* No run of 20: the longest, then the next longest. */
	grant_ok(&a, 4, 20, 20, 10);
	grant_ok(&a, 4, 20, 5, 5);
	ck_assert_int_eq(kv_alloc_grant(&a, 4, 20, &e), -ENOSPC);
	ck_assert_uint_eq(e.off, SENTINEL);
	ck_assert_uint_eq(a.st.refused, 1);
	grant_ok(&a, 3, 20, 40, 3);
	ck_assert_uint_eq(a.st.free, 0);
	ck_assert_uint_eq(a.st.grants, 4);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_grant_next_fit)
{
	struct kv_alloc a;
	struct kv_extent e;

	ck_assert_int_eq(kv_alloc_init(&a, 128), 0);
	grant_ok(&a, 100, 100, 0, 100);
	seal_ok(&a, 0, 50);
	pass(&a, NULL, 0);
	/* From the rover (100), not from 0. */
	grant_ok(&a, 8, 8, 100, 8);
	/* 20 left at the end: wraps around to the start. */
	grant_ok(&a, 30, 30, 0, 30);
	ck_assert_uint_eq(a.rover, 30);
	/* Runs of 20 at 30 and 108: none of 25, the first longest one. */
	ck_assert_int_eq(kv_alloc_grant(&a, 25, 25, &e), -ENOSPC);
	grant_ok(&a, 5, 25, 30, 20);
	grant_ok(&a, 5, 25, 108, 20);
	ck_assert_uint_eq(a.rover, 0);
	kv_alloc_free(&a);
}
END_TEST

/* An emptied region packs large runs from the bottom again, and a large run
 * is first fit without moving the rover (store_churn's 1 MiB values). */
START_TEST(test_large_first_fit)
{
	const uint64_t L = KV_ALLOC_LARGE, n = 4 * L + L / 2;
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, n), 0);
	grant_ok(&a, 100, 100, 0, 100);           /* the rover moves to 100 */
	seal_ok(&a, 0, 100);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.free, n);
	/* All free again: four large runs from 0, then no fifth whole one. */
	for (uint64_t k = 0; k < 4; k++)
		grant_ok(&a, L, L, k * L, L);
	ck_assert_int_eq(kv_alloc_grant(&a, L, L, &(struct kv_extent){0}), -ENOSPC);
	/* Free the second: a large run goes back there, the first fit. */
	seal_ok(&a, L, L);
	pass(&a, (struct kv_extent[]){{0, L}, {2 * L, 2 * L}}, 2);
	grant_ok(&a, L, L, L, L);
	/* A small grant still goes where the rover is, after the last small one. */
	grant_ok(&a, 10, 10, 4 * L, 10);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_enospc_unchanged)
{
	struct kv_alloc a;
	struct kv_extent e = {SENTINEL, SENTINEL};
	uint64_t maps[3 * 3], rover;
	struct kv_alloc_stats st;

	ck_assert_int_eq(kv_alloc_init(&a, 130), 0);
	grant_ok(&a, 100, 100, 0, 100);
	seal_ok(&a, 10, 10);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.nwords, 3);
	memcpy(maps, a.free, 3 * sizeof(*maps));
	memcpy(maps + 3, a.held, 3 * sizeof(*maps));
	memcpy(maps + 6, a.mark, 3 * sizeof(*maps));
	memcpy(&st, &a.st, sizeof(st));
	rover = a.rover;

	ck_assert_int_eq(kv_alloc_grant(&a, 31, 40, &e), -ENOSPC);
	ck_assert_uint_eq(e.off, SENTINEL);
	ck_assert_uint_eq(e.len, SENTINEL);
	ck_assert_mem_eq(maps, a.free, 3 * sizeof(*maps));
	ck_assert_mem_eq(maps + 3, a.held, 3 * sizeof(*maps));
	ck_assert_mem_eq(maps + 6, a.mark, 3 * sizeof(*maps));
	ck_assert_uint_eq(a.rover, rover);
	st.refused++;
	ck_assert_mem_eq(&st, &a.st, sizeof(st));
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_einval)
{
	static const struct kv_extent bad[] = {
		{0, 0}, {100, 1}, {99, 2}, {1, UINT64_MAX}, {UINT64_MAX, 2}, {200, 0},
	};
	struct kv_alloc a;
	struct kv_extent e = {SENTINEL, SENTINEL};

	ck_assert_int_eq(kv_alloc_init(&a, 100), 0);
	ck_assert_int_eq(kv_alloc_grant(&a, 0, 5, &e), -EINVAL);
	ck_assert_int_eq(kv_alloc_grant(&a, 0, 0, &e), -EINVAL);
	ck_assert_int_eq(kv_alloc_grant(&a, 6, 5, &e), -EINVAL);
	ck_assert_uint_eq(e.off, SENTINEL);
	ck_assert_uint_eq(a.st.grants, 0);
	ck_assert_uint_eq(a.st.refused, 0);
	ck_assert_uint_eq(a.st.free, 100);
	for (size_t k = 0; k < N(bad); k++) {
		ck_assert_msg(kv_alloc_seal(&a, &bad[k]) == -EINVAL, "seal %zu accepted", k);
		ck_assert_msg(!kv_alloc_is_free(&a, &bad[k]), "extent %zu free", k);
		ck_assert_msg(!kv_alloc_is_held(&a, &bad[k]), "extent %zu held", k);
	}
	ck_assert_uint_eq(a.nseals, 0);
	seal_ok(&a, 99, 1); /* the edge itself is fine; not held: nothing queued */
	ck_assert_uint_eq(a.nseals, 0);
	grant_ok(&a, 100, 100, 0, 100);
	seal_ok(&a, 99, 1);
	ck_assert_uint_eq(a.nseals, 1);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_seal_then_pass)
{
	struct kv_alloc a;
	struct kv_extent b = ext(32, 32);

	ck_assert_int_eq(kv_alloc_init(&a, 192), 0);
	grant_ok(&a, 32, 32, 0, 32);  /* A: sealed, unmarked */
	grant_ok(&a, 32, 32, 32, 32); /* B: sealed, marked */
	grant_ok(&a, 32, 32, 64, 32); /* C: held, never marked */
	seal_ok(&a, 0, 32);
	seal_ok(&a, 32, 32);
	ck_assert(is_held(&a, 0, 96)); /* not before the pass */
	ck_assert_uint_eq(a.st.held, 96);

	kv_alloc_pass_begin(&a);
	ck_assert(a.sweeping);
	ck_assert_uint_eq(a.st.held, 32);
	ck_assert_uint_eq(a.nseals, 0);
	ck_assert(is_used(&a, 0, 64));
	kv_alloc_mark(&a, &b);
	sweep_all(&a, 1);
	ck_assert(!a.sweeping);
	ck_assert(is_free(&a, 0, 32));
	ck_assert(is_used(&a, 32, 32));
	ck_assert(is_held(&a, 64, 32));
	ck_assert(is_free(&a, 96, 96));
	ck_assert_uint_eq(a.st.freed, 32);
	ck_assert_uint_eq(a.st.free, 128);
	ck_assert_uint_eq(a.st.held, 32);
	ck_assert_uint_eq(used(&a), 32);
	ck_assert_uint_eq(a.st.passes, 1);
	check_tail(&a, true);

	/* B is no longer named: freed. C is still held: never. */
	pass(&a, NULL, 0);
	ck_assert(is_free(&a, 0, 64));
	ck_assert(is_held(&a, 64, 32));
	ck_assert_uint_eq(a.st.freed, 64);
	ck_assert_uint_eq(a.st.free, 160);
	ck_assert_uint_eq(a.st.passes, 2);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_partial_seal)
{
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 64), 0);
	grant_ok(&a, 20, 20, 0, 20);
	seal_ok(&a, 5, 5);
	seal_ok(&a, 30, 10); /* free: ignored */
	seal_ok(&a, 15, 20); /* held up to 20, then free */
	seal_ok(&a, 5, 2);   /* twice: counted once */
	kv_alloc_pass_begin(&a);
	ck_assert_uint_eq(a.st.held, 10);
	sweep_all(&a, 1);
	ck_assert(is_held(&a, 0, 5));
	ck_assert(is_free(&a, 5, 5));
	ck_assert(is_held(&a, 10, 5));
	ck_assert(is_free(&a, 15, 49));
	ck_assert_uint_eq(a.st.free, 54);
	ck_assert_uint_eq(a.st.freed, 10);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_seal_after_pass_begin)
{
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 300), 0);
	grant_ok(&a, 16, 16, 0, 16);
	grant_ok(&a, 16, 16, 16, 16);
	kv_alloc_pass_begin(&a);
	seal_ok(&a, 0, 16);
	ck_assert(!kv_alloc_sweep_step(&a, 1));
	seal_ok(&a, 16, 16); /* in the middle of the sweep */
	sweep_all(&a, 1);
	ck_assert(is_held(&a, 0, 32));
	ck_assert_uint_eq(a.st.held, 32);
	ck_assert_uint_eq(a.st.freed, 0);
	ck_assert_uint_eq(a.nseals, 2);

	kv_alloc_pass_begin(&a);
	ck_assert_uint_eq(a.st.held, 0);
	sweep_all(&a, 2);
	ck_assert(is_free(&a, 0, 300));
	ck_assert_uint_eq(a.st.freed, 32);
	ck_assert_uint_eq(a.st.largest_free, 300);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_marks_cleared)
{
	struct kv_alloc a;
	struct kv_extent m = ext(70, 10);

	ck_assert_int_eq(kv_alloc_init(&a, 200), 0);
	grant_ok(&a, 100, 100, 0, 100);
	seal_ok(&a, 0, 100);
	pass(&a, &m, 1);
	ck_assert(is_used(&a, 70, 10));
	ck_assert(is_free(&a, 0, 70));
	ck_assert(is_free(&a, 80, 120));
	check_tail(&a, true);
	/* Marked again: stays; then no longer named: freed. */
	pass(&a, &m, 1);
	ck_assert(is_used(&a, 70, 10));
	pass(&a, NULL, 0);
	ck_assert(is_free(&a, 0, 200));
	ck_assert_uint_eq(a.st.freed, 100);
	ck_assert_uint_eq(a.st.passes, 3);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_mark_clamped)
{
	static const struct kv_extent marks[] = {
		{125, 1000}, {130, 5}, {UINT64_MAX - 1, 10}, {0, 0}, {10, UINT64_MAX},
	};
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 130), 0);
	grant_ok(&a, 130, 130, 0, 130);
	seal_ok(&a, 0, 130);
	kv_alloc_pass_begin(&a);
	kv_alloc_mark(&a, &marks[0]);
	kv_alloc_mark(&a, &marks[1]);
	kv_alloc_mark(&a, &marks[2]);
	kv_alloc_mark(&a, &marks[3]);
	check_tail(&a, false);
	ck_assert_uint_eq(a.mark[0], 0);
	ck_assert_uint_eq(a.mark[1], 7ull << 61); /* 125..127 */
	ck_assert_uint_eq(a.mark[2], 3);          /* 128..129 */
	sweep_all(&a, 1);
	ck_assert(is_free(&a, 0, 125));
	ck_assert(is_used(&a, 125, 5));
	/* Up to the end of the region from 10. */
	kv_alloc_pass_begin(&a);
	kv_alloc_mark(&a, &marks[4]);
	check_tail(&a, false);
	sweep_all(&a, 1);
	ck_assert(is_used(&a, 125, 5));
	pass(&a, NULL, 0);
	ck_assert(is_free(&a, 0, 130));
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_sweep_budget_one)
{
	struct kv_alloc a;
	struct kv_extent m = ext(258, 129);
	struct kv_alloc_stats st;

	ck_assert_int_eq(kv_alloc_init(&a, 645), 0); /* 11 words */
	for (uint64_t k = 0; k < 5; k++)
		grant_ok(&a, 129, 129, 129 * k, 129);
	seal_ok(&a, 0, 129);
	seal_ok(&a, 258, 129);
	seal_ok(&a, 516, 129);
	kv_alloc_pass_begin(&a);
	kv_alloc_mark(&a, &m);
	ck_assert(!kv_alloc_sweep_step(&a, 0)); /* no budget, no progress */
	ck_assert_uint_eq(a.sweep_at, 0);
	for (uint64_t w = 1; w < 11; w++) {
		ck_assert(!kv_alloc_sweep_step(&a, 1));
		ck_assert_uint_eq(a.sweep_at, w);
	}
	ck_assert_uint_eq(a.st.passes, 0);
	ck_assert(kv_alloc_sweep_step(&a, 1));
	ck_assert_uint_eq(a.st.passes, 1);
	ck_assert(is_free(&a, 0, 129));
	ck_assert(is_held(&a, 129, 129));
	ck_assert(is_used(&a, 258, 129));
	ck_assert(is_held(&a, 387, 129));
	ck_assert(is_free(&a, 516, 129));
	ck_assert_uint_eq(a.st.freed, 258);
	ck_assert_uint_eq(a.st.largest_free, 129);
	check_tail(&a, true);

	/* Not sweeping: true, and nothing moves. */
	memcpy(&st, &a.st, sizeof(st));
	ck_assert(kv_alloc_sweep_step(&a, 100));
	ck_assert_mem_eq(&st, &a.st, sizeof(st));
	kv_alloc_free(&a);
}
END_TEST

static const uint64_t odd_sizes[] = {1, 2, 63, 64, 65, 127, 128, 130, 191};

START_TEST(test_odd_sizes)
{
	uint64_t n = odd_sizes[_i];
	struct kv_alloc a;
	struct kv_extent e, last = ext(n - 1, 1);

	ck_assert_int_eq(kv_alloc_init(&a, n), 0);
	check_tail(&a, true);
	grant_ok(&a, 1, n + 10, 0, n);
	ck_assert_uint_eq(a.st.free, 0);
	ck_assert_int_eq(kv_alloc_grant(&a, 1, 1, &e), -ENOSPC);
	check_tail(&a, true);
	seal_ok(&a, 0, n);
	kv_alloc_pass_begin(&a);
	kv_alloc_mark(&a, &last);
	sweep_all(&a, 1);
	check_tail(&a, true);
	ck_assert_uint_eq(a.st.free, n - 1);
	ck_assert(is_used(&a, n - 1, 1));
	ck_assert_uint_eq(a.st.largest_free, n - 1);
	ck_assert_uint_eq(kv_alloc_largest(&a), n - 1);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.free, n);
	ck_assert_uint_eq(a.st.largest_free, n);
	ck_assert_uint_eq(kv_alloc_largest(&a), n);

	/* One at a time: each granule once, none past the end. */
	for (uint64_t k = 0; k < n; k++)
		grant_ok(&a, 1, 1, k, 1);
	ck_assert_int_eq(kv_alloc_grant(&a, 1, 1, &e), -ENOSPC);
	ck_assert_uint_eq(a.st.held, n);
	check_tail(&a, true);
	for (uint64_t k = 0; k < n; k += 2)
		seal_ok(&a, k, 1);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.free, (n + 1) / 2);
	ck_assert_uint_eq(a.st.largest_free, 1);
	seal_ok(&a, 0, n);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.free, n);
	ck_assert_uint_eq(a.st.held, 0);
	ck_assert_uint_eq(a.st.largest_free, n);
	check_tail(&a, true);
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_largest_after_sweep)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
	struct kv_alloc a;
	struct kv_extent g[1000], e;
	size_t ng = 0;

	ck_assert_int_eq(kv_alloc_init(&a, 1000), 0);
	while (kv_alloc_grant(&a, 1, 1 + kv_rand_next(&seed) % 150, &e) == 0)
		g[ng++] = e;
	ck_assert_uint_eq(a.st.free, 0);
	for (size_t k = 0; k < ng; k++)
		if (kv_rand_next(&seed) % 3)
			ck_assert_int_eq(kv_alloc_seal(&a, &g[k]), 0);
	kv_alloc_pass_begin(&a);
	sweep_all(&a, 1 + kv_rand_next(&seed) % 5);
	ck_assert_uint_eq(a.st.largest_free, slow_largest(&a));
	ck_assert_uint_eq(kv_alloc_largest(&a), slow_largest(&a));
	kv_alloc_free(&a);
}
END_TEST

START_TEST(test_seal_queue_full)
{
	struct kv_alloc a;
	struct kv_extent e;
	uint32_t bad = 0;

	ck_assert_int_eq(kv_alloc_init(&a, 64), 0);
	grant_ok(&a, 64, 64, 0, 64);
	seal_ok(&a, 20, 10);
	pass(&a, NULL, 0); /* held: 0..19 and 30..63 */
	for (uint32_t k = 0; k < KV_ALLOC_MAX_SEALS - 1; k++) {
		e = ext(k % 20, 1);
		bad += kv_alloc_seal(&a, &e) != 0;
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(a.nseals, KV_ALLOC_MAX_SEALS - 1);
	/* Two held runs, room for one: none of it is queued. */
	e = ext(0, 64);
	ck_assert_int_eq(kv_alloc_seal(&a, &e), -ENOMEM);
	ck_assert_uint_eq(a.nseals, KV_ALLOC_MAX_SEALS - 1);
	seal_ok(&a, 40, 24);
	ck_assert_uint_eq(a.nseals, KV_ALLOC_MAX_SEALS);
	e = ext(30, 1);
	ck_assert_int_eq(kv_alloc_seal(&a, &e), -ENOMEM);
	ck_assert_uint_eq(a.st.held, 54);
	ck_assert(is_held(&a, 0, 20));
	ck_assert(is_held(&a, 30, 34));
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.nseals, 0);
	ck_assert_uint_eq(a.st.held, 10);
	ck_assert(is_held(&a, 30, 10));
	ck_assert_uint_eq(a.st.free, 54);
	seal_ok(&a, 0, 64);
	ck_assert_uint_eq(a.nseals, 1);
	kv_alloc_free(&a);
}
END_TEST

/* A seal over free space, granted before the pass begins: the new grant
 * stays held (the seal took the held part as it was when made). */
START_TEST(test_seal_over_free_space)
{
	struct kv_alloc a;

	ck_assert_int_eq(kv_alloc_init(&a, 200), 0);
	grant_ok(&a, 10, 10, 0, 10);
	grant_ok(&a, 10, 10, 10, 10);
	seal_ok(&a, 10, 10);
	pass(&a, NULL, 0); /* held 0..9, free from 10 */
	seal_ok(&a, 0, 150);
	ck_assert_uint_eq(a.nseals, 1);
	ck_assert_uint_eq(a.seals[0].off, 0);
	ck_assert_uint_eq(a.seals[0].len, 10);
	grant_ok(&a, 50, 50, 20, 50); /* from the rover */
	grant_ok(&a, 10, 10, 70, 10);
	kv_alloc_pass_begin(&a);
	ck_assert_uint_eq(a.st.held, 60);
	sweep_all(&a, 1);
	ck_assert(is_free(&a, 0, 20));
	ck_assert(is_held(&a, 20, 60));
	ck_assert(is_free(&a, 80, 120));
	/* Starting before a held run that goes on past its end: only the part
	 * inside. */
	seal_ok(&a, 15, 10);
	ck_assert_uint_eq(a.nseals, 1);
	ck_assert_uint_eq(a.seals[0].off, 20);
	ck_assert_uint_eq(a.seals[0].len, 5);
	pass(&a, NULL, 0);
	ck_assert_uint_eq(a.st.held, 55);
	ck_assert(is_free(&a, 0, 25));
	ck_assert(is_held(&a, 25, 55));
	kv_alloc_free(&a);
}
END_TEST

/*
 * The model: one byte a granule, and the extents the test has been granted.
 * A random run of grants, seals (whole or part of a grant, some "live", i.e.
 * named by the index), deaths of live extents, and passes whose sweep steps
 * are interleaved with grants and seals.
 */
enum { M_FREE, M_HELD, M_USED };
enum { R_GRANTED, R_SEALING, R_SEALED }; /* sealing: not yet applied */

struct rec {
	uint64_t off, len;
	int state;
	bool live;
	bool doomed; /* dead and sealed when the pass began: this sweep frees it */
};

struct model {
	struct kv_alloc a;
	uint64_t n, seed;
	uint8_t *m, *mk;
	uint8_t *doomed; /* granules of doomed extents */
	uint64_t *run; /* free run length from each granule */
	struct rec *r;
	size_t nr;
	uint64_t swept; /* words the model has swept */
	bool grants_in_sweep;
};

static uint64_t rnd(struct model *t, uint64_t n)
{
	return kv_rand_next(&t->seed) % n;
}

static void model_check(struct model *t)
{
	uint64_t cnt[3] = {0, 0, 0};

	/* One assertion, not one a granule: each costs a write in fork mode. */
	for (uint64_t i = 0; i < t->n; i++) {
		bool f = t->a.free[i / 64] >> (i % 64) & 1, h = t->a.held[i / 64] >> (i % 64) & 1;

		cnt[t->m[i]]++;
		if (f != (t->m[i] == M_FREE) || h != (t->m[i] == M_HELD))
			ck_abort_msg("granule %llu: free %d held %d, model %d",
				     (unsigned long long)i, f, h, t->m[i]);
	}
	ck_assert_uint_eq(t->a.st.free, cnt[M_FREE]);
	ck_assert_uint_eq(t->a.st.held, cnt[M_HELD]);
	ck_assert_uint_eq(used(&t->a), cnt[M_USED]);
	check_tail(&t->a, false);
}

static void model_grant(struct model *t)
{
	uint64_t need = 1 + rnd(t, 16), want = need + rnd(t, 48), rover = t->a.rover;
	uint64_t at = t->n, best = 0, best_at = t->n;
	struct kv_extent e = {SENTINEL, SENTINEL};
	int rc;

	/* Where the model says it goes: next fit, else the first longest. */
	t->run[t->n] = 0;
	for (uint64_t i = t->n; i-- > 0;)
		t->run[i] = t->m[i] == M_FREE ? t->run[i + 1] + 1 : 0;
	for (uint64_t k = 0; k < t->n && at == t->n; k++) {
		uint64_t i = (rover + k) % t->n;

		if (t->run[i] >= want)
			at = i;
	}
	for (uint64_t i = 0; i < t->n; i++) {
		if (t->run[i] > best) {
			best = t->run[i];
			best_at = i;
		}
	}
	rc = kv_alloc_grant(&t->a, need, want, &e);
	if (at == t->n && best < need) {
		ck_assert_int_eq(rc, -ENOSPC);
		ck_assert_uint_eq(e.off, SENTINEL);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(e.off, at < t->n ? at : best_at);
	ck_assert_uint_eq(e.len, at < t->n ? want : best);
	for (uint64_t i = e.off; i < e.off + e.len; i++) {
		if (t->m[i] != M_FREE) /* never granted twice */
			ck_abort_msg("granule %llu granted in state %d", (unsigned long long)i, t->m[i]);
		t->m[i] = M_HELD;
	}
	t->r[t->nr++] = (struct rec){e.off, e.len, R_GRANTED, true, false};
	t->grants_in_sweep |= t->a.sweeping;
}

/* Seal a granted extent, or a part of it (the rest stays granted). */
static void model_seal(struct model *t)
{
	size_t k, from = (size_t)rnd(t, t->nr + 1);
	struct kv_extent e;

	for (k = 0; k < t->nr && t->r[(from + k) % t->nr].state != R_GRANTED; k++)
		;
	if (k == t->nr)
		return;
	k = (from + k) % t->nr;
	if (t->r[k].len > 1 && rnd(t, 3) == 0) {
		uint64_t cut = 1 + rnd(t, t->r[k].len - 1);

		t->r[t->nr++] = (struct rec){t->r[k].off + cut, t->r[k].len - cut, R_GRANTED, true,
					     false};
		t->r[k].len = cut;
	}
	e = ext(t->r[k].off, t->r[k].len);
	ck_assert_int_eq(kv_alloc_seal(&t->a, &e), 0);
	t->r[k].state = R_SEALING;
	t->r[k].live = rnd(t, 10) < 7;
}

static void model_pass_begin(struct model *t)
{
	struct kv_extent e;

	kv_alloc_pass_begin(&t->a);
	t->swept = 0;
	t->grants_in_sweep = false;
	for (size_t k = 0; k < t->nr; k++) {
		struct rec *r = &t->r[k];

		if (r->state == R_SEALING) {
			r->state = R_SEALED;
			memset(t->m + r->off, M_USED, r->len);
		}
		if (r->state == R_SEALED && r->live && rnd(t, 10) < 2)
			r->live = false; /* the index dropped it */
		r->doomed = r->state == R_SEALED && !r->live;
		if (r->doomed)
			memset(t->doomed + r->off, 1, r->len);
		/* The walk names live extents; held ones may or may not be. */
		if (r->live && (r->state != R_GRANTED || rnd(t, 2))) {
			e = ext(r->off, r->len);
			kv_alloc_mark(&t->a, &e);
			memset(t->mk + r->off, 1, r->len);
		}
	}
}

static void model_sweep_step(struct model *t)
{
	bool done = kv_alloc_sweep_step(&t->a, rnd(t, 4));
	uint64_t end = t->a.sweep_at * 64 < t->n ? t->a.sweep_at * 64 : t->n;

	ck_assert(done == !t->a.sweeping);
	/* The sweep frees them here (model_check then holds the allocator to
	 * it): a grant later in the sweep may take them again. */
	for (uint64_t i = t->swept * 64; i < end; i++) {
		if (t->doomed[i] && (t->m[i] != M_USED || t->mk[i]))
			ck_abort_msg("granule %llu of a dropped extent not garbage",
				     (unsigned long long)i);
		if (t->m[i] == M_USED && !t->mk[i])
			t->m[i] = M_FREE;
		t->mk[i] = t->doomed[i] = 0;
	}
	t->swept = t->a.sweep_at;
	if (!done)
		return;
	ck_assert_uint_eq(t->swept, t->a.nwords);
	for (size_t k = 0; k < t->nr; k++)
		if (t->r[k].doomed)
			t->r[k--] = t->r[--t->nr];
	/* Exact unless a grant took space the sweep had already counted. */
	if (t->grants_in_sweep)
		ck_assert_uint_ge(t->a.st.largest_free, slow_largest(&t->a));
	else
		ck_assert_uint_eq(t->a.st.largest_free, slow_largest(&t->a));
	for (uint64_t w = 0; w < t->a.nwords; w++)
		ck_assert_uint_eq(t->a.mark[w], 0);
}

START_TEST(test_random_model)
{
	struct model t = {.n = 1237, .seed = 20240611};
	uint64_t passes = 0;

	ck_assert_int_eq(kv_alloc_init(&t.a, t.n), 0);
	t.m = calloc(t.n, 1);
	t.mk = calloc(t.n, 1);
	t.doomed = calloc(t.n, 1);
	t.run = calloc(t.n + 1, sizeof(*t.run));
	t.r = calloc(t.n, sizeof(*t.r));
	ck_assert(t.m && t.mk && t.doomed && t.run && t.r);

	for (int op = 0; op < 6000; op++) {
		uint64_t dice = rnd(&t, 100);

		if (dice < 30)
			model_grant(&t);
		else if (dice < 65)
			model_seal(&t);
		else if (!t.a.sweeping)
			model_pass_begin(&t);
		else
			model_sweep_step(&t);
		model_check(&t);
	}
	passes = t.a.st.passes;
	ck_assert_uint_gt(passes, 50);
	ck_assert_uint_gt(t.a.st.freed, 5000);
	ck_assert_uint_gt(t.a.st.refused, 0);

	/* Everything dropped and sealed: two passes with no marks free it all. */
	while (t.a.sweeping)
		model_sweep_step(&t);
	for (size_t k = 0; k < t.nr; k++) {
		struct kv_extent e = ext(t.r[k].off, t.r[k].len);

		if (t.r[k].state == R_GRANTED)
			ck_assert_int_eq(kv_alloc_seal(&t.a, &e), 0);
	}
	pass(&t.a, NULL, 0);
	pass(&t.a, NULL, 0);
	ck_assert_uint_eq(t.a.st.free, t.n);
	ck_assert_uint_eq(t.a.st.held, 0);
	ck_assert_uint_eq(t.a.st.largest_free, t.n);
	ck_assert_uint_eq(kv_alloc_largest(&t.a), t.n);
	ck_assert(is_free(&t.a, 0, t.n));
	check_tail(&t.a, true);
	free(t.m);
	free(t.mk);
	free(t.doomed);
	free(t.run);
	free(t.r);
	kv_alloc_free(&t.a);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc;

	tc = tcase_create("grant");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_grant_exact);
	tcase_add_test(tc, test_grant_longest);
	tcase_add_test(tc, test_grant_next_fit);
	tcase_add_test(tc, test_large_first_fit);
	tcase_add_test(tc, test_enospc_unchanged);
	tcase_add_test(tc, test_einval);
	tcase_add_loop_test(tc, test_odd_sizes, 0, N(odd_sizes));
	suite_add_tcase(s, tc);

	tc = tcase_create("reclaim");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_seal_then_pass);
	tcase_add_test(tc, test_partial_seal);
	tcase_add_test(tc, test_seal_after_pass_begin);
	tcase_add_test(tc, test_marks_cleared);
	tcase_add_test(tc, test_mark_clamped);
	tcase_add_test(tc, test_sweep_budget_one);
	tcase_add_loop_test(tc, test_largest_after_sweep, 0, 20);
	tcase_add_test(tc, test_seal_queue_full);
	tcase_add_test(tc, test_seal_over_free_space);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(alloc_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
