/* kv_file.c - the header page of a file-backed slab (kv_file.h). */
#include "kv_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"
#include "kv_index.h"

#define KV__FIELDS_END 76u /* max_value is the last field before the boot id, at 72 */
#define KV__PAGE 4096u

static const char kv__magic[8] = {'K', 'V', 'S', 'T', 'O', 'R', 'E', '1'};
static const char kv__slot_magic[8] = {'K', 'V', 'S', 'N', 'A', 'P', '0', '1'};

static uint64_t kv__page_up(uint64_t n)
{
	return (n + KV__PAGE - 1) / KV__PAGE * KV__PAGE;
}

uint64_t kv_file_index_bytes(const struct kv_geometry *g)
{
	return (uint64_t)g->nbuckets * KV_BUCKET_BYTES;
}

uint64_t kv_file_slot_len(const struct kv_geometry *g)
{
	return KV_SLOT_HDR + kv__page_up(kv_file_index_bytes(g));
}

uint64_t kv_file_slot_off(uint64_t slab_len, const struct kv_geometry *g, unsigned k)
{
	return KV_FILE_HDR + kv__page_up(slab_len) + (uint64_t)k * kv_file_slot_len(g);
}

uint64_t kv_file_len(uint64_t slab_len, const struct kv_geometry *g)
{
	return kv_file_slot_off(slab_len, g, 2);
}

void kv_file_slot_encode(uint8_t *page, uint64_t seq, uint64_t generation,
			 const uint8_t *index, uint64_t len)
{
	memset(page, 0, KV_SLOT_HDR);
	memcpy(page, kv__slot_magic, 8);
	kv_st64le(page + 8, seq);
	kv_st64le(page + 16, generation);
	kv_st64le(page + 24, len);
	kv_st64le(page + 32, XXH3_64bits(index, (size_t)len));
	kv_st64le(page + KV_SLOT_CHECK_OFF, XXH3_64bits(page, KV_SLOT_CHECK_OFF));
}

bool kv_file_slot_decode(const uint8_t *page, size_t page_len, const uint8_t *index,
			 uint64_t len, uint64_t *seq, uint64_t *generation)
{
	if (page_len < KV_SLOT_HDR || memcmp(page, kv__slot_magic, 8) ||
	    kv_ld64le(page + KV_SLOT_CHECK_OFF) != XXH3_64bits(page, KV_SLOT_CHECK_OFF) ||
	    kv_ld64le(page + 24) != len)
		return false;
	for (size_t i = KV_SLOT_CHECK_OFF + 8; i < KV_SLOT_HDR; i++)
		if (page[i])
			return false;
	if (kv_ld64le(page + 32) != XXH3_64bits(index, (size_t)len))
		return false;
	*seq = kv_ld64le(page + 8);
	*generation = kv_ld64le(page + 16);
	return true;
}

void kv_file_header_encode(uint8_t *buf, const struct kv_file_header *h)
{
	memset(buf, 0, KV_FILE_HDR);
	memcpy(buf, kv__magic, 8);
	kv_st32le(buf + 8, KV_FILE_LAYOUT);
	kv_st32le(buf + 12, h->clean);
	kv_st64le(buf + 16, h->generation);
	kv_st64le(buf + 24, h->slab_len);
	kv_st64le(buf + 32, h->geo.index_off);
	kv_st64le(buf + 40, h->geo.data_off);
	kv_st64le(buf + 48, h->geo.data_len);
	kv_st64le(buf + 56, h->geo.hash_seed);
	kv_st32le(buf + 64, h->geo.nbuckets);
	kv_st32le(buf + 68, h->geo.max_key);
	kv_st32le(buf + 72, h->geo.max_value);
	memcpy(buf + KV_FILE_BOOT_OFF, h->boot_id, sizeof(h->boot_id));
	kv_st64le(buf + KV_FILE_CHECK_OFF, XXH3_64bits(buf, KV_FILE_CHECK_OFF));
}

int kv_file_header_decode(const uint8_t *buf, size_t len, uint64_t file_len,
			  struct kv_file_header *h, char *err, size_t errlen)
{
	char why[160];

	if (len < KV_FILE_HDR || file_len < KV_FILE_HDR) {
		snprintf(err, errlen, "too short to be a store (%llu bytes)",
			 (unsigned long long)file_len);
		return -EINVAL;
	}
	if (memcmp(buf, kv__magic, 8)) {
		snprintf(err, errlen, "not a store (no KVSTORE1 header)");
		return -EINVAL;
	}
	if (kv_ld32le(buf + 8) != KV_FILE_LAYOUT) {
		snprintf(err, errlen, "a store of layout %u (this kvserver reads %u)",
			 kv_ld32le(buf + 8), KV_FILE_LAYOUT);
		return -EINVAL;
	}
	if (kv_ld64le(buf + KV_FILE_CHECK_OFF) != XXH3_64bits(buf, KV_FILE_CHECK_OFF)) {
		snprintf(err, errlen, "its header's checksum fails");
		return -EINVAL;
	}
	/* Anything else in the page is zero: after the checksum, and the four
	 * bytes between max_value (72..75) and the boot id. */
	for (size_t i = KV__FIELDS_END; i < KV_FILE_HDR; i++)
		if (buf[i] && (i < KV_FILE_BOOT_OFF || i >= KV_FILE_CHECK_OFF + 8)) {
			snprintf(err, errlen, "its header page has bytes set past the header");
			return -EINVAL;
		}
	h->clean = kv_ld32le(buf + 12);
	h->generation = kv_ld64le(buf + 16);
	h->slab_len = kv_ld64le(buf + 24);
	h->geo.index_off = kv_ld64le(buf + 32);
	h->geo.data_off = kv_ld64le(buf + 40);
	h->geo.data_len = kv_ld64le(buf + 48);
	h->geo.hash_seed = kv_ld64le(buf + 56);
	h->geo.nbuckets = kv_ld32le(buf + 64);
	h->geo.max_key = kv_ld32le(buf + 68);
	h->geo.max_value = kv_ld32le(buf + 72);
	memcpy(h->boot_id, buf + KV_FILE_BOOT_OFF, sizeof(h->boot_id));
	if (kv_geometry_check(&h->geo, h->slab_len, why, sizeof(why))) {
		snprintf(err, errlen, "its header's %s", why);
		return -EINVAL;
	}
	if (h->slab_len > (1ull << 50)) { /* 1 PiB: no sum below can wrap */
		snprintf(err, errlen, "its header's slab length is too large (%llu bytes)",
			 (unsigned long long)h->slab_len);
		return -EINVAL;
	}
	if (file_len < kv_file_len(h->slab_len, &h->geo)) {
		snprintf(err, errlen, "truncated: %llu bytes, its header says %llu",
			 (unsigned long long)file_len,
			 (unsigned long long)kv_file_len(h->slab_len, &h->geo));
		return -EINVAL;
	}
	return 0;
}
