/*
 * fuzz_ws_frame.c - libFuzzer target for the WebSocket frame parser.
 *
 * The first input byte picks the role (bit 0) and whether RSV1 is allowed
 * (bit 1); the rest is the byte stream. It is parsed in one call sequence
 * over the whole buffer, then again cut into pieces of 1..4 bytes, of
 * 1..64 bytes (cut positions drawn from a generator seeded by the input),
 * and one byte at a time. Each piece is an exact-size heap copy, so ASan
 * sees any read or unmasking past the caller's length. Besides memory
 * errors it aborts when the event contract breaks (a slice outside the
 * piece, a header event with data, a frame whose payload does not add up
 * to its frame_len, an error outside the framing codes), or when the ways
 * of feeding disagree on the frames, their payload bytes or the error.
 * Finally the first complete data or control frame is re-encoded with
 * ws_frame_header and ws_frame_mask and must parse back to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ws/ws_frame.h"

struct frame {
	uint8_t opcode, msg_opcode;
	bool fin, rsv1, ended;
	uint64_t frame_len;
	size_t off, got; /* payload offset in trace.payload, bytes delivered */
};

/* Everything one way of feeding produced; frames and payload are sized
 * from the input (a frame takes at least 2 bytes, payload at most len). */
struct trace {
	struct frame *frames;
	size_t nframes, cap;
	uint8_t *payload;
	size_t payload_len;
	int64_t err;
};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_ws_frame: invariant failed: %s\n", what);
		abort();
	}
}

static void trace_init(struct trace *t, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->cap = len / 2 + 1;
	t->frames = calloc(t->cap, sizeof(*t->frames));
	t->payload = malloc(len + 1);
	check(t->frames != NULL && t->payload != NULL, "malloc");
}

static void trace_free(struct trace *t)
{
	free(t->frames);
	free(t->payload);
}

/* Checks one successful event against the contract and records it. */
static void trace_event(struct trace *t, const struct ws_frame_event *ev, const uint8_t *at,
                        size_t left, int64_t rc)
{
	check(rc > 0 && (uint64_t)rc <= left, "count outside (0, len]");
	if (ev->frame_start) {
		check(t->nframes == 0 || t->frames[t->nframes - 1].ended, "frame inside a frame");
		check(t->nframes < t->cap, "more frames than 2-byte headers");
		check(ev->data == NULL && ev->len == 0, "header event with data");
		check(ev->frame_len >> 63 == 0, "frame_len top bit");
		t->frames[t->nframes++] = (struct frame){
		        .opcode = ev->opcode,
		        .msg_opcode = ev->msg_opcode,
		        .fin = ev->fin,
		        .rsv1 = ev->rsv1,
		        .frame_len = ev->frame_len,
		        .off = t->payload_len,
		};
	} else if (ev->len == 0) {
		check(!ev->frame_end && ev->data == NULL, "empty event that is not a spill");
		check((size_t)rc == left, "spill took less than offered");
		return;
	}
	check(t->nframes > 0, "payload before any header");
	struct frame *f = &t->frames[t->nframes - 1];
	check(!f->ended, "payload after frame end");
	check(ev->opcode == f->opcode && ev->msg_opcode == f->msg_opcode && ev->fin == f->fin &&
	              ev->rsv1 == f->rsv1,
	      "frame fields changed between events");
	check(ev->opcode >= WS_OP_CLOSE
	              ? ev->msg_opcode == 0
	              : ev->msg_opcode == WS_OP_TEXT || ev->msg_opcode == WS_OP_BINARY,
	      "msg_opcode");
	if (ev->len > 0) {
		check(ev->data == at && ev->len == (size_t)rc, "slice is not the consumed bytes");
		memcpy(t->payload + t->payload_len, ev->data, ev->len);
		t->payload_len += ev->len;
		f->got += ev->len;
	}
	check(f->got <= f->frame_len, "more payload than frame_len");
	if (ev->frame_end) {
		check(f->got == f->frame_len, "frame ended short of frame_len");
		f->ended = true;
	}
}

/* Feeds one piece from an exact-size heap copy, calling again while bytes
 * remain, as a connection does. */
static void feed(struct ws_frame_parser *p, const uint8_t *piece, size_t n, struct trace *t)
{
	if (t->err != 0 || n == 0)
		return;
	uint8_t *buf = malloc(n);
	check(buf != NULL, "malloc");
	memcpy(buf, piece, n);
	size_t off = 0;
	while (off < n) {
		struct ws_frame_event ev;
		int64_t rc = ws_frame_parse(p, buf + off, n - off, &ev);
		if (rc < 0) {
			check(err_is_crier((int)rc) && err_ws_close_code((int)rc) == 1002,
			      "error is not a framing error");
			t->err = rc;
			break;
		}
		trace_event(t, &ev, buf + off, n - off, rc);
		off += (size_t)rc;
	}
	free(buf);
}

/* max_piece 0: one call sequence over everything. */
static void run(uint8_t cfg, const uint8_t *wire, size_t len, size_t max_piece, uint64_t seed,
                struct trace *t)
{
	struct ws_frame_parser p;
	ws_frame_parser_init(&p, (cfg & 1) ? WS_ROLE_CLIENT : WS_ROLE_SERVER, cfg & 2);
	trace_init(t, len);
	size_t off = 0;
	while (off < len) {
		size_t n = len - off;
		if (max_piece > 0) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			size_t want = 1 + (size_t)(seed % max_piece);
			n = want < n ? want : n;
		}
		feed(&p, wire + off, n, t);
		off += n;
	}
}

static void same(const struct trace *a, const struct trace *b)
{
	check(a->err == b->err, "different error");
	check(a->nframes == b->nframes, "different frame count");
	for (size_t i = 0; i < a->nframes; i++) {
		const struct frame *x = &a->frames[i], *y = &b->frames[i];
		check(x->opcode == y->opcode && x->msg_opcode == y->msg_opcode &&
		              x->fin == y->fin && x->rsv1 == y->rsv1 && x->ended == y->ended &&
		              x->frame_len == y->frame_len && x->got == y->got,
		      "different frame");
	}
	check(a->payload_len == b->payload_len, "different payload length");
	check(memcmp(a->payload, b->payload, a->payload_len) == 0, "different payload bytes");
}

/* Re-encodes the first complete frame that a fresh parser accepts on its
 * own (not a continuation) and parses it back. */
static void round_trip(uint8_t cfg, const struct trace *t)
{
	static const uint8_t key[4] = {0x6b, 0x1f, 0xc3, 0x90};
	bool client = cfg & 1;
	for (size_t i = 0; i < t->nframes; i++) {
		const struct frame *f = &t->frames[i];
		if (!f->ended || f->opcode == WS_OP_CONT)
			continue;
		uint8_t *w = malloc(WS_FRAME_HEADER_MAX + f->got + 1);
		check(w != NULL, "malloc");
		size_t n = ws_frame_header(w, (enum ws_opcode)f->opcode, f->fin, f->rsv1,
		                           f->frame_len, client ? NULL : key);
		size_t want = 2 + (f->frame_len > 125 ? 2 : 0) + (f->frame_len > 65535 ? 6 : 0) +
		              (client ? 0 : 4);
		check(n == want, "header not the shortest encoding");
		memcpy(w + n, t->payload + f->off, f->got);
		if (!client)
			check(ws_frame_mask(w + n, f->got, key, 0) == f->got % 4, "mask phase");
		struct trace back;
		run(cfg, w, n + f->got, 0, 0, &back);
		check(back.err == 0 && back.nframes == 1 && back.frames[0].ended,
		      "re-encoded frame");
		check(back.frames[0].opcode == f->opcode && back.frames[0].fin == f->fin &&
		              back.frames[0].rsv1 == f->rsv1,
		      "re-encoded fields");
		check(back.payload_len == f->got &&
		              memcmp(back.payload, t->payload + f->off, f->got) == 0,
		      "re-encoded payload");
		trace_free(&back);
		free(w);
		return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t cfg = data[0];
	const uint8_t *wire = data + 1;
	size_t len = size - 1;

	uint64_t seed = 0xcbf29ce484222325u; /* FNV-1a of the input: cuts follow the data */
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3u;
	seed |= 1;

	struct trace whole, split;
	run(cfg, wire, len, 0, 0, &whole);
	static const size_t pieces[] = {4, 64, 1};
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		run(cfg, wire, len, pieces[k], seed + k, &split);
		same(&whole, &split);
		trace_free(&split);
	}
	round_trip(cfg, &whole);
	trace_free(&whole);
	return 0;
}
