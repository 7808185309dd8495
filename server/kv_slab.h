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
	int fd;          /* a store file (kv_slab_open_file), or -1 */
	uint8_t *map;    /* the file's mapping: the header page, then base */
};

/*
 * Map @len zeroed bytes, on explicit huge pages when the system has enough of
 * them, else on normal pages (with a transparent-huge-page hint). 0 or -errno.
 */
int kv_slab_alloc(struct kv_slab *s, size_t len);

struct kv_file_header;

/*
 * The slab as a shared mapping of the store file @path, after its header
 * page. If @path exists, its header is read and checked (nothing is written
 * to the file here) and *h filled; @len, when not 0, must match its slab.
 * If it does not exist, it is created with @len bytes of slab, all reserved
 * on disk now (a full disk fails here, not later), and *created set; the
 * caller writes the header. 0; -EUCLEAN when the file is refused (the
 * reason in @err, the file left as it was); another -errno (and @err).
 */
int kv_slab_open_file(struct kv_slab *s, const char *path, size_t len,
		      struct kv_file_header *h, bool *created, char *err, size_t errlen);

/* Read (@write false) or write @len bytes of @buf at @off of file @fd,
 * whole (pread and pwrite move at most 2 GiB at a time). 0, -errno, or -EIO
 * at the end of the file. */
int kv_fd_io(int fd, bool write, void *buf, uint64_t len, uint64_t off);

/* Reserve the store file's first @len bytes on disk (posix_fallocate). 0 or
 * -errno. */
int kv_slab_reserve(struct kv_slab *s, uint64_t len);

/* Write @h to the file's header page and sync it. 0 or -errno. */
int kv_slab_write_header(struct kv_slab *s, const struct kv_file_header *h);

/* Sync the whole file to disk (msync MS_SYNC). 0 or -errno; 0 for memory. */
int kv_slab_sync(struct kv_slab *s);

/* Unmap (and close the file); safe on a zeroed struct. */
void kv_slab_free(struct kv_slab *s);

#endif
