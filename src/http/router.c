/*
 * router.c - route lookup.
 *
 * A linear scan: the table holds a handful of routes, and comparing a few
 * short strings beats any index at this size. Exact routes are tried
 * before prefix routes so "/sub" can never shadow "/sub/x" by accident.
 */
#include "http/router.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>

static const char *const router_method_names[HTTP_M_COUNT_] = {
        [HTTP_M_UNKNOWN] = "UNKNOWN", [HTTP_M_GET] = "GET",     [HTTP_M_HEAD] = "HEAD",
        [HTTP_M_POST] = "POST",       [HTTP_M_PUT] = "PUT",     [HTTP_M_DELETE] = "DELETE",
        [HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_PATCH] = "PATCH",
};

const char *router_method_name(enum http_method m)
{
	return (unsigned)m < HTTP_M_COUNT_ ? router_method_names[m] : "UNKNOWN";
}

int router_add(struct router *r, const struct route *route)
{
	if (r->n >= ROUTER_MAX)
		return CRIER_ERANGE;
	struct route *dst = &r->routes[r->n++];
	*dst = *route;
	if (!dst->label)
		dst->label = dst->path;
	if (dst->methods & ROUTER_METHOD(HTTP_M_GET))
		dst->methods |= ROUTER_METHOD(HTTP_M_HEAD);
	return 0;
}

static bool router_path_matches(const struct route *rt, const char *path, size_t len)
{
	size_t plen = strlen(rt->path);
	if (rt->prefix)
		return len > plen && memcmp(path, rt->path, plen) == 0;
	return len == plen && memcmp(path, rt->path, plen) == 0;
}

int router_match(const struct router *r, const char *path, size_t path_len, enum http_method method,
                 int *idx)
{
	*idx = -1;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < r->n; i++) {
			const struct route *rt = &r->routes[i];
			if (rt->prefix != (pass == 1) || !router_path_matches(rt, path, path_len))
				continue;
			*idx = i;
			return (rt->methods & ROUTER_METHOD(method)) ? 200 : 405;
		}
	}
	return 404;
}

bool router_query_param(const char *query, size_t len, const char *name, const char **val,
                        size_t *val_len)
{
	size_t nl = strlen(name), i = 0;
	while (query && i < len) {
		size_t end = i;
		while (end < len && query[end] != '&')
			end++;
		if (end - i >= nl && memcmp(query + i, name, nl) == 0 &&
		    (end - i == nl || query[i + nl] == '=')) {
			size_t off = end - i == nl ? nl : nl + 1;
			*val = query + i + off;
			*val_len = end - i - off;
			return true;
		}
		i = end + 1;
	}
	return false;
}

void router_allow(const struct route *route, char *out, size_t out_len)
{
	size_t len = 0;
	out[0] = '\0';
	for (int m = HTTP_M_GET; m < HTTP_M_COUNT_ && len < out_len; m++) {
		if (!(route->methods & ROUTER_METHOD(m)))
			continue;
		int n = snprintf(out + len, out_len - len, "%s%s", len ? ", " : "",
		                 router_method_names[m]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}
