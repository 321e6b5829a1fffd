/*
 * test_backoff.c - unit tests for exponential backoff with full jitter.
 *
 * The random word is the test's to choose, so every bound is pinned
 * exactly: rnd 0 gives 0, UINT32_MAX gives the cap, and a sweep of words
 * never leaves [0, cap]. The window doubles per attempt from the base up
 * to the cap and never overflows however many attempts pile up; a server's
 * `retry:` replaces the base and may lift the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/backoff.h"

static void test_cap_grows_and_saturates(void **state)
{
	(void)state;
	assert_int_equal(backoff_cap_ms(0, 500, 30000, 0), 500);
	assert_int_equal(backoff_cap_ms(1, 500, 30000, 0), 1000);
	assert_int_equal(backoff_cap_ms(2, 500, 30000, 0), 2000);
	assert_int_equal(backoff_cap_ms(5, 500, 30000, 0), 16000);
	assert_int_equal(backoff_cap_ms(6, 500, 30000, 0), 30000);
	assert_int_equal(backoff_cap_ms(7, 500, 30000, 0), 30000);
	assert_int_equal(backoff_cap_ms(UINT32_MAX, 500, 30000, 0), 30000);
}

static void test_cap_monotonic(void **state)
{
	(void)state;
	uint64_t prev = 0;
	for (uint32_t a = 0; a < 100; a++) {
		uint64_t cap = backoff_cap_ms(a, 3, 1000000, 0);
		assert_true(cap >= prev);
		assert_true(cap <= 1000000);
		prev = cap;
	}
	assert_int_equal(prev, 1000000);
}

static void test_min_above_max(void **state)
{
	(void)state;
	/* A base larger than the cap wins: the cap is never below the base. */
	assert_int_equal(backoff_cap_ms(0, 5000, 1000, 0), 5000);
	assert_int_equal(backoff_cap_ms(3, 5000, 1000, 0), 5000);
}

static void test_zero_base(void **state)
{
	(void)state;
	assert_int_equal(backoff_cap_ms(10, 0, 1000, 0), 0);
	assert_int_equal(backoff_delay_ms(10, 0, 1000, 0, UINT32_MAX), 0);
}

static void test_huge_values_do_not_overflow(void **state)
{
	(void)state;
	uint64_t cap = backoff_cap_ms(64, UINT64_MAX / 2, UINT64_MAX, 0);
	assert_int_equal(cap, UINT32_MAX);
	assert_int_equal(backoff_delay_ms(64, UINT64_MAX / 2, UINT64_MAX, 0, UINT32_MAX),
	                 UINT32_MAX);
	assert_true(backoff_delay_ms(64, UINT64_MAX / 2, UINT64_MAX, 0, 1u << 31) <= UINT32_MAX);
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	for (uint32_t a = 0; a < 10; a++) {
		uint64_t cap = backoff_cap_ms(a, 250, 10000, 0);
		assert_int_equal(backoff_delay_ms(a, 250, 10000, 0, 0), 0);
		assert_int_equal(backoff_delay_ms(a, 250, 10000, 0, UINT32_MAX), cap);
		uint32_t x = 0x12345678u;
		for (int i = 0; i < 10000; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			assert_true(backoff_delay_ms(a, 250, 10000, 0, x) <= cap);
		}
	}
}

static void test_jitter_is_full(void **state)
{
	(void)state;
	/* Full jitter: the midpoint word lands in the middle of [0, cap], so
	 * delays spread over the whole window, not just near its top. */
	uint64_t mid = backoff_delay_ms(2, 500, 30000, 0, 1u << 31);
	assert_int_equal(mid, 1000);
	assert_int_equal(backoff_delay_ms(2, 500, 30000, 0, 1u << 30), 500);
}

static void test_retry_overrides_base(void **state)
{
	(void)state;
	/* retry: 2000 replaces the client's minimum of 250... */
	assert_int_equal(backoff_cap_ms(0, 250, 10000, 2000), 2000);
	assert_int_equal(backoff_cap_ms(1, 250, 10000, 2000), 4000);
	assert_int_equal(backoff_cap_ms(3, 250, 10000, 2000), 10000);
	/* ...a smaller one shortens it... */
	assert_int_equal(backoff_cap_ms(0, 500, 10000, 100), 100);
	/* ...and one above the client's cap is honoured as the cap. */
	assert_int_equal(backoff_cap_ms(0, 500, 10000, 60000), 60000);
	assert_int_equal(backoff_cap_ms(4, 500, 10000, 60000), 60000);
	assert_int_equal(backoff_delay_ms(4, 500, 10000, 60000, UINT32_MAX), 60000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cap_grows_and_saturates),
	        cmocka_unit_test(test_cap_monotonic),
	        cmocka_unit_test(test_min_above_max),
	        cmocka_unit_test(test_zero_base),
	        cmocka_unit_test(test_huge_values_do_not_overflow),
	        cmocka_unit_test(test_jitter_bounds),
	        cmocka_unit_test(test_jitter_is_full),
	        cmocka_unit_test(test_retry_overrides_base),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
