/*
 * config.h - crier's configuration: one table, four sources.
 *
 * Every option is declared once, in the table in config.c: its name (the
 * flag without "--", also the config-file key), the CRIER_* environment
 * variable derived from it, its type, bounds, default, whether it can
 * change on a live reload (SIGHUP), and a help line that says why the
 * default is what it is. `crier help serve`, docs/config.md, the config
 * file, the environment and the flags all come from that table.
 *
 * Precedence: flag > environment > file (--config / CRIER_CONFIG) > default.
 *
 * A struct config is immutable once loaded: workers read it without locks.
 * A reload builds a new one (config_reload) and the server hands it over;
 * the old one is freed when nobody uses it any more (the server's job).
 */
#ifndef CRIER_CORE_CONFIG_H
#define CRIER_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

struct config_list {
	char **items; /* owned, each NUL-terminated */
	size_t len;
};

struct config {
	struct config_list listen; /* HOST:PORT, [v6]:PORT; port 0 = any free port */
	uint32_t workers;  /* worker threads; 0 in the table = number of cores (resolved at load) */
	char *config_file; /* path given by --config / CRIER_CONFIG, or NULL */
	enum log_level log_level;           /* minimum level written to stderr */
	bool access_log;                    /* one logfmt line per request */
	uint32_t max_connections;           /* node-wide cap on open client connections */
	uint64_t max_header_bytes;          /* request head size limit (431 above) */
	uint64_t max_uri_bytes;             /* request-target size limit (414 above) */
	uint32_t max_headers;               /* header field count limit (431 above) */
	uint64_t max_body_bytes;            /* request body limit (413 above) */
	uint64_t header_timeout_ms;         /* time to receive a whole request head (408) */
	uint64_t body_timeout_ms;           /* max silence while receiving a body (408) */
	uint64_t keepalive_timeout_ms;      /* idle keep-alive connection lifetime */
	uint64_t shutdown_timeout_ms;       /* graceful shutdown bound */
	struct config_list allowed_origins; /* browser origins beyond same-origin; "*" = any */
	bool echo;                          /* serve GET /echo (WebSocket echo) */
	int web;                            /* 1: serve the web pages (GET /, /demo, /_web/) */
	bool ws_deflate;                    /* negotiate permessage-deflate */
	uint64_t ws_max_message_bytes;      /* reassembled (and inflated) message limit (1009) */
	uint64_t ws_max_backpressure;       /* outbound bytes queued per connection before 1008 */
	uint64_t ws_ping_interval_ms;       /* server ping period */
	uint64_t ws_idle_timeout_ms;        /* silence after which a peer is dead */
	uint64_t ws_close_timeout_ms;       /* wait for the peer's close frame, then drop TCP */
	uint32_t history_size;              /* messages kept per channel */
	uint64_t history_ttl_ms;            /* age limit of history */
	uint64_t history_max_bytes;         /* payload bytes kept across all channels */
	uint32_t max_channels;              /* channels the hub tracks */
	uint64_t max_message_bytes;         /* largest published message (413) */
	int slow_policy;                    /* 0 disconnect, 1 catchup (enum hub_slow_policy) */
	uint64_t sse_heartbeat_ms;          /* SSE comment interval */
	uint64_t sse_retry_ms;              /* reconnection delay sent to EventSource */
	uint64_t sse_max_backpressure;      /* outbound bytes queued per SSE subscriber */
	uint64_t poll_timeout_ms;           /* how long a long-poll is held without messages */
	int auth_mode;                      /* enum auth_mode: 0 off, 1 optional, 2 required */
	char *jwt_key;                      /* HMAC secret (HS*), or NULL */
	char *jwt_public_key;           /* PEM file of an RSA/EC public key (RS*, ES*), or NULL */
	char *jwt_alg;                  /* accepted algorithm, or NULL: from the key */
	char *jwt_issuer;               /* required iss, or NULL */
	char *jwt_audience;             /* required aud, or NULL */
	uint64_t jwt_leeway_ms;         /* clock skew allowed on exp/nbf */
	char *jwt_cookie;               /* cookie holding the token, or NULL */
	bool allow_query_token;         /* accept ?token= */
	char *publish_key;              /* bearer secret that may publish anywhere, or NULL */
	uint32_t max_conns_per_ip;      /* open connections per client address; 0 off */
	uint32_t conn_rate_per_ip;      /* new connections per second per address; 0 off */
	uint32_t conn_burst_per_ip;     /* bucket size of that rate; 0 = the rate */
	uint32_t max_conns_per_token;   /* open subscriptions per token subject; 0 off */
	uint32_t publish_rate;          /* publishes per second per token or address; 0 off */
	uint32_t publish_burst;         /* bucket size of that rate; 0 = the rate */
	uint32_t limit_keys;            /* addresses or subjects the limit tables track */
	uint32_t max_channels_per_conn; /* channels one connection may subscribe to */
	char *tls_cert;                 /* PEM certificate chain file, or NULL: no TLS */
	char *tls_key;                  /* PEM private key file for tls_cert, or NULL */
	struct config_list tls_listen;  /* TLS-only addresses; empty: every --listen is TLS */
	int engine;                     /* 0 memory, 1 redis */
	char *redis_url;                /* --redis-url (scheme checked; parsed by the engine) */
	uint64_t redis_timeout_ms;      /* a publish's bound on waiting for Redis */
	char *redis_tls_ca;             /* rediss://: PEM CA file, or NULL: the system store */
	char *redis_tls_cert;           /* rediss://: client certificate file, or NULL */
	char *redis_tls_key;            /* rediss://: its private key file, or NULL */

	/* Sources kept for config_reload: the command line and environment
	 * as given at start-up (owned copies; env_ holds only the CRIER_*
	 * entries, and env_.items is NULL-terminated). */
	struct config_list argv_;
	struct config_list env_;

	/* Sentences about input that was ignored rather than refused, e.g.
	 * "ignoring CRIER_WORKER: not a 'crier serve' option (did you mean
	 * CRIER_WORKERS?)". The server logs each one at warn level. Owned. */
	struct config_list warnings;
};

/* Describes why loading failed: one line naming the option, the value and
 * what is allowed, e.g. "--workers: '300' is out of range (1..256)". */
struct config_error {
	char msg[512];
	int exit_code; /* 2 for usage errors (unknown flag, bad value), 1 for I/O */
};

/*
 * Loads configuration from argv (the flags after "serve"; argv[0] is the
 * first flag, not the program name), envp (NULL-terminated "K=V" strings;
 * only CRIER_* are read) and the config file named by --config or
 * CRIER_CONFIG. `--help` is not handled here.
 * On success returns 0 and *out is a new config owned by the caller.
 * On failure returns a negative CRIER_E* code, fills *err, and *out is NULL.
 */
int config_load(int argc, char **argv, char **envp, struct config **out, struct config_error *err);

/*
 * Re-reads the config file with the start-up flags and environment of
 * `old`. Options not marked live keep their old value; for each such
 * option whose new value differs, `on_restart_needed(name, ctx)` is called
 * (the server logs it). Returns 0 and a new config in *out, or a negative
 * code with *err filled (the old config stays in force).
 */
int config_reload(const struct config *old, struct config **out, struct config_error *err,
                  void (*on_restart_needed)(const char *name, void *ctx), void *ctx);

void config_free(struct config *cfg);

/* Writes the `crier help serve` option list (flag, env, default, help). */
void config_print_help(FILE *out);

/* Writes docs/config.md (Markdown, generated; a test checks it is fresh). */
void config_print_markdown(FILE *out);

/* Parses "250ms", "10s", "5m", "1h" (a bare number is seconds) into ms.
 * Returns 0 or CRIER_EINVAL / CRIER_ERANGE. */
int config_parse_duration(const char *s, uint64_t *ms);

/* Parses "512", "64k", "64KiB", "1m", "1MiB", "2g" into bytes (k = 1024). */
int config_parse_size(const char *s, uint64_t *bytes);

/* Name of a log level ("debug", ...). */
const char *config_log_level_name(enum log_level l);

#endif
