/*
 * http_conn.c - the HTTP/1.1 connection state machine.
 *
 * Input arrives in the worker's read buffer. A complete head is parsed in
 * place; only an incomplete head (or a request with a body) is copied into
 * the connection, so an idle keep-alive connection holds no buffer. A
 * request with a body keeps a copy of its head and re-parses it when the
 * body is complete (parsing is cheaper than tracking which slices to save).
 *
 * Every rejection is final: the response says why, carries
 * `Connection: close`, reading stops at once so nothing after the bad
 * request is ever taken as a request, and the connection ends with a
 * lingering close. That is the desync defence: after a framing error there
 * is no agreed boundary, so there is no next request.
 *
 * Timeouts: the header timeout runs from the first byte of a request (or
 * from accept) to the end of its head and is not extended by trickling
 * bytes: the slowloris bound. The body timeout bounds silence between body
 * reads. The idle timeout bounds a keep-alive connection between requests.
 */
#include "http/http_conn.h"

#include "auth/admit.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_HEADERS 1024 /* upper bound of --max-headers; the array lives on the stack */

static const struct conn_proto http_proto;

static const struct config *http_cfg(struct http_conn *hc)
{
	return worker_cfg(hc->base.w);
}

/* Serialises a response into one shared buffer and queues it. */
static void http_queue_response(struct http_conn *hc, int status, const char *ctype,
                                const char *extra, const void *body, size_t body_len,
                                bool with_body, bool close)
{
	struct worker *w = hc->base.w;
	const char *conn_hdr = close            ? "Connection: close\r\n"
	                       : hc->minor == 0 ? "Connection: keep-alive\r\n"
	                                        : "";
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\n%s",
	                 status, http_reason(status), w->http_date, ctype, body_len, conn_hdr);
	size_t extra_len = extra ? strlen(extra) : 0;
	size_t blen = with_body ? body_len : 0;
	struct rcbuf *b = rcbuf_new((size_t)n + extra_len + 2 + blen);
	if (!b) {
		conn_close(&hc->base);
		return;
	}
	memcpy(b->data, head, (size_t)n);
	if (extra_len)
		memcpy(b->data + n, extra, extra_len);
	memcpy(b->data + (size_t)n + extra_len, "\r\n", 2);
	if (blen)
		memcpy(b->data + (size_t)n + extra_len + 2, body, blen);
	metric_inc(&w->m.responses);
	conn_send(&hc->base, b);
}

static void http_count(struct http_conn *hc, int status)
{
	int route = hc->route >= 0 ? hc->route : METRICS_MAX_ROUTES - 1;
	metric_inc(&hc->base.w->m.requests[route][metrics_status_slot(status)]);
}

/*
 * Copies a query string to out[0..cap) with the value of every token=
 * parameter (--allow-query-token) replaced by REDACTED: a log must never
 * hold a credential. Returns the length written (cut to fit, NUL-terminated).
 */
static size_t http_redact_query(const char *q, size_t len, char *out, size_t cap)
{
	static const char red[] = "token=REDACTED";
	size_t o = 0, i = 0;
	while (i < len && o + 1 < cap) {
		bool start = i == 0 || q[i - 1] == '&';
		if (start && len - i >= 6 && memcmp(q + i, "token=", 6) == 0) {
			for (size_t k = 0; k < sizeof(red) - 1 && o + 1 < cap; k++)
				out[o++] = red[k];
			while (i < len && q[i] != '&')
				i++;
			continue;
		}
		out[o++] = q[i++];
	}
	out[o] = '\0';
	return o;
}

static void http_access_log(struct http_conn *hc, const struct http_request *req, int status,
                            size_t body_len)
{
	if (!http_cfg(hc)->access_log || !log_enabled(LOG_INFO))
		return;
	struct logline l;
	log_begin(&l, LOG_INFO, "access");
	log_str(&l, "method", req->method, req->method_len);
	log_str(&l, "path", req->path, req->path_len);
	if (req->query && req->query_len) {
		char q[512];
		size_t n = http_redact_query(req->query, req->query_len, q, sizeof(q));
		log_str(&l, "query", q, n);
	}
	log_int(&l, "status", status);
	log_int(&l, "bytes", (int64_t)body_len);
	log_int(&l, "ms", (int64_t)(uv_now(&hc->base.w->loop) - hc->started_ms));
	log_end(&l);
}

/* Back to waiting for the next request on a kept-alive connection. */
static void http_next_request(struct http_conn *hc)
{
	hc->state = HTTP_S_HEAD;
	hc->in_request = false;
	hc->got_bytes = false;
	hc->route = -1;
	hc->status = 0;
	hc->last_len = 0;
	buf_free(&hc->req);
	if (hc->base.w->shutting_down) {
		conn_end(&hc->base);
		return;
	}
	conn_set_timeout(&hc->base, CONN_T_IDLE, http_cfg(hc)->keepalive_timeout_ms);
}

void http_defer(struct http_ctx *ctx, const struct http_deferred_ops *ops, uint64_t timeout_ms)
{
	struct http_conn *hc = ctx->hc;
	ctx->responded = true; /* not by the dispatcher: later */
	hc->deferred = ops;
	hc->head_only = ctx->req->method_id == HTTP_M_HEAD;
	conn_set_timeout(&hc->base, CONN_T_POLL, timeout_ms);
}

void http_deferred_respond(struct http_conn *hc, int status, const char *content_type,
                           const char *extra_headers, const void *body, size_t body_len)
{
	if (!hc->deferred)
		return;
	hc->deferred = NULL;
	bool close = !hc->keep_alive || hc->base.w->shutting_down;
	http_queue_response(hc, status, content_type, extra_headers, body, body_len, !hc->head_only,
	                    close);
	http_count(hc, status);
	if (close) {
		conn_end(&hc->base);
		return;
	}
	http_next_request(hc);
	if (hc->base.in.len) /* requests pipelined behind the parked one */
		hc->base.proto->on_read(&hc->base, NULL, 0);
}

void http_respond(struct http_ctx *ctx, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t body_len)
{
	struct http_conn *hc = ctx->hc;
	if (ctx->responded)
		return;
	ctx->responded = true;
	bool close = !hc->keep_alive || hc->base.w->shutting_down;
	/* A 304 has no content (RFC 9110 §15.4.5) but keeps the Content-Length
	 * the 200 would have had, as HEAD does. */
	bool with_body = ctx->req->method_id != HTTP_M_HEAD && status != 304;
	http_queue_response(hc, status, content_type, extra_headers, body, body_len, with_body,
	                    close);
	http_count(hc, status);
	http_access_log(hc, ctx->req, status, body_len);
	if (close)
		conn_end(&hc->base);
	else
		http_next_request(hc);
}

/* Final answer to a request that broke the protocol or a limit. */
static void http_reject(struct http_conn *hc, int code)
{
	int status = err_http_status(code);
	if (status == 0)
		status = 400;
	const char *why = err_message(code);
	char body[160];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_reason(status), why);
	if (code == CRIER_ETIMEOUT)
		n = snprintf(body, sizeof(body), "408 Request Timeout\n");
	else
		metrics_parse_error(&hc->base.w->m, code);
	if (log_enabled(LOG_INFO))
		log_info("request rejected", "status=%d reason=%s", status, err_label(code));
	conn_pause(&hc->base);
	http_queue_response(hc, status, "text/plain; charset=utf-8", NULL, body, (size_t)n, true,
	                    true);
	http_count(hc, status);
	conn_end(&hc->base);
}

static void http_dispatch(struct http_conn *hc, const struct http_request *req, const char *body,
                          size_t body_len)
{
	struct http_ctx ctx = {.hc = hc, .w = hc->base.w, .req = req, .route = hc->route};
	conn_set_timeout(&hc->base, CONN_T_NONE, 0);
	const struct route *rt = hc->route >= 0 ? &hc->app->router.routes[hc->route] : NULL;
	if (hc->status == 404) {
		static const char msg[] = "404 Not Found\n";
		http_respond(&ctx, 404, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
	} else if (hc->status == 405) {
		char allow[96], extra[128];
		router_allow(rt, allow, sizeof(allow));
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
		static const char msg[] = "405 Method Not Allowed\n";
		http_respond(&ctx, 405, "text/plain; charset=utf-8", extra, msg, sizeof(msg) - 1);
	} else {
		ctx.body = body;
		ctx.body_len = body_len;
		rt->handler(&ctx);
		if (!ctx.responded) {
			static const char msg[] = "500 Internal Server Error\n";
			http_respond(&ctx, 500, "text/plain; charset=utf-8", NULL, msg,
			             sizeof(msg) - 1);
		}
	}
}

/* A complete head: route it, then either answer now or read the body. */
static int http_on_head(struct http_conn *hc, const struct http_request *req, const char *head,
                        size_t head_len)
{
	const struct config *cfg = http_cfg(hc);
	if (req->method_id == HTTP_M_UNKNOWN)
		return CRIER_EMETHOD;
	hc->keep_alive = req->keep_alive;
	hc->minor = (uint8_t)req->minor_version;
	int idx;
	int st = router_match(&hc->app->router, req->path, req->path_len, req->method_id, &idx);
	hc->route = (int8_t)idx;
	hc->status = (int16_t)(st == 200 ? 0 : st);
	if (req->body_kind == HTTP_BODY_NONE) {
		http_dispatch(hc, req, NULL, 0);
		return 0;
	}
	if (req->body_kind == HTTP_BODY_LENGTH && req->content_length > cfg->max_body_bytes)
		return CRIER_EBODY_TOO_LARGE;
	if (req->expect_continue && hc->status != 0) {
		/* The client waits before sending the body: answer now and close
		 * rather than guess whether the body follows. */
		hc->keep_alive = false;
		http_dispatch(hc, req, NULL, 0);
		return 0;
	}
	if (buf_append(&hc->req, head, head_len) != 0)
		return CRIER_ENOMEM;
	hc->head_len = (uint32_t)head_len;
	hc->want_body = hc->status == 0 && hc->app->router.routes[idx].wants_body;
	hc->body_chunked = req->body_kind == HTTP_BODY_CHUNKED;
	hc->body_left = req->content_length;
	memset(&hc->chunked, 0, sizeof(hc->chunked));
	hc->state = HTTP_S_BODY;
	if (req->expect_continue && req->minor_version == 1)
		conn_send_copy(&hc->base, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	conn_set_timeout(&hc->base, CONN_T_BODY, cfg->body_timeout_ms);
	return 0;
}

/* The body is complete: re-parse the saved head and dispatch. */
static int http_body_done(struct http_conn *hc)
{
	struct http_header hdrs[HTTP_MAX_HEADERS];
	struct http_request req = {.headers = hdrs, .headers_cap = HTTP_MAX_HEADERS};
	struct http_limits lim = {.max_head_bytes = hc->head_len + 1,
	                          .max_target_bytes = hc->head_len + 1};
	if (http_parse_request(hc->req.data, hc->head_len, 0, &lim, &req) != (int64_t)hc->head_len)
		return CRIER_EINVAL; /* cannot happen: the same bytes parsed before */
	size_t body_len = hc->req.len - hc->head_len;
	http_dispatch(hc, &req, hc->want_body ? hc->req.data + hc->head_len : NULL, body_len);
	return 0;
}

static int http_body_take(struct http_conn *hc, const char *data, size_t len)
{
	if (!hc->want_body || len == 0)
		return 0;
	return buf_append(&hc->req, data, len);
}

/* Consumes body bytes; returns bytes used or a negative code. */
static int64_t http_on_body(struct http_conn *hc, const char *p, size_t n)
{
	const struct config *cfg = http_cfg(hc);
	conn_set_timeout(&hc->base, CONN_T_BODY, cfg->body_timeout_ms);
	size_t off = 0;
	if (!hc->body_chunked) {
		size_t take = n < hc->body_left ? n : (size_t)hc->body_left;
		if (http_body_take(hc, p, take) != 0)
			return CRIER_ENOMEM;
		hc->body_left -= take;
		off = take;
	} else {
		while (off < n && !hc->chunked.done) {
			const char *data;
			size_t dlen;
			int64_t r = http_chunked_decode(&hc->chunked, p + off, n - off,
			                                cfg->max_body_bytes, &data, &dlen);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			if (http_body_take(hc, data, dlen) != 0)
				return CRIER_ENOMEM;
			off += (size_t)r;
		}
	}
	bool done = hc->body_chunked ? hc->chunked.done : hc->body_left == 0;
	if (done) {
		int rc = http_body_done(hc);
		if (rc)
			return rc;
	}
	return (int64_t)off;
}

/* Parses as many requests as buf holds; returns bytes consumed. */
static size_t http_process(struct http_conn *hc, const char *p, size_t n)
{
	const struct config *cfg = http_cfg(hc);
	struct conn *c = &hc->base;
	size_t off = 0;
	while (off < n && !c->ending && !c->closing) {
		if (hc->state == HTTP_S_BODY) {
			int64_t r = http_on_body(hc, p + off, n - off);
			if (r < 0) {
				http_reject(hc, (int)r);
				return n;
			}
			off += (size_t)r;
			if (hc->deferred)
				return off; /* parked with its body: what follows waits for its answer */
			continue;
		}
		if (!hc->got_bytes) {
			hc->got_bytes = true;
			hc->started_ms = uv_now(&c->w->loop);
			if (!hc->in_request || c->tclass != CONN_T_HEADER)
				conn_set_timeout(c, CONN_T_HEADER, cfg->header_timeout_ms);
			hc->in_request = true;
		}
		struct http_header hdrs[HTTP_MAX_HEADERS];
		struct http_request req = {.headers = hdrs, .headers_cap = cfg->max_headers};
		struct http_limits lim = {.max_head_bytes = cfg->max_header_bytes,
		                          .max_target_bytes = cfg->max_uri_bytes};
		int64_t r = http_parse_request(p + off, n - off, hc->last_len, &lim, &req);
		if (r == 0) {
			hc->last_len = n - off;
			break;
		}
		if (r > 0) {
			hc->last_len = 0;
			int rc = http_on_head(hc, &req, p + off, (size_t)r);
			off += (size_t)r;
			if (rc == 0 && c->proto != &http_proto)
				return off; /* upgraded: the rest is the new protocol's */
			if (rc == 0 && hc->deferred)
				return off; /* parked: what follows waits for its answer */
			if (rc == 0)
				continue;
			r = rc;
		}
		http_reject(hc, (int)r);
		return n;
	}
	return off;
}

static void http_on_read(struct conn *c, char *data, size_t len)
{
	struct http_conn *hc = (struct http_conn *)c;
	if (hc->deferred) {
		/* A parked request: keep what follows (bounded) for later. */
		if (c->in.len + len > http_cfg(hc)->max_header_bytes ||
		    buf_append(&c->in, data, len) != 0)
			conn_close(c);
		return;
	}
	bool kept = c->in.len > 0;
	if (kept && buf_append(&c->in, data, len) != 0) {
		conn_close(c);
		return;
	}
	const char *p = kept ? c->in.data : data;
	size_t n = kept ? c->in.len : len;
	size_t used = http_process(hc, p, n);
	if (c->proto != &http_proto && !c->ending && !c->closing) {
		/* Upgraded mid-buffer: what follows the head is the new protocol's
		 * first bytes. It keeps no input in c->in, so release that after. */
		if (used < n)
			c->proto->on_read(c, (char *)p + used, n - used);
		buf_free(&c->in);
		return;
	}
	if (c->ending || c->closing) {
		buf_free(&c->in);
		return;
	}
	if (kept) {
		buf_consume(&c->in, used);
		if (c->in.len == 0)
			buf_free(&c->in); /* idle connections hold no input buffer */
	} else if (used < n && buf_append(&c->in, p + used, n - used) != 0) {
		conn_close(c);
	}
}

static void http_on_eof(struct conn *c, int err)
{
	(void)err;
	conn_close(c); /* a parked request is released by the close callback */
}

static void http_on_timeout(struct conn *c, enum conn_tclass tclass)
{
	struct http_conn *hc = (struct http_conn *)c;
	struct metrics *m = &c->w->m;
	if (tclass == CONN_T_POLL) {
		if (hc->deferred)
			hc->deferred->cancel(hc, 0);
		return;
	}
	if (tclass == CONN_T_IDLE || (tclass == CONN_T_HEADER && !hc->got_bytes)) {
		/* Nothing was asked: close without an answer. */
		metric_inc(
		        &m->timeouts[tclass == CONN_T_IDLE ? METRICS_TO_IDLE : METRICS_TO_HEADER]);
		conn_close(c);
		return;
	}
	metric_inc(&m->timeouts[tclass == CONN_T_BODY ? METRICS_TO_BODY : METRICS_TO_HEADER]);
	http_reject(hc, CRIER_ETIMEOUT);
}

static void http_on_shutdown(struct conn *c)
{
	struct http_conn *hc = (struct http_conn *)c;
	/* Idle keep-alive connections end now; one mid-request finishes it
	 * (its response will say Connection: close); a parked one is
	 * answered now with what it has. */
	if (hc->deferred)
		hc->deferred->cancel(hc, 0);
	else if (!hc->got_bytes)
		conn_end(c);
}

void http_conn_release(struct conn *c)
{
	struct http_conn *hc = (struct http_conn *)c;
	if (hc->deferred)
		hc->deferred->cancel(hc, CRIER_ECLOSED);
	buf_free(&hc->req);
	free(hc);
}

void http_takeover(struct http_ctx *ctx, const struct conn_proto *proto,
                   enum metrics_transport transport, int status, const void *resp, size_t len)
{
	struct http_conn *hc = ctx->hc;
	ctx->responded = true;
	http_count(hc, status);
	http_access_log(hc, ctx->req, status, 0);
	conn_send_copy(&hc->base, resp, len);
	buf_free(&hc->req);
	conn_set_timeout(&hc->base, CONN_T_NONE, 0);
	conn_set_transport(&hc->base, transport);
	hc->base.proto = proto;
}

static const struct conn_proto http_proto = {
        .name = "http",
        .on_read = http_on_read,
        .on_eof = http_on_eof,
        .on_timeout = http_on_timeout,
        .on_shutdown = http_on_shutdown,
        .on_free = http_conn_release,
};

/* The per-address limits, before any request is read: a refusal is
 * answered at once (429 with Retry-After for the rate, 503 for the cap)
 * and the connection ends. Returns 0 when admitted. */
static int http_conn_admit(struct http_conn *hc, struct admit *a)
{
	uint64_t retry_ms = 0;
	int rc = admit_conn(a, &hc->base, clock_mono_ms(), &retry_ms);
	if (rc == 0)
		return 0;
	char hdr[64], body[200];
	size_t n = admit_refusal(
	        rc, retry_ms,
	        rc == CRIER_ERATE_LIMITED ? "too many new connections from this address" : NULL,
	        hdr, body);
	if (!hdr[0]) /* the address cap: worth trying again soon, elsewhere too */
		snprintf(hdr, sizeof(hdr), "Retry-After: 1\r\n");
	admit_log("connect", rc, retry_ms);
	http_queue_response(hc, err_http_status(rc), "text/plain; charset=utf-8", hdr, body, n,
	                    true, true);
	http_count(hc, err_http_status(rc));
	conn_end(&hc->base);
	return rc;
}

struct conn *http_conn_accept(struct worker *w, uv_stream_t *listener, bool over_limit)
{
	struct http_app *app = w->srv->hooks.ctx;
	struct http_conn *hc =
	        calloc(1, app->conn_size > sizeof(*hc) ? app->conn_size : sizeof(*hc));
	if (!hc)
		return NULL;
	hc->app = app;
	hc->route = -1;
	hc->minor = 1;
	hc->keep_alive = true;
	hc->base.transport = METRICS_T_HTTP;
	if (conn_accept(&hc->base, w, listener, &http_proto) != 0)
		return NULL; /* freed by the close callback */
	if (over_limit) {
		static const char msg[] = "503 Service Unavailable: server at connection limit\n";
		http_queue_response(hc, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n", msg,
		                    sizeof(msg) - 1, true, true);
		http_count(hc, 503);
		conn_end(&hc->base);
		return &hc->base;
	}
	if (app->admit && http_conn_admit(hc, app->admit) != 0)
		return &hc->base;
	hc->in_request = true; /* a new connection owes us a request within the header timeout */
	conn_set_timeout(&hc->base, CONN_T_HEADER, worker_cfg(w)->header_timeout_ms);
	if (conn_start(&hc->base) != 0)
		conn_close(&hc->base);
	return &hc->base;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
