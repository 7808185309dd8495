/*
 * fuzz_file.c - the header page of a store file (kv_file_header_decode),
 * which kvserver --file reads from whatever file it is given.
 *
 * Input: a mode byte, the file's length (u64), then the page as read (any
 * length). With mode bit 0 the page's checksum is made right before the
 * decode, so that the fuzzer gets past it to the fields.
 *
 * Contract: no read past the bytes given, a terminated error text; a
 * header accepted has a geometry that passes its own check and lies inside
 * its slab (computed without overflow), a slab that fits in the file after
 * the header page, and is exactly the page that encoding it makes (so no
 * byte past the fields and the checksum is set), which decodes to the same
 * header.
 */
#include "fuzz_util.h"

#include <xxhash.h>

#include "kv_base.h"
#include "kv_file.h"
#include "kv_index.h"

typedef unsigned __int128 u128;

static int header_eq(const struct kv_file_header *a, const struct kv_file_header *b)
{
	return a->clean == b->clean && a->generation == b->generation &&
	       a->slab_len == b->slab_len && a->geo.index_off == b->geo.index_off &&
	       a->geo.data_off == b->geo.data_off && a->geo.data_len == b->geo.data_len &&
	       a->geo.hash_seed == b->geo.hash_seed && a->geo.nbuckets == b->geo.nbuckets &&
	       a->geo.max_key == b->geo.max_key && a->geo.max_value == b->geo.max_value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t mode = fz_u8(&f);
	uint64_t file_len = fz_u64(&f);
	size_t len = f.n, errlen = 1 + size % 200;
	uint8_t *page = fz_dup(f.p, len), *enc;
	char *err = malloc(errlen), err2[200];
	struct kv_file_header h, h2;
	int ret;

	if (!err)
		abort();
	if ((mode & 1) && len >= KV_FILE_CHECK_OFF + 8)
		kv_st64le(page + KV_FILE_CHECK_OFF, XXH3_64bits(page, KV_FILE_CHECK_OFF));
	ret = kv_file_header_decode(page, len, file_len, &h, err, errlen);
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(fz_is_cstr(err, errlen));
		goto out;
	}
	FUZZ_CHECK(len >= KV_FILE_HDR);
	FUZZ_CHECK(kv_geometry_check(&h.geo, h.slab_len, err2, sizeof(err2)) == 0);
	FUZZ_CHECK((u128)h.geo.index_off + (u128)h.geo.nbuckets * KV_BUCKET_BYTES <=
		   h.geo.data_off);
	FUZZ_CHECK((u128)h.geo.data_off + h.geo.data_len <= h.slab_len);
	FUZZ_CHECK((u128)h.slab_len + KV_FILE_HDR <= file_len);
	enc = malloc(KV_FILE_HDR);
	if (!enc)
		abort();
	kv_file_header_encode(enc, &h);
	FUZZ_CHECK(memcmp(enc, page, KV_FILE_HDR) == 0); /* the whole page */
	FUZZ_CHECK(kv_file_header_decode(enc, KV_FILE_HDR, file_len, &h2, err2, sizeof(err2)) == 0);
	FUZZ_CHECK(header_eq(&h, &h2));
	free(enc);
out:
	free(err);
	free(page);
	return 0;
}
