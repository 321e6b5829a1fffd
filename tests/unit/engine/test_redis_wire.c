/* Unit tests for engine/redis_wire.c: every --redis-url form the engine
 * accepts (rediss:// for TLS among them), the errors that name what is wrong, and
 * the strict decoding of publish.lua's message. */
#include "core/err.h"
#include "engine/redis_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct redis_url parse_ok(const char *s)
{
	struct redis_url u;
	char why[256] = "";
	int rc = redis_url_parse(s, &u, why, sizeof(why));
	if (rc != 0)
		fail_msg("%s: %s", s, why);
	return u;
}

static void parse_bad(const char *s, const char *words)
{
	struct redis_url u;
	char why[256] = "";
	assert_int_equal(redis_url_parse(s, &u, why, sizeof(why)), CRIER_EINVAL);
	if (!strstr(why, words))
		fail_msg("%s: '%s' does not say '%s'", s, why, words);
}

static void test_url_tcp(void **state)
{
	(void)state;
	struct redis_url u = parse_ok("redis://127.0.0.1:6380/2");
	assert_false(u.is_unix);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.password, "");

	u = parse_ok("redis://localhost");
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);

	u = parse_ok("redis://:s3cr:et@redis.internal:7000/");
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "s3cr:et");
	assert_string_equal(u.host, "redis.internal");
	assert_int_equal(u.port, 7000);

	u = parse_ok("redis://app:pw@[::1]:6379/15");
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.db, 15);
}

static void test_url_tls(void **state)
{
	(void)state;
	struct redis_url u = parse_ok("rediss://redis.example.com");
	assert_true(u.tls);
	assert_false(u.is_unix);
	assert_string_equal(u.host, "redis.example.com");
	assert_int_equal(u.port, 6379); /* Redis has no separate well-known TLS port */
	assert_int_equal(u.db, 0);

	u = parse_ok("rediss://app:pw@[::1]:6380/4");
	assert_true(u.tls);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "pw");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 4);

	assert_false(parse_ok("redis://127.0.0.1:6380").tls);
	assert_false(parse_ok("unix:///tmp/r.sock").tls);
}

static void test_url_unix(void **state)
{
	(void)state;
	struct redis_url u = parse_ok("unix:///run/redis/redis.sock");
	assert_true(u.is_unix);
	assert_string_equal(u.path, "/run/redis/redis.sock");
	assert_int_equal(u.db, 0);
	u = parse_ok("unix://:pw@/tmp/r.sock?db=3");
	assert_string_equal(u.path, "/tmp/r.sock");
	assert_string_equal(u.password, "pw");
	assert_int_equal(u.db, 3);
}

static void test_url_errors(void **state)
{
	(void)state;
	parse_bad("http://host", "expected redis[s]://");
	parse_bad("rediss://", "host");
	parse_bad("rediss://host:0", "port");
	parse_bad("rediss://host/x", "database");
	parse_bad("redisss://host", "expected");
	parse_bad("rediss:/host", "expected");
	parse_bad("redis://", "host");
	parse_bad("redis://host:0", "port");
	parse_bad("redis://host:65536", "port");
	parse_bad("redis://host:12ab", "port");
	parse_bad("redis://host/x", "database");
	parse_bad("redis://user@host", "credentials");
	parse_bad("redis://[::1", "']'");
	parse_bad("redis://[::1]x", "after ']'");
	parse_bad("redis://ho st", "invalid character");
	parse_bad("unix://relative.sock", "absolute");
	parse_bad("unix:///tmp/r.sock?foo=1", "?db=N");
	char long_path[200] = "unix:///";
	memset(long_path + 8, 'a', 150);
	parse_bad(long_path, "absolute");
}

static void test_decode(void **state)
{
	(void)state;
	static const char in[] = "0a0b0c0d-42\nt1700000000123\nnews\nhello\nworld";
	struct redis_wire_msg m;
	assert_int_equal(redis_wire_decode(in, sizeof(in) - 1, &m), 0);
	assert_int_equal(m.id.epoch, 0x0a0b0c0d);
	assert_int_equal(m.id.seq, 42);
	assert_false(m.binary);
	assert_int_equal(m.time_ms, 1700000000123);
	assert_int_equal(m.event_len, 4);
	assert_memory_equal(m.event, "news", 4);
	assert_int_equal(m.data_len, 11);
	assert_memory_equal(m.data, "hello\nworld", 11);

	static const char bin[] = "0a0b0c0d-1\nb5\n\n\0\xff";
	assert_int_equal(redis_wire_decode(bin, sizeof(bin) - 1, &m), 0);
	assert_true(m.binary);
	assert_null(m.event);
	assert_int_equal(m.data_len, 2);

	static const char empty[] = "0a0b0c0d-1\nt5\n\n";
	assert_int_equal(redis_wire_decode(empty, sizeof(empty) - 1, &m), 0);
	assert_int_equal(m.data_len, 0);
}

static void test_decode_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "0a0b0c0d-42",
	        "0A0B0C0D-42\nt1\n\nx",                   /* uppercase epoch */
	        "0a0b0c0d-0\nt1\n\nx",                    /* seq 0 */
	        "0a0b0c0d-4\nx1\n\nx",                    /* flag */
	        "0a0b0c0d-4\nt\n\nx",                     /* no time */
	        "0a0b0c0d-4\nt1a\n\nx",                   /* time not a number */
	        "0a0b0c0d-4\nt99999999999999999999\n\nx", /* overflow */
	        "0a0b0c0d-4\nt1\nbad event\nx",           /* event alphabet */
	        "0a0b0c0d-4\nt1\nnews",                   /* no third newline */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct redis_wire_msg m;
		if (redis_wire_decode(bad[i], strlen(bad[i]), &m) != CRIER_EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_url_tcp),  cmocka_unit_test(test_url_tls),
	        cmocka_unit_test(test_url_unix), cmocka_unit_test(test_url_errors),
	        cmocka_unit_test(test_decode),   cmocka_unit_test(test_decode_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
