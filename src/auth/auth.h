/*
 * auth.h - who a request is, and what it may do: the server's side of
 * --auth, --jwt-*, --publish-key, --allow-query-token.
 *
 * A request's credentials are looked for in this order: the
 * Authorization header ("Bearer <token>"), the --jwt-cookie cookie, and
 * ?token= (only with --allow-query-token: browsers' EventSource and
 * WebSocket cannot send headers, but URLs end up in logs, which is why
 * crier redacts them there). The first one found is the one judged; a bad
 * one is a 401 even when another source holds a good one, so a client
 * learns about its broken token instead of silently being someone else.
 *
 * Modes: off (the zero-config default): nobody is asked anything and
 * every request may do everything. optional: a request without
 * credentials is anonymous and may subscribe to every channel but publish
 * to none; with credentials, the token's grants apply. required: a
 * request without credentials is refused (401). In every mode but off,
 * the --publish-key secret presented as a bearer token may publish to
 * every channel (and nothing else): for back-end publishers that hold no
 * JWT.
 *
 * Tokens are verified once, when a request or connection starts (never
 * per message). A live stream remembers only its token's `exp`; the
 * transports end it then (auth_arm_expiry).
 *
 * Thread: a struct auth is immutable after auth_new and shared read-only
 * by every worker. An auth_id belongs to its request or connection.
 */
#ifndef CRIER_AUTH_AUTH_H
#define CRIER_AUTH_AUTH_H

#include "auth/jwt.h"
#include "core/config.h"
#include "http/http_conn.h"
#include "http/http_parse.h"
#include "net/deadline.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_mode { AUTH_OFF = 0, AUTH_OPTIONAL, AUTH_REQUIRED };

struct auth {
	enum auth_mode mode;
	struct jwt_verifier *jwt; /* NULL when no key is configured (then only
	                           * the publish key authenticates) */
	char *cookie;             /* --jwt-cookie name, or NULL */
	bool allow_query;         /* --allow-query-token */
	char *publish_key;        /* --publish-key, or NULL */
	size_t publish_key_len;
};

enum auth_kind {
	AUTH_ID_OPEN = 0,    /* auth off: everything allowed */
	AUTH_ID_ANONYMOUS,   /* optional mode, no credentials */
	AUTH_ID_TOKEN,       /* a verified JWT: its claims decide */
	AUTH_ID_PUBLISH_KEY, /* the --publish-key secret: publish anywhere */
};

struct auth_id {
	enum auth_kind kind;
	struct jwt_claims claims; /* AUTH_ID_TOKEN only; owned */
};

enum auth_action { AUTH_SUBSCRIBE = 0, AUTH_PUBLISH };

/*
 * Builds the policy from cfg (auth, jwt-key, jwt-public-key (a file, read
 * here), jwt-alg, jwt-issuer, jwt-audience, jwt-leeway, jwt-cookie,
 * allow-query-token, publish-key). Returns 0 and *out, or CRIER_EINVAL with
 * a sentence naming the option in why (e.g. --auth required without any
 * key, an unreadable key file), or CRIER_ENOMEM.
 */
int auth_new(const struct config *cfg, struct auth **out, char *why, size_t why_len);
void auth_free(struct auth *a);

/*
 * Judges req's credentials at wall-clock time now_s. Returns 0 and fills
 * *id (free it with auth_id_free), or a CRIER_EAUTH_* code (*id is then
 * empty): AUTH_MISSING (required mode, none found), AUTH_QUERY (a
 * ?token= without --allow-query-token), AUTH_MALFORMED (an Authorization
 * header that is not Bearer), or what jwt_verify said.
 */
int auth_request(const struct auth *a, const struct http_request *req, int64_t now_s,
                 struct auth_id *id);

/* The same for a bare token (the crier.v1 "refresh" op). */
int auth_token(const struct auth *a, const char *token, size_t len, int64_t now_s,
               struct auth_id *id);

/* True when id may do act on channel[0..len). */
bool auth_may(const struct auth_id *id, enum auth_action act, const char *channel, size_t len);

/* The token's exp (wall-clock seconds), 0 when it has none. */
int64_t auth_expiry(const struct auth_id *id);

void auth_id_free(struct auth_id *id);

/*
 * Judges ctx's credentials (ctx->hc->app->auth; NULL: everyone everything)
 * for act on each of the comma-separated names (names NULL: credentials
 * only, as for the /ws upgrade). True with *id filled (the caller frees
 * it) when allowed; otherwise answers 401 (with a WWW-Authenticate
 * challenge) or 403 naming the channel, counts and logs the refusal, and
 * returns false (*id empty).
 */
bool auth_http(struct http_ctx *ctx, enum auth_action act, const char *names, size_t len,
               struct auth_id *id);

/*
 * Arms d on heap (a worker's deadlines, loop time now_ms) to fire when a
 * token that expires at wall-clock exp_s does. Nothing when exp_s is 0.
 * Returns 0 or CRIER_ENOMEM.
 */
int auth_arm_expiry(struct deadline_heap *heap, struct deadline *d, uint64_t now_ms, int64_t exp_s,
                    deadline_fn fire);

#endif
