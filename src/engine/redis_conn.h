/*
 * redis_conn.h - one asynchronous connection to Redis on one uv loop,
 * over TCP, a unix socket, or TLS (rediss://).
 *
 * It replaces hiredis's async layer (Debian's hiredis 0.14 has no TLS and
 * no pluggable I/O) and keeps hiredis for what it does well: the reply
 * parser (redisReader) and the command encoder (redisFormatCommandArgv).
 *
 * Commands are appended to an output buffer and written when the socket
 * is next writable, so everything sent in one loop turn leaves in one
 * write (pipelining). Replies pop a FIFO of callbacks in order. On a
 * subscription connection (on_push set) a reply that is an array headed
 * "message" is a push and goes to on_push; everything else, SUBSCRIBE and
 * UNSUBSCRIBE confirmations included, pops the FIFO, so the caller must
 * name one channel per (UN)SUBSCRIBE to get exactly one reply each.
 *
 * The non-obvious choice: the connection is reported up only when Redis
 * has answered a first PING, not when TCP (or even TLS) connects. A peer
 * that accepts but does not speak RESP (a TLS port spoken to in plain
 * text, a server that requires a client certificate and rejects ours only
 * after the TLS 1.3 handshake, a stopped process) is then a failed connect
 * bounded by the caller's timeout, never a connection that flaps up and
 * down.
 *
 * Thread: everything runs on the loop's thread. Memory is freed in the
 * poll handle's close callback (or by redis_conn_exit after the loop).
 */
#ifndef CRIER_ENGINE_REDIS_CONN_H
#define CRIER_ENGINE_REDIS_CONN_H

#include "engine/redis_wire.h"

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

struct redis_conn;

/* A command's reply: reply is a redisReply * owned by the connection and
 * valid during the call, or NULL when the connection ended first (every
 * pending callback runs exactly once). data is the connection's data. */
typedef void redis_conn_reply_fn(void *data, void *reply, void *priv);

struct redis_conn_cbs {
	/* The end of the attempt: status 0, Redis answered (commands flow);
	 * or a negative code with a phrase in why (CRIER_ETLS: the TLS
	 * handshake or the peer's verdict on it failed; CRIER_ETIMEOUT: the
	 * caller gave up; CRIER_EIO, CRIER_ECLOSED otherwise), after which
	 * the handle is gone. */
	void (*on_connect)(void *data, int status, const char *why);
	/* A connection that was up ended (why: a phrase); pending callbacks
	 * have run with NULL. The handle is gone after this call. */
	void (*on_disconnect)(void *data, const char *why);
	/* Pub/sub messages; NULL on a command connection. */
	void (*on_push)(void *data, const redisReply *reply);
};

/*
 * Starts connecting to url (a TLS session on tls when url->tls; tls must
 * then not be NULL) on loop. A host name is resolved on libuv's thread
 * pool (uv_getaddrinfo), so a slow DNS server never stalls the loop;
 * closing the connection meanwhile cancels it. Returns 0 and
 * the handle in *out, after which exactly one of on_connect(error) or
 * on_connect(0) ... on_disconnect ends it; or a negative code with a
 * phrase in why and no callback.
 */
int redis_conn_open(uv_loop_t *loop, const struct redis_url *url, SSL_CTX *tls,
                    const struct redis_conn_cbs *cbs, void *data, struct redis_conn **out,
                    char *why, size_t why_len);

/* Queues a command (sent once connected, with the others of this loop
 * turn); fn(data, reply, priv) is called exactly once. Returns 0, or
 * CRIER_ECLOSED (ending), CRIER_EOVERLOAD (64 MiB of commands wait for a
 * Redis that does not read) or CRIER_ENOMEM, and then fn is never called. */
int redis_conn_cmd(struct redis_conn *rc, redis_conn_reply_fn *fn, void *priv, int argc,
                   const char **argv, const size_t *lens);

/* Ends the connection now: pending callbacks run with NULL, then
 * on_disconnect(why) if it was up, on_connect(status, why) if not. May be
 * called from any of its callbacks. */
void redis_conn_close(struct redis_conn *rc, int status, const char *why);

/* The loop has ended and closed every handle: frees the connection without
 * touching the loop. Pending callbacks run with NULL; no other callback. */
void redis_conn_exit(struct redis_conn *rc);

/*
 * Builds the client SSL_CTX of rediss://: TLS 1.2 or newer, the peer's
 * certificate verified against ca_file (NULL: the system store), and the
 * client certificate cert_file with key_file when given (both or neither).
 * Returns the context, or NULL with a one-line reason in why.
 */
SSL_CTX *redis_conn_tls_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                            char *why, size_t why_len);

#endif
