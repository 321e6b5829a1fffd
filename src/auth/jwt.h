/*
 * jwt.h - verification of the JSON Web Tokens (RFC 7519) that clients
 * present, and the claims crier reads from them.
 *
 * The verifier is built once from configuration and holds the key and the
 * one accepted algorithm: the token's own "alg" header is compared with
 * it and never chooses anything (see jwt.c). Tokens are compact JWS
 * (RFC 7515 §7.1) signed with HS256/384/512, RS256/384/512 or
 * ES256/384/512; nothing else is accepted.
 *
 * Claims read: exp and nbf (NumericDate, with a leeway), iss and aud
 * (checked when configured), sub (copied), and the permission claim
 *
 *     "crier": {"subscribe": ["news", "user.42.*"], "publish": ["chat*"]}
 *
 * whose lists are channel patterns (auth/perm.h). A token without "crier",
 * or without one of the two lists, grants nothing for that action: a
 * valid signature proves who issued the token, not what it allows.
 * A token without "exp" never expires; issuers are expected to set it.
 */
#ifndef CRIER_AUTH_JWT_H
#define CRIER_AUTH_JWT_H

#include "auth/perm.h"

#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes of compact serialisation. An
 * RS512 token with a 4096-bit key and a few hundred patterns fits; a
 * header line of this size is already unusual for proxies. */
#define JWT_TOKEN_MAX 8192

/* Verifier configuration; read only during jwt_verifier_new, which copies
 * what it keeps. Exactly one of hmac_key and public_key_pem is set. */
struct jwt_verifier_config {
	const char *hmac_key; /* shared secret for HS* (--jwt-key); NULL: none */
	size_t hmac_key_len;  /* bytes in hmac_key */
	/* Contents of a PEM "BEGIN PUBLIC KEY" file (SubjectPublicKeyInfo)
	 * holding an RSA key (2048 bits or more) or a P-256, P-384 or P-521
	 * key, for RS* and ES* (--jwt-public-key). NULL: none. */
	const char *public_key_pem;
	size_t pem_len; /* bytes in public_key_pem */
	/* "HS256" ... "ES512", exactly as in a JWS header. NULL: HS256 with an
	 * HMAC key, RS256 with an RSA key, ES256/ES384/ES512 by the EC key's
	 * curve. */
	const char *alg;
	const char *issuer;   /* required "iss" value; NULL or "": not checked */
	const char *audience; /* value "aud" must contain; NULL or "": not checked */
	uint32_t leeway_s;    /* clock skew allowed on exp and nbf, seconds */
};

/* An immutable verifier: safe to share read-only between threads, any
 * number of which may call jwt_verify on it at once. */
struct jwt_verifier;

/*
 * The claims of a verified token. Owned by the caller, released with
 * jwt_claims_free; nothing in it points into the token.
 */
struct jwt_claims {
	char *sub;                 /* owned "sub" claim; NULL when absent */
	int64_t exp;               /* "exp", seconds since the epoch; 0 when absent */
	int64_t nbf;               /* "nbf", seconds since the epoch; 0 when absent */
	struct perm_set subscribe; /* channels the token may subscribe to */
	struct perm_set publish;   /* channels the token may publish to */
};

/*
 * Builds a verifier from cfg into *out (released with jwt_verifier_free).
 * Called once at start-up or on reload, on any thread.
 * Returns 0; CRIER_EINVAL with one sentence for the operator in why (when
 * why_len > 0) when there is no key or two keys, the PEM holds no public
 * key crier can use, alg is unknown or does not fit the key (an HMAC
 * algorithm with a public key, RS* with an EC key, ES256 with a P-384 key),
 * or the HMAC key is shorter than the hash (RFC 7518 §3.2: 32 bytes for
 * HS256, 48 for HS384, 64 for HS512); CRIER_ENOMEM. *out is NULL on
 * failure.
 */
int jwt_verifier_new(const struct jwt_verifier_config *cfg, struct jwt_verifier **out, char *why,
                     size_t why_len);

/* The accepted algorithm's name ("HS256"), for the start-up log. */
const char *jwt_verifier_alg(const struct jwt_verifier *v);

/* Releases the verifier; v may be NULL. No jwt_verify may be running. */
void jwt_verifier_free(struct jwt_verifier *v);

/*
 * Verifies the token of len bytes (not NUL-terminated; a "Bearer " prefix
 * already removed) at time now_s (seconds since the epoch) and fills *out.
 * Checks, in this order: the shape (three base64url segments without
 * padding, at most JWT_TOKEN_MAX bytes, a JSON object header), the
 * header's "alg" against the configured one, the signature, then the
 * claims. Any thread; v is only read.
 * Returns 0, or:
 *   CRIER_EAUTH_MISSING    len is 0;
 *   CRIER_EAUTH_MALFORMED  bad shape or encoding, a header or payload that
 *                          is not a JSON object (or repeats a member), a
 *                          "crit" header, a claim of the wrong type, an
 *                          invalid channel pattern;
 *   CRIER_EAUTH_ALG        "alg" is not the configured algorithm (this
 *                          refuses "none" and HS256 against an RSA key
 *                          before any signature is computed);
 *   CRIER_EAUTH_SIGNATURE  the signature does not verify;
 *   CRIER_EAUTH_EXPIRED    now_s >= exp + leeway;
 *   CRIER_EAUTH_NOT_YET    now_s + leeway < nbf;
 *   CRIER_EAUTH_ISSUER     an issuer is configured and "iss" differs;
 *   CRIER_EAUTH_AUDIENCE   an audience is configured and "aud" (a string
 *                          or an array of strings) does not contain it;
 *   CRIER_ENOMEM.
 * On failure *out is zeroed (jwt_claims_free on it is harmless).
 */
int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now_s,
               struct jwt_claims *out);

/* Releases what the claims own; *c is zeroed afterwards. */
void jwt_claims_free(struct jwt_claims *c);

#endif
