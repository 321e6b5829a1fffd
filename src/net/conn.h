/*
 * conn.h - one client connection: reads, the outbound queue, timeouts.
 *
 * The connection layer moves bytes and knows nothing of HTTP or
 * WebSocket: a protocol (struct conn_proto) is plugged in and told about
 * input, timeouts and shutdown. A protocol allocates its own struct with a
 * struct conn as its first member (`base`), so one allocation holds both.
 *
 * Reads land in the worker's shared read buffer; the protocol must copy
 * whatever it needs to keep before on_read returns (conn->in is there for
 * an incomplete message). Writes are references to shared rcbufs queued on
 * the connection and flushed once per loop iteration with one writev, so a
 * burst of messages costs one system call. A connection's memory is
 * released only in its close callback, never earlier: a pointer to a
 * connection stays valid for the whole callback that holds it.
 */
#ifndef CRIER_NET_CONN_H
#define CRIER_NET_CONN_H

#include "core/buf.h"
#include "core/list.h"
#include "core/rcbuf.h"
#include "net/metrics.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct worker;
struct conn;
struct conn_tls;

/* Timeout classes. Every connection in a class has the same duration, so
 * each class is a FIFO list sorted by deadline and expiry is O(expired). */
enum conn_tclass {
	CONN_T_NONE = 0,
	CONN_T_HEADER,    /* receiving a request head (slowloris bound) */
	CONN_T_BODY,      /* silence while receiving a body */
	CONN_T_IDLE,      /* keep-alive idle between requests */
	CONN_T_LINGER,    /* lingering close: draining the peer after our FIN */
	CONN_T_PING,      /* WebSocket: next server ping / idle check */
	CONN_T_CLOSE,     /* WebSocket: waiting for the peer's close frame */
	CONN_T_HEARTBEAT, /* SSE: next comment line on an idle stream */
	CONN_T_POLL,      /* long-poll: the held request's --poll-timeout */
	CONN_T_COUNT
};

struct conn_proto {
	const char *name;
	/* Bytes arrived; data is valid only during the call and writable (a
	 * WebSocket unmasks in place). */
	void (*on_read)(struct conn *c, char *data, size_t len);
	/* The peer closed its side (err = UV_EOF) or the read failed. */
	void (*on_eof)(struct conn *c, int err);
	/* The connection's deadline in class tclass passed. */
	void (*on_timeout)(struct conn *c, enum conn_tclass tclass);
	/* Graceful shutdown began: finish what is in flight, then end. */
	void (*on_shutdown)(struct conn *c);
	/* Everything queued has been written (optional): a producer that
	 * paused for backpressure may queue more. */
	void (*on_drain)(struct conn *c);
	/* Last call: release protocol state and free the struct. */
	void (*on_free)(struct conn *c);
};

struct outq_ent {
	struct rcbuf *b; /* one reference held by the queue */
	uint32_t off;    /* bytes of b already written */
};

struct conn {
	uv_tcp_t tcp; /* first: handle <-> connection */
	struct worker *w;
	const struct conn_proto *proto;
	struct list tnode;    /* on w->tlists[tclass] */
	uint64_t deadline_ms; /* monotonic, valid when tclass != NONE */
	struct list fnode;    /* on w->flush_list while a flush is due */
	struct buf in;        /* incomplete input kept between reads; empty when idle */
	struct outq_ent *q;   /* ring of queued buffers; NULL when empty */
	uint32_t q_head, q_len, q_cap;
	uint64_t q_bytes;        /* unwritten bytes queued, the backpressure figure */
	uint64_t inflight_bytes; /* bytes handed to a uv_write not yet completed */
	void *lim;               /* limit slots held (auth/admit.h); released on close */
	uv_write_t *wreq;        /* allocated only while a uv_write is in flight */
	struct conn_tls *tls;    /* TLS state (conn_tls.c), NULL on plain TCP */
	uint8_t tclass;          /* enum conn_tclass */
	uint8_t transport;       /* enum metrics_transport */
	bool closing : 1;        /* uv_close called */
	bool ending : 1;         /* flush, FIN, linger, close */
	bool fin_sent : 1;
	bool reading : 1;
	bool counted : 1;   /* holds a slot in the server's connection count */
	bool in_gauge : 1;  /* counted in conn_open[transport] */
	bool ring_kept : 1; /* fnode is on w->shrink_list, not the flush list */
};

/* Starts reading. Returns 0 or a negative uv code. */
int conn_start(struct conn *c);
/* Stops reading (backpressure, or nothing more will be parsed). */
void conn_pause(struct conn *c);

/* Queues b (the caller gives up one reference) for writing at the end of
 * this loop iteration. Returns 0, or CRIER_ECLOSED when the connection is
 * closing or ending (the reference is dropped). */
int conn_send(struct conn *c, struct rcbuf *b);
/* Copies bytes into a new buffer and queues it. */
int conn_send_copy(struct conn *c, const void *data, size_t len);

/* Drops queued buffers that no write has started on, keeping only what is
 * partly written or handed to the kernel, so a slow consumer's backlog can
 * be discarded before a final message (a close frame) is queued. */
void conn_drop_queued(struct conn *c);

/* True while a write is pending because the kernel took less than was
 * queued: the peer is not reading as fast as we write. */
static inline bool conn_pushback(const struct conn *c)
{
	return c->wreq != NULL;
}

/* Moves the connection to another transport label (after an upgrade). */
void conn_set_transport(struct conn *c, enum metrics_transport t);

/* Graceful end: no more reads are delivered; queued bytes are flushed, then
 * FIN is sent and the peer is drained briefly (so an unread request does
 * not turn our last response into a reset) before the socket closes. */
void conn_end(struct conn *c);
/* Immediate close: the queue is dropped. Idempotent. */
void conn_close(struct conn *c);

/* Arms the connection's single deadline in class tclass, ms from now
 * (replacing any other); CONN_T_NONE clears it. All connections in one
 * class must use the same duration. Does nothing (but clear) on a closing
 * connection, which must never be linked back into a list. */
void conn_set_timeout(struct conn *c, enum conn_tclass tclass, uint64_t ms);

/* Initialises the connection part of a freshly allocated (zeroed) protocol
 * struct and accepts the pending connection on the listener into it.
 * Returns 0, or a negative uv code after which the struct is released
 * through proto->on_free (at once, or from the close callback). */
int conn_accept(struct conn *c, struct worker *w, uv_stream_t *listener,
                const struct conn_proto *proto);

/* Frees the write rings kept since the last tick that are still empty
 * (worker tick). */
void conn_shrink_kept(struct worker *w);

/* Called by the worker's check phase: writes what is queued. */
void conn_flush(struct conn *c);

/* For the TLS layer (conn_tls.c), which owns the write path of its
 * connections. conn_q_pop drops n bytes from the head of the queue
 * (whole buffers released, a partial one advanced, empty ones skipped)
 * without touching q_bytes or the metrics; conn_drained is what a flush
 * does when nothing is left to write (on_drain, or FIN when ending). */
void conn_q_pop(struct conn *c, uint64_t n);
void conn_drained(struct conn *c);

#endif
