/* kv_hist.h - a log-bucketed latency histogram (resolution under 1.6%). */
#ifndef KV_HIST_H
#define KV_HIST_H

#include <stdint.h>

#define KV_HIST_BITS 6                   /* 2^6 buckets per power of two */
#define KV_HIST_SUB (1u << KV_HIST_BITS)
#define KV_HIST_BUCKETS (64 * KV_HIST_SUB)

struct kv_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t bucket[KV_HIST_BUCKETS];
};

void kv_hist_add(struct kv_hist *h, uint64_t ns);
void kv_hist_merge(struct kv_hist *into, const struct kv_hist *from);

/* The value at quantile @q (0..1) in ns: the middle of its bucket, never
 * above the maximum recorded. 0 when empty. */
uint64_t kv_hist_quantile(const struct kv_hist *h, double q);

#endif
