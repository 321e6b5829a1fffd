/* Unit tests for core/log.c: logfmt quoting of untrusted values, levels,
 * and truncation. Lines are captured by pointing stderr at a pipe. */
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int saved_fd = -1, pipe_fds[2];

static void capture_begin(void)
{
	assert_int_equal(pipe(pipe_fds), 0);
	saved_fd = dup(STDERR_FILENO);
	dup2(pipe_fds[1], STDERR_FILENO);
}

static size_t capture_end(char *out, size_t cap)
{
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	close(pipe_fds[1]);
	ssize_t n = read(pipe_fds[0], out, cap - 1);
	close(pipe_fds[0]);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void test_log_escapes_untrusted(void **state)
{
	(void)state;
	char out[4096];
	capture_begin();
	struct logline l;
	log_begin(&l, LOG_INFO, "access");
	const char evil[] = "/a b\"c\\d\nlevel=error msg=forged\x01";
	log_str(&l, "path", evil, sizeof(evil) - 1);
	log_int(&l, "status", 200);
	log_end(&l);
	capture_end(out, sizeof(out));
	assert_non_null(strstr(out, " level=info msg=access "));
	assert_non_null(strstr(out, "path=\"/a b\\\"c\\\\d\\x0alevel=error msg=forged\\x01\""));
	assert_non_null(strstr(out, " status=200\n"));
	/* Exactly one line: the newline in the value did not split it. */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void test_log_levels(void **state)
{
	(void)state;
	char out[4096];
	log_set_level(LOG_WARN);
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERROR));
	capture_begin();
	log_info("hidden", "x=%d", 1);
	log_warn("shown message", "x=%d", 2);
	capture_end(out, sizeof(out));
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "level=warn msg=\"shown message\" x=2\n"));
	log_set_level(LOG_INFO);
}

static void test_log_truncates(void **state)
{
	(void)state;
	char out[8192], big[4000];
	memset(big, 'a', sizeof(big));
	capture_begin();
	struct logline l;
	log_begin(&l, LOG_INFO, "big");
	log_str(&l, "v", big, sizeof(big));
	log_end(&l);
	size_t n = capture_end(out, sizeof(out));
	assert_true(n <= sizeof(l.buf));
	assert_non_null(strstr(out, " truncated=1\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_log_escapes_untrusted),
	        cmocka_unit_test(test_log_levels),
	        cmocka_unit_test(test_log_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
