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
 *
 * Restarts. When the connection breaks (kvserver stopped, crashed or was
 * restarted; the link failed), the call in flight fails and the client
 * connects again by itself on its next call: it retries with backoff (10 ms
 * doubling to 500 ms) for up to the connect timeout (or reconnect_ms), takes the new server's
 * hello (a new address, rkey and client id) and goes on. A server restarted
 * on its store file (kvserver --file) still has every acknowledged write.
 *   - A kv_put() or kv_del() cut off after it began changing the slab
 *     returns -KV_EUNKNOWN: it may or may not have taken effect, and a GET
 *     after the reconnect tells which. Cut off before that, it returns
 *     the transport error (-ECONNRESET, -ETIMEDOUT, -EIO, -ENOTCONN) and did
 *     not take effect.
 *   - A GET, kv_stats() or kv_demo() cut off returns the transport error.
 *   - A call that reconnects to a server serving another store (restarted
 *     without its --file, or on another file) returns -ESTALE once; the
 *     calls after it work on the new store.
 *   - A call that finds the server still away after the connect timeout
 *     returns that attempt's error (e.g. -ECONNREFUSED, -ETIMEDOUT) and
 *     kv_client_errmsg() says why; the call after it tries again.
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

/* Returned negated (-KV_EUNKNOWN) by kv_put() and kv_del() when the
 * connection failed while the write was in flight: it may or may not have
 * taken effect. Outside the range of errno values. */
#define KV_EUNKNOWN 4101

typedef struct kv_client kv_client;

struct kv_connect_opts {
	unsigned timeout_ms; /* per connection step; 0 means 5000 */
	unsigned depth;      /* most keys per kv_get_multi(); 0 means 1 */
	int time_waits;      /* count ns from each doorbell to its completion
				(kv_counters.wait_ns); costs two clock reads each */
	int no_reconnect;    /* fail every call once the connection breaks,
				instead of connecting again */
	unsigned reconnect_ms; /* how long one call may keep trying to connect
				  again; 0 means timeout_ms. Short (say 250)
				  for a caller that would rather answer each
				  request at once during an outage */
	/* Who this client is, for a server with users (kvserver --auth-file):
	 * @user, and its secret from @secret_file (its first line) or
	 * @secret/@secret_len. NULL @user: the environment's KV_USER and
	 * KV_SECRET, if set. The secret never leaves this process: the
	 * handshake proves it with HMAC-SHA256 over both sides' random nonces.
	 * kv_connect() then fails with -EACCES ("not authorized": unknown
	 * user, wrong secret, or no credentials for a server that wants them;
	 * kv_client_errmsg() says which), and a user of role ro gets -EPERM
	 * from kv_put(), kv_del() and kv_demo() (its queue pair has READ
	 * rights only, so the device refuses its writes anyway). */
	const char *user;
	const char *secret_file;
	const void *secret;
	size_t secret_len;
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
	int read_only;      /* authenticated with role ro */
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
	uint64_t reconnects;    /* connections made again after a break */
};

KV_API void kv_client_counters(const kv_client *c, struct kv_counters *out);

/* Last detailed error message of @c (transport failures), or "". */
KV_API const char *kv_client_errmsg(const kv_client *c);

/* A short description of a negative errno returned by this library. */
KV_API const char *kv_strerror(int err);

/*
 * Every item of the store, for a dump or a backup: kv_scan() READs the
 * index 64 KiB of words at a time and, for each word that names a block,
 * that block (up to 32 behind one doorbell), all with one-sided READs. It
 * takes no claim and writes nothing, so writers never wait for it, and it
 * never waits for a writer. Each item is consistent: a value the key held
 * at some instant during the scan, whole, checked against its word.
 *
 * A block that is committed, current and not a tombstone is given as read;
 * a write under way (an uncommitted block), a block retired or changed since
 * its word was read, or a tombstone retired by a later PUT is settled by
 * the GET path for that key (kv_get_alloc()), which resolves every case; a
 * key it finds absent is left out. Empty words and insert claims are
 * skipped. A block that does not validate is looked at again a bounded
 * number of times (its word re-read); one that never does is counted in
 * kv_scan_stats.unreadable and left out (the store is corrupt there).
 *
 * Not a snapshot: an item written (or deleted) while the scan runs may or
 * may not be in it, with its old or its new value. A key is in one word
 * and stays there while it exists, so each key is given at most once, with
 * one exception: a key deleted and inserted again during the scan may land
 * in another word, and then be given twice (once from each word, possibly
 * with different values) or, if it moved to a word the scan had passed,
 * not at all.
 *
 * Like every call, it first connects again if the connection broke; a
 * connection that breaks during the scan ends it with the transport error
 * (it does not resume: scan again).
 *
 * @fn gets each item; @key and @val are valid only during the call, and it
 * must not use @c. It returns 0 to go on; anything else stops the scan and
 * kv_scan() returns that. Otherwise 0 once every word was read, or a
 * negative errno (transport errors as kv_get(), -ENOMEM). @st (may be NULL)
 * gets the counts below, also when the scan stopped early.
 */
typedef int (*kv_scan_fn)(void *arg, const void *key, size_t klen, const void *val,
			  size_t vlen);

struct kv_scan_stats {
	uint64_t words;      /* index words read */
	uint64_t items;      /* items given to fn */
	uint64_t via_get;    /* of them, settled by the GET path */
	uint64_t unreadable; /* block words whose block never validated, or
				whose key GET reported corrupt: left out */
	uint64_t garbage;    /* index words of no kind (a corrupt index): ignored */
};

KV_API int kv_scan(kv_client *c, kv_scan_fn fn, void *arg, struct kv_scan_stats *st);

#ifdef __cplusplus
}
#endif

#endif
