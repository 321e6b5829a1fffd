/* Unit tests for net/conn_tls.c: the context policy (versions, options,
 * ciphers, ALPN, ticket keys kept across a reload), the start-up errors
 * for unusable files, and the failure classes behind the metric labels.
 * Certificates are made here with the OpenSSL API; handshakes run between
 * two SSL objects over memory BIOs, no sockets. */
#include "net/conn_tls.h"
#include "net/metrics.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];
static char cert_a[128], key_a[128], key_b[128];

/* A self-signed P-256 certificate for localhost into cert (if not NULL) and
 * its key into key. */
static void make_cert(const char *cert, const char *key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	FILE *f = fopen(key, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	if (cert) {
		X509 *x = X509_new();
		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1001);
		X509_gmtime_adj(X509_getm_notBefore(x), 0);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		X509_set_pubkey(x, k);
		X509_NAME *n = X509_get_subject_name(x);
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		                           (const unsigned char *)"localhost", -1, -1, 0);
		X509_set_issuer_name(x, n);
		assert_true(X509_sign(x, k, EVP_sha256()) > 0);
		f = fopen(cert, "w");
		assert_non_null(f);
		assert_int_equal(PEM_write_X509(f, x), 1);
		fclose(f);
		X509_free(x);
	}
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/crier-tls-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cert_a, sizeof(cert_a), "%s/a.pem", tmpdir);
	snprintf(key_a, sizeof(key_a), "%s/a.key", tmpdir);
	snprintf(key_b, sizeof(key_b), "%s/b.key", tmpdir);
	make_cert(cert_a, key_a);
	make_cert(NULL, key_b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(cert_a);
	unlink(key_a);
	unlink(key_b);
	rmdir(tmpdir);
	return 0;
}

static void test_ctx_errors(void **state)
{
	(void)state;
	char err[512];
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing.pem", tmpdir);
	assert_null(conn_tls_ctx_new(missing, key_a, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "--tls-cert: cannot load"));
	assert_non_null(strstr(err, "missing.pem"));
	assert_null(conn_tls_ctx_new(cert_a, key_b, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match the certificate"));
	assert_null(conn_tls_ctx_new(cert_a, cert_a, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "--tls-key: cannot load"));
	assert_int_equal(ERR_peek_error(), 0); /* no error left for the next caller */
}

static void test_ctx_policy(void **state)
{
	(void)state;
	char err[512];
	SSL_CTX *ctx = conn_tls_ctx_new(cert_a, key_a, NULL, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	uint64_t want =
	        SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
	assert_true((SSL_CTX_get_options(ctx) & want) == want);
	assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
	assert_true(SSL_CTX_get_session_cache_mode(ctx) & SSL_SESS_CACHE_SERVER);
	assert_true(SSL_CTX_sess_get_cache_size(ctx) > 0);
	STACK_OF(SSL_CIPHER) *cs = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; i < sk_SSL_CIPHER_num(cs); i++) {
		const char *name = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(cs, i));
		assert_null(strstr(name, "RC4"));
		assert_null(strstr(name, "DES-CBC3"));
		assert_null(strstr(name, "NULL"));
		assert_null(strstr(name, "EXP"));
	}
	/* A reload's context keeps the ticket keys, so tickets still resume. */
	SSL_CTX *next = conn_tls_ctx_new(cert_a, key_a, ctx, err, sizeof(err));
	assert_non_null(next);
	unsigned char k1[80], k2[80];
	assert_int_equal(SSL_CTX_get_tlsext_ticket_keys(ctx, k1, sizeof(k1)), 1);
	assert_int_equal(SSL_CTX_get_tlsext_ticket_keys(next, k2, sizeof(k2)), 1);
	assert_memory_equal(k1, k2, sizeof(k1));
	SSL_CTX *fresh = conn_tls_ctx_new(cert_a, key_a, NULL, err, sizeof(err));
	assert_int_equal(SSL_CTX_get_tlsext_ticket_keys(fresh, k2, sizeof(k2)), 1);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	SSL_CTX_free(fresh);
	SSL_CTX_free(next);
	SSL_CTX_free(ctx);
}

/* Runs a handshake between a server on ctx and a client offering alpn
 * (wire format, or NULL), over memory BIOs. Returns 1 when both sides
 * finished, 0 when one failed; *selected gets the server's ALPN choice. */
static int handshake(SSL_CTX *ctx, const unsigned char *alpn, unsigned alpn_len, int max_version,
                     char *selected, size_t sel_len)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(cctx, max_version);
	if (max_version < TLS1_2_VERSION) {
		SSL_CTX_set_min_proto_version(cctx, max_version);
		SSL_CTX_set_security_level(cctx, 0);
	}
	SSL *cl = SSL_new(cctx), *sv = SSL_new(ctx);
	if (alpn)
		SSL_set_alpn_protos(cl, alpn, alpn_len);
	BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c2s, -1); /* empty means "wait", not EOF */
	BIO_set_mem_eof_return(s2c, -1);
	BIO_up_ref(c2s);
	BIO_up_ref(s2c);
	SSL_set_bio(cl, s2c, c2s);
	SSL_set_bio(sv, c2s, s2c);
	SSL_set_connect_state(cl);
	SSL_set_accept_state(sv);
	int ok = 0;
	for (int round = 0; round < 20; round++) {
		/* SSL_get_error right after each call: the other side's write
		 * clears the shared BIO's retry flags. */
		int rc = SSL_do_handshake(cl);
		int ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(cl, rc);
		int rs = SSL_do_handshake(sv);
		int es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(sv, rs);
		if (rc == 1 && rs == 1) {
			ok = 1;
			break;
		}
		if ((ec != SSL_ERROR_NONE && ec != SSL_ERROR_WANT_READ) ||
		    (es != SSL_ERROR_NONE && es != SSL_ERROR_WANT_READ))
			break;
	}
	const unsigned char *p = NULL;
	unsigned len = 0;
	SSL_get0_alpn_selected(sv, &p, &len);
	snprintf(selected, sel_len, "%.*s", (int)len, p ? (const char *)p : "");
	SSL_free(cl);
	SSL_free(sv);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ok;
}

static void test_handshake_policy(void **state)
{
	(void)state;
	char err[512], sel[32];
	SSL_CTX *ctx = conn_tls_ctx_new(cert_a, key_a, NULL, err, sizeof(err));
	assert_non_null(ctx);
	static const unsigned char both[] = "\x02h2\x08http/1.1";
	static const unsigned char h2[] = "\x02h2";
	assert_int_equal(handshake(ctx, both, sizeof(both) - 1, TLS1_3_VERSION, sel, sizeof(sel)),
	                 1);
	assert_string_equal(sel, "http/1.1");
	assert_int_equal(handshake(ctx, NULL, 0, TLS1_2_VERSION, sel, sizeof(sel)), 1);
	assert_string_equal(sel, "");
	assert_int_equal(handshake(ctx, h2, sizeof(h2) - 1, TLS1_3_VERSION, sel, sizeof(sel)), 0);
	assert_int_equal(handshake(ctx, NULL, 0, TLS1_1_VERSION, sel, sizeof(sel)), 0);
	SSL_CTX_free(ctx);
}

static void test_fail_class(void **state)
{
	(void)state;
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_HTTP_REQUEST),
	                 METRICS_TLS_F_PLAINTEXT);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL),
	                 METRICS_TLS_F_VERSION);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER),
	                 METRICS_TLS_F_VERSION);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER),
	                 METRICS_TLS_F_CIPHER);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_NO_APPLICATION_PROTOCOL),
	                 METRICS_TLS_F_ALPN);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_TLSV1_ALERT_UNKNOWN_CA),
	                 METRICS_TLS_F_PEER_ALERT);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_SSL, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE),
	                 METRICS_TLS_F_PEER_ALERT);
	assert_int_equal(conn_tls_fail_class(ERR_LIB_X509, 1), METRICS_TLS_F_OTHER);
	assert_int_equal(conn_tls_fail_class(0, 0), METRICS_TLS_F_OTHER);
	for (int i = 0; i < METRICS_TLS_F_COUNT; i++)
		assert_non_null(metrics_tls_fail_name(i));
	assert_string_equal(metrics_tls_fail_name(METRICS_TLS_F_PLAINTEXT), "plaintext");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ctx_errors),
	        cmocka_unit_test(test_ctx_policy),
	        cmocka_unit_test(test_handshake_policy),
	        cmocka_unit_test(test_fail_class),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
