/*
 * cmd_serve.c - `crier serve`: configuration, limits, routes, run.
 *
 * This is where the layers meet: the config is loaded, the process's
 * open-file limit is checked against --max-connections, the HTTP
 * application is assembled from its routes, and the server runs it.
 */
#include "auth/admit.h"
#include "auth/auth.h"
#include "cli/app.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "engine/engine_redis.h"
#include "http/http_builtin.h"
#include "http/http_conn.h"
#include "http/static.h"
#include "hub/hub.h"
#include "net/server.h"
#include "sse/poll_sub.h"
#include "sse/sse_sub.h"
#include "ws/ws_conn.h"
#include "ws/ws_echo.h"
#include "ws/wsproto.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

extern char **environ;

/* File descriptors crier needs besides client connections: listeners,
 * loop internals, logs, and the spare that accept-overload handling uses. */
#define CMD_SERVE_FD_RESERVE 256

static const uint32_t cmd_serve_default_max_conns = 10000;

/* Raises the soft open-file limit to what --max-connections needs. With
 * the default cap and a low hard limit the cap is lowered (a zero-config
 * start must work anywhere); an explicit cap that cannot be met is an error. */
static int cmd_serve_check_nofile(struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rlim_t need = (rlim_t)cfg->max_connections + CMD_SERVE_FD_RESERVE;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return 0;
	uint32_t fit = rl.rlim_cur > CMD_SERVE_FD_RESERVE * 2
	                       ? (uint32_t)(rl.rlim_cur - CMD_SERVE_FD_RESERVE)
	                       : (uint32_t)(rl.rlim_cur / 2);
	if (cfg->max_connections == cmd_serve_default_max_conns) {
		log_warn("open-file limit too low for the default --max-connections, lowering it",
		         "limit=%llu max_connections=%u", (unsigned long long)rl.rlim_cur, fit);
		cfg->max_connections = fit;
		return 0;
	}
	fprintf(stderr,
	        "crier serve: --max-connections %u needs an open-file limit of at least %llu, "
	        "but the hard limit is %llu; raise it (ulimit -n, or LimitNOFILE= in a systemd "
	        "unit) or use --max-connections %u\n",
	        cfg->max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_max,
	        fit);
	return -1;
}

static struct hub_config cmd_serve_hub_config(const struct config *cfg)
{
	return (struct hub_config){
	        .limits = {.history_size = cfg->history_size,
	                   .history_ttl_ms = cfg->history_ttl_ms,
	                   .history_max_bytes = cfg->history_max_bytes},
	        .max_channels = cfg->max_channels,
	        .max_message_bytes = cfg->max_message_bytes,
	        .slow_policy = cfg->slow_policy ? HUB_SLOW_CATCHUP : HUB_SLOW_DISCONNECT,
	};
}

static void cmd_serve_worker_exit(struct worker *w)
{
	struct http_app *app = w->srv->hooks.ctx;
	if (app->redis)
		engine_redis_worker_exit(app->redis, w);
	ws_worker_exit(w);
	hub_worker_exit(w);
}

static void cmd_serve_reload(struct server *srv, const struct config *cfg)
{
	struct http_app *app = srv->hooks.ctx;
	struct hub_config hc = cmd_serve_hub_config(cfg);
	hub_set_config(app->hub, &hc);
	admit_reload(app->admit, cfg);
	if (app->redis)
		engine_redis_set_config(app->redis, cfg);
}

static void cmd_serve_conn_release(struct conn *c)
{
	struct http_app *app = c->w->srv->hooks.ctx;
	admit_release(app->admit, c);
}

static void cmd_serve_tick(struct worker *w)
{
	struct http_app *app = w->srv->hooks.ctx;
	admit_sweep(app->admit, clock_mono_ms());
}

static const char *cmd_serve_degraded(struct http_app *app)
{
	return app->redis && !engine_redis_up(app->redis) ? "redis" : NULL;
}

static bool cmd_serve_is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
	       strncmp(addr, "localhost:", 10) == 0;
}

/* Logs, limits and warnings before anything listens. Returns 0 or -1. */
static int cmd_serve_prepare(struct config *cfg)
{
	log_set_level(cfg->log_level);
	for (size_t i = 0; i < cfg->warnings.len; i++) {
		struct logline l;
		log_begin(&l, LOG_WARN, "configuration");
		log_str(&l, "note", cfg->warnings.items[i], strlen(cfg->warnings.items[i]));
		log_end(&l);
	}
	if (cmd_serve_check_nofile(cfg) != 0)
		return -1;
	for (size_t i = 0; i < cfg->listen.len + cfg->tls_listen.len; i++) {
		const char *addr = i < cfg->listen.len ? cfg->listen.items[i]
		                                       : cfg->tls_listen.items[i - cfg->listen.len];
		if (!cmd_serve_is_loopback(addr) && cfg->auth_mode == AUTH_OFF)
			log_warn("LISTENING ON A NON-LOOPBACK ADDRESS WITHOUT AUTHENTICATION: "
			         "anyone who "
			         "can reach it may subscribe and publish (see --auth)",
			         "addr=%s", addr);
	}
	if (cfg->auth_mode == AUTH_OFF &&
	    ((cfg->jwt_key && *cfg->jwt_key) || (cfg->jwt_public_key && *cfg->jwt_public_key) ||
	     (cfg->publish_key && *cfg->publish_key)))
		log_warn("keys given but --auth is off: they are ignored", "auth=off");

	return 0;
}

/* The HTTP application: every route, and the connection size that fits
 * every protocol a connection can switch to. Returns 0 or -1. */
static int cmd_serve_app(struct http_app *app)
{
	memset(app, 0, sizeof(*app));
	size_t sizes[] = {ws_conn_size(), sse_sub_size(), poll_sub_size()};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		app->conn_size = sizes[i] > app->conn_size ? sizes[i] : app->conn_size;
	app->metrics_extra = app_hub_metrics;
	if (http_builtin_add(app) != 0 || ws_echo_add(app) != 0 || wsproto_add(app) != 0 ||
	    app_add_hub_routes(app) != 0 || static_add(app) != 0)
		return -1;
	for (int i = 0; i < app->router.n; i++)
		app->labels[i] = app->router.routes[i].label;
	app->labels[app->router.n] = "unmatched";
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			char *help_argv[] = {"serve"};
			return cmd_help(1, help_argv);
		}
	}
	struct config *cfg;
	struct config_error err;
	if (config_load(argc, argv, environ, &cfg, &err) != 0) {
		fprintf(stderr, "crier serve: %s\n", err.msg);
		return err.exit_code ? err.exit_code : 2;
	}
	if (cmd_serve_prepare(cfg) != 0) {
		config_free(cfg);
		return 1;
	}
	static struct http_app app; /* read-only once the workers run */
	if (cmd_serve_app(&app) != 0) {
		config_free(cfg);
		return 1;
	}
	char why[512];
	if (auth_new(cfg, &app.auth, why, sizeof(why)) != 0) {
		fprintf(stderr, "crier serve: %s\n", why[0] ? why : "out of memory");
		config_free(cfg);
		return 2;
	}
	if (admit_new(cfg, &app.admit) != 0) {
		fprintf(stderr, "crier serve: out of memory\n");
		auth_free(app.auth);
		config_free(cfg);
		return 1;
	}

	struct server srv;
	struct server_hooks hooks = {.accept = http_conn_accept,
	                             .worker_exit = cmd_serve_worker_exit,
	                             .reload = cmd_serve_reload,
	                             .conn_release = cmd_serve_conn_release,
	                             .tick = cmd_serve_tick,
	                             .ctx = &app};
	app.srv = &srv;
	char msg[256];
	int rc = server_init(&srv, cfg, &hooks, msg, sizeof(msg));
	if (rc != 0) {
		fprintf(stderr, "crier serve: %s\n", msg);
		auth_free(app.auth);
		admit_free(app.admit);
		server_free(&srv);
		return rc == CRIER_ETLS
		               ? 2
		               : 1; /* a certificate that cannot be used is a usage error */
	}
	struct hub_config hc = cmd_serve_hub_config(cfg);
	app.hub = hub_new(&srv, &hc);
	if (!app.hub) {
		fprintf(stderr, "crier serve: out of memory\n");
		auth_free(app.auth);
		admit_free(app.admit);
		server_free(&srv);
		return 1;
	}
	if (worker_cfg(&srv.workers[0])->engine == 1) {
		app.redis = engine_redis_new(app.hub, &srv, worker_cfg(&srv.workers[0]), msg,
		                             sizeof(msg));
		if (!app.redis) {
			fprintf(stderr, "crier serve: %s\n", msg);
			hub_free(app.hub);
			auth_free(app.auth);
			server_free(&srv);
			return 2;
		}
		app.degraded = cmd_serve_degraded;
	}
	log_info("starting", "version=%s workers=%u max_connections=%u engine=%s", CRIER_VERSION,
	         srv.n_workers, cfg->max_connections, app.redis ? "redis" : "memory");
	int code = server_run(&srv);
	engine_redis_free(app.redis);
	hub_free(app.hub);
	auth_free(app.auth);
	admit_free(app.admit);
	server_free(&srv);
	return code;
}
