/* kv_cli_args.c - kvcli's global options and exit codes (see kv_cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "kv_cli.h"
#include "kv_parse.h"

static void kv__cli_usage(FILE *f)
{
	fputs("Usage: kvcli [-a ADDR] [-p PORT] [-t MS] [--user NAME --secret-file PATH]\n"
	      "             COMMAND [ARGS]\n"
	      "Talk to kvserver over one-sided RDMA.\n"
	      "\n"
	      "Commands:\n"
	      "  demo -s STRING   RDMA WRITE STRING into the slab, READ it back, compare\n"
	      "  put KEY VALUE    store VALUE under KEY (VALUE '-' reads stdin)\n"
	      "  get KEY          print KEY's value and a newline\n"
	      "  del KEY          remove KEY\n"
	      "  batch            read 'put KEY VALUE' / 'get KEY' / 'del KEY' lines from\n"
	      "                   stdin over one connection; answer OK, VALUE <v>,\n"
	      "                   NOT_FOUND or ERROR <reason>, one line each\n"
	      "  stats            print the server's stats as JSON\n"
	      "  dump             write every item to stdout (binary, versioned: docs/dump.md)\n"
	      "  restore          PUT every item of a dump read from stdin\n"
	      "  bench [OPTIONS]  measure; 'kvcli bench --help' lists its options\n"
	      "  debug-scribble KEY  (testing only) overwrite the start of KEY's block with garbage\n"
	      "  debug-send-raw   (testing only) send stdin (up to 12 KiB) as a control message\n"
	      "  debug-hold-lock KEY MS  (testing only) claim a word as an insert of KEY does,\n"
	      "                   print HELD <word>, sleep MS ms, then swing the claim to\n"
	      "                   a garbage block: WROTE (exit 0), or CUT OFF (exit 3) when the\n"
	      "                   server broke the claim past its lease and dropped us\n"
	      "  debug-half-put KEY VALUE MS  (testing only) PUT KEY VALUE, but stop for MS ms\n"
	      "                   after its word is swung, before its retire and commit:\n"
	      "                   print SWUNG, then FINISHED (exit 0) if that landed, or\n"
	      "                   CUT OFF (exit 3) when the server fenced us past the lease\n"
	      "  debug-vanish MS  (testing only) destroy our queue pair without telling the\n"
	      "                   server, print VANISHED, sleep MS ms: a host that died\n"
	      "  debug-stall-auth MS  (testing only) connect, then do not answer the\n"
	      "                   server's challenge for MS ms: DROPPED AFTER <ms> (exit 0),\n"
	      "                   or STILL CONNECTED (exit 3)\n"
	      "\n"
	      "Options:\n"
	      "  -a, --addr ADDR  server address (default: $KV_ADDR)\n"
	      "  -p, --port PORT  server port (default 20886)\n"
	      "  -t, --timeout MS per connection step (default 5000)\n"
	      "  --user NAME      authenticate as NAME (default: $KV_USER)\n"
	      "  --secret-file PATH  NAME's secret: the first line of PATH (default:\n"
	      "                   $KV_SECRET); never give a secret on the command line\n"
	      "  -h, --help       this text\n"
	      "  -V, --version    print the version\n"
	      "\n"
	      "Exit codes: 0 done, 1 key not found, 2 usage or invalid input,\n"
	      "3 connection or transport error, 4 store full,\n"
	      "5 corrupt block, or an insert stayed blocked by another client's claim,\n"
	      "6 not authorized (no or wrong credentials, or a ro user's put/del/demo).\n",
	      f);
}

static const struct {
	const char *name;
	enum kv_cmd cmd;
} kv__cmds[] = {
	{"demo", KV_CMD_DEMO}, {"put", KV_CMD_PUT}, {"get", KV_CMD_GET},
	{"del", KV_CMD_DEL}, {"batch", KV_CMD_BATCH}, {"stats", KV_CMD_STATS},
	{"bench", KV_CMD_BENCH}, {"debug-scribble", KV_CMD_SCRIBBLE},
	{"debug-send-raw", KV_CMD_SEND_RAW}, {"debug-hold-lock", KV_CMD_HOLD_LOCK},
	{"debug-vanish", KV_CMD_VANISH}, {"dump", KV_CMD_DUMP}, {"restore", KV_CMD_RESTORE},
	{"debug-stall-auth", KV_CMD_STALL_AUTH}, {"debug-half-put", KV_CMD_HALF_PUT},
};

int kv_cli_parse(int argc, char **argv, struct kv_cli_opts *o, FILE *out, FILE *err)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"user", required_argument, NULL, 'U'},
		{"secret-file", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	uint16_t port;
	uint64_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:a:p:t:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			o->addr = optarg;
			break;
		case 'p':
			if (kv_parse_port(optarg, &port))
				goto bad_value;
			o->port = optarg;
			break;
		case 't':
			if (kv_parse_uint(optarg, 1, 3600000, &v))
				goto bad_value;
			o->timeout_ms = (unsigned)v;
			break;
		case 'U':
			o->user = optarg;
			break;
		case 'F':
			o->secret_file = optarg;
			break;
		case 'h':
			kv__cli_usage(out);
			return 1;
		case 'V':
			fprintf(out, "kvcli %s\n", KV_VERSION);
			return 1;
		case ':':
			fprintf(err, "kvcli: option %s needs a value (try --help)\n", argv[optind - 1]);
			return -KV_EXIT_USAGE;
		default:
			fprintf(err, "kvcli: unknown option %s (try --help)\n", argv[optind - 1]);
			return -KV_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(err, "kvcli: no command given (try --help)\n");
		return -KV_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(kv__cmds) / sizeof(kv__cmds[0]); i++)
		if (!strcmp(argv[optind], kv__cmds[i].name))
			o->cmd = kv__cmds[i].cmd;
	if (!!o->user != !!o->secret_file) {
		fprintf(err, "kvcli: --user and --secret-file go together\n");
		return -KV_EXIT_USAGE;
	}
	if (o->cmd == KV_CMD_NONE) {
		fprintf(err, "kvcli: unknown command '%s' (try --help)\n", argv[optind]);
		return -KV_EXIT_USAGE;
	}
	o->argc = argc - optind - 1;
	o->argv = argv + optind + 1;
	if (!o->addr)
		o->addr = getenv("KV_ADDR");
	if (o->addr && !*o->addr)
		o->addr = NULL;
	if (!o->addr && !(o->cmd == KV_CMD_BENCH && o->argc == 1 &&
			  !strcmp(o->argv[0], "--help"))) {
		fprintf(err, "kvcli: no server address: use -a ADDR or set KV_ADDR\n");
		return -KV_EXIT_USAGE;
	}
	return 0;

bad_value:
	fprintf(err, "kvcli: invalid value '%s' for %s (try --help)\n", optarg, argv[optind - 1]);
	return -KV_EXIT_USAGE;
}

void kv_cli_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kvcli: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int kv_cli_exit_code(int err)
{
	switch (err) {
	case 0: return KV_EXIT_OK;
	case -ENOENT: return KV_EXIT_NOT_FOUND;
	case -EINVAL:
	case -E2BIG: return KV_EXIT_USAGE;
	case -ENOSPC: return KV_EXIT_FULL;
	case -EBADMSG:
	case -EBUSY: return KV_EXIT_STORE;
	case -EACCES:
	case -EPERM: return KV_EXIT_AUTH;
	default: return KV_EXIT_TRANSPORT;
	}
}
