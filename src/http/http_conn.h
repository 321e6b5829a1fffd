/*
 * http_conn.h - HTTP/1.1 connections and the request/response API that
 * route handlers use.
 *
 * An http_conn is a struct conn (net/) running the HTTP/1.1 protocol:
 * parse a head, read or discard the body, call the route's handler, queue
 * the response, repeat (keep-alive, pipelining). Handlers get a struct
 * http_ctx that is valid only during the call; they must answer with
 * http_respond before returning (later protocols take the connection over
 * instead). Everything a handler sees is a slice of bytes owned by the
 * connection for the duration of the call.
 */
#ifndef CRIER_HTTP_HTTP_CONN_H
#define CRIER_HTTP_HTTP_CONN_H

#include "core/buf.h"
#include "http/http_parse.h"
#include "http/router.h"
#include "net/conn.h"
#include "net/server.h"

#include <stdbool.h>
#include <stdint.h>

/* The application: the routes and what handlers need to reach. Built once
 * on the main thread, read-only afterwards. */
struct hub;
struct auth;
struct engine_redis;

struct http_app {
	struct router router;
	struct hub *hub;            /* the event bus (NULL in tests that need none) */
	struct auth *auth;          /* who may do what (auth/auth.h); NULL: everyone everything */
	struct admit *admit;        /* abuse limits (auth/admit.h); NULL: none */
	struct engine_redis *redis; /* --engine redis (engine/engine_redis.h), or NULL */
	/* Why the node is degraded ("redis"), or NULL when healthy; /healthz
	 * answers 503 "degraded: <why>" meanwhile. May be NULL. */
	const char *(*degraded)(struct http_app *app);
	/* Appends more Prometheus families to /metrics (may be NULL). */
	int (*metrics_extra)(struct http_app *app, struct buf *out);
	size_t conn_size; /* bytes per connection: the largest protocol's struct (>= http_conn) */
	const char *labels[ROUTER_MAX + 1]; /* metrics labels; the last is "unmatched" */
	struct server *srv;
};

enum http_state { HTTP_S_HEAD = 0, HTTP_S_BODY };

struct http_conn;

/* A request answered later (long-poll). */
struct http_deferred_ops {
	/* The wait must end now: reason 0 = --poll-timeout passed or shutdown
	 * (answer with what you have), CRIER_ECLOSED = the client is gone
	 * (release, do not answer). */
	void (*cancel)(struct http_conn *hc, int reason);
};

struct http_conn {
	struct conn base;
	struct http_app *app;
	uint8_t state;       /* enum http_state */
	bool in_request : 1; /* bytes of a request have arrived, or the connection is new */
	bool got_bytes : 1;  /* the current request has at least one byte */
	bool keep_alive : 1; /* of the request being read */
	bool want_body : 1;  /* keep the body for the handler (else discard) */
	bool body_chunked : 1;
	uint8_t minor;       /* HTTP/1.minor of the current request */
	int8_t route;        /* matched route or -1 */
	int16_t status;      /* 0: call the handler; else answer this (404, 405) */
	uint32_t head_len;   /* bytes of the head copy at the start of req */
	size_t last_len;     /* parser restart hint */
	uint64_t body_left;  /* Content-Length bytes still to read */
	uint64_t started_ms; /* loop time the request began, for the access log */
	struct http_chunked chunked;
	const struct http_deferred_ops *deferred; /* a parked request, or NULL */
	bool head_only;                           /* the parked request is HEAD */
	struct buf req; /* head copy + body, only for requests with a body */
};

struct http_ctx {
	struct http_conn *hc;
	struct worker *w;
	const struct http_request *req;
	const char *body; /* decoded request body (NULL when none or discarded) */
	size_t body_len;
	int route;
	bool responded;
};

/* Server hook: accepts a connection and starts HTTP on it (or, when the
 * node is over --max-connections, answers 503 and ends it). */
struct conn *http_conn_accept(struct worker *w, uv_stream_t *listener, bool over_limit);

/* Answers the request: status line, Date, Content-Type, Content-Length,
 * Connection, the optional extra header lines (each ending in CRLF), and
 * the body (omitted for HEAD and for a 304, whose Content-Length is still
 * body_len: the length the 200 would have had). */
void http_respond(struct http_ctx *ctx, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t body_len);

/*
 * Hands the connection to another protocol (after a 101): queues `resp`
 * (the handshake response), counts the request, and from now on input goes
 * to proto->on_read (bytes that arrived after the request head included).
 * The protocol's struct extends struct http_conn in the same allocation
 * (app->conn_size); its on_free must end with http_conn_release.
 */
void http_takeover(struct http_ctx *ctx, const struct conn_proto *proto,
                   enum metrics_transport transport, int status, const void *resp, size_t len);

/* Frees the HTTP part of a connection (the last step of any on_free). */
void http_conn_release(struct conn *c);

/* Parks the request: the handler answers later with http_deferred_respond,
 * and until then input is buffered (bounded), not parsed, so pipelined
 * requests keep their order. The wait ends by timeout_ms with ops->cancel. */
void http_defer(struct http_ctx *ctx, const struct http_deferred_ops *ops, uint64_t timeout_ms);

/* Answers a parked request (see http_respond); then the connection goes on
 * with the next request, or closes. */
void http_deferred_respond(struct http_conn *hc, int status, const char *content_type,
                           const char *extra_headers, const void *body, size_t body_len);

/* Reason phrase for a status code. */
const char *http_reason(int status);

#endif
