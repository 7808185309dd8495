/*
 * kv_dumpfmt.h - the format of `kvcli dump` and `kvcli restore`, version 1
 * (docs/dump.md). Pure code over two callbacks: no verbs, no store.
 *
 *   "KVDUMP 1\n"                          the header line: magic and version
 *   per item:
 *     u32 klen    1..KV_DUMP_MAX_KEY
 *     u32 vlen    0..KV_DUMP_MAX_VALUE
 *     key, value  klen and vlen bytes, any bytes at all
 *     u64 check   XXH3-64 (seed 0) of the item's klen, vlen, key and value
 *   the end record:
 *     u32 0, u32 0
 *     u64 count   item records before it
 *     u64 check   XXH3-64 (seed 0) of every byte of the dump before this field
 *   and nothing after it.
 *
 * Little-endian. A reader checks each item's lengths against the limits
 * before it allocates anything, and each item's check before it hands the
 * item out, so a damaged dump never yields a damaged item: it stops with
 * the number of the item that is wrong and why.
 */
#ifndef KV_DUMPFMT_H
#define KV_DUMPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_DUMP_VERSION 1u
#define KV_DUMP_MAX_KEY 250u            /* the longest key any store allows */
#define KV_DUMP_MAX_VALUE (64u << 20)   /* the largest value any store allows */
#define KV_DUMP_HEADER "KVDUMP 1\n"
#define KV_DUMP_HEADER_LEN 9u

/* Write @n bytes; 0 or a negative errno. */
typedef int (*kv_dump_write_fn)(void *ctx, const void *buf, size_t n);

/* Read up to @n bytes into @buf: how many (fewer than @n only at the end of
 * the input), or a negative errno. */
typedef long (*kv_dump_read_fn)(void *ctx, void *buf, size_t n);

struct kv_dump_writer {
	kv_dump_write_fn write;
	void *ctx;
	void *all;       /* XXH3 state over every byte written */
	void *one;       /* XXH3 state over the current item */
	uint64_t items;
};

/* 0, or -ENOMEM. */
int kv_dump_writer_init(struct kv_dump_writer *w, kv_dump_write_fn write, void *ctx);
void kv_dump_writer_free(struct kv_dump_writer *w);

/* The header line. 0 or the write's error. */
int kv_dump_write_begin(struct kv_dump_writer *w);

/* One item. -EINVAL for an empty key, -E2BIG past a limit (nothing
 * written), else 0 or the write's error. */
int kv_dump_write_item(struct kv_dump_writer *w, const void *key, size_t klen,
		       const void *val, size_t vlen);

/* The end record. 0 or the write's error. */
int kv_dump_write_end(struct kv_dump_writer *w);

/* Why a dump was refused. */
enum kv_dump_reason {
	KV_DUMP_OK,
	KV_DUMP_E_MAGIC,     /* not a dump: no "KVDUMP " header line */
	KV_DUMP_E_VERSION,   /* a dump of another version */
	KV_DUMP_E_TRUNCATED, /* the input ends inside a record, or before the end record */
	KV_DUMP_E_KLEN,      /* key length 0 with a value length, or over the limit */
	KV_DUMP_E_VLEN,      /* value length over the limit */
	KV_DUMP_E_CHECK,     /* an item's check does not match its bytes */
	KV_DUMP_E_COUNT,     /* the end record's count is not the items read */
	KV_DUMP_E_SUM,       /* the end record's check does not match the dump */
	KV_DUMP_E_TRAILING,  /* bytes after the end record */
	KV_DUMP_E_READ,      /* the read callback failed (sys_err) */
	KV_DUMP_E_NOMEM,
};

struct kv_dump_reader {
	kv_dump_read_fn read;
	void *ctx;
	void *all, *one;    /* XXH3 states: the whole dump, the current item */
	bool started, ended;
	uint64_t item;      /* the item record being read: 1 is the first */
	uint8_t *buf;       /* key and value of the current item */
	size_t cap;
	enum kv_dump_reason reason;
	int sys_err;        /* KV_DUMP_E_READ: the callback's negative errno */
	char msg[160];      /* on an error: what is wrong, in words */
};

/* 0, or -ENOMEM. */
int kv_dump_reader_init(struct kv_dump_reader *r, kv_dump_read_fn read, void *ctx);
void kv_dump_reader_free(struct kv_dump_reader *r);

/*
 * The next item (the header line is read and checked first): 1 and the
 * item (pointers valid until the next call); 0 at a valid end record with
 * nothing after it; or a negative errno: -EBADMSG (the dump is wrong),
 * -EIO (the read failed), -ENOMEM; then r->reason, r->item and r->msg say
 * what and where, and every later call fails the same way.
 */
int kv_dump_read_next(struct kv_dump_reader *r, const uint8_t **key, size_t *klen,
		      const uint8_t **val, size_t *vlen);

#endif
