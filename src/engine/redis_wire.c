/*
 * redis_wire.c - the --redis-url syntax and publish.lua's message format.
 *
 * Both parsers walk the input once, copy nothing but the URL's parts (into
 * fixed fields of the caller's struct) and refuse anything ambiguous: a
 * URL with a stray character is an error at start-up, not a surprise at
 * the first reconnect; a message that is not exactly what publish.lua
 * writes is dropped (and counted by the engine) rather than guessed at.
 */
#include "engine/redis_wire.h"

#include "core/err.h"
#include "core/name.h"

#include <stdio.h>
#include <string.h>

static int redis_url_fail(char *why, size_t why_len, const char *msg)
{
	snprintf(why, why_len, "%s", msg);
	return CRIER_EINVAL;
}

/* Decimal in [lo, hi] spanning exactly s[0..len). */
static bool redis_url_num(const char *s, size_t len, uint32_t hi, uint32_t *out)
{
	if (len == 0 || len > 7)
		return false;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > hi)
		return false;
	*out = v;
	return true;
}

static bool redis_url_copy(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

/* "[user]:password@" at the start of s[0..len): consumed into u. Returns the
 * bytes used (0 when there is no '@'), or -1 when malformed. */
static long redis_url_userinfo(const char *s, size_t len, struct redis_url *u)
{
	const char *at = memchr(s, '@', len);
	if (!at)
		return 0;
	size_t n = (size_t)(at - s);
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return -1; /* "user@" without a password says nothing Redis can use */
	size_t ulen = (size_t)(colon - s);
	if (!redis_url_copy(u->user, sizeof(u->user), s, ulen) ||
	    !redis_url_copy(u->password, sizeof(u->password), colon + 1, n - ulen - 1))
		return -1;
	return (long)n + 1;
}

/* host[:port][/db], after the scheme and credentials. */
static int redis_url_tcp(const char *s, size_t len, struct redis_url *u, char *why, size_t wl)
{
	const char *slash = memchr(s, '/', len);
	size_t hp = slash ? (size_t)(slash - s) : len;
	const char *host = s, *port = NULL;
	size_t host_len = hp, port_len = 0;
	if (hp && s[0] == '[') {
		const char *close = memchr(s, ']', hp);
		if (!close)
			return redis_url_fail(why, wl, "an IPv6 host needs its closing ']'");
		host = s + 1;
		host_len = (size_t)(close - s) - 1;
		size_t rest = hp - (size_t)(close - s) - 1;
		if (rest && close[1] != ':')
			return redis_url_fail(why, wl, "unexpected characters after ']'");
		if (rest) {
			port = close + 2;
			port_len = rest - 1;
		}
	} else {
		const char *colon = memchr(s, ':', hp);
		if (colon) {
			host_len = (size_t)(colon - s);
			port = colon + 1;
			port_len = hp - host_len - 1;
		}
	}
	if (host_len == 0 || !redis_url_copy(u->host, sizeof(u->host), host, host_len))
		return redis_url_fail(why, wl, "the host is missing or too long");
	for (size_t i = 0; i < host_len; i++)
		if (host[i] <= ' ' || host[i] == '/' || host[i] == '@' || host[i] == '?' ||
		    (unsigned char)host[i] >= 0x7f)
			return redis_url_fail(why, wl, "the host has an invalid character");
	uint32_t v = 6379;
	if (port && (!redis_url_num(port, port_len, 65535, &v) || v == 0))
		return redis_url_fail(why, wl, "the port must be 1..65535");
	u->port = (uint16_t)v;
	if (slash && len - hp > 1 &&
	    !redis_url_num(slash + 1, len - hp - 1, REDIS_URL_DB_MAX, &u->db))
		return redis_url_fail(why, wl, "the database after '/' must be a number");
	return 0;
}

/* /path[?db=N], after the scheme and credentials. */
static int redis_url_unix(const char *s, size_t len, struct redis_url *u, char *why, size_t wl)
{
	const char *q = memchr(s, '?', len);
	size_t plen = q ? (size_t)(q - s) : len;
	if (plen < 2 || s[0] != '/' || !redis_url_copy(u->path, sizeof(u->path), s, plen))
		return redis_url_fail(
		        why, wl, "unix:// needs an absolute socket path (unix:///run/redis.sock)");
	if (q && (len - plen < 5 || memcmp(q, "?db=", 4) != 0 ||
	          !redis_url_num(q + 4, len - plen - 4, REDIS_URL_DB_MAX, &u->db)))
		return redis_url_fail(why, wl, "the only query is ?db=N");
	u->is_unix = true;
	return 0;
}

int redis_url_parse(const char *s, struct redis_url *out, char *why, size_t why_len)
{
	struct redis_url u = {.port = 6379};
	size_t len = strlen(s), scheme;
	if (len >= 8 && strncmp(s, "redis://", 8) == 0)
		scheme = 8;
	else if (len >= 7 && strncmp(s, "unix://", 7) == 0)
		scheme = 7;
	else if (len >= 9 && strncmp(s, "rediss://", 9) == 0)
		scheme = 9;
	else
		return redis_url_fail(why, why_len,
		                      "expected redis[s]://[:password@]host[:port][/db] or "
		                      "unix:///path/to.sock");
	u.tls = scheme == 9;
	long k = redis_url_userinfo(s + scheme, len - scheme, &u);
	if (k < 0)
		return redis_url_fail(why, why_len,
		                      "credentials must be ':password@' or 'user:password@'");
	const char *rest = s + scheme + k;
	size_t rest_len = len - scheme - (size_t)k;
	int rc = scheme == 7 ? redis_url_unix(rest, rest_len, &u, why, why_len)
	                     : redis_url_tcp(rest, rest_len, &u, why, why_len);
	if (rc == 0)
		*out = u;
	return rc;
}

/* The next line of s[*pos..len): its start and length; false without '\n'. */
static bool redis_wire_line(const char *s, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl = memchr(s + *pos, '\n', len - *pos);
	if (!nl)
		return false;
	*line = s + *pos;
	*n = (size_t)(nl - *line);
	*pos += *n + 1;
	return true;
}

int redis_wire_decode(const char *s, size_t len, struct redis_wire_msg *out)
{
	size_t pos = 0, n;
	const char *line;
	struct redis_wire_msg m = {0};
	if (!redis_wire_line(s, len, &pos, &line, &n) || id_parse(line, n, &m.id) != 0)
		return CRIER_EINVAL;
	if (!redis_wire_line(s, len, &pos, &line, &n) || n < 2 || n > 20 ||
	    (line[0] != 't' && line[0] != 'b'))
		return CRIER_EINVAL;
	m.binary = line[0] == 'b';
	for (size_t i = 1; i < n; i++) {
		if (line[i] < '0' || line[i] > '9')
			return CRIER_EINVAL;
		if (m.time_ms > (INT64_MAX - 9) / 10)
			return CRIER_EINVAL;
		m.time_ms = m.time_ms * 10 + (line[i] - '0');
	}
	if (!redis_wire_line(s, len, &pos, &line, &n) ||
	    (n && !name_valid(line, n, NAME_EVENT_MAX)))
		return CRIER_EINVAL;
	m.event = n ? line : NULL;
	m.event_len = n;
	m.data = s + pos;
	m.data_len = len - pos;
	*out = m;
	return 0;
}
