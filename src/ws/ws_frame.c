/*
 * ws_frame.c - WebSocket frame parser and header encoder (RFC 6455 §5).
 *
 * Owns the byte-level framing only: it turns a stream of bytes into frame
 * headers and unmasked payload slices, and writes frame headers. It never
 * allocates, never copies payload, and never decides policy (message size
 * limits, UTF-8, close codes are the connection's business).
 *
 * The parser is a chunk-at-a-time loop over a small state, after
 * uWebSockets' WebSocketProtocol: each call either completes a header or
 * delivers one payload slice, so the caller's loop stays trivial and every
 * event refers to exactly one frame. A header that arrives whole is read in
 * place from the caller's buffer; only a header cut by a read boundary is
 * gathered in the spill array, byte by byte as it arrives. Either way the
 * complete header goes through ws_frame_check_header, the single place
 * where the validity rules live, before the header event is returned and
 * so before any of its payload is touched.
 *
 * The non-obvious choice is when the message opcode is forgotten: not when
 * the final CONT header arrives, but when its last payload byte has been
 * delivered, so that every payload slice of a message (a final fragment
 * included) can report TEXT or BINARY without a second field. Control
 * frames never touch it, which is what lets them sit between fragments.
 */
#include "ws/ws_frame.h"

#include <assert.h>
#include <string.h>

#include "core/err.h"

/* First header byte (RFC 6455 §5.2). */
#define WS_B0_FIN    0x80u
#define WS_B0_RSV1   0x40u
#define WS_B0_RSV23  0x30u
#define WS_B0_OPCODE 0x0Fu
/* Second header byte. */
#define WS_B1_MASK 0x80u
#define WS_B1_LEN  0x7Fu
#define WS_LEN_16  126u /* 7-bit length value announcing a 16-bit length */
#define WS_LEN_64  127u /* ... and a 64-bit one */

static_assert(sizeof(struct ws_frame_parser) <= 40, "parser state should stay a few words");

void ws_frame_parser_init(struct ws_frame_parser *p, enum ws_role role, bool allow_rsv1)
{
	*p = (struct ws_frame_parser){.role = (uint8_t)role, .allow_rsv1 = allow_rsv1};
}

/* Whole header length implied by the second header byte: 2, plus the
 * extended length, plus the mask key. */
static size_t ws_frame_header_size(uint8_t b1)
{
	size_t n = 2;
	if ((b1 & WS_B1_LEN) == WS_LEN_16)
		n += 2;
	else if ((b1 & WS_B1_LEN) == WS_LEN_64)
		n += 8;
	if (b1 & WS_B1_MASK)
		n += 4;
	return n;
}

/* Payload length from a complete header. Non-minimal encodings (5 sent as
 * a 16-bit length, say) are accepted: §5.2 obliges senders to use the
 * minimal form but does not ask receivers to reject the others, and
 * Autobahn treats either answer as conforming. */
static uint64_t ws_frame_payload_len(const uint8_t *h)
{
	uint64_t n = h[1] & WS_B1_LEN;
	if (n == WS_LEN_16)
		return (uint64_t)h[2] << 8 | h[3];
	if (n == WS_LEN_64) {
		n = 0;
		for (int i = 2; i < 10; i++)
			n = n << 8 | h[i];
	}
	return n;
}

/*
 * Every header validity rule, in one place (§5.2, §5.4, §5.5, RFC 7692 §6).
 * The order only decides which code is reported when a header breaks
 * several rules; all of them close with 1002.
 */
static int ws_frame_check_header(const struct ws_frame_parser *p, uint8_t b0, uint8_t b1,
                                 uint64_t len)
{
	unsigned op = b0 & WS_B0_OPCODE;
	bool control = op & 0x8u;
	bool data_start = op == WS_OP_TEXT || op == WS_OP_BINARY;

	if (b0 & WS_B0_RSV23)
		return CRIER_EWS_RSV; /* no extension we negotiate defines them */
	if ((op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG)
		return CRIER_EWS_OPCODE; /* reserved opcodes, §5.2 */
	if ((b0 & WS_B0_RSV1) && !(p->allow_rsv1 && data_start))
		return CRIER_EWS_RSV; /* "compressed" marks a message's first frame only */
	if (control && !(b0 & WS_B0_FIN))
		return CRIER_EWS_CONTROL_FRAG; /* §5.5: control frames MUST NOT be fragmented */
	if (control && len > WS_CONTROL_MAX)
		return CRIER_EWS_CONTROL_LEN;
	if (op == WS_OP_CONT && p->msg_opcode == 0)
		return CRIER_EWS_CONT;
	if (data_start && p->msg_opcode != 0)
		return CRIER_EWS_NOT_CONT; /* §5.4: fragments of one message are not interleaved */
	bool masked = b1 & WS_B1_MASK;
	if (p->role == WS_ROLE_SERVER && !masked)
		return CRIER_EWS_UNMASKED; /* §5.1: a client MUST mask */
	if (p->role == WS_ROLE_CLIENT && masked)
		return CRIER_EWS_MASKED; /* §5.1: a server MUST NOT mask */
	if (len >> 63)
		return CRIER_EWS_LEN64; /* §5.2: the most significant bit MUST be 0 */
	return 0;
}

/* Frame end bookkeeping: the last payload byte of a final data frame ends
 * its message, so a new TEXT/BINARY may follow. */
static void ws_frame_end(struct ws_frame_parser *p)
{
	p->in_payload = false;
	if (p->fin && !(p->opcode & 0x8u))
		p->msg_opcode = 0;
}

/* The fields every event of the current frame shares. */
static void ws_frame_event_fill(const struct ws_frame_parser *p, struct ws_frame_event *ev)
{
	ev->opcode = p->opcode;
	ev->msg_opcode = (p->opcode & 0x8u) ? 0 : p->msg_opcode;
	ev->fin = p->fin;
	ev->rsv1 = p->rsv1;
}

/*
 * Gathers header bytes. Reads in place when the spill is empty and the
 * whole header is in `in` (the common case); otherwise moves just the
 * bytes the header still needs into the spill. Returns the bytes taken
 * and sets *hdr to the complete header, or leaves it NULL (need more).
 */
static size_t ws_frame_gather(struct ws_frame_parser *p, const uint8_t *in, size_t len,
                              const uint8_t **hdr)
{
	*hdr = NULL;
	if (p->spill_len == 0 && len >= 2 && len >= ws_frame_header_size(in[1])) {
		*hdr = in;
		return ws_frame_header_size(in[1]);
	}
	size_t taken = 0;
	while (taken < len) {
		size_t want = p->spill_len < 2 ? 2 : ws_frame_header_size(p->spill[1]);
		if (p->spill_len == want)
			break;
		size_t n = want - p->spill_len;
		if (n > len - taken)
			n = len - taken;
		memcpy(p->spill + p->spill_len, in + taken, n);
		p->spill_len = (uint8_t)(p->spill_len + n);
		taken += n;
	}
	if (p->spill_len >= 2 && p->spill_len == ws_frame_header_size(p->spill[1])) {
		*hdr = p->spill;
		p->spill_len = 0; /* the spill is read below, before anyone writes it */
	}
	return taken;
}

/* Parses (and checks) a header; on success returns the bytes taken and
 * fills the frame_start event when the header is complete. */
static int64_t ws_frame_parse_header(struct ws_frame_parser *p, const uint8_t *in, size_t len,
                                     struct ws_frame_event *ev)
{
	const uint8_t *h;
	size_t taken = ws_frame_gather(p, in, len, &h);
	if (h == NULL)
		return (int64_t)taken; /* all of in went into the spill */

	uint64_t frame_len = ws_frame_payload_len(h);
	int rc = ws_frame_check_header(p, h[0], h[1], frame_len);
	if (rc < 0)
		return rc;

	p->opcode = h[0] & WS_B0_OPCODE;
	p->fin = h[0] & WS_B0_FIN;
	p->rsv1 = h[0] & WS_B0_RSV1;
	if (p->opcode == WS_OP_TEXT || p->opcode == WS_OP_BINARY)
		p->msg_opcode = p->opcode;
	if (h[1] & WS_B1_MASK) /* the check above made this the same as "server role" */
		memcpy(p->mask, h + ws_frame_header_size(h[1]) - 4, 4);
	p->mask_phase = 0;
	p->remaining = frame_len;
	p->in_payload = frame_len > 0;

	ws_frame_event_fill(p, ev);
	ev->frame_start = true;
	ev->frame_len = frame_len;
	if (frame_len == 0) {
		ev->frame_end = true;
		ws_frame_end(p);
	}
	return (int64_t)taken;
}

/* Unmasks and delivers as much of the current frame's payload as `in`
 * holds. */
static int64_t ws_frame_parse_payload(struct ws_frame_parser *p, uint8_t *in, size_t len,
                                      struct ws_frame_event *ev)
{
	size_t n = p->remaining < len ? (size_t)p->remaining : len;
	if (p->role == WS_ROLE_SERVER)
		p->mask_phase = ws_frame_mask(in, n, p->mask, p->mask_phase);
	p->remaining -= n;

	ws_frame_event_fill(p, ev);
	ev->data = in;
	ev->len = n;
	if (p->remaining == 0) {
		ev->frame_end = true;
		ws_frame_end(p);
	}
	return (int64_t)n;
}

int64_t ws_frame_parse(struct ws_frame_parser *p, uint8_t *in, size_t len,
                       struct ws_frame_event *ev)
{
	*ev = (struct ws_frame_event){0};
	if (len == 0)
		return 0;
	if (len > INT64_MAX)
		len = INT64_MAX; /* keep the count representable; the caller calls again */
	if (p->in_payload)
		return ws_frame_parse_payload(p, in, len, ev);
	return ws_frame_parse_header(p, in, len, ev);
}

size_t ws_frame_header(uint8_t *out, enum ws_opcode op, bool fin, bool rsv1, uint64_t len,
                       const uint8_t *mask)
{
	size_t n = 2;
	out[0] = (uint8_t)((fin ? WS_B0_FIN : 0) | (rsv1 ? WS_B0_RSV1 : 0) | (unsigned)op);
	if (len <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)len;
	} else if (len <= UINT16_MAX) {
		out[1] = WS_LEN_16;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = WS_LEN_64;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= WS_B1_MASK;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/*
 * XOR 8 bytes at a time with the mask repeated into a 64-bit word, rotated
 * to the current phase. memcpy in and out keeps it safe at any alignment
 * and compiles to plain loads and stores; a whole word leaves the phase
 * where it was, so only the tail advances it.
 */
uint8_t ws_frame_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint8_t phase)
{
	uint8_t rot[8];
	for (unsigned i = 0; i < 8; i++)
		rot[i] = mask[(phase + i) & 3u];
	uint64_t word;
	memcpy(&word, rot, 8);

	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, data + i, 8);
		v ^= word;
		memcpy(data + i, &v, 8);
	}
	for (; i < len; i++) {
		data[i] ^= rot[i & 7u];
	}
	return (uint8_t)((phase + len) & 3u);
}
