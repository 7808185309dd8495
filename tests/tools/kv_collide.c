/*
 * kv_collide - keys that hash into the same two buckets as a victim key, for
 * a known hash seed: the attack a constant seed allowed. Filling the victim's
 * two buckets makes its PUT fail with "store full" in an otherwise empty
 * store (tests/vm/store_collide.sh shows that a random seed per store stops it).
 *
 *   kv_collide [-m SIZE] [-k MAXKEY] [-v MAXVALUE] [-H BYTES] [-s SEED] VICTIM
 *
 * The table is laid out as kvserver lays it out with the same options (and
 * the same defaults); SEED defaults to 0x6b7673746f7265, the constant seed
 * of every store before seeds were random. Prints 2 * bucket_slots keys, one
 * a line, enough to fill both buckets.
 *
 * Before printing, a self-check, so that a test using these keys cannot pass
 * vacuously: each key's buckets are recomputed, and the real client code
 * (kv_ops.c) runs on a local slab with that geometry and seed: it must store
 * every key, and then fail the victim's PUT with -ENOSPC (kvcli's exit 4).
 * Exit 0 when all of that holds, 1 when not, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_client_int.h"
#include "kv_parse.h"

#define KV_OLD_SEED 0x6b7673746f7265ull /* "kvstore" */

/* ---- a wire over a slab in this process (kv_wire.h) ---------------------- */

struct kv_local {
	uint8_t *slab;
	uint64_t len;
};

static int kv_local_run(void *ctx, const struct kv_wr *w, unsigned n)
{
	struct kv_local *l = ctx;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = l->slab + w[i].off;
		uint64_t old;

		if (w[i].off > l->len || w[i].len > l->len - w[i].off)
			return -EFAULT;
		switch (w[i].op) {
		case KV_WR_READ:
			memcpy(w[i].local, p, w[i].len);
			break;
		case KV_WR_WRITE:
			memcpy(p, w[i].local, w[i].len);
			break;
		case KV_WR_CAS:
			memcpy(&old, p, 8);
			if (old == w[i].compare)
				memcpy(p, &w[i].swap, 8);
			memcpy(w[i].local, &old, 8);
			break;
		}
	}
	return 0;
}

static uint64_t kv_local_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void kv_local_pause(void *ctx, uint64_t ns)
{
	(void)ctx;
	(void)ns; /* one client alone: nothing to wait for */
}

static const struct kv_wire_ops kv_local_ops = {
	.run = kv_local_run, .now_ns = kv_local_now, .pause_ns = kv_local_pause,
};

/* ---- the search and the check --------------------------------------------- */

static int same_buckets(const struct kv_keyhash *a, const struct kv_keyhash *b)
{
	return (a->b1 == b->b1 && a->b2 == b->b2) || (a->b1 == b->b2 && a->b2 == b->b1);
}

/* Store every key, then the victim, with kv_ops.c on a local slab. */
static int self_check(const struct kv_geometry *g, uint64_t slab_len, const char *victim,
		      char keys[][32], unsigned n)
{
	struct kv_local l = {.slab = calloc(1, slab_len), .len = slab_len};
	struct kv_hello h = {.slab_len = slab_len, .client_id = 1, .lease_ms = 1000, .geo = *g};
	struct kv_wire w = {.ops = &kv_local_ops, .ctx = &l};
	kv_client *c;
	int ret = 1, r;

	if (!l.slab || !(c = kv__client_on_wire(&h, &w, 1))) {
		fprintf(stderr, "kv_collide: out of memory\n");
		free(l.slab);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		if ((r = kv_put(c, keys[i], strlen(keys[i]), "x", 1))) {
			fprintf(stderr, "kv_collide: self-check: PUT %s: %s\n", keys[i],
				kv_strerror(r));
			goto out;
		}
	r = kv_put(c, victim, strlen(victim), "x", 1);
	if (r != -ENOSPC) {
		fprintf(stderr, "kv_collide: self-check: PUT %s after the %u keys gave '%s', "
			"not 'store full'\n", victim, n, kv_strerror(r));
		goto out;
	}
	fprintf(stderr, "kv_collide: self-check: on a local slab under this seed the client "
		"stores the %u keys, then PUT %s fails: %s\n", n, victim, kv_strerror(r));
	ret = 0;
out:
	kv_close(c);
	free(l.slab);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: kv_collide [-m SIZE] [-k MAXKEY] [-v MAXVALUE] [-H BYTES] "
		"[-s SEED] VICTIM\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t slab = 64ull << 20, max_key = KV_KEY_LIMIT, max_value = KV_DEFAULT_MAX_VALUE;
	uint64_t head = KV_DEFAULT_HEAD_SIZE, seed = KV_OLD_SEED, tries = 0;
	char keys[2 * KV_MAX_BUCKET_SLOTS][32];
	struct kv_keyhash vh, kh;
	struct kv_geometry g;
	const char *victim;
	unsigned n = 0, want;
	char err[256], *end;
	int opt;

	while ((opt = getopt(argc, argv, "m:k:v:H:s:")) != -1) {
		switch (opt) {
		case 'm':
			if (kv_parse_size(optarg, 1ull << 20, 1ull << 40, &slab))
				return usage();
			break;
		case 'k':
			if (kv_parse_uint(optarg, 1, KV_KEY_LIMIT, &max_key))
				return usage();
			break;
		case 'v':
			if (kv_parse_size(optarg, 1, KV_VALUE_LIMIT, &max_value))
				return usage();
			break;
		case 'H':
			if (kv_parse_uint(optarg, KV_REC_HDR + 8, KV_HEAD_LIMIT, &head) || head % 8)
				return usage();
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno || !*optarg || *end)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (optind + 1 != argc || !argv[optind][0] || strlen(argv[optind]) > max_key)
		return usage();
	victim = argv[optind];
	/* Exactly as kvserver lays out its table (server/kv_server.c). */
	if (kv_geometry_layout(slab, (uint32_t)max_key, (uint32_t)max_value,
			       KV_DEFAULT_BUCKET_SLOTS, (uint32_t)head, seed, &g, err,
			       sizeof(err))) {
		fprintf(stderr, "kv_collide: %s\n", err);
		return 2;
	}
	want = 2 * g.bucket_slots;
	kv_key_hash(&g, victim, strlen(victim), &vh);
	/* Keys c0, c1, ...: about nbuckets^2 / 2 tries per key found. The
	 * counter is kept as text, since formatting it each time would cost
	 * more than hashing it. */
	{
		char cand[32] = "c0";
		size_t len = 2;

		while (n < want && tries++ < (1ull << 40)) {
			size_t i = len - 1;

			kv_key_hash(&g, cand, len, &kh);
			if (same_buckets(&kh, &vh) && strcmp(cand, victim))
				memcpy(keys[n++], cand, len + 1);
			while (i > 0 && cand[i] == '9') /* increment the decimal */
				cand[i--] = '0';
			if (i > 0) {
				cand[i]++;
			} else { /* 9...9 became 0...0: one more digit */
				cand[1] = '1';
				cand[len++] = '0';
				cand[len] = '\0';
			}
		}
	}
	for (unsigned i = 0; i < n; i++) { /* recomputed, not taken on trust */
		kv_key_hash(&g, keys[i], strlen(keys[i]), &kh);
		if (!same_buckets(&kh, &vh)) {
			fprintf(stderr, "kv_collide: key %s is not in the victim's buckets\n",
				keys[i]);
			return 1;
		}
	}
	fprintf(stderr, "kv_collide: seed %#llx, %u buckets of %u slots: %s is in buckets "
		"%u and %u, and so are %u keys (%llu tried)\n", (unsigned long long)seed,
		g.nbuckets, g.bucket_slots, victim, vh.b1, vh.b2, n, (unsigned long long)tries);
	if (n < want || self_check(&g, slab, victim, keys, n))
		return 1;
	for (unsigned i = 0; i < n; i++)
		printf("%s\n", keys[i]);
	return fflush(stdout) ? 1 : 0;
}
