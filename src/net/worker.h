/*
 * worker.h - one event-loop thread and everything it owns.
 *
 * A worker has its own uv_loop_t, its own listening sockets (SO_REUSEPORT
 * siblings of every other worker's, so the kernel spreads connections
 * evenly and accept never crosses threads), one read buffer shared by all
 * its connections, the timeout lists, the flush list and its metrics. A
 * connection lives on one worker for its whole life, so nothing on the
 * per-connection path takes a lock.
 *
 * Other threads talk to a worker only through worker_post(), which sets a
 * bit in an atomic mailbox and wakes the loop with uv_async_send.
 */
#ifndef CRIER_NET_WORKER_H
#define CRIER_NET_WORKER_H

#include "core/list.h"
#include "net/conn.h"
#include "net/deadline.h"
#include "net/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct server;
struct server_cfg;

#define WORKER_RBUF_BYTES 65536 /* one read buffer per worker; a read never needs more */
#define WORKER_TICK_MS    100   /* timeout granularity and loop-lag sampling period */

/* Per-worker extension slots for layers above net/ (owned by that layer). */
enum worker_ext { WORKER_EXT_WS = 0, WORKER_EXT_HUB, WORKER_EXT_COUNT = 4 };

enum worker_op {
	WORKER_OP_RELOAD = 1u << 0,   /* adopt srv->cfg */
	WORKER_OP_SHUTDOWN = 1u << 1, /* stop accepting, end connections gracefully */
	WORKER_OP_FORCE = 1u << 2,    /* close every connection now */
	WORKER_OP_EXIT = 1u << 3,     /* close all handles and leave the loop */
};

struct worker {
	uint32_t id;
	struct server *srv;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t wake;
	uv_timer_t tick;
	uv_check_t flush_check; /* runs after I/O: flushes connections written to */
	uv_idle_t flush_idle;   /* active while flushes are due: poll does not block */
	uv_tcp_t *listeners;    /* n_listeners sockets, SO_REUSEPORT siblings */
	uint32_t n_listeners;
	char *rbuf; /* WORKER_RBUF_BYTES, shared by this worker's reads */
	struct list tlists[CONN_T_COUNT];
	struct deadline_heap deadlines; /* per-connection far-off times (token expiry) */
	struct list flush_list;
	/* Connections whose write ring a burst grew and a flush drained: kept
	 * for the next burst, freed at the next tick if still empty (conn.c). */
	struct list shrink_list;
	uint32_t conn_count;    /* connections alive on this worker */
	struct server_cfg *cfg; /* the configuration in force here (a reference) */
	atomic_uint mailbox;    /* pending enum worker_op bits */
	_Atomic(struct server_cfg *) pending_cfg; /* handed over by a reload */
	bool shutting_down;
	atomic_bool done_reported; /* told the server it has no connections left */
	uint64_t now_ms;           /* loop time cached at each tick */
	uint64_t tick_expected_ms; /* when the tick should have run, for lag */
	int64_t date_s;            /* second that http_date describes */
	char http_date[64];        /* IMF-fixdate for the Date header, per second */
	void *ext
	        [WORKER_EXT_COUNT]; /* per-worker state of upper layers, freed by hooks.worker_exit */
	struct metrics m;
};

/* Prepares a worker (loop, handles, listeners from fds). Returns 0 or a
 * negative code. Called on the main thread before worker_start. */
int worker_init(struct worker *w, struct server *srv, uint32_t id, const int *listen_fds,
                uint32_t n_fds);
/* Starts the thread. */
int worker_start(struct worker *w);
/* Posts ops (enum worker_op bits) to the worker; any thread. */
void worker_post(struct worker *w, unsigned ops);
/* Waits for the thread and releases the worker's resources. */
void worker_join(struct worker *w);

/* Schedules c for a flush at the end of this loop iteration. */
void worker_want_flush(struct worker *w, struct conn *c);
/* Called by the connection layer when a connection is freed. */
void worker_conn_gone(struct worker *w);

#endif
