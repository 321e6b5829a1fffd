/*
 * test_deadline.c - unit tests for the per-worker deadline heap.
 *
 * Deadlines fire in time order and only when due; cancel and re-arm work
 * from any position (checked against a brute-force model over random
 * operations); a fire callback may re-arm its own node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "net/deadline.h"

#define N 200

static uint64_t fired[N * 4];
static uint32_t n_fired;

static void record(struct deadline *d)
{
	fired[n_fired++] = d->at_ms;
}

static void test_fires_in_order_when_due(void **state)
{
	(void)state;
	struct deadline_heap h = {0};
	struct deadline d[5] = {0};
	uint64_t at[5] = {50, 10, 40, 10, 30};
	for (int i = 0; i < 5; i++)
		assert_int_equal(deadline_arm(&h, &d[i], at[i], record), 0);
	n_fired = 0;
	assert_int_equal(deadline_run(&h, 9), 0);
	assert_int_equal(deadline_run(&h, 30), 3);
	assert_int_equal(fired[0], 10);
	assert_int_equal(fired[1], 10);
	assert_int_equal(fired[2], 30);
	assert_false(deadline_armed(&d[1]));
	assert_true(deadline_armed(&d[0]));
	deadline_cancel(&h, &d[0]);
	deadline_cancel(&h, &d[0]); /* twice is harmless */
	assert_int_equal(deadline_run(&h, 1000), 1);
	assert_int_equal(fired[3], 40);
	assert_int_equal(h.len, 0);
	deadline_heap_free(&h);
}

static struct deadline_heap *rearm_heap;

static void rearm_once(struct deadline *d)
{
	record(d);
	if (d->at_ms < 100)
		assert_int_equal(deadline_arm(rearm_heap, d, d->at_ms + 100, rearm_once), 0);
}

static void test_fire_may_rearm(void **state)
{
	(void)state;
	struct deadline_heap h = {0};
	struct deadline d = {0};
	rearm_heap = &h;
	n_fired = 0;
	assert_int_equal(deadline_arm(&h, &d, 5, rearm_once), 0);
	assert_int_equal(deadline_run(&h, 50), 1);
	assert_true(deadline_armed(&d));
	assert_int_equal(d.at_ms, 105);
	assert_int_equal(deadline_run(&h, 200), 1);
	assert_false(deadline_armed(&d));
	deadline_heap_free(&h);
}

static void test_random_against_model(void **state)
{
	(void)state;
	struct deadline_heap h = {0};
	static struct deadline d[N];
	bool armed[N] = {0};
	srand(12345);
	uint64_t now = 0;
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N, op = rand() % 4;
		if (op < 2) {
			assert_int_equal(
			        deadline_arm(&h, &d[i], now + (uint64_t)(rand() % 500), record), 0);
			armed[i] = true;
		} else if (op == 2) {
			deadline_cancel(&h, &d[i]);
			armed[i] = false;
		} else {
			now += (uint64_t)(rand() % 50);
			uint32_t due = 0;
			for (int k = 0; k < N; k++)
				due += armed[k] && d[k].at_ms <= now;
			n_fired = 0;
			assert_int_equal(deadline_run(&h, now), due);
			for (uint32_t k = 1; k < n_fired; k++)
				assert_true(fired[k - 1] <= fired[k]);
			for (int k = 0; k < N; k++) {
				if (armed[k] && d[k].at_ms <= now)
					armed[k] = false;
				assert_int_equal(deadline_armed(&d[k]), armed[k]);
			}
		}
		uint32_t live = 0;
		for (int k = 0; k < N; k++)
			live += armed[k];
		assert_int_equal(h.len, live);
	}
	deadline_heap_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fires_in_order_when_due),
	        cmocka_unit_test(test_fire_may_rearm),
	        cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
