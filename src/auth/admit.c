/*
 * admit.c - admission control: limit tables applied to connections.
 */
#include "auth/admit.h"

#include "auth/auth.h"
#include "auth/limit.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http_conn.h"
#include "net/conn.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct admit {
	struct limit_table *ip;  /* keyed by address (or IPv6 /64) */
	struct limit_table *tok; /* keyed by token subject */
	/* Which limits are on (reload may change them): a limit that is off
	 * costs no system call, no lock and no allocation. */
	atomic_bool conn_on;    /* address cap or connection rate */
	atomic_bool subject_on; /* per-token cap */
	atomic_bool publish_on; /* publish rate */
};

/* What one connection holds; conn->lim points here. */
struct admit_hold {
	uint8_t ip_len; /* 0: no address slot held */
	uint8_t ip[LIMIT_KEY_ADDR_MAX];
	uint16_t sub_len; /* 0: no subject slot held */
	char sub[];       /* the subject, when one is held */
};

static void admit_configs(const struct config *cfg, struct limit_config *ip,
                          struct limit_config *tok)
{
	*ip = (struct limit_config){
	        .max_conns = cfg->max_conns_per_ip,
	        .conn = {.per_s = cfg->conn_rate_per_ip, .burst = cfg->conn_burst_per_ip},
	        .publish = {.per_s = cfg->publish_rate, .burst = cfg->publish_burst},
	        .max_entries = cfg->limit_keys,
	};
	*tok = (struct limit_config){
	        .max_conns = cfg->max_conns_per_token,
	        .publish = {.per_s = cfg->publish_rate, .burst = cfg->publish_burst},
	        .max_entries = cfg->limit_keys,
	};
}

static void admit_switches(struct admit *a, const struct limit_config *ip,
                           const struct limit_config *tok)
{
	atomic_store_explicit(&a->conn_on, ip->max_conns || ip->conn.per_s, memory_order_relaxed);
	atomic_store_explicit(&a->subject_on, tok->max_conns != 0, memory_order_relaxed);
	atomic_store_explicit(&a->publish_on, ip->publish.per_s != 0, memory_order_relaxed);
}

int admit_new(const struct config *cfg, struct admit **out)
{
	struct admit *a = calloc(1, sizeof(*a));
	if (!a)
		return CRIER_ENOMEM;
	struct limit_config ip, tok;
	admit_configs(cfg, &ip, &tok);
	if (limit_table_new(&ip, &a->ip) != 0 || limit_table_new(&tok, &a->tok) != 0) {
		admit_free(a);
		return CRIER_ENOMEM;
	}
	admit_switches(a, &ip, &tok);
	*out = a;
	return 0;
}

void admit_free(struct admit *a)
{
	if (!a)
		return;
	limit_table_free(a->ip);
	limit_table_free(a->tok);
	free(a);
}

void admit_reload(struct admit *a, const struct config *cfg)
{
	struct limit_config ip, tok;
	admit_configs(cfg, &ip, &tok);
	limit_reload(a->ip, &ip);
	limit_reload(a->tok, &tok);
	admit_switches(a, &ip, &tok);
}

size_t admit_key_of(const struct sockaddr_storage *ss, uint8_t out[16])
{
	size_t n = limit_key_from_addr(ss, out);
	return n == 16 ? 8 : n;
}

/* The address key of c's peer; 0 when there is none (a Unix socket, or
 * the peer is already gone). */
static size_t admit_addr_key(struct conn *c, uint8_t key[LIMIT_KEY_ADDR_MAX])
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return admit_key_of(&ss, key);
}

/* c's record, made (or grown to hold a subject of sub_len bytes) when
 * needed; NULL when out of memory (the old one stays). */
static struct admit_hold *admit_hold(struct conn *c, size_t sub_len)
{
	struct admit_hold *h = c->lim;
	if (h && sub_len == 0)
		return h;
	struct admit_hold *n = realloc(h, sizeof(*n) + sub_len);
	if (!n)
		return NULL;
	if (!h)
		memset(n, 0, sizeof(*n));
	c->lim = n;
	return n;
}

int admit_conn(struct admit *a, struct conn *c, uint64_t now_ms, uint64_t *retry_ms)
{
	if (!atomic_load_explicit(&a->conn_on, memory_order_relaxed))
		return 0;
	uint8_t key[LIMIT_KEY_ADDR_MAX];
	size_t n = admit_addr_key(c, key);
	if (n == 0)
		return 0;
	int rc = limit_conn_open(a->ip, key, n, now_ms, retry_ms);
	if (rc == CRIER_ERATE_LIMITED || rc == CRIER_EIP_LIMIT)
		return rc;
	if (rc != 0)
		return 0;
	/* Admitted and counted: remember the key so the close gives the
	 * slot back. */
	struct admit_hold *h = admit_hold(c, 0);
	if (!h) {
		limit_conn_close(a->ip, key, n);
		return 0;
	}
	memcpy(h->ip, key, n);
	h->ip_len = (uint8_t)n;
	return 0;
}

/* The subject of id for the per-token limits: the token's "sub", or NULL
 * (no token, no subject). */
static const char *admit_subject_of(const struct auth_id *id, size_t *len)
{
	if (id->kind != AUTH_ID_TOKEN || !id->claims.sub || !id->claims.sub[0]) {
		*len = 0;
		return NULL;
	}
	*len = strlen(id->claims.sub);
	return id->claims.sub;
}

/* Takes one of sub's --max-conns-per-token slots for c (at most one per
 * connection). Returns 0 or CRIER_ETOKEN_LIMIT. */
static int admit_subject(struct admit *a, struct conn *c, const char *sub, size_t len)
{
	if (!atomic_load_explicit(&a->subject_on, memory_order_relaxed))
		return 0;
	struct admit_hold *h = c->lim;
	if ((h && h->sub_len) || len == 0 || len > LIMIT_KEY_MAX)
		return 0;
	int rc = limit_conn_open(a->tok, sub, len, 0, NULL);
	if (rc == CRIER_EIP_LIMIT)
		return CRIER_ETOKEN_LIMIT;
	if (rc != 0)
		return 0;
	h = admit_hold(c, len);
	if (!h) {
		limit_conn_close(a->tok, sub, len);
		return 0;
	}
	memcpy(h->sub, sub, len);
	h->sub_len = (uint16_t)len;
	return 0;
}

int admit_publish(struct admit *a, struct conn *c, const struct auth_id *id, uint64_t now_ms,
                  uint64_t *retry_ms)
{
	if (!atomic_load_explicit(&a->publish_on, memory_order_relaxed))
		return 0;
	size_t len;
	const char *sub = admit_subject_of(id, &len);
	int rc;
	if (sub && len) {
		rc = limit_publish(a->tok, sub, len, now_ms, retry_ms);
	} else {
		struct admit_hold *h = c->lim;
		uint8_t key[LIMIT_KEY_ADDR_MAX];
		size_t n = h && h->ip_len ? h->ip_len : admit_addr_key(c, key);
		if (n == 0)
			return 0;
		rc = limit_publish(a->ip, h && h->ip_len ? h->ip : key, n, now_ms, retry_ms);
	}
	return rc == CRIER_ERATE_LIMITED ? rc : 0;
}

void admit_release(struct admit *a, struct conn *c)
{
	struct admit_hold *h = c->lim;
	if (!h)
		return;
	if (h->ip_len)
		limit_conn_close(a->ip, h->ip, h->ip_len);
	if (h->sub_len)
		limit_conn_close(a->tok, h->sub, h->sub_len);
	free(h);
	c->lim = NULL;
}

void admit_sweep(struct admit *a, uint64_t now_ms)
{
	limit_table_sweep(a->ip, now_ms);
	limit_table_sweep(a->tok, now_ms);
}

int admit_metrics(const struct admit *a, struct buf *out)
{
	struct limit_stats ip, tok;
	limit_table_stats(a->ip, &ip);
	limit_table_stats(a->tok, &tok);
	return buf_printf(
	        out,
	        "# HELP crier_limit_refused_total Requests and connections refused by a limit, by "
	        "limit and key (ip: client address or IPv6 /64; token: token subject).\n"
	        "# TYPE crier_limit_refused_total counter\n"
	        "crier_limit_refused_total{limit=\"conn_rate\",key=\"ip\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"conn_cap\",key=\"ip\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"conn_cap\",key=\"token\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"publish_rate\",key=\"ip\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"publish_rate\",key=\"token\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"table_full\",key=\"ip\"} %" PRIu64 "\n"
	        "crier_limit_refused_total{limit=\"table_full\",key=\"token\"} %" PRIu64 "\n"
	        "# HELP crier_limit_keys Keys the limit tables track now (bounded by "
	        "--limit-keys).\n# TYPE crier_limit_keys gauge\n"
	        "crier_limit_keys{key=\"ip\"} %" PRIu64 "\ncrier_limit_keys{key=\"token\"} %" PRIu64
	        "\n",
	        ip.conn_rate_refused, ip.conn_cap_refused, tok.conn_cap_refused, ip.publish_refused,
	        tok.publish_refused, ip.table_full_refused, tok.table_full_refused, ip.entries,
	        tok.entries);
}

void admit_log(const char *what, int rc, uint64_t retry_ms)
{
	static atomic_uint_fast64_t next_ms;
	static atomic_uint_fast64_t suppressed;
	uint64_t now = clock_mono_ms();
	uint64_t due = atomic_load_explicit(&next_ms, memory_order_relaxed);
	if (now < due ||
	    !atomic_compare_exchange_strong_explicit(&next_ms, &due, now + 1000,
	                                             memory_order_relaxed, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&suppressed, 1, memory_order_relaxed);
		return;
	}
	uint64_t more = atomic_exchange_explicit(&suppressed, 0, memory_order_relaxed);
	log_warn("refused by a limit", "what=%s reason=%s retry_ms=%" PRIu64 " suppressed=%" PRIu64,
	         what, err_label(rc), retry_ms, more);
}

size_t admit_refusal(int rc, uint64_t retry_ms, const char *msg, char hdr[64], char body[200])
{
	hdr[0] = '\0';
	if (rc == CRIER_ERATE_LIMITED)
		snprintf(hdr, 64, "Retry-After: %" PRIu64 "\r\n", limit_retry_after_s(retry_ms));
	int n = snprintf(body, 200, "%d %s: %s\n", err_http_status(rc),
	                 http_reason(err_http_status(rc)), msg ? msg : err_message(rc));
	return n > 0 && n < 200 ? (size_t)n : 0;
}

static void admit_answer(struct http_ctx *ctx, const char *what, int rc, uint64_t retry_ms)
{
	char hdr[64], body[200];
	size_t n = admit_refusal(rc, retry_ms, NULL, hdr, body);
	admit_log(what, rc, retry_ms);
	http_respond(ctx, err_http_status(rc), "text/plain; charset=utf-8", hdr[0] ? hdr : NULL,
	             body, n);
}

bool admit_http_subject(struct http_ctx *ctx, const struct auth_id *id)
{
	struct admit *a = ctx->hc->app->admit;
	size_t len;
	const char *sub = admit_subject_of(id, &len);
	if (!a || !sub)
		return true;
	int rc = admit_subject(a, &ctx->hc->base, sub, len);
	if (rc == 0)
		return true;
	admit_answer(ctx, "subscribe", rc, 0);
	return false;
}

bool admit_http_publish(struct http_ctx *ctx, const struct auth_id *id)
{
	struct admit *a = ctx->hc->app->admit;
	if (!a)
		return true;
	uint64_t retry_ms = 0;
	int rc = admit_publish(a, &ctx->hc->base, id, clock_mono_ms(), &retry_ms);
	if (rc == 0)
		return true;
	admit_answer(ctx, "publish", rc, retry_ms);
	return false;
}
