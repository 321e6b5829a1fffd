/*
 * ws_conn.h - a WebSocket connection (RFC 6455, RFC 7692) and the API
 * that WebSocket routes (/echo, raw subscribers, /ws) build on.
 *
 * A route handler calls ws_conn_upgrade from its HTTP handler; on success
 * the connection leaves HTTP for good and its ws_handler receives whole
 * messages: reassembled from fragments, inflated, UTF-8 checked. Protocol
 * violations close the connection with the right code and reason before a
 * handler could see them. Pings, pongs, the closing handshake, idle
 * detection, and the outbound byte budget are handled here.
 *
 * All calls run on the connection's worker thread.
 */
#ifndef CRIER_WS_WS_CONN_H
#define CRIER_WS_WS_CONN_H

#include "http/http_conn.h"
#include "ws/ws_frame.h"

#include <stddef.h>
#include <stdint.h>

struct ws_conn;

struct ws_handler {
	/* The 101 is queued; the connection is open. Optional. */
	void (*on_open)(struct ws_conn *wc);
	/* A whole message. data is writable and valid only during the call. */
	void (*on_message)(struct ws_conn *wc, enum ws_opcode op, uint8_t *data, size_t len);
	/* The connection is going away (any reason); last call. Optional. */
	void (*on_close)(struct ws_conn *wc);
	/* Everything queued has been written. Optional. */
	void (*on_drain)(struct ws_conn *wc);
};

/* What a WebSocket route offers in its handshake. */
struct ws_route {
	const struct ws_handler *handler;
	const char *const *protocols; /* subprotocols, preferred first */
	size_t n_protocols;
	bool protocol_required;
};

/* Bytes a connection needs when WebSocket is enabled (for http_app.conn_size). */
size_t ws_conn_size(void);

/* Validates the upgrade in ctx and, on success, turns the connection into
 * a WebSocket for route and returns 0; on failure answers the HTTP error
 * (426, 400, 403) with its reason, counts it, and returns its code. */
int ws_conn_upgrade(struct http_ctx *ctx, const struct ws_route *route);

/* Queues a pre-encoded frame shared with other connections (the caller
 * gives up one reference). No budget check: the caller applies its own.
 * Returns 0 or CRIER_ECLOSED. */
int ws_send_frame(struct ws_conn *wc, struct rcbuf *frame);

/* Unsent bytes queued on the connection. */
uint64_t ws_conn_queued(const struct ws_conn *wc);
/* True while the kernel refuses more (see conn_pushback). */
bool ws_conn_pushback(const struct ws_conn *wc);

/* The negotiated permessage-deflate window (9..15), or 0 when off. */
int ws_conn_deflate_bits(const struct ws_conn *wc);

/* The worker's deflater for a window size (9..15), created on first use;
 * NULL when out of memory. Worker thread only. */
struct ws_deflater *ws_worker_deflater(struct worker *w, uint8_t bits);

/* Drops the unsent backlog and closes with 1008 "slow consumer". */
void ws_close_slow(struct ws_conn *wc);

/* Sends a message (compressed when permessage-deflate was negotiated and
 * it pays). Returns 0, CRIER_ECLOSED when the connection is closing, or
 * CRIER_EWS_SLOW when it went over --ws-max-backpressure and was closed. */
int ws_send(struct ws_conn *wc, enum ws_opcode op, const void *data, size_t len);

/* Starts the closing handshake (RFC 6455 §7.1.2) with code and reason;
 * the TCP connection ends when the peer answers or --ws-close-timeout
 * passes. */
void ws_close(struct ws_conn *wc, uint16_t code, const char *reason);

/* Per-connection data for the route's handler (NULL until set). */
void *ws_conn_user(const struct ws_conn *wc);
void ws_conn_set_user(struct ws_conn *wc, void *user);

/* The subprotocol selected in the handshake, or NULL. */
const char *ws_conn_protocol(const struct ws_conn *wc);

/* Releases the worker's WebSocket state (deflaters); server hook. */
void ws_worker_exit(struct worker *w);

#endif
