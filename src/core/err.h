/*
 * err.h - crier's error codes.
 *
 * Every function that can fail returns 0 (or a count) on success and a
 * negative CRIER_E* code on failure, the way libuv does. One X-macro table
 * generates the enum, the short names used as metric labels and log fields,
 * and the human sentences used in error bodies, so the three never drift.
 *
 * Parser errors carry the HTTP status they map to: the parser reports the
 * fact ("two Content-Length values"), the connection picks the response
 * from this table. Status 0 means "not an HTTP-visible error".
 */
#ifndef CRIER_CORE_ERR_H
#define CRIER_CORE_ERR_H

/* XX(NAME, status, "metric_label", "sentence for the error body"). status is
 * the HTTP status (< 1000) or the WebSocket close code (>= 1000) the error
 * answers with; 0 when it has none. */
#define CRIER_ERRNO_MAP(XX)                                                                     \
	XX(NOMEM, 500, "nomem", "out of memory")                                                \
	XX(INVAL, 400, "invalid", "invalid argument")                                           \
	XX(RANGE, 400, "range", "value out of range")                                           \
	XX(IO, 0, "io", "input/output error")                                                   \
	XX(ADDRINUSE, 0, "addr_in_use", "address already in use")                               \
	XX(TLS, 0, "tls", "TLS certificate or key not usable")                                  \
	XX(CLOSED, 0, "closed", "connection closed")                                            \
	XX(BADREQ, 400, "bad_request", "malformed request")                                     \
	XX(METHOD, 501, "method", "method not implemented")                                     \
	XX(VERSION, 505, "version", "HTTP version not supported (HTTP/1.0 and HTTP/1.1 only)")  \
	XX(H2_PREFACE, 505, "h2_preface", "HTTP/2 is not supported on this port")               \
	XX(REQLINE, 400, "request_line", "malformed request line")                              \
	XX(TARGET, 400, "target", "malformed request target")                                   \
	XX(URI_TOO_LONG, 414, "uri_too_long", "request target too long")                        \
	XX(HEAD_TOO_LARGE, 431, "head_too_large", "request header fields too large")            \
	XX(TOO_MANY_HEADERS, 431, "too_many_headers", "too many header fields")                 \
	XX(HDR_NAME, 400, "header_name", "malformed header field name")                         \
	XX(HDR_SPACE, 400, "header_space", "whitespace between header field name and colon")    \
	XX(HDR_VALUE, 400, "header_value", "invalid character in header field value")           \
	XX(OBS_FOLD, 400, "obs_fold", "obsolete line folding is not allowed")                   \
	XX(BARE_CR, 400, "bare_cr", "bare CR in request head")                                  \
	XX(BARE_LF, 400, "bare_lf", "bare LF line ending in request head")                      \
	XX(CTL_CHAR, 400, "control_char", "control character in request head")                  \
	XX(NO_HOST, 400, "no_host", "HTTP/1.1 request without Host")                            \
	XX(DUP_HOST, 400, "dup_host", "more than one Host header")                              \
	XX(HOST_BAD, 400, "host_invalid", "invalid Host header value")                          \
	XX(CL_TE, 400, "cl_and_te", "both Content-Length and Transfer-Encoding")                \
	XX(CL_DUP, 400, "cl_conflict", "conflicting Content-Length values")                     \
	XX(CL_BAD, 400, "cl_invalid", "invalid Content-Length")                                 \
	XX(TE_BAD, 501, "te_unsupported", "Transfer-Encoding other than a final chunked")       \
	XX(TE_HTTP10, 400, "te_http10", "Transfer-Encoding in an HTTP/1.0 request")             \
	XX(CHUNK_SIZE, 400, "chunk_size", "invalid chunk size")                                 \
	XX(CHUNK_EXT, 400, "chunk_ext", "invalid chunk extension")                              \
	XX(CHUNK_CRLF, 400, "chunk_crlf", "missing CRLF after chunk data")                      \
	XX(CHUNK_TRAILER, 400, "chunk_trailer", "invalid or oversized chunked trailer")         \
	XX(BODY_TOO_LARGE, 413, "body_too_large", "request body too large")                     \
	XX(EXPECT, 417, "expect", "unsupported Expect value")                                   \
	XX(TIMEOUT, 408, "timeout", "request timed out")                                        \
	XX(OVERLOAD, 503, "overload", "server at connection limit")                             \
	XX(WS_UPGRADE, 426, "ws_upgrade", "not a WebSocket upgrade request")                    \
	XX(WS_VERSION, 426, "ws_version", "unsupported Sec-WebSocket-Version (13 only)")        \
	XX(WS_KEY, 400, "ws_key", "invalid Sec-WebSocket-Key")                                  \
	XX(WS_ORIGIN, 403, "ws_origin", "origin not allowed")                                   \
	XX(WS_PROTOCOL, 400, "ws_protocol", "no supported subprotocol offered")                 \
	XX(WS_RSV, 1002, "ws_rsv", "reserved bits set without a negotiated extension")          \
	XX(WS_OPCODE, 1002, "ws_opcode", "unknown opcode")                                      \
	XX(WS_CONTROL_LEN, 1002, "ws_control_len", "control frame longer than 125 bytes")       \
	XX(WS_CONTROL_FRAG, 1002, "ws_control_frag", "fragmented control frame")                \
	XX(WS_CONT, 1002, "ws_cont", "continuation frame without a message")                    \
	XX(WS_NOT_CONT, 1002, "ws_not_cont", "new data frame inside a fragmented message")      \
	XX(WS_UNMASKED, 1002, "ws_unmasked", "client frame not masked")                         \
	XX(WS_MASKED, 1002, "ws_masked", "server frame masked")                                 \
	XX(WS_LEN64, 1002, "ws_len64", "64-bit payload length with the top bit set")            \
	XX(WS_CLOSE_CODE, 1002, "ws_close_code", "invalid close code")                          \
	XX(WS_CLOSE_LEN, 1002, "ws_close_len", "close frame with a 1-byte payload")             \
	XX(WS_UTF8, 1007, "ws_utf8", "invalid UTF-8 in a text message")                         \
	XX(WS_INFLATE, 1007, "ws_inflate", "invalid compressed data")                           \
	XX(WS_TOO_BIG, 1009, "ws_too_big", "message too big")                                   \
	XX(WS_SLOW, 1008, "ws_slow", "slow consumer: outbound budget exceeded")                 \
	XX(AUTH_MISSING, 401, "auth_missing", "authentication required")                        \
	XX(AUTH_MALFORMED, 401, "auth_malformed", "malformed token")                            \
	XX(AUTH_ALG, 401, "auth_alg", "token algorithm not accepted")                           \
	XX(AUTH_SIGNATURE, 401, "auth_signature", "invalid token signature")                    \
	XX(AUTH_EXPIRED, 401, "auth_expired", "token expired")                                  \
	XX(AUTH_NOT_YET, 401, "auth_not_yet_valid", "token not yet valid")                      \
	XX(AUTH_ISSUER, 401, "auth_issuer", "token issuer not accepted")                        \
	XX(AUTH_AUDIENCE, 401, "auth_audience", "token audience not accepted")                  \
	XX(AUTH_QUERY, 401, "auth_query_token",                                                 \
	   "token in the query string not accepted (the hub runs without --allow-query-token)") \
	XX(AUTH_FORBIDDEN, 403, "auth_forbidden", "channel not permitted by the token")         \
	XX(AUTH_EXPIRED_LIVE, 4001, "auth_expired_live", "token expired")                       \
	XX(RATE_LIMITED, 429, "rate_limited", "too many requests")                              \
	XX(IP_LIMIT, 503, "ip_limit", "too many connections from this address")                 \
	XX(TOKEN_LIMIT, 429, "token_limit", "too many connections for this token")              \
	XX(REMOTE, 501, "remote", "not available with --engine redis")                          \
	XX(ENGINE_DOWN, 503, "engine_down", "the Redis engine is unavailable")                  \
	XX(ENGINE_SCRIPT, 500, "engine_script", "a Redis engine script failed")

enum crier_err {
	CRIER_OK = 0,
#define CRIER_ERR_ENUM(name, status, label, msg) CRIER_E##name,
	CRIER_ERR_FIRST_ = -1000,
	CRIER_ERRNO_MAP(CRIER_ERR_ENUM)
#undef CRIER_ERR_ENUM
	        CRIER_ERR_LAST_
};

/* Short machine label ("cl_and_te") for a CRIER_E* code; "unknown" otherwise. */
const char *err_label(int code);
/* Human sentence for a CRIER_E* code or a negated errno/uv code. Never NULL. */
const char *err_message(int code);
/* HTTP status a CRIER_E* code answers with; 0 when it has none. */
int err_http_status(int code);
/* WebSocket close code (RFC 6455 §7.4.1) a CRIER_E* code answers with; 0 when none. */
int err_ws_close_code(int code);
/* True when code is one of the CRIER_E* values (as opposed to a negated errno). */
int err_is_crier(int code);

#endif
