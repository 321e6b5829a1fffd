/*
 * static.h - the web pages built into the binary (web/, embedded at build
 * time by scripts/web_embed.c) and the routes that serve them.
 *
 * Routes: GET / (the dashboard, web/index.html), GET /demo
 * (web/demo.html) and GET /_web/{file} (every file of web/). All are GET
 * and HEAD only, answer 404 while --web is off, and carry a strict
 * Content-Security-Policy, an ETag (304 on a matching If-None-Match) and
 * Cache-Control: no-cache, so a browser revalidates and never runs a page
 * older than the binary. The pages read data only through the hub's own
 * routes, which do their own authorisation: nothing here checks auth
 * because nothing here is secret.
 */
#ifndef CRIER_HTTP_STATIC_H
#define CRIER_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file; the table is generated (web_assets.c in the build
 * directory) and immutable. */
struct static_asset {
	const char *path; /* URL path: "/_web/" + the path under web/ */
	const char *type; /* Content-Type */
	const char *etag; /* strong entity tag, quoted */
	const unsigned char *data;
	size_t len; /* bytes in data (not counting its trailing NUL) */
};

extern const struct static_asset static_assets[];
extern const size_t static_assets_n;

/* The asset at a URL path ("/_web/app.css"), or NULL. */
const struct static_asset *static_find(const char *path, size_t len);

struct http_app;

/* Adds GET /, GET /demo and GET /_web/{file}. Returns 0 or CRIER_ERANGE
 * when the router table is full. */
int static_add(struct http_app *app);

#endif
