/*
 * fuzz_seeds.c - writes the seed corpora of the fuzz targets from real
 * encodings (the project's own encoders), in each target's input format:
 *
 *   build-fuzz/bin/fuzz_seeds tests/fuzz/corpus
 *
 * Not a fuzzer. The files are committed; run it again when a format
 * changes. Inputs that once broke a target are committed beside them by
 * hand (crash-*), and this program leaves those alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "kv_auth.h"
#include "kv_base.h"
#include "kv_dumpfmt.h"
#include "kv_file.h"
#include "kv_index.h"
#include "kv_proto.h"

static const char *root;

/* A growing input. */
struct buf {
	uint8_t b[1 << 16];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	if (o->n + n > sizeof(o->b)) {
		fprintf(stderr, "fuzz_seeds: seed too long\n");
		exit(1);
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void u8(struct buf *o, uint8_t v) { put(o, &v, 1); }
static void u16(struct buf *o, uint16_t v) { uint8_t b[2]; kv_st16le(b, v); put(o, b, 2); }
static void u32(struct buf *o, uint32_t v) { uint8_t b[4]; kv_st32le(b, v); put(o, b, 4); }
static void u64(struct buf *o, uint64_t v) { uint8_t b[8]; kv_st64le(b, v); put(o, b, 8); }

static void save(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void saveb(const char *target, const char *name, const struct buf *o)
{
	save(target, name, o->b, o->n);
}

static struct kv_hello sample_hello(uint64_t slab, uint32_t max_value)
{
	struct kv_hello h = {0};
	char err[160];

	h.slab_addr = 0x7f0012340000ull;
	h.slab_len = slab;
	h.scratch_off = 3 * KV_SCRATCH_LEN;
	h.scratch_len = KV_SCRATCH_LEN;
	h.rkey = 0x1234;
	h.client_id = 3;
	h.lease_ms = KV_DEFAULT_LEASE_MS;
	if (kv_geometry_layout(slab, 0, KV_KEY_LIMIT, max_value, 0x5eed, &h.geo, err, sizeof(err))) {
		fprintf(stderr, "fuzz_seeds: %s\n", err);
		exit(1);
	}
	return h;
}

static void seeds_hello(void)
{
	uint8_t m[KV_MSG_MAX];
	struct kv_hello h = sample_hello(64ull << 20, KV_DEFAULT_MAX_VALUE);
	size_t n = kv_hello_encode(m, &h);

	save("hello", "default-64M", m, n);
	h = sample_hello(1ull << 20, 4096);
	h.lease_ms = KV_LEASE_MAX_MS;
	h.client_id = 0xffff;
	save("hello", "small-1M", m, kv_hello_encode(m, &h));
	h = sample_hello(16ull << 30, KV_VALUE_LIMIT);
	save("hello", "large-16G", m, kv_hello_encode(m, &h));
	kv_st16be(m + 4, KV_PROTO_VERSION + 1);
	save("hello", "other-version", m, n);
	save("hello", "truncated", m, n - 9);
}

static void seeds_msg(void)
{
	uint8_t m[KV_MSG_MAX];
	const char *json = "{\"items\":0,\"clients\":1}";

	save("msg", "stats-req", m, kv_msg_put_header(m, KV_MSG_STATS_REQ, 0, 0));
	save("msg", "grant-req", m, kv_extent_encode(m, KV_MSG_GRANT_REQ, 0, 4096, 0));
	save("msg", "grant-req-again", m, kv_extent_encode(m, KV_MSG_GRANT_REQ, 0, 1 << 20, 3));
	save("msg", "grant", m, kv_extent_encode(m, KV_MSG_GRANT, 0, 65536, 1 << 20));
	save("msg", "grant-enospc", m, kv_extent_encode(m, KV_MSG_GRANT, ENOSPC, 0, 4096));
	save("msg", "seal", m, kv_extent_encode(m, KV_MSG_SEAL, 0, 65536, 1 << 20));
	kv_msg_put_header(m, KV_MSG_STATS_RESP, (uint32_t)strlen(json), 0);
	memcpy(m + KV_MSG_HDR_LEN, json, strlen(json));
	save("msg", "stats-resp", m, KV_MSG_HDR_LEN + strlen(json));
	kv_msg_put_header(m, KV_MSG_HELLO + 40, 0, 0);
	save("msg", "unknown-type", m, KV_MSG_HDR_LEN);
}

/* fuzz_block's input: flags, max_key (u8: 1 + v % 250), max_value (u16, or
 * u32 with flag 0x80), seed, data_len (u32: (v + 1) granules), word, key
 * length and key, then the block. */
static void block_seed(const char *name, uint8_t flags, unsigned state, uint16_t bflags,
		       const char *key, const char *val, const char *look)
{
	struct buf o = {.n = 0};
	size_t klen = strlen(key), vlen = strlen(val);
	uint64_t n = kv_block_granules(klen, vlen);
	uint64_t w = kv_word_block(0x2a5, 9, kv_len_code(n), 100);
	uint8_t blk[4096];

	u8(&o, flags);
	u8(&o, 249); /* max_key 250 */
	u16(&o, 4096);
	u64(&o, 0x5eed);
	u32(&o, 4095);
	u64(&o, w);
	u8(&o, (uint8_t)strlen(look));
	put(&o, look, strlen(look));
	kv_block_encode(blk, w, (w & ~KV_HEAD_STATE) | (uint64_t)state << 62, 0, bflags, 0x5eed,
			key, klen, val, vlen);
	put(&o, blk, n * KV_GRANULE);
	saveb("block", name, &o);
}

static void seeds_block(void)
{
	block_seed("committed", 1, 1, 0, "key", "value", "key");
	block_seed("uncommitted-other-key", 1, 0, 0, "key", "value", "yek");
	block_seed("retired", 0, 3, 0, "k", "a longer value of several granules, 64 bytes or so..", "");
	block_seed("tombstone", 0, 1, KV_BLOCK_TOMBSTONE, "gone", "", "");
}

/* fuzz_slab's input: nbuckets, index_off, data_off pad (bit 7: a large
 * region), granules (u16), max_key, max_value (u16), seed (u64), tail,
 * phase-1 count, phase-1 operations, then lease (u16 ms), recovery's
 * memory (u8), phase-2 operations. */
static void slab_head(struct buf *o, uint8_t nb, uint8_t pad, uint16_t ngran, uint8_t nops)
{
	u8(o, nb);
	u8(o, 1);
	u8(o, pad);
	u16(o, ngran);
	u8(o, 63);  /* max_key 64 */
	u16(o, 512); /* max_value */
	u64(o, 0x5eed);
	u8(o, 1);
	u8(o, nops);
}

static void slab_block(struct buf *o, uint16_t idx, uint16_t gran, uint8_t how, const char *key,
		       const char *val)
{
	u8(o, 1);
	u16(o, idx);
	u16(o, gran);
	u8(o, how);
	u8(o, 7); /* tag */
	u8(o, (uint8_t)strlen(key));
	u16(o, (uint16_t)strlen(val));
	put(o, key, strlen(key));
	put(o, val, strlen(val));
}

static void seeds_slab(void)
{
	struct buf o = {.n = 0};

	/* Items, an uncommitted replacement, a tombstone, claims, garbage;
	 * then a lease and honest clients: owner 1 comes, takes a grant,
	 * writes, seals; sweep steps. */
	slab_head(&o, 4, 0, 400, 8);
	slab_block(&o, 0, 0, 0x01, "alpha", "one");
	slab_block(&o, 1, 8, 0x01, "beta", "two");
	slab_block(&o, 1, 16, 0x04, "beta", "three"); /* uncommitted, prev = word 1 */
	slab_block(&o, 2, 24, 0x41, "gamma", "");    /* committed tombstone */
	u8(&o, 2); u16(&o, 5); u16(&o, 0x123); u16(&o, 7); /* a claim by id 7 */
	u8(&o, 0); u16(&o, 6); u64(&o, 0xc000000000000001ull); /* a word of no kind */
	u8(&o, 5); u16(&o, 9); u16(&o, 0);                   /* word 0 copied */
	u8(&o, 3); u16(&o, 40 * 16); u8(&o, 8); put(&o, "garbage!", 8);
	u16(&o, 1000); /* lease */
	u8(&o, 3);     /* recovery in groups of 64 bytes */
	u8(&o, 0x02);  /* owner 1 comes */
	u8(&o, 0x03); u16(&o, 200);  /* a grant */
	u8(&o, 0x05); u16(&o, 10); u8(&o, 0x23); put(&o, "deltaepsilon", 12);
	u8(&o, 0x06); u16(&o, 11); u16(&o, 0x321); /* a claim */
	for (int i = 0; i < 8; i++) {
		u8(&o, 0x00); u16(&o, 10); u8(&o, 64);
	}
	u8(&o, 0x04); /* seal */
	for (int i = 0; i < 8; i++) {
		u8(&o, 0x01); u16(&o, 500); u8(&o, 255);
	}
	saveb("slab", "mixed", &o);

	o.n = 0;
	slab_head(&o, 2, 0, 2, 2);
	slab_block(&o, 0, 0, 0x01, "k", "");
	u8(&o, 4); u32(&o, 77);
	saveb("slab", "tiny", &o);

	o.n = 0;
	slab_head(&o, 8, 0, 2000, 3);
	slab_block(&o, 3, 1998, 0x01, "torn at the end", "a value longer than what is left");
	slab_block(&o, 4, 100, 0x21, "short length code", "x");
	slab_block(&o, 5, 200, 0x81, "odd flags", "y");
	saveb("slab", "edges", &o);

	/* A region of 6000 granules (recovery's ranges are 2 granules wide),
	 * with 31 words naming one block: a range longer than its scratch. */
	o.n = 0;
	slab_head(&o, 8, 0x80, 6000, 32);
	slab_block(&o, 0, 100, 0x01, "shared", "by many words");
	for (uint16_t i = 1; i <= 30; i++) {
		u8(&o, 5);
		u16(&o, i);
		u16(&o, 0);
	}
	slab_block(&o, 40, 101, 0x01, "inside", "it");
	u16(&o, 0);
	u8(&o, 0);
	saveb("slab", "one-range-many-words", &o);
}

static void seeds_file(void)
{
	struct kv_file_header h = {.clean = 1, .generation = 5, .slab_len = 64ull << 20};
	struct buf o = {.n = 0};
	uint8_t page[KV_FILE_HDR];
	char err[160];

	if (kv_geometry_layout(h.slab_len, 0, KV_KEY_LIMIT, KV_DEFAULT_MAX_VALUE, 0x5eed, &h.geo,
			       err, sizeof(err)))
		exit(1);
	for (unsigned i = 0; i < sizeof(h.boot_id); i++)
		h.boot_id[i] = (uint8_t)(0x10 + i);
	kv_file_header_encode(page, &h);
	u8(&o, 0);
	u64(&o, kv_file_len(h.slab_len, &h.geo));
	put(&o, page, sizeof(page));
	saveb("file", "clean-64M", &o);
	o.n = 0;
	u8(&o, 1); /* checksum made right by the target */
	u64(&o, h.slab_len);
	put(&o, page, sizeof(page));
	saveb("file", "truncated-fixsum", &o);
	o.n = 0;
	u8(&o, 0);
	u64(&o, 100);
	put(&o, page, 100);
	saveb("file", "short", &o);
}

static void parse_seed(const char *name, uint64_t min, uint64_t max, const char *s)
{
	struct buf o = {.n = 0};

	u64(&o, min);
	u64(&o, max);
	put(&o, s, strlen(s));
	saveb("parse", name, &o);
}

static void seeds_parse(void)
{
	parse_seed("size-64M", 1ull << 20, 1ull << 40, "64M");
	parse_seed("size-KiB", 0, UINT64_MAX, "16KiB");
	parse_seed("size-B", 0, UINT64_MAX, "100B");
	parse_seed("size-overflow", 0, UINT64_MAX, "17179869184G");
	parse_seed("uint-max", 0, UINT64_MAX, "18446744073709551615");
	parse_seed("uint-over", 0, UINT64_MAX, "18446744073709551616");
	parse_seed("port", 1, 65535, "20886");
	parse_seed("junk", 0, 10, "-1");
}

static void seeds_batch(void)
{
	static const char *const lines[][2] = {
		{"put", "put key value with spaces"},
		{"get", "get key"},
		{"del", "del key"},
		{"get-spaced", "get a key with spaces"},
		{"put-no-value", "put key"},
		{"put-empty-key", "put  value"},
		{"unknown", "list keys"},
		{"bare-get", "get"},
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		save("batch", lines[i][0], lines[i][1], strlen(lines[i][1]));
}

static int sink(void *ctx, const void *p, size_t n)
{
	put(ctx, p, n);
	return 0;
}

/* fuzz_dump's input: mode, chunk (1 + v), fail_at (u16), the dump. */
static void dump_seed(const char *name, uint8_t mode, uint8_t chunk, int nitems, size_t cut)
{
	struct buf o = {.n = 0};
	struct kv_dump_writer w;
	char key[32], val[64];

	u8(&o, mode);
	u8(&o, chunk);
	u16(&o, 40);
	if (kv_dump_writer_init(&w, sink, &o) || kv_dump_write_begin(&w))
		exit(1);
	for (int i = 0; i < nitems; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		snprintf(val, sizeof(val), "value number %d", i);
		if (kv_dump_write_item(&w, key, strlen(key), val, i == 1 ? 0 : strlen(val)))
			exit(1);
	}
	if (kv_dump_write_end(&w))
		exit(1);
	kv_dump_writer_free(&w);
	o.n -= cut;
	saveb("dump", name, &o);
}

static void seeds_dump(void)
{
	dump_seed("three-items", 0, 255, 3, 0);
	dump_seed("empty", 0, 255, 0, 0);
	dump_seed("byte-reads", 0, 0, 2, 0);
	dump_seed("truncated", 0, 7, 2, 5);
	dump_seed("read-error", 2, 255, 3, 0);
}

static void seeds_auth(void)
{
	uint8_t m[KV_MSG_MAX], nonce[KV_AUTH_NONCE], mac[KV_AUTH_MAC];
	struct kv_hello h = sample_hello(64ull << 20, KV_DEFAULT_MAX_VALUE);
	static const char users[] = "# users\nalice rw 0123456789abcdef0123\n"
				    "bob\tro  s3cr3t-s3cr3t-s3cr3t\r\n\n";

	for (int i = 0; i < KV_AUTH_NONCE; i++)
		nonce[i] = (uint8_t)(i * 7 + 1);
	for (int i = 0; i < KV_AUTH_MAC; i++)
		mac[i] = (uint8_t)(i * 13 + 5);
	save("auth", "challenge", m, kv_challenge_encode(m, nonce));
	save("auth", "auth", m, kv_auth_encode(m, nonce, mac, "alice", 5));
	save("auth", "welcome-rw", m, kv_welcome_encode(m, KV_ROLE_RW, mac, &h));
	save("auth", "welcome-ro", m, kv_welcome_encode(m, KV_ROLE_RO, mac, &h));
	save("auth", "refusal", m, kv_refusal_encode(m, "unknown user or wrong secret"));
	save("auth", "users-file", users, sizeof(users) - 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR   (tests/fuzz/corpus)\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) && errno != EEXIST) {
		perror(root);
		return 1;
	}
	seeds_hello();
	seeds_msg();
	seeds_block();
	seeds_slab();
	seeds_file();
	seeds_parse();
	seeds_batch();
	seeds_dump();
	seeds_auth();
	return 0;
}
