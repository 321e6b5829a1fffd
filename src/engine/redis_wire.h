/*
 * redis_wire.h - the Redis engine's pure codecs: the --redis-url syntax
 * and the message that publish.lua sends to every node.
 *
 * Pure: libc only (and hub/id.c), no allocation; both parsers take a
 * buffer and report slices or values, so they are fuzzed alone
 * (tests/fuzz/fuzz_redis_wire.c). The URL is configuration, but the
 * message comes off the network from Redis and is checked as strictly as
 * a client's bytes: a node must never deliver something it cannot name.
 */
#ifndef CRIER_ENGINE_REDIS_WIRE_H
#define CRIER_ENGINE_REDIS_WIRE_H

#include "hub/id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_URL_HOST_MAX 255 /* bytes of a host name (RFC 1035 total length) */
#define REDIS_URL_PATH_MAX 107 /* sun_path holds 108 bytes with the NUL */
#define REDIS_URL_PASS_MAX 255
#define REDIS_URL_DB_MAX   1000000 /* Redis's own `databases` limit is far lower */

struct redis_url {
	bool is_unix;                          /* unix:///path: path set, host empty */
	bool tls;                              /* rediss://: TLS, the host name verified */
	char host[REDIS_URL_HOST_MAX + 1];     /* name or address, without IPv6 brackets */
	char path[REDIS_URL_PATH_MAX + 1];     /* unix socket path */
	char password[REDIS_URL_PASS_MAX + 1]; /* "" = no AUTH */
	char user[REDIS_URL_PASS_MAX + 1];     /* ACL user ("" = default) */
	uint16_t port;                         /* 6379 when absent */
	uint32_t db;                           /* SELECT; 0 when absent */
};

/*
 * Parses redis://[[user]:password@]host[:port][/db], the same with
 * rediss:// (TLS: tls set, the same default port 6379), [IPv6] hosts, and
 * unix:///path/to.sock[?db=N] (with an optional [[user]:password@] before
 * the path's first slash). Returns 0, or CRIER_EINVAL with a phrase for
 * the error message in why ("the port must be 1..65535", ...).
 * *out is fully written on success only.
 */
int redis_url_parse(const char *s, struct redis_url *out, char *why, size_t why_len);

/* A message as publish.lua sends it: slices of the input. */
struct redis_wire_msg {
	struct id id;
	bool binary;
	int64_t time_ms; /* wall clock at publish */
	const char *event;
	size_t event_len; /* 0: no event name */
	const char *data;
	size_t data_len;
};

/*
 * Decodes "<epoch>-<seq>\n<t|b><wall ms>\n<event>\n<payload>" (the payload
 * is everything after the third newline, any bytes). Returns 0, or
 * CRIER_EINVAL when anything is not exactly that shape (the id as
 * id_parse accepts it, the event in the channel-name alphabet, 1..64
 * bytes, or empty).
 */
int redis_wire_decode(const char *s, size_t len, struct redis_wire_msg *out);

#endif
