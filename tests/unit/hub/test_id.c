/*
 * test_id.c - unit tests for the message id text form.
 *
 * The parser is the gate for ids that come back from clients, so most of
 * this file is the list of near-misses it must refuse: each differs from a
 * valid id in one way (case, length, a leading zero, a sign, whitespace,
 * one past the range). Every input is an exact-size heap copy without a
 * NUL, so ASan catches a parser that reads past len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "hub/id.h"

/* Parses s[0..n) from an exact-size copy (no NUL after it). */
static int parse_n(const char *s, size_t n, struct id *out)
{
	char *copy = malloc(n > 0 ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	int rc = id_parse(copy, n, out);
	free(copy);
	return rc;
}

static int parse(const char *s, struct id *out)
{
	return parse_n(s, strlen(s), out);
}

static void test_format_examples(void **state)
{
	(void)state;
	char buf[ID_STR_MAX];
	struct id a = {.epoch = 0x9f3a0c12, .seq = 57};
	assert_int_equal(id_format(&a, buf), 11);
	assert_string_equal(buf, "9f3a0c12-57");
	struct id b = {.epoch = 0, .seq = 1};
	assert_int_equal(id_format(&b, buf), 10);
	assert_string_equal(buf, "00000000-1");
	struct id c = {.epoch = UINT32_MAX, .seq = INT64_MAX};
	assert_int_equal(id_format(&c, buf), 28);
	assert_string_equal(buf, "ffffffff-9223372036854775807");
}

/* Out-of-range seqs still format safely; they just never parse back. */
static void test_format_out_of_range(void **state)
{
	(void)state;
	char buf[ID_STR_MAX];
	struct id z = {.epoch = 1, .seq = 0};
	assert_int_equal(id_format(&z, buf), 10);
	assert_string_equal(buf, "00000001-0");
	struct id m = {.epoch = 1, .seq = UINT64_MAX};
	assert_int_equal(id_format(&m, buf), 29);
	assert_string_equal(buf, "00000001-18446744073709551615");
	struct id out;
	assert_int_equal(parse(buf, &out), CRIER_EINVAL);
}

static void test_round_trip(void **state)
{
	(void)state;
	static const uint64_t seqs[] = {
	        1, 9, 10, 99, 100, 12345678901234567ull, INT64_MAX - 1, INT64_MAX};
	static const uint32_t epochs[] = {0, 1, 0x9f3a0c12, 0xabcdef01, UINT32_MAX};
	for (size_t e = 0; e < sizeof(epochs) / sizeof(epochs[0]); e++) {
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			struct id in = {.epoch = epochs[e], .seq = seqs[i]}, out = {0};
			char buf[ID_STR_MAX];
			size_t n = id_format(&in, buf);
			assert_int_equal(strlen(buf), n);
			assert_int_equal(parse_n(buf, n, &out), 0);
			assert_int_equal(out.epoch, in.epoch);
			assert_int_equal(out.seq, in.seq);
			assert_int_equal(id_cmp(&in, &out), 0);
		}
	}
}

static void test_parse_boundaries(void **state)
{
	(void)state;
	struct id out;
	assert_int_equal(parse("00000000-1", &out), 0);
	assert_int_equal(out.epoch, 0);
	assert_int_equal(out.seq, 1);
	assert_int_equal(parse("ffffffff-9223372036854775807", &out), 0);
	assert_int_equal(out.epoch, UINT32_MAX);
	assert_int_equal(out.seq, (uint64_t)INT64_MAX);
	assert_int_equal(parse("0123abcd-1000000000000000000", &out), 0);
	assert_int_equal(out.epoch, 0x0123abcd);
	assert_int_equal(out.seq, 1000000000000000000ull);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "-",
	        "9f3a0c12",                      /* no dash, no seq */
	        "9f3a0c12-",                     /* no seq */
	        "9f3a0c1257",                    /* missing dash */
	        "9f3a0c12_57",                   /* wrong separator */
	        "9F3A0C12-57",                   /* uppercase hex */
	        "9f3a0C12-57",                   /* one uppercase digit */
	        "9f3a0c1-57",                    /* 7 hex digits */
	        "9f3a0c123-57",                  /* 9 hex digits */
	        "9f3a0g12-57",                   /* not hex */
	        "9f3a0c12-0",                    /* seq 0 */
	        "9f3a0c12-01",                   /* leading zero */
	        "9f3a0c12-00",                   /* zeros */
	        "9f3a0c12-9223372036854775808",  /* 2^63 */
	        "9f3a0c12-9999999999999999999",  /* 19 digits, above 2^63 */
	        "9f3a0c12-18446744073709551616", /* 2^64, 20 digits */
	        "9f3a0c12-10000000000000000000", /* 20 digits */
	        "9f3a0c12-57x",                  /* trailing junk */
	        "9f3a0c12-57-",                  /* trailing dash */
	        "9f3a0c12-57 ",                  /* trailing space */
	        " 9f3a0c12-57",                  /* leading space */
	        "9f3a0c12- 57",                  /* space before seq */
	        "9f3a0c12-+57",                  /* sign */
	        "9f3a0c12--57",                  /* negative */
	        "\t9f3a0c12-57",                 /* tab */
	        "9f3a0c12-57\n",                 /* newline */
	        "0x9f3a0c12-57",                 /* hex prefix */
	        "9f3a0c12-5a",                   /* hex seq */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct id out = {.epoch = 7, .seq = 7};
		if (parse(bad[i], &out) != CRIER_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* *out is written only on success. */
		assert_int_equal(out.epoch, 7);
		assert_int_equal(out.seq, 7);
	}
}

/* A NUL inside the length is a byte like any other, never an end. */
static void test_parse_embedded_nul(void **state)
{
	(void)state;
	struct id out;
	assert_int_equal(parse_n("9f3a0c12-57\0", 12, &out), CRIER_EINVAL);
	assert_int_equal(parse_n("9f3a0c12-5\0"
	                         "7",
	                         12, &out),
	                 CRIER_EINVAL);
	assert_int_equal(parse_n("9f3a0c12-57", 11, &out), 0);
	/* A shorter len is a shorter id, whatever follows it in memory. */
	assert_int_equal(id_parse("9f3a0c12-579", 11, &out), 0);
	assert_int_equal(out.seq, 57);
}

static void test_cmp(void **state)
{
	(void)state;
	struct id a = {.epoch = 5, .seq = 10}, b = {.epoch = 5, .seq = 11};
	struct id c = {.epoch = 6, .seq = 1}, d = {.epoch = 5, .seq = 10};
	assert_true(id_cmp(&a, &b) < 0);
	assert_true(id_cmp(&b, &a) > 0);
	assert_int_equal(id_cmp(&a, &d), 0);
	assert_int_equal(id_cmp(&a, &a), 0);
	/* Across epochs the order is by epoch only, whatever the seqs. */
	assert_true(id_cmp(&b, &c) < 0);
	assert_true(id_cmp(&c, &b) > 0);
	struct id big = {.epoch = 5, .seq = INT64_MAX}, one = {.epoch = 5, .seq = 1};
	assert_true(id_cmp(&one, &big) < 0);
	assert_true(id_cmp(&big, &one) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_examples),
	        cmocka_unit_test(test_format_out_of_range),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_parse_boundaries),
	        cmocka_unit_test(test_parse_malformed),
	        cmocka_unit_test(test_parse_embedded_nul),
	        cmocka_unit_test(test_cmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
