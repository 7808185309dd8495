/*
 * fuzz_msg.c - every control message other than the hello: the header
 * (kv_msg_get_header), the extent messages (kv_extent_decode: grant
 * request, grant, seal), what the server accepts from a client
 * (kv_request_decode), the stats response's header as the client reads it,
 * and the client's vetting of a grant (kv_grant_ok). The input is one
 * message as received; its first 32 bytes, read as four u64, also feed
 * kv_grant_ok.
 *
 * Contract: no read past the message; a header accepted says the message's
 * own length, and encoding it gives back its 16 bytes; an extent message or
 * a request accepted is exactly its encoding; kv_request_decode decides as
 * the server's inline code did before it was factored out (kept below as
 * the reference); a grant kv_grant_ok accepts is aligned, at least the
 * need, and inside the data region (computed without overflow).
 */
#include "fuzz_util.h"

#include "kv_index.h"
#include "kv_proto.h"

typedef unsigned __int128 u128;

/* kvserver's decoding of a request before kv_request_decode (kv__on_request
 * as of 1d7330d), word for word but for its names. */
static int ref_request(const uint8_t *msg, size_t len, struct kv_msg_header *hdr,
		       uint64_t *a, uint64_t *b)
{
	uint32_t status;
	int ret = kv_msg_get_header(msg, len, hdr);

	if (!ret) {
		switch (hdr->type) {
		case KV_MSG_STATS_REQ:
			ret = hdr->payload_len ? -EBADMSG : 0;
			break;
		case KV_MSG_GRANT_REQ:
		case KV_MSG_SEAL:
			ret = kv_extent_decode(msg, len, hdr->type, &status, a, b);
			break;
		default:
			ret = -EBADMSG;
			break;
		}
	}
	return ret;
}

static void check_extent(const uint8_t *msg, size_t len, uint16_t type)
{
	uint32_t status = 0;
	uint64_t a = 0, b = 0;
	uint8_t enc[KV_MSG_MAX];

	if (kv_extent_decode(msg, len, type, &status, &a, &b))
		return;
	FUZZ_CHECK(len == KV_MSG_HDR_LEN + KV_EXTENT_PAYLOAD_LEN);
	FUZZ_CHECK(kv_extent_encode(enc, type, status, a, b) == len);
	FUZZ_CHECK(memcmp(enc, msg, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg = fz_dup(data, size);
	struct kv_msg_header hdr, rhdr;
	uint64_t a = 7, b = 9, ra = 7, rb = 9;
	uint8_t enc[KV_MSG_MAX];
	struct fz f = {data, size};
	uint64_t off, len, need, data_len;
	int ret, ref;

	ret = kv_msg_get_header(msg, size, &hdr);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTONOSUPPORT);
	if (!ret) {
		FUZZ_CHECK(hdr.magic == KV_PROTO_MAGIC && hdr.version == KV_PROTO_VERSION);
		FUZZ_CHECK((u128)hdr.payload_len + KV_MSG_HDR_LEN == size);
		FUZZ_CHECK(kv_msg_put_header(enc, hdr.type, hdr.payload_len, hdr.status) ==
			   KV_MSG_HDR_LEN);
		FUZZ_CHECK(memcmp(enc, msg, KV_MSG_HDR_LEN) == 0);
		FUZZ_CHECK(kv_msg_type_name(hdr.type) != NULL);
		/* The client's reading of a stats response: its JSON is the
		 * payload, inside the message. */
		if (hdr.type == KV_MSG_STATS_RESP)
			FUZZ_CHECK(KV_MSG_HDR_LEN + (size_t)hdr.payload_len <= size);
	}

	check_extent(msg, size, KV_MSG_GRANT_REQ);
	check_extent(msg, size, KV_MSG_GRANT);
	check_extent(msg, size, KV_MSG_SEAL);

	ret = kv_request_decode(msg, size, &hdr, &a, &b);
	ref = ref_request(msg, size, &rhdr, &ra, &rb);
	FUZZ_CHECK((ret == 0) == (ref == 0));
	if (!ret) {
		FUZZ_CHECK(hdr.type == rhdr.type && hdr.status == rhdr.status &&
			   hdr.payload_len == rhdr.payload_len);
		if (hdr.type == KV_MSG_STATS_REQ) {
			FUZZ_CHECK(size == KV_MSG_HDR_LEN && a == 0 && b == 0);
			kv_msg_put_header(enc, KV_MSG_STATS_REQ, 0, hdr.status);
		} else {
			FUZZ_CHECK(hdr.type == KV_MSG_GRANT_REQ || hdr.type == KV_MSG_SEAL);
			FUZZ_CHECK(a == ra && b == rb);
			FUZZ_CHECK(kv_extent_encode(enc, hdr.type, hdr.status, a, b) == size);
		}
		FUZZ_CHECK(memcmp(enc, msg, size) == 0);
	} else {
		FUZZ_CHECK(a == 7 && b == 9); /* untouched */
	}

	off = fz_u64(&f);
	len = fz_u64(&f);
	need = fz_u64(&f);
	data_len = fz_u64(&f);
	if (kv_grant_ok(off, len, need, data_len)) {
		FUZZ_CHECK(off % KV_GRANULE == 0 && len % KV_GRANULE == 0);
		FUZZ_CHECK(len >= need);
		FUZZ_CHECK((u128)off + len <= data_len);
	}
	free(msg);
	return 0;
}
