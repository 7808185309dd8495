/*
 * kv_auth.h - who may use a store, and the handshake that proves it
 * (issue 10; docs/security.md).
 *
 * A server started with an auth file knows users by NAME, each with a ROLE
 * (rw or ro) and a SECRET. The secret never crosses the wire: on a new
 * connection the server sends a CHALLENGE (32 random bytes); the client
 * answers AUTH with its name, 32 random bytes of its own and
 *
 *   client MAC = HMAC-SHA256(secret, "kvstore auth v1 client" 0 |
 *                            server nonce | client nonce |
 *                            client QPN | server QPN | name)
 *
 * The server checks it in constant time and answers WELCOME: the role, the
 * hello, and
 *
 *   server MAC = HMAC-SHA256(secret, "kvstore auth v1 server" 0 |
 *                            server nonce | client nonce |
 *                            client QPN | server QPN | role | hello)
 *
 * (QPNs: the two queue pairs' numbers, u32 big-endian, as each side sees
 * them: an endpoint that relays the handshake between a client and the
 * real server has queue pairs of its own, so the MACs do not fit there.)
 *
 * so the client knows the hello (address, rkey) comes from a server that
 * holds its secret; or a refusal with a reason. HMAC and the random bytes
 * come from OpenSSL's libcrypto.
 *
 * Messages (after the usual 16-byte header, kv_proto.h):
 *   CHALLENGE  32 B server nonce
 *   AUTH       32 B client nonce | 32 B client MAC | u8 name length | name
 *   WELCOME    status 0: u8 role | 7 B zero | 32 B server MAC | hello payload
 *              status EACCES: a reason, text, at most KV_AUTH_REASON_MAX
 */
#ifndef KV_AUTH_H
#define KV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_proto.h"

#define KV_AUTH_NONCE 32
#define KV_AUTH_MAC 32
#define KV_AUTH_NAME_MAX 64
#define KV_AUTH_SECRET_MIN 16   /* shorter secrets fall to offline guessing */
#define KV_AUTH_SECRET_MAX 256
#define KV_AUTH_REASON_MAX 200
#define KV_AUTH_FILE_MAX (1u << 20)
#define KV_CHALLENGE_PAYLOAD_LEN KV_AUTH_NONCE
#define KV_WELCOME_PAYLOAD_LEN (8 + KV_AUTH_MAC + KV_HELLO_PAYLOAD_LEN)

enum kv_role {
	KV_ROLE_OPEN = 0, /* no auth file: anyone, all rights */
	KV_ROLE_RO = 1,   /* READ only, enforced by the device */
	KV_ROLE_RW = 2,
};

struct kv_auth_user {
	char name[KV_AUTH_NAME_MAX + 1];
	enum kv_role role;
	uint8_t secret[KV_AUTH_SECRET_MAX];
	size_t secret_len;
};

struct kv_auth_db {
	struct kv_auth_user *users;
	size_t n;
};

/*
 * Parse an auth file's text: one user a line, "NAME ROLE SECRET" separated
 * by spaces or tabs, ROLE rw or ro; blank lines and lines starting with #
 * are skipped. NAME is 1..64 of [A-Za-z0-9_.@-], SECRET 16..256 printable
 * bytes without spaces. 0, or -EINVAL with "line N: reason" in @err (never
 * the secret), -ENOMEM.
 */
int kv_auth_parse(const char *text, size_t len, struct kv_auth_db *db, char *err,
		  size_t errlen);

/*
 * Read and parse the auth file at @path. Refused (-EPERM) when group or
 * others have any access to it, -EINVAL on a malformed line, or the open
 * error; @err says which. The secrets are wiped from memory by
 * kv_auth_free().
 */
int kv_auth_load(const char *path, struct kv_auth_db *db, char *err, size_t errlen);
void kv_auth_free(struct kv_auth_db *db);
const struct kv_auth_user *kv_auth_find(const struct kv_auth_db *db, const char *name,
					size_t len);

/* Whether @name (@len bytes) is a valid user name. */
bool kv_auth_name_ok(const char *name, size_t len);

/* Fill @buf with @n random bytes (libcrypto). 0 or -EIO. */
int kv_auth_random(uint8_t *buf, size_t n);

/* The MACs above. 0, or -EIO when libcrypto failed: then refuse (never
 * compare a MAC that was not computed). */
int kv_auth_client_mac(const uint8_t *secret, size_t slen, const uint8_t *snonce,
		       const uint8_t *cnonce, uint32_t cqpn, uint32_t sqpn, const char *name,
		       size_t nlen, uint8_t mac[KV_AUTH_MAC]);
int kv_auth_server_mac(const uint8_t *secret, size_t slen, const uint8_t *snonce,
		       const uint8_t *cnonce, uint32_t cqpn, uint32_t sqpn, uint8_t role,
		       const uint8_t *hello_payload, uint8_t mac[KV_AUTH_MAC]);
/* Constant-time comparison of two MACs: true when equal. */
bool kv_auth_mac_eq(const uint8_t *a, const uint8_t *b);

/* Encoders return the message length; @buf holds at least KV_MSG_MAX. */
size_t kv_challenge_encode(uint8_t *buf, const uint8_t nonce[KV_AUTH_NONCE]);
size_t kv_auth_encode(uint8_t *buf, const uint8_t cnonce[KV_AUTH_NONCE],
		      const uint8_t mac[KV_AUTH_MAC], const char *name, size_t nlen);
size_t kv_welcome_encode(uint8_t *buf, uint8_t role, const uint8_t mac[KV_AUTH_MAC],
			 const struct kv_hello *h);
size_t kv_refusal_encode(uint8_t *buf, const char *reason);

/* Decoders: 0, or -EBADMSG for anything but exactly that message. */
int kv_challenge_decode(const uint8_t *buf, size_t len, uint8_t nonce[KV_AUTH_NONCE]);
int kv_auth_decode(const uint8_t *buf, size_t len, uint8_t cnonce[KV_AUTH_NONCE],
		   uint8_t mac[KV_AUTH_MAC], char name[KV_AUTH_NAME_MAX + 1], size_t *nlen);

/*
 * A WELCOME: on status 0, the role (RO or RW), the server MAC and the hello
 * (decoded and checked as kv_hello_decode does; @payload points at its raw
 * bytes inside @buf, for the MAC); returns 0. On a refusal, -EACCES and the
 * server's reason (printable characters only) in @reason. -EBADMSG or
 * another decode error otherwise, with @err saying why.
 */
int kv_welcome_decode(const uint8_t *buf, size_t len, uint8_t *role,
		      uint8_t mac[KV_AUTH_MAC], struct kv_hello *h, const uint8_t **payload,
		      char *reason, size_t rlen, char *err, size_t errlen);

#endif
