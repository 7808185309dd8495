/* kv_server.c - kvserver's event loop: devices, the sweep, signals, stats. */
#include "kv_server_int.h"

#include <errno.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "kv_base.h"
#include "kv_index.h"
#include "kv_file.h"
#include "kv_recover.h"

#define KV_EP_CM 0
#define KV_EP_SIGNAL 1
#define KV_EP_TIMER 2
#define KV_EP_DEV 3 /* + device index */
#define KV_EP_ASYNC (1ull << 32) /* + device index: its async events */

/* Stats count the index words when asked up to this many (about 1.5 ms on
 * the project's host); beyond, the sweep's last pass is the count. */
#define KV_CENSUS_NOW_MAX (1ull << 20)

__attribute__((format(printf, 1, 0)))
static void kv__vsay(const char *fmt, va_list ap)
{
	fputs("kvserver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* A log line about a connection; -q silences these. */
void kv__srv_log(const struct kv_server *s, const char *fmt, ...)
{
	va_list ap;

	if (s && s->opts.quiet)
		return;
	va_start(ap, fmt);
	kv__vsay(fmt, ap);
	va_end(ap);
}

/* An error line, always printed. */
void kv__srv_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kv__vsay(fmt, ap);
	va_end(ap);
}

/* ---- devices ------------------------------------------------------------- */

static int kv__epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int kv__dev_open(struct kv_server *s, struct kv__dev *d,
			struct ibv_context *verbs, int index)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
	int ret;

	d->verbs = verbs;
	if ((ret = ibv_query_device(verbs, &d->attr))) {
		kv__srv_err("ibv_query_device(%s): %s", ibv_get_device_name(verbs->device),
			strerror(ret));
		return -ret;
	}
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd) {
		ret = -errno;
		kv__srv_err("ibv_alloc_pd: %s", strerror(errno));
		return ret;
	}
	d->slab_mr = ibv_reg_mr(d->pd, s->slab.base, s->slab.len, access);
	if (!d->slab_mr) {
		ret = -errno;
		kv__srv_err("registering the %zu-byte slab on %s: %s (is `ulimit -l` large enough?)",
			s->slab.len, ibv_get_device_name(verbs->device), strerror(errno));
		goto out_dealloc_pd;
	}
	/* ro users get the rkey of a second registration that allows READ
	 * alone: their queue pair's rights are one lock, the key another (a
	 * new queue pair holds rdma_accept's rights for a moment before the
	 * server takes them: docs/security.md). */
	if (s->auth.n) {
		d->slab_mr_ro = ibv_reg_mr(d->pd, s->slab.base, s->slab.len,
					   IBV_ACCESS_REMOTE_READ);
		if (!d->slab_mr_ro) {
			ret = -errno;
			kv__srv_err("registering the %zu-byte slab read-only on %s: %s",
				    s->slab.len, ibv_get_device_name(verbs->device), strerror(errno));
			goto out_dereg_mr;
		}
	}
	d->channel = ibv_create_comp_channel(verbs);
	if (!d->channel) {
		ret = -errno;
		kv__srv_err("ibv_create_comp_channel: %s", strerror(errno));
		goto out_dereg_mr;
	}
	ret = kv__epoll_add(s->epfd, d->channel->fd, KV_EP_DEV + (uint64_t)index);
	if (!ret)
		ret = kv__epoll_add(s->epfd, verbs->async_fd, KV_EP_ASYNC + (uint64_t)index);
	if (ret) {
		kv__srv_err("epoll: %s", strerror(-ret));
		goto out_destroy_channel;
	}
	return 0;

out_destroy_channel:
	ibv_destroy_comp_channel(d->channel);
	d->channel = NULL;
out_dereg_mr:
	if (d->slab_mr_ro)
		ibv_dereg_mr(d->slab_mr_ro);
	d->slab_mr_ro = NULL;
	ibv_dereg_mr(d->slab_mr);
	d->slab_mr = NULL;
out_dealloc_pd:
	ibv_dealloc_pd(d->pd);
	d->pd = NULL;
	return ret;
}

static void kv__dev_close(struct kv__dev *d)
{
	if (d->channel)
		ibv_destroy_comp_channel(d->channel);
	if (d->slab_mr_ro)
		ibv_dereg_mr(d->slab_mr_ro);
	if (d->slab_mr)
		ibv_dereg_mr(d->slab_mr);
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	memset(d, 0, sizeof(*d));
}

/* Register the slab on the listening id's device, or on every device. */
static int kv__devs_open(struct kv_server *s)
{
	struct ibv_context *single[1];
	struct ibv_context **list = single;
	int n = 1, ret;

	if (s->listen_id->verbs) {
		single[0] = s->listen_id->verbs;
	} else {
		s->dev_list = rdma_get_devices(&n);
		list = s->dev_list;
		if (!list || n == 0) {
			kv__srv_err("no RDMA device found (ibv_devices lists none; load rdma_rxe or siw, see docs/running.md)");
			return -ENODEV;
		}
	}
	s->devs = calloc((size_t)n, sizeof(*s->devs));
	if (!s->devs)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if ((ret = kv__dev_open(s, &s->devs[i], list[i], i)))
			return ret;
		s->ndevs = i + 1;
	}
	return 0;
}

struct kv__dev *kv__dev_of(struct kv_server *s, struct ibv_context *verbs)
{
	for (int i = 0; i < s->ndevs; i++)
		if (s->devs[i].verbs == verbs)
			return &s->devs[i];
	return NULL;
}

/* ---- the sweep ----------------------------------------------------------- */

/*
 * The sweep (kv_sweep.c) makes one pass per lease, a bounded step per timer
 * tick: a pass walks every index word, then every word of the allocator's
 * bitmaps (64 granules each). So a claim held past its lease is broken within
 * about two leases, space given up comes back within about two leases, and a
 * big slab never stalls the loop. While a client that went away may still
 * hold claims, it ticks every millisecond with a larger step, so that its
 * claims and grants come back within a few passes' time.
 */
#define KV_TICK_MAX_NS 100000000ull /* 100 ms */
#define KV_TICK_FAST_NS 1000000ull  /* 1 ms */
#define KV_STEP_FAST 65536ull       /* units (words) a fast tick does, at least */
#define KV_STEP_MIN 1024ull

/* Units of work in one pass: index words, then bitmap words. */
static uint64_t kv__pass_units(const struct kv_server *s)
{
	return kv_nwords(&s->geo) + (kv_data_granules(&s->geo) + 63) / 64;
}

static uint64_t kv__tick_ns(const struct kv_server *s)
{
	uint64_t t = (uint64_t)s->opts.lease_ms * 100000ull; /* a tenth of it */

	if (kv_sweep_pending(&s->sweep))
		return KV_TICK_FAST_NS;
	return t < KV_TICK_FAST_NS ? KV_TICK_FAST_NS : t > KV_TICK_MAX_NS ? KV_TICK_MAX_NS : t;
}

static int kv__timer_arm(struct kv_server *s, uint64_t ns)
{
	struct timespec t = {.tv_sec = (time_t)(ns / 1000000000ull),
			     .tv_nsec = (long)(ns % 1000000000ull)};
	struct itimerspec its = {.it_interval = t, .it_value = t};

	if (ns == s->tick_ns)
		return 0;
	if (timerfd_settime(s->timerfd, 0, &its, NULL))
		return -errno;
	s->tick_ns = ns;
	return 0;
}

void kv__sweep_hurry(struct kv_server *s)
{
	if (kv__timer_arm(s, KV_TICK_FAST_NS))
		kv__srv_err("timerfd_settime: %s", strerror(errno));
}

static void kv__on_timer(struct kv_server *s)
{
	uint64_t ticks, n = kv__pass_units(s), step;
	unsigned released;

	if (read(s->timerfd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return; /* spurious wakeup */
	if (kv_sweep_pending(&s->sweep)) { /* a pass in 100 fast ticks at most */
		step = n / 100 + 1;
		step = step < KV_STEP_FAST ? KV_STEP_FAST : step;
	} else { /* a pass per lease */
		step = n / (s->opts.lease_ms * 1000000ull / s->tick_ns) + 1;
		step = step < KV_STEP_MIN ? KV_STEP_MIN : step;
	}
	released = kv_sweep_step(&s->sweep, step < n ? step : n, kv_now_ns());
	kv__keepalive(s, kv_now_ns());
	if (s->relisten)
		kv__relisten(s);
	if (released)
		kv__srv_log(s, "released %u insert claim(s) of clients that are gone", released);
	if (kv__timer_arm(s, kv__tick_ns(s)))
		kv__srv_err("timerfd_settime: %s", strerror(errno));
}

static int kv__hash_seed(uint64_t *seed)
{
	do {
		ssize_t n = getrandom(seed, sizeof(*seed), 0);

		if (n != (ssize_t)sizeof(*seed))
			return n < 0 ? -errno : -EIO;
	} while (!*seed);
	return 0;
}

static void kv__print_stats(struct kv_server *s)
{
	struct kv_server_stats st;
	char *json;

	kv_server_get_stats(s, &st);
	json = kv_stats_to_json(&st);
	if (json) {
		printf("%s\n", json);
		fflush(stdout);
	}
	free(json);
}

static void kv__on_signal(struct kv_server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			kv__print_stats(s);
		} else {
			kv__srv_log(s, "got %s; shutting down", strsignal((int)si.ssi_signo));
			s->stop = true;
		}
	}
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Create the listening id, bind it to -a's address and listen. */
static int kv__listen(struct kv_server *s, bool say)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	char port[8], host[NI_MAXHOST];
	int ret;

	if (rdma_create_id(s->ec, &s->listen_id, NULL, RDMA_PS_TCP)) {
		ret = -errno;
		if (say)
			kv__srv_err("rdma_create_id: %s", strerror(errno));
		return ret;
	}
	snprintf(port, sizeof(port), "%u", s->opts.port);
	if (!s->opts.addr)
		hints.ai_family = AF_INET;
	ret = getaddrinfo(s->opts.addr, port, &hints, &res);
	if (ret) {
		if (say)
			kv__srv_err("address %s: %s", s->opts.addr, gai_strerror(ret));
		return -EINVAL;
	}
	ret = rdma_bind_addr(s->listen_id, res->ai_addr);
	if (!ret)
		ret = rdma_listen(s->listen_id, 128);
	if (ret) {
		ret = -errno;
		if (say)
			kv__srv_err("listening on %s:%s: %s",
				    s->opts.addr ? s->opts.addr : "0.0.0.0", port, strerror(errno));
	}
	if (!ret && getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host),
				NULL, 0, NI_NUMERICHOST))
		snprintf(host, sizeof(host), "%s", s->opts.addr);
	freeaddrinfo(res);
	if (!ret)
		snprintf(s->where, sizeof(s->where), "%s:%s", host, port);
	return ret;
}

/*
 * The port went down and came back, or the address moved: a listener bound
 * before that no longer gets connection requests (seen on rxe after a link
 * flap), so make a new one. If that fails (the address is not back yet),
 * the sweep's timer tries again every tick.
 */
void kv__relisten(struct kv_server *s)
{
	if (s->listen_id) {
		rdma_destroy_id(s->listen_id);
		s->listen_id = NULL;
	}
	/* The first failure is said; the retries, every tick, are not. */
	if (kv__listen(s, !s->relisten)) {
		if (s->listen_id) {
			rdma_destroy_id(s->listen_id);
			s->listen_id = NULL;
		}
		s->relisten = true;
		return;
	}
	if (s->listen_id->verbs && !kv__dev_of(s, s->listen_id->verbs)) {
		if (!s->relisten)
			kv__srv_err("%s is now on a device the slab is not registered with; "
				    "trying again", s->where);
		s->relisten = true; /* the address may come back where it was */
		return;
	}
	s->relisten = false;
	fprintf(stderr, "kvserver: listening again on %s\n", s->where);
}

static void kv__on_async(struct kv_server *s, struct kv__dev *d)
{
	struct ibv_async_event ev;

	while (ibv_get_async_event(d->verbs, &ev) == 0) {
		enum ibv_event_type type = ev.event_type;

		ibv_ack_async_event(&ev);
		kv__srv_log(s, "%s: %s", ibv_get_device_name(d->verbs->device),
			    ibv_event_type_str(type));
		/* A work request posted while the port is down left rxe's
		 * port deaf to new connections after it came back (seen in
		 * the VM): no keepalive goes out on a port that is down. */
		if (type == IBV_EVENT_PORT_ERR)
			d->port_down = true;
		if (type == IBV_EVENT_PORT_ACTIVE) {
			d->port_down = false;
			kv__relisten(s);
		}
	}
}

static int kv__signals(struct kv_server *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return -errno;
	return kv__epoll_add(s->epfd, s->sigfd, KV_EP_SIGNAL);
}

/*
 * The kernel's boot id (16 bytes from its UUID): a store found unclean under
 * another one went through a crash of the machine (a power loss), not only
 * of kvserver, so its page cache is gone and the disk holds pages of
 * different ages. KVSERVER_BOOT_ID (testing only: a UUID) stands in for it,
 * so that a test can play the reboot. 0, or -ENOENT (all zero in @id).
 */
static int kv__boot_id(uint8_t id[16])
{
	const char *env = getenv("KVSERVER_BOOT_ID");
	char text[64] = "";
	unsigned n = 0;

	memset(id, 0, 16);
	if (env && *env) {
		snprintf(text, sizeof(text), "%s", env);
	} else {
		int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
		ssize_t got = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (got <= 0)
			return -ENOENT;
		text[got] = 0;
	}
	for (const char *p = text; *p && n < 32; p++) {
		int v = *p >= '0' && *p <= '9' ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;

		if (v < 0)
			continue; /* the dashes, the newline */
		id[n / 2] = (uint8_t)(id[n / 2] << 4 | v);
		n++;
	}
	if (n != 32) {
		memset(id, 0, 16);
		return -ENOENT;
	}
	return 0;
}

static bool kv__zero16(const uint8_t *b)
{
	for (unsigned i = 0; i < 16; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Find the newest valid snapshot slot of the store file: its number and
 * sequence in s->snap_newest / s->snap_seq (-1 and the highest sequence
 * seen, 0 if none), its copy of the index in *copy (malloc'd; NULL if
 * none). 0 or -errno.
 */
static int kv__read_slots(struct kv_server *s, uint8_t **copy)
{
	uint64_t len = kv_file_index_bytes(&s->geo);
	uint8_t page[KV_SLOT_HDR], *buf[2] = {malloc(len), malloc(len)};
	int ret = 0;

	*copy = NULL;
	s->snap_newest = -1;
	s->snap_seq = 0;
	if (!buf[0] || !buf[1]) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned k = 0; k < 2; k++) {
		uint64_t off = kv_file_slot_off(s->slab.len, &s->geo, k), seq, gen;

		if ((ret = kv_fd_io(s->slab.fd, false, page, sizeof(page), off)) ||
		    (ret = kv_fd_io(s->slab.fd, false, buf[k], len, off + KV_SLOT_HDR)))
			goto out;
		if (!kv_file_slot_decode(page, sizeof(page), buf[k], len, &seq, &gen))
			continue;
		if (s->snap_newest < 0 || seq > s->snap_seq) {
			s->snap_newest = (int)k;
			s->snap_seq = seq;
		}
	}
	if (s->snap_newest >= 0) {
		*copy = buf[s->snap_newest];
		buf[s->snap_newest] = NULL;
	}
out:
	free(buf[0]);
	free(buf[1]);
	return ret;
}

/*
 * A store found unclean under another boot id: the machine went down with
 * it (a power loss). Its index pages and data pages reached the disk in no
 * order, so the index comes from the newest valid snapshot instead, whose
 * blocks are all on disk: the writes of the last interval are lost, and no
 * key is lost whole. Without a valid snapshot, the index as found, with the
 * words whose blocks do not validate dropped (kv_recover_opt).
 */
static int kv__power_loss(struct kv_server *s)
{
	uint8_t *copy;
	uint64_t n;
	int ret = kv__read_slots(s, &copy);

	if (ret) {
		kv__srv_err("reading the snapshots of %s: %s", s->opts.file, strerror(-ret));
		return ret;
	}
	if (!copy) {
		kv__srv_err("%s: stopped by a crash of the machine (another boot id), and no "
			    "valid snapshot of its index: opening it as found", s->opts.file);
		return 0;
	}
	n = kv_recover_snapshot(s->slab.base, &s->geo, copy);
	free(copy);
	kv__srv_err("%s: stopped by a crash of the machine (another boot id): its index is "
		    "snapshot %" PRIu64 " from slot %d (writes after it are lost; %" PRIu64
		    " blocks a lost write had retired are current again)",
		    s->opts.file, s->snap_seq, s->snap_newest, n);
	return 0;
}

/*
 * A store file just opened or created: recover what a dead server left
 * (kv_recover: claims, unfinished writes, tombstones, the allocator rebuilt
 * from the index), then mark the header as in use by this run.
 */
static int kv__open_store(struct kv_server *s, bool created)
{
	struct kv_recover_report rep;
	uint64_t t0 = kv_now_ns();
	uint8_t boot[16];
	bool have_boot = kv__boot_id(boot) == 0;
	int ret;

	s->snap_newest = -1;
	s->snap_seq = 0;
	if (!created) {
		uint8_t *copy = NULL;

		if (!s->fhdr.clean && have_boot && !kv__zero16(s->fhdr.boot_id) &&
		    memcmp(boot, s->fhdr.boot_id, 16)) {
			if ((ret = kv__power_loss(s)))
				return ret;
		} else if ((ret = kv__read_slots(s, &copy))) { /* the sequence to go on from */
			kv__srv_err("reading the snapshots of %s: %s", s->opts.file, strerror(-ret));
			return ret;
		}
		free(copy);
		if ((ret = kv_recover_opt(s->slab.base, &s->geo, &s->sweep.alloc, &rep, 0,
					  !s->fhdr.clean))) {
			kv__srv_err("recovering %s: out of memory", s->opts.file);
			return ret;
		}
		kv__srv_log(s, "opened %s (generation %" PRIu64 ", %s stop): %" PRIu64
			    " items, %" PRIu64 " claims cleared, %" PRIu64 " writes finished, %"
			    PRIu64 " garbage words, %" PRIu64 " bad blocks, in %.1f ms",
			    s->opts.file, s->fhdr.generation, s->fhdr.clean ? "clean" : "unclean",
			    rep.items, rep.claims_cleared, rep.writes_finished,
			    rep.bad_words, rep.bad_blocks, (double)(kv_now_ns() - t0) / 1e6);
		if (rep.bad_dropped)
			kv__srv_err("%s: %" PRIu64 " keys lost: their words named blocks that do not "
				    "validate (after an unclean stop: a power loss can leave an "
				    "index page newer than its data); their words are cleared",
				    s->opts.file, rep.bad_dropped);
	} else {
		kv__srv_log(s, "created %s: %zu bytes", s->opts.file, s->slab.len);
	}
	s->fhdr.generation = created ? 1 : s->fhdr.generation + 1;
	s->fhdr.slab_len = s->slab.len;
	s->fhdr.geo = s->geo;
	s->fhdr.clean = 0;
	memcpy(s->fhdr.boot_id, boot, sizeof(boot));
	if ((ret = kv_slab_write_header(&s->slab, &s->fhdr)))
		kv__srv_err("writing the header of %s: %s", s->opts.file, strerror(-ret));
	return ret;
}

int kv_server_create(struct kv_server **out, const struct kv_server_opts *o)
{
	struct kv_server *s = calloc(1, sizeof(*s));
	bool created = false;
	char err[256];
	uint64_t seed;
	int ret;

	if (!s)
		return -ENOMEM;
	s->opts = *o;
	s->epfd = s->sigfd = s->timerfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	if (o->auth_file) {
		ret = kv_auth_load(o->auth_file, &s->auth, err, sizeof(err));
		if (ret) {
			kv__srv_err("auth file %s: %s; refusing to start", o->auth_file, err);
			ret = -EKEYREJECTED; /* bad usage: exit 2 */
			goto fail;
		}
		/* The secrets are in this process's memory: no core dump of it,
		 * and no ptrace by other users. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	if (o->file) {
		ret = kv_slab_open_file(&s->slab, o->file, o->slab_size_given ? o->slab_size : 0,
					&s->fhdr, &created, err, sizeof(err));
		if (ret == -ENOENT && !o->slab_size_given) /* new: the default size */
			ret = kv_slab_open_file(&s->slab, o->file, o->slab_size, &s->fhdr,
						&created, err, sizeof(err));
		if (ret) {
			kv__srv_err("store file %s: %s%s", o->file, err,
				    ret == -EUCLEAN ? "; refused, left as it was" : "");
			goto fail;
		}
	} else {
		ret = kv_slab_alloc(&s->slab, o->slab_size);
		if (ret) {
			kv__srv_err("allocating a %" PRIu64 "-byte slab: %s", o->slab_size,
				    strerror(-ret));
			goto fail;
		}
	}
	if (o->file && !created) {
		s->geo = s->fhdr.geo; /* the store's own layout, limits and seed */
		/* Like -m: an option that disagrees with the store is refused,
		 * not silently ignored. */
		if ((o->max_key_given && o->max_key != s->geo.max_key) ||
		    (o->max_value_given && o->max_value != s->geo.max_value) ||
		    (o->index_size_given &&
		     o->index_size != (uint64_t)s->geo.nbuckets * KV_BUCKET_BYTES)) {
			kv__srv_err("store file %s: its -k %u, -v %u, -I %llu disagree with the "
				    "command line (leave them out); refused, left as it was",
				    o->file, s->geo.max_key, s->geo.max_value,
				    (unsigned long long)s->geo.nbuckets * KV_BUCKET_BYTES);
			ret = -EUCLEAN;
			goto fail;
		}
	} else {
		/* A secret seed per store: nobody can compute keys that collide. */
		if ((ret = kv__hash_seed(&seed))) {
			kv__srv_err("getrandom: %s", strerror(-ret));
			goto fail;
		}
		ret = kv_geometry_layout(s->slab.len, o->index_size, o->max_key, o->max_value,
					 seed, &s->geo, err, sizeof(err));
		if (ret) { /* kv_server_parse_args vetted it: bad usage all the same */
			kv__srv_err("%s", err);
			goto fail;
		}
		/* A new store file: room for its two snapshot slots, reserved now
		 * too (their size depends on the index's). */
		if (created && (ret = kv_slab_reserve(&s->slab, kv_file_len(s->slab.len, &s->geo)))) {
			kv__srv_err("store file %s: reserving %llu bytes: %s", o->file,
				    (unsigned long long)kv_file_len(s->slab.len, &s->geo),
				    strerror(-ret));
			unlink(o->file);
			goto fail;
		}
	}
	ret = kv_sweep_init(&s->sweep, s->slab.base, &s->geo, o->lease_ms * 1000000ull,
			    kv__conn_fence, s);
	if (ret) {
		kv__srv_err("out of memory");
		goto fail;
	}
	if (o->file && (ret = kv__open_store(s, created)))
		goto fail;
	if (o->file && (ret = kv_syncer_init(&s->syncer, &s->slab, o->sync_ms))) {
		kv__srv_err("starting the syncer of %s: %s", o->file, strerror(-ret));
		goto fail;
	}
	/* Snapshots of the index, the first one now, before anyone writes:
	 * from here on a power loss comes back to one. Without syncing, none,
	 * and none of an earlier run may be brought back. */
	if (o->file && o->sync_ms) {
		if ((ret = kv_syncer_snap_init(&s->syncer, s->slab.fd, &s->geo, s->slab.len,
					       s->snap_newest, s->snap_seq, s->fhdr.generation)) ||
		    (ret = kv_syncer_snapshot_now(&s->syncer))) {
			kv__srv_err("writing the first snapshot of %s: %s", o->file, strerror(-ret));
			goto fail;
		}
		s->sweep.keep[0] = s->syncer.snap[0];
		s->sweep.keep[1] = s->syncer.snap[1];
		s->sweep.copy_mu = &s->syncer.copy_mu;
	} else if (o->file && (ret = kv_slots_invalidate(s->slab.fd, s->slab.len, &s->geo))) {
		kv__srv_err("clearing the snapshots of %s: %s", o->file, strerror(-ret));
		goto fail;
	}
	if (o->file && (ret = kv_syncer_start(&s->syncer))) {
		kv__srv_err("starting the syncer of %s: %s", o->file, strerror(-ret));
		goto fail;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0 || (ret = kv__signals(s))) {
		ret = ret ? ret : -errno;
		kv__srv_err("epoll/signalfd: %s", strerror(-ret));
		goto fail;
	}
	s->ec = rdma_create_event_channel();
	if (!s->ec) {
		ret = -errno;
		kv__srv_err("rdma_create_event_channel: %s (is rdma_ucm loaded?)", strerror(errno));
		goto fail;
	}
	if ((ret = kv__epoll_add(s->epfd, s->ec->fd, KV_EP_CM)))
		goto fail;
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0 || (ret = kv__epoll_add(s->epfd, s->timerfd, KV_EP_TIMER)) ||
	    (ret = kv__timer_arm(s, kv__tick_ns(s)))) {
		ret = ret ? ret : -errno;
		kv__srv_err("timerfd: %s", strerror(-ret));
		goto fail;
	}
	/* Bind first: a specific address tells us which device to register on. */
	if ((ret = kv__listen(s, true)) == 0 && (ret = kv__devs_open(s)) == 0) {
		/* Only now, with the slab registered, can a client be served. */
		if (!s->auth.n)
			fprintf(stderr, "kvserver: warning: no --auth-file: anyone who can reach "
				"%s may read and write every value\n", s->where);
		else
			fprintf(stderr, "kvserver: %zu users from %s; clients must authenticate\n",
				s->auth.n, o->auth_file);
		fprintf(stderr, "kvserver: listening on %s\n", s->where);
		*out = s;
		return 0;
	}
fail:
	kv_server_destroy(s);
	return ret;
}

int kv_server_run(struct kv_server *s)
{
	struct epoll_event evs[16];

	while (!s->stop) {
		int n = epoll_wait(s->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			kv__srv_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n && !s->stop; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == KV_EP_CM)
				kv__on_cm_event(s);
			else if (tag == KV_EP_SIGNAL)
				kv__on_signal(s);
			else if (tag == KV_EP_TIMER)
				kv__on_timer(s);
			else if (tag - KV_EP_DEV < (uint64_t)s->ndevs)
				kv__on_cq_event(s, &s->devs[tag - KV_EP_DEV]);
			else if (tag - KV_EP_ASYNC < (uint64_t)s->ndevs)
				kv__on_async(s, &s->devs[tag - KV_EP_ASYNC]);
		}
	}
	return 0;
}

void kv_server_destroy(struct kv_server *s)
{
	if (!s)
		return;
	while (s->conns) {
		if (s->conns->established)
			kv__conn_disconnect(s->conns);
		kv__conn_destroy(s->conns);
	}
	if (s->listen_id)
		rdma_destroy_id(s->listen_id);
	for (int i = 0; i < s->ndevs; i++)
		kv__dev_close(&s->devs[i]);
	free(s->devs);
	if (s->dev_list)
		rdma_free_devices(s->dev_list);
	if (s->ec)
		rdma_destroy_event_channel(s->ec);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	if (s->epfd >= 0)
		close(s->epfd);
	kv_sweep_free(&s->sweep);
	kv_auth_free(&s->auth);
	kv_syncer_stop(&s->syncer);
	if (s->slab.map && s->fhdr.generation) { /* a clean stop: all on disk */
		int ret = s->syncer.hash ? kv_syncer_pass(&s->syncer) : kv_slab_sync(&s->slab);
		struct kv_syncer_stats ss;

		kv_syncer_stats(&s->syncer, &ss);
		if (!ret && ss.errors) /* a write lost once: never say clean */
			ret = -EIO;

		s->fhdr.clean = ret == 0;
		if (ret || (ret = kv_slab_write_header(&s->slab, &s->fhdr)))
			kv__srv_err("syncing %s: %s", s->opts.file, strerror(-ret));
	}
	kv_syncer_free(&s->syncer);
	kv_slab_free(&s->slab);
	free(s);
}

void kv_server_get_stats(struct kv_server *s, struct kv_server_stats *st)
{
	const struct kv_alloc_stats *as = &s->sweep.alloc.st;
	struct kv_index_census census;
	struct timespec now;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &now);
	st->uptime_s = (double)(now.tv_sec - s->start.tv_sec) +
		       (double)(now.tv_nsec - s->start.tv_nsec) / 1e9;
	st->slab_bytes = s->slab.len;
	st->huge_pages = s->slab.huge_pages;
	st->geo = s->geo;
	if (s->slab.base && s->geo.nbuckets && s->sweep.state) {
		uint64_t live_blocks, pending;

		st->index_words = kv_nwords(&s->geo);
		if (st->index_words <= KV_CENSUS_NOW_MAX || !s->sweep.passes) {
			kv_index_census(s->slab.base, &s->geo, &census);
			st->items = census.items;
			st->claims = census.claims;
		} else { /* a big slab: the sweep counted it, at most a lease ago */
			st->items = s->sweep.last.items;
			st->claims = s->sweep.last.claims;
		}
		/* Bytes are the sweep's: only it reads the blocks. */
		st->payload_bytes = s->sweep.passes ? s->sweep.last.payload_bytes : 0;
		live_blocks = s->sweep.passes ? s->sweep.last.block_bytes : 0;
		st->data_bytes = s->geo.data_len;
		st->bytes_free = as->free * KV_GRANULE;
		st->bytes_allocated = st->data_bytes > st->bytes_free ?
				      st->data_bytes - st->bytes_free : 0;
		st->bytes_held = as->held * KV_GRANULE;
		pending = st->bytes_allocated > st->bytes_held ?
			  st->bytes_allocated - st->bytes_held : 0;
		st->bytes_pending = pending > live_blocks ? pending - live_blocks : 0;
		/* A grant may have cut the run the last sweep measured: look
		 * again when the bitmaps are small enough. */
		if (s->sweep.alloc.nwords <= KV_CENSUS_NOW_MAX)
			kv_alloc_largest(&s->sweep.alloc);
		st->largest_free_extent = as->largest_free * KV_GRANULE;
		if (st->largest_free_extent > st->bytes_free)
			st->largest_free_extent = st->bytes_free;
	}
	st->max_key = s->geo.max_key;
	st->max_value = s->geo.max_value;
	st->clients_connected = s->nconns;
	st->connections_total = s->conns_total;
	st->locks_released = s->sweep.released;
	st->lease_ms = s->opts.lease_ms;
	st->leases_broken = s->sweep.fenced;
	st->sweep_passes = s->sweep.passes;
	st->protocol_errors = s->protocol_errors;
	st->auth_failures = s->auth_failures;
	if (s->syncer.hash) {
		struct kv_syncer_stats ss;

		kv_syncer_stats(&s->syncer, &ss);
		st->file = true;
		st->sync_passes = ss.passes;
		st->sync_pages_dirtied = ss.pages_dirtied;
		st->sync_errors = ss.errors;
		st->sync_snapshots = ss.snapshots;
		st->sync_last_ms = ss.last_ms;
		st->sync_max_ms = ss.max_ms;
	}
}
