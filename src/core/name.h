/*
 * name.h - the alphabet of channel and event names: 1..max bytes of
 * [A-Za-z0-9_.:@-]. Pure and inline so every parser that meets a name (the
 * HTTP routes, the /ws request parser) applies the same rule without
 * depending on the hub; the auth layer's grant patterns use it too.
 */
#ifndef CRIER_CORE_NAME_H
#define CRIER_CORE_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define NAME_CHANNEL_MAX 128 /* bytes in a channel name */
#define NAME_EVENT_MAX   64  /* bytes in an event name */

static inline bool name_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '@' ||
		          c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Reserved channels: the server publishes to them and clients may only
 * subscribe. Their names start with '$', which the client alphabet above
 * does not contain, so reserving them changed the meaning of no name
 * anyone could already use (MQTT's $SYS convention). Only the names listed
 * here exist; any other '$' name is as invalid as before.
 */
#define NAME_SYS_STATS "$sys.stats" /* hub statistics, once a second while watched */

/* True when the name is one of the server's reserved channels. */
static inline bool name_reserved(const char *s, size_t len)
{
	return len == sizeof(NAME_SYS_STATS) - 1 && memcmp(s, NAME_SYS_STATS, len) == 0;
}

/* A channel a client may name: the alphabet above, or a reserved name
 * (which the publish paths then refuse with their own "reserved" error). */
static inline bool name_channel_valid(const char *s, size_t len)
{
	return name_valid(s, len, NAME_CHANNEL_MAX) || name_reserved(s, len);
}

#endif
