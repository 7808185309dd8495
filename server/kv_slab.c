/* kv_slab.c - allocate the slab (see kv_slab.h). */
#include "kv_slab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_file.h"

#define KV_HUGE_PAGE (2u << 20)

int kv_slab_alloc(struct kv_slab *s, size_t len)
{
	size_t huge_len = (len + KV_HUGE_PAGE - 1) & ~(size_t)(KV_HUGE_PAGE - 1);
	void *p;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
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

int kv_slab_open_file(struct kv_slab *s, const char *path, size_t len,
		      struct kv_file_header *h, bool *created, char *err, size_t errlen)
{
	uint8_t hdr[KV_FILE_HDR];
	struct stat st;
	ssize_t n;
	void *p;
	int ret;

	memset(s, 0, sizeof(*s));
	*created = false;
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0 && errno == ENOENT) {
		if (!len) {
			snprintf(err, errlen, "no such file, and no size to create it with");
			return -ENOENT;
		}
		s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (s->fd < 0)
			goto sys;
		(void)flock(s->fd, LOCK_EX | LOCK_NB); /* ours: we just made it */
		ret = posix_fallocate(s->fd, 0, (off_t)(KV_FILE_HDR + len));
		if (ret) {
			snprintf(err, errlen, "reserving %zu bytes: %s", KV_FILE_HDR + len,
				 strerror(ret));
			close(s->fd);
			unlink(path);
			s->fd = -1;
			return -ret;
		}
		*created = true;
	} else if (s->fd < 0) {
		goto sys;
	} else {
		/* One server per store: a second one would serve stale copies. */
		if (flock(s->fd, LOCK_EX | LOCK_NB)) {
			snprintf(err, errlen, "in use by another process (%s)", strerror(errno));
			goto refuse;
		}
		if (fstat(s->fd, &st))
			goto sys;
		n = pread(s->fd, hdr, sizeof(hdr), 0);
		if (n < 0)
			goto sys;
		if (kv_file_header_decode(hdr, (size_t)n, (uint64_t)st.st_size, h, err, errlen))
			goto refuse;
		if (len && len != h->slab_len) {
			snprintf(err, errlen, "-m says %zu bytes, the store holds %llu (leave -m out)",
				 len, (unsigned long long)h->slab_len);
			goto refuse;
		}
		len = h->slab_len;
	}
	p = mmap(NULL, KV_FILE_HDR + len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED)
		goto sys;
	s->map = p;
	s->base = s->map + KV_FILE_HDR;
	s->len = len;
	s->map_len = KV_FILE_HDR + len;
	return 0;
sys:
	ret = -errno;
	snprintf(err, errlen, "%s", strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return ret;
refuse:
	close(s->fd);
	s->fd = -1;
	return -EUCLEAN;
}

int kv_fd_io(int fd, bool write, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		size_t n1 = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n = write ? pwrite(fd, p, n1, (off_t)off) : pread(fd, p, n1, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int kv_slab_reserve(struct kv_slab *s, uint64_t len)
{
	return -posix_fallocate(s->fd, 0, (off_t)len);
}

int kv_slab_write_header(struct kv_slab *s, const struct kv_file_header *h)
{
	if (!s->map)
		return 0;
	kv_file_header_encode(s->map, h);
	return msync(s->map, KV_FILE_HDR, MS_SYNC) ? -errno : 0;
}

int kv_slab_sync(struct kv_slab *s)
{
	if (!s->map)
		return 0;
	return msync(s->map, s->map_len, MS_SYNC) ? -errno : 0;
}

void kv_slab_free(struct kv_slab *s)
{
	if (s->map)
		munmap(s->map, s->map_len);
	else if (s->base)
		munmap(s->base, s->map_len);
	if (s->map && s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
