/*
 * http_client.h - one HTTP/1.1 client connection over uv_tcp.
 *
 * Just enough HTTP for libcrier: requests the caller formats itself, sent
 * one at a time (no pipelining) over a connection that is kept alive while
 * the server allows; responses framed by Content-Length, chunked encoding
 * or the end of the connection, their bodies streamed to the owner as they
 * arrive (an SSE stream is a response that never ends).
 *
 * One http_client is one TCP connection: when it fails or the server
 * closes it, the owner closes it and makes a new one. It never retries and
 * never reconnects by itself; that policy is the owner's.
 *
 * Thread: the loop's. Memory: http_client_new allocates; http_client_close
 * frees once every handle is closed. No callback runs after
 * http_client_close.
 */
#ifndef CRIER_CLIENT_HTTP_CLIENT_H
#define CRIER_CLIENT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_client;

/* The head of a response. Slices are borrowed for the callback. */
struct http_client_head {
	int status;
	const char *ctype; /* Content-Type value, "" when absent */
	size_t ctype_len;
	const char *lines; /* the header lines, after the status line */
	size_t lines_len;
};

/* Finds header `name` (case-insensitive) in h; sets *val to its trimmed
 * value and returns its length, or -1 when absent. */
long http_client_header(const struct http_client_head *h, const char *name, const char **val);

struct http_client_cbs {
	/* The response head arrived (status line and headers). */
	void (*on_head)(struct http_client *hc, const struct http_client_head *h, void *user);
	/* Body bytes, in order; borrowed for the call. */
	void (*on_body)(struct http_client *hc, const char *p, size_t n, void *user);
	/* The response ended: err 0 when complete, else why it failed (the
	 * connection is then dead; close it). Called exactly once per request. */
	void (*on_end)(struct http_client *hc, int err, void *user);
};

/* Starts resolving and connecting to host:port. Returns 0 and sets *out,
 * or CRIER_ENOMEM / a negative libuv code. Strings are copied. */
int http_client_new(uv_loop_t *loop, const char *host, uint16_t port,
                    const struct http_client_cbs *cbs, void *user, uint32_t connect_timeout_ms,
                    struct http_client **out);

/*
 * Sends one request: req[0..len) is the whole message (head and body),
 * copied. head_timeout_ms bounds the wait for the response head (and the
 * connect, if still in progress); idle_timeout_ms, when not 0, bounds the
 * silence between reads of the body. Returns 0, CRIER_EINVAL when a
 * request is outstanding or the connection is dead, or CRIER_ENOMEM.
 */
int http_client_request(struct http_client *hc, const char *req, size_t len,
                        uint32_t head_timeout_ms, uint32_t idle_timeout_ms);

/*
 * Writes data[0..len) (copied) on a connection that answered 101 Switching
 * Protocols: after that answer the connection is a byte stream, read
 * through on_body (the response never completes; on_end reports its end)
 * and written here. Returns 0, CRIER_EINVAL when the connection is not in
 * that state, CRIER_ENOMEM or a libuv code.
 */
int http_client_write(struct http_client *hc, const void *data, size_t len);

/* True when the connection is alive with no request outstanding. */
bool http_client_reusable(const struct http_client *hc);

/* Closes the connection; closed_cb (may be NULL) runs when the memory is
 * gone. No other callback runs after this call. */
void http_client_close(struct http_client *hc, void (*closed_cb)(void *user));

#endif
