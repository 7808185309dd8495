/* kv_server_opts.c - kvserver's command line (see kv_server.h). */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "kv_parse.h"
#include "kv_server.h"
#include "kv_index.h"

_Static_assert(KV_VALUE_LIMIT % (1u << 20) == 0 && KV_DEFAULT_MAX_VALUE % (1u << 20) == 0,
	       "--help speaks of value sizes in MiB");

static void kv__server_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvserver [-a ADDR] [-p PORT] [-m SIZE] [options]\n"
		"Serve a key-value store from one RDMA-registered slab.\n"
		"\n"
		"  -a, --addr ADDR        listen on ADDR (default: all IPv4 addresses)\n"
		"  -p, --port PORT        listen on PORT (default %u)\n"
		"  -m, --slab-size SIZE   memory the store serves, K/M/G suffixes (default 64M);\n"
		"                         keys and values share what the index leaves\n"
		"  -I, --index-size SIZE  memory for the index, 8 bytes per item it can hold,\n"
		"                         K/M/G suffixes, at most the slab (default 0: %u/%u\n"
		"                         of the slab)\n"
		"  -k, --max-key BYTES    longest key, 1..%u (default %u)\n"
		"  -v, --max-value SIZE   largest value, K/M/G suffixes, 1..%uM (default %uM)\n"
		"  -L, --lease MS         a client that holds an insert claim this long without\n"
		"                         progress is cut off and its claims are released;\n"
		"                         longer than the slowest PUT of the largest value,\n"
		"                         %u..%u (default %u)\n"
		"  -f, --file PATH        keep the store in PATH: created with -m's size if\n"
		"                         it does not exist, else opened (its header gives\n"
		"                         the size, index and limits; -m must agree or be\n"
		"                         left out); a file that is not a whole store of\n"
		"                         this layout is refused (exit 2), untouched\n"
		"      --sync-interval MS sync the file to disk every MS ms (default %u, 0:\n"
		"                         only at a clean stop); a power loss can lose up to\n"
		"                         that much of acknowledged writes, a kvserver crash\n"
		"                         none\n"
		"      --auth-file PATH   only users of PATH may connect: one a line,\n"
		"                         NAME ROLE SECRET, ROLE rw or ro (READ only,\n"
		"                         enforced by the device), # comments; the file\n"
		"                         must not be readable by group or others\n"
		"                         (default: none, anyone may read and write)\n"
		"      --max-clients N    connections at once, 1..%u (default %u); a\n"
		"                         client that has not authenticated within 2 s\n"
		"                         is dropped\n"
		"  -q, --quiet            no log line per connection\n"
		"  -h, --help             this text\n"
		"  -V, --version          print the version\n"
		"\n"
		"Prints 'listening on ADDR:PORT' on stderr when ready. SIGUSR1 prints\n"
		"stats as JSON on stdout; SIGINT/SIGTERM disconnect clients, print\n"
		"stats, sync the file and exit 0. Exit 2: bad usage or a refused store\n"
		"file; 3: RDMA or system error.\n",
		KV_DEFAULT_PORT, KV_INDEX_DEFAULT_NUM, KV_INDEX_DEFAULT_DEN, KV_KEY_LIMIT,
		KV_KEY_LIMIT, KV_VALUE_LIMIT >> 20, KV_DEFAULT_MAX_VALUE >> 20, KV_LEASE_MIN_MS,
		KV_LEASE_MAX_MS, KV_DEFAULT_LEASE_MS, KV_DEFAULT_SYNC_MS, KV_MAX_CLIENTS_LIMIT,
		KV_DEFAULT_MAX_CLIENTS);
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
		{"index-size", required_argument, NULL, 'I'},
		{"lease", required_argument, NULL, 'L'},
		{"file", required_argument, NULL, 'f'},
		{"sync-interval", required_argument, NULL, 'S'},
		{"auth-file", required_argument, NULL, 'A'},
		{"max-clients", required_argument, NULL, 'C'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct kv_geometry g;
	char msg[256];
	uint64_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->port = KV_DEFAULT_PORT;
	o->slab_size = 64ull << 20;
	o->max_key = KV_KEY_LIMIT;
	o->max_value = KV_DEFAULT_MAX_VALUE;
	o->index_size = 0;
	o->lease_ms = KV_DEFAULT_LEASE_MS;
	o->sync_ms = KV_DEFAULT_SYNC_MS;
	o->max_clients = KV_DEFAULT_MAX_CLIENTS;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":a:p:m:I:k:v:L:f:qhV", longopts, NULL)) != -1) {
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
			o->slab_size_given = true;
			break;
		case 'I':
			if (kv_parse_size(optarg, 0, 1ull << 40, &o->index_size))
				goto bad_value;
			o->index_size_given = true;
			break;
		case 'k':
			if (kv_parse_uint(optarg, 1, KV_KEY_LIMIT, &v))
				goto bad_value;
			o->max_key = (uint32_t)v;
			o->max_key_given = true;
			break;
		case 'v':
			if (kv_parse_size(optarg, 1, KV_VALUE_LIMIT, &v))
				goto bad_value;
			o->max_value = (uint32_t)v;
			o->max_value_given = true;
			break;
		case 'f':
			if (!*optarg)
				goto bad_value;
			o->file = optarg;
			break;
		case 'A':
			if (!*optarg)
				goto bad_value;
			o->auth_file = optarg;
			break;
		case 'C':
			if (kv_parse_uint(optarg, 1, KV_MAX_CLIENTS_LIMIT, &v))
				goto bad_value;
			o->max_clients = (uint32_t)v;
			break;
		case 'S':
			if (kv_parse_uint(optarg, 0, KV_SYNC_MAX_MS, &v))
				goto bad_value;
			o->sync_ms = (uint32_t)v;
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
	if (o->index_size > o->slab_size) {
		fprintf(err, "kvserver: an index of %llu bytes does not fit in a %llu-byte slab "
			"(try --help)\n", (unsigned long long)o->index_size,
			(unsigned long long)o->slab_size);
		return -EINVAL;
	}
	/* The layout depends on nothing else (the seed moves nothing): one that
	 * cannot be made is bad usage, found before anything is allocated. */
	if (kv_geometry_layout(o->slab_size, o->index_size, o->max_key, o->max_value, 1, &g,
			       msg, sizeof(msg))) {
		fprintf(err, "kvserver: %s (try --help)\n", msg);
		return -EINVAL;
	}
	return 0;

bad_value:
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->val == opt && (opt == 'S' || opt == 'A' || opt == 'C')) /* no short form */
			fprintf(err, "kvserver: invalid value '%s' for --%s (try --help)\n",
				optarg, lo->name);
		else if (lo->val == opt)
			fprintf(err, "kvserver: invalid value '%s' for -%c/--%s (try --help)\n",
				optarg, opt, lo->name);
	return -EINVAL;
}
