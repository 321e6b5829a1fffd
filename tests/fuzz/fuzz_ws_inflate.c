/*
 * fuzz_ws_inflate.c - libFuzzer target for permessage-deflate.
 *
 * One input drives three checks. (1) The bytes after the first two are a
 * compressed message: inflated whole and in pieces (piece size from byte
 * 1) under a small cap (from byte 0), both ways must agree, never pass the
 * cap by more than one byte, and fail only with the documented codes.
 * (2) The input read as a Sec-WebSocket-Extensions value: an accepted
 * offer has window bits in range, and the response we would send for it,
 * read back as an offer, negotiates the same server window. (3) The input
 * as a message: deflate then inflate must reproduce it, with the window
 * size picked by byte 0 and the deflaters kept across runs, so a reset
 * that leaks state between messages shows up as a mismatch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "ws/ws_deflate.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_ws_inflate: invariant failed: %s\n", what);
		abort();
	}
}

static int inflate_pieces(const uint8_t *in, size_t len, size_t piece, struct buf *out,
                          uint64_t max_out)
{
	struct ws_inflater *inf = ws_inflater_new();
	check(inf != NULL, "inflater");
	int rc = 0;
	size_t at = 0;
	do {
		size_t n = len - at < piece ? len - at : piece;
		/* an exact-size copy, so ASan sees any read past the piece */
		uint8_t *copy = malloc(n ? n : 1);
		check(copy != NULL, "malloc");
		memcpy(copy, in + at, n);
		rc = ws_inflate(inf, copy, n, at + n == len, out, max_out);
		free(copy);
		at += n;
	} while (rc == 0 && at < len);
	ws_inflater_free(inf);
	return rc;
}

static void check_inflate(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	uint64_t max_out = (uint64_t)data[0] * 257u;
	size_t piece = 1 + data[1] % 97u;
	struct buf whole = {0}, split = {0};
	int a = inflate_pieces(data + 2, size - 2, size, &whole, max_out);
	int b = inflate_pieces(data + 2, size - 2, piece, &split, max_out);
	check(a == 0 || a == CRIER_EWS_TOO_BIG || a == CRIER_EWS_INFLATE, "inflate result code");
	check(whole.len <= max_out + 1 && split.len <= max_out + 1, "output past the cap");
	check(a != 0 || whole.len <= max_out, "success past the cap");
	check(a == b, "whole and split inflate disagree");
	if (a == 0)
		check(whole.len == split.len &&
		              (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0),
		      "whole and split output differ");
	buf_free(&whole);
	buf_free(&split);
}

static void check_negotiate(const uint8_t *data, size_t size)
{
	struct ws_deflate_params p;
	if (ws_deflate_negotiate((const char *)data, size, &p) != 1)
		return;
	check(p.server_max_window_bits >= 9 && p.server_max_window_bits <= 15, "server bits");
	check(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15, "client bits");
	check(p.server_bits_requested || p.server_max_window_bits == 15, "unrequested bits");
	char resp[160];
	size_t n = ws_deflate_response(&p, resp, sizeof(resp));
	check(n > 0 && n == strlen(resp), "response length");
	struct ws_deflate_params q;
	check(ws_deflate_negotiate(resp, n, &q) == 1, "own response is not an acceptable offer");
	check(q.server_max_window_bits == p.server_max_window_bits, "response changes the window");
}

static void check_round_trip(const uint8_t *data, size_t size)
{
	static struct ws_deflater *deflaters[16];
	int bits = 9 + (size > 0 ? data[0] % 7 : 6);
	if (!deflaters[bits])
		deflaters[bits] = ws_deflater_new(bits);
	check(deflaters[bits] != NULL, "deflater");
	struct buf z = {0}, out = {0};
	check(ws_deflate_message(deflaters[bits], data, size, &z) == 0, "deflate");
	check(z.len > 0, "empty compressed message");
	check(inflate_pieces((const uint8_t *)z.data, z.len, z.len, &out, size) == 0,
	      "round trip does not inflate");
	check(out.len == size && (size == 0 || memcmp(out.data, data, size) == 0),
	      "round trip differs");
	buf_free(&z);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_inflate(data, size);
	check_negotiate(data, size);
	check_round_trip(data, size);
	return 0;
}
