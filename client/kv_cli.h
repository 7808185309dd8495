/* kv_cli.h - kvcli's command line, exit codes and subcommands. */
#ifndef KV_CLI_H
#define KV_CLI_H

#include <stdio.h>

#include "kv.h"

/* Exit codes, the same for every command (documented in --help, README). */
enum kv_exit {
	KV_EXIT_OK = 0,
	KV_EXIT_NOT_FOUND = 1,
	KV_EXIT_USAGE = 2,       /* usage or invalid input */
	KV_EXIT_TRANSPORT = 3,   /* connection or transport error */
	KV_EXIT_FULL = 4,        /* store full */
	KV_EXIT_STORE = 5,       /* corrupt slot, or a slot stayed locked */
	KV_EXIT_AUTH = 6,        /* not authorized: credentials, or the role */
};

enum kv_cmd {
	KV_CMD_NONE, KV_CMD_DEMO, KV_CMD_PUT, KV_CMD_GET, KV_CMD_DEL,
	KV_CMD_BATCH, KV_CMD_STATS, KV_CMD_BENCH, KV_CMD_SCRIBBLE, KV_CMD_SEND_RAW,
	KV_CMD_HOLD_LOCK, KV_CMD_VANISH, KV_CMD_DUMP, KV_CMD_RESTORE, KV_CMD_STALL_AUTH, KV_CMD_HALF_PUT,
};

struct kv_cli_opts {
	const char *addr;
	const char *port;
	unsigned timeout_ms;
	const char *user;        /* --user, with */
	const char *secret_file; /* --secret-file */
	enum kv_cmd cmd;
	int argc;     /* the command's own arguments, after its name */
	char **argv;
};

/*
 * Parse the global options and the command name. Returns 0 to run, 1 when
 * help or version was printed, or KV_EXIT_USAGE's negation after a message.
 * The address comes from -a, else the KV_ADDR environment variable.
 */
int kv_cli_parse(int argc, char **argv, struct kv_cli_opts *o, FILE *out, FILE *err);

/* One line on stderr, "kvcli: " first. */
__attribute__((format(printf, 1, 2)))
void kv_cli_say(const char *fmt, ...);

/* The exit code for a library error. */
int kv_cli_exit_code(int err);

/* `kvcli bench`; returns an exit code. */
int kv_bench_main(const struct kv_cli_opts *o);

/* Bench options, parsed apart so tests can check them. */
struct kv_bench_opts {
	enum { KV_WL_GET, KV_WL_PUT, KV_WL_A, KV_WL_B, KV_WL_C } workload;
	unsigned long ops;
	unsigned long keys;
	unsigned value_size;
	int zipf;        /* 0 uniform, 1 zipfian (0.99) */
	unsigned depth;
	unsigned clients;
	unsigned seconds; /* upper bound on the run's time */
	int no_load;      /* skip storing the keys first */
	int split;        /* time each doorbell's wait: wire vs client time */
};

int kv_bench_parse(int argc, char **argv, struct kv_bench_opts *b, FILE *err);

/* `kvcli dump` and `kvcli restore` (kv_dump.c, docs/dump.md). The usage
 * check runs before connecting: no arguments, and stdout (dump) or stdin
 * (restore) not a terminal. Each returns an exit code. */
int kv_dump_usage(const struct kv_cli_opts *o);
int kv_dump_main(kv_client *c);
int kv_restore_main(kv_client *c);

#endif
