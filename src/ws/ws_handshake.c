/*
 * ws_handshake.c - the server's half of the WebSocket opening handshake
 * (RFC 6455 §4.2): validate the upgrade, compute Sec-WebSocket-Accept,
 * pick a subprotocol and extensions, apply the origin policy, format 101.
 *
 * It reads a request the HTTP parser already split into fields and never
 * allocates (except to hash an absurdly long key) or touches a socket.
 * Checks run in the order of the errors' specificity: "not an upgrade"
 * (426) before "wrong version" (426 with the version we speak) before the
 * key (400), so a plain browser GET on a WebSocket route is told to
 * upgrade rather than that its key is missing.
 *
 * The origin policy compares the Origin with the Host header. The Host
 * carries no scheme, so a Host without a port is taken to use the default
 * port of the Origin's scheme: "https://a.example" and "Host: a.example"
 * are the same origin, and so are "https://a.example" and
 * "Host: a.example:443". A page served over http could thereby reach a
 * wss endpoint of the same host and port, which is not a cross-origin risk
 * the server can see. Subprotocols are matched case-sensitively, because
 * browsers compare the one we echo with the one they offered exactly.
 */
#include "ws/ws_handshake.h"

#include "auth/origin.h"
#include "core/base64.h"

#include "core/err.h"

#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 6455 §1.3: appended to the key before hashing. */
#define WS_GUID     "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_GUID_LEN (sizeof(WS_GUID) - 1)

/* All Sec-WebSocket-Extensions values joined must fit in this; browsers
 * send under 100 bytes, and an offer that does not fit is declined. */
#define WS_EXT_JOIN_MAX 2048

static bool slice_ieq(const char *a, size_t n, const char *b)
{
	return n == strlen(b) && strncasecmp(a, b, n) == 0;
}

static bool header_is(const struct http_header *h, const char *name)
{
	return slice_ieq(h->name, h->name_len, name);
}

/* Counts fields named `name`; *first is the first one (or NULL). */
static size_t count_headers(const struct http_request *req, const char *name,
                            const struct http_header **first)
{
	size_t n = 0;
	*first = NULL;
	for (size_t i = 0; i < req->headers_len; i++) {
		if (!header_is(&req->headers[i], name))
			continue;
		if (n++ == 0)
			*first = &req->headers[i];
	}
	return n;
}

/* ---- accept key --------------------------------------------------------- */

void ws_handshake_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
	/* SHA1() wants one buffer. A valid key is 24 bytes; only a caller
	 * hashing something far longer pays for a heap copy. */
	char stack[128];
	char *joined = len + WS_GUID_LEN <= sizeof(stack) ? stack : malloc(len + WS_GUID_LEN);
	if (!joined) {
		out[0] = '\0';
		return;
	}
	memcpy(joined, key, len);
	memcpy(joined + len, WS_GUID, WS_GUID_LEN);
	uint8_t digest[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)joined, len + WS_GUID_LEN, digest);
	if (joined != stack)
		free(joined);
	*base64_encode(digest, sizeof(digest), out) = '\0';
}

/* ---- request checks ----------------------------------------------------- */

/* RFC 6455 §4.2.1 items 1, 3, 4: a GET over HTTP/1.1 with "Upgrade:
 * websocket" and "Connection: upgrade". */
static bool is_upgrade(const struct http_request *req)
{
	if (req->minor_version != 1 || req->method_id != HTTP_M_GET || !req->conn_upgrade)
		return false;
	for (size_t i = 0; i < req->headers_len; i++) {
		const struct http_header *h = &req->headers[i];
		if (header_is(h, "upgrade") &&
		    http_list_has_token(h->value, h->value_len, "websocket"))
			return true;
	}
	return false;
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* RFC 6455 §4.2.1 item 5: base64 of 16 bytes is 22 characters and "==". */
static bool key_valid(const char *v, size_t n)
{
	if (n != 24 || v[22] != '=' || v[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		if (!is_b64_char(v[i]))
			return false;
	}
	return true;
}

/* True when the comma-separated list v holds tok exactly (case-sensitive,
 * RFC 6455 §4.1 leaves subprotocol names to their registrations). */
static bool list_has_exact(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < n && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tl && tl > 0 && memcmp(v + start, tok, tl) == 0)
			return true;
	}
	return false;
}

/* The first of the route's protocols (its preference order, RFC 6455
 * §4.2.2 item 5.4) that any Sec-WebSocket-Protocol field offers. */
static const char *pick_protocol(const struct http_request *req,
                                 const struct ws_handshake_opts *opts)
{
	for (size_t p = 0; p < opts->n_protocols; p++) {
		for (size_t i = 0; i < req->headers_len; i++) {
			const struct http_header *h = &req->headers[i];
			if (header_is(h, "sec-websocket-protocol") &&
			    list_has_exact(h->value, h->value_len, opts->protocols[p]))
				return opts->protocols[p];
		}
	}
	return NULL;
}

/* Joins every Sec-WebSocket-Extensions field (RFC 9110 §5.3: repeated
 * fields are one comma list) and negotiates permessage-deflate on it. */
static void pick_extensions(const struct http_request *req, struct ws_accept *out)
{
	char joined[WS_EXT_JOIN_MAX];
	size_t n = 0;
	for (size_t i = 0; i < req->headers_len; i++) {
		const struct http_header *h = &req->headers[i];
		if (!header_is(h, "sec-websocket-extensions"))
			continue;
		size_t sep = n > 0 ? 2 : 0;
		if (sep + h->value_len > sizeof(joined) - n)
			return; /* too long to be a real offer: run uncompressed */
		memcpy(joined + n, ", ", sep);
		memcpy(joined + n + sep, h->value, h->value_len);
		n += sep + h->value_len;
	}
	out->deflate = ws_deflate_negotiate(joined, n, &out->deflate_params) == 1;
}

int ws_handshake_check(const struct http_request *req, const struct ws_handshake_opts *opts,
                       struct ws_accept *out)
{
	*out = (struct ws_accept){0};
	if (!is_upgrade(req))
		return CRIER_EWS_UPGRADE;
	const struct http_header *h;
	if (count_headers(req, "sec-websocket-version", &h) != 1 ||
	    !slice_ieq(h->value, h->value_len, "13"))
		return CRIER_EWS_VERSION;
	const struct http_header *key;
	if (count_headers(req, "sec-websocket-key", &key) != 1 ||
	    !key_valid(key->value, key->value_len))
		return CRIER_EWS_KEY;
	size_t n_origin = count_headers(req, "origin", &h);
	if (n_origin > 1 ||
	    (n_origin == 1 && !origin_allowed(h->value, h->value_len, req->host, req->host_len,
	                                      opts->allowed_origins)))
		return CRIER_EWS_ORIGIN;
	out->protocol = pick_protocol(req, opts);
	if (!out->protocol && opts->protocol_required)
		return CRIER_EWS_PROTOCOL;
	if (opts->deflate)
		pick_extensions(req, out);
	ws_handshake_accept_key(key->value, key->value_len, out->accept);
	return 0;
}

/* Appends s to out[*n..cap); false when it does not fit with its NUL. */
static bool put(char *out, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);
	if (l >= cap - *n)
		return false;
	memcpy(out + *n, s, l + 1);
	*n += l;
	return true;
}

size_t ws_handshake_response(const struct ws_accept *a, char *out, size_t cap)
{
	char ext[160];
	if (a->deflate && ws_deflate_response(&a->deflate_params, ext, sizeof(ext)) == 0)
		return 0;
	size_t n = 0;
	bool ok = cap > 0 &&
	          put(out, cap, &n,
	              "HTTP/1.1 101 Switching Protocols\r\n"
	              "Upgrade: websocket\r\n"
	              "Connection: Upgrade\r\n"
	              "Sec-WebSocket-Accept: ") &&
	          put(out, cap, &n, a->accept) && put(out, cap, &n, "\r\n");
	if (ok && a->protocol)
		ok = put(out, cap, &n, "Sec-WebSocket-Protocol: ") &&
		     put(out, cap, &n, a->protocol) && put(out, cap, &n, "\r\n");
	if (ok && a->deflate)
		ok = put(out, cap, &n, "Sec-WebSocket-Extensions: ") && put(out, cap, &n, ext) &&
		     put(out, cap, &n, "\r\n");
	ok = ok && put(out, cap, &n, "\r\n");
	if (!ok) {
		if (cap > 0)
			out[0] = '\0';
		return 0;
	}
	return n;
}

/* ---- origin policy ------------------------------------------------------ */
