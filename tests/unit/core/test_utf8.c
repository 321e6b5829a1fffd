/*
 * test_utf8.c - unit tests for the incremental UTF-8 validator.
 *
 * The vectors follow the sections of Markus Kuhn's UTF-8 decoder stress
 * test (boundary code points, unexpected continuations, lonely and
 * truncated sequences, impossible bytes, overlongs, surrogates), each with
 * the byte index where a one-byte-at-a-time feed must fail, or -1 when the
 * input is a valid prefix. Every vector is also fed split at every one and
 * every pair of positions: the verdict must not depend on the split, a
 * prefix must fail exactly when it contains the failing byte, and a
 * sequence cut by a split stays valid until utf8_complete is asked. An
 * exhaustive sweep of short sequences is checked against a decoder written
 * from the code point definition rather than from RFC 3629's byte table.
 * Inputs sit right before a PROT_NONE page to catch over-reads of the
 * eight-byte fast path.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS under -std=c11 */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/utf8.h"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

#define GUARD_BYTES (64 * 1024)

static uint8_t *guard_base;

static int guard_setup(void **state)
{
	(void)state;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, GUARD_BYTES + page, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m + GUARD_BYTES, page, PROT_NONE) != 0)
		return -1;
	guard_base = m;
	return 0;
}

/* Copies s[0..n) so that its last byte is the last readable byte. */
static const uint8_t *guard_place(const uint8_t *s, size_t n)
{
	assert_true(n <= GUARD_BYTES);
	uint8_t *p = guard_base + GUARD_BYTES - n;
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

/* Feeds s[0..n) in pieces cut at cuts[0..ncuts) (ascending). Returns the
 * index of the piece that failed, or -1; *complete tells the end state. */
static int feed_pieces(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts, bool *complete)
{
	struct utf8_state st;
	utf8_init(&st);
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		if (utf8_feed(&st, guard_place(s + from, to - from), to - from) < 0)
			return (int)i;
		from = to;
	}
	*complete = utf8_complete(&st);
	return -1;
}

/* Index where a one-byte-at-a-time feed fails, or -1. */
static long fail_index(const uint8_t *s, size_t n, bool *complete)
{
	struct utf8_state st;
	utf8_init(&st);
	for (size_t i = 0; i < n; i++)
		if (utf8_feed(&st, guard_place(s + i, 1), 1) < 0)
			return (long)i;
	*complete = utf8_complete(&st);
	return -1;
}

/*
 * The whole contract for one input: fail is the byte index of the first
 * impossible byte (-1 for none), complete whether a valid input ends on a
 * character boundary.
 */
static void check_vector(const uint8_t *s, size_t n, long fail, bool complete)
{
	bool c = false;
	assert_int_equal(fail_index(s, n, &c), fail);
	if (fail < 0)
		assert_int_equal(c, complete);
	assert_int_equal(utf8_valid(guard_place(s, n), n), fail < 0 && complete);

	/* every split: a piece fails iff it holds the failing byte */
	for (size_t i = 0; i <= n; i++) {
		int piece = feed_pieces(s, n, &i, 1, &c);
		if (fail < 0) {
			assert_int_equal(piece, -1);
			assert_int_equal(c, complete);
		} else {
			assert_int_equal(piece, (size_t)fail < i ? 0 : 1);
		}
		for (size_t j = i; j <= n; j++) {
			size_t cuts[2] = {i, j};
			piece = feed_pieces(s, n, cuts, 2, &c);
			int want = fail < 0 ? -1 : (size_t)fail < i ? 0 : (size_t)fail < j ? 1 : 2;
			assert_int_equal(piece, want);
			if (fail < 0)
				assert_int_equal(c, complete);
		}
	}
}

struct vec {
	const char *name;
	const uint8_t *s;
	size_t n;
	long fail;     /* byte index of the first impossible byte, -1 for none */
	bool complete; /* for fail == -1: ends on a character boundary */
};

/* One vector per line reads as a table. */
// clang-format off
#define OK(name, lit)      {name, LIT(lit), -1, true}
#define OPEN(name, lit)    {name, LIT(lit), -1, false}
#define BAD(name, lit, at) {name, LIT(lit), at, false}
// clang-format on

static const struct vec vectors[] = {
        /* 1: some correct UTF-8 text */
        OK("empty", ""),
        OK("kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
        OK("ascii", "Hello, world! 0123456789 the quick brown fox"),
        /* 2.1: first possible sequence of each length */
        OK("U+0000", "\x00"),
        OK("U+0080", "\xc2\x80"),
        OK("U+0800", "\xe0\xa0\x80"),
        OK("U+10000", "\xf0\x90\x80\x80"),
        BAD("5-byte first", "\xf8\x88\x80\x80\x80", 0),
        BAD("6-byte first", "\xfc\x84\x80\x80\x80\x80", 0),
        /* 2.2: last possible sequence of each length */
        OK("U+007F", "\x7f"),
        OK("U+07FF", "\xdf\xbf"),
        OK("U+FFFF", "\xef\xbf\xbf"),
        BAD("U+1FFFFF", "\xf7\xbf\xbf\xbf", 0),
        BAD("5-byte last", "\xfb\xbf\xbf\xbf\xbf", 0),
        BAD("6-byte last", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
        /* 2.3: other boundary conditions */
        OK("U+D7FF", "\xed\x9f\xbf"),
        OK("U+E000", "\xee\x80\x80"),
        OK("U+FFFD", "\xef\xbf\xbd"),
        OK("U+10FFFF", "\xf4\x8f\xbf\xbf"),
        BAD("U+110000", "\xf4\x90\x80\x80", 1),
        BAD("F4 90", "\xf4\x90", 1),
        BAD("a + U+110000", "a\xf4\x90\x80\x80", 2),
        /* 3.1: unexpected continuation bytes */
        BAD("first continuation", "\x80", 0),
        BAD("last continuation", "\xbf", 0),
        BAD("2 continuations", "\x80\xbf", 0),
        BAD("continuation after ascii", "abc\x80", 3),
        BAD("extra continuation", "\xc2\x80\x80", 2),
        BAD("extra continuation 4", "\xf0\x90\x80\x80\x80", 4),
        /* 3.2: lonely start characters followed by a space */
        BAD("lonely C2", "\xc2 ", 1),
        BAD("lonely E1", "\xe1 ", 1),
        BAD("lonely E1 80", "\xe1\x80 ", 2),
        BAD("lonely F1", "\xf1 ", 1),
        BAD("lonely F1 80 80", "\xf1\x80\x80 ", 3),
        /* 3.3: sequences with the last continuation byte missing */
        OPEN("truncated C2", "\xc2"),
        OPEN("truncated DF", "\xdf"),
        OPEN("truncated E1 80", "\xe1\x80"),
        OPEN("truncated EF BF", "\xef\xbf"),
        OPEN("truncated F1 80 80", "\xf1\x80\x80"),
        OPEN("truncated F4 8F BF", "\xf4\x8f\xbf"),
        OPEN("truncated E0 A0", "\xe0\xa0"),
        OPEN("truncated F0 90", "\xf0\x90"),
        OPEN("truncated ED 9F", "\xed\x9f"),
        OPEN("text then truncated", "abc\xe2\x82"),
        BAD("truncated C0", "\xc0", 0),
        BAD("truncated E0 80", "\xe0\x80", 1),
        BAD("truncated F0 80 80", "\xf0\x80\x80", 1),
        BAD("truncated F7 BF BF", "\xf7\xbf\xbf", 0),
        /* 3.4: concatenation of incomplete sequences */
        BAD("C2 then E1", "\xc2\xe1\x80", 1),
        BAD("E1 80 then F1", "\xe1\x80\xf1\x80\x80", 2),
        BAD("F1 80 80 then a",
            "\xf1\x80\x80"
            "a",
            3),
        /* 3.5: impossible bytes */
        BAD("FE", "\xfe", 0),
        BAD("FF", "\xff", 0),
        BAD("FE FE FF FF", "\xfe\xfe\xff\xff", 0),
        BAD("ascii then FF", "abcdefghij\xff", 10),
        /* 4.1: overlong '/' */
        BAD("overlong / 2", "\xc0\xaf", 0),
        BAD("overlong / 3", "\xe0\x80\xaf", 1),
        BAD("overlong / 4", "\xf0\x80\x80\xaf", 1),
        BAD("overlong / 5", "\xf8\x80\x80\x80\xaf", 0),
        BAD("overlong / 6", "\xfc\x80\x80\x80\x80\xaf", 0),
        /* 4.2: maximum overlong sequences */
        BAD("max overlong 2", "\xc1\xbf", 0),
        BAD("max overlong 3", "\xe0\x9f\xbf", 1),
        BAD("max overlong 4", "\xf0\x8f\xbf\xbf", 1),
        BAD("max overlong 5", "\xf8\x87\xbf\xbf\xbf", 0),
        BAD("max overlong 6", "\xfc\x83\xbf\xbf\xbf\xbf", 0),
        /* 4.3: overlong NUL */
        BAD("overlong NUL 2", "\xc0\x80", 0),
        BAD("overlong NUL 3", "\xe0\x80\x80", 1),
        BAD("overlong NUL 4", "\xf0\x80\x80\x80", 1),
        BAD("overlong NUL 5", "\xf8\x80\x80\x80\x80", 0),
        BAD("overlong NUL 6", "\xfc\x80\x80\x80\x80\x80", 0),
        /* 5.1: single surrogates */
        BAD("U+D800", "\xed\xa0\x80", 1),
        BAD("U+DB7F", "\xed\xad\xbf", 1),
        BAD("U+DB80", "\xed\xae\x80", 1),
        BAD("U+DBFF", "\xed\xaf\xbf", 1),
        BAD("U+DC00", "\xed\xb0\x80", 1),
        BAD("U+DF80", "\xed\xbe\x80", 1),
        BAD("U+DFFF", "\xed\xbf\xbf", 1),
        BAD("ED A0", "\xed\xa0", 1),
        BAD("text then U+D800", "ab\xed\xa0\x80", 3),
        /* 5.2: paired surrogates (CESU-8) */
        BAD("U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
        BAD("U+DB7F U+DFFF", "\xed\xad\xbf\xed\xbf\xbf", 1),
        BAD("U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
        /* 5.3: noncharacters are valid UTF-8 */
        OK("U+FFFE", "\xef\xbf\xbe"),
        OK("U+FDD0", "\xef\xb7\x90"),
        OK("U+10FFFE", "\xf4\x8f\xbf\xbe"),
        /* beyond U+10FFFF */
        BAD("F5", "\xf5\x80\x80\x80", 0),
        BAD("F7 BF BF BF", "\xf7\xbf\xbf\xbf", 0),
        /* fast path: multi-byte characters straddling 8-byte words */
        OK("straddle 2", "abcdefg\xc3\xa9xyzabcdefgh"),
        OK("straddle 3", "abcdef\xe2\x82\xac"
                         "abcdefgh\xe2\x82\xac"),
        OK("straddle 4", "abcde\xf0\x9f\x98\x80"
                         "abcdefghijklmnop\xf0\x9f\x98\x80"),
        BAD("straddle surrogate",
            "abcdefg\xed\xa0\x80"
            "abcdefgh",
            8),
        OPEN("straddle open", "abcdefghijklmno\xf0\x9f\x98"),
};
#undef OK
#undef OPEN
#undef BAD

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		print_message("%s\n", v->name);
		check_vector(v->s, v->n, v->fail, v->complete);
	}
}

/* The fail-fast examples from the contract, one byte at a time. */
static void test_fail_fast_position(void **state)
{
	(void)state;
	bool c;
	assert_int_equal(fail_index(LIT("\xf4\x90"), &c), 1);
	assert_int_equal(fail_index(LIT("\xed\xa0"), &c), 1);
	assert_int_equal(fail_index(LIT("\xe0\x80"), &c), 1);
	assert_int_equal(fail_index(LIT("\xf0\x8f"), &c), 1);
	assert_int_equal(fail_index(LIT("\xc1"), &c), 0);
}

/* Section 3.1/3.2 in full: every continuation byte alone, and every lead
 * byte followed by a space. */
static void test_lonely_bytes(void **state)
{
	(void)state;
	for (unsigned b = 0x80; b <= 0xbf; b++) {
		uint8_t s[2] = {(uint8_t)b, ' '};
		check_vector(s, 2, 0, false);
	}
	for (unsigned b = 0xc0; b <= 0xff; b++) {
		uint8_t s[2] = {(uint8_t)b, ' '};
		bool lead = b >= 0xc2 && b <= 0xf4;
		check_vector(s, 2, lead ? 1 : 0, false);
		check_vector(s, 1, lead ? -1 : 0, false);
	}
}

/* The ASCII fast path reports the exact byte: one bad byte at every
 * position of a long ASCII run. */
static void test_ascii_run_positions(void **state)
{
	(void)state;
	uint8_t s[70];
	for (size_t k = 0; k < sizeof(s); k++) {
		memset(s, 'a', sizeof(s));
		s[k] = 0x80;
		check_vector(s, sizeof(s), (long)k, false);
		memset(s, 'a', sizeof(s));
		check_vector(s, k, -1, true);
	}
	/* a multi-byte character at every offset of a long run */
	for (size_t k = 0; k + 4 <= sizeof(s); k++) {
		memset(s, 'z', sizeof(s));
		memcpy(s + k, "\xf0\x9f\x98\x80", 4);
		assert_true(utf8_valid(guard_place(s, sizeof(s)), sizeof(s)));
		memcpy(s + k, "\xf0\x8f\x98\x80", 4);
		assert_false(utf8_valid(guard_place(s, sizeof(s)), sizeof(s)));
	}
}

/* A truncated sequence at the end of one fragment is completed by the
 * next; the message is only known bad when it ends open. */
static void test_across_fragments(void **state)
{
	(void)state;
	struct utf8_state st;
	utf8_init(&st);
	assert_int_equal(utf8_feed(&st, LIT("price: \xe2")), 0);
	assert_false(utf8_complete(&st));
	assert_int_equal(utf8_feed(&st, LIT("\x82")), 0);
	assert_false(utf8_complete(&st));
	assert_int_equal(utf8_feed(&st, LIT("\xac")), 0);
	assert_true(utf8_complete(&st));
	assert_int_equal(utf8_feed(&st, LIT("\xf0\x9f")), 0);
	assert_false(utf8_complete(&st)); /* message ends here: 1007 */
	assert_int_equal(utf8_feed(&st, LIT("")), 0);
	assert_int_equal(utf8_feed(&st, LIT("a")), -1);

	utf8_init(&st);
	assert_int_equal(utf8_feed(&st, LIT("\xed")), 0);
	assert_int_equal(utf8_feed(&st, LIT("\xa0")), -1);
}

/*
 * Reference: decodes by the code point definition (Unicode §3.9 D92)
 * rather than by RFC 3629's byte table, so both can be wrong only in the
 * same way by accident.
 */
static bool ref_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		size_t len = b < 0x80           ? 1
		             : (b >> 5) == 0x6  ? 2
		             : (b >> 4) == 0xe  ? 3
		             : (b >> 3) == 0x1e ? 4
		                                : 0;
		if (len == 0 || i + len > n)
			return false;
		uint32_t cp = len == 1 ? b : (uint32_t)(b & (0x7f >> len));
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Every 1-, 2- and 3-byte input, and every 4-byte input with a 4-byte
 * lead, against the reference. */
static void test_exhaustive_short(void **state)
{
	(void)state;
	uint8_t s[4];
	for (uint32_t x = 0; x < (1u << 24); x++) {
		s[0] = (uint8_t)(x >> 16);
		s[1] = (uint8_t)(x >> 8);
		s[2] = (uint8_t)x;
		if (x < 256)
			assert_int_equal(utf8_valid(s + 2, 1), ref_valid(s + 2, 1));
		if (x < 65536)
			assert_int_equal(utf8_valid(s + 1, 2), ref_valid(s + 1, 2));
		if (utf8_valid(s, 3) != ref_valid(s, 3))
			fail_msg("3-byte %06x", (unsigned)x);
	}
	for (uint32_t x = 0; x < (1u << 24); x++) {
		/* leads F0..F7, every second and third byte, 32 spread last bytes */
		s[0] = (uint8_t)(0xf0 + (x >> 21 & 0x7));
		s[1] = (uint8_t)(x >> 13);
		s[2] = (uint8_t)(x >> 5);
		s[3] = (uint8_t)((x & 0x1f) << 3 | (x >> 5 & 0x7));
		if (utf8_valid(s, 4) != ref_valid(s, 4))
			fail_msg("4-byte %02x %02x %02x %02x", s[0], s[1], s[2], s[3]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_vectors),          cmocka_unit_test(test_fail_fast_position),
	        cmocka_unit_test(test_lonely_bytes),     cmocka_unit_test(test_ascii_run_positions),
	        cmocka_unit_test(test_across_fragments), cmocka_unit_test(test_exhaustive_short),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
