/*
 * Unit tests for engine/redis_conn.c against a fake Redis: a unix socket
 * served by a uv_pipe on the same loop, which records the bytes it gets
 * and answers what each test scripts. Covers the first PING and readiness,
 * pipelining (queued commands leave together), reply order, pub/sub pushes
 * apart from answers, a loss with commands pending (each callback once,
 * with NULL, before on_disconnect), a peer that closes before answering,
 * protocol errors, an unsolicited reply, a close from inside a reply
 * callback, and the life of a name resolved off the loop (unresolvable,
 * refused, closed or the loop ended while it resolves). Every wait is bounded; ASan checks the frees.
 */
#include "core/err.h"
#include "engine/redis_conn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 3000

struct fake {
	uv_loop_t loop;
	uv_pipe_t server, peer;
	uv_timer_t tick; /* wakes uv_run so a wait can time out */
	bool accepted, peer_closed;
	char in[4096]; /* what the connection sent */
	size_t in_len;
	struct redis_url url;
	/* What the connection reported. */
	int connects, connect_status, disconnects, pushes;
	char why[256];
	char log[1024]; /* "reply;" per callback, in order */
	struct redis_conn *rc;
	bool close_in_callback;
};

static void fk_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)hint;
	struct fake *f = h->data;
	b->base = f->in + f->in_len;
	b->len = sizeof(f->in) - f->in_len - 1;
}

static void fk_peer_closed(uv_handle_t *h)
{
	struct fake *f = h->data;
	f->peer_closed = true;
}

static void fk_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	struct fake *f = s->data;
	if (n > 0)
		f->in_len += (size_t)n;
	else if (n < 0 && !uv_is_closing((uv_handle_t *)s))
		uv_close((uv_handle_t *)s, fk_peer_closed);
}

static void fk_accept(uv_stream_t *server, int status)
{
	struct fake *f = server->data;
	assert_int_equal(status, 0);
	uv_pipe_init(&f->loop, &f->peer, 0);
	f->peer.data = f;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&f->peer), 0);
	uv_read_start((uv_stream_t *)&f->peer, fk_alloc, fk_read);
	f->accepted = true;
}

static void fk_tick(uv_timer_t *t)
{
	(void)t;
}

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->url.is_unix = true;
	snprintf(f->url.path, sizeof(f->url.path), "/tmp/crier-test-redis-%d.sock", (int)getpid());
	unlink(f->url.path);
	uv_pipe_init(&f->loop, &f->server, 0);
	f->server.data = f;
	assert_int_equal(uv_pipe_bind(&f->server, f->url.path), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->server, 4, fk_accept), 0);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, fk_tick, 5, 5);
	return f;
}

static void fk_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void fake_free(struct fake *f)
{
	uv_walk(&f->loop, fk_walk_close, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	unlink(f->url.path);
	free(f);
}

/* Runs the loop until cond holds; fails after WAIT_MS. */
#define RUN_UNTIL(f, cond)                                                   \
	do {                                                                 \
		uint64_t t0_ = uv_now(&(f)->loop);                           \
		while (!(cond)) {                                            \
			if (uv_now(&(f)->loop) - t0_ > WAIT_MS)              \
				fail_msg("timed out waiting for %s", #cond); \
			uv_run(&(f)->loop, UV_RUN_ONCE);                     \
		}                                                            \
	} while (0)

static void fake_send(struct fake *f, const char *bytes)
{
	uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)strlen(bytes));
	assert_int_equal(uv_try_write((uv_stream_t *)&f->peer, &b, 1), (int)strlen(bytes));
}

static bool fake_got(struct fake *f, const char *bytes)
{
	f->in[f->in_len] = '\0';
	return strcmp(f->in, bytes) == 0;
}

/* ---- the connection's callbacks ------------------------------------------- */

static void on_connect(void *data, int status, const char *why)
{
	struct fake *f = data;
	f->connects++;
	f->connect_status = status;
	snprintf(f->why, sizeof(f->why), "%s", why ? why : "");
	if (status != 0)
		f->rc = NULL;
}

static void on_disconnect(void *data, const char *why)
{
	struct fake *f = data;
	f->disconnects++;
	snprintf(f->why, sizeof(f->why), "%s", why);
	strcat(f->log, "disconnect;");
	f->rc = NULL;
}

static void on_push(void *data, const redisReply *r)
{
	struct fake *f = data;
	f->pushes++;
	strcat(f->log, "push:");
	strcat(f->log, r->element[2]->str);
	strcat(f->log, ";");
}

static void on_reply(void *data, void *reply, void *priv)
{
	struct fake *f = data;
	const redisReply *r = reply;
	strcat(f->log, priv ? (const char *)priv : "");
	strcat(f->log, "=");
	if (!r)
		strcat(f->log, "NULL");
	else if (r->type == REDIS_REPLY_ARRAY)
		strcat(f->log, r->element[0]->str);
	else if (r->str)
		strcat(f->log, r->str);
	else
		strcat(f->log, "?");
	strcat(f->log, ";");
	if (f->close_in_callback && f->rc) {
		f->close_in_callback = false;
		redis_conn_close(f->rc, CRIER_EINVAL, "closed by the test");
	}
}

static void open_conn(struct fake *f, bool sub)
{
	struct redis_conn_cbs cbs = {.on_connect = on_connect,
	                             .on_disconnect = on_disconnect,
	                             .on_push = sub ? on_push : NULL};
	char why[200];
	int rc = redis_conn_open(&f->loop, &f->url, NULL, &cbs, f, &f->rc, why, sizeof(why));
	if (rc != 0)
		fail_msg("redis_conn_open: %s", why);
}

static void cmd(struct fake *f, const char *tag, const char *a, const char *b)
{
	const char *argv[2] = {a, b};
	size_t lens[2] = {strlen(a), b ? strlen(b) : 0};
	assert_int_equal(redis_conn_cmd(f->rc, on_reply, (void *)tag, b ? 2 : 1, argv, lens), 0);
}

#define PING "*1\r\n$4\r\nPING\r\n"
#define SUB  "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"

/* ---- tests ------------------------------------------------------------------ */

/* PING first, then the queued commands in one write; up only on PONG;
 * replies in order. */
static void test_pipeline(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_conn(f, false);
	cmd(f, "a", "GET", "x");
	cmd(f, "b", "INCR", "y");
	RUN_UNTIL(f, fake_got(f, PING
	                      "*2\r\n$3\r\nGET\r\n$1\r\nx\r\n*2\r\n$4\r\nINCR\r\n$1\r\ny\r\n"));
	assert_int_equal(f->connects, 0); /* not before Redis answered */
	fake_send(f, "-NOAUTH Authentication required.\r\n");
	RUN_UNTIL(f, f->connects == 1);
	assert_int_equal(f->connect_status, 0);
	fake_send(f, "$2\r\nhi\r\n+");
	RUN_UNTIL(f, strstr(f->log, "a=hi;"));
	fake_send(f, "OK\r\n");
	RUN_UNTIL(f, strstr(f->log, "b=OK;"));
	assert_string_equal(f->log, "a=hi;b=OK;");
	/* Commands of one turn leave together once connected too. */
	f->in_len = 0;
	cmd(f, "c", "PING", NULL);
	cmd(f, "d", "PING", NULL);
	RUN_UNTIL(f, fake_got(f, PING PING));
	redis_conn_close(f->rc, CRIER_EINVAL, "done");
	assert_int_equal(f->disconnects, 1);
	assert_string_equal(f->log, "a=hi;b=OK;c=NULL;d=NULL;disconnect;");
	fake_free(f);
}

/* Pushes go to on_push; confirmations pop the FIFO; a loss runs each
 * pending callback once, with NULL, before on_disconnect. */
static void test_pubsub_and_loss(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_conn(f, true);
	cmd(f, "s", "SUBSCRIBE", "ch");
	RUN_UNTIL(f, fake_got(f, PING SUB));
	fake_send(f, "+PONG\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
	             "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
	RUN_UNTIL(f, f->pushes == 1);
	assert_string_equal(f->log, "s=subscribe;push:hello;");
	cmd(f, "u", "UNSUBSCRIBE", "ch");
	cmd(f, "v", "SUBSCRIBE", "ch");
	fake_send(f, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nbye\r\n");
	RUN_UNTIL(f, f->pushes == 2 &&
	                     fake_got(f, PING SUB "*2\r\n$11\r\nUNSUBSCRIBE\r\n$2\r\nch\r\n" SUB));
	uv_close((uv_handle_t *)&f->peer, fk_peer_closed);
	RUN_UNTIL(f, f->disconnects == 1);
	assert_string_equal(f->log, "s=subscribe;push:hello;push:bye;u=NULL;v=NULL;disconnect;");
	assert_string_equal(f->why, "redis closed the connection");
	assert_int_equal(f->connects, 1);
	fake_free(f);
}

/* A peer that accepts and closes without a word: a failed connect (with
 * the TLS-port hint), queued callbacks once with NULL, no on_disconnect. */
static void test_closed_before_answer(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_conn(f, false);
	cmd(f, "a", "GET", "x");
	RUN_UNTIL(f, f->accepted && f->in_len > 0);
	uv_close((uv_handle_t *)&f->peer, fk_peer_closed);
	RUN_UNTIL(f, f->connects == 1);
	assert_int_equal(f->connect_status, CRIER_ECLOSED);
	assert_non_null(strstr(f->why, "before answering (a TLS port? that needs rediss://)"));
	assert_int_equal(f->disconnects, 0);
	assert_string_equal(f->log, "a=NULL;");
	fake_free(f);
}

/* Bytes that are not RESP, and a reply nobody asked for, end the
 * connection with a reason. */
static void test_protocol_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {"!nonsense\r\n", "+OK\r\n"};
	static const char *const why[] = {"protocol error from redis", "no command asked for"};
	for (int i = 0; i < 2; i++) {
		struct fake *f = fake_new();
		open_conn(f, false);
		RUN_UNTIL(f, f->accepted && f->in_len == strlen(PING));
		fake_send(f, "+PONG\r\n");
		RUN_UNTIL(f, f->connects == 1);
		fake_send(f, bad[i]);
		RUN_UNTIL(f, f->disconnects == 1);
		if (!strstr(f->why, why[i]))
			fail_msg("'%s' does not say '%s'", f->why, why[i]);
		fake_free(f);
	}
}

/* redis_conn_close from a reply callback: the rest of the batch is not
 * dispatched, the next pending callback gets NULL, one on_disconnect. */
static void test_close_in_callback(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_conn(f, false);
	cmd(f, "a", "GET", "x");
	cmd(f, "b", "GET", "y");
	RUN_UNTIL(f, f->accepted && f->in_len > strlen(PING));
	f->close_in_callback = true;
	fake_send(f, "+PONG\r\n+1\r\n+2\r\n");
	RUN_UNTIL(f, f->disconnects == 1);
	assert_string_equal(f->log, "a=1;b=NULL;disconnect;");
	assert_string_equal(f->why, "closed by the test");
	assert_null(f->rc);
	fake_free(f);
}

/* Nothing listening: an error at once, no callback. */
static void test_refused(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	struct redis_url u = {.is_unix = true};
	snprintf(u.path, sizeof(u.path), "/tmp/crier-test-redis-none-%d.sock", (int)getpid());
	struct redis_conn_cbs cbs = {.on_connect = on_connect, .on_disconnect = on_disconnect};
	char why[200];
	struct redis_conn *rc = NULL;
	assert_int_equal(redis_conn_open(&f->loop, &u, NULL, &cbs, f, &rc, why, sizeof(why)),
	                 CRIER_EIO);
	assert_non_null(strstr(why, "No such file"));
	assert_int_equal(f->connects, 0);
	fake_free(f);
}

/* A TCP connection to name:port on the fake's loop (nothing answers). */
static void open_tcp(struct fake *f, const char *host, uint16_t port)
{
	struct redis_url u = {.port = port};
	snprintf(u.host, sizeof(u.host), "%s", host);
	struct redis_conn_cbs cbs = {.on_connect = on_connect, .on_disconnect = on_disconnect};
	char why[200];
	if (redis_conn_open(&f->loop, &u, NULL, &cbs, f, &f->rc, why, sizeof(why)) != 0)
		fail_msg("redis_conn_open: %s", why);
}

/* A name that does not resolve: a failed connect naming it, off the loop. */
static void test_unresolvable(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_tcp(f, "no-such-host.invalid", 6379);
	assert_int_equal(f->connects, 0); /* resolving: nothing reported yet */
	RUN_UNTIL(f, f->connects == 1);
	assert_int_equal(f->connect_status, CRIER_EIO);
	assert_non_null(strstr(f->why, "resolving no-such-host.invalid"));
	fake_free(f);
}

/* A name that resolves to an address where nothing listens. */
static void test_refused_by_name(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_tcp(f, "localhost", 1);
	RUN_UNTIL(f, f->connects == 1);
	assert_int_equal(f->connect_status, CRIER_EIO);
	assert_non_null(strstr(f->why, "connect"));
	fake_free(f);
}

/* Closed while its name resolves: reported at once, freed when the
 * answer is in (ASan checks), the loop left with nothing of it. */
static void test_close_while_resolving(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_tcp(f, "localhost", 1);
	redis_conn_close(f->rc, CRIER_ETIMEOUT, "given up");
	assert_int_equal(f->connects, 1);
	assert_int_equal(f->connect_status, CRIER_ETIMEOUT);
	fake_free(f); /* runs the loop until every handle and request is done */
}

/* The loop ends (a worker's exit walk closes every handle) while a name
 * resolves: the late answer starts nothing, and redis_conn_exit frees it. */
static void test_exit_while_resolving(void **state)
{
	(void)state;
	struct fake *f = fake_new();
	open_tcp(f, "localhost", 1);
	uv_walk(&f->loop, fk_walk_close, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT); /* returns: nothing was started */
	assert_int_equal(f->connects, 0);
	redis_conn_exit(f->rc);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	unlink(f->url.path);
	free(f);
}

/* The client context: a CA file that does not load is named. */
static void test_tls_ctx_errors(void **state)
{
	(void)state;
	char why[256];
	assert_null(redis_conn_tls_ctx("/nonexistent/ca.pem", NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "--redis-tls-ca: cannot load the CA certificates"));
	SSL_CTX *ctx = redis_conn_tls_ctx(NULL, NULL, NULL, why, sizeof(why));
	assert_non_null(ctx); /* the system store */
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	SSL_CTX_free(ctx);
}

int main(void)
{
	/* The unresolvable-name test asks the system's resolver: bound how long
	 * a slow one may take (glibc reads this when the thread pool resolves). */
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 0);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pipeline),
	        cmocka_unit_test(test_pubsub_and_loss),
	        cmocka_unit_test(test_closed_before_answer),
	        cmocka_unit_test(test_protocol_errors),
	        cmocka_unit_test(test_close_in_callback),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_tls_ctx_errors),
	        cmocka_unit_test(test_unresolvable),
	        cmocka_unit_test(test_refused_by_name),
	        cmocka_unit_test(test_close_while_resolving),
	        cmocka_unit_test(test_exit_while_resolving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
