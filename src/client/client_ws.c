/*
 * client_ws.c - a subscription over WebSocket: the raw transport
 * (GET /sub/{channels} with Upgrade, one frame per message) and the crier.v1
 * protocol (GET /ws, JSON requests and answers; docs/protocol-ws.md).
 *
 * Owns the client half of RFC 6455: the upgrade request with a fresh
 * random key, the check of the 101 answer (Upgrade, Accept, subprotocol, no
 * extension: permessage-deflate is never offered), reading frames with the
 * server's parser in its client role, answering pings, echoing a close and
 * sending one on shutdown. Every frame out is masked with a key from
 * RAND_bytes (§5.3). Messages go to client_sub.c's delivery, so the
 * duplicate check and the cursor are the same as for SSE and long-poll.
 *
 * The non-obvious choice: raw WebSocket frames carry no id, so a raw
 * subscription cannot move its resume point; every reconnect resumes from
 * the id given at subscribe time (documented in crier/client.h). crier.v1
 * carries ids and resumes exactly. Silence is judged by the http_client's
 * idle timer (ping interval + margin), which every read re-arms.
 * It never decides when to reconnect or fall back: failures go to client.c.
 */
#include "client/client_impl.h"
#include "client/ws_wire.h"

#include "core/base64.h"
#include "core/err.h"
#include "http/http_parse.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_SUBPROTOCOL "crier.v1"
#define WS_SUB_REF     1 /* the ref of our one subscribe request */

int client_ws_request(crier_client *c, struct buf *out)
{
	uint8_t raw[16];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return CRIER_EIO;
	*base64_encode(raw, sizeof(raw), c->ws_key) = '\0';
	bool proto = c->transport == CRIER_TRANSPORT_WSPROTO;
	int rc = proto ? buf_printf(out, "GET %s/ws", c->prefix)
	               : buf_printf(out, "GET %s", c->sub_path);
	if (!rc && !proto && c->cursor[0]) {
		rc = buf_puts(out, "?since=");
		rc = rc ? rc : client_pct(out, c->cursor);
	}
	if (!rc) {
		int sep = client_token_query(c, out, !proto && c->cursor[0] ? '&' : '?');
		rc = sep < 0 ? sep : 0;
	}
	rc = rc ? rc
	        : buf_printf(out,
	                     " HTTP/1.1\r\nHost: %s\r\nUser-Agent: libcrier/%s\r\n"
	                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
	                     c->authority, CRIER_VERSION, c->ws_key);
	if (!rc && proto)
		rc = buf_puts(out, "Sec-WebSocket-Protocol: " WS_SUBPROTOCOL "\r\n");
	rc = rc ? rc : client_token_header(c, out);
	return rc ? rc : buf_puts(out, "\r\n");
}

/* Sends one masked frame. Returns 0 or a negative code. */
static int ws_send(crier_client *c, enum ws_opcode op, const void *p, size_t n)
{
	uint8_t mask[4];
	if (!c->sub_hc || RAND_bytes(mask, sizeof(mask)) != 1)
		return CRIER_EIO;
	struct buf f = {0};
	int rc = ws_wire_frame(&f, op, p, n, mask);
	rc = rc ? rc : http_client_write(c->sub_hc, f.data, f.len);
	buf_free(&f);
	return rc;
}

/* crier.v1: the subscribe request, with the resume point when there is one. */
static int ws_subscribe(crier_client *c)
{
	json_t *chs = json_array();
	for (size_t i = 0; i < c->n_channels; i++)
		json_array_append_new(chs, json_string(c->channels[i]));
	json_t *req =
	        json_pack("{s:s, s:i, s:o}", "op", "subscribe", "ref", WS_SUB_REF, "channels", chs);
	if (req && c->cursor[0])
		json_object_set_new(req, "since", json_string(c->cursor));
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	int rc = s ? ws_send(c, WS_OP_TEXT, s, strlen(s)) : CRIER_ENOMEM;
	free(s);
	return rc;
}

/* True when header `name` of h contains token tok (comma list, any case). */
static bool ws_has_token(const struct http_client_head *h, const char *name, const char *tok)
{
	const char *v;
	long n = http_client_header(h, name, &v);
	return n >= 0 && http_list_has_token(v, (size_t)n, tok);
}

/* Checks a 101 answer (RFC 6455 §4.1, the client's checks); NULL when good. */
static const char *ws_check_101(crier_client *c, const struct http_client_head *h)
{
	const char *v;
	long n;
	if (!ws_has_token(h, "Upgrade", "websocket") || !ws_has_token(h, "Connection", "upgrade"))
		return "the 101 answer lacks Upgrade: websocket";
	n = http_client_header(h, "Sec-WebSocket-Accept", &v);
	if (n < 0 || !ws_wire_accept_ok(c->ws_key, v, (size_t)n))
		return "wrong Sec-WebSocket-Accept in the 101 answer";
	if (http_client_header(h, "Sec-WebSocket-Extensions", &v) >= 0)
		return "the server chose an extension the client did not offer";
	n = http_client_header(h, "Sec-WebSocket-Protocol", &v);
	if (c->transport == CRIER_TRANSPORT_WSPROTO) {
		if (n != (long)strlen(WS_SUBPROTOCOL) || memcmp(v, WS_SUBPROTOCOL, (size_t)n) != 0)
			return "the server did not accept subprotocol " WS_SUBPROTOCOL;
	} else if (n >= 0) {
		return "the server chose a subprotocol the client did not offer";
	}
	return NULL;
}

void client_ws_head(crier_client *c, const struct http_client_head *h)
{
	char why[128];
	if (h->status != 101) {
		/* Under auto, any other answer means no WebSocket here (a 4xx
		 * that SSE would get as well is reported by SSE). Explicitly
		 * asked for, a 4xx is a refusal whose body client_sub.c reads. */
		snprintf(why, sizeof(why),
		         "the server did not upgrade to a WebSocket (HTTP status %d)", h->status);
		if (c->opt.transport == CRIER_TRANSPORT_AUTO)
			client_fallback(c, why);
		else if (h->status < 400 || h->status >= 500)
			client_fail(c, CRIER_EIO, why);
		return;
	}
	const char *bad = ws_check_101(c, h);
	if (bad) {
		if (c->opt.transport == CRIER_TRANSPORT_AUTO)
			client_fallback(c, bad);
		else
			client_fail(c, CRIER_EIO, bad);
		return;
	}
	c->ws_up = true;
	c->streaming = true;
	ws_frame_parser_init(&c->wp, WS_ROLE_CLIENT, false);
	c->ws_msg.len = 0;
	c->ws_ctl_len = 0;
	if (c->transport == CRIER_TRANSPORT_WS) {
		client_opened(c);
		return;
	}
	int rc = ws_subscribe(c);
	if (rc)
		client_fail(c, rc, crier_client_strerror(rc));
}

/* A raw message: a gap notice when its only top-level key is crier.gap. */
static void ws_raw_message(crier_client *c, bool text, const char *p, size_t n)
{
	if (text && n > 12 && p[0] == '{') {
		json_t *o = json_loadb(p, n, 0, NULL);
		json_t *g = json_object_get(o, "crier.gap");
		bool gap = json_is_object(g) && json_object_size(o) == 1;
		if (gap)
			client_sub_gap(c, g);
		json_decref(o);
		if (gap)
			return;
	}
	client_deliver(c, c->only_channel, "", NULL, p, n, false, !text);
}

static const char *ws_json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A crier.v1 message from the server. */
static void ws_proto_message(crier_client *c, const char *p, size_t n)
{
	json_t *o = json_loadb(p, n, 0, NULL);
	const char *op = ws_json_str(o, "op");
	json_t *ref = json_object_get(o, "ref");
	bool ours = json_is_integer(ref) && json_integer_value(ref) == WS_SUB_REF;
	if (!op) {
		client_fail(c, CRIER_EIO, "malformed crier.v1 message");
	} else if (strcmp(op, "message") == 0) {
		json_t *d = json_object_get(o, "data");
		const char *id = ws_json_str(o, "id");
		if (id && json_is_string(d))
			client_deliver(c, ws_json_str(o, "channel"), id, ws_json_str(o, "event"),
			               json_string_value(d), json_string_length(d),
			               json_is_true(json_object_get(o, "binary")), false);
	} else if (strcmp(op, "gap") == 0) {
		client_sub_gap(c, o);
	} else if (strcmp(op, "ack") == 0 && ours && !c->open) {
		/* A gap in the ack also arrives as a gap op: report that one. */
		client_opened(c);
	} else if (strcmp(op, "error") == 0 && ours) {
		char why[512];
		const char *code = ws_json_str(o, "code"), *msg = ws_json_str(o, "message");
		snprintf(why, sizeof(why), "%s: %s", code ? code : "error", msg ? msg : "");
		client_refused(c, 400, why);
	}
	json_decref(o);
}

/* A complete control frame: answer pings, echo a close and fail. */
static void ws_control(crier_client *c, uint8_t op)
{
	if (op == WS_OP_PING) {
		int rc = ws_send(c, WS_OP_PONG, c->ws_ctl, c->ws_ctl_len);
		if (rc)
			client_fail(c, rc, crier_client_strerror(rc));
	} else if (op == WS_OP_CLOSE) {
		char reason[WS_CONTROL_MAX + 1], why[200];
		int code = ws_wire_close_payload(c->ws_ctl, c->ws_ctl_len, reason, sizeof(reason));
		uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
		ws_send(c, WS_OP_CLOSE, echo, code == 1005 || code < 0 ? 0 : 2);
		snprintf(why, sizeof(why), "the server closed the WebSocket (%d%s%s)", code,
		         reason[0] ? ": " : "", reason);
		client_fail(c, CRIER_ECLOSED, why);
	}
}

/* Hands out the message assembled in ws_msg. */
static void ws_message(crier_client *c, uint8_t op)
{
	if (buf_append(&c->ws_msg, "", 1)) {
		client_fail(c, CRIER_ENOMEM, "out of memory");
		return;
	}
	size_t n = --c->ws_msg.len;
	if (c->transport == CRIER_TRANSPORT_WS)
		ws_raw_message(c, op == WS_OP_TEXT, c->ws_msg.data, n);
	else if (op == WS_OP_TEXT)
		ws_proto_message(c, c->ws_msg.data, n);
	else
		client_fail(c, CRIER_EIO, "a binary frame on crier.v1");
	c->ws_msg.len = 0;
}

/* One parser event: payload into the right buffer, complete frames out. */
static void ws_event(crier_client *c, const struct ws_frame_event *ev)
{
	bool control = ev->opcode >= WS_OP_CLOSE;
	if (ev->len && control) {
		/* ws_frame_parse refuses control frames over 125 bytes. */
		memcpy(c->ws_ctl + c->ws_ctl_len, ev->data, ev->len);
		c->ws_ctl_len += ev->len;
	} else if (ev->len) {
		if (c->ws_msg.len + ev->len > CLIENT_WS_MESSAGE_MAX ||
		    buf_append(&c->ws_msg, ev->data, ev->len)) {
			client_fail(c, CRIER_EIO, "a WebSocket message over the client's limit");
			return;
		}
	}
	if (!ev->frame_end)
		return;
	if (control) {
		ws_control(c, ev->opcode);
		c->ws_ctl_len = 0;
	} else if (ev->fin) {
		ws_message(c, ev->msg_opcode);
	}
}

void client_ws_feed(crier_client *c, const char *p, size_t n)
{
	/* The client role never writes to its input (ws_frame.h). */
	uint8_t *in = (uint8_t *)(uintptr_t)p;
	while (n > 0 && !c->closing && !c->dead && c->sub_hc && c->ws_up) {
		struct ws_frame_event ev;
		int64_t used = ws_frame_parse(&c->wp, in, n, &ev);
		if (used < 0) {
			client_fail(c, (int)used, "WebSocket protocol violation by the server");
			return;
		}
		in += used;
		n -= (size_t)used;
		ws_event(c, &ev);
	}
}

void client_ws_goodbye(crier_client *c)
{
	if (!c->ws_up || !c->sub_hc)
		return;
	static const uint8_t normal[2] = {1000 >> 8, 1000 & 0xff}; /* RFC 6455 §7.4.1 */
	ws_send(c, WS_OP_CLOSE, normal, sizeof(normal));
}
