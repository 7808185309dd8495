/* kv_stats.c - the one place server numbers become JSON (jansson). */
#include <jansson.h>

#include "kv_server.h"
#include "kv_slot.h"

char *kv_stats_to_json(const struct kv_server_stats *st)
{
	json_t *o = json_object();
	json_t *geo = json_object();
	char *text;

	if (!o || !geo) {
		json_decref(o);
		json_decref(geo);
		return NULL;
	}
	/* json_object_set_new takes ownership of each value. */
	json_object_set_new(geo, "buckets", json_integer(st->geo.nbuckets));
	json_object_set_new(geo, "bucket_slots", json_integer(st->geo.bucket_slots));
	json_object_set_new(geo, "record_bytes", json_integer(st->geo.rec_size));
	json_object_set_new(geo, "copies_per_slot", json_integer(2));
	json_object_set_new(geo, "max_key", json_integer(st->geo.max_key));
	json_object_set_new(geo, "max_value", json_integer(st->geo.max_value));
	json_object_set_new(geo, "ctrl_offset", json_integer((json_int_t)st->geo.ctrl_off));
	json_object_set_new(geo, "record_offset", json_integer((json_int_t)st->geo.rec_off));

	json_object_set_new(o, "version", json_string(KV_VERSION));
	json_object_set_new(o, "protocol", json_integer(KV_PROTO_VERSION));
	json_object_set_new(o, "uptime_s", json_real((double)(long long)(st->uptime_s * 1000) / 1000));
	json_object_set_new(o, "slab_bytes", json_integer((json_int_t)st->slab_bytes));
	json_object_set_new(o, "huge_pages", json_boolean(st->huge_pages));
	json_object_set_new(o, "geometry", geo);
	json_object_set_new(o, "slots_total", json_integer((json_int_t)st->slots_total));
	json_object_set_new(o, "slots_used", json_integer((json_int_t)st->slots_used));
	json_object_set_new(o, "slots_locked", json_integer((json_int_t)st->slots_locked));
	json_object_set_new(o, "load_factor",
			    json_real(st->slots_total ? (double)st->slots_used /
							       (double)st->slots_total : 0.0));
	json_object_set_new(o, "clients_connected",
			    json_integer((json_int_t)st->clients_connected));
	json_object_set_new(o, "connections_total",
			    json_integer((json_int_t)st->connections_total));
	json_object_set_new(o, "locks_released",
			    json_integer((json_int_t)st->locks_released));
	json_object_set_new(o, "lease_ms", json_integer(st->lease_ms));
	json_object_set_new(o, "leases_broken", json_integer((json_int_t)st->leases_broken));
	json_object_set_new(o, "sweep_passes", json_integer((json_int_t)st->sweep_passes));
	json_object_set_new(o, "protocol_errors",
			    json_integer((json_int_t)st->protocol_errors));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(o);
	return text;
}
