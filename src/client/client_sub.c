/*
 * client_sub.c - a subscription's wire formats: the request for each
 * transport and the reading of its answer (an SSE stream, a long-poll
 * JSON answer, or a refusal), turned into message and gap callbacks.
 *
 * The WebSocket transports share the response callbacks below: their
 * frames go to client_ws.c once the 101 answer checked out.
 *
 * Owns the resume bookkeeping: the cursor (last id delivered, or the
 * long-poll `next`) that every reconnect resumes from, and the defensive
 * duplicate check. Ids are opaque to callers, but the client reuses the
 * hub's id codec to compare two ids of the same epoch, so a message at or
 * before the cursor is never delivered twice even if a server replays it.
 * It never decides when to reconnect: failures go to client.c.
 */
#include "client/client_impl.h"

#include "core/base64.h"
#include "core/err.h"
#include "hub/id.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool client_is_dup(const crier_client *c, const char *id)
{
	if (!c->cursor[0] || !id[0])
		return false;
	struct id a, b;
	if (id_parse(c->cursor, strlen(c->cursor), &a) || id_parse(id, strlen(id), &b))
		return strcmp(c->cursor, id) == 0;
	return a.epoch == b.epoch && b.seq <= a.seq;
}

void client_set_cursor(crier_client *c, const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n >= sizeof(c->cursor))
		return;
	memcpy(c->cursor, id, n + 1);
}

int client_sub_request(crier_client *c, struct buf *out)
{
	bool poll = c->transport == CRIER_TRANSPORT_POLL;
	int rc = buf_printf(out, "GET %s%s", c->sub_path, poll ? "?transport=poll" : "");
	if (!rc && poll && c->cursor[0]) {
		rc = buf_puts(out, "&since=");
		rc = rc ? rc : client_pct(out, c->cursor);
	}
	if (!rc) {
		int sep = client_token_query(c, out, poll ? '&' : '?');
		rc = sep < 0 ? sep : 0;
	}
	rc = rc ? rc
	        : buf_printf(out, " HTTP/1.1\r\nHost: %s\r\nUser-Agent: libcrier/%s\r\n%s",
	                     c->authority, CRIER_VERSION,
	                     poll ? "Accept: application/json\r\n"
	                          : "Accept: text/event-stream\r\nCache-Control: no-cache\r\n");
	if (!rc && !poll && c->cursor[0])
		rc = buf_printf(out, "Last-Event-ID: %s\r\n", c->cursor);
	rc = rc ? rc : client_token_header(c, out);
	return rc ? rc : buf_puts(out, "\r\n");
}

static const char *sub_json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A gap notice in its JSON form, from either transport. */
void client_sub_gap(crier_client *c, json_t *g)
{
	const char *from = sub_json_str(g, "from");
	const char *reason = sub_json_str(g, "reason");
	struct crier_gap gap = {.from = from ? from : "",
	                        .to = sub_json_str(g, "to"),
	                        .reason = reason ? reason : "unknown"};
	if (c->opt.on_gap)
		c->opt.on_gap(c, &gap, c->opt.user);
}

void client_deliver(crier_client *c, const char *channel, const char *id, const char *event,
                    const char *data, size_t len, bool b64, bool binary)
{
	if (client_is_dup(c, id))
		return;
	char *decoded = NULL;
	if (b64) {
		decoded = malloc(len / 4 * 3 + 4);
		int64_t n = decoded ? base64_decode(data, len, (uint8_t *)decoded) : -1;
		if (n < 0) {
			free(decoded);
			client_fail(c, CRIER_EIO, "invalid base64 in a binary message");
			return;
		}
		decoded[n] = '\0';
		data = decoded;
		len = (size_t)n;
	}
	client_set_cursor(c, id);
	struct crier_message m = {.channel = channel,
	                          .id = id,
	                          .event = event,
	                          .data = data,
	                          .data_len = len,
	                          .binary = b64 || binary};
	if (c->opt.on_message)
		c->opt.on_message(c, &m, c->opt.user);
	free(decoded);
}

/* Dispatches the SSE event built so far (WHATWG HTML §9.2.6), then resets it. */
static void sub_sse_dispatch(crier_client *c)
{
	bool has_data = c->ev_has_data;
	const char *event = c->ev_event.len ? c->ev_event.data : NULL;
	const char *id = c->ev_id.len ? c->ev_id.data : "";
	if (has_data && buf_append(&c->ev_data, "", 1) == 0) {
		size_t len = c->ev_data.len - 1;
		if (event && strcmp(event, "crier.gap") == 0) {
			json_t *g = json_loadb(c->ev_data.data, len, 0, NULL);
			if (json_is_object(g))
				client_sub_gap(c, g);
			json_decref(g);
		} else {
			bool bin = event && strcmp(event, "crier.binary") == 0;
			client_deliver(c, c->only_channel, id, bin ? NULL : event, c->ev_data.data,
			               len, bin, false);
		}
	}
	c->ev_data.len = c->ev_id.len = c->ev_event.len = 0;
	c->ev_has_data = false;
}

/* Stores a field value as a NUL-terminated string in b. */
static int sub_set(struct buf *b, const char *v, size_t n)
{
	b->len = 0;
	int rc = buf_append(b, v, n);
	rc = rc ? rc : buf_append(b, "", 1);
	if (!rc)
		b->len--;
	return rc;
}

static void sub_sse_field(crier_client *c, const struct sse_line *l)
{
	const char *n = l->name;
	size_t nl = l->name_len;
	if (nl == 4 && memcmp(n, "data", 4) == 0) {
		if (c->ev_has_data)
			buf_append(&c->ev_data, "\n", 1);
		buf_append(&c->ev_data, l->value, l->value_len);
		c->ev_has_data = true;
	} else if (nl == 5 && memcmp(n, "event", 5) == 0) {
		sub_set(&c->ev_event, l->value, l->value_len);
	} else if (nl == 2 && memcmp(n, "id", 2) == 0) {
		if (!memchr(l->value, '\0', l->value_len))
			sub_set(&c->ev_id, l->value, l->value_len);
	} else if (nl == 5 && memcmp(n, "retry", 5) == 0) {
		int64_t ms = sse_parse_retry(l->value, l->value_len);
		if (ms >= 0)
			c->retry_ms = (uint64_t)ms;
	}
}

/* Feeds stream bytes to the line parser, dispatching events. */
static void sub_sse_feed(crier_client *c, const char *p, size_t n)
{
	if (buf_append(&c->sse_in, p, n)) {
		client_fail(c, CRIER_ENOMEM, "out of memory");
		return;
	}
	size_t off = 0;
	while (off < c->sse_in.len && !c->closing && c->sub_hc && c->open) {
		struct sse_line l;
		int64_t r = sse_parse_line(&c->sp, c->sse_in.data + off, c->sse_in.len - off, &l);
		if (r == 0)
			break;
		if (r < 0) {
			client_fail(c, (int)r, "event stream line too long");
			return;
		}
		off += (size_t)r;
		if (l.kind == SSE_LINE_BLANK)
			sub_sse_dispatch(c);
		else if (l.kind == SSE_LINE_FIELD)
			sub_sse_field(c, &l);
	}
	buf_consume(&c->sse_in, off);
}

/* A complete long-poll answer: gap first, then the messages, then the cursor. */
static int sub_poll_answer(crier_client *c)
{
	json_t *root = json_loadb(c->body.data ? c->body.data : "", c->body.len, 0, NULL);
	json_t *msgs = json_object_get(root, "messages");
	const char *next = sub_json_str(root, "next");
	if (!json_is_array(msgs) || !next) {
		json_decref(root);
		return CRIER_EIO;
	}
	if (!c->open)
		client_opened(c);
	json_t *gap = json_object_get(root, "gap");
	if (json_is_object(gap) && !c->closing)
		client_sub_gap(c, gap);
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		const char *id = sub_json_str(m, "id");
		json_t *d = json_object_get(m, "data");
		if (c->closing || c->dead || !c->sub_hc || !id || !json_is_string(d))
			break;
		client_deliver(c, sub_json_str(m, "channel"), id, sub_json_str(m, "event"),
		               json_string_value(d), json_string_length(d),
		               json_is_true(json_object_get(m, "binary")), false);
	}
	if (!c->closing && c->sub_hc)
		client_set_cursor(c, next);
	json_decref(root);
	return 0;
}

static bool sub_is_event_stream(const struct http_client_head *h)
{
	static const char want[] = "text/event-stream";
	return h->ctype_len >= sizeof(want) - 1 &&
	       strncasecmp(h->ctype, want, sizeof(want) - 1) == 0;
}

static void sub_on_head(struct http_client *hc, const struct http_client_head *h, void *user)
{
	crier_client *c = user;
	(void)hc;
	c->status = h->status;
	c->body.len = 0;
	c->streaming = false;
	if (c->transport == CRIER_TRANSPORT_WS || c->transport == CRIER_TRANSPORT_WSPROTO) {
		client_ws_head(c, h);
		return;
	}
	if (h->status != 200 || c->transport != CRIER_TRANSPORT_SSE)
		return;
	if (!sub_is_event_stream(h)) {
		/* A proxy that strips Accept gets a long-poll answer instead. */
		if (c->opt.transport == CRIER_TRANSPORT_AUTO)
			client_fallback(c, "the answer was not an event stream");
		else
			client_fail(c, CRIER_EIO, "the server did not answer with an event stream");
		return;
	}
	c->streaming = true;
	c->sp = (struct sse_parser){0};
	c->sse_in.len = c->ev_data.len = c->ev_id.len = c->ev_event.len = 0;
	c->ev_has_data = false;
	client_opened(c);
}

static void sub_on_body(struct http_client *hc, const char *p, size_t n, void *user)
{
	crier_client *c = user;
	(void)hc;
	if (c->ws_up) {
		client_ws_feed(c, p, n);
		return;
	}
	if (c->streaming) {
		sub_sse_feed(c, p, n);
		return;
	}
	size_t max = c->status == 200 ? CLIENT_POLL_BODY_MAX : CLIENT_ERROR_BODY_MAX;
	if (c->body.len < max)
		buf_append(&c->body, p, n < max - c->body.len ? n : max - c->body.len);
}

/* The server's refusal as one line: its body, trimmed, or the status. */
void client_sub_refusal(crier_client *c)
{
	char *s = c->body.len ? c->body.data : NULL;
	size_t n = c->body.len;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	char reason[CLIENT_ERROR_BODY_MAX + 1];
	memcpy(reason, s ? s : "", n);
	reason[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (reason[i] == '\n' || reason[i] == '\r')
			reason[i] = ' ';
	if (!n)
		snprintf(reason, sizeof(reason), "HTTP status %d", c->status);
	int st = c->status;
	if (st >= 400 && st < 500 && st != 408 && st != 429)
		client_refused(c, st, reason);
	else
		client_fail(c, CRIER_EIO, reason);
}

static void sub_on_end(struct http_client *hc, int err, void *user)
{
	crier_client *c = user;
	(void)hc;
	if (err) {
		char why[160];
		if (err == CRIER_ETIMEOUT && c->ws_up)
			snprintf(why, sizeof(why),
			         "the WebSocket was silent for longer than the ping interval (%u "
			         "ms) "
			         "plus %u ms",
			         c->opt.ping_ms, c->opt.silence_margin_ms);
		else if (err == CRIER_ETIMEOUT && c->streaming)
			snprintf(why, sizeof(why),
			         "the stream was silent for longer than the heartbeat (%u ms) plus "
			         "%u ms",
			         c->opt.heartbeat_ms, c->opt.silence_margin_ms);
		else
			snprintf(why, sizeof(why), "%s%s", c->open ? "the stream was lost: " : "",
			         crier_client_strerror(err));
		client_fail(c, err, why);
		return;
	}
	if (c->ws_up) {
		client_fail(c, CRIER_ECLOSED, "the server dropped the WebSocket without a close");
		return;
	}
	if (c->status != 200) {
		client_sub_refusal(c);
		return;
	}
	if (c->streaming) {
		client_fail(c, CRIER_ECLOSED, "the server ended the stream");
		return;
	}
	if (sub_poll_answer(c)) {
		client_fail(c, CRIER_EIO, "malformed long-poll answer");
		return;
	}
	if (!c->closing && !c->dead && c->sub_hc)
		client_poll_again(c);
}

const struct http_client_cbs client_sub_cbs = {
        .on_head = sub_on_head,
        .on_body = sub_on_body,
        .on_end = sub_on_end,
};
