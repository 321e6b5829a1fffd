/*
 * http_parse.h - HTTP/1.1 request-head parser and chunked body decoder.
 *
 * Pure codec: libc only, no allocation, no globals, no I/O. The head parser
 * takes the caller's bytes and fills a caller-owned request whose strings
 * are slices pointing into those bytes; it is restartable (call it again
 * with more bytes; `last_len` lets it skip re-scanning for the blank line).
 *
 * It is strict wherever laxness lets two parties frame a message
 * differently (request smuggling, RFC 9112 §6.3, §11.2): both
 * Content-Length and Transfer-Encoding, conflicting Content-Length values,
 * a Transfer-Encoding other than a single final "chunked", obs-fold,
 * whitespace before the colon, bare CR, control characters. Each rejection
 * is a distinct CRIER_E* code (core/err.h) that carries its HTTP status.
 *
 * The chunked decoder is a byte-exact restartable state machine over a
 * small struct; it hands data out as slices of the input, never copies.
 */
#ifndef CRIER_HTTP_PARSE_H
#define CRIER_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
	HTTP_M_UNKNOWN = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_PATCH,
	HTTP_M_COUNT_
};

enum http_body_kind {
	HTTP_BODY_NONE = 0, /* no body (no framing headers, or Content-Length: 0) */
	HTTP_BODY_LENGTH,   /* exactly content_length bytes follow the head */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
};

/* A header field: name and value are slices into the parsed buffer. The
 * value has leading and trailing whitespace (SP / HTAB) removed. */
struct http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Limits the parser enforces. Zero means "use the default" shown. */
struct http_limits {
	size_t max_head_bytes;   /* whole head incl. request line; default 8192 -> 431 */
	size_t max_target_bytes; /* request-target; default 4096 -> 414 */
};

/* Parsed request head. `headers` and `headers_cap` are set by the caller
 * before the call; everything else is output. Slices point into `buf`. */
struct http_request {
	const char *method; /* token as sent, e.g. "GET" */
	size_t method_len;
	enum http_method method_id; /* HTTP_M_UNKNOWN for a valid but unknown token */
	/* request-target as sent: origin-form "/p?q", asterisk-form "*" (OPTIONS
	 * only) or absolute-form "http://host/p?q" */
	const char *target;
	size_t target_len;
	/* target without query; for absolute-form also without scheme and
	 * authority, and the static string "/" when that leaves it empty */
	const char *path;
	size_t path_len;
	const char *query; /* after '?', NULL when absent (empty query: non-NULL, len 0) */
	size_t query_len;
	int minor_version; /* 0 for HTTP/1.0, 1 for HTTP/1.1 */

	struct http_header *headers; /* in: caller's array */
	size_t headers_cap;          /* in: its capacity; more fields -> CRIER_ETOO_MANY_HEADERS */
	size_t headers_len;          /* out: fields found */

	/* Framing and connection facts derived from the fields. */
	enum http_body_kind body_kind;
	uint64_t content_length; /* valid when body_kind == HTTP_BODY_LENGTH */
	bool keep_alive;         /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
	bool conn_upgrade;       /* "upgrade" token in Connection */
	bool expect_continue;    /* "Expect: 100-continue", 1.1 only (RFC 9110 §10.1.1) */
	/* Host value slice, NULL if absent; for an absolute-form target, its
	 * authority, which the server must use instead (RFC 9112 §3.2.2) */
	const char *host;
	size_t host_len;
};

/*
 * Parses a request head from buf[0..len).
 *
 * `last_len` is the length of buf at the previous call that returned 0 for
 * the same request (0 on the first call); the parser only scans the new
 * tail for the end of the head, then parses the whole head at once.
 *
 * Returns the head length in bytes (> 0, including the final CRLF CRLF) on
 * success; 0 when the head is incomplete (and within the limits); or a
 * negative CRIER_E* code. An HTTP/2 connection preface yields
 * CRIER_EH2_PREFACE; a head that reaches max_head_bytes without ending,
 * CRIER_EHEAD_TOO_LARGE, as soon as that is known (before the blank line).
 * Unknown but syntactically valid methods parse (method_id UNKNOWN); the
 * caller answers 501. A Host value with characters no authority can hold
 * (RFC 3986 §3.2: unreserved, sub-delims, ':', '[', ']', '%') yields
 * CRIER_EHOST_BAD. Leading empty lines before the request line (RFC 9112
 * §2.2) are skipped and counted in the returned length.
 */
int64_t http_parse_request(const char *buf, size_t len, size_t last_len,
                           const struct http_limits *lim, struct http_request *req);

/* Case-insensitive lookup of a header by name in a parsed request; returns
 * the first match or NULL. */
const struct http_header *http_find_header(const struct http_request *req, const char *name);

/* True when an If-None-Match value (a comma-separated list of entity
 * tags, or "*") matches the entity tag etag[0..etag_len) (quotes included)
 * under the weak comparison RFC 9110 §13.1.2 prescribes for that header:
 * a W/ prefix on either side is ignored. Reads only value[0..value_len). */
bool http_etag_match(const char *value, size_t value_len, const char *etag, size_t etag_len);

/* Returns true when the comma-separated list `value` contains `token`,
 * compared case-insensitively, ignoring optional whitespace. */
bool http_list_has_token(const char *value, size_t value_len, const char *token);

/* Restartable chunked-body decoder state. Zero-initialise to start. */
struct http_chunked {
	uint64_t remaining;   /* data bytes left in the current chunk */
	uint64_t total;       /* data bytes delivered so far */
	uint32_t line_len;    /* bytes seen on the current size/trailer line (bounded) */
	uint32_t trailer_len; /* bytes of trailer section seen (bounded) */
	uint8_t state;        /* internal */
	uint8_t digits;       /* hex digits seen in the size */
	bool done;            /* the last-chunk and trailer section are complete */
};

/*
 * Feeds in[0..len) to the decoder. Consumes framing bytes and at most one
 * run of data; when data is found, *data points at it inside `in` and
 * *data_len is its length (otherwise *data_len is 0).
 *
 * Returns the number of bytes of `in` consumed (the caller advances and
 * calls again while bytes remain and !st->done), 0 only when len is 0 or
 * st->done, or a negative CRIER_E* code: CHUNK_SIZE (no digits, non-hex,
 * overflow, too many digits), CHUNK_EXT (invalid extension syntax or a size
 * line longer than 4096 bytes), CHUNK_CRLF (data not followed by CRLF),
 * CHUNK_TRAILER (malformed trailer field or trailer section over 8192
 * bytes), BODY_TOO_LARGE (st->total would exceed max_body; 0 = no limit).
 * Bare LF line endings are rejected (CHUNK_CRLF / CHUNK_SIZE as appropriate).
 * Chunk extensions and trailer fields are validated, then dropped. After a
 * negative return the state is spent: do not feed it again.
 */
int64_t http_chunked_decode(struct http_chunked *st, const char *in, size_t len, uint64_t max_body,
                            const char **data, size_t *data_len);

#endif
