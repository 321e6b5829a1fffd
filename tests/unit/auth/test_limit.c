/* Unit tests for auth/limit.c: token-bucket arithmetic on a clock the test
 * drives, the keyed table's caps, rates, reclaiming and reload, the address
 * keys, SipHash against the paper's vectors, and the table under threads. */
#include "auth/limit.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

static struct limit_table *table_new(const struct limit_config *cfg)
{
	struct limit_table *t = NULL;
	assert_int_equal(limit_table_new(cfg, &t), 0);
	assert_non_null(t);
	return t;
}

static struct limit_stats stats_of(const struct limit_table *t)
{
	struct limit_stats st;
	limit_table_stats(t, &st);
	return st;
}

/* SipHash-2-4 */

static void test_siphash_vectors(void **state)
{
	(void)state;
	/* The paper's key 00..0f over messages 00, 01, ... of growing length
	 * (Aumasson and Bernstein, appendix A, and the reference vectors). */
	uint8_t key[16], msg[15];
	for (uint8_t i = 0; i < 16; i++)
		key[i] = i;
	for (uint8_t i = 0; i < 15; i++)
		msg[i] = i;
	assert_true(limit_siphash(key, msg, 0) == 0x726fdb47dd0e0e31u);
	assert_true(limit_siphash(key, NULL, 0) == 0x726fdb47dd0e0e31u);
	assert_true(limit_siphash(key, msg, 1) == 0x74f839c593dc67fdu);
	assert_true(limit_siphash(key, msg, 8) == 0x93f5f5799a932462u);
	assert_true(limit_siphash(key, msg, 15) == 0xa129ca6149be45e5u);
	key[0] ^= 1; /* the key matters */
	assert_true(limit_siphash(key, msg, 15) != 0xa129ca6149be45e5u);
}

/* Token buckets */

static void test_bucket_burst(void **state)
{
	(void)state;
	struct limit_rate r = {.per_s = 10, .burst = 5};
	struct limit_bucket b = {0}; /* zeroed: full */
	uint64_t retry = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(limit_bucket_take(&b, &r, 1000, &retry), 0);
	assert_int_equal(limit_bucket_take(&b, &r, 1000, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 100); /* one token at 10/s */
	/* After half a second, exactly five more: refill never exceeds burst. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(limit_bucket_take(&b, &r, 1500, NULL), 0);
	assert_int_equal(limit_bucket_take(&b, &r, 1500, NULL), CRIER_ERATE_LIMITED);
	/* A long rest refills to burst, not beyond. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(limit_bucket_take(&b, &r, 60000, NULL), 0);
	assert_int_equal(limit_bucket_take(&b, &r, 60000, NULL), CRIER_ERATE_LIMITED);
}

static void test_bucket_burst_default(void **state)
{
	(void)state;
	struct limit_rate r = {.per_s = 3, .burst = 0}; /* burst: one second's worth */
	struct limit_bucket b = {0};
	for (int i = 0; i < 3; i++)
		assert_int_equal(limit_bucket_take(&b, &r, 0, NULL), 0);
	assert_int_equal(limit_bucket_take(&b, &r, 0, NULL), CRIER_ERATE_LIMITED);
}

static void test_bucket_steady_rate(void **state)
{
	(void)state;
	struct limit_rate r = {.per_s = 10, .burst = 1};
	struct limit_bucket b = {0};
	uint64_t retry = 0;
	/* One every 100 ms is sustainable forever. */
	for (uint64_t now = 5000; now < 15000; now += 100)
		assert_int_equal(limit_bucket_take(&b, &r, now, &retry), 0);
	/* Last take at 14900: half a token back at 14950. */
	assert_int_equal(limit_bucket_take(&b, &r, 14950, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 50);
	assert_int_equal(limit_bucket_take(&b, &r, 14999, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(limit_bucket_take(&b, &r, 15000, &retry), 0);
}

static void test_bucket_retry_rounds_up(void **state)
{
	(void)state;
	uint64_t retry = 0;
	/* 3/s: a token every 333.3 ms, so 334 ms is the first whole ms that has one. */
	struct limit_rate r3 = {.per_s = 3, .burst = 1};
	struct limit_bucket b = {0};
	assert_int_equal(limit_bucket_take(&b, &r3, 0, &retry), 0);
	assert_int_equal(limit_bucket_take(&b, &r3, 0, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 334);
	assert_int_equal(limit_bucket_take(&b, &r3, 333, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(limit_bucket_take(&b, &r3, 334, &retry), 0);

	/* 7/s: 142.86 ms, rounded up. */
	struct limit_rate r7 = {.per_s = 7, .burst = 1};
	b = (struct limit_bucket){0};
	assert_int_equal(limit_bucket_take(&b, &r7, 10, &retry), 0);
	assert_int_equal(limit_bucket_take(&b, &r7, 10, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 143);

	/* Faster than one per ms: a refusal still says at least 1 ms. */
	struct limit_rate fast = {.per_s = 3000, .burst = 1};
	b = (struct limit_bucket){0};
	assert_int_equal(limit_bucket_take(&b, &fast, 7, &retry), 0);
	assert_int_equal(limit_bucket_take(&b, &fast, 7, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(limit_bucket_take(&b, &fast, 8, &retry), 0);

	/* 1/s: a whole second. */
	struct limit_rate slow = {.per_s = 1, .burst = 1};
	b = (struct limit_bucket){0};
	assert_int_equal(limit_bucket_take(&b, &slow, 0, &retry), 0);
	assert_int_equal(limit_bucket_take(&b, &slow, 1, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 999);
}

static void test_bucket_clock_still_and_backwards(void **state)
{
	(void)state;
	struct limit_rate r = {.per_s = 2, .burst = 1};
	struct limit_bucket b = {0};
	uint64_t retry = 0;
	assert_int_equal(limit_bucket_take(&b, &r, 1000, &retry), 0);
	/* A refusal takes nothing: asking again at the same time gives the same answer. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(limit_bucket_take(&b, &r, 1000, &retry), CRIER_ERATE_LIMITED);
		assert_int_equal(retry, 500);
	}
	/* A clock behind the bucket's (another thread's reading) adds nothing. */
	assert_int_equal(limit_bucket_take(&b, &r, 400, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 500);
	assert_int_equal(b.last_ms, 1000);
	assert_int_equal(limit_bucket_take(&b, &r, 1250, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 250);
	assert_int_equal(limit_bucket_take(&b, &r, 1500, &retry), 0);
}

static void test_bucket_clock_jump(void **state)
{
	(void)state;
	struct limit_rate r = {.per_s = UINT32_MAX, .burst = UINT32_MAX};
	struct limit_bucket b = {0};
	assert_int_equal(limit_bucket_take(&b, &r, 0, NULL), 0);
	/* The largest rate and a jump to the end of time: no overflow, full again. */
	assert_int_equal(limit_bucket_take(&b, &r, UINT64_MAX, NULL), 0);
	assert_int_equal(b.deficit_milli, 1000);

	struct limit_rate r2 = {.per_s = 1, .burst = 3};
	b = (struct limit_bucket){0};
	for (int i = 0; i < 3; i++)
		assert_int_equal(limit_bucket_take(&b, &r2, 5, NULL), 0);
	assert_int_equal(limit_bucket_take(&b, &r2, 5, NULL), CRIER_ERATE_LIMITED);
	/* Days later: the burst, no more. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(limit_bucket_take(&b, &r2, UINT64_MAX - 1, NULL), 0);
	assert_int_equal(limit_bucket_take(&b, &r2, UINT64_MAX - 1, NULL), CRIER_ERATE_LIMITED);
}

static void test_bucket_rate_off(void **state)
{
	(void)state;
	struct limit_rate off = {.per_s = 0, .burst = 5};
	struct limit_bucket b = {0};
	uint64_t retry = 77;
	for (int i = 0; i < 100000; i++)
		assert_int_equal(limit_bucket_take(&b, &off, 0, &retry), 0);
	assert_int_equal(b.deficit_milli, 0);
	assert_int_equal(retry, 77); /* written only on a refusal */
}

static void test_retry_after_s(void **state)
{
	(void)state;
	assert_int_equal(limit_retry_after_s(0), 1);
	assert_int_equal(limit_retry_after_s(1), 1);
	assert_int_equal(limit_retry_after_s(999), 1);
	assert_int_equal(limit_retry_after_s(1000), 1);
	assert_int_equal(limit_retry_after_s(1001), 2);
	assert_int_equal(limit_retry_after_s(334), 1);
	assert_int_equal(limit_retry_after_s(60000), 60);
}

/* The table */

static void test_conn_cap_balance(void **state)
{
	(void)state;
	struct limit_table *t = table_new(&(struct limit_config){.max_conns = 3});
	const char *k = "203.0.113.9";
	size_t n = strlen(k);
	for (int i = 0; i < 3; i++)
		assert_int_equal(limit_conn_open(t, k, n, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, k, n, 0, NULL), CRIER_EIP_LIMIT);
	limit_conn_close(t, k, n);
	assert_int_equal(limit_conn_open(t, k, n, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, k, n, 0, NULL), CRIER_EIP_LIMIT);
	for (int i = 0; i < 3; i++)
		limit_conn_close(t, k, n);
	/* Extra closes never take the count below zero (so the cap stays 3). */
	limit_conn_close(t, k, n);
	limit_conn_close(t, k, n);
	limit_conn_close(t, "never-seen", 10);
	for (int i = 0; i < 3; i++)
		assert_int_equal(limit_conn_open(t, k, n, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, k, n, 0, NULL), CRIER_EIP_LIMIT);
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.conn_cap_refused, 3);
	assert_int_equal(st.conn_rate_refused, 0);
	assert_int_equal(st.entries, 1);
	limit_table_free(t);
}

static void test_conn_rate_then_cap(void **state)
{
	(void)state;
	struct limit_table *t =
	        table_new(&(struct limit_config){.max_conns = 1, .conn = {.per_s = 2, .burst = 2}});
	uint64_t retry = 0;
	assert_int_equal(limit_conn_open(t, "k", 1, 0, &retry), 0);
	/* At the cap, the attempt still spends a rate token... */
	assert_int_equal(limit_conn_open(t, "k", 1, 0, &retry), CRIER_EIP_LIMIT);
	/* ...so the third attempt is refused by the rate, with a retry time. */
	assert_int_equal(limit_conn_open(t, "k", 1, 0, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 500);
	limit_conn_close(t, "k", 1);
	assert_int_equal(limit_conn_open(t, "k", 1, 499, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(limit_conn_open(t, "k", 1, 500, &retry), 0);
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.conn_cap_refused, 1);
	assert_int_equal(st.conn_rate_refused, 2);
	assert_int_equal(st.table_full_refused, 0);
	limit_table_free(t);
}

static void test_distinct_keys_independent(void **state)
{
	(void)state;
	struct limit_table *t = table_new(&(struct limit_config){
	        .max_conns = 1, .conn = {.per_s = 1, .burst = 1}, .publish = {.per_s = 1}});
	/* Prefixes, same-length neighbours and the empty key are all different keys. */
	const char *keys[] = {"", "a", "ab", "abc", "abd", "b"};
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(limit_conn_open(t, keys[i], strlen(keys[i]), 0, NULL), 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(limit_conn_open(t, keys[i], strlen(keys[i]), 5000, NULL),
		                 CRIER_EIP_LIMIT);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(limit_publish(t, keys[i], strlen(keys[i]), 0, NULL), 0);
	assert_int_equal(stats_of(t).entries, 6);
	/* Enough keys to grow every stripe's slots a few times. */
	char key[32];
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "sub-%d", i);
		assert_int_equal(limit_conn_open(t, key, (size_t)n, 0, NULL), 0);
	}
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "sub-%d", i);
		assert_int_equal(limit_conn_open(t, key, (size_t)n, 9000, NULL), CRIER_EIP_LIMIT);
		limit_conn_close(t, key, (size_t)n);
	}
	assert_int_equal(stats_of(t).entries, 5006);
	assert_int_equal(limit_table_sweep(t, 10000), 5000);
	assert_int_equal(stats_of(t).entries, 6);
	limit_table_free(t);
}

static void test_key_lengths(void **state)
{
	(void)state;
	struct limit_table *t =
	        table_new(&(struct limit_config){.max_conns = 1, .publish = {.per_s = 1}});
	uint8_t big[LIMIT_KEY_MAX + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(limit_conn_open(t, big, LIMIT_KEY_MAX, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, big, LIMIT_KEY_MAX, 0, NULL), CRIER_EIP_LIMIT);
	assert_int_equal(limit_conn_open(t, big, LIMIT_KEY_MAX + 1, 0, NULL), CRIER_EINVAL);
	assert_int_equal(limit_publish(t, big, LIMIT_KEY_MAX + 1, 0, NULL), CRIER_EINVAL);
	limit_conn_close(t, big, LIMIT_KEY_MAX + 1); /* a no-op */
	assert_int_equal(limit_conn_open(t, big, LIMIT_KEY_MAX, 0, NULL), CRIER_EIP_LIMIT);
	assert_int_equal(limit_conn_open(t, NULL, 0, 0, NULL), 0);
	assert_int_equal(stats_of(t).entries, 2);
	limit_table_free(t);
}

static void test_limits_off(void **state)
{
	(void)state;
	struct limit_table *t = table_new(&(struct limit_config){.max_entries = 1});
	for (int i = 0; i < 1000; i++) {
		uint32_t k = (uint32_t)i;
		assert_int_equal(limit_conn_open(t, &k, sizeof(k), 0, NULL), 0);
		assert_int_equal(limit_publish(t, &k, sizeof(k), 0, NULL), 0);
	}
	/* Nothing entered the table: no limit, no state. */
	assert_int_equal(stats_of(t).entries, 0);
	for (int i = 0; i < 1000; i++) {
		uint32_t k = (uint32_t)i;
		limit_conn_close(t, &k, sizeof(k));
	}
	limit_table_free(t);
	limit_table_free(NULL);
}

static struct sockaddr_storage addr4(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(4242);
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage addr6(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(443);
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

static void test_addr_keys(void **state)
{
	(void)state;
	uint8_t k4[LIMIT_KEY_ADDR_MAX], km[LIMIT_KEY_ADDR_MAX], k6[LIMIT_KEY_ADDR_MAX];
	struct sockaddr_storage a4 = addr4("192.0.2.7");
	struct sockaddr_storage am = addr6("::ffff:192.0.2.7");
	struct sockaddr_storage a6 = addr6("2001:db8::7");
	struct sockaddr_storage compat = addr6("::192.0.2.7"); /* deprecated, not mapped */
	assert_int_equal(limit_key_from_addr(&a4, k4), 4);
	assert_memory_equal(k4, "\xc0\x00\x02\x07", 4);
	assert_int_equal(limit_key_from_addr(&am, km), 4);
	assert_memory_equal(km, k4, 4);
	assert_int_equal(limit_key_from_addr(&a6, k6), 16);
	assert_memory_equal(k6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
	assert_int_equal(limit_key_from_addr(&compat, k6), 16);

	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	assert_int_equal(limit_key_from_addr(&un, k6), 0);

	/* One client over IPv4 and over a dual-stack socket is one key. */
	struct limit_table *t = table_new(&(struct limit_config){.max_conns = 1});
	assert_int_equal(limit_conn_open(t, k4, 4, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, km, 4, 0, NULL), CRIER_EIP_LIMIT);
	limit_conn_close(t, km, 4);
	assert_int_equal(limit_conn_open(t, km, 4, 0, NULL), 0);
	limit_table_free(t);
}

static void test_table_full_then_reclaim(void **state)
{
	(void)state;
	struct limit_table *t = table_new(&(struct limit_config){
	        .max_conns = 10, .conn = {.per_s = 1, .burst = 1}, .max_entries = 2});
	uint64_t retry = 0;
	assert_int_equal(limit_conn_open(t, "A", 1, 0, &retry), 0);
	assert_int_equal(limit_conn_open(t, "B", 1, 0, &retry), 0);
	/* Full of live entries: a new key is refused, nobody is evicted. */
	assert_int_equal(limit_conn_open(t, "C", 1, 0, &retry), CRIER_EIP_LIMIT);
	assert_int_equal(limit_publish(t, "C", 1, 0, &retry), 0); /* publish limit off */
	limit_conn_close(t, "A", 1);
	/* A has no connection but its bucket is still refilling until 1000. */
	assert_int_equal(limit_conn_open(t, "C", 1, 999, &retry), CRIER_EIP_LIMIT);
	assert_int_equal(limit_table_sweep(t, 999), 0);
	assert_int_equal(stats_of(t).table_full_refused, 2);
	assert_int_equal(stats_of(t).entries, 2);
	/* At 1000 A is dead: the insert reclaims it without waiting for a sweep. */
	assert_int_equal(limit_conn_open(t, "C", 1, 1000, &retry), 0);
	assert_int_equal(stats_of(t).entries, 2);
	/* B still holds its connection: its cap state survived all of this. */
	assert_int_equal(limit_conn_open(t, "B", 1, 1000, &retry), 0);
	assert_int_equal(limit_conn_open(t, "B", 1, 1000, &retry), CRIER_ERATE_LIMITED);
	/* A comes back fresh... but the table is full again. */
	assert_int_equal(limit_conn_open(t, "A", 1, 1000, &retry), CRIER_EIP_LIMIT);
	limit_conn_close(t, "B", 1);
	limit_conn_close(t, "B", 1);
	limit_conn_close(t, "C", 1);
	assert_int_equal(limit_table_sweep(t, 1999), 0);
	assert_int_equal(limit_table_sweep(t, 2000), 2);
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.table_full_refused, 3);
	assert_int_equal(st.conn_rate_refused, 1);
	assert_int_equal(st.conn_cap_refused, 0);
	limit_table_free(t);
}

static void test_publish(void **state)
{
	(void)state;
	struct limit_table *t = table_new(
	        &(struct limit_config){.publish = {.per_s = 2, .burst = 2}, .max_entries = 2});
	uint64_t retry = 0;
	assert_int_equal(limit_publish(t, "alice", 5, 100, &retry), 0);
	assert_int_equal(limit_publish(t, "alice", 5, 100, &retry), 0);
	assert_int_equal(limit_publish(t, "alice", 5, 100, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 500);
	assert_int_equal(limit_retry_after_s(retry), 1);
	assert_int_equal(limit_publish(t, "bob", 3, 100, &retry), 0);
	/* Table full: a new publisher is refused, not waved through. */
	retry = 0;
	assert_int_equal(limit_publish(t, "carol", 5, 100, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1000);
	/* Connections are not limited here: nothing counted, no entry needed. */
	assert_int_equal(limit_conn_open(t, "carol", 5, 100, &retry), 0);
	assert_int_equal(limit_publish(t, "alice", 5, 600, &retry), 0);
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.publish_refused, 1);
	assert_int_equal(st.table_full_refused, 1);
	assert_int_equal(st.entries, 2);
	/* bob is full again at 600, alice at 1600. */
	assert_int_equal(limit_table_sweep(t, 1599), 1);
	assert_int_equal(limit_table_sweep(t, 1600), 1);
	assert_int_equal(stats_of(t).entries, 0);
	limit_table_free(t);
}

static void test_reload(void **state)
{
	(void)state;
	struct limit_config cfg = {.max_conns = 2, .publish = {.per_s = 1, .burst = 1}};
	struct limit_table *t = table_new(&cfg);
	uint64_t retry = 0;
	assert_int_equal(limit_conn_open(t, "k", 1, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, "k", 1, 0, NULL), 0);
	assert_int_equal(limit_publish(t, "k", 1, 0, &retry), 0);
	assert_int_equal(limit_publish(t, "k", 1, 0, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 1000);

	/* Tighter cap: nobody is closed, new opens wait until the count is under it. */
	cfg.max_conns = 1;
	/* Faster publish rate: the same deficit now refills in 100 ms. */
	cfg.publish = (struct limit_rate){.per_s = 10, .burst = 1};
	limit_reload(t, &cfg);
	assert_int_equal(limit_conn_open(t, "k", 1, 0, NULL), CRIER_EIP_LIMIT);
	limit_conn_close(t, "k", 1);
	assert_int_equal(limit_conn_open(t, "k", 1, 0, NULL), CRIER_EIP_LIMIT);
	limit_conn_close(t, "k", 1);
	assert_int_equal(limit_conn_open(t, "k", 1, 0, NULL), 0);
	assert_int_equal(limit_publish(t, "k", 1, 0, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 100);
	assert_int_equal(limit_publish(t, "k", 1, 100, &retry), 0);

	/* Burst raised: the bucket was one token short, so now holds four. */
	cfg.publish = (struct limit_rate){.per_s = 10, .burst = 5};
	limit_reload(t, &cfg);
	for (int i = 0; i < 4; i++)
		assert_int_equal(limit_publish(t, "k", 1, 100, &retry), 0);
	assert_int_equal(limit_publish(t, "k", 1, 100, &retry), CRIER_ERATE_LIMITED);
	/* Burst lowered below the deficit: empty, not in debt. */
	cfg.publish = (struct limit_rate){.per_s = 10, .burst = 2};
	limit_reload(t, &cfg);
	assert_int_equal(limit_publish(t, "k", 1, 100, &retry), CRIER_ERATE_LIMITED);
	assert_int_equal(retry, 100);
	assert_int_equal(limit_publish(t, "k", 1, 200, &retry), 0);

	/* Publish limit off: always allowed. */
	cfg.publish = (struct limit_rate){0};
	limit_reload(t, &cfg);
	for (int i = 0; i < 100; i++)
		assert_int_equal(limit_publish(t, "k", 1, 200, &retry), 0);

	/* Lower entry cap: kept entries stay, new keys wait for reclaiming. */
	cfg.max_entries = 1;
	limit_reload(t, &cfg);
	assert_int_equal(limit_conn_open(t, "other", 5, 200, NULL), CRIER_EIP_LIMIT);
	limit_conn_close(t, "k", 1);
	/* With the publish rate off, "k" (no connection, conn rate off) is dead now. */
	assert_int_equal(limit_conn_open(t, "other", 5, 200, NULL), 0);
	assert_int_equal(stats_of(t).entries, 1);
	limit_table_free(t);
}

static void test_stats(void **state)
{
	(void)state;
	struct limit_table *t =
	        table_new(&(struct limit_config){.max_conns = 1,
	                                         .conn = {.per_s = 1, .burst = 3},
	                                         .publish = {.per_s = 1, .burst = 1},
	                                         .max_entries = 3});
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.conn_rate_refused + st.conn_cap_refused + st.table_full_refused +
	                         st.publish_refused + st.entries,
	                 0);
	assert_int_equal(limit_conn_open(t, "a", 1, 0, NULL), 0);
	assert_int_equal(limit_conn_open(t, "a", 1, 0, NULL), CRIER_EIP_LIMIT);
	assert_int_equal(limit_conn_open(t, "a", 1, 0, NULL), CRIER_EIP_LIMIT);
	assert_int_equal(limit_conn_open(t, "a", 1, 0, NULL), CRIER_ERATE_LIMITED);
	assert_int_equal(limit_publish(t, "a", 1, 0, NULL), 0);
	assert_int_equal(limit_publish(t, "a", 1, 0, NULL), CRIER_ERATE_LIMITED);
	assert_int_equal(limit_publish(t, "b", 1, 0, NULL), 0);
	assert_int_equal(limit_publish(t, "c", 1, 0, NULL), 0);
	assert_int_equal(limit_publish(t, "d", 1, 0, NULL), CRIER_ERATE_LIMITED);
	assert_int_equal(limit_conn_open(t, "d", 1, 0, NULL), CRIER_EIP_LIMIT);
	st = stats_of(t);
	assert_int_equal(st.conn_rate_refused, 1);
	assert_int_equal(st.conn_cap_refused, 2);
	assert_int_equal(st.publish_refused, 1);
	assert_int_equal(st.table_full_refused, 2);
	assert_int_equal(st.entries, 3);
	limit_table_free(t);
}

/* Threads */

#define THREADS    4
#define ITERATIONS 100000

struct worker {
	struct limit_table *t;
	uint8_t id;
	uint64_t shared_ok;      /* opens of the shared key admitted */
	uint64_t shared_refused; /* ... refused by its rate or cap */
	uint64_t table_full;     /* opens refused for a full table */
	uint64_t unexpected;     /* any other answer */
};

static atomic_bool workers_done;

/* Each iteration opens the thread's own address key and the shared key,
 * then closes whatever was admitted. Own keys have room enough never to be
 * refused; the shared key is refused often, by rate and by cap. */
static void *open_close_pairs(void *arg)
{
	struct worker *w = arg;
	uint8_t own[4] = {198, 51, 100, w->id};
	for (uint32_t i = 0; i < ITERATIONS; i++) {
		uint64_t now_ms = i / 16, retry = 0;
		int rc_own = limit_conn_open(w->t, own, sizeof(own), now_ms, &retry);
		int rc_shared = limit_conn_open(w->t, "shared", 6, now_ms, &retry);
		if (rc_own != 0)
			w->unexpected++;
		if (rc_shared == 0)
			w->shared_ok++;
		else if (rc_shared == CRIER_EIP_LIMIT || rc_shared == CRIER_ERATE_LIMITED)
			w->shared_refused++;
		else
			w->unexpected++;
		if (rc_own == 0)
			limit_conn_close(w->t, own, sizeof(own));
		if (rc_shared == 0)
			limit_conn_close(w->t, "shared", 6);
		if (i % 64 == 0 && limit_publish(w->t, own, sizeof(own), now_ms, &retry) != 0)
			w->unexpected++;
	}
	return NULL;
}

/* Sweeps as the server's tick would, but with a clock far ahead of the
 * workers', so it reclaims every entry the moment its count is 0: the
 * harshest interleaving of frees with lookups and inserts. */
static void *sweeper(void *arg)
{
	struct limit_table *t = arg;
	while (!atomic_load(&workers_done))
		limit_table_sweep(t, UINT64_MAX / 2);
	return NULL;
}

static void run_workers(struct limit_table *t, struct worker *w, void *(*fn)(void *))
{
	pthread_t th[THREADS], sw;
	atomic_store(&workers_done, false);
	assert_int_equal(pthread_create(&sw, NULL, sweeper, t), 0);
	for (uint8_t i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.t = t, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&workers_done, true);
	pthread_join(sw, NULL);
}

/* Every count is back to 0: max_conns opens succeed again, the next is
 * refused, and once closed the entry is reclaimable. */
static void assert_count_zero(struct limit_table *t, const void *key, size_t len,
                              uint32_t max_conns, uint64_t now_ms)
{
	for (uint32_t i = 0; i < max_conns; i++)
		assert_int_equal(limit_conn_open(t, key, len, now_ms, NULL), 0);
	assert_int_equal(limit_conn_open(t, key, len, now_ms, NULL), CRIER_EIP_LIMIT);
	for (uint32_t i = 0; i < max_conns; i++)
		limit_conn_close(t, key, len);
}

static void test_threads_shared_and_distinct(void **state)
{
	(void)state;
	struct limit_table *t =
	        table_new(&(struct limit_config){.max_conns = 2,
	                                         .conn = {.per_s = 20000, .burst = 1000},
	                                         .publish = {.per_s = 1000, .burst = 10},
	                                         .max_entries = LIMIT_DEFAULT_MAX_ENTRIES});
	struct worker w[THREADS];
	run_workers(t, w, open_close_pairs);
	uint64_t refused = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].unexpected, 0);
		assert_int_equal(w[i].shared_ok + w[i].shared_refused, ITERATIONS);
		refused += w[i].shared_refused;
	}
	/* 4 threads want the shared key 16 times a ms each; it refills 20 a ms. */
	assert_true(refused > 0);
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.conn_rate_refused + st.conn_cap_refused, refused);
	assert_int_equal(st.table_full_refused, 0);
	assert_int_equal(st.publish_refused, 0);

	uint64_t later_ms = 1000000;
	assert_count_zero(t, "shared", 6, 2, later_ms);
	for (uint8_t i = 0; i < THREADS; i++) {
		uint8_t own[4] = {198, 51, 100, i};
		assert_count_zero(t, own, sizeof(own), 2, later_ms);
	}
	/* All five keys are dead once their buckets refill. */
	limit_table_sweep(t, later_ms + 1000);
	assert_int_equal(stats_of(t).entries, 0);
	limit_table_free(t);
}

/* Each thread cycles through 8 keys of its own against a table that holds
 * 8: inserts race to reclaim each other's dead entries across stripes. */
static void *churn_full_table(void *arg)
{
	struct worker *w = arg;
	for (uint32_t i = 0; i < ITERATIONS; i++) {
		uint8_t key[5] = {'c', w->id, (uint8_t)(i % 8), 0, 0};
		int rc = limit_conn_open(w->t, key, sizeof(key), i, NULL);
		if (rc == 0)
			limit_conn_close(w->t, key, sizeof(key));
		else if (rc == CRIER_EIP_LIMIT)
			w->table_full++;
		else
			w->unexpected++;
		struct limit_stats st;
		limit_table_stats(w->t, &st);
		if (st.entries > 8)
			w->unexpected++;
	}
	return NULL;
}

static void test_threads_full_table(void **state)
{
	(void)state;
	struct limit_table *t = table_new(
	        &(struct limit_config){.conn = {.per_s = 1000, .burst = 1}, .max_entries = 8});
	struct worker w[THREADS];
	run_workers(t, w, churn_full_table);
	uint64_t full = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].unexpected, 0);
		full += w[i].table_full;
	}
	struct limit_stats st = stats_of(t);
	assert_int_equal(st.table_full_refused, full);
	assert_int_equal(st.conn_rate_refused + st.conn_cap_refused, 0);
	assert_true(st.entries <= 8);
	limit_table_sweep(t, ITERATIONS + 1);
	assert_int_equal(stats_of(t).entries, 0);
	limit_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_siphash_vectors),
	        cmocka_unit_test(test_bucket_burst),
	        cmocka_unit_test(test_bucket_burst_default),
	        cmocka_unit_test(test_bucket_steady_rate),
	        cmocka_unit_test(test_bucket_retry_rounds_up),
	        cmocka_unit_test(test_bucket_clock_still_and_backwards),
	        cmocka_unit_test(test_bucket_clock_jump),
	        cmocka_unit_test(test_bucket_rate_off),
	        cmocka_unit_test(test_retry_after_s),
	        cmocka_unit_test(test_conn_cap_balance),
	        cmocka_unit_test(test_conn_rate_then_cap),
	        cmocka_unit_test(test_distinct_keys_independent),
	        cmocka_unit_test(test_key_lengths),
	        cmocka_unit_test(test_limits_off),
	        cmocka_unit_test(test_addr_keys),
	        cmocka_unit_test(test_table_full_then_reclaim),
	        cmocka_unit_test(test_publish),
	        cmocka_unit_test(test_reload),
	        cmocka_unit_test(test_stats),
	        cmocka_unit_test(test_threads_shared_and_distinct),
	        cmocka_unit_test(test_threads_full_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
