/*
 * origin.c - the browser-origin policy (--allowed-origins), shared by every
 * transport a browser can open cross-site: WebSocket handshakes and
 * EventSource streams.
 *
 * Same-origin means the Origin's host and port equal the Host header's,
 * with default ports made explicit; the scheme cannot be compared (the
 * Host header has none), so a plain listener cannot tell http from https
 * origins on the same host and port: TLS listeners will.
 */
#include "auth/origin.h"

#include <string.h>
#include <strings.h>

static bool slice_ieq(const char *a, size_t n, const char *b)
{
	return n == strlen(b) && strncasecmp(a, b, n) == 0;
}

static bool slices_ieq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && strncasecmp(a, b, an) == 0;
}

/* An origin (RFC 6454 §6.1 serialisation) or a Host value, in pieces. */
struct origin {
	const char *scheme; /* NULL for a Host value */
	size_t scheme_len;
	const char *host; /* brackets kept for an IPv6 literal */
	size_t host_len;
	unsigned port; /* explicit, else the scheme's default, else 0 */
};

static bool is_host_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_v6_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == ':' || c == '.';
}

/* Parses host [":" port] with an IPv6 literal in brackets (RFC 3986
 * §3.2.2). The port, when present, is 1..5 digits up to 65535. */
static bool parse_authority(const char *s, size_t n, struct origin *o)
{
	size_t i = 0;
	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++) {
			if (!is_v6_char(s[i]))
				return false;
		}
		if (i >= n || i < 3) /* unterminated, or "[]" / "[:]" */
			return false;
		i++;
	} else {
		while (i < n && is_host_char(s[i]))
			i++;
	}
	o->host = s;
	o->host_len = i;
	if (i == 0)
		return false;
	if (i == n)
		return true;
	if (s[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
		return false;
	unsigned port = 0;
	for (i++; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	if (port == 0 || port > 65535)
		return false;
	o->port = port;
	return true;
}

/* Default port of a scheme; 0 for schemes without one we know. */
static unsigned default_port(const char *scheme, size_t n)
{
	if (slice_ieq(scheme, n, "http") || slice_ieq(scheme, n, "ws"))
		return 80;
	if (slice_ieq(scheme, n, "https") || slice_ieq(scheme, n, "wss"))
		return 443;
	return 0;
}

/* Parses scheme "://" host [":" port] (RFC 6454 §6.2, no path). When
 * wild is non-NULL a host of "*.domain" is accepted: *wild is set and the
 * host is the domain. */
static bool parse_origin(const char *s, size_t n, struct origin *o, bool *wild)
{
	*o = (struct origin){0};
	size_t i = 0;
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	                 (i > 0 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
	                            s[i] == '.'))))
		i++;
	if (i == 0 || n - i < 3 || memcmp(s + i, "://", 3) != 0)
		return false;
	o->scheme = s;
	o->scheme_len = i;
	i += 3;
	if (wild) {
		*wild = n - i > 2 && s[i] == '*' && s[i + 1] == '.';
		if (*wild)
			i += 2;
	}
	if (!parse_authority(s + i, n - i, o))
		return false;
	if (o->port == 0)
		o->port = default_port(o->scheme, o->scheme_len);
	return true;
}

/* Same origin: host and port equal, a Host without a port being on the
 * Origin scheme's default port (see the file comment). */
static bool same_origin(const struct origin *o, const char *host, size_t host_len)
{
	struct origin h = {0};
	if (!host || o->port == 0 || default_port(o->scheme, o->scheme_len) == 0 ||
	    !parse_authority(host, host_len, &h))
		return false;
	if (h.port == 0)
		h.port = default_port(o->scheme, o->scheme_len);
	return h.port == o->port && slices_ieq(h.host, h.host_len, o->host, o->host_len);
}

/* One allow-list entry against a parsed origin: exact, or a wildcard (a
 * scheme, "://", "*." and a domain, optional port) matching subdomains of
 * the domain at any depth but not the domain itself. */
static bool entry_matches(const char *entry, const struct origin *o)
{
	struct origin pat;
	bool wild;
	if (!parse_origin(entry, strlen(entry), &pat, &wild))
		return false;
	if (!slices_ieq(pat.scheme, pat.scheme_len, o->scheme, o->scheme_len) ||
	    pat.port != o->port)
		return false;
	if (!wild)
		return slices_ieq(pat.host, pat.host_len, o->host, o->host_len);
	if (o->host_len < pat.host_len + 2)
		return false;
	size_t dot = o->host_len - pat.host_len - 1;
	return o->host[dot] == '.' &&
	       slices_ieq(o->host + dot + 1, pat.host_len, pat.host, pat.host_len);
}

bool origin_allowed(const char *origin, size_t origin_len, const char *host, size_t host_len,
                    const struct config_list *allowed)
{
	if (!origin)
		return true;
	size_t n_allowed = allowed ? allowed->len : 0;
	for (size_t i = 0; i < n_allowed; i++) {
		if (strcmp(allowed->items[i], "*") == 0)
			return true;
	}
	/* RFC 6454 §7.3: an opaque origin (sandbox, file:) is sent as "null";
	 * it names no one, so it passes only when listed literally. */
	if (slice_ieq(origin, origin_len, "null")) {
		for (size_t i = 0; i < n_allowed; i++) {
			if (strcasecmp(allowed->items[i], "null") == 0)
				return true;
		}
		return false;
	}
	struct origin o;
	if (!parse_origin(origin, origin_len, &o, NULL))
		return false;
	if (same_origin(&o, host, host_len))
		return true;
	for (size_t i = 0; i < n_allowed; i++) {
		if (entry_matches(allowed->items[i], &o))
			return true;
	}
	return false;
}
