/*
 * sse_encode.c - one Server-Sent Event into the caller's buffer
 * (WHATWG HTML §9.2.5 "Parsing an event stream", §9.2.6 "Interpreting an
 * event stream").
 *
 * Owns the wire form of an event and nothing else: it never allocates,
 * never validates event names beyond what the wire needs, and never adds
 * comments or retry lines (the SSE connection does). The output is
 * "id: X\n" when an id is set, "event: X\n" when a type is set, one
 * "data: X\n" per line of the payload and a blank line. Every field is
 * written as "name: value": the parser strips exactly one space after the
 * colon (§9.2.5), so a value that itself starts with a space survives.
 *
 * The payload is cut wherever the browser's parser would end a line (CR,
 * LF or CRLF, §9.2.5's end-of-line rule), and each piece becomes one data
 * line; the browser joins data lines with LF and drops the final LF at
 * dispatch (§9.2.6), so it rebuilds the payload exactly, except that a
 * lone CR or a CRLF comes back as LF: no SSE encoding can carry a CR in
 * data. An empty payload is one "data: \n" line, which still dispatches
 * (the data buffer is "\n", not empty) and delivers "". Binary payloads
 * are base64 (RFC 4648 §4, with padding) on a single data line under the
 * type "crier.binary", since the stream is UTF-8 text.
 *
 * The length is computed by the same line walk as the bytes, with
 * saturating arithmetic, so sse_encoded_len is exact and a payload whose
 * encoding would not fit in a size_t is refused instead of wrapping.
 */
#include "sse/sse_encode.h"

#include "core/base64.h"

#include <string.h>

#define SSE_ID_PREFIX    "id: "
#define SSE_EVENT_PREFIX "event: "
#define SSE_DATA_PREFIX  "data: "
#define SSE_LIT_LEN(s)   (sizeof(s) - 1)
#define SSE_DATA_LINE    (SSE_LIT_LEN(SSE_DATA_PREFIX) + 1) /* "data: " + LF */
#define SSE_SIZE_MAX     ((size_t)-1)

/* a + b, or SSE_SIZE_MAX when the sum does not fit (never a real length). */
static size_t sse_add(size_t a, size_t b)
{
	return a > SSE_SIZE_MAX - b ? SSE_SIZE_MAX : a + b;
}

/* True when s[0..len) may go on one field line: no CR, LF (§9.2.5 would end
 * the line there) and, for ids, no NUL (§9.2.6 ignores such an id field). */
static bool sse_field_ok(const char *s, size_t len, bool no_nul)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || (no_nul && s[i] == '\0'))
			return false;
	return true;
}

static bool sse_has_event(const struct sse_event *ev)
{
	return ev->binary || (ev->event != NULL && ev->event_len > 0);
}

/*
 * Bytes of the data lines for a text payload: "data: " + LF per line plus
 * every payload byte that is not a line terminator. A CRLF is one
 * terminator (2 bytes dropped), a lone CR or LF is one (1 byte dropped).
 */
static size_t sse_text_len(const uint8_t *d, size_t n)
{
	size_t lines = 1, dropped = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n') {
			lines++;
			dropped += 2;
			i++;
		} else if (d[i] == '\r' || d[i] == '\n') {
			lines++;
			dropped++;
		}
	}
	size_t per_line =
	        lines > SSE_SIZE_MAX / SSE_DATA_LINE ? SSE_SIZE_MAX : lines * SSE_DATA_LINE;
	return sse_add(per_line, n - dropped);
}

size_t sse_encoded_len(const struct sse_event *ev)
{
	size_t n = 1; /* the blank line that dispatches */
	if (ev->id != NULL)
		n = sse_add(n, SSE_LIT_LEN(SSE_ID_PREFIX) + 1 + ev->id_len);
	if (ev->binary)
		n = sse_add(n, SSE_LIT_LEN(SSE_EVENT_PREFIX) + SSE_LIT_LEN(SSE_BINARY_EVENT) + 1);
	else if (sse_has_event(ev))
		n = sse_add(n, SSE_LIT_LEN(SSE_EVENT_PREFIX) + 1 + ev->event_len);
	if (ev->binary)
		return sse_add(n, sse_add(SSE_DATA_LINE, base64_encoded_len(ev->data_len)));
	return sse_add(n, sse_text_len(ev->data, ev->data_len));
}

/* Appends prefix, value and LF at out; returns the end. */
static char *sse_put_field(char *out, const char *prefix, size_t prefix_len, const char *v,
                           size_t len)
{
	memcpy(out, prefix, prefix_len);
	out += prefix_len;
	if (len > 0)
		memcpy(out, v, len);
	out[len] = '\n';
	return out + len + 1;
}

/* Writes one "data: " line per line of the text payload (see sse_text_len). */
static char *sse_put_text(char *out, const uint8_t *d, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && d[i] != '\r' && d[i] != '\n')
			continue;
		/* d may be NULL for an empty payload; NULL + 0 is not valid C. */
		const char *line = i > start ? (const char *)d + start : "";
		out = sse_put_field(out, SSE_DATA_PREFIX, SSE_LIT_LEN(SSE_DATA_PREFIX), line,
		                    i - start);
		if (i + 1 < n && d[i] == '\r' && d[i + 1] == '\n')
			i++; /* CRLF is one line end, not a CR line end and an empty line */
		start = i + 1;
	}
	return out;
}

size_t sse_encode(const struct sse_event *ev, char *out, size_t cap)
{
	size_t need = sse_encoded_len(ev);
	if (need == SSE_SIZE_MAX || cap < need)
		return 0;
	if (ev->id != NULL && !sse_field_ok(ev->id, ev->id_len, true))
		return 0;
	/* A binary event's own type is replaced, so it is not checked. */
	if (!ev->binary && sse_has_event(ev) && !sse_field_ok(ev->event, ev->event_len, false))
		return 0;
	char *p = out;
	if (ev->id != NULL)
		p = sse_put_field(p, SSE_ID_PREFIX, SSE_LIT_LEN(SSE_ID_PREFIX), ev->id, ev->id_len);
	if (ev->binary)
		p = sse_put_field(p, SSE_EVENT_PREFIX, SSE_LIT_LEN(SSE_EVENT_PREFIX),
		                  SSE_BINARY_EVENT, SSE_LIT_LEN(SSE_BINARY_EVENT));
	else if (sse_has_event(ev))
		p = sse_put_field(p, SSE_EVENT_PREFIX, SSE_LIT_LEN(SSE_EVENT_PREFIX), ev->event,
		                  ev->event_len);
	if (ev->binary) {
		memcpy(p, SSE_DATA_PREFIX, SSE_LIT_LEN(SSE_DATA_PREFIX));
		p = base64_encode(ev->data, ev->data_len, p + SSE_LIT_LEN(SSE_DATA_PREFIX));
		*p++ = '\n';
	} else {
		p = sse_put_text(p, ev->data, ev->data_len);
	}
	*p++ = '\n';
	return (size_t)(p - out);
}
