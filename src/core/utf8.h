/*
 * utf8.h - incremental, fail-fast UTF-8 validation (RFC 3629).
 *
 * Pure: libc only. A text message arrives in pieces (frames, reads); the
 * validator keeps a tiny state between pieces so that an invalid sequence
 * is reported at the byte where it becomes impossible, not at the end of
 * the message (RFC 6455 §8.1 wants a fail-fast close 1007). Rejects
 * overlong encodings, surrogates (U+D800..U+DFFF), code points above
 * U+10FFFF, and stray continuation bytes; a sequence cut at the end of a
 * piece is valid so far and completed by the next piece.
 */
#ifndef CRIER_CORE_UTF8_H
#define CRIER_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct utf8_state {
	uint32_t need;  /* continuation bytes still expected */
	uint8_t lo, hi; /* allowed range of the next continuation byte */
};

/* Resets to the start of a message. */
static inline void utf8_init(struct utf8_state *s)
{
	s->need = 0;
	s->lo = 0x80;
	s->hi = 0xBF;
}

/* Validates the next piece. Returns 0 when the bytes so far are a valid
 * prefix of UTF-8, or -1 at the first invalid byte; after -1 the state is
 * undefined until utf8_init. */
int utf8_feed(struct utf8_state *s, const uint8_t *p, size_t len);

/* True when no multi-byte sequence is left open (the message may end). */
static inline bool utf8_complete(const struct utf8_state *s)
{
	return s->need == 0;
}

/* Validates a whole buffer at once. */
bool utf8_valid(const uint8_t *p, size_t len);

#endif
