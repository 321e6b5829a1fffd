/*
 * limit.h - the tables behind crier's abuse limits: concurrent connections,
 * new-connection rate and publish rate, per client address or per token.
 *
 * Two pieces. A token bucket (struct limit_bucket) that is pure arithmetic
 * on a monotonic millisecond clock the caller passes in: nothing here reads
 * a clock, so tests are deterministic and one clock read serves a whole
 * accept. And a keyed table (struct limit_table) of buckets and connection
 * counts, shared by every worker thread.
 *
 * One table holds one kind of key: the server makes one for client
 * addresses (limit_key_from_addr) and another for token subjects, each with
 * its own limits, so a 4-byte subject can never alias an IPv4 address.
 *
 * Every limit is a struct limit_config field where 0 means off. A key whose
 * limits are all off never enters the table.
 */
#ifndef CRIER_AUTH_LIMIT_H
#define CRIER_AUTH_LIMIT_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr_storage;

/* Longest key a table accepts, in bytes: a token subject is a string up to
 * this long; an address key is 4 or 16 bytes. */
#define LIMIT_KEY_MAX 256

/* Bytes limit_key_from_addr may write. */
#define LIMIT_KEY_ADDR_MAX 16

/* Default for limit_config.max_entries, for the server's option table:
 * 64 Ki keys cost at most about 6 MiB with address keys (an entry is 56
 * bytes plus its key, plus allocator overhead and slot arrays; 21 MiB if
 * every key were a 256-byte subject) and cover far more distinct clients
 * than one node serves at once. */
#define LIMIT_DEFAULT_MAX_ENTRIES 65536u

/* A rate: per_s tokens added each second, at most burst held. */
struct limit_rate {
	uint32_t per_s; /* tokens per second; 0: off (the bucket never refuses) */
	uint32_t burst; /* tokens held at most; 0: per_s (one second's worth) */
};

/*
 * A token bucket's state. The rate lives outside it (the table's config),
 * so a reload applies to every bucket at once without visiting them.
 *
 * The bucket counts the thousandths of a token it lacks from full rather
 * than the tokens it holds: a zeroed struct is a full bucket, and at
 * per_s tokens a second exactly per_s thousandths come back each
 * millisecond, so refill and retry times are exact integer arithmetic.
 *
 * Not thread-safe: the caller serialises access (the table does, per key).
 */
struct limit_bucket {
	uint64_t deficit_milli; /* thousandths of a token missing from full */
	uint64_t last_ms;       /* monotonic ms of the latest refill (the largest now_ms seen) */
};

/*
 * Refills b for the time elapsed since its last use (none when now_ms is
 * not past it: the clocks of different threads may disagree by a
 * millisecond, and a bucket never goes back), then takes one token.
 * Returns 0 when a token was taken; CRIER_ERATE_LIMITED when the bucket
 * holds less than one, with *retry_ms (if retry_ms is not NULL) set to the
 * milliseconds until it will hold one, rounded up, at least 1. A refusal
 * takes nothing. With r->per_s 0 it returns 0 and leaves b alone.
 */
int limit_bucket_take(struct limit_bucket *b, const struct limit_rate *r, uint64_t now_ms,
                      uint64_t *retry_ms);

/* Seconds for a Retry-After header (RFC 9110 §10.2.3) from a retry_ms:
 * rounded up, at least 1. */
static inline uint64_t limit_retry_after_s(uint64_t retry_ms)
{
	uint64_t s = retry_ms / 1000u + (retry_ms % 1000u != 0);
	return s ? s : 1;
}

/* Every limit of a table; 0 turns that limit off. */
struct limit_config {
	uint32_t max_conns;        /* concurrent connections per key */
	struct limit_rate conn;    /* new connections per key */
	struct limit_rate publish; /* publishes per key */
	uint32_t max_entries;      /* keys tracked at once (memory bound); 0: unbounded */
};

struct limit_table;

/*
 * Makes an empty table with a copy of *cfg and a random hash seed (from
 * getrandom), so clients cannot choose keys that collide. Returns 0 with
 * *out set (free it with limit_table_free), or CRIER_ENOMEM.
 */
int limit_table_new(const struct limit_config *cfg, struct limit_table **out);

/* Frees t and every entry. No other call on t may be running or follow.
 * t may be NULL. */
void limit_table_free(struct limit_table *t);

/*
 * The limit functions below are thread-safe: any worker may call them at
 * once. The table is split into stripes by key hash, each with its own
 * mutex, so callers contend only when their keys share a stripe. key is
 * borrowed for the call; len <= LIMIT_KEY_MAX, and a longer key gets
 * CRIER_EINVAL (a no-op for limit_conn_close). *retry_ms is written only
 * with CRIER_ERATE_LIMITED.
 */

/*
 * A connection from key opens at now_ms. Checks the connection rate first,
 * then the concurrent cap, so an attempt refused by the cap has still spent
 * a rate token (it cost an accept). Returns:
 *   0                    admitted and counted: call limit_conn_close(key)
 *                        exactly once when it closes;
 *   CRIER_ERATE_LIMITED  too many new connections; *retry_ms set;
 *   CRIER_EIP_LIMIT      max_conns open for key already, or key is new and
 *                        the table holds max_entries keys with live state;
 *   CRIER_ENOMEM         key is new and its entry could not be allocated;
 *   CRIER_EINVAL         len > LIMIT_KEY_MAX.
 * With max_conns and conn.per_s both off it returns 0 without counting; a
 * reload that turns them on counts only connections opened afterwards (a
 * close that was never counted finds nothing or, at worst, lets one extra
 * connection past the cap until the count settles).
 */
int limit_conn_open(struct limit_table *t, const void *key, size_t len, uint64_t now_ms,
                    uint64_t *retry_ms);

/* A connection admitted by limit_conn_open(key) closes. Never drops a
 * count below zero. */
void limit_conn_close(struct limit_table *t, const void *key, size_t len);

/*
 * One publish by key at now_ms. Returns 0, or CRIER_ERATE_LIMITED with
 * *retry_ms set: the key's publish bucket is empty, or the key is new and
 * the table is full (retry_ms 1000; counted as table_full_refused, and
 * refused rather than waved through so that filling the table is no way
 * around the limit). CRIER_ENOMEM and CRIER_EINVAL as limit_conn_open.
 * With publish.per_s off it returns 0 and touches nothing.
 */
int limit_publish(struct limit_table *t, const void *key, size_t len, uint64_t now_ms,
                  uint64_t *retry_ms);

/*
 * Reclaims dead entries: no open connection and both buckets full, which
 * is exactly the state of a key never seen, so dropping one changes no
 * answer. The server calls this from its 100 ms tick; an insert into a
 * full table also reclaims before refusing. Each stripe records the
 * earliest time one of its entries can die, so a stripe with nothing to
 * reclaim costs one atomic load and no lock. Returns the entries freed.
 */
size_t limit_table_sweep(struct limit_table *t, uint64_t now_ms);

/* Counters for /metrics, read with relaxed atomics (each exact, the set
 * not one snapshot). Refusals count since limit_table_new. */
struct limit_stats {
	uint64_t conn_rate_refused;  /* limit_conn_open: CRIER_ERATE_LIMITED */
	uint64_t conn_cap_refused;   /* limit_conn_open: CRIER_EIP_LIMIT, max_conns reached */
	uint64_t table_full_refused; /* new keys refused because the table was full */
	uint64_t publish_refused;    /* limit_publish: CRIER_ERATE_LIMITED, bucket empty */
	uint64_t entries;            /* keys held now, live and not yet reclaimed */
};

/* Fills *out. Thread-safe. */
void limit_table_stats(const struct limit_table *t, struct limit_stats *out);

/*
 * Replaces the limits (SIGHUP) with a copy of *cfg. Existing entries keep
 * their state under the new limits from the next call on: a bucket keeps
 * how many tokens it lacks from full (a larger burst adds the difference at
 * once; a smaller one empties a bucket no further than to zero), a lower
 * max_conns closes nothing but refuses opens until the count is under it,
 * a lower max_entries refuses new keys until enough are reclaimed.
 * Thread-safe.
 */
void limit_reload(struct limit_table *t, const struct limit_config *cfg);

/*
 * Writes the address key of ss into out: the 4 bytes of an IPv4 address,
 * the 16 of an IPv6 one, and for an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * a dual-stack socket's view of an IPv4 client) the 4 bytes of the IPv4
 * address, so one client is one key whichever socket it reached. Returns
 * the key length, or 0 for other families (a Unix socket has no address to
 * limit). Pure; thread-safe.
 */
size_t limit_key_from_addr(const struct sockaddr_storage *ss, uint8_t out[LIMIT_KEY_ADDR_MAX]);

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012) of data[0..len) under a
 * 16-byte key: the table's keyed hash, public for its reference-vector
 * test. Pure; thread-safe.
 */
uint64_t limit_siphash(const uint8_t key[16], const void *data, size_t len);

#endif
