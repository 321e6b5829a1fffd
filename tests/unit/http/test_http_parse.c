/*
 * test_http_parse.c - unit tests for the request-head parser and the
 * chunked decoder.
 *
 * Every input is copied to the very end of a mapping whose next page is
 * PROT_NONE (as picohttpparser's tests do), so reading one byte past the
 * caller's length crashes the test instead of passing by luck. Beyond the
 * field-by-field checks, every vector is also fed in every possible split:
 * a prefix must answer "need more" or exactly the answer for the whole
 * input, which is the property that makes the restartable parser safe to
 * drive from a socket that delivers bytes in arbitrary pieces.
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

#include "core/err.h"
#include "http/http_parse.h"

/* A string literal and its length, NULs included. */
#define LIT(s) s, sizeof(s) - 1

#define GUARD_BYTES (64 * 1024)
#define MAX_FIELDS  32

static char *guard_base;

/* Maps GUARD_BYTES of read-write memory followed by one PROT_NONE page. */
static int guard_setup(void **state)
{
	(void)state;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, GUARD_BYTES + page, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m + GUARD_BYTES, page, PROT_NONE) != 0)
		return -1;
	guard_base = m;
	return 0;
}

/* Copies s[0..n) so that its last byte is the last readable byte. */
static const char *guard_place(const char *s, size_t n)
{
	assert_true(n <= GUARD_BYTES);
	char *p = guard_base + GUARD_BYTES - n;
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

static int64_t parse_at(const char *s, size_t n, size_t last_len, const struct http_limits *lim,
                        struct http_request *req, struct http_header *fields, size_t cap)
{
	*req = (struct http_request){.headers = fields, .headers_cap = cap};
	return http_parse_request(guard_place(s, n), n, last_len, lim, req);
}

static bool slice_is(const char *p, size_t n, const char *want)
{
	return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define assert_slice(p, n, want)                                                \
	do {                                                                    \
		if (!slice_is(p, n, want))                                      \
			fail_msg("%s: got \"%.*s\", want \"%s\"", #p, (int)(n), \
			         (p) ? (p) : "(null)", want);                   \
	} while (0)

/* ---- rejections ------------------------------------------------------- */

struct reject {
	const char *in;
	size_t len;
	int code;
	size_t max_head, max_target, cap;
};

#define H11  "GET / HTTP/1.1\r\n"
#define HOST "Host: h\r\n"
// clang-format off
#define R(s, c)                  {LIT(s), (c), 0, 0, 0}
#define RL(s, c, mh, mt, cap)    {LIT(s), (c), (mh), (mt), (cap)}
// clang-format on

static const struct reject rejects[] = {
        /* leading empty lines */
        R("\r\n\r\n\r\n\r\n\r\n" H11 HOST "\r\n", CRIER_EBADREQ),
        R("\r\n\r\n\r\n\r\n\n", CRIER_EBADREQ),
        R("\nGET / HTTP/1.1\r\n" HOST "\r\n", CRIER_EBARE_LF),
        R("\r\r\nGET / HTTP/1.1\r\n" HOST "\r\n", CRIER_EBARE_CR),
        /* request line */
        R("GET  / HTTP/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R(" GET / HTTP/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET / HTTP/1.1 \r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET /  HTTP/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET\t/ HTTP/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GE(T / HTTP/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET / HTTP/1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET / http/1.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET / HTTP/11.1\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET / HTTP/1.x\r\n" HOST "\r\n", CRIER_EREQLINE),
        R("GET /\r\n\r\n", CRIER_EREQLINE),
        R("GET\r\n\r\n", CRIER_EREQLINE),
        R("GET / HTTP/1.1\n" HOST "\r\n", CRIER_EBARE_LF),
        R("GET / HTTP/1.1\rHost: h\r\n\r\n", CRIER_EBARE_CR),
        R("GET /a\nb HTTP/1.1\r\n\r\n", CRIER_EBARE_LF),
        R("GET /a\rb HTTP/1.1\r\n\r\n", CRIER_EBARE_CR),
        R("GET / HTTP/2.0\r\n" HOST "\r\n", CRIER_EVERSION),
        R("GET / HTTP/1.2\r\n" HOST "\r\n", CRIER_EVERSION),
        R("GET / HTTP/0.9\r\n" HOST "\r\n", CRIER_EVERSION),
        R("GET / HTTP/3.0\r\n" HOST "\r\n", CRIER_EVERSION),
        R("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CRIER_EH2_PREFACE),
        R("PRI * HTTP/2.0\r\n", CRIER_EH2_PREFACE),
        /* request target */
        R("GET /a\x01z HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET /a\tb HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET /\x80 HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET /\x7f HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET /a#frag HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("CONNECT example.com:443 HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET * HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET ftp://a/ HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET http:///x HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET http://u@h/ HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET http:/x HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        R("GET index.html HTTP/1.1\r\n" HOST "\r\n", CRIER_ETARGET),
        RL("GET /123456789 HTTP/1.1\r\n" HOST "\r\n", CRIER_EURI_TOO_LONG, 0, 8, 0),
        RL("GET /12345678", CRIER_EURI_TOO_LONG, 0, 8, 0),
        /* size limits */
        RL(H11 HOST "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
           CRIER_EHEAD_TOO_LARGE, 64, 0, 0),
        RL(H11 HOST "X: 0123456789012345678901234567890123\r\n\r", CRIER_EHEAD_TOO_LARGE, 64, 0, 0),
        RL("GET /0123456789", CRIER_EHEAD_TOO_LARGE, 8, 0, 0),
        RL(H11 HOST "A: 1\r\nB: 2\r\n\r\n", CRIER_ETOO_MANY_HEADERS, 0, 0, 2),
        RL(H11 "\r\n", CRIER_ENO_HOST, 0, 0, 1),
        /* field lines */
        R(H11 "Ho(st: h\r\n\r\n", CRIER_EHDR_NAME),
        R(H11 ": h\r\n\r\n", CRIER_EHDR_NAME),
        R(H11 "Host\r\n\r\n", CRIER_EHDR_NAME),
        R(H11 "H\xc3\xb6st: h\r\n\r\n", CRIER_EHDR_NAME),
        R(H11 "Ho st: h\r\n\r\n", CRIER_EHDR_NAME),
        R(H11 "Host : h\r\n\r\n", CRIER_EHDR_SPACE),
        R(H11 "Host\t: h\r\n\r\n", CRIER_EHDR_SPACE),
        R(H11 HOST "X: a\r\n b\r\n\r\n", CRIER_EOBS_FOLD),
        R(H11 "\tX: y\r\n" HOST "\r\n", CRIER_EOBS_FOLD),
        R(H11 " Host: h\r\n\r\n", CRIER_EOBS_FOLD),
        R(H11 HOST "X: a\x00z\r\n\r\n", CRIER_ECTL_CHAR),
        R(H11 HOST "X: a\x7fz\r\n\r\n", CRIER_ECTL_CHAR),
        R(H11 HOST "X: \x01\r\n\r\n", CRIER_ECTL_CHAR),
        R(H11 HOST "X: a\x1b[0m\r\n\r\n", CRIER_ECTL_CHAR),
        R(H11 HOST "X: a\rb\r\n\r\n", CRIER_EBARE_CR),
        R(H11 HOST "X: a\r\r\n\r\n", CRIER_EBARE_CR),
        R(H11 HOST "X: a\n\r\n", CRIER_EBARE_LF),
        R(H11 HOST "X: a\r\n\n", CRIER_EBARE_LF),
        R(H11 HOST "\n", CRIER_EBARE_LF),
        R(H11 HOST "\r\r\n", CRIER_EBARE_CR),
        /* Host */
        R(H11 "X: y\r\n\r\n", CRIER_ENO_HOST),
        R(H11 HOST "host: h2\r\n\r\n", CRIER_EDUP_HOST),
        R("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", CRIER_EDUP_HOST),
        R(H11 "Host: a b\r\n\r\n", CRIER_EHOST_BAD),
        R(H11 "Host: user@h\r\n\r\n", CRIER_EHOST_BAD),
        R(H11 "Host: h/x\r\n\r\n", CRIER_EHOST_BAD),
        R(H11 "Host: h\x80\r\n\r\n", CRIER_EHOST_BAD),
        R("GET / HTTP/1.0\r\nHost: \"h\"\r\n\r\n", CRIER_EHOST_BAD),
        /* Content-Length and Transfer-Encoding: the smuggling vectors */
        R(H11 HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", CRIER_ECL_TE),
        R(H11 HOST "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", CRIER_ECL_TE),
        R(H11 HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", CRIER_ECL_DUP),
        R(H11 HOST "Content-Length: 5, 6\r\n\r\n", CRIER_ECL_DUP),
        R(H11 HOST "Content-Length: 5,5\r\nContent-Length: 05\r\nContent-Length: 4\r\n\r\n",
          CRIER_ECL_DUP),
        R(H11 HOST "Content-Length: +5\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: -1\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 5a\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 0x5\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length:\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 1 2\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 5,\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: ,5\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 5,,5\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 00000000000000000001\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 9223372036854775808\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Content-Length: 99999999999999999999\r\n\r\n", CRIER_ECL_BAD),
        R(H11 HOST "Transfer-Encoding: gzip, chunked\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
          CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: identity\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding:\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: chunked;x\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: chunked,\r\n\r\n", CRIER_ETE_BAD),
        R(H11 HOST "Transfer-Encoding: xchunked\r\n\r\n", CRIER_ETE_BAD),
        R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", CRIER_ETE_HTTP10),
        /* Expect */
        R(H11 HOST "Expect: 100-continue-x\r\n\r\n", CRIER_EEXPECT),
        R(H11 HOST "Expect: 100-continue, foo\r\n\r\n", CRIER_EEXPECT),
        R(H11 HOST "Expect:\r\n\r\n", CRIER_EEXPECT),
};

/* Asserts the code for the whole input, then that every prefix answers
 * "need more" or that same code (growing last_len as a socket would). */
static void check_reject(const struct reject *r, size_t idx)
{
	struct http_limits lim = {.max_head_bytes = r->max_head, .max_target_bytes = r->max_target};
	struct http_header fields[MAX_FIELDS];
	struct http_request req;
	size_t cap = r->cap ? r->cap : MAX_FIELDS;
	int64_t got = parse_at(r->in, r->len, 0, &lim, &req, fields, cap);
	if (got != r->code)
		fail_msg("reject[%zu] \"%.*s\": got %lld (%s), want %s", idx, (int)r->len, r->in,
		         (long long)got, err_label((int)got), err_label(r->code));
	size_t last = 0;
	for (size_t k = 0; k <= r->len; k++) {
		int64_t p = parse_at(r->in, k, 0, &lim, &req, fields, cap);
		int64_t q = parse_at(r->in, k, last, &lim, &req, fields, cap);
		if ((p != 0 && p != r->code) || p != q)
			fail_msg("reject[%zu] prefix %zu: got %lld/%lld, want 0 or %s", idx, k,
			         (long long)p, (long long)q, err_label(r->code));
		if (q != 0)
			break;
		last = k;
	}
}

static void test_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++)
		check_reject(&rejects[i], i);
}

/* ---- valid requests ---------------------------------------------------- */

static struct http_header fields_buf[MAX_FIELDS];

/* Parses s whole and asserts it is one head of the expected length. */
static struct http_request parse_ok(const char *s, size_t n, size_t head_len)
{
	struct http_request req;
	int64_t got = parse_at(s, n, 0, NULL, &req, fields_buf, MAX_FIELDS);
	if (got != (int64_t)head_len)
		fail_msg("\"%.*s\": got %lld (%s), want %zu", (int)n, s, (long long)got,
		         err_label((int)got), head_len);
	return req;
}

static void test_simple_get(void **state)
{
	(void)state;
	static const char in[] = "GET /index.html?x=1&y HTTP/1.1\r\nHost: example.com\r\n"
	                         "User-Agent: t/1\r\nAccept: */*\r\n\r\n";
	struct http_request r = parse_ok(LIT(in), sizeof(in) - 1);
	assert_slice(r.method, r.method_len, "GET");
	assert_int_equal(r.method_id, HTTP_M_GET);
	assert_slice(r.target, r.target_len, "/index.html?x=1&y");
	assert_slice(r.path, r.path_len, "/index.html");
	assert_slice(r.query, r.query_len, "x=1&y");
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.headers_len, 3);
	assert_slice(r.headers[0].name, r.headers[0].name_len, "Host");
	assert_slice(r.headers[0].value, r.headers[0].value_len, "example.com");
	assert_slice(r.headers[1].name, r.headers[1].name_len, "User-Agent");
	assert_slice(r.headers[1].value, r.headers[1].value_len, "t/1");
	assert_slice(r.headers[2].value, r.headers[2].value_len, "*/*");
	assert_int_equal(r.body_kind, HTTP_BODY_NONE);
	assert_int_equal(r.content_length, 0);
	assert_true(r.keep_alive);
	assert_false(r.conn_upgrade);
	assert_false(r.expect_continue);
	assert_slice(r.host, r.host_len, "example.com");
}

static void test_post_content_length(void **state)
{
	(void)state;
	static const char in[] = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	                         "Expect: 100-Continue\r\n\r\nhello";
	struct http_request r = parse_ok(LIT(in), sizeof(in) - 1 - 5);
	assert_int_equal(r.method_id, HTTP_M_POST);
	assert_slice(r.path, r.path_len, "/p");
	assert_null(r.query);
	assert_int_equal(r.body_kind, HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 5);
	assert_true(r.expect_continue);
	assert_true(r.keep_alive);
}

static void test_chunked_close(void **state)
{
	(void)state;
	static const char in[] = "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  Chunked \t\r\n"
	                         "Connection: close\r\n\r\n";
	struct http_request r = parse_ok(LIT(in), sizeof(in) - 1);
	assert_int_equal(r.method_id, HTTP_M_PUT);
	assert_int_equal(r.body_kind, HTTP_BODY_CHUNKED);
	assert_false(r.keep_alive);
	assert_slice(r.headers[1].value, r.headers[1].value_len, "Chunked");
}

static void test_http10(void **state)
{
	(void)state;
	static const char plain[] = "GET / HTTP/1.0\r\n\r\n";
	struct http_request r = parse_ok(LIT(plain), sizeof(plain) - 1);
	assert_int_equal(r.minor_version, 0);
	assert_false(r.keep_alive);
	assert_null(r.host);
	assert_int_equal(r.headers_len, 0);
	assert_slice(r.path, r.path_len, "/");

	static const char ka[] = "HEAD /x HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	                         "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n";
	r = parse_ok(LIT(ka), sizeof(ka) - 1);
	assert_int_equal(r.method_id, HTTP_M_HEAD);
	assert_true(r.keep_alive);
	assert_false(r.expect_continue); /* ignored for 1.0, RFC 9110 §10.1.1 */
	assert_int_equal(r.body_kind, HTTP_BODY_NONE);

	static const char both[] = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n";
	r = parse_ok(LIT(both), sizeof(both) - 1);
	assert_false(r.keep_alive);
}

static void test_upgrade(void **state)
{
	(void)state;
	static const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
	                         "Connection: , Upgrade ,\r\nUpgrade: websocket\r\n\r\n";
	struct http_request r = parse_ok(LIT(in), sizeof(in) - 1);
	assert_true(r.conn_upgrade);
	assert_true(r.keep_alive);
	assert_int_equal(r.headers_len, 4);
}

static void test_target_forms(void **state)
{
	(void)state;
	static const char star[] = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_request r = parse_ok(LIT(star), sizeof(star) - 1);
	assert_int_equal(r.method_id, HTTP_M_OPTIONS);
	assert_slice(r.path, r.path_len, "*");
	assert_null(r.query);

	static const char abs[] =
	        "GET HTTP://example.com:8080/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n";
	r = parse_ok(LIT(abs), sizeof(abs) - 1);
	assert_slice(r.target, r.target_len, "HTTP://example.com:8080/a/b?c");
	assert_slice(r.path, r.path_len, "/a/b");
	assert_slice(r.query, r.query_len, "c");
	assert_slice(r.host, r.host_len, "example.com:8080"); /* RFC 9112 §3.2.2 */

	static const char bare[] = "OPTIONS https://[::1]?q HTTP/1.1\r\nHost: x\r\n\r\n";
	r = parse_ok(LIT(bare), sizeof(bare) - 1);
	assert_slice(r.path, r.path_len, "/");
	assert_slice(r.query, r.query_len, "q");
	assert_slice(r.host, r.host_len, "[::1]");

	static const char empty_q[] = "GET /? HTTP/1.1\r\nHost: h\r\n\r\n";
	r = parse_ok(LIT(empty_q), sizeof(empty_q) - 1);
	assert_slice(r.path, r.path_len, "/");
	assert_non_null(r.query);
	assert_int_equal(r.query_len, 0);

	static const char odd[] = "GET /a/%7e?b=\"{|}\"&c=/? HTTP/1.1\r\nHost: h\r\n\r\n";
	r = parse_ok(LIT(odd), sizeof(odd) - 1);
	assert_slice(r.query, r.query_len, "b=\"{|}\"&c=/?");
}

static void test_methods(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum http_method id;
	} cases[] = {
	        {"GET", HTTP_M_GET},      {"HEAD", HTTP_M_HEAD},        {"POST", HTTP_M_POST},
	        {"PUT", HTTP_M_PUT},      {"DELETE", HTTP_M_DELETE},    {"OPTIONS", HTTP_M_OPTIONS},
	        {"PATCH", HTTP_M_PATCH},  {"BREW", HTTP_M_UNKNOWN},     {"get", HTTP_M_UNKNOWN},
	        {"GETS", HTTP_M_UNKNOWN}, {"M-SEARCH", HTTP_M_UNKNOWN}, {"GE", HTTP_M_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char in[128];
		int n = snprintf(in, sizeof(in), "%s /pot HTTP/1.1\r\nHost: h\r\n\r\n",
		                 cases[i].line);
		struct http_request r = parse_ok(in, (size_t)n, (size_t)n);
		assert_slice(r.method, r.method_len, cases[i].line);
		assert_int_equal(r.method_id, cases[i].id);
	}
}

static void test_fields_and_lists(void **state)
{
	(void)state;
	static const char in[] =
	        "\r\n\r\n\r\n\r\nPOST / HTTP/1.1\r\nhost:\r\nX-A: \t v\x80 al \t\r\n"
	        "X-E:\r\ncontent-length: 5, 5\r\nContent-Length:5\r\n\r\n";
	struct http_request r = parse_ok(LIT(in), sizeof(in) - 1);
	assert_slice(r.method, r.method_len, "POST");
	assert_slice(r.host, r.host_len, "");
	assert_slice(r.headers[1].value, r.headers[1].value_len, "v\x80 al");
	assert_slice(r.headers[2].name, r.headers[2].name_len, "X-E");
	assert_int_equal(r.headers[2].value_len, 0);
	assert_int_equal(r.body_kind, HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 5);

	const struct http_header *h = http_find_header(&r, "CONTENT-length");
	assert_ptr_equal(h, &r.headers[3]);
	assert_null(http_find_header(&r, "content-len"));
	assert_null(http_find_header(&r, "content-lengths"));

	assert_true(http_list_has_token(LIT("a, Close ,b"), "close"));
	assert_true(http_list_has_token(LIT("close"), "close"));
	assert_true(http_list_has_token(LIT(",,\tclose\t,"), "close"));
	assert_false(http_list_has_token(LIT("closed, xclose"), "close"));
	assert_false(http_list_has_token(LIT(""), "close"));
	assert_false(http_list_has_token(LIT("clo se"), "close"));

	static const char max[] = "POST / HTTP/1.1\r\nHost: h\r\n"
	                          "Content-Length: 9223372036854775807\r\n\r\n";
	r = parse_ok(LIT(max), sizeof(max) - 1);
	assert_int_equal(r.content_length, INT64_MAX);
	static const char zero[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n";
	r = parse_ok(LIT(zero), sizeof(zero) - 1);
	assert_int_equal(r.body_kind, HTTP_BODY_NONE);
	assert_int_equal(r.content_length, 0);
}

static void test_limits_exact(void **state)
{
	(void)state;
	static const char in[] = "GET /1234567 HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_limits lim = {.max_head_bytes = sizeof(in) - 1, .max_target_bytes = 8};
	struct http_request req;
	struct http_header f[1];
	assert_int_equal(parse_at(LIT(in), 0, &lim, &req, f, 1), sizeof(in) - 1);
	assert_slice(req.target, req.target_len, "/1234567");
	lim.max_head_bytes--;
	assert_int_equal(parse_at(LIT(in), 0, &lim, &req, f, 1), CRIER_EHEAD_TOO_LARGE);
	lim = (struct http_limits){.max_target_bytes = 7};
	assert_int_equal(parse_at(LIT(in), 0, &lim, &req, f, 1), CRIER_EURI_TOO_LONG);
	/* a last_len past the end is ignored rather than trusted */
	assert_int_equal(parse_at(LIT(in), sizeof(in) + 100, NULL, &req, f, 1), sizeof(in) - 1);
	/* headers_cap 0 is fine for a request with no fields */
	static const char none[] = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(parse_at(LIT(none), 0, NULL, &req, NULL, 0), sizeof(none) - 1);
}

static void test_pipelined(void **state)
{
	(void)state;
	static const char in[] =
	        "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t first = (sizeof(in) - 1) / 2;
	struct http_request r = parse_ok(LIT(in), first);
	assert_slice(r.path, r.path_len, "/a");
	r = parse_ok(in + first, sizeof(in) - 1 - first, sizeof(in) - 1 - first);
	assert_slice(r.path, r.path_len, "/b");
}

/* ---- every byte value in every position --------------------------------- */

/* Expected code for byte c inside a request (0: the whole head parses),
 * given whether the position accepts it and what it is refused as. */
static int64_t expect_byte(unsigned c, bool ok, int64_t other)
{
	if (c == '\r')
		return CRIER_EBARE_CR;
	if (c == '\n')
		return CRIER_EBARE_LF;
	return ok ? 0 : other;
}

static void check_byte(const char *tmpl, unsigned c, int64_t want)
{
	char in[128];
	size_t n = strlen(tmpl);
	memcpy(in, tmpl, n);
	*strchr(in, '@') = (char)c;
	struct http_request req;
	struct http_header f[8];
	int64_t got = parse_at(in, n, 0, NULL, &req, f, 8);
	if (want == 0)
		want = (int64_t)n;
	if (got != want)
		fail_msg("byte 0x%02x in \"%s\": got %lld (%s), want %lld (%s)", c, tmpl,
		         (long long)got, err_label((int)got), (long long)want,
		         err_label((int)want));
}

static void test_every_byte(void **state)
{
	(void)state;
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	static const char host_extra[] = "-._~!$&'()*+,;=:[]%";
	static const char m[] = "G@T / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char t[] = "GET /a@b HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char name[] = "GET / HTTP/1.1\r\nHost: h\r\nX@y: v\r\n\r\n";
	static const char val[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a@b\r\n\r\n";
	static const char host[] = "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n";
	for (unsigned c = 0; c < 256; c++) {
		bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
		bool tok = alnum || (c != 0 && strchr(tchar, (int)c) != NULL);
		bool vchar = c >= 0x21 && c <= 0x7e;
		bool fval = vchar || c >= 0x80 || c == ' ' || c == '\t';
		bool hostc = alnum || (c != 0 && strchr(host_extra, (int)c) != NULL);
		/* SP in the method or target makes one word too many */
		int64_t sp = c == ' ' ? CRIER_EREQLINE : 0;
		check_byte(m, c, sp ? sp : expect_byte(c, tok, CRIER_EREQLINE));
		check_byte(t, c, sp ? sp : expect_byte(c, vchar && c != '#', CRIER_ETARGET));
		/* a colon inside the name just ends it early */
		check_byte(name, c, expect_byte(c, tok || c == ':', CRIER_EHDR_NAME));
		check_byte(val, c, expect_byte(c, fval, CRIER_ECTL_CHAR));
		int64_t bad_host = fval ? CRIER_EHOST_BAD : CRIER_ECTL_CHAR;
		check_byte(host, c, expect_byte(c, hostc, bad_host));
	}
}

/* ---- every split of every valid request -------------------------------- */

static const struct {
	const char *in;
	size_t len;
} valid[] = {
        {LIT("GET / HTTP/1.0\r\n\r\n")},
        {LIT("GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")},
        {LIT("\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n"
             "Expect: 100-continue\r\n\r\nhello")},
        {LIT("PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
             "\r\n5\r\nhello\r\n0\r\n\r\n")},
        {LIT("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")},
        {LIT("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")},
        {LIT("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /y HTTP/1.1\r\n"
             "Host: h\r\n\r\n")},
        {LIT("OPTIONS http://example.com HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Obs: "
             "\xff\xfe\r\n\r\n")},
        {LIT("BREW /pot?milk HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")},
};

/* Renders every output of a call as text so two calls compare in one
 * strcmp; in-buffer slices carry their offset so a slice into the wrong
 * bytes is caught even when the bytes happen to match. */
static void describe(const char *buf, size_t len, int64_t ret, const struct http_request *r,
                     char *out, size_t cap)
{
#define SL(p, n) \
	(int)((p) && (p) >= buf && (p) <= buf + len ? (p)-buf : -1), (int)(n), (p) ? (p) : "(null)"
	int n = snprintf(out, cap, "ret=%lld", (long long)ret);
	if (ret <= 0)
		return;
	n += snprintf(out + n, cap - (size_t)n,
	              " m=%d:%.*s id=%d t=%d:%.*s p=%d:%.*s q=%d:%.*s v=%d body=%d cl=%llu ka=%d "
	              "up=%d ec=%d host=%d:%.*s",
	              SL(r->method, r->method_len), (int)r->method_id, SL(r->target, r->target_len),
	              SL(r->path, r->path_len), SL(r->query, r->query_len), r->minor_version,
	              (int)r->body_kind, (unsigned long long)r->content_length, r->keep_alive,
	              r->conn_upgrade, r->expect_continue, SL(r->host, r->host_len));
	for (size_t i = 0; i < r->headers_len && (size_t)n < cap; i++) {
		const struct http_header *h = &r->headers[i];
		n += snprintf(out + n, cap - (size_t)n, " [%d:%.*s|%d:%.*s]",
		              SL(h->name, h->name_len), SL(h->value, h->value_len));
	}
#undef SL
}

static void call_and_describe(const char *in, size_t n, size_t last_len, char *out, size_t cap)
{
	struct http_header f[MAX_FIELDS];
	struct http_request req;
	int64_t ret = parse_at(in, n, last_len, NULL, &req, f, MAX_FIELDS);
	describe(guard_base + GUARD_BYTES - n, n, ret, &req, out, cap);
}

static void check_splits(const char *in, size_t len)
{
	char want[2048], got[2048];
	call_and_describe(in, len, 0, want, sizeof(want));
	assert_true(strncmp(want, "ret=0", 5) != 0 && strncmp(want, "ret=-", 5) != 0);
	for (size_t k = 0; k < len; k++) {
		/* a prefix answers "need more" or, once it holds the whole head,
		 * the same answer (offsets are relative to each copy's start) */
		call_and_describe(in, k, 0, got, sizeof(got));
		if (strcmp(got, "ret=0") == 0)
			call_and_describe(in, len, k, got, sizeof(got));
		if (strcmp(got, want) != 0)
			fail_msg("split at %zu of \"%.*s\":\n got %s\nwant %s", k, (int)len, in,
			         got, want);
	}
	/* byte by byte with a growing last_len, as a slow socket delivers */
	size_t last = 0;
	for (size_t k = 1; k <= len; k++) {
		call_and_describe(in, k, last, got, sizeof(got));
		if (strcmp(got, "ret=0") != 0) {
			call_and_describe(in, len, last, got, sizeof(got));
			assert_string_equal(got, want);
			return;
		}
		last = k;
	}
	fail_msg("never completed: %.*s", (int)len, in);
}

static void test_valid_splits(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_splits(valid[i].in, valid[i].len);
}

/* ---- chunked decoder ----------------------------------------------------- */

struct dechunk {
	int64_t rc;      /* 0 when done, else the error (or 1: input ran out) */
	size_t consumed; /* bytes of input consumed in all */
	char data[16384];
	size_t data_len;
};

/* Feeds in[0..len) in pieces of `step` bytes (0: all at once), each piece
 * placed before the guard page, and reassembles the data. */
static struct dechunk *dechunk(const char *in, size_t len, size_t step, uint64_t max_body)
{
	static struct dechunk out;
	struct http_chunked st = {0};
	out = (struct dechunk){.rc = 1};
	size_t off = 0;
	while (off < len && !st.done) {
		size_t piece = step == 0 || len - off < step ? len - off : step;
		const char *p = guard_place(in + off, piece);
		size_t used = 0;
		while (used < piece && !st.done) {
			const char *d = NULL;
			size_t dn = 0;
			int64_t rc =
			        http_chunked_decode(&st, p + used, piece - used, max_body, &d, &dn);
			if (rc < 0) {
				out.rc = rc;
				return &out;
			}
			assert_true(rc > 0 && (size_t)rc <= piece - used);
			if (dn > 0) {
				assert_true(d >= p + used && d + dn <= p + used + (size_t)rc);
				assert_true(out.data_len + dn <= sizeof(out.data));
				memcpy(out.data + out.data_len, d, dn);
				out.data_len += dn;
			}
			used += (size_t)rc;
		}
		off += used;
	}
	out.consumed = off;
	if (st.done) {
		out.rc = 0;
		assert_int_equal(st.total, out.data_len);
	}
	return &out;
}

static const struct {
	const char *in;
	size_t len;
	const char *data;
	size_t consumed; /* 0: the whole input */
} chunked_ok[] = {
        {LIT("5\r\nhello\r\n0\r\n\r\n"), "hello", 0},
        {LIT("0\r\n\r\n"), "", 0},
        {LIT("5;a=b;c\r\nhello\r\n6 ; x = \"q\\\"s\" ;y=z\r\n world\r\n0\r\n\r\n"), "hello world",
         0},
        {LIT("A\r\n0123456789\r\n000a\r\nabcdefghij\r\n0;last\r\nX-Sum: 1\r\nX-B:\r\n\r\n"),
         "0123456789abcdefghij", 0},
        {LIT("1\t;\tk\t=\t\"\t\"\r\nx\r\n0000000000000000000000000000\r\n\r\n"), "x", 0},
        {LIT("2\r\n\r\n\r\n0\r\nT: \x80\xff v\r\n\r\nGET / HTTP/1.1\r\n"), "\r\n", 21},
        {LIT("00000000000000000000000000000001\r\nx\r\n0\r\n\r\n"), "x", 0},
};

static void test_chunked_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chunked_ok) / sizeof(chunked_ok[0]); i++) {
		const char *in = chunked_ok[i].in;
		size_t len = chunked_ok[i].len;
		size_t consumed = chunked_ok[i].consumed ? chunked_ok[i].consumed : len;
		for (size_t step = 0; step <= len; step++) {
			struct dechunk *d = dechunk(in, len, step, 0);
			if (d->rc != 0)
				fail_msg("chunked[%zu] step %zu: rc %lld (%s)", i, step,
				         (long long)d->rc, err_label((int)d->rc));
			assert_int_equal(d->consumed, consumed);
			assert_int_equal(d->data_len, strlen(chunked_ok[i].data));
			assert_memory_equal(d->data, chunked_ok[i].data, d->data_len);
		}
		/* every two-piece split reassembles the same data */
		for (size_t k = 1; k < len; k++) {
			struct http_chunked st = {0};
			char buf[256];
			size_t got = 0, off = 0;
			while (off < len && !st.done) {
				size_t end = off < k ? k : len;
				const char *p = guard_place(in + off, end - off);
				const char *dp;
				size_t dn;
				int64_t rc = http_chunked_decode(&st, p, end - off, 0, &dp, &dn);
				assert_true(rc > 0);
				memcpy(buf + got, dp, dn);
				got += dn;
				off += (size_t)rc;
			}
			assert_true(st.done);
			assert_int_equal(off, consumed);
			assert_memory_equal(buf, chunked_ok[i].data, got);
		}
	}
}

static void test_chunked_partial(void **state)
{
	(void)state;
	/* a huge declared chunk is fine; its data simply streams through */
	struct http_chunked st = {0};
	const char *d;
	size_t dn;
	static const char in[] = "7fffffffffffffff\r\nab";
	assert_int_equal(http_chunked_decode(&st, LIT(in), 0, &d, &dn), sizeof(in) - 1);
	assert_int_equal(dn, 2);
	assert_memory_equal(d, "ab", 2);
	assert_int_equal(st.remaining, INT64_MAX - 2);
	assert_false(st.done);
	/* after done, nothing more is consumed */
	struct http_chunked fin = {0};
	assert_int_equal(http_chunked_decode(&fin, LIT("0\r\n\r\n"), 0, &d, &dn), 5);
	assert_true(fin.done);
	assert_int_equal(http_chunked_decode(&fin, LIT("5\r\n"), 0, &d, &dn), 0);
	assert_int_equal(http_chunked_decode(&st, "", 0, 0, &d, &dn), 0);
}

static char long_line[5000], long_trailer[9000];

static const struct {
	const char *in;
	size_t len;
	int code;
	uint64_t max_body;
} chunked_bad[] = {
        {LIT("\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("g\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("0x5\r\nhello\r\n0\r\n\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT(" 5\r\nhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5 \r\nhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5\t\r\nhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("-5\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("+5\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5\nhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5\rhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT(";a\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("10000000000000000\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("8000000000000000\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("ffffffffffffffff\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5;a\nhello\r\n"), CRIER_ECHUNK_SIZE, 0},
        {LIT("5;\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;=a\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\"x\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a \r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=b \r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\"x\" \r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=b=c\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\"x\"y\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a\x01\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\"\x7f\"\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a=\"\\\x01\"\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5;a b\r\nhello\r\n"), CRIER_ECHUNK_EXT, 0},
        {LIT("5\r\nhelloX\r\n"), CRIER_ECHUNK_CRLF, 0},
        {LIT("5\r\nhello\rX"), CRIER_ECHUNK_CRLF, 0},
        {LIT("5\r\nhello\n0\r\n\r\n"), CRIER_ECHUNK_CRLF, 0},
        {LIT("5\r\nhello0\r\n\r\n"), CRIER_ECHUNK_CRLF, 0},
        {LIT("0\r\nX : y\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\n y\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX: y\r\n z\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX: a\x01\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX: a\x00\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\n: y\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\n\rX"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX: y\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\nX: y\rz\r\n\r\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("0\r\n\n"), CRIER_ECHUNK_TRAILER, 0},
        {LIT("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), CRIER_EBODY_TOO_LARGE, 10},
        {LIT("b\r\n"), CRIER_EBODY_TOO_LARGE, 10},
};

static void check_chunked_bad(const char *in, size_t len, int code, uint64_t max_body, size_t idx)
{
	for (size_t step = 0; step <= len; step++) {
		struct dechunk *d = dechunk(in, len, step, max_body);
		if (d->rc != code)
			fail_msg("chunked_bad[%zu] step %zu: got %lld (%s), want %s", idx, step,
			         (long long)d->rc, err_label((int)d->rc), err_label(code));
	}
}

static void test_chunked_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chunked_bad) / sizeof(chunked_bad[0]); i++)
		check_chunked_bad(chunked_bad[i].in, chunked_bad[i].len, chunked_bad[i].code,
		                  chunked_bad[i].max_body, i);

	/* a size line of 4096 bytes passes, 4097 does not (CRLF excluded) */
	memset(long_line, '0', sizeof(long_line));
	memcpy(long_line + 4095, "1\r\nx\r\n0\r\n\r\n", 11);
	assert_int_equal(dechunk(long_line, 4095 + 11, 0, 0)->rc, 0);
	memcpy(long_line + 4096, "1\r\nx\r\n0\r\n\r\n", 11);
	check_chunked_bad(long_line, 4096 + 11, CRIER_ECHUNK_EXT, 0, 100);

	/* a trailer section of 8192 bytes passes, one more byte does not */
	memcpy(long_trailer, "0\r\nX: ", 6);
	memset(long_trailer + 6, 'v', sizeof(long_trailer) - 6);
	memcpy(long_trailer + 3 + 8192 - 4, "\r\n\r\n", 4);
	assert_int_equal(dechunk(long_trailer, 3 + 8192, 0, 0)->rc, 0);
	memcpy(long_trailer + 3 + 8192 - 4, "v\r\n\r\n", 5);
	check_chunked_bad(long_trailer, 3 + 8193, CRIER_ECHUNK_TRAILER, 0, 101);

	/* exactly max_body passes */
	static const char exact[] = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
	assert_int_equal(dechunk(LIT(exact), 0, 10)->rc, 0);
	assert_int_equal(dechunk(LIT(exact), 0, 9)->rc, CRIER_EBODY_TOO_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rejections),
	        cmocka_unit_test(test_simple_get),
	        cmocka_unit_test(test_post_content_length),
	        cmocka_unit_test(test_chunked_close),
	        cmocka_unit_test(test_http10),
	        cmocka_unit_test(test_upgrade),
	        cmocka_unit_test(test_target_forms),
	        cmocka_unit_test(test_methods),
	        cmocka_unit_test(test_fields_and_lists),
	        cmocka_unit_test(test_limits_exact),
	        cmocka_unit_test(test_pipelined),
	        cmocka_unit_test(test_every_byte),
	        cmocka_unit_test(test_valid_splits),
	        cmocka_unit_test(test_chunked_valid),
	        cmocka_unit_test(test_chunked_partial),
	        cmocka_unit_test(test_chunked_rejections),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
