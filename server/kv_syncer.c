/* kv_syncer.c - a store file's changed pages to disk (kv_syncer.h). */
#include "kv_syncer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "kv_base.h"
#include "kv_file.h"

static uint64_t kv__page_hash(const struct kv_syncer *sy, size_t i)
{
	size_t len = sy->slab->map_len - i * sy->page;

	return XXH3_64bits(sy->slab->map + i * sy->page, len < sy->page ? len : sy->page);
}

/*
 * A write to the page's first word that changes nothing: a locked add of 0,
 * in assembly, because a compiler may turn __atomic_fetch_add(p, 0) into a
 * fence and a load (clang does), which would not make the page dirty. On
 * other machines, a compare-and-swap of the word with itself.
 */
static void kv__touch(uint8_t *p)
{
#if defined(__x86_64__)
	__asm__ __volatile__("lock addq $0, %0" : "+m"(*(uint64_t *)(void *)p) : : "memory");
#else
	uint64_t v = __atomic_load_n((uint64_t *)(void *)p, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n((uint64_t *)(void *)p, &v, v, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
#endif
}

int kv_syncer_init(struct kv_syncer *sy, struct kv_slab *slab, uint32_t interval_ms)
{
	long ps = sysconf(_SC_PAGESIZE);

	memset(sy, 0, sizeof(*sy));
	sy->slab = slab;
	sy->interval_ms = interval_ms;
	sy->page = ps > 0 ? (size_t)ps : 4096;
	sy->npages = (slab->map_len + sy->page - 1) / sy->page;
	sy->hash = calloc(sy->npages ? sy->npages : 1, sizeof(*sy->hash));
	if (!sy->hash)
		return -ENOMEM;
	/* The baseline, while nothing but this thread can change the slab
	 * (before it is registered with a device): a page that differs from
	 * it later was written since, by the device or by the server. */
	for (size_t i = 0; i < sy->npages; i++)
		sy->hash[i] = kv__page_hash(sy, i);
	pthread_mutex_init(&sy->mu, NULL);
	pthread_mutex_init(&sy->copy_mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* not the wall clock */
		pthread_cond_init(&sy->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	return 0;
}

int kv_syncer_snap_init(struct kv_syncer *sy, int fd, const struct kv_geometry *g,
			uint64_t slab_len, int newest, uint64_t seq, uint64_t generation)
{
	sy->fd = fd;
	sy->index = sy->slab->base + g->index_off;
	sy->index_bytes = kv_file_index_bytes(g);
	for (unsigned k = 0; k < 2; k++) {
		sy->slot_off[k] = kv_file_slot_off(slab_len, g, k);
		sy->snap[k] = calloc(1, sy->index_bytes);
		if (!sy->snap[k])
			return -ENOMEM;
	}
	sy->newest = newest;
	sy->seq = seq;
	sy->generation = generation;
	return 0;
}

/* Copy the live index into the older slot's buffer, word by word: each word
 * as it was at one instant (the words are 8-byte aligned; the device and the
 * sweep change them with 8-byte atomics). */
static unsigned kv__snap_copy(struct kv_syncer *sy, bool *changed)
{
	unsigned k = sy->newest == 0 ? 1 : 0;
	const uint64_t *from = (const uint64_t *)(const void *)sy->index;
	const uint64_t *newest = sy->newest >= 0 ? sy->snap[sy->newest] : NULL;
	uint64_t *to = sy->snap[k], diff = newest ? 0 : 1;

	/* The sweep's walk waits meanwhile (kv_sweep.copy_mu): it sees the
	 * copy before or after, whole, and no key moves while it is taken. */
	pthread_mutex_lock(&sy->copy_mu);
	for (uint64_t i = 0; i < sy->index_bytes / 8; i++) {
		uint64_t v = __atomic_load_n(&from[i], __ATOMIC_RELAXED);

		__atomic_store_n(&to[i], v, __ATOMIC_RELAXED);
		if (newest)
			diff |= v ^ newest[i];
	}
	pthread_mutex_unlock(&sy->copy_mu); /* a release: the pages hashed after see it */
	*changed = diff != 0;
	return k;
}

/* The copy in buffer @k to slot @k, synced, then its header, synced. */
static int kv__snap_write(struct kv_syncer *sy, unsigned k)
{
	uint8_t page[KV_SLOT_HDR];
	int ret;

	if ((ret = kv_fd_io(sy->fd, true, sy->snap[k], sy->index_bytes,
				  sy->slot_off[k] + KV_SLOT_HDR)) ||
	    (fdatasync(sy->fd) && (ret = -errno)))
		return ret;
	kv_file_slot_encode(page, sy->seq + 1, sy->generation, (const uint8_t *)sy->snap[k],
			    sy->index_bytes);
	if ((ret = kv_fd_io(sy->fd, true, page, KV_SLOT_HDR, sy->slot_off[k])) ||
	    (fdatasync(sy->fd) && (ret = -errno))) {
		/* The header may be on disk or not: slot k may be the newest
		 * valid one, or the other still is. Keep both copies as they
		 * are, and their blocks, for the rest of this run. */
		pthread_mutex_lock(&sy->mu);
		sy->stuck = true;
		pthread_mutex_unlock(&sy->mu);
		return ret;
	}
	pthread_mutex_lock(&sy->mu);
	sy->seq++;
	sy->newest = (int)k;
	pthread_mutex_unlock(&sy->mu);
	return 0;
}

static void kv__snap_done(struct kv_syncer *sy, int ret)
{
	pthread_mutex_lock(&sy->mu);
	if (ret)
		sy->snap_errors++;
	else
		sy->snapshots++;
	pthread_mutex_unlock(&sy->mu);
	if (ret && sy->stuck)
		fprintf(stderr, "kvserver: writing a snapshot slot's header: %s; either slot "
			"may now be the newest on disk, so both stay as they are and no more "
			"snapshots are taken until kvserver starts again\n", strerror(-ret));
	else if (ret)
		fprintf(stderr, "kvserver: writing a snapshot of the index: %s; the last one "
			"stays the one a power loss comes back to\n", strerror(-ret));
}

int kv_syncer_snapshot_now(struct kv_syncer *sy)
{
	unsigned k;
	int ret;

	if (!sy->snap[0] || sy->stuck)
		return sy->stuck ? -EIO : 0;
	k = kv__snap_copy(sy, &(bool){false});
	ret = msync(sy->slab->map, sy->slab->map_len, MS_SYNC) ? -errno : kv__snap_write(sy, k);
	kv__snap_done(sy, ret);
	return ret;
}

int kv_slots_invalidate(int fd, uint64_t slab_len, const struct kv_geometry *g)
{
	uint8_t page[KV_SLOT_HDR];
	int ret;

	memset(page, 0, sizeof(page));
	for (unsigned k = 0; k < 2; k++)
		if ((ret = kv_fd_io(fd, true, page, sizeof(page), kv_file_slot_off(slab_len, g, k))))
			return ret;
	return fdatasync(fd) ? -errno : 0;
}

int kv_syncer_pass(struct kv_syncer *sy)
{
	uint64_t t0 = kv_now_ns(), dirtied = 0, dt;
	int snap = -1, ret = 0;
	bool changed = true;

	if (!sy->slab || !sy->slab->map)
		return 0;
	/* The copy first: every block it names was written before its word
	 * was copied, so before its page is hashed below. */
	if (sy->snap[0] && !sy->stuck)
		snap = (int)kv__snap_copy(sy, &changed);
	for (size_t i = 0; i < sy->npages; i++) {
		uint64_t h = kv__page_hash(sy, i);

		if (h == sy->hash[i] && !sy->first)
			continue;
		sy->hash[i] = h;
		/* Marks the page dirty (a write fault on a page written back and
		 * write-protected since). */
		kv__touch(sy->slab->map + i * sy->page);
		dirtied++;
	}
	sy->first = false;
	if (msync(sy->slab->map, sy->slab->map_len, MS_SYNC)) {
		ret = -errno;
		/* The kernel marks pages that failed to write clean and does not
		 * try them again: the next pass must dirty every page. */
		sy->first = true;
		fprintf(stderr, "kvserver: syncing the store file: %s; every page will be "
			"written again\n", strerror(-ret));
	}
	/* An index that did not change since the newest slot needs no new one
	 * (an idle store writes nothing). */
	if (snap >= 0 && !changed)
		snap = -1;
	if (snap >= 0) {
		int sret = ret ? ret : kv__snap_write(sy, (unsigned)snap);

		kv__snap_done(sy, sret);
		if (!ret)
			ret = sret;
	}
	dt = kv_now_ns() - t0;
	pthread_mutex_lock(&sy->mu);
	sy->passes++;
	sy->pages_dirtied += dirtied;
	sy->last_ns = dt;
	if (dt > sy->max_ns)
		sy->max_ns = dt;
	if (ret) {
		sy->errors++;
		sy->last_err = ret;
	}
	pthread_mutex_unlock(&sy->mu);
	return ret;
}

static void *kv__syncer_main(void *arg)
{
	struct kv_syncer *sy = arg;

	pthread_mutex_lock(&sy->mu);
	while (!sy->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += sy->interval_ms / 1000;
		ts.tv_nsec += (long)(sy->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!sy->stop && pthread_cond_timedwait(&sy->cv, &sy->mu, &ts) != ETIMEDOUT)
			;
		if (sy->stop)
			break;
		pthread_mutex_unlock(&sy->mu);
		kv_syncer_pass(sy);
		pthread_mutex_lock(&sy->mu);
	}
	pthread_mutex_unlock(&sy->mu);
	return NULL;
}

int kv_syncer_start(struct kv_syncer *sy)
{
	int ret;

	sigset_t all, old;

	if (!sy->interval_ms || !sy->slab->map)
		return 0;
	/* Signals are the event loop's (signalfd): the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&sy->thread, NULL, kv__syncer_main, sy);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	sy->running = true;
	return 0;
}

void kv_syncer_stop(struct kv_syncer *sy)
{
	if (!sy->running)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->stop = true;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	pthread_join(sy->thread, NULL);
	sy->running = false;
}

void kv_syncer_free(struct kv_syncer *sy)
{
	if (!sy->hash)
		return;
	kv_syncer_stop(sy);
	free(sy->hash);
	sy->hash = NULL;
	pthread_mutex_destroy(&sy->copy_mu);
	free(sy->snap[0]);
	free(sy->snap[1]);
	sy->snap[0] = sy->snap[1] = NULL;
	pthread_mutex_destroy(&sy->mu);
	pthread_cond_destroy(&sy->cv);
}

void kv_syncer_stats(struct kv_syncer *sy, struct kv_syncer_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!sy->hash)
		return;
	pthread_mutex_lock(&sy->mu);
	st->passes = sy->passes;
	st->pages_dirtied = sy->pages_dirtied;
	st->errors = sy->errors;
	st->snapshots = sy->snapshots;
	st->snap_errors = sy->snap_errors;
	st->seq = sy->seq;
	st->snap_stuck = sy->stuck;
	st->last_ms = (double)sy->last_ns / 1e6;
	st->max_ms = (double)sy->max_ns / 1e6;
	pthread_mutex_unlock(&sy->mu);
}
