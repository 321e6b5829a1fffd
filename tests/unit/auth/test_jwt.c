/*
 * test_jwt.c - unit tests for auth/jwt.c.
 *
 * Every token is built here: JSON text, base64url, and a signature made
 * with OpenSSL independently of the code under test (HMAC() for HS*,
 * EVP_DigestSign for RS*, EVP_DigestSign plus a DER to r || s conversion
 * for ES*). Keys are generated once per run, so no key material lives in
 * the tree. Each test states the time it verifies at (NOW) and the
 * verifier's configuration, and checks the exact error code; a failing
 * verification must also leave the claims zeroed, and ASan's leak check
 * confirms it owns nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt.h"
#include "core/base64.h"
#include "core/err.h"

#define NOW 1700000000LL

/* 64 bytes: enough for HS512; its first 32 bytes are the HS256 key. */
static const char hmac_key[] = "0123456789abcdef0123456789abcdef"
                               "fedcba9876543210fedcba9876543210";
#define HS256_KEY_LEN 32

/* Key pairs made once for the whole run, and their public PEM text. */
static EVP_PKEY *rsa, *rsa_other, *ec256, *ec256_other, *ec384, *ec521;
static char *rsa_pem, *ec256_pem, *ec384_pem, *ec521_pem;

/* ---- token building ---------------------------------------------------- */

/* printf into a fresh heap string. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

static char *b64url(const void *data, size_t n)
{
	char *out = malloc(n / 3 * 4 + 5);
	assert_non_null(out);
	*base64url_encode(data, n, out) = '\0';
	return out;
}

/* "b64(header).b64(payload)" */
static char *signing_input(const char *header, const char *payload)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	char *s = fmt("%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

/* input "." b64(sig); frees input. */
static char *append_sig(char *input, const void *sig, size_t sig_len)
{
	char *b = b64url(sig, sig_len);
	char *t = fmt("%s.%s", input, b);
	free(b);
	free(input);
	return t;
}

/* Signs already-encoded text (which may be malformed on purpose). */
static char *hmac_sign_input(char *input, const EVP_MD *md, const void *key, size_t key_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	assert_non_null(HMAC(md, key, (int)key_len, (const unsigned char *)input, strlen(input),
	                     mac, &mac_len));
	return append_sig(input, mac, mac_len);
}

static char *token_hmac(const char *header, const char *payload, const EVP_MD *md, const void *key,
                        size_t key_len)
{
	return hmac_sign_input(signing_input(header, payload), md, key, key_len);
}

static char *hs256(const char *payload)
{
	return token_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), hmac_key,
	                  HS256_KEY_LEN);
}

/* RS*: PKCS #1 v1.5. ES*: the DER signature OpenSSL makes, rewritten as
 * r || s of ec_half bytes each (RFC 7518 §3.4); ec_half 0 for RSA. */
static char *token_pkey(const char *header, const char *payload, const EVP_MD *md, EVP_PKEY *key,
                        size_t ec_half)
{
	char *input = signing_input(header, payload);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, key), 1);
	size_t sig_len = 0;
	assert_int_equal(
	        EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, strlen(input)),
	        1);
	unsigned char *sig = malloc(sig_len);
	assert_non_null(sig);
	assert_int_equal(
	        EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(ctx);
	if (ec_half == 0) {
		char *t = append_sig(input, sig, sig_len);
		free(sig);
		return t;
	}

	const unsigned char *p = sig;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
	assert_non_null(es);
	unsigned char raw[2 * 66];
	assert_true(2 * ec_half <= sizeof(raw));
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)ec_half), (int)ec_half);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + ec_half, (int)ec_half),
	                 (int)ec_half);
	ECDSA_SIG_free(es);
	free(sig);
	return append_sig(input, raw, 2 * ec_half);
}

/* ---- verifiers --------------------------------------------------------- */

static char *pem_of(EVP_PKEY *key, bool private_key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	if (private_key)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	return s;
}

static struct jwt_verifier *new_verifier(const struct jwt_verifier_config *cfg)
{
	struct jwt_verifier *v = NULL;
	char why[256];
	int rc = jwt_verifier_new(cfg, &v, why, sizeof(why));
	if (rc != 0)
		fail_msg("jwt_verifier_new: %d: %s", rc, why);
	return v;
}

static struct jwt_verifier *hs_verifier(const char *issuer, const char *audience, uint32_t leeway_s)
{
	return new_verifier(&(struct jwt_verifier_config){.hmac_key = hmac_key,
	                                                  .hmac_key_len = HS256_KEY_LEN,
	                                                  .issuer = issuer,
	                                                  .audience = audience,
	                                                  .leeway_s = leeway_s});
}

static struct jwt_verifier *pem_verifier(const char *pem, const char *alg)
{
	return new_verifier(&(struct jwt_verifier_config){
	        .public_key_pem = pem, .pem_len = strlen(pem), .alg = alg});
}

static bool claims_zero(const struct jwt_claims *c)
{
	return !c->sub && c->exp == 0 && c->nbf == 0 && !c->subscribe.pat && !c->subscribe.n &&
	       !c->subscribe.all && !c->publish.pat && !c->publish.n && !c->publish.all;
}

/* Verifies token at NOW, expects rc (and zeroed claims on failure), frees
 * the token and the claims. */
static void expect_at(const struct jwt_verifier *v, char *token, int64_t now, int rc)
{
	struct jwt_claims c;
	memset(&c, 0x5a, sizeof(c));
	int got = jwt_verify(v, token, strlen(token), now, &c);
	if (got != rc)
		fail_msg("expected %d (%s), got %d (%s) for %s", rc, err_label(rc), got,
		         err_label(got), token);
	if (rc != 0)
		assert_true(claims_zero(&c));
	jwt_claims_free(&c);
	assert_true(claims_zero(&c));
	free(token);
}

static void expect(const struct jwt_verifier *v, char *token, int rc)
{
	expect_at(v, token, NOW, rc);
}

/* Like expect, with the payload as printf text, HS256-signed. */
static void expect_hs(const struct jwt_verifier *v, int rc, const char *payload_fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void expect_hs(const struct jwt_verifier *v, int rc, const char *payload_fmt, ...)
{
	va_list ap;
	va_start(ap, payload_fmt);
	char *payload = NULL;
	assert_true(vasprintf(&payload, payload_fmt, ap) >= 0);
	va_end(ap);
	expect(v, hs256(payload), rc);
	free(payload);
}

/* ---- setup ------------------------------------------------------------- */

static int setup_keys(void **state)
{
	(void)state;
	rsa = EVP_RSA_gen(2048);
	rsa_other = EVP_RSA_gen(2048);
	ec256 = EVP_EC_gen("P-256");
	ec256_other = EVP_EC_gen("P-256");
	ec384 = EVP_EC_gen("P-384");
	ec521 = EVP_EC_gen("P-521");
	if (!rsa || !rsa_other || !ec256 || !ec256_other || !ec384 || !ec521)
		return -1;
	rsa_pem = pem_of(rsa, false);
	ec256_pem = pem_of(ec256, false);
	ec384_pem = pem_of(ec384, false);
	ec521_pem = pem_of(ec521, false);
	return 0;
}

static int teardown_keys(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {rsa, rsa_other, ec256, ec256_other, ec384, ec521};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(keys[i]);
	free(rsa_pem);
	free(ec256_pem);
	free(ec384_pem);
	free(ec521_pem);
	return 0;
}

/* ---- valid tokens ------------------------------------------------------ */

static void test_hs256_valid(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	assert_string_equal(jwt_verifier_alg(v), "HS256");
	char *t = hs256("{\"sub\":\"user-42\",\"exp\":1700000060,\"nbf\":1699999940,"
	                "\"iat\":1699999999,\"jti\":\"x\",\"crier\":{\"subscribe\":[\"news\","
	                "\"user.42.*\"],\"publish\":[\"chat*\"]}}");
	struct jwt_claims c;
	assert_int_equal(jwt_verify(v, t, strlen(t), NOW, &c), 0);
	assert_string_equal(c.sub, "user-42");
	assert_int_equal(c.exp, 1700000060);
	assert_int_equal(c.nbf, 1699999940);
	assert_true(perm_allows(&c.subscribe, "news", 4));
	assert_true(perm_allows(&c.subscribe, "user.42.inbox", 13));
	assert_false(perm_allows(&c.subscribe, "chat", 4));
	assert_true(perm_allows(&c.publish, "chatroom", 8));
	assert_false(perm_allows(&c.publish, "news", 4));
	jwt_claims_free(&c);

	/* The token need not be NUL-terminated: only len bytes are read. */
	size_t n = strlen(t);
	char *copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, t, n);
	assert_int_equal(jwt_verify(v, copy, n, NOW, &c), 0);
	jwt_claims_free(&c);
	free(copy);
	free(t);
	jwt_verifier_free(v);
}

static void test_rs256_valid(void **state)
{
	(void)state;
	struct jwt_verifier *v = pem_verifier(rsa_pem, NULL);
	assert_string_equal(jwt_verifier_alg(v), "RS256");
	char *t = token_pkey("{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	                     "{\"sub\":\"svc\",\"crier\":{\"publish\":[\"*\"]}}", EVP_sha256(), rsa,
	                     0);
	struct jwt_claims c;
	assert_int_equal(jwt_verify(v, t, strlen(t), NOW, &c), 0);
	assert_string_equal(c.sub, "svc");
	assert_int_equal(c.exp, 0);
	assert_true(c.publish.all);
	assert_false(perm_allows(&c.subscribe, "news", 4));
	jwt_claims_free(&c);
	free(t);
	jwt_verifier_free(v);
}

static void test_es256_valid(void **state)
{
	(void)state;
	struct jwt_verifier *v = pem_verifier(ec256_pem, NULL);
	assert_string_equal(jwt_verifier_alg(v), "ES256");
	/* Several signatures, so r or s with leading zero bytes (which the raw
	 * form keeps and DER drops) is likely to come up at least once. */
	for (int i = 0; i < 32; i++) {
		char *payload = fmt("{\"sub\":\"u%d\",\"exp\":1700000060}", i);
		expect(v, token_pkey("{\"alg\":\"ES256\"}", payload, EVP_sha256(), ec256, 32), 0);
		free(payload);
	}
	jwt_verifier_free(v);
}

/* Every algorithm verifies its own tokens and refuses a corrupted
 * signature. */
static void test_all_algorithms(void **state)
{
	(void)state;
	const struct {
		const char *alg;
		const EVP_MD *(*md)(void);
		EVP_PKEY *key;  /* NULL: HMAC with the 64-byte key */
		char **pem;     /* the verifier's key */
		size_t ec_half; /* r and s size for ES* */
	} cases[] = {
	        {"HS256", EVP_sha256, NULL, NULL, 0},
	        {"HS384", EVP_sha384, NULL, NULL, 0},
	        {"HS512", EVP_sha512, NULL, NULL, 0},
	        {"RS256", EVP_sha256, rsa, &rsa_pem, 0},
	        {"RS384", EVP_sha384, rsa, &rsa_pem, 0},
	        {"RS512", EVP_sha512, rsa, &rsa_pem, 0},
	        {"ES256", EVP_sha256, ec256, &ec256_pem, 32},
	        {"ES384", EVP_sha384, ec384, &ec384_pem, 48},
	        {"ES512", EVP_sha512, ec521, &ec521_pem, 66},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jwt_verifier_config cfg = {.alg = cases[i].alg};
		if (cases[i].pem) {
			cfg.public_key_pem = *cases[i].pem;
			cfg.pem_len = strlen(*cases[i].pem);
		} else {
			cfg.hmac_key = hmac_key;
			cfg.hmac_key_len = sizeof(hmac_key) - 1;
		}
		struct jwt_verifier *v = new_verifier(&cfg);
		assert_string_equal(jwt_verifier_alg(v), cases[i].alg);
		char *hdr = fmt("{\"alg\":\"%s\"}", cases[i].alg);
		const char *payload = "{\"crier\":{\"subscribe\":[\"a\"]}}";
		char *t = cases[i].key ? token_pkey(hdr, payload, cases[i].md(), cases[i].key,
		                                    cases[i].ec_half)
		                       : token_hmac(hdr, payload, cases[i].md(), hmac_key,
		                                    sizeof(hmac_key) - 1);
		char *bad = strdup(t);
		assert_non_null(bad);
		/* Flip one character inside the signature: still valid base64url. */
		char *sig = strrchr(bad, '.') + 1;
		sig[3] = sig[3] == 'A' ? 'B' : 'A';
		expect(v, t, 0);
		expect(v, bad, CRIER_EAUTH_SIGNATURE);
		free(hdr);
		jwt_verifier_free(v);
	}
}

/* ---- time claims ------------------------------------------------------- */

static void test_expiry(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":%lld}", NOW);
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":%lld}", NOW - 1);
	expect_hs(v, 0, "{\"exp\":%lld}", NOW + 1);
	expect_hs(v, 0, "{}"); /* no exp: accepted, never expires */
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":0}");
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":-5}");
	/* A fractional exp counts from the second before it. */
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":%lld.5}", NOW);
	expect_hs(v, 0, "{\"exp\":%lld.5}", NOW + 1);
	/* Far-future values saturate instead of overflowing. */
	expect_hs(v, 0, "{\"exp\":1e300}");
	expect_hs(v, 0, "{\"exp\":9223372036854775807}");
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":-1e300}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"exp\":\"%lld\"}", NOW + 60);
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"exp\":null}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"exp\":true}");
	jwt_verifier_free(v);

	v = hs_verifier(NULL, NULL, 30);
	expect_hs(v, 0, "{\"exp\":%lld}", NOW - 29);
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":%lld}", NOW - 30);
	expect_hs(v, 0, "{\"exp\":9223372036854775807}");
	char *t = hs256("{\"exp\":1700000100}");
	struct jwt_claims c;
	assert_int_equal(jwt_verify(v, t, strlen(t), NOW, &c), 0);
	assert_int_equal(c.exp, 1700000100);
	assert_int_equal(c.nbf, 0);
	jwt_claims_free(&c);
	assert_int_equal(jwt_verify(v, t, strlen(t), 1700000129, &c), 0);
	jwt_claims_free(&c);
	expect_at(v, t, 1700000130, CRIER_EAUTH_EXPIRED); /* frees t */
	jwt_verifier_free(v);
}

static void test_not_before(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	expect_hs(v, CRIER_EAUTH_NOT_YET, "{\"nbf\":%lld}", NOW + 1);
	expect_hs(v, 0, "{\"nbf\":%lld}", NOW);
	expect_hs(v, 0, "{\"nbf\":%lld}", NOW - 100);
	expect_hs(v, CRIER_EAUTH_NOT_YET, "{\"nbf\":%lld.5}", NOW); /* rounds up */
	expect_hs(v, CRIER_EAUTH_NOT_YET, "{\"nbf\":1e300}");
	expect_hs(v, 0, "{\"nbf\":-1e300}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"nbf\":[1]}");
	/* exp is checked first when both fail. */
	expect_hs(v, CRIER_EAUTH_EXPIRED, "{\"exp\":1,\"nbf\":%lld}", NOW + 10);
	jwt_verifier_free(v);

	v = hs_verifier(NULL, NULL, 30);
	expect_hs(v, 0, "{\"nbf\":%lld}", NOW + 30);
	expect_hs(v, CRIER_EAUTH_NOT_YET, "{\"nbf\":%lld}", NOW + 31);
	jwt_verifier_free(v);
}

/* ---- iss and aud ------------------------------------------------------- */

static void test_issuer(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier("https://auth.example.com", NULL, 0);
	expect_hs(v, 0, "{\"iss\":\"https://auth.example.com\"}");
	expect_hs(v, CRIER_EAUTH_ISSUER, "{\"iss\":\"https://evil.example.com\"}");
	expect_hs(v, CRIER_EAUTH_ISSUER, "{\"iss\":\"https://auth.example.co\"}");
	expect_hs(v, CRIER_EAUTH_ISSUER, "{\"iss\":\"https://auth.example.com/\"}");
	expect_hs(v, CRIER_EAUTH_ISSUER, "{\"iss\":\"HTTPS://auth.example.com\"}");
	expect_hs(v, CRIER_EAUTH_ISSUER, "{}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"iss\":5}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"iss\":[\"https://auth.example.com\"]}");
	jwt_verifier_free(v);

	v = hs_verifier(NULL, NULL, 0); /* not configured: any string */
	expect_hs(v, 0, "{\"iss\":\"anyone\"}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"iss\":5}");
	jwt_verifier_free(v);
	v = hs_verifier("", "", 0); /* "" means not configured */
	expect_hs(v, 0, "{}");
	jwt_verifier_free(v);
}

static void test_audience(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, "crier", 0);
	expect_hs(v, 0, "{\"aud\":\"crier\"}");
	expect_hs(v, 0, "{\"aud\":[\"other\",\"crier\"]}");
	expect_hs(v, 0, "{\"aud\":[\"crier\"]}");
	expect_hs(v, CRIER_EAUTH_AUDIENCE, "{\"aud\":[\"other\"]}");
	expect_hs(v, CRIER_EAUTH_AUDIENCE, "{\"aud\":[]}");
	expect_hs(v, CRIER_EAUTH_AUDIENCE, "{\"aud\":\"crier2\"}");
	expect_hs(v, CRIER_EAUTH_AUDIENCE, "{\"aud\":\"crie\"}");
	expect_hs(v, CRIER_EAUTH_AUDIENCE, "{}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"aud\":[\"crier\",5]}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"aud\":5}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"aud\":{\"crier\":1}}");
	jwt_verifier_free(v);

	v = hs_verifier("me", "crier", 0); /* issuer is checked before audience */
	expect_hs(v, CRIER_EAUTH_ISSUER, "{\"iss\":\"you\",\"aud\":\"other\"}");
	jwt_verifier_free(v);

	v = hs_verifier(NULL, NULL, 0); /* not configured: types still checked */
	expect_hs(v, 0, "{\"aud\":[\"x\",\"y\"]}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"aud\":{}}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"aud\":[null]}");
	jwt_verifier_free(v);
}

/* ---- signatures and algorithms ----------------------------------------- */

static void test_wrong_key(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	static const char other[] = "another key of thirty-two bytes!";
	expect(v, token_hmac("{\"alg\":\"HS256\"}", "{}", EVP_sha256(), other, 32),
	       CRIER_EAUTH_SIGNATURE);
	/* The right key with a byte more is a different key. */
	expect(v, token_hmac("{\"alg\":\"HS256\"}", "{}", EVP_sha256(), hmac_key, 33),
	       CRIER_EAUTH_SIGNATURE);
	jwt_verifier_free(v);

	v = pem_verifier(rsa_pem, "RS256");
	expect(v, token_pkey("{\"alg\":\"RS256\"}", "{}", EVP_sha256(), rsa_other, 0),
	       CRIER_EAUTH_SIGNATURE);
	jwt_verifier_free(v);

	v = pem_verifier(ec256_pem, "ES256");
	expect(v, token_pkey("{\"alg\":\"ES256\"}", "{}", EVP_sha256(), ec256_other, 32),
	       CRIER_EAUTH_SIGNATURE);
	jwt_verifier_free(v);
}

/* The signature of one token on the header or payload of another. */
static void test_tampered(void **state)
{
	(void)state;
	struct jwt_verifier *hs = hs_verifier(NULL, NULL, 0);
	struct jwt_verifier *rs = pem_verifier(rsa_pem, NULL);
	struct jwt_verifier *es = pem_verifier(ec256_pem, NULL);
	struct {
		struct jwt_verifier *v;
		char *token;
	} cases[] = {
	        {hs, hs256("{\"crier\":{\"subscribe\":[\"news\"]}}")},
	        {rs, token_pkey("{\"alg\":\"RS256\"}", "{\"crier\":{\"subscribe\":[\"news\"]}}",
	                        EVP_sha256(), rsa, 0)},
	        {es, token_pkey("{\"alg\":\"ES256\"}", "{\"crier\":{\"subscribe\":[\"news\"]}}",
	                        EVP_sha256(), ec256, 32)},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = cases[i].token;
		char *dot1 = strchr(t, '.');
		char *dot2 = strrchr(t, '.');
		/* Another payload under the same header and signature. */
		const char *all = "{\"crier\":{\"subscribe\":[\"*\"]}}";
		char *p = b64url(all, strlen(all));
		expect(cases[i].v, fmt("%.*s.%s%s", (int)(dot1 - t), t, p, dot2),
		       CRIER_EAUTH_SIGNATURE);
		free(p);
		/* Another header (kid added) under the same payload and signature. */
		char *hdr = fmt("{\"alg\":\"%s\",\"kid\":\"k\"}", jwt_verifier_alg(cases[i].v));
		char *h = b64url(hdr, strlen(hdr));
		expect(cases[i].v, fmt("%s%s", h, dot1), CRIER_EAUTH_SIGNATURE);
		free(h);
		free(hdr);
		/* A signature cut short (its new last character 'A', so that no
		 * unused bit is set), and none. */
		char *cut = fmt("%.*s", (int)(strlen(t) - 4), t);
		cut[strlen(cut) - 1] = 'A';
		expect(cases[i].v, cut, CRIER_EAUTH_SIGNATURE);
		expect(cases[i].v, fmt("%.*s.", (int)(dot2 - t), t), CRIER_EAUTH_SIGNATURE);
		/* A signature with three bytes more. */
		expect(cases[i].v, fmt("%sAAAA", t), CRIER_EAUTH_SIGNATURE);
		expect(cases[i].v, t, 0);
	}
	jwt_verifier_free(hs);
	jwt_verifier_free(rs);
	jwt_verifier_free(es);
}

static void test_alg_none(void **state)
{
	(void)state;
	struct jwt_verifier *vs[] = {hs_verifier(NULL, NULL, 0), pem_verifier(rsa_pem, NULL),
	                             pem_verifier(ec256_pem, NULL)};
	static const char *const hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",
	                                   "{\"alg\":\"NONE\"}", "{\"alg\":\"\"}"};
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 4; j++) {
			char *in = signing_input(hdrs[j], "{\"crier\":{\"publish\":[\"*\"]}}");
			expect(vs[i], fmt("%s.", in), CRIER_EAUTH_ALG);
			free(in);
		}
		jwt_verifier_free(vs[i]);
	}
}

/* The key-confusion attack: the RSA public key, which is public, used as
 * the HMAC secret of an HS256 token. Refused before any HMAC is computed. */
static void test_alg_confusion(void **state)
{
	(void)state;
	struct jwt_verifier *v = pem_verifier(rsa_pem, "RS256");
	expect(v,
	       token_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	                  "{\"crier\":{\"publish\":[\"*\"]}}", EVP_sha256(), rsa_pem,
	                  strlen(rsa_pem)),
	       CRIER_EAUTH_ALG);
	jwt_verifier_free(v);
	v = pem_verifier(ec256_pem, NULL);
	expect(v,
	       token_hmac("{\"alg\":\"HS256\"}", "{}", EVP_sha256(), ec256_pem, strlen(ec256_pem)),
	       CRIER_EAUTH_ALG);
	jwt_verifier_free(v);
}

static void test_alg_mismatch(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	const EVP_MD *md = EVP_sha256();
	/* Valid HS512 signature with the same key: still the wrong algorithm. */
	expect(v, token_hmac("{\"alg\":\"HS512\"}", "{}", EVP_sha512(), hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_ALG);
	expect(v, token_hmac("{\"alg\":\"hs256\"}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_ALG);
	expect(v, token_hmac("{\"alg\":\"HS256 \"}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_ALG);
	expect(v, token_hmac("{\"alg\":\"RS256\"}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_ALG);
	expect(v, token_hmac("{\"typ\":\"JWT\"}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_MALFORMED);
	expect(v, token_hmac("{\"alg\":256}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_MALFORMED);
	expect(v, token_hmac("{\"alg\":[\"HS256\"]}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_MALFORMED);
	/* jansson refuses an escaped NUL, so "HS256\0x" cannot pass as HS256. */
	expect(v, token_hmac("{\"alg\":\"HS256\\u0000x\"}", "{}", md, hmac_key, HS256_KEY_LEN),
	       CRIER_EAUTH_MALFORMED);
	/* RFC 7515 §4.1.11: crit names extensions crier does not implement. */
	expect(v,
	       token_hmac("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", "{}", md, hmac_key,
	                  HS256_KEY_LEN),
	       CRIER_EAUTH_MALFORMED);
	/* Header fields that would name a key are ignored, never followed. */
	expect(v,
	       token_hmac("{\"alg\":\"HS256\",\"kid\":\"k1\",\"jku\":\"http://x/\"}", "{}", md,
	                  hmac_key, HS256_KEY_LEN),
	       0);
	jwt_verifier_free(v);

	v = pem_verifier(rsa_pem, "RS256");
	expect(v, token_pkey("{\"alg\":\"RS512\"}", "{}", EVP_sha512(), rsa, 0), CRIER_EAUTH_ALG);
	jwt_verifier_free(v);
	v = pem_verifier(rsa_pem, "RS384");
	expect(v, token_pkey("{\"alg\":\"RS256\"}", "{}", EVP_sha256(), rsa, 0), CRIER_EAUTH_ALG);
	jwt_verifier_free(v);
	v = pem_verifier(ec256_pem, NULL);
	expect(v, token_pkey("{\"alg\":\"RS256\"}", "{}", EVP_sha256(), rsa, 0), CRIER_EAUTH_ALG);
	jwt_verifier_free(v);
}

/* ---- shape and encoding ------------------------------------------------ */

/* Replaces the last character of a base64url text of 4k+2 or 4k+3
 * characters with one whose unused low bits are not zero. */
static void set_unused_bit(char *s, size_t len)
{
	static const char abc[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	assert_true(len % 4 == 2 || len % 4 == 3);
	size_t v = (size_t)(strchr(abc, s[len - 1]) - abc);
	assert_int_equal(v & 1, 0);
	s[len - 1] = abc[v + 1];
}

static void test_malformed(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	struct jwt_claims c;
	assert_int_equal(jwt_verify(v, NULL, 0, NOW, &c), CRIER_EAUTH_MISSING);
	assert_true(claims_zero(&c));
	assert_int_equal(jwt_verify(v, "x", 0, NOW, &c), CRIER_EAUTH_MISSING);

	static const char *const literal[] = {
	        "abc",
	        "a.b",
	        "a.b.c.d",
	        "..",
	        "...",
	        ".",
	        "eyJhbGciOiJIUzI1NiJ9",
	        "eyJhbGciOiJIUzI1NiJ9.e30",
	        "eyJhbGciOiJIUzI1NiJ9.e30.sig.x",
	        "eyJhbGciOiJI zI1NiJ9.e30.AAAA",                     /* space */
	        "eyJhbGciOiJIUzI1NiIsIngiOiJ+fn4ifQ.e30.AAAA",       /* standard alphabet */
	        "eyJhbGciOiJIUzI1NiIsIngiOiI/Pz8ifQ.e30.AAAA",       /* same */
	        "eyJhbGciOiJIUzI1NiIsICJ0eXAiOiJKV1QifQ==.e30.AAAA", /* padding */
	        "eyJhbGciOiJIUzI1NiJ9A.e30.AAAA",                    /* 4k+1 characters */
	        ".e30.AAAA",                                         /* empty header */
	        "bm90IGpzb24.e30.AAAA",                              /* "not json" */
	        "WyJIUzI1NiJd.e30.AAAA",                             /* ["HS256"] */
	        "IkhTMjU2Ig.e30.AAAA",                               /* "HS256" */
	        "eyJhbGciOiJIUzI1NiIsImFsZyI6IkhTMjU2In0.e30.AAAA",  /* alg twice */
	        "eyJhbGciOiJIUzI1NiJ9.e30.AA$A",                     /* bad signature character */
	        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA=",                    /* padded signature */
	};
	for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++)
		expect(v, strdup(literal[i]), CRIER_EAUTH_MALFORMED);

	/* The same headers in base64url, signed: accepted. */
	const EVP_MD *md = EVP_sha256();
	expect(v,
	       hmac_sign_input(strdup("eyJhbGciOiJIUzI1NiIsIngiOiJ-fn4ifQ.e30"), md, hmac_key, 32),
	       0);
	expect(v,
	       hmac_sign_input(strdup("eyJhbGciOiJIUzI1NiIsIngiOiI_Pz8ifQ.e30"), md, hmac_key, 32),
	       0);
	expect(v,
	       hmac_sign_input(strdup("eyJhbGciOiJIUzI1NiIsICJ0eXAiOiJKV1QifQ.e30"), md, hmac_key,
	                       32),
	       0);

	/* Payload problems behind a valid signature. */
	const char *hdr_b64 = "eyJhbGciOiJIUzI1NiJ9"; /* {"alg":"HS256"} */
	expect(v, hmac_sign_input(fmt("%s.", hdr_b64), md, hmac_key, 32), CRIER_EAUTH_MALFORMED);
	expect(v, hmac_sign_input(fmt("%s.e30=", hdr_b64), md, hmac_key, 32),
	       CRIER_EAUTH_MALFORMED);
	expect(v, hmac_sign_input(fmt("%s.e30", hdr_b64), md, hmac_key, 32), 0); /* {} */
	expect(v, hs256("[1]"), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("\"claims\""), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("{\"exp\":1} trailing"), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("{"), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("{\"sub\":\"a\",\"sub\":\"b\"}"), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("{\"exp\":1,\"exp\":99999999999}"), CRIER_EAUTH_MALFORMED);
	expect(v, hs256("{\"sub\":\"\\ud800\"}"), CRIER_EAUTH_MALFORMED); /* lone surrogate */
	expect(v, hs256("{\"sub\":42}"), CRIER_EAUTH_MALFORMED);

	/* Non-zero unused bits: the same bytes, a second spelling. */
	const char *hdr = "{\"alg\":\"HS256\", \"typ\":\"JWT\"}"; /* 28 bytes */
	char *h = b64url(hdr, strlen(hdr));
	set_unused_bit(h, strlen(h));
	expect(v, hmac_sign_input(fmt("%s.e30", h), md, hmac_key, 32), CRIER_EAUTH_MALFORMED);
	free(h);
	char *p = b64url("{\"a\":1}", 7);
	set_unused_bit(p, strlen(p));
	expect(v, hmac_sign_input(fmt("%s.%s", hdr_b64, p), md, hmac_key, 32),
	       CRIER_EAUTH_MALFORMED);
	free(p);
	char *t = hs256("{}");
	char *sig = strrchr(t, '.') + 1;
	set_unused_bit(sig, strlen(sig)); /* a 32-byte HMAC is 43 characters */
	expect(v, t, CRIER_EAUTH_MALFORMED);
	jwt_verifier_free(v);
}

/* The longest token that fits JWT_TOKEN_MAX verifies; one more payload
 * byte is refused before anything is decoded. */
static void test_size_limit(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	char *fill = malloc(JWT_TOKEN_MAX);
	assert_non_null(fill);
	char *best = NULL;
	size_t pad = 0;
	for (size_t k = JWT_TOKEN_MAX / 2; k < JWT_TOKEN_MAX; k++) {
		memset(fill, 'x', k);
		fill[k] = '\0';
		char *payload = fmt("{\"pad\":\"%s\"}", fill);
		char *tok = hs256(payload);
		free(payload);
		if (strlen(tok) > JWT_TOKEN_MAX) {
			free(tok);
			break;
		}
		free(best);
		best = tok;
		pad = k;
	}
	assert_non_null(best);
	assert_true(strlen(best) > JWT_TOKEN_MAX - 4);
	expect(v, best, 0);
	memset(fill, 'x', pad + 1);
	fill[pad + 1] = '\0';
	char *payload = fmt("{\"pad\":\"%s\"}", fill);
	char *big = hs256(payload);
	assert_true(strlen(big) > JWT_TOKEN_MAX);
	expect(v, big, CRIER_EAUTH_MALFORMED);
	free(payload);

	/* A huge input is refused by length alone. */
	size_t huge = 1u << 20;
	char *h = malloc(huge + 1);
	assert_non_null(h);
	memset(h, 'A', huge);
	h[100] = '.';
	h[200] = '.';
	h[huge] = '\0';
	expect(v, h, CRIER_EAUTH_MALFORMED);
	free(fill);
	jwt_verifier_free(v);
}

/* ---- the crier claim --------------------------------------------------- */

static void test_crier_claim(void **state)
{
	(void)state;
	struct jwt_verifier *v = hs_verifier(NULL, NULL, 0);
	struct jwt_claims c;

	/* No crier claim: a valid token that grants nothing. */
	char *t = hs256("{\"sub\":\"nobody\"}");
	assert_int_equal(jwt_verify(v, t, strlen(t), NOW, &c), 0);
	assert_false(perm_allows(&c.subscribe, "news", 4));
	assert_false(perm_allows(&c.publish, "news", 4));
	jwt_claims_free(&c);
	free(t);

	/* One list only. */
	t = hs256("{\"crier\":{\"subscribe\":[\"*\"]}}");
	assert_int_equal(jwt_verify(v, t, strlen(t), NOW, &c), 0);
	assert_true(c.subscribe.all);
	assert_false(perm_allows(&c.publish, "news", 4));
	assert_null(c.sub);
	jwt_claims_free(&c);
	free(t);

	expect_hs(v, 0, "{\"crier\":{}}");
	expect_hs(v, 0, "{\"crier\":{\"subscribe\":[],\"publish\":[]}}");
	expect_hs(v, 0, "{\"crier\":{\"presence\":true,\"subscribe\":[\"a\"]}}"); /* ignored */
	expect_hs(v, 0, "{\"sub\":\"\"}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":[]}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":\"all\"}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":null}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":{\"subscribe\":\"news\"}}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":{\"subscribe\":null}}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":{\"publish\":[\"a*b\"]}}");
	expect_hs(v, CRIER_EAUTH_MALFORMED, "{\"crier\":{\"publish\":[\"bad channel\"]}}");
	/* A good first list and a bad second one: nothing is kept. */
	expect_hs(v, CRIER_EAUTH_MALFORMED,
	          "{\"sub\":\"u\",\"crier\":{\"subscribe\":[\"ok\",\"ok2*\"],\"publish\":[1]}}");
	jwt_verifier_free(v);
}

/* ---- configuration ----------------------------------------------------- */

/* Expects jwt_verifier_new to refuse cfg with a sentence containing word. */
static void expect_config_error(const struct jwt_verifier_config *cfg, const char *word)
{
	struct jwt_verifier *v = (struct jwt_verifier *)1;
	char why[256];
	assert_int_equal(jwt_verifier_new(cfg, &v, why, sizeof(why)), CRIER_EINVAL);
	assert_null(v);
	if (!strstr(why, word))
		fail_msg("\"%s\" does not mention \"%s\"", why, word);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_config_errors(void **state)
{
	(void)state;
	EVP_PKEY *rsa1024 = EVP_RSA_gen(1024);
	EVP_PKEY *k1 = EVP_EC_gen("secp256k1");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(rsa1024);
	assert_non_null(k1);
	assert_non_null(ed);
	char *rsa1024_pem = pem_of(rsa1024, false);
	char *k1_pem = pem_of(k1, false);
	char *ed_pem = pem_of(ed, false);
	char *private_pem = pem_of(rsa, true);
#define PEM(s) .public_key_pem = (s), .pem_len = strlen(s)
#define KEY(n) .hmac_key = hmac_key, .hmac_key_len = (n)

	expect_config_error(&(struct jwt_verifier_config){0}, "needs a key");
	expect_config_error(&(struct jwt_verifier_config){.hmac_key = hmac_key}, "needs a key");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), PEM(rsa_pem)}, "both");
	expect_config_error(&(struct jwt_verifier_config){PEM("hello")}, "PEM");
	expect_config_error(&(struct jwt_verifier_config){PEM(private_pem)}, "PEM");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), .alg = "XX256"}, "unknown");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), .alg = "hs256"}, "unknown");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), .alg = "none"}, "unknown");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), .alg = "RS256"},
	                    "--jwt-public-key");
	expect_config_error(&(struct jwt_verifier_config){PEM(rsa_pem), .alg = "HS256"},
	                    "--jwt-key");
	expect_config_error(&(struct jwt_verifier_config){PEM(rsa_pem), .alg = "ES256"}, "RSA");
	expect_config_error(&(struct jwt_verifier_config){PEM(ec256_pem), .alg = "RS256"}, "ES256");
	expect_config_error(&(struct jwt_verifier_config){PEM(ec384_pem), .alg = "ES256"}, "ES384");
	expect_config_error(&(struct jwt_verifier_config){KEY(31)}, "32");
	expect_config_error(&(struct jwt_verifier_config){KEY(31), .alg = "HS256"}, "32");
	expect_config_error(&(struct jwt_verifier_config){KEY(47), .alg = "HS384"}, "48");
	expect_config_error(&(struct jwt_verifier_config){KEY(32), .alg = "HS512"}, "64");
	expect_config_error(&(struct jwt_verifier_config){PEM(rsa1024_pem)}, "2048");
	expect_config_error(&(struct jwt_verifier_config){PEM(k1_pem)}, "curve");
	expect_config_error(&(struct jwt_verifier_config){PEM(ed_pem)}, "neither");

	/* why may be absent. */
	struct jwt_verifier *v = NULL;
	assert_int_equal(jwt_verifier_new(&(struct jwt_verifier_config){0}, &v, NULL, 0),
	                 CRIER_EINVAL);

	/* Algorithms chosen from the key. */
	static const struct {
		char **pem;
		const char *alg;
	} defaults[] = {{&rsa_pem, "RS256"},
	                {&ec256_pem, "ES256"},
	                {&ec384_pem, "ES384"},
	                {&ec521_pem, "ES512"}};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		v = pem_verifier(*defaults[i].pem, NULL);
		assert_string_equal(jwt_verifier_alg(v), defaults[i].alg);
		jwt_verifier_free(v);
	}
	v = new_verifier(&(struct jwt_verifier_config){KEY(32)});
	assert_string_equal(jwt_verifier_alg(v), "HS256");
	jwt_verifier_free(v);
	v = new_verifier(&(struct jwt_verifier_config){KEY(64), .alg = "HS512"});
	assert_string_equal(jwt_verifier_alg(v), "HS512");
	jwt_verifier_free(v);
	jwt_verifier_free(NULL);
#undef PEM
#undef KEY
	free(rsa1024_pem);
	free(k1_pem);
	free(ed_pem);
	free(private_pem);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(ed);
}

/* A refused signature must not leave entries in OpenSSL's per-thread
 * error queue, where a TLS connection on the same thread would find them. */
static void test_error_queue_clean(void **state)
{
	(void)state;
	ERR_clear_error();
	struct jwt_verifier *v = pem_verifier(rsa_pem, NULL);
	expect(v, token_pkey("{\"alg\":\"RS256\"}", "{}", EVP_sha256(), rsa_other, 0),
	       CRIER_EAUTH_SIGNATURE);
	assert_int_equal(ERR_peek_error(), 0);
	jwt_verifier_free(v);
	v = pem_verifier(ec256_pem, NULL);
	char zero_sig[64] = {0}; /* r = s = 0: invalid for ECDSA */
	char *in = signing_input("{\"alg\":\"ES256\"}", "{}");
	expect(v, append_sig(in, zero_sig, sizeof(zero_sig)), CRIER_EAUTH_SIGNATURE);
	assert_int_equal(ERR_peek_error(), 0);
	jwt_verifier_free(v);
}

/* ---- threads ----------------------------------------------------------- */

struct thread_arg {
	const struct jwt_verifier *v[3];
	const char *tok[3];
	int failures;
};

static void *verify_loop(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 100; i++) {
		for (int k = 0; k < 3; k++) {
			struct jwt_claims c;
			if (jwt_verify(a->v[k], a->tok[k], strlen(a->tok[k]), NOW, &c) != 0 ||
			    !perm_allows(&c.subscribe, "news", 4))
				a->failures++;
			jwt_claims_free(&c);
		}
	}
	return NULL;
}

/* One verifier of each kind shared by several threads at once. */
static void test_threads(void **state)
{
	(void)state;
	const char *payload = "{\"exp\":1700000060,\"crier\":{\"subscribe\":[\"news\"]}}";
	char *tok[3] = {hs256(payload),
	                token_pkey("{\"alg\":\"RS256\"}", payload, EVP_sha256(), rsa, 0),
	                token_pkey("{\"alg\":\"ES256\"}", payload, EVP_sha256(), ec256, 32)};
	struct jwt_verifier *v[3] = {hs_verifier(NULL, NULL, 0), pem_verifier(rsa_pem, NULL),
	                             pem_verifier(ec256_pem, NULL)};
	pthread_t th[4];
	struct thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){.v = {v[0], v[1], v[2]},
		                              .tok = {tok[0], tok[1], tok[2]}};
		assert_int_equal(pthread_create(&th[i], NULL, verify_loop, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	for (int k = 0; k < 3; k++) {
		free(tok[k]);
		jwt_verifier_free(v[k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hs256_valid),   cmocka_unit_test(test_rs256_valid),
	        cmocka_unit_test(test_es256_valid),   cmocka_unit_test(test_all_algorithms),
	        cmocka_unit_test(test_expiry),        cmocka_unit_test(test_not_before),
	        cmocka_unit_test(test_issuer),        cmocka_unit_test(test_audience),
	        cmocka_unit_test(test_wrong_key),     cmocka_unit_test(test_tampered),
	        cmocka_unit_test(test_alg_none),      cmocka_unit_test(test_alg_confusion),
	        cmocka_unit_test(test_alg_mismatch),  cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_size_limit),    cmocka_unit_test(test_crier_claim),
	        cmocka_unit_test(test_config_errors), cmocka_unit_test(test_error_queue_clean),
	        cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
