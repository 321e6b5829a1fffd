/*
 * deadline.c - a binary min-heap of embedded deadline nodes (deadline.h).
 *
 * Each node knows its index (+1, so 0 means "not armed"), which makes
 * cancel O(log n) without a search: swap the last node in and sift it up
 * or down.
 */
#include "net/deadline.h"

#include "core/err.h"

#include <stdlib.h>

static void heap_set(struct deadline_heap *h, uint32_t i, struct deadline *d)
{
	h->v[i] = d;
	d->idx = i + 1;
}

static void heap_up(struct deadline_heap *h, uint32_t i)
{
	struct deadline *d = h->v[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (h->v[parent]->at_ms <= d->at_ms)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, d);
}

static void heap_down(struct deadline_heap *h, uint32_t i)
{
	struct deadline *d = h->v[i];
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		uint64_t best = d->at_ms;
		if (l < h->len && h->v[l]->at_ms < best) {
			m = l;
			best = h->v[l]->at_ms;
		}
		if (l + 1 < h->len && h->v[l + 1]->at_ms < best)
			m = l + 1;
		if (m == i)
			break;
		heap_set(h, i, h->v[m]);
		i = m;
	}
	heap_set(h, i, d);
}

int deadline_arm(struct deadline_heap *h, struct deadline *d, uint64_t at_ms, deadline_fn fire)
{
	deadline_cancel(h, d);
	if (h->len == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 16;
		struct deadline **v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return CRIER_ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	d->at_ms = at_ms;
	d->fire = fire;
	heap_set(h, h->len++, d);
	heap_up(h, h->len - 1);
	return 0;
}

void deadline_cancel(struct deadline_heap *h, struct deadline *d)
{
	if (!d->idx)
		return;
	uint32_t i = d->idx - 1;
	d->idx = 0;
	struct deadline *last = h->v[--h->len];
	if (i == h->len)
		return;
	heap_set(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->at_ms > last->at_ms)
		heap_up(h, i);
	else
		heap_down(h, i);
}

uint32_t deadline_run(struct deadline_heap *h, uint64_t now_ms)
{
	uint32_t n = 0;
	while (h->len && h->v[0]->at_ms <= now_ms) {
		struct deadline *d = h->v[0];
		deadline_cancel(h, d);
		n++;
		d->fire(d);
	}
	return n;
}

void deadline_heap_free(struct deadline_heap *h)
{
	free(h->v);
	*h = (struct deadline_heap){0};
}
