/*
 * fuzz_auth.c - the authentication handshake's messages, each read by a
 * side that has not yet proven who the other is (kv_challenge_decode and
 * kv_welcome_decode in the client, kv_auth_decode in the server), and the
 * users file kvserver --auth-file reads (kv_auth_parse). The input is one
 * message as received; the same bytes are also parsed as a users file.
 *
 * Contract: no read past the message or write past the caller's buffers;
 * a challenge or an AUTH accepted is exactly its encoding, and an AUTH's
 * name is terminated at its length; a WELCOME accepted carries a role of
 * RO or RW, points at its hello payload inside the message, holds a hello
 * that passes the hello's checks, and encodes back to the input but for the
 * hello's reserved bytes; a refusal's reason is terminated, printable and
 * within its buffer; errors are terminated. A users file accepted has at
 * least one user, each with a valid and unique name, a role, and a secret
 * of 16..256 bytes without blanks or control characters (kv_auth.h says
 * "printable"; bytes from 0x80 up, UTF-8, are taken, by the server and the
 * client alike); a file refused leaves no users
 * and its error never shows a line's secret.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_util.h"

#include <stdbool.h>

#include "kv_auth.h"
#include "kv_base.h"
#include "kv_index.h"
#include "kv_proto.h"

typedef unsigned __int128 u128;

#define WELCOME_HELLO (KV_MSG_HDR_LEN + 8 + KV_AUTH_MAC) /* where its hello payload is */

static void check_challenge(const uint8_t *msg, size_t len)
{
	uint8_t nonce[KV_AUTH_NONCE], enc[KV_MSG_MAX];

	if (kv_challenge_decode(msg, len, nonce))
		return;
	FUZZ_CHECK(kv_challenge_encode(enc, nonce) == len);
	FUZZ_CHECK(memcmp(enc, msg, len) == 0);
}

static void check_auth(const uint8_t *msg, size_t len)
{
	uint8_t cnonce[KV_AUTH_NONCE], mac[KV_AUTH_MAC], enc[KV_MSG_MAX];
	char name[KV_AUTH_NAME_MAX + 1];
	size_t nlen = 999;

	memset(name, 'x', sizeof(name));
	if (kv_auth_decode(msg, len, cnonce, mac, name, &nlen))
		return;
	FUZZ_CHECK(nlen >= 1 && nlen <= KV_AUTH_NAME_MAX && name[nlen] == '\0');
	FUZZ_CHECK(kv_auth_encode(enc, cnonce, mac, name, nlen) == len);
	FUZZ_CHECK(memcmp(enc, msg, len) == 0);
	(void)kv_auth_name_ok(name, nlen);
}

static int hello_reserved(size_t i)
{
	return (i >= 34 && i < 40) || (i >= 88 && i < 96);
}

static void check_welcome(const uint8_t *msg, size_t len)
{
	size_t rlen = len % 230, errlen = 1 + len % 150;
	char *reason = malloc(rlen ? rlen : 1), *err = malloc(errlen);
	uint8_t role = 0, mac[KV_AUTH_MAC], enc[KV_MSG_MAX];
	const uint8_t *payload = NULL;
	struct kv_hello h;
	char err2[160];
	int ret;

	if (!reason || !err)
		abort();
	memset(reason, 'x', rlen ? rlen : 1);
	ret = kv_welcome_decode(msg, len, &role, mac, &h, &payload, reason, rlen, err, errlen);
	if (ret == -EACCES) {
		size_t n;

		FUZZ_CHECK(len >= KV_MSG_HDR_LEN && kv_ld32be(msg + 12) == EACCES);
		if (rlen) {
			FUZZ_CHECK(fz_is_cstr(reason, rlen));
			n = strlen(reason);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(reason[i] >= 0x20 && reason[i] < 0x7f);
		}
	} else if (ret) {
		FUZZ_CHECK(fz_is_cstr(err, errlen));
	} else {
		FUZZ_CHECK(role == KV_ROLE_RO || role == KV_ROLE_RW);
		FUZZ_CHECK(len == KV_MSG_HDR_LEN + KV_WELCOME_PAYLOAD_LEN);
		FUZZ_CHECK(payload == msg + WELCOME_HELLO);
		FUZZ_CHECK(h.client_id != 0 && h.lease_ms <= KV_LEASE_MAX_MS);
		FUZZ_CHECK(kv_geometry_check(&h.geo, h.slab_len, err2, sizeof(err2)) == 0);
		FUZZ_CHECK((u128)h.scratch_off + h.scratch_len <= h.slab_len);
		FUZZ_CHECK(kv_welcome_encode(enc, role, mac, &h) == len);
		for (size_t i = 0; i < len; i++) {
			if (i >= WELCOME_HELLO && hello_reserved(i - WELCOME_HELLO))
				FUZZ_CHECK(enc[i] == 0);
			else
				FUZZ_CHECK(enc[i] == msg[i]);
		}
	}
	free(reason);
	free(err);
}

/* Line @n's (1 is the first) first three blank-separated fields, as
 * kv_auth_parse reads them; false past the last line. */
static bool line_fields(const char *text, size_t len, unsigned n, const char *f[3], size_t fl[3])
{
	const char *p = text, *end = text + len;

	for (unsigned ln = 1; p < end; ln++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		if (ln == n) {
			for (int i = 0; i < 3; i++) {
				while (p < eol && (*p == ' ' || *p == '\t'))
					p++;
				f[i] = p;
				while (p < eol && *p != ' ' && *p != '\t')
					p++;
				fl[i] = (size_t)(p - f[i]);
			}
			return true;
		}
		p = eol + 1;
	}
	return false;
}

/*
 * Does @err show the secret (third field) of a line the parser read before
 * it stopped? An error names its line and may show that line's user name,
 * so a secret that is also part of that name does not count.
 */
static bool secret_shown(const char *text, size_t len, const char *err)
{
	const char *f[3], *bad[3] = {"", "", ""};
	size_t fl[3], badl[3] = {0, 0, 0}, elen = strlen(err);
	unsigned last = UINT32_MAX;

	if (sscanf(err, "line %u:", &last) == 1 && line_fields(text, len, last, f, fl)) {
		memcpy(bad, f, sizeof(bad));
		memcpy(badl, fl, sizeof(badl));
	}
	for (unsigned n = 1; n <= last && line_fields(text, len, n, f, fl); n++)
		if (fl[2] >= 8 && memmem(err, elen, f[2], fl[2]) &&
		    !memmem(bad[0], badl[0], f[2], fl[2]))
			return true;
	return false;
}

static void check_users(const uint8_t *data, size_t len)
{
	char *text = (char *)fz_dup(data, len);
	size_t errlen = 1 + len % 250;
	char *err = malloc(errlen);
	struct kv_auth_db db;
	int ret;

	if (!err)
		abort();
	memset(err, 'x', errlen);
	ret = kv_auth_parse(text, len, &db, err, errlen);
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(db.users == NULL && db.n == 0);
		FUZZ_CHECK(fz_is_cstr(err, errlen));
		FUZZ_CHECK(!secret_shown(text, len, err));
	} else {
		FUZZ_CHECK(db.n >= 1);
		for (size_t i = 0; i < db.n; i++) {
			const struct kv_auth_user *u = &db.users[i];
			size_t nl = strnlen(u->name, sizeof(u->name));

			FUZZ_CHECK(nl <= KV_AUTH_NAME_MAX && kv_auth_name_ok(u->name, nl));
			FUZZ_CHECK(kv_auth_find(&db, u->name, nl) == u);
			FUZZ_CHECK(u->role == KV_ROLE_RO || u->role == KV_ROLE_RW);
			FUZZ_CHECK(u->secret_len >= KV_AUTH_SECRET_MIN &&
				   u->secret_len <= KV_AUTH_SECRET_MAX);
			for (size_t k = 0; k < u->secret_len; k++)
				FUZZ_CHECK(u->secret[k] > 0x20 && u->secret[k] != 0x7f);
			FUZZ_CHECK(memmem(text, len, u->secret, u->secret_len) != NULL);
		}
		kv_auth_free(&db);
	}
	free(err);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg = fz_dup(data, size);

	check_challenge(msg, size);
	check_auth(msg, size);
	check_welcome(msg, size);
	free(msg);
	check_users(data, size);
	return 0;
}
