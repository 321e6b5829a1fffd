/*
 * ws_wire.c - client-side WebSocket wire helpers (see ws_wire.h).
 *
 * The frame header comes from the server's codec in its client role
 * (ws_frame_header with a mask); the payload is copied once into the
 * output buffer and masked there, so the caller's bytes stay untouched.
 */
#include "client/ws_wire.h"

#include "core/err.h"
#include "ws/ws_handshake.h"

#include <string.h>

int ws_wire_frame(struct buf *out, enum ws_opcode op, const void *payload, size_t len,
                  const uint8_t mask[4])
{
	uint8_t head[WS_FRAME_HEADER_MAX];
	size_t hl = ws_frame_header(head, op, true, false, len, mask);
	if (buf_reserve(out, hl + len))
		return CRIER_ENOMEM;
	size_t at = out->len;
	buf_append(out, head, hl);
	if (len)
		buf_append(out, payload, len);
	ws_frame_mask((uint8_t *)out->data + at + hl, len, mask, 0);
	return 0;
}

bool ws_wire_accept_ok(const char *key, const char *accept, size_t len)
{
	char want[WS_ACCEPT_LEN + 1];
	ws_handshake_accept_key(key, strlen(key), want);
	return len == WS_ACCEPT_LEN && memcmp(want, accept, len) == 0;
}

int ws_wire_close_payload(const uint8_t *p, size_t n, char *out, size_t cap)
{
	out[0] = '\0';
	if (n == 0)
		return 1005; /* RFC 6455 §7.1.5: no status code was present */
	if (n == 1)
		return -1;
	size_t rl = n - 2 < cap - 1 ? n - 2 : cap - 1;
	memcpy(out, p + 2, rl);
	out[rl] = '\0';
	return (p[0] << 8) | p[1];
}
