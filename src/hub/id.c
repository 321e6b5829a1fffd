/*
 * id.c - the text form of message ids: "<8 lowercase hex epoch>-<seq>".
 *
 * Owns formatting, strict parsing and ordering of struct id, nothing else:
 * it never allocates, never reads a clock and never decides what an epoch
 * means (the engine does). Ids come back from the network in the
 * Last-Event-ID header and the resume query of every transport, so the
 * parser accepts exactly one spelling per id: lowercase hex only, no
 * leading zeros, no sign, no whitespace. That makes the text form a
 * canonical key (format(parse(s)) == s for every accepted s), which the
 * fuzz target checks, and it means a client that rewrites an id in any way
 * gets a clear "invalid id" instead of a silently different position.
 */
#include "hub/id.h"

#include "core/err.h"

#define ID_EPOCH_DIGITS 8
#define ID_SEQ_DIGITS   19                  /* digits of 2^63 - 1 */
#define ID_SEQ_LIMIT    ((uint64_t)1 << 63) /* first seq that is not an id */
#define ID_TEXT_MAX     (ID_EPOCH_DIGITS + 1 + ID_SEQ_DIGITS)

_Static_assert(ID_TEXT_MAX + 1 <= ID_STR_MAX, "ID_STR_MAX too small for the longest id");

/*
 * Writes seq in decimal without leading zeros and returns the digit count.
 * Any uint64_t is written (20 digits at most), so even a seq outside the
 * valid range cannot overrun out; such a text simply does not parse back.
 */
static size_t id_format_seq(uint64_t seq, char *out)
{
	char rev[20];
	size_t n = 0;
	do {
		rev[n++] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	return n;
}

size_t id_format(const struct id *id, char out[ID_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < ID_EPOCH_DIGITS; i++)
		out[i] = hex[(id->epoch >> (28 - 4 * i)) & 0xf];
	out[ID_EPOCH_DIGITS] = '-';
	/* A seq >= 2^63 needs 20 digits: 8 + 1 + 20 + NUL still fits in 32. */
	size_t n = ID_EPOCH_DIGITS + 1 + id_format_seq(id->seq, out + ID_EPOCH_DIGITS + 1);
	out[n] = '\0';
	return n;
}

/* Value of a lowercase hex digit, or -1 (uppercase is not the canonical form). */
static int id_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int id_parse(const char *s, size_t len, struct id *out)
{
	/* Shortest "xxxxxxxx-1", longest 19 seq digits: anything else is not an id. */
	if (len < ID_EPOCH_DIGITS + 2 || len > ID_TEXT_MAX || s[ID_EPOCH_DIGITS] != '-')
		return CRIER_EINVAL;
	uint32_t epoch = 0;
	for (size_t i = 0; i < ID_EPOCH_DIGITS; i++) {
		int d = id_hex_digit(s[i]);
		if (d < 0)
			return CRIER_EINVAL;
		epoch = epoch << 4 | (uint32_t)d;
	}
	/* The first digit must be 1..9: this rejects seq 0 and leading zeros at once. */
	const char *p = s + ID_EPOCH_DIGITS + 1;
	size_t n = len - ID_EPOCH_DIGITS - 1;
	if (p[0] < '1' || p[0] > '9')
		return CRIER_EINVAL;
	/* At most 19 digits, so the sum stays below 10^19 < 2^64: no overflow. */
	uint64_t seq = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return CRIER_EINVAL;
		seq = seq * 10 + (uint64_t)(p[i] - '0');
	}
	if (seq >= ID_SEQ_LIMIT)
		return CRIER_EINVAL;
	out->epoch = epoch;
	out->seq = seq;
	return 0;
}

int id_cmp(const struct id *a, const struct id *b)
{
	/*
	 * Ids of different epochs have no meaningful order (the history was
	 * lost between them); ordering by epoch first only makes the relation
	 * total so ids can be sorted and deduplicated.
	 */
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}
