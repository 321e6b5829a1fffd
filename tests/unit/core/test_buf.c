/* Unit tests for core/buf.c and core/rcbuf.c: growth, consume, formatting,
 * and reference counting across threads. */
#include "core/buf.h"
#include "core/rcbuf.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_buf_append_grows(void **state)
{
	(void)state;
	struct buf b = {0};
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3000);
	assert_true(b.cap >= 3000);
	assert_memory_equal(b.data + 2997, "abc", 3);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void test_buf_consume(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_puts(&b, "hello world");
	buf_consume(&b, 6);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "world", 5);
	buf_consume(&b, 99);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
	(void)state;
	struct buf b = {0};
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "<%s>%d", big, 42), 0);
	assert_int_equal(b.len, 999 + 4);
	assert_memory_equal(b.data + b.len - 3, ">42", 3);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 999 + 4);
	buf_free(&b);
}

static void test_buf_empty_append(void **state)
{
	(void)state;
	struct buf b = {0};
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_null(b.data); /* nothing allocated for nothing */
}

static void *unref_many(void *arg)
{
	struct rcbuf *b = arg;
	for (int i = 0; i < 10000; i++)
		rcbuf_unref(b);
	return NULL;
}

static void test_rcbuf_threads(void **state)
{
	(void)state;
	struct rcbuf *b = rcbuf_copy("payload", 7);
	assert_non_null(b);
	assert_int_equal(b->len, 7);
	for (int i = 0; i < 20000; i++)
		rcbuf_ref(b);
	pthread_t t1, t2;
	pthread_create(&t1, NULL, unref_many, b);
	pthread_create(&t2, NULL, unref_many, b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(atomic_load(&b->refs), 1);
	assert_memory_equal(b->data, "payload", 7);
	rcbuf_unref(b); /* the last one frees: ASan reports a leak otherwise */
}

static void test_rcbuf_static(void **state)
{
	(void)state;
	static struct rcbuf s = {.flags = RCBUF_STATIC, .len = 0};
	rcbuf_ref(&s);
	rcbuf_unref(&s);
	rcbuf_unref(&s); /* must not free a static buffer */
	assert_int_equal(atomic_load(&s.refs), 0);
	rcbuf_unref(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_buf_append_grows), cmocka_unit_test(test_buf_consume),
	        cmocka_unit_test(test_buf_printf_long),  cmocka_unit_test(test_buf_empty_append),
	        cmocka_unit_test(test_rcbuf_threads),    cmocka_unit_test(test_rcbuf_static),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
