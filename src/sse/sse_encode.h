/*
 * sse_encode.h - Server-Sent Events encoding (WHATWG HTML §9.2).
 *
 * Pure: libc only. Encodes one event into the caller's buffer so the hub
 * can build it once and share the bytes with every SSE subscriber.
 *
 * The payload is split into `data:` lines on every CR, LF and CRLF, which
 * is exactly how the browser's parser splits lines, so any text round-trips
 * (an empty payload is one empty `data:` line; a trailing newline yields a
 * final empty `data:` line, which the browser turns back into the newline).
 * A lone CR or a CRLF in the payload comes back as LF: SSE cannot carry
 * a CR in data. The event name and id must not contain CR or LF, nor the
 * id a NUL, which makes the browser ignore the id field (the caller
 * validates them; the encoder rejects them). Binary payloads are sent as
 * base64 (RFC 4648, with padding) under the event type "crier.binary",
 * whatever ev->event says: SSE is a text protocol.
 *
 * Thread: none; both functions are pure and reentrant.
 */
#ifndef CRIER_SSE_SSE_ENCODE_H
#define CRIER_SSE_SSE_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_BINARY_EVENT "crier.binary"

struct sse_event {
	const char *id; /* NULL: no id line */
	size_t id_len;
	const char *event; /* NULL or "": no event line ("message") */
	size_t event_len;
	const uint8_t *data;
	size_t data_len;
	bool binary; /* base64 the data, event type SSE_BINARY_EVENT */
};

/* Exact number of bytes sse_encode writes for ev (whether or not the id
 * and event are valid); SIZE_MAX when that does not fit in a size_t. */
size_t sse_encoded_len(const struct sse_event *ev);

/* Writes "id: ...\nevent: ...\ndata: ...\n...\n\n" into out. Returns the
 * bytes written (always sse_encoded_len(ev), at least 8), or 0 when
 * cap < sse_encoded_len(ev) or the id or event contain CR or LF (or the id
 * a NUL); out is then not written. data may be NULL when
 * data_len is 0. */
size_t sse_encode(const struct sse_event *ev, char *out, size_t cap);

#endif
