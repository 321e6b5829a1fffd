/*
 * poll_sub.c - long-poll: the last-resort transport for networks that
 * break both WebSocket and streaming.
 *
 * A poll is a short-lived hub subscription whose sink is the response
 * body: `{"messages":[...],"next":"<id>"[,"gap":{...}]}`. It starts at the
 * client's cursor (?since= or Last-Event-ID, exactly as SSE resumes), so
 * replay, live delivery and gap notices are the hub's, identical to every
 * other transport. The answer goes out at the end of the first run of
 * deliveries (a catch-up batch, or one loop turn's live messages), so a
 * burst is one response, not one per message. `next` is always a valid
 * resume point: the last id delivered, or the cursor when nothing was
 * (`<epoch>-0` before the first message ever published).
 *
 * The only allocation per poll is the response body, which lives in the
 * connection's request buffer (empty for a GET) and is freed once queued.
 */
#include "sse/poll_sub.h"

#include "core/err.h"
#include "hub/hub.h"
#include "hub/msg_json.h"
#include "net/worker.h"
#include "sse/sse_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct poll_conn {
	struct http_conn http; /* first: a poll stays an HTTP connection */
	struct hub_sub sub;
	char *gap;      /* the gap notice JSON, when there was one */
	uint32_t count; /* messages in the body so far */
	bool full;      /* the body reached the budget: answer now */
	char *cors;     /* CORS headers of a parked cross-origin request, or NULL */
};

size_t poll_sub_size(void)
{
	return sizeof(struct poll_conn);
}

static struct poll_conn *poll_of(struct hub_sub *s)
{
	return container_of(s, struct poll_conn, sub);
}

/* Closes the JSON body and answers the parked request. */
static void poll_answer(struct poll_conn *pc)
{
	struct buf *b = &pc->http.req;
	struct id pos = {.epoch = pc->sub.epoch, .seq = pc->sub.cursor};
	char next[ID_STR_MAX];
	id_format(&pos, next);
	hub_unsubscribe(&pc->sub);
	int rc = buf_printf(b, "],\"next\":\"%s\"", next);
	if (!rc && pc->gap)
		rc = buf_printf(b, ",\"gap\":%s", pc->gap);
	if (!rc)
		rc = buf_puts(b, "}\n");
	free(pc->gap);
	pc->gap = NULL;
	if (rc) {
		static const char oom[] = "500 Internal Server Error: out of memory\n";
		http_deferred_respond(&pc->http, 500, "text/plain; charset=utf-8", NULL, oom,
		                      sizeof(oom) - 1);
	} else {
		http_deferred_respond(&pc->http, 200, "application/json", pc->cors, b->data,
		                      b->len);
	}
	buf_free(b);
	free(pc->cors);
	pc->cors = NULL;
}

static int poll_deliver(struct hub_sub *s, struct msg *m)
{
	struct poll_conn *pc = poll_of(s);
	struct rcbuf *j = msg_encoded(m, MSG_ENC_JSON, msg_json_encode, NULL);
	if (!j)
		return CRIER_ENOMEM;
	struct buf *b = &pc->http.req;
	if ((pc->count && buf_append(b, ",", 1) != 0) || buf_append(b, j->data, j->len) != 0)
		return CRIER_ENOMEM;
	pc->count++;
	return 0;
}

static void poll_gap(struct hub_sub *s, const char *json, size_t len)
{
	struct poll_conn *pc = poll_of(s);
	free(pc->gap);
	pc->gap = strndup(json, len);
}

static uint64_t poll_queued(struct hub_sub *s)
{
	return poll_of(s)->http.req.len;
}

static bool poll_pushback(struct hub_sub *s)
{
	(void)s;
	return true; /* the body only grows until answered: its size is the backlog */
}

static void poll_slow(struct hub_sub *s)
{
	poll_of(s)->full = true; /* answered by batch_end; the next poll goes on */
}

static void poll_batch_end(struct hub_sub *s)
{
	struct poll_conn *pc = poll_of(s);
	if (pc->http.deferred && (pc->count || pc->gap || pc->full))
		poll_answer(pc);
}

static const struct hub_sink_ops poll_sink = {
        .deliver = poll_deliver,
        .gap = poll_gap,
        .queued = poll_queued,
        .pushback = poll_pushback,
        .slow = poll_slow,
        .batch_end = poll_batch_end,
};

static void poll_cancel(struct http_conn *hc, int reason)
{
	struct poll_conn *pc = (struct poll_conn *)hc;
	if (reason == CRIER_ECLOSED) {
		hub_unsubscribe(&pc->sub);
		free(pc->gap);
		free(pc->cors);
		pc->gap = pc->cors = NULL;
		return;
	}
	poll_answer(pc); /* timeout or shutdown: the cursor, no messages */
}

static const struct http_deferred_ops poll_deferred = {.cancel = poll_cancel};

void poll_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                    size_t since_len)
{
	const struct config *cfg = worker_cfg(ctx->w);
	struct poll_conn *pc = (struct poll_conn *)ctx->hc;
	char cors[512];
	if (!sse_cors_headers(ctx->req, cfg, cors, sizeof(cors))) {
		static const char msg[] =
		        "403 Forbidden: origin not allowed (see --allowed-origins)\n";
		http_respond(ctx, 403, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	pc->count = 0;
	pc->full = false;
	pc->sub.ops = &poll_sink;
	pc->sub.budget = cfg->sse_max_backpressure;
	int rc = hub_subscribe(ctx->hc->app->hub, &pc->sub, ctx->w, names, names_len, since,
	                       since_len);
	if (rc) {
		static const char full[] =
		        "503 Service Unavailable: channel limit (--max-channels) reached\n";
		http_respond(ctx, 503, "text/plain; charset=utf-8", NULL, full, sizeof(full) - 1);
		return;
	}
	buf_free(&pc->http.req);
	if (buf_puts(&pc->http.req, "{\"messages\":[") != 0) {
		hub_unsubscribe(&pc->sub);
		static const char oom[] = "500 Internal Server Error: out of memory\n";
		http_respond(ctx, 500, "text/plain; charset=utf-8", NULL, oom, sizeof(oom) - 1);
		return;
	}
	pc->cors = cors[0] ? strdup(cors) : NULL;
	http_defer(ctx, &poll_deferred, cfg->poll_timeout_ms);
	hub_sub_start(&pc->sub); /* a replay answers at once, through batch_end */
}
