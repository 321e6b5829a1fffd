/*
 * engine_memory.c - sequence and history in process memory.
 *
 * The epoch is random at every start: history dies with the process, so
 * every id handed out before a restart must be recognised as foreign
 * afterwards. Messages of all channels are also linked in one global list
 * in seq order, which makes the hub-wide byte cap and the TTL O(1) per
 * eviction: the globally oldest message is always at the list's head, and
 * it is also at the head of its own channel's ring.
 */
#include "engine/engine.h"

#include "core/err.h"
#include "hub/hub.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

struct engine_memory {
	struct engine base;
	struct list all; /* every message in history, oldest first */
};

static void engine_memory_evict(struct engine_memory *em, struct history *hist,
                                enum engine_evict why)
{
	struct msg *m = history_pop(hist);
	list_unlink(&m->hist_node);
	em->base.bytes -= m->data_len;
	em->base.count--;
	em->base.evicted[why]++;
	msg_unref(m);
}

/* The channel history a message sits in: reached through the message. */
static struct history *engine_memory_hist_of(struct msg *m)
{
	return &m->ch->hist;
}

static void engine_memory_trim(struct engine_memory *em, const struct engine_limits *lim,
                               uint64_t now_ms)
{
	while (!list_empty(&em->all)) {
		struct msg *m = container_of(list_first(&em->all), struct msg, hist_node);
		enum engine_evict why;
		if (em->base.bytes > lim->history_max_bytes)
			why = ENGINE_EVICT_BYTES;
		else if (lim->history_ttl_ms && now_ms - m->time_ms > lim->history_ttl_ms)
			why = ENGINE_EVICT_TTL;
		else
			break;
		engine_memory_evict(em, engine_memory_hist_of(m), why);
	}
}

static int engine_memory_append(struct engine *e, struct history *hist, struct msg *m,
                                const struct engine_limits *lim, uint64_t now_ms)
{
	struct engine_memory *em = (struct engine_memory *)e;
	struct id id = m->id;
	if (id.seq == 0) {
		id = (struct id){.epoch = e->epoch, .seq = e->seq + 1};
		msg_set_id(m, &id);
	}
	if (m->time_ms == 0)
		m->time_ms = now_ms;
	if (id.seq > e->seq)
		e->seq = id.seq;
	if (lim->history_size == 0) {
		hist->evicted_seq = id.seq; /* kept nowhere: resuming before it is a gap */
		return 0;
	}
	if (history_push(hist, msg_ref(m)) != 0) {
		msg_unref(m);
		return CRIER_ENOMEM;
	}
	list_push(&em->all, &m->hist_node);
	e->bytes += m->data_len;
	e->count++;
	while (hist->len > lim->history_size)
		engine_memory_evict(em, hist, ENGINE_EVICT_COUNT);
	engine_memory_trim(em, lim, now_ms);
	return 0;
}

static void engine_memory_expire(struct engine *e, const struct engine_limits *lim, uint64_t now_ms)
{
	engine_memory_trim((struct engine_memory *)e, lim, now_ms);
}

static void engine_memory_reset(struct engine *e)
{
	struct engine_memory *em = (struct engine_memory *)e;
	while (!list_empty(&em->all)) {
		struct msg *m = container_of(list_first(&em->all), struct msg, hist_node);
		/* The globally oldest message is the oldest of its channel too. */
		struct msg *popped = history_pop(engine_memory_hist_of(m));
		list_unlink(&popped->hist_node);
		msg_unref(popped);
	}
	e->bytes = 0;
	e->count = 0;
}

static void engine_memory_drop(struct engine *e, struct history *hist)
{
	struct msg *m;
	while ((m = history_pop(hist)) != NULL) {
		list_unlink(&m->hist_node);
		e->bytes -= m->data_len;
		e->count--;
		msg_unref(m);
	}
}

static void engine_memory_free(struct engine *e)
{
	free(e); /* channel histories are cleared by the hub, which owns them */
}

static const struct engine_ops engine_memory_ops = {
        .name = "memory",
        .append = engine_memory_append,
        .expire = engine_memory_expire,
        .reset = engine_memory_reset,
        .drop = engine_memory_drop,
        .free = engine_memory_free,
};

struct engine *engine_memory_new(void)
{
	struct engine_memory *em = calloc(1, sizeof(*em));
	if (!em)
		return NULL;
	em->base.ops = &engine_memory_ops;
	uint32_t epoch = 0;
	if (getrandom(&epoch, sizeof(epoch), 0) != (ssize_t)sizeof(epoch))
		epoch = (uint32_t)time(NULL) ^ (uint32_t)clock(); /* still differs per start */
	em->base.epoch = epoch;
	list_init(&em->all);
	return &em->base;
}
