/* kv_file.c - the header page of a file-backed slab (kv_file.h). */
#include "kv_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"

#define KV__FIELDS_END 76u /* max_value is the last field, at 72 */

static const char kv__magic[8] = {'K', 'V', 'S', 'T', 'O', 'R', 'E', '1'};

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
	 * bytes between the last field (max_value, 72..75) and it. */
	for (size_t i = KV__FIELDS_END; i < KV_FILE_HDR; i++)
		if (buf[i] && (i < KV_FILE_CHECK_OFF || i >= KV_FILE_CHECK_OFF + 8)) {
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
	if (kv_geometry_check(&h->geo, h->slab_len, why, sizeof(why))) {
		snprintf(err, errlen, "its header's %s", why);
		return -EINVAL;
	}
	if (h->slab_len > file_len - KV_FILE_HDR) {
		snprintf(err, errlen, "truncated: %llu bytes, its header says %llu",
			 (unsigned long long)file_len,
			 (unsigned long long)(h->slab_len + KV_FILE_HDR));
		return -EINVAL;
	}
	return 0;
}
