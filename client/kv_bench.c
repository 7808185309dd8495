/*
 * kv_bench.c - `kvcli bench`: YCSB-style load over one or more connections,
 * reported as one JSON object (jansson).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv_base.h"
#include "kv_cli.h"
#include "kv_hist.h"
#include "kv_parse.h"

#define KV__KEY_FMT "key%010lu"
#define KV__KEY_LEN 13
#define KV__ZIPF_THETA 0.99
/* The largest value a server takes (kvserver -v, proto/kv_index.h). */
#define KV__MAX_VALUE (64u << 20)
/* kv_get_multi hands back values whose block (24 B header, key, value) fits
 * its 4 KiB per key; a bigger one needs kv_get, one at a time. */
#define KV__MULTI_MAX_VALUE (4096u - 24u - KV__KEY_LEN)

static const char *const kv__wl_names[] = {"get", "put", "a", "b", "c"};
static const unsigned kv__wl_read_pct[] = {100, 0, 50, 95, 100};

static void kv__bench_usage(FILE *f)
{
	fputs("Usage: kvcli bench [OPTIONS]\n"
	      "  --workload get|put|a|b|c  get or put only, or YCSB A (50% reads,\n"
	      "                            50% updates), B (95/5), C (reads) [get]\n"
	      "  --ops N          operations to measure, over all clients [10000]\n"
	      "  --keys K         distinct keys [1000]\n"
	      "  --value-size B   bytes per value, up to 64M [32]\n"
	      "  --dist uniform|zipf  key popularity; zipf uses constant 0.99 [uniform]\n"
	      "  --depth D        GETs in flight per connection, 1..64, their first READs\n"
	      "                   behind one doorbell; a PUT goes out alone. Above 1 the\n"
	      "                   values must be 4059 B at most (kv_get_multi's 4 KiB a\n"
	      "                   key); at 1 each GET is one kv_get, any size [1]\n"
	      "  --clients C      connections, one thread each, 1..64 [1]\n"
	      "  --seconds S      stop measuring after S seconds at most [120]\n"
	      "  --split          also time each doorbell to its completion, and report\n"
	      "                   the per-op time spent waiting on the wire apart from\n"
	      "                   the client's own, at depth 1 (two clock reads a round trip)\n"
	      "A put run first stores every key; other runs expect the keys to exist\n"
	      "(run a put first) and refuse to measure misses. Prints one JSON object.\n",
	      f);
}

int kv_bench_parse(int argc, char **argv, struct kv_bench_opts *b, FILE *err)
{
	static const struct option longopts[] = {
		{"workload", required_argument, NULL, 'w'},
		{"ops", required_argument, NULL, 'n'},
		{"keys", required_argument, NULL, 'k'},
		{"value-size", required_argument, NULL, 'v'},
		{"dist", required_argument, NULL, 'd'},
		{"depth", required_argument, NULL, 'D'},
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"split", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int opt;

	memset(b, 0, sizeof(*b));
	b->ops = 10000;
	b->keys = 1000;
	b->value_size = 32;
	b->depth = 1;
	b->clients = 1;
	b->seconds = 120;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			b->workload = (unsigned)-1;
			for (unsigned i = 0; i < 5; i++)
				if (!strcmp(optarg, kv__wl_names[i]))
					b->workload = i;
			if (b->workload == (unsigned)-1)
				goto bad;
			break;
		case 'n':
			if (kv_parse_uint(optarg, 1, 1000000000, &v))
				goto bad;
			b->ops = v;
			break;
		case 'k':
			if (kv_parse_uint(optarg, 1, 100000000, &v))
				goto bad;
			b->keys = v;
			break;
		case 'v':
			if (kv_parse_size(optarg, 0, KV__MAX_VALUE, &v))
				goto bad;
			b->value_size = (unsigned)v;
			break;
		case 'd':
			if (!strcmp(optarg, "zipf"))
				b->zipf = 1;
			else if (strcmp(optarg, "uniform"))
				goto bad;
			break;
		case 'D':
			if (kv_parse_uint(optarg, 1, KV_MAX_DEPTH, &v))
				goto bad;
			b->depth = (unsigned)v;
			break;
		case 'c':
			if (kv_parse_uint(optarg, 1, 64, &v))
				goto bad;
			b->clients = (unsigned)v;
			break;
		case 's':
			if (kv_parse_uint(optarg, 1, 86400, &v))
				goto bad;
			b->seconds = (unsigned)v;
			break;
		case 'S':
			b->split = 1;
			break;
		case 'h':
			kv__bench_usage(stdout);
			return 1;
		default:
			fprintf(err, "kvcli bench: unknown option or missing value: %s (try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(err, "kvcli bench: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (b->depth > 1 && b->value_size > KV__MULTI_MAX_VALUE) {
		fprintf(err, "kvcli bench: --depth %u reads values of %u B at most (kv_get_multi's "
			"4 KiB a key); use --depth 1 for --value-size %u\n", b->depth,
			KV__MULTI_MAX_VALUE, b->value_size);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(err, "kvcli bench: invalid value '%s' for %s (try --help)\n", optarg,
		argv[optind - 1]);
	return -EINVAL;
}

/* ---- key choice ------------------------------------------------------------ */

/* YCSB's zipfian generator (Gray et al., "Quickly generating billion-record
 * synthetic databases"), scrambled so the hot keys spread over the table. */
struct kv__zipf {
	double theta, alpha, zetan, eta;
	unsigned long n;
};

static void kv__zipf_init(struct kv__zipf *z, unsigned long n, double theta)
{
	double zeta2 = 1.0 + pow(0.5, theta);

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (unsigned long i = 1; i <= n; i++)
		z->zetan += 1.0 / pow((double)i, theta);
	z->alpha = 1.0 / (1.0 - theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
}

static unsigned long kv__zipf_next(const struct kv__zipf *z, double u)
{
	double uz = u * z->zetan;
	unsigned long r;

	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + pow(0.5, z->theta))
		return z->n > 1 ? 1 : 0;
	r = (unsigned long)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	return r < z->n ? r : z->n - 1;
}

/* ---- the run ------------------------------------------------------------------ */

struct kv__bench {
	const struct kv_cli_opts *cli;
	struct kv_bench_opts o;
	struct kv__zipf zipf;
	uint64_t deadline_ns;       /* CLOCK_MONOTONIC; stop measuring after */
	int fatal;                 /* first transport error, shared */
	char fatal_msg[320];
	pthread_mutex_t lock;
};

struct kv__worker {
	struct kv__bench *b;
	unsigned id;
	kv_client *c;
	unsigned long ops;          /* this worker's share */
	unsigned long done;
	uint64_t rng;
	struct kv_hist get, put;
	char *gbuf;                 /* a value read at depth 1 (kv_get) */
	unsigned long errors, not_found;
	struct kv_counters before, after;
	pthread_t thread;
};

static unsigned long kv__pick_key(struct kv__worker *w)
{
	const struct kv_bench_opts *o = &w->b->o;

	if (!o->zipf)
		return (unsigned long)(kv_rand_next(&w->rng) % o->keys);
	return (unsigned long)(kv_rand_seed(kv__zipf_next(&w->b->zipf,
						      (double)(kv_rand_next(&w->rng) >> 11) / 9007199254740992.0)) %
			       o->keys);
}

static void kv__fill_value(char *v, unsigned len, unsigned long key, unsigned long n)
{
	for (unsigned i = 0; i < len; i++)
		v[i] = (char)('a' + (key + n + i) % 26);
}

static void kv__fail(struct kv__worker *w, int err, const char *what)
{
	pthread_mutex_lock(&w->b->lock);
	if (!w->b->fatal) {
		w->b->fatal = err;
		snprintf(w->b->fatal_msg, sizeof(w->b->fatal_msg), "client %u: %s: %s%s%s",
			 w->id, what, kv_strerror(err), *kv_client_errmsg(w->c) ? ": " : "",
			 kv_client_errmsg(w->c));
	}
	pthread_mutex_unlock(&w->b->lock);
}

static bool kv__transport(int err)
{
	return kv_cli_exit_code(err) == KV_EXIT_TRANSPORT;
}


/* One PUT, timed. */
static int kv__do_put(struct kv__worker *w, unsigned long key, char *val)
{
	char k[32];
	uint64_t t0;
	int ret;

	snprintf(k, sizeof(k), KV__KEY_FMT, key);
	kv__fill_value(val, w->b->o.value_size, key, w->done);
	t0 = kv_now_ns();
	ret = kv_put(w->c, k, KV__KEY_LEN, val, w->b->o.value_size);
	kv_hist_add(&w->put, kv_now_ns() - t0);
	return ret;
}

/* The depth-1 GET buffer: the value size, and at least the 4 KiB that
 * kv_get_multi would take (keys stored with other sizes read as before). */
static size_t kv__gbuf_len(const struct kv_bench_opts *o)
{
	return o->value_size > 4096 ? o->value_size : 4096;
}

/* Up to depth GETs behind one doorbell, timed together. At depth 1 a GET is
 * one kv_get into the worker's buffer, so values of any size can be read. */
static int kv__do_gets(struct kv__worker *w, const unsigned long *keys, unsigned n)
{
	char names[KV_MAX_DEPTH][32];
	struct kv_key kk[KV_MAX_DEPTH];
	struct kv_result res[KV_MAX_DEPTH];
	uint64_t t0, dt;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), KV__KEY_FMT, keys[i]);
		kk[i] = (struct kv_key){names[i], KV__KEY_LEN};
	}
	if (w->b->o.depth == 1) {
		size_t vlen;

		t0 = kv_now_ns();
		res[0].status = kv_get(w->c, names[0], KV__KEY_LEN, w->gbuf,
				       kv__gbuf_len(&w->b->o), &vlen);
		dt = kv_now_ns() - t0;
		n = 1;
	} else {
		t0 = kv_now_ns();
		ret = kv_get_multi(w->c, n, kk, res);
		dt = kv_now_ns() - t0;
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < n; i++) {
		kv_hist_add(&w->get, dt);
		if (res[i].status == -ENOENT)
			w->not_found++;
		else if (res[i].status && kv__transport(res[i].status))
			return res[i].status;
		else if (res[i].status)
			w->errors++;
	}
	return 0;
}

static void kv__progress(struct kv__worker *w, uint64_t *last)
{
	uint64_t now;

	if (w->id != 0 || !isatty(2))
		return;
	now = kv_now_ns();
	if (now - *last < 500000000ull)
		return;
	*last = now;
	fprintf(stderr, "\rkvcli bench: %lu/%lu ops on client 0", w->done, w->ops);
}

static void *kv__worker_main(void *arg)
{
	struct kv__worker *w = arg;
	const struct kv_bench_opts *o = &w->b->o;
	unsigned read_pct = kv__wl_read_pct[o->workload];
	unsigned long batch[KV_MAX_DEPTH];
	char *val = malloc(o->value_size + 1);
	uint64_t last = 0;
	int ret = 0;

	w->gbuf = malloc(kv__gbuf_len(o));
	if (!val || !w->gbuf) {
		free(val);
		free(w->gbuf);
		w->gbuf = NULL;
		kv__fail(w, -ENOMEM, "allocating values");
		return NULL;
	}
	kv_client_counters(w->c, &w->before);
	for (unsigned long round = 0; w->done < w->ops && !w->b->fatal; round++) {
		unsigned n = 0;

		if (round % 64 == 0 && kv_now_ns() > w->b->deadline_ns)
			break; /* the clock is not free everywhere: look now and then */

		/* Gather reads up to the depth; an update goes out alone. */
		while (n < o->depth && w->done + n < w->ops) {
			unsigned long key = kv__pick_key(w);

			if (kv_rand_next(&w->rng) % 100 < read_pct) {
				batch[n++] = key;
				continue;
			}
			if ((ret = kv__do_put(w, key, val)) && kv__transport(ret))
				break;
			w->errors += ret != 0;
			ret = 0;
			w->done++;
			break;
		}
		if (ret) {
			kv__fail(w, ret, "put");
			break;
		}
		if (n && (ret = kv__do_gets(w, batch, n))) {
			kv__fail(w, ret, "get");
			break;
		}
		w->done += n;
		kv__progress(w, &last);
	}
	kv_client_counters(w->c, &w->after);
	free(val);
	free(w->gbuf);
	w->gbuf = NULL;
	return NULL;
}

/* Store every key once (put runs), spread over the workers' connections. */
static int kv__load(struct kv__bench *b, struct kv__worker *ws)
{
	char *val = malloc(b->o.value_size + 1);
	int ret = 0;

	if (!val)
		return -ENOMEM;
	for (unsigned long k = 0; k < b->o.keys && !ret; k++) {
		struct kv__worker *w = &ws[k % b->o.clients];

		ret = kv__do_put(w, k, val);
		if (ret)
			kv__fail(w, ret, "loading keys");
	}
	free(val);
	for (unsigned i = 0; i < b->o.clients; i++)
		memset(&ws[i].put, 0, sizeof(ws[i].put));
	return ret;
}

/* Refuse to measure misses: a sample of keys must be there. */
static int kv__check_loaded(struct kv__bench *b, struct kv__worker *w)
{
	unsigned long sample[4] = {0, b->o.keys - 1, b->o.keys / 2, b->o.keys / 3};
	char k[32];
	int ret = 0;

	for (unsigned i = 0; i < 4 && !ret; i++) {
		void *val = NULL;
		size_t vlen;

		snprintf(k, sizeof(k), KV__KEY_FMT, sample[i]);
		ret = kv_get_alloc(w->c, k, KV__KEY_LEN, &val, &vlen);
		free(val);
		if (ret == -ENOENT)
			fprintf(stderr, "kvcli bench: key %s was never stored; run "
				"'kvcli bench --workload put --keys %lu --value-size %u' first\n",
				k, b->o.keys, b->o.value_size);
		else if (ret)
			kv__fail(w, ret, "checking keys");
	}
	return ret;
}

static json_t *kv__lat_json(const struct kv_hist *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "count", json_integer((json_int_t)h->count));
#define KV__Q(name, q) \
	json_object_set_new(o, name, json_real(round((double)kv_hist_quantile(h, q) / 100.0) / 10.0))
	KV__Q("p50", 0.50);
	KV__Q("p90", 0.90);
	KV__Q("p99", 0.99);
	KV__Q("p999", 0.999);
#undef KV__Q
	json_object_set_new(o, "max", json_real(round((double)h->max_ns / 100.0) / 10.0));
	json_object_set_new(o, "mean", json_real(h->count ? round((double)h->sum_ns /
								   (double)h->count / 100.0) / 10.0
							  : 0.0));
	return o;
}

static void kv__report(struct kv__bench *b, struct kv__worker *ws, double secs)
{
	struct kv_hist get = {0}, put = {0};
	struct kv_counters d = {0};
	unsigned long done = 0, errors = 0, not_found = 0;
	json_t *o = json_object(), *lat = json_object(), *verbs = json_object(),
	       *retries = json_object();
	char *text;

	for (unsigned i = 0; i < b->o.clients; i++) {
		const struct kv__worker *w = &ws[i];

		kv_hist_merge(&get, &w->get);
		kv_hist_merge(&put, &w->put);
		done += w->done;
		errors += w->errors;
		not_found += w->not_found;
		d.reads += w->after.reads - w->before.reads;
		d.read_bytes += w->after.read_bytes - w->before.read_bytes;
		d.writes += w->after.writes - w->before.writes;
		d.write_bytes += w->after.write_bytes - w->before.write_bytes;
		d.atomics += w->after.atomics - w->before.atomics;
		d.doorbells += w->after.doorbells - w->before.doorbells;
		d.torn_retries += w->after.torn_retries - w->before.torn_retries;
		d.lock_retries += w->after.lock_retries - w->before.lock_retries;
		d.wait_ns += w->after.wait_ns - w->before.wait_ns;
	}
	json_object_set_new(o, "workload", json_string(kv__wl_names[b->o.workload]));
	json_object_set_new(o, "dist", json_string(b->o.zipf ? "zipf" : "uniform"));
	json_object_set_new(o, "keys", json_integer((json_int_t)b->o.keys));
	json_object_set_new(o, "value_size", json_integer(b->o.value_size));
	json_object_set_new(o, "depth", json_integer(b->o.depth));
	json_object_set_new(o, "clients", json_integer(b->o.clients));
	json_object_set_new(o, "ops", json_integer((json_int_t)done));
	json_object_set_new(o, "seconds", json_real(round(secs * 1e4) / 1e4));
	json_object_set_new(o, "ops_per_sec", json_real(secs > 0 ? round((double)done / secs) : 0));
	if (get.count)
		json_object_set_new(lat, "get", kv__lat_json(&get));
	if (put.count)
		json_object_set_new(lat, "put", kv__lat_json(&put));
	json_object_set_new(o, "latency_us", lat);
	json_object_set_new(verbs, "reads", json_integer((json_int_t)d.reads));
	json_object_set_new(verbs, "read_bytes", json_integer((json_int_t)d.read_bytes));
	json_object_set_new(verbs, "writes", json_integer((json_int_t)d.writes));
	json_object_set_new(verbs, "write_bytes", json_integer((json_int_t)d.write_bytes));
	json_object_set_new(verbs, "atomics", json_integer((json_int_t)d.atomics));
	json_object_set_new(verbs, "doorbells", json_integer((json_int_t)d.doorbells));
	json_object_set_new(o, "verbs", verbs);
	json_object_set_new(retries, "torn_reads", json_integer((json_int_t)d.torn_retries));
	json_object_set_new(retries, "lock_conflicts", json_integer((json_int_t)d.lock_retries));
	json_object_set_new(o, "retries", retries);
	if (b->o.split && done) {
		/* Where an operation's time goes: waiting for completions (the
		 * wire, the device, the server's NIC) or the client's own work. */
		double all_us = (double)(get.sum_ns + put.sum_ns) / 1e3 / (double)done;
		double wait_us = (double)d.wait_ns / 1e3 / (double)done;
		json_t *split = json_object();

		json_object_set_new(split, "op_us", json_real(round(all_us * 10) / 10));
		json_object_set_new(split, "wait_us", json_real(round(wait_us * 10) / 10));
		json_object_set_new(split, "client_us",
				    json_real(round((all_us - wait_us) * 10) / 10));
		json_object_set_new(o, "time_split_mean", split);
	}
	json_object_set_new(o, "errors", json_integer((json_int_t)errors));
	json_object_set_new(o, "not_found", json_integer((json_int_t)not_found));
	json_object_set_new(o, "complete", json_boolean(done == b->o.ops));
	text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

static int kv__connect_all(struct kv__bench *b, struct kv__worker *ws)
{
	struct kv_connect_opts co = {.timeout_ms = b->cli->timeout_ms, .depth = b->o.depth,
				     .time_waits = b->o.split, .user = b->cli->user,
				     .secret_file = b->cli->secret_file};
	char err[320];

	for (unsigned i = 0; i < b->o.clients; i++) {
		int ret = kv_connect(&ws[i].c, b->cli->addr, b->cli->port, &co, err, sizeof(err));

		if (ret) {
			fprintf(stderr, "kvcli bench: cannot connect to %s\n", err);
			return ret;
		}
		ws[i].b = b;
		ws[i].id = i;
		ws[i].ops = b->o.ops / b->o.clients + (i < b->o.ops % b->o.clients);
		ws[i].rng = kv_rand_seed(0x1234567ull + i) | 1;
	}
	return 0;
}

int kv_bench_main(const struct kv_cli_opts *cli)
{
	struct kv__bench b = {.cli = cli, .lock = PTHREAD_MUTEX_INITIALIZER};
	struct kv__worker *ws;
	struct kv_limits lim;
	uint64_t t0;
	int ret = kv_bench_parse(cli->argc + 1, cli->argv - 1, &b.o, stderr);

	if (ret)
		return ret > 0 ? 0 : KV_EXIT_USAGE;
	ws = calloc(b.o.clients, sizeof(*ws));
	if (!ws)
		return KV_EXIT_TRANSPORT;
	if ((ret = kv__connect_all(&b, ws)))
		goto out;
	kv_client_limits(ws[0].c, &lim);
	if (b.o.value_size > lim.max_value) {
		fprintf(stderr, "kvcli bench: --value-size %u is over the server's limit of %zu\n",
			b.o.value_size, lim.max_value);
		ret = -E2BIG;
		goto out;
	}
	if (b.o.zipf)
		kv__zipf_init(&b.zipf, b.o.keys, KV__ZIPF_THETA);
	ret = b.o.workload == KV_WL_PUT ? kv__load(&b, ws) : kv__check_loaded(&b, &ws[0]);
	if (ret)
		goto out;
	t0 = kv_now_ns();
	b.deadline_ns = t0 + b.o.seconds * 1000000000ull;
	for (unsigned i = 0; i < b.o.clients; i++)
		if (pthread_create(&ws[i].thread, NULL, kv__worker_main, &ws[i])) {
			b.fatal = -EAGAIN;
			for (unsigned j = 0; j < i; j++)
				pthread_join(ws[j].thread, NULL);
			goto out;
		}
	for (unsigned i = 0; i < b.o.clients; i++)
		pthread_join(ws[i].thread, NULL);
	if (isatty(2))
		fputc('\n', stderr);
	kv__report(&b, ws, (double)(kv_now_ns() - t0) / 1e9);
	ret = b.fatal;
out:
	if (b.fatal && *b.fatal_msg)
		fprintf(stderr, "kvcli bench: %s\n", b.fatal_msg);
	for (unsigned i = 0; i < b.o.clients; i++)
		kv_close(ws[i].c);
	free(ws);
	return kv_cli_exit_code(ret);
}
