/*
 * origin.h - which browser origins may open a stream or a WebSocket.
 */
#ifndef CRIER_AUTH_ORIGIN_H
#define CRIER_AUTH_ORIGIN_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * The origin policy. A request without Origin (not a browser) is allowed.
 * With the default (empty) list, only same-origin requests are: the
 * Origin's host[:port] equals the Host header, with default ports (80 for
 * http and ws, 443 for https and wss) made explicit on both sides. The list may hold "*"
 * (any origin), exact origins ("https://app.example.com"), and wildcard
 * subdomains (a scheme, "://", then "*.example.com": any depth, not the
 * domain itself; scheme and port must match); comparison is
 * case-insensitive. A Host without a port is taken to be on the default
 * port of the Origin's scheme; origins with other schemes are never
 * same-origin, only listed. The literal origin "null" is allowed only when listed (or
 * with "*"). Any other Origin that is not scheme://host[:port] (no path,
 * no userinfo, IPv6 in brackets, port 1..65535) is refused unless "*" is
 * listed. allowed may be NULL (the empty list); origin NULL means no
 * Origin field.
 */
bool origin_allowed(const char *origin, size_t origin_len, const char *host, size_t host_len,
                    const struct config_list *allowed);

#endif
