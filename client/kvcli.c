/* kvcli.c - command-line client: a thin layer over the kv.h library. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv_base.h"
#include "kv_batchparse.h"
#include "kv_cli.h"
#include "kv_debug.h"
#include "kv_parse.h"

#define KV__HOLD_MAX_MS 3600000u

/* A message that names the limit when a key or value is too long. */
static int kv__report(kv_client *c, int err, const char *what, size_t klen, size_t vlen)
{
	struct kv_limits l;

	kv_client_limits(c, &l);
	if (err == -E2BIG && klen > l.max_key)
		kv_cli_say("%s: key is %zu bytes; the server's limit is %zu", what, klen, l.max_key);
	else if (err == -E2BIG)
		kv_cli_say("%s: value is %zu bytes; the server's limit is %zu", what, vlen,
			l.max_value);
	else if (err == -EINVAL)
		kv_cli_say("%s: the key is empty", what);
	else if (err != -ENOENT)
		kv_cli_say("%s: %s%s%s", what, kv_strerror(err), *kv_client_errmsg(c) ? ": " : "",
			kv_client_errmsg(c));
	return kv_cli_exit_code(err);
}

static int kv__need_args(const struct kv_cli_opts *o, int n, const char *usage)
{
	if (o->argc == n)
		return 0;
	kv_cli_say("usage: kvcli %s", usage);
	return KV_EXIT_USAGE;
}

/* Read all of stdin, refusing more than @max bytes. */
static int kv__slurp_stdin(char **out, size_t *len, size_t max)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if (cap > max + 1) {
				free(buf);
				*len = n;
				return -E2BIG;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0)
			break;
	}
	if (n > max) {
		free(buf);
		*len = n;
		return -E2BIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int kv__cmd_demo(kv_client *c, const struct kv_cli_opts *o)
{
	const char *s = o->argv[1];
	size_t len = strlen(s);
	struct kv_limits l;
	int ret;

	kv_client_limits(c, &l);
	if (len > l.max_demo) {
		kv_cli_say("demo: string is %zu bytes; the limit is %zu", len, l.max_demo);
		return KV_EXIT_USAGE;
	}
	printf("Passed string is: %s (%zu bytes)\n", s, len);
	ret = kv_demo(c, s, len);
	if (ret == -EILSEQ) {
		printf("FAILURE, source and destination buffers do not match\n");
		return 1;
	}
	if (ret)
		return kv__report(c, ret, "demo", 0, 0);
	printf("SUCCESS, source and destination buffers match\n");
	return 0;
}

static int kv__cmd_get(kv_client *c, const char *key)
{
	size_t vlen = 0;
	void *buf = NULL;
	int ret;

	/* The value's size is not known before the READ that finds it. */
	ret = kv_get_alloc(c, key, strlen(key), &buf, &vlen);
	if (!ret) {
		fwrite(buf, 1, vlen, stdout);
		putchar('\n');
	}
	free(buf);
	return ret ? kv__report(c, ret, "get", strlen(key), 0) : 0;
}

static int kv__cmd_put(kv_client *c, const char *key, const char *val)
{
	struct kv_limits l;
	char *buf = NULL;
	size_t vlen = strlen(val);
	int ret;

	if (!strcmp(val, "-")) {
		kv_client_limits(c, &l);
		ret = kv__slurp_stdin(&buf, &vlen, l.max_value);
		if (ret == -E2BIG) {
			kv_cli_say("put: value on stdin is over the server's limit of %zu bytes",
				l.max_value);
			return KV_EXIT_USAGE;
		}
		if (ret)
			return KV_EXIT_TRANSPORT;
		val = buf;
	}
	ret = kv_put(c, key, strlen(key), val, vlen);
	free(buf);
	return ret ? kv__report(c, ret, "put", strlen(key), vlen) : 0;
}

static int kv__cmd_del(kv_client *c, const char *key)
{
	int ret = kv_del(c, key, strlen(key));

	return ret ? kv__report(c, ret, "del", strlen(key), 0) : 0;
}

/* A reason for a batch ERROR line. */
static const char *kv__batch_reason(kv_client *c, int err, size_t klen, char *buf, size_t n)
{
	struct kv_limits l;

	kv_client_limits(c, &l);
	if (err == -E2BIG && klen > l.max_key)
		snprintf(buf, n, "key longer than %zu bytes", l.max_key);
	else if (err == -E2BIG)
		snprintf(buf, n, "value longer than %zu bytes", l.max_value);
	else if (err == -EINVAL)
		snprintf(buf, n, "empty key");
	else if (*kv_client_errmsg(c)) /* e.g. store full: memory or index, and the size */
		snprintf(buf, n, "%s: %s", kv_strerror(err), kv_client_errmsg(c));
	else
		snprintf(buf, n, "%s", kv_strerror(err));
	return buf;
}

/* One batch line; returns its library error (0 for a bad line). */
static int kv__batch_line(kv_client *c, char *line, char *vbuf, size_t vcap)
{
	char reason[320];
	struct kv_batch_req r;
	size_t vlen = 0;
	int ret;

	switch (kv_batch_parse(line, strlen(line), &r)) {
	case KV_BATCH_PUT:
		ret = kv_put(c, r.key, r.klen, r.val, r.vlen);
		if (!ret)
			printf("OK\n");
		break;
	case KV_BATCH_GET:
		ret = kv_get(c, r.key, r.klen, vbuf, vcap, &vlen);
		if (!ret) {
			fputs("VALUE ", stdout);
			fwrite(vbuf, 1, vlen, stdout);
			putchar('\n');
		}
		break;
	case KV_BATCH_DEL:
		ret = kv_del(c, r.key, r.klen);
		if (!ret)
			printf("OK\n");
		break;
	default:
		printf("ERROR %s\n", r.error);
		return 0;
	}
	if (ret == -ENOENT)
		printf("NOT_FOUND\n");
	else if (ret)
		printf("ERROR %s\n", kv__batch_reason(c, ret, r.klen, reason, sizeof(reason)));
	return ret;
}

/*
 * The batch keeps its connection across a server restart: the library
 * reconnects on the next request. A request cut off, or made while the
 * server is away, gets its ERROR line and the batch goes on; it ends (exit 3)
 * only when the server has been unreachable for longer than the timeout.
 */
static int kv__cmd_batch(kv_client *c, unsigned timeout_ms)
{
	struct kv_limits l;
	char *line = NULL, *vbuf = NULL;
	size_t cap = 0, vcap = 0;
	uint64_t down_since = 0; /* ms: when the outage began; 0 while up */
	ssize_t n;
	int ret = 0;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		kv_client_limits(c, &l); /* a restarted server may have new limits */
		if (vcap < l.max_value + 1) {
			free(vbuf);
			vcap = l.max_value + 1;
			vbuf = malloc(vcap);
			if (!vbuf) {
				kv_cli_say("batch: out of memory for a value of %zu bytes", vcap);
				ret = -ENOMEM;
				break;
			}
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		ret = kv__batch_line(c, line, vbuf, vcap - 1);
		fflush(stdout);
		if (kv_cli_exit_code(ret) != KV_EXIT_TRANSPORT || ret == -ENOMEM) {
			down_since = 0;
			ret = 0;
			continue;
		}
		if (!down_since)
			down_since = kv_now_ns() / 1000000;
		else if (kv_now_ns() / 1000000 - down_since >= timeout_ms)
			break; /* a reconnect that failed for the whole timeout */
		ret = 0;
	}
	free(line);
	free(vbuf);
	if (ret == -ENOMEM)
		return KV_EXIT_TRANSPORT;
	return ret ? kv__report(c, ret, "batch", 0, 0) : 0;
}

static int kv__cmd_stats(kv_client *c)
{
	char *json;
	int ret = kv_stats(c, &json);

	if (ret)
		return kv__report(c, ret, "stats", 0, 0);
	printf("%s\n", json);
	free(json);
	return 0;
}

/* Send stdin as a control message, then see whether the server still answers. */
static int kv__cmd_send_raw(kv_client *c)
{
	char *buf = NULL, *json = NULL;
	size_t len = 0;
	int ret = kv__slurp_stdin(&buf, &len, 3 * 4096);

	if (ret == -E2BIG || (!ret && len == 0)) {
		kv_cli_say("debug-send-raw: give 1 to 12288 bytes on stdin");
		free(buf);
		return KV_EXIT_USAGE;
	}
	if (ret)
		return KV_EXIT_TRANSPORT;
	ret = kv_debug_send_raw(c, buf, len);
	free(buf);
	if (!ret)
		ret = kv_stats(c, &json);
	free(json);
	if (ret)
		return kv__report(c, ret, "debug-send-raw", 0, 0);
	printf("the server still answers\n");
	return 0;
}

/* Play a client whose host died: no disconnect, no answers, for @ms. */
static int kv__cmd_vanish(kv_client *c, unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	int ret = kv_debug_vanish(c);

	if (ret)
		return kv__report(c, ret, "debug-vanish", 0, 0);
	printf("VANISHED\n");
	fflush(stdout);
	nanosleep(&ts, NULL);
	return 0;
}

/*
 * Claim a word as an insert of KEY does, say HELD <word>, stall @ms (or as long as a SIGSTOP
 * lasts), then finish as a late writer: WROTE if that landed, CUT OFF (the
 * transport exit code) if the server broke the lock and dropped us.
 */
static int kv__cmd_hold_lock(kv_client *c, const char *key, unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	uint64_t word;
	uint64_t slot;
	int ours = 1;
	int ret = kv_debug_lock(c, key, strlen(key), &slot, &word);

	if (ret)
		return kv__report(c, ret, "debug-hold-lock", strlen(key), 0);
	printf("HELD %llu\n", (unsigned long long)slot);
	fflush(stdout);
	nanosleep(&ts, NULL);
	ret = kv_debug_late_write(c, slot, word, &ours);
	if (kv_cli_exit_code(ret) == KV_EXIT_TRANSPORT) {
		printf("CUT OFF\n");
		fflush(stdout);
	}
	if (ret)
		return kv__report(c, ret, "debug-hold-lock", strlen(key), 0);
	printf("WROTE\n");
	if (!ours)
		kv_cli_say("debug-hold-lock: the CAS ran, but the claim was no longer ours");
	return 0;
}

static unsigned kv__half_ms;

static void kv__half_swung(kv_client *c)
{
	struct timespec ts = {(time_t)(kv__half_ms / 1000), (long)(kv__half_ms % 1000) * 1000000L};

	(void)c;
	printf("SWUNG\n");
	fflush(stdout);
	nanosleep(&ts, NULL);
}

/*
 * PUT KEY VALUE as a writer that stops between its two doorbells: its word
 * swung to the new block (SWUNG), then @ms of nothing, then its retire and
 * commit: FINISHED if they landed, CUT OFF if the server fenced us (the
 * sweep finishes such a write after the lease, cutting its writer off
 * first). A PUT of a new key has no second doorbell: it just succeeds.
 */
static int kv__cmd_half_put(kv_client *c, const char *key, const char *val, unsigned ms)
{
	int ret;

	kv__half_ms = ms;
	kv_debug_on_swung(c, kv__half_swung);
	ret = kv_put(c, key, strlen(key), val, strlen(val));
	kv_debug_on_swung(c, NULL);
	if (ret == -KV_EUNKNOWN || kv_cli_exit_code(ret) == KV_EXIT_TRANSPORT) {
		printf("CUT OFF\n");
		fflush(stdout);
	}
	if (ret)
		return kv__report(c, ret, "debug-half-put", strlen(key), strlen(val));
	printf("FINISHED\n");
	return 0;
}

/* A debug command's MS argument: KV_EXIT_USAGE (said why) or 0. */
static int kv__check_ms(const char *cmd, const char *ms)
{
	if (!kv_parse_uint(ms, 0, KV__HOLD_MAX_MS, &(uint64_t){0}))
		return 0;
	kv_cli_say("%s: MS must be 0..%u, not '%s'", cmd, KV__HOLD_MAX_MS, ms);
	return KV_EXIT_USAGE;
}

/* Check argument counts before connecting, so usage errors need no server. */
static int kv__check_usage(const struct kv_cli_opts *o)
{
	switch (o->cmd) {
	case KV_CMD_DEMO:
		if (o->argc != 2 || strcmp(o->argv[0], "-s"))
			return kv__need_args(o, -1, "demo -s STRING");
		if (!o->argv[1][0]) {
			kv_cli_say("demo: the string is empty");
			return KV_EXIT_USAGE;
		}
		return 0;
	case KV_CMD_PUT:
		return kv__need_args(o, 2, "put KEY VALUE");
	case KV_CMD_GET:
		return kv__need_args(o, 1, "get KEY");
	case KV_CMD_DEL:
		return kv__need_args(o, 1, "del KEY");
	case KV_CMD_SCRIBBLE:
		return kv__need_args(o, 1, "debug-scribble KEY");
	case KV_CMD_HOLD_LOCK:
		return kv__need_args(o, 2, "debug-hold-lock KEY MS") ? KV_EXIT_USAGE
			: kv__check_ms("debug-hold-lock", o->argv[1]);
	case KV_CMD_HALF_PUT:
		return kv__need_args(o, 3, "debug-half-put KEY VALUE MS") ? KV_EXIT_USAGE
			: kv__check_ms("debug-half-put", o->argv[2]);
	case KV_CMD_VANISH:
		return kv__need_args(o, 1, "debug-vanish MS") ? KV_EXIT_USAGE
			: kv__check_ms("debug-vanish", o->argv[0]);
	case KV_CMD_STALL_AUTH:
		return kv__need_args(o, 1, "debug-stall-auth MS") ? KV_EXIT_USAGE
			: kv__check_ms("debug-stall-auth", o->argv[0]);
	case KV_CMD_DUMP:
	case KV_CMD_RESTORE:
		return kv_dump_usage(o);
	default:
		return kv__need_args(o, 0, "batch|stats (no arguments)");
	}
}

int main(int argc, char **argv)
{
	struct kv_cli_opts o;
	kv_client *c;
	char err[320];
	int ret = kv_cli_parse(argc, argv, &o, stdout, stderr);

	if (ret)
		return ret > 0 ? 0 : -ret;
	if (o.cmd == KV_CMD_BENCH)
		return kv_bench_main(&o);
	if ((ret = kv__check_usage(&o)))
		return ret;
	if ((o.cmd == KV_CMD_PUT || o.cmd == KV_CMD_GET || o.cmd == KV_CMD_DEL ||
	     o.cmd == KV_CMD_HOLD_LOCK || o.cmd == KV_CMD_HALF_PUT) &&
	    !o.argv[0][0]) {
		kv_cli_say("%s: the key is empty", argv[optind]);
		return KV_EXIT_USAGE;
	}
	/* A reader gone (kvcli dump | head) is a write error (exit 3), not a
	 * silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (o.cmd == KV_CMD_STALL_AUTH) { /* connecting is the whole command */
		unsigned dropped = 0;

		kv_debug_stall_auth((unsigned)strtoul(o.argv[0], NULL, 10), &dropped);
		ret = kv_connect(&c, o.addr, o.port,
				 &(struct kv_connect_opts){.timeout_ms = o.timeout_ms}, err,
				 sizeof(err));
		kv_close(c);
		if (ret == -ECONNRESET) {
			printf("DROPPED AFTER %u\n", dropped);
			return 0;
		}
		printf("%s\n", ret == -ETIMEDOUT ? "STILL CONNECTED" : "NO CHALLENGE");
		kv_cli_say("debug-stall-auth: %s", err);
		return ret ? KV_EXIT_TRANSPORT : KV_EXIT_USAGE;
	}
	/* A batch answers a request during an outage at once (ERROR) rather
	 * than holding it until the server is back: it gives each request at
	 * most 250 ms of reconnecting. */
	ret = kv_connect(&c, o.addr, o.port,
			 &(struct kv_connect_opts){.timeout_ms = o.timeout_ms,
						   .reconnect_ms = o.cmd == KV_CMD_BATCH && o.timeout_ms > 250
								  ? 250 : 0,
						   .user = o.user, .secret_file = o.secret_file,
						   /* debug-send-raw asks whether this very
						    * connection survived its message */
						   .no_reconnect = o.cmd == KV_CMD_SEND_RAW},
			 err, sizeof(err));
	if (ret == -EACCES || ret == -EINVAL) {
		kv_cli_say("%s", err); /* not authorized, or bad credentials given */
		return ret == -EACCES ? KV_EXIT_AUTH : KV_EXIT_USAGE;
	}
	if (ret) {
		kv_cli_say("cannot connect to %s", err);
		return KV_EXIT_TRANSPORT;
	}
	switch (o.cmd) {
	case KV_CMD_DEMO: ret = kv__cmd_demo(c, &o); break;
	case KV_CMD_PUT: ret = kv__cmd_put(c, o.argv[0], o.argv[1]); break;
	case KV_CMD_GET: ret = kv__cmd_get(c, o.argv[0]); break;
	case KV_CMD_DEL: ret = kv__cmd_del(c, o.argv[0]); break;
	case KV_CMD_BATCH: ret = kv__cmd_batch(c, o.timeout_ms); break;
	case KV_CMD_STATS: ret = kv__cmd_stats(c); break;
	case KV_CMD_DUMP: ret = kv_dump_main(c); break;
	case KV_CMD_RESTORE: ret = kv_restore_main(c); break;
	case KV_CMD_SCRIBBLE:
		ret = kv_debug_scribble(c, o.argv[0], strlen(o.argv[0]));
		ret = ret ? kv__report(c, ret, "debug-scribble", 0, 0) : 0;
		break;
	case KV_CMD_SEND_RAW:
		ret = kv__cmd_send_raw(c);
		break;
	case KV_CMD_HOLD_LOCK:
		ret = kv__cmd_hold_lock(c, o.argv[0], (unsigned)strtoul(o.argv[1], NULL, 10));
		break;
	case KV_CMD_HALF_PUT:
		ret = kv__cmd_half_put(c, o.argv[0], o.argv[1],
				       (unsigned)strtoul(o.argv[2], NULL, 10));
		break;
	case KV_CMD_VANISH:
		ret = kv__cmd_vanish(c, (unsigned)strtoul(o.argv[0], NULL, 10));
		break;
	default: ret = KV_EXIT_USAGE; break;
	}
	fflush(stdout);
	kv_close(c);
	return ret;
}
