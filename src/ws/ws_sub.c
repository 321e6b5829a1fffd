/*
 * ws_sub.c - the raw WebSocket subscriber: each message is one frame.
 *
 * The frame bytes are the message's shared encoding (MSG_ENC_WS, or the
 * compressed MSG_ENC_WS_DEFLATE for connections that negotiated a full
 * 15-bit window: with no context takeover, one compressed copy serves them
 * all). Raw WebSocket has no envelope to mark a gap notice, so the notice
 * is a text message whose only key is "crier.gap": a client that publishes
 * JSON must not use that key at the top level. What the client sends is
 * ignored: publishing goes through POST /pub or the /ws protocol.
 */
#include "ws/ws_sub.h"

#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "hub/hub.h"
#include "net/worker.h"
#include "ws/ws_conn.h"
#include "ws/ws_deflate.h"

#include <stdlib.h>
#include <string.h>

struct ws_sub {
	struct hub_sub sub;
	struct ws_conn *wc;
	struct deadline exp; /* the token's expiry, when it has one */
};

static struct rcbuf *ws_sub_frame(const struct msg *m, struct worker *w, bool deflate)
{
	enum ws_opcode op = m->binary ? WS_OP_BINARY : WS_OP_TEXT;
	struct buf z = {0};
	const uint8_t *payload = m->data;
	size_t len = m->data_len;
	if (deflate) {
		struct ws_deflater *d = ws_worker_deflater(w, 15);
		int rc = d ? ws_deflate_message(d, m->data, m->data_len, &z) : CRIER_ENOMEM;
		if (rc) {
			buf_free(&z);
			return NULL;
		}
		payload = (const uint8_t *)z.data;
		len = z.len;
	}
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hl = ws_frame_header(hdr, op, true, deflate, len, NULL);
	struct rcbuf *b = rcbuf_new(hl + len);
	if (b) {
		memcpy(b->data, hdr, hl);
		if (len)
			memcpy(b->data + hl, payload, len);
	}
	buf_free(&z);
	return b;
}

static struct rcbuf *ws_sub_plain(const struct msg *m, void *w)
{
	return ws_sub_frame(m, w, false);
}

static struct rcbuf *ws_sub_deflated(const struct msg *m, void *w)
{
	return ws_sub_frame(m, w, true);
}

static int ws_sub_deliver(struct hub_sub *s, struct msg *m)
{
	struct ws_sub *ws = (struct ws_sub *)s;
	bool z = ws_conn_deflate_bits(ws->wc) == 15 && m->data_len >= 32;
	struct worker *w = s->w;
	struct rcbuf *b = z ? msg_encoded(m, MSG_ENC_WS_DEFLATE, ws_sub_deflated, w)
	                    : msg_encoded(m, MSG_ENC_WS, ws_sub_plain, w);
	if (!b)
		return CRIER_ENOMEM;
	return ws_send_frame(ws->wc, rcbuf_ref(b));
}

static void ws_sub_gap(struct hub_sub *s, const char *json, size_t len)
{
	struct ws_sub *ws = (struct ws_sub *)s;
	struct buf j = {0};
	buf_puts(&j, "{\"crier.gap\":");
	buf_append(&j, json, len);
	buf_puts(&j, "}");
	if (j.data)
		ws_send(ws->wc, WS_OP_TEXT, j.data, j.len);
	buf_free(&j);
}

static uint64_t ws_sub_queued(struct hub_sub *s)
{
	return ws_conn_queued(((struct ws_sub *)s)->wc);
}

static bool ws_sub_pushback(struct hub_sub *s)
{
	return ws_conn_pushback(((struct ws_sub *)s)->wc);
}

static void ws_sub_slow(struct hub_sub *s)
{
	ws_close_slow(((struct ws_sub *)s)->wc);
}

static const struct hub_sink_ops ws_sub_sink = {
        .deliver = ws_sub_deliver,
        .gap = ws_sub_gap,
        .queued = ws_sub_queued,
        .pushback = ws_sub_pushback,
        .slow = ws_sub_slow,
};

static void ws_sub_message(struct ws_conn *wc, enum ws_opcode op, uint8_t *data, size_t len)
{
	(void)wc, (void)op, (void)data, (void)len; /* receive-only */
}

static void ws_sub_drain(struct ws_conn *wc)
{
	struct ws_sub *ws = ws_conn_user(wc);
	if (ws)
		hub_sub_drained(&ws->sub);
}

static void ws_sub_close(struct ws_conn *wc)
{
	struct ws_sub *ws = ws_conn_user(wc);
	if (!ws)
		return;
	hub_unsubscribe(&ws->sub);
	deadline_cancel(&((struct http_conn *)wc)->base.w->deadlines, &ws->exp);
	free(ws);
	ws_conn_set_user(wc, NULL);
}

/* The token the stream was opened with expired: 4001, so the client knows
 * to come back with a fresh one (and resume). */
static void ws_sub_expired(struct deadline *d)
{
	struct ws_sub *ws = container_of(d, struct ws_sub, exp);
	log_info("websocket closed: token expired", "code=4001");
	metrics_parse_error(&((struct conn *)ws->wc)->w->m, CRIER_EAUTH_EXPIRED_LIVE);
	ws_close(ws->wc, 4001, "token expired");
}

static const struct ws_handler ws_sub_handler = {
        .on_message = ws_sub_message,
        .on_close = ws_sub_close,
        .on_drain = ws_sub_drain,
};

static const struct ws_route ws_sub_route = {.handler = &ws_sub_handler};

void ws_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                  size_t since_len, int64_t exp_s)
{
	struct hub *hub = ctx->hc->app->hub;
	struct worker *w = ctx->w;
	struct ws_sub *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		static const char msg[] = "500 Internal Server Error: out of memory\n";
		http_respond(ctx, 500, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	/* Register first: --max-channels is answered with 503 before any 101. */
	ws->wc = (struct ws_conn *)ctx->hc;
	ws->sub.ops = &ws_sub_sink;
	ws->sub.budget = worker_cfg(w)->ws_max_backpressure;
	int rc = hub_subscribe(hub, &ws->sub, w, names, names_len, since, since_len);
	if (rc) {
		static const char full[] =
		        "503 Service Unavailable: channel limit (--max-channels) reached\n";
		http_respond(ctx, 503, "text/plain; charset=utf-8", NULL, full, sizeof(full) - 1);
		free(ws);
		return;
	}
	if (ws_conn_upgrade(ctx, &ws_sub_route) != 0) {
		hub_unsubscribe(&ws->sub);
		free(ws);
		return;
	}
	ws_conn_set_user(ws->wc, ws);
	if (auth_arm_expiry(&w->deadlines, &ws->exp, uv_now(&w->loop), exp_s, ws_sub_expired) !=
	    0) {
		ws_close(ws->wc, 1011, "out of memory");
		return;
	}
	hub_sub_start(&ws->sub);
}
