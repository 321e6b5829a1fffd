/*
 * perm.h - channel permissions carried by a token: a set of channel
 * patterns, parsed once when the token is verified and matched on every
 * subscribe or publish.
 *
 * A pattern is an exact channel name ("news"), a prefix ending in '*'
 * ("user.42.*" matches every channel that starts with "user.42."; "chat*"
 * matches "chat" and "chatroom"), or "*" alone (every channel). The part
 * before the optional trailing '*' uses the channel alphabet
 * [A-Za-z0-9_.:@-] and is at most PERM_CHANNEL_MAX bytes; an exact name is
 * at least one byte. A '*' anywhere but at the end, or any other byte,
 * makes the whole list invalid: a token that says something crier cannot
 * read grants nothing rather than something unintended.
 *
 * A reserved channel (core/name.h, "$sys.stats") is granted only by its
 * exact name: "*" and prefix patterns never match it, because operator
 * statistics (every channel's name and audience) are not part of "every
 * channel" a client token is meant to cover.
 */
#ifndef CRIER_AUTH_PERM_H
#define CRIER_AUTH_PERM_H

#include "core/name.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest channel name in bytes (core/name.h). */
#define PERM_CHANNEL_MAX NAME_CHANNEL_MAX

/*
 * A permission set. A zeroed struct is a valid empty set that grants
 * nothing and owns no memory. Immutable once parsed: any number of threads
 * may call perm_allows on the same set at once.
 */
struct perm_set {
	char **pat; /* owned array of n owned NUL-terminated patterns; "*" is not stored */
	size_t n;   /* patterns in pat */
	bool all;   /* "*" was listed: every channel is allowed */
};

/*
 * Parses a JSON array of pattern strings into *out, which the caller
 * releases with perm_set_free. An empty array is an empty set. The array
 * is only read; nothing in out points into it.
 * Returns 0; CRIER_EAUTH_MALFORMED when array is not an array, an element
 * is not a string or is not a valid pattern; CRIER_ENOMEM. On failure *out
 * is a zeroed (empty) set.
 */
int perm_set_from_json(struct perm_set *out, const json_t *array);

/*
 * True when the set allows the channel of len bytes (not NUL-terminated).
 * The caller has already checked the name against the channel rules; an
 * empty channel is never allowed. p may be NULL (grants nothing).
 */
bool perm_allows(const struct perm_set *p, const char *channel, size_t len);

/* Releases the patterns; the set is empty and valid afterwards. */
void perm_set_free(struct perm_set *p);

#endif
