/*
 * static.c - serves the embedded web pages (static.h).
 *
 * Owns the route table entries, the conditional-request rule and the
 * security headers; never reads a file at run time (the bytes are in the
 * binary, so what a browser runs is exactly what was built and tested) and
 * never looks at credentials. Every answer while --web is on, 404 and 304
 * included, carries the same security headers, so there is no response a
 * page could be framed or sniffed through.
 */
#include "http/static.h"

#include "core/err.h"
#include "http/http_conn.h"
#include "net/worker.h"

#include <stdio.h>
#include <string.h>

/* The CSP allows only the hub's own scripts, styles and connections: no
 * inline code, no other origin, no framing. A page that needs more is
 * wrong, not the policy. */
#define STATIC_SECURITY_HEADERS                                                              \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "    \
	"frame-ancestors 'none'\r\n"                                                         \
	"X-Content-Type-Options: nosniff\r\n"                                                \
	"Referrer-Policy: no-referrer\r\n"

#define STATIC_PREFIX "/_web/"

const struct static_asset *static_find(const char *path, size_t len)
{
	for (size_t i = 0; i < static_assets_n; i++) {
		const struct static_asset *a = &static_assets[i];
		if (strlen(a->path) == len && memcmp(a->path, path, len) == 0)
			return a;
	}
	return NULL;
}

static void static_not_found(struct http_ctx *ctx)
{
	static const char msg[] = "404 Not Found: no such page\n";
	http_respond(ctx, 404, "text/plain; charset=utf-8", STATIC_SECURITY_HEADERS, msg,
	             sizeof(msg) - 1);
}

static void static_serve(struct http_ctx *ctx)
{
	const struct http_request *req = ctx->req;
	if (!worker_cfg(ctx->w)->web) {
		static const char msg[] = "404 Not Found: the web pages are off (--web off)\n";
		http_respond(ctx, 404, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	const struct static_asset *a;
	if (req->path_len == 1)
		a = static_find(STATIC_PREFIX "index.html", sizeof(STATIC_PREFIX "index.html") - 1);
	else if (req->path_len == 5 && memcmp(req->path, "/demo", 5) == 0)
		a = static_find(STATIC_PREFIX "demo.html", sizeof(STATIC_PREFIX "demo.html") - 1);
	else
		a = static_find(req->path, req->path_len);
	if (!a) {
		static_not_found(ctx);
		return;
	}
	char extra[640];
	snprintf(extra, sizeof(extra), "ETag: %s\r\nCache-Control: no-cache\r\n%s", a->etag,
	         STATIC_SECURITY_HEADERS);
	const struct http_header *inm = http_find_header(req, "If-None-Match");
	int status = inm && http_etag_match(inm->value, inm->value_len, a->etag, strlen(a->etag))
	                     ? 304
	                     : 200;
	http_respond(ctx, status, a->type, extra, a->data, a->len);
}

int static_add(struct http_app *app)
{
	static const char *const exact[] = {"/", "/demo"};
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		int rc = router_add(&app->router,
		                    &(struct route){.path = exact[i],
		                                    .methods = ROUTER_METHOD(HTTP_M_GET),
		                                    .handler = static_serve});
		if (rc != 0)
			return rc;
	}
	return router_add(&app->router, &(struct route){.path = STATIC_PREFIX,
	                                                .label = STATIC_PREFIX "{file}",
	                                                .prefix = true,
	                                                .methods = ROUTER_METHOD(HTTP_M_GET),
	                                                .handler = static_serve});
}
