/*
 * ws_wire.h - the client side of the WebSocket wire, as pure helpers:
 * masked frames out, the Sec-WebSocket-Accept check, the close payload.
 *
 * libc plus the shared codecs (ws_frame, ws_handshake's accept key); no
 * libuv, no allocation beyond the caller's struct buf, no randomness: the
 * caller draws the mask (RFC 6455 §5.3 wants it unpredictable), so tests
 * can pin it.
 */
#ifndef CRIER_CLIENT_WS_WIRE_H
#define CRIER_CLIENT_WS_WIRE_H

#include "core/buf.h"
#include "ws/ws_frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends one complete (FIN) frame of payload[0..len) to out, masked with
 * mask (RFC 6455 §5.3: every client frame is masked). Returns 0 or
 * CRIER_ENOMEM. */
int ws_wire_frame(struct buf *out, enum ws_opcode op, const void *payload, size_t len,
                  const uint8_t mask[4]);

/* True when accept[0..len) is the Sec-WebSocket-Accept for key
 * (RFC 6455 §4.2.2: base64 of SHA-1 of key + the protocol GUID). */
bool ws_wire_accept_ok(const char *key, const char *accept, size_t len);

/*
 * Reads a close frame's payload p[0..n) (RFC 6455 §5.5.1): returns the
 * status code (1005 when there is none, -1 when n is 1) and writes its
 * reason, NUL-terminated and cut to cap - 1 bytes, into out (cap >= 1).
 */
int ws_wire_close_payload(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
