/*
 * fuzz_parse.c - numbers and sizes from the command line and the
 * environment (kv_parse_size, kv_parse_uint, kv_parse_port).
 *
 * Input: min and max (u64 each), then the text (it ends at the input's end
 * or at a NUL, as a C string does).
 *
 * Contract: each parser accepts exactly what its specification in
 * kv_parse.h says, with the value it says: checked against a model written
 * here from that text (digits only, no sign or space, K/M/G powers of 1024
 * with an optional B or iB, B alone, overflow refused, the range inclusive),
 * with its own overflow arithmetic rather than strtoull's.
 */
#include "fuzz_util.h"

#include "kv_parse.h"

/* Leading decimal digits of @s: 0 and their value and end, or -1 (none, or
 * more than a u64 holds). */
static int model_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	*end = s;
	return 0;
}

static int model_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *e;
	uint64_t v;

	if (model_digits(s, &v, &e) || *e || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int up(char c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int model_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *e;
	uint64_t v;
	unsigned shift = 0;

	if (model_digits(s, &v, &e))
		return -1;
	switch (up(*e)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	default: break;
	}
	if (shift) {
		e++;
		if (up(e[0]) == 'I' && up(e[1]) == 'B')
			e += 2;
		else if (up(e[0]) == 'B')
			e++;
	} else if (up(*e) == 'B') {
		e++;
	}
	if (*e)
		return -1;
	if (shift && v > UINT64_MAX >> shift)
		return -1;
	v <<= shift;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint64_t min = fz_u64(&f), max = fz_u64(&f), v = 0, mv = 0;
	char *s = malloc(f.n + 1);
	uint16_t port = 0;
	int ret, mret;

	if (!s)
		abort();
	memcpy(s, f.p, f.n);
	s[f.n] = '\0';
	/* Small ranges now and then, so that the bounds get hit. */
	if (min & 1) {
		min >>= 48;
		max >>= 40;
	}

	ret = kv_parse_uint(s, min, max, &v);
	mret = model_uint(s, min, max, &mv);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == (mret == 0));
	FUZZ_CHECK(ret || (v == mv && v >= min && v <= max));

	v = mv = 0;
	ret = kv_parse_size(s, min, max, &v);
	mret = model_size(s, min, max, &mv);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == (mret == 0));
	FUZZ_CHECK(ret || (v == mv && v >= min && v <= max));

	ret = kv_parse_port(s, &port);
	mret = model_uint(s, 1, 65535, &mv);
	FUZZ_CHECK((ret == 0) == (mret == 0));
	FUZZ_CHECK(ret || port == mv);
	free(s);
	return 0;
}
