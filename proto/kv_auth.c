/* kv_auth.c - users, roles and the challenge-response handshake (kv_auth.h). */
#include "kv_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "kv_base.h"

bool kv_auth_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > KV_AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '@' ||
		      ch == '-'))
			return false;
	}
	return true;
}

static bool kv__blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The next field of [*p, end): its start and length; *p moves past it. */
static size_t kv__field(const char **p, const char *end, const char **start)
{
	while (*p < end && kv__blank(**p))
		(*p)++;
	*start = *p;
	while (*p < end && !kv__blank(**p))
		(*p)++;
	return (size_t)(*p - *start);
}

/* Wipe and free the array, keeping db->n (kv_auth_parse's growth). */
static void kv_auth_free_users(struct kv_auth_db *db)
{
	if (db->users)
		OPENSSL_cleanse(db->users, db->n * sizeof(*db->users));
	free(db->users);
	db->users = NULL;
}

void kv_auth_free(struct kv_auth_db *db)
{
	if (db->users)
		OPENSSL_cleanse(db->users, db->n * sizeof(*db->users));
	free(db->users);
	db->users = NULL;
	db->n = 0;
}

const struct kv_auth_user *kv_auth_find(const struct kv_auth_db *db, const char *name,
					size_t len)
{
	for (size_t i = 0; i < db->n; i++)
		if (strlen(db->users[i].name) == len && !memcmp(db->users[i].name, name, len))
			return &db->users[i];
	return NULL;
}

int kv_auth_parse(const char *text, size_t len, struct kv_auth_db *db, char *err,
		  size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	db->users = NULL;
	db->n = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *f[4];
		size_t fl[4];
		struct kv_auth_user *u, *nu;

		if (!eol)
			eol = end;
		lineno++;
		for (int i = 0; i < 4; i++)
			fl[i] = kv__field(&p, eol, &f[i]);
		/* A \r before the newline is part of the last field: strip it. */
		for (int i = 3; i >= 0; i--)
			if (fl[i] && f[i][fl[i] - 1] == '\r') {
				fl[i]--;
				break;
			}
		p = eol + 1;
		if (fl[0] == 0 || f[0][0] == '#')
			continue;
		if (fl[1] == 0 || fl[2] == 0 || fl[3] != 0) {
			snprintf(err, errlen, "line %u: expected NAME ROLE SECRET (three fields)",
				 lineno);
			goto bad;
		}
		if (!kv_auth_name_ok(f[0], fl[0])) {
			snprintf(err, errlen, "line %u: a user name is 1..%d of A-Z a-z 0-9 _ . @ -",
				 lineno, KV_AUTH_NAME_MAX);
			goto bad;
		}
		if (kv_auth_find(db, f[0], fl[0])) {
			snprintf(err, errlen, "line %u: its user name appears on an earlier line too",
				 lineno);
			goto bad;
		}
		if (!((fl[1] == 2 && !memcmp(f[1], "rw", 2)) ||
		      (fl[1] == 2 && !memcmp(f[1], "ro", 2)))) {
			snprintf(err, errlen, "line %u: the role (second field) must be rw or ro",
				 lineno);
			goto bad;
		}
		if (fl[2] < KV_AUTH_SECRET_MIN || fl[2] > KV_AUTH_SECRET_MAX) {
			snprintf(err, errlen, "line %u: the secret (third field) must be %d..%d "
				 "bytes (it is %zu)", lineno, KV_AUTH_SECRET_MIN, KV_AUTH_SECRET_MAX,
				 fl[2]);
			goto bad;
		}
		for (size_t i = 0; i < fl[2]; i++)
			if ((unsigned char)f[2][i] < 0x21 || (unsigned char)f[2][i] == 0x7f) {
				snprintf(err, errlen, "line %u: the secret has a control "
					 "character", lineno);
				goto bad;
			}
		/* Not realloc: it would leave the old copy of the secrets in freed
		 * memory. A new array, the old one wiped. */
		nu = malloc((db->n + 1) * sizeof(*nu));
		if (!nu) {
			snprintf(err, errlen, "out of memory");
			kv_auth_free(db);
			return -ENOMEM;
		}
		if (db->n)
			memcpy(nu, db->users, db->n * sizeof(*nu));
		kv_auth_free_users(db);
		db->users = nu;
		u = &db->users[db->n++];
		memset(u, 0, sizeof(*u));
		memcpy(u->name, f[0], fl[0]);
		u->role = f[1][1] == 'w' ? KV_ROLE_RW : KV_ROLE_RO;
		memcpy(u->secret, f[2], fl[2]);
		u->secret_len = fl[2];
	}
	if (db->n == 0) {
		snprintf(err, errlen, "no users in it");
		return -EINVAL;
	}
	return 0;
bad:
	kv_auth_free(db);
	return -EINVAL;
}

int kv_auth_load(const char *path, struct kv_auth_db *db, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	db->users = NULL;
	db->n = 0;
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "group or others may access it (mode %04o): it holds "
			 "secrets; chmod 600 it", (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	if (st.st_size > KV_AUTH_FILE_MAX) {
		snprintf(err, errlen, "larger than %u bytes", KV_AUTH_FILE_MAX);
		close(fd);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	got = read(fd, text, (size_t)st.st_size + 1);
	close(fd);
	if (got < 0 || got > st.st_size) {
		snprintf(err, errlen, "%s", got < 0 ? strerror(errno) : "it grew while read");
		free(text);
		return -EIO;
	}
	ret = kv_auth_parse(text, (size_t)got, db, err, errlen);
	OPENSSL_cleanse(text, (size_t)got);
	free(text);
	return ret;
}

int kv_auth_random(uint8_t *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

/* HMAC-SHA256 over the concatenation of @n parts (OpenSSL 3's EVP_MAC).
 * 0 or -EIO; on failure the MAC is zeroed and must not be used. */
static int kv__hmac(const uint8_t *key, size_t klen, const void *const *part,
		    const size_t *plen, unsigned n, uint8_t mac[KV_AUTH_MAC])
{
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outl = 0;
	bool ok = ctx && EVP_MAC_init(ctx, key, klen, params) == 1;

	for (unsigned i = 0; i < n && ok; i++)
		ok = EVP_MAC_update(ctx, part[i], plen[i]) == 1;
	ok = ok && EVP_MAC_final(ctx, mac, &outl, KV_AUTH_MAC) == 1 && outl == KV_AUTH_MAC;
	if (!ok)
		memset(mac, 0, KV_AUTH_MAC);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	return ok ? 0 : -EIO;
}

int kv_auth_client_mac(const uint8_t *secret, size_t slen, const uint8_t *snonce,
		       const uint8_t *cnonce, uint32_t cqpn, uint32_t sqpn, const char *name,
		       size_t nlen, uint8_t mac[KV_AUTH_MAC])
{
	static const char label[] = "kvstore auth v1 client";
	uint8_t qpn[8];
	const void *part[] = {label, snonce, cnonce, qpn, name};
	size_t plen[] = {sizeof(label), KV_AUTH_NONCE, KV_AUTH_NONCE, 8, nlen};

	kv_st32be(qpn, cqpn);
	kv_st32be(qpn + 4, sqpn);
	return kv__hmac(secret, slen, part, plen, 5, mac);
}

int kv_auth_server_mac(const uint8_t *secret, size_t slen, const uint8_t *snonce,
		       const uint8_t *cnonce, uint32_t cqpn, uint32_t sqpn, uint8_t role,
		       const uint8_t *hello_payload, uint8_t mac[KV_AUTH_MAC])
{
	static const char label[] = "kvstore auth v1 server";
	uint8_t qpn[8];
	const void *part[] = {label, snonce, cnonce, qpn, &role, hello_payload};
	size_t plen[] = {sizeof(label), KV_AUTH_NONCE, KV_AUTH_NONCE, 8, 1,
			 KV_HELLO_PAYLOAD_LEN};

	kv_st32be(qpn, cqpn);
	kv_st32be(qpn + 4, sqpn);
	return kv__hmac(secret, slen, part, plen, 6, mac);
}

bool kv_auth_mac_eq(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, KV_AUTH_MAC) == 0;
}

size_t kv_challenge_encode(uint8_t *buf, const uint8_t nonce[KV_AUTH_NONCE])
{
	kv_msg_put_header(buf, KV_MSG_CHALLENGE, KV_CHALLENGE_PAYLOAD_LEN, 0);
	memcpy(buf + KV_MSG_HDR_LEN, nonce, KV_AUTH_NONCE);
	return KV_MSG_HDR_LEN + KV_CHALLENGE_PAYLOAD_LEN;
}

int kv_challenge_decode(const uint8_t *buf, size_t len, uint8_t nonce[KV_AUTH_NONCE])
{
	struct kv_msg_header hdr;
	int ret = kv_msg_get_header(buf, len, &hdr);

	if (ret)
		return ret;
	if (hdr.type != KV_MSG_CHALLENGE || hdr.payload_len != KV_CHALLENGE_PAYLOAD_LEN ||
	    hdr.status)
		return -EBADMSG;
	memcpy(nonce, buf + KV_MSG_HDR_LEN, KV_AUTH_NONCE);
	return 0;
}

size_t kv_auth_encode(uint8_t *buf, const uint8_t cnonce[KV_AUTH_NONCE],
		      const uint8_t mac[KV_AUTH_MAC], const char *name, size_t nlen)
{
	uint8_t *p = buf + KV_MSG_HDR_LEN;

	if (nlen > KV_AUTH_NAME_MAX)
		nlen = KV_AUTH_NAME_MAX; /* the server refuses such a name anyway */
	kv_msg_put_header(buf, KV_MSG_AUTH, (uint32_t)(2 * 32 + 1 + nlen), 0);
	memcpy(p, cnonce, KV_AUTH_NONCE);
	memcpy(p + 32, mac, KV_AUTH_MAC);
	p[64] = (uint8_t)nlen;
	memcpy(p + 65, name, nlen);
	return KV_MSG_HDR_LEN + 65 + nlen;
}

int kv_auth_decode(const uint8_t *buf, size_t len, uint8_t cnonce[KV_AUTH_NONCE],
		   uint8_t mac[KV_AUTH_MAC], char name[KV_AUTH_NAME_MAX + 1], size_t *nlen)
{
	struct kv_msg_header hdr;
	const uint8_t *p = buf + KV_MSG_HDR_LEN;
	int ret = kv_msg_get_header(buf, len, &hdr);

	if (ret)
		return ret;
	if (hdr.type != KV_MSG_AUTH || hdr.status || hdr.payload_len < 66 ||
	    hdr.payload_len > 65 + KV_AUTH_NAME_MAX || p[64] != hdr.payload_len - 65)
		return -EBADMSG;
	memcpy(cnonce, p, KV_AUTH_NONCE);
	memcpy(mac, p + 32, KV_AUTH_MAC);
	*nlen = p[64];
	memcpy(name, p + 65, *nlen);
	name[*nlen] = '\0';
	return 0;
}

size_t kv_welcome_encode(uint8_t *buf, uint8_t role, const uint8_t mac[KV_AUTH_MAC],
			 const struct kv_hello *h)
{
	uint8_t *p = buf + KV_MSG_HDR_LEN;

	/* The hello's own encoding, its header overwritten by ours. */
	kv_hello_encode(p + 8 + KV_AUTH_MAC - KV_MSG_HDR_LEN, h);
	kv_msg_put_header(buf, KV_MSG_WELCOME, KV_WELCOME_PAYLOAD_LEN, 0);
	memset(p, 0, 8);
	p[0] = role;
	memcpy(p + 8, mac, KV_AUTH_MAC);
	return KV_MSG_HDR_LEN + KV_WELCOME_PAYLOAD_LEN;
}

size_t kv_refusal_encode(uint8_t *buf, const char *reason)
{
	size_t n = strnlen(reason, KV_AUTH_REASON_MAX);

	kv_msg_put_header(buf, KV_MSG_WELCOME, (uint32_t)n, EACCES);
	memcpy(buf + KV_MSG_HDR_LEN, reason, n);
	return KV_MSG_HDR_LEN + n;
}

int kv_welcome_decode(const uint8_t *buf, size_t len, uint8_t *role,
		      uint8_t mac[KV_AUTH_MAC], struct kv_hello *h, const uint8_t **payload,
		      char *reason, size_t rlen, char *err, size_t errlen)
{
	struct kv_msg_header hdr;
	const uint8_t *p = buf + KV_MSG_HDR_LEN;
	uint8_t hello[KV_MSG_HDR_LEN + KV_HELLO_PAYLOAD_LEN];
	int ret = kv_msg_get_header(buf, len, &hdr);

	if (ret) {
		snprintf(err, errlen, "malformed answer to authentication (%zu bytes)", len);
		return ret;
	}
	if (hdr.type != KV_MSG_WELCOME) {
		snprintf(err, errlen, "expected a welcome, got %s", kv_msg_type_name(hdr.type));
		return -EBADMSG;
	}
	if (hdr.status == EACCES && hdr.payload_len <= KV_AUTH_REASON_MAX) {
		size_t n = 0;

		for (uint32_t i = 0; i < hdr.payload_len && n + 1 < rlen; i++)
			reason[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
		if (rlen)
			reason[n] = '\0';
		return -EACCES;
	}
	if (hdr.status || hdr.payload_len != KV_WELCOME_PAYLOAD_LEN ||
	    (p[0] != KV_ROLE_RO && p[0] != KV_ROLE_RW)) {
		snprintf(err, errlen, "malformed welcome (status %u, %u bytes, role %u)",
			 hdr.status, hdr.payload_len, hdr.payload_len ? p[0] : 0);
		return -EBADMSG;
	}
	for (int i = 1; i < 8; i++)
		if (p[i]) {
			snprintf(err, errlen, "malformed welcome (reserved bytes set)");
			return -EBADMSG;
		}
	*role = p[0];
	memcpy(mac, p + 8, KV_AUTH_MAC);
	*payload = p + 8 + KV_AUTH_MAC;
	kv_msg_put_header(hello, KV_MSG_HELLO, KV_HELLO_PAYLOAD_LEN, 0);
	memcpy(hello + KV_MSG_HDR_LEN, *payload, KV_HELLO_PAYLOAD_LEN);
	return kv_hello_decode(hello, sizeof(hello), h, err, errlen);
}
