/*
 * metrics.h - per-worker counters and their Prometheus rendering.
 *
 * Each worker owns one struct metrics and is its only writer, so counting
 * is a relaxed load and store (no lock prefix, no shared cache line with
 * another writer); the /metrics page, on whichever worker serves it, sums
 * every worker's copy with relaxed loads. A scrape may see one worker a few
 * events ahead of another; Prometheus counters tolerate that.
 *
 * Label sets are closed (routes come from the router table, statuses from
 * a fixed list, parse-error reasons from core/err.h), so no request can
 * create a new time series.
 */
#ifndef CRIER_NET_METRICS_H
#define CRIER_NET_METRICS_H

#include "core/buf.h"

#include <stdatomic.h>
#include <stdint.h>

/* What a connection is currently speaking: the `transport` label. */
enum metrics_transport { METRICS_T_HTTP = 0, METRICS_T_WS, METRICS_T_SSE, METRICS_T_COUNT };

/* Why a TLS handshake failed: the `reason` label (see conn_tls.c). */
enum metrics_tls_fail {
	METRICS_TLS_F_PLAINTEXT = 0, /* plain HTTP sent to a TLS port */
	METRICS_TLS_F_VERSION,       /* below TLS 1.2, or not TLS at all */
	METRICS_TLS_F_CIPHER,        /* no cipher or group in common */
	METRICS_TLS_F_ALPN,          /* ALPN offered without http/1.1 */
	METRICS_TLS_F_PEER_ALERT,    /* the client aborted (e.g. untrusted certificate) */
	METRICS_TLS_F_INCOMPLETE,    /* closed or timed out mid-handshake */
	METRICS_TLS_F_OTHER,
	METRICS_TLS_F_COUNT
};

enum metrics_timeout { METRICS_TO_HEADER = 0, METRICS_TO_BODY, METRICS_TO_IDLE, METRICS_TO_COUNT };

#define METRICS_MAX_ROUTES     32 /* router table size limit; the last slot is "unmatched" */
#define METRICS_STATUS_SLOTS   28 /* see metrics_status_slot */
#define METRICS_ERR_SLOTS      96 /* CRIER_E* codes, indexed from CRIER_ERR_FIRST_ */
#define METRICS_LAG_BUCKETS    12
#define METRICS_WS_CLOSE_SLOTS 12 /* see metrics_ws_close_slot */

typedef atomic_uint_least64_t metric_t;

struct metrics {
	metric_t conn_accepted[METRICS_T_COUNT];
	metric_t conn_open[METRICS_T_COUNT]; /* gauge: this worker's share */
	metric_t conn_rejected_max;          /* refused at --max-connections */
	metric_t bytes_in, bytes_out;
	metric_t writes;    /* write system calls (writev / try_write) */
	metric_t responses; /* HTTP responses queued */
	metric_t requests[METRICS_MAX_ROUTES][METRICS_STATUS_SLOTS];
	metric_t parse_errors[METRICS_ERR_SLOTS];
	metric_t timeouts[METRICS_TO_COUNT];
	metric_t ws_upgrades;                           /* successful WebSocket handshakes */
	metric_t ws_msgs_in, ws_msgs_out;               /* whole messages */
	metric_t ws_close_sent[METRICS_WS_CLOSE_SLOTS]; /* close frames we sent, by code */
	metric_t ws_close_recv[METRICS_WS_CLOSE_SLOTS]; /* close frames peers sent, by code */
	metric_t ws_slow_closes;                    /* closed for exceeding the outbound budget */
	metric_t ws_idle_closes;                    /* closed after --ws-idle-timeout of silence */
	metric_t tls_handshakes;                    /* TLS handshakes completed */
	metric_t tls_resumed;                       /* of which resumed a session */
	metric_t tls_failures[METRICS_TLS_F_COUNT]; /* handshakes that failed, by reason */
	metric_t lag_buckets[METRICS_LAG_BUCKETS];  /* non-cumulative; rendered cumulative */
	metric_t lag_count;
	metric_t lag_sum_us;
};

/* Single-writer increment: only the owning worker calls these. */
static inline void metric_add(metric_t *m, uint64_t n)
{
	atomic_store_explicit(m, atomic_load_explicit(m, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}
static inline void metric_inc(metric_t *m)
{
	metric_add(m, 1);
}
static inline void metric_dec(metric_t *m)
{
	metric_add(m, (uint64_t)-1);
}
static inline uint64_t metric_get(const metric_t *m)
{
	return atomic_load_explicit(m, memory_order_relaxed);
}

/* Slot of an HTTP status in requests[][]; unknown statuses share the last. */
int metrics_status_slot(int status);

/* Slot of a WebSocket close code in ws_close_*[]; others share the last. */
int metrics_ws_close_slot(int code);

/* Records one event-loop lag sample. */
void metrics_observe_lag(struct metrics *m, uint64_t lag_us);

/* The `reason` label of an enum metrics_tls_fail slot. */
const char *metrics_tls_fail_name(int slot);

/* Counts a parse error by its CRIER_E* code. */
void metrics_parse_error(struct metrics *m, int code);

struct server;

/* Sum across workers of the errors counted (metrics_parse_error) for the
 * codes first..last, inclusive. Any thread. */
uint64_t metrics_codes_total(const struct server *srv, int first, int last);

/* Connections open now on transport t, across workers. Any thread. */
uint64_t metrics_open(const struct server *srv, enum metrics_transport t);

/* The transport label ("http", "ws", "sse"). */
const char *metrics_transport_name(enum metrics_transport t);

/* Renders the Prometheus text page for the whole server into out.
 * route_names[i] labels requests[i]; route_names[n_routes] is the label
 * of unmatched requests. Returns 0 or CRIER_ENOMEM. */
int metrics_render(struct buf *out, const struct server *srv, const char *const *route_names,
                   int n_routes);

#endif
