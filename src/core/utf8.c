/*
 * utf8.c - incremental, fail-fast UTF-8 validation (RFC 3629 §4).
 *
 * Owns the byte rules of UTF-8 and nothing else: it never decodes code
 * points, never allocates, and keeps all its state in the caller's
 * struct utf8_state so a text message can be checked frame by frame.
 *
 * The non-obvious choice is to track, instead of a partial code point,
 * the allowed range of the next continuation byte. RFC 3629's table makes
 * overlongs, surrogates and values past U+10FFFF all visible in the byte
 * after the lead (E0 needs A0..BF, ED needs 80..9F, F0 needs 90..BF, F4
 * needs 80..8F), so narrowing that one range after the lead byte rejects
 * each of them at the first byte where no valid continuation exists,
 * which is what RFC 6455 §8.1's fail-fast close wants. Runs of ASCII,
 * most of any real message, are skipped eight bytes at a time.
 */
#include "core/utf8.h"

#include <string.h>

#define UTF8_ASCII_MASK 0x8080808080808080u /* the high bit of each of 8 bytes */

/*
 * Starts a sequence at lead byte b: sets how many continuation bytes
 * follow and the range of the first. Returns -1 for bytes that cannot
 * start a sequence: continuations (80..BF), C0/C1 (always overlong) and
 * F5..FF (past U+10FFFF or not UTF-8 at all).
 */
static int utf8_lead(struct utf8_state *s, uint8_t b)
{
	s->lo = 0x80;
	s->hi = 0xBF;
	if (b < 0xC2)
		return -1;
	if (b < 0xE0) {
		s->need = 1;
	} else if (b < 0xF0) {
		s->need = 2;
		if (b == 0xE0)
			s->lo = 0xA0; /* E0 80..9F would be overlong (< U+0800) */
		else if (b == 0xED)
			s->hi = 0x9F; /* ED A0..BF would be a surrogate U+D800..U+DFFF */
	} else if (b < 0xF5) {
		s->need = 3;
		if (b == 0xF0)
			s->lo = 0x90; /* F0 80..8F would be overlong (< U+10000) */
		else if (b == 0xF4)
			s->hi = 0x8F; /* F4 90..BF would be past U+10FFFF */
	} else {
		return -1;
	}
	return 0;
}

int utf8_feed(struct utf8_state *s, const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (s->need == 0) {
			/* ASCII fast path: 8 bytes without a high bit need no state. */
			uint64_t w;
			while (i + 8 <= len) {
				memcpy(&w, p + i, 8);
				if (w & UTF8_ASCII_MASK)
					break;
				i += 8;
			}
			if (i == len)
				break;
			uint8_t b = p[i++];
			if (b < 0x80)
				continue;
			if (utf8_lead(s, b) < 0)
				return -1;
			continue;
		}
		uint8_t b = p[i++];
		if (b < s->lo || b > s->hi)
			return -1;
		s->need--;
		s->lo = 0x80; /* only the first continuation has a narrowed range */
		s->hi = 0xBF;
	}
	return 0;
}

bool utf8_valid(const uint8_t *p, size_t len)
{
	struct utf8_state s;
	utf8_init(&s);
	return utf8_feed(&s, p, len) == 0 && utf8_complete(&s);
}
