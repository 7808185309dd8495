/* kv_stats.c - the one place server numbers become JSON (jansson). */
#include <jansson.h>

#include "kv_index.h"
#include "kv_server.h"

#define JI(v) json_integer((json_int_t)(v))

/* @num / @den, 0 when @den is 0 (NaN is not JSON). */
static double kv__ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

char *kv_stats_to_json(const struct kv_server_stats *st)
{
	json_t *o = json_object();
	json_t *geo = json_object();
	double frag = st->bytes_free ? 1.0 - kv__ratio(st->largest_free_extent, st->bytes_free)
				     : 0.0;
	char *text;

	if (!o || !geo) {
		json_decref(o);
		json_decref(geo);
		return NULL;
	}
	if (frag < 0)
		frag = 0;
	/* json_object_set_new takes ownership of each value. */
	json_object_set_new(geo, "buckets", JI(st->geo.nbuckets));
	json_object_set_new(geo, "bucket_words", JI(KV_BUCKET_WORDS));
	json_object_set_new(geo, "max_key", JI(st->geo.max_key));
	json_object_set_new(geo, "max_value", JI(st->geo.max_value));
	json_object_set_new(geo, "index_offset", JI(st->geo.index_off));
	json_object_set_new(geo, "data_offset", JI(st->geo.data_off));
	json_object_set_new(geo, "data_bytes", JI(st->geo.data_len));

	json_object_set_new(o, "version", json_string(KV_VERSION));
	json_object_set_new(o, "protocol", JI(KV_PROTO_VERSION));
	json_object_set_new(o, "uptime_s", json_real((double)(long long)(st->uptime_s * 1000) / 1000));
	json_object_set_new(o, "slab_bytes", JI(st->slab_bytes));
	json_object_set_new(o, "huge_pages", json_boolean(st->huge_pages));
	json_object_set_new(o, "geometry", geo);
	json_object_set_new(o, "max_key", JI(st->max_key));
	json_object_set_new(o, "max_value", JI(st->max_value));
	/* The index: slots_* are its words under their names of protocol 2. */
	json_object_set_new(o, "slots_total", JI(st->index_words));
	json_object_set_new(o, "slots_used", JI(st->items));
	json_object_set_new(o, "slots_locked", JI(st->claims));
	json_object_set_new(o, "load_factor", json_real(kv__ratio(st->items, st->index_words)));
	json_object_set_new(o, "index_words", JI(st->index_words));
	json_object_set_new(o, "items", JI(st->items));
	json_object_set_new(o, "index_load", json_real(kv__ratio(st->items, st->index_words)));
	/* The data region. */
	json_object_set_new(o, "payload_bytes", JI(st->payload_bytes));
	json_object_set_new(o, "data_bytes", JI(st->data_bytes));
	json_object_set_new(o, "bytes_allocated", JI(st->bytes_allocated));
	json_object_set_new(o, "bytes_free", JI(st->bytes_free));
	json_object_set_new(o, "bytes_held", JI(st->bytes_held));
	json_object_set_new(o, "bytes_pending", JI(st->bytes_pending));
	json_object_set_new(o, "largest_free_extent", JI(st->largest_free_extent));
	json_object_set_new(o, "fragmentation", json_real(frag));
	/* Clients and the sweep. */
	json_object_set_new(o, "clients_connected", JI(st->clients_connected));
	json_object_set_new(o, "connections_total", JI(st->connections_total));
	json_object_set_new(o, "locks_released", JI(st->locks_released));
	json_object_set_new(o, "lease_ms", JI(st->lease_ms));
	json_object_set_new(o, "leases_broken", JI(st->leases_broken));
	json_object_set_new(o, "sweep_passes", JI(st->sweep_passes));
	json_object_set_new(o, "protocol_errors", JI(st->protocol_errors));
	json_object_set_new(o, "auth_failures", JI(st->auth_failures));
	if (st->file) { /* kvserver --file: its syncer's passes */
		json_object_set_new(o, "sync_passes", JI(st->sync_passes));
		json_object_set_new(o, "sync_pages_dirtied", JI(st->sync_pages_dirtied));
		json_object_set_new(o, "sync_errors", JI(st->sync_errors));
		json_object_set_new(o, "sync_snapshots", JI(st->sync_snapshots));
		json_object_set_new(o, "sync_last_ms", json_real(st->sync_last_ms));
		json_object_set_new(o, "sync_max_ms", json_real(st->sync_max_ms));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(o);
	return text;
}
