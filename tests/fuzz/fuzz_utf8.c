/*
 * fuzz_utf8.c - libFuzzer target for the incremental UTF-8 validator.
 *
 * Each input is checked against a reference written here from the code
 * point definition instead of RFC 3629's byte table: it decodes sequence
 * by sequence and, for a sequence still open, asks whether any completion
 * could land on a Unicode scalar value (the range of code points the
 * remaining bits can reach, minus surrogates). That gives the fail-fast
 * position independently. The validator must agree with it one-shot,
 * through utf8_valid, one byte at a time (failing exactly at the reference
 * position), split at every single position (for inputs up to 512 bytes),
 * and cut into pieces whose sizes are drawn from the input. Every piece is
 * an exact-size heap copy so ASan sees over-reads of the fast path.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_utf8: invariant failed: %s\n", what);
		abort();
	}
}

/* Whether a sequence of `len` bytes whose first `have` bytes gave the bits
 * `cp` can still be completed to a scalar value of the right length. */
static bool ref_reachable(uint32_t cp, size_t len, size_t have)
{
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t missing = 6 * (len - have);
	uint32_t lo = cp << missing, hi = lo | ((1u << missing) - 1);
	if (lo < min_cp[len])
		lo = min_cp[len];
	if (hi > 0x10ffff)
		hi = 0x10ffff;
	if (lo > hi)
		return false;
	/* [lo, hi] minus the surrogates U+D800..U+DFFF is not empty */
	return lo < 0xd800 || hi > 0xdfff;
}

/* Reference: index of the first byte after which no valid completion
 * exists, or -1; *complete when the input ends on a boundary. */
static long ref_fail(const uint8_t *s, size_t n, bool *complete)
{
	size_t len = 0, have = 0;
	uint32_t cp = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = s[i];
		if (have == 0) {
			len = b < 0x80           ? 1
			      : (b >> 5) == 0x6  ? 2
			      : (b >> 4) == 0xe  ? 3
			      : (b >> 3) == 0x1e ? 4
			                         : 0;
			if (len == 0)
				return (long)i;
			if (len == 1)
				continue;
			cp = b & (0x7fu >> len);
		} else {
			if ((b & 0xc0) != 0x80)
				return (long)i;
			cp = cp << 6 | (b & 0x3fu);
		}
		have++;
		if (!ref_reachable(cp, len, have))
			return (long)i;
		if (have == len)
			have = 0;
	}
	*complete = have == 0;
	return -1;
}

/* Feeds s in pieces ending at cuts[0..ncuts) and at n; returns the index
 * of the failing piece or -1, and the end state in *complete. */
static long feed_cuts(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts, bool *complete)
{
	struct utf8_state st;
	utf8_init(&st);
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		size_t m = to - from;
		uint8_t *copy = malloc(m ? m : 1);
		check(copy != NULL, "malloc");
		memcpy(copy, s + from, m);
		int rc = utf8_feed(&st, copy, m);
		free(copy);
		check(rc == 0 || rc == -1, "result other than 0 or -1");
		if (rc < 0)
			return (long)i;
		from = to;
	}
	*complete = utf8_complete(&st);
	return -1;
}

/* Which piece must fail: the one holding byte `fail`. */
static long piece_of(long fail, const size_t *cuts, size_t ncuts)
{
	if (fail < 0)
		return -1;
	size_t k = 0;
	while (k < ncuts && cuts[k] <= (size_t)fail)
		k++;
	return (long)k;
}

static void agree(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts, long fail,
                  bool complete, const char *what)
{
	bool c = false;
	long got = feed_cuts(s, n, cuts, ncuts, &c);
	check(got == piece_of(fail, cuts, ncuts), what);
	if (fail < 0)
		check(c == complete, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool complete = false;
	long fail = ref_fail(data, size, &complete);

	uint8_t *whole = malloc(size ? size : 1);
	check(whole != NULL, "malloc");
	memcpy(whole, data, size);
	check(utf8_valid(whole, size) == (fail < 0 && complete), "utf8_valid vs reference");
	free(whole);
	agree(data, size, NULL, 0, fail, complete, "one-shot vs reference");

	/* one byte at a time: fails exactly at the reference position */
	size_t *cuts = malloc((size + 1) * sizeof(*cuts));
	check(cuts != NULL, "malloc");
	for (size_t i = 0; i < size; i++)
		cuts[i] = i + 1;
	agree(data, size, cuts, size ? size - 1 : 0, fail, complete, "bytewise vs reference");

	for (size_t i = 0; size <= 512 && i <= size; i++)
		agree(data, size, &i, 1, fail, complete, "split vs reference");

	/* cuts drawn from the data itself: each byte's low bits step the cut */
	size_t ncuts = 0, at = 0;
	for (size_t i = 0; i < size; i++) {
		at += 1 + (data[i] & 0x0f);
		if (at >= size)
			break;
		cuts[ncuts++] = at;
	}
	agree(data, size, cuts, ncuts, fail, complete, "data-driven cuts vs reference");
	free(cuts);
	return 0;
}
