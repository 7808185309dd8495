/* kv_batchparse.c - a `kvcli batch` request line (kv_batchparse.h). */
#include "kv_batchparse.h"

#include <string.h>

#define KV__BATCH_USAGE_PUT "usage: put KEY VALUE"
#define KV__BATCH_UNKNOWN "unknown command; expected put KEY VALUE, get KEY or del KEY"

static int kv__word_is(const char *w, size_t wlen, const char *name)
{
	return wlen == strlen(name) && !memcmp(w, name, wlen);
}

enum kv_batch_cmd kv_batch_parse(const char *line, size_t len, struct kv_batch_req *out)
{
	const char *end = memchr(line, '\0', len);
	size_t n = end ? (size_t)(end - line) : len;
	const char *sp = memchr(line, ' ', n);
	size_t wlen = sp ? (size_t)(sp - line) : n;
	const char *key = sp ? sp + 1 : line + n;
	size_t rest = (size_t)(line + n - key); /* bytes after the first space */

	memset(out, 0, sizeof(*out));
	out->cmd = KV_BATCH_BAD;
	if (kv__word_is(line, wlen, "put")) {
		const char *vsp = memchr(key, ' ', rest);

		if (!vsp) {
			out->error = KV__BATCH_USAGE_PUT;
			return out->cmd;
		}
		out->cmd = KV_BATCH_PUT;
		out->key = key;
		out->klen = (size_t)(vsp - key);
		out->val = vsp + 1;
		out->vlen = rest - out->klen - 1;
	} else if (sp && kv__word_is(line, wlen, "get")) {
		out->cmd = KV_BATCH_GET;
	} else if (sp && kv__word_is(line, wlen, "del")) {
		out->cmd = KV_BATCH_DEL;
	} else {
		out->error = KV__BATCH_UNKNOWN;
		return out->cmd;
	}
	if (out->cmd != KV_BATCH_PUT) {
		out->key = key;
		out->klen = rest;
	}
	return out->cmd;
}
