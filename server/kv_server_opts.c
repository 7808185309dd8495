/* kv_server_opts.c - kvserver's command line (see kv_server.h). */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "kv_parse.h"
#include "kv_server.h"
#include "kv_slot.h"

static void kv__server_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvserver [-a ADDR] [-p PORT] [-m SIZE] [options]\n"
		"Serve a key-value store from one RDMA-registered slab.\n"
		"\n"
		"  -a, --addr ADDR        listen on ADDR (default: all IPv4 addresses)\n"
		"  -p, --port PORT        listen on PORT (default %u)\n"
		"  -m, --slab-size SIZE   slab size, K/M/G suffixes (default 64M)\n"
		"  -k, --max-key BYTES    longest key, 1..%u (default %u)\n"
		"  -v, --max-value BYTES  longest value, 1..%u (default %u)\n"
		"  -H, --head-size BYTES  a record up to this long (24 B header, key, value)\n"
		"                         costs a GET one READ; a multiple of 8, 32..4096\n"
		"                         (default %u)\n"
		"  -L, --lease MS         a client that holds a slot lock this long without\n"
		"                         progress is cut off and its locks are released;\n"
		"                         longer than the slowest PUT of the largest value,\n"
		"                         %u..%u (default %u)\n"
		"  -q, --quiet            no log line per connection\n"
		"  -h, --help             this text\n"
		"  -V, --version          print the version\n"
		"\n"
		"Prints 'listening on ADDR:PORT' on stderr when ready. SIGUSR1 prints\n"
		"stats as JSON on stdout; SIGINT/SIGTERM disconnect clients, print\n"
		"stats and exit 0. Exit 2: bad usage; 3: RDMA or system error.\n",
		KV_DEFAULT_PORT, KV_KEY_LIMIT, KV_KEY_LIMIT, KV_VALUE_LIMIT,
		KV_DEFAULT_MAX_VALUE, KV_DEFAULT_HEAD_SIZE, KV_LEASE_MIN_MS, KV_LEASE_MAX_MS,
		KV_DEFAULT_LEASE_MS);
}

int kv_server_parse_args(int argc, char **argv, struct kv_server_opts *o,
			 FILE *out, FILE *err)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'p'},
		{"slab-size", required_argument, NULL, 'm'},
		{"max-key", required_argument, NULL, 'k'},
		{"max-value", required_argument, NULL, 'v'},
		{"head-size", required_argument, NULL, 'H'},
		{"lease", required_argument, NULL, 'L'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->port = KV_DEFAULT_PORT;
	o->slab_size = 64ull << 20;
	o->max_key = KV_KEY_LIMIT;
	o->max_value = KV_DEFAULT_MAX_VALUE;
	o->head_size = KV_DEFAULT_HEAD_SIZE;
	o->lease_ms = KV_DEFAULT_LEASE_MS;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":a:p:m:k:v:H:L:qhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			o->addr = optarg;
			break;
		case 'p':
			if (kv_parse_port(optarg, &o->port))
				goto bad_value;
			break;
		case 'm':
			if (kv_parse_size(optarg, 1ull << 20, 1ull << 40, &o->slab_size))
				goto bad_value;
			break;
		case 'k':
			if (kv_parse_uint(optarg, 1, KV_KEY_LIMIT, &v))
				goto bad_value;
			o->max_key = (uint32_t)v;
			break;
		case 'v':
			if (kv_parse_size(optarg, 1, KV_VALUE_LIMIT, &v))
				goto bad_value;
			o->max_value = (uint32_t)v;
			break;
		case 'H':
			if (kv_parse_uint(optarg, KV_REC_HDR + 8, 4096, &v) || v % 8)
				goto bad_value;
			o->head_size = (uint32_t)v;
			break;
		case 'L':
			if (kv_parse_uint(optarg, KV_LEASE_MIN_MS, KV_LEASE_MAX_MS, &v))
				goto bad_value;
			o->lease_ms = (uint32_t)v;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			kv__server_usage(out);
			return 1;
		case 'V':
			fprintf(out, "kvserver %s (protocol %u)\n", KV_VERSION, KV_PROTO_VERSION);
			return 1;
		case ':':
			fprintf(err, "kvserver: option %s needs a value (try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(err, "kvserver: unknown option %s (try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(err, "kvserver: unexpected argument '%s' (try --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;

bad_value:
	fprintf(err, "kvserver: invalid value '%s' for %s (try --help)\n", optarg,
		argv[optind - 1]);
	return -EINVAL;
}
