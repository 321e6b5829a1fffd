/*
 * test_config.c - the option table, its four sources and reload.
 *
 * Everything goes through the public API (config.h): flags and environment
 * are literal arrays, config files are written to mkstemp files, and the
 * printers write into open_memstream buffers. Error messages are compared
 * in full, because their shape ("--workers: '300' is out of range (...)")
 * is what users and scripts see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

#define ARGS(...) ((const char *[]){__VA_ARGS__, NULL})
#define NOARGS    ((const char *[]){NULL})

static int count(const char **v)
{
	int n = 0;
	while (v[n])
		n++;
	return n;
}

/* Loads from NULL-terminated flag and env arrays. */
static int load(const char **argv, const char **env, struct config **cfg, struct config_error *err)
{
	return config_load(count(argv), (char **)argv, (char **)env, cfg, err);
}

static struct config *load_ok(const char **argv, const char **env)
{
	struct config *cfg = NULL;
	struct config_error err = {0};
	int rc = load(argv, env, &cfg, &err);
	if (rc != 0)
		fail_msg("unexpected error %d: %s", rc, err.msg);
	assert_non_null(cfg);
	return cfg;
}

/* Asserts that loading fails with code rc, exit code 2 and message msg. */
static void load_fails(const char **argv, const char **env, int rc, const char *msg)
{
	struct config *cfg = (struct config *)1;
	struct config_error err = {0};
	assert_int_equal(load(argv, env, &cfg, &err), rc);
	assert_null(cfg);
	assert_string_equal(err.msg, msg);
	assert_int_equal(err.exit_code, rc == CRIER_EIO || rc == CRIER_ENOMEM ? 1 : 2);
}

struct tmpfile {
	char path[64];
};

static void write_file(struct tmpfile *t, const char *text)
{
	if (!t->path[0]) {
		strcpy(t->path, "/tmp/crier-test-config-XXXXXX");
		int fd = mkstemp(t->path);
		assert_true(fd >= 0);
		close(fd);
	}
	FILE *f = fopen(t->path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(struct tmpfile *t)
{
	unlink(t->path);
}

/* "--config=PATH" for t, in a caller buffer. */
static const char *config_flag(const struct tmpfile *t, char *buf, size_t len)
{
	snprintf(buf, len, "--config=%s", t->path);
	return buf;
}

static const char *config_env(const struct tmpfile *t, char *buf, size_t len)
{
	snprintf(buf, len, "CRIER_CONFIG=%s", t->path);
	return buf;
}

/* Loads with only a config file containing text; expects success. */
static struct config *load_file_ok(const char *text)
{
	struct tmpfile t = {0};
	char flag[128];
	write_file(&t, text);
	struct config *cfg = load_ok(ARGS(config_flag(&t, flag, sizeof(flag))), NOARGS);
	remove_file(&t);
	return cfg;
}

/* Loads with only a config file; expects failure with "PATH:" + msg_tail. */
static void load_file_fails(const char *text, int rc, const char *msg_tail)
{
	struct tmpfile t = {0};
	char flag[128], msg[600];
	write_file(&t, text);
	snprintf(msg, sizeof(msg), "%s:%s", t.path, msg_tail);
	load_fails(ARGS(config_flag(&t, flag, sizeof(flag))), NOARGS, rc, msg);
	remove_file(&t);
}

static uint32_t cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (uint32_t)n;
}

/* ---- defaults and value parsers --------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct config *c = load_ok(NOARGS, NOARGS);
	assert_int_equal(c->listen.len, 1);
	assert_string_equal(c->listen.items[0], "127.0.0.1:8080");
	assert_int_equal(c->workers, cores());
	assert_null(c->config_file);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->access_log);
	assert_int_equal(c->max_connections, 10000);
	assert_int_equal(c->max_header_bytes, 8192);
	assert_int_equal(c->max_uri_bytes, 4096);
	assert_int_equal(c->max_headers, 64);
	assert_int_equal(c->max_body_bytes, 1024 * 1024);
	assert_int_equal(c->header_timeout_ms, 10000);
	assert_int_equal(c->body_timeout_ms, 30000);
	assert_int_equal(c->keepalive_timeout_ms, 75000);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_int_equal(c->warnings.len, 0);
	config_free(c);
}

static void test_load_null_env(void **state)
{
	(void)state;
	struct config *c = NULL;
	struct config_error err;
	assert_int_equal(config_load(0, NULL, NULL, &c, &err), 0);
	assert_non_null(c);
	config_free(c);
	config_free(NULL);
}

static void test_parse_duration(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint64_t ms;
	} ok[] = {
	        {"250ms", 250}, {"10s", 10000}, {"5m", 300000}, {"1h", 3600000},
	        {"7", 7000},    {"0", 0},       {"0ms", 0},     {"007s", 7000},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1234;
		assert_int_equal(config_parse_duration(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].ms);
	}
	static const char *const bad[] = {"",    "s",  "10x", "-1",  "1.5s", " 1s",  "1s ",
	                                  "10S", "1d", "1 s", "+1s", "1ms1", "1sec", "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 1234;
		assert_int_equal(config_parse_duration(bad[i], &v), CRIER_EINVAL);
		assert_int_equal(v, 1234);
	}
	uint64_t v;
	assert_int_equal(config_parse_duration("18446744073709551616ms", &v), CRIER_ERANGE);
	assert_int_equal(config_parse_duration("18446744073709551615ms", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(config_parse_duration("18446744073709551615s", &v), CRIER_ERANGE);
	assert_int_equal(config_parse_duration("99999999999999999999x", &v), CRIER_EINVAL);
}

static void test_parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint64_t bytes;
	} ok[] = {
	        {"512", 512},          {"0", 0},
	        {"64k", 65536},        {"64K", 65536},
	        {"64KiB", 65536},      {"1m", 1048576},
	        {"1M", 1048576},       {"1MiB", 1048576},
	        {"2g", 2147483648u},   {"2G", 2147483648u},
	        {"2GiB", 2147483648u}, {"16777216g", 18014398509481984ull},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1234;
		assert_int_equal(config_parse_size(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].bytes);
	}
	static const char *const bad[] = {"",    "k",    "1kb", "1KB", "-1", "1.5k",
	                                  "1 k", "1kib", "1Ki", "1T",  " 1", "1 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 1234;
		assert_int_equal(config_parse_size(bad[i], &v), CRIER_EINVAL);
		assert_int_equal(v, 1234);
	}
	uint64_t v;
	assert_int_equal(config_parse_size("17179869184g", &v), CRIER_ERANGE); /* 2^64 */
	assert_int_equal(config_parse_size("18446744073709551616", &v), CRIER_ERANGE);
}

static void test_log_level_name(void **state)
{
	(void)state;
	assert_string_equal(config_log_level_name(LOG_DEBUG), "debug");
	assert_string_equal(config_log_level_name(LOG_INFO), "info");
	assert_string_equal(config_log_level_name(LOG_WARN), "warn");
	assert_string_equal(config_log_level_name(LOG_ERROR), "error");
	assert_string_equal(config_log_level_name((enum log_level)42), "unknown");
}

/* ---- types through the flags ------------------------------------------ */

static void test_uint32_bounds(void **state)
{
	(void)state;
	struct config *c = load_ok(
	        ARGS("--workers", "1", "--max-headers", "8", "--max-connections", "1"), NOARGS);
	assert_int_equal(c->workers, 1);
	assert_int_equal(c->max_headers, 8);
	assert_int_equal(c->max_connections, 1);
	config_free(c);
	c = load_ok(ARGS("--workers=256", "--max-headers=1024", "--max-connections=1000000"),
	            NOARGS);
	assert_int_equal(c->workers, 256);
	assert_int_equal(c->max_headers, 1024);
	assert_int_equal(c->max_connections, 1000000);
	config_free(c);

	load_fails(ARGS("--workers", "300"), NOARGS, CRIER_ERANGE,
	           "--workers: '300' is out of range (1..256, or 0 for one per CPU core)");
	load_fails(ARGS("--workers", "257"), NOARGS, CRIER_ERANGE,
	           "--workers: '257' is out of range (1..256, or 0 for one per CPU core)");
	load_fails(ARGS("--max-headers", "7"), NOARGS, CRIER_ERANGE,
	           "--max-headers: '7' is out of range (8..1024)");
	load_fails(ARGS("--max-headers", "1025"), NOARGS, CRIER_ERANGE,
	           "--max-headers: '1025' is out of range (8..1024)");
	load_fails(ARGS("--max-connections", "0"), NOARGS, CRIER_ERANGE,
	           "--max-connections: '0' is out of range (1..1000000)");
	load_fails(ARGS("--max-connections", "1000001"), NOARGS, CRIER_ERANGE,
	           "--max-connections: '1000001' is out of range (1..1000000)");
	load_fails(ARGS("--max-connections", "99999999999999999999999"), NOARGS, CRIER_ERANGE,
	           "--max-connections: '99999999999999999999999' is out of range (1..1000000)");
	load_fails(ARGS("--workers", "many"), NOARGS, CRIER_EINVAL,
	           "--workers: 'many' is not a whole number");
	load_fails(ARGS("--workers", "-1"), NOARGS, CRIER_EINVAL,
	           "--workers: '-1' is not a whole number");
	load_fails(ARGS("--workers="), NOARGS, CRIER_EINVAL, "--workers: '' is not a whole number");
	load_fails(ARGS("--workers", "4k"), NOARGS, CRIER_EINVAL,
	           "--workers: '4k' is not a whole number");
}

static void test_workers_zero_is_cores(void **state)
{
	(void)state;
	struct config *c = load_ok(ARGS("--workers", "0"), NOARGS);
	assert_int_equal(c->workers, cores());
	assert_true(c->workers >= 1);
	config_free(c);
}

static void test_size_bounds(void **state)
{
	(void)state;
	struct config *c = load_ok(ARGS("--max-header-bytes", "1KiB", "--max-uri-bytes", "256",
	                                "--max-body-bytes", "0"),
	                           NOARGS);
	assert_int_equal(c->max_header_bytes, 1024);
	assert_int_equal(c->max_uri_bytes, 256);
	assert_int_equal(c->max_body_bytes, 0);
	config_free(c);
	c = load_ok(ARGS("--max-header-bytes", "1M", "--max-uri-bytes", "1048576",
	                 "--max-body-bytes", "1g"),
	            NOARGS);
	assert_int_equal(c->max_header_bytes, 1048576);
	assert_int_equal(c->max_uri_bytes, 1048576);
	assert_int_equal(c->max_body_bytes, 1073741824);
	config_free(c);

	load_fails(ARGS("--max-header-bytes", "1023"), NOARGS, CRIER_ERANGE,
	           "--max-header-bytes: '1023' is out of range (1KiB..1MiB)");
	load_fails(ARGS("--max-header-bytes", "1048577"), NOARGS, CRIER_ERANGE,
	           "--max-header-bytes: '1048577' is out of range (1KiB..1MiB)");
	load_fails(ARGS("--max-uri-bytes", "255"), NOARGS, CRIER_ERANGE,
	           "--max-uri-bytes: '255' is out of range (256..1MiB)");
	load_fails(ARGS("--max-body-bytes", "1073741825"), NOARGS, CRIER_ERANGE,
	           "--max-body-bytes: '1073741825' is out of range (0..1GiB)");
	load_fails(ARGS("--max-body-bytes", "2G"), NOARGS, CRIER_ERANGE,
	           "--max-body-bytes: '2G' is out of range (0..1GiB)");
	load_fails(ARGS("--max-body-bytes", "lots"), NOARGS, CRIER_EINVAL,
	           "--max-body-bytes: 'lots' is not a size (bytes, or a number with k, m, g, "
	           "KiB, MiB or GiB)");
}

static void test_duration_bounds(void **state)
{
	(void)state;
	struct config *c = load_ok(ARGS("--header-timeout", "100ms", "--body-timeout", "100ms",
	                                "--keepalive-timeout", "100ms", "--shutdown-timeout", "0"),
	                           NOARGS);
	assert_int_equal(c->header_timeout_ms, 100);
	assert_int_equal(c->body_timeout_ms, 100);
	assert_int_equal(c->keepalive_timeout_ms, 100);
	assert_int_equal(c->shutdown_timeout_ms, 0);
	config_free(c);
	c = load_ok(ARGS("--header-timeout", "10m", "--body-timeout", "1h", "--keepalive-timeout",
	                 "3600", "--shutdown-timeout", "600000ms"),
	            NOARGS);
	assert_int_equal(c->header_timeout_ms, 600000);
	assert_int_equal(c->body_timeout_ms, 3600000);
	assert_int_equal(c->keepalive_timeout_ms, 3600000);
	assert_int_equal(c->shutdown_timeout_ms, 600000);
	config_free(c);

	load_fails(ARGS("--header-timeout", "99ms"), NOARGS, CRIER_ERANGE,
	           "--header-timeout: '99ms' is out of range (100ms..10m)");
	load_fails(ARGS("--header-timeout", "600001ms"), NOARGS, CRIER_ERANGE,
	           "--header-timeout: '600001ms' is out of range (100ms..10m)");
	load_fails(ARGS("--body-timeout", "3601s"), NOARGS, CRIER_ERANGE,
	           "--body-timeout: '3601s' is out of range (100ms..1h)");
	load_fails(ARGS("--keepalive-timeout", "0"), NOARGS, CRIER_ERANGE,
	           "--keepalive-timeout: '0' is out of range (100ms..1h)");
	load_fails(ARGS("--shutdown-timeout", "11m"), NOARGS, CRIER_ERANGE,
	           "--shutdown-timeout: '11m' is out of range (0..10m)");
	load_fails(ARGS("--shutdown-timeout", "soon"), NOARGS, CRIER_EINVAL,
	           "--shutdown-timeout: 'soon' is not a duration (seconds, or a number with ms, "
	           "s, m or h)");
}

static void test_bool(void **state)
{
	(void)state;
	static const char *const yes[] = {"--access-log=true", "--access-log=yes",
	                                  "--access-log=on",   "--access-log=1",
	                                  "--access-log=TRUE", "--access-log"};
	static const char *const no[] = {"--access-log=false", "--access-log=no",
	                                 "--access-log=off",   "--access-log=0",
	                                 "--access-log=Off",   "--no-access-log"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct config *c = load_ok(ARGS(yes[i]), NOARGS);
		assert_true(c->access_log);
		config_free(c);
		c = load_ok(ARGS("--access-log", no[i]), NOARGS); /* last flag wins */
		assert_false(c->access_log);
		config_free(c);
	}
	struct config *c = load_ok(NOARGS, ARGS("CRIER_ACCESS_LOG=yes"));
	assert_true(c->access_log);
	config_free(c);

	load_fails(ARGS("--access-log=maybe"), NOARGS, CRIER_EINVAL,
	           "--access-log: 'maybe' is not one of true, false, yes, no, on, off, 1, 0");
	load_fails(ARGS("--no-access-log=1"), NOARGS, CRIER_EINVAL,
	           "--no-access-log: takes no value");
	load_fails(ARGS("--access-log", "false"), NOARGS, CRIER_EINVAL,
	           "unexpected argument 'false' (a boolean flag takes its value as "
	           "--access-log=false)");
	load_fails(ARGS("--no-workers"), NOARGS, CRIER_EINVAL,
	           "unknown flag --no-workers (see 'crier help serve')");
}

static void test_enum(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum log_level l;
	} ok[] = {{"debug", LOG_DEBUG},
	          {"info", LOG_INFO},
	          {"warn", LOG_WARN},
	          {"error", LOG_ERROR},
	          {"WARN", LOG_WARN}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = load_ok(ARGS("--log-level", ok[i].in), NOARGS);
		assert_int_equal(c->log_level, ok[i].l);
		config_free(c);
	}
	load_fails(ARGS("--log-level", "loud"), NOARGS, CRIER_EINVAL,
	           "--log-level: 'loud' is not one of debug, info, warn, error");
	load_fails(ARGS("--log-level="), NOARGS, CRIER_EINVAL,
	           "--log-level: '' is not one of debug, info, warn, error");
}

static void test_string(void **state)
{
	(void)state;
	/* An empty string means unset: CRIER_CONFIG= turns the file off. */
	struct config *c = load_ok(NOARGS, ARGS("CRIER_CONFIG="));
	assert_null(c->config_file);
	config_free(c);
}

/* ---- flag syntax ------------------------------------------------------ */

static void test_flag_syntax(void **state)
{
	(void)state;
	struct config *c =
	        load_ok(ARGS("--workers", "3", "--max-headers=9", "--workers", "4"), NOARGS);
	assert_int_equal(c->workers, 4); /* a repeated scalar flag: the last wins */
	assert_int_equal(c->max_headers, 9);
	config_free(c);

	load_fails(ARGS("--foo"), NOARGS, CRIER_EINVAL,
	           "unknown flag --foo (see 'crier help serve')");
	load_fails(ARGS("--foo=bar"), NOARGS, CRIER_EINVAL,
	           "unknown flag --foo (see 'crier help serve')");
	load_fails(ARGS("--worker", "2"), NOARGS, CRIER_EINVAL,
	           "unknown flag --worker; did you mean --workers? (see 'crier help serve')");
	load_fails(ARGS("-w", "2"), NOARGS, CRIER_EINVAL,
	           "unknown flag -w (see 'crier help serve')");
	load_fails(ARGS("--help"), NOARGS, CRIER_EINVAL,
	           "unknown flag --help (see 'crier help serve')");
	load_fails(ARGS("--workers"), NOARGS, CRIER_EINVAL, "--workers: missing value (N)");
	load_fails(ARGS("--workers", "--access-log"), NOARGS, CRIER_EINVAL,
	           "--workers: missing value (N)");
	load_fails(ARGS("chan"), NOARGS, CRIER_EINVAL,
	           "unexpected argument 'chan' (serve takes only flags; see 'crier help serve')");
	load_fails(ARGS("--workers", "2", "extra"), NOARGS, CRIER_EINVAL,
	           "unexpected argument 'extra' (serve takes only flags; see 'crier help serve')");
	load_fails(ARGS("--"), NOARGS, CRIER_EINVAL,
	           "unexpected argument '--' (serve takes only flags; see 'crier help serve')");
	load_fails(ARGS("-"), NOARGS, CRIER_EINVAL,
	           "unexpected argument '-' (serve takes only flags; see 'crier help serve')");
}

/* ---- listen and lists ------------------------------------------------- */

static void test_listen_syntax(void **state)
{
	(void)state;
	static const char *const ok[] = {
	        "0.0.0.0:0",   "127.0.0.1:65535",   "[::1]:8080",         "[::]:80",
	        "localhost:1", "[fe80::1%eth0]:80", "my-host.example:443"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = load_ok(ARGS("--listen", ok[i]), NOARGS);
		assert_int_equal(c->listen.len, 1);
		assert_string_equal(c->listen.items[0], ok[i]);
		config_free(c);
	}
	static const char *const bad[] = {"8080",   ":8080",   "[::1]",    "[zz]:80",
	                                  "host:",  "host:8x", "[::1]80",  "[]:80",
	                                  "a b:80", "[::1]:",  "h:123456", "[fe80::1%]:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char msg[200];
		snprintf(msg, sizeof(msg), "--listen: '%s' is not HOST:PORT or [IPv6]:PORT",
		         bad[i]);
		load_fails(ARGS("--listen", bad[i]), NOARGS, CRIER_EINVAL, msg);
	}
	load_fails(ARGS("--listen", "1.2.3.4:65536"), NOARGS, CRIER_ERANGE,
	           "--listen: '1.2.3.4:65536' has a port out of range (0..65535)");
	load_fails(ARGS("--listen", "::1:80"), NOARGS, CRIER_EINVAL,
	           "--listen: '::1:80' needs brackets around the IPv6 address ([::1]:8080)");
}

/* TLS options come as a set; whether the files load is the server's check. */
static void test_tls_relations(void **state)
{
	(void)state;
	struct config *c = load_ok(NOARGS, NOARGS);
	assert_null(c->tls_cert);
	assert_int_equal(c->tls_listen.len, 0);
	config_free(c);
	c = load_ok(ARGS("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen",
	                 "127.0.0.1:8443", "--tls-listen", "[::1]:8443"),
	            NOARGS);
	assert_string_equal(c->tls_cert, "c.pem");
	assert_string_equal(c->tls_key, "k.pem");
	assert_int_equal(c->tls_listen.len, 2);
	config_free(c);
	load_fails(ARGS("--tls-cert", "c.pem"), NOARGS, CRIER_EINVAL,
	           "--tls-cert: needs --tls-key (the certificate's private key)");
	load_fails(ARGS("--tls-key", "k.pem"), NOARGS, CRIER_EINVAL,
	           "--tls-key: needs --tls-cert (the certificate it belongs to)");
	load_fails(ARGS("--tls-listen", "127.0.0.1:8443"), NOARGS, CRIER_EINVAL,
	           "--tls-listen: needs --tls-cert and --tls-key");
	load_fails(ARGS("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen", "8443"),
	           NOARGS, CRIER_EINVAL, "--tls-listen: '8443' is not HOST:PORT or [IPv6]:PORT");
	/* The Redis client certificate: the same pairing; the CA stands alone. */
	c = load_ok(ARGS("--redis-url", "rediss://r.internal:6380", "--redis-tls-ca", "ca.pem",
	                 "--redis-tls-cert", "cc.pem", "--redis-tls-key", "ck.pem"),
	            NOARGS);
	assert_string_equal(c->redis_url, "rediss://r.internal:6380");
	assert_string_equal(c->redis_tls_ca, "ca.pem");
	assert_string_equal(c->redis_tls_cert, "cc.pem");
	assert_string_equal(c->redis_tls_key, "ck.pem");
	config_free(c);
	load_fails(ARGS("--redis-tls-cert", "cc.pem"), NOARGS, CRIER_EINVAL,
	           "--redis-tls-cert: needs --redis-tls-key (the certificate's private key)");
	load_fails(ARGS("--redis-tls-key", "ck.pem"), NOARGS, CRIER_EINVAL,
	           "--redis-tls-key: needs --redis-tls-cert (the certificate it belongs to)");
}

static void test_list_semantics(void **state)
{
	(void)state;
	/* Repeats add, commas split, blanks around items are trimmed. */
	struct config *c =
	        load_ok(ARGS("--listen", "127.0.0.1:1, [::1]:2", "--listen=127.0.0.1:3"), NOARGS);
	assert_int_equal(c->listen.len, 3);
	assert_string_equal(c->listen.items[0], "127.0.0.1:1");
	assert_string_equal(c->listen.items[1], "[::1]:2");
	assert_string_equal(c->listen.items[2], "127.0.0.1:3");
	assert_null(c->listen.items[3]);
	config_free(c);

	/* A flag replaces the environment's items entirely. */
	c = load_ok(ARGS("--listen", "127.0.0.1:1"), ARGS("CRIER_LISTEN=127.0.0.1:2,127.0.0.1:3"));
	assert_int_equal(c->listen.len, 1);
	assert_string_equal(c->listen.items[0], "127.0.0.1:1");
	config_free(c);

	/* The environment replaces the file's; repeated file keys add. */
	struct tmpfile t = {0};
	char env[128];
	write_file(&t, "listen = 127.0.0.1:1\nlisten = 127.0.0.1:2, 127.0.0.1:3\n");
	c = load_ok(NOARGS, ARGS(config_env(&t, env, sizeof(env))));
	assert_int_equal(c->listen.len, 3);
	assert_string_equal(c->listen.items[2], "127.0.0.1:3");
	config_free(c);
	c = load_ok(NOARGS, ARGS(config_env(&t, env, sizeof(env)), "CRIER_LISTEN=[::1]:9"));
	assert_int_equal(c->listen.len, 1);
	assert_string_equal(c->listen.items[0], "[::1]:9");
	config_free(c);
	remove_file(&t);

	load_fails(ARGS("--listen", "127.0.0.1:1,,127.0.0.1:2"), NOARGS, CRIER_EINVAL,
	           "--listen: '127.0.0.1:1,,127.0.0.1:2' has an empty item");
	load_fails(ARGS("--listen", "127.0.0.1:1,"), NOARGS, CRIER_EINVAL,
	           "--listen: '127.0.0.1:1,' has an empty item");
	/* An empty value from the highest source empties the list, and listen
	 * needs at least one address. */
	load_fails(NOARGS, ARGS("CRIER_LISTEN="), CRIER_EINVAL,
	           "CRIER_LISTEN: needs at least 1 HOST:PORT");
	load_fails(ARGS("--listen="), NOARGS, CRIER_EINVAL, "--listen: needs at least 1 HOST:PORT");
}

/* ---- environment ------------------------------------------------------ */

static void test_env(void **state)
{
	(void)state;
	struct config *c = load_ok(NOARGS, ARGS("PATH=/bin", "CRIER_MAX_HEADER_BYTES=16k",
	                                        "CRIER_HEADER_TIMEOUT=2s", "CRIER_LOG_LEVEL=debug",
	                                        "CRIER_WORKERS=2", "CRIER_MAX_URI_BYTES=512"));
	assert_int_equal(c->max_header_bytes, 16384);
	assert_int_equal(c->header_timeout_ms, 2000);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->max_uri_bytes, 512);
	assert_int_equal(c->warnings.len, 0);
	/* Only CRIER_* variables are kept for reload. */
	assert_int_equal(c->env_.len, 5);
	assert_null(c->env_.items[5]);
	config_free(c);

	load_fails(NOARGS, ARGS("CRIER_WORKERS=300"), CRIER_ERANGE,
	           "CRIER_WORKERS: '300' is out of range (1..256, or 0 for one per CPU core)");
	load_fails(NOARGS, ARGS("CRIER_LOG_LEVEL=loud"), CRIER_EINVAL,
	           "CRIER_LOG_LEVEL: 'loud' is not one of debug, info, warn, error");
}

static void test_env_unknown_warns(void **state)
{
	(void)state;
	struct config *c = load_ok(NOARGS, ARGS("CRIER_WORKER=3", "CRIER_SOURCE_DIR=/src",
	                                        "CRIER_log_level=debug", "CRIER_=1", "NOTCRIER_X=1",
	                                        "CRIER_WORKERS=2"));
	assert_int_equal(c->workers, 2);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->warnings.len, 4);
	assert_string_equal(c->warnings.items[0], "ignoring CRIER_WORKER: not a 'crier serve' "
	                                          "option (did you mean CRIER_WORKERS?)");
	assert_string_equal(c->warnings.items[1],
	                    "ignoring CRIER_SOURCE_DIR: not a 'crier serve' option");
	assert_string_equal(c->warnings.items[2],
	                    "ignoring CRIER_log_level: not a 'crier serve' option");
	assert_string_equal(c->warnings.items[3], "ignoring CRIER_: not a 'crier serve' option");
	config_free(c);
}

/* ---- config file ------------------------------------------------------ */

static void test_file_format(void **state)
{
	(void)state;
	struct config *c = load_file_ok("\xEF\xBB\xBF# crier.conf\n"
	                                "\n"
	                                "   # indented comment\n"
	                                "workers=3\n"
	                                "\tlog-level   =   warn   # trailing comment\n"
	                                "max-body-bytes = \"64KiB\"  # quoted\n"
	                                "access-log = on\r\n"
	                                "listen = \"[::1]:1 \"\n"
	                                "header-timeout = 2s\t# tab before the comment\n");
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->log_level, LOG_WARN);
	assert_int_equal(c->max_body_bytes, 65536);
	assert_true(c->access_log);
	assert_int_equal(c->listen.len, 1);
	assert_string_equal(c->listen.items[0], "[::1]:1");
	assert_int_equal(c->header_timeout_ms, 2000);
	config_free(c);

	/* A '#' not after a blank is part of the value; escapes are undone. */
	load_file_fails("log-level = info#x\n", CRIER_EINVAL,
	                "1: log-level: 'info#x' is not one of debug, info, warn, error");
	load_file_fails("listen = \"a\\\"b\\\\c #d\"\n", CRIER_EINVAL,
	                "1: listen: 'a\"b\\c #d' is not HOST:PORT or [IPv6]:PORT");
	/* An empty file is fine. */
	c = load_file_ok("");
	assert_int_equal(c->max_headers, 64);
	config_free(c);
}

static void test_file_errors(void **state)
{
	(void)state;
	load_file_fails(
	        "workers = 2\n\nworker = 3\n", CRIER_EINVAL,
	        "3: unknown key 'worker'; did you mean 'workers'? (see 'crier help serve')");
	load_file_fails("# x\nbogus = 3\n", CRIER_EINVAL,
	                "2: unknown key 'bogus' (see 'crier help serve')");
	load_file_fails("workers 3\n", CRIER_EINVAL, "1: expected 'key = value'");
	load_file_fails("= 3\n", CRIER_EINVAL, "1: expected 'key = value'");
	load_file_fails("\n\nworkers\n", CRIER_EINVAL, "3: expected 'key = value'");
	load_file_fails("log-level = \"warn\n", CRIER_EINVAL,
	                "1: log-level: missing closing quote");
	load_file_fails("log-level = \"wa\\rn\"\n", CRIER_EINVAL,
	                "1: log-level: unknown escape (only \\\" and \\\\ are allowed in quotes)");
	load_file_fails("log-level = \"warn\" x\n", CRIER_EINVAL,
	                "1: log-level: unexpected text after the closing quote");
	load_file_fails("workers = 2\nworkers = 3\n", CRIER_EINVAL,
	                "2: workers: already set on line 1");
	load_file_fails("config = /etc/crier.conf\n", CRIER_EINVAL,
	                "1: config: cannot be set in a config file");
	load_file_fails("\n\nworkers = 300\n", CRIER_ERANGE,
	                "3: workers: '300' is out of range (1..256, or 0 for one per CPU core)");
	load_file_fails("log-level =\n", CRIER_EINVAL,
	                "1: log-level: '' is not one of debug, info, warn, error");
}

static void test_file_missing(void **state)
{
	(void)state;
	load_fails(ARGS("--config", "/nonexistent/crier.conf"), NOARGS, CRIER_EIO,
	           "--config: cannot read '/nonexistent/crier.conf': No such file or directory");
	load_fails(
	        NOARGS, ARGS("CRIER_CONFIG=/nonexistent/crier.conf"), CRIER_EIO,
	        "CRIER_CONFIG: cannot read '/nonexistent/crier.conf': No such file or directory");
}

/* ---- precedence ------------------------------------------------------- */

static void test_precedence(void **state)
{
	(void)state;
	struct tmpfile t = {0};
	char flag[128], env[128];
	write_file(&t, "max-headers = 10\n");
	config_flag(&t, flag, sizeof(flag));
	config_env(&t, env, sizeof(env));

	/* file > default */
	struct config *c = load_ok(ARGS(flag), NOARGS);
	assert_int_equal(c->max_headers, 10);
	assert_string_equal(c->config_file, t.path);
	config_free(c);
	/* env > file */
	c = load_ok(ARGS(flag), ARGS("CRIER_MAX_HEADERS=20"));
	assert_int_equal(c->max_headers, 20);
	config_free(c);
	/* flag > file */
	c = load_ok(ARGS(flag, "--max-headers", "30"), NOARGS);
	assert_int_equal(c->max_headers, 30);
	config_free(c);
	/* flag > env (no file) */
	c = load_ok(ARGS("--max-headers", "30"), ARGS("CRIER_MAX_HEADERS=20"));
	assert_int_equal(c->max_headers, 30);
	config_free(c);
	/* flag > env > file, all three, order of arguments irrelevant */
	c = load_ok(ARGS("--max-headers=30", flag), ARGS("CRIER_MAX_HEADERS=20"));
	assert_int_equal(c->max_headers, 30);
	config_free(c);
	/* env > default, and CRIER_CONFIG selects the file */
	c = load_ok(NOARGS, ARGS(env));
	assert_int_equal(c->max_headers, 10);
	config_free(c);
	remove_file(&t);
}

static void test_precedence_validates_hidden(void **state)
{
	(void)state;
	load_fails(ARGS("--workers", "2"), ARGS("CRIER_WORKERS=300"), CRIER_ERANGE,
	           "CRIER_WORKERS: '300' is out of range (1..256, or 0 for one per CPU core)");
	struct tmpfile t = {0};
	char flag[128], msg[300];
	write_file(&t, "max-headers = 5000\n");
	snprintf(msg, sizeof(msg), "%s:1: max-headers: '5000' is out of range (8..1024)", t.path);
	load_fails(ARGS(config_flag(&t, flag, sizeof(flag)), "--max-headers", "30"), NOARGS,
	           CRIER_ERANGE, msg);
	remove_file(&t);
}

static void test_config_flag_beats_env(void **state)
{
	(void)state;
	struct tmpfile a = {0}, b = {0};
	char flag[128], env[128];
	write_file(&a, "max-headers = 11\n");
	write_file(&b, "max-headers = 22\n");
	struct config *c = load_ok(ARGS(config_flag(&a, flag, sizeof(flag))),
	                           ARGS(config_env(&b, env, sizeof(env))));
	assert_int_equal(c->max_headers, 11);
	assert_string_equal(c->config_file, a.path);
	config_free(c);
	c = load_ok(NOARGS, ARGS(config_env(&b, env, sizeof(env))));
	assert_int_equal(c->max_headers, 22);
	config_free(c);
	remove_file(&a);
	remove_file(&b);
}

/* ---- relations -------------------------------------------------------- */

static void test_uri_within_header(void **state)
{
	(void)state;
	struct config *c =
	        load_ok(ARGS("--max-uri-bytes", "2k", "--max-header-bytes", "2KiB"), NOARGS);
	assert_int_equal(c->max_uri_bytes, c->max_header_bytes);
	config_free(c);
	load_fails(ARGS("--max-uri-bytes", "16k"), NOARGS, CRIER_ERANGE,
	           "--max-uri-bytes: '16KiB' is larger than max-header-bytes (8KiB); the request "
	           "line is part of the head");
	/* When only the head limit was lowered, that is the one named. */
	load_fails(ARGS("--max-header-bytes", "2k"), NOARGS, CRIER_ERANGE,
	           "--max-header-bytes: '2KiB' is smaller than max-uri-bytes (4KiB); the request "
	           "line is part of the head");
	load_fails(ARGS("--max-header-bytes", "2k"), ARGS("CRIER_MAX_URI_BYTES=3000"), CRIER_ERANGE,
	           "--max-header-bytes: '2KiB' is smaller than max-uri-bytes (3000); the request "
	           "line is part of the head");
}

/* ---- reload ----------------------------------------------------------- */

struct restarts {
	char names[8][32];
	int n;
};

static void on_restart(const char *name, void *ctx)
{
	struct restarts *r = ctx;
	assert_true(r->n < 8);
	snprintf(r->names[r->n++], sizeof(r->names[0]), "%s", name);
}

static void test_reload(void **state)
{
	(void)state;
	struct tmpfile t = {0};
	char flag[128];
	write_file(&t, "listen = 127.0.0.1:1\nworkers = 2\nlog-level = info\n");
	/* argv and env are copied: later changes to the caller's arrays do not
	 * affect reload. */
	char env_buf[] = "CRIER_MAX_HEADERS=12";
	const char *env[] = {env_buf, NULL};
	struct config *old =
	        load_ok(ARGS(config_flag(&t, flag, sizeof(flag)), "--access-log"), env);
	env_buf[18] = '9';
	assert_int_equal(old->workers, 2);
	assert_int_equal(old->max_headers, 12);

	write_file(&t, "listen = 127.0.0.1:2\nworkers = 3\nlog-level = debug\n"
	               "max-connections = 5\naccess-log = no\n");
	struct restarts r = {0};
	struct config *n = NULL;
	struct config_error err = {0};
	assert_int_equal(config_reload(old, &n, &err, on_restart, &r), 0);
	assert_non_null(n);
	/* Non-live options keep their old value and are reported. */
	assert_int_equal(r.n, 2);
	assert_string_equal(r.names[0], "listen");
	assert_string_equal(r.names[1], "workers");
	assert_int_equal(n->listen.len, 1);
	assert_string_equal(n->listen.items[0], "127.0.0.1:1");
	assert_int_equal(n->workers, 2);
	/* Live ones take effect; the start-up flag and env still win. */
	assert_int_equal(n->log_level, LOG_DEBUG);
	assert_int_equal(n->max_connections, 5);
	assert_true(n->access_log);
	assert_int_equal(n->max_headers, 12);
	assert_string_equal(n->config_file, t.path);

	/* A reload of the reloaded config with nothing changed reports nothing. */
	struct config *n2 = NULL;
	r.n = 0;
	write_file(&t, "listen = 127.0.0.1:1\nworkers = 2\nlog-level = warn\n");
	assert_int_equal(config_reload(n, &n2, &err, on_restart, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(n2->log_level, LOG_WARN);
	config_free(n2);

	/* A broken file leaves the caller with an error and no new config. */
	write_file(&t, "log-level = loud\n");
	n2 = (struct config *)1;
	assert_int_equal(config_reload(n, &n2, &err, on_restart, &r), CRIER_EINVAL);
	assert_null(n2);
	char msg[300];
	snprintf(msg, sizeof(msg), "%s:1: log-level: 'loud' is not one of debug, info, warn, error",
	         t.path);
	assert_string_equal(err.msg, msg);

	/* A vanished file is an I/O error (exit 1). */
	remove_file(&t);
	assert_int_equal(config_reload(n, &n2, &err, NULL, NULL), CRIER_EIO);
	assert_int_equal(err.exit_code, 1);
	config_free(n);
	config_free(old);
}

static void test_reload_without_file(void **state)
{
	(void)state;
	struct config *old = load_ok(ARGS("--workers", "1"), NOARGS);
	struct config *n = NULL;
	struct config_error err;
	struct restarts r = {0};
	assert_int_equal(config_reload(old, &n, &err, on_restart, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(n->workers, 1);
	assert_int_equal(n->argv_.len, 2);
	config_free(n);
	config_free(old);
}

/* ---- printers --------------------------------------------------------- */

static char *capture(void (*print)(FILE *), size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	print(f);
	fclose(f);
	return buf;
}

static void test_help(void **state)
{
	(void)state;
	size_t len, len2;
	char *a = capture(config_print_help, &len);
	char *b = capture(config_print_help, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(a, b, len);
	static const char *const want[] = {
	        "  --listen HOST:PORT ",
	        "CRIER_LISTEN",
	        "  --[no-]access-log ",
	        "  --workers N ",
	        "(default 127.0.0.1:8080;",
	        "CRIER_SHUTDOWN_TIMEOUT",
	        "range 1KiB..1MiB",
	        "one of debug, info, warn, error",
	        "\nLimits:\n",
	        "\nTimeouts:\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(a, want[i]))
			fail_msg("help lacks '%s'", want[i]);
	/* Lines fit in 80 columns. */
	for (char *line = a; *line;) {
		size_t n = strcspn(line, "\n");
		assert_true(n <= 80);
		line += n + (line[n] ? 1 : 0);
	}
	free(a);
	free(b);
}

static void test_markdown(void **state)
{
	(void)state;
	size_t len, len2;
	char *a = capture(config_print_markdown, &len);
	char *b = capture(config_print_markdown, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(a, b, len);
	static const char *const want[] = {
	        "# crier serve: configuration\n",
	        "## Config file format",
	        "### listen\n",
	        "### shutdown-timeout\n",
	        "`CRIER_MAX_URI_BYTES`",
	        "- live reload: no\n",
	        ("| [`--log-level`](#log-level) | `CRIER_LOG_LEVEL` | choice | info | "
	         "debug, info, warn, error | yes |"),
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(a, want[i]))
			fail_msg("markdown lacks '%s'", want[i]);

	/* docs/config.md is this output, byte for byte (ctest sets the dir). */
	const char *dir = getenv("CRIER_SOURCE_DIR");
	if (dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/docs/config.md", dir);
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		char *doc = malloc(len + 2);
		assert_non_null(doc);
		size_t n = fread(doc, 1, len + 1, f);
		fclose(f);
		if (n != len || memcmp(doc, a, len) != 0)
			fail_msg("docs/config.md is stale: run `make docs`");
		free(doc);
	}
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_load_null_env),
	        cmocka_unit_test(test_parse_duration),
	        cmocka_unit_test(test_parse_size),
	        cmocka_unit_test(test_log_level_name),
	        cmocka_unit_test(test_uint32_bounds),
	        cmocka_unit_test(test_workers_zero_is_cores),
	        cmocka_unit_test(test_size_bounds),
	        cmocka_unit_test(test_duration_bounds),
	        cmocka_unit_test(test_bool),
	        cmocka_unit_test(test_enum),
	        cmocka_unit_test(test_string),
	        cmocka_unit_test(test_flag_syntax),
	        cmocka_unit_test(test_listen_syntax),
	        cmocka_unit_test(test_tls_relations),
	        cmocka_unit_test(test_list_semantics),
	        cmocka_unit_test(test_env),
	        cmocka_unit_test(test_env_unknown_warns),
	        cmocka_unit_test(test_file_format),
	        cmocka_unit_test(test_file_errors),
	        cmocka_unit_test(test_file_missing),
	        cmocka_unit_test(test_precedence),
	        cmocka_unit_test(test_precedence_validates_hidden),
	        cmocka_unit_test(test_config_flag_beats_env),
	        cmocka_unit_test(test_uri_within_header),
	        cmocka_unit_test(test_reload),
	        cmocka_unit_test(test_reload_without_file),
	        cmocka_unit_test(test_help),
	        cmocka_unit_test(test_markdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
