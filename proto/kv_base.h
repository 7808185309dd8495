/*
 * kv_base.h - the one home of small facts every part of the project uses:
 * byte-order loads and stores, the clock, the pseudo-random generator.
 */
#ifndef KV_BASE_H
#define KV_BASE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Unaligned little-endian (slab records) and big-endian (wire) access. */
static inline uint16_t kv_ld16le(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t kv_ld32le(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t kv_ld64le(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline void kv_st16le(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static inline void kv_st32le(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void kv_st64le(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline uint16_t kv_ld16be(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static inline uint32_t kv_ld32be(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static inline uint64_t kv_ld64be(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline void kv_st16be(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static inline void kv_st32be(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static inline void kv_st64be(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }

/* CLOCK_MONOTONIC in ns: the project's one clock. */
static inline uint64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64: fast, seedable, not for secrets. *state must not be 0. */
static inline uint64_t kv_rand_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* A well-mixed nonzero seed from any 64-bit value (splitmix64's finalizer). */
static inline uint64_t kv_rand_seed(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x ? x : 1;
}

#endif
