/*
 * bench_recover.c - how long kv_recover takes to open a store (issue 9's
 * target: well under a second per GiB). A measurement tool, not a test.
 *
 * It lays out a slab with the real layout code (kv_geometry_layout), fills it
 * as clients would (kv_key_hash, kv_probe_empty, kv_block_encode, blocks
 * bump-allocated in address order as grants of a fresh store are, so the
 * index names them in hash order), optionally with overwrites, deletes,
 * writes left unfinished and claims, then times kv_alloc_init and kv_recover
 * with CLOCK_MONOTONIC (and the thread's CPU time beside it: on a busy
 * machine the wall clock also counts time spent preempted) and checks what
 * recovery found against what the fill wrote (exit 1 on a mismatch). One
 * JSON line on stdout.
 *
 *   kv_bench_recover --slab 1G --items 6000000 --key 16 --value 32
 *   kv_bench_recover --slab 16G --items 20000000
 *
 * --shm fills a shared memfd mapping and maps it again before each recovery,
 * as kvserver --file maps a store file whose pages are in the page cache (so
 * the page faults of the first touch are counted). Without it the slab is
 * anonymous memory (MADV_HUGEPAGE, as kvserver's own). Only the pages the
 * fill touches are allocated: the index and the blocks.
 *
 * "digest" hashes the index and the allocator's free bitmap after the first
 * recovery: two builds of kv_recover that agree on a fill print the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "kv_alloc.h"
#include "kv_base.h"
#include "kv_index.h"
#include "kv_parse.h"
#include "kv_recover.h"

#define MAX_RUNS 16

struct opts {
	uint64_t slab, index, items, klen, vmin, vmax, max_value, seed, unfinished, claims, runs;
	double updates, deletes;
	int shm;
};

struct fill {
	uint8_t *slab;
	const struct kv_geometry *g;
	uint64_t rng, bump, ngran;
	uint64_t keys;          /* distinct keys written */
	uint64_t live, live_gran;
	uint64_t tombs;         /* committed tombstones in the index */
	uint64_t unfinished, claims;
	uint64_t index_full;    /* keys dropped: both buckets full */
	int data_full;
	uint8_t *val, *blk;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kv_bench_recover [--slab SIZE] [--index SIZE] [--items N] [--key BYTES]\n"
		"         [--value BYTES|MIN-MAX] [--max-value SIZE] [--updates FRAC]\n"
		"         [--deletes FRAC] [--unfinished N] [--claims N] [--seed N] [--runs N]\n"
		"         [--shm]\n"
		"  --slab SIZE      slab (K/M/G), default 1G\n"
		"  --index SIZE     index bytes, default kvserver's (3/32 of the slab)\n"
		"  --items N        writes to make (inserts, overwrites, deletes), default 6000000\n"
		"  --key BYTES      key length, 8..250, default 16\n"
		"  --value B|A-B    value length, or uniform in A..B, default 32\n"
		"  --max-value SIZE the store's value limit, default 1M\n"
		"  --updates FRAC   share of writes that overwrite an earlier key (old block retired)\n"
		"  --deletes FRAC   share of writes that delete an earlier key (tombstone committed)\n"
		"  --unfinished N   N more overwrites, left swung but not retired nor committed\n"
		"  --claims N       claim words left in empty words\n"
		"  --seed N         of the fill and the store's hash seed, default 1\n"
		"  --runs N         recoveries of the same slab, each with a new allocator\n"
		"                   (the first is the real one), default 1, at most %d\n"
		"  --shm            a shared memfd mapping, mapped again before each recovery\n",
		MAX_RUNS);
}

static int parse_frac(const char *s, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !(d >= 0 && d <= 1))
		return -EINVAL;
	*out = d;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"slab", 1, NULL, 's'},  {"index", 1, NULL, 'I'},   {"items", 1, NULL, 'n'},
		{"key", 1, NULL, 'k'},   {"value", 1, NULL, 'v'},   {"max-value", 1, NULL, 'V'},
		{"updates", 1, NULL, 'u'}, {"deletes", 1, NULL, 'd'}, {"unfinished", 1, NULL, 'U'},
		{"claims", 1, NULL, 'c'}, {"seed", 1, NULL, 'S'},   {"runs", 1, NULL, 'r'},
		{"shm", 0, NULL, 'm'},   {"help", 0, NULL, 'h'},    {NULL, 0, NULL, 0},
	};
	int c, bad = 0;

	*o = (struct opts){.slab = 1ull << 30, .items = 6000000, .klen = 16, .vmin = 32,
			   .vmax = 32, .max_value = 1u << 20, .seed = 1, .runs = 1};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *dash;

		switch (c) {
		case 's': bad |= kv_parse_size(optarg, 1u << 20, 1ull << 40, &o->slab); break;
		case 'I': bad |= kv_parse_size(optarg, 128, 1ull << 40, &o->index); break;
		case 'n': bad |= kv_parse_uint(optarg, 0, 1ull << 40, &o->items); break;
		case 'k': bad |= kv_parse_uint(optarg, 8, KV_KEY_LIMIT, &o->klen); break;
		case 'v':
			if ((dash = strchr(optarg, '-'))) {
				*dash = 0;
				bad |= kv_parse_size(optarg, 0, KV_VALUE_LIMIT, &o->vmin);
				bad |= kv_parse_size(dash + 1, 0, KV_VALUE_LIMIT, &o->vmax);
			} else {
				bad |= kv_parse_size(optarg, 0, KV_VALUE_LIMIT, &o->vmin);
				o->vmax = o->vmin;
			}
			break;
		case 'V': bad |= kv_parse_size(optarg, 1, KV_VALUE_LIMIT, &o->max_value); break;
		case 'u': bad |= parse_frac(optarg, &o->updates); break;
		case 'd': bad |= parse_frac(optarg, &o->deletes); break;
		case 'U': bad |= kv_parse_uint(optarg, 0, 1ull << 32, &o->unfinished); break;
		case 'c': bad |= kv_parse_uint(optarg, 0, 1ull << 32, &o->claims); break;
		case 'S': bad |= kv_parse_uint(optarg, 0, UINT64_MAX, &o->seed); break;
		case 'r': bad |= kv_parse_uint(optarg, 1, MAX_RUNS, &o->runs); break;
		case 'm': o->shm = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (bad || optind != argc || o->vmin > o->vmax || o->vmax > o->max_value ||
	    o->updates + o->deletes > 1) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

/* Key number @n: its first 8 bytes a bijection of n (so keys are distinct),
 * the rest a pattern. */
static void make_key(uint64_t n, uint8_t *k, size_t klen)
{
	uint64_t x = n + 0x9e3779b97f4a7c15ull;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	kv_st64le(k, x);
	for (size_t i = 8; i < klen; i++)
		k[i] = (uint8_t)('a' + (n + i) % 26);
}

static uint64_t *word_at(struct fill *f, uint64_t idx)
{
	return (uint64_t *)(void *)(f->slab + kv_word_off(f->g, idx));
}

/* The 16 words of the key's buckets into @w. */
static void read_pair(struct fill *f, const struct kv_keyhash *kh, uint64_t *w)
{
	for (unsigned i = 0; i < 2 * KV_BUCKET_WORDS; i++)
		w[i] = *word_at(f, kv_pair_idx(kh, i));
}

/* Index of the word holding @key (a block of it), or -1. */
static int64_t find_key(struct fill *f, const struct kv_keyhash *kh, const uint8_t *key,
			size_t klen, uint64_t *wout)
{
	uint64_t w[2 * KV_BUCKET_WORDS];
	unsigned pos[2 * KV_BUCKET_WORDS], n;

	read_pair(f, kh, w);
	n = kv_probe_blocks(kh, w, pos);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *b = f->slab + kv_block_off(f->g, w[pos[i]]);
		uint16_t bk, fl;
		uint32_t bv;

		kv_block_peek(b, &bk, &bv, &fl);
		if (bk == klen && memcmp(b + KV_BLOCK_HDR, key, klen) == 0) {
			*wout = w[pos[i]];
			return (int64_t)kv_pair_idx(kh, pos[i]);
		}
	}
	return -1;
}

/* A new block at the bump pointer; its word, or 0 when the data region is full. */
static uint64_t new_block(struct fill *f, const struct kv_keyhash *kh, const uint8_t *key,
			  size_t klen, size_t vlen, uint16_t flags, int committed, uint64_t prev)
{
	uint64_t n = kv_block_granules(klen, vlen), w;

	if (n > f->ngran - f->bump) {
		f->data_full = 1;
		return 0;
	}
	w = kv_word_block(kh->fp, (unsigned)kv_rand_next(&f->rng), kv_len_code(n), f->bump);
	kv_block_encode(f->slab + kv_block_off(f->g, w), w,
			committed ? w : kv_head_uncommitted(w), prev, flags, f->g->hash_seed, key,
			klen, f->val + kv_rand_next(&f->rng) % 4096, vlen);
	f->bump += n;
	return w;
}

/*
 * Overwrite (or delete) an earlier key, drawn at random: a new block with
 * prev the old word, the word swung to it, the old block retired and the
 * new committed, or (@unfinished) neither, as a writer that died between
 * the swing and the retire leaves it. 1 when done, 0 when the key drawn is
 * deleted or unfinished already (or the region is full).
 */
static int overwrite(struct fill *f, const struct opts *o, size_t vlen, int del, int unfinished)
{
	uint8_t key[KV_KEY_LIMIT];
	struct kv_keyhash kh;
	const uint8_t *b;
	uint64_t old, w;
	uint16_t bk, fl;
	uint32_t bv;
	int64_t at;

	make_key(kv_rand_next(&f->rng) % f->keys, key, o->klen);
	kv_key_hash(f->g, key, o->klen, &kh);
	if ((at = find_key(f, &kh, key, o->klen, &old)) < 0)
		return 0;
	b = f->slab + kv_block_off(f->g, old);
	kv_block_peek(b, &bk, &bv, &fl);
	if ((fl & KV_BLOCK_TOMBSTONE) || (kv_ld64le(b) & KV_HEAD_STATE) != KV_HEAD_COMMITTED)
		return 0;
	if (!(w = new_block(f, &kh, key, o->klen, del ? 0 : vlen, del ? KV_BLOCK_TOMBSTONE : 0,
			    !unfinished, old)))
		return 0;
	f->live_gran -= kv_block_granules(bk, bv);
	*word_at(f, (uint64_t)at) = w;
	if (unfinished)
		f->unfinished++;
	else
		kv_st64le(f->slab + kv_block_off(f->g, old), kv_head_retired(old));
	if (del) {
		f->live--;
		f->tombs++;
	} else {
		f->live_gran += kv_block_granules(o->klen, vlen);
	}
	return 1;
}

static size_t draw_vlen(struct fill *f, const struct opts *o)
{
	return (size_t)(o->vmin + kv_rand_next(&f->rng) % (o->vmax - o->vmin + 1));
}

static void fill(struct fill *f, const struct opts *o)
{
	uint8_t key[KV_KEY_LIMIT];
	struct kv_keyhash kh;

	for (uint64_t i = 0; i < o->items && !f->data_full; i++) {
		double u = (double)(kv_rand_next(&f->rng) >> 11) / (double)(1ull << 53);
		size_t vlen = draw_vlen(f, o);
		uint64_t pw[2 * KV_BUCKET_WORDS], w;
		int e;

		if (f->keys && u < o->updates + o->deletes) {
			overwrite(f, o, vlen, u >= o->updates, 0);
			continue;
		}
		make_key(f->keys, key, o->klen);
		kv_key_hash(f->g, key, o->klen, &kh);
		read_pair(f, &kh, pw);
		if ((e = kv_probe_empty(pw)) < 0) {
			f->index_full++;
			continue;
		}
		if (!(w = new_block(f, &kh, key, o->klen, vlen, 0, 1, 0)))
			break;
		*word_at(f, kv_pair_idx(&kh, (unsigned)e)) = w;
		f->keys++;
		f->live++;
		f->live_gran += kv_block_granules(o->klen, vlen);
	}
	/* Writes whose writers died between swing and retire, after the rest. */
	for (uint64_t t = 0; f->keys && f->unfinished < o->unfinished && t < 100 * o->unfinished;
	     t++)
		overwrite(f, o, draw_vlen(f, o), 0, 1);
	/* Claims, in empty words spread over the index. */
	for (uint64_t t = 0, nw = kv_nwords(f->g); f->claims < o->claims && t < 100 * o->claims;
	     t++) {
		uint64_t at = kv_rand_next(&f->rng) % nw;

		if (*word_at(f, at) == 0) {
			*word_at(f, at) = kv_word_claim((uint16_t)at, (uint16_t)(1 + t % 100));
			f->claims++;
		}
	}
}

static double secs(uint64_t t0, uint64_t t1)
{
	return (double)(t1 - t0) / 1e9;
}

/* CPU time of this thread: unlike the wall clock, not inflated by other
 * processes on a busy machine (memory stalls count, being preempted not). */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct kv_geometry g;
	struct fill f = {0};
	struct kv_alloc a;
	struct kv_recover_report r[MAX_RUNS];
	double t_init[MAX_RUNS], t_rec[MAX_RUNS], t_cpu[MAX_RUNS];
	uint64_t dig_index = 0, dig_free = 0, t0, t1, c0;
	char err[200];
	int fd = -1, bad = 0;
	uint8_t *slab;

	parse_opts(argc, argv, &o);
	if (kv_geometry_layout(o.slab, o.index, (uint32_t)o.klen, (uint32_t)o.max_value,
			       kv_rand_seed(o.seed), &g, err, sizeof(err))) {
		fprintf(stderr, "kv_bench_recover: %s\n", err);
		return 2;
	}
	if (o.shm) {
		fd = memfd_create("kv_bench_recover", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)o.slab)) {
			perror("kv_bench_recover: memfd");
			return 3;
		}
		slab = mmap(NULL, o.slab, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		slab = mmap(NULL, o.slab, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (slab == MAP_FAILED) {
		perror("kv_bench_recover: mmap");
		return 3;
	}
	if (!o.shm)
		(void)madvise(slab, o.slab, MADV_HUGEPAGE); /* as kvserver's slab */

	f.slab = slab;
	f.g = &g;
	f.rng = kv_rand_seed(o.seed ^ 0xf111);
	f.ngran = kv_data_granules(&g);
	f.val = malloc(4096 + o.vmax);
	if (!f.val) {
		perror("kv_bench_recover");
		return 3;
	}
	for (uint64_t i = 0; i < 4096 + o.vmax; i++)
		f.val[i] = (uint8_t)kv_rand_next(&f.rng);
	t0 = kv_now_ns();
	fill(&f, &o);
	t1 = kv_now_ns();
	fprintf(stderr, "kv_bench_recover: filled %" PRIu64 " keys (%" PRIu64 " live) in %.1f s\n",
		f.keys, f.live, secs(t0, t1));
	for (uint64_t run = 0; run < o.runs; run++) {
		int ret;

		if (o.shm) { /* as a new process finds it: mapped, nothing faulted in */
			munmap(slab, o.slab);
			slab = mmap(NULL, o.slab, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (slab == MAP_FAILED) {
				perror("kv_bench_recover: mmap");
				return 3;
			}
		}

		t0 = kv_now_ns();
		ret = kv_alloc_init(&a, kv_data_granules(&g));
		t1 = kv_now_ns();
		t_init[run] = secs(t0, t1);
		if (ret) {
			fprintf(stderr, "kv_bench_recover: kv_alloc_init: %s\n", strerror(-ret));
			return 3;
		}
		c0 = cpu_ns();
		t0 = kv_now_ns();
		ret = kv_recover(slab, &g, &a, &r[run]);
		t1 = kv_now_ns();
		t_rec[run] = secs(t0, t1);
		t_cpu[run] = secs(c0, cpu_ns());
		if (ret) {
			fprintf(stderr, "kv_bench_recover: kv_recover: %s\n", strerror(-ret));
			return 3;
		}
		/* What the fill left: every live key an item, its blocks used,
		 * the rest free; what a dead server leaves done once. */
		if (r[run].items != f.live || r[run].bad_words || r[run].bad_blocks ||
		    r[run].overlaps || a.st.free != f.ngran - f.live_gran || a.st.held ||
		    r[run].writes_finished != (run ? 0 : f.unfinished) ||
		    r[run].tombs_cleared != (run ? 0 : f.tombs) ||
		    r[run].claims_cleared != (run ? 0 : f.claims)) {
			fprintf(stderr,
				"kv_bench_recover: run %" PRIu64 " MISMATCH: items %" PRIu64
				" (want %" PRIu64 "), free %" PRIu64 " (want %" PRIu64 "), finished %"
				PRIu64 " (want %" PRIu64 "), tombs %" PRIu64 " (want %" PRIu64
				"), claims %" PRIu64 " (want %" PRIu64 "), bad %" PRIu64 "/%" PRIu64
				", overlaps %" PRIu64 "\n",
				run, r[run].items, f.live, a.st.free, f.ngran - f.live_gran,
				r[run].writes_finished, run ? 0 : f.unfinished, r[run].tombs_cleared,
				run ? 0 : f.tombs, r[run].claims_cleared, run ? 0 : f.claims,
				r[run].bad_words, r[run].bad_blocks, r[run].overlaps);
			bad = 1;
		}
		if (run == 0) {
			dig_index = XXH3_64bits(slab + g.index_off, kv_nwords(&g) * 8);
			dig_free = XXH3_64bits(a.free, a.nwords * 8);
		}
		kv_alloc_free(&a);
	}

	printf("{\"slab\":%" PRIu64 ",\"data_bytes\":%" PRIu64 ",\"index_words\":%" PRIu64
	       ",\"mapping\":\"%s\",\"key\":%" PRIu64 ",\"value_min\":%" PRIu64
	       ",\"value_max\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"items\":%" PRIu64
	       ",\"data_used\":%" PRIu64 ",\"index_full\":%" PRIu64 ",\"data_full\":%s"
	       ",\"claims_cleared\":%" PRIu64 ",\"writes_finished\":%" PRIu64
	       ",\"tombs_cleared\":%" PRIu64 ",\"alloc_init_s\":[",
	       o.slab, g.data_len, kv_nwords(&g), o.shm ? "shm" : "anon", o.klen, o.vmin,
	       o.vmax, f.keys, r[0].items, f.bump * KV_GRANULE, f.index_full,
	       f.data_full ? "true" : "false", r[0].claims_cleared, r[0].writes_finished,
	       r[0].tombs_cleared);
	for (uint64_t i = 0; i < o.runs; i++)
		printf("%s%.4f", i ? "," : "", t_init[i]);
	printf("],\"recover_s\":[");
	for (uint64_t i = 0; i < o.runs; i++)
		printf("%s%.4f", i ? "," : "", t_rec[i]);
	printf("],\"recover_cpu_s\":[");
	for (uint64_t i = 0; i < o.runs; i++)
		printf("%s%.4f", i ? "," : "", t_cpu[i]);
	printf("],\"recover_s_per_gib\":%.4f,\"ns_per_item\":%.1f,\"digest\":\"%016" PRIx64
	       "-%016" PRIx64 "\",\"ok\":%s}\n",
	       t_rec[0] / ((double)o.slab / (1ull << 30)),
	       r[0].items ? t_rec[0] * 1e9 / (double)r[0].items : 0.0, dig_index, dig_free,
	       bad ? "false" : "true");
	munmap(slab, o.slab);
	if (fd >= 0)
		close(fd);
	free(f.val);
	return bad;
}
