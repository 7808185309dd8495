/*
 * kv_collide - keys that hash into the same two buckets as a victim key, for
 * a known hash seed: the attack a constant seed allowed. Filling the victim's
 * two buckets makes its PUT fail with "store full" in an otherwise empty
 * store (tests/vm/store_collide.sh shows that a random seed per store stops it).
 *
 *   kv_collide [-m SIZE] [-I SIZE] [-k MAXKEY] [-v MAXVALUE] [-s SEED] VICTIM
 *
 * The slab is laid out as kvserver lays it out with the same options (and
 * the same defaults); SEED defaults to 0x6b7673746f7265, the constant seed
 * of every store before seeds were random. Prints 2 * KV_BUCKET_WORDS keys,
 * one a line, enough to fill both buckets' index words.
 *
 * The search costs about nbuckets^2 / 2 hashes per key found: a small index
 * (-I 64K: 1024 buckets) finds them at once, the default index of a 16 MiB
 * slab (24192 buckets) in some seconds per key.
 *
 * Before printing, a self-check, so that a test using these keys cannot pass
 * vacuously: each key's buckets are recomputed, and the real client code
 * (kv_ops.c) runs on a local slab with that geometry and seed, with the
 * server's sweep granting it space: it must store every key, and then fail
 * the victim's PUT with -ENOSPC (kvcli's exit 4).
 * Exit 0 when all of that holds, 1 when not, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "kv_client_int.h"
#include "kv_parse.h"
#include "kv_sweep.h"

#define KV_OLD_SEED 0x6b7673746f7265ull /* "kvstore" */
#define KV_LOCAL_ID 1                   /* the self-check's one client */
#define KV_NKEYS (2 * KV_BUCKET_WORDS)

/* ---- a wire over a slab in this process (kv_wire.h) ---------------------- */

struct kv_local {
	uint8_t *slab;
	uint64_t len;
	struct kv_sweep sweep; /* the server's side of grants and seals */
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

/* A grant, as kvserver makes it; space a pass may free is freed at once. */
static int kv_local_grant(void *ctx, uint64_t need, unsigned attempt, uint64_t *off,
			  uint64_t *len, uint64_t *largest)
{
	struct kv_local *l = ctx;
	struct kv_extent ext;
	int ret;

	if (!attempt)
		kv_sweep_grant_fresh(&l->sweep, KV_LOCAL_ID);
	for (int tries = 0; tries < 4; tries++) {
		ret = kv_sweep_grant(&l->sweep, KV_LOCAL_ID, need, &ext, largest);
		if (ret != -EAGAIN)
			break;
		for (uint64_t passes = l->sweep.passes; l->sweep.passes == passes;)
			kv_sweep_step(&l->sweep, UINT64_MAX, kv_local_now(ctx));
	}
	if (!ret) {
		*off = ext.off;
		*len = ext.len;
	}
	return ret;
}

static int kv_local_seal(void *ctx, uint64_t off, uint64_t len)
{
	struct kv_local *l = ctx;
	struct kv_extent ext = {off, len};

	return kv_sweep_seal(&l->sweep, KV_LOCAL_ID, &ext);
}

static const struct kv_wire_ops kv_local_ops = {
	.run = kv_local_run, .now_ns = kv_local_now, .pause_ns = kv_local_pause,
	.grant = kv_local_grant, .seal = kv_local_seal,
};

/* No lease, so nobody is ever fenced. */
static void kv_local_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	(void)ctx;
	(void)owner;
	(void)why;
}

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
	struct kv_hello h = {.slab_len = slab_len, .client_id = KV_LOCAL_ID, .lease_ms = 1000,
			     .geo = *g};
	struct kv_wire w = {.ops = &kv_local_ops, .ctx = &l};
	kv_client *c = NULL;
	int ret = 1, r;

	if (!l.slab || kv_sweep_init(&l.sweep, l.slab, g, 0, kv_local_fence, NULL) ||
	    !(c = kv__client_on_wire(&h, &w, 1))) {
		fprintf(stderr, "kv_collide: out of memory\n");
		goto out;
	}
	kv_sweep_owner_live(&l.sweep, KV_LOCAL_ID);
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
	if (c)
		kv_close(c);
	if (l.sweep.state)
		kv_sweep_free(&l.sweep);
	free(l.slab);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: kv_collide [-m SIZE] [-I SIZE] [-k MAXKEY] [-v MAXVALUE] "
		"[-s SEED] VICTIM\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t slab = 64ull << 20, max_key = KV_KEY_LIMIT, max_value = KV_DEFAULT_MAX_VALUE;
	uint64_t index = 0, seed = KV_OLD_SEED, tries = 0;
	char keys[KV_NKEYS][32];
	struct kv_keyhash vh, kh;
	struct kv_geometry g;
	const char *victim;
	unsigned n = 0, want;
	char err[256], *end;
	int opt;

	while ((opt = getopt(argc, argv, "m:I:k:v:s:")) != -1) {
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
		case 'I':
			if (kv_parse_size(optarg, 0, 1ull << 40, &index))
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
	if (optind + 1 != argc || !argv[optind][0] || strlen(argv[optind]) > max_key ||
	    index > slab)
		return usage();
	victim = argv[optind];
	/* Exactly as kvserver lays out its slab (server/kv_server.c). */
	if (kv_geometry_layout(slab, index, (uint32_t)max_key, (uint32_t)max_value, seed, &g,
			       err, sizeof(err))) {
		fprintf(stderr, "kv_collide: %s\n", err);
		return 2;
	}
	want = KV_NKEYS;
	kv_key_hash(&g, victim, strlen(victim), &vh);
	/* Keys c0, c1, ...: about nbuckets^2 / 2 tries per key found. The
	 * counter is kept as text, since formatting it each time would cost
	 * more than hashing it; and the first hash alone (kv_key_hash's b1)
	 * rules out all but 2 / nbuckets of them, before the second is
	 * computed. */
	{
		char cand[32] = "c0";
		size_t len = 2;

		while (n < want && tries++ < (1ull << 40)) {
			size_t i = len - 1;

			uint64_t b1 = XXH3_64bits_withSeed(cand, len, g.hash_seed) % g.nbuckets;

			if (b1 == vh.b1 || b1 == vh.b2) {
				kv_key_hash(&g, cand, len, &kh);
				if (same_buckets(&kh, &vh) && strcmp(cand, victim))
					memcpy(keys[n++], cand, len + 1);
			}
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
	fprintf(stderr, "kv_collide: seed %#llx, %u buckets of %u words: %s is in buckets "
		"%u and %u, and so are %u keys (%llu tried)\n", (unsigned long long)seed,
		g.nbuckets, KV_BUCKET_WORDS, victim, vh.b1, vh.b2, n, (unsigned long long)tries);
	if (n < want || self_check(&g, slab, victim, keys, n))
		return 1;
	for (unsigned i = 0; i < n; i++)
		printf("%s\n", keys[i]);
	return fflush(stdout) ? 1 : 0;
}
