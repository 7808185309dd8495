/* kv_slab.h - the one large memory region the store lives in. */
#ifndef KV_SLAB_H
#define KV_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_slab {
	uint8_t *base;
	size_t len;      /* usable length, as advertised to clients */
	size_t map_len;  /* length of the mapping (rounded for huge pages) */
	bool huge_pages; /* true when backed by MAP_HUGETLB pages */
};

/*
 * Map @len zeroed bytes, on explicit huge pages when the system has enough of
 * them, else on normal pages (with a transparent-huge-page hint). 0 or -errno.
 */
int kv_slab_alloc(struct kv_slab *s, size_t len);

/* Unmap; safe on a zeroed struct. */
void kv_slab_free(struct kv_slab *s);

#endif
