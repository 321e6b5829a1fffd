/*
 * test_admit.c - unit tests for auth/admit.c's address keys: IPv4 and
 * IPv4-mapped IPv6 are one key, IPv6 is keyed by its /64 (so a client
 * cannot step around a per-address limit by walking its own prefix), and
 * families without an address have no key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "auth/admit.h"

static struct sockaddr_storage v4(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	a->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
	return ss;
}

static void test_ipv4_and_mapped_are_one_key(void **state)
{
	(void)state;
	uint8_t a[16], b[16];
	struct sockaddr_storage x = v4("192.0.2.7"), y = v6("::ffff:192.0.2.7");
	assert_int_equal(admit_key_of(&x, a), 4);
	assert_int_equal(admit_key_of(&y, b), 4);
	assert_memory_equal(a, b, 4);
	static const uint8_t want[4] = {192, 0, 2, 7};
	assert_memory_equal(a, want, 4);
}

static void test_ipv6_is_keyed_by_its_64(void **state)
{
	(void)state;
	uint8_t a[16], b[16], c[16];
	struct sockaddr_storage x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2:ffff:ee:dd:cc"),
	                        z = v6("2001:db8:1:3::1");
	assert_int_equal(admit_key_of(&x, a), 8);
	assert_int_equal(admit_key_of(&y, b), 8);
	assert_int_equal(admit_key_of(&z, c), 8);
	assert_memory_equal(a, b, 8);     /* same /64: one key */
	assert_memory_not_equal(a, c, 8); /* the next /64: another */
}

static void test_no_address_no_key(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	uint8_t k[16];
	assert_int_equal(admit_key_of(&ss, k), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ipv4_and_mapped_are_one_key),
	        cmocka_unit_test(test_ipv6_is_keyed_by_its_64),
	        cmocka_unit_test(test_no_address_no_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
