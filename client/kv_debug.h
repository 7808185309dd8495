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

/* Overwrite both copies of @key's home slot with pseudo-random bytes, as a
 * buggy client might. */
int kv_debug_scribble(kv_client *c, const void *key, size_t klen);

/*
 * Find the slot that holds @key (-ENOENT when it is not stored) and take its
 * lock by CAS as a writer does, the word otherwise unchanged. *slot gets the
 * slot index and *word the unlocked word. -EBUSY when the slot stays locked
 * by another client.
 */
int kv_debug_lock(kv_client *c, const void *key, size_t klen, uint32_t *slot,
		  uint64_t *word);

/*
 * Then act as the late writer such a client is: behind one doorbell, WRITE
 * garbage over the header of the slot's inactive copy and CAS the lock word
 * back to @word. 0 when both executed (*ours, if not NULL, says whether the
 * CAS found the lock still ours); a transport error when the server has cut
 * this client off meanwhile.
 */
int kv_debug_late_write(kv_client *c, uint32_t slot, uint64_t word, int *ours);

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

#endif
