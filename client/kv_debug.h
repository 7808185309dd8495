/*
 * kv_debug.h - hooks for tests only, not part of the API (include/kv.h):
 * kvcli's debug-* commands use them to play a buggy, hostile, stalled or
 * vanished client against a real server. Not exported from the shared
 * library.
 */
#ifndef KV_DEBUG_H
#define KV_DEBUG_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

/* Overwrite the start of the block @key's word names with pseudo-random
 * bytes, as a buggy client might. -ENOENT when the key is not stored. */
int kv_debug_scribble(kv_client *c, const void *key, size_t klen);

/*
 * Claim an empty word of @key's buckets as an insert of @key does (a CAS of
 * 0 to a claim with the key's fingerprint and our id): the store's one kind
 * of lock. *idx gets the word, *word the claim. -ENOSPC when both buckets
 * are full, -EBUSY when the CAS lost.
 */
int kv_debug_lock(kv_client *c, const void *key, size_t klen, uint64_t *idx,
		  uint64_t *word);

/*
 * Then act as the late writer such a client is: CAS the claim to a word that
 * names a garbage block. 0 when it executed (*ours, if not NULL, says
 * whether it found the claim still ours, i.e. the garbage landed); a
 * transport error when the server has cut this client off meanwhile.
 */
int kv_debug_late_write(kv_client *c, uint64_t idx, uint64_t word, int *ours);

/* SEND @len (up to 12 KiB) bytes of @msg as a control message, as a broken
 * or hostile client might. The server is expected to drop this client. */
int kv_debug_send_raw(kv_client *c, const void *msg, size_t len);

/*
 * Vanish as a client whose host died does: destroy the queue pair without a
 * word to the server (no disconnect), so that whatever the server sends
 * goes unanswered. The connection is unusable afterwards (kv_close still
 * frees it, and then tells the server).
 */
int kv_debug_vanish(kv_client *c);

/*
 * Make the next kv_connect() stall at the server's challenge for up to @ms
 * instead of answering, as a client that never authenticates does. It then
 * fails with -ECONNRESET if the server dropped it meanwhile (*dropped_ms
 * says when), or -ETIMEDOUT if it is still connected. 0 turns it off.
 */
void kv_debug_stall_auth(unsigned ms, unsigned *dropped_ms);

/* Call @fn after a write's word swung, before its retire and commit (NULL:
 * none): a writer that stops between its two doorbells. */
void kv_debug_on_swung(kv_client *c, void (*fn)(kv_client *c));

#endif
