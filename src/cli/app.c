/*
 * app.c - publish, subscribe and channel-info routes.
 *
 * Transport negotiation for GET /sub/{channels} (DESIGN.md): ?transport=
 * ws|sse|poll wins; otherwise Upgrade: websocket is a WebSocket, Accept:
 * text/event-stream (what EventSource sends) is an event stream, and
 * anything else is a long-poll, the transport that works through anything. The resume point is the Last-Event-ID header,
 * else ?lastEventId= (what EventSource polyfills send), else ?since=.
 */
#include "cli/app.h"

#include "auth/admit.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "core/name.h"
#include "core/utf8.h"
#include "engine/engine_redis.h"
#include "hub/hub.h"
#include "net/worker.h"
#include "sse/poll_sub.h"
#include "sse/sse_sub.h"
#include "ws/ws_sub.h"

#include <stdio.h>
#include <string.h>

static const char app_bad_channel[] =
        "400 Bad Request: channel names are 1-128 bytes of A-Z a-z 0-9 _ . : @ - "
        "(several channels: comma-separated)\n";

static void app_text(struct http_ctx *ctx, int status, const char *msg)
{
	http_respond(ctx, status, "text/plain; charset=utf-8", NULL, msg, strlen(msg));
}

/* The path after a route prefix ("/pub/" -> "news"). */
static void app_tail(const struct http_ctx *ctx, size_t prefix, const char **s, size_t *len)
{
	*s = ctx->req->path + prefix;
	*len = ctx->req->path_len - prefix;
}

/* The number of channels in a valid comma-separated list, 0 when any
 * name is invalid or there are more than HUB_SUB_CHANNELS_MAX. */
static size_t app_names_count(const char *s, size_t len)
{
	size_t i = 0, n = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		if (!hub_channel_name_valid(s + i, j - i) || ++n > HUB_SUB_CHANNELS_MAX)
			return 0;
		i = j + 1;
	}
	return n;
}

enum app_transport { APP_POLL = 0, APP_SSE, APP_WS };

/* ?transport= wins; then Upgrade: websocket; then Accept: text/event-stream
 * (what EventSource sends); anything else is a long-poll. */
static enum app_transport app_transport(const struct http_request *req)
{
	const char *t;
	size_t n;
	if (router_query_param(req->query, req->query_len, "transport", &t, &n)) {
		if (n == 2 && memcmp(t, "ws", 2) == 0)
			return APP_WS;
		if (n == 3 && memcmp(t, "sse", 3) == 0)
			return APP_SSE;
		return APP_POLL;
	}
	if (req->conn_upgrade && http_find_header(req, "Upgrade"))
		return APP_WS;
	const struct http_header *acc = http_find_header(req, "Accept");
	if (acc && memmem(acc->value, acc->value_len, "text/event-stream", 17))
		return APP_SSE;
	return APP_POLL;
}

static void app_sub(struct http_ctx *ctx)
{
	const struct http_request *req = ctx->req;
	const char *names, *since = NULL;
	size_t names_len, since_len = 0;
	app_tail(ctx, 5, &names, &names_len);
	if (req->method_id == HTTP_M_OPTIONS) {
		sse_sub_preflight(ctx);
		return;
	}
	size_t n_names = app_names_count(names, names_len);
	if (n_names == 0) {
		app_text(ctx, 400, app_bad_channel);
		return;
	}
	if (n_names > worker_cfg(ctx->w)->max_channels_per_conn) {
		app_text(
		        ctx, 400,
		        "400 Bad Request: more channels than --max-channels-per-conn allows on one "
		        "connection\n");
		return;
	}
	struct auth_id id;
	if (!auth_http(ctx, AUTH_SUBSCRIBE, names, names_len, &id))
		return;
	int64_t exp_s = auth_expiry(&id);
	enum app_transport tr = app_transport(req);
	/* A stream holds one of its token's connection slots; a long-poll is
	 * a request, limited by the address's connection limits instead. */
	bool go = tr == APP_POLL || admit_http_subject(ctx, &id);
	auth_id_free(&id);
	if (!go)
		return;
	const struct http_header *h = http_find_header(req, "Last-Event-ID");
	if (h) {
		since = h->value;
		since_len = h->value_len;
	} else if (!router_query_param(req->query, req->query_len, "lastEventId", &since,
	                               &since_len) &&
	           !router_query_param(req->query, req->query_len, "since", &since, &since_len)) {
		since = NULL;
	}
	switch (tr) {
	case APP_WS:
		ws_sub_start(ctx, names, names_len, since, since_len, exp_s);
		break;
	case APP_SSE:
		sse_sub_start(ctx, names, names_len, since, since_len, exp_s);
		break;
	default:
		poll_sub_start(ctx, names, names_len, since, since_len);
		break;
	}
}

/* The event type: ?event= or X-Event, same alphabet as channel names. */
static int app_event(const struct http_request *req, const char **ev, size_t *len)
{
	*ev = NULL;
	*len = 0;
	const struct http_header *h = http_find_header(req, "X-Event");
	if (!router_query_param(req->query, req->query_len, "event", ev, len) && h) {
		*ev = h->value;
		*len = h->value_len;
	}
	if (*len && !name_valid(*ev, *len, NAME_EVENT_MAX))
		return CRIER_EINVAL;
	return 0;
}

static void app_pub(struct http_ctx *ctx)
{
	const struct config *cfg = worker_cfg(ctx->w);
	const char *name, *ev;
	size_t name_len, ev_len;
	app_tail(ctx, 5, &name, &name_len);
	if (name_reserved(name, name_len)) {
		metrics_parse_error(&ctx->w->m, CRIER_EAUTH_FORBIDDEN);
		log_info("request refused", "status=403 reason=reserved_channel");
		app_text(ctx, 403,
		         "403 Forbidden: channels starting with $ are reserved for the server: "
		         "subscribe only\n");
		return;
	}
	if (!hub_channel_name_valid(name, name_len)) {
		app_text(ctx, 400, app_bad_channel);
		return;
	}
	struct auth_id id;
	if (!auth_http(ctx, AUTH_PUBLISH, name, name_len, &id))
		return;
	bool go = admit_http_publish(ctx, &id);
	auth_id_free(&id);
	if (!go)
		return;
	if (app_event(ctx->req, &ev, &ev_len) != 0) {
		app_text(ctx, 400,
		         "400 Bad Request: event names are 1-64 bytes of A-Z a-z 0-9 _ . : @ -\n");
		return;
	}
	if (ctx->body_len > cfg->max_message_bytes) {
		app_text(ctx, 413, "413 Content Too Large: message over --max-message-bytes\n");
		return;
	}
	const struct http_header *ct = http_find_header(ctx->req, "Content-Type");
	bool binary = ct && ct->value_len >= 24 &&
	              strncasecmp(ct->value, "application/octet-stream", 24) == 0;
	if (!binary && !utf8_valid((const uint8_t *)ctx->body, ctx->body_len)) {
		app_text(ctx, 400,
		         "400 Bad Request: a text message must be UTF-8; send binary data with "
		         "Content-Type: application/octet-stream\n");
		return;
	}
	struct msg *m = msg_new(ctx->body, ctx->body_len, ev, ev_len, binary);
	if (m && ctx->hc->app->redis) {
		/* Answered when Redis has run the script (or refused to). */
		engine_redis_http_publish(ctx->hc->app->redis, ctx, name, name_len, m);
		msg_unref(m);
		return;
	}
	uint32_t subs = 0;
	int rc = m ? hub_publish(ctx->hc->app->hub, name, name_len, m, &subs) : CRIER_ENOMEM;
	if (rc == CRIER_EOVERLOAD) {
		app_text(ctx, 503,
		         "503 Service Unavailable: channel limit (--max-channels) reached\n");
	} else if (rc) {
		app_text(ctx, 500, "500 Internal Server Error: out of memory\n");
	} else {
		char body[256];
		int n = snprintf(body, sizeof(body),
		                 "{\"id\":\"%s\",\"channel\":\"%.*s\",\"subscribers\":%u}\n",
		                 m->id_str, (int)name_len, name, subs);
		http_respond(ctx, 200, "application/json", NULL, body, (size_t)n);
	}
	if (m)
		msg_unref(m);
}

static void app_channel(struct http_ctx *ctx)
{
	const char *name;
	size_t len;
	app_tail(ctx, 10, &name, &len);
	if (!hub_channel_name_valid(name, len)) {
		app_text(ctx, 400, app_bad_channel);
		return;
	}
	struct auth_id id; /* channel info is for those who may subscribe */
	if (!auth_http(ctx, AUTH_SUBSCRIBE, name, len, &id))
		return;
	auth_id_free(&id);
	struct buf out = {0};
	if (hub_channel_json(ctx->hc->app->hub, name, len, &out) != 0)
		app_text(ctx, 404, "404 Not Found: no such channel\n");
	else
		http_respond(ctx, 200, "application/json", NULL, out.data, out.len);
	buf_free(&out);
}

int app_add_hub_routes(struct http_app *app)
{
	int rc = router_add(&app->router, &(struct route){.path = "/sub/",
	                                                  .label = "/sub/{ch}",
	                                                  .prefix = true,
	                                                  .methods = ROUTER_METHOD(HTTP_M_GET) |
	                                                             ROUTER_METHOD(HTTP_M_OPTIONS),
	                                                  .handler = app_sub});
	if (rc == 0)
		rc = router_add(&app->router, &(struct route){.path = "/pub/",
		                                              .label = "/pub/{ch}",
		                                              .prefix = true,
		                                              .wants_body = true,
		                                              .methods = ROUTER_METHOD(HTTP_M_POST),
		                                              .handler = app_pub});
	if (rc == 0)
		rc = router_add(&app->router, &(struct route){.path = "/channels/",
		                                              .label = "/channels/{ch}",
		                                              .prefix = true,
		                                              .methods = ROUTER_METHOD(HTTP_M_GET),
		                                              .handler = app_channel});
	return rc;
}

int app_hub_metrics(struct http_app *app, struct buf *out)
{
	int rc = hub_metrics(app->hub, out);
	if (rc == 0 && app->admit)
		rc = admit_metrics(app->admit, out);
	if (rc == 0 && app->redis)
		rc = engine_redis_metrics(app->redis, out);
	return rc;
}
