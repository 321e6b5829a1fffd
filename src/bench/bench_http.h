/*
 * bench_http.h - the few HTTP/1.1 and WebSocket client pieces the
 * `crier bench` modes share: response heads, WebSocket keys and the 101
 * check, client frames.
 *
 * Pure helpers over the caller's buffers: no I/O, no allocation, no
 * state. Frame headers come from ws/ws_frame.h (the codec the server and
 * libcrier use), the accept key from ws/ws_handshake.h. Response heads are
 * parsed here, loosely and fast, because a load generator only needs the
 * status and two headers of answers it asked for, and must not cost more
 * than the server it measures.
 */
#ifndef CRIER_BENCH_BENCH_HTTP_H
#define CRIER_BENCH_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

/* A response head larger than this is not one the modes asked for. */
#define BENCH_HTTP_HEAD_MAX 4096
/* Distinct Sec-WebSocket-Keys a run uses, round robin over connections. */
#define BENCH_WS_KEYS 64
/* The subprotocol of crier's two-way /ws endpoint. */
#define BENCH_WS_SUBPROTOCOL "crier.v1"

/* The length of the head in p[0..n) including its blank line, or 0 when
 * the blank line has not arrived yet. */
size_t bench_http_head_len(const char *p, size_t n);

/* The status code of a head ("HTTP/1.x NNN ..."), or -1. */
int bench_http_status(const char *head, size_t len);

/* Finds header name (case-insensitive, at a line start) in head[0..len);
 * sets *val to its value (leading blanks skipped) and returns the value's
 * length up to the line end, or -1 when absent. */
long bench_http_header(const char *head, size_t len, const char *name, const char **val);

/* The Content-Length of a head, or -1 when absent or not a number. */
long bench_http_content_length(const char *head, size_t len);

/* Random Sec-WebSocket-Keys and the Sec-WebSocket-Accept each expects. */
struct bench_ws_keys {
	char key[BENCH_WS_KEYS][25];
	char accept[BENCH_WS_KEYS][WS_ACCEPT_LEN + 1];
};

/* Draws the keys (getrandom) and computes their accept values. */
void bench_http_ws_keys(struct bench_ws_keys *k);

/* Formats the upgrade request for path with key k of keys (and the
 * subprotocol when protocol is not NULL). Returns its length, or 0 when
 * it does not fit in cap. */
size_t bench_http_ws_upgrade(char *out, size_t cap, const char *path, const char *host,
                             uint16_t port, const char *key, const char *protocol);

/* Checks a complete 101 head: status, Sec-WebSocket-Accept equal to
 * accept, and the subprotocol when protocol is not NULL. Returns NULL when
 * it is good, else what is wrong (a static sentence). */
const char *bench_http_ws_check_101(const char *head, size_t len, const char *accept,
                                    const char *protocol);

/*
 * Writes a complete client frame (FIN, masked as RFC 6455 §5.3 requires)
 * of payload[0..len) into out, which needs WS_FRAME_HEADER_MAX + len
 * bytes. A zero mask sends the payload as is: a load generator's masks
 * need not be unpredictable (that protects browsers from scripts), and a
 * zero mask saves a pass over every byte. Returns the frame length.
 */
size_t bench_http_ws_frame(uint8_t *out, enum ws_opcode op, const void *payload, size_t len,
                           const uint8_t mask[4]);

#endif
