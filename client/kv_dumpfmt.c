/* kv_dumpfmt.c - the dump format, version 1 (kv_dumpfmt.h, docs/dump.md). */
#include "kv_dumpfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kv_base.h"

#define KV__MAGIC "KVDUMP "
#define KV__MAGIC_LEN 7u
#define KV__VERSION_DIGITS 10u /* a header line longer than this is not ours */

/* ---- writing --------------------------------------------------------------- */

int kv_dump_writer_init(struct kv_dump_writer *w, kv_dump_write_fn write, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->write = write;
	w->ctx = ctx;
	w->all = XXH3_createState();
	w->one = XXH3_createState();
	if (!w->all || !w->one) {
		kv_dump_writer_free(w);
		return -ENOMEM;
	}
	XXH3_64bits_reset(w->all);
	return 0;
}

void kv_dump_writer_free(struct kv_dump_writer *w)
{
	XXH3_freeState(w->all);
	XXH3_freeState(w->one);
	w->all = w->one = NULL;
}

/* Write @n bytes and count them in the dump's check. */
static int kv__put(struct kv_dump_writer *w, const void *p, size_t n)
{
	if (!n)
		return 0;
	XXH3_64bits_update(w->all, p, n);
	return w->write(w->ctx, p, n);
}

int kv_dump_write_begin(struct kv_dump_writer *w)
{
	return kv__put(w, KV_DUMP_HEADER, KV_DUMP_HEADER_LEN);
}

int kv_dump_write_item(struct kv_dump_writer *w, const void *key, size_t klen,
		       const void *val, size_t vlen)
{
	uint8_t hdr[8], sum[8];
	int ret;

	if (klen == 0)
		return -EINVAL;
	if (klen > KV_DUMP_MAX_KEY || vlen > KV_DUMP_MAX_VALUE)
		return -E2BIG;
	kv_st32le(hdr, (uint32_t)klen);
	kv_st32le(hdr + 4, (uint32_t)vlen);
	XXH3_64bits_reset(w->one);
	XXH3_64bits_update(w->one, hdr, 8);
	XXH3_64bits_update(w->one, key, klen);
	if (vlen)
		XXH3_64bits_update(w->one, val, vlen);
	kv_st64le(sum, XXH3_64bits_digest(w->one));
	if ((ret = kv__put(w, hdr, 8)) || (ret = kv__put(w, key, klen)) ||
	    (ret = kv__put(w, val, vlen)) || (ret = kv__put(w, sum, 8)))
		return ret;
	w->items++;
	return 0;
}

int kv_dump_write_end(struct kv_dump_writer *w)
{
	uint8_t end[16], sum[8];
	int ret;

	memset(end, 0, 8);
	kv_st64le(end + 8, w->items);
	if ((ret = kv__put(w, end, 16)))
		return ret;
	kv_st64le(sum, XXH3_64bits_digest(w->all));
	return w->write(w->ctx, sum, 8);
}

/* ---- reading --------------------------------------------------------------- */

int kv_dump_reader_init(struct kv_dump_reader *r, kv_dump_read_fn read, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
	r->all = XXH3_createState();
	r->one = XXH3_createState();
	if (!r->all || !r->one) {
		kv_dump_reader_free(r);
		return -ENOMEM;
	}
	XXH3_64bits_reset(r->all);
	return 0;
}

void kv_dump_reader_free(struct kv_dump_reader *r)
{
	XXH3_freeState(r->all);
	XXH3_freeState(r->one);
	free(r->buf);
	r->all = r->one = NULL;
	r->buf = NULL;
	r->cap = 0;
}

__attribute__((format(printf, 3, 4)))
static int kv__refuse(struct kv_dump_reader *r, enum kv_dump_reason why, const char *fmt, ...)
{
	va_list ap;

	r->reason = why;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return why == KV_DUMP_E_READ ? -EIO : why == KV_DUMP_E_NOMEM ? -ENOMEM : -EBADMSG;
}

/*
 * Read exactly @n bytes: 0, 1 when the input ended first (*got says after
 * how many), or a negative errno from the callback.
 */
static int kv__get(struct kv_dump_reader *r, void *buf, size_t n, size_t *got)
{
	size_t have = 0;

	while (have < n) {
		long k = r->read(r->ctx, (uint8_t *)buf + have, n - have);

		if (k < 0)
			return (int)k;
		if (k == 0 || (size_t)k > n - have)
			break;
		have += (size_t)k;
	}
	if (got)
		*got = have;
	return have == n ? 0 : 1;
}

/* Read @n bytes of the record being read; refuse a dump that ends in it. */
static int kv__need(struct kv_dump_reader *r, void *buf, size_t n, const char *what)
{
	size_t got = 0;
	int ret = kv__get(r, buf, n, &got);

	if (ret < 0) {
		r->sys_err = ret;
		return kv__refuse(r, KV_DUMP_E_READ, "item %llu: reading its %s: %s",
				  (unsigned long long)r->item, what, strerror(-ret));
	}
	if (ret)
		return kv__refuse(r, KV_DUMP_E_TRUNCATED,
				  "item %llu: the dump ends inside its %s (%zu of %zu bytes)",
				  (unsigned long long)r->item, what, got, n);
	return 0;
}

static int kv__header(struct kv_dump_reader *r)
{
	char line[KV__MAGIC_LEN + KV__VERSION_DIGITS + 1];
	size_t got = 0, i;
	int ret = kv__get(r, line, KV__MAGIC_LEN, &got);

	if (ret < 0) {
		r->sys_err = ret;
		return kv__refuse(r, KV_DUMP_E_READ, "reading the header: %s", strerror(-ret));
	}
	if (got == 0)
		return kv__refuse(r, KV_DUMP_E_TRUNCATED, "the input is empty: not a dump");
	if (memcmp(line, KV__MAGIC, got))
		return kv__refuse(r, KV_DUMP_E_MAGIC, "not a dump (no 'KVDUMP' header line)");
	if (ret)
		return kv__refuse(r, KV_DUMP_E_TRUNCATED, "the dump ends inside its header line");
	/* The version: decimal digits up to a newline. */
	for (i = KV__MAGIC_LEN;; i++) {
		if (i == sizeof(line))
			return kv__refuse(r, KV_DUMP_E_MAGIC,
					  "not a dump (the header line does not end)");
		ret = kv__get(r, line + i, 1, NULL);
		if (ret < 0) {
			r->sys_err = ret;
			return kv__refuse(r, KV_DUMP_E_READ, "reading the header: %s",
					  strerror(-ret));
		}
		if (ret)
			return kv__refuse(r, KV_DUMP_E_TRUNCATED,
					  "the dump ends inside its header line");
		if (line[i] == '\n')
			break;
		if (line[i] < '0' || line[i] > '9')
			return kv__refuse(r, KV_DUMP_E_MAGIC,
					  "not a dump (the header line has no version number)");
	}
	if (i == KV__MAGIC_LEN)
		return kv__refuse(r, KV_DUMP_E_MAGIC,
				  "not a dump (the header line has no version number)");
	if (i - KV__MAGIC_LEN != 1 || line[KV__MAGIC_LEN] != '0' + KV_DUMP_VERSION)
		return kv__refuse(r, KV_DUMP_E_VERSION,
				  "a dump of version %.*s; this kvcli reads version %u",
				  (int)(i - KV__MAGIC_LEN), line + KV__MAGIC_LEN, KV_DUMP_VERSION);
	XXH3_64bits_update(r->all, line, i + 1);
	return 0;
}

/* The end record, its first 8 bytes (zero) read already. */
static int kv__end(struct kv_dump_reader *r, const uint8_t *hdr)
{
	uint8_t rest[16], extra;
	uint64_t count;
	int ret;

	XXH3_64bits_update(r->all, hdr, 8);
	if ((ret = kv__need(r, rest, 8, "end record")))
		return ret;
	XXH3_64bits_update(r->all, rest, 8);
	if ((ret = kv__need(r, rest + 8, 8, "end record")))
		return ret;
	count = kv_ld64le(rest);
	if (kv_ld64le(rest + 8) != XXH3_64bits_digest(r->all))
		return kv__refuse(r, KV_DUMP_E_SUM,
				  "the end record's check does not match the dump "
				  "(after %llu items)", (unsigned long long)(r->item - 1));
	if (count != r->item - 1)
		return kv__refuse(r, KV_DUMP_E_COUNT,
				  "the end record counts %llu items, the dump has %llu",
				  (unsigned long long)count, (unsigned long long)(r->item - 1));
	ret = kv__get(r, &extra, 1, NULL);
	if (ret < 0) {
		r->sys_err = ret;
		return kv__refuse(r, KV_DUMP_E_READ, "reading after the end record: %s",
				  strerror(-ret));
	}
	if (ret == 0)
		return kv__refuse(r, KV_DUMP_E_TRAILING, "bytes after the end record");
	r->ended = true;
	return 0;
}

int kv_dump_read_next(struct kv_dump_reader *r, const uint8_t **key, size_t *klen,
		      const uint8_t **val, size_t *vlen)
{
	uint8_t hdr[8], sum[8];
	uint32_t kl, vl;
	size_t need;
	int ret;

	if (r->reason != KV_DUMP_OK) /* sticky: the message stays the first one */
		return r->reason == KV_DUMP_E_READ ? -EIO :
		       r->reason == KV_DUMP_E_NOMEM ? -ENOMEM : -EBADMSG;
	if (r->ended)
		return 0;
	if (!r->started) {
		if ((ret = kv__header(r)))
			return ret;
		r->started = true;
	}
	r->item++;
	{
		size_t got = 0;

		ret = kv__get(r, hdr, 8, &got);
		if (ret < 0) {
			r->sys_err = ret;
			return kv__refuse(r, KV_DUMP_E_READ, "item %llu: %s",
					  (unsigned long long)r->item, strerror(-ret));
		}
		if (ret && got == 0)
			return kv__refuse(r, KV_DUMP_E_TRUNCATED,
					  "item %llu: the dump ends before it, with no end record",
					  (unsigned long long)r->item);
		if (ret)
			return kv__refuse(r, KV_DUMP_E_TRUNCATED,
					  "item %llu: the dump ends inside its lengths",
					  (unsigned long long)r->item);
	}
	kl = kv_ld32le(hdr);
	vl = kv_ld32le(hdr + 4);
	if (kl == 0 && vl == 0)
		return kv__end(r, hdr);
	/* Limits first: nothing is allocated for lengths from the input before
	 * they are known to be sane. */
	if (kl == 0)
		return kv__refuse(r, KV_DUMP_E_KLEN,
				  "item %llu: key length 0 with a value of %u bytes",
				  (unsigned long long)r->item, vl);
	if (kl > KV_DUMP_MAX_KEY)
		return kv__refuse(r, KV_DUMP_E_KLEN,
				  "item %llu: key length %u is over the limit of %u",
				  (unsigned long long)r->item, kl, KV_DUMP_MAX_KEY);
	if (vl > KV_DUMP_MAX_VALUE)
		return kv__refuse(r, KV_DUMP_E_VLEN,
				  "item %llu: value length %u is over the limit of %u",
				  (unsigned long long)r->item, vl, KV_DUMP_MAX_VALUE);
	need = (size_t)kl + vl;
	if (need > r->cap) {
		uint8_t *nb = realloc(r->buf, need);

		if (!nb)
			return kv__refuse(r, KV_DUMP_E_NOMEM, "item %llu: no memory for %zu bytes",
					  (unsigned long long)r->item, need);
		r->buf = nb;
		r->cap = need;
	}
	if ((ret = kv__need(r, r->buf, kl, "key")) || (ret = kv__need(r, r->buf + kl, vl, "value")) ||
	    (ret = kv__need(r, sum, 8, "check")))
		return ret;
	XXH3_64bits_reset(r->one);
	XXH3_64bits_update(r->one, hdr, 8);
	XXH3_64bits_update(r->one, r->buf, need);
	if (kv_ld64le(sum) != XXH3_64bits_digest(r->one))
		return kv__refuse(r, KV_DUMP_E_CHECK,
				  "item %llu: its check does not match its bytes "
				  "(key of %u bytes, value of %u)",
				  (unsigned long long)r->item, kl, vl);
	XXH3_64bits_update(r->all, hdr, 8);
	XXH3_64bits_update(r->all, r->buf, need);
	XXH3_64bits_update(r->all, sum, 8);
	*key = r->buf;
	*klen = kl;
	*val = r->buf + kl;
	*vlen = vl;
	return 1;
}
