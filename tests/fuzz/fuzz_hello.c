/*
 * fuzz_hello.c - the hello, the first thing a client reads from the server
 * (kv_hello_decode, and kv_geometry_check under it). The input is the
 * message as received; the error buffer's size varies with it.
 *
 * Contract: never a read past the message or a write past the error
 * buffer, whose text is always terminated; a hello accepted has a nonzero
 * client id, a lease within bounds, a scratch area and a table (index and
 * data region, computed without overflow) inside the slab that do not
 * overlap, and passes its own geometry check; encoding it gives back the
 * input but for the reserved bytes, and decoding that gives the same hello.
 */
#include "fuzz_util.h"

#include "kv_index.h"
#include "kv_proto.h"

typedef unsigned __int128 u128;

#define HELLO_LEN (KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN)

static int hello_eq(const struct kv_hello *a, const struct kv_hello *b)
{
	return a->slab_addr == b->slab_addr && a->slab_len == b->slab_len &&
	       a->scratch_off == b->scratch_off && a->scratch_len == b->scratch_len &&
	       a->rkey == b->rkey && a->client_id == b->client_id &&
	       a->lease_ms == b->lease_ms && a->geo.index_off == b->geo.index_off &&
	       a->geo.data_off == b->geo.data_off && a->geo.data_len == b->geo.data_len &&
	       a->geo.hash_seed == b->geo.hash_seed && a->geo.nbuckets == b->geo.nbuckets &&
	       a->geo.max_key == b->geo.max_key && a->geo.max_value == b->geo.max_value;
}

/* Whether payload byte @i is reserved (the encoder writes zero there). */
static int reserved(size_t i)
{
	return (i >= 34 && i < 40) || (i >= 88 && i < 96);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t errlen = 1 + size % 160;
	uint8_t *msg = fz_dup(data, size);
	char *err = malloc(errlen);
	struct kv_hello h, h2;
	uint8_t enc[KV_MSG_MAX];
	char err2[160];
	int ret;

	if (!err)
		abort();
	memset(err, 'x', errlen);
	ret = kv_hello_decode(msg, size, &h, err, errlen);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTONOSUPPORT);
	if (ret) {
		FUZZ_CHECK(fz_is_cstr(err, errlen));
		goto out;
	}
	FUZZ_CHECK(size == HELLO_LEN);
	FUZZ_CHECK(h.client_id != 0);
	FUZZ_CHECK(h.lease_ms <= KV_LEASE_MAX_MS);
	FUZZ_CHECK(h.scratch_len > 0);
	FUZZ_CHECK((u128)h.scratch_off + h.scratch_len <= h.slab_len);
	FUZZ_CHECK(kv_geometry_check(&h.geo, h.slab_len, err2, sizeof(err2)) == 0);
	FUZZ_CHECK(h.geo.nbuckets >= 2 && h.geo.max_key >= 1 && h.geo.max_key <= KV_KEY_LIMIT &&
		   h.geo.max_value <= KV_VALUE_LIMIT);
	FUZZ_CHECK(h.geo.index_off % KV_BUCKET_BYTES == 0 && h.geo.data_off % KV_GRANULE == 0 &&
		   h.geo.data_len % KV_GRANULE == 0 && h.geo.data_len > 0);
	FUZZ_CHECK((u128)h.geo.index_off + (u128)h.geo.nbuckets * KV_BUCKET_BYTES <=
		   h.geo.data_off);
	FUZZ_CHECK((u128)h.geo.data_off + h.geo.data_len <= h.slab_len);
	FUZZ_CHECK(h.geo.data_len / KV_GRANULE <= 1ull << KV_GRAN_BITS);
	/* The scratch area is outside the table: before the index or after
	 * the data region. */
	FUZZ_CHECK((u128)h.scratch_off + h.scratch_len <= h.geo.index_off ||
		   (u128)h.scratch_off >= (u128)h.geo.data_off + h.geo.data_len);

	FUZZ_CHECK(kv_hello_encode(enc, &h) == HELLO_LEN);
	for (size_t i = 0; i < HELLO_LEN; i++) {
		if (i >= KV_MSG_HDR_LEN && reserved(i - KV_MSG_HDR_LEN))
			FUZZ_CHECK(enc[i] == 0);
		else if (i < 12 || i >= 16) /* the header's status is not looked at */
			FUZZ_CHECK(enc[i] == msg[i]);
	}
	FUZZ_CHECK(kv_hello_decode(enc, HELLO_LEN, &h2, err2, sizeof(err2)) == 0);
	FUZZ_CHECK(hello_eq(&h, &h2));
out:
	free(err);
	free(msg);
	return 0;
}
