/*
 * limit.c - token buckets, and the striped table of per-key limit state
 * that all worker threads share.
 *
 * It owns entries (a key, its open-connection count, a connection bucket
 * and a publish bucket) and nothing else: it never reads a clock, never
 * logs, and never picks an HTTP answer; the caller maps the codes.
 *
 * The table is LIMIT_STRIPES chained hash tables, each behind its own
 * mutex and holding its own copy of the config, chosen by the top bits of a
 * SipHash of the key under a per-table random seed (clients cannot aim
 * their keys at one chain). A stripe's slot array doubles as it fills and
 * never shrinks; its size is bounded by the entry cap.
 *
 * The entry cap is one atomic count across stripes, reserved before an
 * insert, so max_entries is exact however keys fall into stripes.
 *
 * Reclaiming: an entry with no connection and full buckets is dead (it
 * answers exactly as a missing one would). Each stripe keeps reclaim_at_ms,
 * a lower bound on when any of its entries can next be dead: every
 * operation lowers it to the entry's own time, taking tokens only moves
 * that time later, and a walk of the stripe recomputes it exactly. Sweeps
 * and inserts into a full table walk only stripes whose bound has passed,
 * so a table full of live entries refuses a new key after a few atomic
 * loads, without taking any other stripe's lock.
 */
#include "auth/limit.h"

#include "core/err.h"

#include <assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_STRIPE_BITS 6
#define LIMIT_STRIPES     (1u << LIMIT_STRIPE_BITS) /* enough that 64 workers rarely meet */
#define LIMIT_SLOTS_MIN   8u                        /* per stripe at start */
#define LIMIT_SLOTS_MAX   (1u << 20)                /* per stripe; chains lengthen beyond */
#define MILLI             1000u                     /* bucket units per token */

static_assert(LIMIT_KEY_MAX <= UINT16_MAX, "entry key length is 16 bits");
static_assert(LIMIT_STRIPE_BITS + 20 <= 64, "stripe and slot bits must not overlap");

struct limit_entry {
	struct limit_entry *next;    /* chain of its slot */
	uint64_t hash;               /* limit_siphash of the key under the table seed */
	struct limit_bucket conn;    /* new connections */
	struct limit_bucket publish; /* publishes */
	uint32_t conns;              /* open connections counted by limit_conn_open */
	uint16_t len;                /* key bytes */
	uint8_t key[];
};

struct limit_stripe {
	alignas(64) pthread_mutex_t lock; /* guards everything below */
	struct limit_config cfg;          /* this stripe's copy, replaced by limit_reload */
	struct limit_entry **slots;       /* nslots chains */
	uint32_t nslots;                  /* a power of two */
	uint32_t count;                   /* entries in the chains */
	/* No entry here can be dead before this monotonic ms (UINT64_MAX: no
	 * entry can be). Written under the lock, read without it. */
	_Atomic uint64_t reclaim_at_ms;
};

/* Written by every thread: a cache line of its own, apart from the seed. */
struct limit_counters {
	alignas(64) _Atomic uint64_t entries; /* across stripes; reserved before an insert */
	_Atomic uint64_t conn_rate_refused;
	_Atomic uint64_t conn_cap_refused;
	_Atomic uint64_t table_full_refused;
	_Atomic uint64_t publish_refused;
};

struct limit_table {
	uint8_t seed[16]; /* SipHash key, read-only after limit_table_new */
	struct limit_counters c;
	struct limit_stripe stripes[LIMIT_STRIPES];
};

/* Token buckets */

static uint64_t ceil_div(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

/* Bucket size in thousandths of a token; a burst of 0 is one second's worth. */
static uint64_t rate_cap_milli(const struct limit_rate *r)
{
	uint64_t burst = r->burst ? r->burst : r->per_s;
	return burst * MILLI;
}

/* Adds back per_s thousandths per elapsed ms, without overflow however far
 * the clock jumped. A now_ms at or before last_ms adds nothing. */
static void bucket_refill(struct limit_bucket *b, uint32_t per_s, uint64_t now_ms)
{
	if (now_ms <= b->last_ms)
		return;
	uint64_t elapsed_ms = now_ms - b->last_ms;
	b->last_ms = now_ms;
	if (elapsed_ms > b->deficit_milli / per_s)
		b->deficit_milli = 0;
	else
		b->deficit_milli -= elapsed_ms * per_s;
}

int limit_bucket_take(struct limit_bucket *b, const struct limit_rate *r, uint64_t now_ms,
                      uint64_t *retry_ms)
{
	if (r->per_s == 0)
		return 0;
	uint64_t cap = rate_cap_milli(r);
	/* A reload that shrank the burst leaves the bucket empty, not owing. */
	if (b->deficit_milli > cap)
		b->deficit_milli = cap;
	bucket_refill(b, r->per_s, now_ms);
	if (cap - b->deficit_milli >= MILLI) {
		b->deficit_milli += MILLI;
		return 0;
	}
	if (retry_ms)
		*retry_ms = ceil_div(b->deficit_milli + MILLI - cap, r->per_s);
	return CRIER_ERATE_LIMITED;
}

/* The monotonic ms at which b is full again if nobody takes from it; 0
 * when it is full already or its rate is off. Agrees with
 * limit_bucket_take, which clamps the deficit before refilling. */
static uint64_t bucket_full_at(const struct limit_bucket *b, const struct limit_rate *r)
{
	if (r->per_s == 0 || b->deficit_milli == 0)
		return 0;
	uint64_t cap = rate_cap_milli(r);
	uint64_t deficit = b->deficit_milli < cap ? b->deficit_milli : cap;
	uint64_t wait_ms = ceil_div(deficit, r->per_s);
	return b->last_ms > UINT64_MAX - wait_ms ? UINT64_MAX : b->last_ms + wait_ms;
}

/* SipHash-2-4, written from the paper: 64-bit little-endian words, two
 * rounds per word, four to finish. */

static uint64_t rotl64(uint64_t x, unsigned bits)
{
	return (x << bits) | (x >> (64u - bits));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl64(v[1], 13) ^ v[0];
	v[0] = rotl64(v[0], 32);
	v[2] += v[3];
	v[3] = rotl64(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl64(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl64(v[1], 17) ^ v[2];
	v[2] = rotl64(v[2], 32);
}

static void sip_absorb(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
}

uint64_t limit_siphash(const uint8_t key[16], const void *data, size_t len)
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	/* "somepseudorandomlygeneratedbytes", as the paper initialises v. */
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575u, k1 ^ 0x646f72616e646f6du,
	                 k0 ^ 0x6c7967656e657261u, k1 ^ 0x7465646279746573u};
	const uint8_t *p = data;
	size_t whole = len & ~(size_t)7;
	for (size_t i = 0; i < whole; i += 8)
		sip_absorb(v, load_le64(p + i));
	/* The last word: the tail bytes, and the length mod 256 on top. */
	uint64_t last = (uint64_t)(len & 0xffu) << 56;
	for (size_t i = 0; i < (len & 7u); i++)
		last |= (uint64_t)p[whole + i] << (8u * i);
	sip_absorb(v, last);
	v[2] ^= 0xffu;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Entries and stripes */

/* When e becomes dead if left alone: never while it has a connection,
 * otherwise once both buckets are full. */
static uint64_t entry_dead_at(const struct limit_entry *e, const struct limit_config *cfg)
{
	if (e->conns > 0)
		return UINT64_MAX;
	uint64_t conn_at = bucket_full_at(&e->conn, &cfg->conn);
	uint64_t publish_at = bucket_full_at(&e->publish, &cfg->publish);
	return conn_at > publish_at ? conn_at : publish_at;
}

/* Keeps the stripe's reclaim bound at or below e's dead time after an
 * operation on e. Lock held. */
static void stripe_note(struct limit_stripe *s, const struct limit_entry *e)
{
	uint64_t at = entry_dead_at(e, &s->cfg);
	if (at < atomic_load_explicit(&s->reclaim_at_ms, memory_order_relaxed))
		atomic_store_explicit(&s->reclaim_at_ms, at, memory_order_relaxed);
}

static struct limit_stripe *stripe_of(struct limit_table *t, uint64_t hash)
{
	return &t->stripes[hash >> (64 - LIMIT_STRIPE_BITS)];
}

static struct limit_entry *stripe_find(const struct limit_stripe *s, uint64_t hash, const void *key,
                                       size_t len)
{
	struct limit_entry *e = s->slots[hash & (s->nslots - 1)];
	for (; e; e = e->next) {
		if (e->hash == hash && e->len == len && (len == 0 || memcmp(e->key, key, len) == 0))
			return e;
	}
	return NULL;
}

/* Frees every dead entry of s and recomputes its reclaim bound exactly.
 * Lock held. Returns the entries freed. */
static size_t stripe_reclaim(struct limit_table *t, struct limit_stripe *s, uint64_t now_ms)
{
	size_t freed = 0;
	uint64_t next_ms = UINT64_MAX;
	for (uint32_t i = 0; i < s->nslots; i++) {
		struct limit_entry **pp = &s->slots[i];
		while (*pp) {
			struct limit_entry *e = *pp;
			uint64_t at = entry_dead_at(e, &s->cfg);
			if (at <= now_ms) {
				*pp = e->next;
				free(e);
				freed++;
				continue;
			}
			if (at < next_ms)
				next_ms = at;
			pp = &e->next;
		}
	}
	s->count -= (uint32_t)freed;
	atomic_fetch_sub_explicit(&t->c.entries, freed, memory_order_relaxed);
	atomic_store_explicit(&s->reclaim_at_ms, next_ms, memory_order_relaxed);
	return freed;
}

/* Doubles the slot array to keep chains short. On failure the chains just
 * stay longer: lookups remain correct. Lock held. */
static void stripe_grow(struct limit_stripe *s)
{
	if (s->nslots >= LIMIT_SLOTS_MAX)
		return;
	uint32_t n = s->nslots * 2;
	struct limit_entry **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return;
	for (uint32_t i = 0; i < s->nslots; i++) {
		struct limit_entry *e = s->slots[i];
		while (e) {
			struct limit_entry *next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = n;
}

/* Takes one unit of the entry cap (max 0: no cap). */
static bool entries_reserve(struct limit_table *t, uint32_t max)
{
	uint64_t n = atomic_load_explicit(&t->c.entries, memory_order_relaxed);
	do {
		if (max && n >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	        &t->c.entries, &n, n + 1, memory_order_relaxed, memory_order_relaxed));
	return true;
}

/* The table is at its cap: reclaim in own (whose lock the caller holds)
 * and then in any other stripe whose bound has passed, until one unit is
 * free. Other stripes are only try-locked: blocking on one while holding
 * own could deadlock against a thread doing the same the other way round,
 * and a busy stripe is skipped (this is best effort; the tick sweep is
 * not). */
static void table_reclaim_for_insert(struct limit_table *t, struct limit_stripe *own,
                                     uint64_t now_ms)
{
	uint32_t max = own->cfg.max_entries;
	if (atomic_load_explicit(&own->reclaim_at_ms, memory_order_relaxed) <= now_ms)
		stripe_reclaim(t, own, now_ms);
	for (uint32_t i = 0; i < LIMIT_STRIPES; i++) {
		if (atomic_load_explicit(&t->c.entries, memory_order_relaxed) < max)
			return;
		struct limit_stripe *s = &t->stripes[i];
		if (s == own ||
		    atomic_load_explicit(&s->reclaim_at_ms, memory_order_relaxed) > now_ms)
			continue;
		if (pthread_mutex_trylock(&s->lock) == 0) {
			stripe_reclaim(t, s, now_ms);
			pthread_mutex_unlock(&s->lock);
		}
	}
}

/* Adds a fresh entry (no connection, full buckets) for key to s. Returns 0
 * with *out set, CRIER_EIP_LIMIT (table full, counted) or CRIER_ENOMEM.
 * Lock held. */
static int stripe_insert(struct limit_table *t, struct limit_stripe *s, uint64_t hash,
                         const void *key, size_t len, uint64_t now_ms, struct limit_entry **out)
{
	if (!entries_reserve(t, s->cfg.max_entries)) {
		table_reclaim_for_insert(t, s, now_ms);
		if (!entries_reserve(t, s->cfg.max_entries)) {
			atomic_fetch_add_explicit(&t->c.table_full_refused, 1,
			                          memory_order_relaxed);
			return CRIER_EIP_LIMIT;
		}
	}
	struct limit_entry *e = calloc(1, sizeof(*e) + len);
	if (!e) {
		atomic_fetch_sub_explicit(&t->c.entries, 1, memory_order_relaxed);
		return CRIER_ENOMEM;
	}
	e->hash = hash;
	e->len = (uint16_t)len;
	if (len)
		memcpy(e->key, key, len);
	if (s->count >= s->nslots)
		stripe_grow(s);
	struct limit_entry **slot = &s->slots[hash & (s->nslots - 1)];
	e->next = *slot;
	*slot = e;
	s->count++;
	*out = e;
	return 0;
}

/* The table */

/* The hash seed. getrandom does not fail on Linux for 16 bytes once the
 * pool is initialised; if it is unavailable (seccomp, old kernel) the
 * fallback still differs per table and per start, though it is guessable
 * by someone who knows the start time. */
static void seed_fill(struct limit_table *t)
{
	if (getrandom(t->seed, sizeof(t->seed), 0) == (ssize_t)sizeof(t->seed))
		return;
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	uint64_t words[4] = {(uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec,
	                     (uint64_t)mt.tv_sec * 1000000000u + (uint64_t)mt.tv_nsec,
	                     (uint64_t)getpid(), (uint64_t)(uintptr_t)t};
	static const uint8_t fixed[16] = {'c', 'r', 'i', 'e', 'r', '-', 'l', 'i', 'm', 'i', 't'};
	uint64_t a = limit_siphash(fixed, words, sizeof(words));
	words[0] ^= a;
	uint64_t b = limit_siphash(fixed, words, sizeof(words));
	memcpy(t->seed, &a, 8);
	memcpy(t->seed + 8, &b, 8);
}

/* Frees the entries and slots of stripes [0, n) and destroys their locks. */
static void stripes_free(struct limit_table *t, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct limit_stripe *s = &t->stripes[i];
		for (uint32_t j = 0; j < s->nslots; j++) {
			struct limit_entry *e = s->slots[j];
			while (e) {
				struct limit_entry *next = e->next;
				free(e);
				e = next;
			}
		}
		free(s->slots);
		pthread_mutex_destroy(&s->lock);
	}
}

int limit_table_new(const struct limit_config *cfg, struct limit_table **out)
{
	*out = NULL;
	struct limit_table *t = aligned_alloc(alignof(struct limit_table), sizeof(*t));
	if (!t)
		return CRIER_ENOMEM;
	memset(t, 0, sizeof(*t));
	seed_fill(t);
	uint32_t i;
	for (i = 0; i < LIMIT_STRIPES; i++) {
		struct limit_stripe *s = &t->stripes[i];
		s->cfg = *cfg;
		s->nslots = LIMIT_SLOTS_MIN;
		s->slots = calloc(s->nslots, sizeof(*s->slots));
		atomic_init(&s->reclaim_at_ms, UINT64_MAX);
		if (!s->slots)
			goto err;
		if (pthread_mutex_init(&s->lock, NULL) != 0) {
			free(s->slots);
			goto err;
		}
	}
	*out = t;
	return 0;
err:
	stripes_free(t, i);
	free(t);
	return CRIER_ENOMEM;
}

void limit_table_free(struct limit_table *t)
{
	if (!t)
		return;
	stripes_free(t, LIMIT_STRIPES);
	free(t);
}

/* limit_conn_open's decision, stripe lock held. */
static int conn_open_locked(struct limit_table *t, struct limit_stripe *s, uint64_t hash,
                            const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms)
{
	const struct limit_config *cfg = &s->cfg;
	if (cfg->max_conns == 0 && cfg->conn.per_s == 0)
		return 0;
	struct limit_entry *e = stripe_find(s, hash, key, len);
	if (!e) {
		int rc = stripe_insert(t, s, hash, key, len, now_ms, &e);
		if (rc != 0)
			return rc;
	}
	int rc = limit_bucket_take(&e->conn, &cfg->conn, now_ms, retry_ms);
	if (rc != 0) {
		atomic_fetch_add_explicit(&t->c.conn_rate_refused, 1, memory_order_relaxed);
	} else if (cfg->max_conns && e->conns >= cfg->max_conns) {
		atomic_fetch_add_explicit(&t->c.conn_cap_refused, 1, memory_order_relaxed);
		rc = CRIER_EIP_LIMIT;
	} else {
		e->conns++;
	}
	stripe_note(s, e);
	return rc;
}

typedef int locked_fn(struct limit_table *t, struct limit_stripe *s, uint64_t hash, const void *key,
                      size_t len, uint64_t now_ms, uint64_t *retry_ms);

/* Runs a decision on key's entry under its stripe's lock. */
static int with_stripe(struct limit_table *t, const void *key, size_t len, uint64_t now_ms,
                       uint64_t *retry_ms, locked_fn *fn)
{
	if (len > LIMIT_KEY_MAX)
		return CRIER_EINVAL;
	uint64_t hash = limit_siphash(t->seed, key, len);
	struct limit_stripe *s = stripe_of(t, hash);
	pthread_mutex_lock(&s->lock);
	int rc = fn(t, s, hash, key, len, now_ms, retry_ms);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int limit_conn_open(struct limit_table *t, const void *key, size_t len, uint64_t now_ms,
                    uint64_t *retry_ms)
{
	return with_stripe(t, key, len, now_ms, retry_ms, conn_open_locked);
}

void limit_conn_close(struct limit_table *t, const void *key, size_t len)
{
	if (len > LIMIT_KEY_MAX)
		return;
	uint64_t hash = limit_siphash(t->seed, key, len);
	struct limit_stripe *s = stripe_of(t, hash);
	pthread_mutex_lock(&s->lock);
	struct limit_entry *e = stripe_find(s, hash, key, len);
	if (e && e->conns > 0) {
		e->conns--;
		stripe_note(s, e);
	}
	pthread_mutex_unlock(&s->lock);
}

/* limit_publish's decision, stripe lock held. */
static int publish_locked(struct limit_table *t, struct limit_stripe *s, uint64_t hash,
                          const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms)
{
	const struct limit_config *cfg = &s->cfg;
	if (cfg->publish.per_s == 0)
		return 0;
	struct limit_entry *e = stripe_find(s, hash, key, len);
	if (!e) {
		int rc = stripe_insert(t, s, hash, key, len, now_ms, &e);
		if (rc == CRIER_EIP_LIMIT) {
			if (retry_ms)
				*retry_ms = 1000;
			return CRIER_ERATE_LIMITED;
		}
		if (rc != 0)
			return rc;
	}
	int rc = limit_bucket_take(&e->publish, &cfg->publish, now_ms, retry_ms);
	if (rc != 0)
		atomic_fetch_add_explicit(&t->c.publish_refused, 1, memory_order_relaxed);
	stripe_note(s, e);
	return rc;
}

int limit_publish(struct limit_table *t, const void *key, size_t len, uint64_t now_ms,
                  uint64_t *retry_ms)
{
	return with_stripe(t, key, len, now_ms, retry_ms, publish_locked);
}

size_t limit_table_sweep(struct limit_table *t, uint64_t now_ms)
{
	size_t freed = 0;
	for (uint32_t i = 0; i < LIMIT_STRIPES; i++) {
		struct limit_stripe *s = &t->stripes[i];
		if (atomic_load_explicit(&s->reclaim_at_ms, memory_order_relaxed) > now_ms)
			continue;
		pthread_mutex_lock(&s->lock);
		freed += stripe_reclaim(t, s, now_ms);
		pthread_mutex_unlock(&s->lock);
	}
	return freed;
}

void limit_table_stats(const struct limit_table *t, struct limit_stats *out)
{
	*out = (struct limit_stats){
	        .conn_rate_refused =
	                atomic_load_explicit(&t->c.conn_rate_refused, memory_order_relaxed),
	        .conn_cap_refused =
	                atomic_load_explicit(&t->c.conn_cap_refused, memory_order_relaxed),
	        .table_full_refused =
	                atomic_load_explicit(&t->c.table_full_refused, memory_order_relaxed),
	        .publish_refused =
	                atomic_load_explicit(&t->c.publish_refused, memory_order_relaxed),
	        .entries = atomic_load_explicit(&t->c.entries, memory_order_relaxed),
	};
}

void limit_reload(struct limit_table *t, const struct limit_config *cfg)
{
	for (uint32_t i = 0; i < LIMIT_STRIPES; i++) {
		struct limit_stripe *s = &t->stripes[i];
		pthread_mutex_lock(&s->lock);
		s->cfg = *cfg;
		/* New rates move every dead time; the next sweep recomputes them. */
		atomic_store_explicit(&s->reclaim_at_ms, 0, memory_order_relaxed);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Address keys */

size_t limit_key_from_addr(const struct sockaddr_storage *ss, uint8_t out[LIMIT_KEY_ADDR_MAX])
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, ss, sizeof(sin));
		memcpy(out, &sin.sin_addr, 4);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, ss, sizeof(sin6));
		const uint8_t *a = sin6.sin6_addr.s6_addr;
		/* RFC 4291 §2.5.5.2: ::ffff:0:0/96 carries an IPv4 address. */
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(out, a + 12, 4);
			return 4;
		}
		memcpy(out, a, 16);
		return 16;
	}
	return 0;
}
