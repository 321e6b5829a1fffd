/* Unit tests for core/base64.c: RFC 4648 §10 vectors, round trips, and
 * every malformed input the strict decoders refuse, for base64 and for
 * unpadded base64url. */
#include "core/base64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		size_t n = strlen(plain[i]);
		char *end = base64_encode((const uint8_t *)plain[i], n, out);
		assert_int_equal((size_t)(end - out), base64_encoded_len(n));
		assert_memory_equal(out, coded[i], strlen(coded[i]));
		uint8_t back[16];
		assert_int_equal(base64_decode(coded[i], strlen(coded[i]), back), (int64_t)n);
		assert_memory_equal(back, plain[i], n);
	}
}

/* 500 random byte strings of 0..63 bytes survive encode then decode. */
static void round_trips(unsigned seed, char *(*enc_fn)(const uint8_t *, size_t, char *),
                        int64_t (*dec_fn)(const char *, size_t, uint8_t *))
{
	srand(seed);
	for (int r = 0; r < 500; r++) {
		uint8_t in[64], back[64];
		char enc[96];
		size_t n = (size_t)(rand() % 64);
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rand();
		size_t el = (size_t)(enc_fn(in, n, enc) - enc);
		assert_int_equal(dec_fn(enc, el, back), (int64_t)n);
		assert_memory_equal(back, in, n);
	}
}

static void test_round_trip_random(void **state)
{
	(void)state;
	round_trips(7, base64_encode, base64_decode);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "Zg=",      /* length not a multiple of 4 */
	        "Zg",       /* same */
	        "Zh==",     /* non-zero bits under the padding */
	        "Zm9=",     /* same, one pad */
	        "Z===",     /* too much padding */
	        "=Zm9",     /* padding first */
	        "Zg==Zm9v", /* padding in the middle */
	        "Zm9v Yg=", /* whitespace */
	        "Zm9-",     /* URL alphabet */
	        "Zm9_",     "\xffm9v",
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), out), -1);
}

/* base64url: the §10 vectors without padding, and the URL alphabet. */
static void test_url_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		size_t n = strlen(plain[i]);
		size_t want = strcspn(coded[i], "=");
		char *end = base64url_encode((const uint8_t *)plain[i], n, out);
		assert_int_equal((size_t)(end - out), want);
		assert_memory_equal(out, coded[i], want);
		uint8_t back[16];
		assert_int_equal(base64url_decode(coded[i], want, back), (int64_t)n);
		assert_memory_equal(back, plain[i], n);
	}
	static const uint8_t high[] = {0xfb, 0xff, 0xbf};
	char out[8];
	assert_memory_equal(out, "-_-_", (size_t)(base64url_encode(high, 3, out) - out));
	round_trips(11, base64url_encode, base64url_decode);
}

static void test_url_decode_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "Z",    /* 4k + 1 characters */
	        "Zg==", /* padding */
	        "Zh",   /* non-zero unused bits */
	        "Zm9",  /* same, 4k + 3 */
	        "Zm9+", /* standard alphabet */
	        "Zm9/", "Zm 9", "\xffm9v",
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(base64url_decode(bad[i], strlen(bad[i]), out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc4648_vectors),    cmocka_unit_test(test_round_trip_random),
	        cmocka_unit_test(test_decode_rejects),     cmocka_unit_test(test_url_vectors),
	        cmocka_unit_test(test_url_decode_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
