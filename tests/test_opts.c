/*
 * test_opts.c - command lines: kv_server_parse_args (kv_server.h), and
 * kv_cli_parse and kv_cli_exit_code (kv_cli.h).
 *
 * getopt keeps state between calls, so a test parses one command line per
 * forked process wherever a parse may stop half-way; keep fork mode on.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_cli.h"
#include "kv_server.h"
#include "kv_index.h"

/* A writable, NULL-terminated argv from string literals. */
#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define N(a) (sizeof(a) / sizeof((a)[0]))

static int argc_of(char **argv)
{
	int n = 0;

	while (argv[n])
		n++;
	return n;
}

/* What a parser returned and printed. */
struct result {
	int ret;
	char *out, *err;
	size_t out_len, err_len;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static struct result run_server(char **argv, struct kv_server_opts *o)
{
	struct result r = {0};
	FILE *out = open_memstream(&r.out, &r.out_len);
	FILE *err = open_memstream(&r.err, &r.err_len);

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	r.ret = kv_server_parse_args(argc_of(argv), argv, o, out, err);
	fclose(out);
	fclose(err);
	return r;
}

static struct result run_cli(char **argv, struct kv_cli_opts *o)
{
	struct result r = {0};
	FILE *out = open_memstream(&r.out, &r.out_len);
	FILE *err = open_memstream(&r.err, &r.err_len);

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	r.ret = kv_cli_parse(argc_of(argv), argv, o, out, err);
	fclose(out);
	fclose(err);
	return r;
}

/* Exactly one line of text, starting with @prefix. */
static void assert_one_line(const char *text, const char *prefix)
{
	size_t len = strlen(text);

	ck_assert_msg(len > 1 && text[len - 1] == '\n', "not one line: '%s'", text);
	ck_assert_msg(strchr(text, '\n') == text + len - 1, "more than one line: '%s'", text);
	ck_assert_msg(strncmp(text, prefix, strlen(prefix)) == 0, "'%s' does not start with %s",
		      text, prefix);
}

/* ----------------------------------------------------------- kvserver */

START_TEST(test_server_defaults)
{
	struct kv_server_opts o;
	struct result r;

	memset(&o, 0xa5, sizeof(o));
	r = run_server(ARGV("kvserver"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_ptr_null(o.addr);
	ck_assert_uint_eq(o.port, 20886);
	ck_assert_uint_eq(o.slab_size, 64ull << 20);
	ck_assert_uint_eq(o.max_key, 250);
	ck_assert_uint_eq(o.max_value, KV_DEFAULT_MAX_VALUE);
	ck_assert_uint_eq(o.max_value, 1u << 20);
	ck_assert_uint_eq(o.index_size, 0); /* the default fraction of the slab */
	ck_assert_uint_eq(o.lease_ms, 1000);
	ck_assert(!o.quiet);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);
}
END_TEST

/* --file and --sync-interval; -m remembered as given or not. */
START_TEST(test_server_file_options)
{
	struct kv_server_opts o;
	struct result r;

	r = run_server(ARGV("kvserver"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_ptr_null(o.file);
	ck_assert_uint_eq(o.sync_ms, 1000);
	ck_assert(!o.slab_size_given);
	result_free(&r);
	r = run_server(ARGV("kvserver", "-f", "/x/store", "--sync-interval", "0", "-m", "8M"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.file, "/x/store");
	ck_assert_uint_eq(o.sync_ms, 0);
	ck_assert(o.slab_size_given);
	result_free(&r);
	r = run_server(ARGV("kvserver", "--file=/y", "--sync-interval=3600000"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.file, "/y");
	ck_assert_uint_eq(o.sync_ms, 3600000);
	result_free(&r);
	r = run_server(ARGV("kvserver", "--sync-interval", "3600001"), &o);
	ck_assert_int_eq(r.ret, -EINVAL);
	assert_one_line(r.err, "kvserver: invalid value '3600001' for --sync-interval");
	result_free(&r);
	r = run_server(ARGV("kvserver", "--file", ""), &o);
	ck_assert_int_eq(r.ret, -EINVAL);
	assert_one_line(r.err, "kvserver: invalid value '' for -f/--file");
	result_free(&r);
	r = run_server(ARGV("kvserver", "-f"), &o);
	ck_assert_int_eq(r.ret, -EINVAL);
	result_free(&r);
}
END_TEST

START_TEST(test_server_short_options)
{
	struct kv_server_opts o;
	struct result r = run_server(ARGV("kvserver", "-a", "10.0.0.1", "-p", "7000", "-m",
					  "128M", "-I", "8M", "-k", "64", "-v", "4096", "-L", "250",
					  "-q"),
				     &o);

	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "10.0.0.1");
	ck_assert_uint_eq(o.port, 7000);
	ck_assert_uint_eq(o.slab_size, 128ull << 20);
	ck_assert_uint_eq(o.index_size, 8ull << 20);
	ck_assert_uint_eq(o.max_key, 64);
	ck_assert_uint_eq(o.max_value, 4096);
	ck_assert_uint_eq(o.lease_ms, 250);
	ck_assert(o.quiet);
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_server_long_options)
{
	struct kv_server_opts o;
	struct result r = run_server(ARGV("kvserver", "--addr", "fe80::1", "--port=1",
					  "--slab-size", "1G", "--index-size=100M", "--max-key=1",
					  "--max-value", "64M", "--lease=600000", "--quiet"),
				     &o);

	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "fe80::1");
	ck_assert_uint_eq(o.port, 1);
	ck_assert_uint_eq(o.slab_size, 1ull << 30);
	ck_assert_uint_eq(o.index_size, 100ull << 20);
	ck_assert_uint_eq(o.max_key, 1);
	ck_assert_uint_eq(o.max_value, KV_VALUE_LIMIT);
	ck_assert_uint_eq(o.lease_ms, 600000);
	ck_assert(o.quiet);
	result_free(&r);
}
END_TEST

START_TEST(test_server_limits)
{
	struct kv_server_opts o;
	struct result r;

	/* The extremes each option allows. */
	r = run_server(ARGV("kvserver", "-p", "65535", "-m", "1M", "-k", "250", "-v", "1", "-L",
			    "50"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.port, 65535);
	ck_assert_uint_eq(o.slab_size, 1ull << 20);
	ck_assert_uint_eq(o.max_key, 250);
	ck_assert_uint_eq(o.max_value, 1);
	ck_assert_uint_eq(o.lease_ms, 50);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-m", "1024G"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.slab_size, 1ull << 40);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-v", "67108864"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.max_value, 64u << 20);
	result_free(&r);
}
END_TEST

/* -I: any size with K/M/G, 0 for the default, up to what leaves room for data
 * in the slab; whatever the order of -I and -m. */
START_TEST(test_server_index_size)
{
	struct kv_server_opts o;
	struct result r;

	r = run_server(ARGV("kvserver", "-I", "0"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.index_size, 0);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-I", "1K", "-m", "1M"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.index_size, 1024);
	ck_assert_uint_eq(o.slab_size, 1ull << 20);
	result_free(&r);

	r = run_server(ARGV("kvserver", "--index-size", "32M"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.index_size, 32ull << 20);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-m", "2G", "--index-size=1G"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.index_size, 1ull << 30);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-m", "64M", "-I", "60M"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(o.index_size, 60ull << 20);
	result_free(&r);
}
END_TEST

/* -H (the fixed slots' head size) went with the slots. */
START_TEST(test_server_head_size_is_gone)
{
	struct kv_server_opts o;
	struct result r;

	r = run_server(ARGV("kvserver", "-H", "128"), &o);
	ck_assert_int_eq(r.ret, -EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option"));
	assert_one_line(r.err, "kvserver: ");
	result_free(&r);

	r = run_server(ARGV("kvserver", "--head-size=128"), &o);
	ck_assert_int_eq(r.ret, -EINVAL);
	assert_one_line(r.err, "kvserver: ");
	result_free(&r);

	r = run_server(ARGV("kvserver", "--help"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_null(strstr(r.out, "--head-size"));
	ck_assert_ptr_null(strstr(r.out, "slot"));
	ck_assert_ptr_nonnull(strstr(r.out, "--index-size"));
	result_free(&r);
}
END_TEST

START_TEST(test_server_help)
{
	struct kv_server_opts o;
	struct result r;

	r = run_server(ARGV("kvserver", "-h"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kvserver"));
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);

	r = run_server(ARGV("kvserver", "-p", "7000", "--help"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "--slab-size"));
	result_free(&r);
}
END_TEST

START_TEST(test_server_version)
{
	struct kv_server_opts o;
	struct result r = run_server(ARGV("kvserver", "--version"), &o);

	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, KV_VERSION));
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);
}
END_TEST

/* Command lines kvserver must refuse, after its name. */
static const char *const server_bad[][4] = {
	{"-p", "0"},           {"-p", "65536"},        {"-p", "80x"},
	{"--port="},           {"-m", "12Q"},          {"-m", "1K"},
	{"--slab-size", "2T"}, {"-m", "1025G"},        {"-m", "-1"},
	{"-k", "0"},           {"-k", "251"},          {"-k", "1K"},
	{"-v", "0"},           {"-v", "65M"},          {"-v", "67108865"},
	{"-x"},
	{"--bogus"},           {"-p"},                 {"--port"},
	{"-m"},                {"extra"},              {"-p", "7000", "extra"},
	{"-q", "--", "extra"},  {"-L", "49"},          {"--lease", "600001"},
	{"-L", "1s"},          {"-L"},
	/* -I: more than the slab (either order), all of it (no room for data),
	 * one bucket's worth, and values that are not sizes */
	{"-I", "65M"},         {"-m", "1M", "-I", "2M"}, {"-I", "2M", "-m", "1M"},
	{"-m", "1M", "-I", "1M"}, {"-I", "64"},        {"-I", "12Q"},
	{"-I", "-1"},          {"-I", "2T"},           {"-I"},
	{"--index-size"},      {"-H", "128"},          {"--head-size=128"},
};

START_TEST(test_server_rejects)
{
	char *argv[8] = {"kvserver"};
	int argc = 1;
	struct kv_server_opts o;
	struct result r;

	for (int i = 0; i < 4 && server_bad[_i][i]; i++)
		argv[argc++] = (char *)server_bad[_i][i];
	r = run_server(argv, &o);
	ck_assert_msg(r.ret == -EINVAL, "command line #%d (%s %s) gave %d", _i, argv[1],
		      argc > 2 ? argv[2] : "", r.ret);
	ck_assert_uint_eq(r.out_len, 0);
	assert_one_line(r.err, "kvserver: ");
	result_free(&r);
}
END_TEST

/* -------------------------------------------------------------- kvcli */

START_TEST(test_cli_get)
{
	struct kv_cli_opts o;
	char **argv = ARGV("kvcli", "-a", "X", "get", "k");
	struct result r;

	unsetenv("KV_ADDR");
	r = run_cli(argv, &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "X");
	ck_assert_ptr_null(o.port);
	ck_assert_uint_eq(o.timeout_ms, 5000);
	ck_assert_int_eq(o.cmd, KV_CMD_GET);
	ck_assert_int_eq(o.argc, 1);
	ck_assert_str_eq(o.argv[0], "k");
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_cli_options)
{
	struct kv_cli_opts o;
	char **argv = ARGV("kvcli", "--addr=10.9.8.7", "--port", "20887", "-t", "250", "put",
			   "key", "value");
	struct result r;

	unsetenv("KV_ADDR");
	r = run_cli(argv, &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "10.9.8.7");
	ck_assert_str_eq(o.port, "20887");
	ck_assert_uint_eq(o.timeout_ms, 250);
	ck_assert_int_eq(o.cmd, KV_CMD_PUT);
	ck_assert_int_eq(o.argc, 2);
	ck_assert_str_eq(o.argv[0], "key");
	ck_assert_str_eq(o.argv[1], "value");
	ck_assert_ptr_null(o.argv[2]);
	result_free(&r);
}
END_TEST

START_TEST(test_cli_command_options_are_the_commands)
{
	struct kv_cli_opts o;
	char **argv = ARGV("kvcli", "-a", "X", "get", "-p", "1", "k");
	struct result r;

	r = run_cli(argv, &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_ptr_null(o.port);
	ck_assert_int_eq(o.cmd, KV_CMD_GET);
	ck_assert_int_eq(o.argc, 3);
	ck_assert_str_eq(o.argv[0], "-p");
	result_free(&r);
}
END_TEST

static const struct {
	const char *name;
	enum kv_cmd cmd;
} cli_cmds[] = {
	{"demo", KV_CMD_DEMO}, {"put", KV_CMD_PUT},     {"get", KV_CMD_GET},
	{"del", KV_CMD_DEL},   {"batch", KV_CMD_BATCH}, {"stats", KV_CMD_STATS},
	{"bench", KV_CMD_BENCH}, {"debug-scribble", KV_CMD_SCRIBBLE},
	{"debug-hold-lock", KV_CMD_HOLD_LOCK}, {"debug-vanish", KV_CMD_VANISH},
};

START_TEST(test_cli_commands)
{
	struct kv_cli_opts o;
	char **argv = ARGV("kvcli", "-a", "h", (char *)cli_cmds[_i].name);
	struct result r = run_cli(argv, &o);

	ck_assert_msg(r.ret == 0, "command %s gave %d", cli_cmds[_i].name, r.ret);
	ck_assert_int_eq(o.cmd, cli_cmds[_i].cmd);
	ck_assert_int_eq(o.argc, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_cli_env_addr)
{
	struct kv_cli_opts o;
	struct result r;

	ck_assert_int_eq(setenv("KV_ADDR", "10.1.2.3", 1), 0);
	r = run_cli(ARGV("kvcli", "stats"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "10.1.2.3");
	ck_assert_int_eq(o.cmd, KV_CMD_STATS);
	ck_assert_int_eq(o.argc, 0);
	result_free(&r);

	/* -a wins over the environment. */
	r = run_cli(ARGV("kvcli", "-a", "192.168.0.9", "stats"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(o.addr, "192.168.0.9");
	result_free(&r);
}
END_TEST

START_TEST(test_cli_no_addr)
{
	struct kv_cli_opts o;
	struct result r;

	unsetenv("KV_ADDR");
	r = run_cli(ARGV("kvcli", "get", "k"), &o);
	ck_assert_int_eq(r.ret, -KV_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(r.err, "KV_ADDR"));
	assert_one_line(r.err, "kvcli: ");
	result_free(&r);

	/* An empty address is no address. */
	ck_assert_int_eq(setenv("KV_ADDR", "", 1), 0);
	r = run_cli(ARGV("kvcli", "get", "k"), &o);
	ck_assert_int_eq(r.ret, -KV_EXIT_USAGE);
	result_free(&r);
	unsetenv("KV_ADDR");
	r = run_cli(ARGV("kvcli", "-a", "", "get", "k"), &o);
	ck_assert_int_eq(r.ret, -KV_EXIT_USAGE);
	result_free(&r);
}
END_TEST

START_TEST(test_cli_bench_help_needs_no_addr)
{
	struct kv_cli_opts o;
	struct result r;

	unsetenv("KV_ADDR");
	r = run_cli(ARGV("kvcli", "bench", "--help"), &o);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_int_eq(o.cmd, KV_CMD_BENCH);
	ck_assert_int_eq(o.argc, 1);
	result_free(&r);

	r = run_cli(ARGV("kvcli", "bench", "--ops", "10"), &o);
	ck_assert_int_eq(r.ret, -KV_EXIT_USAGE);
	result_free(&r);
}
END_TEST

START_TEST(test_cli_help)
{
	struct kv_cli_opts o;
	struct result r;

	unsetenv("KV_ADDR");
	r = run_cli(ARGV("kvcli", "--help"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: kvcli"));
	ck_assert_uint_eq(r.err_len, 0);
	result_free(&r);

	r = run_cli(ARGV("kvcli", "-h"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, "Exit codes"));
	result_free(&r);

	r = run_cli(ARGV("kvcli", "-V"), &o);
	ck_assert_int_eq(r.ret, 1);
	ck_assert_ptr_nonnull(strstr(r.out, KV_VERSION));
	result_free(&r);
}
END_TEST

/* Command lines kvcli must refuse, after its name; KV_ADDR is set. */
static const char *const cli_bad[][4] = {
	{"frobnicate"},       {"frobnicate", "k"}, {NULL},
	{"-x", "get", "k"},   {"--bogus", "get"},  {"-p"},
	{"-p", "0", "get"},   {"-p", "65536", "get"}, {"-p", "http", "get"},
	{"-t", "0", "get"},   {"-t", "3600001", "get"}, {"-t", "1s", "get"},
	{"-a"},
};

START_TEST(test_cli_rejects)
{
	char *argv[8] = {"kvcli"};
	int argc = 1;
	struct kv_cli_opts o;
	struct result r;

	ck_assert_int_eq(setenv("KV_ADDR", "10.1.2.3", 1), 0);
	for (int i = 0; i < 4 && cli_bad[_i][i]; i++)
		argv[argc++] = (char *)cli_bad[_i][i];
	r = run_cli(argv, &o);
	ck_assert_msg(r.ret == -KV_EXIT_USAGE, "command line #%d (%s) gave %d", _i,
		      argc > 1 ? argv[1] : "", r.ret);
	ck_assert_uint_eq(r.out_len, 0);
	assert_one_line(r.err, "kvcli: ");
	result_free(&r);
}
END_TEST

START_TEST(test_cli_exit_codes)
{
	ck_assert_int_eq(kv_cli_exit_code(0), 0);
	ck_assert_int_eq(kv_cli_exit_code(-ENOENT), 1);
	ck_assert_int_eq(kv_cli_exit_code(-EINVAL), 2);
	ck_assert_int_eq(kv_cli_exit_code(-E2BIG), 2);
	ck_assert_int_eq(kv_cli_exit_code(-ECONNREFUSED), 3);
	ck_assert_int_eq(kv_cli_exit_code(-ETIMEDOUT), 3);
	ck_assert_int_eq(kv_cli_exit_code(-ECONNRESET), 3);
	ck_assert_int_eq(kv_cli_exit_code(-ENOSPC), 4);
	ck_assert_int_eq(kv_cli_exit_code(-EBADMSG), 5);
	ck_assert_int_eq(kv_cli_exit_code(-EBUSY), 5);
	/* The enum agrees with the numbers --help documents. */
	ck_assert_int_eq(KV_EXIT_NOT_FOUND, 1);
	ck_assert_int_eq(KV_EXIT_USAGE, 2);
	ck_assert_int_eq(KV_EXIT_TRANSPORT, 3);
	ck_assert_int_eq(KV_EXIT_FULL, 4);
	ck_assert_int_eq(KV_EXIT_STORE, 5);
}
END_TEST

static Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc;

	tc = tcase_create("kvserver");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_server_defaults);
	tcase_add_test(tc, test_server_file_options);
	tcase_add_test(tc, test_server_short_options);
	tcase_add_test(tc, test_server_long_options);
	tcase_add_test(tc, test_server_limits);
	tcase_add_test(tc, test_server_index_size);
	tcase_add_test(tc, test_server_head_size_is_gone);
	tcase_add_test(tc, test_server_help);
	tcase_add_test(tc, test_server_version);
	tcase_add_loop_test(tc, test_server_rejects, 0, N(server_bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("kvcli");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_cli_get);
	tcase_add_test(tc, test_cli_options);
	tcase_add_test(tc, test_cli_command_options_are_the_commands);
	tcase_add_loop_test(tc, test_cli_commands, 0, N(cli_cmds));
	tcase_add_test(tc, test_cli_env_addr);
	tcase_add_test(tc, test_cli_no_addr);
	tcase_add_test(tc, test_cli_bench_help_needs_no_addr);
	tcase_add_test(tc, test_cli_help);
	tcase_add_loop_test(tc, test_cli_rejects, 0, N(cli_bad));
	tcase_add_test(tc, test_cli_exit_codes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(opts_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
