/* Unit tests for http/router.c: exact and prefix matches, 404/405, Allow. */
#include "http/router.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void handler(struct http_ctx *ctx)
{
	(void)ctx;
}

static struct router make_router(void)
{
	struct router r = {0};
	router_add(&r, &(struct route){.path = "/healthz",
	                               .methods = ROUTER_METHOD(HTTP_M_GET),
	                               .handler = handler});
	router_add(&r, &(struct route){.path = "/sub/",
	                               .label = "/sub/{ch}",
	                               .prefix = true,
	                               .methods = ROUTER_METHOD(HTTP_M_GET),
	                               .handler = handler});
	router_add(&r, &(struct route){.path = "/pub/",
	                               .prefix = true,
	                               .methods = ROUTER_METHOD(HTTP_M_POST) |
	                                          ROUTER_METHOD(HTTP_M_PUT),
	                               .handler = handler});
	return r;
}

#define MATCH(r, path, m, idx) router_match(&(r), path, strlen(path), m, &(idx))

static void test_router_exact(void **state)
{
	(void)state;
	struct router r = make_router();
	int idx;
	assert_int_equal(MATCH(r, "/healthz", HTTP_M_GET, idx), 200);
	assert_int_equal(idx, 0);
	assert_int_equal(MATCH(r, "/healthz", HTTP_M_HEAD, idx), 200); /* GET implies HEAD */
	assert_int_equal(MATCH(r, "/healthz/", HTTP_M_GET, idx), 404);
	assert_int_equal(idx, -1);
	assert_int_equal(MATCH(r, "/health", HTTP_M_GET, idx), 404);
	assert_int_equal(MATCH(r, "/healthz", HTTP_M_POST, idx), 405);
	assert_int_equal(idx, 0);
}

static void test_router_prefix(void **state)
{
	(void)state;
	struct router r = make_router();
	int idx;
	assert_int_equal(MATCH(r, "/sub/news", HTTP_M_GET, idx), 200);
	assert_int_equal(idx, 1);
	assert_string_equal(r.routes[idx].label, "/sub/{ch}");
	/* The bare prefix has no parameter: not a match. */
	assert_int_equal(MATCH(r, "/sub/", HTTP_M_GET, idx), 404);
	assert_int_equal(MATCH(r, "/pub/x", HTTP_M_GET, idx), 405);
	assert_string_equal(r.routes[2].label, "/pub/"); /* label defaults to the path */
}

static void test_router_allow(void **state)
{
	(void)state;
	struct router r = make_router();
	char allow[64];
	router_allow(&r.routes[0], allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD");
	router_allow(&r.routes[2], allow, sizeof(allow));
	assert_string_equal(allow, "POST, PUT");
}

static void test_router_full(void **state)
{
	(void)state;
	struct router r = {0};
	for (int i = 0; i < ROUTER_MAX; i++)
		assert_int_equal(router_add(&r, &(struct route){.path = "/x", .handler = handler}),
		                 0);
	assert_int_not_equal(router_add(&r, &(struct route){.path = "/y", .handler = handler}), 0);
	assert_string_equal(router_method_name(HTTP_M_DELETE), "DELETE");
	assert_string_equal(router_method_name((enum http_method)99), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_router_exact),
	        cmocka_unit_test(test_router_prefix),
	        cmocka_unit_test(test_router_allow),
	        cmocka_unit_test(test_router_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
