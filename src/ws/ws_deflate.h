/*
 * ws_deflate.h - permessage-deflate (RFC 7692): negotiation, compression,
 * decompression with a hard output cap.
 *
 * crier always answers an accepted offer with server_no_context_takeover
 * and client_no_context_takeover. The first makes every compressed message
 * independent of the connection it goes to, so a published message is
 * compressed once and the same bytes are shared by every subscriber that
 * negotiated the same window; the second (which RFC 7692 §7.1.1.2 lets a
 * server add even when not offered) makes every inbound message
 * independent too, so a connection needs zlib memory only while a
 * compressed message is arriving, not while it is idle.
 *
 * Compression uses a deflater owned by the worker (reset after each
 * message); decompression uses an inflater that exists only for the
 * duration of one message. Inflating is capped: the output limit is
 * checked as bytes are produced, so a deflate bomb costs at most the cap.
 */
#ifndef CRIER_WS_WS_DEFLATE_H
#define CRIER_WS_WS_DEFLATE_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_deflate_params {
	uint8_t server_max_window_bits; /* window we compress with: 9..15 (zlib cannot do 8) */
	uint8_t client_max_window_bits; /* window the client compresses with: 8..15 */
	/* The offer named server_max_window_bits, so the response must repeat
	 * it even when it is 15 (RFC 7692 §7.1.2.1: that is how a server
	 * accepts the parameter). */
	bool server_bits_requested;
};

/*
 * Reads every Sec-WebSocket-Extensions value (the caller passes them joined
 * with ", ", in header order) and picks the first permessage-deflate offer
 * crier can accept. An offer with an unknown or duplicate parameter or an
 * invalid value is declined (skipped), per RFC 7692 §5; so is one that asks
 * for server_max_window_bits=8. Returns 1 and fills *out when an offer was
 * accepted, 0 when none was (the connection runs uncompressed).
 */
int ws_deflate_negotiate(const char *offers, size_t len, struct ws_deflate_params *out);

/* Writes the Sec-WebSocket-Extensions response value for accepted params
 * into out (NUL-terminated). Returns its length, or 0 if cap is too small.
 * The one form is "permessage-deflate; server_no_context_takeover;
 * client_no_context_takeover", plus "; server_max_window_bits=N" when N is
 * below 15 or the client asked for it. client_max_window_bits is never
 * sent: the inflater decodes any window up to 15 (RFC 7692 §7.1.2.2 makes
 * it optional). */
size_t ws_deflate_response(const struct ws_deflate_params *p, char *out, size_t cap);

struct ws_deflater; /* opaque; one per worker and window size */

/* Creates a deflater for window_bits (9..15). NULL when out of memory or
 * when window_bits is outside 9..15. */
struct ws_deflater *ws_deflater_new(int window_bits);
void ws_deflater_free(struct ws_deflater *d);

/* Compresses a whole message into out (appending), without the trailing
 * 00 00 FF FF (RFC 7692 §7.2.1), and resets the stream for the next one.
 * Returns 0 or CRIER_ENOMEM. */
int ws_deflate_message(struct ws_deflater *d, const uint8_t *in, size_t len, struct buf *out);

struct ws_inflater; /* opaque; exists while one compressed message arrives */

/* Starts inflating a message. NULL when out of memory. */
struct ws_inflater *ws_inflater_new(void);

/*
 * Inflates the next piece of a compressed message, appending to out. When
 * fin is set this is the last piece and the 00 00 FF FF tail is supplied
 * internally. Returns 0; CRIER_EWS_TOO_BIG when out would exceed max_out
 * bytes (checked while inflating, never after: zlib is never given more
 * room than the budget left plus one byte, so out->len stops at most one
 * byte past max_out); CRIER_EWS_INFLATE when the data is not valid
 * deflate, ends inside a block, or has bytes after a BFINAL block other
 * than the single 0x00 of RFC 7692 §7.2.3.4; CRIER_ENOMEM. A zero-length message (no payload at
 * all) inflates to nothing. After a negative return the inflater is spent:
 * free it.
 */
int ws_inflate(struct ws_inflater *inf, const uint8_t *in, size_t len, bool fin, struct buf *out,
               uint64_t max_out);

/* Releases the inflater and all its zlib memory. */
void ws_inflater_free(struct ws_inflater *inf);

#endif
