/*
 * metrics.c - counting helpers and the Prometheus text exposition (0.0.4).
 *
 * Rendering sums the per-worker structs; it allocates only the output
 * page. Families with no samples yet (a route never hit) still get their
 * HELP and TYPE lines, so a dashboard can be built before traffic arrives.
 */
#include "net/metrics.h"

#include "core/err.h"
#include "net/server.h"

#include <inttypes.h>
#include <stdbool.h>

static const int metrics_statuses[METRICS_STATUS_SLOTS - 1] = {
        100, 101, 200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405,
        408, 409, 410, 413, 414, 415, 417, 426, 429, 431, 500, 501, 503};

/* Upper bounds of the lag histogram, in microseconds (the last is +Inf). */
static const uint64_t metrics_lag_le_us[METRICS_LAG_BUCKETS - 1] = {
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

static const char *const metrics_transport_names[METRICS_T_COUNT] = {"http", "ws", "sse"};

/* Close codes with their own series (RFC 6455 §7.4.1, plus crier's 4001). */
static const int metrics_ws_codes[METRICS_WS_CLOSE_SLOTS - 1] = {1000, 1001, 1002, 1003, 1005, 1006,
                                                                 1007, 1008, 1009, 1011, 4001};
static const char *const metrics_tls_fail_names[METRICS_TLS_F_COUNT] = {
        "plaintext", "version", "cipher", "alpn", "peer_alert", "incomplete", "other"};
static const char *const metrics_timeout_names[METRICS_TO_COUNT] = {"header", "body", "idle"};

int metrics_ws_close_slot(int code)
{
	for (int i = 0; i < METRICS_WS_CLOSE_SLOTS - 1; i++)
		if (metrics_ws_codes[i] == code)
			return i;
	return METRICS_WS_CLOSE_SLOTS - 1;
}

/* Codes that reject a request for what the client sent (not our failures). */
static bool metrics_is_request_error(int code)
{
	int st = err_http_status(code);
	bool client_side = (st >= 400 && st < 500) || st == 501 || st == 505;
	return client_side && code < CRIER_EWS_UPGRADE && code != CRIER_ETIMEOUT &&
	       code != CRIER_EINVAL && code != CRIER_ERANGE && code != CRIER_EBADREQ;
}

const char *metrics_tls_fail_name(int slot)
{
	return slot >= 0 && slot < METRICS_TLS_F_COUNT ? metrics_tls_fail_names[slot] : "other";
}

int metrics_status_slot(int status)
{
	for (int i = 0; i < METRICS_STATUS_SLOTS - 1; i++)
		if (metrics_statuses[i] == status)
			return i;
	return METRICS_STATUS_SLOTS - 1;
}

void metrics_observe_lag(struct metrics *m, uint64_t lag_us)
{
	int i = 0;
	while (i < METRICS_LAG_BUCKETS - 1 && lag_us > metrics_lag_le_us[i])
		i++;
	metric_inc(&m->lag_buckets[i]);
	metric_inc(&m->lag_count);
	metric_add(&m->lag_sum_us, lag_us);
}

void metrics_parse_error(struct metrics *m, int code)
{
	int slot = code - CRIER_ERR_FIRST_;
	if (slot > 0 && slot < METRICS_ERR_SLOTS)
		metric_inc(&m->parse_errors[slot]);
}

/* Sum of one counter across workers, addressed by its offset. */
static uint64_t metrics_sum(const struct server *srv, size_t offset)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < srv->n_workers; i++) {
		const char *base = (const char *)&srv->workers[i].m;
		total += metric_get((const metric_t *)(const void *)(base + offset));
	}
	return total;
}

/* Evaluates expr only while no error occurred, keeping the first error. */
#define EMIT(expr)                   \
	do {                         \
		if (rc == 0)         \
			rc = (expr); \
	} while (0)

#define METRICS_SUM(srv, field) metrics_sum(srv, offsetof(struct metrics, field))

uint64_t metrics_codes_total(const struct server *srv, int first, int last)
{
	uint64_t total = 0;
	for (int code = first; code <= last; code++)
		total += metrics_sum(srv,
		                     offsetof(struct metrics, parse_errors) +
		                             sizeof(metric_t) * (size_t)(code - CRIER_ERR_FIRST_));
	return total;
}

uint64_t metrics_open(const struct server *srv, enum metrics_transport t)
{
	return METRICS_SUM(srv, conn_open[t]);
}

const char *metrics_transport_name(enum metrics_transport t)
{
	return (unsigned)t < METRICS_T_COUNT ? metrics_transport_names[t] : "unknown";
}

static int metrics_family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_connections(struct buf *out, const struct server *srv)
{
	int rc = metrics_family(out, "crier_connections_open", "gauge",
	                        "Client connections open now, by transport.");
	for (int t = 0; t < METRICS_T_COUNT && !rc; t++)
		rc = buf_printf(out, "crier_connections_open{transport=\"%s\"} %" PRId64 "\n",
		                metrics_transport_names[t],
		                (int64_t)METRICS_SUM(srv, conn_open[t]));
	EMIT(metrics_family(out, "crier_connections_accepted_total", "counter",
	                    "Client connections accepted, by transport at accept time."));
	for (int t = 0; t < METRICS_T_COUNT && !rc; t++)
		rc = buf_printf(out,
		                "crier_connections_accepted_total{transport=\"%s\"} %" PRIu64 "\n",
		                metrics_transport_names[t], METRICS_SUM(srv, conn_accepted[t]));
	EMIT(metrics_family(out, "crier_worker_connections", "gauge",
	                    "Client connections open now, by worker: how evenly the kernel "
	                    "spreads them (SO_REUSEPORT)."));
	for (uint32_t w = 0; w < srv->n_workers && !rc; w++) {
		int64_t open = 0;
		for (int t = 0; t < METRICS_T_COUNT; t++)
			open += (int64_t)metric_get(&srv->workers[w].m.conn_open[t]);
		rc = buf_printf(out, "crier_worker_connections{worker=\"%u\"} %" PRId64 "\n", w,
		                open);
	}
	EMIT(metrics_family(out, "crier_connections_rejected_total", "counter",
	                    "Client connections refused, by reason."));
	EMIT(buf_printf(
	        out, "crier_connections_rejected_total{reason=\"max_connections\"} %" PRIu64 "\n",
	        METRICS_SUM(srv, conn_rejected_max)));
	return rc;
}

static int metrics_requests(struct buf *out, const struct server *srv,
                            const char *const *route_names, int n_routes)
{
	int rc = metrics_family(out, "crier_http_requests_total", "counter",
	                        "HTTP requests answered, by route pattern and status.");
	for (int r = 0; r <= n_routes && !rc; r++) {
		int slot_route = r == n_routes ? METRICS_MAX_ROUTES - 1 : r;
		for (int s = 0; s < METRICS_STATUS_SLOTS && !rc; s++) {
			uint64_t v = METRICS_SUM(srv, requests[slot_route][s]);
			if (v == 0)
				continue;
			if (s == METRICS_STATUS_SLOTS - 1)
				rc = buf_printf(
				        out,
				        "crier_http_requests_total{route=\"%s\",status=\"other\"} "
				        "%" PRIu64 "\n",
				        route_names[r], v);
			else
				rc = buf_printf(
				        out,
				        "crier_http_requests_total{route=\"%s\",status=\"%d\"} "
				        "%" PRIu64 "\n",
				        route_names[r], metrics_statuses[s], v);
		}
	}
	EMIT(metrics_family(out, "crier_http_parse_errors_total", "counter",
	                    "Requests rejected while parsing, by reason."));
	/* Every reason a request can be rejected for is present from the start
	 * (at 0), so rate() works before the first error. */
	for (int e = 1; CRIER_ERR_FIRST_ + e < CRIER_EWS_UPGRADE && !rc; e++) {
		int code = CRIER_ERR_FIRST_ + e;
		uint64_t v = METRICS_SUM(srv, parse_errors[e]);
		if (v || metrics_is_request_error(code))
			rc = buf_printf(
			        out, "crier_http_parse_errors_total{reason=\"%s\"} %" PRIu64 "\n",
			        err_label(code), v);
	}
	EMIT(metrics_family(out, "crier_http_timeouts_total", "counter",
	                    "Connections closed by a timeout, by phase."));
	for (int t = 0; t < METRICS_TO_COUNT && !rc; t++)
		rc = buf_printf(out, "crier_http_timeouts_total{phase=\"%s\"} %" PRIu64 "\n",
		                metrics_timeout_names[t], METRICS_SUM(srv, timeouts[t]));
	return rc;
}

static int metrics_io(struct buf *out, const struct server *srv)
{
	int rc = metrics_family(out, "crier_bytes_received_total", "counter",
	                        "Bytes read from client connections.");
	EMIT(buf_printf(out, "crier_bytes_received_total %" PRIu64 "\n",
	                METRICS_SUM(srv, bytes_in)));
	EMIT(metrics_family(out, "crier_bytes_sent_total", "counter",
	                    "Bytes written to client connections."));
	EMIT(buf_printf(out, "crier_bytes_sent_total %" PRIu64 "\n", METRICS_SUM(srv, bytes_out)));
	EMIT(metrics_family(out, "crier_write_syscalls_total", "counter",
	                    "Write system calls (one writev carries many queued buffers)."));
	EMIT(buf_printf(out, "crier_write_syscalls_total %" PRIu64 "\n", METRICS_SUM(srv, writes)));
	return rc;
}

/* Codes first..last (inclusive) as one labelled family, all present at 0. */
static int metrics_codes(struct buf *out, const struct server *srv, const char *name,
                         const char *help, int first, int last)
{
	int rc = metrics_family(out, name, "counter", help);
	for (int code = first; code <= last && !rc; code++)
		rc = buf_printf(
		        out, "%s{reason=\"%s\"} %" PRIu64 "\n", name, err_label(code),
		        metrics_sum(srv,
		                    offsetof(struct metrics, parse_errors) +
		                            sizeof(metric_t) * (size_t)(code - CRIER_ERR_FIRST_)));
	return rc;
}

static int metrics_ws_closes(struct buf *out, const struct server *srv)
{
	static const char *const dirs[2] = {"sent", "received"};
	int rc = metrics_family(out, "crier_ws_close_frames_total", "counter",
	                        "WebSocket close frames, by direction and code.");
	for (int d = 0; d < 2 && !rc; d++) {
		for (int i = 0; i < METRICS_WS_CLOSE_SLOTS && !rc; i++) {
			size_t off = d == 0 ? offsetof(struct metrics, ws_close_sent)
			                    : offsetof(struct metrics, ws_close_recv);
			uint64_t v = metrics_sum(srv, off + sizeof(metric_t) * (size_t)i);
			if (i == METRICS_WS_CLOSE_SLOTS - 1)
				rc = buf_printf(out,
				                "crier_ws_close_frames_total{direction=\"%s\","
				                "code=\"other\"} %" PRIu64 "\n",
				                dirs[d], v);
			else
				rc = buf_printf(out,
				                "crier_ws_close_frames_total{direction=\"%s\","
				                "code=\"%d\"} %" PRIu64 "\n",
				                dirs[d], metrics_ws_codes[i], v);
		}
	}
	return rc;
}

static int metrics_ws(struct buf *out, const struct server *srv)
{
	int rc = metrics_family(out, "crier_ws_upgrades_total", "counter",
	                        "WebSocket handshakes completed (101).");
	EMIT(buf_printf(out, "crier_ws_upgrades_total %" PRIu64 "\n",
	                METRICS_SUM(srv, ws_upgrades)));
	EMIT(metrics_codes(out, srv, "crier_ws_handshake_rejected_total",
	                   "WebSocket handshakes refused, by reason.", CRIER_EWS_UPGRADE,
	                   CRIER_EWS_PROTOCOL));
	EMIT(metrics_codes(out, srv, "crier_ws_protocol_errors_total",
	                   "WebSocket connections failed for a protocol violation, by reason.",
	                   CRIER_EWS_RSV, CRIER_EWS_TOO_BIG));
	EMIT(metrics_family(out, "crier_ws_messages_total", "counter",
	                    "Whole WebSocket messages, by direction."));
	EMIT(buf_printf(out, "crier_ws_messages_total{direction=\"in\"} %" PRIu64 "\n",
	                METRICS_SUM(srv, ws_msgs_in)));
	EMIT(buf_printf(out, "crier_ws_messages_total{direction=\"out\"} %" PRIu64 "\n",
	                METRICS_SUM(srv, ws_msgs_out)));
	EMIT(metrics_ws_closes(out, srv));
	EMIT(metrics_family(out, "crier_ws_slow_consumer_closes_total", "counter",
	                    "WebSockets closed (1008) for exceeding --ws-max-backpressure."));
	EMIT(buf_printf(out, "crier_ws_slow_consumer_closes_total %" PRIu64 "\n",
	                METRICS_SUM(srv, ws_slow_closes)));
	EMIT(metrics_family(out, "crier_ws_idle_closes_total", "counter",
	                    "WebSockets closed after --ws-idle-timeout without a frame."));
	EMIT(buf_printf(out, "crier_ws_idle_closes_total %" PRIu64 "\n",
	                METRICS_SUM(srv, ws_idle_closes)));
	return rc;
}

static int metrics_tls(struct buf *out, const struct server *srv)
{
	int rc = metrics_family(out, "crier_tls_handshakes_total", "counter",
	                        "TLS handshakes completed (resumed ones included).");
	EMIT(buf_printf(out, "crier_tls_handshakes_total %" PRIu64 "\n",
	                METRICS_SUM(srv, tls_handshakes)));
	EMIT(metrics_family(out, "crier_tls_resumed_total", "counter",
	                    "TLS handshakes that resumed a session (ticket or cache)."));
	EMIT(buf_printf(out, "crier_tls_resumed_total %" PRIu64 "\n",
	                METRICS_SUM(srv, tls_resumed)));
	EMIT(metrics_family(out, "crier_tls_handshake_failures_total", "counter",
	                    "TLS handshakes that failed, by reason class."));
	for (int r = 0; r < METRICS_TLS_F_COUNT && !rc; r++)
		rc = buf_printf(out,
		                "crier_tls_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n",
		                metrics_tls_fail_names[r], METRICS_SUM(srv, tls_failures[r]));
	return rc;
}

static int metrics_lag(struct buf *out, const struct server *srv)
{
	int rc = metrics_family(out, "crier_loop_lag_seconds", "histogram",
	                        "How late each worker's 100 ms tick ran: event-loop saturation.");
	for (uint32_t w = 0; w < srv->n_workers && !rc; w++) {
		const struct metrics *m = &srv->workers[w].m;
		uint64_t cum = 0;
		for (int i = 0; i < METRICS_LAG_BUCKETS && !rc; i++) {
			cum += metric_get(&m->lag_buckets[i]);
			if (i < METRICS_LAG_BUCKETS - 1)
				rc = buf_printf(
				        out,
				        "crier_loop_lag_seconds_bucket{worker=\"%u\",le=\"%g\"} "
				        "%" PRIu64 "\n",
				        w, (double)metrics_lag_le_us[i] / 1e6, cum);
			else
				rc = buf_printf(
				        out,
				        "crier_loop_lag_seconds_bucket{worker=\"%u\",le=\"+Inf\"} "
				        "%" PRIu64 "\n",
				        w, cum);
		}
		/* The count is the +Inf bucket read above, so the two always agree. */
		EMIT(buf_printf(out, "crier_loop_lag_seconds_sum{worker=\"%u\"} %.6f\n", w,
		                (double)metric_get(&m->lag_sum_us) / 1e6));
		EMIT(buf_printf(out, "crier_loop_lag_seconds_count{worker=\"%u\"} %" PRIu64 "\n", w,
		                cum));
	}
	return rc;
}

int metrics_render(struct buf *out, const struct server *srv, const char *const *route_names,
                   int n_routes)
{
	int rc = metrics_family(out, "crier_build_info", "gauge", "Build version and commit.");
	EMIT(buf_printf(out, "crier_build_info{version=\"%s\",commit=\"%s\"} 1\n", CRIER_VERSION,
	                CRIER_COMMIT));
	EMIT(metrics_family(out, "crier_process_start_time_seconds", "gauge",
	                    "Start time of the process since the Unix epoch."));
	EMIT(buf_printf(out, "crier_process_start_time_seconds %" PRId64 "\n", srv->start_wall_s));
	EMIT(metrics_family(out, "crier_workers", "gauge", "Worker threads."));
	EMIT(buf_printf(out, "crier_workers %u\n", srv->n_workers));
	EMIT(metrics_connections(out, srv));
	EMIT(metrics_requests(out, srv, route_names, n_routes));
	EMIT(metrics_io(out, srv));
	EMIT(metrics_ws(out, srv));
	EMIT(metrics_tls(out, srv));
	EMIT(metrics_lag(out, srv));
	EMIT(metrics_codes(out, srv, "crier_auth_failures_total",
	                   "Requests refused for missing, invalid or insufficient credentials "
	                   "(publishes to a reserved channel count as auth_forbidden; /ws "
	                   "requests included), and live connections ended by token expiry "
	                   "(auth_expired_live), by reason.",
	                   CRIER_EAUTH_MISSING, CRIER_EAUTH_EXPIRED_LIVE));
	return rc;
}
