/*
 * test_sse_parse.c - unit tests for the event stream line parser.
 *
 * A reader drives the parser the way a client does: it keeps the
 * unconsumed tail, appends the next read and calls again until the parser
 * wants more. Every call gets an exact-size heap copy, so ASan catches a
 * read past len, and every returned slice is checked to lie inside the
 * consumed bytes. The reader renders the lines as a compact text trace
 * ("F<name>=<value>|", "C<value>|", "B|"), which keeps the expected
 * results readable; skip returns (BOM, the LF of a split CRLF) are left
 * out of the trace, so a stream fed whole and fed in pieces must give the
 * same trace. Multi-event streams are fed split at every byte boundary and
 * at every pair of boundaries, and one byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "sse/sse_parse.h"

#define TRACE_MAX 4096

/* A string literal as (const char *, length), NULs included. */
#define LIT(s) (s), sizeof(s) - 1

struct reader {
	struct sse_parser p;
	char tail[TRACE_MAX]; /* unconsumed bytes, as a client keeps them */
	size_t tail_len;
	char trace[TRACE_MAX];
	size_t trace_len;
	int64_t err; /* the first negative return, then nothing more is parsed */
};

static void trace_put(struct reader *r, const char *s, size_t n)
{
	assert_true(r->trace_len + n < sizeof(r->trace));
	memcpy(r->trace + r->trace_len, s, n);
	r->trace_len += n;
	r->trace[r->trace_len] = '\0';
}

/* Checks one line against the contract and appends it to the trace. */
static void trace_line(struct reader *r, const struct sse_line *l, const char *buf, size_t used)
{
	assert_non_null(l->name);
	assert_non_null(l->value);
	assert_true(l->name >= buf && l->name + l->name_len <= buf + used);
	assert_true(l->value >= buf && l->value + l->value_len <= buf + used);
	switch (l->kind) {
	case SSE_LINE_BLANK:
		assert_int_equal(l->name_len + l->value_len, 0);
		trace_put(r, "B|", 2);
		break;
	case SSE_LINE_COMMENT:
		assert_int_equal(l->name_len, 0);
		if (l->value == buf) {
			/* A skip return: BOM (3 bytes) or the LF of a split CRLF. */
			assert_int_equal(l->value_len, 0);
			assert_true(used == 1 || used == 3);
			break;
		}
		trace_put(r, "C", 1);
		trace_put(r, l->value, l->value_len);
		trace_put(r, "|", 1);
		break;
	case SSE_LINE_FIELD:
		trace_put(r, "F", 1);
		trace_put(r, l->name, l->name_len);
		trace_put(r, "=", 1);
		trace_put(r, l->value, l->value_len);
		trace_put(r, "|", 1);
		break;
	default:
		fail_msg("unknown kind %d", (int)l->kind);
	}
}

/* Appends one read to the tail and parses every complete line in it. */
static void reader_read(struct reader *r, const char *s, size_t n)
{
	if (r->err < 0)
		return;
	assert_true(r->tail_len + n <= sizeof(r->tail));
	memcpy(r->tail + r->tail_len, s, n);
	r->tail_len += n;
	for (;;) {
		char *copy = malloc(r->tail_len > 0 ? r->tail_len : 1);
		assert_non_null(copy);
		memcpy(copy, r->tail, r->tail_len);
		struct sse_line l;
		int64_t rc = sse_parse_line(&r->p, copy, r->tail_len, &l);
		if (rc > 0) {
			assert_true((uint64_t)rc <= r->tail_len);
			trace_line(r, &l, copy, (size_t)rc);
			memmove(r->tail, r->tail + rc, r->tail_len - (size_t)rc);
			r->tail_len -= (size_t)rc;
		}
		free(copy);
		if (rc < 0)
			r->err = rc;
		if (rc <= 0)
			return;
	}
}

/* Feeds s[0..n) cut at the given positions (ascending, inside 0..n). */
static void feed_cuts(struct reader *r, const char *s, size_t n, const size_t *cuts, size_t k)
{
	size_t at = 0;
	for (size_t i = 0; i < k; i++) {
		reader_read(r, s + at, cuts[i] - at);
		at = cuts[i];
	}
	reader_read(r, s + at, n - at);
}

static void expect_trace(const char *s, size_t n, uint32_t max_line, const char *want)
{
	struct reader r = {.p = {.max_line = max_line}};
	reader_read(&r, s, n);
	assert_int_equal(r.err, 0);
	assert_string_equal(r.trace, want);
}

static void test_line_endings(void **state)
{
	(void)state;
	expect_trace(LIT("data: a\n"), 0, "Fdata=a|");
	expect_trace(LIT("data: a\r"), 0, "Fdata=a|");
	expect_trace(LIT("data: a\r\n"), 0, "Fdata=a|");
	expect_trace(LIT("a\nb\rc\r\nd\n"), 0, "Fa=|Fb=|Fc=|Fd=|");
	expect_trace(LIT("\n\r\r\n\n"), 0, "B|B|B|B|");
	/* LF CR is two line ends, CR CR too. */
	expect_trace(LIT("x\n\ry\r\rz\n"), 0, "Fx=|B|Fy=|B|Fz=|");
	/* No terminator: nothing yet. */
	expect_trace(LIT("data: a"), 0, "");
}

/* A CR ending a read ends its line at once; the LF in the next read is skipped. */
static void test_cr_at_buffer_end(void **state)
{
	(void)state;
	struct reader r = {0};
	reader_read(&r, LIT("data: a\r"));
	assert_string_equal(r.trace, "Fdata=a|");
	assert_true(r.p.skip_lf);
	reader_read(&r, LIT("\n"));
	assert_false(r.p.skip_lf);
	reader_read(&r, LIT("\r"));
	assert_string_equal(r.trace, "Fdata=a|B|");
	/* Not a LF: the next line starts as usual and the state is cleared. */
	reader_read(&r, LIT("\rx\n"));
	assert_string_equal(r.trace, "Fdata=a|B|B|Fx=|");
	assert_false(r.p.skip_lf);
	/* Only one LF is skipped. */
	reader_read(&r, LIT("y\r"));
	reader_read(&r, LIT("\n\n"));
	assert_string_equal(r.trace, "Fdata=a|B|B|Fx=|Fy=|B|");
}

static void test_fields(void **state)
{
	(void)state;
	expect_trace(LIT("data:x\n"), 0, "Fdata=x|");
	expect_trace(LIT("data: x\n"), 0, "Fdata=x|");
	expect_trace(LIT("data:  x\n"), 0, "Fdata= x|");
	expect_trace(LIT("data:\n"), 0, "Fdata=|");
	expect_trace(LIT("data: \n"), 0, "Fdata=|");
	expect_trace(LIT("data:  \n"), 0, "Fdata= |");
	expect_trace(LIT("data\n"), 0, "Fdata=|");
	expect_trace(LIT("data x\n"), 0, "Fdata x=|");
	expect_trace(LIT("a:b:c\n"), 0, "Fa=b:c|");
	expect_trace(LIT("a: :c\n"), 0, "Fa=:c|");
	expect_trace(LIT("data:\tx\n"), 0, "Fdata=\tx|");
	expect_trace(LIT(" data: x\n"), 0, "F data=x|");
	expect_trace(LIT("event: tick\nid: 7\nretry: 10\nfoo: bar\n"), 0,
	             "Fevent=tick|Fid=7|Fretry=10|Ffoo=bar|");
	/* A NUL is an ordinary byte. */
	struct reader r = {0};
	reader_read(&r, LIT("d\0ta: \0\n"));
	assert_int_equal(r.trace_len, 8);
	assert_memory_equal(r.trace, "Fd\0ta=\0|", 8);
}

static void test_comments(void **state)
{
	(void)state;
	expect_trace(LIT(":\n"), 0, "C|");
	expect_trace(LIT(":hi\n"), 0, "Chi|");
	/* The comment value is everything after the colon, space included. */
	expect_trace(LIT(": hi\n"), 0, "C hi|");
	expect_trace(LIT("::\r\n"), 0, "C:|");
	expect_trace(LIT(":\r:\r\n:\n"), 0, "C|C|C|");
}

static void test_bom(void **state)
{
	(void)state;
	expect_trace(LIT("\xEF\xBB\xBF"
	                 "data: a\n\n"),
	             0, "Fdata=a|B|");
	/* Only one BOM, and only at the start. */
	expect_trace(LIT("\xEF\xBB\xBF\xEF\xBB\xBF"
	                 "x\n"),
	             0, "F\xEF\xBB\xBFx=|");
	expect_trace(LIT("x\n\xEF\xBB\xBFy\n"), 0, "Fx=|F\xEF\xBB\xBFy=|");
	/* Almost a BOM is an ordinary line. */
	expect_trace(LIT("\xEF\xBBx\n"), 0, "F\xEF\xBBx=|");
	expect_trace(LIT("\xEF\n"), 0, "F\xEF=|");
	expect_trace(LIT("\xEF\xBB\xBF\n"), 0, "B|");
	/* A BOM split over reads is still skipped. */
	static const char s[] = "\xEF\xBB\xBF:c\n";
	for (size_t a = 0; a <= 3; a++) {
		for (size_t b = a; b <= 3; b++) {
			struct reader r = {0};
			size_t cuts[] = {a, b};
			feed_cuts(&r, s, sizeof(s) - 1, cuts, 2);
			assert_string_equal(r.trace, "Cc|");
		}
	}
	/* A lone partial BOM waits for more bytes. */
	struct reader r = {0};
	reader_read(&r, LIT("\xEF\xBB"));
	assert_false(r.p.started);
	assert_int_equal(r.tail_len, 2);
	reader_read(&r, LIT("z\n"));
	assert_string_equal(r.trace, "F\xEF\xBBz=|");
}

static const char stream[] = "\xEF\xBB\xBF"
                             ": hello\r\n"
                             "retry: 3000\r\n"
                             "\r\n"
                             "id: 9f3a0c12-1\n"
                             "event: tick\r"
                             "data: a\r\n"
                             "data\n"
                             "data:  b\r"
                             "\r"
                             "data:x\n"
                             "\n"
                             ":\r"
                             "\n"
                             "\r";
static const char stream_trace[] = "C hello|Fretry=3000|B|Fid=9f3a0c12-1|Fevent=tick|"
                                   "Fdata=a|Fdata=|Fdata= b|B|Fdata=x|B|C|B|";

static void test_split_every_boundary(void **state)
{
	(void)state;
	size_t n = sizeof(stream) - 1;
	expect_trace(stream, n, 0, stream_trace);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct reader r = {0};
			size_t cuts[] = {a, b};
			feed_cuts(&r, stream, n, cuts, 2);
			assert_int_equal(r.err, 0);
			assert_int_equal(r.tail_len, 0);
			if (strcmp(r.trace, stream_trace) != 0)
				fail_msg("cuts %zu,%zu: %s", a, b, r.trace);
		}
	}
	struct reader r = {0};
	for (size_t i = 0; i < n; i++)
		reader_read(&r, stream + i, 1);
	assert_string_equal(r.trace, stream_trace);
}

static void test_max_line(void **state)
{
	(void)state;
	/* Exactly max_line bytes is accepted, whatever the terminator. */
	expect_trace(LIT("abcd\n"), 4, "Fabcd=|");
	expect_trace(LIT("abcd\r\n"), 4, "Fabcd=|");
	expect_trace(LIT("abc\n"), 4, "Fabc=|");
	/* Incomplete at the limit: wait; one byte over: error at once. */
	struct reader r = {.p = {.max_line = 4}};
	reader_read(&r, LIT("ab\nabcd"));
	assert_int_equal(r.err, 0);
	assert_string_equal(r.trace, "Fab=|");
	reader_read(&r, LIT("e"));
	assert_int_equal(r.err, CRIER_ERANGE);
	r = (struct reader){.p = {.max_line = 4}};
	reader_read(&r, LIT("abcde\n"));
	assert_int_equal(r.err, CRIER_ERANGE);
	/* The default is 64 KiB. */
	static char big[64 * 1024 + 2];
	memset(big, 'a', sizeof(big));
	struct sse_parser p = {0};
	struct sse_line l;
	big[64 * 1024] = '\n';
	assert_int_equal(sse_parse_line(&p, big, sizeof(big), &l), 64 * 1024 + 1);
	assert_int_equal(l.name_len, 64 * 1024);
	big[64 * 1024] = 'a';
	p = (struct sse_parser){0};
	assert_int_equal(sse_parse_line(&p, big, 64 * 1024, &l), 0);
	assert_int_equal(sse_parse_line(&p, big, sizeof(big), &l), CRIER_ERANGE);
}

static void test_empty_input(void **state)
{
	(void)state;
	struct sse_parser p = {0};
	struct sse_line l;
	assert_int_equal(sse_parse_line(&p, "", 0, &l), 0);
	assert_false(p.started);
	p.skip_lf = true;
	p.started = true;
	assert_int_equal(sse_parse_line(&p, "", 0, &l), 0);
	assert_true(p.skip_lf);
}

static void test_retry(void **state)
{
	(void)state;
	assert_int_equal(sse_parse_retry(LIT("3000")), 3000);
	assert_int_equal(sse_parse_retry(LIT("0")), 0);
	assert_int_equal(sse_parse_retry(LIT("007")), 7);
	assert_int_equal(sse_parse_retry(LIT("9223372036854775807")), INT64_MAX);
	assert_int_equal(sse_parse_retry(LIT("9223372036854775808")), INT64_MAX);
	assert_int_equal(sse_parse_retry(LIT("99999999999999999999999")), INT64_MAX);
	assert_int_equal(sse_parse_retry(LIT("")), -1);
	assert_int_equal(sse_parse_retry(LIT(" 1")), -1);
	assert_int_equal(sse_parse_retry(LIT("1 ")), -1);
	assert_int_equal(sse_parse_retry(LIT("-1")), -1);
	assert_int_equal(sse_parse_retry(LIT("+1")), -1);
	assert_int_equal(sse_parse_retry(LIT("1.5")), -1);
	assert_int_equal(sse_parse_retry(LIT("1e3")), -1);
	assert_int_equal(sse_parse_retry(LIT("\xd9\xa1")), -1); /* ARABIC-INDIC DIGIT ONE */
	/* The length is honoured. */
	assert_int_equal(sse_parse_retry("12x", 2), 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_line_endings), cmocka_unit_test(test_cr_at_buffer_end),
	        cmocka_unit_test(test_fields),       cmocka_unit_test(test_comments),
	        cmocka_unit_test(test_bom),          cmocka_unit_test(test_split_every_boundary),
	        cmocka_unit_test(test_max_line),     cmocka_unit_test(test_empty_input),
	        cmocka_unit_test(test_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
