/*
 * sse_sub.c - the SSE transport: a subscriber connection that streams
 * events until it closes.
 *
 * After the response head, the stream opens with a ':' comment (so a
 * buffering proxy flushes and the client sees the connection is live)
 * and one retry: field. Events are the message's shared SSE encoding
 * (built once, by whichever worker needs it first). The response is
 * close-delimited: an event stream has no length, and ending the stream is
 * ending the connection, so chunked framing would add bytes per event and
 * buy nothing. Gap notices are `event: crier.gap` with no id, so the
 * browser's Last-Event-ID stays on the last real message.
 */
#include "sse/sse_sub.h"

#include "auth/auth.h"
#include "auth/origin.h"
#include "core/err.h"
#include "core/log.h"
#include "hub/hub.h"
#include "net/worker.h"
#include "sse/sse_encode.h"
#include "ws/ws_handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream opened with a token that expires; allocated only then, so
 * streams without one carry a pointer, not the node. */
struct sse_expiry {
	struct deadline d;
	struct conn *c;
};

struct sse_conn {
	struct http_conn http; /* first: the connection began as HTTP */
	struct hub_sub sub;
	struct sse_expiry *exp; /* NULL: no expiry */
};

static const struct conn_proto sse_proto;

size_t sse_sub_size(void)
{
	return sizeof(struct sse_conn);
}

static struct sse_conn *sse_of_sub(struct hub_sub *s)
{
	return container_of(s, struct sse_conn, sub);
}

static struct rcbuf *sse_encode_msg(const struct msg *m, void *arg)
{
	(void)arg;
	struct sse_event ev = {
	        .id = m->id_str,
	        .id_len = m->id_len,
	        .event = m->event,
	        .event_len = m->event_len,
	        .data = m->data,
	        .data_len = m->data_len,
	        .binary = m->binary,
	};
	size_t len = sse_encoded_len(&ev);
	struct rcbuf *b = rcbuf_new(len);
	if (b && sse_encode(&ev, b->data, len) != len) {
		rcbuf_unref(b);
		return NULL;
	}
	return b;
}

static int sse_deliver(struct hub_sub *s, struct msg *m)
{
	struct rcbuf *b = msg_encoded(m, MSG_ENC_SSE, sse_encode_msg, NULL);
	if (!b)
		return CRIER_ENOMEM;
	return conn_send(&sse_of_sub(s)->http.base, rcbuf_ref(b));
}

static void sse_gap(struct hub_sub *s, const char *json, size_t len)
{
	struct sse_event ev = {.event = "crier.gap",
	                       .event_len = 9,
	                       .data = (const uint8_t *)json,
	                       .data_len = len};
	size_t n = sse_encoded_len(&ev);
	struct rcbuf *b = rcbuf_new(n);
	if (b && sse_encode(&ev, b->data, n) == n)
		conn_send(&sse_of_sub(s)->http.base, b);
	else
		rcbuf_unref(b);
}

static uint64_t sse_queued(struct hub_sub *s)
{
	return sse_of_sub(s)->http.base.q_bytes;
}

static bool sse_pushback(struct hub_sub *s)
{
	return conn_pushback(&sse_of_sub(s)->http.base);
}

static void sse_slow(struct hub_sub *s)
{
	struct conn *c = &sse_of_sub(s)->http.base;
	log_info("sse slow consumer closed", "queued_bytes=%llu", (unsigned long long)c->q_bytes);
	/* An event stream has no closing handshake: close now, which also
	 * frees the backlog the peer was not reading. */
	conn_close(c);
}

static const struct hub_sink_ops sse_sink = {
        .deliver = sse_deliver,
        .gap = sse_gap,
        .queued = sse_queued,
        .pushback = sse_pushback,
        .slow = sse_slow,
};

static void sse_on_read(struct conn *c, char *data, size_t len)
{
	(void)c, (void)data, (void)len; /* a subscriber has nothing to say: discard */
}

static void sse_on_eof(struct conn *c, int err)
{
	(void)err;
	conn_close(c);
}

static void sse_on_timeout(struct conn *c, enum conn_tclass tclass)
{
	if (tclass != CONN_T_HEARTBEAT) {
		conn_close(c);
		return;
	}
	conn_send_copy(c, ":\n\n", 3);
	conn_set_timeout(c, CONN_T_HEARTBEAT, worker_cfg(c->w)->sse_heartbeat_ms);
}

static void sse_on_shutdown(struct conn *c)
{
	/* A last reconnection hint, then the end of the stream: clients come
	 * back (to this node after a restart, or another) and resume. */
	char retry[48];
	int n = snprintf(retry, sizeof(retry), "retry: %llu\n\n",
	                 (unsigned long long)worker_cfg(c->w)->sse_retry_ms);
	conn_send_copy(c, retry, (size_t)n);
	conn_end(c);
}

static void sse_on_drain(struct conn *c)
{
	hub_sub_drained(&((struct sse_conn *)c)->sub);
}

static void sse_on_free(struct conn *c)
{
	struct sse_conn *sc = (struct sse_conn *)c;
	if (sc->exp) {
		deadline_cancel(&c->w->deadlines, &sc->exp->d);
		free(sc->exp);
	}
	hub_unsubscribe(&sc->sub);
	http_conn_release(c);
}

/* The token expired: a last event saying so (an EventSource sees it as
 * event type crier.auth and can fetch a fresh token), then the end of the
 * stream. The reconnect resumes from Last-Event-ID as after any drop. */
static void sse_expired(struct deadline *d)
{
	struct conn *c = container_of(d, struct sse_expiry, d)->c;
	static const char ev[] = "event: crier.auth\ndata: {\"reason\":\"expired\"}\n\n";
	log_info("sse stream ended: token expired", "reason=expired");
	metrics_parse_error(&c->w->m, CRIER_EAUTH_EXPIRED_LIVE);
	conn_send_copy(c, ev, sizeof(ev) - 1);
	conn_end(c);
}

static const struct conn_proto sse_proto = {
        .name = "sse",
        .on_read = sse_on_read,
        .on_eof = sse_on_eof,
        .on_timeout = sse_on_timeout,
        .on_shutdown = sse_on_shutdown,
        .on_drain = sse_on_drain,
        .on_free = sse_on_free,
};

/* CORS headers for an allowed cross-origin request into out; false when
 * the origin is refused. Same-origin and origin-less requests need none. */
bool sse_cors_headers(const struct http_request *req, const struct config *cfg, char *out,
                      size_t cap)
{
	out[0] = '\0';
	const struct http_header *o = http_find_header(req, "Origin");
	if (!o)
		return true;
	const char *host = req->host ? req->host : "";
	size_t host_len = req->host ? req->host_len : 0;
	struct config_list none = {0};
	if (origin_allowed(o->value, o->value_len, host, host_len, &none))
		return true; /* same origin */
	if (!origin_allowed(o->value, o->value_len, host, host_len, &cfg->allowed_origins))
		return false;
	/* Echo the origin (never "*"): credentialed EventSource requests
	 * (withCredentials) are refused by browsers on a wildcard. */
	snprintf(out, cap,
	         "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: true\r\n"
	         "Vary: Origin\r\n",
	         (int)(o->value_len < 200 ? o->value_len : 200), o->value);
	return true;
}

void sse_sub_preflight(struct http_ctx *ctx)
{
	char cors[512], extra[768];
	if (!sse_cors_headers(ctx->req, worker_cfg(ctx->w), cors, sizeof(cors))) {
		static const char msg[] = "403 Forbidden: origin not allowed\n";
		http_respond(ctx, 403, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	snprintf(extra, sizeof(extra),
	         "%sAccess-Control-Allow-Methods: GET, OPTIONS\r\n"
	         "Access-Control-Allow-Headers: Last-Event-ID, Cache-Control, Authorization\r\n"
	         "Access-Control-Max-Age: 600\r\n",
	         cors);
	http_respond(ctx, 204, "text/plain; charset=utf-8", extra, NULL, 0);
}

void sse_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                   size_t since_len, int64_t exp_s)
{
	const struct config *cfg = worker_cfg(ctx->w);
	char cors[512];
	if (!sse_cors_headers(ctx->req, cfg, cors, sizeof(cors))) {
		metrics_parse_error(&ctx->w->m, CRIER_EWS_ORIGIN);
		static const char msg[] =
		        "403 Forbidden: origin not allowed (see --allowed-origins)\n";
		http_respond(ctx, 403, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	/* Register first: the request can still be refused (--max-channels). */
	struct sse_conn *sc = (struct sse_conn *)ctx->hc;
	sc->exp = NULL; /* these bytes may hold an earlier request's protocol state */
	sc->sub.ops = &sse_sink;
	sc->sub.budget = cfg->sse_max_backpressure;
	int rc = hub_subscribe(ctx->hc->app->hub, &sc->sub, ctx->w, names, names_len, since,
	                       since_len);
	if (rc) {
		static const char full[] =
		        "503 Service Unavailable: channel limit (--max-channels) reached\n";
		static const char oom[] = "500 Internal Server Error: out of memory\n";
		bool over = rc == CRIER_EOVERLOAD;
		http_respond(ctx, over ? 503 : 500, "text/plain; charset=utf-8", NULL,
		             over ? full : oom, over ? sizeof(full) - 1 : sizeof(oom) - 1);
		return;
	}
	char head[1024];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: text/event-stream\r\n"
	                 "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
	                 "%s\r\n:ok\n\nretry: %llu\n\n",
	                 ctx->w->http_date, cors, (unsigned long long)cfg->sse_retry_ms);
	http_takeover(ctx, &sse_proto, METRICS_T_SSE, 200, head, (size_t)n);
	conn_set_timeout(&sc->http.base, CONN_T_HEARTBEAT, cfg->sse_heartbeat_ms);
	/* From here on the connection is an SSE one: sse_on_free releases the
	 * expiry, and a stream that cannot have one ends (the client resumes). */
	if (exp_s > 0) {
		sc->exp = calloc(1, sizeof(*sc->exp));
		if (sc->exp)
			sc->exp->c = &sc->http.base;
		if (!sc->exp || auth_arm_expiry(&ctx->w->deadlines, &sc->exp->d,
		                                uv_now(&ctx->w->loop), exp_s, sse_expired) != 0) {
			conn_close(&sc->http.base);
			return;
		}
	}
	hub_sub_start(&sc->sub);
}
