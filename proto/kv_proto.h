/*
 * kv_proto.h - messages exchanged over send/recv between kvserver and kvcli.
 *
 * Every message is a fixed 16-byte header followed by a payload. All integers
 * are big-endian on the wire. Encoders and decoders are pure functions over
 * byte buffers: no verbs in sight, so unit tests need no device.
 *
 *   header: u32 magic | u16 version | u16 type | u32 payload_len | u32 status
 */
#ifndef KV_PROTO_H
#define KV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_PROTO_MAGIC 0x4b565244u /* "KVRD" */
#define KV_PROTO_VERSION 4u /* 3: index words and out-of-place blocks, grants;
					4: the pending bit in block words */
#define KV_DEFAULT_PORT 20886u
#define KV_MSG_HDR_LEN 16
#define KV_MSG_MAX 4096 /* every control buffer has this size */
#define KV_HELLO_PAYLOAD_LEN 96
#define KV_EXTENT_PAYLOAD_LEN 16 /* grant request, grant, seal */
#define KV_LEASE_MIN_MS 50u          /* kvserver --lease bounds and default */
#define KV_LEASE_MAX_MS 600000u
#define KV_DEFAULT_LEASE_MS 1000u

enum kv_msg_type {
	KV_MSG_HELLO = 1,      /* server -> client, once, after ESTABLISHED */
	KV_MSG_STATS_REQ = 2,  /* client -> server */
	KV_MSG_STATS_RESP = 3, /* server -> client, payload is JSON text */
	KV_MSG_GRANT_REQ = 4,  /* client -> server: u64 need (bytes), u64 attempt
				  (0: asking anew, else asking again after a
				  refusal) */
	KV_MSG_GRANT = 5,      /* server -> client: u64 off, u64 len (bytes of the
				  data region); status ENOSPC: u64 0, u64 the
				  largest free run */
	KV_MSG_SEAL = 6,       /* client -> server, no reply: u64 off, u64 len;
				  nothing more will be published in it */
	KV_MSG_CHALLENGE = 7,  /* server -> client, instead of the hello when
				  the server has users (kv_auth.h) */
	KV_MSG_AUTH = 8,       /* client -> server: the answer */
	KV_MSG_WELCOME = 9,    /* server -> client: role, MAC and hello, or a
				  refusal */
};

/*
 * Where things live in the slab, and the limits they imply. The client takes
 * all of its addressing from here; kv_geometry_check() vets it first.
 */
struct kv_geometry {
	uint64_t index_off;    /* nbuckets buckets of 64 B (kv_index.h) */
	uint64_t data_off;     /* the data region: blocks at 16 B granules */
	uint64_t data_len;
	uint64_t hash_seed;
	uint32_t nbuckets;
	uint32_t max_key;
	uint32_t max_value;
};

struct kv_hello {
	uint64_t slab_addr;   /* remote virtual address of slab offset 0 */
	uint64_t slab_len;
	uint64_t scratch_off; /* this client's private demo area */
	uint32_t scratch_len;
	uint32_t rkey;
	uint16_t client_id;   /* nonzero; names this client in lock words */
	uint32_t lease_ms;    /* a lock held this long without progress is
				 broken by the server (0: never) */
	struct kv_geometry geo;
};

struct kv_msg_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t payload_len;
	uint32_t status; /* 0, or a positive errno for a failed request */
};

/* Encode a header for @type with @payload_len bytes; returns KV_MSG_HDR_LEN. */
size_t kv_msg_put_header(uint8_t *buf, uint16_t type, uint32_t payload_len,
			 uint32_t status);

/*
 * Parse and vet the header of a @len-byte message: -EBADMSG if @len is shorter
 * than a header, the magic is wrong or payload_len disagrees with @len;
 * -EPROTONOSUPPORT on another version. Leaves the payload alone.
 */
int kv_msg_get_header(const uint8_t *buf, size_t len, struct kv_msg_header *hdr);

/* Encode @h into @buf (at least KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN bytes).
 * Returns the message length. */
size_t kv_hello_encode(uint8_t *buf, const struct kv_hello *h);

/*
 * Decode a hello of @len bytes. Checks header, type, exact size, and that the
 * geometry fits in the slab (kv_geometry_check). 0 or negative errno; on error
 * @err gets one line of explanation.
 */
int kv_hello_decode(const uint8_t *buf, size_t len, struct kv_hello *h,
		    char *err, size_t errlen);

/*
 * 0 when @g describes a table that fits in @slab_len bytes with sane limits,
 * else -EINVAL and a reason in @err.
 */
int kv_geometry_check(const struct kv_geometry *g, uint64_t slab_len,
		      char *err, size_t errlen);

/* An extent message (grant request, grant, seal): two u64. */
size_t kv_extent_encode(uint8_t *buf, uint16_t type, uint32_t status, uint64_t a,
			uint64_t b);
/* Decode one of @type; -EBADMSG unless it is exactly that. */
int kv_extent_decode(const uint8_t *buf, size_t len, uint16_t type, uint32_t *status,
		     uint64_t *a, uint64_t *b);

/*
 * Decode a request a client sends the server: a stats request (no payload),
 * a grant request or a seal (an extent message). 0, with the header in *hdr
 * and the extent's two u64 in *a and *b (0 for a stats request); else
 * -EBADMSG (or -EPROTONOSUPPORT for another version), *a and *b untouched.
 */
int kv_request_decode(const uint8_t *buf, size_t len, struct kv_msg_header *hdr,
		      uint64_t *a, uint64_t *b);

/*
 * Whether a grant of @len bytes at offset @off, answering a request for
 * @need, is one a client may write in: granule-aligned, at least @need
 * bytes, and inside a data region of @data_len bytes. The server's word is
 * checked like any other input: a grant outside the region would make the
 * client write anywhere.
 */
bool kv_grant_ok(uint64_t off, uint64_t len, uint64_t need, uint64_t data_len);

/* Human name of a message type, for logs. */
const char *kv_msg_type_name(uint16_t type);

#endif
