/*
 * server.h - the process: configuration, listeners, workers, signals.
 *
 * The main thread owns the server. It opens the listening sockets (so a
 * port in use is a start-up error, not a worker's problem), starts the
 * workers, and then runs a small loop of its own that only handles
 * signals: SIGTERM/SIGINT begin a graceful shutdown bounded by
 * --shutdown-timeout (a second signal exits at once), SIGHUP reloads the
 * configuration file and hands the new immutable config to every worker.
 * With TLS the config carries the SSL_CTX, so a reload re-reads the
 * certificate and key the same way (conn_tls.h).
 *
 * The protocol spoken on accepted connections is not known here: the
 * caller passes an accept hook that allocates a protocol connection.
 */
#ifndef CRIER_NET_SERVER_H
#define CRIER_NET_SERVER_H

#include "core/config.h"
#include "net/worker.h"

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

/* A configuration shared by reference between the main thread and the
 * workers; freed when the last holder lets go. */
struct server_cfg {
	atomic_uint refs;
	struct config *cfg;
	SSL_CTX *tls_ctx; /* one reference; NULL when no listener speaks TLS */
};

struct server_cfg *server_cfg_ref(struct server_cfg *sc);
void server_cfg_unref(struct server_cfg *sc);

struct server_hooks {
	/* Allocates a protocol connection for a pending connection on listener
	 * and accepts it (conn_accept). Returns NULL when it could not; the
	 * server then counts the failure. Runs on worker w's thread. */
	struct conn *(*accept)(struct worker *w, uv_stream_t *listener, bool over_limit);
	/* Releases what upper layers keep in w->ext; runs on the worker's
	 * thread as its loop ends. May be NULL. */
	void (*worker_exit)(struct worker *w);
	/* A reloaded configuration is in force (main thread). May be NULL. */
	void (*reload)(struct server *srv, const struct config *cfg);
	/* Gives back what an upper layer holds for c (c->lim, set): limit
	 * slots. Runs in c's close callback on its worker. May be NULL. */
	void (*conn_release)(struct conn *c);
	/* Worker 0's periodic work, every tick (100 ms). May be NULL. */
	void (*tick)(struct worker *w);
	void *ctx; /* for the protocol layer (the HTTP application) */
};

struct server {
	struct server_cfg *cfg; /* current configuration (main thread's reference) */
	struct server_hooks hooks;
	struct worker *workers;
	uint32_t n_workers;
	int *listen_fds;          /* n_workers * n_listen, owned until workers adopt them */
	uint32_t n_listen;        /* --listen addresses, then --tls-listen ones */
	bool *listen_tls;         /* n_listen: address i speaks TLS; NULL when none does */
	char (*listen_addrs)[64]; /* actual bound addresses, for logs and tests */
	atomic_uint conns_open;   /* node-wide, for --max-connections */
	int64_t start_wall_s;
	uv_loop_t main_loop;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t shutdown_timer;
	uv_async_t worker_idle; /* a worker reports it has no connections left */
	int shutdown_signals;   /* signals received so far */
	int exit_code;
};

/* Opens the listeners and prepares the workers. On failure returns a
 * negative code and writes a one-line reason into err. cfg ownership moves
 * to the server. */
int server_init(struct server *srv, struct config *cfg, const struct server_hooks *hooks, char *err,
                size_t err_len);

/* Runs until a graceful shutdown completes; returns the process exit code. */
int server_run(struct server *srv);

/* Releases everything server_init acquired. */
void server_free(struct server *srv);

/* The TLS context for a connection accepted on listener (one of w's), or
 * NULL for a plain listener. Worker thread: the context is the worker's
 * current configuration's, so a reload never frees it under an accept. */
static inline SSL_CTX *server_listener_tls(const struct worker *w, const uv_stream_t *listener)
{
	const bool *tls = w->srv->listen_tls;
	if (!tls)
		return NULL;
	size_t i = (size_t)((const uv_tcp_t *)(const void *)listener - w->listeners);
	return i < w->n_listeners && tls[i] ? w->cfg->tls_ctx : NULL;
}

/* The configuration in force on worker w. */
static inline const struct config *worker_cfg(const struct worker *w)
{
	return w->cfg->cfg;
}

#endif
