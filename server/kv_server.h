/*
 * kv_server.h - kvserver: one slab, any number of clients, one event loop.
 *
 * The loop waits on the CM event channel, one completion channel per RDMA
 * device (shared by every client's CQ on that device), a signalfd and a
 * timerfd that drives the sweep. A client costs a cm_id, a QP, a CQ and one
 * small registered buffer; all of it goes when the client does, and the sweep
 * releases any insert claim it held, or one it held past its lease (after
 * cutting its queue pair off), and takes back the data space it was granted
 * and did not use.
 */
#ifndef KV_SERVER_H
#define KV_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "kv_proto.h"
#include "kv_slab.h"

#define KV_DEFAULT_SYNC_MS 1000u
#define KV_SYNC_MAX_MS 3600000u
#define KV_DEFAULT_MAX_CLIENTS 1024u
#define KV_MAX_CLIENTS_LIMIT 16384u

struct kv_server_opts {
	const char *addr;   /* NULL: all addresses */
	uint16_t port;
	uint64_t slab_size;
	uint32_t max_key;
	uint32_t max_value;
	uint64_t index_size; /* bytes of index; 0: the default fraction of the slab */
	uint32_t lease_ms;  /* a claim held this long is broken (holder cut off first) */
	bool quiet;         /* no per-connection log lines */
	const char *file;   /* --file: the slab is this store file (NULL: memory) */
	bool slab_size_given; /* -m was on the command line */
	bool index_size_given, max_key_given, max_value_given; /* -I, -k, -v */
	uint32_t sync_ms;   /* --sync-interval: sync the file this often (0: never) */
	const char *auth_file; /* --auth-file: users, roles, secrets (NULL: open) */
	uint32_t max_clients;  /* --max-clients: connections at once, any stage */
};

/*
 * Parse kvserver's command line into @o. Returns 0 to run, 1 when --help or
 * --version was printed on @out, or -EINVAL after printing one line to @err.
 */
int kv_server_parse_args(int argc, char **argv, struct kv_server_opts *o,
			 FILE *out, FILE *err);

struct kv_server;

/* Allocate the slab (or open the store file), register it, listen. 0 or
 * negative errno (logged); -EUCLEAN when the store file was refused. */
int kv_server_create(struct kv_server **out, const struct kv_server_opts *o);

/* Serve until SIGINT or SIGTERM. 0, or negative errno on a fatal error. */
int kv_server_run(struct kv_server *s);

/* Disconnect every client and free everything. */
void kv_server_destroy(struct kv_server *s);

/* Numbers for the stats message; see kv_stats.c for the JSON. */
struct kv_server_stats {
	double uptime_s;
	uint64_t slab_bytes;
	bool huge_pages;
	struct kv_geometry geo;
	uint64_t index_words;         /* JSON slots_total too */
	uint64_t items;               /* block words; JSON slots_used too */
	uint64_t claims;              /* insert claims of live clients; slots_locked */
	uint64_t payload_bytes;       /* key + value bytes of the items (last pass) */
	uint64_t data_bytes;          /* the data region */
	uint64_t bytes_allocated;     /* of the data region, not free */
	uint64_t bytes_free;
	uint64_t bytes_held;          /* in clients' open grants */
	uint64_t bytes_pending;       /* neither held nor live: the next passes free it */
	uint64_t largest_free_extent; /* bytes */
	uint32_t max_key;
	uint32_t max_value;
	uint64_t clients_connected;
	uint64_t connections_total;
	uint64_t locks_released;      /* claims released by the sweep */
	uint32_t lease_ms;
	uint64_t leases_broken;
	uint64_t sweep_passes;
	uint64_t protocol_errors;
	uint64_t auth_failures;       /* handshakes refused, or not done in time */
	bool file;                    /* a store file: the sync fields count */
	uint64_t sync_passes, sync_pages_dirtied, sync_errors;
	uint64_t sync_snapshots;    /* index snapshots written to the file's slots */
	double sync_last_ms, sync_max_ms;
};

void kv_server_get_stats(struct kv_server *s, struct kv_server_stats *st);

/* Stats as one line of JSON text (malloc'd), or NULL on allocation failure. */
char *kv_stats_to_json(const struct kv_server_stats *st);

#endif
