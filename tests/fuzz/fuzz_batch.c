/*
 * fuzz_batch.c - a request line of `kvcli batch`, read from stdin
 * (kv_batch_parse). The input is the line, newline already taken off.
 *
 * Contract: no read past the line; spans inside it (before its first NUL);
 * the command word is what the line starts with; a put's key holds no space
 * and its value is the rest of the line; a get's or del's key is the rest
 * of the line after the first space; an error has its text. And the parse
 * decides exactly as kvcli's inline code did before it was factored out
 * (kv__batch_line as of 1d7330d: kept below as the reference, on a NUL-
 * terminated copy it may cut up as it did). A line formatted from a key
 * without spaces and any value parses back to them.
 */
#include "fuzz_util.h"

#include "kv_batchparse.h"

struct ref {
	enum kv_batch_cmd cmd;
	const char *key, *val; /* NUL-terminated, in the copy */
	const char *error;
};

/* kv__batch_line's parsing as of 1d7330d, its library calls replaced by
 * what they were given. */
static void ref_parse(char *line, struct ref *r)
{
	char *sp = strchr(line, ' ');
	const char *key = sp ? sp + 1 : "";

	memset(r, 0, sizeof(*r));
	if (sp)
		*sp = '\0';
	if (!strcmp(line, "put")) {
		char *vsp = strchr(key, ' ');

		if (!vsp) {
			r->error = "usage: put KEY VALUE";
			return;
		}
		*vsp = '\0';
		r->cmd = KV_BATCH_PUT;
		r->key = key;
		r->val = vsp + 1;
	} else if (!strcmp(line, "get") && sp) {
		r->cmd = KV_BATCH_GET;
		r->key = key;
	} else if (!strcmp(line, "del") && sp) {
		r->cmd = KV_BATCH_DEL;
		r->key = key;
	} else {
		r->error = "unknown command; expected put KEY VALUE, get KEY or del KEY";
	}
}

static int span_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)fz_dup(data, size);
	char *copy = malloc(size + 1);
	const char *nul = memchr(line, '\0', size);
	size_t n = nul ? (size_t)(nul - line) : size;
	struct kv_batch_req q;
	struct ref r;
	enum kv_batch_cmd cmd;

	if (!copy)
		abort();
	memcpy(copy, line, size);
	copy[size] = '\0';

	cmd = kv_batch_parse(line, size, &q);
	FUZZ_CHECK(cmd == q.cmd);
	ref_parse(copy, &r);
	FUZZ_CHECK(cmd == r.cmd);
	if (cmd == KV_BATCH_BAD) {
		FUZZ_CHECK(q.error && !strcmp(q.error, r.error));
		FUZZ_CHECK(!q.key && !q.val);
		goto out;
	}
	FUZZ_CHECK(!q.error);
	FUZZ_CHECK(n >= 4 && line[3] == ' ');
	FUZZ_CHECK(!memcmp(line, cmd == KV_BATCH_PUT ? "put" : cmd == KV_BATCH_GET ? "get" : "del", 3));
	FUZZ_CHECK(q.key == line + 4);
	FUZZ_CHECK(span_eq(q.key, q.klen, r.key));
	if (cmd == KV_BATCH_PUT) {
		FUZZ_CHECK(!memchr(q.key, ' ', q.klen));
		FUZZ_CHECK(q.val == q.key + q.klen + 1 && q.key[q.klen] == ' ');
		FUZZ_CHECK(q.val + q.vlen == line + n);
		FUZZ_CHECK(span_eq(q.val, q.vlen, r.val));
	} else {
		FUZZ_CHECK(!q.val && q.vlen == 0);
		FUZZ_CHECK(q.key + q.klen == line + n);
	}
out:
	/* Formatted from parts: the first half of the input (spaces and NULs
	 * made '_') is the key, the rest (NULs made '_') the value. */
	if (size >= 2) {
		size_t kl = size / 2, vl = size - kl;
		char *fmt = malloc(4 + kl + 1 + vl);
		struct kv_batch_req p;

		if (!fmt)
			abort();
		memcpy(fmt, "put ", 4);
		for (size_t i = 0; i < kl; i++)
			fmt[4 + i] = data[i] == ' ' || data[i] == '\0' ? '_' : (char)data[i];
		fmt[4 + kl] = ' ';
		for (size_t i = 0; i < vl; i++)
			fmt[5 + kl + i] = data[kl + i] == '\0' ? '_' : (char)data[kl + i];
		FUZZ_CHECK(kv_batch_parse(fmt, 5 + kl + vl, &p) == KV_BATCH_PUT);
		FUZZ_CHECK(p.key == fmt + 4 && p.klen == kl && p.val == fmt + 5 + kl && p.vlen == vl);
		memcpy(fmt, "get ", 4);
		FUZZ_CHECK(kv_batch_parse(fmt, 5 + kl + vl, &p) == KV_BATCH_GET);
		FUZZ_CHECK(p.key == fmt + 4 && p.klen == kl + 1 + vl);
		free(fmt);
	}
	free((void *)line);
	free(copy);
	return 0;
}
