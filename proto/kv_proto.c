/* kv_proto.c - encode and decode control messages (see kv_proto.h). */
#include "kv_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kv_base.h"
#include "kv_index.h"

#define put16 kv_st16be
#define put32 kv_st32be
#define put64 kv_st64be
#define get16 kv_ld16be
#define get32 kv_ld32be
#define get64 kv_ld64be

size_t kv_msg_put_header(uint8_t *buf, uint16_t type, uint32_t payload_len,
			 uint32_t status)
{
	put32(buf, KV_PROTO_MAGIC);
	put16(buf + 4, KV_PROTO_VERSION);
	put16(buf + 6, type);
	put32(buf + 8, payload_len);
	put32(buf + 12, status);
	return KV_MSG_HDR_LEN;
}

int kv_msg_get_header(const uint8_t *buf, size_t len, struct kv_msg_header *hdr)
{
	if (len < KV_MSG_HDR_LEN)
		return -EBADMSG;
	hdr->magic = get32(buf);
	hdr->version = get16(buf + 4);
	hdr->type = get16(buf + 6);
	hdr->payload_len = get32(buf + 8);
	hdr->status = get32(buf + 12);
	if (hdr->magic != KV_PROTO_MAGIC)
		return -EBADMSG;
	if (hdr->version != KV_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if ((size_t)hdr->payload_len != len - KV_MSG_HDR_LEN)
		return -EBADMSG;
	return 0;
}

size_t kv_hello_encode(uint8_t *buf, const struct kv_hello *h)
{
	uint8_t *p = buf + kv_msg_put_header(buf, KV_MSG_HELLO,
					     KV_HELLO_PAYLOAD_LEN, 0);

	memset(p, 0, KV_HELLO_PAYLOAD_LEN);
	put64(p + 0, h->slab_addr);
	put64(p + 8, h->slab_len);
	put64(p + 16, h->scratch_off);
	put32(p + 24, h->scratch_len);
	put32(p + 28, h->rkey);
	put16(p + 32, h->client_id);
	/* 34..39 reserved, zero */
	put64(p + 40, h->geo.index_off);
	put64(p + 48, h->geo.data_off);
	put64(p + 56, h->geo.data_len);
	put64(p + 64, h->geo.hash_seed);
	put32(p + 72, h->geo.nbuckets);
	put32(p + 76, h->geo.max_key);
	put32(p + 80, h->geo.max_value);
	put32(p + 84, h->lease_ms);
	/* 88..95 reserved, zero */
	return KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN;
}

int kv_hello_decode(const uint8_t *buf, size_t len, struct kv_hello *h,
		    char *err, size_t errlen)
{
	struct kv_msg_header hdr;
	const uint8_t *p = buf + KV_MSG_HDR_LEN;
	int ret = kv_msg_get_header(buf, len, &hdr);

	if (ret == -EPROTONOSUPPORT) {
		snprintf(err, errlen, "server speaks protocol version %u, this client %u",
			 hdr.version, KV_PROTO_VERSION);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "malformed hello (%zu bytes)", len);
		return ret;
	}
	if (hdr.type != KV_MSG_HELLO || hdr.payload_len != KV_HELLO_PAYLOAD_LEN) {
		snprintf(err, errlen, "expected a hello, got %s with %u bytes",
			 kv_msg_type_name(hdr.type), hdr.payload_len);
		return -EBADMSG;
	}
	h->slab_addr = get64(p + 0);
	h->slab_len = get64(p + 8);
	h->scratch_off = get64(p + 16);
	h->scratch_len = get32(p + 24);
	h->rkey = get32(p + 28);
	h->client_id = get16(p + 32);
	h->geo.index_off = get64(p + 40);
	h->geo.data_off = get64(p + 48);
	h->geo.data_len = get64(p + 56);
	h->geo.hash_seed = get64(p + 64);
	h->geo.nbuckets = get32(p + 72);
	h->geo.max_key = get32(p + 76);
	h->geo.max_value = get32(p + 80);
	h->lease_ms = get32(p + 84);

	if (h->lease_ms > KV_LEASE_MAX_MS) {
		snprintf(err, errlen, "hello: lock lease of %u ms (at most %u)", h->lease_ms,
			 KV_LEASE_MAX_MS);
		return -EBADMSG;
	}
	if (h->client_id == 0) {
		snprintf(err, errlen, "hello carries client id 0");
		return -EBADMSG;
	}
	if (h->scratch_len == 0 || h->scratch_off > h->slab_len ||
	    h->scratch_len > h->slab_len - h->scratch_off) {
		snprintf(err, errlen, "hello: scratch area outside the slab");
		return -EBADMSG;
	}
	if (kv_geometry_check(&h->geo, h->slab_len, err, errlen))
		return -EBADMSG;
	if (h->scratch_off < h->geo.data_off + h->geo.data_len &&
	    h->scratch_off + h->scratch_len > h->geo.index_off) {
		snprintf(err, errlen, "hello: scratch area overlaps the table");
		return -EBADMSG;
	}
	return 0;
}

int kv_geometry_check(const struct kv_geometry *g, uint64_t slab_len,
		      char *err, size_t errlen)
{
	uint64_t index_len = (uint64_t)g->nbuckets * KV_BUCKET_BYTES;

	if (g->nbuckets < 2) {
		snprintf(err, errlen, "geometry: %u buckets (at least 2)", g->nbuckets);
		return -EINVAL;
	}
	if (g->max_key == 0 || g->max_key > KV_KEY_LIMIT || g->max_value > KV_VALUE_LIMIT) {
		snprintf(err, errlen, "geometry: key limit %u, value limit %u",
			 g->max_key, g->max_value);
		return -EINVAL;
	}
	if (g->index_off % KV_BUCKET_BYTES || g->index_off > slab_len ||
	    index_len > slab_len - g->index_off) {
		snprintf(err, errlen, "geometry: index outside the slab");
		return -EINVAL;
	}
	if (g->data_off % KV_GRANULE || g->data_len % KV_GRANULE || g->data_len == 0 ||
	    g->data_off > slab_len || g->data_len > slab_len - g->data_off ||
	    g->data_len / KV_GRANULE > 1ull << KV_GRAN_BITS) {
		snprintf(err, errlen, "geometry: data region outside the slab");
		return -EINVAL;
	}
	if (g->index_off + index_len > g->data_off) {
		snprintf(err, errlen, "geometry: index overlaps the data region");
		return -EINVAL;
	}
	return 0;
}

size_t kv_extent_encode(uint8_t *buf, uint16_t type, uint32_t status, uint64_t a,
			uint64_t b)
{
	uint8_t *p = buf + kv_msg_put_header(buf, type, KV_EXTENT_PAYLOAD_LEN, status);

	put64(p, a);
	put64(p + 8, b);
	return KV_MSG_HDR_LEN + KV_EXTENT_PAYLOAD_LEN;
}

int kv_extent_decode(const uint8_t *buf, size_t len, uint16_t type, uint32_t *status,
		     uint64_t *a, uint64_t *b)
{
	struct kv_msg_header hdr;

	if (kv_msg_get_header(buf, len, &hdr) || hdr.type != type ||
	    hdr.payload_len != KV_EXTENT_PAYLOAD_LEN)
		return -EBADMSG;
	*status = hdr.status;
	*a = get64(buf + KV_MSG_HDR_LEN);
	*b = get64(buf + KV_MSG_HDR_LEN + 8);
	return 0;
}

int kv_request_decode(const uint8_t *buf, size_t len, struct kv_msg_header *hdr,
		      uint64_t *a, uint64_t *b)
{
	uint32_t status;
	int ret = kv_msg_get_header(buf, len, hdr);

	if (ret)
		return ret;
	switch (hdr->type) {
	case KV_MSG_STATS_REQ:
		if (hdr->payload_len)
			return -EBADMSG;
		*a = 0;
		*b = 0;
		return 0;
	case KV_MSG_GRANT_REQ:
	case KV_MSG_SEAL:
		return kv_extent_decode(buf, len, hdr->type, &status, a, b);
	default:
		return -EBADMSG;
	}
}

bool kv_grant_ok(uint64_t off, uint64_t len, uint64_t need, uint64_t data_len)
{
	return !(off % KV_GRANULE || len % KV_GRANULE || len < need || off > data_len ||
		 len > data_len - off);
}

const char *kv_msg_type_name(uint16_t type)
{
	switch (type) {
	case KV_MSG_HELLO: return "hello";
	case KV_MSG_STATS_REQ: return "stats request";
	case KV_MSG_STATS_RESP: return "stats response";
	case KV_MSG_GRANT_REQ: return "grant request";
	case KV_MSG_GRANT: return "grant";
	case KV_MSG_SEAL: return "seal";
	case KV_MSG_CHALLENGE: return "challenge";
	case KV_MSG_AUTH: return "authentication";
	case KV_MSG_WELCOME: return "welcome";
	default: return "unknown message";
	}
}
