/*
 * test_client_resume.c - unit tests for libcrier's resume bookkeeping.
 *
 * The cursor is what every reconnect resumes from; the duplicate check is
 * what keeps a replayed message from reaching the caller twice. Both are
 * exercised on a real crier_client (created on a loop that is never run
 * until teardown, so nothing goes out on the network), through the
 * internal functions of client_impl.h: ids compare by sequence within an
 * epoch, a new epoch is never a duplicate, an unparseable id compares by
 * string, and each transport's request carries the cursor where the hub
 * reads it (Last-Event-ID, ?since=) and the token where the options put it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_impl.h"

struct fixture {
	uv_loop_t loop;
	crier_client *c;
	char ids[16][CLIENT_CURSOR_MAX]; /* delivered ids, in order */
	int n;
};

static void on_message(crier_client *c, const struct crier_message *m, void *user)
{
	struct fixture *f = user;
	(void)c;
	if (f->n < 16)
		strcpy(f->ids[f->n++], m->id);
}

static struct fixture *fixture_new(const struct crier_client_options *extra)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	struct crier_client_options o = extra ? *extra : (struct crier_client_options){0};
	o.on_message = on_message;
	o.user = f;
	assert_int_equal(crier_client_new(&f->loop, "http://127.0.0.1:9/hub", &o, &f->c), 0);
	return f;
}

static void fixture_free(struct fixture *f)
{
	crier_client_close(f->c, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
}

static void test_dup_needs_a_cursor(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(NULL);
	assert_false(client_is_dup(f->c, "0000abcd-1"));
	client_set_cursor(f->c, "0000abcd-5");
	assert_true(client_is_dup(f->c, "0000abcd-5"));
	assert_true(client_is_dup(f->c, "0000abcd-4"));
	assert_true(client_is_dup(f->c, "0000abcd-1"));
	assert_false(client_is_dup(f->c, "0000abcd-6"));
	assert_false(client_is_dup(f->c, "0000abcd-50")); /* numeric, not string, order */
	/* Another epoch: the hub restarted; what it sends is new. */
	assert_false(client_is_dup(f->c, "0000abce-1"));
	assert_false(client_is_dup(f->c, "0000abcc-1"));
	/* An id the codec cannot read (another server's) compares as a string;
	 * "" (raw WebSocket) is never a duplicate. */
	assert_false(client_is_dup(f->c, ""));
	client_set_cursor(f->c, "opaque-id-7");
	assert_true(client_is_dup(f->c, "opaque-id-7"));
	assert_false(client_is_dup(f->c, "opaque-id-6"));
	fixture_free(f);
}

static void test_cursor_ignores_empty_and_oversized(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(NULL);
	assert_null(crier_client_last_id(f->c));
	client_set_cursor(f->c, "0000abcd-3");
	client_set_cursor(f->c, "");
	assert_string_equal(crier_client_last_id(f->c), "0000abcd-3");
	char big[CLIENT_CURSOR_MAX + 8];
	memset(big, '7', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	client_set_cursor(f->c, big);
	assert_string_equal(crier_client_last_id(f->c), "0000abcd-3");
	fixture_free(f);
}

static void deliver(struct fixture *f, const char *id)
{
	client_deliver(f->c, "ch", id, NULL, "x", 1, false, false);
}

static void test_deliver_skips_replays_and_advances(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(NULL);
	/* A reconnect that resumed one message too early replays 2 and 3. */
	const char *in[] = {"0000abcd-1", "0000abcd-2", "0000abcd-3", "0000abcd-2",
	                    "0000abcd-3", "0000abcd-4", "0000abcd-4", "0000abce-1"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		deliver(f, in[i]);
	assert_int_equal(f->n, 5);
	assert_string_equal(f->ids[0], "0000abcd-1");
	assert_string_equal(f->ids[1], "0000abcd-2");
	assert_string_equal(f->ids[2], "0000abcd-3");
	assert_string_equal(f->ids[3], "0000abcd-4");
	assert_string_equal(f->ids[4], "0000abce-1");
	assert_string_equal(crier_client_last_id(f->c), "0000abce-1");
	fixture_free(f);
}

/* The request the current transport would send now, NUL-terminated. */
static char *request(struct fixture *f, enum crier_transport t)
{
	f->c->transport = t;
	struct buf b = {0};
	int rc = t == CRIER_TRANSPORT_WS || t == CRIER_TRANSPORT_WSPROTO
	                 ? client_ws_request(f->c, &b)
	                 : client_sub_request(f->c, &b);
	assert_int_equal(rc, 0);
	assert_int_equal(buf_append(&b, "", 1), 0);
	return b.data;
}

static void subscribe(struct fixture *f)
{
	const char *ch[] = {"news", "a b"};
	assert_int_equal(crier_client_subscribe(f->c, ch, 2, "0000abcd-9"), 0);
}

static void test_requests_carry_the_cursor(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(NULL);
	subscribe(f);
	char *r = request(f, CRIER_TRANSPORT_SSE);
	assert_non_null(strstr(r, "GET /hub/sub/news,a%20b HTTP/1.1\r\n"));
	assert_non_null(strstr(r, "\r\nLast-Event-ID: 0000abcd-9\r\n"));
	assert_non_null(strstr(r, "\r\nAccept: text/event-stream\r\n"));
	free(r);
	r = request(f, CRIER_TRANSPORT_POLL);
	assert_non_null(
	        strstr(r, "GET /hub/sub/news,a%20b?transport=poll&since=0000abcd-9 HTTP/1.1"));
	assert_null(strstr(r, "Last-Event-ID"));
	free(r);
	r = request(f, CRIER_TRANSPORT_WS);
	assert_non_null(strstr(r, "GET /hub/sub/news,a%20b?since=0000abcd-9 HTTP/1.1"));
	assert_non_null(strstr(r, "\r\nUpgrade: websocket\r\n"));
	free(r);
	/* crier.v1 carries the position in its subscribe message, not the URL. */
	r = request(f, CRIER_TRANSPORT_WSPROTO);
	assert_non_null(strstr(r, "GET /hub/ws HTTP/1.1"));
	assert_non_null(strstr(r, "\r\nSec-WebSocket-Protocol: crier.v1\r\n"));
	free(r);
	/* After a delivery, the next request resumes after it. */
	deliver(f, "0000abcd-12");
	r = request(f, CRIER_TRANSPORT_SSE);
	assert_non_null(strstr(r, "\r\nLast-Event-ID: 0000abcd-12\r\n"));
	free(r);
	fixture_free(f);
}

static void test_token_header_or_query(void **state)
{
	(void)state;
	struct crier_client_options o = {.token = "t0k+/="};
	struct fixture *f = fixture_new(&o);
	subscribe(f);
	char *r = request(f, CRIER_TRANSPORT_SSE);
	assert_non_null(strstr(r, "\r\nAuthorization: Bearer t0k+/=\r\n"));
	assert_null(strstr(r, "token="));
	free(r);
	fixture_free(f);

	o.token_in_query = true;
	f = fixture_new(&o);
	subscribe(f);
	r = request(f, CRIER_TRANSPORT_SSE);
	assert_non_null(strstr(r, "GET /hub/sub/news,a%20b?token=t0k%2B%2F%3D HTTP/1.1"));
	assert_null(strstr(r, "Authorization"));
	free(r);
	r = request(f, CRIER_TRANSPORT_POLL);
	assert_non_null(strstr(r, "?transport=poll&since=0000abcd-9&token=t0k%2B%2F%3D HTTP/1.1"));
	free(r);
	r = request(f, CRIER_TRANSPORT_WS);
	assert_non_null(strstr(r, "?since=0000abcd-9&token=t0k%2B%2F%3D HTTP/1.1"));
	free(r);
	r = request(f, CRIER_TRANSPORT_WSPROTO);
	assert_non_null(strstr(r, "GET /hub/ws?token=t0k%2B%2F%3D HTTP/1.1"));
	assert_null(strstr(r, "Authorization"));
	free(r);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dup_needs_a_cursor),
	        cmocka_unit_test(test_cursor_ignores_empty_and_oversized),
	        cmocka_unit_test(test_deliver_skips_replays_and_advances),
	        cmocka_unit_test(test_requests_carry_the_cursor),
	        cmocka_unit_test(test_token_header_or_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
