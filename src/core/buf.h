/*
 * buf.h - growable byte buffer owned by one thread.
 *
 * Used where bytes accumulate before they are complete: a request head
 * split across reads, a request body, a /metrics page being rendered. The
 * struct is passed by pointer and never moves; its data pointer does.
 * A zeroed struct buf is a valid empty buffer that owns no memory.
 */
#ifndef CRIER_CORE_BUF_H
#define CRIER_CORE_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* owned; NULL when cap is 0 */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
};

/* Makes room for `extra` more bytes. Returns 0 or CRIER_ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);

/* Appends bytes. Returns 0 or CRIER_ENOMEM (b unchanged). */
int buf_append(struct buf *b, const void *src, size_t len);

/* Appends a string. Returns 0 or CRIER_ENOMEM. */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-formatted text. Returns 0 or CRIER_ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first n bytes, keeping the rest. */
void buf_consume(struct buf *b, size_t n);

/* Releases the memory; the buffer is empty and valid afterwards. */
void buf_free(struct buf *b);

#endif
