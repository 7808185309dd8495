/*
 * kv_file.h - the layout of a store file (kvserver --file;
 * docs/proposals/durability.md). Pure code over buffers.
 *
 *   header page (4 KiB) | slab (slab length, rounded up to 4 KiB) |
 *   snapshot slot 0 | snapshot slot 1
 *
 * The header page:
 *   0    8 B  magic "KVSTORE1"
 *   8    u32  layout (KV_FILE_LAYOUT)
 *   12   u32  clean: 1 after a clean stop (synced), 0 while serving
 *   16   u64  generation: bumped each time the store is opened
 *   24   u64  slab length
 *   32   geometry, as in the hello: index_off, data_off, data_len,
 *        hash_seed (u64 each), nbuckets, max_key, max_value (u32 each)
 *   80   16 B the kernel's boot id when the store was opened (a store found
 *        unclean under another boot id went through a power loss or a
 *        crash of the machine, not only of kvserver)
 *   96   u64  XXH3-64 of bytes 0..95
 *
 * A snapshot slot is a page of header, then a copy of the index (nbuckets x
 * 64 B, rounded up to 4 KiB). Its header page:
 *   0    8 B  magic "KVSNAP01"
 *   8    u64  sequence number (the newer of two valid slots is the one)
 *   16   u64  generation of the store when it was written
 *   24   u64  length of the index copy
 *   32   u64  XXH3-64 of the index copy
 *   40   u64  XXH3-64 of bytes 0..39
 * The syncer writes the copy, syncs it, then writes the slot's header and
 * syncs that: a slot whose copy or header was being written at a power loss
 * fails its checks, and the other slot is the newest valid one.
 *
 * Little-endian. Anything else in a header page is zero. Every field and the
 * checksum lie in the first 512-byte sector, which a disk writes whole, so
 * a header rewritten when power fails is the old one or the new one, never
 * a mix that fails its checksum.
 */
#ifndef KV_FILE_H
#define KV_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_FILE_HDR 4096u
#define KV_FILE_LAYOUT 6u /* 5: boot id, and two snapshot slots of the index;
			     6: the pending bit in block words (tags of 6 bits) */
#define KV_FILE_BOOT_OFF 80u
#define KV_FILE_CHECK_OFF 96u
#define KV_SLOT_HDR 4096u
#define KV_SLOT_CHECK_OFF 40u

struct kv_file_header {
	uint32_t clean;
	uint64_t generation;
	uint64_t slab_len;
	struct kv_geometry geo;
	uint8_t boot_id[16];
};

/* Write @h into @buf (KV_FILE_HDR bytes). */
void kv_file_header_encode(uint8_t *buf, const struct kv_file_header *h);

/*
 * Read a header from the first @len bytes of a file of @file_len bytes.
 * 0, or -EINVAL with the reason in @err: too short, not a store (magic),
 * another layout, a bad checksum, a geometry that does not fit its slab,
 * or a file shorter than the header says (slots included).
 */
int kv_file_header_decode(const uint8_t *buf, size_t len, uint64_t file_len,
			  struct kv_file_header *h, char *err, size_t errlen);

/* Bytes of the index copy in a slot, of a slot (header page included), the
 * offset of slot @k (0 or 1) in the file, and the whole file's length. */
uint64_t kv_file_index_bytes(const struct kv_geometry *g);
uint64_t kv_file_slot_len(const struct kv_geometry *g);
uint64_t kv_file_slot_off(uint64_t slab_len, const struct kv_geometry *g, unsigned k);
uint64_t kv_file_len(uint64_t slab_len, const struct kv_geometry *g);

/* Write a slot header (KV_SLOT_HDR bytes) for the index copy @index of
 * @len bytes. */
void kv_file_slot_encode(uint8_t *page, uint64_t seq, uint64_t generation,
			 const uint8_t *index, uint64_t len);

/* Is @page (@page_len bytes) a valid header for the index copy @index of
 * @len bytes (magic, its checksum, the length, the copy's checksum, zeros
 * elsewhere)? Then *seq and *generation. */
bool kv_file_slot_decode(const uint8_t *page, size_t page_len, const uint8_t *index,
			 uint64_t len, uint64_t *seq, uint64_t *generation);

#endif
