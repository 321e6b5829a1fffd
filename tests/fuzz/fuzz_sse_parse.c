/*
 * fuzz_sse_parse.c - libFuzzer target for the event stream parser and,
 * through it, the encoder (WHATWG HTML §9.2.5, §9.2.6).
 *
 * The first input byte is the config: bits 0-4 pick max_line (0 = the
 * 64 KiB default, else 4..124 bytes), bit 5 makes the encoder round trip
 * binary, bits 6-7 say whether it gets an id and an event name. The rest
 * is the stream.
 *
 * The stream is read like a client reads it (keep the unconsumed tail,
 * append the next read, parse until the parser wants more): whole, cut
 * into pieces of 1..16 and 1..256 bytes at positions drawn from a
 * generator seeded by the input, and one byte at a time. Each call gets an
 * exact-size heap copy, so ASan sees a read past len. It aborts when a
 * slice leaves the consumed bytes, a count leaves (0, len], an error other
 * than CRIER_ERANGE appears, or the ways of feeding disagree on the lines
 * (skip returns left out: they depend on where reads fall), the error or
 * the unconsumed tail.
 *
 * Then the stream is used as a payload: encoded, parsed back and run
 * through the §9.2.6 dispatch steps, the page must see the payload with
 * CR and CRLF turned into LF (text) or the payload itself after base64
 * decoding (binary), with the right type and last event ID.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sse/sse_encode.h"
#include "sse/sse_parse.h"

#define BYTE_AT_A_TIME_MAX 512 /* rescanning makes one-byte reads quadratic */

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_sse_parse: invariant failed: %s\n", what);
		abort();
	}
}

/* One way of reading the stream: its line trace, tail and error. */
struct reader {
	struct sse_parser p;
	char *tail;
	size_t tail_len;
	uint8_t *trace; /* kind, name_len, name, value_len, value per line */
	size_t trace_len, trace_cap;
	int64_t err;
};

static void reader_init(struct reader *r, size_t n, uint32_t max_line)
{
	*r = (struct reader){.p = {.max_line = max_line}};
	r->tail = malloc(n + 1);
	/* Each line takes at least one byte and adds 9 bytes of framing. */
	r->trace_cap = 10 * n + 16;
	r->trace = malloc(r->trace_cap);
	check(r->tail != NULL && r->trace != NULL, "malloc");
}

static void reader_free(struct reader *r)
{
	free(r->tail);
	free(r->trace);
}

static void trace_put(struct reader *r, const void *s, size_t n)
{
	check(r->trace_len + n <= r->trace_cap, "trace overflow");
	if (n > 0)
		memcpy(r->trace + r->trace_len, s, n);
	r->trace_len += n;
}

static void trace_slice(struct reader *r, const char *s, size_t n)
{
	uint32_t n32 = (uint32_t)n;
	trace_put(r, &n32, sizeof(n32));
	trace_put(r, s, n);
}

/* Checks one line against the contract and records it unless it is a skip. */
static void trace_line(struct reader *r, const struct sse_line *l, const char *buf, size_t used)
{
	check(l->name != NULL && l->value != NULL, "NULL slice");
	check(l->name >= buf && l->name_len <= used && l->name <= buf + used - l->name_len,
	      "name outside the consumed bytes");
	check(l->value >= buf && l->value_len <= used && l->value <= buf + used - l->value_len,
	      "value outside the consumed bytes");
	check(l->kind <= SSE_LINE_FIELD, "unknown kind");
	if (l->kind == SSE_LINE_COMMENT && l->value == buf) {
		check(l->value_len == 0 && l->name_len == 0 && (used == 1 || used == 3),
		      "skip return with content");
		return;
	}
	if (l->kind == SSE_LINE_BLANK)
		check(l->name_len == 0 && l->value_len == 0, "blank line with content");
	if (l->kind == SSE_LINE_FIELD)
		check(memchr(l->name, ':', l->name_len) == NULL, "colon in a field name");
	uint8_t kind = (uint8_t)l->kind;
	trace_put(r, &kind, 1);
	trace_slice(r, l->name, l->name_len);
	trace_slice(r, l->value, l->value_len);
}

/* Appends one read to the tail and parses every complete line in it. */
static void reader_read(struct reader *r, const uint8_t *s, size_t n)
{
	if (r->err < 0)
		return;
	memcpy(r->tail + r->tail_len, s, n);
	r->tail_len += n;
	for (;;) {
		char *copy = malloc(r->tail_len > 0 ? r->tail_len : 1);
		check(copy != NULL, "malloc");
		memcpy(copy, r->tail, r->tail_len);
		struct sse_line l;
		int64_t rc = sse_parse_line(&r->p, copy, r->tail_len, &l);
		check(rc == 0 || rc == CRIER_ERANGE || (rc > 0 && (uint64_t)rc <= r->tail_len),
		      "return outside (0, len] and not ERANGE");
		if (rc > 0) {
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

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Reads s in pieces of 1..max_piece bytes (max_piece 0: all at once). */
static void read_pieces(struct reader *r, const uint8_t *s, size_t n, size_t max_piece,
                        uint64_t seed)
{
	if (max_piece == 0) {
		reader_read(r, s, n);
		return;
	}
	for (size_t at = 0; at < n;) {
		size_t k = 1 + (size_t)(next_rand(&seed) % max_piece);
		if (k > n - at)
			k = n - at;
		reader_read(r, s + at, k);
		at += k;
	}
}

static void same(const struct reader *a, const struct reader *b)
{
	check(a->err == b->err, "feeding changed the error");
	check(a->trace_len == b->trace_len && memcmp(a->trace, b->trace, a->trace_len) == 0,
	      "feeding changed the lines");
	if (a->err < 0)
		return; /* the tail at the error depends on where the reads fell */
	check(a->tail_len == b->tail_len && memcmp(a->tail, b->tail, a->tail_len) == 0,
	      "feeding changed the unconsumed tail");
}

static void fuzz_lines(const uint8_t *s, size_t n, uint32_t max_line, uint64_t seed)
{
	struct reader whole, piece;
	reader_init(&whole, n, max_line);
	read_pieces(&whole, s, n, 0, seed);
	static const size_t sizes[] = {16, 256, 1};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (sizes[i] == 1 && n > BYTE_AT_A_TIME_MAX)
			continue;
		reader_init(&piece, n, max_line);
		read_pieces(&piece, s, n, sizes[i], seed + i);
		same(&whole, &piece);
		reader_free(&piece);
	}
	reader_free(&whole);
}

/* The §9.2.6 state of a page: buffers plus the last dispatched event. */
struct page {
	char *data, *type, *ev_data, *ev_type;
	size_t data_len, type_len, ev_data_len, ev_type_len;
	const char *last_id;
	size_t last_id_len;
	int events;
};

static bool name_is(const struct sse_line *l, const char *name)
{
	return l->name_len == strlen(name) && memcmp(l->name, name, l->name_len) == 0;
}

/* §9.2.6 "process the field" and "dispatch the event" for one line. */
static void page_line(struct page *pg, const struct sse_line *l)
{
	if (l->kind == SSE_LINE_BLANK) {
		if (pg->data_len == 0) {
			pg->type_len = 0;
			return;
		}
		pg->ev_data = pg->data;
		pg->ev_data_len = pg->data_len - 1; /* drop the final LF */
		pg->ev_type = pg->type;
		pg->ev_type_len = pg->type_len;
		pg->events++;
		pg->data_len = 0;
		pg->type_len = 0;
	} else if (l->kind == SSE_LINE_FIELD && name_is(l, "data")) {
		memcpy(pg->data + pg->data_len, l->value, l->value_len);
		pg->data_len += l->value_len;
		pg->data[pg->data_len++] = '\n';
	} else if (l->kind == SSE_LINE_FIELD && name_is(l, "event")) {
		memcpy(pg->type, l->value, l->value_len);
		pg->type_len = l->value_len;
	} else if (l->kind == SSE_LINE_FIELD && name_is(l, "id")) {
		if (memchr(l->value, '\0', l->value_len) == NULL) {
			pg->last_id = l->value;
			pg->last_id_len = l->value_len;
		}
	}
}

/* RFC 4648 §4 decoding of a padded string the encoder wrote; -1 if malformed. */
static int64_t base64_decode(const char *s, size_t n, uint8_t *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                               "0123456789+/";
	if (n % 4 != 0)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (size_t j = 0; j < 4; j++) {
			/* "=" only in the last two places of the last group, and only at the end. */
			const char *at = s[i + j] != '\0' ? strchr(alphabet, s[i + j]) : NULL;
			if (s[i + j] == '=' && i + 4 == n && j >= 2)
				pad++;
			else if (at == NULL || pad > 0)
				return -1;
			v = v << 6 | (at != NULL ? (uint32_t)(at - alphabet) : 0);
		}
		out[k++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[k++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[k++] = (uint8_t)v;
	}
	return (int64_t)k;
}

/* What the page must see for a text payload: CR and CRLF become LF. */
static size_t normalise(const uint8_t *d, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		out[k++] = d[i] == '\r' ? '\n' : (char)d[i];
		if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n')
			i++;
	}
	return k;
}

static bool has_line_end(const uint8_t *s, size_t n, bool nul_too)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || (nul_too && s[i] == '\0'))
			return true;
	return false;
}

/* Parses the encoder's output in one read and runs it through the page. */
static void page_read(struct page *pg, const char *wire, size_t n)
{
	struct sse_parser p = {.max_line = UINT32_MAX};
	for (size_t off = 0; off < n;) {
		struct sse_line l;
		int64_t rc = sse_parse_line(&p, wire + off, n - off, &l);
		check(rc > 0, "encoder output does not parse to the end");
		page_line(pg, &l);
		off += (size_t)rc;
	}
}

static void fuzz_round_trip(const uint8_t *s, size_t n, uint8_t cfg)
{
	/* The id and the event name are the payload's first bytes, so some of them
	 * carry CR, LF or NUL and must be refused. */
	struct sse_event ev = {.data = s, .data_len = n, .binary = (cfg & 0x20) != 0};
	if (cfg & 0x40) {
		ev.id = (const char *)s;
		ev.id_len = n < 12 ? n : 12;
	}
	if (cfg & 0x80) {
		ev.event = (const char *)s + n / 2;
		ev.event_len = n - n / 2 < 6 ? n - n / 2 : 6;
	}
	bool bad = (ev.id != NULL && has_line_end(s, ev.id_len, true)) ||
	           (!ev.binary && ev.event != NULL &&
	            has_line_end((const uint8_t *)ev.event, ev.event_len, false));
	size_t need = sse_encoded_len(&ev);
	char *wire = malloc(need);
	check(wire != NULL, "malloc");
	size_t got = sse_encode(&ev, wire, need);
	check(sse_encode(&ev, wire, need - 1) == 0, "encoded into too small a buffer");
	check(got == (bad ? 0 : need), "encoded length is not sse_encoded_len");
	if (bad) {
		free(wire);
		return;
	}
	struct page pg = {.data = malloc(need), .type = malloc(need)};
	char *want = malloc(n + 1);
	check(pg.data != NULL && pg.type != NULL && want != NULL, "malloc");
	page_read(&pg, wire, got);
	check(pg.events == 1 && pg.data_len == 0, "not exactly one event");
	const char *type = ev.binary ? SSE_BINARY_EVENT : ev.event_len > 0 ? ev.event : "";
	size_t type_len = ev.binary ? strlen(SSE_BINARY_EVENT) : ev.event_len;
	check(pg.ev_type_len == type_len && memcmp(pg.ev_type, type, type_len) == 0,
	      "event type did not round-trip");
	check(ev.id == NULL ||
	              (pg.last_id_len == ev.id_len && memcmp(pg.last_id, ev.id, ev.id_len) == 0),
	      "id did not round-trip");
	if (ev.binary) {
		int64_t k = base64_decode(pg.ev_data, pg.ev_data_len, (uint8_t *)want);
		check(k == (int64_t)n && memcmp(want, s, n) == 0, "binary did not round-trip");
	} else {
		size_t k = normalise(s, n, want);
		check(pg.ev_data_len == k && memcmp(pg.ev_data, want, k) == 0,
		      "text did not round-trip");
	}
	free(want);
	free(pg.data);
	free(pg.type);
	free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t cfg = data[0];
	uint32_t max_line = (uint32_t)(cfg & 0x1f) * 4;
	uint64_t seed = 0xcbf29ce484222325u; /* FNV-1a of the input seeds the cuts */
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3u;
	fuzz_lines(data + 1, size - 1, max_line, seed | 1);
	fuzz_round_trip(data + 1, size - 1, cfg);
	return 0;
}
