/*
 * engine_redis.c - connections to Redis, the publish script, the
 * subscription connection and the channel replicas it feeds.
 *
 * Owns: one command connection per worker (on that worker's loop; see
 * redis_conn.c), one subscription connection (worker 0), the rediss://
 * TLS context, the table of channels
 * this node wants (worker 0 only), reconnection with backoff, the parked
 * HTTP publishes and the engine's counters. It never delivers a message
 * itself: everything goes through hub_deliver, in the order Redis sends it.
 *
 * A channel wanted here moves SUBSCRIBING -> LOADING -> READY: SUBSCRIBE
 * first, and once Redis confirms it, load.lua reads the stream after the
 * newest seq held (everything before it is in the replica already); live
 * messages that arrive in between wait in the channel's pending list and
 * follow the loaded ones, duplicates dropped by seq. Only then is the
 * channel ready in the hub and its subscribers start. A lost subscription
 * connection puts every channel back to SUBSCRIBING, so a reconnect
 * refills each one from its stream exactly where it stopped (or with a
 * gap notice when the stream no longer holds that far back).
 *
 * The non-obvious choice: the publisher does not deliver from the script's
 * reply. One path (pub/sub) for every node keeps one order for everyone;
 * a node that delivered its own publishes first could interleave them
 * with another node's in an order no other node sees.
 */
#include "engine/engine_redis.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "engine/redis_conn.h"
#include "engine/redis_scripts.h"
#include "engine/redis_wire.h"
#include "net/worker.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ER_BACKOFF_MIN_MS 100  /* first retry: a restart is usually this quick */
#define ER_BACKOFF_MAX_MS 2000 /* the longest a node stays blind after Redis returns */
#define ER_MAINT_MS       250  /* worker 0: retry loads that failed */
#define ER_TAG_LEN        9    /* "@" and 8 hex digits: a node's own name in Redis */
#define ER_WIRE_MAX       (NAME_CHANNEL_MAX + ER_TAG_LEN)
#define ER_KEY_MAX        (8 + ER_WIRE_MAX)
/* Entries a reserved channel's stream keeps ($sys.stats, one stream per
 * node life): a dashboard needs the last minute. Age and bytes are
 * node-wide bounds in publish.lua, so they stay the configured ones. */
#define ER_SYS_HISTORY 60
/* Live messages a loading channel may hold: --history-size, at least this
 * many. Past it (or past ER_PENDING_BYTES across every loading channel)
 * the channel drops what it holds and reads on from its stream instead. */
#define ER_PENDING_MIN       256
#define ER_PENDING_BYTES_MAX (64u << 20)

/* UNSUBSCRIBING waits for Redis's confirmation before a channel can be
 * subscribed again: one (UN)SUBSCRIBE in flight per channel keeps each
 * confirmation unambiguous, and messages that still arrive for it
 * meanwhile are dropped rather than held for a load that would follow. */
enum er_state { ER_SUBSCRIBING = 0, ER_LOADING, ER_LOADED, ER_READY, ER_UNSUBSCRIBING };

/* One channel this node wants (worker 0 only). */
struct er_chan {
	struct er_chan *next;
	uint64_t hash;
	uint8_t state;        /* enum er_state */
	bool loaded_once;     /* a load completed: later ones refill after last_seq */
	bool load_failed;     /* retry from the maintenance timer */
	bool sync_again;      /* a resume asked while loading: load once more */
	bool resubscribe;     /* wanted again while unsubscribing */
	uint32_t load_errors; /* consecutive failed loads; the first is logged */
	bool syncing;         /* a sync-only load is in flight (the channel stays ready) */
	uint64_t evicted;     /* LOADED: the stream's losses, for hub_channel_ready */
	struct msg **held;    /* LOADED: the loaded entries, until the refill's batch */
	size_t n_held;
	uint32_t gen;         /* bumped on every state reset: stale replies are ignored */
	uint64_t last_seq;    /* newest seq handed to the hub (0: none) */
	struct msg **pending; /* live messages while loading, in arrival order */
	size_t n_pending, cap_pending;
	size_t pending_bytes; /* payload bytes in pending */
	bool overflowed;      /* pending overflowed during this load: read on from the stream */
	uint8_t name_len;
	char name[NAME_CHANNEL_MAX + 1];
};

struct er_conn {
	struct engine_redis *er;
	struct worker *w;
	struct redis_conn *rc; /* NULL while no attempt is under way */
	bool up;               /* connected: commands may be sent */
	bool is_sub;
	bool exiting;      /* the loop is ending: touch no handle */
	bool ever_up;      /* a later connect is a reconnect */
	uint32_t failures; /* consecutive failed attempts; the first is logged */
	uint64_t backoff_ms;
	char epoch_candidate[9]; /* offered to the scripts when Redis has no epoch */
	uv_timer_t retry;
	uv_timer_t tick;  /* publish timeouts */
	struct list pubs; /* struct er_pub.node, oldest first */
};

/* A publish waiting for Redis (engine_redis_req to its caller). */
struct er_pub {
	struct list node; /* on c->pubs, oldest first */
	struct er_conn *c;
	engine_redis_done_fn done; /* NULL once answered or cancelled */
	void *arg;
	uint64_t sent_ms; /* loop time it was sent, for --redis-timeout */
	struct msg *m;    /* payload, event and flags, kept for a NOSCRIPT retry */
	bool retried;
	uint8_t name_len;
	char name[NAME_CHANNEL_MAX + 1];
};

/* A load's identity, checked when its reply arrives. */
struct er_ticket {
	struct engine_redis *er;
	uint32_t gen;
	bool sync_only; /* only the epoch and sequence are wanted */
	uint8_t name_len;
	char name[NAME_CHANNEL_MAX + 1];
};

struct er_interest {
	uint8_t what; /* enum hub_interest */
	uint8_t name_len;
	char name[NAME_CHANNEL_MAX + 1];
};

struct engine_redis {
	struct hub *hub;
	struct server *srv;
	struct redis_url url;
	_Atomic uint32_t history_size;
	_Atomic uint64_t history_ttl_ms;
	_Atomic uint64_t history_max_bytes;
	_Atomic uint64_t timeout_ms;
	char sha_publish[41], sha_load[41];
	char node_tag[ER_TAG_LEN + 1]; /* "@<8 hex>", random per start */
	SSL_CTX *tls;                  /* rediss://: shared by every connection; NULL otherwise */
	uint32_t n_conns;
	struct er_conn *conns; /* one per worker */
	struct er_conn sub;    /* on worker 0 */
	/* Interest changes from any thread, drained on worker 0. */
	uv_mutex_t lock;
	struct er_interest *queue;
	size_t queue_len, queue_cap;
	uv_async_t wake;
	uv_timer_t maint;
	/* The wanted channels (worker 0). */
	struct er_chan **buckets;
	uint32_t n_buckets, n_chans;
	uint32_t epoch; /* newest epoch seen on the subscription (worker 0) */
	bool refill; /* after a lost subscription: every channel reloads, delivered as one batch */
	/* Counters. */
	atomic_uint conns_up;
	atomic_size_t pending_msgs, pending_bytes; /* held by loading channels (worker 0 writes) */
	metric_t reconnects, round_trips, published, received, bad_messages, loads, tls_failures;
	metric_t pub_errors_down, pub_errors_timeout, pub_errors_script;
	metric_t pending_overflows;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t er_hash(const char *s, size_t len)
{
	uint64_t x = 1469598103934665603ull; /* FNV-1a, as the hub */
	for (size_t i = 0; i < len; i++) {
		x ^= (unsigned char)s[i];
		x *= 1099511628211ull;
	}
	return x;
}

/* The engine's counters have several writers (every worker publishes). */
static void er_count(metric_t *m)
{
	atomic_fetch_add_explicit(m, 1, memory_order_relaxed);
}

static void er_sha1_hex(const char *s, size_t len, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(s, len, md, &n, EVP_sha1(), NULL);
	for (unsigned int i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool er_is_error(const redisReply *r, const char *prefix)
{
	return r && r->type == REDIS_REPLY_ERROR && r->str &&
	       strncmp(r->str, prefix, strlen(prefix)) == 0;
}

/* A fresh random epoch for c's next script: once Redis adopted one, a
 * later loss of its data must get another. */
static void er_new_candidate(struct er_conn *c)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)time(NULL) ^ (uint32_t)clock() ^ (uint32_t)(uintptr_t)c;
	snprintf(c->epoch_candidate, sizeof(c->epoch_candidate), "%08x", r);
}

/* Called with the epoch a script answered: renews the candidate if it was used. */
static void er_epoch_seen(struct er_conn *c, const char *epoch, size_t len)
{
	if (len == 8 && memcmp(epoch, c->epoch_candidate, 8) == 0)
		er_new_candidate(c);
}

/*
 * A channel's name in Redis (keys crier:h:, crier:c:, and the script's
 * channel argument). Reserved channels ($sys.stats) describe one node, so
 * each node has its own, name@tag; every other channel is shared by name.
 * '$' is outside the channel alphabet: no client channel can collide.
 */
static int er_wire_name(const struct engine_redis *er, const char *name, size_t len,
                        char out[ER_WIRE_MAX + 1])
{
	return snprintf(out, ER_WIRE_MAX + 1, "%.*s%s", (int)len, name,
	                name_reserved(name, len) ? er->node_tag : "");
}

static int er_send(struct er_conn *c, redis_conn_reply_fn *fn, void *priv, int argc,
                   const char **argv, const size_t *lens)
{
	if (!c->rc || redis_conn_cmd(c->rc, fn, priv, argc, argv, lens) != 0)
		return CRIER_EENGINE_DOWN;
	er_count(&c->er->round_trips);
	return 0;
}

/* ---- connections -------------------------------------------------------- */

static void er_connect(struct er_conn *c);
static void er_sub_resubscribe(struct engine_redis *er);
static void er_sub_lost(struct engine_redis *er);

static void er_on_retry(uv_timer_t *t)
{
	er_connect(t->data);
}

static void er_schedule_retry(struct er_conn *c, const char *why);

static void er_on_connect_timeout(uv_timer_t *t)
{
	struct er_conn *c = t->data;
	if (c->rc && !c->up) /* er_on_connect retries */
		redis_conn_close(c->rc, CRIER_ETIMEOUT,
		                 "connect timed out (no answer within --redis-timeout)");
}

static void er_schedule_retry(struct er_conn *c, const char *why)
{
	if (c->exiting)
		return;
	if (c->failures++ == 0)
		log_warn(
		        "redis unreachable: retrying with backoff (publishes answer 503 meanwhile)",
		        "conn=%s worker=%u addr=%s%s%s port=%u reason=\"%s\"",
		        c->is_sub ? "subscribe" : "command", c->w->id, c->er->url.host,
		        c->er->url.path, c->er->url.is_unix ? " (unix)" : "",
		        (unsigned)c->er->url.port, why ? why : "unknown");
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : ER_BACKOFF_MIN_MS;
	if (c->backoff_ms > ER_BACKOFF_MAX_MS)
		c->backoff_ms = ER_BACKOFF_MAX_MS;
	uv_timer_start(&c->retry, er_on_retry, c->backoff_ms, 0);
}

/* Answers every parked publish of c: the connection went away. */
static void er_fail_pubs(struct er_conn *c);

static void er_on_disconnect(void *data, const char *why)
{
	struct er_conn *c = data;
	bool was_up = c->up;
	c->rc = NULL;
	c->up = false;
	if (!c->exiting)
		uv_timer_stop(&c->retry);
	if (was_up)
		atomic_fetch_sub(&c->er->conns_up, 1u);
	if (c->exiting)
		return;
	log_warn("redis connection lost", "conn=%s worker=%u reason=\"%s\"",
	         c->is_sub ? "subscribe" : "command", c->w->id, why);
	er_fail_pubs(c);
	if (c->is_sub)
		er_sub_lost(c->er);
	c->failures = 1; /* logged just now */
	er_schedule_retry(c, why);
}

static void er_on_connect(void *data, int status, const char *why)
{
	struct er_conn *c = data;
	if (status != 0) {
		c->rc = NULL; /* gone after this callback */
		if (status == CRIER_ETLS)
			er_count(&c->er->tls_failures);
		er_schedule_retry(c, why);
		return;
	}
	uv_timer_stop(&c->retry);
	c->up = true;
	atomic_fetch_add(&c->er->conns_up, 1u);
	if (c->ever_up)
		er_count(&c->er->reconnects);
	if (c->failures || c->ever_up)
		log_info("redis connected", "conn=%s worker=%u after_attempts=%u",
		         c->is_sub ? "subscribe" : "command", c->w->id, c->failures);
	c->ever_up = true;
	c->failures = 0;
	c->backoff_ms = 0;
	if (c->is_sub)
		er_sub_resubscribe(c->er);
}

/* AUTH, SELECT and SCRIPT LOAD are checked here: a wrong password or a
 * missing database is a configuration error, said once per attempt. */
static void er_on_setup(void *data, void *reply, void *priv)
{
	const redisReply *r = reply;
	(void)priv;
	if (!r || r->type != REDIS_REPLY_ERROR)
		return;
	struct er_conn *c = data;
	log_error("redis refused the connection's setup (check --redis-url)",
	          "conn=%s worker=%u error=\"%s\"", c->is_sub ? "subscribe" : "command", c->w->id,
	          r->str);
	if (c->rc)
		redis_conn_close(c->rc, CRIER_EINVAL, "redis refused the connection's setup");
}

static void er_setup(struct er_conn *c)
{
	const struct redis_url *u = &c->er->url;
	if (u->password[0]) {
		const char *argv[3] = {"AUTH", u->user, u->password};
		size_t lens[3] = {4, strlen(u->user), strlen(u->password)};
		if (u->user[0])
			er_send(c, er_on_setup, NULL, 3, argv, lens);
		else
			er_send(c, er_on_setup, NULL, 2, (const char *[]){"AUTH", u->password},
			        (const size_t[]){4, lens[2]});
	}
	if (u->db) {
		char db[16];
		int n = snprintf(db, sizeof(db), "%u", u->db);
		er_send(c, er_on_setup, NULL, 2, (const char *[]){"SELECT", db},
		        (const size_t[]){6, (size_t)n});
	}
	if (!c->is_sub) {
		er_send(c, er_on_setup, NULL, 3,
		        (const char *[]){"SCRIPT", "LOAD", redis_script_publish},
		        (const size_t[]){6, 4, redis_script_publish_len});
		er_send(c, er_on_setup, NULL, 3,
		        (const char *[]){"SCRIPT", "LOAD", redis_script_load},
		        (const size_t[]){6, 4, redis_script_load_len});
	}
}

static void er_on_push(void *data, const redisReply *reply);

static void er_connect(struct er_conn *c)
{
	if (c->exiting || c->rc)
		return;
	struct redis_conn_cbs cbs = {.on_connect = er_on_connect,
	                             .on_disconnect = er_on_disconnect,
	                             .on_push = c->is_sub ? er_on_push : NULL};
	char why[200];
	if (redis_conn_open(&c->w->loop, &c->er->url, c->er->tls, &cbs, c, &c->rc, why,
	                    sizeof(why)) != 0) {
		c->rc = NULL;
		er_schedule_retry(c, why);
		return;
	}
	er_setup(c); /* queued: sent once connected */
	/* A connect that neither completes nor fails (a black-holed address,
	 * a peer that does not answer) is abandoned after --redis-timeout. */
	uv_timer_start(&c->retry, er_on_connect_timeout, atomic_load(&c->er->timeout_ms), 0);
}

/* ---- publish ---------------------------------------------------------- */

static void er_pub_free(struct er_pub *p)
{
	list_unlink(&p->node);
	msg_unref(p->m);
	free(p);
}

/* Tells the publisher (once); the record stays until Redis answers. */
static void er_pub_answer(struct er_pub *p, const struct engine_redis_result *res)
{
	engine_redis_done_fn done = p->done;
	if (!done)
		return;
	p->done = NULL;
	done(p->arg, res);
}

static void er_pub_fail(struct er_pub *p, int status, const char *message)
{
	er_pub_answer(p, &(struct engine_redis_result){.status = status, .message = message});
}

static void er_fail_pubs(struct er_conn *c)
{
	for (struct list *n = c->pubs.next; n != &c->pubs; n = n->next) {
		struct er_pub *p = container_of(n, struct er_pub, node);
		if (p->done) {
			er_count(&c->er->pub_errors_down);
			er_pub_fail(
			        p, 503,
			        "the connection to Redis was lost; the message may or may not have "
			        "been published");
		}
	}
}

/* Every 100 ms: publishes older than --redis-timeout are answered 503. */
static void er_on_tick(uv_timer_t *t)
{
	struct er_conn *c = t->data;
	uint64_t now = uv_now(&c->w->loop), limit = atomic_load(&c->er->timeout_ms);
	for (struct list *n = c->pubs.next; n != &c->pubs; n = n->next) {
		struct er_pub *p = container_of(n, struct er_pub, node);
		if (now - p->sent_ms < limit)
			break; /* oldest first: the rest are younger */
		if (!p->done)
			continue;
		er_count(&c->er->pub_errors_timeout);
		log_warn("publish timed out waiting for redis", "channel=%.*s timeout_ms=%" PRIu64,
		         (int)p->name_len, p->name, limit);
		er_pub_fail(p, 503,
		            "Redis did not answer within --redis-timeout; the message may or may "
		            "not have been published");
	}
}

static int er_pub_send(struct er_pub *p);

static void er_on_published(void *data, void *reply, void *priv)
{
	(void)data;
	const redisReply *r = reply;
	struct er_pub *p = priv;
	struct engine_redis *er = p->c->er;
	if (er_is_error(r, "NOSCRIPT") && !p->retried && !p->c->exiting) {
		/* Redis lost its script cache (SCRIPT FLUSH, a restart between
		 * our SCRIPT LOAD and now): EVAL once, which caches it again. */
		p->retried = true;
		if (er_pub_send(p) == 0)
			return;
	}
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_INTEGER &&
	    r->element[2]->type == REDIS_REPLY_INTEGER) {
		struct id id = {.seq = (uint64_t)r->element[1]->integer};
		char text[ID_STR_MAX], name[9] = {0};
		memcpy(name, r->element[0]->str, r->element[0]->len < 8 ? r->element[0]->len : 8);
		er_epoch_seen(p->c, r->element[0]->str, r->element[0]->len);
		id.epoch = (uint32_t)strtoul(name, NULL, 16);
		id_format(&id, text);
		er_count(&er->published);
		er_pub_answer(p, &(struct engine_redis_result){.status = 200,
		                                               .id = text,
		                                               .nodes = r->element[2]->integer,
		                                               .channel = p->name,
		                                               .channel_len = p->name_len});
	} else if (r && r->type == REDIS_REPLY_ERROR) {
		er_count(&er->pub_errors_script);
		log_error("publish script failed in redis", "channel=%.*s error=\"%s\"",
		          (int)p->name_len, p->name, r->str);
		char msg[600];
		snprintf(msg, sizeof(msg), "the Redis engine's publish script failed: %.500s",
		         r->str);
		er_pub_fail(p, 500, msg);
	} else if (r) {
		er_count(&er->pub_errors_script);
		er_pub_fail(p, 500, "unexpected reply from Redis");
	} else {
		er_count(&er->pub_errors_down);
		er_pub_fail(
		        p, 503,
		        "the connection to Redis was lost; the message may or may not have been "
		        "published");
	}
	er_pub_free(p);
}

static int er_pub_send(struct er_pub *p)
{
	struct engine_redis *er = p->c->er;
	char wire[ER_WIRE_MAX + 1], k3[ER_KEY_MAX + 1], maxlen[16], ttl[24], now[24], maxbytes[24];
	int wn = er_wire_name(er, p->name, p->name_len, wire);
	int k3n = snprintf(k3, sizeof(k3), "crier:h:%s", wire);
	uint32_t size = atomic_load(&er->history_size);
	if (name_reserved(p->name, p->name_len) && size > ER_SYS_HISTORY)
		size = ER_SYS_HISTORY; /* its own stream only: age and bytes are node-wide */
	int mn = snprintf(maxlen, sizeof(maxlen), "%u", size);
	int tn = snprintf(ttl, sizeof(ttl), "%" PRIu64, atomic_load(&er->history_ttl_ms));
	int nn = snprintf(now, sizeof(now), "%" PRId64, clock_wall_ms());
	int bn = snprintf(maxbytes, sizeof(maxbytes), "%" PRIu64,
	                  atomic_load(&er->history_max_bytes));
	/* KEYS and ARGV as listed at the top of publish.lua. */
	const char *argv[22] = {
	        p->retried ? "EVAL" : "EVALSHA",
	        p->retried ? redis_script_publish : er->sha_publish,
	        "10",
	        "crier:epoch",
	        "crier:seq",
	        k3,
	        "crier:bytes",
	        "crier:heads",
	        "crier:empty",
	        "crier:gone",
	        "crier:trimmed",
	        "crier:base",
	        "crier:oldest",
	        wire,
	        p->m->event ? p->m->event : "",
	        p->m->binary ? "b" : "t",
	        (const char *)p->m->data,
	        maxlen,
	        ttl,
	        now,
	        p->c->epoch_candidate,
	        maxbytes,
	};
	size_t lens[22] = {
	        strlen(argv[0]),
	        p->retried ? redis_script_publish_len : 40,
	        2,
	        11,
	        9,
	        (size_t)k3n,
	        11,
	        11,
	        11,
	        10,
	        13,
	        10,
	        12,
	        (size_t)wn,
	        p->m->event_len,
	        1,
	        p->m->data_len,
	        (size_t)mn,
	        (size_t)tn,
	        (size_t)nn,
	        8,
	        (size_t)bn,
	};
	return er_send(p->c, er_on_published, p, 22, argv, lens);
}

struct engine_redis_req *engine_redis_publish(struct engine_redis *er, struct worker *w,
                                              const char *name, size_t len, struct msg *m,
                                              engine_redis_done_fn done, void *arg, int *err)
{
	struct er_conn *c = &er->conns[w->id];
	if (!c->up) {
		er_count(&er->pub_errors_down);
		*err = CRIER_EENGINE_DOWN;
		return NULL;
	}
	struct er_pub *p = calloc(1, sizeof(*p));
	if (!p) {
		*err = CRIER_ENOMEM;
		return NULL;
	}
	p->c = c;
	p->m = msg_ref(m);
	p->name_len = (uint8_t)len;
	memcpy(p->name, name, len);
	p->sent_ms = uv_now(&w->loop);
	list_push(&c->pubs, &p->node);
	if (er_pub_send(p) != 0) {
		er_pub_free(p);
		er_count(&er->pub_errors_down);
		*err = CRIER_EENGINE_DOWN;
		return NULL;
	}
	p->done = done;
	p->arg = arg;
	return (struct engine_redis_req *)p;
}

void engine_redis_cancel(struct engine_redis_req *req)
{
	((struct er_pub *)req)->done = NULL; /* the reply will find nobody to tell */
}

/* ---- POST /pub with the Redis engine ------------------------------------ */

static const char er_unavailable[] =
        "503 Service Unavailable: the Redis engine is unavailable (reconnecting)\n";

static void er_http_done(void *arg, const struct engine_redis_result *res)
{
	struct http_conn *hc = arg;
	char body[768];
	if (res->status != 200) {
		snprintf(body, sizeof(body), "%d %s: %s\n", res->status, http_reason(res->status),
		         res->message);
		http_deferred_respond(hc, res->status, "text/plain; charset=utf-8",
		                      res->status == 503 ? "Retry-After: 1\r\n" : NULL, body,
		                      strlen(body));
		return;
	}
	uint32_t subs = hub_channel_subs(hc->app->hub, res->channel, res->channel_len);
	int n = snprintf(body, sizeof(body),
	                 "{\"id\":\"%s\",\"channel\":\"%.*s\",\"subscribers\":%u,\"nodes\":%lld}\n",
	                 res->id, (int)res->channel_len, res->channel, subs, res->nodes);
	http_deferred_respond(hc, 200, "application/json", NULL, body, (size_t)n);
}

/* The parked request's end: the safety timeout (reason 0; the engine's own
 * --redis-timeout normally answers first) or the client went away. */
static void er_http_cancel(struct http_conn *hc, int reason)
{
	struct er_conn *c = &hc->app->redis->conns[hc->base.w->id];
	for (struct list *n = c->pubs.next; n != &c->pubs; n = n->next) {
		struct er_pub *p = container_of(n, struct er_pub, node);
		if (p->arg != hc || p->done != er_http_done)
			continue;
		if (reason == 0)
			er_pub_fail(p, 503, "Redis did not answer in time");
		else
			p->done = NULL;
		return;
	}
}

static const struct http_deferred_ops er_http_deferred = {.cancel = er_http_cancel};

void engine_redis_http_publish(struct engine_redis *er, struct http_ctx *ctx, const char *name,
                               size_t len, struct msg *m)
{
	int err = 0;
	if (!engine_redis_publish(er, ctx->w, name, len, m, er_http_done, ctx->hc, &err)) {
		if (err == CRIER_ENOMEM)
			http_respond(ctx, 500, "text/plain; charset=utf-8", NULL,
			             "500 Internal Server Error: out of memory\n", 41);
		else
			http_respond(ctx, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n",
			             er_unavailable, sizeof(er_unavailable) - 1);
		return;
	}
	http_defer(ctx, &er_http_deferred, atomic_load(&er->timeout_ms) + 1000);
}

/* ---- the wanted channels (worker 0) ------------------------------------ */

static struct er_chan *er_chan_find(struct engine_redis *er, const char *name, size_t len)
{
	uint64_t hash = er_hash(name, len);
	for (struct er_chan *c = er->buckets[hash & (er->n_buckets - 1)]; c; c = c->next)
		if (c->hash == hash && c->name_len == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

/* The wanted channel a name from Redis stands for (er_wire_name reversed). */
static struct er_chan *er_chan_find_wire(struct engine_redis *er, const char *s, size_t len)
{
	if (len > ER_TAG_LEN && memcmp(s + len - ER_TAG_LEN, er->node_tag, ER_TAG_LEN) == 0 &&
	    name_reserved(s, len - ER_TAG_LEN))
		return er_chan_find(er, s, len - ER_TAG_LEN);
	return name_reserved(s, len) ? NULL : er_chan_find(er, s, len);
}

static void er_chan_rehash(struct engine_redis *er)
{
	uint32_t nb = er->n_buckets * 2;
	struct er_chan **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains: slower, still correct */
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i], *next; c; c = next) {
			next = c->next;
			c->next = b[c->hash & (nb - 1)];
			b[c->hash & (nb - 1)] = c;
		}
	free(er->buckets);
	er->buckets = b;
	er->n_buckets = nb;
}

static void er_chan_drop_pending(struct engine_redis *er, struct er_chan *ch)
{
	for (size_t i = 0; i < ch->n_pending; i++)
		msg_unref(ch->pending[i]);
	atomic_fetch_sub_explicit(&er->pending_msgs, ch->n_pending, memory_order_relaxed);
	atomic_fetch_sub_explicit(&er->pending_bytes, ch->pending_bytes, memory_order_relaxed);
	ch->n_pending = 0;
	ch->pending_bytes = 0;
	free(ch->pending); /* a ready channel holds nothing */
	ch->pending = NULL;
	ch->cap_pending = 0;
}

static void er_chan_drop_held(struct er_chan *ch)
{
	for (size_t i = 0; i < ch->n_held; i++)
		msg_unref(ch->held[i]);
	free(ch->held);
	ch->held = NULL;
	ch->n_held = 0;
}

static void er_chan_free(struct engine_redis *er, struct er_chan *ch)
{
	er_chan_drop_held(ch);
	er_chan_drop_pending(er, ch);
	free(ch);
}

static void er_on_sub_reply(void *data, void *reply, void *priv);

/* SUBSCRIBE or UNSUBSCRIBE crier:c:{name} on the subscription connection.
 * One callback serves every channel: it finds the channel by name, so a
 * reply for a channel no longer wanted finds nothing and is dropped. */
static void er_subscribe(struct engine_redis *er, const char *name, size_t len, bool on)
{
	char wire[ER_WIRE_MAX + 1], key[ER_KEY_MAX + 1];
	er_wire_name(er, name, len, wire);
	int n = snprintf(key, sizeof(key), "crier:c:%s", wire);
	const char *verb = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	er_send(&er->sub, er_on_sub_reply, NULL, 2, (const char *[]){verb, key},
	        (const size_t[]){strlen(verb), (size_t)n});
}

/* Hands m to the hub if it is newer than what the channel holds. */
static void er_chan_deliver(struct engine_redis *er, struct er_chan *ch, struct msg *m)
{
	if (m->id.epoch == er->epoch && m->id.seq <= ch->last_seq)
		return;
	if (m->id.epoch != er->epoch) {
		/* A new life of Redis's history: every position held is void. */
		er->epoch = m->id.epoch;
		for (uint32_t i = 0; i < er->n_buckets; i++)
			for (struct er_chan *c = er->buckets[i]; c; c = c->next)
				c->last_seq = 0;
	}
	ch->last_seq = m->id.seq;
	if (hub_deliver(er->hub, ch->name, ch->name_len, m) != 0)
		log_error("out of memory delivering a message from redis", "channel=%.*s",
		          (int)ch->name_len, ch->name);
}

/* A message from Redis as a hub message (one reference), or NULL. */
static struct msg *er_msg(const struct redis_wire_msg *w)
{
	struct msg *m = msg_new(w->data, w->data_len, w->event, w->event_len, w->binary);
	if (!m)
		return NULL;
	msg_set_id(m, &w->id);
	/* History age runs on the monotonic clock: carry the message's age over. */
	int64_t age = clock_wall_ms() - w->time_ms;
	uint64_t now = clock_mono_ms();
	m->time_ms = age <= 0 ? now : (uint64_t)age < now ? now - (uint64_t)age : 1;
	return m;
}

static void er_load(struct engine_redis *er, struct er_chan *ch, bool sync_only);
static void er_refill_check(struct engine_redis *er);

/*
 * Too many live messages arrived while ch loads: they are dropped, and
 * the stream, which holds them too (or says with its evicted mark that it
 * lost some), is read on from the newest seq delivered instead. A refill
 * waiting in LOADED has delivered nothing yet: it loads again at once.
 */
static void er_chan_overflow(struct engine_redis *er, struct er_chan *ch)
{
	er_count(&er->pending_overflows);
	log_warn("a loading channel held too many live messages: reading them from its stream "
	         "instead",
	         "channel=%.*s held=%zu bytes=%zu", (int)ch->name_len, ch->name, ch->n_pending,
	         ch->pending_bytes);
	er_chan_drop_pending(er, ch);
	if (ch->state == ER_LOADED) {
		er_chan_drop_held(ch);
		ch->gen++;
		er_load(er, ch, false);
	} else {
		ch->overflowed = true;
	}
}

/* Keeps a live message for after the channel's load (a reference), within
 * the bounds above. False when out of memory. */
static bool er_chan_hold(struct engine_redis *er, struct er_chan *ch, struct msg *m)
{
	if (ch->overflowed)
		return true; /* the load after this one reads it from the stream */
	uint32_t most = atomic_load(&er->history_size);
	if (most < ER_PENDING_MIN)
		most = ER_PENDING_MIN;
	size_t bytes = (size_t)m->data_len + m->event_len;
	if (ch->n_pending >= most ||
	    atomic_load_explicit(&er->pending_bytes, memory_order_relaxed) + bytes >
	            ER_PENDING_BYTES_MAX) {
		er_chan_overflow(er, ch);
		return true;
	}
	if (ch->n_pending == ch->cap_pending) {
		size_t cap = ch->cap_pending ? ch->cap_pending * 2 : 16;
		struct msg **p = realloc(ch->pending, cap * sizeof(*p));
		if (!p)
			return false;
		ch->pending = p;
		ch->cap_pending = cap;
	}
	ch->pending[ch->n_pending++] = msg_ref(m);
	ch->pending_bytes += bytes;
	atomic_fetch_add_explicit(&er->pending_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&er->pending_bytes, bytes, memory_order_relaxed);
	return true;
}

/* A live message on the subscription connection. */
static void er_on_message(struct engine_redis *er, const redisReply *chan, const redisReply *data)
{
	er_count(&er->received);
	struct redis_wire_msg w;
	if (chan->type != REDIS_REPLY_STRING || data->type != REDIS_REPLY_STRING ||
	    chan->len <= 8 || redis_wire_decode(data->str, data->len, &w) != 0) {
		er_count(&er->bad_messages);
		log_warn("dropped a malformed message from redis", "bytes=%zu",
		         data->type == REDIS_REPLY_STRING ? data->len : 0);
		return;
	}
	struct er_chan *ch = er_chan_find_wire(er, chan->str + 8, chan->len - 8);
	if (!ch || ch->state == ER_UNSUBSCRIBING)
		return; /* no longer wanted here */
	struct msg *m = er_msg(&w);
	if (!m)
		return;
	if (ch->state == ER_READY)
		er_chan_deliver(er, ch, m);
	else if (!er_chan_hold(er, ch, m))
		log_error("out of memory holding a message while a channel loads", "channel=%.*s",
		          (int)ch->name_len, ch->name);
	msg_unref(m);
}

static void er_chan_remove(struct engine_redis *er, struct er_chan *ch)
{
	for (struct er_chan **pp = &er->buckets[ch->hash & (er->n_buckets - 1)]; *pp;
	     pp = &(*pp)->next)
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	er->n_chans--;
	er_chan_free(er, ch);
}

/* Redis confirmed the unsubscribe: forget the channel, or subscribe
 * afresh if it is wanted again. */
static void er_chan_unsubscribed(struct engine_redis *er, struct er_chan *ch)
{
	if (!ch->resubscribe) {
		er_chan_remove(er, ch);
		return;
	}
	ch->resubscribe = false;
	ch->state = ER_SUBSCRIBING;
	if (er->sub.up)
		er_subscribe(er, ch->name, ch->name_len, true);
}

static void er_on_sub_reply(void *data, void *reply, void *priv)
{
	(void)priv;
	struct er_conn *c = data;
	const redisReply *r = reply;
	if (!r || c->exiting || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = r->element[0]->str;
	if (strcmp(kind, "subscribe") == 0 && r->element[1]->len > 8) {
		struct er_chan *ch =
		        er_chan_find_wire(c->er, r->element[1]->str + 8, r->element[1]->len - 8);
		if (ch && ch->state == ER_SUBSCRIBING)
			er_load(c->er, ch, false); /* subscribed: what it missed is in the stream */
	} else if (strcmp(kind, "unsubscribe") == 0 && r->element[1]->len > 8) {
		struct er_chan *ch =
		        er_chan_find_wire(c->er, r->element[1]->str + 8, r->element[1]->len - 8);
		if (ch && ch->state == ER_UNSUBSCRIBING)
			er_chan_unsubscribed(c->er, ch);
	}
}

/* A message pushed on the subscription connection (redis_conn checked
 * that it is a three-element array headed "message"). */
static void er_on_push(void *data, const redisReply *reply)
{
	struct er_conn *c = data;
	if (!c->exiting)
		er_on_message(c->er, reply->element[1], reply->element[2]);
}

/* ---- loading a channel's history -------------------------------------- */

/* Reads one stream entry {"<seq>-0", {field, value, ...}} into a message. */
static struct msg *er_entry(uint32_t epoch, const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	struct redis_wire_msg w = {.id = {.epoch = epoch}};
	w.id.seq = strtoull(e->element[0]->str, NULL, 10);
	const redisReply *f = e->element[1];
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len != 1)
			return NULL;
		switch (k->str[0]) {
		case 'e':
			w.event = v->len ? v->str : NULL;
			w.event_len = v->len;
			break;
		case 'f':
			w.binary = v->len == 1 && v->str[0] == 'b';
			break;
		case 'd':
			w.data = v->str;
			w.data_len = v->len;
			break;
		case 't':
			w.time_ms = strtoll(v->str, NULL, 10);
			break;
		default:
			break;
		}
	}
	if (w.id.seq == 0 || w.event_len > NAME_EVENT_MAX ||
	    (w.event_len && !name_valid(w.event, w.event_len, NAME_EVENT_MAX)))
		return NULL;
	return er_msg(&w);
}

/* A new epoch seen on the subscription side: every position held is void. */
static void er_adopt_epoch(struct engine_redis *er, uint32_t epoch)
{
	if (epoch == er->epoch)
		return;
	er->epoch = epoch;
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next)
			c->last_seq = 0;
}

/* Delivers a loaded channel's entries, then the live messages held while
 * it loaded (duplicates dropped by seq), and makes it ready. */
static void er_chan_finish(struct engine_redis *er, struct er_chan *ch)
{
	for (size_t i = 0; i < ch->n_held; i++)
		er_chan_deliver(er, ch, ch->held[i]);
	for (size_t i = 0; i < ch->n_pending; i++)
		if (ch->pending[i]->id.epoch == er->epoch) /* older lives are void */
			er_chan_deliver(er, ch, ch->pending[i]);
	er_chan_drop_held(ch);
	er_chan_drop_pending(er, ch);
	ch->state = ER_READY;
	ch->loaded_once = true;
	hub_channel_ready(er->hub, ch->name, ch->name_len, ch->evicted);
	ch->evicted = 0;
	if (ch->sync_again) {
		ch->sync_again = false;
		er_load(er, ch, true);
	}
}

struct er_held {
	struct er_chan *ch;
	struct msg *m;
};

static int er_held_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct er_held *)a)->m->id.seq,
	         y = ((const struct er_held *)b)->m->id.seq;
	return (x > y) - (x < y);
}

/*
 * A refill after a lost subscription ends when every channel is loaded:
 * their entries and the live messages held meanwhile go to the hub as one
 * batch in seq order. Channel by channel, a live subscriber of two
 * channels could be handed seq 34 of one before seq 32 of the other, and
 * would skip 32.
 */
static void er_refill_check(struct engine_redis *er)
{
	if (!er->refill)
		return;
	size_t n = 0;
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next) {
			if (c->state == ER_SUBSCRIBING || c->state == ER_LOADING)
				return;
			if (c->state == ER_LOADED)
				n += c->n_held + c->n_pending;
		}
	er->refill = false;
	/* A channel that was ready has live subscribers: they must learn what
	 * its stream lost before the refill's messages reach them. Told after,
	 * a worker could already have handed them the newer messages, and the
	 * loss would pass unseen (hub_unwait_channel compares with the cursor).
	 * Told first, one may hear of it before the messages reach history: its
	 * notice then says to: null, and the messages follow. */
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next)
			if (c->state == ER_LOADED && c->loaded_once && c->evicted)
				hub_channel_ready(er->hub, c->name, c->name_len, c->evicted);
	struct er_held *all = malloc((n ? n : 1) * sizeof(*all));
	size_t k = 0;
	for (uint32_t i = 0; all && i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next) {
			if (c->state != ER_LOADED)
				continue;
			for (size_t j = 0; j < c->n_held; j++)
				all[k++] = (struct er_held){c, c->held[j]};
			for (size_t j = 0; j < c->n_pending; j++)
				if (c->pending[j]->id.epoch == er->epoch)
					all[k++] = (struct er_held){c, c->pending[j]};
		}
	if (all) {
		qsort(all, k, sizeof(*all), er_held_cmp);
		for (size_t i = 0; i < k; i++)
			er_chan_deliver(er, all[i].ch, all[i].m);
	} else {
		log_error("out of memory ordering a refill: channels delivered one by one", "n=%zu",
		          n);
	}
	free(all);
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next)
			if (c->state == ER_LOADED)
				er_chan_finish(er, c); /* what is left are duplicates */
}

/* load.lua's reply: {epoch, seq, evicted, entries}, or NULL when malformed. */
static bool er_load_reply_ok(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	       r->element[0]->type == REDIS_REPLY_STRING &&
	       r->element[1]->type == REDIS_REPLY_INTEGER &&
	       r->element[2]->type == REDIS_REPLY_INTEGER &&
	       r->element[3]->type == REDIS_REPLY_ARRAY;
}

/* The entries of a load, as messages, into ch->held. */
static void er_hold_entries(struct engine_redis *er, struct er_chan *ch, const redisReply *entries)
{
	er_chan_drop_held(ch);
	ch->held = calloc(entries->elements ? entries->elements : 1, sizeof(*ch->held));
	for (size_t i = 0; ch->held && i < entries->elements; i++) {
		struct msg *m = er_entry(er->epoch, entries->element[i]);
		if (m)
			ch->held[ch->n_held++] = m;
		else
			er_count(&er->bad_messages);
	}
}

static void er_on_loaded(void *data, void *reply, void *priv)
{
	(void)data;
	struct er_ticket *t = priv;
	struct engine_redis *er = t->er;
	const redisReply *r = reply;
	bool sync_only = t->sync_only;
	struct er_chan *ch = er->sub.exiting ? NULL : er_chan_find(er, t->name, t->name_len);
	bool current = ch && ch->gen == t->gen && ch->state == (sync_only ? ER_READY : ER_LOADING);
	free(t);
	if (!current)
		return; /* no longer wanted, or reset by a lost subscription */
	if (!er_load_reply_ok(r)) {
		if (r && r->type == REDIS_REPLY_ERROR && ch->load_errors++ == 0)
			log_error("loading a channel's history from redis failed",
			          "channel=%.*s error=\"%s\"", (int)ch->name_len, ch->name, r->str);
		if (sync_only) { /* its resumes go on with what this node knows */
			ch->syncing = false;
			hub_channel_ready(er->hub, ch->name, ch->name_len, 0);
		} else {
			ch->load_failed = true; /* the maintenance timer tries again */
		}
		return;
	}
	er_count(&er->loads);
	ch->load_errors = 0;
	er_epoch_seen(&er->conns[0], r->element[0]->str, r->element[0]->len);
	char hex[9] = {0};
	memcpy(hex, r->element[0]->str, r->element[0]->len < 8 ? r->element[0]->len : 8);
	uint32_t epoch = (uint32_t)strtoul(hex, NULL, 16);
	uint64_t before = epoch == er->epoch ? ch->last_seq : 0;
	hub_sync(er->hub, epoch, (uint64_t)r->element[1]->integer);
	er_adopt_epoch(er, epoch);
	if (sync_only) {
		/* A resume waited for the sequence, not for entries: this channel
		 * is live, and entries read here could overtake live messages of
		 * other channels. */
		ch->syncing = false;
		hub_channel_ready(er->hub, ch->name, ch->name_len, 0);
		if (ch->sync_again) {
			ch->sync_again = false;
			er_load(er, ch, true);
		}
		return;
	}
	/* The stream's losses matter where this node could have missed them:
	 * everything on a first load, only what lies past the newest seq it
	 * held on a refill. */
	uint64_t evicted = (uint64_t)r->element[2]->integer;
	if (ch->loaded_once && evicted <= before)
		evicted = 0;
	if (evicted > ch->evicted) /* an earlier load of this round may have seen more */
		ch->evicted = evicted;
	er_hold_entries(er, ch, r->element[3]);
	if (ch->overflowed) {
		/* Live messages were dropped meanwhile: read on from the stream. */
		ch->overflowed = false;
		if (!er->refill) {
			/* Not ready yet, so nobody watches: the entries read so far
			 * can go to the hub now, and the next load starts after them. */
			for (size_t i = 0; i < ch->n_held; i++)
				er_chan_deliver(er, ch, ch->held[i]);
			ch->loaded_once = true;
		}
		er_chan_drop_held(ch);
		er_load(er, ch, false);
		return;
	}
	if (er->refill) {
		ch->state = ER_LOADED;
		er_refill_check(er);
	} else {
		er_chan_finish(er, ch);
	}
}

static void er_load(struct engine_redis *er, struct er_chan *ch, bool sync_only)
{
	if (sync_only) {
		if (ch->syncing) {
			ch->sync_again = true;
			return;
		}
		ch->syncing = true;
	} else {
		ch->state = ER_LOADING;
		ch->load_failed = false;
	}
	struct er_conn *c = &er->conns[0];
	struct er_ticket *t = malloc(sizeof(*t));
	if (t && c->up) {
		*t = (struct er_ticket){
		        .er = er, .gen = ch->gen, .sync_only = sync_only, .name_len = ch->name_len};
		memcpy(t->name, ch->name, ch->name_len);
		char wire[ER_WIRE_MAX + 1], key[ER_KEY_MAX + 1], after[24], count[16], ttl[24],
		        now[24];
		er_wire_name(er, ch->name, ch->name_len, wire);
		int kn = snprintf(key, sizeof(key), "crier:h:%s", wire);
		int an = snprintf(after, sizeof(after), "%" PRIu64,
		                  ch->loaded_once ? ch->last_seq : 0);
		uint32_t size = sync_only ? 0 : atomic_load(&er->history_size);
		int cn = snprintf(count, sizeof(count), "%u", size);
		int tn = snprintf(ttl, sizeof(ttl), "%" PRIu64, atomic_load(&er->history_ttl_ms));
		int nn = snprintf(now, sizeof(now), "%" PRId64, clock_wall_ms());
		/* KEYS and ARGV as listed at the top of load.lua. */
		const char *argv[17] = {"EVALSHA",
		                        er->sha_load,
		                        "9",
		                        "crier:epoch",
		                        "crier:seq",
		                        key,
		                        "crier:gone",
		                        "crier:trimmed",
		                        "crier:bytes",
		                        "crier:heads",
		                        "crier:empty",
		                        "crier:base",
		                        after,
		                        count,
		                        c->epoch_candidate,
		                        ttl,
		                        now};
		size_t lens[17] = {7,          40,         1,  11,         9,         (size_t)kn,
		                   10,         13,         11, 11,         11,        10,
		                   (size_t)an, (size_t)cn, 8,  (size_t)tn, (size_t)nn};
		if (er_send(c, er_on_loaded, t, 17, argv, lens) == 0)
			return;
	}
	free(t);
	if (sync_only) {
		ch->syncing = false;
		hub_channel_ready(er->hub, ch->name, ch->name_len, 0);
	} else {
		ch->load_failed = true;
	}
}

/* The subscription connection is back: subscribe to every channel again;
 * each is refilled from its stream once Redis confirms. */
static void er_sub_resubscribe(struct engine_redis *er)
{
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next)
			if (c->state == ER_SUBSCRIBING)
				er_subscribe(er, c->name, c->name_len, true);
}

/* Lost: live messages may have been missed; every channel starts over. */
static void er_sub_lost(struct engine_redis *er)
{
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i], *next; c; c = next) {
			next = c->next;
			c->gen++;
			c->sync_again = false;
			c->load_failed = false;
			c->syncing = false;
			c->overflowed = false;
			er_chan_drop_pending(er, c);
			er_chan_drop_held(c);
			er->refill = true;
			if (c->state == ER_UNSUBSCRIBING && !c->resubscribe)
				er_chan_remove(er, c); /* no subscription survives the connection */
			else
				c->state = ER_SUBSCRIBING;
		}
}

static void er_on_maint(uv_timer_t *t)
{
	struct engine_redis *er = t->data;
	if (!er->conns[0].up)
		return;
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i]; c; c = c->next)
			if (c->state == ER_LOADING && c->load_failed)
				er_load(er, c, false);
}

/* ---- the hub's own channels ---------------------------------------------- */

/* hub_publish of a reserved channel (the stats tick, on worker 0): through
 * Redis like any publish, so the snapshots get ids and history; nobody
 * waits for the answer (failures are counted as any publish's). */
static int er_publish_own(void *ctx, const char *name, size_t len, struct msg *m)
{
	struct engine_redis *er = ctx;
	int err = 0;
	return engine_redis_publish(er, &er->srv->workers[0], name, len, m, NULL, NULL, &err) ? 0
	                                                                                      : err;
}

/* ---- interest (from the hub, any thread) ------------------------------- */

static void er_interest(void *ctx, const char *name, size_t len, enum hub_interest what)
{
	struct engine_redis *er = ctx;
	uv_mutex_lock(&er->lock);
	if (er->queue_len == er->queue_cap) {
		size_t cap = er->queue_cap ? er->queue_cap * 2 : 64;
		struct er_interest *q = realloc(er->queue, cap * sizeof(*q));
		if (!q) {
			uv_mutex_unlock(&er->lock);
			log_error("out of memory queueing a channel for redis", "channel=%.*s",
			          (int)len, name);
			return;
		}
		er->queue = q;
		er->queue_cap = cap;
	}
	struct er_interest *e = &er->queue[er->queue_len++];
	e->what = (uint8_t)what;
	e->name_len = (uint8_t)len;
	memcpy(e->name, name, len);
	uv_mutex_unlock(&er->lock);
	uv_async_send(&er->wake);
}

static void er_apply(struct engine_redis *er, const struct er_interest *e)
{
	struct er_chan *ch = er_chan_find(er, e->name, e->name_len);
	switch ((enum hub_interest)e->what) {
	case HUB_INTEREST_ON:
		if (ch && ch->state == ER_UNSUBSCRIBING) {
			/* The hub's channel is new: its replica starts empty. */
			ch->resubscribe = true;
			ch->loaded_once = false;
			ch->last_seq = 0;
			return;
		}
		if (ch)
			return;
		ch = calloc(1, sizeof(*ch));
		if (!ch)
			return; /* its subscribers wait; a later subscribe asks again */
		ch->hash = er_hash(e->name, e->name_len);
		ch->name_len = e->name_len;
		memcpy(ch->name, e->name, e->name_len);
		ch->next = er->buckets[ch->hash & (er->n_buckets - 1)];
		er->buckets[ch->hash & (er->n_buckets - 1)] = ch;
		if (++er->n_chans > er->n_buckets)
			er_chan_rehash(er);
		if (er->sub.up)
			er_subscribe(er, ch->name, ch->name_len, true);
		break;
	case HUB_INTEREST_OFF:
		if (!ch || ch->state == ER_UNSUBSCRIBING) {
			if (ch)
				ch->resubscribe = false;
			return;
		}
		if (!er->sub.up) {
			er_chan_remove(er, ch); /* nothing is subscribed on a lost connection */
			return;
		}
		er_subscribe(er, ch->name, ch->name_len, false);
		ch->state = ER_UNSUBSCRIBING;
		ch->gen++; /* a load in flight is for nobody now */
		ch->sync_again = false;
		ch->load_failed = false;
		ch->syncing = false;
		ch->overflowed = false;
		er_chan_drop_pending(er, ch);
		er_chan_drop_held(ch);
		er_refill_check(er); /* it may have been the last one the refill waited for */
		break;
	case HUB_INTEREST_SYNC:
		if (!ch)
			return;
		if (ch->state == ER_READY)
			er_load(er, ch, true);
		else if (ch->state == ER_LOADING || ch->state == ER_LOADED)
			ch->sync_again = true;
		break;
	}
}

static void er_on_wake(uv_async_t *a)
{
	struct engine_redis *er = a->data;
	uv_mutex_lock(&er->lock);
	struct er_interest *q = er->queue;
	size_t n = er->queue_len;
	er->queue = NULL;
	er->queue_len = er->queue_cap = 0;
	uv_mutex_unlock(&er->lock);
	for (size_t i = 0; i < n; i++)
		er_apply(er, &q[i]);
	free(q);
}

/* ---- life cycle ---------------------------------------------------------- */

static void er_conn_init(struct engine_redis *er, struct er_conn *c, struct worker *w, bool is_sub)
{
	c->er = er;
	c->w = w;
	c->is_sub = is_sub;
	er_new_candidate(c);
	list_init(&c->pubs);
	uv_timer_init(&w->loop, &c->retry);
	c->retry.data = c;
	uv_timer_start(&c->retry, er_on_retry, 0, 0); /* connect from the worker's thread */
	if (!is_sub) {
		uv_timer_init(&w->loop, &c->tick);
		c->tick.data = c;
		uv_timer_start(&c->tick, er_on_tick, 100, 100);
	}
}

struct engine_redis *engine_redis_new(struct hub *h, struct server *srv, const struct config *cfg,
                                      char *why, size_t why_len)
{
	struct engine_redis *er = calloc(1, sizeof(*er));
	if (!er) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	char url_why[256];
	if (redis_url_parse(cfg->redis_url, &er->url, url_why, sizeof(url_why)) != 0) {
		snprintf(why, why_len, "--redis-url: %s", url_why);
		free(er);
		return NULL;
	}
	/* An empty value (CRIER_REDIS_TLS_CA=) means unset. */
	const char *ca = cfg->redis_tls_ca && *cfg->redis_tls_ca ? cfg->redis_tls_ca : NULL;
	const char *cert = cfg->redis_tls_cert && *cfg->redis_tls_cert ? cfg->redis_tls_cert : NULL;
	if (!er->url.tls && (ca || cert))
		log_warn("--redis-tls-ca/--redis-tls-cert ignored: --redis-url is not rediss://",
		         "url_scheme=%s", er->url.is_unix ? "unix" : "redis");
	if (er->url.tls) {
		er->tls = redis_conn_tls_ctx(ca, cert, cert ? cfg->redis_tls_key : NULL, why,
		                             why_len);
		if (!er->tls) {
			free(er);
			return NULL;
		}
	}
	er->hub = h;
	er->srv = srv;
	engine_redis_set_config(er, cfg);
	er_sha1_hex(redis_script_publish, redis_script_publish_len, er->sha_publish);
	er_sha1_hex(redis_script_load, redis_script_load_len, er->sha_load);
	er->n_conns = srv->n_workers;
	er->conns = calloc(er->n_conns, sizeof(*er->conns));
	er->n_buckets = 64;
	er->buckets = calloc(er->n_buckets, sizeof(*er->buckets));
	if (!er->conns || !er->buckets || uv_mutex_init(&er->lock) != 0) {
		SSL_CTX_free(er->tls);
		free(er->conns);
		free(er->buckets);
		free(er);
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	struct worker *w0 = &srv->workers[0];
	uv_async_init(&w0->loop, &er->wake, er_on_wake);
	er->wake.data = er;
	uv_timer_init(&w0->loop, &er->maint);
	er->maint.data = er;
	uv_timer_start(&er->maint, er_on_maint, ER_MAINT_MS, ER_MAINT_MS);
	for (uint32_t i = 0; i < er->n_conns; i++)
		er_conn_init(er, &er->conns[i], &srv->workers[i], false);
	er_conn_init(er, &er->sub, w0, true);
	uint32_t tag = 0;
	if (getrandom(&tag, sizeof(tag), 0) != (ssize_t)sizeof(tag))
		tag = (uint32_t)time(NULL) ^ (uint32_t)clock() ^ (uint32_t)(uintptr_t)er;
	snprintf(er->node_tag, sizeof(er->node_tag), "@%08x", tag);
	hub_set_remote(h, &(struct hub_remote){.interest = er_interest,
	                                       .publish_own = er_publish_own,
	                                       .ctx = er});
	log_info("engine: redis", "addr=%s%s port=%u db=%u tls=%s", er->url.is_unix ? "unix:" : "",
	         er->url.is_unix ? er->url.path : er->url.host, (unsigned)er->url.port, er->url.db,
	         er->url.tls ? (cert ? "on (client certificate)" : "on") : "off");
	return er;
}

void engine_redis_set_config(struct engine_redis *er, const struct config *cfg)
{
	atomic_store(&er->history_size, cfg->history_size);
	atomic_store(&er->history_ttl_ms, cfg->history_ttl_ms);
	atomic_store(&er->history_max_bytes, cfg->history_max_bytes);
	atomic_store(&er->timeout_ms, cfg->redis_timeout_ms);
}

/* Frees a connection whose loop has ended (its poll handle was closed
 * with the loop). */
static void er_conn_exit(struct er_conn *c)
{
	c->exiting = true;
	if (!c->rc)
		return;
	redis_conn_exit(c->rc); /* pending callbacks run with no reply; c->exiting quiets them */
	c->rc = NULL;
}

void engine_redis_worker_exit(struct engine_redis *er, struct worker *w)
{
	if (w->id == 0)
		er->sub.exiting = true; /* before the command connection's loads are failed */
	er_conn_exit(&er->conns[w->id]);
	if (w->id == 0)
		er_conn_exit(&er->sub);
}

void engine_redis_free(struct engine_redis *er)
{
	if (!er)
		return;
	for (uint32_t i = 0; i < er->n_buckets; i++)
		for (struct er_chan *c = er->buckets[i], *next; c; c = next) {
			next = c->next;
			er_chan_free(er, c);
		}
	for (uint32_t i = 0; i < er->n_conns; i++)
		while (!list_empty(&er->conns[i].pubs))
			er_pub_free(
			        container_of(list_first(&er->conns[i].pubs), struct er_pub, node));
	free(er->queue);
	free(er->buckets);
	free(er->conns);
	SSL_CTX_free(er->tls);
	uv_mutex_destroy(&er->lock);
	free(er);
}

bool engine_redis_up(struct engine_redis *er)
{
	return atomic_load(&er->conns_up) == er->n_conns + 1;
}

int engine_redis_metrics(struct engine_redis *er, struct buf *out)
{
	return buf_printf(
	        out,
	        "# HELP crier_redis_up 1 while every Redis connection of the node is up.\n"
	        "# TYPE crier_redis_up gauge\ncrier_redis_up %d\n"
	        "# HELP crier_redis_connections_up Redis connections up (one per worker, plus the "
	        "subscription).\n# TYPE crier_redis_connections_up gauge\n"
	        "crier_redis_connections_up %u\n"
	        "# HELP crier_redis_reconnects_total Redis connections re-established after a "
	        "loss.\n# TYPE crier_redis_reconnects_total counter\n"
	        "crier_redis_reconnects_total %" PRIu64 "\n"
	        "# HELP crier_redis_round_trips_total Commands sent to Redis.\n"
	        "# TYPE crier_redis_round_trips_total counter\n"
	        "crier_redis_round_trips_total %" PRIu64 "\n"
	        "# HELP crier_redis_published_total Publishes Redis accepted from this node.\n"
	        "# TYPE crier_redis_published_total counter\n"
	        "crier_redis_published_total %" PRIu64 "\n"
	        "# HELP crier_redis_publish_errors_total Publishes answered with an error, by "
	        "reason.\n# TYPE crier_redis_publish_errors_total counter\n"
	        "crier_redis_publish_errors_total{reason=\"down\"} %" PRIu64 "\n"
	        "crier_redis_publish_errors_total{reason=\"timeout\"} %" PRIu64 "\n"
	        "crier_redis_publish_errors_total{reason=\"script\"} %" PRIu64 "\n"
	        "# HELP crier_redis_messages_total Messages received on the subscription.\n"
	        "# TYPE crier_redis_messages_total counter\n"
	        "crier_redis_messages_total %" PRIu64 "\n"
	        "# HELP crier_redis_bad_messages_total Messages from Redis dropped as malformed.\n"
	        "# TYPE crier_redis_bad_messages_total counter\n"
	        "crier_redis_bad_messages_total %" PRIu64 "\n"
	        "# HELP crier_redis_loads_total Channel histories loaded from Redis streams.\n"
	        "# TYPE crier_redis_loads_total counter\ncrier_redis_loads_total %" PRIu64 "\n"
	        "# HELP crier_redis_pending_messages Live messages held by channels still loading "
	        "their history.\n# TYPE crier_redis_pending_messages gauge\n"
	        "crier_redis_pending_messages %zu\n"
	        "# HELP crier_redis_pending_bytes Payload bytes of those messages.\n"
	        "# TYPE crier_redis_pending_bytes gauge\ncrier_redis_pending_bytes %zu\n"
	        "# HELP crier_redis_pending_overflows_total Loads that held too many live messages "
	        "and read them from the stream instead.\n"
	        "# TYPE crier_redis_pending_overflows_total counter\n"
	        "crier_redis_pending_overflows_total %" PRIu64 "\n"
	        "# HELP crier_redis_tls_handshake_failures_total rediss:// connection attempts "
	        "that failed in TLS (certificate not trusted, wrong host, client certificate "
	        "refused).\n# TYPE crier_redis_tls_handshake_failures_total counter\n"
	        "crier_redis_tls_handshake_failures_total %" PRIu64 "\n",
	        engine_redis_up(er) ? 1 : 0, atomic_load(&er->conns_up),
	        metric_get(&er->reconnects), metric_get(&er->round_trips),
	        metric_get(&er->published), metric_get(&er->pub_errors_down),
	        metric_get(&er->pub_errors_timeout), metric_get(&er->pub_errors_script),
	        metric_get(&er->received), metric_get(&er->bad_messages), metric_get(&er->loads),
	        atomic_load(&er->pending_msgs), atomic_load(&er->pending_bytes),
	        metric_get(&er->pending_overflows), metric_get(&er->tls_failures));
}
