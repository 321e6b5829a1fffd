/*
 * test_bench_http.c - unit tests for the client pieces `crier bench`
 * shares between its modes: response heads, the 101 check, and client
 * frames, which must come back out of the server-role frame codec
 * (ws/ws_frame.c) exactly as they went in, masked or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench_http.h"

#define LIT(s) s, sizeof(s) - 1

static void test_head(void **state)
{
	(void)state;
	static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                        "content-length:  42\r\nX-Empty:\r\n\r\nbody";
	size_t hl = bench_http_head_len(LIT(h));
	assert_int_equal(hl, sizeof h - 1 - 4);
	assert_int_equal(bench_http_head_len(h, hl - 1), 0);
	assert_int_equal(bench_http_status(h, hl), 200);
	assert_int_equal(bench_http_content_length(h, hl), 42);
	const char *v;
	assert_int_equal(bench_http_header(h, hl, "CONTENT-TYPE", &v), 10);
	assert_memory_equal(v, "text/plain", 10);
	assert_int_equal(bench_http_header(h, hl, "x-empty", &v), 0);
	assert_int_equal(bench_http_header(h, hl, "content", &v), -1); /* a prefix is not a name */
	assert_int_equal(bench_http_header(h, hl, "transfer-encoding", &v), -1);
	assert_int_equal(bench_http_status(LIT("HTTP/1.0 404 Not Found\r\n\r\n")), 404);
	assert_int_equal(bench_http_status(LIT("HTTP/1.1 2x0 OK\r\n\r\n")), -1);
	assert_int_equal(bench_http_status(LIT("SSH-2.0-OpenSSH\r\n\r\n")), -1);
	assert_int_equal(bench_http_content_length(LIT("HTTP/1.1 200 OK\r\n\r\n")), -1);
}

static void test_ws_101(void **state)
{
	(void)state;
	struct bench_ws_keys k;
	bench_http_ws_keys(&k);
	assert_int_equal(strlen(k.key[0]), 24);
	assert_string_not_equal(k.key[0], k.key[1]);
	/* RFC 6455 §1.3's example key and accept value */
	char accept[WS_ACCEPT_LEN + 1];
	ws_handshake_accept_key(LIT("dGhlIHNhbXBsZSBub25jZQ=="), accept);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                         "Connection: Upgrade\r\n"
	                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                         "Sec-WebSocket-Protocol: crier.v1\r\n\r\n";
	assert_null(bench_http_ws_check_101(LIT(ok), accept, NULL));
	assert_null(bench_http_ws_check_101(LIT(ok), accept, BENCH_WS_SUBPROTOCOL));
	assert_non_null(bench_http_ws_check_101(LIT(ok), accept, "other.v2"));
	assert_non_null(bench_http_ws_check_101(LIT(ok), k.accept[0], NULL));
	assert_non_null(
	        bench_http_ws_check_101(LIT("HTTP/1.1 404 Not Found\r\n\r\n"), accept, NULL));
	char req[512];
	size_t n = bench_http_ws_upgrade(req, sizeof req, "/ws", "127.0.0.1", 8080, k.key[3],
	                                 "crier.v1");
	assert_true(n > 0 && n == strlen(req));
	assert_non_null(strstr(req, "GET /ws HTTP/1.1\r\n"));
	assert_non_null(strstr(req, k.key[3]));
	assert_non_null(strstr(req, "Sec-WebSocket-Protocol: crier.v1\r\n"));
	assert_int_equal(bench_http_ws_upgrade(req, 20, "/ws", "127.0.0.1", 8080, k.key[3], NULL),
	                 0);
}

/* A client frame parses back, through the server-role codec, to the same
 * opcode and payload, whatever the mask. */
static void test_ws_frame_round_trip(void **state)
{
	(void)state;
	static const uint8_t masks[][4] = {{0, 0, 0, 0}, {0x12, 0x34, 0x56, 0x78}};
	uint8_t payload[300], frame[WS_FRAME_HEADER_MAX + sizeof payload];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	for (size_t m = 0; m < 2; m++)
		for (size_t len = 0; len <= sizeof payload; len += 50) {
			size_t fl = bench_http_ws_frame(frame, WS_OP_TEXT, payload, len, masks[m]);
			struct ws_frame_parser p;
			ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
			struct ws_frame_event ev;
			int64_t k = ws_frame_parse(&p, frame, fl, &ev);
			assert_true(k > 0);
			assert_true(ev.frame_start && ev.fin);
			assert_int_equal(ev.opcode, WS_OP_TEXT);
			assert_int_equal(ev.frame_len, len);
			assert_int_equal((size_t)k + len, fl);
			if (len) {
				int64_t k2 = ws_frame_parse(&p, frame + k, fl - (size_t)k, &ev);
				assert_int_equal(k2, len);
				assert_true(ev.frame_end);
				assert_memory_equal(ev.data, payload, len);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_head),
	        cmocka_unit_test(test_ws_101),
	        cmocka_unit_test(test_ws_frame_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
