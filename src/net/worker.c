/*
 * worker.c - an event-loop thread: accept, tick, flush, mailbox.
 *
 * The tick (every WORKER_TICK_MS) does three cheap things: samples how
 * late it ran (the event-loop lag histogram), refreshes the cached Date
 * header once a second, and expires timeouts. Timeouts are FIFO lists per
 * class, so expiry only looks at list heads: thousands of idle connections
 * cost nothing per tick, and a connection needs no timer handle of its own
 * (a uv_timer_t would add 152 bytes to every idle connection).
 *
 * The flush check runs after the poll phase of every loop iteration, once
 * all reads (and so all responses and deliveries they caused) are queued:
 * that is where coalescing comes from.
 */
#include "net/worker.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void worker_on_connection(uv_stream_t *listener, int status)
{
	struct worker *w = listener->data;
	if (status < 0) {
		log_warn("accept failed", "worker=%u err=\"%s\"", w->id, uv_strerror(status));
		return;
	}
	const struct config *cfg = worker_cfg(w);
	unsigned open = atomic_fetch_add_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
	bool over = open >= cfg->max_connections;
	if (over) {
		/* Rejected connections do not hold a slot: they only live long
		 * enough to be told 503. */
		atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
		metric_inc(&w->m.conn_rejected_max);
	}
	struct conn *c = w->srv->hooks.accept(w, listener, over);
	if (!c) {
		if (!over)
			atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
		return;
	}
	c->counted = !over;
}

static void worker_update_date(struct worker *w)
{
	int64_t now = clock_wall_s();
	if (now == w->date_s)
		return;
	w->date_s = now;
	time_t t = (time_t)now;
	struct tm tm;
	gmtime_r(&t, &tm);
	/* IMF-fixdate (RFC 9110 §5.6.7); strftime would consult the locale. */
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	snprintf(w->http_date, sizeof(w->http_date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
	         days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
}

static void worker_expire(struct worker *w, uint64_t now)
{
	for (int t = CONN_T_NONE + 1; t < CONN_T_COUNT; t++) {
		struct list *head = &w->tlists[t];
		while (!list_empty(head)) {
			struct conn *c = container_of(list_first(head), struct conn, tnode);
			if (c->deadline_ms > now)
				break;
			list_unlink(&c->tnode);
			c->tclass = CONN_T_NONE;
			if (t == CONN_T_LINGER)
				conn_close(c);
			else
				c->proto->on_timeout(c, (enum conn_tclass)t);
		}
	}
}

static void worker_on_tick(uv_timer_t *t)
{
	struct worker *w = t->data;
	uint64_t now_us = uv_hrtime() / 1000u;
	if (w->tick_expected_ms) {
		uint64_t expected_us = w->tick_expected_ms * 1000u;
		metrics_observe_lag(&w->m, now_us > expected_us ? now_us - expected_us : 0);
	}
	w->tick_expected_ms = now_us / 1000u + WORKER_TICK_MS;
	w->now_ms = uv_now(&w->loop);
	worker_update_date(w);
	worker_expire(w, w->now_ms);
	deadline_run(&w->deadlines, w->now_ms);
	conn_shrink_kept(w);
	if (w->id == 0 && w->srv->hooks.tick)
		w->srv->hooks.tick(w);
}

static void worker_noop_idle(uv_idle_t *h)
{
	(void)h;
}

static void worker_on_check(uv_check_t *h)
{
	struct worker *w = h->data;
	while (!list_empty(&w->flush_list)) {
		struct conn *c = container_of(list_first(&w->flush_list), struct conn, fnode);
		list_unlink(&c->fnode);
		conn_flush(c);
	}
	uv_idle_stop(&w->flush_idle);
}

void worker_want_flush(struct worker *w, struct conn *c)
{
	if (c->ring_kept) { /* on the shrink list: the ring is wanted again */
		list_unlink(&c->fnode);
		c->ring_kept = false;
	}
	if (list_linked(&c->fnode))
		return;
	if (list_empty(&w->flush_list))
		uv_idle_start(&w->flush_idle, worker_noop_idle); /* don't sleep in poll */
	list_push(&w->flush_list, &c->fnode);
}

static bool worker_is_conn(uv_handle_t *h)
{
	return h->type == UV_TCP && h->data == (void *)h;
}

static void worker_report_if_idle(struct worker *w)
{
	if (w->shutting_down && w->conn_count == 0 && !atomic_exchange(&w->done_reported, true))
		uv_async_send(&w->srv->worker_idle);
}

void worker_conn_gone(struct worker *w)
{
	w->conn_count--;
	worker_report_if_idle(w);
}

static void worker_walk_shutdown(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (worker_is_conn(h) && !uv_is_closing(h)) {
		struct conn *c = (struct conn *)(void *)h;
		c->proto->on_shutdown(c);
	}
}

static void worker_walk_force(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (worker_is_conn(h) && !uv_is_closing(h))
		conn_close((struct conn *)(void *)h);
}

static void worker_walk_exit(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void worker_on_wake(uv_async_t *a)
{
	struct worker *w = a->data;
	unsigned ops = atomic_exchange(&w->mailbox, 0u);
	if (ops & WORKER_OP_RELOAD) {
		struct server_cfg *sc = atomic_exchange(&w->pending_cfg, NULL);
		if (sc) {
			server_cfg_unref(w->cfg);
			w->cfg = sc;
		}
	}
	if ((ops & WORKER_OP_SHUTDOWN) && !w->shutting_down) {
		w->shutting_down = true;
		for (uint32_t i = 0; i < w->n_listeners; i++)
			uv_close((uv_handle_t *)&w->listeners[i], NULL);
		uv_walk(&w->loop, worker_walk_shutdown, NULL);
		worker_report_if_idle(w);
	}
	if (ops & WORKER_OP_FORCE)
		uv_walk(&w->loop, worker_walk_force, NULL);
	if (ops & WORKER_OP_EXIT)
		uv_walk(&w->loop, worker_walk_exit, NULL);
}

void worker_post(struct worker *w, unsigned ops)
{
	atomic_fetch_or(&w->mailbox, ops);
	uv_async_send(&w->wake);
}

int worker_init(struct worker *w, struct server *srv, uint32_t id, const int *listen_fds,
                uint32_t n_fds)
{
	w->id = id;
	w->srv = srv;
	w->cfg = server_cfg_ref(srv->cfg);
	atomic_init(&w->mailbox, 0u);
	atomic_init(&w->pending_cfg, NULL);
	atomic_init(&w->done_reported, false);
	for (int t = 0; t < CONN_T_COUNT; t++)
		list_init(&w->tlists[t]);
	list_init(&w->flush_list);
	list_init(&w->shrink_list);
	w->rbuf = malloc(WORKER_RBUF_BYTES);
	w->listeners = calloc(n_fds, sizeof(*w->listeners));
	if (!w->rbuf || !w->listeners)
		return CRIER_ENOMEM;
	int rc = uv_loop_init(&w->loop);
	if (rc)
		return rc;
	uv_async_init(&w->loop, &w->wake, worker_on_wake);
	uv_timer_init(&w->loop, &w->tick);
	uv_check_init(&w->loop, &w->flush_check);
	uv_idle_init(&w->loop, &w->flush_idle);
	w->wake.data = w->tick.data = w->flush_check.data = w;
	for (uint32_t i = 0; i < n_fds; i++) {
		uv_tcp_init(&w->loop, &w->listeners[i]);
		w->listeners[i].data = w;
		rc = uv_tcp_open(&w->listeners[i], listen_fds[i]);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&w->listeners[i], 4096, worker_on_connection);
		if (rc)
			return rc;
		w->n_listeners++;
	}
	worker_update_date(w);
	return 0;
}

static void worker_main(void *arg)
{
	struct worker *w = arg;
	w->now_ms = uv_now(&w->loop); /* valid before the first tick */
	uv_timer_start(&w->tick, worker_on_tick, WORKER_TICK_MS, WORKER_TICK_MS);
	uv_check_start(&w->flush_check, worker_on_check);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->srv->hooks.worker_exit)
		w->srv->hooks.worker_exit(w);
}

int worker_start(struct worker *w)
{
	return uv_thread_create(&w->thread, worker_main, w);
}

void worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	uv_loop_close(&w->loop);
	server_cfg_unref(atomic_exchange(&w->pending_cfg, NULL));
	server_cfg_unref(w->cfg);
	free(w->rbuf);
	free(w->listeners);
	deadline_heap_free(&w->deadlines);
}
