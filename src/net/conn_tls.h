/*
 * conn_tls.h - TLS under the connection layer (OpenSSL, memory BIO).
 *
 * A connection accepted on a TLS listener gets a struct conn_tls (c->tls);
 * every other connection has c->tls == NULL and pays nothing else. The
 * protocols above never know: conn.c hands incoming ciphertext to
 * conn_tls_read, which runs the handshake and passes decrypted bytes to
 * proto->on_read, and conn_flush hands the outbound queue to
 * conn_tls_flush, which seals the queued plaintext into as few records as
 * it can (coalescing the queue's rcbufs up to 16 KiB per record) and
 * writes the ciphertext with one system call.
 *
 * Backpressure keeps its meaning: queued plaintext stays in c->q_bytes
 * until the ciphertext that carries it has been taken by the kernel, and
 * conn_pushback is still "a uv_write is pending".
 *
 * The SSL_CTX belongs to the server configuration (struct server_cfg): a
 * SIGHUP builds a new one and workers adopt it with the rest of the
 * configuration, so new connections get the new certificate while open
 * ones keep theirs (an SSL holds a reference on its SSL_CTX).
 *
 * Thread: everything but conn_tls_ctx_new/conn_tls_ctx_free runs on the
 * connection's worker; those two run on the main thread.
 */
#ifndef CRIER_NET_CONN_TLS_H
#define CRIER_NET_CONN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct conn;

/*
 * Builds a server SSL_CTX from a PEM certificate chain and its private
 * key: TLS 1.2 minimum, OpenSSL's default ciphers minus the weak ones with
 * the server's preference, ALPN http/1.1, session tickets and a bounded
 * session cache, no renegotiation, no compression, record buffers released
 * when idle. When prev is not NULL its ticket keys are copied, so tickets
 * issued before a reload still resume after it.
 * Returns the context, or NULL with a one-line reason in err.
 */
SSL_CTX *conn_tls_ctx_new(const char *cert_file, const char *key_file, SSL_CTX *prev, char *err,
                          size_t err_len);

/* Makes c a TLS connection (server side) on ctx. Returns 0 or CRIER_ENOMEM. */
int conn_tls_attach(struct conn *c, SSL_CTX *ctx);

/* Ciphertext arrived (data is the worker's read buffer, valid for this
 * call): advances the handshake and delivers plaintext to proto->on_read
 * (not while the connection is ending). May close the connection. */
void conn_tls_read(struct conn *c, char *data, size_t len);

/* conn_flush for a TLS connection. */
void conn_tls_flush(struct conn *c);

/* For an ending connection whose queue is drained: queues close_notify
 * once. Returns true when it did (the FIN waits for it to be written). */
bool conn_tls_notify(struct conn *c);

/* True while ciphertext is waiting to be written. */
bool conn_tls_pending(const struct conn *c);

/* Releases the TLS state (from the connection's close callback). */
void conn_tls_free(struct conn *c);

/* Classifies the OpenSSL error reason of a failed handshake into an enum
 * metrics_tls_fail slot. Pure; exposed for the unit test. */
int conn_tls_fail_class(int lib, int reason);

#endif
