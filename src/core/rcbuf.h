/*
 * rcbuf.h - immutable, atomically reference-counted byte buffers.
 *
 * The unit of outbound data. A response or a published message is encoded
 * once into an rcbuf; every connection that sends it holds a reference in
 * its outbound queue, possibly on another worker thread, and the bytes are
 * freed when the last write completes. Contents must not change once the
 * buffer has been shared (written before the first rcbuf_ref).
 *
 * Static buffers (RCBUF_STATIC) live for the process and ignore counting,
 * for canned answers that never change.
 */
#ifndef CRIER_CORE_RCBUF_H
#define CRIER_CORE_RCBUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rcbuf {
	atomic_uint refs; /* owners; the buffer is freed when it drops to 0 */
	uint32_t flags;   /* RCBUF_STATIC */
	size_t len;       /* bytes in data */
	char data[];
};

#define RCBUF_STATIC 1u

/* Allocates a buffer of len bytes (contents undefined) with one reference.
 * Returns NULL when out of memory. */
struct rcbuf *rcbuf_new(size_t len);

/* Allocates a buffer holding a copy of src[0..len) with one reference. */
struct rcbuf *rcbuf_copy(const void *src, size_t len);

/* Takes another reference; thread-safe. Returns b for chaining. */
static inline struct rcbuf *rcbuf_ref(struct rcbuf *b)
{
	if (!(b->flags & RCBUF_STATIC))
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

/* Drops a reference; frees the buffer on the last one. Thread-safe. */
void rcbuf_unref(struct rcbuf *b);

#endif
