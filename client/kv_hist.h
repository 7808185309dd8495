/* kv_hist.h - a log-bucketed latency histogram (about 6% resolution). */
#ifndef KV_HIST_H
#define KV_HIST_H

#include <stdint.h>

#define KV_HIST_SUB 16 /* buckets per power of two */
#define KV_HIST_BUCKETS (64 * KV_HIST_SUB)

struct kv_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t bucket[KV_HIST_BUCKETS];
};

void kv_hist_add(struct kv_hist *h, uint64_t ns);
void kv_hist_merge(struct kv_hist *into, const struct kv_hist *from);

/* The value at quantile @q (0..1), as the upper edge of its bucket, in ns;
 * never above the maximum recorded. 0 when empty. */
uint64_t kv_hist_quantile(const struct kv_hist *h, double q);

#endif
