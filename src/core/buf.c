/*
 * buf.c - growable byte buffer.
 *
 * Growth doubles from a 256-byte floor so appends are amortised O(1);
 * buf_free gives the memory back, which is how idle connections end up
 * holding none.
 */
#include "core/buf.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t want = b->len + extra;
	if (want < b->len)
		return CRIER_ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want) {
		if (cap > SIZE_MAX / 2)
			return CRIER_ENOMEM;
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		return CRIER_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	int rc = buf_reserve(b, len);
	if (rc)
		return rc;
	memcpy(b->data + b->len, src, len);
	b->len += len;
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return CRIER_EINVAL;
	if ((size_t)n < sizeof(tmp))
		return buf_append(b, tmp, (size_t)n);
	int rc = buf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
