/* Unit tests for engine/engine_memory.c: one sequence across channels,
 * the epoch, and the three history bounds (count per channel, bytes
 * across channels, age), each evicting oldest first and counted. */
#include "engine/engine.h"
#include "hub/hub.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct hub_channel *mkchan(void)
{
	return calloc(1, sizeof(struct hub_channel));
}

static void append(struct engine *e, struct hub_channel *ch, size_t len,
                   const struct engine_limits *lim, uint64_t now)
{
	char data[256] = {0};
	struct msg *m = msg_new(data, len, NULL, 0, false);
	m->ch = ch;
	assert_int_equal(e->ops->append(e, &ch->hist, m, lim, now), 0);
	msg_unref(m); /* history keeps its own reference */
}

static void free_chan(struct hub_channel *ch)
{
	history_clear(&ch->hist);
	free(ch);
}

static void test_one_sequence(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct hub_channel *a = mkchan(), *b = mkchan();
	struct engine_limits lim = {.history_size = 10, .history_max_bytes = 1 << 20};
	append(e, a, 1, &lim, 0);
	append(e, b, 1, &lim, 0);
	append(e, a, 1, &lim, 0);
	assert_int_equal(e->seq, 3);
	assert_int_equal(history_at(&a->hist, 0)->id.seq, 1);
	assert_int_equal(history_at(&b->hist, 0)->id.seq, 2);
	assert_int_equal(history_at(&a->hist, 1)->id.seq, 3);
	assert_int_equal(history_at(&a->hist, 1)->id.epoch, e->epoch);
	char want[ID_STR_MAX];
	struct id id = {.epoch = e->epoch, .seq = 3};
	id_format(&id, want);
	assert_string_equal(history_at(&a->hist, 1)->id_str, want);
	free_chan(a);
	free_chan(b);
	e->ops->free(e);
}

static void test_epochs_differ(void **state)
{
	(void)state;
	/* Random 32-bit epochs: 8 engines colliding would mean a broken source. */
	uint32_t seen[8];
	int distinct = 0;
	for (int i = 0; i < 8; i++) {
		struct engine *e = engine_memory_new();
		seen[i] = e->epoch;
		bool dup = false;
		for (int k = 0; k < i; k++)
			dup |= seen[k] == seen[i];
		distinct += !dup;
		e->ops->free(e);
	}
	assert_true(distinct >= 7);
}

static void test_count_bound(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct hub_channel *a = mkchan();
	struct engine_limits lim = {.history_size = 3, .history_max_bytes = 1 << 20};
	for (int i = 0; i < 5; i++)
		append(e, a, 10, &lim, 0);
	assert_int_equal(a->hist.len, 3);
	assert_int_equal(history_at(&a->hist, 0)->id.seq, 3);
	assert_int_equal(a->hist.evicted_seq, 2); /* a resume from 1 must be told of a gap */
	assert_int_equal(e->evicted[ENGINE_EVICT_COUNT], 2);
	assert_int_equal(e->count, 3);
	assert_int_equal(e->bytes, 30);
	free_chan(a);
	e->ops->free(e);
}

static void test_bytes_bound_across_channels(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct hub_channel *a = mkchan(), *b = mkchan();
	struct engine_limits lim = {.history_size = 100, .history_max_bytes = 250};
	append(e, a, 100, &lim, 0); /* seq 1 */
	append(e, b, 100, &lim, 0); /* seq 2 */
	append(e, a, 100, &lim, 0); /* seq 3: 300 > 250, the globally oldest (1, in a) goes */
	assert_int_equal(e->bytes, 200);
	assert_int_equal(a->hist.len, 1);
	assert_int_equal(a->hist.evicted_seq, 1);
	assert_int_equal(b->hist.len, 1);
	assert_int_equal(e->evicted[ENGINE_EVICT_BYTES], 1);
	append(e, a, 100, &lim, 0); /* seq 4: the oldest is now 2, in b */
	assert_int_equal(b->hist.len, 0);
	assert_int_equal(b->hist.evicted_seq, 2);
	free_chan(a);
	free_chan(b);
	e->ops->free(e);
}

static void test_ttl(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct hub_channel *a = mkchan();
	struct engine_limits lim = {
	        .history_size = 100, .history_max_bytes = 1 << 20, .history_ttl_ms = 1000};
	append(e, a, 1, &lim, 100);
	append(e, a, 1, &lim, 600);
	e->ops->expire(e, &lim, 1100); /* 1000 ms old exactly: kept */
	assert_int_equal(a->hist.len, 2);
	e->ops->expire(e, &lim, 1101);
	assert_int_equal(a->hist.len, 1);
	e->ops->expire(e, &lim, 5000);
	assert_int_equal(a->hist.len, 0);
	assert_int_equal(a->hist.evicted_seq, 2);
	assert_int_equal(e->evicted[ENGINE_EVICT_TTL], 2);
	free_chan(a);
	e->ops->free(e);
}

static void test_history_size_zero(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct hub_channel *a = mkchan();
	struct engine_limits lim = {.history_size = 0, .history_max_bytes = 1 << 20};
	append(e, a, 1, &lim, 0);
	assert_int_equal(a->hist.len, 0);
	assert_int_equal(a->hist.evicted_seq, 1); /* nothing kept: any resume is a gap */
	free_chan(a);
	e->ops->free(e);
}

/* A replica's append (the Redis engine): the id and time a message came
 * with are kept, the sequence follows the highest seq seen, and reset
 * drops everything without counting evictions. */
static void test_preset_id_and_reset(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct engine_limits lim = {.history_size = 10, .history_max_bytes = 1 << 20};
	struct hub_channel *a = mkchan(), *b = mkchan();
	uint64_t seqs[] = {7, 9, 12};
	struct hub_channel *chans[] = {a, b, a};
	for (int i = 0; i < 3; i++) {
		struct msg *m = msg_new("xyz", 3, NULL, 0, false);
		struct id id = {.epoch = 0xabcdef01, .seq = seqs[i]};
		msg_set_id(m, &id);
		m->time_ms = 500 + (uint64_t)i;
		m->ch = chans[i];
		assert_int_equal(e->ops->append(e, &chans[i]->hist, m, &lim, 1000), 0);
		assert_int_equal(m->id.seq, seqs[i]);
		assert_int_equal(m->id.epoch, 0xabcdef01);
		assert_int_equal(m->time_ms, 500 + (uint64_t)i);
		msg_unref(m);
	}
	assert_int_equal(e->seq, 12);
	assert_int_equal(a->hist.len, 2);
	assert_int_equal(e->count, 3);
	assert_int_equal(e->bytes, 9);
	e->ops->reset(e);
	assert_int_equal(a->hist.len, 0);
	assert_int_equal(b->hist.len, 0);
	assert_int_equal(e->count, 0);
	assert_int_equal(e->bytes, 0);
	for (int i = 0; i < ENGINE_EVICT_N; i++)
		assert_int_equal(e->evicted[i], 0);
	/* Ids assigned here after a reset continue from the sequence. */
	append(e, a, 1, &lim, 2000);
	assert_int_equal(history_at(&a->hist, 0)->id.seq, 13);
	free_chan(a);
	free_chan(b);
	e->ops->free(e);
}

/* drop empties one channel (a replica's channel nobody wants) and keeps
 * the global order of the others intact for the byte cap and the TTL. */
static void test_drop_one_channel(void **state)
{
	(void)state;
	struct engine *e = engine_memory_new();
	struct engine_limits lim = {
	        .history_size = 10, .history_max_bytes = 1 << 20, .history_ttl_ms = 100};
	struct hub_channel *a = mkchan(), *b = mkchan();
	append(e, a, 2, &lim, 0);
	append(e, b, 3, &lim, 10);
	append(e, a, 4, &lim, 20);
	append(e, b, 5, &lim, 30);
	e->ops->drop(e, &a->hist);
	assert_int_equal(a->hist.len, 0);
	assert_int_equal(b->hist.len, 2);
	assert_int_equal(e->count, 2);
	assert_int_equal(e->bytes, 8);
	/* The TTL still walks the global list: b's messages expire in order. */
	e->ops->expire(e, &lim, 115);
	assert_int_equal(b->hist.len, 1);
	assert_int_equal(history_at(&b->hist, 0)->id.seq, 4);
	free_chan(a);
	free_chan(b);
	e->ops->free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_sequence),
	        cmocka_unit_test(test_epochs_differ),
	        cmocka_unit_test(test_count_bound),
	        cmocka_unit_test(test_bytes_bound_across_channels),
	        cmocka_unit_test(test_ttl),
	        cmocka_unit_test(test_history_size_zero),
	        cmocka_unit_test(test_preset_id_and_reset),
	        cmocka_unit_test(test_drop_one_channel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
