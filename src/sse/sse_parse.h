/*
 * sse_parse.h - Server-Sent Events stream parser (WHATWG HTML §9.2.5),
 * for the client library and tests.
 *
 * Pure: libc only, no allocation. The parser reports one line at a time
 * as slices of the caller's buffer; the caller accumulates data lines and
 * dispatches on a blank line, as the spec's "process the field" steps
 * describe. Lines end at CR, LF or CRLF; a CR at the very end of a buffer
 * ends its line at once, and a LF that starts the next buffer is then
 * skipped (the state remembers it). A UTF-8 BOM at the start of the stream
 * is skipped; a stream start that is a proper prefix of it waits for more
 * bytes. An incomplete line returns 0: the caller keeps the bytes and
 * calls again with more (like the HTTP parser, the unconsumed tail moves
 * with the caller's buffer). An incomplete line is rescanned on each call,
 * so max_line also bounds that work.
 *
 * Thread: none; a parser belongs to one stream. Zero-initialise it (or set
 * only max_line) at the start of the stream.
 */
#ifndef CRIER_SSE_SSE_PARSE_H
#define CRIER_SSE_SSE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sse_line_kind {
	SSE_LINE_BLANK = 0, /* dispatch the event being built */
	SSE_LINE_COMMENT,   /* ":" ...; value is the text after the colon */
	SSE_LINE_FIELD,     /* name and value (one leading space of the value removed) */
};

struct sse_line {
	enum sse_line_kind kind;
	const char *name; /* field name (may be unknown: the caller ignores it) */
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct sse_parser {
	bool started;      /* the BOM check is done */
	bool skip_lf;      /* the previous line ended with CR: a leading LF belongs to it */
	uint32_t max_line; /* longest line accepted, in bytes without its terminator
	                    * (0 = 64 KiB); longer -> error */
};

/* Parses one line from buf[0..len). Returns the bytes consumed (> 0) and
 * fills *out; 0 when no complete line is available yet; CRIER_ERANGE when
 * the line exceeds max_line (the stream cannot be trusted after that). A
 * return that only skipped a BOM or a pending LF has out->kind set to
 * SSE_LINE_COMMENT with an empty value at buf (value == buf, which no
 * ":" line has), so callers can ignore it or tell it apart. The
 * slices in *out point into buf[0..return) (name and value are never NULL,
 * even when empty) and are not NUL-terminated. */
int64_t sse_parse_line(struct sse_parser *p, const char *buf, size_t len, struct sse_line *out);

/* Parses a "retry" field value (§9.2.6): one or more ASCII digits, in ms;
 * -1 for anything else (empty, sign, space). Saturates at INT64_MAX. */
int64_t sse_parse_retry(const char *v, size_t len);

#endif
