/*
 * stats.c - the snapshot published on $sys.stats (stats.h).
 *
 * Owns the JSON shape and the decision to publish; never keeps counters of
 * its own: hub_stats (hub.c) and the per-worker metrics (net/metrics.c)
 * are read as /metrics reads them. Channel names need no JSON escaping:
 * the channel alphabet (core/name.h) has no quote, backslash or control
 * byte. Publishing goes through hub_publish like any publisher, which is
 * what gives the snapshots ids and history; the route-level refusal of
 * publishes to reserved names (cli/app.c, ws/wsproto_msg.c) does not apply
 * to the hub itself. With the Redis engine the snapshots go through Redis
 * like any publish, on a channel of this node's own (engine_redis.c), so
 * each node's dashboard shows that node.
 */
#include "hub/stats.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/name.h"
#include "hub/hub.h"
#include "net/metrics.h"

#include <inttypes.h>
#include <stdlib.h>

int stats_json(struct hub *h, const struct server *srv, struct buf *out)
{
	struct hub_stats *s = malloc(sizeof(*s)); /* ~9 KiB: not on a loop's stack */
	if (!s)
		return CRIER_ENOMEM;
	hub_stats(h, s);
	int64_t now_ms = clock_wall_ms();
	uint64_t conns[METRICS_T_COUNT], total = 0;
	for (int t = 0; t < METRICS_T_COUNT; t++) {
		conns[t] = metrics_open(srv, (enum metrics_transport)t);
		total += conns[t];
	}
	int rc = buf_printf(out,
	                    "{\"time_ms\":%" PRId64 ",\"uptime_s\":%" PRId64 ",\"workers\":%u,"
	                    "\"connections\":{",
	                    now_ms, now_ms / 1000 - srv->start_wall_s, srv->n_workers);
	for (int t = 0; t < METRICS_T_COUNT && rc == 0; t++)
		rc = buf_printf(out, "\"%s\":%" PRIu64 ",",
		                metrics_transport_name((enum metrics_transport)t), conns[t]);
	if (rc == 0)
		rc = buf_printf(
		        out,
		        "\"total\":%" PRIu64 "},\"published_total\":%" PRIu64
		        ",\"published_per_s\":%.1f,\"deliveries_total\":%" PRIu64
		        ",\"deliveries_per_s\":%.1f,\"slow_consumer_closes\":%" PRIu64
		        ",\"slow_consumer_catchups\":%" PRIu64 ",\"gaps_sent\":%" PRIu64
		        ",\"auth_failures\":%" PRIu64 ",\"channels_total\":%u,\"channels\":[",
		        total, s->published, s->published_per_s, s->deliveries, s->deliveries_per_s,
		        s->slow_disconnects, s->slow_catchups, s->gaps,
		        metrics_codes_total(srv, CRIER_EAUTH_MISSING, CRIER_EAUTH_FORBIDDEN),
		        s->channels);
	for (uint32_t i = 0; i < s->n_top && rc == 0; i++) {
		const struct hub_stats_chan *c = &s->top[i];
		rc = buf_printf(out,
		                "%s{\"name\":\"%s\",\"subscribers\":%u,\"published\":%" PRIu64
		                ",\"rate_per_s\":%.1f}",
		                i ? "," : "", c->name, c->subscribers, c->published, c->rate_per_s);
	}
	if (rc == 0)
		rc = buf_printf(out, "]}");
	free(s);
	return rc;
}

void stats_tick(struct hub *h, const struct server *srv)
{
	static const char name[] = NAME_SYS_STATS;
	if (hub_channel_subs(h, name, sizeof(name) - 1) == 0)
		return;
	struct buf json = {0};
	struct msg *m = NULL;
	int rc = stats_json(h, srv, &json);
	if (rc == 0) {
		m = msg_new(json.data, json.len, NULL, 0, false);
		uint32_t subs;
		rc = m ? hub_publish(h, name, sizeof(name) - 1, m, &subs) : CRIER_ENOMEM;
	}
	if (rc != 0 && rc != CRIER_EENGINE_DOWN) /* Redis away: its engine says so, once */
		log_warn("stats snapshot not published", "reason=%s", err_label(rc));
	if (m)
		msg_unref(m);
	buf_free(&json);
}
