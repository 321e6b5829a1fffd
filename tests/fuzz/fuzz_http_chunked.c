/*
 * fuzz_http_chunked.c - libFuzzer target for the chunked body decoder.
 *
 * The input is decoded once whole and once in pieces whose sizes come
 * from a small generator seeded by the input. Each piece is an exact-size
 * heap copy, so ASan catches a read past it. Aborts when a slice leaves
 * its piece, when the count of consumed bytes is out of range, when the
 * decoder's total differs from the sum of the slices, or when the two
 * feedings disagree on the outcome, the bytes consumed or the data: the
 * decoder is byte-exact, so where the input is cut must not matter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http_parse.h"

struct result {
	int64_t rc;      /* last return: 0 done or input exhausted, < 0 error */
	size_t consumed; /* input bytes consumed */
	uint64_t sum;    /* sum of slice lengths */
	uint64_t hash;   /* FNV-1a of the data */
	bool done;
};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http_chunked: invariant failed: %s\n", what);
		abort();
	}
}

/* Feeds one piece; returns false once the decoder stops (error or done). */
static bool feed(struct http_chunked *st, const uint8_t *data, size_t n, uint64_t max_body,
                 struct result *r)
{
	char *piece = malloc(n ? n : 1);
	check(piece != NULL, "malloc");
	memcpy(piece, data, n);
	size_t off = 0;
	while (off < n && !st->done) {
		const char *d = NULL;
		size_t dn = 0;
		int64_t rc = http_chunked_decode(st, piece + off, n - off, max_body, &d, &dn);
		if (rc < 0) {
			check(err_is_crier((int)rc), "unknown error code");
			r->rc = rc;
			break;
		}
		check(rc > 0 && (size_t)rc <= n - off, "consumed out of range");
		if (dn > 0) {
			check(d >= piece + off && d + dn <= piece + off + (size_t)rc,
			      "slice outside");
			for (size_t i = 0; i < dn; i++)
				r->hash = (r->hash ^ (uint8_t)d[i]) * 1099511628211u;
		}
		r->sum += dn;
		off += (size_t)rc;
	}
	free(piece);
	r->consumed += off;
	r->done = st->done;
	check(st->total == r->sum, "total != sum of slices");
	check(max_body == 0 || st->total <= max_body, "total over max_body");
	return r->rc == 0 && !st->done;
}

static struct result decode(const uint8_t *data, size_t size, uint64_t max_body, uint32_t seed)
{
	struct http_chunked st = {0};
	struct result r = {.hash = 14695981039346656037u};
	size_t off = 0;
	while (off < size) {
		size_t n = size - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (n < 17 ? n : 17);
		}
		if (!feed(&st, data + off, n, max_body, &r))
			break;
		off += n;
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t max_body = size % 3 == 0 ? 64 : 0;
	uint32_t seed = 1;
	for (size_t i = 0; i < size && i < 8; i++)
		seed = seed * 31u + data[i];
	seed |= 1;
	struct result whole = decode(data, size, max_body, 0);
	struct result parts = decode(data, size, max_body, seed);
	check(whole.rc == parts.rc, "outcome differs between feedings");
	check(whole.done == parts.done, "done differs between feedings");
	check(whole.sum == parts.sum && whole.hash == parts.hash, "data differs");
	check(whole.rc < 0 || whole.consumed == parts.consumed, "consumed differs");
	return 0;
}
