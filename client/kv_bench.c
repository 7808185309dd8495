/* kv_bench.c - placeholder until the benchmark lands (issue 4). */
#include "kv_cli.h"

int kv_bench_main(const struct kv_cli_opts *o)
{
	(void)o;
	fprintf(stderr, "kvcli: bench is not implemented yet\n");
	return KV_EXIT_USAGE;
}
