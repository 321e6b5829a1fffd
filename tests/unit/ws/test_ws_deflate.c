/*
 * test_ws_deflate.c - unit tests for permessage-deflate: offer parsing,
 * the response value, compression and capped decompression.
 *
 * The negotiation table covers the RFC 7692 §7.1 parameters one at a time
 * (each bad, duplicate or unknown parameter declines its own offer, and a
 * later good offer still wins). The codec tests use the RFC 7692 §7.2.3
 * byte examples, round trips of empty, small, random and text messages fed
 * whole and in pieces, and the failure modes that matter for a server: a
 * deflate bomb must stop at the cap, and truncated or trailing data must
 * be refused rather than silently accepted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "ws/ws_deflate.h"

#define MIB (1024u * 1024u)

/* ---- negotiation --------------------------------------------------------- */

struct nego_case {
	const char *offers;
	int want;            /* 1 accepted, 0 declined */
	uint8_t server_bits; /* when accepted */
	uint8_t client_bits; /* when accepted */
	bool server_requested;
};

static const struct nego_case nego_cases[] = {
        {"", 0, 0, 0, false},
        {"permessage-deflate", 1, 15, 15, false},
        {"PerMessage-Deflate", 1, 15, 15, false},
        {"  permessage-deflate  ", 1, 15, 15, false},
        /* RFC 7692 §7.1 parameters */
        {"permessage-deflate; client_max_window_bits", 1, 15, 15, false},
        {"permessage-deflate; client_max_window_bits=10", 1, 15, 10, false},
        {"permessage-deflate; client_max_window_bits=8", 1, 15, 8, false},
        {"permessage-deflate; client_max_window_bits=15", 1, 15, 15, false},
        {"permessage-deflate; server_max_window_bits=10", 1, 10, 15, true},
        {"permessage-deflate; server_max_window_bits=9", 1, 9, 15, true},
        {"permessage-deflate; server_max_window_bits=15", 1, 15, 15, true},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 1, 15, 15,
         false},
        {"permessage-deflate;server_max_window_bits=12;client_max_window_bits=11", 1, 12, 11, true},
        {"permessage-deflate ; server_max_window_bits = 12", 1, 12, 15, true},
        {"permessage-deflate\t;\tclient_no_context_takeover", 1, 15, 15, false},
        {"permessage-deflate; SERVER_MAX_WINDOW_BITS=11", 1, 11, 15, true},
        /* quoted values must still be valid tokens (RFC 7692 §5) */
        {"permessage-deflate; server_max_window_bits=\"10\"", 1, 10, 15, true},
        {"permessage-deflate; server_max_window_bits=\"1\\0\"", 1, 10, 15, true},
        {"permessage-deflate; client_max_window_bits=\"9\"", 1, 15, 9, false},
        {"permessage-deflate; server_max_window_bits=\"10 \"", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=\"\"", 0, 0, 0, false},
        {"permessage-deflate; client_max_window_bits=\"\"", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=\"1000000000000000\"", 0, 0, 0, false},
        /* window bits edges: 8 is valid but zlib cannot compress with it */
        {"permessage-deflate; server_max_window_bits=8", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=16", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=7", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=0", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=010", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=+9", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=1a", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits", 0, 0, 0, false},
        {"permessage-deflate; client_max_window_bits=16", 0, 0, 0, false},
        {"permessage-deflate; client_max_window_bits=7", 0, 0, 0, false},
        /* no-value parameters with a value, duplicates, unknowns */
        {"permessage-deflate; server_no_context_takeover=1", 0, 0, 0, false},
        {"permessage-deflate; client_no_context_takeover=\"\"", 0, 0, 0, false},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0, 0, 0,
         false},
        {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0, 0, 0, false},
        {"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", 0, 0, 0,
         false},
        {"permessage-deflate; foo", 0, 0, 0, false},
        {"permessage-deflate; max_window_bits=10", 0, 0, 0, false},
        {"permessage-deflatex", 0, 0, 0, false},
        /* syntax errors decline the element they are in */
        {"permessage-deflate;", 0, 0, 0, false},
        {"permessage-deflate;; server_no_context_takeover", 0, 0, 0, false},
        {"permessage-deflate; client_max_window_bits=", 0, 0, 0, false},
        {"permessage-deflate x", 0, 0, 0, false},
        {"permessage-deflate; a=\"unterminated", 0, 0, 0, false},
        {"=,;\"", 0, 0, 0, false},
        /* a later valid offer is accepted */
        {"permessage-deflate; server_max_window_bits=8, permessage-deflate", 1, 15, 15, false},
        {"permessage-deflate; foo, permessage-deflate; client_max_window_bits=12", 1, 15, 12,
         false},
        {"permessage-deflate; server_max_window_bits=16, "
         "permessage-deflate; server_max_window_bits=13",
         1, 13, 15, true},
        {"permessage-deflate x, permessage-deflate; server_max_window_bits=12", 1, 12, 15, true},
        {"permessage-deflate;, permessage-deflate", 1, 15, 15, false},
        /* RFC 7692 §5.1: the first acceptable offer wins */
        {"permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
         "permessage-deflate; client_max_window_bits",
         1, 10, 15, true},
        /* foreign extensions, including commas inside their quoted values */
        {"x-webkit-deflate-frame, permessage-deflate", 1, 15, 15, false},
        {"x-foo; bar=\"a, b\", permessage-deflate; server_max_window_bits=11", 1, 11, 15, true},
        {"x-foo; bar=\"a\\\", b\", permessage-deflate; server_max_window_bits=11", 1, 11, 15, true},
        {"x-foo; bar=\"unterminated, permessage-deflate", 0, 0, 0, false},
        {", , permessage-deflate ,,", 1, 15, 15, false},
};

static void test_negotiate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(nego_cases) / sizeof(nego_cases[0]); i++) {
		const struct nego_case *c = &nego_cases[i];
		struct ws_deflate_params p = {0};
		int got = ws_deflate_negotiate(c->offers, strlen(c->offers), &p);
		if (got != c->want)
			fail_msg("row %zu \"%s\": got %d want %d", i, c->offers, got, c->want);
		if (got == 1 && (p.server_max_window_bits != c->server_bits ||
		                 p.client_max_window_bits != c->client_bits ||
		                 p.server_bits_requested != c->server_requested))
			fail_msg("row %zu \"%s\": got %u/%u/%d want %u/%u/%d", i, c->offers,
			         p.server_max_window_bits, p.client_max_window_bits,
			         p.server_bits_requested, c->server_bits, c->client_bits,
			         c->server_requested);
	}
}

static void test_negotiate_not_nul_terminated(void **state)
{
	(void)state;
	/* Only len bytes are read: the "=8" past the end is not seen. */
	const char s[] = "permessage-deflate; server_max_window_bits=9=8";
	struct ws_deflate_params p;
	assert_int_equal(ws_deflate_negotiate(s, strlen(s) - 2, &p), 1);
	assert_int_equal(p.server_max_window_bits, 9);
}

static void test_response_strings(void **state)
{
	(void)state;
	char out[160];
	struct ws_deflate_params p = {.server_max_window_bits = 15, .client_max_window_bits = 15};
	const char *base = "permessage-deflate; server_no_context_takeover; "
	                   "client_no_context_takeover";
	assert_int_equal(ws_deflate_response(&p, out, sizeof(out)), strlen(base));
	assert_string_equal(out, base);
	/* client_max_window_bits is never echoed */
	p.client_max_window_bits = 9;
	assert_int_equal(ws_deflate_response(&p, out, sizeof(out)), strlen(base));
	assert_string_equal(out, base);
	p.server_max_window_bits = 10;
	assert_int_equal(ws_deflate_response(&p, out, sizeof(out)), strlen(base) + 27);
	assert_string_equal(out, "permessage-deflate; server_no_context_takeover; "
	                         "client_no_context_takeover; server_max_window_bits=10");
	/* an offered 15 must be echoed for the offer to count as accepted */
	p = (struct ws_deflate_params){15, 15, true};
	ws_deflate_response(&p, out, sizeof(out));
	assert_string_equal(out, "permessage-deflate; server_no_context_takeover; "
	                         "client_no_context_takeover; server_max_window_bits=15");
	/* exactly enough room for it and its NUL, then one byte less */
	size_t len = strlen(out);
	assert_int_equal(ws_deflate_response(&p, out, len + 1), len);
	assert_int_equal(ws_deflate_response(&p, out, len), 0);
}

/* ---- codec helpers -------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint8_t rng_byte(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 24);
}

static uint8_t *make_random(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = rng_byte();
	return p;
}

static uint8_t *make_text(size_t n)
{
	static const char *const words[] = {
	        "crier ", "publishes ", "messages ",     "to ",          "websocket ",
	        "and ",   "sse ",       "subscribers, ", "{\"id\":42} ", "\n"};
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	size_t i = 0;
	while (i < n) {
		const char *w = words[rng_byte() % 10];
		for (size_t j = 0; w[j] && i < n; j++)
			p[i++] = (uint8_t)w[j];
	}
	return p;
}

static void compress(int window_bits, const uint8_t *in, size_t len, struct buf *out)
{
	struct ws_deflater *d = ws_deflater_new(window_bits);
	assert_non_null(d);
	assert_int_equal(ws_deflate_message(d, in, len, out), 0);
	ws_deflater_free(d);
}

/* Inflates in[0..len) in pieces cut at the given positions (ascending),
 * fin on the last piece. */
static int inflate_cuts(const uint8_t *in, size_t len, const size_t *cuts, size_t n_cuts,
                        struct buf *out, uint64_t max_out)
{
	struct ws_inflater *inf = ws_inflater_new();
	assert_non_null(inf);
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i <= n_cuts && rc == 0; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		rc = ws_inflate(inf, in + at, end - at, i == n_cuts, out, max_out);
		at = end;
	}
	ws_inflater_free(inf);
	return rc;
}

static int inflate_whole(const uint8_t *in, size_t len, struct buf *out, uint64_t max_out)
{
	return inflate_cuts(in, len, NULL, 0, out, max_out);
}

static void expect_inflates_to(const uint8_t *in, size_t len, const char *want)
{
	struct buf out = {0};
	assert_int_equal(inflate_whole(in, len, &out, 1024), 0);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static void expect_inflate_error(const uint8_t *in, size_t len, int want)
{
	struct buf out = {0};
	int rc = inflate_whole(in, len, &out, MIB);
	if (rc != want)
		fail_msg("got %d (%s), want %s", rc, err_label(rc), err_label(want));
	buf_free(&out);
}

/* Round trip with several ways of cutting the compressed bytes. */
static void round_trip(int window_bits, const uint8_t *msg, size_t len, bool every_cut)
{
	struct buf z = {0};
	compress(window_bits, msg, len, &z);
	const uint8_t *zp = (const uint8_t *)z.data;
	size_t cuts[64];
	size_t n_cuts = 0;
	size_t step = every_cut ? 1 : (z.len / 7 + 1);
	for (size_t pos = 0; pos <= z.len; pos += step) {
		/* one cut at pos, including the empty first and last pieces */
		struct buf out = {0};
		size_t one[1] = {pos};
		assert_int_equal(inflate_cuts(zp, z.len, one, 1, &out, len), 0);
		assert_int_equal(out.len, len);
		if (len)
			assert_memory_equal(out.data, msg, len);
		buf_free(&out);
		if (n_cuts < 64)
			cuts[n_cuts++] = pos;
	}
	/* and all those cuts at once */
	struct buf out = {0};
	assert_int_equal(inflate_cuts(zp, z.len, cuts, n_cuts, &out, len), 0);
	assert_int_equal(out.len, len);
	if (len)
		assert_memory_equal(out.data, msg, len);
	buf_free(&out);
	buf_free(&z);
}

/* ---- RFC 7692 §7.2.3 examples ----------------------------------------------- */

static void test_rfc_examples(void **state)
{
	(void)state;
	/* §7.2.3.1: "Hello" in one fixed-Huffman block, tail stripped */
	static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	expect_inflates_to(hello, sizeof(hello), "Hello");
	/* §7.2.3.3: a stored (no compression) block */
	static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
	                                 0x65, 0x6c, 0x6c, 0x6f, 0x00};
	expect_inflates_to(stored, sizeof(stored), "Hello");
	/* §7.2.3.4: a BFINAL block, then the 0x00 of a stripped empty block */
	static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
	expect_inflates_to(bfinal, sizeof(bfinal), "Hello");
	/* ... and without that 0x00: the stream simply ended */
	expect_inflates_to(bfinal, sizeof(bfinal) - 1, "Hello");
	/* §7.2.3.5: two blocks in one message */
	static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
	                              0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
	expect_inflates_to(two, sizeof(two), "Hello");
	/* §7.2.3.6: an empty message is one 0x00 */
	static const uint8_t empty[] = {0x00};
	expect_inflates_to(empty, sizeof(empty), "");
	/* no payload at all is taken as empty too */
	expect_inflates_to(empty, 0, "");
}

static void test_rfc_examples_split(void **state)
{
	(void)state;
	static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
	static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
	                              0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
	for (size_t cut = 0; cut <= sizeof(two); cut++) {
		struct buf out = {0};
		assert_int_equal(inflate_cuts(two, sizeof(two), &cut, 1, &out, 5), 0);
		assert_int_equal(out.len, 5);
		buf_free(&out);
		if (cut <= sizeof(bfinal)) {
			assert_int_equal(inflate_cuts(bfinal, sizeof(bfinal), &cut, 1, &out, 5), 0);
			assert_memory_equal(out.data, "Hello", 5);
			buf_free(&out);
		}
	}
}

static void test_compressed_hello_matches_rfc(void **state)
{
	(void)state;
	/* Our deflater produces the RFC's bytes, twice in a row: no context
	 * is carried from one message to the next. */
	struct ws_deflater *d = ws_deflater_new(15);
	assert_non_null(d);
	static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	for (int i = 0; i < 2; i++) {
		struct buf out = {0};
		assert_int_equal(ws_deflate_message(d, (const uint8_t *)"Hello", 5, &out), 0);
		assert_int_equal(out.len, sizeof(hello));
		assert_memory_equal(out.data, hello, sizeof(hello));
		buf_free(&out);
	}
	ws_deflater_free(d);
}

static void test_empty_message_is_one_zero(void **state)
{
	(void)state;
	struct buf out = {0};
	compress(15, NULL, 0, &out);
	assert_int_equal(out.len, 1);
	assert_int_equal((uint8_t)out.data[0], 0x00);
	buf_free(&out);
}

static void test_deflate_appends(void **state)
{
	(void)state;
	/* The output is appended after what the caller already holds. */
	struct buf out = {0};
	assert_int_equal(buf_append(&out, "\x81\x05", 2), 0);
	compress(15, (const uint8_t *)"Hello", 5, &out);
	assert_int_equal(out.len, 9);
	assert_memory_equal(out.data, "\x81\x05\xf2\x48\xcd\xc9\xc9\x07\x00", 9);
	buf_free(&out);
}

static void test_deflater_window_bounds(void **state)
{
	(void)state;
	assert_null(ws_deflater_new(8));
	assert_null(ws_deflater_new(16));
	assert_null(ws_deflater_new(0));
	assert_null(ws_deflater_new(-15));
	ws_deflater_free(NULL);
	ws_inflater_free(NULL);
}

/* ---- round trips ------------------------------------------------------------ */

static void test_round_trip_small(void **state)
{
	(void)state;
	round_trip(15, (const uint8_t *)"", 0, true);
	round_trip(15, (const uint8_t *)"a", 1, true);
	round_trip(15, (const uint8_t *)"Hello", 5, true);
	uint8_t *text = make_text(3000);
	uint8_t *rnd = make_random(700);
	for (int bits = 9; bits <= 15; bits++) {
		round_trip(bits, text, 3000, true);
		round_trip(bits, rnd, 700, true);
	}
	free(text);
	free(rnd);
}

static void test_round_trip_1mib(void **state)
{
	(void)state;
	uint8_t *text = make_text(MIB);
	uint8_t *rnd = make_random(MIB);
	round_trip(15, text, MIB, false);
	round_trip(15, rnd, MIB, false);
	round_trip(9, text, MIB, false);
	free(text);
	free(rnd);
}

static void test_round_trip_byte_pieces(void **state)
{
	(void)state;
	/* Every compressed byte its own call. */
	uint8_t *text = make_text(5000);
	struct buf z = {0};
	compress(15, text, 5000, &z);
	struct ws_inflater *inf = ws_inflater_new();
	struct buf out = {0};
	for (size_t i = 0; i < z.len; i++)
		assert_int_equal(ws_inflate(inf, (uint8_t *)z.data + i, 1, false, &out, 5000), 0);
	assert_int_equal(ws_inflate(inf, NULL, 0, true, &out, 5000), 0);
	assert_int_equal(out.len, 5000);
	assert_memory_equal(out.data, text, 5000);
	ws_inflater_free(inf);
	buf_free(&out);
	buf_free(&z);
	free(text);
}

/* ---- the output cap ----------------------------------------------------------- */

static void test_deflate_bomb(void **state)
{
	(void)state;
	uint8_t *zeros = calloc(10 * MIB, 1);
	assert_non_null(zeros);
	struct buf z = {0};
	compress(15, zeros, 10 * MIB, &z);
	free(zeros);
	assert_true(z.len < 20 * 1024);
	/* whole, and in 100-byte pieces */
	struct buf out = {0};
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, MIB), CRIER_EWS_TOO_BIG);
	assert_true(out.len <= MIB + 1);
	assert_true(out.cap <= 2 * MIB + 64 * 1024);
	buf_free(&out);
	struct ws_inflater *inf = ws_inflater_new();
	int rc = 0;
	for (size_t at = 0; at < z.len && rc == 0; at += 100) {
		size_t n = z.len - at < 100 ? z.len - at : 100;
		rc = ws_inflate(inf, (uint8_t *)z.data + at, n, at + n == z.len, &out, MIB);
	}
	assert_int_equal(rc, CRIER_EWS_TOO_BIG);
	assert_true(out.len <= MIB + 1);
	ws_inflater_free(inf);
	buf_free(&out);
	buf_free(&z);
}

static void test_cap_is_exact(void **state)
{
	(void)state;
	uint8_t *text = make_text(40000);
	struct buf z = {0};
	compress(15, text, 40000, &z);
	struct buf out = {0};
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, 40000), 0);
	assert_int_equal(out.len, 40000);
	buf_free(&out);
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, 39999), CRIER_EWS_TOO_BIG);
	assert_true(out.len <= 40000);
	buf_free(&out);
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, 0), CRIER_EWS_TOO_BIG);
	assert_true(out.len <= 1);
	buf_free(&out);
	/* no overflow at the top of the range */
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, UINT64_MAX), 0);
	assert_int_equal(out.len, 40000);
	buf_free(&out);
	/* bytes already in out count against the cap */
	assert_int_equal(buf_append(&out, "0123456789", 10), 0);
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, 40009), CRIER_EWS_TOO_BIG);
	buf_free(&out);
	assert_int_equal(buf_append(&out, "0123456789", 10), 0);
	assert_int_equal(inflate_whole((uint8_t *)z.data, z.len, &out, 40010), 0);
	assert_memory_equal(out.data + 10, text, 40000);
	buf_free(&out);
	/* an empty message fits a zero cap */
	static const uint8_t empty[] = {0x00};
	assert_int_equal(inflate_whole(empty, 1, &out, 0), 0);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	buf_free(&z);
	free(text);
}

/* ---- invalid data ------------------------------------------------------------- */

static void test_garbage(void **state)
{
	(void)state;
	/* BTYPE 11 is reserved (RFC 1951 §3.2.3) */
	static const uint8_t reserved[] = {0xff, 0xff, 0xff, 0xff};
	expect_inflate_error(reserved, sizeof(reserved), CRIER_EWS_INFLATE);
	static const uint8_t reserved_nonfinal[] = {0x06};
	expect_inflate_error(reserved_nonfinal, sizeof(reserved_nonfinal), CRIER_EWS_INFLATE);
	/* stored block whose NLEN is not the complement of LEN */
	static const uint8_t bad_nlen[] = {0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o'};
	expect_inflate_error(bad_nlen, sizeof(bad_nlen), CRIER_EWS_INFLATE);
	/* a zlib header is not raw deflate */
	static const uint8_t zlib_hdr[] = {0x78, 0x9c, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	expect_inflate_error(zlib_hdr, sizeof(zlib_hdr), CRIER_EWS_INFLATE);
	/* RFC 7692 §7.2.3.2's second message refers back into the first:
	 * without context takeover there is nothing to refer to. */
	static const uint8_t shared[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
	expect_inflate_error(shared, sizeof(shared), CRIER_EWS_INFLATE);
}

static void test_trailing_after_bfinal(void **state)
{
	(void)state;
	static const uint8_t two_zeros[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00};
	expect_inflate_error(two_zeros, sizeof(two_zeros), CRIER_EWS_INFLATE);
	static const uint8_t junk[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x01};
	expect_inflate_error(junk, sizeof(junk), CRIER_EWS_INFLATE);
	static const uint8_t second[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
	                                 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	expect_inflate_error(second, sizeof(second), CRIER_EWS_INFLATE);
	/* the trailing byte in a later piece is caught too */
	struct ws_inflater *inf = ws_inflater_new();
	struct buf out = {0};
	assert_int_equal(ws_inflate(inf, two_zeros, 8, false, &out, 100), 0);
	assert_int_equal(ws_inflate(inf, two_zeros + 8, 1, true, &out, 100), CRIER_EWS_INFLATE);
	ws_inflater_free(inf);
	buf_free(&out);
}

static void test_truncated(void **state)
{
	(void)state;
	uint8_t *text = make_text(20000);
	struct buf z = {0};
	compress(15, text, 20000, &z);
	/* cut inside the (single, dynamic-Huffman) block */
	expect_inflate_error((uint8_t *)z.data, z.len / 2, CRIER_EWS_INFLATE);
	expect_inflate_error((uint8_t *)z.data, 3, CRIER_EWS_INFLATE);
	/* a stored block shorter than its LEN */
	static const uint8_t short_stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e'};
	expect_inflate_error(short_stored, sizeof(short_stored), CRIER_EWS_INFLATE);
	/* the fixed block of "Hello" without its end-of-block code */
	static const uint8_t no_eob[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9};
	expect_inflate_error(no_eob, sizeof(no_eob), CRIER_EWS_INFLATE);
	buf_free(&z);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_negotiate_table),
	        cmocka_unit_test(test_negotiate_not_nul_terminated),
	        cmocka_unit_test(test_response_strings),
	        cmocka_unit_test(test_rfc_examples),
	        cmocka_unit_test(test_rfc_examples_split),
	        cmocka_unit_test(test_compressed_hello_matches_rfc),
	        cmocka_unit_test(test_empty_message_is_one_zero),
	        cmocka_unit_test(test_deflate_appends),
	        cmocka_unit_test(test_deflater_window_bounds),
	        cmocka_unit_test(test_round_trip_small),
	        cmocka_unit_test(test_round_trip_1mib),
	        cmocka_unit_test(test_round_trip_byte_pieces),
	        cmocka_unit_test(test_deflate_bomb),
	        cmocka_unit_test(test_cap_is_exact),
	        cmocka_unit_test(test_garbage),
	        cmocka_unit_test(test_trailing_after_bfinal),
	        cmocka_unit_test(test_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
