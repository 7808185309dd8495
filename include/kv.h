/*
 * kv.h - client library of the RDMA key-value store.
 *
 * After kv_connect() the client works on the server's slab with one-sided
 * verbs alone. A key is named by one 8-byte word of the slab's index, which
 * points at a block holding the key and its value. GET READs the word and
 * then the block; when this client has seen the key before, one READ of the
 * block alone. PUT WRITEs a new block out of place, in space the server
 * granted this client, publishes it with one compare-and-swap on the word,
 * and retires the old block (another), which is the instant it takes
 * effect; DEL does the same with a tombstone. A crash at any instant leaves
 * the old value or the new one, whole. See docs/design.md.
 *
 * Every function returns 0 or a negative errno; kv_strerror() names it.
 * A kv_client is not thread-safe: use one per thread.
 */
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KV_BUILDING_LIB)
#define KV_API __attribute__((visibility("default")))
#else
#define KV_API
#endif

#define KV_MAX_DEPTH 64

typedef struct kv_client kv_client;

struct kv_connect_opts {
	unsigned timeout_ms; /* per connection step; 0 means 5000 */
	unsigned depth;      /* most keys per kv_get_multi(); 0 means 1 */
	int time_waits;      /* count ns from each doorbell to its completion
				(kv_counters.wait_ns); costs two clock reads each */
};

/*
 * Connect to kvserver at @addr (IPv4, IPv6 or a name) and @port (NULL for
 * 20886), receive its hello and check it. On failure @err (if not NULL) gets
 * one line naming the address and what failed. 0 or negative errno.
 */
KV_API int kv_connect(kv_client **out, const char *addr, const char *port,
	       const struct kv_connect_opts *opts, char *err, size_t errlen);

/* Disconnect and free everything. NULL is fine. */
KV_API void kv_close(kv_client *c);

/*
 * Store @val (@vlen bytes, 0 allowed) under @key. -EINVAL for an empty key,
 * -E2BIG past a limit, -ENOSPC when the store is full: the memory has no
 * room for the item, or neither of the key's buckets has a free word
 * (kv_client_errmsg() says which; nothing stored is touched), -EBUSY when
 * another client's insert of a key of the same fingerprint stayed stuck.
 */
KV_API int kv_put(kv_client *c, const void *key, size_t klen, const void *val, size_t vlen);

/*
 * Copy the value of @key into @buf (@cap bytes) and its length into *vlen.
 * -ENOENT when absent, -ENOBUFS when @cap is too small (*vlen says what is
 * needed), -EBADMSG when the slot stays corrupt after bounded retries.
 */
KV_API int kv_get(kv_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *vlen);

/*
 * GET when the value's size is unknown: *val is a buffer of *vlen bytes the
 * library allocates (free() it), filled from the one READ that found the
 * key. -ENOENT, -ENOMEM, or as kv_get().
 */
KV_API int kv_get_alloc(kv_client *c, const void *key, size_t klen, void **val,
			size_t *vlen);

/* Remove @key. -ENOENT when absent. */
KV_API int kv_del(kv_client *c, const void *key, size_t klen);

struct kv_key {
	const void *key;
	size_t klen;
};

struct kv_result {
	int status;      /* as kv_get() */
	const void *val; /* valid until the next call on this client; a value
			    longer than 4 KiB gets -ENOBUFS (vlen says its
			    size: use kv_get or kv_get_alloc for it) */
	size_t vlen;
};

/*
 * GET up to the connect-time depth of keys at once: their first READs go
 * out behind one doorbell. Returns 0 when the call ran (each result has its
 * own status) or a negative errno for the whole batch.
 */
KV_API int kv_get_multi(kv_client *c, unsigned n, const struct kv_key *keys,
		 struct kv_result *res);

/*
 * The original example's check: RDMA WRITE @len bytes of @s into this
 * client's scratch area of the slab, RDMA READ them back into a second
 * buffer, compare. 0 when they match, -EILSEQ when not.
 */
KV_API int kv_demo(kv_client *c, const void *s, size_t len);

/* The server's stats as JSON text (malloc'd; caller frees), fetched over
 * send/recv, never the data path. */
KV_API int kv_stats(kv_client *c, char **json);

struct kv_limits {
	size_t max_key;
	size_t max_value;
	size_t max_demo;
	uint64_t slots;     /* index words */
	uint16_t client_id;
};

KV_API void kv_client_limits(const kv_client *c, struct kv_limits *l);

/* What this client has posted and retried since it connected. */
struct kv_counters {
	uint64_t reads, read_bytes;
	uint64_t writes, write_bytes;
	uint64_t atomics;
	uint64_t torn_retries;  /* reads that found no valid block and retried */
	uint64_t lock_retries;  /* lost CASes and claims that backed off and retried */
	uint64_t doorbells;     /* ibv_post_send calls */
	uint64_t wait_ns;       /* doorbell to completion, if time_waits was set */
};

KV_API void kv_client_counters(const kv_client *c, struct kv_counters *out);

/* Last detailed error message of @c (transport failures), or "". */
KV_API const char *kv_client_errmsg(const kv_client *c);

/* A short description of a negative errno returned by this library. */
KV_API const char *kv_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
