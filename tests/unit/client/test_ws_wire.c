/*
 * test_ws_wire.c - unit tests for the client's WebSocket wire helpers.
 *
 * Frames written with a pinned mask are read back by the server's own
 * parser (role server: it demands masked frames), which unmasks them to
 * the original payload; length encodings at 0, 125, 126 and 65536 bytes.
 * The accept check uses RFC 6455 §1.3's worked example; close payloads
 * cover no code, a lone byte, a code alone and a reason cut to fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/ws_wire.h"

static void roundtrip(enum ws_opcode op, size_t len)
{
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	uint8_t *payload = malloc(len + 1);
	assert_non_null(payload);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	struct buf f = {0};
	assert_int_equal(ws_wire_frame(&f, op, payload, len, mask), 0);
	size_t hl = len < 126 ? 6 : len < 65536 ? 8 : 14;
	assert_int_equal(f.len, hl + len);
	assert_int_equal((uint8_t)f.data[0], 0x80 | op);
	assert_true((uint8_t)f.data[1] & 0x80);
	if (len)
		assert_memory_not_equal(f.data + hl, payload, len < 4 ? len : 4);

	struct ws_frame_parser p;
	ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
	struct ws_frame_event ev;
	uint8_t *in = (uint8_t *)f.data;
	int64_t used = ws_frame_parse(&p, in, f.len, &ev);
	assert_int_equal(used, (int64_t)hl);
	assert_true(ev.frame_start);
	assert_int_equal(ev.frame_len, len);
	assert_int_equal(ev.opcode, op);
	assert_true(ev.fin);
	size_t got = 0;
	while (got < len) {
		used = ws_frame_parse(&p, in + hl + got, len - got, &ev);
		assert_true(used > 0);
		assert_memory_equal(ev.data, payload + got, (size_t)used);
		got += (size_t)used;
	}
	assert_true(ev.frame_end);
	buf_free(&f);
	free(payload);
}

static void test_frame_lengths(void **state)
{
	(void)state;
	roundtrip(WS_OP_TEXT, 0);
	roundtrip(WS_OP_TEXT, 5);
	roundtrip(WS_OP_PONG, 125);
	roundtrip(WS_OP_BINARY, 126);
	roundtrip(WS_OP_TEXT, 65535);
	roundtrip(WS_OP_BINARY, 65536);
}

static void test_frame_appends(void **state)
{
	(void)state;
	static const uint8_t mask[4] = {1, 2, 3, 4};
	struct buf f = {0};
	assert_int_equal(ws_wire_frame(&f, WS_OP_CLOSE, "\x03\xe8", 2, mask), 0);
	assert_int_equal(ws_wire_frame(&f, WS_OP_PING, NULL, 0, mask), 0);
	assert_int_equal(f.len, 8 + 6);
	assert_int_equal((uint8_t)f.data[8], 0x89);
	buf_free(&f);
}

static void test_accept(void **state)
{
	(void)state;
	/* RFC 6455 §1.3. */
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	const char *good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
	assert_true(ws_wire_accept_ok(key, good, strlen(good)));
	assert_false(ws_wire_accept_ok(key, good, strlen(good) - 1));
	assert_false(ws_wire_accept_ok(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOp=", 28));
	assert_false(ws_wire_accept_ok("other", good, strlen(good)));
}

static void test_close_payload(void **state)
{
	(void)state;
	char r[8];
	assert_int_equal(ws_wire_close_payload(NULL, 0, r, sizeof(r)), 1005);
	assert_string_equal(r, "");
	assert_int_equal(ws_wire_close_payload((const uint8_t *)"\x03", 1, r, sizeof(r)), -1);
	assert_int_equal(ws_wire_close_payload((const uint8_t *)"\x03\xe9", 2, r, sizeof(r)), 1001);
	assert_string_equal(r, "");
	const char *p = "\x03\xf0slow consumer";
	assert_int_equal(ws_wire_close_payload((const uint8_t *)p, strlen(p), r, sizeof(r)), 1008);
	assert_string_equal(r, "slow co");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_lengths),
	        cmocka_unit_test(test_frame_appends),
	        cmocka_unit_test(test_accept),
	        cmocka_unit_test(test_close_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
