/*
 * conn_tls.c - TLS for a connection: OpenSSL over a memory BIO.
 *
 * OpenSSL never touches the socket. One small custom BIO is both the
 * SSL's read and write side: reading takes ciphertext from the slice
 * conn.c just read into the worker's shared buffer (no copy of our own,
 * nothing kept between reads: a partial record waits inside the SSL), and
 * writing appends ciphertext to t->out, which the flush hands to the
 * kernel with one uv_try_write. So the connection layer keeps its shape:
 * the same read buffer, the same once-per-iteration flush, the same
 * "whatever the kernel does not take goes into one uv_write" rule, and a
 * plain TCP connection pays one pointer test.
 *
 * Sealing coalesces: queued rcbufs are gathered into 16 KiB records (the
 * TLS maximum, RFC 8446 §5.1) rather than one record per message, so a
 * burst of small events costs one record's overhead and one MAC, not one
 * per event. A buffer already that large is sealed in place.
 *
 * Memory: SSL_MODE_RELEASE_BUFFERS gives the record buffers back whenever
 * they are empty, and t->out / t->wire are freed as soon as they are
 * written, so an idle TLS connection holds the SSL object and its session
 * but no buffer.
 *
 * The non-obvious choice: plaintext stays counted in c->q_bytes until the
 * ciphertext that carries it is written, so slow-consumer detection and
 * on_drain mean what they meant for plain TCP.
 */
#include "net/conn_tls.h"

#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/worker.h"

#include <assert.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* Largest TLS plaintext record (RFC 8446 §5.1, RFC 5246 §6.2.1). */
#define CONN_TLS_RECORD 16384
/* Plaintext sealed per write: four full records, then the kernel gets it. */
#define CONN_TLS_SEAL_BYTES (4 * CONN_TLS_RECORD)
/* Sessions the server-side cache keeps (TLS 1.2 session ids); tickets
 * need no server memory. About 1 KiB each, so this bounds it near 10 MiB. */
#define CONN_TLS_CACHE_SESSIONS 10000
/* Ticket key material: name (16) + HMAC key (32) + AES key (32), the size
 * OpenSSL 3 takes for SSL_CTRL_{GET,SET}_TLSEXT_TICKET_KEYS. */
#define CONN_TLS_TICKET_KEYS 80

struct conn_tls {
	SSL *ssl;
	const char *in; /* ciphertext not yet taken by the SSL (read buffer) */
	size_t in_len;
	struct buf out;       /* ciphertext produced, not yet given to the kernel */
	struct buf wire;      /* ciphertext held by the pending uv_write */
	uint64_t out_plain;   /* plaintext bytes sealed into out (still in q_bytes) */
	uint64_t wire_plain;  /* the same for wire */
	bool got_bytes : 1;   /* the peer sent something */
	bool hs_done : 1;     /* handshake completed */
	bool dead : 1;        /* failed or got close_notify: no more reads */
	bool notify_sent : 1; /* our close_notify is queued */
};

/* Decrypted records are delivered from here, one per on_read; a worker
 * runs one connection's callback at a time, so one buffer per thread.
 * Sealing gathers small buffers into its own one: a flush never runs
 * inside on_read today, and a separate buffer keeps that from mattering. */
static _Thread_local char conn_tls_plain[CONN_TLS_RECORD];
static _Thread_local char conn_tls_gather[CONN_TLS_RECORD];

/* Created once on the main thread by the first conn_tls_ctx_new, before
 * any worker runs; read-only afterwards. */
static BIO_METHOD *conn_tls_bio_method;

/* ---- the BIO: reads from t->in, writes to t->out ---------------------- */

static int conn_tls_bio_write(BIO *b, const char *data, int len)
{
	struct conn_tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	return buf_append(&t->out, data, (size_t)len) == 0 ? len : -1;
}

static int conn_tls_bio_read(BIO *b, char *data, int len)
{
	struct conn_tls *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (t->in_len == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	size_t n = (size_t)len < t->in_len ? (size_t)len : t->in_len;
	memcpy(data, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (int)n;
}

static long conn_tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	struct conn_tls *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)t->in_len;
	default:
		return 0;
	}
}

static int conn_tls_bio_init(void)
{
	if (conn_tls_bio_method)
		return 0;
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "crier-conn");
	if (!m || !BIO_meth_set_write(m, conn_tls_bio_write) ||
	    !BIO_meth_set_read(m, conn_tls_bio_read) || !BIO_meth_set_ctrl(m, conn_tls_bio_ctrl)) {
		BIO_meth_free(m);
		return CRIER_ENOMEM;
	}
	conn_tls_bio_method = m;
	return 0;
}

/* ---- the context ------------------------------------------------------ */

/* ALPN (RFC 7301 §3.2): http/1.1 when offered; a client that offers ALPN
 * without it (h2 only) gets the no_application_protocol alert; a client
 * that offers no ALPN at all is not asked about it. */
static int conn_tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                         const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The first OpenSSL error on this thread as text, then a clean queue. */
static void conn_tls_err_text(char *out, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;
	snprintf(out, len, "%s", why ? why : "unknown OpenSSL error");
	ERR_clear_error();
}

SSL_CTX *conn_tls_ctx_new(const char *cert_file, const char *key_file, SSL_CTX *prev, char *err,
                          size_t err_len)
{
	char why[256];
	if (conn_tls_bio_init() != 0) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		conn_tls_err_text(why, sizeof(why));
		snprintf(err, err_len, "cannot create a TLS context: %s", why);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		conn_tls_err_text(why, sizeof(why));
		snprintf(err, err_len, "--tls-cert: cannot load '%s': %s", cert_file, why);
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		conn_tls_err_text(why, sizeof(why));
		if (mismatch)
			snprintf(err, err_len,
			         "--tls-key: '%s' does not match the certificate in '%s'", key_file,
			         cert_file);
		else
			snprintf(err, err_len, "--tls-key: cannot load '%s': %s", key_file, why);
		goto err;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		conn_tls_err_text(why, sizeof(why));
		snprintf(err, err_len, "--tls-key: '%s' does not match the certificate in '%s': %s",
		         key_file, cert_file, why);
		goto err;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* OpenSSL's defaults already leave these out; saying so keeps them out
	 * whatever the system's openssl.cnf says. TLS 1.3 suites are all AEAD. */
	if (SSL_CTX_set_cipher_list(ctx, "DEFAULT:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5:!PSK:"
	                                 "!SRP") != 1) {
		conn_tls_err_text(why, sizeof(why));
		snprintf(err, err_len, "cannot set TLS ciphers: %s", why);
		goto err;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, conn_tls_alpn, NULL);
	static const unsigned char sid_ctx[] = "crier";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, CONN_TLS_CACHE_SESSIONS);
	/* Each SSL_CTX draws random ticket keys; a reload keeps the process's
	 * first ones so clients resume across it. */
	unsigned char keys[CONN_TLS_TICKET_KEYS];
	if (prev && SSL_CTX_get_tlsext_ticket_keys(prev, keys, sizeof(keys)) == 1)
		SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys));
	OPENSSL_cleanse(keys, sizeof(keys));
	ERR_clear_error();
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- a connection ----------------------------------------------------- */

int conn_tls_attach(struct conn *c, SSL_CTX *ctx)
{
	struct conn_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return CRIER_ENOMEM;
	t->ssl = SSL_new(ctx);
	BIO *b = BIO_new(conn_tls_bio_method);
	if (!t->ssl || !b) {
		BIO_free(b);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return CRIER_ENOMEM;
	}
	BIO_set_data(b, t);
	BIO_set_init(b, 1);
	SSL_set_bio(t->ssl, b, b); /* one reference, owned by the SSL */
	SSL_set_accept_state(t->ssl);
	c->tls = t;
	return 0;
}

int conn_tls_fail_class(int lib, int reason)
{
	if (lib != ERR_LIB_SSL)
		return METRICS_TLS_F_OTHER;
	switch (reason) {
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return METRICS_TLS_F_PLAINTEXT;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_UNKNOWN_PROTOCOL:
		return METRICS_TLS_F_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
		return METRICS_TLS_F_CIPHER;
	case SSL_R_NO_APPLICATION_PROTOCOL:
		return METRICS_TLS_F_ALPN;
	default:
		/* An alert the peer sent is reported as SSL_AD_REASON_OFFSET plus
		 * its code (RFC 8446 §6: codes are below 256). */
		if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
			return METRICS_TLS_F_PEER_ALERT;
		return METRICS_TLS_F_OTHER;
	}
}

/* Writes what the kernel takes now, without queueing (a last alert). */
static void conn_tls_write_now(struct conn *c, const char *data, size_t len)
{
	if (len == 0)
		return;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	metric_inc(&c->w->m.writes);
	if (rc > 0)
		metric_add(&c->w->m.bytes_out, (uint64_t)rc);
}

/* Handshake done: count it, and let anything queued meanwhile (a 503)
 * go out. */
static void conn_tls_established(struct conn *c)
{
	struct conn_tls *t = c->tls;
	t->hs_done = true;
	metric_inc(&c->w->m.tls_handshakes);
	if (SSL_session_reused(t->ssl))
		metric_inc(&c->w->m.tls_resumed);
	if (c->q_len > 0)
		worker_want_flush(c->w, c);
}

/* The SSL cannot go on: the peer said close_notify (an EOF), or the bytes
 * were not TLS we accept. A failed handshake is counted by reason and
 * logged at debug level (a scanner must not flood the log); plain HTTP
 * gets a plain 400 that says why, anything else gets OpenSSL's alert. */
static void conn_tls_broken(struct conn *c, int ssl_err)
{
	struct conn_tls *t = c->tls;
	t->dead = true;
	if (ssl_err == SSL_ERROR_ZERO_RETURN) {
		if (c->ending)
			conn_close(c);
		else
			c->proto->on_eof(c, UV_EOF);
		return;
	}
	unsigned long e = ERR_peek_error();
	int cls = conn_tls_fail_class(ERR_GET_LIB(e), ERR_GET_REASON(e));
	if (!t->hs_done) {
		metric_inc(&c->w->m.tls_failures[cls]);
		if (log_enabled(LOG_DEBUG)) {
			const char *why = e ? ERR_reason_error_string(e) : NULL;
			log_debug("tls handshake failed", "class=%s reason=\"%s\"",
			          metrics_tls_fail_name(cls), why ? why : "-");
		}
	} else if (log_enabled(LOG_DEBUG)) {
		log_debug("tls connection failed", "ssl_error=%d", ssl_err);
	}
	ERR_clear_error();
	if (cls == METRICS_TLS_F_PLAINTEXT && !t->hs_done) {
#define CONN_TLS_PLAIN_BODY "This port speaks TLS: use https:// or wss://.\n"
		static const char resp[] =
		        "HTTP/1.1 400 Bad Request\r\n"
		        "Content-Type: text/plain; charset=utf-8\r\n"
		        "Connection: close\r\nContent-Length: 46\r\n\r\n" CONN_TLS_PLAIN_BODY;
		static_assert(sizeof(CONN_TLS_PLAIN_BODY) - 1 == 46, "Content-Length above");
		conn_tls_write_now(c, resp, sizeof(resp) - 1);
	} else {
		conn_tls_write_now(c, t->out.data, t->out.len);
	}
	buf_free(&t->out);
	conn_close(c);
}

void conn_tls_read(struct conn *c, char *data, size_t len)
{
	struct conn_tls *t = c->tls;
	if (t->dead)
		return;
	t->got_bytes = true;
	t->in = data;
	t->in_len = len;
	while (!c->closing) {
		int n = SSL_read(t->ssl, conn_tls_plain, sizeof(conn_tls_plain));
		if (!t->hs_done && SSL_is_init_finished(t->ssl))
			conn_tls_established(c);
		if (n > 0) {
			/* An ending connection only drains (lingering close). */
			if (!c->ending)
				c->proto->on_read(c, conn_tls_plain, (size_t)n);
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e != SSL_ERROR_WANT_READ)
			conn_tls_broken(c, e);
		break;
	}
	t->in = NULL;
	t->in_len = 0;
	if (t->out.len > 0 && !c->closing)
		worker_want_flush(c->w, c); /* handshake messages, tickets, alerts */
}

/* Moves up to CONN_TLS_SEAL_BYTES of queued plaintext into records in
 * t->out, gathering small buffers into full records. Returns 0 or a
 * negative code (the SSL refused: close). */
static int conn_tls_seal(struct conn *c)
{
	struct conn_tls *t = c->tls;
	uint64_t sealed = 0;
	while (c->q_len > 0 && sealed < CONN_TLS_SEAL_BYTES) {
		struct outq_ent *e = &c->q[c->q_head];
		size_t avail = e->b->len - e->off;
		const char *src = e->b->data + e->off;
		size_t n = CONN_TLS_RECORD;
		if (avail < CONN_TLS_RECORD) {
			/* Gather: copy from successive buffers into one record. */
			n = 0;
			for (uint32_t i = 0; i < c->q_len && n < CONN_TLS_RECORD; i++) {
				struct outq_ent *g = &c->q[(c->q_head + i) % c->q_cap];
				size_t a = g->b->len - g->off;
				size_t take = a < CONN_TLS_RECORD - n ? a : CONN_TLS_RECORD - n;
				memcpy(conn_tls_gather + n, g->b->data + g->off, take);
				n += take;
			}
			src = conn_tls_gather;
		}
		if (n > 0 && SSL_write(t->ssl, src, (int)n) != (int)n) {
			ERR_clear_error();
			return CRIER_EIO;
		}
		conn_q_pop(c, n);
		t->out_plain += n;
		sealed += n;
	}
	return 0;
}

static void conn_tls_on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	c->wreq = NULL;
	if (c->closing)
		return; /* the buffers are released by the close callback */
	if (status < 0) {
		conn_close(c);
		return;
	}
	struct conn_tls *t = c->tls;
	metric_add(&c->w->m.bytes_out, t->wire.len);
	c->q_bytes -= t->wire_plain;
	t->wire_plain = 0;
	buf_free(&t->wire);
	conn_flush(c);
}

/* Hands t->out to one uv_write (the kernel took part of it). */
static void conn_tls_write_rest(struct conn *c)
{
	struct conn_tls *t = c->tls;
	t->wire = t->out;
	t->wire_plain = t->out_plain;
	t->out = (struct buf){0};
	t->out_plain = 0;
	c->wreq = malloc(sizeof(*c->wreq));
	if (!c->wreq) {
		conn_close(c);
		return;
	}
	c->wreq->data = c;
	uv_buf_t b = uv_buf_init(t->wire.data, (unsigned)t->wire.len);
	if (uv_write(c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_tls_on_write) != 0) {
		free(c->wreq);
		c->wreq = NULL;
		conn_close(c);
	}
}

void conn_tls_flush(struct conn *c)
{
	struct conn_tls *t = c->tls;
	while (!c->wreq && !c->closing) {
		if (t->out.len == 0) {
			/* Application data waits for the handshake; after our
			 * close_notify nothing more may be sealed. */
			if (!t->hs_done || c->q_len == 0)
				break;
			if (t->notify_sent || t->dead) {
				/* q_bytes = queued + sealed-but-unwritten plaintext. */
				uint64_t unsent = c->q_bytes - t->out_plain - t->wire_plain;
				c->q_bytes -= unsent;
				conn_q_pop(c, unsent);
				break;
			}
			if (conn_tls_seal(c) != 0) {
				conn_close(c);
				return;
			}
			continue;
		}
		uv_buf_t b = uv_buf_init(t->out.data, (unsigned)t->out.len);
		int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		metric_inc(&c->w->m.writes);
		if (rc < 0 && rc != UV_EAGAIN) {
			conn_close(c);
			return;
		}
		size_t wrote = rc > 0 ? (size_t)rc : 0;
		metric_add(&c->w->m.bytes_out, wrote);
		if (wrote == t->out.len) {
			buf_free(&t->out); /* idle connections hold no buffer */
			c->q_bytes -= t->out_plain;
			t->out_plain = 0;
			continue;
		}
		buf_consume(&t->out, wrote);
		conn_tls_write_rest(c);
		return;
	}
	if (!c->wreq && !c->closing && t->out.len == 0 && c->q_len == 0)
		conn_drained(c);
}

bool conn_tls_notify(struct conn *c)
{
	struct conn_tls *t = c->tls;
	if (!t->hs_done || t->dead || t->notify_sent)
		return false;
	t->notify_sent = true;
	SSL_shutdown(t->ssl); /* writes close_notify into t->out; we do not wait for the peer's */
	ERR_clear_error();
	if (t->out.len == 0)
		return false;
	worker_want_flush(c->w, c);
	return true;
}

bool conn_tls_pending(const struct conn *c)
{
	return c->tls->out.len > 0 || c->tls->wire.len > 0;
}

void conn_tls_free(struct conn *c)
{
	struct conn_tls *t = c->tls;
	if (t->got_bytes && !t->hs_done && !t->dead)
		metric_inc(&c->w->m.tls_failures[METRICS_TLS_F_INCOMPLETE]);
	SSL_free(t->ssl);
	buf_free(&t->out);
	buf_free(&t->wire);
	free(t);
	c->tls = NULL;
}
