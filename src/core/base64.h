/*
 * base64.h - standard base64 with padding (RFC 4648 §4), and base64url
 * without padding (RFC 4648 §5, as JWTs use it: RFC 7515 §2).
 *
 * Pure: libc only. One encoder and one strict decoder of each for
 * everything that carries bytes as text: SSE binary events, the WebSocket
 * accept key, JSON forms of binary messages, /ws publishes, JWT segments.
 */
#ifndef CRIER_CORE_BASE64_H
#define CRIER_CORE_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (a multiple of 4); SIZE_MAX on overflow. */
size_t base64_encoded_len(size_t n);

/* Writes base64_encoded_len(n) characters (no NUL) at out; returns the end. */
char *base64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes padded base64 of exactly len characters into out (room for
 * len / 4 * 3 bytes). Returns the decoded length, or -1 when len is not a
 * multiple of 4, a character is outside the alphabet, padding is
 * misplaced, or the unused bits of the last group are not zero (so every
 * byte string has exactly one accepted encoding). */
int64_t base64_decode(const char *in, size_t len, uint8_t *out);

/* Writes the unpadded base64url of n bytes (4n/3 rounded up characters,
 * no NUL) at out; returns the end. */
char *base64url_encode(const uint8_t *in, size_t n, char *out);

/* Decodes len characters of unpadded base64url into out (room for
 * len / 4 * 3 + 2 bytes). Returns the decoded length, or -1 for a
 * character outside the alphabet ('=' included), a length of 4k + 1, or
 * non-zero unused bits in the last character. */
int64_t base64url_decode(const char *in, size_t len, uint8_t *out);

#endif
