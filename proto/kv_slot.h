/*
 * kv_slot.h - the slab's table: control words, record copies, hashing and
 * probing. Pure code over byte buffers, shared by server, client and tests.
 *
 * Slab layout (offsets in struct kv_geometry):
 *
 *   0            scratch areas (one per client id modulo KV_SCRATCH_AREAS)
 *   ctrl_off     u64 ctrl[nslots]            8 B per slot, the CAS target
 *   rec_off      slot[nslots], 2 * rec_size bytes each:
 *
 *     | head 0 | head 1 | tail 0          | tail 1          |
 *       H        H        rec_size - H      rec_size - H
 *
 * Copy c of a record is head c followed by tail c. The two heads sit side by
 * side so that one RDMA READ of a few hundred bytes fetches the start of both
 * copies: a record that fits in a head (H = head_size) costs a GET one READ.
 *
 * Control word (host byte order, since RDMA atomics work on it):
 *
 *   63..48 owner   client id holding the slot's lock, 0 if unlocked
 *   47..32 fp      16-bit key fingerprint (0 when the slot is free)
 *   31     used    the active copy holds a live key
 *   30     active  which copy (0/1) the last completed write went to
 *   29..0  seq     sequence number of that write
 *
 * Record copy (little-endian):
 *
 *   0  u64 seq       0 means "never written"
 *   8  u64 checksum  XXH3-64 of bytes 16..end, seeded with seq
 *   16 u16 key_len | u16 flags (1 = tombstone) | u32 value_len
 *   24 key bytes, then value bytes
 *
 * A writer only ever writes the copy that is not active, so the last complete
 * write stays intact while the next one is in flight. Readers take the valid
 * copy with the highest seq; a copy whose checksum fails is torn or garbage.
 */
#ifndef KV_SLOT_H
#define KV_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_REC_HDR 24
#define KV_KEY_LIMIT 250u
#define KV_VALUE_LIMIT (1u << 20)
#define KV_MAX_BUCKET_SLOTS 16u
#define KV_DEFAULT_BUCKET_SLOTS 8u
#define KV_DEFAULT_MAX_VALUE 1024u
#define KV_DEFAULT_HEAD_SIZE 128u
#define KV_HEAD_LIMIT 4096u
#define KV_SCRATCH_AREAS 64
#define KV_SCRATCH_LEN 4096
#define KV_REC_TOMBSTONE 1u

#define KV_CTRL_SEQ_MASK ((1ull << 30) - 1)

static inline uint64_t kv_ctrl_make(uint16_t owner, uint16_t fp, bool used,
				    unsigned active, uint64_t seq)
{
	return (uint64_t)owner << 48 | (uint64_t)fp << 32 |
	       (uint64_t)(used ? 1 : 0) << 31 | (uint64_t)(active & 1) << 30 |
	       (seq & KV_CTRL_SEQ_MASK);
}
static inline uint16_t kv_ctrl_owner(uint64_t c) { return (uint16_t)(c >> 48); }
static inline uint16_t kv_ctrl_fp(uint64_t c) { return (uint16_t)(c >> 32); }
static inline bool kv_ctrl_used(uint64_t c) { return (c >> 31) & 1; }
static inline unsigned kv_ctrl_active(uint64_t c) { return (c >> 30) & 1; }
static inline uint64_t kv_ctrl_seq(uint64_t c) { return c & KV_CTRL_SEQ_MASK; }
/* The sequence number after @seq; 0 is reserved for "never written". */
static inline uint64_t kv_seq_next(uint64_t seq)
{
	uint64_t n = (seq + 1) & KV_CTRL_SEQ_MASK;

	return n ? n : 1;
}
static inline uint64_t kv_ctrl_with_owner(uint64_t c, uint16_t owner)
{
	return (c & ~(0xffffull << 48)) | (uint64_t)owner << 48;
}

/* Where a key may live: its home slot first, then bucket b1, then b2. */
struct kv_keyhash {
	uint32_t b1, b2; /* candidate buckets, distinct */
	uint32_t home;   /* slot index, inside b1 */
	uint16_t fp;     /* nonzero */
};

void kv_key_hash(const struct kv_geometry *g, const void *key, size_t klen,
		 struct kv_keyhash *kh);

static inline uint64_t kv_nslots(const struct kv_geometry *g)
{
	return (uint64_t)g->nbuckets * g->bucket_slots;
}
static inline uint64_t kv_ctrl_off(const struct kv_geometry *g, uint64_t slot)
{
	return g->ctrl_off + slot * 8;
}
/* Offset of a slot's first byte (head 0). */
static inline uint64_t kv_slot_off(const struct kv_geometry *g, uint64_t slot)
{
	return g->rec_off + slot * 2 * g->rec_size;
}
static inline uint64_t kv_head_off(const struct kv_geometry *g, uint64_t slot,
				   unsigned copy)
{
	return kv_slot_off(g, slot) + (copy & 1) * (uint64_t)g->head_size;
}
static inline uint64_t kv_tail_off(const struct kv_geometry *g, uint64_t slot,
				   unsigned copy)
{
	return kv_slot_off(g, slot) + 2 * (uint64_t)g->head_size +
	       (copy & 1) * (uint64_t)(g->rec_size - g->head_size);
}

/*
 * Assemble copy @copy of a slot from @slot_img (the slot's 2 * rec_size bytes,
 * as laid out in the slab) into @out (rec_size bytes).
 */
void kv_slot_gather(const struct kv_geometry *g, const uint8_t *slot_img,
		    unsigned copy, uint8_t *out);

/*
 * Compute a geometry for a slab of @slab_len bytes. 0, or -EINVAL with a
 * reason in @err when the slab cannot hold two buckets of such records.
 */
int kv_geometry_layout(uint64_t slab_len, uint32_t max_key, uint32_t max_value,
		       uint32_t bucket_slots, uint32_t head_size, uint64_t seed,
		       struct kv_geometry *g, char *err, size_t errlen);

/* Bytes of one record copy in a table of these limits: the one formula for
 * the layout, the hello's check and the simulation. */
static inline uint64_t kv_rec_size_for(uint32_t max_key, uint32_t max_value)
{
	return (KV_REC_HDR + (uint64_t)max_key + max_value + 7) & ~7ull;
}

/* Bytes a record with these lengths occupies. */
static inline size_t kv_rec_len(size_t klen, size_t vlen)
{
	return KV_REC_HDR + klen + vlen;
}

/* Write a record into @buf (kv_rec_len() bytes) and return its length. */
size_t kv_rec_encode(uint8_t *buf, uint64_t seq, uint16_t flags,
		     const void *key, size_t klen, const void *val, size_t vlen);

enum kv_rec_state {
	KV_REC_EMPTY,  /* seq 0 and an all-zero header: never written */
	KV_REC_VALID,  /* checksum holds */
	KV_REC_SHORT,  /* plausible header, but the record runs past @len */
	KV_REC_BAD,    /* lengths out of bounds or checksum fails */
};

struct kv_rec_view {
	uint64_t seq;    /* 0 when the slot was never written */
	unsigned copy;   /* which copy this is */
	uint16_t flags;
	uint16_t klen;
	uint32_t vlen;
	const uint8_t *key;
	const uint8_t *val;
};

/*
 * Classify the first @len bytes of a record copy. On KV_REC_VALID @v points
 * into @buf; on KV_REC_SHORT *need is the length to read. Never reads past
 * @len, whatever the bytes say.
 */
enum kv_rec_state kv_rec_decode(const uint8_t *buf, size_t len,
				const struct kv_geometry *g,
				struct kv_rec_view *v, size_t *need);

enum kv_pick {
	KV_PICK_NONE,   /* no live record: empty, or newest is a tombstone */
	KV_PICK_RECORD, /* *v is the newest complete live record */
	KV_PICK_SHORT,  /* read *need bytes of each copy and pick again */
	KV_PICK_TORN,   /* no valid copy and at least one bad: retry, or corrupt */
};

/*
 * Choose what a slot holds from prefixes of its two copies. On RECORD, and
 * on NONE, *v describes the newest whole copy (a tombstone for NONE; seq 0
 * when neither copy was ever written).
 */
enum kv_pick kv_slot_pick(const uint8_t *c0, size_t len0, const uint8_t *c1,
			  size_t len1, const struct kv_geometry *g,
			  struct kv_rec_view *v, size_t *need);

/*
 * Whether a GET may return what kv_slot_pick chose without looking at the
 * control word. True when every other copy's seq field (one aligned 8-byte
 * word, so read whole) is 0 or before v's seq: then no write newer than v's
 * can have completed before the read began, since it would have left its seq
 * there. False after TORN or SHORT. When false, v's seq must be confirmed
 * against the control word (docs/design.md, "Why GET is linearizable").
 */
bool kv_slot_pick_sure(const uint8_t *c0, size_t len0, const uint8_t *c1, size_t len1,
		       enum kv_pick pick, const struct kv_rec_view *v);

/* Serial-number order over the 30-bit sequence space: is @a after @b? */
bool kv_seq_after(uint64_t a, uint64_t b);

/*
 * The control word an unlocked slot carries when its newest whole copy is
 * *v (as kv_slot_pick left it for RECORD or NONE). Writers use it as the
 * expected value of their lock CAS, so they need not read the word first.
 * @kh, when not NULL, is the hash of v's key, which the caller already has;
 * otherwise the key is hashed here.
 */
uint64_t kv_slot_ctrl_of(const struct kv_geometry *g, enum kv_pick pick,
			 const struct kv_rec_view *v, const struct kv_keyhash *kh);

/* True when @v is a live record for exactly this key. */
bool kv_rec_is_key(const struct kv_rec_view *v, const void *key, size_t klen);

/*
 * Slots of buckets b1 and b2 that may hold the key: used, fingerprint equal,
 * not @skip. @ctrl1/@ctrl2 are the buckets' control words. Returns how many
 * slot indexes went to @out (room for 2 * bucket_slots).
 */
unsigned kv_probe_matches(const struct kv_geometry *g, const struct kv_keyhash *kh,
			  const uint64_t *ctrl1, const uint64_t *ctrl2,
			  uint32_t skip, uint32_t *out, uint64_t *out_ctrl);

/*
 * Slots of b1 and b2, other than @skip, that another client (not @me) is
 * claiming for an insert of a key with this fingerprint: locked, not used,
 * fingerprint equal. Such an insert may publish the key there at any moment
 * (or the server may, for a client that died), so an insert of the same key
 * elsewhere must wait. Returns how many; *word gets a mix of their words.
 */
unsigned kv_probe_claims(const struct kv_geometry *g, const struct kv_keyhash *kh,
			 const uint64_t *ctrl1, const uint64_t *ctrl2, uint32_t skip,
			 uint16_t me, uint64_t *word);

/*
 * A free, unlocked slot for an insert: from the bucket with more free slots,
 * the first such. Returns 0 and sets *slot and *ctrl; -EBUSY when the only
 * free slots are locked (being claimed, maybe given back: retry); -ENOSPC
 * when there is none.
 */
int kv_probe_free(const struct kv_geometry *g, const struct kv_keyhash *kh,
		  const uint64_t *ctrl1, const uint64_t *ctrl2,
		  uint32_t *slot, uint64_t *ctrl);

/*
 * Server side: settle one slot whose lock word @c names a client that is gone
 * (disconnected, or fenced off the wire so that nothing of it can land any
 * more). If the inactive copy holds a complete newer write, the word adopts
 * it; otherwise the word goes back to the unlocked state of the active copy
 * (a free slot's fingerprint cleared) and a torn inactive copy gets a zero
 * header, so that it reads as never written rather than as a torn slot.
 * @scratch has room for 2 * rec_size bytes. The order in which a client's
 * slots are settled does not matter (docs/design.md).
 */
void kv_slot_settle(uint8_t *slab, const struct kv_geometry *g, uint64_t slot,
		    uint64_t c, uint8_t *scratch);

/*
 * Server side, over the whole slab: settle every lock held by @owner (see
 * kv_slot_settle). Returns the number of slots released.
 */
unsigned kv_slab_release_owner(uint8_t *slab, const struct kv_geometry *g,
			       uint16_t owner, uint8_t *scratch);

struct kv_slab_census {
	uint64_t used;    /* ctrl says used */
	uint64_t locked;  /* ctrl has an owner */
};

/* Count slots from the control words alone; tolerates any garbage. */
void kv_slab_census(const uint8_t *slab, const struct kv_geometry *g,
		    struct kv_slab_census *c);

#endif
