/*
 * test_bench_hist.c - unit tests for the log-linear latency histogram of
 * `crier bench`.
 *
 * The bucket arithmetic is checked against its definition over sweeps
 * that cross every power of two: each value lies inside its bucket, the
 * index never decreases, and the reported midpoint is within 1/128 of the
 * value. Percentiles are checked on distributions whose answers are known
 * in closed form (uniform, two spikes, a constant), merging two halves
 * must equal recording everything in one, and the extremes (0,
 * UINT64_MAX, an empty histogram) must neither overflow nor lie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench_hist.h"

static struct bench_hist *hist_new(void)
{
	struct bench_hist *h = malloc(sizeof *h);
	assert_non_null(h);
	bench_hist_init(h);
	return h;
}

/* |a - b| <= b / 128, the bound the midpoint promises. */
static void assert_close(uint64_t got, uint64_t want)
{
	uint64_t d = got > want ? got - want : want - got;
	if (d > want / 128) {
		print_error("got %llu, want %llu (+- %llu)\n", (unsigned long long)got,
		            (unsigned long long)want, (unsigned long long)(want / 128));
		fail();
	}
}

static void test_small_values_exact(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (uint64_t v = 0; v < 128; v++) {
		assert_int_equal(bench_hist_index(v), v);
		assert_int_equal(bench_hist_bucket_mid((unsigned)v), v);
		bench_hist_record(h, v);
	}
	assert_int_equal(h->count, 128);
	assert_int_equal(h->min, 0);
	assert_int_equal(h->max, 127);
	/* rank q * 128 of 0..127 is the value itself */
	assert_int_equal(bench_hist_quantile(h, 0.5), 64);
	assert_int_equal(bench_hist_quantile(h, 0.25), 32);
	assert_int_equal(bench_hist_quantile(h, 0.99), 126);
	assert_true(bench_hist_mean(h) > 63.49 && bench_hist_mean(h) < 63.51);
	free(h);
}

/* Every value lies in its bucket, indexes never decrease, and the
 * midpoint is within 1/128, across every octave. */
static void test_bucket_error_bound(void **state)
{
	(void)state;
	unsigned prev = 0;
	for (unsigned e = 0; e < 64; e++) {
		uint64_t base = (uint64_t)1 << e;
		uint64_t probes[] = {base, base + 1, base + base / 3, base + base / 2,
		                     base + (base - 1)};
		for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
			uint64_t v = probes[i];
			unsigned idx = bench_hist_index(v);
			assert_true(idx < BENCH_HIST_LEN);
			assert_true(bench_hist_bucket_low(idx) <= v);
			if (idx + 1 < BENCH_HIST_LEN)
				assert_true(v < bench_hist_bucket_low(idx + 1));
			assert_close(bench_hist_bucket_mid(idx), v);
		}
		assert_true(bench_hist_index(base) >= prev);
		prev = bench_hist_index(base);
	}
	/* A dense sweep where buckets are narrow enough to enumerate. */
	prev = 0;
	for (uint64_t v = 0; v < 1u << 20; v += 7) {
		unsigned idx = bench_hist_index(v);
		assert_true(idx >= prev);
		prev = idx;
		assert_close(bench_hist_bucket_mid(idx), v);
	}
	/* Buckets tile the range: each begins where the previous ended. */
	for (unsigned i = 1; i < BENCH_HIST_LEN; i++) {
		assert_true(bench_hist_bucket_low(i) > bench_hist_bucket_low(i - 1));
		assert_int_equal(bench_hist_index(bench_hist_bucket_low(i)), i);
		assert_int_equal(bench_hist_index(bench_hist_bucket_low(i) - 1), i - 1);
	}
}

/* Uniform 1..1,000,000 (every 10th value): quantile q is about q * 1e6. */
static void test_uniform_percentiles(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (uint64_t v = 10; v <= 1000000; v += 10)
		bench_hist_record(h, v);
	assert_int_equal(h->count, 100000);
	assert_close(bench_hist_quantile(h, 0.5), 500000);
	assert_close(bench_hist_quantile(h, 0.9), 900000);
	assert_close(bench_hist_quantile(h, 0.99), 990000);
	assert_close(bench_hist_quantile(h, 0.999), 999000);
	assert_int_equal(bench_hist_quantile(h, 1.0), 1000000);
	assert_int_equal(bench_hist_quantile(h, 0.0), 10);
	assert_true(bench_hist_mean(h) > 500004 && bench_hist_mean(h) < 500006);
	/* never above the true maximum, even in a wide top bucket */
	assert_true(bench_hist_quantile(h, 0.99999) <= 1000000);
	free(h);
}

/* 90 % at 100 us, 10 % at 50 ms: p50 and p89 are the first spike, p90 and
 * up the second. */
static void test_bimodal_percentiles(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (int i = 0; i < 9000; i++)
		bench_hist_record(h, 100000);
	for (int i = 0; i < 1000; i++)
		bench_hist_record(h, 50000000);
	assert_close(bench_hist_quantile(h, 0.5), 100000);
	assert_close(bench_hist_quantile(h, 0.89), 100000);
	assert_close(bench_hist_quantile(h, 0.9), 50000000);
	assert_close(bench_hist_quantile(h, 0.99), 50000000);
	/* a constant is answered exactly: clamped to [min, max] */
	struct bench_hist *c = hist_new();
	for (int i = 0; i < 1000; i++)
		bench_hist_record(c, 123456789);
	assert_int_equal(bench_hist_quantile(c, 0.5), 123456789);
	assert_int_equal(bench_hist_quantile(c, 0.999), 123456789);
	free(c);
	free(h);
}

/* Merging two histograms equals recording both sets into one. */
static void test_merge(void **state)
{
	(void)state;
	struct bench_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	uint64_t x = 88172645463325252u; /* xorshift64 */
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = x >> (x & 63); /* spread over every magnitude */
		bench_hist_record(i % 3 ? a : b, v);
		bench_hist_record(all, v);
	}
	bench_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->buckets, all->buckets, sizeof a->buckets);
	for (double q = 0; q <= 1.0; q += 0.05)
		assert_int_equal(bench_hist_quantile(a, q), bench_hist_quantile(all, q));
	/* merging an empty one changes nothing, min included */
	struct bench_hist *empty = hist_new();
	bench_hist_merge(all, empty);
	assert_int_equal(all->min, a->min);
	assert_int_equal(all->count, a->count);
	free(empty);
	free(a);
	free(b);
	free(all);
}

static void test_extremes(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	/* empty */
	assert_int_equal(bench_hist_quantile(h, 0.5), 0);
	assert_true(bench_hist_mean(h) == 0);
	/* zero */
	bench_hist_record(h, 0);
	assert_int_equal(bench_hist_index(0), 0);
	assert_int_equal(bench_hist_quantile(h, 0.99), 0);
	/* the largest value: the last bucket, no overflow in its midpoint */
	assert_int_equal(bench_hist_index(UINT64_MAX), BENCH_HIST_LEN - 1);
	assert_true(bench_hist_bucket_mid(BENCH_HIST_LEN - 1) >
	            bench_hist_bucket_low(BENCH_HIST_LEN - 1));
	assert_close(bench_hist_bucket_mid(BENCH_HIST_LEN - 1), UINT64_MAX);
	bench_hist_record(h, UINT64_MAX);
	assert_int_equal(h->max, UINT64_MAX);
	assert_int_equal(bench_hist_quantile(h, 1.0), UINT64_MAX);
	assert_int_equal(bench_hist_quantile(h, 0.9), bench_hist_bucket_mid(BENCH_HIST_LEN - 1));
	assert_int_equal(bench_hist_quantile(h, 0.1), 0);
	/* 2^63 and its neighbours land in adjacent buckets */
	uint64_t top = (uint64_t)1 << 63;
	assert_int_equal(bench_hist_index(top - 1) + 1, bench_hist_index(top));
	assert_true(bench_hist_mean(h) > 9.2e18 * 0.99);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_small_values_exact),
	        cmocka_unit_test(test_bucket_error_bound),
	        cmocka_unit_test(test_uniform_percentiles),
	        cmocka_unit_test(test_bimodal_percentiles),
	        cmocka_unit_test(test_merge),
	        cmocka_unit_test(test_extremes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
