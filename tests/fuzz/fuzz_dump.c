/*
 * fuzz_dump.c - a dump read back by `kvcli restore` from whatever is on its
 * stdin (kv_dump_read_next, client/kv_dumpfmt.c).
 *
 * Input: a mode byte, the largest read the callback gives at once (1..256),
 * where a read fails with EIO (u16, with mode bit 1), then the dump. With
 * mode bit 0 the target first makes every item's check, and with bit 2 the
 * end record's count and check, right, so that the fuzzer gets past them.
 *
 * Contract: an item handed out has a key of 1..KV_DUMP_MAX_KEY bytes and a
 * value within KV_DUMP_MAX_VALUE, readable whole; the items, written again
 * by the writer, are the input's bytes from its start (all of them when the
 * dump ends well); a refusal says why in a terminated message, is -EIO
 * only for the injected read error, and stays the same on every later call;
 * the reader never asks for more than the input holds once it has ended.
 */
#include "fuzz_util.h"

#include <xxhash.h>

#include "kv_base.h"
#include "kv_dumpfmt.h"

struct src {
	const uint8_t *p;
	size_t n, at, chunk, fail_at;
	int fail;
	size_t reads_after_end;
};

static long src_read(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	size_t k = n < s->chunk ? n : s->chunk;

	if (s->fail && s->at >= s->fail_at)
		return -EIO;
	if (s->at == s->n)
		s->reads_after_end++;
	if (k > s->n - s->at)
		k = s->n - s->at;
	memcpy(buf, s->p + s->at, k);
	s->at += k;
	return (long)k;
}

struct sink {
	uint8_t *p;
	size_t n, cap;
};

static int sink_write(void *ctx, const void *buf, size_t n)
{
	struct sink *s = ctx;

	if (s->n + n > s->cap) {
		size_t cap = (s->n + n) * 2;
		uint8_t *p = realloc(s->p, cap);

		if (!p)
			abort();
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->n, buf, n);
	s->n += n;
	return 0;
}

/* Make the checks of @d (@n bytes) right: each item's (mode 1), the end
 * record's count and check (mode 4). */
static void fix_sums(uint8_t *d, size_t n, unsigned mode)
{
	const uint8_t *nl = memchr(d, '\n', n < 18 ? n : 18);
	size_t at = nl ? (size_t)(nl - d) + 1 : n;
	uint64_t items = 0;

	while (at + 8 <= n) {
		uint32_t kl = kv_ld32le(d + at), vl = kv_ld32le(d + at + 4);

		if (kl == 0 && vl == 0) {
			if ((mode & 4) && at + 24 <= n) {
				kv_st64le(d + at + 8, items);
				kv_st64le(d + at + 16, XXH3_64bits(d, at + 16));
			}
			return;
		}
		if (kl == 0 || kl > KV_DUMP_MAX_KEY || vl > KV_DUMP_MAX_VALUE ||
		    (uint64_t)at + 16 + kl + vl > n)
			return;
		if (mode & 1)
			kv_st64le(d + at + 8 + kl + vl, XXH3_64bits(d + at, 8 + (size_t)kl + vl));
		at += 16 + (size_t)kl + vl;
		items++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t mode = fz_u8(&f);
	struct src s = {.chunk = 1 + fz_u8(&f)};
	struct sink out = {0};
	struct kv_dump_reader r;
	struct kv_dump_writer w;
	uint8_t *dump;
	const uint8_t *key, *val;
	size_t klen, vlen;
	int ret;

	s.fail = mode & 2;
	s.fail_at = fz_u16(&f);
	dump = fz_dup(f.p, f.n);
	s.p = dump;
	s.n = f.n;
	if (mode & 5)
		fix_sums(dump, s.n, mode);

	FUZZ_CHECK(kv_dump_reader_init(&r, src_read, &s) == 0);
	FUZZ_CHECK(kv_dump_writer_init(&w, sink_write, &out) == 0);
	while ((ret = kv_dump_read_next(&r, &key, &klen, &val, &vlen)) == 1) {
		uint8_t *copy;

		FUZZ_CHECK(klen >= 1 && klen <= KV_DUMP_MAX_KEY && vlen <= KV_DUMP_MAX_VALUE);
		copy = fz_dup(key, klen + vlen); /* both readable, whole */
		free(copy);
		FUZZ_CHECK(val == key + klen);
		if (!out.n) /* the header line was read and accepted */
			FUZZ_CHECK(kv_dump_write_begin(&w) == 0);
		FUZZ_CHECK(kv_dump_write_item(&w, key, klen, val, vlen) == 0);
	}
	if (ret == 0) {
		FUZZ_CHECK(r.reason == KV_DUMP_OK && r.ended);
		if (!out.n)
			FUZZ_CHECK(kv_dump_write_begin(&w) == 0);
		FUZZ_CHECK(kv_dump_write_end(&w) == 0);
		FUZZ_CHECK(out.n == s.n && memcmp(out.p, dump, s.n) == 0);
		FUZZ_CHECK(kv_dump_read_next(&r, &key, &klen, &val, &vlen) == 0);
	} else {
		enum kv_dump_reason why = r.reason;
		char msg[sizeof(r.msg)];

		FUZZ_CHECK(ret == -EBADMSG || ret == -EIO || ret == -ENOMEM);
		FUZZ_CHECK(why != KV_DUMP_OK);
		FUZZ_CHECK((ret == -EIO) == (why == KV_DUMP_E_READ));
		FUZZ_CHECK(ret != -EIO || s.fail);
		FUZZ_CHECK(fz_is_cstr(r.msg, sizeof(r.msg)) && r.msg[0]);
		/* The header line, if it was accepted, and the items handed
		 * out before are the input's first bytes. */
		if (r.started && !out.n)
			FUZZ_CHECK(kv_dump_write_begin(&w) == 0);
		FUZZ_CHECK(out.n <= s.n && (!out.n || memcmp(out.p, dump, out.n) == 0));
		memcpy(msg, r.msg, sizeof(msg));
		FUZZ_CHECK(kv_dump_read_next(&r, &key, &klen, &val, &vlen) == ret);
		FUZZ_CHECK(r.reason == why && memcmp(msg, r.msg, sizeof(msg)) == 0);
	}
	FUZZ_CHECK(s.reads_after_end <= 1);
	kv_dump_reader_free(&r);
	kv_dump_writer_free(&w);
	free(out.p);
	free(dump);
	return 0;
}
