/*
 * sse_parse.c - the line layer of an event stream (WHATWG HTML §9.2.5).
 *
 * Owns line splitting and the "field:value" shape of a line; it never
 * allocates, never copies and never interprets fields: building the data
 * buffer and dispatching on a blank line (§9.2.6) belong to the caller,
 * which also ignores unknown field names. Results are slices of the
 * caller's buffer, valid until the caller moves or drops those bytes.
 *
 * The non-obvious choice is how a CR at the end of a buffer is handled.
 * §9.2.5 ends a line at CR, LF or CRLF, so a CR alone is enough to know
 * the line is complete, but whether a LF follows is only known from the
 * next read. Rather than hold the line back (which would delay an event
 * whose blank line ends in CR until more bytes arrive, possibly never),
 * the line is reported at once and p->skip_lf remembers that one LF at the
 * start of the next buffer is the rest of that CRLF. Only the CR/LF split
 * and the BOM (§9.2.5: the stream is decoded with "UTF-8 decode", which
 * strips one leading BOM) need state; everything else is restartable: an
 * incomplete line returns 0 and is scanned again, up to max_line bytes,
 * when the caller comes back with more.
 */
#include "sse/sse_parse.h"

#include "core/err.h"

#include <string.h>

#define SSE_DEFAULT_MAX_LINE (64 * 1024) /* bytes; a data line of a 64 KiB message */

static const char sse_bom[3] = {'\xEF', '\xBB', '\xBF'}; /* U+FEFF in UTF-8 */

/* A return that consumed bytes without producing a line (BOM, pending LF). */
static int64_t sse_skipped(const char *buf, size_t n, struct sse_line *out)
{
	*out = (struct sse_line){.kind = SSE_LINE_COMMENT, .name = buf, .value = buf};
	return (int64_t)n;
}

/*
 * Handles the state at the start of buf: the one-time BOM check and a LF
 * left over from a CR that ended the previous buffer. Returns bytes
 * skipped (> 0), 0 to go on parsing a line, or -1 when buf is a proper
 * prefix of the BOM and more bytes must decide.
 */
static int sse_prologue(struct sse_parser *p, const char *buf, size_t len)
{
	if (!p->started) {
		size_t n = len < sizeof(sse_bom) ? len : sizeof(sse_bom);
		if (memcmp(buf, sse_bom, n) == 0) {
			if (n < sizeof(sse_bom))
				return -1;
			p->started = true;
			return (int)sizeof(sse_bom);
		}
		p->started = true;
	}
	if (p->skip_lf) {
		p->skip_lf = false;
		if (buf[0] == '\n')
			return 1;
	}
	return 0;
}

/* Splits a complete line (no terminator) into *out per §9.2.5. */
static void sse_split(const char *line, size_t n, struct sse_line *out)
{
	*out = (struct sse_line){.kind = SSE_LINE_BLANK, .name = line, .value = line + n};
	if (n == 0)
		return;
	const char *colon = memchr(line, ':', n);
	if (colon == line) {
		/* "If the line starts with a U+003A COLON character (:) - Ignore the line." */
		out->kind = SSE_LINE_COMMENT;
		out->value = line + 1;
		out->value_len = n - 1;
		return;
	}
	out->kind = SSE_LINE_FIELD;
	if (colon == NULL) {
		/* "the whole line as the field name, and the empty string as the field value" */
		out->name_len = n;
		return;
	}
	out->name_len = (size_t)(colon - line);
	size_t v = out->name_len + 1;
	if (v < n && line[v] == ' ')
		v++; /* "If value starts with a U+0020 SPACE character, remove it" */
	out->value = line + v;
	out->value_len = n - v;
}

int64_t sse_parse_line(struct sse_parser *p, const char *buf, size_t len, struct sse_line *out)
{
	if (len == 0)
		return 0;
	int skipped = sse_prologue(p, buf, len);
	if (skipped < 0)
		return 0;
	if (skipped > 0)
		return sse_skipped(buf, (size_t)skipped, out);
	size_t max = p->max_line != 0 ? p->max_line : SSE_DEFAULT_MAX_LINE;
	/* Look one byte past the limit: a terminator there still ends a line that is
	 * too long, and no terminator within it means the line can only grow. */
	size_t scan = len <= max ? len : max + 1;
	size_t i = 0;
	while (i < scan && buf[i] != '\r' && buf[i] != '\n')
		i++;
	if (i > max)
		return CRIER_ERANGE;
	if (i == scan)
		return 0;
	size_t used = i + 1;
	if (buf[i] == '\r') {
		if (used == len)
			p->skip_lf = true; /* the LF of a CRLF may start the next buffer */
		else if (buf[used] == '\n')
			used++;
	}
	sse_split(buf, i, out);
	return (int64_t)used;
}

int64_t sse_parse_retry(const char *v, size_t len)
{
	/* §9.2.6: "If the field value consists of only ASCII digits" - an empty
	 * value is ignored like any other non-number (as browsers do). */
	if (len == 0)
		return -1;
	int64_t ms = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		int d = v[i] - '0';
		/* Saturate: the value is valid per spec, only too large to represent. */
		ms = ms > (INT64_MAX - d) / 10 ? INT64_MAX : ms * 10 + d;
	}
	return ms;
}
