/*
 * http_parse.c - HTTP/1.1 request-head parser and chunked body decoder.
 *
 * Owns the byte-level grammar of RFC 9112 for requests: the request line,
 * header fields, the framing facts derived from them, and chunked transfer
 * coding. It never allocates, copies or keeps state between calls of the
 * head parser; it never decides policy (which status to send, whether to
 * close): it reports a fact as a CRIER_E* code and the connection acts.
 *
 * The non-obvious choice is the order in which a head is judged, because
 * a restartable parser must give the same answer for a prefix as for the
 * whole head. Bytes are only read inside a window capped at max_head_bytes,
 * and every check runs left to right in fixed stages: leading empty lines,
 * the request line (re-validated on each call until it is complete, so an
 * over-long target or an HTTP/2 preface is refused early), then a scan of
 * only the new tail for CR LF CR LF that also refuses bare CR and bare LF,
 * and, once the head is whole, the fields and the facts derived from them.
 * A prefix therefore either returns 0 or the very error the whole head
 * would; the unit tests and the fuzz target hold the parser to that.
 */
#include "http/http_parse.h"

#include "core/err.h"

#include <string.h>

/* Defaults for struct http_limits fields left at zero. 8 KiB of head is
 * what nginx and h2o accept by default; real clients stay far below. */
#define HTTP_DEFAULT_MAX_HEAD   8192
#define HTTP_DEFAULT_MAX_TARGET 4096

/* RFC 9112 §2.2 asks servers to skip "at least one" empty line before the
 * request line; a few cover every client bug seen in practice, more is
 * noise from a confused or hostile peer. */
#define HTTP_MAX_LEADING_BYTES 8

/* Chunked limits (documented in http_parse.h). */
#define HTTP_MAX_CHUNK_LINE    4096
#define HTTP_MAX_TRAILER_BYTES 8192
#define HTTP_MAX_CHUNK_DIGITS  16

/* Internal result of a stage: the bytes in the window end before the stage
 * can decide. Positive so it never collides with a CRIER_E* code. */
#define HTTP_MORE 1

/* Character classes, one bit each, looked up in http_class[]. */
enum {
	C_TCHAR = 0x01,  /* token character, RFC 9110 §5.6.2 */
	C_FVAL = 0x02,   /* field-value byte: VCHAR, obs-text, SP, HTAB (§5.5) */
	C_TARGET = 0x04, /* request-target byte: VCHAR except '#' (no fragments) */
	C_HEX = 0x08,    /* HEXDIG */
	C_QDTEXT = 0x10, /* quoted-string text, RFC 9110 §5.6.4 */
	C_HOST = 0x20,   /* authority byte: unreserved, sub-delims, ':', '[', ']', '%' */
};

/* Indexed by byte value; each row of eight starts at the byte in its comment. */
// clang-format off
static const unsigned char http_class[256] = {
	/* 0x00 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x08 */ 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x10 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x18 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* 0x20 */ 0x12, 0x37, 0x06, 0x13, 0x37, 0x37, 0x37, 0x37,
	/* 0x28 */ 0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x16,
	/* 0x30 */ 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
	/* 0x38 */ 0x3f, 0x3f, 0x36, 0x36, 0x16, 0x36, 0x16, 0x16,
	/* 0x40 */ 0x16, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,
	/* 0x48 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 0x50 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 0x58 */ 0x37, 0x37, 0x37, 0x36, 0x06, 0x36, 0x17, 0x37,
	/* 0x60 */ 0x17, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,
	/* 0x68 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 0x70 */ 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
	/* 0x78 */ 0x37, 0x37, 0x37, 0x16, 0x17, 0x16, 0x37, 0x00,
	/* 0x80 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0x88 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0x90 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0x98 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xa0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xa8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xb0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xb8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xc0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xc8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xd0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xd8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xe0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xe8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xf0 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
	/* 0xf8 */ 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12,
};
// clang-format on

static bool has_class(char c, unsigned cls)
{
	return (http_class[(unsigned char)c] & cls) != 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static char lower_ascii(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of a slice with a NUL-terminated string. */
static bool slice_eq_ci(const char *s, size_t n, const char *lit)
{
	size_t i = 0;
	for (; i < n; i++) {
		if (lit[i] == '\0' || lower_ascii(s[i]) != lower_ascii(lit[i]))
			return false;
	}
	return lit[i] == '\0';
}

/* The bytes the head parser may look at: buf[0..end), where end is capped
 * at max_head_bytes. `cut` says the cap, not the caller's length, ended
 * the window, so running out of bytes means the head is too large. */
struct http_window {
	const char *buf;
	size_t end;
	bool cut;
};

static int64_t window_more(const struct http_window *w)
{
	return w->cut ? CRIER_EHEAD_TOO_LARGE : 0;
}

/* Classifies a CR or LF met where the grammar does not expect a line end:
 * bare LF and bare CR get their own codes (they are the smuggling tools),
 * a proper CRLF in the wrong place is `misplaced`. Other bytes return 0. */
static int line_end_error(const struct http_window *w, size_t i, int misplaced)
{
	if (w->buf[i] == '\n')
		return CRIER_EBARE_LF;
	if (w->buf[i] != '\r')
		return 0;
	if (i + 1 == w->end)
		return HTTP_MORE;
	return w->buf[i + 1] == '\n' ? misplaced : CRIER_EBARE_CR;
}

/* Skips the empty lines RFC 9112 §2.2 lets a client send before the
 * request line; *pos is where the request line starts. */
static int skip_leading_lines(const struct http_window *w, size_t *pos)
{
	size_t i = 0;
	while (i < w->end && (w->buf[i] == '\r' || w->buf[i] == '\n')) {
		if (i >= HTTP_MAX_LEADING_BYTES)
			return CRIER_EBADREQ;
		int rc = line_end_error(w, i, 0);
		if (rc != 0)
			return rc;
		i += 2;
	}
	if (i == w->end)
		return HTTP_MORE;
	*pos = i;
	return 0;
}

static enum http_method method_id(const char *m, size_t n)
{
	/* Methods are case-sensitive (RFC 9110 §9.1): "get" is unknown. */
	static const struct {
		const char *name;
		enum http_method id;
	} known[] = {
	        {"GET", HTTP_M_GET},     {"HEAD", HTTP_M_HEAD},     {"POST", HTTP_M_POST},
	        {"PUT", HTTP_M_PUT},     {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
	        {"PATCH", HTTP_M_PATCH},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name) == n && memcmp(known[i].name, m, n) == 0)
			return known[i].id;
	}
	return HTTP_M_UNKNOWN;
}

/* Scans the method token and the SP after it; *pos moves to the target. */
static int scan_method(const struct http_window *w, size_t *pos, struct http_request *req)
{
	size_t i = *pos;
	while (i < w->end && has_class(w->buf[i], C_TCHAR))
		i++;
	if (i == w->end)
		return HTTP_MORE;
	if (w->buf[i] != ' ' || i == *pos) {
		int rc = line_end_error(w, i, CRIER_EREQLINE);
		return rc != 0 ? rc : CRIER_EREQLINE;
	}
	req->method = w->buf + *pos;
	req->method_len = i - *pos;
	*pos = i + 1;
	return 0;
}

/* Scans the request-target and the SP after it. The length limit is
 * checked byte by byte so a 414 goes out before the line ends. */
static int scan_target(const struct http_window *w, size_t *pos, size_t max_target,
                       struct http_request *req)
{
	size_t start = *pos, i = start;
	while (i < w->end && has_class(w->buf[i], C_TARGET)) {
		if (i - start == max_target)
			return CRIER_EURI_TOO_LONG;
		i++;
	}
	if (i == w->end)
		return HTTP_MORE;
	char c = w->buf[i];
	if (c == ' ' && i > start) {
		req->target = w->buf + start;
		req->target_len = i - start;
		*pos = i + 1;
		return 0;
	}
	if (c == ' ')
		return CRIER_EREQLINE; /* two SPs: the target is empty */
	int rc = line_end_error(w, i, CRIER_EREQLINE);
	return rc != 0 ? rc : CRIER_ETARGET;
}

/* Scans "HTTP/" DIGIT "." DIGIT CRLF (RFC 9112 §2.3); only the syntax is
 * judged here, the supported versions are decided by the caller. */
static int scan_version(const struct http_window *w, size_t pos, int *major, size_t *line_cr)
{
	static const char shape[] = "HTTP/9.9";
	for (size_t k = 0; k < sizeof(shape) - 1; k++) {
		if (pos + k == w->end)
			return HTTP_MORE;
		char c = w->buf[pos + k];
		bool ok = shape[k] == '9' ? (c >= '0' && c <= '9') : c == shape[k];
		if (!ok) {
			int rc = line_end_error(w, pos + k, CRIER_EREQLINE);
			return rc != 0 ? rc : CRIER_EREQLINE;
		}
	}
	size_t cr = pos + sizeof(shape) - 1;
	if (cr == w->end)
		return HTTP_MORE;
	if (w->buf[cr] != '\r' && w->buf[cr] != '\n')
		return CRIER_EREQLINE;
	int rc = line_end_error(w, cr, 0);
	if (rc != 0)
		return rc;
	*major = w->buf[pos + 5] - '0';
	*line_cr = cr;
	return 0;
}

/* Checks an absolute-form target (RFC 9112 §3.2.2) and points path at the
 * part after the authority; the authority becomes the request's host,
 * because the server must use it instead of the Host field. */
static int check_absolute_form(struct http_request *req)
{
	const char *t = req->target;
	size_t n = req->target_len, skip;
	if (n >= 7 && slice_eq_ci(t, 7, "http://"))
		skip = 7;
	else if (n >= 8 && slice_eq_ci(t, 8, "https://"))
		skip = 8;
	else
		return CRIER_ETARGET; /* authority-form (CONNECT) or a foreign scheme */
	size_t i = skip;
	while (i < n && t[i] != '/' && t[i] != '?') {
		if (!has_class(t[i], C_HOST))
			return CRIER_ETARGET; /* includes '@': userinfo is refused, §4.2.4 */
		i++;
	}
	if (i == skip)
		return CRIER_ETARGET;
	req->host = t + skip;
	req->host_len = i - skip;
	req->path = t + i;
	req->path_len = n - i;
	return 0;
}

/* Splits the target into path and query according to its form. */
static int split_target(struct http_request *req)
{
	const char *t = req->target;
	size_t n = req->target_len;
	if (t[0] == '*') {
		/* asterisk-form only names the server as a whole for OPTIONS */
		if (n != 1 || req->method_id != HTTP_M_OPTIONS)
			return CRIER_ETARGET;
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	req->path = t;
	req->path_len = n;
	if (t[0] != '/') {
		int rc = check_absolute_form(req);
		if (rc != 0)
			return rc;
	}
	const char *q = memchr(req->path, '?', req->path_len);
	if (q != NULL) {
		req->query = q + 1;
		req->query_len = (size_t)(req->path + req->path_len - req->query);
		req->path_len = (size_t)(q - req->path);
	}
	if (req->path_len == 0) {
		/* "http://host" or "http://host?q" means "/" (RFC 9110 §4.2.3) */
		req->path = "/";
		req->path_len = 1;
	}
	return 0;
}

/* Parses the request line starting at pos, left to right, so that the
 * first bad byte decides the error whether or not the line is complete.
 * On success *line_cr is the index of the CR that ends it. */
static int parse_request_line(const struct http_window *w, size_t pos, size_t max_target,
                              struct http_request *req, size_t *line_cr)
{
	int rc = scan_method(w, &pos, req);
	if (rc == 0)
		rc = scan_target(w, &pos, max_target, req);
	int major = 0;
	if (rc == 0)
		rc = scan_version(w, pos, &major, line_cr);
	if (rc != 0)
		return rc;
	req->minor_version = w->buf[pos + 7] - '0';
	req->method_id = method_id(req->method, req->method_len);
	/* RFC 9113 §3.4: the preface opens with this exact line. */
	if (major == 2 && req->minor_version == 0 && req->method_len == 3 &&
	    memcmp(req->method, "PRI", 3) == 0 && req->target_len == 1 && req->target[0] == '*')
		return CRIER_EH2_PREFACE;
	if (major != 1 || req->minor_version > 1)
		return CRIER_EVERSION;
	return split_target(req);
}

/* Scans buf[from..) for the CR LF CR LF that ends the head, refusing bare
 * CR and bare LF on the way. `from` never precedes the request line's CR,
 * so the blank line cannot be confused with leading empty lines. */
static int find_head_end(const struct http_window *w, size_t from, size_t *head_end)
{
	const char *b = w->buf;
	for (size_t i = from; i < w->end; i++) {
		if (b[i] == '\r') {
			if (i + 1 == w->end)
				break;
			if (b[i + 1] != '\n')
				return CRIER_EBARE_CR;
		} else if (b[i] == '\n') {
			if (b[i - 1] != '\r')
				return CRIER_EBARE_LF;
			if (i >= 3 && b[i - 2] == '\n' && b[i - 3] == '\r') {
				*head_end = i + 1;
				return 0;
			}
		}
	}
	return HTTP_MORE;
}

/* Parses the name of a field line at *pos up to and past its colon. */
static int scan_field_name(const char *b, size_t *pos, size_t end, struct http_header *h)
{
	size_t i = *pos;
	if (is_ws(b[i]))
		return CRIER_EOBS_FOLD; /* RFC 9112 §5.2: reject, never unfold */
	while (i < end && has_class(b[i], C_TCHAR))
		i++;
	if (i < end && b[i] == ':' && i > *pos) {
		h->name = b + *pos;
		h->name_len = i - *pos;
		*pos = i + 1;
		return 0;
	}
	if (i == *pos || i == end || !is_ws(b[i]))
		return CRIER_EHDR_NAME;
	while (i < end && is_ws(b[i]))
		i++;
	/* RFC 9112 §5.1: whitespace before the colon must be rejected. */
	return (i < end && b[i] == ':') ? CRIER_EHDR_SPACE : CRIER_EHDR_NAME;
}

/* Parses the value of a field line at *pos through its CRLF, trimming the
 * optional whitespace on both sides (RFC 9110 §5.5). */
static int scan_field_value(const char *b, size_t *pos, size_t end, struct http_header *h)
{
	size_t i = *pos;
	while (i < end && is_ws(b[i]))
		i++;
	size_t start = i, last = i;
	for (; i < end && b[i] != '\r'; i++) {
		if (b[i] == '\n')
			return CRIER_EBARE_LF;
		if (!has_class(b[i], C_FVAL))
			return CRIER_ECTL_CHAR;
		if (!is_ws(b[i]))
			last = i + 1;
	}
	/* find_head_end saw every CR followed by LF; stay safe regardless. */
	if (i + 1 >= end || b[i + 1] != '\n')
		return CRIER_EBARE_CR;
	h->value = b + start;
	h->value_len = last - start;
	*pos = i + 2;
	return 0;
}

/* Parses every field line in b[pos..end), which holds whole CRLF lines. */
static int parse_fields(const char *b, size_t pos, size_t end, struct http_request *req)
{
	while (pos < end) {
		if (req->headers_len == req->headers_cap)
			return CRIER_ETOO_MANY_HEADERS;
		struct http_header *h = &req->headers[req->headers_len];
		int rc = scan_field_name(b, &pos, end, h);
		if (rc == 0)
			rc = scan_field_value(b, &pos, end, h);
		if (rc != 0)
			return rc;
		req->headers_len++;
	}
	return 0;
}

/* Yields the next element of a comma-separated list with its OWS trimmed;
 * empty elements are yielded too, so strict callers can refuse them.
 * Returns false when the list is exhausted. */
static bool list_next(const char *v, size_t n, size_t *pos, const char **el, size_t *el_len)
{
	if (*pos > n)
		return false;
	size_t i = *pos;
	while (i < n && is_ws(v[i]))
		i++;
	size_t start = i;
	while (i < n && v[i] != ',')
		i++;
	size_t stop = i;
	while (stop > start && is_ws(v[stop - 1]))
		stop--;
	*el = v + start;
	*el_len = stop - start;
	*pos = i + 1;
	return true;
}

/* Parses a Content-Length value: a list of 1*DIGIT elements that must all
 * be equal (RFC 9110 §8.6); *cl is set from the first. `seen` says an
 * earlier field already fixed *cl, which every element must then match. */
static int parse_content_length(const char *v, size_t n, bool seen, uint64_t *cl)
{
	size_t pos = 0, len;
	const char *el;
	while (list_next(v, n, &pos, &el, &len)) {
		/* 19 digits keep the value below 2^63 once checked for overflow */
		if (len == 0 || len > 19)
			return CRIER_ECL_BAD;
		uint64_t x = 0;
		for (size_t i = 0; i < len; i++) {
			if (el[i] < '0' || el[i] > '9')
				return CRIER_ECL_BAD;
			x = x * 10 + (uint64_t)(el[i] - '0');
		}
		if (x > (uint64_t)INT64_MAX)
			return CRIER_ECL_BAD;
		if (seen && x != *cl)
			return CRIER_ECL_DUP;
		*cl = x;
		seen = true;
	}
	return 0;
}

/* What the framing and connection fields said, gathered in one pass. */
struct http_facts {
	bool has_cl, conn_close, conn_keep_alive, expect;
	unsigned te_fields;
	bool te_bad;
	unsigned hosts;
	const struct http_header *host;
};

static int note_field(const struct http_header *h, struct http_facts *f, struct http_request *req)
{
	const char *n = h->name, *v = h->value;
	size_t nl = h->name_len, vl = h->value_len;
	if (slice_eq_ci(n, nl, "host")) {
		if (++f->hosts > 1)
			return CRIER_EDUP_HOST;
		/* RFC 9112 §3.2: an invalid Host value is a 400, like a missing one;
		 * '@', '/' or spaces here only serve to confuse routing. */
		for (size_t i = 0; i < vl; i++) {
			if (!has_class(v[i], C_HOST))
				return CRIER_EHOST_BAD;
		}
		f->host = h;
	} else if (slice_eq_ci(n, nl, "content-length")) {
		int rc = parse_content_length(v, vl, f->has_cl, &req->content_length);
		if (rc != 0)
			return rc;
		f->has_cl = true;
	} else if (slice_eq_ci(n, nl, "transfer-encoding")) {
		/* Only a lone "chunked" frames a request we can read exactly the
		 * way every proxy in front of us does (RFC 9112 §6.3). */
		f->te_fields++;
		f->te_bad |= !slice_eq_ci(v, vl, "chunked");
	} else if (slice_eq_ci(n, nl, "connection")) {
		f->conn_close |= http_list_has_token(v, vl, "close");
		f->conn_keep_alive |= http_list_has_token(v, vl, "keep-alive");
		req->conn_upgrade |= http_list_has_token(v, vl, "upgrade");
	} else if (slice_eq_ci(n, nl, "expect")) {
		if (!slice_eq_ci(v, vl, "100-continue"))
			return CRIER_EEXPECT;
		f->expect = true;
	}
	return 0;
}

/* Derives body framing, persistence and Host from the parsed fields. */
static int derive_facts(struct http_request *req)
{
	struct http_facts f = {0};
	for (size_t i = 0; i < req->headers_len; i++) {
		int rc = note_field(&req->headers[i], &f, req);
		if (rc != 0)
			return rc;
	}
	bool http11 = req->minor_version == 1;
	if (http11 && f.hosts == 0)
		return CRIER_ENO_HOST;
	if (f.te_fields > 0) {
		if (!http11)
			return CRIER_ETE_HTTP10; /* RFC 9112 §6.1: 1.0 cannot chunk */
		if (f.has_cl)
			return CRIER_ECL_TE;
		if (f.te_bad || f.te_fields > 1)
			return CRIER_ETE_BAD;
		req->body_kind = HTTP_BODY_CHUNKED;
	} else if (f.has_cl && req->content_length > 0) {
		req->body_kind = HTTP_BODY_LENGTH;
	}
	req->keep_alive = !f.conn_close && (http11 || f.conn_keep_alive);
	/* RFC 9110 §10.1.1: a 1.0 client cannot handle 100 Continue. */
	req->expect_continue = f.expect && http11;
	if (f.host != NULL && req->host == NULL) {
		req->host = f.host->value;
		req->host_len = f.host->value_len;
	}
	return 0;
}

static void reset_request(struct http_request *req)
{
	struct http_header *headers = req->headers;
	size_t cap = req->headers_cap;
	*req = (struct http_request){.headers = headers, .headers_cap = cap};
}

int64_t http_parse_request(const char *buf, size_t len, size_t last_len,
                           const struct http_limits *lim, struct http_request *req)
{
	size_t max_head = lim && lim->max_head_bytes ? lim->max_head_bytes : HTTP_DEFAULT_MAX_HEAD;
	size_t max_target =
	        lim && lim->max_target_bytes ? lim->max_target_bytes : HTTP_DEFAULT_MAX_TARGET;
	struct http_window w = {.buf = buf, .end = len < max_head ? len : max_head};
	w.cut = len >= max_head;
	reset_request(req);
	if (last_len > w.end)
		last_len = 0;

	/* The stages of the file comment, in order; each one either passes,
	 * refuses, or finds the window too short (HTTP_MORE) and stops. */
	size_t pos = 0, line_cr = 0, head_end = 0;
	int rc = skip_leading_lines(&w, &pos);
	/* An LF before last_len ends a request line an earlier call accepted;
	 * skip re-validating it until the head is complete. */
	const char *lf = rc == 0 && last_len > pos ? memchr(buf + pos, '\n', last_len - pos) : NULL;
	if (rc == 0 && lf != NULL)
		line_cr = (size_t)(lf - buf) - 1;
	else if (rc == 0)
		rc = parse_request_line(&w, pos, max_target, req, &line_cr);
	if (rc == 0) {
		size_t from = last_len >= 3 && last_len - 3 > line_cr ? last_len - 3 : line_cr;
		rc = find_head_end(&w, from, &head_end);
	}
	if (rc == 0 && lf != NULL)
		rc = parse_request_line(&w, pos, max_target, req, &line_cr);
	if (rc == 0)
		rc = parse_fields(buf, line_cr + 2, head_end - 2, req);
	if (rc == 0)
		rc = derive_facts(req);
	if (rc == HTTP_MORE)
		return window_more(&w);
	return rc != 0 ? rc : (int64_t)head_end;
}

const struct http_header *http_find_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->headers_len; i++) {
		const struct http_header *h = &req->headers[i];
		if (slice_eq_ci(h->name, h->name_len, name))
			return h;
	}
	return NULL;
}

bool http_list_has_token(const char *value, size_t value_len, const char *token)
{
	size_t pos = 0, len;
	const char *el;
	while (list_next(value, value_len, &pos, &el, &len)) {
		if (len > 0 && slice_eq_ci(el, len, token))
			return true;
	}
	return false;
}

/* Chunked decoder states (struct http_chunked.state). The size line is
 * chunk-size [ chunk-ext ] CRLF with chunk-ext = *( BWS ";" BWS name
 * [ BWS "=" BWS ( token / quoted-string ) ] ), RFC 9112 §7.1.1. */
enum {
	CH_SIZE_START = 0, /* first hex digit of a chunk size */
	CH_SIZE,           /* further hex digits */
	CH_SIZE_BWS,       /* whitespace after the size: only ';' may follow */
	CH_EXT_PRE_NAME,   /* after ';', before the extension name */
	CH_EXT_NAME,
	CH_EXT_POST_NAME, /* whitespace after a name: '=' or ';' follows */
	CH_EXT_PRE_VAL,   /* after '=' */
	CH_EXT_TOKEN,
	CH_EXT_QSTR,
	CH_EXT_QESC,      /* after a backslash in a quoted string */
	CH_EXT_AFTER_VAL, /* right after a value: ';', CR or whitespace */
	CH_EXT_BWS,       /* whitespace after a value: only ';' may follow */
	CH_SIZE_LF,       /* CR of the size line seen */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TR_START, /* start of a trailer line, or the final CRLF */
	CH_TR_NAME,
	CH_TR_VALUE,
	CH_TR_LF,
	CH_FINAL_LF,
};

/* Consumes one hex digit of the chunk size. Leading zeros are free; more
 * than 16 significant digits or a value of 2^63 or more is refused so the
 * running total can never overflow a signed 64-bit offset. */
static int chunk_size_digit(struct http_chunked *st, char c)
{
	if (!has_class(c, C_HEX))
		return CRIER_ECHUNK_SIZE;
	unsigned d = (unsigned)(c <= '9' ? c - '0' : lower_ascii(c) - 'a' + 10);
	if (st->remaining == 0 && d == 0)
		return 0;
	if (++st->digits > HTTP_MAX_CHUNK_DIGITS)
		return CRIER_ECHUNK_SIZE;
	st->remaining = (st->remaining << 4) | d;
	return st->remaining > (uint64_t)INT64_MAX ? CRIER_ECHUNK_SIZE : 0;
}

/* The size line is complete: start the data, or the trailer after the
 * last chunk. The body limit is checked against the declared size so an
 * oversized chunk is refused before any of it is handed out. */
static int chunk_size_done(struct http_chunked *st, uint64_t max_body)
{
	if (max_body != 0 && st->remaining > max_body - st->total)
		return CRIER_EBODY_TOO_LARGE;
	if (st->remaining > UINT64_MAX - st->total)
		return CRIER_EBODY_TOO_LARGE;
	st->line_len = 0;
	st->digits = 0;
	st->state = st->remaining == 0 ? CH_TR_START : CH_DATA;
	return 0;
}

/* One byte of the size line after the digits: whitespace, extensions and
 * the CR. Returns the next state or a negative CRIER_E* code. */
static int chunk_ext_byte(uint8_t state, char c)
{
	bool ws = is_ws(c), tok = has_class(c, C_TCHAR);
	switch (state) {
	case CH_SIZE:
	case CH_SIZE_BWS:
		if (c == ';')
			return CH_EXT_PRE_NAME;
		if (ws)
			return CH_SIZE_BWS;
		return (c == '\r' && state == CH_SIZE) ? CH_SIZE_LF : CRIER_ECHUNK_SIZE;
	case CH_EXT_PRE_NAME:
		return ws ? CH_EXT_PRE_NAME : tok ? CH_EXT_NAME : CRIER_ECHUNK_EXT;
	case CH_EXT_NAME:
		if (tok)
			return CH_EXT_NAME;
		if (c == '\r')
			return CH_SIZE_LF;
		/* the name ended: the same choices as after its BWS */
		return chunk_ext_byte(CH_EXT_POST_NAME, c);
	case CH_EXT_POST_NAME:
		if (c == '=')
			return CH_EXT_PRE_VAL;
		if (c == ';')
			return CH_EXT_PRE_NAME;
		return ws ? CH_EXT_POST_NAME : CRIER_ECHUNK_EXT;
	case CH_EXT_PRE_VAL:
		if (c == '"')
			return CH_EXT_QSTR;
		return ws ? CH_EXT_PRE_VAL : tok ? CH_EXT_TOKEN : CRIER_ECHUNK_EXT;
	case CH_EXT_TOKEN:
		return tok ? CH_EXT_TOKEN : chunk_ext_byte(CH_EXT_AFTER_VAL, c);
	case CH_EXT_QSTR:
		if (c == '"')
			return CH_EXT_AFTER_VAL;
		if (c == '\\')
			return CH_EXT_QESC;
		return has_class(c, C_QDTEXT) ? CH_EXT_QSTR : CRIER_ECHUNK_EXT;
	case CH_EXT_QESC:
		/* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
		return has_class(c, C_FVAL) ? CH_EXT_QSTR : CRIER_ECHUNK_EXT;
	case CH_EXT_AFTER_VAL:
		if (c == '\r')
			return CH_SIZE_LF;
		return chunk_ext_byte(CH_EXT_BWS, c);
	case CH_EXT_BWS:
		if (c == ';')
			return CH_EXT_PRE_NAME;
		return ws ? CH_EXT_BWS : CRIER_ECHUNK_EXT;
	default:
		return CRIER_ECHUNK_EXT;
	}
}

/* One byte of the size line. Bare LF anywhere on it is a size error: the
 * line never properly ended. */
static int chunk_line_byte(struct http_chunked *st, char c, uint64_t max_body)
{
	/* the limit counts the line without its CRLF */
	if (c != '\r' && c != '\n' && ++st->line_len > HTTP_MAX_CHUNK_LINE)
		return CRIER_ECHUNK_EXT;
	if (st->state == CH_SIZE_LF)
		return c == '\n' ? chunk_size_done(st, max_body) : CRIER_ECHUNK_SIZE;
	if (c == '\n')
		return CRIER_ECHUNK_SIZE;
	if (st->state == CH_SIZE_START) {
		st->state = CH_SIZE;
		return chunk_size_digit(st, c);
	}
	if (st->state == CH_SIZE && has_class(c, C_HEX))
		return chunk_size_digit(st, c);
	int next = chunk_ext_byte(st->state, c);
	if (next < 0)
		return next;
	st->state = (uint8_t)next;
	return 0;
}

/* One byte of the trailer section, checked with the field rules of the
 * head (no obs-fold, no space before the colon, no control bytes) and
 * then dropped: crier gives trailers no meaning. */
static int chunk_trailer_byte(struct http_chunked *st, char c)
{
	if (++st->trailer_len > HTTP_MAX_TRAILER_BYTES)
		return CRIER_ECHUNK_TRAILER;
	bool tok = has_class(c, C_TCHAR);
	switch (st->state) {
	case CH_TR_START:
		st->state = c == '\r' ? CH_FINAL_LF : CH_TR_NAME;
		return (c == '\r' || tok) ? 0 : CRIER_ECHUNK_TRAILER;
	case CH_TR_NAME:
		if (c == ':')
			st->state = CH_TR_VALUE;
		return (c == ':' || tok) ? 0 : CRIER_ECHUNK_TRAILER;
	case CH_TR_VALUE:
		if (c == '\r')
			st->state = CH_TR_LF;
		return (c == '\r' || has_class(c, C_FVAL)) ? 0 : CRIER_ECHUNK_TRAILER;
	case CH_TR_LF:
		st->state = CH_TR_START;
		return c == '\n' ? 0 : CRIER_ECHUNK_TRAILER;
	default: /* CH_FINAL_LF */
		st->done = c == '\n';
		return st->done ? 0 : CRIER_ECHUNK_TRAILER;
	}
}

int64_t http_chunked_decode(struct http_chunked *st, const char *in, size_t len, uint64_t max_body,
                            const char **data, size_t *data_len)
{
	*data_len = 0;
	size_t i = 0;
	while (i < len && !st->done) {
		int rc = 0;
		char c = in[i];
		if (st->state == CH_DATA) {
			size_t n = len - i;
			if ((uint64_t)n > st->remaining)
				n = (size_t)st->remaining;
			*data = in + i;
			*data_len = n;
			st->remaining -= n;
			st->total += n;
			if (st->remaining == 0)
				st->state = CH_DATA_CR;
			return (int64_t)(i + n);
		} else if (st->state == CH_DATA_CR || st->state == CH_DATA_LF) {
			bool ok = c == (st->state == CH_DATA_CR ? '\r' : '\n');
			st->state = st->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE_START;
			rc = ok ? 0 : CRIER_ECHUNK_CRLF;
		} else if (st->state >= CH_TR_START) {
			rc = chunk_trailer_byte(st, c);
		} else {
			rc = chunk_line_byte(st, c, max_body);
		}
		if (rc < 0)
			return rc;
		i++;
	}
	return (int64_t)i;
}

/* An entity tag without its weakness prefix W/ (weak comparison). */
static void http_etag_strip_weak(const char **s, size_t *len)
{
	if (*len >= 2 && (*s)[0] == 'W' && (*s)[1] == '/') {
		*s += 2;
		*len -= 2;
	}
}

bool http_etag_match(const char *value, size_t value_len, const char *etag, size_t etag_len)
{
	http_etag_strip_weak(&etag, &etag_len);
	size_t i = 0;
	while (i < value_len) {
		while (i < value_len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		size_t start = i;
		while (i < value_len && value[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
			end--;
		const char *tag = value + start;
		size_t len = end - start;
		if (len == 1 && tag[0] == '*')
			return true;
		http_etag_strip_weak(&tag, &len);
		if (len > 0 && len == etag_len && memcmp(tag, etag, len) == 0)
			return true;
	}
	return false;
}
