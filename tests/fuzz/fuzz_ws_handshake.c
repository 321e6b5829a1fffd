/*
 * fuzz_ws_handshake.c - libFuzzer target for the WebSocket handshake and
 * the origin policy.
 *
 * The input is parsed as a request head; when it parses, the handshake is
 * checked under three route configurations (subprotocols offered or
 * required, deflate on or off, origin lists empty, "*", or exact and
 * wildcard entries). An accepted handshake must carry a 28-character
 * base64 accept key equal to one recomputed from the key field, a
 * subprotocol from the route's list, window bits in range, and a 101 that
 * formats and ends with CRLF CRLF; a refusal must be one of the WS codes.
 * The input is also split at its first newline into an Origin and a Host
 * for the origin policy alone, which the HTTP parser's character rules
 * would otherwise keep from ever seeing some inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/origin.h"
#include "core/err.h"
#include "http/http_parse.h"
#include "ws/ws_handshake.h"

#define MAX_FIELDS 32

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_ws_handshake: invariant failed: %s\n", what);
		abort();
	}
}

static char *list_star[] = {"*"};
static char *list_some[] = {"https://app.example.com", "https://*.example.com", "null",
                            "http://[::1]:8080"};
static const struct config_list empty = {0};
static const struct config_list star = {.items = list_star, .len = 1};
static const struct config_list some = {.items = list_some, .len = 4};

static const char *const protos[] = {"chat", "v1.crier", "superchat"};

static const struct ws_handshake_opts option_sets[] = {
        {.protocols = protos, .n_protocols = 3, .deflate = true, .allowed_origins = &empty},
        {.protocols = protos,
         .n_protocols = 1,
         .protocol_required = true,
         .allowed_origins = &star},
        {.deflate = true, .allowed_origins = &some},
};

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static void check_accepted(const struct http_request *req, const struct ws_handshake_opts *o,
                           const struct ws_accept *a)
{
	check(strlen(a->accept) == WS_ACCEPT_LEN && a->accept[WS_ACCEPT_LEN - 1] == '=',
	      "accept key shape");
	for (size_t i = 0; i < WS_ACCEPT_LEN - 1; i++)
		check(is_b64(a->accept[i]), "accept key alphabet");
	const struct http_header *key = http_find_header(req, "sec-websocket-key");
	check(key != NULL && key->value_len == 24, "accepted without a 24-byte key");
	char again[WS_ACCEPT_LEN + 1];
	ws_handshake_accept_key(key->value, key->value_len, again);
	check(strcmp(again, a->accept) == 0, "accept key differs from the key's");
	bool listed = a->protocol == NULL && !o->protocol_required;
	for (size_t i = 0; i < o->n_protocols; i++)
		listed |= a->protocol == o->protocols[i];
	check(listed, "protocol not from the route's list");
	check(!a->deflate || o->deflate, "deflate accepted when off");
	if (a->deflate)
		check(a->deflate_params.server_max_window_bits >= 9 &&
		              a->deflate_params.server_max_window_bits <= 15 &&
		              a->deflate_params.client_max_window_bits >= 8 &&
		              a->deflate_params.client_max_window_bits <= 15,
		      "window bits out of range");
	char resp[1024];
	size_t n = ws_handshake_response(a, resp, sizeof(resp));
	check(n > 0 && n == strlen(resp), "response length");
	check(n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0, "response end");
	check(strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "response status");
	/* one byte short of room must fail cleanly */
	check(ws_handshake_response(a, resp, n) == 0, "response in too small a buffer");
}

static void check_handshake(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	check(copy != NULL, "malloc");
	if (size)
		memcpy(copy, data, size);
	struct http_header fields[MAX_FIELDS];
	struct http_request req = {.headers = fields, .headers_cap = MAX_FIELDS};
	if (http_parse_request(copy, size, 0, NULL, &req) > 0) {
		for (size_t i = 0; i < sizeof(option_sets) / sizeof(option_sets[0]); i++) {
			struct ws_accept a;
			int rc = ws_handshake_check(&req, &option_sets[i], &a);
			if (rc == 0)
				check_accepted(&req, &option_sets[i], &a);
			else
				check(rc == CRIER_EWS_UPGRADE || rc == CRIER_EWS_VERSION ||
				              rc == CRIER_EWS_KEY || rc == CRIER_EWS_ORIGIN ||
				              rc == CRIER_EWS_PROTOCOL,
				      "handshake result code");
		}
	}
	free(copy);
}

static void check_origin(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl)
		return;
	size_t olen = (size_t)(nl - data), hlen = size - olen - 1;
	/* exact-size copies: ASan catches a read past either slice */
	char *origin = malloc(olen ? olen : 1), *host = malloc(hlen ? hlen : 1);
	check(origin && host, "malloc");
	memcpy(origin, data, olen);
	memcpy(host, nl + 1, hlen);
	check(origin_allowed(origin, olen, host, hlen, &star), "\"*\" refused an origin");
	check(origin_allowed(NULL, 0, host, hlen, &empty), "no Origin refused");
	bool same = origin_allowed(origin, olen, host, hlen, &empty);
	bool more = origin_allowed(origin, olen, host, hlen, &some);
	check(!same || more, "a list took away same-origin");
	free(origin);
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_handshake(data, size);
	check_origin(data, size);
	return 0;
}
