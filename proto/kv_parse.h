/* kv_parse.h - strict parsing of command-line numbers. Pure functions. */
#ifndef KV_PARSE_H
#define KV_PARSE_H

#include <stdint.h>

/*
 * Parse a byte count with an optional K, M or G suffix (powers of 1024, an
 * optional trailing "B" or "iB" accepted). 0, or -EINVAL for anything else
 * (empty, sign, junk, overflow, a value outside [min, max]).
 */
int kv_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A decimal integer in [min, max], nothing else. 0 or -EINVAL. */
int kv_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A TCP port 1..65535. 0 or -EINVAL. */
int kv_parse_port(const char *s, uint16_t *out);

#endif
