/*
 * server.c - listeners, worker threads, signals, shutdown and reload.
 *
 * Listening sockets: every worker gets its own socket per address, bound
 * with SO_REUSEPORT, so the kernel load-balances new connections across
 * workers and no connection is ever handed between threads. SO_REUSEPORT
 * would also let a second crier silently share a port with a running one;
 * a probe bind without it first turns that mistake into a clear
 * "address in use" at start-up.
 *
 * Shutdown: the first SIGTERM/SIGINT tells every worker to stop accepting
 * and to end its connections once what they are doing is done; the process
 * exits when all workers are empty or when --shutdown-timeout passes (then
 * connections are closed as they are). A second signal exits at once.
 */
#include "net/server.h"

#include "core/err.h"
#include "core/log.h"
#include "net/conn_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct server_cfg *server_cfg_ref(struct server_cfg *sc)
{
	atomic_fetch_add(&sc->refs, 1u);
	return sc;
}

void server_cfg_unref(struct server_cfg *sc)
{
	if (sc && atomic_fetch_sub(&sc->refs, 1u) == 1u) {
		SSL_CTX_free(sc->tls_ctx);
		config_free(sc->cfg);
		free(sc);
	}
}

static struct server_cfg *server_cfg_new(struct config *cfg)
{
	struct server_cfg *sc = malloc(sizeof(*sc));
	if (!sc)
		return NULL;
	atomic_init(&sc->refs, 1u);
	sc->cfg = cfg;
	sc->tls_ctx = NULL;
	return sc;
}

/* Parses "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int server_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return CRIER_EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || end == colon + 1)
		return CRIER_EINVAL;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : CRIER_EINVAL;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : CRIER_EINVAL;
}

static socklen_t server_addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static uint16_t *server_port_of(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return &((struct sockaddr_in6 *)ss)->sin6_port;
	return &((struct sockaddr_in *)ss)->sin_port;
}

/* Opens one listening socket; returns the fd or a negative errno. */
static int server_listen_fd(const struct sockaddr_storage *ss, bool reuseport)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, server_addr_len(ss)) != 0 ||
	    (reuseport && listen(fd, 4096) != 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void server_format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(a4->sin_port));
	}
}

/* Address i: the --listen ones first, then the --tls-listen ones. */
static const char *server_addr_spec(const struct server *srv, uint32_t i, const char **flag)
{
	const struct config *cfg = srv->cfg->cfg;
	*flag = i < cfg->listen.len ? "--listen" : "--tls-listen";
	return i < cfg->listen.len ? cfg->listen.items[i]
	                           : cfg->tls_listen.items[i - cfg->listen.len];
}

/* Opens address i for every worker: fds[w * n_listen + i]. */
static int server_open_addr(struct server *srv, uint32_t i, char *err, size_t err_len)
{
	const char *flag;
	const char *spec = server_addr_spec(srv, i, &flag);
	struct sockaddr_storage ss;
	if (server_parse_addr(spec, &ss) != 0) {
		snprintf(err, err_len, "%s: '%s' is not HOST:PORT", flag, spec);
		return CRIER_EINVAL;
	}
	if (*server_port_of(&ss) != 0) {
		int probe = server_listen_fd(&ss, false);
		if (probe < 0) {
			snprintf(err, err_len, "cannot listen on %s: %s", spec, strerror(-probe));
			return probe == -EADDRINUSE ? CRIER_EADDRINUSE : CRIER_EIO;
		}
		close(probe);
	}
	for (uint32_t w = 0; w < srv->n_workers; w++) {
		int fd = server_listen_fd(&ss, true);
		if (fd < 0) {
			snprintf(err, err_len, "cannot listen on %s: %s", spec, strerror(-fd));
			return fd == -EADDRINUSE ? CRIER_EADDRINUSE : CRIER_EIO;
		}
		srv->listen_fds[w * srv->n_listen + i] = fd;
		if (w == 0) { /* learn the port the kernel chose for port 0 */
			socklen_t sl = sizeof(ss);
			getsockname(fd, (struct sockaddr *)&ss, &sl);
			server_format_addr(&ss, srv->listen_addrs[i], sizeof(srv->listen_addrs[i]));
		}
	}
	return 0;
}

/* Decides which addresses speak TLS and loads the certificate. With a
 * certificate and no --tls-listen every --listen address is TLS (adding a
 * certificate never leaves a plain port open by surprise); with
 * --tls-listen those are TLS and --listen stays plain. */
static int server_tls_init(struct server *srv, char *err, size_t err_len)
{
	const struct config *cfg = srv->cfg->cfg;
	if (!cfg->tls_cert || !*cfg->tls_cert)
		return 0;
	srv->cfg->tls_ctx = conn_tls_ctx_new(cfg->tls_cert, cfg->tls_key, NULL, err, err_len);
	if (!srv->cfg->tls_ctx)
		return CRIER_ETLS;
	srv->listen_tls = calloc(srv->n_listen, sizeof(*srv->listen_tls));
	if (!srv->listen_tls) {
		snprintf(err, err_len, "out of memory");
		return CRIER_ENOMEM;
	}
	for (uint32_t i = 0; i < srv->n_listen; i++)
		srv->listen_tls[i] = cfg->tls_listen.len == 0 || i >= cfg->listen.len;
	return 0;
}

/* SIGHUP with TLS: a new SSL_CTX from the (possibly new) files, or the
 * old one when they do not load, so a bad deploy never takes TLS down. */
static void server_tls_reload(struct server *srv, struct server_cfg *sc)
{
	SSL_CTX *old = srv->cfg->tls_ctx;
	if (!old)
		return; /* no TLS listener: a certificate needs a restart to matter */
	const struct config *cfg = sc->cfg;
	char err[512];
	if (cfg->tls_cert && *cfg->tls_cert) {
		sc->tls_ctx = conn_tls_ctx_new(cfg->tls_cert, cfg->tls_key, old, err, sizeof(err));
		if (sc->tls_ctx) {
			log_info("tls certificate loaded", "cert=\"%s\"", cfg->tls_cert);
			return;
		}
	} else {
		snprintf(err, sizeof(err), "--tls-cert was removed; TLS listeners need a restart");
	}
	struct logline l;
	log_begin(&l, LOG_ERROR, "tls reload failed, keeping the current certificate");
	log_str(&l, "err", err, strlen(err));
	log_end(&l);
	SSL_CTX_up_ref(old);
	sc->tls_ctx = old;
}

int server_init(struct server *srv, struct config *cfg, const struct server_hooks *hooks, char *err,
                size_t err_len)
{
	memset(srv, 0, sizeof(*srv));
	srv->hooks = *hooks;
	srv->cfg = server_cfg_new(cfg);
	srv->n_workers = cfg->workers;
	srv->n_listen = (uint32_t)(cfg->listen.len + cfg->tls_listen.len);
	srv->start_wall_s = (int64_t)time(NULL);
	atomic_init(&srv->conns_open, 0u);
	srv->listen_fds = malloc(sizeof(int) * srv->n_workers * srv->n_listen);
	srv->listen_addrs = calloc(srv->n_listen, sizeof(*srv->listen_addrs));
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	if (!srv->cfg || !srv->listen_fds || !srv->listen_addrs || !srv->workers) {
		snprintf(err, err_len, "out of memory");
		return CRIER_ENOMEM;
	}
	for (uint32_t i = 0; i < srv->n_workers * srv->n_listen; i++)
		srv->listen_fds[i] = -1;
	int rc = server_tls_init(srv, err, err_len);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < srv->n_listen; i++) {
		rc = server_open_addr(srv, i, err, err_len);
		if (rc)
			return rc;
	}
	for (uint32_t w = 0; w < srv->n_workers; w++) {
		rc = worker_init(&srv->workers[w], srv, w, &srv->listen_fds[w * srv->n_listen],
		                 srv->n_listen);
		if (rc) {
			snprintf(err, err_len, "worker %u: %s", w, err_message(rc));
			return rc;
		}
	}
	return 0;
}

static void server_post_all(struct server *srv, unsigned ops)
{
	for (uint32_t i = 0; i < srv->n_workers; i++)
		worker_post(&srv->workers[i], ops);
}

static void server_finish(struct server *srv)
{
	server_post_all(srv, WORKER_OP_EXIT);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	uv_close((uv_handle_t *)&srv->shutdown_timer, NULL);
	uv_close((uv_handle_t *)&srv->worker_idle, NULL);
}

static void server_on_worker_idle(uv_async_t *a)
{
	struct server *srv = a->data;
	if (srv->shutdown_signals == 0)
		return;
	for (uint32_t i = 0; i < srv->n_workers; i++)
		if (!atomic_load(&srv->workers[i].done_reported))
			return;
	log_info("shutdown complete", NULL);
	server_finish(srv);
}

static void server_on_shutdown_timeout(uv_timer_t *t)
{
	struct server *srv = t->data;
	log_warn("shutdown timeout, closing remaining connections", "open=%u",
	         atomic_load(&srv->conns_open));
	server_post_all(srv, WORKER_OP_FORCE);
}

static void server_restart_needed(const char *name, void *ctx)
{
	(void)ctx;
	log_warn("restart needed", "option=%s", name);
}

static void server_reload(struct server *srv)
{
	struct config *cfg;
	struct config_error err;
	if (config_reload(srv->cfg->cfg, &cfg, &err, server_restart_needed, srv) != 0) {
		struct logline l;
		log_begin(&l, LOG_ERROR, "config reload failed, keeping the current one");
		log_str(&l, "err", err.msg, strlen(err.msg));
		log_end(&l);
		return;
	}
	struct server_cfg *sc = server_cfg_new(cfg);
	if (!sc) {
		config_free(cfg);
		return;
	}
	log_set_level(cfg->log_level);
	server_tls_reload(srv, sc);
	for (uint32_t i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];
		server_cfg_unref(atomic_exchange(&w->pending_cfg, server_cfg_ref(sc)));
		worker_post(w, WORKER_OP_RELOAD);
	}
	server_cfg_unref(srv->cfg);
	srv->cfg = sc;
	if (srv->hooks.reload)
		srv->hooks.reload(srv, cfg);
	log_info("config reloaded", "file=%s", cfg->config_file ? cfg->config_file : "-");
}

static void server_on_signal(uv_signal_t *s, int signum)
{
	struct server *srv = s->data;
	if (signum == SIGHUP) {
		server_reload(srv);
		return;
	}
	if (srv->shutdown_signals++ > 0) {
		log_warn("second signal, exiting now", "signal=%d", signum);
		_exit(128 + signum);
	}
	uint64_t timeout = srv->cfg->cfg->shutdown_timeout_ms;
	log_info("shutting down", "signal=%d timeout_ms=%llu open=%u", signum,
	         (unsigned long long)timeout, atomic_load(&srv->conns_open));
	server_post_all(srv, WORKER_OP_SHUTDOWN);
	uv_timer_start(&srv->shutdown_timer, server_on_shutdown_timeout, timeout, 0);
}

int server_run(struct server *srv)
{
	uv_loop_init(&srv->main_loop);
	uv_signal_init(&srv->main_loop, &srv->sig_term);
	uv_signal_init(&srv->main_loop, &srv->sig_int);
	uv_signal_init(&srv->main_loop, &srv->sig_hup);
	uv_timer_init(&srv->main_loop, &srv->shutdown_timer);
	uv_async_init(&srv->main_loop, &srv->worker_idle, server_on_worker_idle);
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	srv->shutdown_timer.data = srv->worker_idle.data = srv;
	uv_signal_start(&srv->sig_term, server_on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, server_on_signal, SIGINT);
	uv_signal_start(&srv->sig_hup, server_on_signal, SIGHUP);

	for (uint32_t i = 0; i < srv->n_listen; i++)
		log_info("listening", "addr=%s workers=%u tls=%s", srv->listen_addrs[i],
		         srv->n_workers, srv->listen_tls && srv->listen_tls[i] ? "on" : "off");
	for (uint32_t i = 0; i < srv->n_workers; i++) {
		if (worker_start(&srv->workers[i]) != 0) {
			log_error("cannot start worker thread", "worker=%u", i);
			_exit(1);
		}
	}
	uv_run(&srv->main_loop, UV_RUN_DEFAULT);
	for (uint32_t i = 0; i < srv->n_workers; i++)
		worker_join(&srv->workers[i]);
	uv_loop_close(&srv->main_loop);
	return srv->exit_code;
}

void server_free(struct server *srv)
{
	if (srv->listen_fds) {
		/* Sockets the workers adopted are closed with their loops; close the
		 * ones that never got that far (a failed start). */
		for (uint32_t i = 0; i < srv->n_workers * srv->n_listen; i++) {
			uint32_t w = i / (srv->n_listen ? srv->n_listen : 1);
			if (srv->listen_fds[i] >= 0 && (!srv->workers || w >= srv->n_workers ||
			                                srv->workers[w].n_listeners == 0))
				close(srv->listen_fds[i]);
		}
	}
	free(srv->listen_fds);
	free(srv->listen_tls);
	free(srv->listen_addrs);
	free(srv->workers);
	server_cfg_unref(srv->cfg);
}
