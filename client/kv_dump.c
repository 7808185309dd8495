/*
 * kv_dump.c - `kvcli dump` (every item to stdout) and `kvcli restore` (PUT
 * every item read from stdin), in the format of kv_dumpfmt.h; docs/dump.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_cli.h"
#include "kv_dumpfmt.h"
#include "kv_index.h"

/* The format must carry every item any store can hold. */
_Static_assert(KV_DUMP_MAX_KEY >= KV_KEY_LIMIT, "dump keys shorter than a store's");
_Static_assert(KV_DUMP_MAX_VALUE >= KV_VALUE_LIMIT, "dump values shorter than a store's");

int kv_dump_usage(const struct kv_cli_opts *o)
{
	if (o->argc) {
		kv_cli_say("usage: kvcli %s", o->cmd == KV_CMD_DUMP ? "dump > FILE" : "restore < FILE");
		return KV_EXIT_USAGE;
	}
	/* A binary stream is no use on a terminal, and a terminal is no dump. */
	if (o->cmd == KV_CMD_DUMP && isatty(STDOUT_FILENO)) {
		kv_cli_say("dump: stdout is a terminal; redirect it: kvcli dump > FILE");
		return KV_EXIT_USAGE;
	}
	if (o->cmd == KV_CMD_RESTORE && isatty(STDIN_FILENO)) {
		kv_cli_say("restore: stdin is a terminal; give it a dump: kvcli restore < FILE");
		return KV_EXIT_USAGE;
	}
	return 0;
}

/* ---- dump ------------------------------------------------------------------ */

struct kv__dump {
	struct kv_dump_writer w;
	int werr; /* the write that stopped the scan */
};

static int kv__stdout_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx;
	if (fwrite(buf, 1, n, stdout) == n)
		return 0;
	return errno ? -errno : -EIO;
}

static int kv__dump_item(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct kv__dump *d = arg;

	d->werr = kv_dump_write_item(&d->w, key, klen, val, vlen);
	return d->werr ? 1 : 0;
}

int kv_dump_main(kv_client *c)
{
	static char obuf[1 << 20];
	struct kv_scan_stats st;
	struct kv__dump d = {.werr = 0};
	int ret;

	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	if (kv_dump_writer_init(&d.w, kv__stdout_write, NULL)) {
		kv_cli_say("dump: out of memory");
		return KV_EXIT_TRANSPORT;
	}
	errno = 0;
	ret = kv_dump_write_begin(&d.w);
	if (ret)
		d.werr = ret;
	else
		ret = kv_scan(c, kv__dump_item, &d, &st);
	if (!ret) {
		errno = 0;
		ret = d.werr = kv_dump_write_end(&d.w);
	}
	if (!ret && fflush(stdout))
		ret = d.werr = errno ? -errno : -EIO;
	kv_dump_writer_free(&d.w);
	if (d.werr) {
		kv_cli_say("dump: writing stdout: %s (the dump is incomplete: no end record)",
			 strerror(-d.werr));
		return KV_EXIT_TRANSPORT;
	}
	if (ret) {
		fflush(stdout);
		kv_cli_say("dump: %s%s%s, after %llu items (the dump is incomplete: no end record)",
			 kv_strerror(ret), *kv_client_errmsg(c) ? ": " : "", kv_client_errmsg(c),
			 (unsigned long long)st.items);
		return kv_cli_exit_code(ret);
	}
	kv_cli_say("dumped %llu items (%llu index words read, %llu items settled by a GET)",
		 (unsigned long long)st.items, (unsigned long long)st.words,
		 (unsigned long long)st.via_get);
	if (st.garbage)
		kv_cli_say("dump: %llu index words are garbage (ignored)",
			 (unsigned long long)st.garbage);
	if (st.unreadable) {
		kv_cli_say("dump: %llu items left out: their blocks stay corrupt "
			 "(the dump holds every other item and is complete)",
			 (unsigned long long)st.unreadable);
		return KV_EXIT_STORE;
	}
	return KV_EXIT_OK;
}

/* ---- restore --------------------------------------------------------------- */

static long kv__stdin_read(void *ctx, void *buf, size_t n)
{
	size_t got;

	(void)ctx;
	errno = 0;
	got = fread(buf, 1, n, stdin);
	if (got < n && ferror(stdin))
		return errno ? -errno : -EIO;
	return (long)got;
}

/* @key for a message: printable ASCII as is, other bytes as \xHH, cut long. */
static const char *kv__show_key(const uint8_t *key, size_t klen, char *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < klen && n + 8 < cap; i++) {
		if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '\\')
			buf[n++] = (char)key[i];
		else
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", key[i]);
		if (i + 1 < klen && n + 8 >= cap) {
			memcpy(buf + n, "...", 4);
			return buf;
		}
	}
	buf[n] = 0;
	return buf;
}

int kv_restore_main(kv_client *c)
{
	struct kv_dump_reader r;
	struct kv_limits l;
	const uint8_t *key, *val;
	size_t klen, vlen;
	unsigned long long done = 0;
	char shown[96];
	int ret;

	if (kv_dump_reader_init(&r, kv__stdin_read, NULL)) {
		kv_cli_say("restore: out of memory");
		return KV_EXIT_TRANSPORT;
	}
	kv_client_limits(c, &l);
	while ((ret = kv_dump_read_next(&r, &key, &klen, &val, &vlen)) == 1) {
		int err = kv_put(c, key, klen, val, vlen);

		if (!err) {
			done++;
			continue;
		}
		kv__show_key(key, klen, shown, sizeof(shown));
		if (err == -E2BIG && klen > l.max_key)
			kv_cli_say("restore: item %llu: its key of %zu bytes is over the server's "
				 "limit of %zu (key '%s')", (unsigned long long)r.item, klen,
				 l.max_key, shown);
		else if (err == -E2BIG)
			kv_cli_say("restore: item %llu: its value of %zu bytes is over the server's "
				 "limit of %zu (key '%s')", (unsigned long long)r.item, vlen,
				 l.max_value, shown);
		else if (err == -ENOSPC)
			kv_cli_say("restore: item %llu: store full: %s (key of %zu bytes, value of "
				 "%zu bytes: '%s')", (unsigned long long)r.item,
				 *kv_client_errmsg(c) ? kv_client_errmsg(c) : kv_strerror(err),
				 klen, vlen, shown);
		else
			kv_cli_say("restore: item %llu: %s%s%s (key '%s')", (unsigned long long)r.item,
				 kv_strerror(err), *kv_client_errmsg(c) ? ": " : "",
				 kv_client_errmsg(c), shown);
		kv_cli_say("restored %llu items; the dump's items from %llu on are not",
			 done, (unsigned long long)r.item);
		kv_dump_reader_free(&r);
		return kv_cli_exit_code(err);
	}
	if (ret < 0) {
		kv_cli_say("restore: %s", r.msg);
		kv_cli_say("restored %llu items (those before the error)", done);
		kv_dump_reader_free(&r);
		return ret == -EBADMSG ? KV_EXIT_USAGE : KV_EXIT_TRANSPORT;
	}
	kv_dump_reader_free(&r);
	kv_cli_say("restored %llu items", done);
	return KV_EXIT_OK;
}
