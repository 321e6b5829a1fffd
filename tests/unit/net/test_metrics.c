/* Unit tests for net/metrics.c: status slots, lag buckets, error labels,
 * and the rendered exposition summing two workers' counters. */
#include "core/err.h"
#include "net/metrics.h"
#include "net/server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_status_slots(void **state)
{
	(void)state;
	assert_int_not_equal(metrics_status_slot(200), metrics_status_slot(404));
	assert_int_equal(metrics_status_slot(599), METRICS_STATUS_SLOTS - 1);
	assert_int_equal(metrics_status_slot(299), METRICS_STATUS_SLOTS - 1);
	assert_true(metrics_status_slot(431) < METRICS_STATUS_SLOTS - 1);
}

static void test_error_slots_fit(void **state)
{
	(void)state;
	/* Every CRIER_E* code must have a parse_errors slot. */
	assert_true(CRIER_ERR_LAST_ - CRIER_ERR_FIRST_ <= METRICS_ERR_SLOTS);
}

static struct server fake_server(struct worker *workers)
{
	struct server srv = {.workers = workers, .n_workers = 2, .start_wall_s = 1700000000};
	return srv;
}

/* "# TYPE <family> " for a sample line; histogram suffixes map to their family. */
static void family_decl(const char *line, char *out, size_t cap)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t n = strcspn(line, "{ ");
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);
		if (n > sl && strncmp(line + n - sl, suffixes[i], sl) == 0 &&
		    strncmp(line, "crier_loop_lag_seconds", n - sl) == 0)
			n -= sl;
	}
	snprintf(out, cap, "# TYPE %.*s ", (int)n, line);
}

static void test_render_sums_workers(void **state)
{
	(void)state;
	static struct worker workers[2];
	memset(workers, 0, sizeof(workers));
	struct server srv = fake_server(workers);
	metric_add(&workers[0].m.requests[0][metrics_status_slot(200)], 3);
	metric_add(&workers[1].m.requests[0][metrics_status_slot(200)], 4);
	metrics_parse_error(&workers[1].m, CRIER_ECL_TE);
	metrics_parse_error(&workers[1].m, CRIER_ECL_TE);
	metric_inc(&workers[0].m.conn_open[METRICS_T_HTTP]);
	metrics_observe_lag(&workers[1].m, 500);     /* first bucket (<= 1 ms) */
	metrics_observe_lag(&workers[1].m, 3000000); /* 3 s: the 5 s bucket */
	metrics_observe_lag(&workers[1].m, 9000000); /* +Inf only */
	const char *labels[] = {"/healthz", "unmatched"};
	struct buf out = {0};
	assert_int_equal(metrics_render(&out, &srv, labels, 1), 0);
	buf_append(&out, "", 1);
	const char *p = out.data;
	assert_non_null(
	        strstr(p, "crier_http_requests_total{route=\"/healthz\",status=\"200\"} 7\n"));
	assert_non_null(strstr(p, "crier_http_parse_errors_total{reason=\"cl_and_te\"} 2\n"));
	assert_non_null(strstr(p, "crier_connections_open{transport=\"http\"} 1\n"));
	assert_non_null(strstr(p, "crier_worker_connections{worker=\"0\"} 1\n"));
	assert_non_null(strstr(p, "crier_worker_connections{worker=\"1\"} 0\n"));
	assert_non_null(strstr(p, "crier_loop_lag_seconds_bucket{worker=\"1\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(p, "crier_loop_lag_seconds_bucket{worker=\"1\",le=\"5\"} 2\n"));
	assert_non_null(strstr(p, "crier_loop_lag_seconds_bucket{worker=\"1\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(p, "crier_loop_lag_seconds_count{worker=\"1\"} 3\n"));
	assert_non_null(strstr(p, "# TYPE crier_loop_lag_seconds histogram\n"));
	/* Every sample line belongs to a family declared before it. */
	for (const char *line = p; *line; line = strchr(line, '\n') + 1) {
		if (*line != '#') {
			char decl[128];
			family_decl(line, decl, sizeof(decl));
			const char *d = strstr(p, decl);
			assert_non_null(d);
			assert_true(d < line);
		}
	}
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_slots),
	        cmocka_unit_test(test_error_slots_fit),
	        cmocka_unit_test(test_render_sums_workers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
