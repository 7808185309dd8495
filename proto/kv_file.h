/*
 * kv_file.h - the header page in front of a file-backed slab (kvserver
 * --file; docs/proposals/durability.md). Pure code over a 4 KiB buffer.
 *
 *   0    8 B  magic "KVSTORE1"
 *   8    u32  layout (KV_FILE_LAYOUT)
 *   12   u32  clean: 1 after a clean stop (synced), 0 while serving
 *   16   u64  generation: bumped each time the store is opened
 *   24   u64  slab length (the file is this plus the header page)
 *   32   geometry, as in the hello: index_off, data_off, data_len,
 *        hash_seed (u64 each), nbuckets, max_key, max_value (u32 each)
 *   80   u64  XXH3-64 of bytes 0..79
 *
 * Little-endian. Anything else in the page is zero. Every field and the
 * checksum lie in the first 512-byte sector, which a disk writes whole, so
 * a header rewritten when power fails is the old one or the new one, never
 * a mix that fails its checksum (layout 3 kept the checksum at the end of
 * the page, in another sector).
 */
#ifndef KV_FILE_H
#define KV_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_FILE_HDR 4096u
#define KV_FILE_LAYOUT 4u /* 4: the header's checksum at byte 80 */
#define KV_FILE_CHECK_OFF 80u

struct kv_file_header {
	uint32_t clean;
	uint64_t generation;
	uint64_t slab_len;
	struct kv_geometry geo;
};

/* Write @h into @buf (KV_FILE_HDR bytes). */
void kv_file_header_encode(uint8_t *buf, const struct kv_file_header *h);

/*
 * Read a header from the first @len bytes of a file of @file_len bytes.
 * 0, or -EINVAL with the reason in @err: too short, not a store (magic),
 * another layout, a bad checksum, a geometry that does not fit its slab,
 * or a file shorter than the header says.
 */
int kv_file_header_decode(const uint8_t *buf, size_t len, uint64_t file_len,
			  struct kv_file_header *h, char *err, size_t errlen);

#endif
