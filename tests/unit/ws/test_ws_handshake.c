/*
 * test_ws_handshake.c - unit tests for the WebSocket opening handshake and
 * the origin policy.
 *
 * Requests are real bytes run through http_parse_request, so the checks
 * see exactly the fields the server would hand them (names as sent,
 * values trimmed, conn_upgrade derived). Accept keys other than the RFC
 * 6455 §1.3 vector were computed outside this code with
 *   printf '%s' "$key"258EAFA5-E914-47DA-95CA-C5AB0DC85B11 |
 *       openssl sha1 -binary | base64
 * The origin policy is a table: each row says origin, Host, allow list
 * and the expected answer, and a failure prints the row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/origin.h"
#include "core/err.h"
#include "http/http_parse.h"
#include "ws/ws_handshake.h"

#define MAX_FIELDS 32
#define RFC_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A valid upgrade minus its last CRLF; tests append fields and "\r\n". */
#define UPGRADE_HEAD                         \
	"GET /chat HTTP/1.1\r\n"             \
	"Host: example.com\r\n"              \
	"Upgrade: websocket\r\n"             \
	"Connection: Upgrade\r\n"            \
	"Sec-WebSocket-Key: " RFC_KEY "\r\n" \
	"Sec-WebSocket-Version: 13\r\n"

/* The parsed request and the bytes its slices point into. */
static char req_bytes[8192];
static struct http_header req_fields[MAX_FIELDS];
static struct http_request req;

static const struct http_request *parse(const char *head)
{
	size_t n = strlen(head);
	assert_true(n < sizeof(req_bytes));
	memcpy(req_bytes, head, n);
	req = (struct http_request){.headers = req_fields, .headers_cap = MAX_FIELDS};
	int64_t rc = http_parse_request(req_bytes, n, 0, NULL, &req);
	if (rc != (int64_t)n)
		fail_msg("http_parse_request returned %lld for:\n%s", (long long)rc, head);
	return &req;
}

static const struct ws_handshake_opts plain_opts = {0};

static int check(const char *head, const struct ws_handshake_opts *opts, struct ws_accept *out)
{
	return ws_handshake_check(parse(head), opts, out);
}

static void expect_rc(const char *head, int want)
{
	struct ws_accept a;
	int rc = check(head, &plain_opts, &a);
	if (rc != want)
		fail_msg("got %d (%s), want %d (%s) for:\n%s", rc, err_label(rc), want,
		         err_label(want), head);
}

/* ---- accept key ---------------------------------------------------------- */

static void test_accept_key_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *key, *accept;
	} v[] = {
	        {RFC_KEY, RFC_ACCEPT}, /* RFC 6455 §1.3 */
	        {"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
	        {"AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY="},
	        {"AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI="},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[WS_ACCEPT_LEN + 1];
		ws_handshake_accept_key(v[i].key, strlen(v[i].key), out);
		assert_string_equal(out, v[i].accept);
	}
}

static void test_accept_key_long_input(void **state)
{
	(void)state;
	/* Longer than the stack buffer: the heap path must agree in shape. */
	char key[300];
	memset(key, 'k', sizeof(key));
	char out[WS_ACCEPT_LEN + 1];
	ws_handshake_accept_key(key, sizeof(key), out);
	assert_int_equal(strlen(out), WS_ACCEPT_LEN);
	assert_int_equal(out[WS_ACCEPT_LEN - 1], '=');
}

/* ---- valid handshake ----------------------------------------------------- */

static void test_valid_minimal(void **state)
{
	(void)state;
	struct ws_accept a;
	assert_int_equal(check(UPGRADE_HEAD "\r\n", &plain_opts, &a), 0);
	assert_string_equal(a.accept, RFC_ACCEPT);
	assert_null(a.protocol);
	assert_false(a.deflate);
}

static void test_valid_variants(void **state)
{
	(void)state;
	/* Token lists, case and a same-origin Origin are all fine. */
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Connection: keep-alive, Upgrade\r\n"
	          "Upgrade: foo/2, WebSocket\r\n"
	          "Origin: http://example.com\r\n"
	          "sec-websocket-key: " RFC_KEY "\r\n"
	          "sec-websocket-version: 13\r\n\r\n",
	          0);
	/* Upgrade split over two fields is one list (RFC 9110 §5.3). */
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: h2c\r\n"
	          "Upgrade: websocket\r\n"
	          "Connection: upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          0);
}

/* ---- rejections ----------------------------------------------------------- */

static void test_reject_not_upgrade(void **state)
{
	(void)state;
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: h2c\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket\r\n"
	          "Connection: keep-alive\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	/* "websocket2" is not the token "websocket". */
	expect_rc("GET /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket2\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
}

static void test_reject_http10_and_method(void **state)
{
	(void)state;
	expect_rc("GET /chat HTTP/1.0\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	expect_rc("POST /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
	expect_rc("HEAD /chat HTTP/1.1\r\n"
	          "Host: example.com\r\n"
	          "Upgrade: websocket\r\n"
	          "Connection: Upgrade\r\n"
	          "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_UPGRADE);
}

#define NO_VERSION_HEAD           \
	"GET /chat HTTP/1.1\r\n"  \
	"Host: example.com\r\n"   \
	"Upgrade: websocket\r\n"  \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: " RFC_KEY "\r\n"

static void test_reject_version(void **state)
{
	(void)state;
	expect_rc(NO_VERSION_HEAD "\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 12\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 14\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 8\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 13, 8\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 013\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version:\r\n\r\n", CRIER_EWS_VERSION);
	expect_rc(NO_VERSION_HEAD "Sec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Version: 13\r\n\r\n",
	          CRIER_EWS_VERSION);
	/* The status both answer with is 426 (RFC 6455 §4.2.2 item 4). */
	assert_int_equal(err_http_status(CRIER_EWS_VERSION), 426);
	assert_int_equal(err_http_status(CRIER_EWS_UPGRADE), 426);
}

#define NO_KEY_HEAD               \
	"GET /chat HTTP/1.1\r\n"  \
	"Host: example.com\r\n"   \
	"Upgrade: websocket\r\n"  \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Version: 13\r\n"

static void test_reject_key(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "Sec-WebSocket-Key:\r\n",
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n",   /* 23 chars */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==A\r\n", /* 25 chars */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",    /* no padding */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n",  /* '!' */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-==\r\n",  /* url-safe '-' */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ_==\r\n",  /* url-safe '_' */
	        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n",  /* 17 bytes */
	        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n",  /* 18 bytes */
	        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA====\r\n",  /* 15 bytes + junk */
	        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2 5jZQ==\r\n", /* inner space */
	        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), /* repeated */
	        "",                                                  /* missing */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char head[512];
		snprintf(head, sizeof(head), "%s%s\r\n", NO_KEY_HEAD, bad[i]);
		expect_rc(head, CRIER_EWS_KEY);
	}
	assert_int_equal(err_http_status(CRIER_EWS_KEY), 400);
}

/* ---- subprotocols -------------------------------------------------------- */

static const char *const protos[] = {"v2.crier", "v1.crier"};

static void test_protocol_server_preference(void **state)
{
	(void)state;
	struct ws_handshake_opts opts = {.protocols = protos, .n_protocols = 2};
	struct ws_accept a;
	assert_int_equal(
	        check(UPGRADE_HEAD "Sec-WebSocket-Protocol: v1.crier, v2.crier\r\n\r\n", &opts, &a),
	        0);
	assert_string_equal(a.protocol, "v2.crier");
	assert_int_equal(
	        check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat, v1.crier\r\n\r\n", &opts, &a), 0);
	assert_string_equal(a.protocol, "v1.crier");
	/* Several fields are one list. */
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat\r\n"
	                                    "Sec-WebSocket-Protocol: soap ,v1.crier\r\n\r\n",
	                       &opts, &a),
	                 0);
	assert_string_equal(a.protocol, "v1.crier");
}

static void test_protocol_not_required(void **state)
{
	(void)state;
	struct ws_handshake_opts opts = {.protocols = protos, .n_protocols = 2};
	struct ws_accept a;
	/* Offered but unknown, or offered with another case: no protocol,
	 * and the header is omitted (RFC 6455 §4.2.2 item 5.4). */
	assert_int_equal(
	        check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat, soap\r\n\r\n", &opts, &a), 0);
	assert_null(a.protocol);
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Protocol: V2.CRIER\r\n\r\n", &opts, &a),
	                 0);
	assert_null(a.protocol);
	assert_int_equal(check(UPGRADE_HEAD "\r\n", &opts, &a), 0);
	assert_null(a.protocol);
	/* A route without protocols ignores the offer. */
	assert_int_equal(
	        check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", &plain_opts, &a), 0);
	assert_null(a.protocol);
}

static void test_protocol_required(void **state)
{
	(void)state;
	struct ws_handshake_opts opts = {
	        .protocols = protos, .n_protocols = 2, .protocol_required = true};
	struct ws_accept a;
	assert_int_equal(check(UPGRADE_HEAD "\r\n", &opts, &a), CRIER_EWS_PROTOCOL);
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", &opts, &a),
	                 CRIER_EWS_PROTOCOL);
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Protocol: v1.crierx\r\n\r\n", &opts, &a),
	                 CRIER_EWS_PROTOCOL);
	assert_int_equal(
	        check(UPGRADE_HEAD "Sec-WebSocket-Protocol: chat,v1.crier\r\n\r\n", &opts, &a), 0);
	assert_string_equal(a.protocol, "v1.crier");
	assert_int_equal(err_http_status(CRIER_EWS_PROTOCOL), 400);
}

/* ---- extensions ---------------------------------------------------------- */

static void test_extensions_negotiated(void **state)
{
	(void)state;
	struct ws_handshake_opts on = {.deflate = true};
	struct ws_accept a;
	const char *chrome = UPGRADE_HEAD
	        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
	assert_int_equal(check(chrome, &on, &a), 0);
	assert_true(a.deflate);
	assert_int_equal(a.deflate_params.server_max_window_bits, 15);
	assert_int_equal(a.deflate_params.client_max_window_bits, 15);
	/* Off in the options: the offer is ignored. */
	assert_int_equal(check(chrome, &plain_opts, &a), 0);
	assert_false(a.deflate);
	/* Fields are joined in order: a foreign extension, then an offer
	 * with a bad value (declined), then an acceptable one. */
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Extensions: x-webkit-foo; a=1\r\n"
	                                    "Sec-WebSocket-Extensions: permessage-deflate; "
	                                    "server_max_window_bits=16\r\n"
	                                    "Sec-WebSocket-Extensions: permessage-deflate; "
	                                    "server_max_window_bits=10\r\n\r\n",
	                       &on, &a),
	                 0);
	assert_true(a.deflate);
	assert_int_equal(a.deflate_params.server_max_window_bits, 10);
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Extensions: x-foo\r\n\r\n", &on, &a), 0);
	assert_false(a.deflate);
}

static void test_extensions_too_long_declined(void **state)
{
	(void)state;
	/* More than the join buffer holds: declined, not an error. */
	char head[6000];
	int n = snprintf(head, sizeof(head), "%sSec-WebSocket-Extensions: ", UPGRADE_HEAD);
	for (int i = 0; i < 200; i++)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "x-foo-%03d, ", i);
	snprintf(head + n, sizeof(head) - (size_t)n, "permessage-deflate\r\n\r\n");
	struct ws_handshake_opts on = {.deflate = true};
	struct ws_accept a;
	assert_int_equal(check(head, &on, &a), 0);
	assert_false(a.deflate);
	/* A first field that nearly fills the buffer: the ", " separator
	 * before the next one is what overflows (found by the fuzzer). */
	for (size_t fill = 2040; fill <= 2048; fill++) {
		n = snprintf(head, sizeof(head),
		             "%sSec-WebSocket-Extensions: x-foo; p=", UPGRADE_HEAD);
		size_t pad = fill - strlen("x-foo; p=");
		memset(head + n, 'a', pad);
		n += (int)pad;
		snprintf(head + n, sizeof(head) - (size_t)n,
		         "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
		assert_int_equal(check(head, &on, &a), 0);
		assert_false(a.deflate);
	}
}

/* ---- response -------------------------------------------------------------- */

static void test_response_bytes(void **state)
{
	(void)state;
	struct ws_accept a = {.accept = RFC_ACCEPT};
	char out[512];
	const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
	                   "Upgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                   "\r\n";
	assert_int_equal(ws_handshake_response(&a, out, sizeof(out)), strlen(want));
	assert_string_equal(out, want);

	a.protocol = "v1.crier";
	a.deflate = true;
	a.deflate_params = (struct ws_deflate_params){.server_max_window_bits = 12,
	                                              .client_max_window_bits = 15};
	want = "HTTP/1.1 101 Switching Protocols\r\n"
	       "Upgrade: websocket\r\n"
	       "Connection: Upgrade\r\n"
	       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	       "Sec-WebSocket-Protocol: v1.crier\r\n"
	       "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
	       "client_no_context_takeover; server_max_window_bits=12\r\n"
	       "\r\n";
	size_t len = ws_handshake_response(&a, out, sizeof(out));
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
	/* Exactly enough room (with the NUL), then one byte less. */
	assert_int_equal(ws_handshake_response(&a, out, len + 1), len);
	assert_int_equal(ws_handshake_response(&a, out, len), 0);
	assert_int_equal(ws_handshake_response(&a, out, 0), 0);
}

static void test_response_from_check(void **state)
{
	(void)state;
	struct ws_handshake_opts opts = {.protocols = protos, .n_protocols = 2, .deflate = true};
	struct ws_accept a;
	assert_int_equal(check(UPGRADE_HEAD "Sec-WebSocket-Protocol: v2.crier\r\n"
	                                    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
	                       &opts, &a),
	                 0);
	char out[512];
	assert_true(ws_handshake_response(&a, out, sizeof(out)) > 0);
	assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\n"
	                         "Upgrade: websocket\r\n"
	                         "Connection: Upgrade\r\n"
	                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                         "Sec-WebSocket-Protocol: v2.crier\r\n"
	                         "Sec-WebSocket-Extensions: permessage-deflate; "
	                         "server_no_context_takeover; client_no_context_takeover\r\n"
	                         "\r\n");
}

/* ---- origin policy --------------------------------------------------------- */

static char *list_star[] = {"*"};
static char *list_null[] = {"null"};
static char *list_exact[] = {"https://app.example.com", "chrome-extension://abcdef"};
static char *list_wild[] = {"https://*.example.com", "http://*.dev.test:8080"};
static char *list_junk[] = {"app.example.com", "https://", "*.example.com", ""};

static const struct config_list empty = {0};
static const struct config_list star = {.items = list_star, .len = 1};
static const struct config_list nul = {.items = list_null, .len = 1};
static const struct config_list exact = {.items = list_exact, .len = 2};
static const struct config_list wild = {.items = list_wild, .len = 2};
static const struct config_list junk = {.items = list_junk, .len = 4};

struct origin_case {
	const char *origin; /* NULL: no Origin header */
	const char *host;
	const struct config_list *list;
	bool want;
};

static const struct origin_case origin_cases[] = {
        {NULL, "example.com", &empty, true},
        /* same origin, default ports made explicit on both sides */
        {"http://example.com", "example.com", &empty, true},
        {"https://example.com", "example.com", &empty, true},
        {"https://example.com", "example.com:443", &empty, true},
        {"http://example.com", "example.com:80", &empty, true},
        {"http://example.com:80", "example.com", &empty, true},
        {"https://example.com:443", "example.com:443", &empty, true},
        {"ws://example.com", "example.com:80", &empty, true},
        {"wss://example.com", "example.com:443", &empty, true},
        {"HTTP://Example.COM", "example.com", &empty, true},
        {"http://example.com:8080", "example.com:8080", &empty, true},
        {"https://example.com", "example.com:80", &empty, false},
        {"http://example.com", "example.com:443", &empty, false},
        {"http://example.com:8080", "example.com", &empty, false},
        {"http://example.com", "example.com:8080", &empty, false},
        {"http://evil.com", "example.com", &empty, false},
        {"http://example.com.evil.com", "example.com", &empty, false},
        {"http://sub.example.com", "example.com", &empty, false},
        {"http://127.0.0.1:9000", "127.0.0.1:9000", &empty, true},
        /* IPv6 literals */
        {"http://[::1]:8080", "[::1]:8080", &empty, true},
        {"http://[::1]", "[::1]", &empty, true},
        {"https://[2001:DB8::1]", "[2001:db8::1]:443", &empty, true},
        {"http://[::1]", "[::2]", &empty, false},
        {"http://[::1]:8080", "[::1]:8081", &empty, false},
        {"http://[::1", "[::1]", &empty, false},
        {"http://[]", "[]", &empty, false},
        {"http://[::g]", "[::g]", &empty, false},
        /* unknown schemes are never same-origin */
        {"chrome-extension://example.com", "example.com", &empty, false},
        /* malformed origins are refused */
        {"example.com", "example.com", &empty, false},
        {"://example.com", "example.com", &empty, false},
        {"http://", "example.com", &empty, false},
        {"http:/example.com", "example.com", &empty, false},
        {"http://example.com/", "example.com", &empty, false},
        {"http://example.com:", "example.com", &empty, false},
        {"http://example.com:0", "example.com", &empty, false},
        {"http://example.com:99999", "example.com", &empty, false},
        {"http://example.com:123456", "example.com", &empty, false},
        {"http://example.com:8a", "example.com", &empty, false},
        {"http://exa mple.com", "example.com", &empty, false},
        {"http://user@example.com", "example.com", &empty, false},
        {"", "example.com", &empty, false},
        /* the opaque origin */
        {"null", "example.com", &empty, false},
        {"null", "example.com", &exact, false},
        {"null", "example.com", &nul, true},
        {"null", "example.com", &star, true},
        /* "*" allows anything */
        {"http://evil.com", "example.com", &star, true},
        {"https://evil.com:1", "example.com", &star, true},
        /* exact entries: scheme, host and port, case-insensitive */
        {"https://app.example.com", "example.com", &exact, true},
        {"https://APP.Example.com", "example.com", &exact, true},
        {"https://app.example.com:443", "example.com", &exact, true},
        {"http://app.example.com", "example.com", &exact, false},
        {"https://app.example.com:8443", "example.com", &exact, false},
        {"https://x.app.example.com", "example.com", &exact, false},
        {"https://example.com", "other.com", &exact, false},
        {"chrome-extension://abcdef", "example.com", &exact, true},
        {"chrome-extension://abcdefg", "example.com", &exact, false},
        /* the list adds to same-origin, it does not replace it */
        {"http://example.com", "example.com", &exact, true},
        /* wildcard subdomains at any depth, never the domain itself */
        {"https://a.example.com", "crier.test", &wild, true},
        {"https://a.b.c.example.com", "crier.test", &wild, true},
        {"https://A.EXAMPLE.COM:443", "crier.test", &wild, true},
        {"https://example.com", "crier.test", &wild, false},
        {"https://.example.com", "crier.test", &wild, false},
        {"https://aexample.com", "crier.test", &wild, false},
        {"https://a.example.com.evil.com", "crier.test", &wild, false},
        {"http://a.example.com", "crier.test", &wild, false},
        {"https://a.example.com:8443", "crier.test", &wild, false},
        {"http://x.dev.test:8080", "crier.test", &wild, true},
        {"http://x.dev.test", "crier.test", &wild, false},
        /* entries that are not origins match nothing */
        {"https://app.example.com", "crier.test", &junk, false},
        {"https://a.example.com", "crier.test", &junk, false},
};

static void test_origin_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(origin_cases) / sizeof(origin_cases[0]); i++) {
		const struct origin_case *c = &origin_cases[i];
		bool got = origin_allowed(c->origin, c->origin ? strlen(c->origin) : 0, c->host,
		                          strlen(c->host), c->list);
		if (got != c->want)
			fail_msg("row %zu: origin \"%s\" host \"%s\" list of %zu: got %d want %d",
			         i, c->origin ? c->origin : "(none)", c->host, c->list->len, got,
			         c->want);
	}
	/* A NULL list is the empty list. */
	assert_true(origin_allowed("http://example.com", 18, "example.com", 11, NULL));
	assert_false(origin_allowed("http://evil.com", 15, "example.com", 11, NULL));
}

static void test_origin_through_check(void **state)
{
	(void)state;
	struct ws_handshake_opts opts = {.allowed_origins = &exact};
	struct ws_accept a;
	assert_int_equal(check(UPGRADE_HEAD "Origin: https://app.example.com\r\n\r\n", &opts, &a),
	                 0);
	assert_int_equal(check(UPGRADE_HEAD "Origin: https://evil.example.org\r\n\r\n", &opts, &a),
	                 CRIER_EWS_ORIGIN);
	assert_int_equal(check(UPGRADE_HEAD "Origin: http://example.com\r\n\r\n", &opts, &a), 0);
	assert_int_equal(check(UPGRADE_HEAD "Origin: null\r\n\r\n", &opts, &a), CRIER_EWS_ORIGIN);
	assert_int_equal(check(UPGRADE_HEAD "Origin:\r\n\r\n", &opts, &a), CRIER_EWS_ORIGIN);
	/* Two Origin fields: no way to tell which one the browser meant. */
	assert_int_equal(check(UPGRADE_HEAD "Origin: http://example.com\r\n"
	                                    "Origin: http://example.com\r\n\r\n",
	                       &opts, &a),
	                 CRIER_EWS_ORIGIN);
	/* Absolute-form target: its authority is the host compared. */
	assert_int_equal(check("GET http://crier.test/chat HTTP/1.1\r\n"
	                       "Host: crier.test\r\n"
	                       "Upgrade: websocket\r\n"
	                       "Connection: Upgrade\r\n"
	                       "Origin: http://crier.test\r\n"
	                       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	                       "Sec-WebSocket-Version: 13\r\n\r\n",
	                       &plain_opts, &a),
	                 0);
	assert_int_equal(err_http_status(CRIER_EWS_ORIGIN), 403);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accept_key_vectors),
	        cmocka_unit_test(test_accept_key_long_input),
	        cmocka_unit_test(test_valid_minimal),
	        cmocka_unit_test(test_valid_variants),
	        cmocka_unit_test(test_reject_not_upgrade),
	        cmocka_unit_test(test_reject_http10_and_method),
	        cmocka_unit_test(test_reject_version),
	        cmocka_unit_test(test_reject_key),
	        cmocka_unit_test(test_protocol_server_preference),
	        cmocka_unit_test(test_protocol_not_required),
	        cmocka_unit_test(test_protocol_required),
	        cmocka_unit_test(test_extensions_negotiated),
	        cmocka_unit_test(test_extensions_too_long_declined),
	        cmocka_unit_test(test_response_bytes),
	        cmocka_unit_test(test_response_from_check),
	        cmocka_unit_test(test_origin_table),
	        cmocka_unit_test(test_origin_through_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
