/* kv_hist.c - log-bucketed histogram (see kv_hist.h). */
#include "kv_hist.h"

/* Bucket of @v: its power of two, then the next four bits below the top. */
static unsigned kv__bucket(uint64_t v)
{
	unsigned msb;

	if (v < KV_HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	return (msb - 3) * KV_HIST_SUB + (unsigned)((v >> (msb - 4)) & (KV_HIST_SUB - 1));
}

/* Largest value that falls in bucket @b. */
static uint64_t kv__bucket_top(unsigned b)
{
	unsigned msb;

	if (b < KV_HIST_SUB)
		return b;
	msb = b / KV_HIST_SUB + 3;
	return ((uint64_t)(KV_HIST_SUB + b % KV_HIST_SUB) << (msb - 4)) +
	       ((1ull << (msb - 4)) - 1);
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
			uint64_t top = kv__bucket_top(i);

			return top < h->max_ns ? top : h->max_ns;
		}
	}
	return h->max_ns;
}
