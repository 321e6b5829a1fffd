/*
 * conn.c - reading, queued writing and closing of one connection.
 *
 * The outbound queue is a ring of (rcbuf, offset) pairs. conn_send only
 * appends and marks the connection for a flush; the worker's check phase
 * (after all reads of an iteration) calls conn_flush, which hands up to
 * CONN_IOV_MAX buffers to one uv_try_write (writev). Whatever the kernel
 * does not take goes into a single uv_write; further sends wait until it
 * completes. So the common case is one system call per connection per loop
 * iteration however many messages were queued, and the slow case never
 * copies: the queue's references keep the bytes alive.
 *
 * Ending a connection is the lingering close that RFC 9112 §9.6 asks for:
 * flush, shutdown(SHUT_WR), keep reading and discarding until the peer's
 * EOF or a short deadline, then close. Closing with unread input would make
 * the kernel send a reset that can destroy the response we just wrote.
 */
#include "net/conn.h"

#include "core/err.h"
#include "net/conn_tls.h"
#include "net/server.h"
#include "net/worker.h"

#include <stdlib.h>
#include <string.h>

/* Buffers per writev; well under IOV_MAX. */
#define CONN_IOV_MAX 64
/* How long an ended connection drains its peer. */
#define CONN_LINGER_MS 2000
/* Ring entries kept when the queue empties. */
#define CONN_Q_KEEP 4

static void conn_on_close(uv_handle_t *h);

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
	(void)suggested;
	struct conn *c = (struct conn *)(void *)h;
	*out = uv_buf_init(c->w->rbuf, WORKER_RBUF_BYTES);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = (struct conn *)(void *)s;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (c->ending)
			conn_close(c);
		else
			c->proto->on_eof(c, (int)nread);
		return;
	}
	metric_add(&c->w->m.bytes_in, (uint64_t)nread);
	if (c->tls) {
		/* Before the ending test: an ending TLS connection still needs
		 * its handshake (to deliver a 503) and the peer's close_notify. */
		conn_tls_read(c, b->base, (size_t)nread);
		return;
	}
	if (c->ending)
		return; /* lingering: discard */
	c->proto->on_read(c, b->base, (size_t)nread);
}

int conn_start(struct conn *c)
{
	if (c->reading || c->closing)
		return 0;
	int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
	if (rc == 0)
		c->reading = true;
	return rc;
}

void conn_pause(struct conn *c)
{
	if (!c->reading || c->closing)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

int conn_accept(struct conn *c, struct worker *w, uv_stream_t *listener,
                const struct conn_proto *proto)
{
	c->w = w;
	c->proto = proto;
	int rc = uv_tcp_init(&w->loop, &c->tcp);
	if (rc) {
		proto->on_free(c);
		return rc;
	}
	c->tcp.data = c; /* marks the handle as a connection for uv_walk */
	w->conn_count++;
	rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rc) {
		/* The handle is initialised: it must be closed, not freed. */
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, conn_on_close);
		return rc;
	}
	SSL_CTX *tls_ctx = server_listener_tls(w, listener);
	if (tls_ctx && conn_tls_attach(c, tls_ctx) != 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, conn_on_close);
		return CRIER_ENOMEM;
	}
	uv_tcp_nodelay(&c->tcp, 1); /* we coalesce ourselves; Nagle only adds latency */
	metric_inc(&w->m.conn_accepted[c->transport]);
	metric_inc(&w->m.conn_open[c->transport]);
	c->in_gauge = true;
	return 0;
}

void conn_set_timeout(struct conn *c, enum conn_tclass tclass, uint64_t ms)
{
	list_unlink(&c->tnode);
	c->tclass = (uint8_t)tclass;
	/* A closing connection stays off the lists: it is freed by its close
	 * callback, and work still running for it until then (a long-poll
	 * answered by a publish in that window) must not link it back in. */
	if (tclass == CONN_T_NONE || c->closing)
		return;
	c->deadline_ms = uv_now(&c->w->loop) + ms;
	list_push(&c->w->tlists[tclass], &c->tnode);
}

/* Frees an empty ring. */
static void conn_q_release(struct conn *c)
{
	free(c->q);
	c->q = NULL;
	c->q_cap = 0;
	c->q_head = 0;
}

/* Grows the ring to hold one more entry, unrolling it to start at 0. */
static int conn_q_grow(struct conn *c)
{
	uint32_t cap = c->q_cap ? c->q_cap * 2 : CONN_Q_KEEP;
	struct outq_ent *q = malloc(cap * sizeof(*q));
	if (!q)
		return CRIER_ENOMEM;
	for (uint32_t i = 0; i < c->q_len; i++)
		q[i] = c->q[(c->q_head + i) % c->q_cap];
	free(c->q);
	c->q = q;
	c->q_cap = cap;
	c->q_head = 0;
	return 0;
}

int conn_send(struct conn *c, struct rcbuf *b)
{
	if (c->closing || c->fin_sent || (c->q_len == c->q_cap && conn_q_grow(c))) {
		rcbuf_unref(b);
		return c->closing || c->fin_sent ? CRIER_ECLOSED : CRIER_ENOMEM;
	}
	c->q[(c->q_head + c->q_len) % c->q_cap] = (struct outq_ent){.b = b, .off = 0};
	c->q_len++;
	c->q_bytes += b->len;
	worker_want_flush(c->w, c);
	return 0;
}

int conn_send_copy(struct conn *c, const void *data, size_t len)
{
	struct rcbuf *b = rcbuf_copy(data, len);
	if (!b)
		return CRIER_ENOMEM;
	return conn_send(c, b);
}

/* Fills iov from the queue, skipping bytes already handed to a uv_write. */
static unsigned conn_q_iov(struct conn *c, uv_buf_t *iov, uint64_t *bytes)
{
	unsigned n = 0;
	uint64_t skip = c->inflight_bytes, total = 0;
	for (uint32_t i = 0; i < c->q_len && n < CONN_IOV_MAX; i++) {
		struct outq_ent *e = &c->q[(c->q_head + i) % c->q_cap];
		size_t avail = e->b->len - e->off;
		if (skip >= avail) {
			skip -= avail;
			continue;
		}
		iov[n++] = uv_buf_init(e->b->data + e->off + skip, (unsigned)(avail - skip));
		total += avail - skip;
		skip = 0;
	}
	*bytes = total;
	return n;
}

void conn_q_pop(struct conn *c, uint64_t n)
{
	while (c->q_len > 0) {
		struct outq_ent *e = &c->q[c->q_head];
		size_t avail = e->b->len - e->off;
		if (n < avail) {
			e->off += (uint32_t)n;
			return;
		}
		n -= avail;
		rcbuf_unref(e->b);
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_len--;
	}
	if (c->q_len == 0) {
		c->q_head = 0;
		/* A subscriber that drains between messages keeps the smallest
		 * ring (64 bytes), so delivering costs no allocation. A ring a
		 * burst made larger is kept until the next tick, so that a stream
		 * of bursts does not allocate, grow and free it on every one (at
		 * 20,000 subscribers that churn was a tenth of crier's own CPU),
		 * then given back if still empty. A plain HTTP connection's goes
		 * at once: it allocates per response anyway, and idle keep-alive
		 * connections are the ones there are many of. */
		if (c->transport == METRICS_T_HTTP) {
			conn_q_release(c);
		} else if (c->q_cap > CONN_Q_KEEP && !c->ring_kept) {
			if (list_linked(&c->fnode) || c->closing) {
				conn_q_release(c);
			} else {
				list_push(&c->w->shrink_list, &c->fnode);
				c->ring_kept = true;
			}
		}
	}
}

void conn_shrink_kept(struct worker *w)
{
	while (!list_empty(&w->shrink_list)) {
		struct conn *c = container_of(list_first(&w->shrink_list), struct conn, fnode);
		list_unlink(&c->fnode);
		c->ring_kept = false;
		if (c->q_len == 0)
			conn_q_release(c);
	}
}

/* Drops n written bytes from the head of the queue. */
static void conn_q_consume(struct conn *c, uint64_t n)
{
	c->q_bytes -= n;
	metric_add(&c->w->m.bytes_out, n);
	conn_q_pop(c, n);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	if (c->closing)
		return;
	if (status < 0 || conn_start(c) != 0) {
		conn_close(c);
		return;
	}
	conn_set_timeout(c, CONN_T_LINGER, CONN_LINGER_MS);
}

/* Everything queued is written: an ending connection sends its FIN (after
 * TLS's close_notify). */
void conn_drained(struct conn *c)
{
	if (!c->ending && !c->closing && c->proto->on_drain) {
		c->proto->on_drain(c);
		if (c->q_len > 0)
			return; /* it queued more: the flush loop continues */
	}
	if (!c->ending || c->fin_sent || c->closing)
		return;
	if (c->tls && conn_tls_notify(c))
		return; /* the flush that writes it comes back here */
	c->fin_sent = true;
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_on_shutdown) != 0) {
		free(req);
		conn_close(c);
		return;
	}
	req->data = c;
}

static void conn_on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	c->wreq = NULL;
	if (c->closing)
		return; /* the queue is released by the close callback */
	if (status < 0) {
		conn_close(c);
		return;
	}
	uint64_t n = c->inflight_bytes;
	c->inflight_bytes = 0;
	conn_q_consume(c, n);
	conn_flush(c);
}

void conn_flush(struct conn *c)
{
	if (c->tls) {
		conn_tls_flush(c);
		return;
	}
	while (c->q_len > 0 && !c->wreq && !c->closing) {
		uv_buf_t iov[CONN_IOV_MAX];
		uint64_t bytes;
		unsigned n = conn_q_iov(c, iov, &bytes);
		int rc = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
		metric_inc(&c->w->m.writes);
		if (rc < 0 && rc != UV_EAGAIN) {
			conn_close(c);
			return;
		}
		uint64_t wrote = rc > 0 ? (uint64_t)rc : 0;
		if (wrote)
			conn_q_consume(c, wrote);
		if (wrote == bytes)
			continue; /* more may be queued beyond CONN_IOV_MAX */
		/* The kernel is full: hand the rest to one uv_write. */
		n = conn_q_iov(c, iov, &bytes);
		c->wreq = malloc(sizeof(*c->wreq));
		if (!c->wreq) {
			conn_close(c);
			return;
		}
		c->wreq->data = c;
		c->inflight_bytes = bytes;
		if (uv_write(c->wreq, (uv_stream_t *)&c->tcp, iov, n, conn_on_write) != 0) {
			free(c->wreq);
			c->wreq = NULL;
			c->inflight_bytes = 0;
			conn_close(c);
		}
		return;
	}
	if (c->q_len == 0)
		conn_drained(c);
}

void conn_drop_queued(struct conn *c)
{
	/* Keep the head entry if a write has touched it, and everything a
	 * pending uv_write covers; drop the rest. */
	uint64_t keep_bytes = c->inflight_bytes;
	uint32_t keep = 0;
	while (keep < c->q_len) {
		struct outq_ent *e = &c->q[(c->q_head + keep) % c->q_cap];
		size_t avail = e->b->len - e->off;
		if (keep_bytes == 0 && e->off == 0)
			break;
		keep_bytes = keep_bytes > avail ? keep_bytes - avail : 0;
		keep++;
	}
	while (c->q_len > keep) {
		uint32_t last = (c->q_head + c->q_len - 1) % c->q_cap;
		struct outq_ent *e = &c->q[last];
		c->q_bytes -= e->b->len - e->off;
		rcbuf_unref(e->b);
		c->q_len--;
	}
}

void conn_set_transport(struct conn *c, enum metrics_transport t)
{
	if (c->in_gauge) {
		metric_dec(&c->w->m.conn_open[c->transport]);
		metric_inc(&c->w->m.conn_open[t]);
	}
	c->transport = (uint8_t)t;
}

void conn_end(struct conn *c)
{
	if (c->ending || c->closing)
		return;
	c->ending = true;
	conn_set_timeout(c, CONN_T_LINGER, CONN_LINGER_MS);
	/* TLS must read to finish a handshake (a 503 queued at accept waits
	 * for it) and to see the peer's close_notify. */
	if (c->tls)
		conn_start(c);
	if (c->q_len == 0 && !c->wreq && !(c->tls && conn_tls_pending(c)))
		conn_drained(c);
	else
		worker_want_flush(c->w, c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	list_unlink(&c->tnode);
	list_unlink(&c->fnode); /* the flush list, or the shrink list */
	c->ring_kept = false;
	c->tclass = CONN_T_NONE;
	uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void conn_on_close(uv_handle_t *h)
{
	struct conn *c = (struct conn *)(void *)h;
	struct worker *w = c->w;
	while (c->q_len > 0) {
		rcbuf_unref(c->q[c->q_head].b);
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_len--;
	}
	free(c->q);
	buf_free(&c->in);
	if (c->tls)
		conn_tls_free(c);
	if (c->counted)
		atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
	if (c->in_gauge)
		metric_dec(&w->m.conn_open[c->transport]);
	if (c->lim && w->srv->hooks.conn_release)
		w->srv->hooks.conn_release(c);
	c->proto->on_free(c);
	worker_conn_gone(w);
}
