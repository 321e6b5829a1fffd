/* Unit tests for http/static.c: If-None-Match matching and the embedded
 * asset table (types and ETags generated from web/ at build time). */
#include "http/http_parse.h"
#include "http/static.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static bool m(const char *inm, const char *etag)
{
	return http_etag_match(inm, strlen(inm), etag, strlen(etag));
}

static void test_etag_matches(void **state)
{
	(void)state;
	const char *e = "\"abc\"";
	assert_true(m("\"abc\"", e));
	assert_true(m("W/\"abc\"", e)); /* weak comparison (RFC 9110 §13.1.2) */
	assert_true(m("\"x\", \"abc\"", e));
	assert_true(m(" \"x\" ,W/\"abc\" ", e));
	assert_true(m("*", e));
	assert_false(m("", e));
	assert_false(m("\"abcd\"", e));
	assert_false(m("abc", e));
	assert_false(m("\"ab\", ,", e));
	assert_false(m("W/", e));
	assert_true(m("\"abc\"", "W/\"abc\"")); /* a weak tag of ours matches too */
	assert_false(m("\"abc\"", ""));
}

static void test_assets(void **state)
{
	(void)state;
	const struct static_asset *idx = static_find("/_web/index.html", 16);
	assert_non_null(idx);
	assert_string_equal(idx->type, "text/html; charset=utf-8");
	assert_true(idx->len > 0);
	assert_int_equal(idx->data[idx->len], 0);
	assert_non_null(static_find("/_web/demo.html", 15));
	assert_null(static_find("/_web/nope.html", 15));
	assert_null(static_find("/_web/", 6));
	for (size_t i = 0; i < static_assets_n; i++) {
		const struct static_asset *a = &static_assets[i];
		assert_int_equal(strncmp(a->path, "/_web/", 6), 0);
		assert_int_equal(strlen(a->etag), 18); /* 16 hex digits, quoted */
		assert_int_equal(a->etag[0], '"');
		for (size_t j = i + 1; j < static_assets_n; j++)
			assert_true(strcmp(a->path, static_assets[j].path) != 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_etag_matches),
	        cmocka_unit_test(test_assets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
