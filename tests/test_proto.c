/* test_proto.c - hello, header and extent encode/decode, geometry vetting (kv_proto.h). */
#include <check.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_proto.h"
#include "kv_index.h"

#define HELLO_LEN (KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN)
#define EXTENT_LEN (KV_MSG_HDR_LEN + KV_EXTENT_PAYLOAD_LEN)
#define SLAB_64M (64ull << 20)

/* A valid hello in which every field has a distinctive value. */
static struct kv_hello sample_hello(void)
{
	struct kv_hello h;
	char err[128];

	memset(&h, 0, sizeof(h));
	h.slab_addr = 0x00007f1234560000ull;
	h.slab_len = SLAB_64M;
	h.scratch_off = 5 * KV_SCRATCH_LEN;
	h.scratch_len = KV_SCRATCH_LEN;
	h.rkey = 0xdeadbeefu;
	h.client_id = 0xabcd;
	h.lease_ms = 0x1234;
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, 0, KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE,
					    0x0123456789abcdefull, &h.geo, err, sizeof(err)), 0);
	return h;
}

/* Decode from a heap copy of exactly @len bytes, so that ASan sees overreads. */
static int decode_exact(const uint8_t *msg, size_t len, struct kv_hello *h,
			char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, msg, len);
	ret = kv_hello_decode(copy, len, h, err, errlen);
	free(copy);
	return ret;
}

/* Encode @h, decode it back; returns the decoder's verdict and its message. */
static int round_trip(const struct kv_hello *h, struct kv_hello *out, char *err,
		      size_t errlen)
{
	uint8_t buf[KV_MSG_MAX];

	ck_assert_uint_eq(kv_hello_encode(buf, h), HELLO_LEN);
	err[0] = '\0';
	return decode_exact(buf, HELLO_LEN, out, err, errlen);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void assert_same_hello(const struct kv_hello *a, const struct kv_hello *b)
{
	ck_assert_uint_eq(a->slab_addr, b->slab_addr);
	ck_assert_uint_eq(a->slab_len, b->slab_len);
	ck_assert_uint_eq(a->scratch_off, b->scratch_off);
	ck_assert_uint_eq(a->scratch_len, b->scratch_len);
	ck_assert_uint_eq(a->rkey, b->rkey);
	ck_assert_uint_eq(a->client_id, b->client_id);
	ck_assert_uint_eq(a->lease_ms, b->lease_ms);
	ck_assert_uint_eq(a->geo.index_off, b->geo.index_off);
	ck_assert_uint_eq(a->geo.data_off, b->geo.data_off);
	ck_assert_uint_eq(a->geo.data_len, b->geo.data_len);
	ck_assert_uint_eq(a->geo.hash_seed, b->geo.hash_seed);
	ck_assert_uint_eq(a->geo.nbuckets, b->geo.nbuckets);
	ck_assert_uint_eq(a->geo.max_key, b->geo.max_key);
	ck_assert_uint_eq(a->geo.max_value, b->geo.max_value);
}

/* ---- hello: happy path ---- */

START_TEST(test_hello_round_trip)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	memset(&out, 0x5a, sizeof(out));
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
	assert_same_hello(&h, &out);
}
END_TEST

START_TEST(test_hello_round_trip_extremes)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	/* All-ones in the fields that the decoder does not vet. */
	h.slab_addr = UINT64_MAX;
	h.rkey = UINT32_MAX;
	h.client_id = UINT16_MAX;
	h.geo.hash_seed = UINT64_MAX;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
	assert_same_hello(&h, &out);

	h.client_id = 1;
	h.geo.hash_seed = 0;
	h.scratch_off = 0;
	h.geo.max_value = KV_VALUE_LIMIT; /* larger than the data region: allowed */
	h.geo.max_key = 1;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
	assert_same_hello(&h, &out);
}
END_TEST

START_TEST(test_hello_wire_format)
{
	struct kv_hello h = sample_hello();
	uint8_t buf[KV_MSG_MAX];
	const uint8_t *p = buf + KV_MSG_HDR_LEN;
	static const uint8_t hdr[KV_MSG_HDR_LEN] = {
		'K', 'V', 'R', 'D', 0, KV_PROTO_VERSION, 0, KV_MSG_HELLO, 0, 0, 0, KV_HELLO_PAYLOAD_LEN,
		0, 0, 0, 0,
	};

	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(kv_hello_encode(buf, &h), HELLO_LEN);
	ck_assert_mem_eq(buf, hdr, sizeof(hdr));
	/* Big-endian integers at their documented places. */
	ck_assert_uint_eq(p[0], 0x00);
	ck_assert_uint_eq(p[7], 0x00);
	ck_assert_uint_eq(p[2], 0x7f);
	ck_assert_uint_eq(p[28], 0xde);
	ck_assert_uint_eq(p[31], 0xef);
	ck_assert_uint_eq(p[32], 0xab);
	ck_assert_uint_eq(p[33], 0xcd);
	/* The geometry: index at 256 KiB, then the data region, the seed, the
	 * buckets, the limits. */
	ck_assert_uint_eq(p[45], 0x04);
	ck_assert_uint_eq(p[46], 0x00);
	ck_assert_uint_eq(p[47], 0x00);
	ck_assert_uint_eq(((uint64_t)p[52] << 24 | (uint64_t)p[53] << 16 | (uint64_t)p[54] << 8 |
			   p[55]), h.geo.data_off & 0xffffffffu);
	ck_assert_uint_eq(((uint64_t)p[60] << 24 | (uint64_t)p[61] << 16 | (uint64_t)p[62] << 8 |
			   p[63]), h.geo.data_len & 0xffffffffu);
	ck_assert_uint_eq(p[64], 0x01);
	ck_assert_uint_eq(p[71], 0xef);
	ck_assert_uint_eq(((uint32_t)p[72] << 24 | (uint32_t)p[73] << 16 | (uint32_t)p[74] << 8 |
			   p[75]), h.geo.nbuckets);
	ck_assert_uint_eq(p[79], KV_KEY_LIMIT);
	ck_assert_uint_eq(p[81], KV_DEFAULT_MAX_VALUE >> 16);
	/* Reserved bytes are zero, not left over from the buffer. */
	for (int i = 34; i < 40; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(p[84], 0x00); /* the lease, ms */
	ck_assert_uint_eq(p[86], 0x12);
	ck_assert_uint_eq(p[87], 0x34);
	for (int i = 88; i < KV_HELLO_PAYLOAD_LEN; i++)
		ck_assert_uint_eq(p[i], 0);
	/* Nothing written past the message. */
	ck_assert_uint_eq(buf[HELLO_LEN], 0xee);
}
END_TEST

/* ---- hello: what the decoder must refuse ---- */

START_TEST(test_hello_truncated)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	kv_hello_encode(buf, &h);
	for (size_t len = 0; len < HELLO_LEN; len++) {
		err[0] = '\0';
		ck_assert_msg(decode_exact(buf, len, &out, err, sizeof(err)) == -EBADMSG,
			      "a %zu-byte hello was not rejected with -EBADMSG", len);
		ck_assert_msg(err[0] != '\0', "no explanation for a %zu-byte hello", len);
	}
}
END_TEST

START_TEST(test_hello_oversized)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	memset(buf, 0, sizeof(buf));
	kv_hello_encode(buf, &h);
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN + 1, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN + 8, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_int_eq(decode_exact(buf, KV_MSG_MAX, &out, err, sizeof(err)), -EBADMSG);

	/* Extra bytes that the header owns up to are still not a hello. */
	put_be32(buf + 8, KV_HELLO_PAYLOAD_LEN + 8);
	err[0] = '\0';
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN + 8, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(test_hello_wrong_magic)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	for (int i = 0; i < 4; i++) {
		kv_hello_encode(buf, &h);
		buf[i] ^= 0x20;
		err[0] = '\0';
		ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)), -EBADMSG);
		ck_assert_str_ne(err, "");
	}
}
END_TEST

START_TEST(test_hello_wrong_version)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	kv_hello_encode(buf, &h);
	put_be16(buf + 4, KV_PROTO_VERSION + 1);
	err[0] = '\0';
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	{
		char want[32];

		snprintf(want, sizeof(want), "version %u", KV_PROTO_VERSION + 1);
		ck_assert_msg(strstr(err, want) != NULL, "error does not name %s: '%s'", want, err);
	}

	put_be16(buf + 4, 0x1234);
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	ck_assert_msg(strstr(err, "4660") != NULL, "error does not name version 4660: '%s'",
		      err);
}
END_TEST

/* A lease past the limit would make a client wait for hours: refused. */
START_TEST(test_hello_lease_too_long)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	h.lease_ms = KV_LEASE_MAX_MS;
	kv_hello_encode(buf, &h);
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)), 0);
	h.lease_ms = KV_LEASE_MAX_MS + 1;
	kv_hello_encode(buf, &h);
	ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "lease") != NULL, "error does not name the lease: '%s'", err);
}
END_TEST

START_TEST(test_hello_wrong_type)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];
	static const uint16_t types[] = {0, KV_MSG_STATS_REQ, KV_MSG_STATS_RESP, KV_MSG_GRANT_REQ,
					 KV_MSG_GRANT, KV_MSG_SEAL, 0xffff};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		kv_hello_encode(buf, &h);
		put_be16(buf + 6, types[i]);
		err[0] = '\0';
		ck_assert_int_eq(decode_exact(buf, HELLO_LEN, &out, err, sizeof(err)), -EBADMSG);
		ck_assert_str_ne(err, "");
	}
}
END_TEST

START_TEST(test_hello_client_id_zero)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	h.client_id = 0;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(test_hello_scratch_outside_slab)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	h.scratch_len = 0;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h = sample_hello();
	h.scratch_off = h.slab_len - h.scratch_len + 1;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h = sample_hello();
	h.scratch_off = UINT64_MAX - 10; /* off + len would wrap around */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h = sample_hello();
	h.geo.data_len -= h.scratch_len; /* room after the data region */
	h.scratch_off = h.slab_len - h.scratch_len; /* flush with the end: fine */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
}
END_TEST

/* Geometries that do not fit the slab, one per loop iteration. */
static void break_geometry(struct kv_hello *h, int which)
{
	struct kv_geometry *g = &h->geo;

	switch (which) {
	case 0: /* the slab shrank under the data region */
		h->slab_len = g->data_off + g->data_len - 16;
		h->scratch_off = 0;
		break;
	case 1: /* data starts past the end */
		g->data_off = h->slab_len + 4096;
		break;
	case 2: /* data starts inside, ends outside */
		g->data_off = h->slab_len - 4096;
		break;
	case 3: /* data runs one granule past the end */
		g->data_len += KV_GRANULE;
		break;
	case 4: /* the index starts past the end */
		g->index_off = h->slab_len + KV_BUCKET_BYTES;
		break;
	case 5: /* the index runs past the end */
		g->index_off = h->slab_len - KV_BUCKET_BYTES;
		break;
	case 6: /* a huge index: multiplications must not wrap */
		g->nbuckets = UINT32_MAX;
		break;
	case 7: /* one more bucket than fits before the data: they overlap */
		g->nbuckets = (uint32_t)((g->data_off - g->index_off) / KV_BUCKET_BYTES) + 1;
		break;
	case 8: /* the data region over the index */
		g->data_off = g->index_off + KV_BUCKET_BYTES;
		g->data_len = h->slab_len - g->data_off;
		break;
	case 9: /* the index inside the data region */
		g->index_off = g->data_off + 4096;
		g->nbuckets = 2;
		break;
	case 10: /* an unaligned index */
		g->index_off += 8;
		break;
	case 11: /* an unaligned data region */
		g->data_off += 8;
		g->data_len -= KV_GRANULE;
		break;
	case 12: /* a data region of a ragged length */
		g->data_len -= 8;
		break;
	case 13:
		g->data_len = 0;
		break;
	case 14:
		g->nbuckets = 1;
		break;
	case 15:
		g->nbuckets = 0;
		break;
	case 16:
		g->max_key = 0;
		break;
	case 17:
		g->max_key = KV_KEY_LIMIT + 1;
		break;
	case 18:
		g->max_value = KV_VALUE_LIMIT + 1;
		break;
	case 19: /* more granules than a word can name */
		h->slab_len = 1ull << 40;
		g->data_len = ((1ull << KV_GRAN_BITS) + 1) * KV_GRANULE;
		break;
	}
}
#define N_BROKEN_GEOMETRIES 20

START_TEST(test_hello_bad_geometry)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	break_geometry(&h, _i);
	err[0] = '\0';
	ck_assert_msg(round_trip(&h, &out, err, sizeof(err)) == -EBADMSG,
		      "broken geometry #%d accepted", _i);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len, err, sizeof(err)), -EINVAL);
}
END_TEST

/* The client's scratch area must not overlap the index or the data. */
START_TEST(test_hello_scratch_overlaps_table)
{
	struct kv_hello h = sample_hello(), out;
	char err[128];

	h.scratch_off = h.geo.index_off; /* the first bucket */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);
	ck_assert_str_ne(err, "");

	h.scratch_off = h.geo.data_off + 4096; /* inside the data region */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h.scratch_off = h.geo.index_off - 16; /* straddles into the index */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h.scratch_off = h.geo.index_off - h.scratch_len; /* the last area: fine */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
}
END_TEST

/* Every single-bit error either decodes to something sane or is refused. */
START_TEST(test_hello_bit_flips_never_crash)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char err[128];

	for (size_t pos = 0; pos < HELLO_LEN; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			int ret;

			kv_hello_encode(buf, &h);
			buf[pos] ^= (uint8_t)(1u << bit);
			ret = decode_exact(buf, HELLO_LEN, &out, err, sizeof(err));
			ck_assert_msg(ret == 0 || ret == -EBADMSG || ret == -EPROTONOSUPPORT,
				      "byte %zu bit %d: unexpected %d", pos, bit, ret);
			if (ret)
				continue;
			ck_assert_uint_ne(out.client_id, 0);
			ck_assert_int_eq(kv_geometry_check(&out.geo, out.slab_len, err,
							   sizeof(err)), 0);
		}
	}
}
END_TEST

START_TEST(test_hello_tiny_error_buffer)
{
	struct kv_hello h = sample_hello(), out;
	uint8_t buf[KV_MSG_MAX];
	char *err = malloc(4); /* exact size, so ASan sees an overflow */

	ck_assert_ptr_nonnull(err);
	kv_hello_encode(buf, &h);
	put_be16(buf + 4, 7);
	ck_assert_int_eq(kv_hello_decode(buf, HELLO_LEN, &out, err, 4), -EPROTONOSUPPORT);
	ck_assert_uint_eq(strlen(err), 3);
	ck_assert_int_eq(kv_hello_decode(buf, 3, &out, err, 4), -EBADMSG);
	ck_assert_uint_eq(strlen(err), 3);
	free(err);
}
END_TEST

/* ---- headers ---- */

START_TEST(test_header_round_trip)
{
	uint8_t buf[KV_MSG_MAX];
	struct kv_msg_header hdr;

	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(kv_msg_put_header(buf, KV_MSG_STATS_RESP, 5, 7), KV_MSG_HDR_LEN);
	memcpy(buf + KV_MSG_HDR_LEN, "{...}", 5);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN + 5, &hdr), 0);
	ck_assert_uint_eq(hdr.magic, KV_PROTO_MAGIC);
	ck_assert_uint_eq(hdr.version, KV_PROTO_VERSION);
	ck_assert_uint_eq(hdr.type, KV_MSG_STATS_RESP);
	ck_assert_uint_eq(hdr.payload_len, 5);
	ck_assert_uint_eq(hdr.status, 7);
	/* The payload is left alone. */
	ck_assert_mem_eq(buf + KV_MSG_HDR_LEN, "{...}", 5);
}
END_TEST

START_TEST(test_header_extremes)
{
	uint8_t buf[KV_MSG_MAX];
	struct kv_msg_header hdr;

	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN, &hdr), 0);
	ck_assert_uint_eq(hdr.type, KV_MSG_STATS_REQ);
	ck_assert_uint_eq(hdr.payload_len, 0);
	ck_assert_uint_eq(hdr.status, 0);

	kv_msg_put_header(buf, 0xffff, KV_MSG_MAX - KV_MSG_HDR_LEN, UINT32_MAX);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_MAX, &hdr), 0);
	ck_assert_uint_eq(hdr.type, 0xffff);
	ck_assert_uint_eq(hdr.payload_len, KV_MSG_MAX - KV_MSG_HDR_LEN);
	ck_assert_uint_eq(hdr.status, UINT32_MAX);
}
END_TEST

START_TEST(test_header_payload_len_mismatch)
{
	uint8_t buf[KV_MSG_MAX];
	struct kv_msg_header hdr;

	memset(buf, 0, sizeof(buf));
	kv_msg_put_header(buf, KV_MSG_STATS_RESP, 100, 0);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN + 100, &hdr), 0);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN + 99, &hdr), -EBADMSG);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN + 101, &hdr), -EBADMSG);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_HDR_LEN, &hdr), -EBADMSG);

	/* A payload_len near 2^32 must not wrap around into a match. */
	put_be32(buf + 8, UINT32_MAX);
	ck_assert_int_eq(kv_msg_get_header(buf, KV_MSG_MAX, &hdr), -EBADMSG);
}
END_TEST

START_TEST(test_header_short)
{
	uint8_t buf[KV_MSG_HDR_LEN];
	struct kv_msg_header hdr;

	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	for (size_t len = 0; len < KV_MSG_HDR_LEN; len++) {
		uint8_t *copy = malloc(len ? len : 1);

		memcpy(copy, buf, len);
		ck_assert_msg(kv_msg_get_header(copy, len, &hdr) == -EBADMSG,
			      "a %zu-byte header was accepted", len);
		free(copy);
	}
}
END_TEST

START_TEST(test_header_bad_magic_and_version)
{
	uint8_t buf[KV_MSG_HDR_LEN];
	struct kv_msg_header hdr;

	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	buf[3] ^= 1;
	ck_assert_int_eq(kv_msg_get_header(buf, sizeof(buf), &hdr), -EBADMSG);

	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	put_be16(buf + 4, 0);
	ck_assert_int_eq(kv_msg_get_header(buf, sizeof(buf), &hdr), -EPROTONOSUPPORT);
	ck_assert_uint_eq(hdr.version, 0);

	put_be16(buf + 4, KV_PROTO_VERSION + 1);
	ck_assert_int_eq(kv_msg_get_header(buf, sizeof(buf), &hdr), -EPROTONOSUPPORT);
	ck_assert_uint_eq(hdr.version, KV_PROTO_VERSION + 1);
}
END_TEST

START_TEST(test_msg_type_names)
{
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_HELLO), "hello");
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_STATS_REQ), "stats request");
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_STATS_RESP), "stats response");
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_GRANT_REQ), "grant request");
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_GRANT), "grant");
	ck_assert_str_eq(kv_msg_type_name(KV_MSG_SEAL), "seal");
	ck_assert_ptr_nonnull(kv_msg_type_name(0));
	ck_assert_ptr_nonnull(kv_msg_type_name(0xffff));
	ck_assert_str_ne(kv_msg_type_name(0xffff), "hello");
}
END_TEST

/* ---- extents: grant request, grant, seal ---- */

/* Decode from a heap copy of exactly @len bytes (ASan sees overreads). */
static int extent_decode_exact(const uint8_t *msg, size_t len, uint16_t type,
			       uint32_t *status, uint64_t *a, uint64_t *b)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, msg, len);
	ret = kv_extent_decode(copy, len, type, status, a, b);
	free(copy);
	return ret;
}

START_TEST(test_extent_round_trip)
{
	static const uint16_t types[] = {KV_MSG_GRANT_REQ, KV_MSG_GRANT, KV_MSG_SEAL};
	static const struct {
		uint32_t status;
		uint64_t a, b;
	} cases[] = {
		{0, 0, 0},
		{0, 4096, 1u << 20},
		{ENOSPC, 0, 123456},
		{EAGAIN, 0, 0},
		{EMFILE, 0, 16},
		{UINT32_MAX, UINT64_MAX, UINT64_MAX - 1},
	};
	uint8_t buf[KV_MSG_MAX];

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint32_t status = 7;
			uint64_t a = 1, b = 2;

			memset(buf, 0xee, sizeof(buf));
			ck_assert_uint_eq(kv_extent_encode(buf, types[t], cases[i].status,
							   cases[i].a, cases[i].b), EXTENT_LEN);
			ck_assert_uint_eq(buf[EXTENT_LEN], 0xee); /* nothing past it */
			ck_assert_int_eq(extent_decode_exact(buf, EXTENT_LEN, types[t], &status,
							     &a, &b), 0);
			ck_assert_uint_eq(status, cases[i].status);
			ck_assert_uint_eq(a, cases[i].a);
			ck_assert_uint_eq(b, cases[i].b);
		}
	}
}
END_TEST

START_TEST(test_extent_wire_format)
{
	uint8_t buf[KV_MSG_MAX];
	const uint8_t *p = buf + KV_MSG_HDR_LEN;
	static const uint8_t hdr[KV_MSG_HDR_LEN] = {
		'K', 'V', 'R', 'D', 0, KV_PROTO_VERSION, 0, KV_MSG_GRANT, 0, 0, 0,
		KV_EXTENT_PAYLOAD_LEN, 0, 0, 0, ENOSPC,
	};
	struct kv_msg_header h;

	kv_extent_encode(buf, KV_MSG_GRANT, ENOSPC, 0x0102030405060708ull, 0x1112131415161718ull);
	ck_assert_mem_eq(buf, hdr, sizeof(hdr));
	for (int i = 0; i < 8; i++) { /* big-endian, a then b */
		ck_assert_uint_eq(p[i], 0x01 + i);
		ck_assert_uint_eq(p[8 + i], 0x11 + i);
	}
	ck_assert_int_eq(kv_msg_get_header(buf, EXTENT_LEN, &h), 0);
	ck_assert_uint_eq(h.type, KV_MSG_GRANT);
	ck_assert_uint_eq(h.status, ENOSPC);
}
END_TEST

START_TEST(test_extent_wrong_type)
{
	uint8_t buf[KV_MSG_MAX];
	uint32_t status;
	uint64_t a, b;

	kv_extent_encode(buf, KV_MSG_GRANT, 0, 16, 32);
	ck_assert_int_eq(extent_decode_exact(buf, EXTENT_LEN, KV_MSG_SEAL, &status, &a, &b),
			 -EBADMSG);
	ck_assert_int_eq(extent_decode_exact(buf, EXTENT_LEN, KV_MSG_GRANT_REQ, &status, &a, &b),
			 -EBADMSG);
	ck_assert_int_eq(extent_decode_exact(buf, EXTENT_LEN, KV_MSG_HELLO, &status, &a, &b),
			 -EBADMSG);
	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	ck_assert_int_eq(extent_decode_exact(buf, KV_MSG_HDR_LEN, KV_MSG_STATS_REQ, &status, &a,
					     &b), -EBADMSG);
}
END_TEST

/* What kvserver accepts from a client (kv_request_decode): a stats request
 * without payload, a grant request, a seal; nothing else. */
START_TEST(test_request_decode)
{
	uint8_t buf[KV_MSG_MAX];
	struct kv_msg_header hdr;
	uint64_t a = 1, b = 2;
	size_t len;

	len = kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), 0);
	ck_assert_uint_eq(hdr.type, KV_MSG_STATS_REQ);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 0);
	len = kv_extent_encode(buf, KV_MSG_GRANT_REQ, 0, 4096, 1);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), 0);
	ck_assert_uint_eq(hdr.type, KV_MSG_GRANT_REQ);
	ck_assert_uint_eq(a, 4096);
	ck_assert_uint_eq(b, 1);
	len = kv_extent_encode(buf, KV_MSG_SEAL, 0, 64, 128);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), 0);
	ck_assert_uint_eq(hdr.type, KV_MSG_SEAL);
	ck_assert_uint_eq(a, 64);
	ck_assert_uint_eq(b, 128);

	a = 7;
	b = 9;
	/* A stats request with a payload, a grant (server to client), a
	 * hello, a short seal, an unknown type: refused, a and b untouched. */
	kv_msg_put_header(buf, KV_MSG_STATS_REQ, 1, 0);
	ck_assert_int_eq(kv_request_decode(buf, KV_MSG_HDR_LEN + 1, &hdr, &a, &b), -EBADMSG);
	len = kv_extent_encode(buf, KV_MSG_GRANT, 0, 64, 128);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), -EBADMSG);
	len = kv_msg_put_header(buf, KV_MSG_HELLO, 0, 0);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), -EBADMSG);
	kv_msg_put_header(buf, KV_MSG_SEAL, 8, 0);
	ck_assert_int_eq(kv_request_decode(buf, KV_MSG_HDR_LEN + 8, &hdr, &a, &b), -EBADMSG);
	len = kv_msg_put_header(buf, 99, 0, 0);
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), -EBADMSG);
	len = kv_msg_put_header(buf, KV_MSG_STATS_REQ, 0, 0);
	buf[5] ^= 1; /* another version */
	ck_assert_int_eq(kv_request_decode(buf, len, &hdr, &a, &b), -EPROTONOSUPPORT);
	ck_assert_int_eq(kv_request_decode(buf, 3, &hdr, &a, &b), -EBADMSG);
	ck_assert_uint_eq(a, 7);
	ck_assert_uint_eq(b, 9);
}
END_TEST

/* A grant the client may write in (kv_grant_ok). */
START_TEST(test_grant_ok)
{
	const uint64_t dl = 1u << 20;

	ck_assert(kv_grant_ok(0, dl, 1, dl));
	ck_assert(kv_grant_ok(dl - 16, 16, 16, dl));
	ck_assert(kv_grant_ok(4096, 4096, 4000, dl));
	ck_assert(!kv_grant_ok(8, 4096, 1, dl));       /* unaligned offset */
	ck_assert(!kv_grant_ok(0, 4100, 1, dl));       /* unaligned length */
	ck_assert(!kv_grant_ok(0, 4096, 4097, dl));    /* less than asked */
	ck_assert(!kv_grant_ok(dl - 16, 32, 1, dl));   /* past the end */
	ck_assert(!kv_grant_ok(dl + 16, 0, 0, dl));    /* starts past it */
	ck_assert(!kv_grant_ok(16, UINT64_MAX - 15, 1, dl)); /* wraps */
}
END_TEST

START_TEST(test_extent_wrong_length)
{
	uint8_t buf[KV_MSG_MAX];
	uint32_t status;
	uint64_t a, b;

	memset(buf, 0, sizeof(buf));
	kv_extent_encode(buf, KV_MSG_SEAL, 0, 16, 32);
	/* Every length but the right one, with the header as encoded. */
	for (size_t len = 0; len <= EXTENT_LEN + 8; len++) {
		if (len == EXTENT_LEN)
			continue;
		ck_assert_msg(extent_decode_exact(buf, len, KV_MSG_SEAL, &status, &a, &b) ==
			      -EBADMSG, "a %zu-byte seal was accepted", len);
	}
	/* A header that owns up to a longer or shorter payload. */
	for (uint32_t plen = 0; plen <= 2 * KV_EXTENT_PAYLOAD_LEN; plen++) {
		if (plen == KV_EXTENT_PAYLOAD_LEN)
			continue;
		kv_msg_put_header(buf, KV_MSG_SEAL, plen, 0);
		ck_assert_msg(extent_decode_exact(buf, KV_MSG_HDR_LEN + plen, KV_MSG_SEAL, &status,
						  &a, &b) == -EBADMSG,
			      "a seal with %u bytes of payload was accepted", plen);
	}
	/* A bad magic or version is no extent either. */
	kv_extent_encode(buf, KV_MSG_SEAL, 0, 16, 32);
	buf[0] ^= 1;
	ck_assert_int_eq(extent_decode_exact(buf, EXTENT_LEN, KV_MSG_SEAL, &status, &a, &b),
			 -EBADMSG);
	kv_extent_encode(buf, KV_MSG_SEAL, 0, 16, 32);
	put_be16(buf + 4, KV_PROTO_VERSION - 1);
	ck_assert_int_ne(extent_decode_exact(buf, EXTENT_LEN, KV_MSG_SEAL, &status, &a, &b), 0);
}
END_TEST

/* ---- geometry check ---- */

START_TEST(test_geometry_check_accepts_layout)
{
	struct kv_hello h = sample_hello();
	char err[128] = "";

	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len, err, sizeof(err)), 0);
	/* The same table does not fit into one byte less than it needs. */
	h.slab_len = h.geo.data_off + h.geo.data_len;
	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len, err, sizeof(err)), 0);
	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len - 1, err, sizeof(err)), -EINVAL);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(kv_geometry_check(&h.geo, 0, err, sizeof(err)), -EINVAL);
}
END_TEST

/* Index and data may touch, and the index may be as small as two buckets. */
START_TEST(test_geometry_check_edges)
{
	struct kv_geometry g = {
		.index_off = 0, .data_off = 2 * KV_BUCKET_BYTES, .data_len = KV_GRANULE,
		.hash_seed = 1, .nbuckets = 2, .max_key = 1, .max_value = 1,
	};
	char err[128] = "";

	ck_assert_int_eq(kv_geometry_check(&g, 2 * KV_BUCKET_BYTES + KV_GRANULE, err,
					   sizeof(err)), 0);
	ck_assert_int_eq(kv_geometry_check(&g, 2 * KV_BUCKET_BYTES + KV_GRANULE - 1, err,
					   sizeof(err)), -EINVAL);
	g.data_off -= KV_GRANULE;
	ck_assert_int_eq(kv_geometry_check(&g, 1 << 20, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "overlap"));
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("hello");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_hello_round_trip);
	tcase_add_test(tc, test_hello_round_trip_extremes);
	tcase_add_test(tc, test_hello_wire_format);
	tcase_add_test(tc, test_hello_truncated);
	tcase_add_test(tc, test_hello_oversized);
	tcase_add_test(tc, test_hello_wrong_magic);
	tcase_add_test(tc, test_hello_wrong_version);
	tcase_add_test(tc, test_hello_lease_too_long);
	tcase_add_test(tc, test_hello_wrong_type);
	tcase_add_test(tc, test_hello_client_id_zero);
	tcase_add_test(tc, test_hello_scratch_outside_slab);
	tcase_add_loop_test(tc, test_hello_bad_geometry, 0, N_BROKEN_GEOMETRIES);
	tcase_add_test(tc, test_hello_scratch_overlaps_table);
	tcase_add_test(tc, test_hello_bit_flips_never_crash);
	tcase_add_test(tc, test_hello_tiny_error_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_header_round_trip);
	tcase_add_test(tc, test_header_extremes);
	tcase_add_test(tc, test_header_payload_len_mismatch);
	tcase_add_test(tc, test_header_short);
	tcase_add_test(tc, test_header_bad_magic_and_version);
	tcase_add_test(tc, test_msg_type_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("extent");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_extent_round_trip);
	tcase_add_test(tc, test_extent_wire_format);
	tcase_add_test(tc, test_extent_wrong_type);
	tcase_add_test(tc, test_extent_wrong_length);
	tcase_add_test(tc, test_request_decode);
	tcase_add_test(tc, test_grant_ok);
	suite_add_tcase(s, tc);

	tc = tcase_create("geometry");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_geometry_check_accepts_layout);
	tcase_add_test(tc, test_geometry_check_edges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
