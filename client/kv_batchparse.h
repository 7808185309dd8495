/*
 * kv_batchparse.h - one request line of `kvcli batch`, parsed. Pure code:
 * no client, no output, so the fuzzer (tests/fuzz/fuzz_batch.c) and unit
 * tests run exactly what kvcli runs.
 *
 *   put KEY VALUE   KEY ends at the second space; VALUE is the rest of the
 *                   line, spaces included, and may be empty
 *   get KEY         KEY is the rest of the line after the first space,
 *   del KEY         spaces included
 *
 * The command word is everything before the first space and must be exactly
 * put, get or del. An empty KEY parses (the library refuses it: "empty key").
 * The line ends at its first NUL byte, if it has one, as kvcli has always
 * read it (a C string).
 */
#ifndef KV_BATCHPARSE_H
#define KV_BATCHPARSE_H

#include <stddef.h>

enum kv_batch_cmd {
	KV_BATCH_BAD = 0, /* not a request: reason in error */
	KV_BATCH_PUT,
	KV_BATCH_GET,
	KV_BATCH_DEL,
};

struct kv_batch_req {
	enum kv_batch_cmd cmd;
	const char *key;   /* inside the line (not NUL-terminated) */
	size_t klen;
	const char *val;   /* put: inside the line; else NULL */
	size_t vlen;
	const char *error; /* KV_BATCH_BAD: the text of the ERROR line after
			      "ERROR "; else NULL */
};

/*
 * Parse the request in the @len bytes at @line (no newline; it ends at the
 * first NUL among them). Fills *out and returns out->cmd. Never reads past
 * @len bytes and never writes to the line.
 */
enum kv_batch_cmd kv_batch_parse(const char *line, size_t len, struct kv_batch_req *out);

#endif
