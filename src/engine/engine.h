/*
 * engine.h - where ids come from and where history lives.
 *
 * The hub talks to its engine through this table. The memory engine (the
 * default) keeps the sequence and every channel's history in process
 * memory. All calls are made with the hub lock held, which is what puts id
 * assignment, history append and the hand-off to the workers in one order.
 *
 * The Redis engine (engine_redis.h) is not a row of this table: Redis
 * answers asynchronously, and a publish cannot hold the hub lock across a
 * round trip. It assigns ids in Redis and hands the hub finished messages
 * (hub_deliver); the hub keeps using this table, with ids preset, for its
 * local replica of the history.
 */
#ifndef CRIER_ENGINE_ENGINE_H
#define CRIER_ENGINE_ENGINE_H

#include "hub/history.h"
#include "hub/msg.h"

#include <stdint.h>

/* History bounds (from the configuration). */
struct engine_limits {
	uint32_t history_size;      /* messages per channel; 0 keeps none */
	uint64_t history_ttl_ms;    /* age limit; 0 = none */
	uint64_t history_max_bytes; /* payload bytes across all channels */
};

/* Why messages left history, for metrics. */
enum engine_evict { ENGINE_EVICT_COUNT = 0, ENGINE_EVICT_TTL, ENGINE_EVICT_BYTES, ENGINE_EVICT_N };

struct engine;

struct engine_ops {
	const char *name;
	/* Assigns the next id to m (msg_set_id) and appends it to hist, taking
	 * a reference; evicts what the limits require. A message that already
	 * has an id (from a remote engine: the hub's history is then a
	 * replica) keeps it, and raises the sequence to it; one that has a
	 * time_ms keeps it. Returns 0 or a code. */
	int (*append)(struct engine *e, struct history *hist, struct msg *m,
	              const struct engine_limits *lim, uint64_t now_ms);
	/* Evicts messages older than the TTL (periodic). */
	void (*expire)(struct engine *e, const struct engine_limits *lim, uint64_t now_ms);
	/* Drops every message from history (a remote engine lost its history:
	 * what is held here belongs to an old epoch). Not counted as evictions. */
	void (*reset)(struct engine *e);
	/* Drops one channel's history (a replica's channel nobody here wants:
	 * the remote engine still holds it). Not counted as evictions. */
	void (*drop)(struct engine *e, struct history *hist);
	void (*free)(struct engine *e);
};

struct engine {
	const struct engine_ops *ops;
	uint32_t epoch; /* changes whenever history is lost */
	uint64_t seq;   /* last seq assigned */
	uint64_t bytes; /* payload bytes in all histories */
	uint64_t count; /* messages in all histories */
	uint64_t evicted[ENGINE_EVICT_N];
};

/* The memory engine: a new epoch from the system's random source. */
struct engine *engine_memory_new(void);

#endif
