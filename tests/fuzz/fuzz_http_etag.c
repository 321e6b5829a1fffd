/*
 * fuzz_http_etag.c - libFuzzer target for http_etag_match, the
 * If-None-Match comparison (http_parse.h) that decides a 304.
 *
 * The input is split at its first NUL byte into the header value and the
 * entity tag (none: a fixed tag). Both are exact-size heap copies, so ASan
 * sees any read past either length. Besides memory errors it aborts when
 * the answer breaks what the comparison promises: "*" and the tag itself
 * always match, a W/ prefix on either side changes nothing, and appending
 * ", <tag>" to any value makes it match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http_etag: invariant failed: %s\n", what);
		abort();
	}
}

static char *dup_exact(const char *s, size_t len)
{
	char *c = malloc(len ? len : 1);
	check(c != NULL, "malloc");
	if (len)
		memcpy(c, s, len);
	return c;
}

static int match(const char *v, size_t vlen, const char *e, size_t elen)
{
	char *vc = dup_exact(v, vlen), *ec = dup_exact(e, elen);
	int r = http_etag_match(vc, vlen, ec, elen);
	free(vc);
	free(ec);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, 0, size);
	size_t vlen = nul ? (size_t)(nul - in) : size;
	const char *etag = nul ? nul + 1 : "\"0123456789abcdef\"";
	size_t elen = nul ? size - vlen - 1 : strlen(etag);
	int r = match(in, vlen, etag, elen);

	/* A tag with no comma, whitespace or NUL is one list item of itself. */
	int simple = elen > 0 && !memchr(etag, ',', elen) && !memchr(etag, ' ', elen) &&
	             !memchr(etag, '\t', elen) && !(elen == 1 && etag[0] == '*') &&
	             !(elen == 2 && etag[0] == 'W' && etag[1] == '/');
	check(match("*", 1, etag, elen), "* matches everything");
	if (!simple)
		return 0;
	check(match(etag, elen, etag, elen), "a tag matches itself");
	size_t wl = elen + 2;
	char *weak = malloc(wl);
	check(weak != NULL, "malloc");
	memcpy(weak, "W/", 2);
	memcpy(weak + 2, etag, elen);
	check(match(in, vlen, weak, wl) == r || (elen >= 2 && etag[0] == 'W' && etag[1] == '/'),
	      "W/ on our tag changes nothing");
	size_t al = vlen + 2 + elen;
	char *app = malloc(al);
	check(app != NULL, "malloc");
	memcpy(app, in, vlen);
	memcpy(app + vlen, ", ", 2);
	memcpy(app + vlen + 2, etag, elen);
	check(match(app, al, etag, elen), "value + \", tag\" matches");
	free(weak);
	free(app);
	return 0;
}
