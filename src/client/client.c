/*
 * client.c - libcrier's client object (see include/crier/client.h): its
 * life cycle, the reconnect policy and the publish queue.
 *
 * Owns every decision about connections: when to retry (exponential
 * backoff with full jitter from backoff.c, widened by the server's
 * `retry:`), when to give up (a 4xx refusal, or max_attempts failures in a
 * row), and when auto falls back: crier.v1 over WebSocket first, then SSE,
 * then long-poll, each step taken once and kept, its reason kept for the
 * OPEN state change. The wire formats
 * are client_sub.c's; the HTTP mechanics are http_client.c's.
 *
 * The non-obvious rule is re-entrancy: every user callback may close the
 * client, so after each one the caller re-checks c->closing (and c->sub_hc,
 * which a failure clears) before touching the stream again. Memory is
 * freed only when the retry timer and every http_client have reported
 * their close, the libuv way.
 */
#include "client/backoff.h"
#include "client/client_impl.h"

#include "core/err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults, each with its reason. */
#define CLIENT_BACKOFF_MIN_MS     500   /* a restarting hub is back within a second */
#define CLIENT_BACKOFF_MAX_MS     30000 /* a herd of clients probes a dead hub twice a minute */
#define CLIENT_CONNECT_TIMEOUT_MS 10000 /* connect and response head on a slow network */
#define CLIENT_HEARTBEAT_MS       15000 /* the hub's --sse-heartbeat default */
#define CLIENT_POLL_TIMEOUT_MS    30000 /* the hub's --poll-timeout default */
#define CLIENT_PING_MS            25000 /* the hub's --ws-ping-interval default */
#define CLIENT_SILENCE_MARGIN_MS  5000  /* scheduling and network delay on top of those */
#define CLIENT_MAX_CHANNELS       64    /* the hub's limit per subscription */

static uint32_t client_random(crier_client *c)
{
	/* xorshift64: the jitter needs spread, not secrecy. */
	uint64_t x = c->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rng = x;
	return (uint32_t)(x >> 32);
}

void client_state(crier_client *c, enum crier_state s, int err, int status, const char *reason)
{
	struct crier_state_change ch = {.state = s,
	                                .transport = c->transport,
	                                .attempt = c->attempt,
	                                .err = err,
	                                .status = status,
	                                .reason = reason ? reason : ""};
	if (s == CRIER_STATE_RECONNECTING)
		ch.delay_ms = (uint64_t)uv_timer_get_due_in(&c->retry_timer);
	if (c->opt.on_state)
		c->opt.on_state(c, &ch, c->opt.user);
}

static void client_hc_closed(void *user);

static void client_release(crier_client *c)
{
	buf_free(&c->body);
	buf_free(&c->sse_in);
	buf_free(&c->ev_data);
	buf_free(&c->ev_id);
	buf_free(&c->ev_event);
	buf_free(&c->pub_body);
	buf_free(&c->ws_msg);
	for (size_t i = 0; i < c->n_channels; i++)
		free(c->channels[i]);
	free(c->channels);
	free((char *)c->opt.token);
	free(c->host);
	free(c->authority);
	free(c->prefix);
	free(c->sub_path);
	free(c->only_channel);
	free(c);
}

static void client_maybe_free(crier_client *c)
{
	if (!c->closing || c->pending > 0)
		return;
	crier_closed_cb cb = c->closed_cb;
	void *user = c->opt.user;
	if (cb)
		cb(c, user);
	client_release(c);
}

static void client_hc_closed(void *user)
{
	crier_client *c = user;
	c->pending--;
	client_maybe_free(c);
}

static void client_timer_closed(uv_handle_t *h)
{
	client_hc_closed(h->data);
}

void client_drop_sub(crier_client *c)
{
	if (!c->sub_hc)
		return;
	c->pending++;
	http_client_close(c->sub_hc, client_hc_closed);
	c->sub_hc = NULL;
	c->open = false;
	c->streaming = false;
	c->ws_up = false;
}

/* Opens a connection and sends the subscribe request for the current transport. */
static void client_connect(crier_client *c)
{
	struct buf req = {0};
	bool ws = c->transport == CRIER_TRANSPORT_WS || c->transport == CRIER_TRANSPORT_WSPROTO;
	int rc = ws ? client_ws_request(c, &req) : client_sub_request(c, &req);
	if (!rc && !c->sub_hc)
		rc = http_client_new(c->loop, c->host, c->port, &client_sub_cbs, c,
		                     c->opt.connect_timeout_ms, &c->sub_hc);
	if (!rc) {
		/* Head: the connect timeout, or a held poll. Idle: the silence
		 * that counts as dead (a heartbeat or a ping missed, plus margin). */
		uint32_t head = c->opt.connect_timeout_ms;
		uint32_t idle = c->opt.heartbeat_ms + c->opt.silence_margin_ms;
		if (ws) {
			idle = c->opt.ping_ms + c->opt.silence_margin_ms;
		} else if (c->transport == CRIER_TRANSPORT_POLL) {
			head = c->opt.poll_timeout_ms + c->opt.silence_margin_ms;
			idle = c->opt.connect_timeout_ms;
		}
		rc = http_client_request(c->sub_hc, req.data, req.len, head, idle);
	}
	buf_free(&req);
	if (rc)
		client_fail(c, rc, crier_client_strerror(rc));
}

static void client_on_retry(uv_timer_t *t)
{
	crier_client *c = t->data;
	if (!c->closing && !c->dead)
		client_connect(c);
}

void client_opened(crier_client *c)
{
	c->open = true;
	c->attempt = 0;
	c->failures = 0;
	client_state(c, CRIER_STATE_OPEN, 0, 0, c->fallback_why);
}

void client_refused(crier_client *c, int status, const char *reason)
{
	client_drop_sub(c);
	c->dead = true;
	client_state(c, CRIER_STATE_CLOSED, CRIER_EINVAL, status, reason);
}

/* True when a failure before the stream opened says more about the
 * transport (a proxy that drops or stalls WebSocket upgrades, a bad 101)
 * than about the hub being down (refused, unresolvable: every transport
 * would fail alike, so auto keeps its choice and backs off). */
static bool client_blames_transport(int err)
{
	return err == CRIER_ETIMEOUT || err == CRIER_ECLOSED || err == CRIER_EIO ||
	       err == CRIER_EBADREQ || err == UV_ECONNRESET || err == UV_EPIPE;
}

void client_fail(crier_client *c, int err, const char *reason)
{
	if (c->closing || c->dead)
		return;
	bool was_open = c->open;
	if (!was_open && c->opt.transport == CRIER_TRANSPORT_AUTO &&
	    c->transport == CRIER_TRANSPORT_WSPROTO && client_blames_transport(err)) {
		client_fallback(c, reason);
		return;
	}
	client_drop_sub(c);
	if (!was_open)
		c->failures++;
	if (c->opt.max_attempts && c->failures >= c->opt.max_attempts) {
		c->dead = true;
		char why[256];
		snprintf(why, sizeof(why), "giving up after %u failed attempts: %s", c->failures,
		         reason);
		client_state(c, CRIER_STATE_CLOSED, err, 0, why);
		return;
	}
	c->attempt++;
	uint64_t delay = backoff_delay_ms(c->attempt - 1, c->opt.backoff_min_ms,
	                                  c->opt.backoff_max_ms, c->retry_ms, client_random(c));
	uv_timer_start(&c->retry_timer, client_on_retry, delay, 0);
	client_state(c, CRIER_STATE_RECONNECTING, err, 0, reason);
}

void client_fallback(crier_client *c, const char *why)
{
	const char *from = crier_transport_name(c->transport);
	client_drop_sub(c);
	size_t at = strlen(c->fallback_why);
	snprintf(c->fallback_why + at, sizeof(c->fallback_why) - at, "%s%s unavailable: %s",
	         at ? "; " : "", from, why);
	c->transport = c->transport == CRIER_TRANSPORT_WSPROTO ? CRIER_TRANSPORT_SSE
	                                                       : CRIER_TRANSPORT_POLL;
	client_connect(c);
}

void client_poll_again(crier_client *c)
{
	if (!http_client_reusable(c->sub_hc)) {
		bool open = c->open;
		client_drop_sub(c);
		c->open = open;
	}
	client_connect(c);
}

/* Splits "http://host[:port][/prefix]" into c's fields. */
static int client_parse_url(crier_client *c, const char *url)
{
	if (strncmp(url, "https://", 8) == 0)
		return UV_ENOTSUP;
	if (strncmp(url, "http://", 7) != 0)
		return CRIER_EINVAL;
	const char *a = url + 7;
	size_t alen = strcspn(a, "/?#");
	if (alen == 0 || strpbrk(a, "?#") || memchr(a, '@', alen))
		return CRIER_EINVAL;
	const char *h = a, *port = NULL;
	size_t hlen;
	if (*a == '[') {
		const char *close = memchr(a, ']', alen);
		if (!close)
			return CRIER_EINVAL;
		h = a + 1;
		hlen = (size_t)(close - h);
		if (close + 1 < a + alen) {
			if (close[1] != ':')
				return CRIER_EINVAL;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(a, ':', alen);
		hlen = colon ? (size_t)(colon - a) : alen;
		port = colon ? colon + 1 : NULL;
	}
	unsigned long p = 80;
	if (port) {
		char *end;
		if (port == a + alen || *port < '0' || *port > '9')
			return CRIER_EINVAL;
		p = strtoul(port, &end, 10);
		if (end != a + alen || p == 0 || p > 65535)
			return CRIER_EINVAL;
	}
	if (hlen == 0)
		return CRIER_EINVAL;
	for (const char *s = a; s < a + alen; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return CRIER_EINVAL;
	const char *path = a + alen;
	size_t plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)path[i] <= ' ' || path[i] == 0x7f)
			return CRIER_EINVAL;
	c->host = strndup(h, hlen);
	c->authority = strndup(a, alen);
	c->prefix = strndup(path, plen);
	c->port = (uint16_t)p;
	return c->host && c->authority && c->prefix ? 0 : CRIER_ENOMEM;
}

static void client_defaults(struct crier_client_options *o)
{
	o->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : CLIENT_BACKOFF_MIN_MS;
	o->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : CLIENT_BACKOFF_MAX_MS;
	if (!o->connect_timeout_ms)
		o->connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS;
	o->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : CLIENT_HEARTBEAT_MS;
	o->poll_timeout_ms = o->poll_timeout_ms ? o->poll_timeout_ms : CLIENT_POLL_TIMEOUT_MS;
	o->ping_ms = o->ping_ms ? o->ping_ms : CLIENT_PING_MS;
	if (!o->silence_margin_ms)
		o->silence_margin_ms = CLIENT_SILENCE_MARGIN_MS;
}

/* True when s would break a header line. */
static bool client_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

int crier_client_new(uv_loop_t *loop, const char *url, const struct crier_client_options *opts,
                     crier_client **out)
{
	struct crier_client_options o = opts ? *opts : (struct crier_client_options){0};
	if ((unsigned)o.transport > CRIER_TRANSPORT_POLL || (o.token && client_has_ctl(o.token)))
		return CRIER_EINVAL;
	crier_client *c = calloc(1, sizeof(*c));
	if (!c)
		return CRIER_ENOMEM;
	int rc = client_parse_url(c, url);
	if (!rc && o.token && !(o.token = strdup(o.token)))
		rc = CRIER_ENOMEM;
	if (rc) {
		client_release(c);
		return rc;
	}
	client_defaults(&o);
	c->opt = o;
	c->loop = loop;
	/* auto starts with crier.v1: of the three it alone has ids and acks. */
	c->transport = o.transport == CRIER_TRANSPORT_AUTO ? CRIER_TRANSPORT_WSPROTO : o.transport;
	if (uv_random(NULL, NULL, &c->rng, sizeof(c->rng), 0, NULL) || c->rng == 0)
		c->rng = uv_hrtime() | 1;
	uv_timer_init(loop, &c->retry_timer);
	c->retry_timer.data = c;
	*out = c;
	return 0;
}

int crier_client_subscribe(crier_client *c, const char *const *channels, size_t n,
                           const char *since)
{
	if (c->closing || c->subscribed || n == 0 || n > CLIENT_MAX_CHANNELS)
		return CRIER_EINVAL;
	if (since && (client_has_ctl(since) || strlen(since) >= CLIENT_CURSOR_MAX))
		return CRIER_EINVAL;
	struct buf p = {0};
	int rc = buf_printf(&p, "%s/sub/", c->prefix);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = buf_puts(&p, ",");
		for (const char *s = channels[i]; *s && !rc; s++) {
			unsigned char ch = (unsigned char)*s;
			bool bad = ch <= ' ' || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#' ||
			           ch == '/' || ch == ',';
			rc = bad ? buf_printf(&p, "%%%02X", ch) : buf_append(&p, s, 1);
		}
	}
	rc = rc ? rc : buf_append(&p, "", 1);
	if (!rc && n == 1 && !(c->only_channel = strdup(channels[0])))
		rc = CRIER_ENOMEM;
	if (!rc && !(c->channels = calloc(n, sizeof(char *))))
		rc = CRIER_ENOMEM;
	for (size_t i = 0; i < n && !rc; i++, c->n_channels++)
		if (!(c->channels[i] = strdup(channels[i])))
			rc = CRIER_ENOMEM;
	if (rc) {
		buf_free(&p);
		for (size_t i = 0; i < c->n_channels; i++)
			free(c->channels[i]);
		free(c->channels);
		free(c->only_channel);
		c->channels = NULL;
		c->only_channel = NULL;
		c->n_channels = 0;
		return rc;
	}
	c->sub_path = p.data;
	c->subscribed = true;
	if (since)
		client_set_cursor(c, since);
	client_state(c, CRIER_STATE_CONNECTING, 0, 0, NULL);
	if (!c->closing)
		client_connect(c);
	return 0;
}

const char *crier_client_last_id(const crier_client *c)
{
	return c->cursor[0] ? c->cursor : NULL;
}

/* ---- publishing ---- */

static const struct http_client_cbs client_pub_cbs;

static void client_pub_kick(crier_client *c)
{
	if (c->pub_busy || !c->pub_head || c->closing)
		return;
	if (c->pub_hc && !http_client_reusable(c->pub_hc)) {
		c->pending++;
		http_client_close(c->pub_hc, client_hc_closed);
		c->pub_hc = NULL;
	}
	c->pub_reused = c->pub_hc != NULL;
	int rc = 0;
	if (!c->pub_hc)
		rc = http_client_new(c->loop, c->host, c->port, &client_pub_cbs, c,
		                     c->opt.connect_timeout_ms, &c->pub_hc);
	c->pub_status = 0;
	c->pub_body.len = 0;
	if (!rc)
		rc = http_client_request(c->pub_hc, c->pub_head->req, c->pub_head->len,
		                         c->opt.connect_timeout_ms, c->opt.connect_timeout_ms);
	c->pub_busy = true;
	if (rc)
		client_pub_cbs.on_end(c->pub_hc, rc, c);
}

/* Completes the head of the queue and starts the next. */
static void client_pub_done(crier_client *c, int err, int status, const char *id,
                            const char *reason)
{
	struct client_pub *p = c->pub_head;
	c->pub_head = p->next;
	if (!c->pub_head)
		c->pub_tail = NULL;
	c->pub_busy = false;
	c->pub_fresh_retry = false;
	if (p->cb)
		p->cb(c, err, status, id, reason, p->arg);
	free(p->req);
	free(p);
	client_pub_kick(c);
}

static void client_pub_on_head(struct http_client *hc, const struct http_client_head *h, void *user)
{
	(void)hc;
	((crier_client *)user)->pub_status = h->status;
}

static void client_pub_on_body(struct http_client *hc, const char *p, size_t n, void *user)
{
	crier_client *c = user;
	(void)hc;
	if (c->pub_body.len < CLIENT_ERROR_BODY_MAX)
		buf_append(&c->pub_body, p, n);
}

static void client_pub_on_end(struct http_client *hc, int err, void *user)
{
	crier_client *c = user;
	(void)hc;
	if (err) {
		/* A kept-alive connection the server closed while idle: the
		 * request never reached it, so one retry on a fresh one is safe. */
		bool stale = c->pub_reused && c->pub_status == 0 && !c->pub_fresh_retry &&
		             (err == CRIER_ECLOSED || err == UV_ECONNRESET || err == UV_EPIPE);
		if (c->pub_hc) {
			c->pending++;
			http_client_close(c->pub_hc, client_hc_closed);
			c->pub_hc = NULL;
		}
		if (stale) {
			c->pub_busy = false;
			c->pub_fresh_retry = true;
			client_pub_kick(c);
			return;
		}
		client_pub_done(c, err, 0, NULL, crier_client_strerror(err));
		return;
	}
	buf_append(&c->pub_body, "", 1);
	char *body = c->pub_body.data;
	size_t n = c->pub_body.len - 1;
	if (c->pub_status == 200) {
		json_t *root = json_loadb(body, n, 0, NULL);
		json_t *id = json_object_get(root, "id");
		if (json_is_string(id))
			client_pub_done(c, 0, 200, json_string_value(id), "");
		else
			client_pub_done(c, CRIER_EIO, 200, NULL, "malformed publish answer");
		json_decref(root);
		return;
	}
	while (n && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
		body[--n] = '\0';
	int st = c->pub_status;
	client_pub_done(c, st >= 400 && st < 500 ? CRIER_EINVAL : CRIER_EIO, st, NULL,
	                n ? body : "the server refused the message");
}

static const struct http_client_cbs client_pub_cbs = {
        .on_head = client_pub_on_head,
        .on_body = client_pub_on_body,
        .on_end = client_pub_on_end,
};

int client_pct(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
		             ch == '~' || ch == ':' || ch == '@';
		rc = plain ? buf_append(b, s, 1) : buf_printf(b, "%%%02X", ch);
	}
	return rc;
}

int client_token_query(crier_client *c, struct buf *b, char sep)
{
	if (!c->opt.token || !c->opt.token_in_query)
		return sep;
	int rc = buf_printf(b, "%ctoken=", sep);
	rc = rc ? rc : client_pct(b, c->opt.token);
	return rc ? rc : '&';
}

int client_token_header(crier_client *c, struct buf *b)
{
	if (!c->opt.token || c->opt.token_in_query)
		return 0;
	return buf_printf(b, "Authorization: Bearer %s\r\n", c->opt.token);
}

int crier_client_publish(crier_client *c, const char *channel, const char *event, const void *data,
                         size_t len, bool binary, crier_publish_cb cb, void *arg)
{
	if (c->closing)
		return CRIER_EINVAL;
	struct buf r = {0};
	int rc = buf_printf(&r, "POST %s/pub/", c->prefix);
	rc = rc ? rc : client_pct(&r, channel);
	if (!rc && event) {
		rc = buf_puts(&r, "?event=");
		rc = rc ? rc : client_pct(&r, event);
	}
	if (!rc) {
		int sep = client_token_query(c, &r, event ? '&' : '?');
		rc = sep < 0 ? sep : 0;
	}
	rc = rc ? rc
	        : buf_printf(&r,
	                     " HTTP/1.1\r\nHost: %s\r\nUser-Agent: libcrier/%s\r\n"
	                     "Content-Type: %s\r\nContent-Length: %zu\r\n",
	                     c->authority, CRIER_VERSION,
	                     binary ? "application/octet-stream" : "text/plain; charset=utf-8",
	                     len);
	rc = rc ? rc : client_token_header(c, &r);
	rc = rc ? rc : buf_puts(&r, "\r\n");
	rc = rc ? rc : buf_append(&r, data, len);
	struct client_pub *p = rc ? NULL : calloc(1, sizeof(*p));
	if (!p) {
		buf_free(&r);
		return rc ? rc : CRIER_ENOMEM;
	}
	*p = (struct client_pub){.req = r.data, .len = r.len, .cb = cb, .arg = arg};
	if (c->pub_tail)
		c->pub_tail->next = p;
	else
		c->pub_head = p;
	c->pub_tail = p;
	client_pub_kick(c);
	return 0;
}

/* ---- teardown ---- */

void crier_client_close(crier_client *c, crier_closed_cb closed_cb)
{
	if (c->closing)
		return;
	c->closing = true;
	c->closed_cb = closed_cb;
	client_ws_goodbye(c);
	client_drop_sub(c);
	if (c->pub_hc) {
		c->pending++;
		http_client_close(c->pub_hc, client_hc_closed);
		c->pub_hc = NULL;
	}
	while (c->pub_head) {
		struct client_pub *p = c->pub_head;
		c->pub_head = p->next;
		if (p->cb)
			p->cb(c, UV_ECANCELED, 0, NULL, crier_client_strerror(UV_ECANCELED),
			      p->arg);
		free(p->req);
		free(p);
	}
	c->pub_tail = NULL;
	if (!c->dead) {
		c->dead = true;
		client_state(c, CRIER_STATE_CLOSED, 0, 0, "closed by the caller");
	}
	c->pending++;
	uv_close((uv_handle_t *)&c->retry_timer, client_timer_closed);
}

const char *crier_client_strerror(int err)
{
	if (err == UV_ENOTSUP)
		return "not yet supported";
	if (err == CRIER_ECLOSED)
		return "connection closed by the server";
	return err_is_crier(err) ? err_message(err) : uv_strerror(err);
}

const char *crier_transport_name(enum crier_transport t)
{
	switch (t) {
	case CRIER_TRANSPORT_AUTO:
		return "auto";
	case CRIER_TRANSPORT_SSE:
		return "sse";
	case CRIER_TRANSPORT_WS:
		return "ws";
	case CRIER_TRANSPORT_WSPROTO:
		return "wsproto";
	case CRIER_TRANSPORT_POLL:
		return "poll";
	}
	return "unknown";
}
