/*
 * ws_conn.c - the WebSocket connection state machine.
 *
 * Input: the frame parser unmasks payload in place in the read buffer. A
 * message that arrives whole in one frame and one read is handed to the
 * handler straight from there, with no copy; anything else (fragments, a
 * message split across reads, compressed data) is assembled in a buffer
 * the connection holds only while that message is in flight, so an idle
 * WebSocket holds no input memory and no zlib state. Text is validated
 * incrementally as it arrives, so invalid UTF-8 closes the connection
 * (1007) at the first bad byte rather than at the end of a large message.
 *
 * Output: each message becomes one shared buffer (header and payload). With
 * permessage-deflate the payload is compressed by the worker's deflater
 * with no context takeover, so the compressed bytes depend only on the
 * message and could be shared by every subscriber with the same window.
 *
 * Liveness: one deadline per connection. While open it is the ping timer:
 * every --ws-ping-interval the server pings, and a peer that sent nothing
 * for --ws-idle-timeout is closed. Reads only record the time (no list
 * operation per read). After a close frame is sent the deadline is the
 * close timeout.
 */
#include "ws/ws_conn.h"

#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "net/worker.h"
#include "ws/ws_deflate.h"
#include "ws/ws_handshake.h"

#include <stdlib.h>
#include <string.h>

#define WS_DEFLATE_MIN 32 /* smaller messages are sent uncompressed: zlib framing costs more */

enum ws_state { WS_OPEN = 0, WS_CLOSING, WS_CLOSED };

struct ws_conn {
	struct http_conn http; /* first: the connection began as HTTP */
	const struct ws_route *route;
	const char *protocol; /* selected subprotocol */
	void *user;
	struct ws_frame_parser fp;
	struct utf8_state utf8;
	struct buf msg;          /* message being assembled; empty when idle */
	struct ws_inflater *inf; /* only while a compressed message arrives */
	uint64_t last_rx_ms;     /* loop time of the last read */
	uint64_t frame_len;      /* payload length of the current frame (from its header) */
	uint64_t frame_got;      /* payload bytes of the current frame seen */
	uint8_t *ctl;            /* a control frame split across reads (else NULL) */
	uint8_t ctl_len;
	uint8_t msg_op;       /* TEXT or BINARY of the message in flight */
	uint8_t state;        /* enum ws_state */
	uint8_t deflate_bits; /* server_max_window_bits, 0 when not negotiated */
	bool msg_compressed;
	bool in_message;
};

/* Per-worker state: one deflater per window size in use. */
struct ws_worker {
	struct ws_deflater *deflaters[16];
	struct buf scratch; /* compressed payload being built */
};

static const struct conn_proto ws_proto;

size_t ws_conn_size(void)
{
	return sizeof(struct ws_conn);
}

void *ws_conn_user(const struct ws_conn *wc)
{
	return wc->user;
}

void ws_conn_set_user(struct ws_conn *wc, void *user)
{
	wc->user = user;
}

const char *ws_conn_protocol(const struct ws_conn *wc)
{
	return wc->protocol;
}

static struct conn *ws_base(struct ws_conn *wc)
{
	return &wc->http.base;
}

static const struct config *ws_cfg(struct ws_conn *wc)
{
	return worker_cfg(wc->http.base.w);
}

static struct ws_worker *ws_worker_of(struct worker *w)
{
	if (!w->ext[WORKER_EXT_WS])
		w->ext[WORKER_EXT_WS] = calloc(1, sizeof(struct ws_worker));
	return w->ext[WORKER_EXT_WS];
}

void ws_worker_exit(struct worker *w)
{
	struct ws_worker *ww = w->ext[WORKER_EXT_WS];
	if (!ww)
		return;
	for (size_t i = 0; i < 16; i++)
		ws_deflater_free(ww->deflaters[i]);
	buf_free(&ww->scratch);
	free(ww);
	w->ext[WORKER_EXT_WS] = NULL;
}

/* Queues one frame built from header fields and payload. */
static int ws_queue_frame(struct ws_conn *wc, enum ws_opcode op, bool rsv1, const void *data,
                          size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hl = ws_frame_header(hdr, op, true, rsv1, len, NULL);
	struct rcbuf *b = rcbuf_new(hl + len);
	if (!b)
		return CRIER_ENOMEM;
	memcpy(b->data, hdr, hl);
	if (len)
		memcpy(b->data + hl, data, len);
	return conn_send(ws_base(wc), b);
}

/* Sends a close frame with code (0: none) and a reason cut to fit 125 bytes. */
static void ws_send_close(struct ws_conn *wc, uint16_t code, const char *reason)
{
	uint8_t payload[WS_CONTROL_MAX];
	size_t len = 0;
	if (code) {
		payload[0] = (uint8_t)(code >> 8);
		payload[1] = (uint8_t)(code & 0xff);
		size_t rl = reason ? strlen(reason) : 0;
		if (rl > WS_CONTROL_MAX - 2)
			rl = WS_CONTROL_MAX - 2; /* our reasons are ASCII: no split character */
		if (rl)
			memcpy(payload + 2, reason, rl);
		len = 2 + rl;
	}
	metric_inc(&ws_base(wc)->w->m.ws_close_sent[metrics_ws_close_slot(code ? code : 1005)]);
	ws_queue_frame(wc, WS_OP_CLOSE, false, payload, len);
}

void ws_close(struct ws_conn *wc, uint16_t code, const char *reason)
{
	if (wc->state != WS_OPEN)
		return;
	wc->state = WS_CLOSING;
	ws_send_close(wc, code, reason);
	conn_set_timeout(ws_base(wc), CONN_T_CLOSE, ws_cfg(wc)->ws_close_timeout_ms);
}

/* Fails the connection (RFC 6455 §7.1.7): close frame, then end at once. */
static void ws_fail(struct ws_conn *wc, int err)
{
	struct conn *c = ws_base(wc);
	int code = err_ws_close_code(err);
	if (code == 0)
		code = 1011; /* our own failure (out of memory) */
	metrics_parse_error(&c->w->m, err);
	if (log_enabled(LOG_INFO))
		log_info("websocket failed", "code=%d reason=%s", code, err_label(err));
	if (wc->state == WS_OPEN)
		ws_send_close(wc, (uint16_t)code, err_message(err));
	wc->state = WS_CLOSED;
	conn_pause(c);
	conn_end(c);
}

/* The peer is not reading: drop its backlog, tell it why, and end. */
static void ws_slow(struct ws_conn *wc)
{
	struct conn *c = ws_base(wc);
	metric_inc(&c->w->m.ws_slow_closes);
	log_info("websocket slow consumer closed", "queued_bytes=%llu",
	         (unsigned long long)c->q_bytes);
	conn_drop_queued(c);
	if (wc->state == WS_OPEN)
		ws_send_close(wc, 1008, "slow consumer");
	wc->state = WS_CLOSED;
	conn_end(c);
}

struct ws_deflater *ws_worker_deflater(struct worker *w, uint8_t bits)
{
	struct ws_worker *ww = ws_worker_of(w);
	if (!ww)
		return NULL;
	if (!ww->deflaters[bits])
		ww->deflaters[bits] = ws_deflater_new(bits);
	return ww->deflaters[bits];
}

/*
 * Every frame but the final close counts against --ws-max-backpressure: a
 * peer that stops reading while it sends pings must not grow our memory
 * with pongs. The budget bounds the backlog a frame joins, not the frame:
 * one message as large as --ws-max-message-bytes is always sendable, and
 * memory stays under budget + one message.
 */
static int ws_budget(struct ws_conn *wc, uint64_t queued_before)
{
	if (queued_before <= ws_cfg(wc)->ws_max_backpressure)
		return 0;
	ws_slow(wc);
	return CRIER_EWS_SLOW;
}

/* Queues a control frame (ping, pong) under the budget. */
static int ws_queue_control(struct ws_conn *wc, enum ws_opcode op, const void *data, size_t len)
{
	uint64_t before = ws_base(wc)->q_bytes;
	int rc = ws_queue_frame(wc, op, false, data, len);
	return rc ? rc : ws_budget(wc, before);
}

int ws_send(struct ws_conn *wc, enum ws_opcode op, const void *data, size_t len)
{
	struct conn *c = ws_base(wc);
	if (wc->state != WS_OPEN)
		return CRIER_ECLOSED;
	int rc;
	uint64_t queued_before = c->q_bytes;
	struct ws_deflater *d = NULL;
	if (wc->deflate_bits && len >= WS_DEFLATE_MIN)
		d = ws_worker_deflater(c->w, wc->deflate_bits);
	struct ws_worker *ww = d ? ws_worker_of(c->w) : NULL;
	if (d && (ww->scratch.len = 0, ws_deflate_message(d, data, len, &ww->scratch) == 0)) {
		rc = ws_queue_frame(wc, op, true, ww->scratch.data, ww->scratch.len);
		if (ww->scratch.cap > 1u << 20)
			buf_free(&ww->scratch); /* don't keep a huge buffer after one big message */
	} else {
		rc = ws_queue_frame(wc, op, false, data, len);
	}
	if (rc)
		return rc;
	metric_inc(&c->w->m.ws_msgs_out);
	return ws_budget(wc, queued_before);
}

/* Validates the close payload and answers it (RFC 6455 §5.5.1, §7.4). */
static int ws_on_close_frame(struct ws_conn *wc, const uint8_t *p, size_t len)
{
	struct conn *c = ws_base(wc);
	if (len == 1)
		return CRIER_EWS_CLOSE_LEN;
	uint16_t code = 0;
	if (len >= 2) {
		code = (uint16_t)(p[0] << 8 | p[1]);
		bool known = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
		if (!known && !(code >= 3000 && code <= 4999))
			return CRIER_EWS_CLOSE_CODE;
		if (!utf8_valid(p + 2, len - 2))
			return CRIER_EWS_UTF8;
	}
	metric_inc(&c->w->m.ws_close_recv[metrics_ws_close_slot(code ? code : 1005)]);
	if (wc->state == WS_OPEN) {
		/* Echo the code (none for none), then the server closes TCP
		 * first, as §7.1.1 prefers. */
		ws_send_close(wc, code, NULL);
	}
	wc->state = WS_CLOSED;
	conn_end(c);
	return 0;
}

static int ws_on_control(struct ws_conn *wc, uint8_t op, const uint8_t *p, size_t len)
{
	switch (op) {
	case WS_OP_PING:
		if (wc->state == WS_OPEN)
			return ws_queue_control(wc, WS_OP_PONG, p, len);
		return 0;
	case WS_OP_PONG:
		return 0; /* liveness is any read; the payload is ours to ignore */
	case WS_OP_CLOSE:
		return ws_on_close_frame(wc, p, len);
	default:
		return CRIER_EWS_OPCODE;
	}
}

/*
 * A control frame's payload (at most 125 bytes). Almost always it arrives
 * whole and is used from the read buffer; only one split across reads is
 * assembled, in a buffer allocated for that frame: idle connections carry a
 * pointer instead of 125 bytes.
 */
static int ws_on_control_data(struct ws_conn *wc, const struct ws_frame_event *ev)
{
	if (ev->frame_start)
		wc->ctl_len = 0;
	if (ev->frame_end && !wc->ctl && ev->len == wc->frame_len)
		return ws_on_control(wc, ev->opcode, ev->data, ev->len);
	if (ev->len) {
		if (!wc->ctl && !(wc->ctl = malloc(WS_CONTROL_MAX)))
			return CRIER_ENOMEM;
		memcpy(wc->ctl + wc->ctl_len, ev->data, ev->len); /* the parser caps it at 125 */
		wc->ctl_len = (uint8_t)(wc->ctl_len + ev->len);
	}
	if (!ev->frame_end)
		return 0;
	int rc = ws_on_control(wc, ev->opcode, wc->ctl, wc->ctl_len);
	free(wc->ctl);
	wc->ctl = NULL;
	return rc;
}

/* Validates the text bytes of msg not yet checked. */
static int ws_check_text(struct ws_conn *wc, const uint8_t *p, size_t len)
{
	if (wc->msg_op != WS_OP_TEXT)
		return 0;
	return utf8_feed(&wc->utf8, p, len) == 0 ? 0 : CRIER_EWS_UTF8;
}

static void ws_message_reset(struct ws_conn *wc)
{
	buf_free(&wc->msg);
	if (wc->inf) {
		ws_inflater_free(wc->inf);
		wc->inf = NULL;
	}
	wc->in_message = false;
}

static int ws_deliver(struct ws_conn *wc, uint8_t *data, size_t len)
{
	if (wc->msg_op == WS_OP_TEXT && !utf8_complete(&wc->utf8))
		return CRIER_EWS_UTF8;
	metric_inc(&ws_base(wc)->w->m.ws_msgs_in);
	wc->route->handler->on_message(wc, (enum ws_opcode)wc->msg_op, data, len);
	return 0;
}

/* A data frame header: a new message or the next fragment of one. */
static int ws_on_data_start(struct ws_conn *wc, const struct ws_frame_event *ev)
{
	uint64_t max = ws_cfg(wc)->ws_max_message_bytes;
	wc->frame_got = 0;
	wc->frame_len = ev->frame_len; /* only the header event carries it */
	if (ev->opcode != WS_OP_CONT) {
		wc->in_message = true;
		wc->msg_op = ev->opcode;
		wc->msg_compressed = ev->rsv1;
		utf8_init(&wc->utf8);
		if (ev->rsv1 && !(wc->inf = ws_inflater_new()))
			return CRIER_ENOMEM;
	}
	/* Uncompressed sizes are known from the header: fail before reading. */
	if (!wc->msg_compressed && wc->msg.len + ev->frame_len > max)
		return CRIER_EWS_TOO_BIG;
	return 0;
}

static int ws_on_data(struct ws_conn *wc, const struct ws_frame_event *ev)
{
	uint64_t max = ws_cfg(wc)->ws_max_message_bytes;
	bool last = ev->frame_end && ev->fin;
	if (wc->msg_compressed) {
		size_t before = wc->msg.len;
		int rc = ws_inflate(wc->inf, ev->data, ev->len, last, &wc->msg, max);
		if (rc == 0)
			rc = ws_check_text(wc, (uint8_t *)wc->msg.data + before,
			                   wc->msg.len - before);
		if (rc)
			return rc;
	} else if (wc->frame_got == 0 && ev->len == wc->frame_len && last && wc->msg.len == 0) {
		/* The whole message is here: deliver it from the read buffer. */
		int rc = ws_check_text(wc, ev->data, ev->len);
		wc->frame_got = ev->len;
		if (rc == 0)
			rc = ws_deliver(wc, ev->data, ev->len);
		ws_message_reset(wc);
		return rc;
	} else if (ev->len) {
		int rc = ws_check_text(wc, ev->data, ev->len);
		if (rc == 0 && buf_append(&wc->msg, ev->data, ev->len) != 0)
			rc = CRIER_ENOMEM;
		if (rc)
			return rc;
	}
	wc->frame_got += ev->len;
	if (!last)
		return 0;
	int rc = ws_deliver(wc, (uint8_t *)wc->msg.data, wc->msg.len);
	ws_message_reset(wc);
	return rc;
}

static int ws_on_event(struct ws_conn *wc, const struct ws_frame_event *ev)
{
	if (ev->opcode >= WS_OP_CLOSE) {
		if (ev->frame_start)
			wc->frame_len = ev->frame_len; /* only the header event carries it */
		return ws_on_control_data(wc, ev);
	}
	if (ev->frame_start) {
		int rc = ws_on_data_start(wc, ev);
		if (rc)
			return rc;
	}
	if (ev->len || ev->frame_end)
		return ws_on_data(wc, ev);
	return 0;
}

static void ws_on_read(struct conn *c, char *data, size_t len)
{
	struct ws_conn *wc = (struct ws_conn *)c;
	wc->last_rx_ms = uv_now(&c->w->loop);
	uint8_t *p = (uint8_t *)data;
	while (len > 0 && wc->state != WS_CLOSED && !c->closing) {
		struct ws_frame_event ev;
		int64_t r = ws_frame_parse(&wc->fp, p, len, &ev);
		int rc = r < 0 ? (int)r : ws_on_event(wc, &ev);
		if (rc == CRIER_EWS_SLOW)
			return; /* ws_slow already ended the connection */
		if (rc) {
			ws_fail(wc, rc);
			return;
		}
		p += r;
		len -= (size_t)r;
	}
}

static void ws_on_eof(struct conn *c, int err)
{
	(void)err;
	conn_close(c); /* the peer vanished without a close frame (1006) */
}

static void ws_on_timeout(struct conn *c, enum conn_tclass tclass)
{
	struct ws_conn *wc = (struct ws_conn *)c;
	const struct config *cfg = ws_cfg(wc);
	if (tclass != CONN_T_PING || wc->state != WS_OPEN) {
		conn_close(c); /* the peer never answered our close frame */
		return;
	}
	uint64_t now = uv_now(&c->w->loop);
	if (now - wc->last_rx_ms >= cfg->ws_idle_timeout_ms) {
		metric_inc(&c->w->m.ws_idle_closes);
		ws_send_close(wc, 1001, "idle timeout");
		wc->state = WS_CLOSED;
		conn_end(c);
		return;
	}
	if (ws_queue_control(wc, WS_OP_PING, NULL, 0) != 0)
		return; /* over budget: ws_slow ended it */
	conn_set_timeout(c, CONN_T_PING, cfg->ws_ping_interval_ms);
}

static void ws_on_shutdown(struct conn *c)
{
	ws_close((struct ws_conn *)c, 1001, "server shutting down");
}

static void ws_on_drain(struct conn *c)
{
	struct ws_conn *wc = (struct ws_conn *)c;
	if (wc->state == WS_OPEN && wc->route->handler->on_drain)
		wc->route->handler->on_drain(wc);
}

static void ws_on_free(struct conn *c)
{
	struct ws_conn *wc = (struct ws_conn *)c;
	if (wc->route && wc->route->handler->on_close)
		wc->route->handler->on_close(wc);
	ws_message_reset(wc);
	free(wc->ctl);
	http_conn_release(c);
}

static const struct conn_proto ws_proto = {
        .name = "ws",
        .on_read = ws_on_read,
        .on_eof = ws_on_eof,
        .on_timeout = ws_on_timeout,
        .on_shutdown = ws_on_shutdown,
        .on_drain = ws_on_drain,
        .on_free = ws_on_free,
};

/* Answers a refused handshake with its status and the headers RFC 6455
 * §4.2.2 asks for. */
static void ws_refuse(struct http_ctx *ctx, int err)
{
	metrics_parse_error(&ctx->w->m, err);
	int status = err_http_status(err);
	const char *extra = NULL;
	if (err == CRIER_EWS_VERSION)
		extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
	else if (err == CRIER_EWS_UPGRADE)
		extra = "Upgrade: websocket\r\n";
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_reason(status),
	                 err_message(err));
	http_respond(ctx, status, "text/plain; charset=utf-8", extra, body, (size_t)n);
}

int ws_conn_upgrade(struct http_ctx *ctx, const struct ws_route *route)
{
	const struct config *cfg = worker_cfg(ctx->w);
	struct ws_handshake_opts opts = {
	        .protocols = route->protocols,
	        .n_protocols = route->n_protocols,
	        .protocol_required = route->protocol_required,
	        .deflate = cfg->ws_deflate,
	        .allowed_origins = &cfg->allowed_origins,
	};
	struct ws_accept acc;
	int rc = ws_handshake_check(ctx->req, &opts, &acc);
	if (rc) {
		ws_refuse(ctx, rc);
		return rc;
	}
	char resp[512];
	size_t n = ws_handshake_response(&acc, resp, sizeof(resp));
	struct ws_conn *wc = (struct ws_conn *)ctx->hc;
	wc->route = route;
	wc->protocol = acc.protocol;
	wc->deflate_bits = acc.deflate ? acc.deflate_params.server_max_window_bits : 0;
	ws_frame_parser_init(&wc->fp, WS_ROLE_SERVER, acc.deflate);
	wc->last_rx_ms = uv_now(&ctx->w->loop);
	http_takeover(ctx, &ws_proto, METRICS_T_WS, 101, resp, n);
	metric_inc(&ctx->w->m.ws_upgrades);
	conn_set_timeout(ws_base(wc), CONN_T_PING, cfg->ws_ping_interval_ms);
	if (route->handler->on_open)
		route->handler->on_open(wc);
	return 0;
}

int ws_send_frame(struct ws_conn *wc, struct rcbuf *frame)
{
	if (wc->state != WS_OPEN) {
		rcbuf_unref(frame);
		return CRIER_ECLOSED;
	}
	metric_inc(&ws_base(wc)->w->m.ws_msgs_out);
	return conn_send(ws_base(wc), frame);
}

uint64_t ws_conn_queued(const struct ws_conn *wc)
{
	return wc->http.base.q_bytes;
}

bool ws_conn_pushback(const struct ws_conn *wc)
{
	return conn_pushback(&wc->http.base);
}

int ws_conn_deflate_bits(const struct ws_conn *wc)
{
	return wc->deflate_bits;
}

void ws_close_slow(struct ws_conn *wc)
{
	ws_slow(wc);
}
