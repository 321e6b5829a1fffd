/*
 * hub.h - channels, publishing, subscribing, and delivery to workers.
 *
 * One hub per process. Publishing takes the hub lock once: the engine
 * assigns the id and appends to history, and a reference to the message is
 * put in the inbox of every worker that has a subscriber on the channel,
 * all in one critical section; so every worker sees messages in id order.
 * Each worker drains its inbox on its own loop and hands each message to
 * its local subscribers (struct hub_sub), which are the transports' (SSE,
 * WebSocket, ...) through a small table of functions: the hub never
 * includes a transport's header.
 *
 * A subscriber has a cursor: the seq of the last message it queued. It is
 * either live (fed from the inbox; a message at or below the cursor is a
 * duplicate and skipped) or catching up (fed from history in batches the
 * size of its budget, each time its transport reports its queue drained).
 * Resuming from an id is catching up from that id; a subscriber whose
 * queue outgrows its budget under --slow-policy catchup stops being live
 * and catches up the same way. Whenever history no longer holds a message
 * the subscriber should have had, it is told with a gap notice first.
 *
 * With a remote engine (Redis: engine/engine_redis.h) the hub is a replica.
 * Ids are assigned elsewhere and every message, this node's own publishes
 * included, comes back through hub_deliver in id order; the local history
 * is a cache of the remote one. A channel first wanted here is not
 * "ready" until the engine has subscribed to it and loaded its history
 * (hub_channel_ready); its subscribers wait until then, so their resume
 * reads a complete history. A resume from an id also waits for one round
 * trip, which brings the sequence up to date: the id may come from
 * another node, ahead of what this one has seen.
 */
#ifndef CRIER_HUB_HUB_H
#define CRIER_HUB_HUB_H

#include "core/buf.h"
#include "core/list.h"
#include "core/name.h"
#include "engine/engine.h"
#include "hub/history.h"
#include "hub/msg.h"
#include "net/server.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HUB_CHANNEL_MAX      NAME_CHANNEL_MAX /* bytes in a channel name */
#define HUB_SUB_CHANNELS_MAX 64               /* channels in one subscription */

struct hub;
struct hub_sub;

/* Per-worker view of a channel: the worker's subscribers on it. */
struct hub_chan_local {
	struct list subs; /* struct hub_sub_chan.node; touched only by that worker */
	uint32_t count;   /* same, kept under the hub lock for routing publishes */
};

struct hub_channel {
	struct hub_channel *next; /* hash chain */
	uint64_t hash;
	struct history hist;   /* hub lock */
	uint64_t last_seq;     /* newest seq appended (a remote engine's duplicates); hub lock */
	atomic_bool ready;     /* history complete: subscribers may start (remote engine) */
	uint32_t subs_total;   /* hub lock */
	uint64_t published;    /* messages ever published here; hub lock */
	uint64_t stats_mark;   /* published at the previous hub_stats scan; hub lock */
	atomic_uint live_msgs; /* messages alive that point here (any thread) */
	uint8_t name_len;
	char name[HUB_CHANNEL_MAX + 1];
	struct hub_chan_local local[]; /* one per worker */
};

/* One channel of one subscription. */
struct hub_sub_chan {
	struct list node; /* on ch->local[w].subs */
	struct hub_channel *ch;
	struct hub_sub *sub;
};

struct hub_sink_ops {
	/* Queue m on the connection. Returns 0 or a negative code when the
	 * connection is gone. */
	int (*deliver)(struct hub_sub *s, struct msg *m);
	/* Tell the subscriber messages were lost. json is the notice,
	 * {"from":"<position it had or asked for>","to":"<first id it will
	 * get>"|null,"reason":"expired"|"epoch"|"unknown"}, which every
	 * transport carries as is (SSE event crier.gap, a marked WebSocket
	 * frame, a long-poll field). */
	void (*gap)(struct hub_sub *s, const char *json, size_t len);
	/* Bytes queued on the connection and not yet written. */
	uint64_t (*queued)(struct hub_sub *s);
	/* True while the kernel refuses more (a write is pending): the peer,
	 * not this loop turn's burst, is why bytes are queued. */
	bool (*pushback)(struct hub_sub *s);
	/* Over budget under --slow-policy disconnect: end the connection. */
	void (*slow)(struct hub_sub *s);
	/* Optional: called once after a run of deliveries (one loop turn's
	 * live messages, or one catch-up batch), e.g. to answer a long-poll
	 * with everything that arrived together. */
	void (*batch_end)(struct hub_sub *s);
	/* Optional: a subscriber that waited for a remote engine to load its
	 * channels (s->waiting after hub_subscribe) starts now; its replay and
	 * gap notice follow, and hub_sub_preview tells what they will be
	 * (e.g. for a subscribe acknowledgement held until then). */
	void (*started)(struct hub_sub *s);
};

enum hub_slow_policy { HUB_SLOW_DISCONNECT = 0, HUB_SLOW_CATCHUP };

struct hub_sub {
	const struct hub_sink_ops *ops;
	struct hub *hub;
	struct worker *w;
	uint64_t budget; /* outbound bytes before the slow policy applies */
	uint64_t cursor; /* seq of the last message queued */
	uint32_t epoch;  /* epoch the cursor belongs to */
	bool live;
	bool dead;           /* ended: deliver nothing more */
	bool subscribed;     /* hub_unsubscribe has work to do */
	bool gap_pending;    /* a gap notice goes before the next batch */
	bool from_oldest;    /* the next batch starts at the oldest message held */
	bool waiting;        /* a remote engine is still loading a channel: start later */
	bool resume_pending; /* waiting with a resume position (held in gap_from) */
	uint64_t waited_ms;  /* waiting: when it subscribed (monotonic), the live start */
	uint8_t gap_why;
	uint8_t gap_from_len;
	char gap_from[64]; /* the position the gap starts at, as the client gave it */
	uint32_t n_chans;
	struct hub_sub_chan *chans;
	struct list touched; /* on the worker's batch_end list; worker only */
};

/* What a remote engine is told (under the hub lock: it must only queue). */
enum hub_interest {
	HUB_INTEREST_ON = 0, /* a channel now exists here: subscribe and load it */
	HUB_INTEREST_OFF,    /* reaped: unsubscribe */
	HUB_INTEREST_SYNC,   /* a resume waits: reload after what is held, then ready again */
};

struct hub_remote {
	void (*interest)(void *ctx, const char *name, size_t len, enum hub_interest what);
	/* Publishes m on a reserved channel (name_reserved), which is this
	 * node's own: worker 0's thread. 0 or a code (CRIER_EENGINE_DOWN...). */
	int (*publish_own)(void *ctx, const char *name, size_t len, struct msg *m);
	void *ctx;
};

struct hub_config {
	struct engine_limits limits;
	uint32_t max_channels;
	uint64_t max_message_bytes;
	enum hub_slow_policy slow_policy;
};

/* Creates the hub for srv's workers (call after server_init, before
 * server_run: it adds a handle to each worker's loop). NULL on ENOMEM. */
struct hub *hub_new(struct server *srv, const struct hub_config *cfg);
/* Releases everything (after the workers have stopped). */
void hub_free(struct hub *h);
/* Adopts new limits (reload). Any thread. */
void hub_set_config(struct hub *h, const struct hub_config *cfg);

/* Makes the hub a replica of a remote engine (before server_run). */
void hub_set_remote(struct hub *h, const struct hub_remote *r);

/* True when the hub is a replica (publishes go through the engine). */
bool hub_is_remote(const struct hub *h);

/*
 * A message from the remote engine, with its id and time_ms set: appended
 * to the channel's local history and handed to the workers, as
 * hub_publish does. Dropped when this node has no such channel or already
 * holds that seq. An id of another epoch means the remote history was lost:
 * the local one is dropped, and each subscriber is told with a gap notice
 * (reason epoch) before its next message. Returns 0 or CRIER_ENOMEM. Any thread.
 */
int hub_deliver(struct hub *h, const char *name, size_t len, struct msg *m);

/* The remote sequence as last read: adopts a new epoch (as hub_deliver
 * does) and remembers seq, so that a resume from an id up to it is a
 * position, not one "from the future". Any thread. */
void hub_sync(struct hub *h, uint32_t epoch, uint64_t seq);

/* The remote engine holds a channel's history (loaded with hub_deliver;
 * evicted_seq: the newest seq it lost to its bounds): its waiting
 * subscribers start. Any thread. */
void hub_channel_ready(struct hub *h, const char *name, size_t len, uint64_t evicted_seq);

/* Subscribers on the channel across all workers (0 when unknown). Any thread. */
uint32_t hub_channel_subs(struct hub *h, const char *name, size_t len);

/* True when name is 1..128 bytes of [A-Za-z0-9_.:@-], or a reserved
 * channel (core/name.h), which only the hub itself publishes to. */
bool hub_channel_name_valid(const char *name, size_t len);

/* Publishes m (the caller keeps its reference; the hub takes its own) on
 * channel name. On success m has its id and *subscribers is the channel's
 * subscriber count. Returns 0, CRIER_EINVAL (bad name), CRIER_EOVERLOAD
 * (--max-channels reached), CRIER_ENOMEM, CRIER_EREMOTE (the hub is a
 * replica: publish through the engine). Any worker thread; on a replica,
 * a reserved channel is published through the engine's publish_own
 * (worker 0's thread, no id on m yet: it comes back through hub_deliver). */
int hub_publish(struct hub *h, const char *name, size_t name_len, struct msg *m,
                uint32_t *subscribers);

/*
 * Subscribes s (the caller sets ops and budget; the rest is initialised
 * here, whatever it held) to the comma-separated channel
 * list on the calling worker, starting after `since` (NULL: live only).
 * Nothing is delivered yet, so the transport can still refuse the request
 * (503) or write its response head first; it then calls hub_sub_start.
 * Returns 0, CRIER_EINVAL (a bad channel name or too many channels),
 * CRIER_EOVERLOAD (--max-channels), CRIER_ENOMEM.
 */
int hub_subscribe(struct hub *h, struct hub_sub *s, struct worker *w, const char *names,
                  size_t names_len, const char *since, size_t since_len);

/* Starts delivery: the gap notice and replay of a resume go out now (or
 * as the connection drains), live messages from the next loop turn. */
void hub_sub_start(struct hub_sub *s);

/* Removes one channel from s (the others stay). Returns 0, or CRIER_EINVAL
 * when s is not subscribed to it. Worker thread of s. */
int hub_sub_drop(struct hub_sub *s, const char *name, size_t len);

/* True when s includes the channel. */
bool hub_sub_has(const struct hub_sub *s, const char *name, size_t len);

/* What starting s will replay: the number of history messages after its
 * cursor, and, when there will be a gap notice, its JSON into gap (left
 * empty otherwise). For a subscribe acknowledgement; call before
 * hub_sub_start. */
uint32_t hub_sub_preview(struct hub_sub *s, struct buf *gap);

/* Continues a catching-up subscriber: its connection's queue drained. */
void hub_sub_drained(struct hub_sub *s);

/* Ends the subscription; nothing is delivered afterwards. Idempotent. */
void hub_unsubscribe(struct hub_sub *s);

/* Channel info as JSON into out; 0, or CRIER_EINVAL when unknown. */
int hub_channel_json(struct hub *h, const char *name, size_t len, struct buf *out);

/* The text form of the newest id (empty before the first publish). */
void hub_last_id(struct hub *h, char out[ID_STR_MAX]);

/* Appends the hub's Prometheus families to out. */
int hub_metrics(struct hub *h, struct buf *out);

#define HUB_STATS_TOP 50 /* channels listed in a stats snapshot: bounded message size */

/* One channel in a stats snapshot. */
struct hub_stats_chan {
	char name[HUB_CHANNEL_MAX + 1];
	uint32_t subscribers;
	uint64_t published; /* messages ever published here */
	double rate_per_s;  /* messages/s since the previous scan (0 on the first) */
};

/* What the hub knows for the stats channel (stats.h); totals are counters
 * since start, rates are over the interval since the previous scan. */
struct hub_stats {
	uint64_t interval_ms; /* since the previous scan; 0 on the first */
	uint32_t channels;    /* channels known */
	uint64_t published, deliveries;
	double published_per_s, deliveries_per_s;
	uint64_t slow_disconnects, slow_catchups;
	uint64_t gaps; /* gap notices sent, every reason */
	uint32_t n_top;
	struct hub_stats_chan top[HUB_STATS_TOP]; /* by subscribers, most first */
};

/* Fills *s and starts the next rate interval. Scans every channel under
 * the hub lock (O(channels x HUB_STATS_TOP) at worst), so call it about
 * once a second, and only when someone reads the result. One caller at a
 * time (the tick on worker 0). */
void hub_stats(struct hub *h, struct hub_stats *s);

/* Periodic work, about once a second from any worker: history TTL, and
 * reaping channels that have no subscriber, no history and no message in
 * flight (so per-user channel names do not fill --max-channels forever). */
void hub_tick(struct hub *h);

/* Releases the worker's hub state; server hook. */
void hub_worker_exit(struct worker *w);

#endif
