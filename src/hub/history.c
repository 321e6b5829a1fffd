/*
 * history.c - the per-channel ring.
 *
 * Messages enter in seq order and leave from the front, so the ring is
 * sorted and "everything after seq N" is a binary search. The ring grows by
 * doubling up to what the count limit allows and never shrinks while the
 * channel holds messages: a busy channel's history is its steady state.
 */
#include "hub/history.h"

#include "core/err.h"

#include <stdlib.h>

static int history_grow(struct history *h)
{
	uint32_t cap = h->cap ? h->cap * 2 : 8;
	struct msg **ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return CRIER_ENOMEM;
	for (uint32_t i = 0; i < h->len; i++)
		ring[i] = h->ring[(h->head + i) % h->cap];
	free(h->ring);
	h->ring = ring;
	h->cap = cap;
	h->head = 0;
	return 0;
}

int history_push(struct history *h, struct msg *m)
{
	if (h->len == h->cap && history_grow(h) != 0)
		return CRIER_ENOMEM;
	h->ring[(h->head + h->len) % h->cap] = m;
	h->len++;
	h->bytes += m->data_len;
	return 0;
}

struct msg *history_pop(struct history *h)
{
	if (h->len == 0)
		return NULL;
	struct msg *m = h->ring[h->head];
	h->head = (h->head + 1) % h->cap;
	h->len--;
	h->bytes -= m->data_len;
	h->evicted_seq = m->id.seq;
	return m;
}

struct msg *history_at(const struct history *h, uint32_t i)
{
	return h->ring[(h->head + i) % h->cap];
}

uint32_t history_after(const struct history *h, uint64_t after)
{
	uint32_t lo = 0, hi = h->len;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (history_at(h, mid)->id.seq <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void history_clear(struct history *h)
{
	while (h->len)
		msg_unref(history_pop(h));
	free(h->ring);
	h->ring = NULL;
	h->cap = h->head = 0;
}
