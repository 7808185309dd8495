/* test_auth.c - the auth file, the handshake's MACs and messages (kv_auth.h). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_auth.h"

static int parse(const char *text, struct kv_auth_db *db, char *err)
{
	return kv_auth_parse(text, strlen(text), db, err, 200);
}

START_TEST(test_parse_good)
{
	struct kv_auth_db db;
	char err[200] = "";
	const struct kv_auth_user *u;

	ck_assert_int_eq(parse("# users\n\nalice rw 0123456789abcdef\n"
			       "  bob\tro   fedcba9876543210-more\r\n#x ro y\n"
			       "svc.reader@x-1 ro !\"$%&'()*+,-./0123\n",
			       &db, err), 0);
	ck_assert_uint_eq(db.n, 3);
	u = kv_auth_find(&db, "alice", 5);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->role, KV_ROLE_RW);
	ck_assert_uint_eq(u->secret_len, 16);
	ck_assert_int_eq(memcmp(u->secret, "0123456789abcdef", 16), 0);
	u = kv_auth_find(&db, "bob", 3);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->role, KV_ROLE_RO);
	ck_assert_uint_eq(u->secret_len, 21); /* the \r is not part of it */
	ck_assert_ptr_nonnull(kv_auth_find(&db, "svc.reader@x-1", 14));
	ck_assert_ptr_null(kv_auth_find(&db, "ali", 3));
	ck_assert_ptr_null(kv_auth_find(&db, "alicex", 6));
	kv_auth_free(&db);
	ck_assert_uint_eq(db.n, 0);
}
END_TEST

START_TEST(test_parse_bad)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"alice rw\n", "line 1: expected NAME ROLE SECRET"},
		{"# c\nalice rw 0123456789abcdef extra\n", "line 2: expected"},
		{"alice admin 0123456789abcdef\n", "must be rw or ro"},
		{"alice RW 0123456789abcdef\n", "must be rw or ro"},
		{"alice rw short\n", "must be 16..256"},
		{"al/ice rw 0123456789abcdef\n", "a user name is"},
		{"alice rw 0123456789abcdef\nalice ro 0123456789abcdeg\n", "line 2: its user name appears"},
		{"alice rw 0123456789ab\x01" "cdef\n", "control character"},
		{"# only comments\n\n", "no users"},
		{"", "no users"},
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv_auth_db db;
		char err[200] = "";

		ck_assert_int_eq(parse(bad[i].text, &db, err), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].why), "case %u: '%s' lacks '%s'", i, err,
			      bad[i].why);
		ck_assert_ptr_null(strstr(err, "0123456789")); /* never the secret */
		ck_assert_ptr_null(db.users);
	}
}
END_TEST

START_TEST(test_load_mode)
{
	char path[] = "/tmp/kv_auth_XXXXXX", err[200];
	struct kv_auth_db db;
	int fd = mkstemp(path);
	const char *text = "alice rw 0123456789abcdef\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(kv_auth_load(path, &db, err, sizeof(err)), 0);
	ck_assert_uint_eq(db.n, 1);
	kv_auth_free(&db);
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(kv_auth_load(path, &db, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert_int_eq(chmod(path, 0604), 0);
	ck_assert_int_eq(kv_auth_load(path, &db, err, sizeof(err)), -EPERM);
	unlink(path);
	ck_assert_int_eq(kv_auth_load(path, &db, err, sizeof(err)), -ENOENT);
}
END_TEST

/* HMAC-SHA256 of the documented input (queue pairs 0x11 and 0x222),
 * computed apart (Python's hmac). */
START_TEST(test_client_mac_known)
{
	static const uint8_t want[32] = {
		0x46, 0x46, 0xc5, 0x29, 0xb6, 0xb1, 0x71, 0x1d, 0x83, 0x99, 0x0a, 0x85,
		0x96, 0x4b, 0xb8, 0x5c, 0x95, 0xce, 0x79, 0xc3, 0xe9, 0x60, 0xf5, 0x24,
		0x3e, 0xdd, 0xf0, 0x18, 0xf9, 0xa8, 0x21, 0xb6};
	const char *secret = "0123456789abcdef-secret";
	uint8_t sn[32], cn[32], mac[32], other[32];

	for (int i = 0; i < 32; i++) {
		sn[i] = (uint8_t)i;
		cn[i] = (uint8_t)(32 + i);
	}
	ck_assert_int_eq(kv_auth_client_mac((const uint8_t *)secret, strlen(secret), sn, cn, 0x11, 0x222,
					    "alice", 5, mac), 0);
	ck_assert_int_eq(memcmp(mac, want, 32), 0);
	ck_assert(kv_auth_mac_eq(mac, want));
	/* Every input matters. */
	kv_auth_client_mac((const uint8_t *)secret, strlen(secret) - 1, sn, cn, 0x11, 0x222, "alice", 5,
			   other);
	ck_assert(!kv_auth_mac_eq(mac, other));
	kv_auth_client_mac((const uint8_t *)secret, strlen(secret), cn, sn, 0x11, 0x222, "alice", 5, other);
	ck_assert(!kv_auth_mac_eq(mac, other));
	kv_auth_client_mac((const uint8_t *)secret, strlen(secret), sn, cn, 0x11, 0x222, "alicf", 5, other);
	ck_assert(!kv_auth_mac_eq(mac, other));
	/* A relay: the same handshake seen over other queue pairs. */
	kv_auth_client_mac((const uint8_t *)secret, strlen(secret), sn, cn, 0x12, 0x222, "alice", 5, other);
	ck_assert(!kv_auth_mac_eq(mac, other));
	kv_auth_client_mac((const uint8_t *)secret, strlen(secret), sn, cn, 0x11, 0x223, "alice", 5, other);
	ck_assert(!kv_auth_mac_eq(mac, other));
}
END_TEST

START_TEST(test_messages)
{
	uint8_t buf[KV_MSG_MAX], nonce[32], cn[32], mac[32], mac2[32], n2[32], role = 0;
	char name[KV_AUTH_NAME_MAX + 1], reason[64], err[200];
	struct kv_hello h = {0}, h2;
	const uint8_t *payload;
	size_t len, nlen;

	ck_assert_int_eq(kv_auth_random(nonce, 32), 0);
	ck_assert_int_eq(kv_auth_random(cn, 32), 0);
	ck_assert_int_ne(memcmp(nonce, cn, 32), 0);
	len = kv_challenge_encode(buf, nonce);
	ck_assert_int_eq(kv_challenge_decode(buf, len, n2), 0);
	ck_assert_int_eq(memcmp(nonce, n2, 32), 0);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_ne(kv_challenge_decode(buf, cut, n2), 0);

	memset(mac, 0xab, 32);
	len = kv_auth_encode(buf, cn, mac, "bob", 3);
	ck_assert_int_eq(kv_auth_decode(buf, len, n2, mac2, name, &nlen), 0);
	ck_assert_uint_eq(nlen, 3);
	ck_assert_str_eq(name, "bob");
	ck_assert_int_eq(memcmp(mac, mac2, 32), 0);
	ck_assert_int_eq(memcmp(cn, n2, 32), 0);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_ne(kv_auth_decode(buf, cut, n2, mac2, name, &nlen), 0);
	buf[KV_MSG_HDR_LEN + 64] = 4; /* name length disagrees with the payload */
	ck_assert_int_eq(kv_auth_decode(buf, len, n2, mac2, name, &nlen), -EBADMSG);
	len = kv_auth_encode(buf, cn, mac, "", 0); /* an empty name */
	ck_assert_int_eq(kv_auth_decode(buf, len, n2, mac2, name, &nlen), -EBADMSG);

	h.slab_addr = 0x10000;
	h.slab_len = 1 << 20;
	h.rkey = 77;
	h.client_id = 3;
	h.scratch_len = 4096;
	h.geo.nbuckets = 64;
	h.geo.index_off = 64 * 4096;
	h.geo.data_off = h.geo.index_off + 64 * 64;
	h.geo.data_len = h.slab_len - h.geo.data_off;
	h.geo.max_key = 250;
	h.geo.max_value = 1024;
	len = kv_welcome_encode(buf, KV_ROLE_RO, mac, &h);
	ck_assert_int_eq(kv_welcome_decode(buf, len, &role, mac2, &h2, &payload, reason,
					   sizeof(reason), err, sizeof(err)), 0);
	ck_assert_int_eq(role, KV_ROLE_RO);
	ck_assert_int_eq(memcmp(mac, mac2, 32), 0);
	ck_assert_uint_eq(h2.rkey, 77);
	ck_assert_uint_eq(h2.client_id, 3);
	ck_assert_uint_eq(h2.geo.max_value, 1024);
	ck_assert_ptr_eq(payload, buf + KV_MSG_HDR_LEN + 40);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_ne(kv_welcome_decode(buf, cut, &role, mac2, &h2, &payload, reason,
						   sizeof(reason), err, sizeof(err)), 0);
	buf[KV_MSG_HDR_LEN] = 3; /* no such role */
	ck_assert_int_eq(kv_welcome_decode(buf, len, &role, mac2, &h2, &payload, reason,
					   sizeof(reason), err, sizeof(err)), -EBADMSG);

	len = kv_refusal_encode(buf, "unknown user or wrong secret\n");
	ck_assert_int_eq(kv_welcome_decode(buf, len, &role, mac2, &h2, &payload, reason,
					   sizeof(reason), err, sizeof(err)), -EACCES);
	ck_assert_str_eq(reason, "unknown user or wrong secret?"); /* printable only */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_load_mode);
	tcase_add_test(tc, test_client_mac_known);
	tcase_add_test(tc, test_messages);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
