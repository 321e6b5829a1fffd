/*
 * router.h - method + path table.
 *
 * Routes are added once at start-up (cmd_serve) and then only read, from
 * every worker. A route matches a path exactly, or by prefix for routes
 * whose pattern carries a parameter ("/sub/" matches "/sub/news"). The
 * route's label (its pattern as people write it, "/sub/{ch}") is the
 * metrics label, so label cardinality is the size of this table.
 */
#ifndef CRIER_HTTP_ROUTER_H
#define CRIER_HTTP_ROUTER_H

#include "http/http_parse.h"
#include "net/metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct http_ctx;
typedef void (*http_handler_fn)(struct http_ctx *ctx);

#define ROUTER_MAX       (METRICS_MAX_ROUTES - 1) /* the last metrics slot is "unmatched" */
#define ROUTER_METHOD(m) (1u << (m))

struct route {
	const char *path;  /* exact path, or the prefix when prefix is set */
	const char *label; /* metrics label; defaults to path */
	unsigned methods;  /* ROUTER_METHOD bits; GET implies HEAD */
	bool prefix;       /* match paths that start with `path` */
	bool wants_body;   /* the handler reads the request body */
	http_handler_fn handler;
};

struct router {
	struct route routes[ROUTER_MAX];
	int n;
};

/* Adds a route. Returns 0 or CRIER_ERANGE when the table is full. */
int router_add(struct router *r, const struct route *route);

/* Finds the route for path and method. Returns 200 when a route matches
 * both (*idx set), 405 when a route matches the path only (*idx set, for
 * the Allow header), 404 otherwise (*idx = -1). */
int router_match(const struct router *r, const char *path, size_t path_len, enum http_method method,
                 int *idx);

/* Writes the Allow header value for a route ("GET, HEAD"). */
void router_allow(const struct route *route, char *out, size_t out_len);

/* Finds ?name=value in a query string (no percent-decoding: crier's own
 * parameters are plain tokens). Returns true and the value slice when
 * present (an empty value for "name" or "name="). */
bool router_query_param(const char *query, size_t len, const char *name, const char **val,
                        size_t *val_len);

/* Method name for an enum value ("GET"). */
const char *router_method_name(enum http_method m);

#endif
