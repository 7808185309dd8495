/*
 * kv_recover.c - opening a store whose server died (kv_recover.h).
 *
 * The index is the only truth about what is live, and the index is what is
 * walked: the data region is read only where a word points. But visiting the
 * blocks in the index's order (hash order) costs a cache and TLB miss per
 * block, and another per allocator word. So the block words are first
 * gathered with where they are in the index, bucketed by the range of the
 * data region they name (a counting sort: one pass over the index counts,
 * another scatters), and each range is sorted by address and handled in that
 * order: the blocks are read, and their granules reserved, front to back.
 *
 * The words are handled as the index order would handle them, each on its
 * own; only the order differs, and it matters only for garbage: which of
 * two overlapping extents counts as the overlap (their number may differ,
 * never whether it is 0), and whether a block that a garbage word names and
 * a write being finished retires is checked before or after that retire.
 *
 * Memory: 16 bytes per block word (its value and its index), at most
 * max(KV_RECOVER_MIN_MEM, half the index's size) at a time: a store with
 * more block words than that (an index more than a quarter full of them, at
 * the least) is done in groups of ranges, each group with one more pass over
 * the index. Everything is allocated before anything in the slab changes,
 * so -ENOMEM leaves the store as it was.
 */
#include "kv_recover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kv_base.h"
#include "kv_index.h"

#define KV_RECOVER_RANGES_LOG 12       /* at most 4 Ki ranges of the data region */
#define KV_RECOVER_MIN_MEM (64u << 20) /* bytes of named words at a time, at least */
#define KV_RECOVER_AHEAD 16            /* blocks prefetched ahead */
#define KV_RECOVER_SMALL 24            /* a range this short: insertion sort */

/* A block word and where it is in the index. */
struct kv__named {
	uint64_t w, idx;
};

static uint64_t *kv__word_at(uint8_t *slab, const struct kv_geometry *g, uint64_t i)
{
	return (uint64_t *)(void *)(slab + kv_word_off(g, i));
}

/*
 * A block word whose block has room for a header inside the data region
 * (kv_block_read_len(g, w) >= KV_BLOCK_HDR, inline: this runs for every
 * word, twice): one to check. Other words of kind block are garbage
 * (bad_words). A header is two granules; a length code of 2 or more
 * decodes to 2 granules or more (codes below 32 are the count itself).
 */
static bool kv__named_block(uint64_t ngran, uint64_t w)
{
	uint64_t gran = kv_word_gran(w);

	return kv_word_kind(w) == KV_WORD_BLOCK && kv_word_lcode(w) >= KV_BLOCK_HDR / KV_GRANULE &&
	       gran < ngran && ngran - gran >= KV_BLOCK_HDR / KV_GRANULE;
}

/* Granules per range, as a shift: the fewest that make at most 2^12 ranges
 * (few enough that writing a word to each range's slots stays in cache). */
static unsigned kv__range_shift(uint64_t ngran)
{
	unsigned s = 0;

	while ((ngran - 1) >> s >= (1ull << KV_RECOVER_RANGES_LOG))
		s++;
	return s;
}

/* ---- sorting one range's words by granule ----------------------------------- */

static uint64_t kv__key(const struct kv__named *e)
{
	return kv_word_gran(e->w);
}

static void kv__insertion_sort(struct kv__named *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct kv__named x = v[i];
		size_t j = i;

		for (; j > 0 && kv__key(&v[j - 1]) > kv__key(&x); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void kv__sift(struct kv__named *v, size_t at, size_t n)
{
	for (size_t c; (c = 2 * at + 1) < n; at = c) {
		struct kv__named t;

		if (c + 1 < n && kv__key(&v[c + 1]) > kv__key(&v[c]))
			c++;
		if (kv__key(&v[at]) >= kv__key(&v[c]))
			return;
		t = v[at];
		v[at] = v[c];
		v[c] = t;
	}
}

/* In place, for a range longer than the scratch (only garbage makes one:
 * a range of 2^s granules holds fewer than 2^s blocks). */
static void kv__heap_sort(struct kv__named *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		kv__sift(v, i, n);
	for (size_t i = n; i-- > 1;) {
		struct kv__named t = v[0];

		v[0] = v[i];
		v[i] = t;
		kv__sift(v, 0, i);
	}
}

/* Sort @n words of one range by their granule, whose low @bits bits are all
 * that differ; @tmp has room for @cap of them. Stable, but for the heap. */
static void kv__sort_range(struct kv__named *v, size_t n, unsigned bits, struct kv__named *tmp,
			   size_t cap)
{
	struct kv__named *from = v, *to = tmp, *t;
	size_t count[256];

	if (n <= KV_RECOVER_SMALL || bits == 0) {
		kv__insertion_sort(v, n);
		return;
	}
	if (n > cap) {
		kv__heap_sort(v, n);
		return;
	}
	for (unsigned lo = 0; lo < bits; lo += 8) { /* least significant digit first */
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(kv__key(&from[i]) >> lo) & 255]++;
		for (unsigned d = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			to[count[(kv__key(&from[i]) >> lo) & 255]++] = from[i];
		t = from;
		from = to;
		to = t;
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
}

/* ---- reserving what the index names, front to back ------------------------------ */

/*
 * The extents to reserve come in order of their first granule, so an extent
 * overlaps one reserved before it exactly when it starts before the furthest
 * end so far: that is counted without the bitmap (as kv_alloc_reserve would
 * count it, in this order), and the allocator is told the union, one run of
 * abutting or overlapping extents at a time.
 */
struct kv__reserve {
	struct kv_alloc *a;
	uint64_t off, end; /* the run so far: [off, end), empty when off == end */
	uint64_t overlaps;
};

static void kv__reserve_flush(struct kv__reserve *q)
{
	struct kv_extent e = {q->off, q->end - q->off};

	/* Less than all of it free: the allocator was not fresh. Counted as
	 * garbage too, not hidden. */
	if (e.len && kv_alloc_reserve(q->a, &e) < e.len)
		q->overlaps++;
	q->off = q->end;
}

static void kv__reserve(struct kv__reserve *q, const struct kv_extent *e)
{
	uint64_t end = e->off + e->len;

	if (e->off < q->end) {
		q->overlaps++;
	} else if (e->off > q->end) {
		kv__reserve_flush(q);
		q->off = e->off;
	}
	if (end > q->end)
		q->end = end;
}

/* ---- one named block --------------------------------------------------------- */

/*
 * Block word @n->w, at index word @n->idx: check its block (on a copy in
 * @buf, @cap bytes: the checksum needs the head set to its word in place,
 * and the slab must not see that); finish its write if it was left
 * uncommitted; clear its word if it is a committed tombstone; else reserve
 * its granules.
 */
static void kv__recover_block(uint8_t *slab, const struct kv_geometry *g, struct kv__reserve *q,
			      struct kv_recover_report *r, uint8_t *buf, size_t cap,
			      const struct kv__named *n, bool drop_bad)
{
	uint64_t w = n->w, len = kv_block_read_len(g, w);
	struct kv_extent e = {kv_word_gran(w), len / KV_GRANULE};
	struct kv_block_view v;

	if (len > cap)
		len = cap;
	memcpy(buf, slab + kv_block_off(g, w), len);
	if (kv_block_check(buf, len, w, g, NULL, 0, &v) != KV_BLOCK_OK) {
		r->bad_blocks++;
		if (drop_bad) { /* the key is lost: free its word and space */
			*kv__word_at(slab, g, n->idx) = 0;
			r->bad_dropped++;
			return;
		}
		/* Keep its word and all its coded space: a reader reports it. */
		kv__reserve(q, &e);
		return;
	}
	e.len = kv_block_granules(v.klen, v.vlen);
	/* Its writer died between swing and retire: the write takes effect
	 * now. */
	if (!kv_view_committed(&v) && kv_block_finish(slab, g, w, v.prev))
		r->writes_finished++;
	if (kv_word_pending(w)) /* its writer did not get to settle it */
		*kv__word_at(slab, g, n->idx) = kv_word_settled(w);
	if (kv_view_tomb(&v)) {
		*kv__word_at(slab, g, n->idx) = 0; /* its space stays free */
		r->tombs_cleared++;
		return;
	}
	kv__reserve(q, &e);
	r->items++;
}

/* ---- the walk ------------------------------------------------------------------ */

struct kv__recovery {
	bool drop_bad;
	uint8_t *slab;
	const struct kv_geometry *g;
	struct kv_recover_report *r;
	struct kv__reserve q;
	uint64_t ngran;
	unsigned shift;          /* granules per range: 1 << shift */
	uint64_t nranges;
	uint64_t *count;         /* [nranges]: block words naming each range */
	uint64_t *start, *end;   /* [nranges]: where each range's words are, in a group */
	struct kv__named *named; /* a group's words, range after range */
	size_t nnamed;
	struct kv__named *tmp;   /* the sort's scratch */
	size_t ntmp;
	uint8_t *buf;            /* a block's copy */
	size_t cap;
};

/*
 * The gathered words: written all over (one stream a range), so on huge
 * pages if the kernel gives them: far fewer faults and TLB misses (1 GiB
 * of 6 M small items, on the host: about 0.6 s of CPU on 4 KiB pages, 0.4 s
 * on huge ones). NULL when there is no memory.
 */
static void *kv__big_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_HUGEPAGE); /* a hint; may be refused */
	return p;
}

/*
 * One pass over the index for ranges [r0, r1): gather their block words
 * into their slots, @start[r] on (@end[r] moves to their end); the first
 * pass also clears claims and counts garbage words. Only words of ranges
 * done already ever change between the passes (claims, in the first), so
 * each range finds the words it was counted; a range's slots are never
 * overrun all the same.
 */
static void kv__gather(struct kv__recovery *x, uint64_t r0, uint64_t r1, bool first)
{
	const struct kv_geometry *g = x->g;
	uint64_t nw = kv_nwords(g), gr0 = r0 << x->shift, gr1 = r1 << x->shift;

	for (uint64_t i = 0; i < nw; i++) {
		uint64_t *wp = kv__word_at(x->slab, g, i), w = *wp, gran;

		switch (kv_word_kind(w)) {
		case KV_WORD_EMPTY:
			continue;
		case KV_WORD_CLAIM:
			if (first) {
				*wp = 0;
				x->r->claims_cleared++;
			}
			continue;
		case KV_WORD_BLOCK:
			break;
		default:
			x->r->bad_words += first;
			continue;
		}
		if (!kv__named_block(x->ngran, w)) {
			x->r->bad_words += first;
			continue;
		}
		gran = kv_word_gran(w);
		if (gran >= gr0 && gran < gr1) {
			uint64_t rg = gran >> x->shift;

			if (x->end[rg] < x->start[rg] + x->count[rg])
				x->named[x->end[rg]++] = (struct kv__named){w, i};
		}
	}
}

/* Sort each range of [r0, r1) (gathered) by address and recover its blocks
 * in that order, with the blocks a few ahead asked for. */
static void kv__recover_ranges(struct kv__recovery *x, uint64_t r0, uint64_t r1)
{
	const struct kv_geometry *g = x->g;

	for (uint64_t rg = r0; rg < r1; rg++) {
		size_t n = (size_t)(x->end[rg] - x->start[rg]);
		struct kv__named *v = x->named + x->start[rg];

		kv__sort_range(v, n, x->shift, x->tmp, x->ntmp);
		for (size_t k = 0; k < n; k++) {
			if (k + KV_RECOVER_AHEAD < n) { /* its first two lines */
				const uint8_t *b = x->slab + kv_block_off(g, v[k + KV_RECOVER_AHEAD].w);

				__builtin_prefetch(b);
				__builtin_prefetch(b + 64);
			}
			kv__recover_block(x->slab, g, &x->q, x->r, x->buf, x->cap, &v[k],
					  x->drop_bad);
		}
	}
}

int kv_recover_mem(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
		   struct kv_recover_report *r, size_t mem)
{
	return kv_recover_opt(slab, g, a, r, mem, false);
}

int kv_recover_opt(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
		   struct kv_recover_report *r, size_t mem, bool drop_bad)
{
	struct kv__recovery x = {.drop_bad = drop_bad, .slab = slab, .g = g, .r = r,
				 .q = {.a = a}};
	uint64_t nw = kv_nwords(g), total = 0, most = 0;
	int ret = -ENOMEM;

	memset(r, 0, sizeof(*r));
	if (!mem)
		mem = nw * 4 > KV_RECOVER_MIN_MEM ? (size_t)(nw * 4) : KV_RECOVER_MIN_MEM;
	x.ngran = kv_data_granules(g);
	x.shift = kv__range_shift(x.ngran ? x.ngran : 1);
	x.nranges = x.ngran ? ((x.ngran - 1) >> x.shift) + 1 : 1;
	x.cap = (size_t)kv_len_decode(kv_len_code(kv_block_granules(g->max_key, g->max_value))) *
		KV_GRANULE;
	x.count = calloc(x.nranges, sizeof(*x.count));
	x.start = calloc(x.nranges, sizeof(*x.start));
	x.end = calloc(x.nranges, sizeof(*x.end));
	x.buf = malloc(x.cap);
	if (!x.count || !x.start || !x.end || !x.buf)
		goto out;

	/* Count the block words naming each range (reading only). */
	for (uint64_t i = 0; i < nw; i++) {
		uint64_t w = *kv__word_at(slab, g, i);

		if (kv__named_block(x.ngran, w))
			x.count[kv_word_gran(w) >> x.shift]++;
	}
	for (uint64_t rg = 0; rg < x.nranges; rg++) {
		total += x.count[rg];
		most = x.count[rg] > most ? x.count[rg] : most;
	}
	/* A group holds as many words as @mem allows, and one range at least;
	 * the sort's scratch one range, unless garbage made it longer than
	 * its granules. */
	x.nnamed = mem / sizeof(struct kv__named);
	x.nnamed = x.nnamed < most ? most : x.nnamed;
	x.nnamed = x.nnamed < total ? x.nnamed : total;
	x.nnamed = x.nnamed ? x.nnamed : 1;
	x.ntmp = most < 1ull << x.shift ? most : 1ull << x.shift;
	x.named = kv__big_alloc(x.nnamed * sizeof(*x.named));
	x.tmp = malloc((x.ntmp ? x.ntmp : 1) * sizeof(*x.tmp));
	if (!x.named || !x.tmp)
		goto out;

	/* From here on the slab changes. Groups of ranges, front to back. */
	for (uint64_t r0 = 0, r1; r0 < x.nranges; r0 = r1) {
		uint64_t at = 0;

		for (r1 = r0; r1 < x.nranges && (r1 == r0 || at + x.count[r1] <= x.nnamed); r1++) {
			x.start[r1] = x.end[r1] = at;
			at += x.count[r1];
		}
		kv__gather(&x, r0, r1, r0 == 0);
		kv__recover_ranges(&x, r0, r1);
	}
	kv__reserve_flush(&x.q);
	r->overlaps = x.q.overlaps;
	ret = 0;
out:
	free(x.count);
	free(x.start);
	free(x.end);
	free(x.buf);
	free(x.tmp);
	if (x.named)
		munmap(x.named, x.nnamed * sizeof(*x.named));
	return ret;
}

int kv_recover(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
	       struct kv_recover_report *r)
{
	return kv_recover_mem(slab, g, a, r, 0);
}

uint64_t kv_recover_snapshot(uint8_t *slab, const struct kv_geometry *g, const uint8_t *snap)
{
	uint64_t n = kv_nwords(g), unretired = 0;

	memcpy(slab + g->index_off, snap, (size_t)n * 8);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w, *head;

		memcpy(&w, slab + kv_word_off(g, i), 8); /* host order, as every word */
		if (kv_word_kind(w) != KV_WORD_BLOCK ||
		    kv_block_read_len(g, w) < KV_BLOCK_HDR)
			continue;
		head = (uint64_t *)(void *)(slab + kv_block_off(g, w));
		if (*head == kv_head_retired(w)) {
			*head = kv_word_settled(w);
			unretired++;
		}
	}
	return unretired;
}
