/*
 * redis_conn.c - an asynchronous Redis connection: a nonblocking socket
 * watched by a uv_poll, plain or through an OpenSSL session on the same
 * descriptor, hiredis's reply parser, and a FIFO of reply callbacks.
 *
 * Owns: the socket, the TLS session, the output buffer (encoded commands
 * not yet taken by the kernel) and the callbacks of commands sent. Never
 * interprets a reply beyond telling a pub/sub push from an answer: the
 * engine decides what replies mean.
 *
 * The non-obvious choice: OpenSSL does the socket I/O itself (SSL_set_fd)
 * rather than through memory BIOs. With a uv_poll that watches readable
 * always and writable while bytes wait (or the session asks to write),
 * each wake-up retries both directions, which covers every WANT_READ /
 * WANT_WRITE combination without tracking which call asked for what.
 */
#include "engine/redis_conn.h"

#include "core/buf.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RC_READ_BYTES  16384      /* one read: a TLS record's worth */
#define RC_READS_MAX   64         /* reads per wake-up, so one busy peer cannot hog the loop */
#define RC_OUT_KEEP    (64 << 10) /* an idle output buffer larger than this is released */
#define RC_WRITE_CHUNK (16 << 10) /* one SSL_write: one record */
/* Commands waiting for a Redis that stopped reading: far above any healthy
 * backlog (a publish answers 503 after --redis-timeout anyway), and a
 * bound on what a stalled Redis can make a node hold. */
#define RC_OUT_MAX (64u << 20)

enum rc_state {
	RC_RESOLVING,  /* the host name is being resolved (libuv's thread pool) */
	RC_CONNECTING, /* TCP or unix connect in progress */
	RC_HANDSHAKE,  /* TLS handshake in progress */
	RC_HELLO,      /* the first PING is out: Redis has not answered yet */
	RC_UP,         /* commands flow */
	RC_DEAD,       /* ended: waiting for the poll handle's close callback */
};

struct rc_pending {
	redis_conn_reply_fn *fn;
	void *priv;
};

struct redis_conn {
	uv_poll_t poll; /* first: the close callback recovers the connection */
	/* While resolving: the request, and a handle that is never started but
	 * that the loop's shutdown walk closes, which is how a late answer
	 * knows not to start a connection on a loop that is ending. */
	uv_getaddrinfo_t resolve;
	uv_timer_t guard;
	bool resolving;                /* resolve is in flight */
	bool guard_open;               /* guard is initialized and its close callback has not run */
	bool poll_started;             /* poll is initialized: closing goes through it */
	bool poll_closed;              /* and its close callback has run */
	SSL_CTX *tls;                  /* rediss://: for the session once connected */
	struct addrinfo *ai, *ai_next; /* the resolved addresses, and the next to try */
	struct redis_url url;
	int fd;
	uint8_t state;   /* enum rc_state */
	int events;      /* what the poll watches (UV_READABLE | UV_WRITABLE) */
	bool want_write; /* the TLS session asked to write before it can go on */
	SSL *ssl;        /* NULL: plain */
	redisReader *reader;
	struct buf out;          /* encoded commands not yet written */
	struct rc_pending *fifo; /* ring of callbacks, oldest at head */
	size_t head, count, cap;
	struct redis_conn_cbs cbs;
	void *data;
	char why[200];
};

/* ---- the ring of callbacks ----------------------------------------------- */

static int rc_push(struct redis_conn *rc, redis_conn_reply_fn *fn, void *priv)
{
	if (rc->count == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 16;
		struct rc_pending *f = malloc(cap * sizeof(*f));
		if (!f)
			return CRIER_ENOMEM;
		for (size_t i = 0; i < rc->count; i++)
			f[i] = rc->fifo[(rc->head + i) % rc->cap];
		free(rc->fifo);
		rc->fifo = f;
		rc->cap = cap;
		rc->head = 0;
	}
	rc->fifo[(rc->head + rc->count++) % rc->cap] = (struct rc_pending){fn, priv};
	return 0;
}

static bool rc_pop(struct redis_conn *rc, struct rc_pending *out)
{
	if (rc->count == 0)
		return false;
	*out = rc->fifo[rc->head];
	rc->head = (rc->head + 1) % rc->cap;
	rc->count--;
	return true;
}

/* ---- ending ---------------------------------------------------------------- */

static void rc_free(struct redis_conn *rc)
{
	if (rc->ai)
		uv_freeaddrinfo(rc->ai);
	if (rc->ssl)
		SSL_free(rc->ssl);
	if (rc->fd >= 0)
		close(rc->fd);
	if (rc->reader)
		redisReaderFree(rc->reader);
	buf_free(&rc->out);
	free(rc->fifo);
	free(rc);
}

/* Frees an ended connection once nothing of it is in the loop's hands. */
static void rc_release(struct redis_conn *rc)
{
	if (!rc->resolving && !rc->guard_open && (!rc->poll_started || rc->poll_closed))
		rc_free(rc);
}

static void rc_on_close(uv_handle_t *h)
{
	struct redis_conn *rc = (struct redis_conn *)(void *)h;
	rc->poll_closed = true;
	rc_release(rc);
}

/* Runs every pending callback with no reply. */
static void rc_fail_pending(struct redis_conn *rc)
{
	struct rc_pending p;
	while (rc_pop(rc, &p))
		p.fn(rc->data, NULL, p.priv);
}

static void rc_on_guard_close(uv_handle_t *h)
{
	struct redis_conn *rc = h->data;
	rc->guard_open = false;
	if (rc->state == RC_DEAD)
		rc_release(rc);
}

void redis_conn_close(struct redis_conn *rc, int status, const char *why)
{
	if (rc->state == RC_DEAD)
		return;
	bool was_up = rc->state == RC_UP;
	rc->state = RC_DEAD;
	snprintf(rc->why, sizeof(rc->why), "%s", why ? why : "closed");
	if (rc->poll_started && uv_is_closing((uv_handle_t *)&rc->poll)) {
		/* Moving to the next address: rc_on_poll_reopen frees it. */
	} else if (rc->poll_started) {
		uv_close((uv_handle_t *)&rc->poll, rc_on_close);
	} else {
		/* Resolving: freed once both the answer (cancelled if it has not
		 * started) and the guard's close are in. */
		uv_cancel((uv_req_t *)&rc->resolve);
		if (!uv_is_closing((uv_handle_t *)&rc->guard))
			uv_close((uv_handle_t *)&rc->guard, rc_on_guard_close);
	}
	rc_fail_pending(rc);
	if (was_up)
		rc->cbs.on_disconnect(rc->data, rc->why);
	else
		rc->cbs.on_connect(rc->data, status, rc->why);
}

void redis_conn_exit(struct redis_conn *rc)
{
	rc->state = RC_DEAD;
	rc_fail_pending(rc);
	rc_free(rc);
}

/* The reason for a failed TLS call: the certificate check's verdict when
 * that is what failed, else OpenSSL's reason, else errno or "closed". */
static void rc_tls_fail(struct redis_conn *rc, int err, const char *during)
{
	char why[sizeof(rc->why)];
	long vr = SSL_get_verify_result(rc->ssl);
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	if (vr != X509_V_OK && e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
		snprintf(why, sizeof(why), "TLS %s: certificate verify failed (%s)", during,
		         X509_verify_cert_error_string(vr));
	else if (reason)
		snprintf(why, sizeof(why), "TLS %s: %s", during, reason);
	else if (err == SSL_ERROR_SYSCALL && errno)
		snprintf(why, sizeof(why), "TLS %s: %s", during, strerror(errno));
	else
		snprintf(why, sizeof(why), "TLS %s: the peer closed the connection", during);
	ERR_clear_error();
	redis_conn_close(rc, CRIER_ETLS, why);
}

/* The hint for a plain connection dropped before Redis said a word: the
 * usual cause is a TLS port (its alert, then a reset). */
static const char *rc_hint(const struct redis_conn *rc)
{
	return rc->state == RC_HELLO && !rc->ssl
	               ? " before answering (a TLS port? that needs rediss://)"
	               : "";
}

/* A failure of the socket: a connect that does not complete, a reset. */
static void rc_io_fail(struct redis_conn *rc, const char *what, int err)
{
	char why[sizeof(rc->why)];
	snprintf(why, sizeof(why), "%s: %s%s", what, strerror(err), rc_hint(rc));
	redis_conn_close(rc, CRIER_EIO, why);
}

/* ---- I/O ------------------------------------------------------------------- */

static void rc_on_poll(uv_poll_t *h, int status, int events);

/* Readable always once connected; writable while bytes wait or the
 * session wants it; only writable while connecting (its completion). */
static void rc_update(struct redis_conn *rc)
{
	if (rc->state == RC_DEAD || !rc->poll_started)
		return;
	int ev = UV_READABLE;
	if (rc->state == RC_CONNECTING)
		ev = UV_WRITABLE;
	else if (rc->want_write || (rc->out.len && rc->state != RC_HANDSHAKE))
		ev |= UV_WRITABLE;
	if (ev != rc->events) /* a restart costs a system call at the next poll */
		uv_poll_start(&rc->poll, ev, rc_on_poll);
	rc->events = ev;
}

/* Writes what it can of the output buffer. Returns false when the
 * connection ended. */
static bool rc_flush(struct redis_conn *rc)
{
	size_t sent = 0;
	while (sent < rc->out.len) {
		size_t n = rc->out.len - sent;
		if (rc->ssl) {
			ERR_clear_error();
			int k = SSL_write(rc->ssl, rc->out.data + sent,
			                  (int)(n < RC_WRITE_CHUNK ? n : RC_WRITE_CHUNK));
			if (k > 0) {
				sent += (size_t)k;
				continue;
			}
			int err = SSL_get_error(rc->ssl, k);
			if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
				rc->want_write = err == SSL_ERROR_WANT_WRITE;
				break;
			}
			if (err == SSL_ERROR_SYSCALL) {
				/* Reset: the peer's alert, if it sent one, says why. */
				char peek[64];
				ERR_clear_error();
				int r = SSL_read(rc->ssl, peek, (int)sizeof(peek));
				if (r <= 0 && SSL_get_error(rc->ssl, r) == SSL_ERROR_SSL)
					err = SSL_ERROR_SSL;
			}
			rc_tls_fail(rc, err, rc->state == RC_HELLO ? "handshake" : "write");
			return false;
		}
		ssize_t k = send(rc->fd, rc->out.data + sent, n, MSG_NOSIGNAL);
		if (k > 0) {
			sent += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		rc_io_fail(rc, "write to redis", k < 0 ? errno : EPIPE);
		return false;
	}
	if (sent == rc->out.len) {
		rc->want_write = false;
		rc->out.len = 0;
		if (rc->out.cap > RC_OUT_KEEP)
			buf_free(&rc->out);
	} else {
		buf_consume(&rc->out, sent);
	}
	return true;
}

/* Hands each complete reply to its taker. Returns false when the
 * connection ended. */
static bool rc_dispatch(struct redis_conn *rc)
{
	for (;;) {
		void *r = NULL;
		if (redisReaderGetReply(rc->reader, &r) != REDIS_OK) {
			char why[sizeof(rc->why)];
			snprintf(why, sizeof(why), "protocol error from redis: %s",
			         rc->reader->errstr[0] ? rc->reader->errstr : "unparsable reply");
			redis_conn_close(rc, CRIER_EIO, why);
			return false;
		}
		if (!r)
			return true;
		const redisReply *reply = r;
		struct rc_pending p;
		if (rc->state == RC_HELLO) {
			/* The PING's answer, whatever it is (NOAUTH included): Redis
			 * speaks RESP to us. */
			rc->state = RC_UP;
			rc->cbs.on_connect(rc->data, 0, NULL);
		} else if (rc->cbs.on_push && reply->type == REDIS_REPLY_ARRAY &&
		           reply->elements == 3 && reply->element[0]->type == REDIS_REPLY_STRING &&
		           strcmp(reply->element[0]->str, "message") == 0) {
			rc->cbs.on_push(rc->data, reply);
		} else if (rc_pop(rc, &p)) {
			p.fn(rc->data, r, p.priv);
		} else {
			freeReplyObject(r);
			redis_conn_close(rc, CRIER_EIO,
			                 "a reply from redis that no command asked for");
			return false;
		}
		freeReplyObject(r);
		if (rc->state == RC_DEAD)
			return false;
	}
}

/* Reads what the socket (or session) holds, parsing as it goes. */
static void rc_read(struct redis_conn *rc)
{
	char data[RC_READ_BYTES];
	/* Bounded, except that bytes the session already decrypted must be
	 * taken now: no poll event would announce them. */
	for (int i = 0;
	     (i < RC_READS_MAX || (rc->ssl && SSL_pending(rc->ssl) > 0)) && rc->state != RC_DEAD;
	     i++) {
		ssize_t n;
		if (rc->ssl) {
			ERR_clear_error();
			int k = SSL_read(rc->ssl, data, (int)sizeof(data));
			if (k <= 0) {
				int err = SSL_get_error(rc->ssl, k);
				if (err == SSL_ERROR_WANT_READ)
					return;
				if (err == SSL_ERROR_WANT_WRITE) {
					rc->want_write = true;
					return;
				}
				if (err == SSL_ERROR_ZERO_RETURN)
					redis_conn_close(
					        rc, CRIER_ECLOSED,
					        "redis closed the connection (TLS close_notify)");
				else
					rc_tls_fail(rc, err,
					            rc->state == RC_HELLO ? "handshake" : "read");
				return;
			}
			n = k;
		} else {
			n = recv(rc->fd, data, sizeof(data), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0) {
				rc_io_fail(rc, "read from redis", errno);
				return;
			}
			if (n == 0) {
				char why[sizeof(rc->why)];
				snprintf(why, sizeof(why), "redis closed the connection%s",
				         rc_hint(rc));
				redis_conn_close(rc, CRIER_ECLOSED, why);
				return;
			}
		}
		if (redisReaderFeed(rc->reader, data, (size_t)n) != REDIS_OK) {
			redis_conn_close(rc, CRIER_ENOMEM, "out of memory reading from redis");
			return;
		}
		if (!rc_dispatch(rc))
			return;
	}
}

static int rc_start(struct redis_conn *rc, uv_loop_t *loop, char *why, size_t why_len);
static int rc_tcp_socket(struct redis_conn *rc, char *why, size_t why_len);

/* The poll handle of a failed address has closed: the next address. */
static void rc_on_poll_reopen(uv_handle_t *h)
{
	struct redis_conn *rc = (struct redis_conn *)(void *)h;
	if (rc->ssl) {
		SSL_free(rc->ssl);
		rc->ssl = NULL;
	}
	close(rc->fd);
	rc->fd = -1;
	rc->poll_started = false;
	if (rc->state == RC_DEAD) { /* closed while this one was closing */
		rc_release(rc);
		return;
	}
	char why[sizeof(rc->why)];
	rc->fd = rc_tcp_socket(rc, why, sizeof(why));
	int err = rc->fd < 0 ? CRIER_EIO : rc_start(rc, h->loop, why, sizeof(why));
	if (err)
		redis_conn_close(rc, err, why);
}

/* Connected (TCP/unix): TLS starts, or the queued commands go out. */
static void rc_connected(struct redis_conn *rc)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(rc->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err && rc->ai_next) {
		/* A name with several addresses (IPv6 and IPv4, say): the next
		 * one, on a fresh poll handle once this one has closed. */
		uv_close((uv_handle_t *)&rc->poll, rc_on_poll_reopen);
		return;
	}
	if (err) {
		rc_io_fail(rc, "connect", err);
		return;
	}
	rc->state = rc->ssl ? RC_HANDSHAKE : RC_HELLO;
}

static void rc_handshake(struct redis_conn *rc)
{
	ERR_clear_error();
	int k = SSL_connect(rc->ssl);
	if (k == 1) {
		rc->state = RC_HELLO;
		rc->want_write = false;
		return;
	}
	int err = SSL_get_error(rc->ssl, k);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		rc->want_write = err == SSL_ERROR_WANT_WRITE;
		return;
	}
	rc_tls_fail(rc, err, "handshake");
}

static void rc_on_poll(uv_poll_t *h, int status, int events)
{
	struct redis_conn *rc = (struct redis_conn *)(void *)h;
	(void)events; /* both directions are tried: see the file comment */
	if (status < 0)
		rc->events = 0; /* libuv stopped the handle; the calls below find the error */
	if (rc->state == RC_CONNECTING) {
		rc_connected(rc);
		if (rc->state == RC_DEAD || rc->state == RC_CONNECTING)
			return; /* failed, or on to the next address */
	}
	if (rc->state == RC_HANDSHAKE) {
		rc_handshake(rc);
		if (rc->state != RC_HELLO) {
			rc_update(rc);
			return;
		}
	}
	/* Read first: a reply may queue commands that then leave in this
	 * turn's write, and a peer's alert is read before a write meets the
	 * reset that follows it. */
	rc_read(rc);
	if (rc->state == RC_DEAD || (rc->out.len && !rc_flush(rc)))
		return;
	rc_update(rc);
}

/* ---- opening ----------------------------------------------------------------- */

static bool rc_is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* A nonblocking unix socket with its connect started, or -1 with why. */
static int rc_unix_socket(const struct redis_url *url, char *why, size_t why_len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	               errno != EINPROGRESS && errno != EAGAIN)) {
		snprintf(why, why_len, "connect %s: %s", url->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A nonblocking TCP socket with its connect started to the next address
 * that takes it (rc->ai_next moves past it), or -1 with why. */
static int rc_tcp_socket(struct redis_conn *rc, char *why, size_t why_len)
{
	const struct redis_url *url = &rc->url;
	int fd = -1, last = 0;
	for (struct addrinfo *a; fd < 0 && (a = rc->ai_next);) {
		rc->ai_next = a->ai_next;
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			last = errno;
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		snprintf(why, why_len, "connect %.120s:%u: %s", url->host, (unsigned)url->port,
		         strerror(last));
	return fd;
}

/* The session: SNI with a host name (RFC 6066 §3 forbids addresses) and
 * the certificate checked against the host name or address of the URL. */
static SSL *rc_ssl(SSL_CTX *ctx, const struct redis_url *url, int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	bool ok = SSL_set_fd(ssl, fd) == 1;
	if (rc_is_ip(url->host))
		ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url->host) == 1;
	else
		ok = ok && SSL_set_tlsext_host_name(ssl, url->host) == 1 &&
		     SSL_set1_host(ssl, url->host) == 1;
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

/* The socket is connecting: TLS session, poll handle, and on. Returns 0,
 * or a code with why (the caller ends the connection). */
static int rc_start(struct redis_conn *rc, uv_loop_t *loop, char *why, size_t why_len)
{
	if (rc->url.tls && !(rc->ssl = rc_ssl(rc->tls, &rc->url, rc->fd))) {
		snprintf(why, why_len, "cannot start a TLS session");
		ERR_clear_error();
		return CRIER_ENOMEM;
	}
	if (uv_poll_init(loop, &rc->poll, rc->fd) != 0) {
		snprintf(why, why_len, "cannot watch the socket");
		return CRIER_EIO;
	}
	rc->poll_started = true;
	rc->state = RC_CONNECTING;
	rc_update(rc);
	return 0;
}

static void rc_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct redis_conn *rc = req->data;
	rc->resolving = false;
	if (rc->state == RC_DEAD) { /* closed meanwhile */
		uv_freeaddrinfo(ai);
		rc_release(rc);
		return;
	}
	if (uv_is_closing((uv_handle_t *)&rc->guard)) {
		/* The loop is ending (its walk closed every handle): start
		 * nothing; redis_conn_exit frees the connection after the loop. */
		uv_freeaddrinfo(ai);
		return;
	}
	uv_close((uv_handle_t *)&rc->guard, rc_on_guard_close);
	char why[sizeof(rc->why)];
	if (status != 0) {
		uv_freeaddrinfo(ai);
		snprintf(why, sizeof(why), "resolving %.120s: %s", rc->url.host,
		         uv_strerror(status));
		redis_conn_close(rc, CRIER_EIO, why);
		return;
	}
	rc->ai = rc->ai_next = ai;
	rc->fd = rc_tcp_socket(rc, why, sizeof(why));
	int err = rc->fd < 0 ? CRIER_EIO : rc_start(rc, req->loop, why, sizeof(why));
	if (err)
		redis_conn_close(rc, err, why);
}

int redis_conn_open(uv_loop_t *loop, const struct redis_url *url, SSL_CTX *tls,
                    const struct redis_conn_cbs *cbs, void *data, struct redis_conn **out,
                    char *why, size_t why_len)
{
	struct redis_conn *rc = calloc(1, sizeof(*rc));
	if (!rc) {
		snprintf(why, why_len, "out of memory");
		return CRIER_ENOMEM;
	}
	rc->fd = -1;
	rc->cbs = *cbs;
	rc->data = data;
	rc->url = *url;
	rc->tls = tls;
	rc->reader = redisReaderCreate();
	/* The first command, answered before any of the caller's. */
	if (!rc->reader || buf_append(&rc->out, "*1\r\n$4\r\nPING\r\n", 14) != 0) {
		snprintf(why, why_len, "out of memory");
		rc_free(rc);
		return CRIER_ENOMEM;
	}
	if (url->is_unix) {
		rc->fd = rc_unix_socket(url, why, why_len);
		int err = rc->fd < 0 ? CRIER_EIO : rc_start(rc, loop, why, why_len);
		if (err) {
			rc_free(rc); /* rc_start fails before its poll handle exists */
			return err;
		}
		*out = rc;
		return 0;
	}
	/* A host name is resolved off the loop: a slow DNS server must not
	 * stall every client of this worker while Redis is away. */
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)url->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	uv_timer_init(loop, &rc->guard);
	rc->guard.data = rc;
	rc->guard_open = true;
	rc->resolve.data = rc;
	rc->state = RC_RESOLVING;
	int err = uv_getaddrinfo(loop, &rc->resolve, rc_on_resolved, rc->url.host, port, &hints);
	if (err) {
		snprintf(why, why_len, "resolving %s: %s", url->host, uv_strerror(err));
		rc->state = RC_DEAD;
		uv_close((uv_handle_t *)&rc->guard, rc_on_guard_close); /* then frees it */
		return CRIER_EIO;
	}
	rc->resolving = true;
	*out = rc;
	return 0;
}

int redis_conn_cmd(struct redis_conn *rc, redis_conn_reply_fn *fn, void *priv, int argc,
                   const char **argv, const size_t *lens)
{
	if (rc->state == RC_DEAD)
		return CRIER_ECLOSED;
	char *cmd = NULL;
	int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (n < 0)
		return CRIER_ENOMEM;
	if (rc->out.len + (size_t)n > RC_OUT_MAX) {
		redisFreeCommand(cmd);
		return CRIER_EOVERLOAD;
	}
	bool idle = rc->out.len == 0;
	int err = buf_append(&rc->out, cmd, (size_t)n);
	redisFreeCommand(cmd);
	if (err == 0 && (err = rc_push(rc, fn, priv)) != 0)
		rc->out.len -= (size_t)n;
	if (err)
		return err;
	if (idle && rc->state >= RC_HELLO)
		rc_update(rc); /* written when the loop next polls: one write per turn */
	return 0;
}

/* ---- the client context ------------------------------------------------------- */

SSL_CTX *redis_conn_tls_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                            char *why, size_t why_len)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *what = "cannot create a TLS context";
	if (!ctx)
		goto err;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                              SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	what = ca_file ? "--redis-tls-ca: cannot load the CA certificates"
	               : "cannot load the system's CA certificates";
	if ((ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	             : SSL_CTX_set_default_verify_paths(ctx)) != 1)
		goto err;
	if (cert_file) {
		what = "--redis-tls-cert: cannot load the certificate";
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
			goto err;
		what = "--redis-tls-key: cannot load the private key";
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
			goto err;
		what = "--redis-tls-key: does not match --redis-tls-cert";
		if (SSL_CTX_check_private_key(ctx) != 1)
			goto err;
	}
	return ctx;
err:;
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	snprintf(why, why_len, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}
