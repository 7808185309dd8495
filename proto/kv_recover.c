/* kv_recover.c - opening a store whose server died (kv_recover.h). */
#include "kv_recover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_base.h"
#include "kv_index.h"

static uint64_t *kv__word_at(uint8_t *slab, const struct kv_geometry *g, uint64_t i)
{
	return (uint64_t *)(void *)(slab + kv_word_off(g, i));
}

/* Copy the block word @w names into @buf (@cap bytes, room for the longest
 * block the store allows), for kv_block_check. Returns the bytes copied. */
static size_t kv__copy_block(const uint8_t *slab, const struct kv_geometry *g, uint64_t w,
			     uint8_t *buf, size_t cap)
{
	uint64_t len = kv_block_read_len(g, w);

	if (len > cap)
		len = cap;
	memcpy(buf, slab + kv_block_off(g, w), len);
	return len;
}

int kv_recover(uint8_t *slab, const struct kv_geometry *g, struct kv_alloc *a,
	       struct kv_recover_report *r)
{
	/* A block is checked on a copy: the checksum needs the head set to its
	 * word in place, and the slab must not see that. */
	size_t cap = (size_t)kv_len_decode(kv_len_code(kv_block_granules(g->max_key,
									    g->max_value))) *
		     KV_GRANULE;
	uint8_t *buf = malloc(cap);

	memset(r, 0, sizeof(*r));
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < kv_nwords(g); i++) {
		uint64_t *wp = kv__word_at(slab, g, i), w = *wp;

		/* The blocks are anywhere in the data region: ask for those of
		 * the words a little ahead while this one is handled. */
		if (i % 32 == 0)
			for (uint64_t k = i + 64; k < i + 96 && k < kv_nwords(g); k++) {
				uint64_t a2 = *kv__word_at(slab, g, k);

				if (kv_word_kind(a2) == KV_WORD_BLOCK &&
				    kv_block_read_len(g, a2) >= KV_BLOCK_HDR) {
					__builtin_prefetch(slab + kv_block_off(g, a2));
					__builtin_prefetch(&a->free[kv_word_gran(a2) / 64]);
				}
			}
		uint64_t len = kv_block_read_len(g, w);
		struct kv_extent e = {kv_word_gran(w), len / KV_GRANULE};
		struct kv_block_view v;
		size_t n;

		switch (kv_word_kind(w)) {
		case KV_WORD_EMPTY:
			continue;
		case KV_WORD_CLAIM:
			*wp = 0;
			r->claims_cleared++;
			continue;
		case KV_WORD_BLOCK:
			break;
		default:
			r->bad_words++;
			continue;
		}
		if (len < KV_BLOCK_HDR) {
			r->bad_words++;
			continue;
		}
		n = kv__copy_block(slab, g, w, buf, cap);
		if (kv_block_check(buf, n, w, g, NULL, 0, &v) != KV_BLOCK_OK) {
			r->bad_blocks++; /* keep its word and all its coded space */
			if (kv_alloc_reserve(a, &e) < e.len)
				r->overlaps++;
			continue;
		}
		e.len = kv_block_granules(v.klen, v.vlen);
		/* Its writer died between swing and retire: the write takes
		 * effect now. */
		if (!kv_view_committed(&v) && kv_block_finish(slab, g, w, v.prev))
			r->writes_finished++;
		if (kv_view_tomb(&v)) {
			*wp = 0; /* its space stays free */
			r->tombs_cleared++;
			continue;
		}
		if (kv_alloc_reserve(a, &e) < e.len)
			r->overlaps++;
		r->items++;
	}
	free(buf);
	return 0;
}
