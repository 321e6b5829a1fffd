/*
 * perm.c - channel patterns from a token's "crier" claim, and the match
 * against a channel name.
 *
 * Owns the pattern grammar and nothing else: it never sees a token, a
 * signature or a connection. Patterns are validated strictly at parse
 * time so that matching can be a plain byte comparison: a pattern that
 * cannot name a channel (a space, a '*' in the middle, "*x") rejects the
 * whole token instead of being skipped, because a silently ignored entry
 * would make an issuer's mistake look like a server bug. Matching is a
 * linear scan; a token holds at most a few hundred patterns (its size is
 * bounded by jwt.c) and a check happens once per subscribe or publish.
 */
#include "auth/perm.h"

#include "core/err.h"
#include "core/name.h"

#include <stdlib.h>
#include <string.h>

/* A pattern is a name of 1..PERM_CHANNEL_MAX bytes, or a prefix of
 * 0..PERM_CHANNEL_MAX bytes followed by one '*'. */
static bool pattern_valid(const char *s, size_t len)
{
	bool prefix = len > 0 && s[len - 1] == '*';
	size_t stem = prefix ? len - 1 : len;
	return (prefix && stem == 0) || name_valid(s, stem, PERM_CHANNEL_MAX) ||
	       (!prefix && name_reserved(s, stem));
}

int perm_set_from_json(struct perm_set *out, const json_t *array)
{
	*out = (struct perm_set){0};
	if (!json_is_array(array))
		return CRIER_EAUTH_MALFORMED;
	size_t n = json_array_size(array);
	if (n == 0)
		return 0;
	out->pat = calloc(n, sizeof(*out->pat));
	if (!out->pat)
		return CRIER_ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *el = json_array_get(array, i);
		if (!json_is_string(el)) {
			rc = CRIER_EAUTH_MALFORMED;
			break;
		}
		const char *s = json_string_value(el);
		size_t len = json_string_length(el);
		/* A NUL inside the string (jansson refuses "\u0000" by default)
		 * would hide the bytes after it: refuse rather than trust that. */
		if (strlen(s) != len || !pattern_valid(s, len)) {
			rc = CRIER_EAUTH_MALFORMED;
			break;
		}
		if (len == 1 && s[0] == '*') {
			out->all = true;
			continue;
		}
		out->pat[out->n] = strdup(s);
		if (!out->pat[out->n]) {
			rc = CRIER_ENOMEM;
			break;
		}
		out->n++;
	}
	if (rc < 0)
		perm_set_free(out);
	return rc;
}

bool perm_allows(const struct perm_set *p, const char *channel, size_t len)
{
	if (!p || len == 0)
		return false;
	if (p->all && !name_reserved(channel, len))
		return true;
	for (size_t i = 0; i < p->n; i++) {
		const char *pat = p->pat[i];
		size_t plen = strlen(pat);
		if (pat[plen - 1] == '*') {
			if (len >= plen - 1 && memcmp(channel, pat, plen - 1) == 0)
				return true;
		} else if (len == plen && memcmp(channel, pat, len) == 0) {
			return true;
		}
	}
	return false;
}

void perm_set_free(struct perm_set *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->pat[i]);
	free(p->pat);
	*p = (struct perm_set){0};
}
