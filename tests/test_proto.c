/* test_proto.c - hello and header encode/decode, geometry vetting (kv_proto.h). */
#include <check.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_proto.h"
#include "kv_slot.h"

#define HELLO_LEN (KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN)
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
	ck_assert_int_eq(kv_geometry_layout(SLAB_64M, KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE,
					    KV_DEFAULT_BUCKET_SLOTS, KV_DEFAULT_HEAD_SIZE, 0x0123456789abcdefull,
					    &h.geo, err, sizeof(err)), 0);
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
	ck_assert_uint_eq(a->geo.ctrl_off, b->geo.ctrl_off);
	ck_assert_uint_eq(a->geo.rec_off, b->geo.rec_off);
	ck_assert_uint_eq(a->geo.hash_seed, b->geo.hash_seed);
	ck_assert_uint_eq(a->geo.nbuckets, b->geo.nbuckets);
	ck_assert_uint_eq(a->geo.bucket_slots, b->geo.bucket_slots);
	ck_assert_uint_eq(a->geo.rec_size, b->geo.rec_size);
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
	ck_assert_uint_eq(p[56], 0x01);
	ck_assert_uint_eq(p[63], 0xef);
	/* Reserved bytes are zero, not left over from the buffer. */
	for (int i = 34; i < 40; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(p[88], 0x00); /* the lease, ms */
	ck_assert_uint_eq(p[90], 0x12);
	ck_assert_uint_eq(p[91], 0x34);
	for (int i = 92; i < KV_HELLO_PAYLOAD_LEN; i++)
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
	static const uint16_t types[] = {0, KV_MSG_STATS_REQ, KV_MSG_STATS_RESP, 0xffff};

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
	h.scratch_off = h.slab_len - h.scratch_len; /* flush with the end: fine */
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), 0);
}
END_TEST

/* Geometries that do not fit the slab, one per loop iteration. */
static void break_geometry(struct kv_hello *h, int which)
{
	struct kv_geometry *g = &h->geo;
	uint64_t nslots = (uint64_t)g->nbuckets * g->bucket_slots;

	switch (which) {
	case 0: /* the slab shrank under the table */
		h->slab_len = g->rec_off + nslots * 2 * g->rec_size - 1;
		h->scratch_off = 0;
		break;
	case 1: /* records start past the end */
		g->rec_off = h->slab_len + 4096;
		break;
	case 2: /* records start inside, end outside */
		g->rec_off = h->slab_len - 4096;
		break;
	case 3: /* control words start past the end */
		g->ctrl_off = h->slab_len + 8;
		break;
	case 4: /* control words run past the end */
		g->ctrl_off = h->slab_len - 8;
		break;
	case 5: /* a huge table: multiplications must not wrap */
		g->nbuckets = UINT32_MAX;
		g->bucket_slots = KV_MAX_BUCKET_SLOTS;
		break;
	case 6: /* one more bucket than fits */
		g->nbuckets = (uint32_t)((h->slab_len - g->rec_off) / g->rec_size / 2 /
					 g->bucket_slots) + 1;
		break;
	case 7: /* unaligned control words */
		g->ctrl_off += 4;
		break;
	case 8: /* unaligned records */
		g->rec_off += 4;
		break;
	case 9:
		g->nbuckets = 1;
		break;
	case 10:
		g->bucket_slots = 0;
		break;
	case 11:
		g->bucket_slots = KV_MAX_BUCKET_SLOTS + 1;
		break;
	case 12:
		g->max_key = 0;
		break;
	case 13:
		g->max_key = KV_KEY_LIMIT + 1;
		break;
	case 14:
		g->max_value = 0;
		break;
	case 15:
		g->max_value = KV_VALUE_LIMIT + 1;
		g->rec_size = (KV_REC_HDR + g->max_key + g->max_value + 7) & ~7u;
		break;
	}
}
#define N_BROKEN_GEOMETRIES 16

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

START_TEST(test_hello_rec_size_too_small)
{
	struct kv_hello h = sample_hello(), out;
	uint32_t min = KV_REC_HDR + h.geo.max_key + h.geo.max_value;
	char err[128];

	h.geo.rec_size = min & ~7u; /* aligned, but short of a full record */
	ck_assert_uint_lt(h.geo.rec_size, min);
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h.geo.rec_size = KV_REC_HDR;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h.geo.rec_size = 0;
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);

	h.geo.rec_size = ((min + 3) & ~7u) + 4; /* big enough, fits, but unaligned */
	ck_assert_uint_ge(h.geo.rec_size, min);
	ck_assert_uint_eq(h.geo.rec_size % 8, 4);
	ck_assert_int_eq(round_trip(&h, &out, err, sizeof(err)), -EBADMSG);
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
	ck_assert_ptr_nonnull(kv_msg_type_name(0));
	ck_assert_ptr_nonnull(kv_msg_type_name(0xffff));
	ck_assert_str_ne(kv_msg_type_name(0xffff), "hello");
}
END_TEST

/* ---- geometry check ---- */

START_TEST(test_geometry_check_accepts_layout)
{
	struct kv_hello h = sample_hello();
	char err[128] = "";

	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len, err, sizeof(err)), 0);
	/* The same table does not fit into one byte less than it needs. */
	h.slab_len = h.geo.rec_off +
		     (uint64_t)h.geo.nbuckets * h.geo.bucket_slots * 2 * h.geo.rec_size;
	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len, err, sizeof(err)), 0);
	ck_assert_int_eq(kv_geometry_check(&h.geo, h.slab_len - 1, err, sizeof(err)), -EINVAL);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(kv_geometry_check(&h.geo, 0, err, sizeof(err)), -EINVAL);
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
	tcase_add_test(tc, test_hello_rec_size_too_small);
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

	tc = tcase_create("geometry");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_geometry_check_accepts_layout);
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
