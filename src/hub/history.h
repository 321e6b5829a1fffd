/*
 * history.h - one channel's retained messages, oldest first.
 *
 * A ring of message references in seq order. It knows nothing of locks or
 * limits: the engine decides what to evict and holds the hub lock while it
 * calls these. `evicted_seq` remembers the newest message ever evicted, so
 * a resume from an older position can be told it has a gap.
 */
#ifndef CRIER_HUB_HISTORY_H
#define CRIER_HUB_HISTORY_H

#include "hub/msg.h"

#include <stddef.h>
#include <stdint.h>

struct history {
	struct msg **ring; /* cap slots; NULL when empty and never used */
	uint32_t head, len, cap;
	uint64_t bytes;       /* payload bytes held */
	uint64_t evicted_seq; /* seq of the newest message evicted (0: none) */
};

/* Appends m, taking over the caller's reference. Returns 0 or CRIER_ENOMEM. */
int history_push(struct history *h, struct msg *m);

/* Removes the oldest message and returns its reference (NULL when empty). */
struct msg *history_pop(struct history *h);

/* The i-th oldest message (borrowed), i < h->len. */
struct msg *history_at(const struct history *h, uint32_t i);

/* Index of the first message with seq > after (h->len when none). */
uint32_t history_after(const struct history *h, uint64_t after);

/* Drops every message (references released) and the ring. */
void history_clear(struct history *h);

#endif
