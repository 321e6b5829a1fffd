/*
 * test_ws_frame.c - unit tests for the WebSocket frame parser and encoder.
 *
 * Every piece handed to the parser is copied to the very end of a writable
 * mapping whose next page is PROT_NONE, so reading (or unmasking) one byte
 * past the caller's length crashes the test instead of passing by luck.
 * A recorder drives the parser the way a connection does (call again while
 * bytes remain) and checks the event contract on every call: slices lie
 * inside the input, a header event carries no data, the payload of a frame
 * adds up to its frame_len. On top of the field-by-field checks, vectors
 * are fed split at every one and every pair of positions, for both roles:
 * the events and payload must not depend on where the reads fell.
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
#include "ws/ws_frame.h"

/* A string literal as (const uint8_t *, length), NULs included. */
#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

#define GUARD_BYTES (256 * 1024)
#define MAX_FRAMES  16
#define PAYLOAD_MAX (200 * 1024)
#define WIRE_MAX    (200 * 1024)

static uint8_t *guard_base;

/* Maps GUARD_BYTES of read-write memory followed by one PROT_NONE page. */
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

/* Copies s[0..n) so that its last byte is the last accessible byte. */
static uint8_t *guard_place(const uint8_t *s, size_t n)
{
	assert_true(n <= GUARD_BYTES);
	uint8_t *p = guard_base + GUARD_BYTES - n;
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

/* One frame as the recorder saw it. */
struct rec_frame {
	uint8_t opcode, msg_opcode;
	bool fin, rsv1, ended;
	uint64_t frame_len;
	size_t off; /* of its payload in rec.payload */
	size_t got; /* payload bytes delivered so far */
};

/* Everything a run of the parser produced, comparable with memcmp-free
 * field checks (rec_equal). */
struct rec {
	struct rec_frame frames[MAX_FRAMES];
	size_t nframes;
	uint8_t payload[PAYLOAD_MAX];
	size_t payload_len;
	int64_t err;
};

static struct rec rec_a, rec_b;

/* Checks one event against the contract and appends it to r. */
static void rec_event(struct rec *r, const struct ws_frame_event *ev, const uint8_t *at,
                      size_t left, int64_t rc)
{
	assert_true(rc > 0 && (uint64_t)rc <= left);
	if (ev->frame_start) {
		assert_true(r->nframes == 0 || r->frames[r->nframes - 1].ended);
		assert_true(r->nframes < MAX_FRAMES);
		assert_null(ev->data);
		assert_int_equal(ev->len, 0);
		r->frames[r->nframes++] = (struct rec_frame){
		        .opcode = ev->opcode,
		        .msg_opcode = ev->msg_opcode,
		        .fin = ev->fin,
		        .rsv1 = ev->rsv1,
		        .frame_len = ev->frame_len,
		        .off = r->payload_len,
		};
	} else if (ev->len == 0) {
		/* header bytes went into the spill: all of them, nothing else */
		assert_false(ev->frame_end);
		assert_int_equal((size_t)rc, left);
		return;
	}
	assert_true(r->nframes > 0);
	struct rec_frame *f = &r->frames[r->nframes - 1];
	assert_false(f->ended);
	assert_int_equal(ev->opcode, f->opcode);
	assert_int_equal(ev->msg_opcode, f->msg_opcode);
	assert_int_equal(ev->fin, f->fin);
	assert_int_equal(ev->rsv1, f->rsv1);
	if (ev->len > 0) {
		assert_ptr_equal(ev->data, at); /* payload slices start where the call did */
		assert_int_equal(ev->len, (size_t)rc);
		assert_true(r->payload_len + ev->len <= PAYLOAD_MAX);
		memcpy(r->payload + r->payload_len, ev->data, ev->len);
		r->payload_len += ev->len;
		f->got += ev->len;
	}
	assert_true(f->got <= f->frame_len);
	if (ev->frame_end) {
		assert_int_equal(f->got, f->frame_len);
		f->ended = true;
	}
}

/* Feeds one piece the way a connection does: call again while bytes remain. */
static void rec_feed(struct ws_frame_parser *p, const uint8_t *piece, size_t n, struct rec *r)
{
	uint8_t *buf = guard_place(piece, n);
	size_t off = 0;
	while (off < n && r->err == 0) {
		struct ws_frame_event ev;
		int64_t rc = ws_frame_parse(p, buf + off, n - off, &ev);
		if (rc < 0) {
			r->err = rc;
			return;
		}
		rec_event(r, &ev, buf + off, n - off, rc);
		off += (size_t)rc;
	}
}

/* Parses wire[0..n) cut at the ascending positions cuts[0..ncuts). */
static void rec_run(enum ws_role role, bool allow_rsv1, const uint8_t *wire, size_t n,
                    const size_t *cuts, size_t ncuts, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	struct ws_frame_parser p;
	ws_frame_parser_init(&p, role, allow_rsv1);
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		rec_feed(&p, wire + from, to - from, r);
		from = to;
	}
}

static void rec_equal(const struct rec *a, const struct rec *b)
{
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->nframes, b->nframes);
	for (size_t i = 0; i < a->nframes; i++) {
		const struct rec_frame *x = &a->frames[i], *y = &b->frames[i];
		assert_int_equal(x->opcode, y->opcode);
		assert_int_equal(x->msg_opcode, y->msg_opcode);
		assert_int_equal(x->fin, y->fin);
		assert_int_equal(x->rsv1, y->rsv1);
		assert_int_equal(x->ended, y->ended);
		assert_int_equal(x->frame_len, y->frame_len);
		assert_int_equal(x->got, y->got);
	}
	assert_int_equal(a->payload_len, b->payload_len);
	assert_memory_equal(a->payload, b->payload, a->payload_len);
}

/* Parses wire whole into rec_a, then split at every position, every pair
 * of positions (when pairs is set) and one byte at a time, each compared
 * with the whole. */
static void check_splits(enum ws_role role, bool allow_rsv1, const uint8_t *wire, size_t n,
                         bool pairs)
{
	rec_run(role, allow_rsv1, wire, n, NULL, 0, &rec_a);
	for (size_t i = 0; i <= n; i++) {
		rec_run(role, allow_rsv1, wire, n, &i, 1, &rec_b);
		rec_equal(&rec_a, &rec_b);
		for (size_t j = i; pairs && j <= n; j++) {
			size_t cuts[2] = {i, j};
			rec_run(role, allow_rsv1, wire, n, cuts, 2, &rec_b);
			rec_equal(&rec_a, &rec_b);
		}
	}
	if (n > 0 && n < 4096) {
		size_t cuts[4096];
		for (size_t i = 0; i + 1 < n; i++)
			cuts[i] = i + 1;
		rec_run(role, allow_rsv1, wire, n, cuts, n - 1, &rec_b);
		rec_equal(&rec_a, &rec_b);
	}
}

/* Appends one frame to wire at *n, masked with key when it is non-NULL. */
static void put_frame(uint8_t *wire, size_t *n, enum ws_opcode op, bool fin, bool rsv1,
                      const uint8_t *payload, size_t len, const uint8_t *key)
{
	assert_true(*n + WS_FRAME_HEADER_MAX + len <= WIRE_MAX);
	*n += ws_frame_header(wire + *n, op, fin, rsv1, len, key);
	if (len > 0)
		memcpy(wire + *n, payload, len);
	if (key != NULL)
		ws_frame_mask(wire + *n, len, key, 0);
	*n += len;
}

/* Deterministic filler for payloads. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static uint8_t wire[WIRE_MAX];
static uint8_t payload[PAYLOAD_MAX];

static const uint8_t key_rfc[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- RFC 6455 §5.7 examples ---- */

static void test_rfc_unmasked_hello(void **state)
{
	(void)state;
	static const uint8_t w[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	rec_run(WS_ROLE_CLIENT, false, w, sizeof(w), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.nframes, 1);
	assert_int_equal(rec_a.frames[0].opcode, WS_OP_TEXT);
	assert_int_equal(rec_a.frames[0].msg_opcode, WS_OP_TEXT);
	assert_true(rec_a.frames[0].fin);
	assert_true(rec_a.frames[0].ended);
	assert_int_equal(rec_a.frames[0].frame_len, 5);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_CLIENT, false, w, sizeof(w), true);

	/* the server must refuse it: clients mask */
	rec_run(WS_ROLE_SERVER, false, w, sizeof(w), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, CRIER_EWS_UNMASKED);

	uint8_t h[WS_FRAME_HEADER_MAX];
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, false, 5, NULL), 2);
	assert_memory_equal(h, w, 2);
}

static void test_rfc_masked_hello(void **state)
{
	(void)state;
	static const uint8_t w[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                            0x7f, 0x9f, 0x4d, 0x51, 0x58};
	rec_run(WS_ROLE_SERVER, false, w, sizeof(w), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.nframes, 1);
	assert_int_equal(rec_a.frames[0].frame_len, 5);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_SERVER, false, w, sizeof(w), true);

	rec_run(WS_ROLE_CLIENT, false, w, sizeof(w), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, CRIER_EWS_MASKED);

	/* the encoder produces the same bytes */
	size_t n = 0;
	put_frame(wire, &n, WS_OP_TEXT, true, false, LIT("Hello"), key_rfc);
	assert_int_equal(n, sizeof(w));
	assert_memory_equal(wire, w, sizeof(w));
}

static void test_rfc_fragmented_hello(void **state)
{
	(void)state;
	static const uint8_t w[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
	rec_run(WS_ROLE_CLIENT, false, w, sizeof(w), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.nframes, 2);
	assert_int_equal(rec_a.frames[0].opcode, WS_OP_TEXT);
	assert_false(rec_a.frames[0].fin);
	assert_int_equal(rec_a.frames[1].opcode, WS_OP_CONT);
	assert_int_equal(rec_a.frames[1].msg_opcode, WS_OP_TEXT);
	assert_true(rec_a.frames[1].fin);
	assert_int_equal(rec_a.payload_len, 5);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_CLIENT, false, w, sizeof(w), true);
}

static void test_rfc_ping_pong(void **state)
{
	(void)state;
	/* unmasked ping, then a masked pong with the same body */
	static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                               0x7f, 0x9f, 0x4d, 0x51, 0x58};
	rec_run(WS_ROLE_CLIENT, false, ping, sizeof(ping), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.frames[0].opcode, WS_OP_PING);
	assert_int_equal(rec_a.frames[0].msg_opcode, 0);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_CLIENT, false, ping, sizeof(ping), true);

	rec_run(WS_ROLE_SERVER, false, pong, sizeof(pong), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.frames[0].opcode, WS_OP_PONG);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_SERVER, false, pong, sizeof(pong), true);
}

static void test_rfc_long_binary_headers(void **state)
{
	(void)state;
	static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
	static const uint8_t h64k[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
	uint8_t h[WS_FRAME_HEADER_MAX];
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, false, 256, NULL), 4);
	assert_memory_equal(h, h256, 4);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, false, 65536, NULL), 10);
	assert_memory_equal(h, h64k, 10);

	size_t sizes[] = {256, 65536};
	for (size_t k = 0; k < 2; k++) {
		size_t n = 0;
		fill(payload, sizes[k], (uint32_t)k);
		put_frame(wire, &n, WS_OP_BINARY, true, false, payload, sizes[k], NULL);
		rec_run(WS_ROLE_CLIENT, false, wire, n, NULL, 0, &rec_a);
		assert_int_equal(rec_a.err, 0);
		assert_int_equal(rec_a.frames[0].opcode, WS_OP_BINARY);
		assert_int_equal(rec_a.frames[0].frame_len, sizes[k]);
		assert_memory_equal(rec_a.payload, payload, sizes[k]);
	}
}

/* ---- encoder ---- */

static void test_header_encoding(void **state)
{
	(void)state;
	static const uint8_t key[4] = {1, 2, 3, 4};
	uint8_t h[WS_FRAME_HEADER_MAX];
	struct {
		uint64_t len;
		size_t size; /* unmasked header length */
	} v[] = {
	        {0, 2},          {1, 2},           {125, 2},    {126, 4},
	        {127, 4},        {65535, 4},       {65536, 10}, {UINT32_MAX, 10},
	        {INT64_MAX, 10}, {UINT64_MAX, 10}, /* the encoder writes what it is told */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, false, v[i].len, NULL),
		                 v[i].size);
		assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, false, v[i].len, key),
		                 v[i].size + 4);
		assert_memory_equal(h + v[i].size, key, 4);
		assert_int_equal(h[1] & 0x80, 0x80);
	}
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, false, true, 3, NULL), 2);
	assert_int_equal(h[0], 0x41); /* RSV1, no FIN */
	assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, true, false, 2, NULL), 2);
	assert_int_equal(h[0], 0x88);
	assert_int_equal(ws_frame_header(h, WS_OP_CONT, false, false, 126, NULL), 4);
	assert_memory_equal(h, "\x00\x7e\x00\x7e", 4);
	ws_frame_header(h, WS_OP_BINARY, true, false, 0x0102030405060708u, NULL);
	assert_memory_equal(h, "\x82\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10);
}

/* Every length-encoding boundary, both roles, as one frame followed by a
 * small one (so the parser's position after the big payload is checked). */
static void test_every_header_size(void **state)
{
	(void)state;
	static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
	static const size_t lens[] = {0,   1,   2,   3,   7,    8,     9,     124,   125,   126,
	                              127, 128, 255, 256, 1000, 65535, 65536, 65537, 100000};
	for (int role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		const uint8_t *k = role == WS_ROLE_SERVER ? key : NULL;
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t len = lens[i], n = 0;
			fill(payload, len + 3, (uint32_t)len);
			put_frame(wire, &n, WS_OP_BINARY, true, false, payload, len, k);
			size_t hdr = n - len;
			assert_int_equal(hdr, (len <= 125     ? 2u
			                       : len <= 65535 ? 4u
			                                      : 10u) +
			                              (k ? 4u : 0u));
			put_frame(wire, &n, WS_OP_TEXT, true, false, payload + len, 3, k);

			rec_run((enum ws_role)role, false, wire, n, NULL, 0, &rec_a);
			assert_int_equal(rec_a.err, 0);
			assert_int_equal(rec_a.nframes, 2);
			assert_int_equal(rec_a.frames[0].frame_len, len);
			assert_int_equal(rec_a.frames[1].frame_len, 3);
			assert_true(rec_a.frames[1].ended);
			assert_memory_equal(rec_a.payload, payload, len + 3);

			/* cuts around the header and the frame boundary; every cut
			 * when the frame is small */
			if (len <= 300) {
				check_splits((enum ws_role)role, false, wire, n, len <= 130);
				continue;
			}
			for (size_t c = 0; c <= n; c++) {
				if (c > hdr + 9 && c + 9 < n && c != n - len / 2 &&
				    (c < hdr + len - 9 || c > hdr + len + 9))
					continue;
				rec_run((enum ws_role)role, false, wire, n, &c, 1, &rec_b);
				rec_equal(&rec_a, &rec_b);
			}
		}
	}
}

/* Non-minimal length encodings are accepted (see ws_frame_payload_len). */
static void test_non_minimal_length(void **state)
{
	(void)state;
	rec_run(WS_ROLE_CLIENT, false, LIT("\x81\x7e\x00\x05Hello"), NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.frames[0].frame_len, 5);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	rec_run(WS_ROLE_CLIENT, false, LIT("\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x05Hello"), NULL,
	        0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_memory_equal(rec_a.payload, "Hello", 5);
	check_splits(WS_ROLE_CLIENT, false,
	             LIT("\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x05Hello\x89\x7e\x00\x00"), true);
}

/* The largest legal length parses; the parser then waits for payload. */
static void test_len64_max(void **state)
{
	(void)state;
	rec_run(WS_ROLE_CLIENT, false,
	        LIT("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
	            "abc"),
	        NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.frames[0].frame_len, INT64_MAX);
	assert_int_equal(rec_a.frames[0].got, 3);
	assert_false(rec_a.frames[0].ended);
}

/* ---- masking ---- */

static void test_mask_matches_bytewise(void **state)
{
	(void)state;
	static const uint8_t key[4] = {0x11, 0x22, 0x44, 0x88};
	uint8_t buf[64], ref[64];
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; off + len <= 48; len++) {
			for (uint8_t phase = 0; phase < 4; phase++) {
				fill(buf, sizeof(buf), (uint32_t)(off * 100 + len));
				memcpy(ref, buf, sizeof(buf));
				for (size_t i = 0; i < len; i++)
					ref[off + i] ^= key[(phase + i) % 4];
				uint8_t out = ws_frame_mask(buf + off, len, key, phase);
				assert_int_equal(out, (phase + len) % 4);
				assert_memory_equal(buf, ref, sizeof(buf));
			}
		}
	}
}

/* Masking in pieces (keeping the phase) equals masking at once, and a
 * second pass unmasks. */
static void test_mask_phase_across_pieces(void **state)
{
	(void)state;
	uint8_t a[100], b[100], orig[100];
	fill(orig, sizeof(orig), 7);
	for (size_t cut1 = 0; cut1 <= 100; cut1 += 3) {
		for (size_t cut2 = cut1; cut2 <= 100; cut2 += 7) {
			memcpy(a, orig, 100);
			memcpy(b, orig, 100);
			ws_frame_mask(a, 100, key_rfc, 0);
			uint8_t ph = ws_frame_mask(b, cut1, key_rfc, 0);
			ph = ws_frame_mask(b + cut1, cut2 - cut1, key_rfc, ph);
			ws_frame_mask(b + cut2, 100 - cut2, key_rfc, ph);
			assert_memory_equal(a, b, 100);
			ws_frame_mask(b, 100, key_rfc, 0);
			assert_memory_equal(b, orig, 100);
		}
	}
}

/* Client frames (masked by the encoder) parse back as a server. */
static void test_mask_round_trip(void **state)
{
	(void)state;
	for (uint32_t seed = 0; seed < 64; seed++) {
		uint8_t key[4];
		fill(key, 4, seed + 1000);
		size_t len = seed * 37 % 300;
		fill(payload, len, seed);
		size_t n = 0;
		put_frame(wire, &n, seed & 1 ? WS_OP_TEXT : WS_OP_BINARY, true, false, payload, len,
		          key);
		rec_run(WS_ROLE_SERVER, false, wire, n, NULL, 0, &rec_a);
		assert_int_equal(rec_a.err, 0);
		assert_int_equal(rec_a.payload_len, len);
		assert_memory_equal(rec_a.payload, payload, len);
		if (seed < 4)
			check_splits(WS_ROLE_SERVER, false, wire, n, false);
	}
}

/* ---- events ---- */

static void test_empty_call_and_partial_header(void **state)
{
	(void)state;
	struct ws_frame_parser p;
	struct ws_frame_event ev;
	ws_frame_parser_init(&p, WS_ROLE_SERVER, false);
	uint8_t *b = guard_place(LIT("\x81\x85\x01\x02"));
	assert_int_equal(ws_frame_parse(&p, b, 0, &ev), 0);
	assert_false(ev.frame_start || ev.frame_end);
	assert_int_equal(ws_frame_parse(&p, b, 4, &ev), 4); /* into the spill */
	assert_false(ev.frame_start || ev.frame_end);
	assert_int_equal(ev.len, 0);
	assert_null(ev.data);
	b = guard_place(LIT("\x03\x04"
	                    "abcde"));
	assert_int_equal(ws_frame_parse(&p, b, 7, &ev), 2); /* header done */
	assert_true(ev.frame_start);
	assert_false(ev.frame_end);
	assert_int_equal(ev.frame_len, 5);
	assert_int_equal(ev.opcode, WS_OP_TEXT);
	assert_int_equal(ev.msg_opcode, WS_OP_TEXT);
	assert_true(ev.fin);
	assert_int_equal(ws_frame_parse(&p, b + 2, 2, &ev), 2); /* first payload slice */
	assert_false(ev.frame_start || ev.frame_end);
	assert_ptr_equal(ev.data, b + 2);
	assert_int_equal(ev.len, 2);
	assert_int_equal(ws_frame_parse(&p, b + 4, 3, &ev), 3);
	assert_true(ev.frame_end);
	assert_false(ev.frame_start);
}

static void test_empty_frames(void **state)
{
	(void)state;
	static const uint8_t key[4] = {9, 8, 7, 6};
	for (int role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		const uint8_t *k = role == WS_ROLE_SERVER ? key : NULL;
		size_t n = 0;
		put_frame(wire, &n, WS_OP_TEXT, true, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_BINARY, false, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_PING, true, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_CONT, false, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_CONT, true, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_CLOSE, true, false, NULL, 0, k);
		rec_run((enum ws_role)role, false, wire, n, NULL, 0, &rec_a);
		assert_int_equal(rec_a.err, 0);
		assert_int_equal(rec_a.nframes, 6);
		assert_int_equal(rec_a.payload_len, 0);
		static const uint8_t msg[] = {WS_OP_TEXT,   WS_OP_BINARY, 0,
		                              WS_OP_BINARY, WS_OP_BINARY, 0};
		for (size_t i = 0; i < 6; i++) {
			assert_true(rec_a.frames[i].ended);
			assert_int_equal(rec_a.frames[i].frame_len, 0);
			assert_int_equal(rec_a.frames[i].msg_opcode, msg[i]);
		}
		check_splits((enum ws_role)role, false, wire, n, true);
	}
}

/* Control frames between the fragments of a message carry no message
 * opcode and leave the message open. */
static void test_control_interleaved(void **state)
{
	(void)state;
	static const uint8_t key[4] = {0xa5, 0x5a, 0x00, 0xff};
	for (int role = WS_ROLE_SERVER; role <= WS_ROLE_CLIENT; role++) {
		const uint8_t *k = role == WS_ROLE_SERVER ? key : NULL;
		size_t n = 0;
		put_frame(wire, &n, WS_OP_TEXT, false, false, LIT("Hel"), k);
		put_frame(wire, &n, WS_OP_PING, true, false, LIT("p"), k);
		put_frame(wire, &n, WS_OP_CONT, false, false, LIT("l"), k);
		put_frame(wire, &n, WS_OP_PONG, true, false, NULL, 0, k);
		put_frame(wire, &n, WS_OP_CLOSE, true, false, LIT("\x03\xe8"), k);
		put_frame(wire, &n, WS_OP_CONT, true, false, LIT("o"), k);
		put_frame(wire, &n, WS_OP_BINARY, true, false, LIT("b"), k);
		put_frame(wire, &n, WS_OP_PING, true, false, NULL, 0, k);
		rec_run((enum ws_role)role, false, wire, n, NULL, 0, &rec_a);
		assert_int_equal(rec_a.err, 0);
		assert_int_equal(rec_a.nframes, 8);
		static const uint8_t op[] = {WS_OP_TEXT,  WS_OP_PING, WS_OP_CONT,   WS_OP_PONG,
		                             WS_OP_CLOSE, WS_OP_CONT, WS_OP_BINARY, WS_OP_PING};
		static const uint8_t msg[] = {WS_OP_TEXT, 0,          WS_OP_TEXT,   0,
		                              0,          WS_OP_TEXT, WS_OP_BINARY, 0};
		for (size_t i = 0; i < 8; i++) {
			assert_int_equal(rec_a.frames[i].opcode, op[i]);
			assert_int_equal(rec_a.frames[i].msg_opcode, msg[i]);
		}
		assert_memory_equal(rec_a.payload, "Helpl\x03\xe8ob", 9);
		check_splits((enum ws_role)role, false, wire, n, true);
	}
}

static void test_rsv1_allowed(void **state)
{
	(void)state;
	static const uint8_t key[4] = {1, 1, 1, 1};
	size_t n = 0;
	put_frame(wire, &n, WS_OP_TEXT, false, true, LIT("ab"), key);
	put_frame(wire, &n, WS_OP_PING, true, false, NULL, 0, key);
	put_frame(wire, &n, WS_OP_CONT, true, false, LIT("c"), key);
	put_frame(wire, &n, WS_OP_BINARY, true, true, LIT("d"), key);
	put_frame(wire, &n, WS_OP_TEXT, true, false, LIT("e"), key); /* uncompressed is fine */
	rec_run(WS_ROLE_SERVER, true, wire, n, NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, 0);
	assert_int_equal(rec_a.nframes, 5);
	assert_true(rec_a.frames[0].rsv1);
	assert_false(rec_a.frames[2].rsv1);
	assert_true(rec_a.frames[3].rsv1);
	assert_false(rec_a.frames[4].rsv1);
	check_splits(WS_ROLE_SERVER, true, wire, n, true);

	/* without permessage-deflate the first frame already fails */
	rec_run(WS_ROLE_SERVER, false, wire, n, NULL, 0, &rec_a);
	assert_int_equal(rec_a.err, CRIER_EWS_RSV);
	assert_int_equal(rec_a.nframes, 0);
}

/* ---- protocol violations ---- */

struct bad_case {
	const char *name;
	enum ws_role role;
	bool allow_rsv1;
	const uint8_t *wire;
	size_t n;
	int code;
	size_t good_frames; /* frames before the bad one */
};

/* Masked frames below use the key 00 00 00 00 so the bytes stay readable. */
#define M "\x00\x00\x00\x00"
#define S WS_ROLE_SERVER
#define C WS_ROLE_CLIENT
static const struct bad_case bad_cases[] = {
        {"rsv2", S, true, LIT("\xa1\x80" M), CRIER_EWS_RSV, 0},
        {"rsv3", S, true, LIT("\x91\x80" M), CRIER_EWS_RSV, 0},
        {"rsv2 client", C, false, LIT("\xa2\x00"), CRIER_EWS_RSV, 0},
        {"rsv1 no deflate", S, false, LIT("\xc1\x80" M), CRIER_EWS_RSV, 0},
        {"rsv1 no deflate client", C, false, LIT("\xc2\x00"), CRIER_EWS_RSV, 0},
        {"rsv1 on cont", S, true, LIT("\x01\x80" M "\xc0\x80" M), CRIER_EWS_RSV, 1},
        {"rsv1 on ping", S, true, LIT("\xc9\x80" M), CRIER_EWS_RSV, 0},
        {"rsv1 on close", C, true, LIT("\xc8\x00"), CRIER_EWS_RSV, 0},
        {"ping not fin", S, false, LIT("\x09\x80" M), CRIER_EWS_CONTROL_FRAG, 0},
        {"close not fin", C, false, LIT("\x08\x00"), CRIER_EWS_CONTROL_FRAG, 0},
        {"pong not fin", S, false, LIT("\x0a\x80" M), CRIER_EWS_CONTROL_FRAG, 0},
        {"ping 126 (16-bit)", S, false, LIT("\x89\xfe\x00\x7e" M), CRIER_EWS_CONTROL_LEN, 0},
        {"close 126 (64-bit)", C, false, LIT("\x88\x7f\x00\x00\x00\x00\x00\x00\x00\x7e"),
         CRIER_EWS_CONTROL_LEN, 0},
        {"pong 65536", C, false, LIT("\x8a\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
         CRIER_EWS_CONTROL_LEN, 0},
        {"cont first", S, false, LIT("\x80\x80" M), CRIER_EWS_CONT, 0},
        {"cont first not fin", C, false, LIT("\x00\x00"), CRIER_EWS_CONT, 0},
        {"cont after message", S, false, LIT("\x01\x80" M "\x80\x80" M "\x80\x80" M),
         CRIER_EWS_CONT, 2},
        {"cont after single", C, false, LIT("\x81\x01x\x80\x00"), CRIER_EWS_CONT, 1},
        {"text in text", S, false, LIT("\x01\x80" M "\x81\x80" M), CRIER_EWS_NOT_CONT, 1},
        {"binary in text", C, false, LIT("\x01\x00\x89\x00\x02\x00"), CRIER_EWS_NOT_CONT, 2},
        {"text in binary", C, true, LIT("\x02\x01z\x00\x00\xc1\x00"), CRIER_EWS_NOT_CONT, 2},
        {"unmasked to server", S, false, LIT("\x81\x00"), CRIER_EWS_UNMASKED, 0},
        {"unmasked ping to server", S, false, LIT("\x89\x01x"), CRIER_EWS_UNMASKED, 0},
        {"masked to client", C, false, LIT("\x81\x80" M), CRIER_EWS_MASKED, 0},
        {"masked close to client", C, false, LIT("\x88\x82" M "\x03\xe8"), CRIER_EWS_MASKED, 0},
        {"len64 top bit", C, false, LIT("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"),
         CRIER_EWS_LEN64, 0},
        {"len64 all ones", S, false, LIT("\x82\xff\xff\xff\xff\xff\xff\xff\xff\xff" M),
         CRIER_EWS_LEN64, 0},
};
#undef M
#undef S
#undef C

static void test_violations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		print_message("%s\n", c->name);
		rec_run(c->role, c->allow_rsv1, c->wire, c->n, NULL, 0, &rec_a);
		assert_int_equal(rec_a.err, c->code);
		assert_int_equal(err_ws_close_code(c->code), 1002);
		/* the bad header produced no event: the error comes first */
		assert_int_equal(rec_a.nframes, c->good_frames);
		check_splits(c->role, c->allow_rsv1, c->wire, c->n, true);
	}
}

static void test_reserved_opcodes(void **state)
{
	(void)state;
	static const uint8_t bad_ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
	for (size_t i = 0; i < sizeof(bad_ops); i++) {
		for (int fin = 0; fin <= 1; fin++) {
			uint8_t w[6] = {(uint8_t)((fin ? 0x80 : 0) | bad_ops[i]), 0x80};
			rec_run(WS_ROLE_SERVER, true, w, 6, NULL, 0, &rec_a);
			assert_int_equal(rec_a.err, CRIER_EWS_OPCODE);
			w[1] = 0;
			rec_run(WS_ROLE_CLIENT, true, w, 2, NULL, 0, &rec_a);
			assert_int_equal(rec_a.err, CRIER_EWS_OPCODE);
			check_splits(WS_ROLE_CLIENT, true, w, 2, true);
		}
	}
	assert_int_equal(err_ws_close_code(CRIER_EWS_OPCODE), 1002);
}

/* A violation is reported once its header is complete, even when the
 * bytes that would follow never arrive. */
static void test_error_before_payload(void **state)
{
	(void)state;
	struct ws_frame_parser p;
	struct ws_frame_event ev;
	ws_frame_parser_init(&p, WS_ROLE_CLIENT, false);
	uint8_t *b = guard_place(LIT("\x89\x7e\x01"));
	assert_int_equal(ws_frame_parse(&p, b, 3, &ev), 3);
	b = guard_place(LIT("\x00"));
	assert_int_equal(ws_frame_parse(&p, b, 1, &ev), CRIER_EWS_CONTROL_LEN);
	assert_false(ev.frame_start);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc_unmasked_hello),
	        cmocka_unit_test(test_rfc_masked_hello),
	        cmocka_unit_test(test_rfc_fragmented_hello),
	        cmocka_unit_test(test_rfc_ping_pong),
	        cmocka_unit_test(test_rfc_long_binary_headers),
	        cmocka_unit_test(test_header_encoding),
	        cmocka_unit_test(test_every_header_size),
	        cmocka_unit_test(test_non_minimal_length),
	        cmocka_unit_test(test_len64_max),
	        cmocka_unit_test(test_mask_matches_bytewise),
	        cmocka_unit_test(test_mask_phase_across_pieces),
	        cmocka_unit_test(test_mask_round_trip),
	        cmocka_unit_test(test_empty_call_and_partial_header),
	        cmocka_unit_test(test_empty_frames),
	        cmocka_unit_test(test_control_interleaved),
	        cmocka_unit_test(test_rsv1_allowed),
	        cmocka_unit_test(test_violations),
	        cmocka_unit_test(test_reserved_opcodes),
	        cmocka_unit_test(test_error_before_payload),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
