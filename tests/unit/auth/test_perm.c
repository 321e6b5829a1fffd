/*
 * test_perm.c - unit tests for auth/perm.c: parsing a token's channel
 * pattern list and matching channels against it.
 *
 * Lists are written as JSON text and loaded with jansson, as jwt.c hands
 * them over. Every invalid list must leave the set empty (and own
 * nothing, which ASan's leak check confirms).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/perm.h"
#include "core/err.h"

/* Parses the JSON text into *p; returns perm_set_from_json's result. */
static int parse(struct perm_set *p, const char *json_text)
{
	json_error_t jerr;
	json_t *j = json_loads(json_text, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("bad test JSON %s: %s", json_text, jerr.text);
	int rc = perm_set_from_json(p, j);
	json_decref(j);
	return rc;
}

static bool allows(const struct perm_set *p, const char *channel)
{
	return perm_allows(p, channel, strlen(channel));
}

static void test_exact(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(parse(&p, "[\"news\", \"a-b_c.d:e@f\"]"), 0);
	assert_int_equal(p.n, 2);
	assert_false(p.all);
	assert_true(allows(&p, "news"));
	assert_true(allows(&p, "a-b_c.d:e@f"));
	assert_false(allows(&p, "new"));
	assert_false(allows(&p, "newsroom"));
	assert_false(allows(&p, "News"));
	assert_false(allows(&p, ""));
	/* The length given is the channel, not the NUL-terminated string. */
	assert_true(perm_allows(&p, "newsroom", 4));
	assert_false(perm_allows(&p, "news", 3));
	perm_set_free(&p);
	assert_null(p.pat);
	assert_int_equal(p.n, 0);
}

static void test_prefix(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(parse(&p, "[\"user.42.*\", \"chat*\"]"), 0);
	assert_true(allows(&p, "user.42.inbox"));
	assert_true(allows(&p, "user.42."));
	assert_false(allows(&p, "user.42"));
	assert_false(allows(&p, "user.420.inbox"));
	assert_false(allows(&p, "user.4"));
	assert_true(allows(&p, "chat"));
	assert_true(allows(&p, "chatroom"));
	assert_false(allows(&p, "cha"));
	assert_false(allows(&p, "xchat"));
	perm_set_free(&p);
}

static void test_all(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(parse(&p, "[\"*\"]"), 0);
	assert_true(p.all);
	assert_int_equal(p.n, 0);
	assert_true(allows(&p, "anything"));
	assert_true(allows(&p, "x"));
	assert_false(allows(&p, ""));
	perm_set_free(&p);
	assert_false(p.all);

	assert_int_equal(parse(&p, "[\"news\", \"*\", \"chat*\"]"), 0);
	assert_true(p.all);
	assert_true(allows(&p, "other"));
	perm_set_free(&p);
}

static void test_empty_and_null(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(parse(&p, "[]"), 0);
	assert_false(allows(&p, "news"));
	perm_set_free(&p);

	struct perm_set zero = {0};
	assert_false(allows(&zero, "news"));
	perm_set_free(&zero);
	assert_false(perm_allows(NULL, "news", 4));
}

static void test_invalid_patterns(void **state)
{
	(void)state;
	char too_long[PERM_CHANNEL_MAX + 16];
	char longest[PERM_CHANNEL_MAX + 16];
	char longest_prefix[PERM_CHANNEL_MAX + 16];
	memset(too_long, 'a', sizeof(too_long));
	memcpy(too_long, "[\"", 2);
	memcpy(too_long + 2 + PERM_CHANNEL_MAX + 1, "\"]", 3); /* 129 bytes */
	memset(longest, 'a', sizeof(longest));
	memcpy(longest, "[\"", 2);
	memcpy(longest + 2 + PERM_CHANNEL_MAX, "\"]", 3); /* 128 bytes */
	memset(longest_prefix, 'a', sizeof(longest_prefix));
	memcpy(longest_prefix, "[\"", 2);
	memcpy(longest_prefix + 2 + PERM_CHANNEL_MAX, "*\"]", 4); /* 128 + '*' */

	static const char *const bad[] = {
	        "[\"a*b\"]",         /* '*' in the middle */
	        "[\"*x\"]",          /* '*' first, not alone */
	        "[\"**\"]",          /* two stars */
	        "[\"a**\"]",         /* same */
	        "[\"bad channel\"]", /* space */
	        "[\"\"]",            /* empty */
	        "[\"news/x\"]",      /* '/' */
	        "[\"caf\\u00e9\"]",  /* non-ASCII */
	        "[\"a\\tb\"]",       /* control */
	        "[\"ok\", \"a*b\"]", /* one bad element spoils the list */
	        "[\"ok\", 1]",       /* non-string */
	        "[null]",            /* same */
	        "[[\"news\"]]",      /* nested */
	        "[{\"p\": \"x\"}]",  /* object */
	        "[true]",            /* boolean */
	        "\"news\"",          /* not an array */
	        "{\"news\": 1}",     /* same */
	        "42",                /* same */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct perm_set p = {.n = 99};
		int rc = parse(&p, bad[i]);
		if (rc != CRIER_EAUTH_MALFORMED)
			fail_msg("%s: got %d", bad[i], rc);
		assert_null(p.pat);
		assert_int_equal(p.n, 0);
		assert_false(p.all);
	}
	struct perm_set p;
	assert_int_equal(parse(&p, too_long), CRIER_EAUTH_MALFORMED);
	assert_int_equal(parse(&p, longest), 0);
	assert_int_equal(p.n, 1);
	perm_set_free(&p);
	assert_int_equal(parse(&p, longest_prefix), 0);
	assert_int_equal(p.n, 1);
	perm_set_free(&p);
}

static void test_null_json(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(perm_set_from_json(&p, NULL), CRIER_EAUTH_MALFORMED);
	assert_int_equal(p.n, 0);
}

/* A reserved channel ($sys.stats) is granted by its exact name only. */
static void test_reserved(void **state)
{
	(void)state;
	struct perm_set p;
	assert_int_equal(parse(&p, "[\"*\"]"), 0);
	assert_false(allows(&p, "$sys.stats"));
	assert_true(allows(&p, "news"));
	perm_set_free(&p);
	assert_int_equal(parse(&p, "[\"$sys.stats\"]"), 0);
	assert_true(allows(&p, "$sys.stats"));
	assert_false(allows(&p, "news"));
	perm_set_free(&p);
	assert_int_equal(parse(&p, "[\"$sys.*\"]"), CRIER_EAUTH_MALFORMED);
	assert_int_equal(parse(&p, "[\"$other\"]"), CRIER_EAUTH_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact),
	        cmocka_unit_test(test_prefix),
	        cmocka_unit_test(test_all),
	        cmocka_unit_test(test_empty_and_null),
	        cmocka_unit_test(test_invalid_patterns),
	        cmocka_unit_test(test_null_json),
	        cmocka_unit_test(test_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
