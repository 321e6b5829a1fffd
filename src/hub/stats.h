/*
 * stats.h - the reserved stats channel, $sys.stats (core/name.h).
 *
 * Once a second, and only while the channel has a subscriber, the hub
 * publishes one JSON snapshot of itself there, through the ordinary
 * publish path: so it has ids, a history (the usual --history-* limits)
 * and resume, and reaches every transport and the auth checks like any
 * other channel. The numbers are the counters /metrics renders, read the
 * same way; nothing is counted twice.
 *
 * Snapshot (one JSON object; rates are per second over the last interval):
 *   {"time_ms", "uptime_s", "workers",
 *    "connections": {"http", "ws", "sse", "total"},
 *    "published_total", "published_per_s", "deliveries_total",
 *    "deliveries_per_s", "slow_consumer_closes", "slow_consumer_catchups",
 *    "gaps_sent", "auth_failures", "channels_total",
 *    "channels": [{"name", "subscribers", "published", "rate_per_s"}...]}
 * "channels" lists at most HUB_STATS_TOP (hub.h) channels, most
 * subscribers first, so a hub with a million channels still sends a
 * bounded message.
 */
#ifndef CRIER_HUB_STATS_H
#define CRIER_HUB_STATS_H

#include "core/buf.h"
#include "net/server.h"

struct hub;

/* Appends the snapshot JSON (no trailing newline) to out. Starts the next
 * rate interval (hub_stats). Returns 0 or CRIER_ENOMEM. */
int stats_json(struct hub *h, const struct server *srv, struct buf *out);

/* The once-a-second step: publishes a snapshot when $sys.stats has a
 * subscriber, nothing otherwise. Worker 0's loop only. */
void stats_tick(struct hub *h, const struct server *srv);

#endif
