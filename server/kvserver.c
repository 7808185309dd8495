/* kvserver.c - main(): parse options, serve, report. */
#include <errno.h>
#include <stdlib.h>

#include "kv_server.h"

int main(int argc, char **argv)
{
	struct kv_server_opts opts;
	struct kv_server *srv;
	struct kv_server_stats st;
	char *json;
	int ret = kv_server_parse_args(argc, argv, &opts, stdout, stderr);

	if (ret)
		return ret > 0 ? 0 : 2;
	ret = kv_server_create(&srv, &opts);
	if (ret)
		/* A refused store file or auth file is bad usage. */
		return ret == -EUCLEAN || ret == -EKEYREJECTED ? 2 : 3;
	ret = kv_server_run(srv);
	kv_server_get_stats(srv, &st);
	kv_server_destroy(srv);
	json = kv_stats_to_json(&st);
	if (json)
		printf("%s\n", json);
	free(json);
	return ret ? 3 : 0;
}
