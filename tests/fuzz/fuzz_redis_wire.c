/*
 * fuzz_redis_wire.c - libFuzzer target for the Redis engine's message
 * decoder (the bytes every node receives from Redis pub/sub) and, on the
 * same input as a string, the --redis-url parser.
 *
 * Both read from exact-size heap copies so ASan sees a read past the end.
 * A decoded message's slices must lie inside the input, its event must be
 * empty or 1..64 bytes, and the payload must be exactly what follows the
 * third newline. A parsed URL must have a NUL-terminated host or path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/redis_wire.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_redis_wire: invariant failed: %s\n", what);
		abort();
	}
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	check(copy != NULL, "malloc");
	memcpy(copy, data, size);
	struct redis_wire_msg m;
	int rc = redis_wire_decode(copy, size, &m);
	check(rc == 0 || rc == CRIER_EINVAL, "error other than EINVAL");
	if (rc == 0) {
		check(m.data >= copy && m.data + m.data_len == copy + size, "payload slice");
		check(m.event_len <= 64, "event too long");
		check(m.event_len == 0 || (m.event > copy && m.event + m.event_len < m.data),
		      "event slice");
		check(m.id.seq >= 1, "seq 0 accepted");
	}
	free(copy);
}

static void fuzz_url(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	check(s != NULL, "malloc");
	memcpy(s, data, size);
	s[size] = '\0';
	struct redis_url u;
	char why[128];
	int rc = redis_url_parse(s, &u, why, sizeof(why));
	check(rc == 0 || rc == CRIER_EINVAL, "error other than EINVAL");
	if (rc == 0) {
		check(u.is_unix ? u.path[0] == '/' : u.host[0] != '\0', "empty address");
		check(memchr(u.host, '\0', sizeof(u.host)) && memchr(u.path, '\0', sizeof(u.path)),
		      "unterminated field");
		check(u.is_unix || u.port != 0, "port 0");
		check(!(u.tls && u.is_unix), "TLS on a unix socket");
		check(u.tls == (strncmp(s, "rediss://", 9) == 0), "tls without rediss://");
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_url(data, size);
	return 0;
}
