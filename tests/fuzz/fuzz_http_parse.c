/*
 * fuzz_http_parse.c - libFuzzer target for the request-head parser.
 *
 * Each input is parsed whole and then as a prefix followed by the whole
 * (the restart path with last_len), under two configurations: default
 * limits with a roomy header array, and tight limits with three slots.
 * Besides memory errors it aborts when the two ways of feeding disagree,
 * when a result breaks the documented contract (slices outside the head,
 * a count past the capacity, a code outside the CRIER_E* table), or when a
 * prefix answers something other than "need more" or the final answer.
 * Every buffer handed to the parser is an exact-size heap copy, so ASan
 * sees any read past the caller's length.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http_parse.h"

#define MAX_CAP 64

struct outcome {
	int64_t ret;
	struct http_request req;
	struct http_header fields[MAX_CAP];
};

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http_parse: invariant failed: %s\n", what);
		abort();
	}
}

static int64_t run(const uint8_t *data, size_t len, size_t last_len, const struct http_limits *lim,
                   size_t cap, struct outcome *o)
{
	char *copy = malloc(len ? len : 1);
	check(copy != NULL, "malloc");
	if (len)
		memcpy(copy, data, len);
	memset(o, 0, sizeof(*o));
	o->req.headers = o->fields;
	o->req.headers_cap = cap;
	o->ret = http_parse_request(copy, len, last_len, lim, &o->req);
	/* rebase slices to offsets so outcomes from different copies compare */
	struct http_request *r = &o->req;
	const char *base = copy;
#define REBASE(p, n)                                                                  \
	do {                                                                          \
		if ((p) != NULL && (p) >= base && (p) + (n) <= base + len)            \
			(p) = (const char *)((p)-base + (const char *)0x1000);        \
		else if ((p) != NULL)                                                 \
			check((n) == 1 && (p)[0] == '/', "slice outside the buffer"); \
	} while (0)
	if (o->ret > 0) {
		check((size_t)o->ret <= len, "head longer than input");
		check(r->headers_len <= cap, "headers_len > cap");
		check(r->minor_version == 0 || r->minor_version == 1, "minor version");
		check(r->method_len > 0 && r->target_len > 0, "empty method or target");
		check(r->body_kind != HTTP_BODY_LENGTH || r->content_length > 0, "CL body of 0");
		REBASE(r->method, r->method_len);
		REBASE(r->target, r->target_len);
		REBASE(r->path, r->path_len);
		REBASE(r->query, r->query_len);
		REBASE(r->host, r->host_len);
		for (size_t i = 0; i < r->headers_len; i++) {
			REBASE(o->fields[i].name, o->fields[i].name_len);
			REBASE(o->fields[i].value, o->fields[i].value_len);
		}
	} else if (o->ret < 0) {
		check(err_is_crier((int)o->ret), "unknown error code");
	}
#undef REBASE
	free(copy);
	return o->ret;
}

/* Field by field: struct padding is not guaranteed to be zero. */
static int same(const struct outcome *a, const struct outcome *b)
{
	if (a->ret != b->ret)
		return 0;
	if (a->ret <= 0)
		return 1;
	const struct http_request *x = &a->req, *y = &b->req;
	int eq = x->method == y->method && x->method_len == y->method_len &&
	         x->method_id == y->method_id && x->target == y->target &&
	         x->target_len == y->target_len && x->path == y->path &&
	         x->path_len == y->path_len && x->query == y->query &&
	         x->query_len == y->query_len && x->minor_version == y->minor_version &&
	         x->headers_len == y->headers_len && x->body_kind == y->body_kind &&
	         x->content_length == y->content_length && x->keep_alive == y->keep_alive &&
	         x->conn_upgrade == y->conn_upgrade && x->expect_continue == y->expect_continue &&
	         x->host == y->host && x->host_len == y->host_len;
	for (size_t i = 0; eq && i < x->headers_len; i++) {
		const struct http_header *f = &a->fields[i], *g = &b->fields[i];
		eq = f->name == g->name && f->name_len == g->name_len && f->value == g->value &&
		     f->value_len == g->value_len;
	}
	return eq;
}

static void feed_split(const uint8_t *data, size_t size, size_t split,
                       const struct http_limits *lim, size_t cap)
{
	static struct outcome whole, part, again;
	run(data, size, 0, lim, cap, &whole);
	if (run(data, split, 0, lim, cap, &part) != 0) {
		check(same(&part, &whole), "prefix answer differs from the whole");
		return;
	}
	run(data, size, split, lim, cap, &again);
	check(same(&again, &whole), "restart with last_len differs from one-shot");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the split point comes from the data, so the fuzzer can steer it */
	size_t split = 0;
	if (size > 0)
		split = ((size_t)data[0] * 131u + (size_t)data[size - 1] * 7u + size) % (size + 1);
	struct http_limits roomy = {0};
	struct http_limits tight = {.max_head_bytes = 160, .max_target_bytes = 24};
	feed_split(data, size, split, &roomy, MAX_CAP);
	feed_split(data, size, split, &tight, 3);
	return 0;
}
