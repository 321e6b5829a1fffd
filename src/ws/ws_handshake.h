/*
 * ws_handshake.h - the server side of the WebSocket opening handshake
 * (RFC 6455 §4.2) and the browser-origin policy.
 *
 * Works on a request head that the HTTP parser has already parsed: checks
 * that it is a valid upgrade, computes Sec-WebSocket-Accept (SHA-1 via
 * OpenSSL, base64), selects a subprotocol from what the route offers,
 * negotiates permessage-deflate, and applies the origin policy. It decides
 * and formats; it never writes to a socket. After the 101 the HTTP parser
 * is out of the connection's path.
 */
#ifndef CRIER_WS_WS_HANDSHAKE_H
#define CRIER_WS_WS_HANDSHAKE_H

#include "core/config.h"
#include "http/http_parse.h"
#include "ws/ws_deflate.h"

#include <stdbool.h>
#include <stddef.h>

#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

struct ws_handshake_opts {
	const char *const *protocols; /* subprotocols the route speaks, preferred first */
	size_t n_protocols;
	bool protocol_required;                    /* refuse clients that offer none of them */
	bool deflate;                              /* offer permessage-deflate */
	const struct config_list *allowed_origins; /* see origin_allowed */
};

struct ws_accept {
	char accept[WS_ACCEPT_LEN + 1];
	const char *protocol; /* selected subprotocol (from opts), or NULL */
	bool deflate;         /* permessage-deflate accepted */
	struct ws_deflate_params deflate_params;
};

/*
 * Validates an upgrade request. Returns 0 and fills *out, or a negative
 * CRIER_E* code whose err_http_status() is the answer: not an upgrade
 * (missing "Upgrade: websocket" or the "upgrade" token in Connection, or
 * not HTTP/1.1) -> 426 with "Upgrade: websocket"; Sec-WebSocket-Version
 * other than 13 -> 426 with "Sec-WebSocket-Version: 13"; a
 * Sec-WebSocket-Key that is missing, repeated or does not decode to 16
 * bytes -> 400; an origin the policy refuses (or two Origin fields) ->
 * 403; no acceptable subprotocol when one is required -> 400. The checks
 * run in that order. out->protocol points into opts->protocols; a
 * subprotocol is matched case-sensitively. Repeated Sec-WebSocket-Version
 * fields are refused like a wrong version.
 */
int ws_handshake_check(const struct http_request *req, const struct ws_handshake_opts *opts,
                       struct ws_accept *out);

/* Formats the 101 response for *a into out (NUL-terminated); returns its
 * length, or 0 when cap is too small. */
size_t ws_handshake_response(const struct ws_accept *a, char *out, size_t cap);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
 * A key over 92 bytes is hashed from a heap copy; if that allocation fails
 * out is the empty string (never for a key that passed the check). */
void ws_handshake_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

#endif
