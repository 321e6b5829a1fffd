/*
 * ws_frame.h - WebSocket frame parser and encoder (RFC 6455 §5).
 *
 * Pure codec: libc only, no allocation, no globals. One parser core serves
 * both roles: a server expects masked frames from its clients, a client
 * expects unmasked frames from its server (the client library reuses this).
 *
 * The parser works a chunk at a time over a small state: a spill array for
 * a frame header split across reads, the payload bytes left in the current
 * frame, the mask and the mask phase. It unmasks payload in place in the
 * caller's (writable) buffer and hands it out as slices, so no byte is
 * copied. Every header validity rule of §5.2 and §5.4-5.5 is checked in one
 * place (ws_frame_check_header) before any payload is delivered:
 * RSV bits without a negotiated extension, unknown opcodes, control frames
 * over 125 bytes or fragmented, a continuation without a started message, a
 * new data frame inside a fragmented message, masking that does not match
 * the role, and 64-bit lengths with the top bit set. RSV1 is allowed only
 * on the first frame of a data message and only when permessage-deflate was
 * negotiated (RFC 7692 §6).
 *
 * Message-level rules that need more than the header (UTF-8 of text
 * messages, size limits, close payload validity) belong to the connection.
 */
#ifndef CRIER_WS_WS_FRAME_H
#define CRIER_WS_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

enum ws_role { WS_ROLE_SERVER = 0, WS_ROLE_CLIENT = 1 };

#define WS_FRAME_HEADER_MAX 14  /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_CONTROL_MAX      125 /* RFC 6455 §5.5 */

struct ws_frame_parser {
	uint64_t remaining;                 /* payload bytes left in the current frame */
	uint8_t spill[WS_FRAME_HEADER_MAX]; /* header bytes seen so far */
	uint8_t spill_len;
	uint8_t mask[4];
	uint8_t mask_phase; /* index into mask of the next payload byte */
	uint8_t opcode;     /* of the current frame */
	uint8_t msg_opcode; /* TEXT or BINARY of the data message in progress, or 0: set by
	                      * its first frame, cleared once the payload of its FIN frame
	                      * has been delivered; control frames leave it alone */
	bool fin;           /* of the current frame */
	bool rsv1;          /* of the current frame */
	bool in_payload;    /* header done and payload bytes remain (remaining > 0) */
	uint8_t role;       /* enum ws_role */
	bool allow_rsv1;    /* permessage-deflate negotiated */
};

/* What one call to ws_frame_parse found. */
struct ws_frame_event {
	uint8_t opcode;     /* frame opcode (CONT for continuations) */
	uint8_t msg_opcode; /* TEXT/BINARY of the message this data frame belongs to (the
	                     * saved one for CONT); 0 for control frames */
	bool fin;           /* the frame has FIN set */
	bool rsv1;          /* the frame has RSV1 (compressed message, first frame) */
	bool frame_start;   /* data begins a frame (the header was just parsed) */
	bool frame_end;     /* data ends the frame (all its payload delivered) */
	uint64_t frame_len; /* payload length of the frame, from its header; set on the
	                     * frame_start event only (0 on payload events) */
	uint8_t *data;      /* unmasked payload slice inside the input, or NULL */
	size_t len;         /* its length (0 for empty frames and for partial headers) */
};

/* Starts a parser for role; allow_rsv1 when permessage-deflate is on. */
void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_role role, bool allow_rsv1);

/*
 * Parses in[0..len). Returns the number of bytes consumed (the caller
 * advances and calls again while bytes remain) and always fills *ev. Each
 * call reports exactly one of:
 *
 *  - need more: the return is len, every flag is false, ev->len == 0 and
 *    ev->data == NULL; the bytes went into the header spill.
 *  - a header: the call consumes exactly the rest of the header (never any
 *    payload) and sets frame_start, frame_len, opcode, msg_opcode, fin and
 *    rsv1, with ev->len == 0 and ev->data == NULL. When frame_len is 0 the
 *    same event also has frame_end: an empty frame is one event.
 *  - a payload slice: ev->data == in, ev->len == the return value (> 0),
 *    unmasked in place; opcode, msg_opcode, fin and rsv1 repeat the
 *    frame's; frame_end is set on the slice that completes the frame.
 *
 * So a frame is one header event followed by payload events whose lengths
 * add up to frame_len. Returns 0 only when len is 0. in is written to
 * (unmasking) only in the server role, and only within the returned count.
 *
 * On a protocol violation returns a negative CRIER_E* code whose
 * err_ws_close_code() is the close code to send (1002 for framing errors);
 * the violation is reported as soon as its header is complete, before any
 * of its payload. The parser is then spent: the connection closes.
 */
int64_t ws_frame_parse(struct ws_frame_parser *p, uint8_t *in, size_t len,
                       struct ws_frame_event *ev);

/*
 * Writes a frame header into out (at least WS_FRAME_HEADER_MAX bytes):
 * FIN, RSV1, opcode, the shortest length encoding, and the mask key when
 * mask is non-NULL (client role). Returns the header length (2..14).
 */
size_t ws_frame_header(uint8_t *out, enum ws_opcode op, bool fin, bool rsv1, uint64_t len,
                       const uint8_t *mask);

/* XORs data with mask starting at mask phase `phase` (0..3); returns the
 * phase after the last byte. Used for both masking and unmasking. */
uint8_t ws_frame_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint8_t phase);

#endif
