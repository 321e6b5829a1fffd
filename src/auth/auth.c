/*
 * auth.c - request credentials to identities and identities to grants
 * (auth.h).
 *
 * What it owns: finding the token in a request, the publish-key
 * comparison (constant time: it is a password), the mode rules, and
 * turning a token's exp into a worker deadline. What it never does:
 * verify signatures or read claims (jwt.c), or answer a request (the
 * routes do, with auth_challenge's header).
 */
#include "auth/auth.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "http/router.h"
#include "net/worker.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reads a whole (small) file. Returns 0 with *out malloc'd, or -1. */
static int auth_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char *b = malloc(65536 + 1);
	size_t n = b ? fread(b, 1, 65536, f) : 0;
	bool ok = b && !ferror(f) && feof(f);
	fclose(f);
	if (!ok) {
		free(b);
		return -1;
	}
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
}

int auth_new(const struct config *cfg, struct auth **out, char *why, size_t why_len)
{
	*out = NULL;
	why[0] = '\0';
	struct auth *a = calloc(1, sizeof(*a));
	if (!a)
		return CRIER_ENOMEM;
	a->mode = (enum auth_mode)cfg->auth_mode;
	a->allow_query = cfg->allow_query_token;
	int rc = 0;
	char *pem = NULL;
	size_t pem_len = 0;
	bool hmac = cfg->jwt_key && *cfg->jwt_key;
	bool pub = cfg->jwt_public_key && *cfg->jwt_public_key;
	if (a->mode == AUTH_OFF)
		goto done; /* keys are ignored; the server warns if some were given */
	if (pub && auth_read_file(cfg->jwt_public_key, &pem, &pem_len) != 0) {
		snprintf(why, why_len, "--jwt-public-key: cannot read '%s'", cfg->jwt_public_key);
		rc = CRIER_EINVAL;
		goto done;
	}
	if (hmac || pub) {
		struct jwt_verifier_config vc = {
		        .hmac_key = hmac ? cfg->jwt_key : NULL,
		        .hmac_key_len = hmac ? strlen(cfg->jwt_key) : 0,
		        .public_key_pem = pem,
		        .pem_len = pem_len,
		        .alg = cfg->jwt_alg && *cfg->jwt_alg ? cfg->jwt_alg : NULL,
		        .issuer = cfg->jwt_issuer,
		        .audience = cfg->jwt_audience,
		        .leeway_s = (uint32_t)(cfg->jwt_leeway_ms / 1000),
		};
		char jwhy[256];
		rc = jwt_verifier_new(&vc, &a->jwt, jwhy, sizeof(jwhy));
		if (rc) {
			snprintf(why, why_len, "%s", jwhy);
			goto done;
		}
	}
	if (cfg->publish_key && *cfg->publish_key) {
		a->publish_key = strdup(cfg->publish_key);
		a->publish_key_len = strlen(cfg->publish_key);
		if (!a->publish_key) {
			rc = CRIER_ENOMEM;
			goto done;
		}
	}
	if (!a->jwt && !a->publish_key && a->mode == AUTH_REQUIRED) {
		snprintf(why, why_len,
		         "--auth required: nobody could ever be let in; give --jwt-key, "
		         "--jwt-public-key or --publish-key");
		rc = CRIER_EINVAL;
		goto done;
	}
	if (cfg->jwt_cookie && *cfg->jwt_cookie && !(a->cookie = strdup(cfg->jwt_cookie)))
		rc = CRIER_ENOMEM;
done:
	if (pem) {
		OPENSSL_cleanse(pem, pem_len);
		free(pem);
	}
	if (rc) {
		auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	jwt_verifier_free(a->jwt);
	free(a->cookie);
	if (a->publish_key)
		OPENSSL_cleanse(a->publish_key, a->publish_key_len);
	free(a->publish_key);
	free(a);
}

/* The value of cookie `name` in a Cookie header (RFC 6265 §4.2.1:
 * "a=1; b=2"). */
static bool auth_cookie(const char *v, size_t len, const char *name, const char **val,
                        size_t *val_len)
{
	size_t nlen = strlen(name), i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == ';'))
			i++;
		size_t j = i;
		while (j < len && v[j] != ';')
			j++;
		if (j - i > nlen && v[i + nlen] == '=' && memcmp(v + i, name, nlen) == 0) {
			*val = v + i + nlen + 1;
			*val_len = j - i - nlen - 1;
			if (*val_len >= 2 && (*val)[0] == '"' && (*val)[*val_len - 1] == '"') {
				(*val)++;
				*val_len -= 2;
			}
			return true;
		}
		i = j;
	}
	return false;
}

static void auth_id_clear(struct auth_id *id)
{
	memset(id, 0, sizeof(*id));
}

int auth_token(const struct auth *a, const char *token, size_t len, int64_t now_s,
               struct auth_id *id)
{
	auth_id_clear(id);
	if (a->mode == AUTH_OFF)
		return 0;
	if (a->publish_key && len == a->publish_key_len &&
	    CRYPTO_memcmp(token, a->publish_key, len) == 0) {
		id->kind = AUTH_ID_PUBLISH_KEY;
		return 0;
	}
	if (!a->jwt)
		return CRIER_EAUTH_SIGNATURE; /* no key that could accept it */
	int rc = jwt_verify(a->jwt, token, len, now_s, &id->claims);
	if (rc) {
		auth_id_clear(id);
		return rc;
	}
	id->kind = AUTH_ID_TOKEN;
	return 0;
}

int auth_request(const struct auth *a, const struct http_request *req, int64_t now_s,
                 struct auth_id *id)
{
	auth_id_clear(id);
	if (a->mode == AUTH_OFF)
		return 0;
	const char *tok = NULL;
	size_t len = 0;
	const struct http_header *h = http_find_header(req, "Authorization");
	if (h) {
		if (h->value_len < 7 || strncasecmp(h->value, "Bearer ", 7) != 0)
			return CRIER_EAUTH_MALFORMED;
		tok = h->value + 7;
		len = h->value_len - 7;
		while (len && *tok == ' ')
			tok++, len--;
	} else if (a->cookie && (h = http_find_header(req, "Cookie")) &&
	           auth_cookie(h->value, h->value_len, a->cookie, &tok, &len)) {
		/* found in the cookie */
	} else if (router_query_param(req->query, req->query_len, "token", &tok, &len)) {
		if (!a->allow_query)
			return CRIER_EAUTH_QUERY;
	} else {
		tok = NULL;
	}
	if (!tok) {
		if (a->mode == AUTH_REQUIRED)
			return CRIER_EAUTH_MISSING;
		id->kind = AUTH_ID_ANONYMOUS;
		return 0;
	}
	return auth_token(a, tok, len, now_s, id);
}

bool auth_may(const struct auth_id *id, enum auth_action act, const char *channel, size_t len)
{
	switch (id->kind) {
	case AUTH_ID_OPEN:
		return true;
	case AUTH_ID_ANONYMOUS:
		return act == AUTH_SUBSCRIBE;
	case AUTH_ID_PUBLISH_KEY:
		return act == AUTH_PUBLISH;
	case AUTH_ID_TOKEN:
		return perm_allows(act == AUTH_SUBSCRIBE ? &id->claims.subscribe
		                                         : &id->claims.publish,
		                   channel, len);
	}
	return false;
}

/* auth_may for each of the comma-separated names: 0, or
 * CRIER_EAUTH_FORBIDDEN with the first channel refused in *bad. */
static int auth_may_all(const struct auth_id *id, enum auth_action act, const char *names,
                        size_t len, const char **bad, size_t *bad_len)
{
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && names[j] != ',')
			j++;
		if (!auth_may(id, act, names + i, j - i)) {
			*bad = names + i;
			*bad_len = j - i;
			return CRIER_EAUTH_FORBIDDEN;
		}
		i = j + 1;
	}
	return 0;
}

int64_t auth_expiry(const struct auth_id *id)
{
	return id->kind == AUTH_ID_TOKEN ? id->claims.exp : 0;
}

void auth_id_free(struct auth_id *id)
{
	if (id->kind == AUTH_ID_TOKEN)
		jwt_claims_free(&id->claims);
	auth_id_clear(id);
}

/* The response headers for a refusal with code: a WWW-Authenticate
 * challenge (RFC 6750 §3) for a 401, nothing otherwise. Returns out. */
static const char *auth_challenge(int code, char *out, size_t cap)
{
	out[0] = '\0';
	if (err_http_status(code) != 401)
		return out;
	if (code == CRIER_EAUTH_MISSING)
		snprintf(out, cap, "WWW-Authenticate: Bearer realm=\"crier\"\r\n");
	else
		snprintf(out, cap,
		         "WWW-Authenticate: Bearer realm=\"crier\", error=\"invalid_token\", "
		         "error_description=\"%s\"\r\n",
		         err_message(code));
	return out;
}

int auth_arm_expiry(struct deadline_heap *heap, struct deadline *d, uint64_t now_ms, int64_t exp_s,
                    deadline_fn fire)
{
	if (exp_s <= 0)
		return 0;
	int64_t left_ms = exp_s * 1000 - clock_wall_ms();
	uint64_t at = now_ms + (left_ms > 0 ? (uint64_t)left_ms : 0);
	return deadline_arm(heap, d, at, fire);
}

bool auth_http(struct http_ctx *ctx, enum auth_action act, const char *names, size_t len,
               struct auth_id *id)
{
	const struct auth *a = ctx->hc->app->auth;
	*id = (struct auth_id){0};
	int rc = a ? auth_request(a, ctx->req, clock_wall_s(), id) : 0;
	const char *bad = NULL;
	size_t bad_len = 0;
	if (rc == 0 && names)
		rc = auth_may_all(id, act, names, len, &bad, &bad_len);
	if (rc == 0)
		return true;
	auth_id_free(id);
	metrics_parse_error(&ctx->w->m, rc);
	char hdr[256], body[512];
	int status = err_http_status(rc);
	if (rc == CRIER_EAUTH_FORBIDDEN)
		snprintf(body, sizeof(body),
		         "403 Forbidden: the token does not grant %s on '%.*s'\n",
		         act == AUTH_SUBSCRIBE ? "subscribe" : "publish", (int)bad_len, bad);
	else
		snprintf(body, sizeof(body), "401 Unauthorized: %s\n", err_message(rc));
	log_info("request refused", "status=%d reason=%s", status, err_label(rc));
	http_respond(ctx, status, "text/plain; charset=utf-8", auth_challenge(rc, hdr, sizeof(hdr)),
	             body, strlen(body));
	return false;
}
