/*
 * rcbuf.c - allocation and release of shared byte buffers.
 *
 * The release uses acq_rel ordering so that every write a thread made
 * through its reference happens-before the free on whichever thread drops
 * the last one (the classic shared_ptr argument); taking a reference needs
 * no ordering because the taker already holds one.
 */
#include "core/rcbuf.h"

#include <stdlib.h>
#include <string.h>

struct rcbuf *rcbuf_new(size_t len)
{
	struct rcbuf *b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	b->flags = 0;
	b->len = len;
	return b;
}

struct rcbuf *rcbuf_copy(const void *src, size_t len)
{
	struct rcbuf *b = rcbuf_new(len);
	if (b && len)
		memcpy(b->data, src, len);
	return b;
}

void rcbuf_unref(struct rcbuf *b)
{
	if (!b || (b->flags & RCBUF_STATIC))
		return;
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}
