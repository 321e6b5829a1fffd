/*
 * deadline.h - one-shot deadlines at arbitrary times, per worker.
 *
 * The timeout lists (conn.h) serve the timeouts every connection of a
 * class shares (same duration, so FIFO order is expiry order). A deadline
 * is for a time that differs per connection and is far off, such as the
 * `exp` of the token a stream was opened with: a binary min-heap of
 * pointers to nodes embedded in the owner's struct, checked by the
 * worker's tick, so precision is WORKER_TICK_MS and a connection without
 * a deadline pays only for the embedded node.
 *
 * Thread: a heap belongs to its worker's loop thread. Nodes are owned by
 * their embedders; a node must be cancelled (deadline_cancel) before its
 * memory goes away. fire runs on the loop thread after the node left the
 * heap, so it may re-arm the node or free its owner.
 */
#ifndef CRIER_NET_DEADLINE_H
#define CRIER_NET_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

struct deadline;
typedef void (*deadline_fn)(struct deadline *d);

struct deadline {
	uint64_t at_ms; /* loop time (uv_now) at which fire runs */
	uint32_t idx;   /* position in the heap + 1; 0 while not armed */
	deadline_fn fire;
};

struct deadline_heap {
	struct deadline **v; /* v[0] is the earliest; owned array, borrowed nodes */
	uint32_t len, cap;
};

/* Arms d (re-arming moves it) to fire at at_ms. Returns 0 or CRIER_ENOMEM
 * (d is then not armed). */
int deadline_arm(struct deadline_heap *h, struct deadline *d, uint64_t at_ms, deadline_fn fire);

/* Disarms d; harmless when it is not armed. */
void deadline_cancel(struct deadline_heap *h, struct deadline *d);

static inline bool deadline_armed(const struct deadline *d)
{
	return d->idx != 0;
}

/* Fires every deadline due at now_ms, earliest first. Returns how many. */
uint32_t deadline_run(struct deadline_heap *h, uint64_t now_ms);

/* Frees the array (nodes are not touched). */
void deadline_heap_free(struct deadline_heap *h);

#endif
