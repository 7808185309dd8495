/*
 * fuzz_slab.c - the slab as the server finds it: index words and blocks any
 * client may have scribbled over, and the allocation metadata they imply
 * (the length a word codes, the lengths in its block's header). Run through
 * what reads it all: opening a store (kv_recover, which rebuilds the
 * allocator from the index) and the background sweep (kv_sweep_step: marks,
 * finishes, tombstones, claims and leases, grants and seals).
 *
 * Input: a small geometry and the store's seed; then phase-1 operations
 * that build the slab (raw words, well-made blocks with any state, length
 * code, predecessor and tombstone flag, blocks torn at the region's end,
 * claims, raw bytes, bit flips, copied words); then phase-2 operations of
 * honest clients after the recovery (owners coming and going, grants,
 * blocks written in them and published, replaced or deleted, claims,
 * seals) interleaved with sweep steps at advancing times.
 *
 * Contract, after recovery: no claim is left and every claim was counted;
 * garbage words are counted and left alone; each word that names a block is
 * an item, a cleared tombstone or a bad block, exactly once; a word left
 * whose block validates is committed and not a tombstone; the allocator
 * holds nothing and has free exactly what its bitmap says; no granule that
 * a word names (kv_block_span) is free; recovering again changes nothing
 * when no two named blocks overlap; recovery's overlaps are real. After
 * every phase-2 step: still no named granule is free, a grant lies inside
 * the data region, aligned, as large as asked, clear of every named block
 * and of every other open grant; the fence is only called on a live owner;
 * after a quiet pass no claim of an owner that is not live is left.
 */
#include "fuzz_util.h"

#include <stdbool.h>

#include "kv_alloc.h"
#include "kv_base.h"
#include "kv_index.h"
#include "kv_recover.h"
#include "kv_sweep.h"

#define MAX_OPS 512
#define OWNERS 4 /* ids 1..OWNERS */

struct grant {
	uint64_t off, len, used; /* granules; len 0: none */
};

struct ctx {
	struct fz f;
	uint8_t *slab;
	uint64_t slab_len;
	struct kv_geometry g;
	uint64_t nw, ngran;
	struct kv_sweep s;
	bool live[OWNERS + 1];
	struct grant grants[OWNERS + 1][KV_OWNER_GRANTS];
	bool quiet; /* no owner or claim changed since the last pass ended */
};

static uint64_t *word_in(const struct ctx *c, uint8_t *slab, uint64_t i)
{
	return (uint64_t *)(void *)(slab + kv_word_off(&c->g, i));
}

static uint64_t *wordp(struct ctx *c, uint64_t i)
{
	return word_in(c, c->slab, i);
}

/* A word kv_recover counts as naming a block (kv_recover.c: kv__named_block). */
static bool named(const struct ctx *c, uint64_t w)
{
	uint64_t gran = kv_word_gran(w);

	return kv_word_kind(w) == KV_WORD_BLOCK && kv_word_lcode(w) >= KV_BLOCK_HDR / KV_GRANULE &&
	       gran < c->ngran && c->ngran - gran >= KV_BLOCK_HDR / KV_GRANULE;
}

static bool gran_free(const struct kv_alloc *a, uint64_t g)
{
	return (a->free[g / 64] >> (g % 64)) & 1;
}

/* Nothing a word of @slab names is free in @a, and the free count is the
 * bitmap's. */
static void check_alloc_of(const struct ctx *c, uint8_t *slab, const struct kv_alloc *a)
{
	uint64_t nfree = 0;

	for (uint64_t i = 0; i < c->nw; i++) {
		uint64_t w = *word_in(c, slab, i), span;

		if (!named(c, w))
			continue;
		span = kv_block_span(slab, &c->g, w);
		FUZZ_CHECK(span >= 1 && kv_word_gran(w) + span <= c->ngran);
		for (uint64_t k = 0; k < span; k++)
			FUZZ_CHECK(!gran_free(a, kv_word_gran(w) + k));
	}
	for (uint64_t g = 0; g < c->ngran; g++)
		nfree += gran_free(a, g);
	FUZZ_CHECK(nfree == a->st.free);
	FUZZ_CHECK(a->st.free + a->st.held <= c->ngran);
}

static void check_alloc(struct ctx *c)
{
	check_alloc_of(c, c->slab, &c->s.alloc);
}

/* ---- phase 1: the slab as any client may have left it -------------------- */

/* Write a block of the given fields at granule @gran, cut at the region's
 * end; returns its word (length code @lcode). */
static uint64_t put_block(struct ctx *c, uint64_t gran, unsigned tag, unsigned lcode,
			  unsigned state, uint16_t flags, uint64_t prev, const uint8_t *key,
			  size_t klen, const uint8_t *val, size_t vlen)
{
	struct kv_keyhash kh;
	uint64_t n = kv_block_granules(klen, vlen), w, room;
	uint8_t *buf = malloc(n * KV_GRANULE);

	if (!buf)
		abort();
	kv_key_hash(&c->g, key, klen, &kh);
	w = kv_word_block(kh.fp, tag, lcode, gran);
	kv_block_encode(buf, w, (w & ~KV_HEAD_STATE) | (uint64_t)state << 62, prev, flags,
			c->g.hash_seed, key, klen, val, vlen);
	room = (c->ngran - gran) * KV_GRANULE;
	memcpy(c->slab + kv_block_off(&c->g, w), buf, n * KV_GRANULE < room ? n * KV_GRANULE : room);
	free(buf);
	return w;
}

static void phase1_op(struct ctx *c)
{
	struct fz *f = &c->f;
	uint8_t op = fz_u8(f);

	uint64_t i, j, w;
	uint16_t fp, owner;

	switch (op % 7) {
	case 0: /* a raw word */
		i = fz_u16(f) % c->nw;
		w = fz_u64(f);
		*wordp(c, i) = w;
		break;
	case 1: { /* a block, made well, with any state, length code, predecessor */
		uint16_t idx = fz_u16(f);
		uint64_t gran = fz_u16(f) % c->ngran;
		uint8_t how = fz_u8(f), tag = fz_u8(f);
		size_t klen = fz_u8(f), vlen = fz_u16(f) % 1024;
		uint8_t key[256], *val = malloc(vlen ? vlen : 1);
		unsigned code;
		uint64_t prev;

		if (!val)
			abort();
		fz_bytes(f, key, klen);
		for (size_t k = fz_bytes(f, val, vlen); k < vlen; k++)
			val[k] = (uint8_t)k;
		code = kv_len_code(kv_block_granules(klen, vlen));
		switch (how >> 4 & 3) {
		case 1: code = code < 0x3ff ? code + 1 : code; break;
		case 2: code = code ? code - 1 : 0; break;
		case 3: code = fz_u16(f) & 0x3ff; break;
		default: break;
		}
		switch (how >> 2 & 3) {
		case 0: prev = 0; break;
		case 1: prev = *wordp(c, idx % c->nw); break;
		case 2: prev = *wordp(c, fz_u16(f) % c->nw); break;
		default: prev = fz_u64(f); break;
		}
		if (how & 0x40)
			vlen = 0; /* a tombstone's */
		w = put_block(c, gran, tag, code, how & 3, (how & 0x40 ? KV_BLOCK_TOMBSTONE : 0) |
			      (how & 0x80 && !(how & 0x40) ? 2 : 0), prev, key, klen, val, vlen);
		if (idx != 0xffff)
			*wordp(c, idx % c->nw) = w;
		free(val);
		break;
	}
	case 2: /* a claim */
		i = fz_u16(f) % c->nw;
		fp = fz_u16(f);
		owner = fz_u16(f);
		*wordp(c, i) = kv_word_claim(fp, owner);
		break;
	case 3: { /* raw bytes in the data region */
		uint64_t off = fz_u16(f) % c->g.data_len;
		size_t n = fz_u8(f) % 64;

		if (n > c->g.data_len - off)
			n = (size_t)(c->g.data_len - off);
		fz_bytes(f, c->slab + c->g.data_off + off, n);
		break;
	}
	case 4: { /* a bit flipped anywhere in the slab */
		uint64_t bit = fz_u32(f) % (c->slab_len * 8);

		c->slab[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		break;
	}
	case 5: /* one word copied to another */
		i = fz_u16(f) % c->nw;
		j = fz_u16(f) % c->nw;
		*wordp(c, i) = *wordp(c, j);
		break;
	default: /* a word cleared */
		*wordp(c, fz_u16(f) % c->nw) = 0;
		break;
	}
}

/* ---- the recovery's contract ---------------------------------------------- */

struct pre {
	uint64_t claims, bad_words, named, blocks, bad_kind;
	bool disjoint; /* named extents pairwise apart, and every predecessor a
			  finish would retire at a named extent's start or
			  outside them all */
};

static void survey(struct ctx *c, struct pre *p)
{
	uint8_t *owner = calloc(c->ngran, 1); /* 1: inside a named extent; 2: its start */

	if (!owner)
		abort();
	memset(p, 0, sizeof(*p));
	p->disjoint = true;
	for (uint64_t i = 0; i < c->nw; i++) {
		uint64_t w = *wordp(c, i);

		switch (kv_word_kind(w)) {
		case KV_WORD_CLAIM: p->claims++; break;
		case KV_WORD_BAD: p->bad_words++; p->bad_kind++; break;
		case KV_WORD_BLOCK:
			p->blocks++;
			if (!named(c, w)) {
				p->bad_words++;
				break;
			}
			p->named++;
			for (uint64_t k = 0, n = kv_block_read_len(&c->g, w) / KV_GRANULE; k < n; k++) {
				uint64_t gr = kv_word_gran(w) + k;

				if (owner[gr])
					p->disjoint = false;
				owner[gr] = k ? 1 : 2;
			}
			break;
		default: break;
		}
	}
	for (uint64_t i = 0; i < c->nw && p->disjoint; i++) {
		uint64_t w = *wordp(c, i), prev, gr;

		if (!named(c, w))
			continue;
		prev = kv_ld64le(c->slab + kv_block_off(&c->g, w) + 8);
		gr = kv_word_gran(prev);
		if (kv_word_kind(prev) == KV_WORD_BLOCK && gr < c->ngran && owner[gr] == 1)
			p->disjoint = false;
	}
	free(owner);
}

static void check_recovered(struct ctx *c, const struct pre *p, const struct kv_recover_report *r)
{
	struct kv_index_census cs;
	uint64_t cap = kv_len_decode(kv_len_code(kv_block_granules(c->g.max_key, c->g.max_value))) *
		       KV_GRANULE;
	uint8_t *buf = malloc(cap);

	if (!buf)
		abort();
	FUZZ_CHECK(r->claims_cleared == p->claims);
	FUZZ_CHECK(r->bad_words == p->bad_words);
	FUZZ_CHECK(r->items + r->tombs_cleared + r->bad_blocks == p->named);
	FUZZ_CHECK(r->writes_finished <= p->named);
	FUZZ_CHECK(p->disjoint ? r->overlaps == 0 : 1);
	kv_index_census(c->slab, &c->g, &cs);
	FUZZ_CHECK(cs.claims == 0);
	FUZZ_CHECK(cs.bad == p->bad_kind);
	FUZZ_CHECK(cs.items == p->blocks - r->tombs_cleared);
	FUZZ_CHECK(c->s.alloc.st.held == 0);
	for (uint64_t i = 0; i < c->nw; i++) {
		uint64_t w = *wordp(c, i), len;
		struct kv_block_view v;

		if (!named(c, w))
			continue;
		len = kv_block_read_len(&c->g, w);
		len = len < cap ? len : cap;
		memcpy(buf, c->slab + kv_block_off(&c->g, w), len);
		if (kv_block_check(buf, len, w, &c->g, NULL, 0, &v) == KV_BLOCK_OK)
			FUZZ_CHECK(kv_view_committed(&v) && !kv_view_tomb(&v));
	}
	free(buf);
	check_alloc(c);
}

/* Recovering a recovered store: nothing to do, nothing changes. */
static void check_again(struct ctx *c, const struct kv_recover_report *r1)
{
	struct kv_recover_report r2;
	struct kv_alloc a;
	uint8_t *copy = fz_dup(c->slab, c->slab_len);

	FUZZ_CHECK(kv_alloc_init(&a, c->ngran) == 0);
	FUZZ_CHECK(kv_recover(c->slab, &c->g, &a, &r2) == 0);
	FUZZ_CHECK(r2.claims_cleared == 0 && r2.bad_words == r1->bad_words);
	FUZZ_CHECK(r2.writes_finished == 0 && r2.tombs_cleared == 0);
	FUZZ_CHECK(r2.items == r1->items && r2.bad_blocks == r1->bad_blocks);
	FUZZ_CHECK(r2.overlaps == 0);
	FUZZ_CHECK(memcmp(copy, c->slab, c->slab_len) == 0);
	FUZZ_CHECK(a.st.free == c->s.alloc.st.free);
	FUZZ_CHECK(memcmp(a.free, c->s.alloc.free, a.nwords * 8) == 0);
	kv_alloc_free(&a);
	free(copy);
}

/* The result does not depend on the memory kv_recover_mem may use: the same
 * slab, report and allocator from @pre (the slab before recovery) with
 * groups of @mem bytes. */
static void check_mem(struct ctx *c, const uint8_t *pre, const struct kv_recover_report *r1,
		      size_t mem)
{
	uint8_t *slab = fz_dup(pre, c->slab_len);
	struct kv_recover_report r2;
	struct kv_alloc a;

	FUZZ_CHECK(kv_alloc_init(&a, c->ngran) == 0);
	FUZZ_CHECK(kv_recover_mem(slab, &c->g, &a, &r2, mem) == 0);
	FUZZ_CHECK(memcmp(&r2, r1, sizeof(r2)) == 0);
	FUZZ_CHECK(memcmp(slab, c->slab, c->slab_len) == 0);
	FUZZ_CHECK(a.st.free == c->s.alloc.st.free);
	FUZZ_CHECK(memcmp(a.free, c->s.alloc.free, a.nwords * 8) == 0);
	kv_alloc_free(&a);
	free(slab);
}

/* Recovery that drops the words of bad blocks (kv_recover_opt, drop_bad):
 * each bad block's word cleared and counted, the rest as without it. */
static void check_drop_bad(struct ctx *c, const uint8_t *pre, const struct pre *p,
			   const struct kv_recover_report *r1)
{
	uint8_t *slab = fz_dup(pre, c->slab_len);
	uint64_t cap = kv_len_decode(kv_len_code(kv_block_granules(c->g.max_key, c->g.max_value))) *
		       KV_GRANULE;
	uint8_t *buf = malloc(cap);
	struct kv_recover_report r;
	struct kv_alloc a;

	if (!buf)
		abort();
	FUZZ_CHECK(kv_alloc_init(&a, c->ngran) == 0);
	FUZZ_CHECK(kv_recover_opt(slab, &c->g, &a, &r, 0, true) == 0);
	FUZZ_CHECK(r.bad_dropped == r.bad_blocks);
	FUZZ_CHECK(r.claims_cleared == r1->claims_cleared && r.bad_words == r1->bad_words);
	FUZZ_CHECK(r.items + r.tombs_cleared + r.bad_blocks == p->named);
	check_alloc_of(c, slab, &a);
	if (p->disjoint) {
		FUZZ_CHECK(r.items == r1->items && r.tombs_cleared == r1->tombs_cleared &&
			   r.bad_blocks == r1->bad_blocks &&
			   r.writes_finished == r1->writes_finished);
		for (uint64_t i = 0; i < c->nw; i++) {
			uint64_t w = *word_in(c, slab, i), len;
			struct kv_block_view v;

			if (!named(c, w))
				continue;
			len = kv_block_read_len(&c->g, w);
			len = len < cap ? len : cap;
			memcpy(buf, slab + kv_block_off(&c->g, w), len);
			FUZZ_CHECK(kv_block_check(buf, len, w, &c->g, NULL, 0, &v) == KV_BLOCK_OK);
		}
	}
	kv_alloc_free(&a);
	free(buf);
	free(slab);
}

/* ---- phase 2: honest clients and the sweep --------------------------------- */

static void on_fence(void *ctx, uint16_t owner, enum kv_fence_why why)
{
	struct ctx *c = ctx;

	(void)why;
	FUZZ_CHECK(owner >= 1 && owner <= OWNERS && c->live[owner]);
	c->live[owner] = false; /* its grants go with it (the sweep seals them) */
	memset(c->grants[owner], 0, sizeof(c->grants[owner]));
	c->quiet = false;
}

static void check_grant(struct ctx *c, uint16_t o, const struct kv_extent *e, uint64_t need)
{
	uint64_t g0 = e->off / KV_GRANULE, n = e->len / KV_GRANULE;

	FUZZ_CHECK(e->off % KV_GRANULE == 0 && e->len % KV_GRANULE == 0);
	FUZZ_CHECK(e->len >= need && e->len > 0);
	FUZZ_CHECK(g0 < c->ngran && n <= c->ngran - g0);
	for (uint64_t i = 0; i < c->nw; i++) {
		uint64_t w = *wordp(c, i), span;

		if (!named(c, w))
			continue;
		span = kv_block_span(c->slab, &c->g, w);
		FUZZ_CHECK(kv_word_gran(w) + span <= g0 || kv_word_gran(w) >= g0 + n);
	}
	for (unsigned id = 1; id <= OWNERS; id++)
		for (unsigned k = 0; k < KV_OWNER_GRANTS; k++) {
			const struct grant *x = &c->grants[id][k];

			if (x->len)
				FUZZ_CHECK(x->off + x->len <= g0 || x->off >= g0 + n);
		}
	for (unsigned k = 0; k < KV_OWNER_GRANTS; k++)
		if (!c->grants[o][k].len) {
			c->grants[o][k] = (struct grant){g0, n, 0};
			return;
		}
	FUZZ_CHECK(0); /* the sweep gave more open grants than it allows */
}

/* An honest write by live owner @o: a block in one of its grants, published
 * at word @idx (an insert if the word is empty, else a replacement), whole
 * or with the writer dead between publishing and committing. */
static void honest_put(struct ctx *c, uint16_t o, uint64_t idx, uint8_t how)
{
	struct grant *gr = NULL;
	uint8_t key[64], val[64];
	size_t klen = 1 + how % 16, vlen = how & 0x40 ? 0 : (size_t)(how >> 2) % 48;
	uint64_t n, old = *wordp(c, idx), prev, w;
	unsigned state = how & 0x80 ? 0 : 1;

	if (klen > c->g.max_key)
		klen = c->g.max_key;
	if (vlen > c->g.max_value)
		vlen = c->g.max_value;
	n = kv_block_granules(klen, vlen);
	for (unsigned k = 0; k < KV_OWNER_GRANTS && !gr; k++)
		if (c->grants[o][k].len && c->grants[o][k].len - c->grants[o][k].used >= n)
			gr = &c->grants[o][k];
	if (!gr || (old && kv_word_kind(old) != KV_WORD_BLOCK))
		return;
	fz_bytes(&c->f, key, klen);
	fz_bytes(&c->f, val, vlen);
	prev = old;
	w = put_block(c, gr->off + gr->used, how, kv_len_code(n), 0,
		      how & 0x40 ? KV_BLOCK_TOMBSTONE : 0, prev, key, klen, val, vlen);
	gr->used += n;
	if (kv_slab_cas((uint8_t *)wordp(c, idx), old, w) && state)
		(void)kv_block_finish(c->slab, &c->g, w, prev); /* else it died there */
}

static void phase2_op(struct ctx *c, uint64_t *now)
{
	struct fz *f = &c->f;
	uint8_t op = fz_u8(f);
	uint16_t o = (uint16_t)(1 + (op >> 4) % OWNERS);

	switch (op % 8) {
	case 0:
	case 1: { /* a sweep step */
		uint64_t passes = c->s.passes;
		bool quiet = c->quiet;

		*now += (uint64_t)fz_u16(f) * 100000;
		kv_sweep_step(&c->s, 1 + fz_u8(f), *now);
		if (c->s.passes != passes) {
			check_alloc(c);
			if (quiet && c->quiet)
				for (uint64_t i = 0; i < c->nw; i++) {
					uint64_t w = *wordp(c, i);

					if (kv_word_kind(w) == KV_WORD_CLAIM) {
						uint16_t own = kv_word_owner(w);

						FUZZ_CHECK(own >= 1 && own <= OWNERS && c->live[own]);
					}
				}
			c->quiet = true;
		}
		break;
	}
	case 2: /* an owner comes or goes */
		if (c->live[o]) {
			kv_sweep_owner_gone(&c->s, o);
			c->live[o] = false;
			memset(c->grants[o], 0, sizeof(c->grants[o]));
		} else if (kv_sweep_id_free(&c->s, o)) {
			kv_sweep_owner_live(&c->s, o);
			c->live[o] = true;
		}
		c->quiet = false;
		break;
	case 3: { /* a grant */
		struct kv_extent e;
		uint64_t need = 1 + fz_u16(f) % (c->g.data_len < 8192 ? c->g.data_len : 8192), largest;

		if (!c->live[o])
			break;
		if (!kv_sweep_grant(&c->s, o, need, &e, &largest))
			check_grant(c, o, &e, need);
		else
			FUZZ_CHECK(largest <= c->g.data_len);
		break;
	}
	case 4: /* a seal */
		for (unsigned k = 0; k < KV_OWNER_GRANTS; k++) {
			struct grant *x = &c->grants[o][k];
			struct kv_extent e = {x->off * KV_GRANULE, x->len * KV_GRANULE};

			if (x->len && c->live[o]) {
				if (!kv_sweep_seal(&c->s, o, &e))
					*x = (struct grant){0, 0, 0};
				break;
			}
		}
		break;
	case 5: { /* a write */
		uint64_t idx = fz_u16(f) % c->nw;
		uint8_t how = fz_u8(f);

		if (c->live[o])
			honest_put(c, o, idx, how);
		break;
	}
	case 6: { /* a claim taken on an empty word, or one of ours let go */
		uint64_t idx = fz_u16(f) % c->nw, w = *wordp(c, idx);

		if (!c->live[o])
			break;
		if (w == 0)
			*wordp(c, idx) = kv_word_claim(fz_u16(f), o);
		else if (kv_word_kind(w) == KV_WORD_CLAIM && kv_word_owner(w) == o)
			*wordp(c, idx) = 0;
		c->quiet = false;
		break;
	}
	default: /* time passes */
		*now += (uint64_t)fz_u32(f) * 1000;
		break;
	}
	if (c->ngran <= 4096) /* else at pass ends only: it walks the region */
		check_alloc(c);
}

/*
 * The sweep as kv_sweep_init leaves it. Its per-id tables (64 Ki ids, 6 MB)
 * cost more to allocate and free under ASan than a whole run here, so one
 * set serves every input: each run starts from this copy (every scalar as
 * kv_sweep_init sets it), with the table entries an input can write (ids
 * 0..OWNERS: the sweep writes per-id entries only for owners made live;
 * claims of other ids are only looked up) and the claim tables put back to
 * zero, and an allocator of its own. A per-id table added to struct
 * kv_sweep must be cleared here too.
 */
static struct kv_sweep sweep0;

static void sweep_start(struct ctx *c, uint64_t lease_ns)
{
	struct kv_sweep *s = &c->s;

	if (!sweep0.state) {
		struct kv_geometry g = {.data_len = 2 * KV_GRANULE};

		FUZZ_CHECK(kv_sweep_init(&sweep0, NULL, &g, 0, NULL, NULL) == 0);
		sweep0.g = NULL;
	}
	*s = sweep0;
	for (unsigned id = 0; id <= OWNERS; id++) {
		s->state[id] = KV_OWNER_FREE;
		s->gone_at[id] = 0;
		memset(s->grants[id], 0, sizeof(s->grants[id]));
		s->progress_ns[id] = 0;
		s->refused_at[id] = 0;
		s->refused_freed[id] = 0;
	}
	memset(s->track, 0, KV_SWEEP_TRACK * sizeof(*s->track));
	memset(s->unc, 0, KV_SWEEP_TRACK * sizeof(*s->unc));
	s->slab = c->slab;
	s->g = &c->g;
	s->lease_ns = lease_ns;
	s->fence = on_fence;
	s->fence_ctx = c;
	FUZZ_CHECK(kv_alloc_init(&s->alloc, c->ngran) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c;
	struct pre p;
	struct kv_recover_report r;
	char err[160];
	unsigned n1;
	uint64_t tail, now = 1000000000ull;
	uint8_t pad, *pre_slab;
	size_t mem;

	memset(&c, 0, sizeof(c));
	c.f = (struct fz){data, size};
	c.g.nbuckets = 2 + fz_u8(&c.f) % 31;
	c.g.index_off = KV_BUCKET_BYTES * (fz_u8(&c.f) % 4);
	pad = fz_u8(&c.f);
	c.g.data_off = c.g.index_off + (uint64_t)c.g.nbuckets * KV_BUCKET_BYTES +
		       KV_GRANULE * (pad % 4);
	/* A region of up to 2 K granules, or with pad bit 7 up to 64 Ki (more
	 * than 4 Ki makes kv_recover's ranges more than a granule wide). */
	c.ngran = 2 + (pad & 0x80 ? fz_u16(&c.f) : fz_u16(&c.f) % 2047);
	c.g.data_len = c.ngran * KV_GRANULE;
	c.g.max_key = 1 + fz_u8(&c.f) % KV_KEY_LIMIT;
	c.g.max_value = fz_u16(&c.f);
	c.g.hash_seed = fz_u64(&c.f);
	tail = KV_GRANULE * (fz_u8(&c.f) % 4);
	c.slab_len = c.g.data_off + c.g.data_len + tail;
	c.nw = kv_nwords(&c.g);
	FUZZ_CHECK(kv_geometry_check(&c.g, c.slab_len, err, sizeof(err)) == 0);
	c.slab = calloc(1, c.slab_len);
	if (!c.slab)
		abort();

	n1 = fz_u8(&c.f);
	for (unsigned i = 0; i < n1 && c.f.n; i++)
		phase1_op(&c);

	sweep_start(&c, (uint64_t)fz_u16(&c.f) * 1000000);
	mem = 16 * (1 + (size_t)fz_u8(&c.f)); /* a few words: many groups */
	survey(&c, &p);
	pre_slab = fz_dup(c.slab, c.slab_len);
	FUZZ_CHECK(kv_recover(c.slab, &c.g, &c.s.alloc, &r) == 0);
	check_recovered(&c, &p, &r);
	check_mem(&c, pre_slab, &r, mem);
	check_drop_bad(&c, pre_slab, &p, &r);
	free(pre_slab);
	if (p.disjoint)
		check_again(&c, &r);

	for (unsigned i = 0; i < MAX_OPS && c.f.n; i++)
		phase2_op(&c, &now);

	kv_alloc_free(&c.s.alloc); /* the rest is sweep0's */
	free(c.slab);
	return 0;
}
