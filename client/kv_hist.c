/* kv_hist.c - log-bucketed histogram (see kv_hist.h). */
#include "kv_hist.h"

/* Values below KV_HIST_SUB have a bucket each; above, a bucket is a power of
 * two (msb) and the KV_HIST_BITS bits below it. */
static unsigned kv__bucket(uint64_t v)
{
	unsigned msb;

	if (v < KV_HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	return (msb - KV_HIST_BITS + 1) * KV_HIST_SUB +
	       (unsigned)((v >> (msb - KV_HIST_BITS)) & (KV_HIST_SUB - 1));
}

/* Smallest value in bucket @b, and the bucket's width. */
static uint64_t kv__bucket_low(unsigned b, uint64_t *width)
{
	unsigned shift;

	if (b < KV_HIST_SUB) {
		*width = 1;
		return b;
	}
	shift = b / KV_HIST_SUB - 1; /* msb - KV_HIST_BITS */
	*width = 1ull << shift;
	return (uint64_t)(KV_HIST_SUB + b % KV_HIST_SUB) << shift;
}

void kv_hist_add(struct kv_hist *h, uint64_t ns)
{
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->bucket[kv__bucket(ns)]++;
}

void kv_hist_merge(struct kv_hist *into, const struct kv_hist *from)
{
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
	for (unsigned i = 0; i < KV_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
}

uint64_t kv_hist_quantile(const struct kv_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (unsigned i = 0; i < KV_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank) {
			uint64_t width, mid = kv__bucket_low(i, &width);

			mid += width / 2;
			return mid < h->max_ns ? mid : h->max_ns;
		}
	}
	return h->max_ns;
}
