/*
 * wsproto.c - a crier.v1 connection: subscriptions, publishes, acks.
 *
 * Each subscribe request becomes one hub subscription with its own cursor,
 * so a resume in one request never disturbs another; a channel may be in
 * at most one of a connection's subscriptions (a second subscribe to it is
 * an error, not a duplicate stream). Messages go out as the message's
 * shared MSG_ENC_WSPROTO frame: the JSON envelope carries the id and the
 * channel, so it is the same bytes for every /ws subscriber. A bad request
 * gets an error naming its ref and the connection carries on; only frames
 * that are not crier.v1 at all (binary) end it.
 */
#include "ws/wsproto.h"

#include "auth/admit.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "engine/engine_redis.h"
#include "hub/hub.h"
#include "hub/msg_json.h"
#include "net/worker.h"
#include "ws/ws_conn.h"
#include "ws/wsproto_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsp_conn;

struct wsp_sub {
	struct hub_sub sub; /* first: the sink's hub_sub is the wsp_sub */
	struct wsp_conn *pc;
	struct list node;                  /* on pc->subs */
	char ack_ref[WSPROTO_REF_MAX + 1]; /* the held ack's ref, while the engine loads */
};

static void wsp_started(struct hub_sub *s);

/* A publish waiting for the Redis engine; acknowledged in request order
 * (one connection's publishes share its worker's pipelined connection). */
struct wsp_pub {
	struct list node; /* on pc->pubs */
	struct wsp_conn *pc;
	struct engine_redis_req *req;
	char ref[WSPROTO_REF_MAX + 1];
};

struct wsp_conn {
	struct ws_conn *wc;
	struct list subs;
	struct list pubs;    /* struct wsp_pub.node: publishes waiting for Redis */
	struct auth_id id;   /* who the connection is (the upgrade's token, or a refresh's) */
	struct deadline exp; /* that token's expiry, when it has one */
};

static struct rcbuf *wsp_frame(const struct msg *m, void *arg)
{
	(void)arg;
	struct buf j = {0};
	struct rcbuf *b = NULL;
	if (msg_json(&j, m) == 0) {
		uint8_t hdr[WS_FRAME_HEADER_MAX];
		size_t hl = ws_frame_header(hdr, WS_OP_TEXT, true, false, j.len, NULL);
		b = rcbuf_new(hl + j.len);
		if (b) {
			memcpy(b->data, hdr, hl);
			memcpy(b->data + hl, j.data, j.len);
		}
	}
	buf_free(&j);
	return b;
}

static int wsp_deliver(struct hub_sub *s, struct msg *m)
{
	struct rcbuf *b = msg_encoded(m, MSG_ENC_WSPROTO, wsp_frame, NULL);
	if (!b)
		return CRIER_ENOMEM;
	return ws_send_frame(((struct wsp_sub *)s)->pc->wc, rcbuf_ref(b));
}

static void wsp_gap(struct hub_sub *s, const char *json, size_t len)
{
	/* {"from":..} -> {"op":"gap","from":..} */
	struct buf b = {0};
	if (buf_puts(&b, "{\"op\":\"gap\",") == 0 && buf_append(&b, json + 1, len - 1) == 0)
		ws_send(((struct wsp_sub *)s)->pc->wc, WS_OP_TEXT, b.data, b.len);
	buf_free(&b);
}

static uint64_t wsp_queued(struct hub_sub *s)
{
	return ws_conn_queued(((struct wsp_sub *)s)->pc->wc);
}

static bool wsp_pushback(struct hub_sub *s)
{
	return ws_conn_pushback(((struct wsp_sub *)s)->pc->wc);
}

static void wsp_slow(struct hub_sub *s)
{
	ws_close_slow(((struct wsp_sub *)s)->pc->wc);
}

static const struct hub_sink_ops wsp_sink = {
        .deliver = wsp_deliver,
        .gap = wsp_gap,
        .queued = wsp_queued,
        .pushback = wsp_pushback,
        .slow = wsp_slow,
        .started = wsp_started,
};

static void wsp_send_error(struct wsp_conn *pc, const char *ref, enum wsproto_code code,
                           const char *message)
{
	struct buf b = {0};
	if (wsproto_error(&b, ref, code, message) == 0)
		ws_send(pc->wc, WS_OP_TEXT, b.data, b.len);
	buf_free(&b);
}

/* {"op":"ack"[,"ref":R] + extra + "}" */
static void wsp_send_ack(struct wsp_conn *pc, const char *ref, const char *extra)
{
	char out[1024];
	int n = snprintf(out, sizeof(out), "{\"op\":\"ack\"%s%s%s}", ref[0] ? ",\"ref\":" : "", ref,
	                 extra ? extra : "");
	if (n > 0 && (size_t)n < sizeof(out))
		ws_send(pc->wc, WS_OP_TEXT, out, (size_t)n);
}

static struct wsp_sub *wsp_find(struct wsp_conn *pc, const char *name, size_t len)
{
	for (struct list *n = pc->subs.next; n != &pc->subs; n = n->next) {
		struct wsp_sub *ps = container_of(n, struct wsp_sub, node);
		if (hub_sub_has(&ps->sub, name, len))
			return ps;
	}
	return NULL;
}

static void wsp_free_sub(struct wsp_sub *ps)
{
	hub_unsubscribe(&ps->sub);
	list_unlink(&ps->node);
	free(ps);
}

/* Answers a request for a channel the connection's token does not grant. */
static bool wsp_granted(struct wsp_conn *pc, const struct wsproto_req *r, enum auth_action act)
{
	for (size_t i = 0; i < r->n_channels; i++) {
		if (auth_may(&pc->id, act, r->channels[i], r->channel_lens[i]))
			continue;
		char why[256];
		snprintf(why, sizeof(why), "the token does not grant %s on '%.*s'",
		         act == AUTH_SUBSCRIBE ? "subscribe" : "publish", (int)r->channel_lens[i],
		         r->channels[i]);
		metrics_parse_error(&((struct http_conn *)pc->wc)->base.w->m,
		                    CRIER_EAUTH_FORBIDDEN);
		wsp_send_error(pc, r->ref, WSPROTO_E_FORBIDDEN, why);
		return false;
	}
	return true;
}

/* Channels the connection is subscribed to now, across its subscriptions. */
static size_t wsp_channels(const struct wsp_conn *pc)
{
	size_t n = 0;
	for (const struct list *l = pc->subs.next; l != &pc->subs; l = l->next)
		n += container_of(l, const struct wsp_sub, node)->sub.n_chans;
	return n;
}

/* The subscribe ack: {"op":"ack","ref":..,"replayed":N[,"gap":{..}]}. */
static void wsp_ack_subscribe(struct wsp_conn *pc, const char *ref, struct hub_sub *s)
{
	struct buf gap = {0}, extra = {0};
	uint32_t n = hub_sub_preview(s, &gap);
	buf_printf(&extra, ",\"replayed\":%u", n);
	if (gap.len) {
		buf_puts(&extra, ",\"gap\":");
		buf_append(&extra, gap.data, gap.len);
	}
	buf_append(&extra, "", 1); /* a C string for wsp_send_ack */
	wsp_send_ack(pc, ref, extra.data);
	buf_free(&gap);
	buf_free(&extra);
}

static void wsp_started(struct hub_sub *s)
{
	struct wsp_sub *ps = (struct wsp_sub *)s;
	wsp_ack_subscribe(ps->pc, ps->ack_ref, s);
}

static void wsp_subscribe(struct wsp_conn *pc, struct worker *w, const struct wsproto_req *r)
{
	if (!wsp_granted(pc, r, AUTH_SUBSCRIBE))
		return;
	if (wsp_channels(pc) + r->n_channels > worker_cfg(w)->max_channels_per_conn) {
		char why[128];
		snprintf(why, sizeof(why),
		         "more than %u channels on one connection (--max-channels-per-conn)",
		         worker_cfg(w)->max_channels_per_conn);
		wsp_send_error(pc, r->ref, WSPROTO_E_TOO_MANY_CHANNELS, why);
		return;
	}
	struct buf names = {0};
	for (size_t i = 0; i < r->n_channels; i++) {
		if (wsp_find(pc, r->channels[i], r->channel_lens[i])) {
			wsp_send_error(pc, r->ref, WSPROTO_E_ALREADY_SUBSCRIBED,
			               "already subscribed to a channel of this request");
			buf_free(&names);
			return;
		}
		if ((i && buf_append(&names, ",", 1)) ||
		    buf_append(&names, r->channels[i], r->channel_lens[i]))
			goto oom;
	}
	struct wsp_sub *ps = calloc(1, sizeof(*ps));
	if (!ps)
		goto oom;
	ps->pc = pc;
	ps->sub.ops = &wsp_sink;
	ps->sub.budget = worker_cfg(w)->ws_max_backpressure;
	struct hub *hub = ((struct http_conn *)pc->wc)->app->hub;
	int rc = hub_subscribe(hub, &ps->sub, w, names.data, names.len, r->since, r->since_len);
	buf_free(&names);
	if (rc) {
		free(ps);
		wsp_send_error(pc, r->ref,
		               rc == CRIER_EOVERLOAD ? WSPROTO_E_CHANNEL_LIMIT : WSPROTO_E_INTERNAL,
		               rc == CRIER_EOVERLOAD ? "channel limit (--max-channels) reached"
		                                     : "out of memory");
		return;
	}
	list_push(&pc->subs, &ps->node);
	if (ps->sub.waiting) {
		/* The Redis engine is loading a channel: the ack, which says what
		 * the replay will be, goes out when the subscription starts. */
		snprintf(ps->ack_ref, sizeof(ps->ack_ref), "%s", r->ref);
		return;
	}
	wsp_ack_subscribe(pc, r->ref, &ps->sub);
	hub_sub_start(&ps->sub);
	return;
oom:
	buf_free(&names);
	wsp_send_error(pc, r->ref, WSPROTO_E_INTERNAL, "out of memory");
}

static void wsp_unsubscribe(struct wsp_conn *pc, const struct wsproto_req *r)
{
	for (size_t i = 0; i < r->n_channels; i++) {
		if (!wsp_find(pc, r->channels[i], r->channel_lens[i])) {
			wsp_send_error(pc, r->ref, WSPROTO_E_NOT_SUBSCRIBED,
			               "not subscribed to a channel of this request");
			return;
		}
	}
	for (size_t i = 0; i < r->n_channels; i++) {
		struct wsp_sub *ps = wsp_find(pc, r->channels[i], r->channel_lens[i]);
		if (ps->sub.n_chans == 1)
			wsp_free_sub(ps);
		else
			hub_sub_drop(&ps->sub, r->channels[i], r->channel_lens[i]);
	}
	wsp_send_ack(pc, r->ref, NULL);
}

static void wsp_pub_done(void *arg, const struct engine_redis_result *res)
{
	struct wsp_pub *pp = arg;
	struct wsp_conn *pc = pp->pc;
	if (res->status == 200) {
		char extra[128];
		snprintf(extra, sizeof(extra), ",\"id\":\"%s\",\"subscribers\":%u", res->id,
		         hub_channel_subs(((struct http_conn *)pc->wc)->app->hub, res->channel,
		                          res->channel_len));
		wsp_send_ack(pc, pp->ref, extra);
	} else {
		wsp_send_error(pc, pp->ref,
		               res->status == 503 ? WSPROTO_E_UNAVAILABLE : WSPROTO_E_INTERNAL,
		               res->message);
	}
	list_unlink(&pp->node);
	free(pp);
}

/* Publish through the Redis engine: acknowledged when Redis has run it. */
static void wsp_publish_remote(struct wsp_conn *pc, const struct wsproto_req *r, struct msg *m)
{
	struct http_conn *hc = (struct http_conn *)pc->wc;
	struct wsp_pub *pp = calloc(1, sizeof(*pp));
	int err = CRIER_ENOMEM;
	if (pp) {
		pp->pc = pc;
		snprintf(pp->ref, sizeof(pp->ref), "%s", r->ref);
		pp->req = engine_redis_publish(hc->app->redis, hc->base.w, r->channels[0],
		                               r->channel_lens[0], m, wsp_pub_done, pp, &err);
	}
	if (pp && pp->req) {
		list_push(&pc->pubs, &pp->node);
		return;
	}
	free(pp);
	if (err == CRIER_EENGINE_DOWN)
		wsp_send_error(pc, r->ref, WSPROTO_E_UNAVAILABLE,
		               "the Redis engine is unavailable (reconnecting)");
	else
		wsp_send_error(pc, r->ref, WSPROTO_E_INTERNAL, "out of memory");
}

static void wsp_publish(struct wsp_conn *pc, const struct wsproto_req *r)
{
	if (!wsp_granted(pc, r, AUTH_PUBLISH))
		return;
	struct http_app *app = ((struct http_conn *)pc->wc)->app;
	if (app->admit) {
		uint64_t retry_ms = 0;
		int rc = admit_publish(app->admit, &((struct http_conn *)pc->wc)->base, &pc->id,
		                       clock_mono_ms(), &retry_ms);
		if (rc) {
			char why[128];
			snprintf(why, sizeof(why),
			         "publish rate limit (--publish-rate) reached; retry in %llu ms",
			         (unsigned long long)retry_ms);
			admit_log("publish", rc, retry_ms);
			wsp_send_error(pc, r->ref, WSPROTO_E_RATE_LIMITED, why);
			return;
		}
	}
	struct hub *hub = ((struct http_conn *)pc->wc)->app->hub;
	struct msg *m = msg_new(r->data, r->data_len, r->event, r->event_len, r->binary);
	if (m && ((struct http_conn *)pc->wc)->app->redis) {
		wsp_publish_remote(pc, r, m);
		msg_unref(m);
		return;
	}
	uint32_t subs = 0;
	int rc = m ? hub_publish(hub, r->channels[0], r->channel_lens[0], m, &subs) : CRIER_ENOMEM;
	if (rc == 0) {
		char extra[128];
		snprintf(extra, sizeof(extra), ",\"id\":\"%s\",\"subscribers\":%u", m->id_str,
		         subs);
		wsp_send_ack(pc, r->ref, extra);
	} else if (rc == CRIER_EOVERLOAD) {
		wsp_send_error(pc, r->ref, WSPROTO_E_CHANNEL_LIMIT,
		               "channel limit (--max-channels) reached");
	} else {
		wsp_send_error(pc, r->ref, WSPROTO_E_INTERNAL, "out of memory");
	}
	if (m)
		msg_unref(m);
}

static void wsp_expired(struct deadline *d)
{
	struct wsp_conn *pc = container_of(d, struct wsp_conn, exp);
	log_info("websocket closed: token expired", "proto=crier.v1 code=4001");
	metrics_parse_error(&((struct http_conn *)pc->wc)->base.w->m, CRIER_EAUTH_EXPIRED_LIVE);
	ws_close(pc->wc, 4001, "token expired");
}

/* A refresh must not turn a connection into someone else: same kind of
 * identity and, when the first token named a subject, the same one. */
static bool wsp_same_subject(const struct auth_id *old, const struct auth_id *new_id)
{
	if (old->kind != new_id->kind)
		return false;
	if (old->kind != AUTH_ID_TOKEN || !old->claims.sub)
		return true;
	return new_id->claims.sub && strcmp(old->claims.sub, new_id->claims.sub) == 0;
}

/* {"op":"refresh","token":T}: a fresh token for the same subject replaces
 * the connection's (its grants apply to later requests) and moves the
 * expiry; the subscriptions carry on untouched. */
static void wsp_refresh(struct wsp_conn *pc, struct worker *w, const struct wsproto_req *r)
{
	const struct auth *a = ((struct http_conn *)pc->wc)->app->auth;
	if (!a || a->mode == AUTH_OFF) {
		wsp_send_ack(pc, r->ref, NULL); /* nothing expires here */
		return;
	}
	struct auth_id id;
	int rc = auth_token(a, r->token, r->token_len, clock_wall_s(), &id);
	if (rc) {
		metrics_parse_error(&w->m, rc);
		wsp_send_error(pc, r->ref, WSPROTO_E_UNAUTHORIZED, err_message(rc));
		return;
	}
	if (!wsp_same_subject(&pc->id, &id)) {
		auth_id_free(&id);
		metrics_parse_error(&w->m, CRIER_EAUTH_FORBIDDEN);
		wsp_send_error(pc, r->ref, WSPROTO_E_UNAUTHORIZED,
		               "the refresh token is for another subject");
		return;
	}
	auth_id_free(&pc->id);
	pc->id = id;
	deadline_cancel(&w->deadlines, &pc->exp);
	if (auth_arm_expiry(&w->deadlines, &pc->exp, uv_now(&w->loop), auth_expiry(&pc->id),
	                    wsp_expired)) {
		ws_close(pc->wc, 1011, "out of memory");
		return;
	}
	char extra[64];
	snprintf(extra, sizeof(extra), ",\"exp\":%lld", (long long)auth_expiry(&pc->id));
	wsp_send_ack(pc, r->ref, extra);
}

static void wsp_message(struct ws_conn *wc, enum ws_opcode op, uint8_t *data, size_t len)
{
	struct wsp_conn *pc = ws_conn_user(wc);
	if (!pc)
		return;
	if (op != WS_OP_TEXT) {
		ws_close(wc, 1003, "crier.v1 speaks JSON in text frames");
		return;
	}
	struct worker *w = ((struct http_conn *)wc)->base.w;
	struct wsproto_req r = {0};
	enum wsproto_code code;
	char why[256];
	if (wsproto_parse((const char *)data, len, worker_cfg(w)->max_message_bytes, &r, &code, why,
	                  sizeof(why)) != 0) {
		wsp_send_error(pc, r.ref, code, why);
		wsproto_req_free(&r);
		return;
	}
	switch (r.op) {
	case WSPROTO_SUBSCRIBE:
		wsp_subscribe(pc, w, &r);
		break;
	case WSPROTO_UNSUBSCRIBE:
		wsp_unsubscribe(pc, &r);
		break;
	case WSPROTO_PUBLISH:
		wsp_publish(pc, &r);
		break;
	case WSPROTO_PING:
		wsp_send_ack(pc, r.ref, NULL);
		break;
	case WSPROTO_REFRESH:
		wsp_refresh(pc, w, &r);
		break;
	}
	wsproto_req_free(&r);
}

static void wsp_open(struct ws_conn *wc)
{
	if (!ws_conn_protocol(wc)) {
		/* The client offered no subprotocol: say what this endpoint is. */
		ws_close(wc, 1002, "subprotocol crier.v1 required (Sec-WebSocket-Protocol)");
		return;
	}
	struct wsp_conn *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		ws_close(wc, 1011, "out of memory");
		return;
	}
	pc->wc = wc;
	list_init(&pc->subs);
	list_init(&pc->pubs);
	ws_conn_set_user(wc, pc);
}

static void wsp_drain(struct ws_conn *wc)
{
	struct wsp_conn *pc = ws_conn_user(wc);
	if (!pc)
		return;
	for (struct list *n = pc->subs.next, *next; n != &pc->subs; n = next) {
		next = n->next;
		hub_sub_drained(&container_of(n, struct wsp_sub, node)->sub);
	}
}

static void wsp_close(struct ws_conn *wc)
{
	struct wsp_conn *pc = ws_conn_user(wc);
	if (!pc)
		return;
	while (!list_empty(&pc->subs))
		wsp_free_sub(container_of(list_first(&pc->subs), struct wsp_sub, node));
	while (!list_empty(&pc->pubs)) {
		struct wsp_pub *pp = container_of(list_first(&pc->pubs), struct wsp_pub, node);
		engine_redis_cancel(pp->req);
		list_unlink(&pp->node);
		free(pp);
	}
	deadline_cancel(&((struct http_conn *)wc)->base.w->deadlines, &pc->exp);
	auth_id_free(&pc->id);
	free(pc);
	ws_conn_set_user(wc, NULL);
}

static const struct ws_handler wsp_handler = {
        .on_open = wsp_open,
        .on_message = wsp_message,
        .on_close = wsp_close,
        .on_drain = wsp_drain,
};

static const char *const wsp_protocols[] = {WSPROTO_SUBPROTOCOL};
static const struct ws_route wsp_route = {
        .handler = &wsp_handler,
        .protocols = wsp_protocols,
        .n_protocols = 1,
};

/* The upgrade: credentials first (401 before any 101), then the
 * connection keeps its identity for every later request. */
static void wsp_http(struct http_ctx *ctx)
{
	struct auth_id id;
	if (!auth_http(ctx, AUTH_SUBSCRIBE, NULL, 0, &id))
		return;
	if (!admit_http_subject(ctx, &id)) {
		auth_id_free(&id);
		return;
	}
	struct worker *w = ctx->w;
	struct ws_conn *wc = (struct ws_conn *)ctx->hc;
	if (ws_conn_upgrade(ctx, &wsp_route) != 0) {
		auth_id_free(&id);
		return;
	}
	struct wsp_conn *pc = ws_conn_user(wc);
	if (!pc) { /* refused at open (no subprotocol) */
		auth_id_free(&id);
		return;
	}
	pc->id = id;
	if (auth_arm_expiry(&w->deadlines, &pc->exp, uv_now(&w->loop), auth_expiry(&pc->id),
	                    wsp_expired))
		ws_close(wc, 1011, "out of memory");
}

int wsproto_add(struct http_app *app)
{
	return router_add(&app->router, &(struct route){.path = "/ws",
	                                                .methods = ROUTER_METHOD(HTTP_M_GET),
	                                                .handler = wsp_http});
}
