/* Unit tests for hub/history.c: the ring's order, growth, lookup by seq
 * and the evicted_seq bookkeeping that gap detection relies on. */
#include "hub/history.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static struct msg *mk(uint64_t seq)
{
	struct msg *m = msg_new("x", 1, NULL, 0, false);
	struct id id = {.epoch = 1, .seq = seq};
	msg_set_id(m, &id);
	return m;
}

static void test_push_pop_order(void **state)
{
	(void)state;
	struct history h = {0};
	for (uint64_t s = 1; s <= 100; s++)
		assert_int_equal(history_push(&h, mk(s)), 0);
	assert_int_equal(h.len, 100);
	assert_int_equal(h.bytes, 100);
	for (uint64_t s = 1; s <= 40; s++) {
		struct msg *m = history_pop(&h);
		assert_int_equal(m->id.seq, s);
		assert_int_equal(h.evicted_seq, s);
		msg_unref(m);
	}
	/* Wrap the ring: push more after popping. */
	for (uint64_t s = 101; s <= 130; s++)
		history_push(&h, mk(s));
	for (uint32_t i = 0; i < h.len; i++)
		assert_int_equal(history_at(&h, i)->id.seq, 41 + i);
	history_clear(&h);
	assert_int_equal(h.len, 0);
	assert_null(h.ring);
}

static void test_after(void **state)
{
	(void)state;
	struct history h = {0};
	assert_int_equal(history_after(&h, 0), 0);
	for (uint64_t s = 10; s <= 100; s += 10) /* seqs need not be dense: other channels */
		history_push(&h, mk(s));
	assert_int_equal(history_after(&h, 0), 0);
	assert_int_equal(history_after(&h, 9), 0);
	assert_int_equal(history_after(&h, 10), 1);
	assert_int_equal(history_after(&h, 15), 1);
	assert_int_equal(history_after(&h, 99), 9);
	assert_int_equal(history_after(&h, 100), 10);
	assert_int_equal(history_after(&h, 1000), 10);
	history_clear(&h);
}

static void test_pop_empty(void **state)
{
	(void)state;
	struct history h = {0};
	assert_null(history_pop(&h));
	assert_int_equal(h.evicted_seq, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_push_pop_order),
	        cmocka_unit_test(test_after),
	        cmocka_unit_test(test_pop_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
