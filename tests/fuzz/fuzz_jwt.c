/*
 * fuzz_jwt.c - libFuzzer target for token verification (src/auth/jwt.c)
 * and the permission patterns it parses (src/auth/perm.c).
 *
 * Two HS256 verifiers are built once with a key this file knows: A checks
 * no issuer or audience, B requires both. Each input is used three ways,
 * so that the fuzzer reaches the claims, which it could never do if every
 * token had to carry a signature it cannot forge:
 *   1. as a token, from an exact-size heap copy, against A;
 *   2. up to its last '.', signed here with the key and given the
 *      signature, against A and B (base64url text with a valid signature);
 *   3. when it holds a '\n', as header JSON before it and payload JSON
 *      after it, encoded and signed here, against A and B (JSON the
 *      fuzzer can mutate directly).
 * Invariants: every result is 0 or one of the documented codes; a failure
 * leaves the claims zeroed; an input over JWT_TOKEN_MAX is malformed; a
 * token signed here never fails its signature; a success respects exp and
 * nbf at the fixed time, holds only valid patterns, each of which allows
 * a channel it names; and B accepting a token means A accepts it with the
 * same claims.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"
#include "auth/perm.h"
#include "core/base64.h"
#include "core/err.h"

#define NOW 1700000000

/* The seed corpus (tests/fuzz/corpus/jwt/) is signed with this key. */
static const char fuzz_key[] = "crier-fuzz-key-0123456789abcdef!";

static struct jwt_verifier *verifier_a, *verifier_b;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_jwt: invariant failed: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	struct jwt_verifier_config cfg = {
	        .hmac_key = fuzz_key, .hmac_key_len = sizeof(fuzz_key) - 1, .alg = "HS256"};
	char why[200];
	check(jwt_verifier_new(&cfg, &verifier_a, why, sizeof(why)) == 0, why);
	cfg.issuer = "https://auth.example";
	cfg.audience = "crier";
	check(jwt_verifier_new(&cfg, &verifier_b, why, sizeof(why)) == 0, why);
	return 0;
}

static bool known_code(int rc)
{
	switch (rc) {
	case 0:
	case CRIER_EAUTH_MISSING:
	case CRIER_EAUTH_MALFORMED:
	case CRIER_EAUTH_ALG:
	case CRIER_EAUTH_SIGNATURE:
	case CRIER_EAUTH_EXPIRED:
	case CRIER_EAUTH_NOT_YET:
	case CRIER_EAUTH_ISSUER:
	case CRIER_EAUTH_AUDIENCE:
	case CRIER_ENOMEM:
		return true;
	default:
		return false;
	}
}

static bool pattern_ok(const char *p)
{
	size_t n = strlen(p);
	size_t stem = n > 0 && p[n - 1] == '*' ? n - 1 : n;
	if (stem > PERM_CHANNEL_MAX || (stem == n && n == 0) || (stem == 0 && n == 1))
		return false; /* "*" alone is kept as the all flag, never stored */
	for (size_t i = 0; i < stem; i++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-",
		            p[i]))
			return false;
	}
	return true;
}

/* Every stored pattern is valid and allows a channel it names: itself, or
 * for a prefix, the prefix followed by "x" (when that fits). */
static void check_perms(const struct perm_set *s)
{
	check(s->n == 0 || s->pat != NULL, "patterns missing");
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->pat[i];
		check(pattern_ok(p), "invalid pattern kept");
		size_t n = strlen(p);
		if (p[n - 1] != '*') {
			check(perm_allows(s, p, n), "pattern does not allow itself");
		} else if (n <= PERM_CHANNEL_MAX) {
			char ch[PERM_CHANNEL_MAX + 1];
			memcpy(ch, p, n - 1);
			ch[n - 1] = 'x';
			check(perm_allows(s, ch, n), "prefix does not allow an extension");
		}
	}
	check(!perm_allows(s, "", 0), "empty channel allowed");
	check(!s->all || perm_allows(s, "any", 3), "all does not allow everything");
}

static bool claims_zero(const struct jwt_claims *c)
{
	return !c->sub && c->exp == 0 && c->nbf == 0 && !c->subscribe.pat && !c->subscribe.n &&
	       !c->subscribe.all && !c->publish.pat && !c->publish.n && !c->publish.all;
}

static bool sets_equal(const struct perm_set *a, const struct perm_set *b)
{
	if (a->n != b->n || a->all != b->all)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->pat[i], b->pat[i]) != 0)
			return false;
	}
	return true;
}

/* Verifies an exact-size copy of the token; checks the result contract. */
static int verify(const struct jwt_verifier *v, const char *token, size_t len, struct jwt_claims *c)
{
	char *copy = malloc(len ? len : 1);
	check(copy != NULL, "malloc");
	memcpy(copy, token, len);
	int rc = jwt_verify(v, copy, len, NOW, c);
	free(copy);
	check(known_code(rc), "unknown result code");
	if (rc != 0) {
		check(claims_zero(c), "claims not zeroed on failure");
		return rc;
	}
	check(len > 0 && len <= JWT_TOKEN_MAX, "accepted a token of impossible length");
	check(c->exp == 0 || NOW < c->exp, "accepted an expired token");
	check(NOW >= c->nbf, "accepted a token before nbf");
	check_perms(&c->subscribe);
	check_perms(&c->publish);
	return rc;
}

static size_t b64url(const uint8_t *in, size_t n, char *out)
{
	return (size_t)(base64url_encode(in, n, out) - out);
}

/* Appends "." and the HS256 signature of tok[0, len) at tok + len; tok
 * has room for 44 more bytes. Returns the new length. */
static size_t sign(char *tok, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	check(HMAC(EVP_sha256(), fuzz_key, (int)sizeof(fuzz_key) - 1, (const unsigned char *)tok,
	           len, mac, &mac_len) != NULL,
	      "HMAC");
	tok[len++] = '.';
	return len + b64url(mac, mac_len, tok + len);
}

/* A token signed here: the signature is right, whatever else is wrong. B
 * accepting it means A accepts it with the same claims. */
static void verify_signed(const char *tok, size_t len)
{
	struct jwt_claims a, b;
	int rc_a = verify(verifier_a, tok, len, &a);
	int rc_b = verify(verifier_b, tok, len, &b);
	check(rc_a != CRIER_EAUTH_SIGNATURE && rc_b != CRIER_EAUTH_SIGNATURE,
	      "valid signature refused");
	if (rc_b == 0) {
		check(rc_a == 0, "B accepted what A refused");
		check(a.exp == b.exp && a.nbf == b.nbf, "A and B disagree on times");
		check((!a.sub && !b.sub) || (a.sub && b.sub && strcmp(a.sub, b.sub) == 0),
		      "A and B disagree on sub");
		check(sets_equal(&a.subscribe, &b.subscribe) && sets_equal(&a.publish, &b.publish),
		      "A and B disagree on permissions");
	}
	jwt_claims_free(&a);
	jwt_claims_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct jwt_claims c;

	/* 1: the input as it is. */
	int rc = verify(verifier_a, in, size, &c);
	check(size != 0 || rc == CRIER_EAUTH_MISSING, "empty token not missing");
	check(size <= JWT_TOKEN_MAX || rc == CRIER_EAUTH_MALFORMED, "oversized token accepted");
	jwt_claims_free(&c);
	if (size > JWT_TOKEN_MAX)
		return 0;

	char *tok = malloc(2 * JWT_TOKEN_MAX + 64);
	check(tok != NULL, "malloc");

	/* 2: re-signed up to the last dot. */
	const char *dot = memrchr(in, '.', size);
	size_t head = dot ? (size_t)(dot - in) : size;
	memcpy(tok, in, head);
	verify_signed(tok, sign(tok, head));

	/* 3: header JSON '\n' payload JSON, encoded and signed. */
	const char *nl = memchr(in, '\n', size);
	if (nl) {
		size_t hn = (size_t)(nl - in);
		size_t n = b64url(data, hn, tok);
		tok[n++] = '.';
		n += b64url(data + hn + 1, size - hn - 1, tok + n);
		verify_signed(tok, sign(tok, n));
	}
	free(tok);
	return 0;
}
