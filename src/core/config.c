/*
 * config.c - the option table and the four sources that fill it.
 *
 * Owns the one table of `crier serve` options (opts[] below), the parsers
 * for each value type, the readers for flags, CRIER_* variables and the
 * config file, reload, and the help and Markdown printers. It never logs,
 * never calls getenv (the environment is passed in) and keeps no state
 * outside the struct config it builds.
 *
 * The non-obvious choice: sources are read from the highest precedence
 * down (flags, then environment, then file, then defaults), and an option
 * is written only by the highest source that names it. Lower sources are
 * still parsed in full, into a scratch config that is thrown away, so
 * every value is validated even when a higher source hides it: a bad
 * line in the file is reported the day it is written, not the day
 * someone drops the flag that masked it. The same rule gives lists their
 * meaning for free: the highest source that mentions a list owns all of
 * its items, and repeats within that source add items.
 *
 * Defaults are written as text, exactly as a user would type them, and go
 * through the same parser as user input: the docs show them verbatim, and
 * a default outside its own bounds fails the zero-config load (and its
 * unit test) instead of shipping.
 */
#include "core/config.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Enums are stored through an int pointer; gcc makes enum log_level an
 * unsigned int, which may alias int (C11 6.5p7). */
static_assert(sizeof(enum log_level) == sizeof(int), "enum options are stored as int");

enum opt_type { OPT_UINT32, OPT_SIZE, OPT_DURATION, OPT_BOOL, OPT_ENUM, OPT_STRING, OPT_LIST };

enum {
	OPT_LIVE = 1u << 0,   /* may change on a SIGHUP reload */
	OPT_NOFILE = 1u << 1, /* not accepted as a config-file key */
};

/* Where a value came from. Higher wins; the order is the precedence. */
enum src { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };

struct opt {
	const char *name;    /* flag without "--", file key; the env var is derived */
	const char *group;   /* heading in help and docs; rows are grouped in order */
	enum opt_type type;  /* how values are parsed and stored */
	size_t off;          /* offsetof(struct config, field) */
	const char *metavar; /* the value's shape in help ("SIZE", "HOST:PORT") */
	const char *def;     /* default as a user would write it; NULL = unset */
	uint64_t min, max;   /* inclusive bounds in stored units (ms, bytes); lists: min items */
	const char *zero;    /* numeric: 0 is also allowed and means this */
	const char *syntax;  /* string and list: what a valid value looks like */
	const char *const *names; /* enum: value names, NULL-terminated; index = value */
	/* String and list items: extra syntax check. Returns 0, or a negative
	 * code with the reason (a phrase after the quoted value) in why. */
	int (*check)(const char *item, char *why, size_t why_len);
	unsigned flags;   /* OPT_LIVE, OPT_NOFILE */
	const char *help; /* what it does and why the default is what it is */
};

#define KIB  1024ull
#define MIB  (1024ull * 1024)
#define GIB  (1024ull * 1024 * 1024)
#define SEC  1000ull
#define MIN  (60ull * 1000)
#define HOUR (3600ull * 1000)

/* The most worker threads we will start; also the cap for "one per core". */
#define CONFIG_WORKERS_MAX 256

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const slow_policy_names[] = {"disconnect", "catchup", NULL};
static const char *const auth_mode_names[] = {"off", "optional", "required", NULL};
static const char *const web_names[] = {"off", "on", NULL};
static const char *const engine_names[] = {"memory", "redis", NULL};

static int check_listen(const char *item, char *why, size_t why_len);
static int check_redis_url(const char *item, char *why, size_t why_len);

/*
 * The table. Add an option by adding a field to struct config and a row
 * here, in its group; help, docs, env, file and flags follow. Keep the
 * help a sentence or two, and let it say why the default is what it is.
 */
static const struct opt opts[] = {
        {
                .name = "config",
                .group = "General",
                .type = OPT_STRING,
                .off = offsetof(struct config, config_file),
                .metavar = "FILE",
                .syntax = "a file path",
                .flags = OPT_NOFILE,
                .help = "Read options from FILE (\"key = value\" lines). None by default so "
                        "that a bare 'crier serve' works; flags and CRIER_* variables override "
                        "what the file says.",
        },
        {
                .name = "listen",
                .group = "Network",
                .type = OPT_LIST,
                .off = offsetof(struct config, listen),
                .metavar = "HOST:PORT",
                .def = "127.0.0.1:8080",
                .min = 1,
                .syntax = "HOST:PORT or [IPv6]:PORT, port 0..65535",
                .check = check_listen,
                .help = "Address to accept connections on; repeat or comma-separate for more. "
                        "Loopback by default so a first run never exposes the hub to the "
                        "network: use 0.0.0.0:PORT or [::]:PORT to serve other hosts. "
                        "Port 0 picks a free port (for tests).",
        },
        {
                .name = "workers",
                .group = "Network",
                .type = OPT_UINT32,
                .off = offsetof(struct config, workers),
                .metavar = "N",
                .def = "0",
                .min = 1,
                .max = CONFIG_WORKERS_MAX,
                .zero = "one per CPU core",
                .help = "Event-loop threads; each owns its connections. One per core by "
                        "default: a worker is a single loop that keeps one core busy, and more "
                        "threads than cores only add context switches.",
        },
        {
                .name = "log-level",
                .group = "Logging",
                .type = OPT_ENUM,
                .off = offsetof(struct config, log_level),
                .metavar = "LEVEL",
                .def = "info",
                .names = log_level_names,
                .flags = OPT_LIVE,
                .help = "Lowest severity written to stderr. info shows start-up, shutdown and "
                        "problems without a line per request; debug is for chasing a bug.",
        },
        {
                .name = "access-log",
                .group = "Logging",
                .type = OPT_BOOL,
                .off = offsetof(struct config, access_log),
                .metavar = "BOOL",
                .def = "false",
                .flags = OPT_LIVE,
                .help = "Write one logfmt line per HTTP request. Off by default because a busy "
                        "hub would spend more time logging publishes and polls than serving "
                        "them; turn it on to debug a client.",
        },
        {
                .name = "max-connections",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_connections),
                .metavar = "N",
                .def = "10000",
                .min = 1,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "Open client connections for the whole node; new ones beyond it get "
                        "503. 10000 is far more than a small deployment needs and well inside "
                        "a tuned host's file-descriptor limit; raise it together with ulimit -n.",
        },
        {
                .name = "max-channels-per-conn",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_channels_per_conn),
                .metavar = "N",
                .def = "128",
                .min = 1,
                .max = 65536,
                .flags = OPT_LIVE,
                .help = "Channels one connection may subscribe to: a /sub list longer than this "
                        "gets 400, and a /ws subscribe past it an error. 128 covers a client "
                        "following its own, its groups' and a few public channels, and keeps "
                        "one connection from pinning thousands of channels.",
        },
        {
                .name = "max-conns-per-ip",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_conns_per_ip),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "Open connections per client address (IPv4, or an IPv6 /64); more get "
                        "503 before any upgrade. 0 (off) because behind a reverse proxy every "
                        "client has the proxy's address; set it (say 100) when clients connect "
                        "directly.",
        },
        {
                .name = "conn-rate-per-ip",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, conn_rate_per_ip),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "New connections per second per client address (a token bucket); "
                        "faster ones get 429 with Retry-After before any upgrade. 0 is off "
                        "(see max-conns-per-ip); 20 is a generous direct-client value, since "
                        "browsers reconnect with backoff.",
        },
        {
                .name = "conn-burst-per-ip",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, conn_burst_per_ip),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "Connections an address may open at once before conn-rate-per-ip "
                        "applies (the bucket's size); 0 means one second's worth.",
        },
        {
                .name = "max-conns-per-token",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_conns_per_token),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "Open subscriptions (SSE streams and WebSockets) per token subject "
                        "(the JWT's sub); more get 429. Bounds what one leaked token can hold. "
                        "0 is off; a user with a few tabs and devices needs about 10.",
        },
        {
                .name = "publish-rate",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, publish_rate),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 10000000,
                .flags = OPT_LIVE,
                .help = "Publishes per second per token subject, or per client address for "
                        "publishers without one (anonymous, --publish-key); more get 429 with "
                        "Retry-After (on /ws an error naming the wait). 0 is off, since a "
                        "backend publishing for everyone is one client.",
        },
        {
                .name = "publish-burst",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, publish_burst),
                .metavar = "N",
                .def = "0",
                .min = 0,
                .max = 10000000,
                .flags = OPT_LIVE,
                .help = "Publishes allowed at once before publish-rate applies (the bucket's "
                        "size); 0 means one second's worth.",
        },
        {
                .name = "limit-keys",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, limit_keys),
                .metavar = "N",
                .def = "65536",
                .min = 16,
                .max = 16777216,
                .flags = OPT_LIVE,
                .help = "Addresses (and, separately, token subjects) the per-address and "
                        "per-token limits track at once: a memory bound of about 6 MiB at the "
                        "default. A new key while the table is full is refused (503 for a "
                        "connection, 429 for a publish) until idle keys are reclaimed.",
        },
        {
                .name = "max-header-bytes",
                .group = "Limits",
                .type = OPT_SIZE,
                .off = offsetof(struct config, max_header_bytes),
                .metavar = "SIZE",
                .def = "8KiB",
                .min = 1 * KIB,
                .max = 1 * MIB,
                .flags = OPT_LIVE,
                .help = "Request line plus headers; a larger head gets 431. 8KiB is what nginx "
                        "and Apache accept by default, so clients that work behind them work "
                        "here, and it bounds what a slow client can make us buffer.",
        },
        {
                .name = "max-uri-bytes",
                .group = "Limits",
                .type = OPT_SIZE,
                .off = offsetof(struct config, max_uri_bytes),
                .metavar = "SIZE",
                .def = "4KiB",
                .min = 256,
                .max = 1 * MIB,
                .flags = OPT_LIVE,
                .help = "Request target (path and query); a longer one gets 414. 4KiB fits a "
                        "long channel list with a resume id. Must not exceed max-header-bytes: "
                        "the request line is part of the head.",
        },
        {
                .name = "max-headers",
                .group = "Limits",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_headers),
                .metavar = "N",
                .def = "64",
                .min = 8,
                .max = 1024,
                .flags = OPT_LIVE,
                .help = "Header fields per request; more get 431. Browsers send about 20, so 64 "
                        "leaves room for proxies' additions while keeping the parser's header "
                        "array small.",
        },
        {
                .name = "max-body-bytes",
                .group = "Limits",
                .type = OPT_SIZE,
                .off = offsetof(struct config, max_body_bytes),
                .metavar = "SIZE",
                .def = "1MiB",
                .min = 0,
                .max = 1 * GIB,
                .flags = OPT_LIVE,
                .help = "Request body, i.e. a published message; a larger one gets 413. "
                        "Real-time messages are usually under a kilobyte, and every byte is "
                        "held in history and subscriber queues, so 1MiB is generous without "
                        "letting one publish exhaust memory. 0 refuses bodies.",
        },
        {
                .name = "header-timeout",
                .group = "Timeouts",
                .type = OPT_DURATION,
                .off = offsetof(struct config, header_timeout_ms),
                .metavar = "DURATION",
                .def = "10s",
                .min = 100,
                .max = 10 * MIN,
                .flags = OPT_LIVE,
                .help = "Time a client has to send a whole request head, else 408. This is the "
                        "slowloris defence: 10s is ample for a slow mobile link, yet a client "
                        "dribbling header bytes cannot hold a connection for long.",
        },
        {
                .name = "body-timeout",
                .group = "Timeouts",
                .type = OPT_DURATION,
                .off = offsetof(struct config, body_timeout_ms),
                .metavar = "DURATION",
                .def = "30s",
                .min = 100,
                .max = 1 * HOUR,
                .flags = OPT_LIVE,
                .help = "Longest silence while receiving a request body, else 408. 30s rides "
                        "out a stalled mobile upload but frees the connection of a client that "
                        "went away.",
        },
        {
                .name = "keepalive-timeout",
                .group = "Timeouts",
                .type = OPT_DURATION,
                .off = offsetof(struct config, keepalive_timeout_ms),
                .metavar = "DURATION",
                .def = "75s",
                .min = 100,
                .max = 1 * HOUR,
                .flags = OPT_LIVE,
                .help = "How long an idle keep-alive connection stays open between requests. "
                        "75s outlasts the 60s idle timeout of common load balancers, so the "
                        "proxy closes first and never reuses a connection we just closed.",
        },
        {
                .name = "shutdown-timeout",
                .group = "Timeouts",
                .type = OPT_DURATION,
                .off = offsetof(struct config, shutdown_timeout_ms),
                .metavar = "DURATION",
                .def = "10s",
                .min = 0,
                .max = 10 * MIN,
                .flags = OPT_LIVE,
                .help = "On SIGTERM, how long open requests and subscribers get to finish "
                        "before they are closed. 10s fits well inside the 30s grace period of "
                        "Kubernetes and systemd's 90s stop timeout.",
        },
        {
                .name = "auth",
                .group = "Security",
                .type = OPT_ENUM,
                .off = offsetof(struct config, auth_mode),
                .metavar = "MODE",
                .def = "off",
                .names = auth_mode_names,
                .help = "off: nobody is asked anything (the zero-config start; a non-loopback "
                        "--listen then logs a warning). optional: requests without a token may "
                        "subscribe to every channel and publish to none; a token's grants apply "
                        "when one is given. required: no token, no entry (401).",
        },
        {
                .name = "jwt-key",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_key),
                .metavar = "SECRET",
                .syntax = "an HMAC secret of at least 32 bytes",
                .help = "Accept JWTs signed with this HMAC secret (HS256, or --jwt-alg). Prefer "
                        "CRIER_JWT_KEY or the config file: flags show in ps.",
        },
        {
                .name = "jwt-public-key",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_public_key),
                .metavar = "FILE",
                .syntax = "a PEM public key file (RSA or EC)",
                .help = "Accept JWTs signed with the private half of this RSA or EC public key "
                        "(RS256, or ES256/384/512 by curve, or --jwt-alg).",
        },
        {
                .name = "jwt-alg",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_alg),
                .metavar = "ALG",
                .syntax = "HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or ES512",
                .help = "The one algorithm tokens must use. The token's own header never "
                        "decides (alg none and HS/RS confusion are refused). Default: from the "
                        "key.",
        },
        {
                .name = "jwt-issuer",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_issuer),
                .metavar = "ISS",
                .syntax = "the exact iss claim",
                .help = "Require this iss claim. Unchecked by default.",
        },
        {
                .name = "jwt-audience",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_audience),
                .metavar = "AUD",
                .syntax = "a value the aud claim must contain",
                .help = "Require this value in the aud claim. Unchecked by default.",
        },
        {
                .name = "jwt-leeway",
                .group = "Security",
                .type = OPT_DURATION,
                .off = offsetof(struct config, jwt_leeway_ms),
                .metavar = "DURATION",
                .def = "0s",
                .min = 0,
                .max = 10 * MIN,
                .help = "Clock skew allowed when checking exp and nbf. 0 by default: run NTP "
                        "rather than widen every token's life.",
        },
        {
                .name = "jwt-cookie",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, jwt_cookie),
                .metavar = "NAME",
                .syntax = "a cookie name",
                .help = "Also read the token from this cookie (after the Authorization "
                        "header), for browsers. Pair it with --allowed-origins: a cookie is "
                        "sent cross-site.",
        },
        {
                .name = "allow-query-token",
                .group = "Security",
                .type = OPT_BOOL,
                .off = offsetof(struct config, allow_query_token),
                .def = "false",
                .help = "Accept the token as ?token= (EventSource and WebSocket in browsers "
                        "cannot send headers). Off by default: URLs leak into logs and "
                        "referrers; crier's own logs redact it.",
        },
        {
                .name = "publish-key",
                .group = "Security",
                .type = OPT_STRING,
                .off = offsetof(struct config, publish_key),
                .metavar = "SECRET",
                .syntax = "a secret string",
                .help = "A bearer secret that may publish to every channel (and do nothing "
                        "else), for back-end publishers without a JWT. Prefer "
                        "CRIER_PUBLISH_KEY.",
        },
        {
                .name = "allowed-origins",
                .group = "Security",
                .type = OPT_LIST,
                .off = offsetof(struct config, allowed_origins),
                .metavar = "LIST",
                .def = "",
                .min = 0,
                .syntax = "origins like https://app.example.com, https://*.example.com, or *",
                .flags = OPT_LIVE,
                .help = "Browser origins allowed to open WebSockets and SSE or long-poll "
                        "streams (CORS) besides the hub's own origin. Empty by default: "
                        "a page on another site cannot ride a visitor's cookies into the hub "
                        "(cross-site WebSocket hijacking). Requests without Origin (not from "
                        "a browser) are always allowed.",
        },
        {
                .name = "tls-cert",
                .group = "TLS",
                .type = OPT_STRING,
                .off = offsetof(struct config, tls_cert),
                .metavar = "FILE",
                .syntax = "a PEM certificate file (the leaf first, then any intermediates)",
                .flags = OPT_LIVE,
                .help = "Serve TLS with this certificate chain (needs --tls-key). Without "
                        "--tls-listen every --listen address speaks TLS. Re-read on SIGHUP: "
                        "new connections get the new certificate, open ones keep theirs, and "
                        "a file that does not load keeps the old one.",
        },
        {
                .name = "tls-key",
                .group = "TLS",
                .type = OPT_STRING,
                .off = offsetof(struct config, tls_key),
                .metavar = "FILE",
                .syntax = "a PEM private key file matching --tls-cert",
                .flags = OPT_LIVE,
                .help = "Private key of --tls-cert (unencrypted PEM; keep it mode 0600). "
                        "Re-read on SIGHUP with the certificate.",
        },
        {
                .name = "tls-listen",
                .group = "TLS",
                .type = OPT_LIST,
                .off = offsetof(struct config, tls_listen),
                .metavar = "HOST:PORT",
                .def = "",
                .min = 0,
                .syntax = "HOST:PORT or [IPv6]:PORT, port 0..65535",
                .check = check_listen,
                .help = "Addresses that speak TLS alongside the plain --listen ones (needs "
                        "--tls-cert). Empty by default: then, with a certificate, every "
                        "--listen address is TLS, so adding a certificate never leaves a "
                        "plain port open by surprise.",
        },
        {
                .name = "echo",
                .group = "WebSocket",
                .type = OPT_BOOL,
                .off = offsetof(struct config, echo),
                .def = "false",
                .flags = OPT_LIVE,
                .help = "Serve GET /echo, a WebSocket that sends every message back with its "
                        "opcode: for conformance suites and latency probes. Off by default "
                        "because it is a free amplifier for anyone who can reach the port.",
        },
        {
                .name = "ws-deflate",
                .group = "WebSocket",
                .type = OPT_BOOL,
                .off = offsetof(struct config, ws_deflate),
                .def = "true",
                .flags = OPT_LIVE,
                .help = "Negotiate permessage-deflate (RFC 7692) when a client offers it. On "
                        "by default: text messages shrink 3-10x, and crier compresses each "
                        "published message once for all subscribers, with no zlib memory "
                        "held by idle connections.",
        },
        {
                .name = "ws-max-message-bytes",
                .group = "WebSocket",
                .type = OPT_SIZE,
                .off = offsetof(struct config, ws_max_message_bytes),
                .metavar = "SIZE",
                .def = "1MiB",
                .min = 125,
                .max = 1 * GIB,
                .flags = OPT_LIVE,
                .help = "Largest message a client may send, after reassembly and "
                        "decompression; a larger one is closed with 1009. 1MiB matches "
                        "--max-body-bytes: a message is the same thing on every transport.",
        },
        {
                .name = "ws-max-backpressure",
                .group = "WebSocket",
                .type = OPT_SIZE,
                .off = offsetof(struct config, ws_max_backpressure),
                .metavar = "SIZE",
                .def = "1MiB",
                .min = 4 * KIB,
                .max = 1 * GIB,
                .flags = OPT_LIVE,
                .help = "Outbound bytes a WebSocket may have queued (sent but not yet taken "
                        "by the peer) before it is closed with 1008: a client that stops "
                        "reading cannot make the hub's memory grow. 1MiB absorbs bursts of "
                        "thousands of small messages.",
        },
        {
                .name = "ws-ping-interval",
                .group = "WebSocket",
                .type = OPT_DURATION,
                .off = offsetof(struct config, ws_ping_interval_ms),
                .metavar = "DURATION",
                .def = "25s",
                .min = 100,
                .max = 1 * HOUR,
                .flags = OPT_LIVE,
                .help = "How often the hub pings an idle WebSocket. 25s stays under the 30-60s "
                        "idle timeouts common in proxies and load balancers, so the connection "
                        "survives them.",
        },
        {
                .name = "ws-idle-timeout",
                .group = "WebSocket",
                .type = OPT_DURATION,
                .off = offsetof(struct config, ws_idle_timeout_ms),
                .metavar = "DURATION",
                .def = "60s",
                .min = 100,
                .max = 24 * HOUR,
                .flags = OPT_LIVE,
                .help = "A WebSocket peer that sends nothing (not even a pong) for this long is "
                        "dead and is closed. 60s is two missed pings plus slack for a slow "
                        "mobile link.",
        },
        {
                .name = "ws-close-timeout",
                .group = "WebSocket",
                .type = OPT_DURATION,
                .off = offsetof(struct config, ws_close_timeout_ms),
                .metavar = "DURATION",
                .def = "5s",
                .min = 0,
                .max = 10 * MIN,
                .flags = OPT_LIVE,
                .help = "After sending a close frame, how long to wait for the peer's before "
                        "dropping the TCP connection (RFC 6455 §7.1.1). 5s is ample on any "
                        "working link and bounds what a silent peer costs.",
        },
        {
                .name = "history-size",
                .group = "Hub",
                .type = OPT_UINT32,
                .off = offsetof(struct config, history_size),
                .metavar = "N",
                .def = "100",
                .min = 0,
                .max = 1000000,
                .flags = OPT_LIVE,
                .help = "Messages kept per channel for resume. 100 covers a reconnect after "
                        "seconds to "
                        "minutes on a busy channel; a resume from before the oldest kept message "
                        "gets a "
                        "gap notice, never a silent skip. 0 keeps none.",
        },
        {
                .name = "history-ttl",
                .group = "Hub",
                .type = OPT_DURATION,
                .off = offsetof(struct config, history_ttl_ms),
                .metavar = "DURATION",
                .def = "10m",
                .min = 0,
                .max = 24 * HOUR,
                .flags = OPT_LIVE,
                .help = "Age after which a message leaves history. 10m covers a network handover "
                        "or a "
                        "short sleep and keeps stale messages from replaying hours later. 0: no "
                        "age "
                        "limit.",
        },
        {
                .name = "history-max-bytes",
                .group = "Hub",
                .type = OPT_SIZE,
                .off = offsetof(struct config, history_max_bytes),
                .metavar = "SIZE",
                .def = "64MiB",
                .min = 0,
                .max = 64 * GIB,
                .flags = OPT_LIVE,
                .help = "Payload bytes kept in history across all channels; beyond it the oldest "
                        "messages go first (counted, and logged). 64MiB bounds memory by default "
                        "whatever the number of channels. With --engine redis it bounds the "
                        "streams in Redis too.",
        },
        {
                .name = "max-channels",
                .group = "Hub",
                .type = OPT_UINT32,
                .off = offsetof(struct config, max_channels),
                .metavar = "N",
                .def = "100000",
                .min = 1,
                .max = 100000000,
                .flags = OPT_LIVE,
                .help = "Channels the hub tracks; a publish or subscribe that would create one "
                        "more "
                        "gets 503. A channel costs about 200 bytes plus its history, so 100000 is "
                        "~20MiB before messages.",
        },
        {
                .name = "max-message-bytes",
                .group = "Hub",
                .type = OPT_SIZE,
                .off = offsetof(struct config, max_message_bytes),
                .metavar = "SIZE",
                .def = "1MiB",
                .min = 0,
                .max = 1 * GIB,
                .flags = OPT_LIVE,
                .help = "Largest message a publisher may send (413 above). The same 1MiB as "
                        "--max-body-bytes and --ws-max-message-bytes: every message is held in "
                        "history "
                        "and in subscriber queues.",
        },
        {
                .name = "slow-policy",
                .group = "Hub",
                .type = OPT_ENUM,
                .off = offsetof(struct config, slow_policy),
                .metavar = "POLICY",
                .def = "disconnect",
                .names = slow_policy_names,
                .flags = OPT_LIVE,
                .help = "What happens to a subscriber whose unsent backlog exceeds its budget "
                        "(--ws-max-backpressure, --sse-max-backpressure): disconnect (it "
                        "reconnects and "
                        "resumes from history) or catchup (it stays, stops taking live messages, "
                        "and is "
                        "fed from history as it drains, with a gap notice if history moved on). "
                        "disconnect is what clients expect.",
        },
        {
                .name = "engine",
                .group = "Engine",
                .type = OPT_ENUM,
                .off = offsetof(struct config, engine),
                .metavar = "ENGINE",
                .def = "memory",
                .names = engine_names,
                .help = "Where ids, history and fan-out live: memory (this process; nothing to "
                        "install) or redis (shared by every node on the same --redis-url, so "
                        "any node serves any client and ids resume across nodes). memory is "
                        "the zero-config start.",
        },
        {
                .name = "redis-url",
                .group = "Engine",
                .type = OPT_STRING,
                .off = offsetof(struct config, redis_url),
                .metavar = "URL",
                .def = "redis://127.0.0.1:6379/0",
                .syntax = "redis[s]://[[user]:password@]host[:port][/db] or "
                          "unix:///path/to.sock",
                .check = check_redis_url,
                .help = "The Redis server of --engine redis. Redis's own default address; put "
                        "the password in CRIER_REDIS_URL rather than on the command line. "
                        "rediss:// speaks TLS and verifies the server's certificate and host "
                        "name (see --redis-tls-ca).",
        },
        {
                .name = "redis-tls-ca",
                .group = "Engine",
                .type = OPT_STRING,
                .off = offsetof(struct config, redis_tls_ca),
                .metavar = "FILE",
                .syntax = "a PEM file of CA certificates",
                .help = "With rediss://: trust only these CAs for the Redis server's "
                        "certificate. Default: the system's store, right for a managed Redis "
                        "with a public certificate. Read at start.",
        },
        {
                .name = "redis-tls-cert",
                .group = "Engine",
                .type = OPT_STRING,
                .off = offsetof(struct config, redis_tls_cert),
                .metavar = "FILE",
                .syntax = "a PEM certificate file (the leaf first, then any intermediates)",
                .help = "With rediss://: present this client certificate (needs "
                        "--redis-tls-key). redis-server asks for one by default "
                        "(tls-auth-clients yes). Read at start.",
        },
        {
                .name = "redis-tls-key",
                .group = "Engine",
                .type = OPT_STRING,
                .off = offsetof(struct config, redis_tls_key),
                .metavar = "FILE",
                .syntax = "a PEM private key file matching --redis-tls-cert",
                .help = "Private key of --redis-tls-cert (unencrypted PEM; keep it mode "
                        "0600). Read at start.",
        },
        {
                .name = "redis-timeout",
                .group = "Engine",
                .type = OPT_DURATION,
                .off = offsetof(struct config, redis_timeout_ms),
                .metavar = "DURATION",
                .def = "2s",
                .min = 10,
                .max = 1 * MIN,
                .help = "Longest a publish waits for Redis before it is answered 503. 2s is "
                        "far above a healthy round trip (well under 1ms on a LAN) and short "
                        "enough that publishers fail fast and retry while Redis is away.",
        },
        {
                .name = "sse-heartbeat",
                .group = "SSE",
                .type = OPT_DURATION,
                .off = offsetof(struct config, sse_heartbeat_ms),
                .metavar = "DURATION",
                .def = "15s",
                .min = 100,
                .max = 1 * HOUR,
                .flags = OPT_LIVE,
                .help = "Interval of ':' comment lines on idle SSE streams. 15s keeps proxies with "
                        "a "
                        "30-60s idle timeout from cutting the stream and lets clients detect a "
                        "dead "
                        "one.",
        },
        {
                .name = "sse-retry",
                .group = "SSE",
                .type = OPT_DURATION,
                .off = offsetof(struct config, sse_retry_ms),
                .metavar = "DURATION",
                .def = "2s",
                .min = 0,
                .max = 10 * MIN,
                .flags = OPT_LIVE,
                .help = "Reconnection delay sent once to every EventSource (the retry: field). 2s "
                        "brings clients back quickly after a restart without a stampede.",
        },
        {
                .name = "sse-max-backpressure",
                .group = "SSE",
                .type = OPT_SIZE,
                .off = offsetof(struct config, sse_max_backpressure),
                .metavar = "SIZE",
                .def = "1MiB",
                .min = 4 * KIB,
                .max = 1 * GIB,
                .flags = OPT_LIVE,
                .help = "Unsent bytes an SSE subscriber may have queued before --slow-policy "
                        "applies. "
                        "1MiB absorbs bursts of thousands of small events.",
        },
        {
                .name = "poll-timeout",
                .group = "Long-poll",
                .type = OPT_DURATION,
                .off = offsetof(struct config, poll_timeout_ms),
                .metavar = "DURATION",
                .def = "30s",
                .min = 100,
                .max = 10 * MIN,
                .flags = OPT_LIVE,
                .help = "How long a long-poll request is held when there is nothing new; "
                        "then it is answered with no messages and the cursor. 30s stays "
                        "under the 60s idle timeouts of common proxies and load balancers.",
        },
        {
                .name = "web",
                .group = "Web",
                .type = OPT_ENUM,
                .off = offsetof(struct config, web),
                .metavar = "on|off",
                .def = "on",
                .names = web_names,
                .flags = OPT_LIVE,
                .help = "Serve the dashboard (GET /), the demo (GET /demo) and their assets "
                        "(/_web/...), built into the binary. On by default so a fresh hub is "
                        "one click from a live view; the pages are static and read data only "
                        "through the normal, authorised routes, so they open nothing that "
                        "--auth guards. off answers 404 on those paths.",
        },
};

#define OPT_N (sizeof(opts) / sizeof(opts[0]))

/* Options that must not exceed another one: small <= large. */
struct cross_le {
	const char *small, *large;
	const char *why;
};

static const struct cross_le cross_checks[] = {
        {"max-uri-bytes", "max-header-bytes", "the request line is part of the head"},
        {"ws-ping-interval", "ws-idle-timeout",
         "a live peer must be pinged before it is "
         "declared dead"},
};

/* ---- small helpers ---------------------------------------------------- */

static const struct opt *opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < OPT_N; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static size_t opt_index(const struct opt *o)
{
	return (size_t)(o - opts);
}

static void *opt_field(const struct opt *o, struct config *cfg)
{
	return (char *)cfg + o->off;
}

static const void *opt_cfield(const struct opt *o, const struct config *cfg)
{
	return (const char *)cfg + o->off;
}

/* "max-header-bytes" -> "CRIER_MAX_HEADER_BYTES". */
static void env_name(const struct opt *o, char *buf, size_t len)
{
	int n = snprintf(buf, len, "CRIER_%s", o->name);
	for (char *p = buf + 6; n > 0 && *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
}

/* "MAX_HEADER_BYTES" (after the prefix) -> "max-header-bytes"; false if the
 * name has characters no option name maps to. */
static bool env_to_name(const char *s, size_t len, char *buf, size_t buf_len)
{
	if (len == 0 || len >= buf_len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			buf[i] = (char)(c - 'A' + 'a');
		else if ((c >= '0' && c <= '9'))
			buf[i] = c;
		else if (c == '_')
			buf[i] = '-';
		else
			return false;
	}
	buf[len] = '\0';
	return true;
}

/* Levenshtein distance for "did you mean" hints; SIZE_MAX for long names. */
static size_t edit_distance(const char *a, size_t al, const char *b, size_t bl)
{
	size_t row[64];
	if (al >= 64 || bl >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= bl; j++)
		row[j] = j;
	for (size_t i = 1; i <= al; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= bl; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1] ? 1u : 0u);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[bl];
}

/* The option a mistyped name most likely meant, or NULL. */
static const struct opt *opt_closest(const char *name, size_t len)
{
	const struct opt *best = NULL;
	size_t best_d = 3; /* at most two edits */
	for (size_t i = 0; i < OPT_N; i++) {
		size_t d = edit_distance(name, len, opts[i].name, strlen(opts[i].name));
		if (d < best_d && d < len) {
			best = &opts[i];
			best_d = d;
		}
	}
	return best;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int fail(struct config_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Fills *err and returns code, so error paths read `return fail(...)`. */
static int fail(struct config_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->exit_code = code == CRIER_EIO || code == CRIER_ENOMEM ? 1 : 2;
	return code;
}

/* ---- lists ------------------------------------------------------------ */

/* Appends a copy of s[0..n). items[len] is kept NULL so an env list can be
 * handed back to config_load as envp. */
static int list_push(struct config_list *l, const char *s, size_t n)
{
	char **items = realloc(l->items, (l->len + 2) * sizeof(*items));
	if (!items)
		return CRIER_ENOMEM;
	l->items = items;
	char *copy = malloc(n + 1);
	if (!copy)
		return CRIER_ENOMEM;
	memcpy(copy, s, n);
	copy[n] = '\0';
	items[l->len++] = copy;
	items[l->len] = NULL;
	return 0;
}

static void list_clear(struct config_list *l)
{
	for (size_t i = 0; i < l->len; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->len = 0;
}

static bool list_equal(const struct config_list *a, const struct config_list *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return false;
	return true;
}

static int list_copy(struct config_list *dst, const struct config_list *src)
{
	list_clear(dst);
	for (size_t i = 0; i < src->len; i++) {
		int rc = list_push(dst, src->items[i], strlen(src->items[i]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- value parsing ---------------------------------------------------- */

struct unit {
	const char *suffix;
	uint64_t mul;
};

static const struct unit plain_units[] = {{"", 1}, {NULL, 0}};
static const struct unit size_units[] = {
        {"", 1},      {"k", KIB}, {"K", KIB}, {"KiB", KIB}, {"m", MIB}, {"M", MIB},
        {"MiB", MIB}, {"g", GIB}, {"G", GIB}, {"GiB", GIB}, {NULL, 0},
};
static const struct unit duration_units[] = {
        {"", SEC}, {"ms", 1}, {"s", SEC}, {"m", MIN}, {"h", HOUR}, {NULL, 0},
};

/* Digits followed by exactly one of `units`' suffixes. A syntax error wins
 * over overflow, so "99999999999999999999x" is EINVAL, not ERANGE. */
static int parse_scaled(const char *s, const struct unit *units, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return CRIER_EINVAL;
	uint64_t n = 0;
	bool overflow = false;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			n = n * 10 + d;
	}
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(s, u->suffix) != 0)
			continue;
		if (overflow || n > UINT64_MAX / u->mul)
			return CRIER_ERANGE;
		*out = n * u->mul;
		return 0;
	}
	return CRIER_EINVAL;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
	return parse_scaled(s, duration_units, ms);
}

int config_parse_size(const char *s, uint64_t *bytes)
{
	return parse_scaled(s, size_units, bytes);
}

const char *config_log_level_name(enum log_level l)
{
	unsigned i = (unsigned)l;
	return i < sizeof(log_level_names) / sizeof(log_level_names[0]) - 1 ? log_level_names[i]
	                                                                    : "unknown";
}

/* The largest unit that divides v exactly, so 8192 prints as "8KiB". */
static void format_scaled(uint64_t v, const struct unit *units, char *buf, size_t len)
{
	const struct unit *best = NULL;
	for (const struct unit *u = units; u->suffix; u++)
		if (v != 0 && v % u->mul == 0 && (!best || u->mul > best->mul))
			best = u;
	if (!best)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%s", v / best->mul, best->suffix);
}

/* Display units: one spelling each, and durations always with a suffix. */
static const struct unit size_display[] = {
        {"", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}, {NULL, 0}};
static const struct unit duration_display[] = {
        {"ms", 1}, {"s", SEC}, {"m", MIN}, {"h", HOUR}, {NULL, 0}};

static void format_number(const struct opt *o, uint64_t v, char *buf, size_t len)
{
	if (o->type == OPT_SIZE)
		format_scaled(v, size_display, buf, len);
	else if (o->type == OPT_DURATION)
		format_scaled(v, duration_display, buf, len);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static const char bool_words[] = "true, false, yes, no, on, off, 1, 0";

/* What values are allowed, for errors and docs: "1KiB..1MiB". */
static void describe_allowed(const struct opt *o, char *buf, size_t len)
{
	char lo[32], hi[32];
	size_t n = 0;
	buf[0] = '\0';
	switch (o->type) {
	case OPT_UINT32:
	case OPT_SIZE:
	case OPT_DURATION:
		format_number(o, o->min, lo, sizeof(lo));
		format_number(o, o->max, hi, sizeof(hi));
		if (o->zero)
			snprintf(buf, len, "%s..%s, or 0 for %s", lo, hi, o->zero);
		else
			snprintf(buf, len, "%s..%s", lo, hi);
		break;
	case OPT_BOOL:
		snprintf(buf, len, "%s", bool_words);
		break;
	case OPT_ENUM:
		for (const char *const *e = o->names; *e && n < len; e++) {
			int w = snprintf(buf + n, len - n, "%s%s", e == o->names ? "" : ", ", *e);
			n += w > 0 ? (size_t)w : 0;
		}
		break;
	case OPT_STRING:
	case OPT_LIST:
		snprintf(buf, len, "%s", o->syntax ? o->syntax : "");
		break;
	}
}

static const char *type_phrase(enum opt_type t)
{
	switch (t) {
	case OPT_SIZE:
		return "a size (bytes, or a number with k, m, g, KiB, MiB or GiB)";
	case OPT_DURATION:
		return "a duration (seconds, or a number with ms, s, m or h)";
	default:
		return "a whole number";
	}
}

static int set_number(const struct opt *o, const char *val, struct config *cfg, char *why,
                      size_t why_len)
{
	const struct unit *units = o->type == OPT_SIZE       ? size_units
	                           : o->type == OPT_DURATION ? duration_units
	                                                     : plain_units;
	uint64_t v = 0;
	int rc = parse_scaled(val, units, &v);
	if (rc == CRIER_EINVAL) {
		snprintf(why, why_len, "'%.64s' is not %s", val, type_phrase(o->type));
		return rc;
	}
	if (rc == 0 && !(v == 0 && o->zero) && (v < o->min || v > o->max))
		rc = CRIER_ERANGE;
	if (rc == CRIER_ERANGE) {
		char allowed[128];
		describe_allowed(o, allowed, sizeof(allowed));
		snprintf(why, why_len, "'%.64s' is out of range (%s)", val, allowed);
		return rc;
	}
	if (o->type == OPT_UINT32)
		*(uint32_t *)opt_field(o, cfg) = (uint32_t)v;
	else
		*(uint64_t *)opt_field(o, cfg) = v;
	return 0;
}

static const char *const bool_yes[] = {"true", "yes", "on", "1"};
static const char *const bool_no[] = {"false", "no", "off", "0"};

/* 1 for a true word, 0 for a false one, -1 for neither. */
static int bool_value(const char *val)
{
	for (size_t i = 0; i < sizeof(bool_yes) / sizeof(bool_yes[0]); i++) {
		if (strcasecmp(val, bool_yes[i]) == 0)
			return 1;
		if (strcasecmp(val, bool_no[i]) == 0)
			return 0;
	}
	return -1;
}

static bool is_bool_word(const char *val)
{
	return bool_value(val) >= 0;
}

static int set_bool(const struct opt *o, const char *val, struct config *cfg, char *why,
                    size_t why_len)
{
	int v = bool_value(val);
	if (v >= 0) {
		*(bool *)opt_field(o, cfg) = v == 1;
		return 0;
	}
	snprintf(why, why_len, "'%.64s' is not one of %s", val, bool_words);
	return CRIER_EINVAL;
}

static int set_enum(const struct opt *o, const char *val, struct config *cfg, char *why,
                    size_t why_len)
{
	for (const char *const *e = o->names; *e; e++) {
		if (strcasecmp(val, *e) == 0) {
			*(int *)opt_field(o, cfg) = (int)(e - o->names);
			return 0;
		}
	}
	char allowed[256];
	describe_allowed(o, allowed, sizeof(allowed));
	snprintf(why, why_len, "'%.64s' is not one of %.200s", val, allowed);
	return CRIER_EINVAL;
}

/* An empty string means "unset", so CRIER_CONFIG= turns the file off. */
static int set_string(const struct opt *o, const char *val, struct config *cfg, char *why,
                      size_t why_len)
{
	if (*val && o->check) {
		int rc = o->check(val, why, why_len);
		if (rc < 0)
			return rc;
	}
	char *copy = NULL;
	if (*val && !(copy = strdup(val)))
		return CRIER_ENOMEM;
	char **field = opt_field(o, cfg);
	free(*field);
	*field = copy;
	return 0;
}

/* Appends the comma-separated items of val; blanks around items are
 * trimmed. An empty val adds nothing (and so, from the highest source,
 * sets an empty list); an empty item between commas is an error. */
static int append_list(const struct opt *o, const char *val, struct config *cfg, char *why,
                       size_t why_len)
{
	struct config_list *l = opt_field(o, cfg);
	const char *p = val;
	while (is_blank(*p))
		p++;
	if (!*p)
		return 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;
		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s == e) {
			snprintf(why, why_len, "'%.64s' has an empty item", val);
			return CRIER_EINVAL;
		}
		char item[512];
		if ((size_t)(e - s) >= sizeof(item)) {
			snprintf(why, why_len, "'%.32s...' is too long", s);
			return CRIER_EINVAL;
		}
		memcpy(item, s, (size_t)(e - s));
		item[e - s] = '\0';
		int rc = o->check ? o->check(item, why, why_len) : 0;
		if (rc == 0)
			rc = list_push(l, item, strlen(item));
		if (rc < 0)
			return rc;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* Parses val by o's type into cfg. On error, why holds "'val' <reason>". */
static int opt_set(const struct opt *o, const char *val, struct config *cfg, char *why,
                   size_t why_len)
{
	int rc = 0;
	switch (o->type) {
	case OPT_UINT32:
	case OPT_SIZE:
	case OPT_DURATION:
		rc = set_number(o, val, cfg, why, why_len);
		break;
	case OPT_BOOL:
		rc = set_bool(o, val, cfg, why, why_len);
		break;
	case OPT_ENUM:
		rc = set_enum(o, val, cfg, why, why_len);
		break;
	case OPT_STRING:
		rc = set_string(o, val, cfg, why, why_len);
		break;
	case OPT_LIST:
		rc = append_list(o, val, cfg, why, why_len);
		break;
	}
	if (rc == CRIER_ENOMEM)
		snprintf(why, why_len, "out of memory");
	return rc;
}

/* The scheme of --redis-url; the engine parses the rest at start-up
 * (engine/redis_wire.c), since core/ cannot reach it. */
static int check_redis_url(const char *item, char *why, size_t why_len)
{
	if (strncmp(item, "redis://", 8) == 0 || strncmp(item, "rediss://", 9) == 0 ||
	    strncmp(item, "unix://", 7) == 0)
		return 0;
	snprintf(why, why_len,
	         "'%.64s' is not redis[s]://[:password@]host[:port][/db] or unix:///path/to.sock",
	         item);
	return CRIER_EINVAL;
}

/* HOST:PORT or [IPv6]:PORT (an IPv6 zone, [fe80::1%eth0], is allowed).
 * HOST is a name or IPv4 literal; names are resolved by the listener. */
static int check_listen(const char *item, char *why, size_t why_len)
{
	const char *colon = strrchr(item, ':');
	const char *port = colon ? colon + 1 : "";
	if (item[0] == '[') {
		const char *close = strchr(item, ']');
		char addr[64];
		size_t n = close ? (size_t)(close - item - 1) : 0;
		size_t zone = strcspn(item + 1, "%");
		if (!close || close[1] != ':' || n == 0 || n >= sizeof(addr))
			goto syntax;
		memcpy(addr, item + 1, n < zone ? n : zone);
		addr[n < zone ? n : zone] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, addr, &a6) != 1 || zone + 1 == n)
			goto syntax;
	} else {
		if (!colon || colon == item)
			goto syntax;
		if (memchr(item, ':', (size_t)(colon - item))) {
			snprintf(why, why_len,
			         "'%.64s' needs brackets around the IPv6 address "
			         "([::1]:8080)",
			         item);
			return CRIER_EINVAL;
		}
		for (const char *h = item; h < colon; h++)
			if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
			      (*h >= '0' && *h <= '9') || *h == '.' || *h == '-' || *h == '_'))
				goto syntax;
	}
	uint64_t p;
	int rc = parse_scaled(port, plain_units, &p);
	if (rc == CRIER_EINVAL || strlen(port) > 5)
		goto syntax;
	if (rc < 0 || p > 65535) {
		snprintf(why, why_len, "'%.64s' has a port out of range (0..65535)", item);
		return CRIER_ERANGE;
	}
	return 0;
syntax:
	snprintf(why, why_len, "'%.64s' is not HOST:PORT or [IPv6]:PORT", item);
	return CRIER_EINVAL;
}

/* ---- loading ---------------------------------------------------------- */

struct loader {
	struct config *cfg;    /* being built; owned until handed out */
	struct config scratch; /* receives values a higher source already set */
	enum src src[OPT_N];   /* highest source that set each option in cfg */
	unsigned line[OPT_N];  /* last config-file line naming each option, or 0 */
	struct config_error *err;
};

/* Names where an option's value came from, as error messages start:
 * "--workers", "CRIER_WORKERS", "crier.conf:3: workers" or "workers". */
static void where_of(const struct loader *L, const struct opt *o, enum src s, char *buf, size_t len)
{
	switch (s) {
	case SRC_FLAG:
		snprintf(buf, len, "--%s", o->name);
		break;
	case SRC_ENV:
		env_name(o, buf, len);
		break;
	case SRC_FILE:
		snprintf(buf, len, "%.300s:%u: %s", L->cfg->config_file, L->line[opt_index(o)],
		         o->name);
		break;
	case SRC_DEFAULT:
		snprintf(buf, len, "%s", o->name);
		break;
	}
}

/* Stores one value from source s, into cfg if no higher source has set
 * the option, else into the scratch config (validated, then dropped). */
static int load_value(struct loader *L, const struct opt *o, enum src s, const char *val)
{
	size_t i = opt_index(o);
	struct config *dst = L->cfg;
	if (L->src[i] > s)
		dst = &L->scratch;
	else
		L->src[i] = s;
	char why[320], where[400];
	int rc = opt_set(o, val, dst, why, sizeof(why));
	if (rc == 0)
		return 0;
	where_of(L, o, s, where, sizeof(where));
	return fail(L->err, rc, "%s: %s", where, why);
}

static int unknown_flag(struct loader *L, const char *name, size_t len)
{
	const struct opt *o = opt_closest(name, len);
	if (o)
		return fail(L->err, CRIER_EINVAL,
		            "unknown flag --%.*s; did you mean --%s? (see 'crier help serve')",
		            (int)len, name, o->name);
	return fail(L->err, CRIER_EINVAL, "unknown flag --%.*s (see 'crier help serve')", (int)len,
	            name);
}

/* A word that is not a flag. After a bare "--bool", a boolean word most
 * likely meant to be its value, so say how to write that. */
static int unexpected_arg(struct loader *L, const char *arg, const struct opt *bare_bool)
{
	if (bare_bool && is_bool_word(arg))
		return fail(L->err, CRIER_EINVAL,
		            "unexpected argument '%.64s' (a boolean flag takes its value as "
		            "--%s=%.64s)",
		            arg, bare_bool->name, arg);
	return fail(L->err, CRIER_EINVAL,
	            "unexpected argument '%.64s' (serve takes only flags; see 'crier help serve')",
	            arg);
}

/* "--name value", "--name=value", bare "--bool" and "--no-bool". A value
 * starting with "--" is taken for the next flag: say --name=--x to mean it. */
static int load_flags(struct loader *L)
{
	const struct config_list *a = &L->cfg->argv_;
	const struct opt *bare_bool = NULL; /* previous arg was "--bool" alone */
	for (size_t i = 0; i < a->len; i++) {
		const char *arg = a->items[i];
		if (arg[0] != '-' || arg[1] == '\0' || strcmp(arg, "--") == 0)
			return unexpected_arg(L, arg, bare_bool);
		bare_bool = NULL;
		if (arg[1] != '-')
			return fail(L->err, CRIER_EINVAL,
			            "unknown flag %.64s (see 'crier help serve')", arg);
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = opt_find(name, len);
		bool negated = false;
		if (!o && len > 3 && memcmp(name, "no-", 3) == 0) {
			o = opt_find(name + 3, len - 3);
			negated = o && o->type == OPT_BOOL;
			if (!negated)
				o = NULL;
		}
		if (!o)
			return unknown_flag(L, name, len);
		const char *val;
		if (negated) {
			if (eq)
				return fail(L->err, CRIER_EINVAL, "--no-%s: takes no value",
				            o->name);
			val = "false";
		} else if (eq) {
			val = eq + 1;
		} else if (o->type == OPT_BOOL) {
			val = "true";
			bare_bool = o;
		} else if (i + 1 < a->len && strncmp(a->items[i + 1], "--", 2) != 0) {
			val = a->items[++i];
		} else {
			return fail(L->err, CRIER_EINVAL, "--%s: missing value (%s)", o->name,
			            o->metavar);
		}
		int rc = load_value(L, o, SRC_FLAG, val);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* CRIER_* variables. Unknown ones are not an error: the client commands
 * and test harnesses use the same prefix, and a shell's environment leaks
 * into every tool. They are recorded in cfg->warnings for the server to log. */
static int load_env(struct loader *L)
{
	const struct config_list *e = &L->cfg->env_;
	for (size_t i = 0; i < e->len; i++) {
		const char *kv = e->items[i], *eq = strchr(kv, '=');
		char name[64];
		if (!eq || strncmp(kv, "CRIER_", 6) != 0)
			continue;
		size_t len = (size_t)(eq - kv) - 6;
		bool mapped = env_to_name(kv + 6, len, name, sizeof(name));
		const struct opt *o = mapped ? opt_find(name, len) : NULL;
		if (o) {
			int rc = load_value(L, o, SRC_ENV, eq + 1);
			if (rc < 0)
				return rc;
			continue;
		}
		char msg[256], hint[96] = "";
		const struct opt *near = mapped ? opt_closest(name, len) : NULL;
		if (near) {
			char env[64];
			env_name(near, env, sizeof(env));
			snprintf(hint, sizeof(hint), " (did you mean %s?)", env);
		}
		int name_len = eq - kv > 100 ? 100 : (int)(eq - kv);
		snprintf(msg, sizeof(msg), "ignoring %.*s: not a 'crier serve' option%s", name_len,
		         kv, hint);
		if (list_push(&L->cfg->warnings, msg, strlen(msg)) < 0)
			return fail(L->err, CRIER_ENOMEM, "out of memory");
	}
	return 0;
}

/* Unquotes a "..." value in place (escapes \" and \\). On success *val
 * points at the text; on failure returns a reason. */
static const char *unquote(char *p, char **val)
{
	char *r = p + 1, *w = p + 1;
	*val = w;
	for (;;) {
		if (*r == '\0')
			return "missing closing quote";
		if (*r == '"')
			break;
		if (*r == '\\' && r[1] != '"' && r[1] != '\\')
			return "unknown escape (only \\\" and \\\\ are allowed in quotes)";
		if (*r == '\\')
			r++;
		*w++ = *r++;
	}
	r++;
	*w = '\0';
	while (is_blank(*r))
		r++;
	if (*r && *r != '#')
		return "unexpected text after the closing quote";
	return NULL;
}

/* One config-file line: blank, "# comment" or "key = value  # comment". */
static int load_line(struct loader *L, const char *path, unsigned lineno, char *p)
{
	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	char *key = p;
	while (*p && *p != '=' && !is_blank(*p))
		p++;
	size_t klen = (size_t)(p - key);
	while (is_blank(*p))
		p++;
	if (*p != '=' || klen == 0)
		return fail(L->err, CRIER_EINVAL, "%s:%u: expected 'key = value'", path, lineno);
	p++;
	while (is_blank(*p))
		p++;
	const struct opt *o = opt_find(key, klen);
	if (!o) {
		const struct opt *near = opt_closest(key, klen);
		if (near)
			return fail(L->err, CRIER_EINVAL,
			            "%s:%u: unknown key '%.*s'; did you mean '%s'? (see 'crier "
			            "help serve')",
			            path, lineno, (int)(klen > 64 ? 64 : klen), key, near->name);
		return fail(L->err, CRIER_EINVAL,
		            "%s:%u: unknown key '%.*s' (see 'crier help serve')", path, lineno,
		            (int)(klen > 64 ? 64 : klen), key);
	}
	char *val = p;
	if (*p == '"') {
		const char *bad = unquote(p, &val);
		if (bad)
			return fail(L->err, CRIER_EINVAL, "%s:%u: %s: %s", path, lineno, o->name,
			            bad);
	} else {
		for (char *c = p; *c; c++)
			if (*c == '#' && c > p && is_blank(c[-1]))
				*c = '\0';
		size_t n = strlen(p);
		while (n > 0 && is_blank(p[n - 1]))
			p[--n] = '\0';
	}
	size_t i = opt_index(o);
	if (o->flags & OPT_NOFILE)
		return fail(L->err, CRIER_EINVAL, "%s:%u: %s: cannot be set in a config file", path,
		            lineno, o->name);
	if (o->type != OPT_LIST && L->line[i])
		return fail(L->err, CRIER_EINVAL, "%s:%u: %s: already set on line %u", path, lineno,
		            o->name, L->line[i]);
	L->line[i] = lineno;
	return load_value(L, o, SRC_FILE, val);
}

static int load_file(struct loader *L)
{
	const char *path = L->cfg->config_file;
	FILE *f = fopen(path, "r");
	if (!f) {
		const struct opt *co = opt_find("config", 6);
		char where[64];
		where_of(L, co, L->src[opt_index(co)], where, sizeof(where));
		return fail(L->err, CRIER_EIO, "%s: cannot read '%.300s': %s", where, path,
		            strerror(errno));
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)n;
		if (strlen(line) != len) {
			rc = fail(L->err, CRIER_EINVAL, "%s:%u: NUL byte in line", path, lineno);
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *p = line;
		if (lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3; /* UTF-8 byte-order mark written by some editors */
		rc = load_line(L, path, lineno, p);
	}
	if (rc == 0 && ferror(f))
		rc = fail(L->err, CRIER_EIO, "%s: read error: %s", path, strerror(errno));
	free(line);
	fclose(f);
	return rc;
}

/* Fills every option no source set from its default text. */
static int load_defaults(struct loader *L)
{
	for (size_t i = 0; i < OPT_N; i++) {
		if (L->src[i] != SRC_DEFAULT || !opts[i].def)
			continue;
		char why[320];
		int rc = opt_set(&opts[i], opts[i].def, L->cfg, why, sizeof(why));
		if (rc < 0)
			return fail(L->err, rc, "%s: bad default: %s", opts[i].name, why);
	}
	return 0;
}

static uint64_t opt_number(const struct opt *o, const struct config *cfg)
{
	if (o->type == OPT_UINT32)
		return *(const uint32_t *)opt_cfield(o, cfg);
	return *(const uint64_t *)opt_cfield(o, cfg);
}

/* Relations between options, and list sizes. With a loader, the error
 * blames the option set by the higher source (the one the user chose). */
/* TLS options come as a set: a certificate needs its key (and the other
 * way round), and a TLS listener needs both. Whether the files load is the
 * server's check (it reads them); this is only about what was asked. */
static int check_tls(const struct config *cfg, struct config_error *err)
{
	bool cert = cfg->tls_cert && *cfg->tls_cert, key = cfg->tls_key && *cfg->tls_key;
	if (cert && !key)
		return fail(err, CRIER_EINVAL,
		            "--tls-cert: needs --tls-key (the certificate's "
		            "private key)");
	if (key && !cert)
		return fail(err, CRIER_EINVAL,
		            "--tls-key: needs --tls-cert (the certificate it "
		            "belongs to)");
	if (cfg->tls_listen.len > 0 && !cert)
		return fail(err, CRIER_EINVAL, "--tls-listen: needs --tls-cert and --tls-key");
	bool rcert = cfg->redis_tls_cert && *cfg->redis_tls_cert,
	     rkey = cfg->redis_tls_key && *cfg->redis_tls_key;
	if (rcert != rkey)
		return fail(err, CRIER_EINVAL,
		            rcert ? "--redis-tls-cert: needs --redis-tls-key (the certificate's "
		                    "private key)"
		                  : "--redis-tls-key: needs --redis-tls-cert (the certificate it "
		                    "belongs to)");
	return 0;
}

static int check_relations(const struct loader *L, const struct config *cfg,
                           struct config_error *err)
{
	char where[400], a[32], b[32];
	for (size_t i = 0; i < OPT_N; i++) {
		const struct opt *o = &opts[i];
		if (o->type != OPT_LIST ||
		    ((const struct config_list *)opt_cfield(o, cfg))->len >= o->min)
			continue;
		if (L)
			where_of(L, o, L->src[i], where, sizeof(where));
		else
			snprintf(where, sizeof(where), "%s", o->name);
		return fail(err, CRIER_EINVAL, "%s: needs at least %" PRIu64 " %s", where, o->min,
		            o->metavar);
	}
	for (size_t i = 0; i < sizeof(cross_checks) / sizeof(cross_checks[0]); i++) {
		const struct cross_le *c = &cross_checks[i];
		const struct opt *s = opt_find(c->small, strlen(c->small));
		const struct opt *l = opt_find(c->large, strlen(c->large));
		uint64_t sv = opt_number(s, cfg), lv = opt_number(l, cfg);
		if (sv <= lv)
			continue;
		format_number(s, sv, a, sizeof(a));
		format_number(l, lv, b, sizeof(b));
		bool blame_large = L && L->src[opt_index(l)] > L->src[opt_index(s)];
		const struct opt *o = blame_large ? l : s;
		if (L)
			where_of(L, o, L->src[opt_index(o)], where, sizeof(where));
		else
			snprintf(where, sizeof(where), "%s", o->name);
		if (blame_large)
			return fail(err, CRIER_ERANGE, "%s: '%s' is smaller than %s (%s); %s",
			            where, b, s->name, a, c->why);
		return fail(err, CRIER_ERANGE, "%s: '%s' is larger than %s (%s); %s", where, a,
		            l->name, b, c->why);
	}
	return check_tls(cfg, err);
}

/* workers = 0 means one per online core, capped at the table maximum. */
static void resolve_workers(struct config *cfg)
{
	if (cfg->workers != 0)
		return;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > CONFIG_WORKERS_MAX)
		n = CONFIG_WORKERS_MAX;
	cfg->workers = (uint32_t)n;
}

/* Frees what the table's options own (strings and lists) in cfg. */
static void config_clear_options(struct config *cfg)
{
	for (size_t i = 0; i < OPT_N; i++) {
		if (opts[i].type == OPT_STRING) {
			char **s = opt_field(&opts[i], cfg);
			free(*s);
			*s = NULL;
		} else if (opts[i].type == OPT_LIST) {
			list_clear(opt_field(&opts[i], cfg));
		}
	}
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	config_clear_options(cfg);
	list_clear(&cfg->argv_);
	list_clear(&cfg->env_);
	list_clear(&cfg->warnings);
	free(cfg);
}

/* Copies the sources for reload: all of argv, and the CRIER_* part of the
 * environment only (nothing else is read, and other secrets stay out). */
static int copy_sources(struct config *cfg, int argc, char **argv, char **envp)
{
	for (int i = 0; i < argc; i++)
		if (list_push(&cfg->argv_, argv[i], strlen(argv[i])) < 0)
			return CRIER_ENOMEM;
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, "CRIER_", 6) == 0 && list_push(&cfg->env_, *e, strlen(*e)) < 0)
			return CRIER_ENOMEM;
	return 0;
}

int config_load(int argc, char **argv, char **envp, struct config **out, struct config_error *err)
{
	struct config_error dummy;
	if (!err)
		err = &dummy;
	*out = NULL;
	err->msg[0] = '\0';
	err->exit_code = 0;
	struct loader L = {.err = err};
	L.cfg = calloc(1, sizeof(*L.cfg));
	if (!L.cfg)
		return fail(err, CRIER_ENOMEM, "out of memory");
	int rc = copy_sources(L.cfg, argc < 0 ? 0 : argc, argv, envp);
	if (rc < 0) {
		rc = fail(err, rc, "out of memory");
		goto out;
	}
	/* Highest precedence first; see the comment at the top of the file. */
	if ((rc = load_flags(&L)) < 0 || (rc = load_env(&L)) < 0)
		goto out;
	if (L.cfg->config_file && (rc = load_file(&L)) < 0)
		goto out;
	if ((rc = load_defaults(&L)) < 0 || (rc = check_relations(&L, L.cfg, err)) < 0)
		goto out;
	resolve_workers(L.cfg);
out:
	config_clear_options(&L.scratch);
	if (rc < 0) {
		config_free(L.cfg);
		return rc;
	}
	*out = L.cfg;
	return 0;
}

static size_t opt_scalar_size(const struct opt *o)
{
	switch (o->type) {
	case OPT_UINT32:
		return sizeof(uint32_t);
	case OPT_SIZE:
	case OPT_DURATION:
		return sizeof(uint64_t);
	case OPT_BOOL:
		return sizeof(bool);
	case OPT_ENUM:
		return sizeof(int);
	default:
		return 0;
	}
}

static bool opt_equal(const struct opt *o, const struct config *a, const struct config *b)
{
	const void *fa = opt_cfield(o, a), *fb = opt_cfield(o, b);
	if (o->type == OPT_LIST)
		return list_equal(fa, fb);
	if (o->type == OPT_STRING) {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
	}
	return memcmp(fa, fb, opt_scalar_size(o)) == 0;
}

/* Replaces dst's value of o with a deep copy of src's. */
static int opt_copy(const struct opt *o, struct config *dst, const struct config *src)
{
	void *fd = opt_field(o, dst);
	const void *fs = opt_cfield(o, src);
	if (o->type == OPT_LIST)
		return list_copy(fd, fs);
	if (o->type == OPT_STRING) {
		const char *s = *(char *const *)fs;
		char *copy = s ? strdup(s) : NULL;
		if (s && !copy)
			return CRIER_ENOMEM;
		free(*(char **)fd);
		*(char **)fd = copy;
		return 0;
	}
	memcpy(fd, fs, opt_scalar_size(o));
	return 0;
}

int config_reload(const struct config *old, struct config **out, struct config_error *err,
                  void (*on_restart_needed)(const char *name, void *ctx), void *ctx)
{
	struct config_error dummy;
	if (!err)
		err = &dummy;
	*out = NULL;
	if (old->argv_.len > INT_MAX)
		return fail(err, CRIER_EINVAL, "too many arguments");
	struct config *n;
	int rc = config_load((int)old->argv_.len, old->argv_.items, old->env_.items, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < OPT_N; i++) {
		const struct opt *o = &opts[i];
		if ((o->flags & OPT_LIVE) || opt_equal(o, n, old))
			continue;
		if (on_restart_needed)
			on_restart_needed(o->name, ctx);
		if ((rc = opt_copy(o, n, old)) < 0) {
			config_free(n);
			return fail(err, rc, "out of memory");
		}
	}
	/* Kept values must still agree with the new live ones. */
	if ((rc = check_relations(NULL, n, err)) < 0) {
		config_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* ---- help and docs ---------------------------------------------------- */

/* "--name METAVAR", or "--[no-]name" for booleans. */
static void flag_usage(const struct opt *o, char *buf, size_t len)
{
	if (o->type == OPT_BOOL)
		snprintf(buf, len, "--[no-]%s", o->name);
	else
		snprintf(buf, len, "--%s %s", o->name, o->metavar);
}

static void default_text(const struct opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s", o->def && o->def[0] ? o->def : "none");
}

/* Writes text word-wrapped into columns [indent, width); the cursor is at
 * column `at` (past the flag) when called. Ends with a newline. */
static void print_wrapped(FILE *out, const char *text, size_t at, size_t indent, size_t width)
{
	size_t col = at;
	bool line_start = true;
	if (at > indent) {
		fprintf(out, "\n%*s", (int)indent, "");
		col = indent;
	} else {
		fprintf(out, "%*s", (int)(indent - at), "");
		col = indent;
	}
	for (const char *p = text; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t w = strcspn(p, " ");
		if (!line_start && col + 1 + w > width) {
			fprintf(out, "\n%*s", (int)indent, "");
			col = indent;
			line_start = true;
		}
		if (!line_start) {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, w, out);
		col += w;
		p += w;
		line_start = false;
	}
	fputc('\n', out);
}

void config_print_help(FILE *out)
{
	size_t flag_w = 0;
	char flag[96], def[96], env[64], allowed[160], tail[512];
	for (size_t i = 0; i < OPT_N; i++) {
		flag_usage(&opts[i], flag, sizeof(flag));
		if (strlen(flag) > flag_w)
			flag_w = strlen(flag);
	}
	size_t indent = 2 + flag_w + 2;
	fputs("Options of 'crier serve'. Each one can also be set by its CRIER_* environment\n"
	      "variable or as 'name = value' in the --config file. A flag beats the\n"
	      "environment, which beats the file, which beats the default. Options marked\n"
	      "'live' change on SIGHUP; the others need a restart. Sizes take k, m, g\n"
	      "(KiB, MiB, GiB); durations take ms, s, m, h (a bare number is seconds).\n"
	      "Full reference: docs/config.md.\n",
	      out);
	const char *group = NULL;
	for (size_t i = 0; i < OPT_N; i++) {
		const struct opt *o = &opts[i];
		if (!group || strcmp(group, o->group) != 0) {
			group = o->group;
			fprintf(out, "\n%s:\n", group);
		}
		flag_usage(o, flag, sizeof(flag));
		default_text(o, def, sizeof(def));
		env_name(o, env, sizeof(env));
		describe_allowed(o, allowed, sizeof(allowed));
		bool ranged = o->type <= OPT_DURATION || o->type == OPT_ENUM;
		snprintf(tail, sizeof(tail), "(default %s%s%s; env %s%s)", def,
		         ranged ? (o->type == OPT_ENUM ? "; one of " : "; range ") : "",
		         ranged ? allowed : "", env, o->flags & OPT_LIVE ? "; live" : "");
		fprintf(out, "  %s", flag);
		print_wrapped(out, o->help, 2 + strlen(flag), indent, 80);
		print_wrapped(out, tail, 0, indent, 80);
	}
}

static const char *type_name(enum opt_type t)
{
	switch (t) {
	case OPT_UINT32:
		return "integer";
	case OPT_SIZE:
		return "size";
	case OPT_DURATION:
		return "duration";
	case OPT_BOOL:
		return "boolean";
	case OPT_ENUM:
		return "choice";
	case OPT_STRING:
		return "string";
	case OPT_LIST:
		return "list";
	}
	return "?";
}

static const char md_intro[] =
        "# crier serve: configuration\n"
        "\n"
        "<!-- Generated by `crier help serve --markdown` from the option table in\n"
        "     src/core/config.c. Do not edit; run `make docs` instead. -->\n"
        "\n"
        "Every option of `crier serve` can be given four ways, and they all come\n"
        "from one table in `src/core/config.c`:\n"
        "\n"
        "| source | example |\n"
        "|---|---|\n"
        "| command-line flag | `--max-body-bytes 64KiB` or `--max-body-bytes=64KiB` |\n"
        "| environment variable | `CRIER_MAX_BODY_BYTES=64KiB` |\n"
        "| config file (`--config FILE` or `CRIER_CONFIG=FILE`) | `max-body-bytes = 64KiB` |\n"
        "| built-in default | shown for each option below |\n"
        "\n"
        "## Precedence\n"
        "\n"
        "For each option separately, a flag beats the environment, which beats the\n"
        "config file, which beats the default. The variable name is the option name\n"
        "in upper case with `-` turned into `_` and `CRIER_` in front.\n"
        "\n"
        "Every value from every source is checked, even one that a higher source\n"
        "overrides, so a mistake in the file is reported as soon as it is made.\n"
        "Errors name the source: `--workers: ...`, `CRIER_WORKERS: ...` or\n"
        "`crier.conf:3: workers: ...`. Unknown flags and unknown file keys are\n"
        "errors (exit status 2). Unknown `CRIER_*` variables are ignored with a\n"
        "warning in the log, because other crier commands and scripts share the\n"
        "prefix and environments leak from one tool to the next.\n"
        "\n"
        "Lists (such as `listen`) are comma-separated everywhere, and a flag or file\n"
        "key may be repeated to add items. The highest source that mentions a list\n"
        "owns it entirely: `--listen` on the command line replaces, not extends, the\n"
        "addresses from the environment or the file.\n"
        "\n"
        "## Values\n"
        "\n"
        "- **integer**: decimal digits, e.g. `64`.\n"
        "- **size**: a byte count, or a number with a suffix `k`/`K`/`KiB`,\n"
        "  `m`/`M`/`MiB` or `g`/`G`/`GiB`; all are powers of 1024 (`8k` = 8192).\n"
        "- **duration**: a number with `ms`, `s`, `m` or `h`, e.g. `250ms`, `75s`,\n"
        "  `10m`; a bare number is seconds.\n"
        "- **boolean**: `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0`. On the\n"
        "  command line a bare `--access-log` means true and `--no-access-log` false;\n"
        "  give other values as `--access-log=off`.\n"
        "- **choice**: one of the listed names, e.g. `--log-level warn`.\n"
        "- **string**: any text; an empty value means unset.\n"
        "- **list**: comma-separated items, blanks around items ignored.\n"
        "\n"
        "On the command line a value may not start with `--` when given as a\n"
        "separate argument (it would be read as the next flag); write\n"
        "`--name=--value` for that.\n"
        "\n"
        "## Config file format\n"
        "\n"
        "```\n"
        "# crier.conf\n"
        "listen = 0.0.0.0:8080\n"
        "listen = [::]:8080          # repeated keys add to a list\n"
        "log-level = \"warn\"\n"
        "max-body-bytes = 64KiB\n"
        "header-timeout = 5s\n"
        "```\n"
        "\n"
        "- One `key = value` per line; keys are the option names below, without `--`.\n"
        "- `#` starts a comment at the start of a line, or after a blank anywhere\n"
        "  else (`a#b` is a value, `a #b` is `a` and a comment).\n"
        "- Blank lines and blanks around keys and values are ignored.\n"
        "- A value may be in double quotes, with `\\\"` and `\\\\` as the only escapes;\n"
        "  quotes keep a ` #` from starting a comment.\n"
        "- A key other than a list may appear only once; an unknown key is an error\n"
        "  naming the file and line. `config` cannot be set inside a file.\n"
        "\n"
        "## Reload\n"
        "\n"
        "On SIGHUP the server rebuilds its configuration from the flags and\n"
        "environment it started with and the current contents of the file. Options\n"
        "marked *live* take effect; the others keep their old value, and the server\n"
        "logs that a restart is needed to change them. If the new configuration is\n"
        "invalid, the error is logged and the old one stays in force.\n";

void config_print_markdown(FILE *out)
{
	char flag[96], def[96], env[64], allowed[160];
	fputs(md_intro, out);
	fputs("\n## Options\n\n"
	      "| flag | environment | type | default | allowed | live |\n"
	      "|---|---|---|---|---|---|\n",
	      out);
	for (size_t i = 0; i < OPT_N; i++) {
		const struct opt *o = &opts[i];
		default_text(o, def, sizeof(def));
		env_name(o, env, sizeof(env));
		describe_allowed(o, allowed, sizeof(allowed));
		fprintf(out, "| [`--%s`](#%s) | `%s` | %s | %s | %s | %s |\n", o->name, o->name,
		        env, type_name(o->type), def, allowed, o->flags & OPT_LIVE ? "yes" : "no");
	}
	const char *group = NULL;
	for (size_t i = 0; i < OPT_N; i++) {
		const struct opt *o = &opts[i];
		if (!group || strcmp(group, o->group) != 0) {
			group = o->group;
			fprintf(out, "\n## %s\n", group);
		}
		flag_usage(o, flag, sizeof(flag));
		default_text(o, def, sizeof(def));
		env_name(o, env, sizeof(env));
		describe_allowed(o, allowed, sizeof(allowed));
		fprintf(out, "\n### %s\n\n%s\n\n", o->name, o->help);
		fprintf(out, "- flag: `%s`%s\n", flag, o->type == OPT_LIST ? " (repeatable)" : "");
		fprintf(out, "- environment: `%s`\n", env);
		if (o->flags & OPT_NOFILE)
			fprintf(out, "- config file: not allowed\n");
		else
			fprintf(out, "- config file: `%s = ...`\n", o->name);
		if (o->def)
			fprintf(out, "- type: %s\n- default: `%s`\n", type_name(o->type), def);
		else
			fprintf(out, "- type: %s\n- default: none\n", type_name(o->type));
		if (allowed[0])
			fprintf(out, "- allowed: %s\n", allowed);
		fprintf(out, "- live reload: %s\n", o->flags & OPT_LIVE ? "yes" : "no");
	}
}
