/*
 * bench_echo.c - `crier bench echo`: WebSocket round trips per second and
 * their latency against an echo endpoint (crier serve --echo: /echo).
 *
 * --conns connections, each with exactly one message in flight: send a
 * masked frame of --size bytes, wait for the whole echo, compare it byte
 * for byte with what was sent, record the round trip, send the next. The
 * first --warmup seconds are not recorded; the next --duration are.
 *
 * What it owns: the echo connections and their threads. What it never
 * does: allocate per message, or let one thread touch another's sockets.
 * The non-obvious choices:
 *  - --threads threads, each with its own epoll set, slice of the
 *    connections, read buffer and histogram; nothing is shared on the hot
 *    path. The main thread starts the window once every thread has
 *    connected, draws the progress line from relaxed atomic counters and
 *    merges the histograms at the end.
 *  - One recv() and one send() per round trip, no read-until-EAGAIN, so
 *    the generator spends as little as it can per message and the server
 *    stays the bottleneck (client_cpu_util says how close it came).
 *  - Frames are read with ws/ws_frame.c in the client role, the codec of
 *    the server and libcrier: echoes split or fragmented anywhere are
 *    reassembled, and a frame the codec refuses is a protocol error here.
 *  - The payload of message k on connection i is a slice of a fixed ASCII
 *    pattern at an offset derived from (i, k): a stale, duplicated or
 *    cross-connection echo does not compare equal. ASCII keeps text frames
 *    valid UTF-8.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_hist.h"
#include "bench/bench_http.h"
#include "bench/bench_report.h"
#include "core/err.h"

/* Per-connection output room beyond one data frame: a few queued pongs. */
#define ECHO_CTRL_ROOM 512
/* Prime, so (i, k) offsets spread over all residues. */
#define ECHO_PATTERN_N 61
#define ECHO_RBUF      (256 * 1024)

enum echo_state { ECHO_NEW, ECHO_CONNECTING, ECHO_HANDSHAKE, ECHO_OPEN, ECHO_DEAD };

struct echo_conn {
	int fd;
	uint8_t state;  /* enum echo_state */
	bool want_out;  /* EPOLLOUT is registered */
	bool awaiting;  /* a message is in flight */
	bool msg_bad;   /* the echo being received differs so far */
	uint8_t msg_op; /* opcode of the echo being received, 0 before it starts */
	uint8_t ctl_len;
	uint8_t ctl[WS_CONTROL_MAX]; /* a control frame's payload, gathered */
	long id;
	uint64_t seq;        /* messages sent */
	uint64_t msg_off;    /* bytes of the echo received so far */
	uint64_t sent_ns;    /* when the message in flight was queued */
	uint64_t started_ns; /* connect() time, for the handshake timeout */
	struct ws_frame_parser wp;
	char *head; /* the 101 so far (BENCH_HTTP_HEAD_MAX), until it is complete */
	uint32_t head_len;
	uint8_t *wbuf; /* output not yet written */
	size_t woff, wlen, wcap;
};

struct echo_counts {
	long connected; /* completed the upgrade */
	long failed;    /* connect or handshake failed */
	long dropped;   /* open, then closed by the server */
	long mismatches;
	long timeouts;
	long protocol; /* unexpected frame, opcode, size or close */
	long pings;    /* server pings answered */
	long late;     /* of failed: not up within --timeout */
	char first_err[160];
};

/* Read-only once the threads run, except the flags and the window, which
 * the main thread publishes with release stores before setting go. */
struct echo_shared {
	const struct bench_opts *o;
	uint8_t *pattern; /* ECHO_PATTERN_N + size bytes of ASCII */
	struct bench_ws_keys keys;
	atomic_int ready; /* threads done connecting */
	atomic_int go;    /* 1: window set, echo; 2: nothing connected, stop */
	uint64_t window_start_ns, window_end_ns;
};

struct echo_loop {
	struct echo_shared *sh;
	const struct bench_opts *o;
	int ep;
	struct echo_conn *conns;
	long n;       /* connections of this thread */
	long next;    /* next connection to start */
	long pending; /* connects + handshakes in flight */
	int inflight_cap;
	struct echo_counts k;
	struct bench_hist hist; /* round trips in the window, ns */
	uint64_t round_trips;
	atomic_long live_connected; /* copies for the progress line */
	atomic_ulong live_round_trips;
	pthread_t tid;
	uint8_t rbuf[ECHO_RBUF];
};

static void echo_error(struct echo_counts *k, const char *what, int err)
{
	if (k->first_err[0])
		return;
	if (err)
		snprintf(k->first_err, sizeof k->first_err, "%s: %s", what, strerror(err));
	else
		snprintf(k->first_err, sizeof k->first_err, "%s", what);
}

/* ---- connection I/O ---- */

static void echo_watch(struct echo_loop *l, struct echo_conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Closes with RST and counts it in *counter (may be NULL). */
static void echo_kill(struct echo_loop *l, struct echo_conn *c, long *counter, const char *why,
                      int err)
{
	if (c->state == ECHO_DEAD)
		return;
	if (c->state == ECHO_CONNECTING || c->state == ECHO_HANDSHAKE)
		l->pending--;
	if (c->fd >= 0) {
		bench_net_close_rst(c->fd);
		c->fd = -1;
	}
	free(c->head);
	c->head = NULL;
	c->state = ECHO_DEAD;
	c->awaiting = false;
	if (counter)
		(*counter)++;
	echo_error(&l->k, why, err);
}

/* Writes what is queued; EPOLLOUT is registered only while some is left. */
static void echo_flush(struct echo_loop *l, struct echo_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			echo_kill(l, c, c->state == ECHO_OPEN ? &l->k.dropped : &l->k.failed,
			          "send", errno);
			return;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	bool out = c->wlen > 0;
	if (out != c->want_out)
		echo_watch(l, c, out);
}

/* Appends a masked client frame (RFC 6455 §5.3) to the output. */
static int echo_queue(struct echo_conn *c, enum ws_opcode op, const uint8_t *data, size_t len)
{
	if (c->wlen + len + WS_FRAME_HEADER_MAX > c->wcap)
		return -1;
	/* The mask only has to be unpredictable to a browser's script; a cheap
	 * per-connection sequence is enough for a load generator, and a real
	 * mask makes the server unmask (a zero mask would hide a bug there). */
	uint32_t m = (uint32_t)(c->seq * 2654435761u) ^ (uint32_t)c->id ^ 0x5bd1e995u;
	uint8_t mask[4] = {(uint8_t)(m >> 24), (uint8_t)(m >> 16), (uint8_t)(m >> 8),
	                   (uint8_t)(m | 1)};
	c->wlen += bench_http_ws_frame(c->wbuf + c->wlen, op, data, len, mask);
	return 0;
}

static const uint8_t *echo_expected(const struct echo_loop *l, const struct echo_conn *c)
{
	return l->sh->pattern + (c->seq * 7 + (uint64_t)c->id * 13) % ECHO_PATTERN_N;
}

static void echo_send(struct echo_loop *l, struct echo_conn *c)
{
	c->seq++;
	c->msg_off = 0;
	c->msg_bad = false;
	c->msg_op = 0;
	c->awaiting = true;
	echo_queue(c, l->o->binary ? WS_OP_BINARY : WS_OP_TEXT, echo_expected(l, c),
	           (size_t)l->o->size_bytes);
	c->sent_ns = bench_net_now_ns();
	echo_flush(l, c);
}

/* A whole echo arrived: check it, record it, send the next one. */
static void echo_done(struct echo_loop *l, struct echo_conn *c)
{
	uint64_t t = bench_net_now_ns();
	uint8_t want = l->o->binary ? WS_OP_BINARY : WS_OP_TEXT;
	c->awaiting = false;
	if (c->msg_bad || c->msg_off != (uint64_t)l->o->size_bytes || c->msg_op != want) {
		l->k.mismatches++;
		echo_error(&l->k,
		           c->msg_op != want ? "echo came back with another opcode"
		                             : "echo payload differs from what was sent",
		           0);
	} else if (t >= l->sh->window_start_ns && t < l->sh->window_end_ns) {
		bench_hist_record(&l->hist, t - c->sent_ns);
		l->round_trips++;
		atomic_store_explicit(&l->live_round_trips, l->round_trips, memory_order_relaxed);
	}
	if (t < l->sh->window_end_ns)
		echo_send(l, c);
}

/* A whole control frame (payload in ctl, <= 125 bytes, RFC 6455 §5.5). */
static void echo_control(struct echo_loop *l, struct echo_conn *c, uint8_t op)
{
	if (op == WS_OP_PING) {
		l->k.pings++;
		if (echo_queue(c, WS_OP_PONG, c->ctl, c->ctl_len) == 0)
			echo_flush(l, c);
	} else if (op == WS_OP_CLOSE) {
		unsigned code = c->ctl_len >= 2 ? (unsigned)c->ctl[0] << 8 | c->ctl[1] : 1005;
		char why[64];
		snprintf(why, sizeof why, "server sent close %u", code);
		echo_kill(l, c, &l->k.dropped, why, 0);
	}
	/* WS_OP_PONG: unsolicited, ignored (RFC 6455 §5.5.3). */
}

/* A slice of the echo: compare it with what was sent. */
static void echo_payload(struct echo_loop *l, struct echo_conn *c, const uint8_t *p, size_t n)
{
	size_t size = (size_t)l->o->size_bytes;
	if (c->msg_off + n > size || memcmp(p, echo_expected(l, c) + c->msg_off, n) != 0)
		c->msg_bad = true;
	c->msg_off += n;
}

/* Server frames (never masked) through the shared codec. */
static void echo_frames(struct echo_loop *l, struct echo_conn *c, uint8_t *p, size_t n)
{
	while (n > 0 && c->state == ECHO_OPEN) {
		struct ws_frame_event ev;
		int64_t k = ws_frame_parse(&c->wp, p, n, &ev);
		if (k < 0) {
			echo_kill(l, c, &l->k.protocol, err_message((int)k), 0);
			return;
		}
		p += k;
		n -= (size_t)k;
		if (ev.opcode >= WS_OP_CLOSE) {
			if (ev.frame_start)
				c->ctl_len = 0;
			if (ev.len) /* the codec keeps control payloads <= 125 bytes */
				memcpy(c->ctl + c->ctl_len, ev.data, ev.len);
			c->ctl_len = (uint8_t)(c->ctl_len + ev.len);
			if (ev.frame_end)
				echo_control(l, c, ev.opcode);
			continue;
		}
		if (ev.frame_start && ev.opcode != WS_OP_CONT) {
			if (!c->awaiting) {
				echo_kill(l, c, &l->k.protocol, "a data frame nobody asked for", 0);
				return;
			}
			c->msg_op = ev.opcode;
		}
		if (ev.len)
			echo_payload(l, c, ev.data, ev.len);
		if (ev.frame_end && ev.fin)
			echo_done(l, c);
	}
}

/* The 101 head is complete in c->head: check it; returns its length or 0. */
static size_t echo_upgraded(struct echo_loop *l, struct echo_conn *c)
{
	size_t hl = bench_http_head_len(c->head, c->head_len);
	const char *bad = bench_http_ws_check_101(c->head, hl,
	                                          l->sh->keys.accept[c->id % BENCH_WS_KEYS], NULL);
	if (bad) {
		char why[160];
		c->head[c->head_len] = 0;
		snprintf(why, sizeof why, "%s: %.*s", bad, (int)strcspn(c->head, "\r\n"), c->head);
		echo_kill(l, c, &l->k.failed, why, 0);
		return 0;
	}
	free(c->head);
	c->head = NULL;
	c->state = ECHO_OPEN;
	l->pending--;
	l->k.connected++;
	atomic_store_explicit(&l->live_connected, l->k.connected, memory_order_relaxed);
	return hl;
}

/* One read (or more when it filled the buffer); bytes go to the head, then
 * to the frame parser. */
static void echo_readable(struct echo_loop *l, struct echo_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, l->rbuf, sizeof l->rbuf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			echo_kill(l, c, c->state == ECHO_OPEN ? &l->k.dropped : &l->k.failed,
			          n == 0 ? "server closed the connection" : "recv",
			          n == 0 ? 0 : errno);
			return;
		}
		uint8_t *p = l->rbuf;
		size_t len = (size_t)n;
		if (c->state == ECHO_HANDSHAKE) {
			size_t room = BENCH_HTTP_HEAD_MAX - 1 - c->head_len;
			size_t take = len < room ? len : room, before = c->head_len;
			memcpy(c->head + c->head_len, p, take);
			c->head_len += (uint32_t)take;
			if (!bench_http_head_len(c->head, c->head_len)) {
				if (c->head_len >= BENCH_HTTP_HEAD_MAX - 1)
					echo_kill(l, c, &l->k.failed, "101 head too large", 0);
				return;
			}
			size_t hl = echo_upgraded(l, c);
			if (!hl)
				return;
			p += hl - before;
			len -= hl - before;
		}
		echo_frames(l, c, p, len);
		/* Only a recv that filled the buffer may have left more behind;
		 * otherwise level-triggered epoll reports the rest. */
		if (c->state == ECHO_DEAD || (size_t)n < sizeof l->rbuf)
			return;
	}
}

/* Starts the non-blocking connect of c. */
static void echo_start(struct echo_loop *l, struct echo_conn *c)
{
	c->started_ns = bench_net_now_ns();
	l->pending++;
	c->state = ECHO_CONNECTING;
	ws_frame_parser_init(&c->wp, WS_ROLE_CLIENT, false);
	int fd = bench_net_connect(&l->o->url.addr, c->id);
	if (fd < 0) {
		echo_kill(l, c, &l->k.failed, "connect", -fd);
		return;
	}
	c->fd = fd;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
	c->want_out = true;
}

/* The TCP connection is up: send the upgrade request (RFC 6455 §4.1). */
static void echo_connected(struct echo_loop *l, struct echo_conn *c)
{
	const struct bench_opts *o = l->o;
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	c->head = malloc(BENCH_HTTP_HEAD_MAX);
	if (err || !c->head) {
		echo_kill(l, c, &l->k.failed, "connect", err ? err : ENOMEM);
		return;
	}
	c->head_len = 0;
	const char *path = o->url.path[0] ? o->url.path : "/echo";
	c->wlen = bench_http_ws_upgrade((char *)c->wbuf, c->wcap, path, o->url.host, o->url.port,
	                                l->sh->keys.key[c->id % BENCH_WS_KEYS], NULL);
	c->woff = 0;
	c->state = ECHO_HANDSHAKE;
	echo_flush(l, c);
}

static void echo_event(struct echo_loop *l, struct echo_conn *c, uint32_t events)
{
	if (c->state == ECHO_DEAD)
		return;
	if (c->state == ECHO_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			echo_connected(l, c);
		return;
	}
	if ((events & EPOLLOUT) && c->wlen)
		echo_flush(l, c);
	if (c->state != ECHO_DEAD && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		echo_readable(l, c);
}

/* Fails handshakes and echoes older than --timeout. */
static void echo_timeouts(struct echo_loop *l, uint64_t t)
{
	uint64_t lim = (uint64_t)(l->o->timeout_s * 1e9);
	for (long i = 0; i < l->next; i++) {
		struct echo_conn *c = &l->conns[i];
		if ((c->state == ECHO_CONNECTING || c->state == ECHO_HANDSHAKE) &&
		    t - c->started_ns > lim)
			echo_kill(l, c, &l->k.late, "handshake timed out (--timeout)", 0);
		else if (c->state == ECHO_OPEN && c->awaiting && t - c->sent_ns > lim)
			echo_kill(l, c, &l->k.timeouts, "echo timed out (--timeout)", 0);
	}
}

/* Runs epoll until deadline_ns, or until every connection is up or dead
 * when connecting. */
static void echo_loop_run(struct echo_loop *l, bool connecting, uint64_t deadline_ns)
{
	struct epoll_event evs[256];
	uint64_t last_check = bench_net_now_ns();
	for (;;) {
		uint64_t t = bench_net_now_ns();
		if (t >= deadline_ns || (connecting && l->next == l->n && l->pending == 0))
			return;
		if (t - last_check > 100000000u) {
			echo_timeouts(l, t);
			last_check = t;
		}
		while (connecting && l->next < l->n && l->pending < l->inflight_cap)
			echo_start(l, &l->conns[l->next++]);
		uint64_t wait_ms = (deadline_ns - t) / 1000000u + 1;
		int n = epoll_wait(l->ep, evs, 256, wait_ms < 100 ? (int)wait_ms : 100);
		for (int i = 0; i < n; i++)
			echo_event(l, evs[i].data.ptr, evs[i].events);
	}
}

static void *echo_thread(void *arg)
{
	struct echo_loop *l = arg;
	struct echo_shared *sh = l->sh;
	echo_loop_run(l, true, bench_net_now_ns() + (uint64_t)(l->o->timeout_s * 1e9));
	/* Whatever is not up by now never will be, for this run. */
	for (long i = 0; i < l->n; i++) {
		struct echo_conn *c = &l->conns[i];
		if (c->state == ECHO_NEW) {
			l->k.late++;
			c->state = ECHO_DEAD;
			echo_error(&l->k, "not started within --timeout", 0);
		} else if (c->state == ECHO_CONNECTING || c->state == ECHO_HANDSHAKE)
			echo_kill(l, c, &l->k.late, "handshake timed out (--timeout)", 0);
	}
	l->k.failed += l->k.late;
	atomic_fetch_add(&sh->ready, 1);
	int go;
	while (!(go = atomic_load_explicit(&sh->go, memory_order_acquire)))
		echo_loop_run(l, false, bench_net_now_ns() + 5000000u); /* pings, closes */
	if (go != 1)
		return NULL;
	for (long i = 0; i < l->n; i++)
		if (l->conns[i].state == ECHO_OPEN)
			echo_send(l, &l->conns[i]);
	echo_loop_run(l, false, sh->window_end_ns);
	return NULL;
}

static int echo_loop_init(struct echo_loop *l, struct echo_shared *sh, long first, long n, int cap)
{
	const struct bench_opts *o = sh->o;
	l->sh = sh;
	l->o = o;
	l->n = n;
	l->inflight_cap = cap > 0 ? cap : 1;
	bench_hist_init(&l->hist);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->conns = calloc((size_t)n, sizeof *l->conns);
	if (l->ep < 0 || !l->conns)
		return -1;
	size_t wcap = (size_t)o->size_bytes + WS_FRAME_HEADER_MAX + ECHO_CTRL_ROOM;
	for (long i = 0; i < n; i++)
		l->conns[i].fd = -1;
	for (long i = 0; i < n; i++) {
		struct echo_conn *c = &l->conns[i];
		c->id = first + i;
		c->wcap = wcap < 1024 ? 1024 : wcap; /* the upgrade request goes here too */
		c->wbuf = malloc(c->wcap);
		if (!c->wbuf)
			return -1;
	}
	return 0;
}

static void echo_loop_free(struct echo_loop *l)
{
	for (long i = 0; l->conns && i < l->n; i++) {
		struct echo_conn *c = &l->conns[i];
		if (c->fd >= 0)
			bench_net_close_rst(c->fd);
		free(c->head);
		free(c->wbuf);
	}
	free(l->conns);
	if (l->ep >= 0)
		close(l->ep);
}

static void echo_counts_add(struct echo_counts *a, const struct echo_counts *b)
{
	a->connected += b->connected;
	a->failed += b->failed;
	a->dropped += b->dropped;
	a->mismatches += b->mismatches;
	a->timeouts += b->timeouts;
	a->protocol += b->protocol;
	a->pings += b->pings;
	a->late += b->late;
	if (!a->first_err[0])
		memcpy(a->first_err, b->first_err, sizeof a->first_err);
}

/* Sleeps until t (monotonic ns). */
static void echo_sleep_until(uint64_t t)
{
	struct timespec at = {.tv_sec = (time_t)(t / 1000000000u),
	                      .tv_nsec = (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
}

/* Progress until every thread is connected, or until t_end; 100 ms steps. */
static void echo_watch_threads(struct echo_shared *sh, struct echo_loop *ls,
                               struct bench_progress *pg, uint64_t t_end)
{
	const struct bench_opts *o = sh->o;
	for (;;) {
		uint64_t now = bench_net_now_ns();
		long conn = 0;
		uint64_t rts = 0;
		for (int t = 0; t < o->threads; t++) {
			conn += atomic_load_explicit(&ls[t].live_connected, memory_order_relaxed);
			rts += atomic_load_explicit(&ls[t].live_round_trips, memory_order_relaxed);
		}
		bench_net_progress_show(pg, now, conn, o->conns, "round trips", rts, 0);
		if (t_end ? now >= t_end : atomic_load(&sh->ready) == o->threads)
			return;
		uint64_t next = now + 100000000u;
		echo_sleep_until(t_end && next > t_end ? t_end : next);
	}
}

struct echo_result {
	struct echo_counts k;
	struct bench_hist *hist;
	uint64_t rts;
	double cpu_util;
	bool ran; /* the window ran (something connected) */
};

static void echo_report(const struct bench_opts *o, const struct echo_result *res)
{
	const struct echo_counts *k = &res->k;
	long errors = k->failed + k->dropped + k->mismatches + k->timeouts + k->protocol;
	struct bench_report rep;
	bench_report_init(&rep, "crier bench echo");
	bench_report_str(&rep, "bench", "echo");
	bench_report_str(&rep, "url", o->url_text);
	bench_report_int(&rep, "conns", o->conns);
	bench_report_int(&rep, "size", o->size_bytes);
	bench_report_num(&rep, "seconds", o->duration_s, 3);
	bench_report_int(&rep, "round_trips", (int64_t)res->rts);
	bench_report_num(&rep, "rps", res->ran ? (double)res->rts / o->duration_s : 0, 0);
	bench_report_num(&rep, "p50_us", (double)bench_hist_quantile(res->hist, 0.5) / 1e3, 1);
	bench_report_num(&rep, "p90_us", (double)bench_hist_quantile(res->hist, 0.9) / 1e3, 1);
	bench_report_num(&rep, "p99_us", (double)bench_hist_quantile(res->hist, 0.99) / 1e3, 1);
	bench_report_num(&rep, "p999_us", (double)bench_hist_quantile(res->hist, 0.999) / 1e3, 1);
	bench_report_num(&rep, "max_us", res->rts ? (double)res->hist->max / 1e3 : 0, 1);
	bench_report_num(&rep, "mean_us", bench_hist_mean(res->hist) / 1e3, 1);
	bench_report_int(&rep, "errors", errors);
	bench_report_int(&rep, "connected", k->connected);
	bench_report_int(&rep, "failed", k->failed);
	bench_report_int(&rep, "lost", k->dropped);
	bench_report_int(&rep, "mismatches", k->mismatches);
	bench_report_int(&rep, "timeouts", k->timeouts);
	bench_report_int(&rep, "protocol_errors", k->protocol);
	bench_report_int(&rep, "pings_answered", k->pings);
	bench_report_str(&rep, "opcode", o->binary ? "binary" : "text");
	bench_report_int(&rep, "threads", o->threads);
	bench_report_num(&rep, "warmup_s", o->warmup_s, 3);
	bench_report_num(&rep, "client_cpu_util", res->cpu_util, 2);
	bench_report_bool(&rep, "timed_out", k->late > 0 || k->timeouts > 0);
	bench_report_bool(&rep, "complete", res->ran && k->connected == o->conns);
	bench_report_str(&rep, "first_error", k->first_err);
	bench_report_print(&rep, stdout, o->human);
}

/* Starts the threads, runs the window, merges; fills res. */
static int echo_threads(struct echo_shared *sh, struct echo_loop *ls, struct echo_result *res)
{
	const struct bench_opts *o = sh->o;
	int nt = o->threads, started = 0;
	long first = 0;
	for (int t = 0; t < nt; t++) {
		long n = o->conns / nt + (t < o->conns % nt);
		if (echo_loop_init(&ls[t], sh, first, n, o->inflight / nt) != 0 ||
		    pthread_create(&ls[t].tid, NULL, echo_thread, &ls[t]) != 0) {
			fprintf(stderr, "crier bench: out of memory or threads\n");
			atomic_store(&sh->go, 2);
			break;
		}
		started++;
		first += n;
	}
	struct bench_progress pg;
	bench_net_progress_init(&pg, "echo", o->progress);
	if (started == nt)
		echo_watch_threads(sh, ls, &pg, 0);
	long connected = 0;
	for (int t = 0; t < started; t++)
		connected += atomic_load(&ls[t].live_connected);
	double cpu0 = 0, cpu1 = 0;
	if (started == nt && connected > 0) {
		uint64_t t0 = bench_net_now_ns();
		sh->window_start_ns = t0 + (uint64_t)(o->warmup_s * 1e9);
		sh->window_end_ns = sh->window_start_ns + (uint64_t)(o->duration_s * 1e9);
		atomic_store_explicit(&sh->go, 1, memory_order_release);
		echo_sleep_until(sh->window_start_ns);
		cpu0 = bench_net_self_cpu_s();
		echo_watch_threads(sh, ls, &pg, sh->window_end_ns);
		res->ran = true;
	} else {
		atomic_store_explicit(&sh->go, 2, memory_order_release);
	}
	for (int t = 0; t < started; t++)
		pthread_join(ls[t].tid, NULL);
	cpu1 = bench_net_self_cpu_s();
	bench_net_progress_end(&pg);
	res->cpu_util = res->ran ? (cpu1 - cpu0) / o->duration_s : 0;
	for (int t = 0; t < started; t++) {
		echo_counts_add(&res->k, &ls[t].k);
		bench_hist_merge(res->hist, &ls[t].hist);
		res->rts += ls[t].round_trips;
	}
	return started == nt ? 0 : 2;
}

int bench_echo_run(const struct bench_opts *o)
{
	if (bench_net_nofile(o->conns + 64, "the echo connections") < 0)
		return 2;
	struct echo_shared *sh = calloc(1, sizeof *sh);
	struct echo_loop *ls = calloc((size_t)o->threads, sizeof *ls);
	struct echo_result res = {.hist = malloc(sizeof *res.hist)};
	size_t plen = (size_t)o->size_bytes + ECHO_PATTERN_N;
	uint8_t *pat = malloc(plen);
	if (!sh || !ls || !res.hist || !pat) {
		fprintf(stderr, "crier bench: out of memory\n");
		free(sh), free(ls), free(res.hist), free(pat);
		return 2;
	}
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	for (size_t i = 0; i < plen; i++)
		pat[i] = (uint8_t)alpha[i % ECHO_PATTERN_N];
	for (int t = 0; t < o->threads; t++)
		ls[t].ep = -1;
	sh->o = o;
	sh->pattern = pat;
	bench_http_ws_keys(&sh->keys);
	bench_hist_init(res.hist);
	int rc = echo_threads(sh, ls, &res);
	if (rc == 0) {
		echo_report(o, &res);
		if (res.k.connected == 0)
			fprintf(stderr, "crier bench: no connection completed the upgrade: %s\n",
			        res.k.first_err);
		long errors = res.k.failed + res.k.dropped + res.k.mismatches + res.k.timeouts +
		              res.k.protocol;
		rc = errors == 0 && res.rts > 0 && res.k.connected == o->conns ? 0 : 1;
	}
	for (int t = 0; t < o->threads; t++)
		echo_loop_free(&ls[t]);
	free(ls);
	free(sh);
	free(res.hist);
	free(pat);
	return rc;
}
