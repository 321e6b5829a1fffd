/*
 * sse_sub.h - Server-Sent Events subscribers (GET /sub/{ch} as
 * text/event-stream).
 */
#ifndef CRIER_SSE_SSE_SUB_H
#define CRIER_SSE_SSE_SUB_H

#include "http/http_conn.h"

/* Bytes an SSE connection needs (for http_app.conn_size). */
size_t sse_sub_size(void);

/* Answers ctx with an event stream of the comma-separated channels,
 * resuming after `since` when given (NULL: live only). Refuses a
 * cross-origin request that --allowed-origins does not allow (403). When
 * exp_s (wall-clock seconds) is not 0, the stream ends then with a final
 * `event: crier.auth` / `{"reason":"expired"}`. */
void sse_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                   size_t since_len, int64_t exp_s);

/* CORS response headers for req under --allowed-origins into out ("" for
 * same-origin and origin-less requests). False when the origin is refused. */
bool sse_cors_headers(const struct http_request *req, const struct config *cfg, char *out,
                      size_t cap);

/* OPTIONS preflight for /sub (cross-origin EventSource with Last-Event-ID). */
void sse_sub_preflight(struct http_ctx *ctx);

#endif
