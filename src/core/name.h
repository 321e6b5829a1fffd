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

#endif
