/*
 * http_builtin.c - liveness and metrics.
 *
 * /healthz answers from the worker that received the request: if a worker
 * is wedged, the requests the kernel balances onto it time out, which is
 * what a load balancer's health check should see. A node that serves its
 * connected clients but cannot publish (its Redis is away) says
 * "degraded" with a 503, so the balancer sends new clients elsewhere.
 */
#include "http/http_builtin.h"

#include "core/buf.h"

#include <stdio.h>

static void http_builtin_healthz(struct http_ctx *ctx)
{
	static const char ok[] = "ok\n";
	struct http_app *app = ctx->hc->app;
	const char *why = app->degraded ? app->degraded(app) : NULL;
	if (why) {
		/* Serving what it can, but a load balancer should prefer another node. */
		char body[128];
		int n = snprintf(body, sizeof(body), "degraded: %s\n", why);
		http_respond(ctx, 503, "text/plain; charset=utf-8", NULL, body, (size_t)n);
		return;
	}
	http_respond(ctx, 200, "text/plain; charset=utf-8", NULL, ok, sizeof(ok) - 1);
}

static void http_builtin_metrics(struct http_ctx *ctx)
{
	struct http_app *app = ctx->hc->app;
	struct buf page = {0};
	int rc = metrics_render(&page, app->srv, app->labels, app->router.n);
	if (rc == 0 && app->metrics_extra)
		rc = app->metrics_extra(app, &page);
	if (rc != 0) {
		static const char msg[] = "500 Internal Server Error: out of memory\n";
		http_respond(ctx, 500, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
	} else {
		http_respond(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, page.data,
		             page.len);
	}
	buf_free(&page);
}

int http_builtin_add(struct http_app *app)
{
	int rc = router_add(&app->router, &(struct route){.path = "/healthz",
	                                                  .methods = ROUTER_METHOD(HTTP_M_GET),
	                                                  .handler = http_builtin_healthz});
	if (rc == 0)
		rc = router_add(&app->router, &(struct route){.path = "/metrics",
		                                              .methods = ROUTER_METHOD(HTTP_M_GET),
		                                              .handler = http_builtin_metrics});
	return rc;
}
