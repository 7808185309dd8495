/* kv_slab.c - allocate the slab (see kv_slab.h). */
#include "kv_slab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define KV_HUGE_PAGE (2u << 20)

int kv_slab_alloc(struct kv_slab *s, size_t len)
{
	size_t huge_len = (len + KV_HUGE_PAGE - 1) & ~(size_t)(KV_HUGE_PAGE - 1);
	void *p;

	memset(s, 0, sizeof(*s));
	p = mmap(NULL, huge_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p != MAP_FAILED) {
		s->huge_pages = true;
		s->map_len = huge_len;
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		(void)madvise(p, len, MADV_HUGEPAGE); /* a hint; may be refused */
		s->map_len = len;
	}
	s->base = p;
	s->len = len;
	return 0;
}

void kv_slab_free(struct kv_slab *s)
{
	if (s->base)
		munmap(s->base, s->map_len);
	memset(s, 0, sizeof(*s));
}
