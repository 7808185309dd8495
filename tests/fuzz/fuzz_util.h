/*
 * fuzz_util.h - what every libFuzzer target here shares: the entry point's
 * prototype, a contract check that aborts (so libFuzzer keeps the input),
 * and a reader of the fuzzer's bytes as numbers (zeros once they run out).
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoder's contract broken: say which, and abort (a crash to libFuzzer). */
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__,     \
				__LINE__, #cond);                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t v = fz_u8(f);

	return (uint16_t)(v | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t v = fz_u16(f);

	return v | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t v = fz_u32(f);

	return v | (uint64_t)fz_u32(f) << 32;
}

/* Up to @n bytes into @out (the rest zero); returns how many were there. */
static inline size_t fz_bytes(struct fz *f, void *out, size_t n)
{
	size_t k = n < f->n ? n : f->n;

	memcpy(out, f->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	f->p += k;
	f->n -= k;
	return k;
}

/* A heap copy of exactly @n bytes (at least one allocated), so that ASan
 * sees any read past the end. */
static inline uint8_t *fz_dup(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

/* A NUL-terminated string in an error buffer of @len bytes (@len > 0). */
static inline int fz_is_cstr(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

#endif
