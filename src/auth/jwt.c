/*
 * jwt.c - compact JWS verification (RFC 7515, RFC 7518) and the JWT
 * claims crier acts on (RFC 7519 §4.1).
 *
 * Owns the token from its first byte to the claims struct: splitting,
 * base64url, the header, the signature and the claims. It never fetches a
 * key (no "jku", "x5u" or "kid" lookup), never reads a key or algorithm
 * from the token, and never logs the token.
 *
 * The accepted algorithm is fixed by the verifier. The header is decoded
 * and parsed first only to compare its "alg" with that algorithm, byte for
 * byte; anything else ("none", "hs256", HS256 against an RSA verifier, the
 * classic key-confusion attack where the public PEM is used as an HMAC
 * secret) is refused before a signature is computed, and the payload is
 * not parsed until the signature has verified.
 *
 * Signatures are verified with OpenSSL directly, not with libjwt, though
 * the design notes name it: libjwt 1.10's jwt_decode takes the algorithm
 * from the token, so the check above would be needed anyway, and then
 * libjwt would decode and parse the token a second time, re-read the PEM
 * key on every call, and compare HMACs as base64 text rather than in
 * constant time. Here the key is parsed once into an EVP_PKEY (OpenSSL
 * allows concurrent read-only use of one from many threads), HMACs are
 * compared with CRYPTO_memcmp, and ES* signatures, which JWS carries as
 * raw r || s (RFC 7518 §3.4), are converted to the DER form OpenSSL
 * verifies. The whole decoder then needs only OpenSSL and jansson, which
 * every fuzz target already links.
 *
 * Encoding is strict so that every token has one accepted spelling:
 * base64url without padding and with zero unused bits, JSON without
 * duplicate members (two "exp" claims must not mean one thing here and
 * another to the issuer's tooling), and a "crit" header, naming
 * extensions crier does not implement, is refused (RFC 7515 §4.1.11).
 *
 * Failures leave OpenSSL's per-thread error queue as they found it: a
 * stale entry there would confuse SSL_get_error on a TLS connection that
 * the same worker thread serves next.
 */
#include "auth/jwt.h"

#include "core/base64.h"
#include "core/err.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

enum alg_kind { KIND_HMAC, KIND_RSA, KIND_EC };

/* One JWS algorithm (RFC 7518 §3.1). */
struct alg_info {
	const char *name; /* as it appears in the "alg" header */
	enum alg_kind kind;
	const EVP_MD *(*md)(void);
	size_t size_bytes; /* HMAC: least key length (§3.2); EC: size of r and of s (§3.4) */
	int ec_nid;        /* EC: the curve the algorithm is defined on */
};

static const struct alg_info algs[] = {
        {"HS256", KIND_HMAC, EVP_sha256, 32, 0},
        {"HS384", KIND_HMAC, EVP_sha384, 48, 0},
        {"HS512", KIND_HMAC, EVP_sha512, 64, 0},
        {"RS256", KIND_RSA, EVP_sha256, 0, 0},
        {"RS384", KIND_RSA, EVP_sha384, 0, 0},
        {"RS512", KIND_RSA, EVP_sha512, 0, 0},
        {"ES256", KIND_EC, EVP_sha256, 32, NID_X9_62_prime256v1},
        {"ES384", KIND_EC, EVP_sha384, 48, NID_secp384r1},
        {"ES512", KIND_EC, EVP_sha512, 66, NID_secp521r1},
};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

/* RSA keys below this are refused at start-up (NIST SP 800-131A). */
#define RSA_MIN_BITS 2048

/* Room for a DER ECDSA signature on P-521: SEQUENCE of two INTEGERs of
 * up to 66 bytes plus a sign byte each, with their headers. */
#define ECDSA_DER_MAX 160
static_assert(ECDSA_DER_MAX >= 3 + 2 * (2 + 1 + 66), "ECDSA_DER_MAX too small for P-521");

struct jwt_verifier {
	const struct alg_info *alg; /* the one accepted algorithm */
	unsigned char *hmac_key;    /* owned; HS* only */
	size_t hmac_key_len;        /* bytes in hmac_key */
	EVP_PKEY *pkey;             /* owned; RS* and ES* only; only read after creation */
	char *issuer;               /* owned; NULL when not checked */
	char *audience;             /* owned; NULL when not checked */
	uint32_t leeway_s;          /* clock skew allowed on exp and nbf */
};

/* ---- configuration ---------------------------------------------------- */

/* Writes the operator's sentence into why and returns CRIER_EINVAL. */
static int explain(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int explain(char *why, size_t why_len, const char *fmt, ...)
{
	if (why && why_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return CRIER_EINVAL;
}

static const struct alg_info *alg_by_name(const char *name)
{
	for (size_t i = 0; i < N_ALGS; i++) {
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	}
	return NULL;
}

static int setup_hmac(struct jwt_verifier *v, const struct jwt_verifier_config *cfg,
                      const struct alg_info *alg, char *why, size_t why_len)
{
	if (!alg)
		alg = alg_by_name("HS256");
	if (alg->kind != KIND_HMAC)
		return explain(why, why_len,
		               "--jwt-alg %s verifies with a public key: give --jwt-public-key, "
		               "not --jwt-key",
		               alg->name);
	if (cfg->hmac_key_len < alg->size_bytes)
		return explain(why, why_len,
		               "the JWT HMAC key (--jwt-key) is %zu bytes; %s needs at least %zu "
		               "(RFC 7518, section 3.2)",
		               cfg->hmac_key_len, alg->name, alg->size_bytes);
	if (cfg->hmac_key_len > INT_MAX)
		return explain(why, why_len, "the JWT HMAC key (--jwt-key) is too long");
	v->hmac_key = malloc(cfg->hmac_key_len);
	if (!v->hmac_key)
		return CRIER_ENOMEM;
	memcpy(v->hmac_key, cfg->hmac_key, cfg->hmac_key_len);
	v->hmac_key_len = cfg->hmac_key_len;
	v->alg = alg;
	return 0;
}

static int setup_rsa(struct jwt_verifier *v, const struct alg_info *alg, char *why, size_t why_len)
{
	int bits = EVP_PKEY_get_bits(v->pkey);
	if (bits < RSA_MIN_BITS)
		return explain(
		        why, why_len,
		        "the JWT public key is a %d-bit RSA key; at least %d bits are required",
		        bits, RSA_MIN_BITS);
	if (!alg)
		alg = alg_by_name("RS256");
	if (alg->kind != KIND_RSA)
		return explain(
		        why, why_len,
		        "--jwt-alg %s does not fit an RSA public key (use RS256, RS384 or RS512)",
		        alg->name);
	v->alg = alg;
	return 0;
}

/* An EC key names its algorithm: each ES* is defined on one curve. */
static int setup_ec(struct jwt_verifier *v, const struct alg_info *alg, char *why, size_t why_len)
{
	char curve[64] = "";
	size_t curve_len = 0;
	if (EVP_PKEY_get_group_name(v->pkey, curve, sizeof(curve), &curve_len) != 1)
		return explain(why, why_len,
		               "the JWT public key is an EC key without a named curve");
	int nid = OBJ_sn2nid(curve);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(curve);
	const struct alg_info *fit = NULL;
	for (size_t i = 0; i < N_ALGS; i++) {
		if (algs[i].kind == KIND_EC && algs[i].ec_nid == nid)
			fit = &algs[i];
	}
	if (!fit)
		return explain(why, why_len,
		               "the JWT public key is on curve %s; ES256, ES384 and ES512 need "
		               "P-256, P-384 and P-521",
		               curve);
	if (alg && alg != fit)
		return explain(why, why_len,
		               "--jwt-alg %s does not fit the JWT public key (curve %s needs %s)",
		               alg->name, curve, fit->name);
	v->alg = fit;
	return 0;
}

/* OpenSSL prompts on the terminal for a pass phrase when given no
 * callback; a public key has none, and a server must never prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0;
}

static int setup_pkey(struct jwt_verifier *v, const struct jwt_verifier_config *cfg,
                      const struct alg_info *alg, char *why, size_t why_len)
{
	if (alg && alg->kind == KIND_HMAC)
		return explain(why, why_len,
		               "--jwt-alg %s needs a shared secret (--jwt-key), not a public key",
		               alg->name);
	if (cfg->pem_len > INT_MAX)
		return explain(why, why_len, "the JWT public key file is too large");
	BIO *bio = BIO_new_mem_buf(cfg->public_key_pem, (int)cfg->pem_len);
	if (!bio)
		return CRIER_ENOMEM;
	v->pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!v->pkey)
		return explain(why, why_len,
		               "the JWT public key file holds no PEM public key "
		               "(-----BEGIN PUBLIC KEY-----)");
	switch (EVP_PKEY_get_base_id(v->pkey)) {
	case EVP_PKEY_RSA:
		return setup_rsa(v, alg, why, why_len);
	case EVP_PKEY_EC:
		return setup_ec(v, alg, why, why_len);
	default:
		return explain(why, why_len, "the JWT public key is neither an RSA nor an EC key");
	}
}

/* Copies an optional string; NULL and "" both mean "not checked". */
static int copy_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src || !*src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : CRIER_ENOMEM;
}

int jwt_verifier_new(const struct jwt_verifier_config *cfg, struct jwt_verifier **out, char *why,
                     size_t why_len)
{
	*out = NULL;
	if (why && why_len > 0)
		why[0] = '\0';
	bool has_hmac = cfg->hmac_key && cfg->hmac_key_len > 0;
	bool has_pem = cfg->public_key_pem && cfg->pem_len > 0;
	if (!has_hmac && !has_pem)
		return explain(why, why_len,
		               "JWT authentication needs a key: --jwt-key (HS256/384/512) or "
		               "--jwt-public-key (RS256/384/512, ES256/384/512)");
	if (has_hmac && has_pem)
		return explain(why, why_len,
		               "--jwt-key and --jwt-public-key are both set; give only one");
	const struct alg_info *alg = NULL;
	if (cfg->alg && !(alg = alg_by_name(cfg->alg)))
		return explain(
		        why, why_len,
		        "unknown JWT algorithm \"%.16s\" (HS256, HS384, HS512, RS256, RS384, "
		        "RS512, ES256, ES384 or ES512)",
		        cfg->alg);

	struct jwt_verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return CRIER_ENOMEM;
	ERR_set_mark();
	int rc = has_hmac ? setup_hmac(v, cfg, alg, why, why_len)
	                  : setup_pkey(v, cfg, alg, why, why_len);
	ERR_pop_to_mark();
	if (rc < 0)
		goto err;
	if ((rc = copy_opt(&v->issuer, cfg->issuer)) < 0 ||
	    (rc = copy_opt(&v->audience, cfg->audience)) < 0)
		goto err;
	v->leeway_s = cfg->leeway_s;
	*out = v;
	return 0;
err:
	jwt_verifier_free(v);
	return rc;
}

const char *jwt_verifier_alg(const struct jwt_verifier *v)
{
	return v->alg->name;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
	if (!v)
		return;
	if (v->hmac_key)
		OPENSSL_clear_free(v->hmac_key, v->hmac_key_len);
	EVP_PKEY_free(v->pkey);
	free(v->issuer);
	free(v->audience);
	free(v);
}

/* ---- token shape ------------------------------------------------------ */

/* A token's three segments: header [0, dot1), payload (dot1, dot2),
 * signature (dot2, len). */
struct segments {
	size_t dot1, dot2;
};

static bool split(const char *t, size_t len, struct segments *s)
{
	const char *a = memchr(t, '.', len);
	if (!a)
		return false;
	s->dot1 = (size_t)(a - t);
	const char *b = memchr(a + 1, '.', len - s->dot1 - 1);
	if (!b)
		return false;
	s->dot2 = (size_t)(b - t);
	return memchr(b + 1, '.', len - s->dot2 - 1) == NULL;
}

/* Decodes a segment into buf and parses it as a JSON object into *out.
 * Returns 0, CRIER_EAUTH_MALFORMED or CRIER_ENOMEM. */
static int segment_json(const char *seg, size_t n, uint8_t *buf, json_t **out)
{
	*out = NULL;
	int64_t m = base64url_decode(seg, n, buf);
	if (m <= 0)
		return CRIER_EAUTH_MALFORMED;
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, (size_t)m, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return json_error_code(&jerr) == json_error_out_of_memory ? CRIER_ENOMEM
		                                                          : CRIER_EAUTH_MALFORMED;
	if (!json_is_object(j)) {
		json_decref(j);
		return CRIER_EAUTH_MALFORMED;
	}
	*out = j;
	return 0;
}

/* True when j is a string equal to s, byte for byte. */
static bool json_str_eq(const json_t *j, const char *s)
{
	return json_is_string(j) && json_string_length(j) == strlen(s) &&
	       memcmp(json_string_value(j), s, json_string_length(j)) == 0;
}

/* The JOSE header: "alg" must be the configured algorithm exactly. */
static int check_header(const struct jwt_verifier *v, const json_t *hdr)
{
	const json_t *alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg))
		return CRIER_EAUTH_MALFORMED;
	if (!json_str_eq(alg, v->alg->name))
		return CRIER_EAUTH_ALG;
	if (json_object_get(hdr, "crit"))
		return CRIER_EAUTH_MALFORMED;
	return 0;
}

/* ---- signatures ------------------------------------------------------- */

static int verify_hmac(const struct jwt_verifier *v, const uint8_t *in, size_t in_len,
                       const uint8_t *sig, size_t sig_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(v->alg->md(), v->hmac_key, (int)v->hmac_key_len, in, in_len, mac, &mac_len))
		return CRIER_ENOMEM;
	bool ok = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? 0 : CRIER_EAUTH_SIGNATURE;
}

/* JWS carries an ECDSA signature as r || s, each left-padded to the
 * curve's size (RFC 7518 §3.4); OpenSSL verifies the DER SEQUENCE of two
 * INTEGERs (RFC 3279 §2.2.3). half is the size of r and of s. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t half, uint8_t *der, size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
	if (!es || !r || !s) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return CRIER_ENOMEM;
	}
	ECDSA_SIG_set0(es, r, s); /* cannot fail with both set; es owns them now */
	int n = i2d_ECDSA_SIG(es, NULL);
	int rc = CRIER_ENOMEM;
	if (n > 0 && (size_t)n <= ECDSA_DER_MAX) {
		uint8_t *p = der;
		i2d_ECDSA_SIG(es, &p);
		*der_len = (size_t)n;
		rc = 0;
	}
	ECDSA_SIG_free(es);
	return rc;
}

/* RS* (PKCS #1 v1.5, RFC 7518 §3.3) and ES*. Only the canonical length is
 * accepted: the modulus size for RSA, twice the curve size for ECDSA. */
static int verify_pkey(const struct jwt_verifier *v, const uint8_t *in, size_t in_len,
                       const uint8_t *sig, size_t sig_len)
{
	uint8_t der[ECDSA_DER_MAX];
	if (v->alg->kind == KIND_EC) {
		if (sig_len != 2 * v->alg->size_bytes)
			return CRIER_EAUTH_SIGNATURE;
		int rc = ecdsa_raw_to_der(sig, v->alg->size_bytes, der, &sig_len);
		if (rc < 0)
			return rc;
		sig = der;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(v->pkey)) {
		return CRIER_EAUTH_SIGNATURE;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return CRIER_ENOMEM;
	bool ok = EVP_DigestVerifyInit(ctx, NULL, v->alg->md(), NULL, v->pkey) == 1 &&
	          EVP_DigestVerify(ctx, sig, sig_len, in, in_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : CRIER_EAUTH_SIGNATURE;
}

/* Verifies the signature segment over the signing input, the token's
 * bytes up to the second dot (RFC 7515 §5.2 step 8). buf is scratch. */
static int check_signature(const struct jwt_verifier *v, const char *token, size_t len,
                           const struct segments *s, uint8_t *buf)
{
	int64_t sig_len = base64url_decode(token + s->dot2 + 1, len - s->dot2 - 1, buf);
	if (sig_len < 0)
		return CRIER_EAUTH_MALFORMED;
	const uint8_t *in = (const uint8_t *)token;
	ERR_set_mark();
	int rc = v->alg->kind == KIND_HMAC ? verify_hmac(v, in, s->dot2, buf, (size_t)sig_len)
	                                   : verify_pkey(v, in, s->dot2, buf, (size_t)sig_len);
	ERR_pop_to_mark();
	return rc;
}

/* ---- claims ----------------------------------------------------------- */

/* Reads a NumericDate (RFC 7519 §2: seconds, possibly fractional) into
 * *out, 0 when absent. A fraction is rounded toward the stricter side (exp
 * down, nbf up); values beyond int64 saturate. */
static int read_time(const json_t *claims, const char *name, bool round_up, int64_t *out)
{
	const json_t *j = json_object_get(claims, name);
	*out = 0;
	if (!j)
		return 0;
	if (json_is_integer(j)) {
		*out = (int64_t)json_integer_value(j);
		return 0;
	}
	if (!json_is_real(j))
		return CRIER_EAUTH_MALFORMED;
	double d = json_real_value(j);
	if (d != d) /* jansson never produces NaN; stay safe if it did */
		return CRIER_EAUTH_MALFORMED;
	if (d >= 9.2e18) {
		*out = INT64_MAX;
	} else if (d <= -9.2e18) {
		*out = INT64_MIN;
	} else {
		int64_t t = (int64_t)d; /* toward zero */
		if (round_up && (double)t < d)
			t++;
		else if (!round_up && (double)t > d)
			t--;
		*out = t;
	}
	return 0;
}

static int64_t add_sat(int64_t a, uint32_t b)
{
	return a > INT64_MAX - (int64_t)b ? INT64_MAX : a + (int64_t)b;
}

static int check_times(const struct jwt_verifier *v, const json_t *claims, int64_t now_s,
                       struct jwt_claims *out)
{
	int rc = read_time(claims, "exp", false, &out->exp);
	if (rc == 0)
		rc = read_time(claims, "nbf", true, &out->nbf);
	if (rc < 0)
		return rc;
	if (json_object_get(claims, "exp") && now_s >= add_sat(out->exp, v->leeway_s))
		return CRIER_EAUTH_EXPIRED;
	if (json_object_get(claims, "nbf") && add_sat(now_s, v->leeway_s) < out->nbf)
		return CRIER_EAUTH_NOT_YET;
	return 0;
}

/* "iss" is a string when present, and equals the configured issuer. */
static int check_issuer(const struct jwt_verifier *v, const json_t *claims)
{
	const json_t *iss = json_object_get(claims, "iss");
	if (iss && !json_is_string(iss))
		return CRIER_EAUTH_MALFORMED;
	if (v->issuer && !(iss && json_str_eq(iss, v->issuer)))
		return CRIER_EAUTH_ISSUER;
	return 0;
}

/* "aud" is a string or an array of strings (RFC 7519 §4.1.3) and, when an
 * audience is configured, contains it. Types are checked either way, so
 * whether a token is well formed does not depend on the configuration. */
static int check_audience(const struct jwt_verifier *v, const json_t *claims)
{
	const json_t *aud = json_object_get(claims, "aud");
	bool found = false;
	if (json_is_array(aud)) {
		for (size_t i = 0; i < json_array_size(aud); i++) {
			const json_t *el = json_array_get(aud, i);
			if (!json_is_string(el))
				return CRIER_EAUTH_MALFORMED;
			found = found || (v->audience && json_str_eq(el, v->audience));
		}
	} else if (aud) {
		if (!json_is_string(aud))
			return CRIER_EAUTH_MALFORMED;
		found = v->audience && json_str_eq(aud, v->audience);
	}
	return !v->audience || found ? 0 : CRIER_EAUTH_AUDIENCE;
}

/* "crier": {"subscribe": [...], "publish": [...]}; an absent claim or
 * list grants nothing. Other members are ignored, for newer issuers. */
static int read_perms(const json_t *claims, struct jwt_claims *out)
{
	const json_t *crier = json_object_get(claims, "crier");
	if (!crier)
		return 0;
	if (!json_is_object(crier))
		return CRIER_EAUTH_MALFORMED;
	const json_t *sub = json_object_get(crier, "subscribe");
	const json_t *pub = json_object_get(crier, "publish");
	int rc = sub ? perm_set_from_json(&out->subscribe, sub) : 0;
	if (rc == 0 && pub)
		rc = perm_set_from_json(&out->publish, pub);
	return rc;
}

static int read_claims(const struct jwt_verifier *v, const json_t *claims, int64_t now_s,
                       struct jwt_claims *out)
{
	int rc = check_times(v, claims, now_s, out);
	if (rc == 0)
		rc = check_issuer(v, claims);
	if (rc == 0)
		rc = check_audience(v, claims);
	if (rc < 0)
		return rc;
	const json_t *sub = json_object_get(claims, "sub");
	if (sub) {
		if (!json_is_string(sub))
			return CRIER_EAUTH_MALFORMED;
		out->sub = strdup(json_string_value(sub));
		if (!out->sub)
			return CRIER_ENOMEM;
	}
	return read_perms(claims, out);
}

/* ---- the whole token -------------------------------------------------- */

int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now_s,
               struct jwt_claims *out)
{
	*out = (struct jwt_claims){0};
	if (!token || len == 0)
		return CRIER_EAUTH_MISSING;
	struct segments s;
	if (len > JWT_TOKEN_MAX || !split(token, len, &s))
		return CRIER_EAUTH_MALFORMED;
	/* Scratch for one decoded segment at a time; no segment is longer
	 * than the token. */
	uint8_t buf[JWT_TOKEN_MAX / 4 * 3 + 2];

	json_t *hdr;
	int rc = segment_json(token, s.dot1, buf, &hdr);
	if (rc < 0)
		return rc;
	rc = check_header(v, hdr);
	json_decref(hdr);
	if (rc == 0)
		rc = check_signature(v, token, len, &s, buf);
	if (rc < 0)
		return rc;

	json_t *claims;
	rc = segment_json(token + s.dot1 + 1, s.dot2 - s.dot1 - 1, buf, &claims);
	if (rc < 0)
		return rc;
	rc = read_claims(v, claims, now_s, out);
	json_decref(claims);
	if (rc < 0)
		jwt_claims_free(out);
	return rc;
}

void jwt_claims_free(struct jwt_claims *c)
{
	free(c->sub);
	perm_set_free(&c->subscribe);
	perm_set_free(&c->publish);
	*c = (struct jwt_claims){0};
}
