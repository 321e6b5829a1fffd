/*
 * id.h - message ids: "<epoch>-<seq>".
 *
 * Pure: libc only. Every published message gets the next seq of the one
 * hub-wide sequence, so ids order messages across all channels and one id
 * (the single string a browser's EventSource keeps in Last-Event-ID) is a
 * resume point for any set of channels. The epoch names the life of the
 * history that the seq indexes: it changes whenever that history is lost
 * (a restart of the memory engine, a flushed Redis), so an id from an
 * earlier life is recognised and never trusted as a position.
 *
 * Text form: the epoch as exactly 8 lowercase hex digits, '-', the seq in
 * decimal without leading zeros (1..2^63-1), e.g. "9f3a0c12-57". Clients
 * must treat ids as opaque strings; only the hub parses them.
 */
#ifndef CRIER_HUB_ID_H
#define CRIER_HUB_ID_H

#include <stddef.h>
#include <stdint.h>

#define ID_STR_MAX 32 /* 8 + 1 + 19 digits + NUL, rounded up */

struct id {
	uint32_t epoch;
	uint64_t seq; /* 1.. (0 means "before the first message") */
};

/* Writes the text form and a NUL into out; returns its length (10..28 for
 * a valid id). Any seq is written, even 0 or >= 2^63 (up to 29 bytes), but
 * only ids in range parse back. */
size_t id_format(const struct id *id, char out[ID_STR_MAX]);

/* Parses the text form in s[0..len) (no NUL needed). Returns 0, or
 * CRIER_EINVAL for anything that is not exactly an id (wrong epoch length,
 * uppercase, leading zeros, seq 0 or >= 2^63, sign, whitespace, trailing
 * bytes). *out is written only on success. Every accepted s is canonical:
 * id_format of the result gives back exactly s. */
int id_parse(const char *s, size_t len, struct id *out);

/* Orders ids of the same epoch by seq: <0, 0, >0. Ids of different epochs
 * are ordered by epoch only to make the order total (for sorting); that
 * order says nothing about which message came first. */
int id_cmp(const struct id *a, const struct id *b);

#endif
