/*
 * admit.h - admission control: the abuse limits applied to connections,
 * subscriptions and publishes.
 *
 * The tables are auth/limit.c's; this is where they meet connections. One
 * table is keyed by client address and holds the per-address connection
 * cap, the new-connection rate and the publish rate of anonymous (or
 * publish-key) clients; the other is keyed by token subject ("sub") and
 * holds the per-token connection cap and the publish rate of authenticated
 * clients. Every limit is off by default (0), because behind a reverse
 * proxy every client has the proxy's address; docs/security.md gives
 * production values.
 *
 * Addresses are keyed as IPv4 (4 bytes, IPv4-mapped IPv6 included) or as
 * the IPv6 /64 prefix: one IPv6 subscriber is normally handed a whole /64,
 * so a per-address limit on full addresses would be no limit at all.
 *
 * A connection that holds a count (an address slot, a subject slot) gets a
 * small record (conn->lim) that the close path hands back through
 * admit_release; a connection that holds nothing costs nothing.
 *
 * Thread-safe: any worker may call any function at once.
 */
#ifndef CRIER_AUTH_ADMIT_H
#define CRIER_AUTH_ADMIT_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct conn;
struct admit;

/* Builds the tables from cfg's limits. Returns 0 with *out, or
 * CRIER_ENOMEM. */
int admit_new(const struct config *cfg, struct admit **out);
void admit_free(struct admit *a);

/* Adopts reloaded limits (SIGHUP); counts and buckets carry over. */
void admit_reload(struct admit *a, const struct config *cfg);

/*
 * A connection was accepted. Checks the address's connection rate and
 * cap. Returns 0 (admitted; a held slot is released by admit_release),
 * CRIER_ERATE_LIMITED with *retry_ms (answer 429 with Retry-After), or
 * CRIER_EIP_LIMIT (answer 503). Anything else (no memory, a Unix socket)
 * admits: limits never turn an internal failure into a refusal.
 */
int admit_conn(struct admit *a, struct conn *c, uint64_t now_ms, uint64_t *retry_ms);

/*
 * One publish on c by id: keyed by the token's subject ("sub"), else by
 * the client's address. Returns 0, or CRIER_ERATE_LIMITED with *retry_ms.
 */
struct auth_id;
int admit_publish(struct admit *a, struct conn *c, const struct auth_id *id, uint64_t now_ms,
                  uint64_t *retry_ms);

/*
 * The limits for a route, answering the refusal itself. A long-lived
 * subscription by a token with a subject takes one of that subject's
 * --max-conns-per-token slots, held until the connection closes (a
 * connection holds at most one); a publish is admit_publish. Each returns
 * true when the request may go on; otherwise it has answered 429 (with
 * Retry-After for a rate), logged (at most one line a second) and counted.
 */
struct http_ctx;
bool admit_http_subject(struct http_ctx *ctx, const struct auth_id *id);
bool admit_http_publish(struct http_ctx *ctx, const struct auth_id *id);

/* The HTTP answer to a refusal rc: hdr gets "Retry-After: N" (CRLF-ended)
 * for a rate and is empty otherwise; body gets "<status> <reason>: <msg>"
 * (msg NULL: rc's own sentence). Returns the body's length. */
size_t admit_refusal(int rc, uint64_t retry_ms, const char *msg, char hdr[64], char body[200]);

/* Logs a refusal, at most one line a second per process (a flood must
 * not become a log flood); the counters count every one. */
void admit_log(const char *what, int rc, uint64_t retry_ms);

/* Returns what c holds; the connection's close path calls this when
 * c->lim is set. */
void admit_release(struct admit *a, struct conn *c);

/* The limit key of a client address into out (16 bytes): the 4 bytes of
 * IPv4 (IPv4-mapped IPv6 included), or the first 8 of IPv6 (its /64).
 * Returns the length, 0 for other families. Pure. */
struct sockaddr_storage;
size_t admit_key_of(const struct sockaddr_storage *ss, uint8_t out[16]);

/* Reclaims idle entries; from a worker's tick. */
void admit_sweep(struct admit *a, uint64_t now_ms);

/* Appends the limit families to a /metrics body. */
int admit_metrics(const struct admit *a, struct buf *out);

#endif
