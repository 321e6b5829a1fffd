/*
 * poll_sub.h - long-poll subscribers: GET /sub/{ch} answered with a batch
 * of JSON messages, or held until one arrives.
 */
#ifndef CRIER_SSE_POLL_SUB_H
#define CRIER_SSE_POLL_SUB_H

#include "http/http_conn.h"

/* Bytes a long-poll connection needs (for http_app.conn_size). */
size_t poll_sub_size(void);

/* Answers ctx with the messages of the channels after `since` (NULL: from
 * now), at once when there are some, else when the first arrives or after
 * --poll-timeout with none. */
void poll_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                    size_t since_len);

#endif
