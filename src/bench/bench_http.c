/*
 * bench_http.c - response heads, WebSocket keys, the 101 check and client
 * frames for `crier bench` (see bench_http.h).
 *
 * Owns the client side of the handshake bytes only; sockets and state are
 * the modes'. It never allocates. Headers are matched case-insensitively
 * at line starts and nothing else is validated: these are answers to the
 * bench's own requests, and a wrong answer shows up as a failed
 * connection with its status line in the report.
 */
#include "bench/bench_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/base64.h"

size_t bench_http_head_len(const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	return end ? (size_t)(end - p) + 4 : 0;
}

int bench_http_status(const char *head, size_t len)
{
	/* "HTTP/1.1 200": the code is bytes 9..11. */
	if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
		return -1;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (head[i] < '0' || head[i] > '9')
			return -1;
		status = status * 10 + (head[i] - '0');
	}
	return status;
}

long bench_http_header(const char *head, size_t len, const char *name, const char **val)
{
	size_t nl = strlen(name);
	const char *end = head + len;
	for (const char *p = memmem(head, len, "\r\n", 2); p;
	     p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
		p += 2;
		if ((size_t)(end - p) <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		const char *v = p + nl + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		const char *eol = memmem(v, (size_t)(end - v), "\r\n", 2);
		*val = v;
		return (long)((eol ? eol : end) - v);
	}
	return -1;
}

long bench_http_content_length(const char *head, size_t len)
{
	const char *v;
	long n = bench_http_header(head, len, "content-length", &v);
	if (n <= 0 || v[0] < '0' || v[0] > '9')
		return -1;
	long cl = 0;
	for (long i = 0; i < n && v[i] >= '0' && v[i] <= '9' && cl < 1000000000L; i++)
		cl = cl * 10 + (v[i] - '0');
	return cl;
}

void bench_http_ws_keys(struct bench_ws_keys *k)
{
	for (int i = 0; i < BENCH_WS_KEYS; i++) {
		uint8_t raw[16];
		if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
			for (size_t j = 0; j < sizeof raw; j++)
				raw[j] = (uint8_t)(rand() ^ i);
		*base64_encode(raw, sizeof raw, k->key[i]) = 0; /* 24 characters */
		ws_handshake_accept_key(k->key[i], strlen(k->key[i]), k->accept[i]);
	}
}

size_t bench_http_ws_upgrade(char *out, size_t cap, const char *path, const char *host,
                             uint16_t port, const char *key, const char *protocol)
{
	int n = snprintf(out, cap,
	                 "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n%s%s%sUser-Agent: crier-bench\r\n\r\n",
	                 path, host, (unsigned)port, key,
	                 protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
	                 protocol ? "\r\n" : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const char *bench_http_ws_check_101(const char *head, size_t len, const char *accept,
                                    const char *protocol)
{
	if (bench_http_status(head, len) != 101)
		return "the upgrade was refused";
	const char *v;
	long n = bench_http_header(head, len, "sec-websocket-accept", &v);
	size_t al = strlen(accept);
	if (n < (long)al || memcmp(v, accept, al) != 0)
		return "wrong Sec-WebSocket-Accept in the 101";
	if (protocol) {
		n = bench_http_header(head, len, "sec-websocket-protocol", &v);
		if (n != (long)strlen(protocol) || memcmp(v, protocol, (size_t)n) != 0)
			return "the 101 did not select the subprotocol";
	}
	return NULL;
}

size_t bench_http_ws_frame(uint8_t *out, enum ws_opcode op, const void *payload, size_t len,
                           const uint8_t mask[4])
{
	size_t h = ws_frame_header(out, op, true, false, len, mask);
	memcpy(out + h, payload, len);
	if (mask[0] | mask[1] | mask[2] | mask[3])
		ws_frame_mask(out + h, len, mask, 0);
	return h + len;
}
