/*
 * engine_redis.h - the Redis engine: one id sequence, history and fan-out
 * shared by every node on the same Redis.
 *
 * Redis holds the truth: `crier:epoch` and `crier:seq` (the one global
 * sequence), a stream per channel `crier:h:{channel}` (ids "<seq>-0",
 * bounded by --history-size and --history-ttl) and a pub/sub channel per
 * channel `crier:c:{channel}`. A publish is one script (publish.lua) on
 * the publishing worker's own connection; every node, the publisher's
 * included, delivers from its one subscription connection, in the order
 * Redis ran the scripts, into the hub (hub_deliver), whose history becomes
 * a replica of the streams of the channels this node has subscribers on.
 *
 * Threads: each worker has a command connection on its own loop (a
 * publish never crosses threads; redis_conn pipelines what is sent in one
 * loop turn). Worker 0 also runs the subscription connection and owns the
 * table of channels this node wants; other threads reach it only through
 * a queue of interest changes (hub_remote).
 */
#ifndef CRIER_ENGINE_ENGINE_REDIS_H
#define CRIER_ENGINE_ENGINE_REDIS_H

#include "core/buf.h"
#include "core/config.h"
#include "http/http_conn.h"
#include "hub/hub.h"
#include "net/server.h"

#include <stdbool.h>
#include <stddef.h>

struct engine_redis;

/* Creates the engine for srv's workers and makes hub its replica (after
 * hub_new, before server_run; connections start on the workers' loops).
 * NULL with a one-line reason in why (a bad --redis-url, no memory). */
struct engine_redis *engine_redis_new(struct hub *h, struct server *srv, const struct config *cfg,
                                      char *why, size_t why_len);

/* Releases everything (after the workers have stopped). */
void engine_redis_free(struct engine_redis *er);

/* Adopts reloaded history bounds and timeout. Any thread. */
void engine_redis_set_config(struct engine_redis *er, const struct config *cfg);

/* How a publish ended. */
struct engine_redis_result {
	int status;          /* 200; 503 (Redis away, lost, or over --redis-timeout); 500 */
	const char *id;      /* 200: the id's text */
	long long nodes;     /* 200: nodes subscribed to the channel that received it */
	const char *channel; /* 200: the channel */
	size_t channel_len;
	const char *message; /* otherwise: what went wrong, a phrase for the client */
};

/* Called once on the publishing worker's thread; res is valid during the call. */
typedef void (*engine_redis_done_fn)(void *arg, const struct engine_redis_result *res);

struct engine_redis_req;

/*
 * Publishes m (its payload, event and binary flag; the caller keeps its
 * reference) on channel name through publish.lua, on worker w's
 * connection (w's thread). done(arg, ...) is called exactly once, later:
 * when Redis has run the script, or the connection is lost, or after
 * --redis-timeout, unless cancelled first. Returns the request, or NULL
 * with *err = CRIER_EENGINE_DOWN (Redis is away: answer 503 now) or
 * CRIER_ENOMEM, and then done is never called.
 */
struct engine_redis_req *engine_redis_publish(struct engine_redis *er, struct worker *w,
                                              const char *name, size_t len, struct msg *m,
                                              engine_redis_done_fn done, void *arg, int *err);

/* done will not be called (its publisher is gone). Worker thread of req. */
void engine_redis_cancel(struct engine_redis_req *req);

/* POST /pub/{name} with the Redis engine: parks the request and answers
 * 200 {"id","channel","subscribers","nodes"} when Redis has run the
 * script, 503 at once while Redis is away or after --redis-timeout, 500
 * when the script fails. Worker thread of ctx. */
void engine_redis_http_publish(struct engine_redis *er, struct http_ctx *ctx, const char *name,
                               size_t len, struct msg *m);

/* True while every connection of the node is up. Any thread. */
bool engine_redis_up(struct engine_redis *er);

/* Appends the engine's Prometheus families. Any thread. */
int engine_redis_metrics(struct engine_redis *er, struct buf *out);

/* Closes the worker's connections as its loop ends (server hook). */
void engine_redis_worker_exit(struct engine_redis *er, struct worker *w);

#endif
