/*
 * bench_connect.c - `crier bench connect`: open --conns connections of one
 * transport as fast as the server takes them, hold them idle, and report
 * connections per second, failures, time to establish, and (with
 * --server-pid) the server's memory per idle connection.
 *
 * A connection counts as established when the server has fully set it up
 * and gone quiet:
 *   http     GET --url's path (/healthz) answered 200 with a Content-Length
 *            body, read whole: an idle keep-alive connection;
 *   sse      GET /sub/{ch} with Accept: text/event-stream answered 200 and
 *            its first body byte (crier's ":ok");
 *   ws       the 101 of GET /sub/{ch} (or the URL's path: /echo, nchan's
 *            locations) with the right Sec-WebSocket-Accept;
 *   wsproto  the 101 of /ws with crier.v1, then the ack of a subscribe;
 *   poll     the answer to GET /sub/{ch}?since= (an empty cursor, answered
 *            at once), then a second poll from its "next", which the hub
 *            holds: the idle connection is a held long-poll.
 * While held, WebSocket pings are answered, SSE heartbeats read and
 * dropped, a held poll that the hub answers (its --poll-timeout) is
 * re-sent; a connection the server closes is counted as dropped.
 *
 * What it owns: one epoll loop in one thread, the connections and the
 * /proc samples. What it never does: send anything on an idle connection
 * beyond what keeps it alive. The non-obvious choices:
 *  - With --server-pid, --prime connections are opened and closed first,
 *    so the code and allocator pages the first connections touch are in
 *    "before", and the figure is the cost of one more connection.
 *  - At most --inflight connects and handshakes are pending at once, so
 *    the server's accept backlog never overflows (a dropped SYN costs a
 *    1 s retransmit that would be measured as slowness of the server).
 *  - Frames go through ws/ws_frame.c, the codec of the server and
 *    libcrier, in the client role.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_hist.h"
#include "bench/bench_http.h"
#include "bench/bench_report.h"
#include "core/err.h"

/* Bytes of a poll answer's body kept to find its "next" (the cursor is at
 * the end: when the body is longer, the last bytes are kept). */
#define CONNECT_TAIL 512

enum connect_state {
	CN_NEW,
	CN_CONNECTING,
	CN_HEAD,   /* reading an answer head (into head) */
	CN_BODY,   /* http, poll: reading a Content-Length body */
	CN_STREAM, /* sse: the event stream (established at its first byte) */
	CN_FRAMES, /* ws, wsproto: WebSocket frames */
	CN_IDLE,   /* http: the answer is read; the connection is idle */
	CN_DEAD,
};

struct connect_conn {
	int fd;
	uint8_t state;     /* enum connect_state */
	bool established;  /* counted in connected */
	uint8_t frame_len; /* bytes of the current frame's payload kept in frame */
	uint8_t frame[WS_CONTROL_MAX];
	long id;
	uint64_t started_ns; /* connect() time */
	long body_left;      /* CN_BODY: bytes still to come */
	struct ws_frame_parser wp;
	char *head; /* BENCH_HTTP_HEAD_MAX: the answer head, then (poll) its body's tail */
	uint32_t head_len;
};

struct connect_counts {
	long connected; /* established */
	long failed;    /* connect, refusal, or not established within --timeout */
	long dropped;   /* established, then closed by the server */
	long pings;     /* server pings answered */
	long messages;  /* data frames, poll answers or stray bytes while idle */
	char first_err[160];
};

/* One set of connections (the run's, or the priming ones) and its loop. */
struct connect_set {
	const struct bench_opts *o;
	const struct bench_ws_keys *keys;
	int ep;
	struct connect_conn *conns;
	long n, next, pending;
	struct connect_counts k;
	struct bench_hist setup; /* connect() to established, ns */
	uint8_t rbuf[64 * 1024];
};

static void connect_error(struct connect_counts *k, const char *what, int err)
{
	if (k->first_err[0])
		return;
	if (err)
		snprintf(k->first_err, sizeof k->first_err, "%s: %s", what, strerror(err));
	else
		snprintf(k->first_err, sizeof k->first_err, "%s", what);
}

static void connect_kill(struct connect_set *s, struct connect_conn *c, const char *why, int err)
{
	if (c->state == CN_DEAD)
		return;
	if (c->established) {
		s->k.dropped++;
	} else {
		s->k.failed++;
		s->pending--;
	}
	if (c->fd >= 0)
		bench_net_close_rst(c->fd);
	c->fd = -1;
	free(c->head);
	c->head = NULL;
	c->state = CN_DEAD;
	connect_error(&s->k, why, err);
}

static void connect_established(struct connect_set *s, struct connect_conn *c)
{
	if (c->established)
		return;
	c->established = true;
	s->pending--;
	s->k.connected++;
	bench_hist_record(&s->setup, bench_net_now_ns() - c->started_ns);
}

/* Sends all of p[0..n) on a fresh or idle socket (small writes only). */
static bool connect_send(struct connect_set *s, struct connect_conn *c, const void *p, size_t n)
{
	if (send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n)
		return true;
	connect_kill(s, c, "send", errno);
	return false;
}

/* The path of connection c: the URL's (with %s as its channel), or the
 * transport's default. */
static void connect_path(const struct connect_set *s, const struct connect_conn *c, char *out,
                         size_t cap)
{
	const struct bench_opts *o = s->o;
	char chan[32];
	snprintf(chan, sizeof chan, "bench%ld", c->id % o->channels);
	const char *pat = o->url.path;
	if (!pat[0])
		pat = o->transport == BENCH_HTTP      ? "/healthz"
		      : o->transport == BENCH_WSPROTO ? "/ws"
		                                      : "/sub/%s";
	const char *pct = strstr(pat, "%s");
	if (pct)
		snprintf(out, cap, "%.*s%s%s", (int)(pct - pat), pat, chan, pct + 2);
	else
		snprintf(out, cap, "%s", pat);
}

/* A long-poll from cursor since (empty: the first poll). */
static bool connect_poll(struct connect_set *s, struct connect_conn *c, const char *since)
{
	char path[300], req[512];
	connect_path(s, c, path, sizeof path);
	int n = snprintf(req, sizeof req, "GET %s?since=%s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", path,
	                 since, s->o->url.host, (unsigned)s->o->url.port);
	return connect_send(s, c, req, (size_t)n);
}

/* The TCP connection is up: send the transport's request. */
static void connect_request(struct connect_set *s, struct connect_conn *c)
{
	const struct bench_opts *o = s->o;
	char path[300], req[1024];
	size_t n;
	connect_path(s, c, path, sizeof path);
	c->head = malloc(BENCH_HTTP_HEAD_MAX);
	if (!c->head) {
		connect_kill(s, c, "out of memory", 0);
		return;
	}
	c->head_len = 0;
	c->state = CN_HEAD;
	switch (o->transport) {
	case BENCH_WS:
	case BENCH_WSPROTO:
		n = bench_http_ws_upgrade(req, sizeof req, path, o->url.host, o->url.port,
		                          s->keys->key[c->id % BENCH_WS_KEYS],
		                          o->transport == BENCH_WSPROTO ? BENCH_WS_SUBPROTOCOL
		                                                        : NULL);
		break;
	case BENCH_POLL:
		connect_poll(s, c, "");
		return;
	case BENCH_SSE:
		n = (size_t)snprintf(
		        req, sizeof req,
		        "GET %s HTTP/1.1\r\nHost: %s:%u\r\nAccept: text/event-stream\r\n\r\n", path,
		        o->url.host, (unsigned)o->url.port);
		break;
	default:
		n = (size_t)snprintf(
		        req, sizeof req,
		        "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: crier-bench\r\n\r\n", path,
		        o->url.host, (unsigned)o->url.port);
	}
	connect_send(s, c, req, n);
}

/* Finds "next":"..." in the kept tail of a poll answer; 0 or -1. */
static int connect_poll_next(const struct connect_conn *c, char *out, size_t cap)
{
	static const char key[] = "\"next\":\"";
	const char *p = memmem(c->head, c->head_len, key, sizeof key - 1);
	if (!p)
		return -1;
	p += sizeof key - 1;
	const char *end = memchr(p, '"', (size_t)(c->head + c->head_len - p));
	if (!end || (size_t)(end - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = 0;
	return 0;
}

/* A whole poll answer was read: poll again from its cursor. The first
 * answer establishes the connection; later ones (the hub's poll timeout,
 * or a message) only keep it held. */
static void connect_poll_answered(struct connect_set *s, struct connect_conn *c)
{
	char next[64];
	if (connect_poll_next(c, next, sizeof next) < 0) {
		connect_kill(s, c, "a poll answer without \"next\"", 0);
		return;
	}
	if (c->established)
		s->k.messages++;
	c->head_len = 0;
	c->state = CN_HEAD;
	if (connect_poll(s, c, next))
		connect_established(s, c);
}

/* Body bytes of an http or poll answer. */
static size_t connect_body(struct connect_set *s, struct connect_conn *c, const uint8_t *p,
                           size_t n)
{
	size_t take = n < (size_t)c->body_left ? n : (size_t)c->body_left;
	if (s->o->transport == BENCH_POLL) { /* keep the tail, where "next" is */
		if (take >= CONNECT_TAIL) {
			memcpy(c->head, p + take - CONNECT_TAIL, CONNECT_TAIL);
			c->head_len = CONNECT_TAIL;
		} else if (take) {
			if (c->head_len + take > BENCH_HTTP_HEAD_MAX) {
				memmove(c->head, c->head + c->head_len - CONNECT_TAIL,
				        CONNECT_TAIL);
				c->head_len = CONNECT_TAIL;
			}
			memcpy(c->head + c->head_len, p, take);
			c->head_len += (uint32_t)take;
		}
	}
	c->body_left -= (long)take;
	if (c->body_left == 0) {
		if (s->o->transport == BENCH_POLL) {
			connect_poll_answered(s, c);
		} else {
			c->state = CN_IDLE;
			free(c->head);
			c->head = NULL;
			connect_established(s, c);
		}
	}
	return take;
}

/* A whole frame (its first bytes in frame): answer pings, count data,
 * take the crier.v1 subscribe's ack. */
static void connect_frame(struct connect_set *s, struct connect_conn *c,
                          const struct ws_frame_event *ev)
{
	static const char ack[] = "{\"op\":\"ack\",\"ref\":1,";
	if (ev->opcode == WS_OP_PING) {
		uint8_t f[WS_FRAME_HEADER_MAX + WS_CONTROL_MAX];
		static const uint8_t zero_mask[4] = {0};
		size_t fl = bench_http_ws_frame(f, WS_OP_PONG, c->frame, c->frame_len, zero_mask);
		s->k.pings++;
		(void)!send(c->fd, f, fl, MSG_NOSIGNAL); /* a full socket skips one pong */
	} else if (ev->opcode == WS_OP_CLOSE) {
		connect_kill(s, c, "the server sent a close frame", 0);
	} else if (ev->opcode != WS_OP_PONG && ev->fin) {
		if (c->established)
			s->k.messages++;
		else if (c->frame_len >= sizeof ack - 1 && !memcmp(c->frame, ack, sizeof ack - 1))
			connect_established(s, c);
		else
			connect_kill(s, c, "the crier.v1 subscribe was not acknowledged", 0);
	}
}

static void connect_frames(struct connect_set *s, struct connect_conn *c, uint8_t *p, size_t n)
{
	while (n > 0 && c->state == CN_FRAMES) {
		struct ws_frame_event ev;
		int64_t k = ws_frame_parse(&c->wp, p, n, &ev);
		if (k < 0) {
			connect_kill(s, c, err_message((int)k), 0);
			return;
		}
		p += k;
		n -= (size_t)k;
		if (ev.frame_start)
			c->frame_len = 0;
		size_t keep = sizeof c->frame - c->frame_len;
		if (keep > ev.len)
			keep = ev.len;
		if (keep)
			memcpy(c->frame + c->frame_len, ev.data, keep);
		c->frame_len = (uint8_t)(c->frame_len + keep);
		if (ev.frame_end)
			connect_frame(s, c, &ev);
	}
}

/* The answer head is complete: check it and move to the next state. */
static bool connect_head_done(struct connect_set *s, struct connect_conn *c, size_t hl)
{
	const struct bench_opts *o = s->o;
	const char *bad = NULL, *v;
	int status = bench_http_status(c->head, hl);
	if (o->transport == BENCH_WS || o->transport == BENCH_WSPROTO) {
		bad = bench_http_ws_check_101(c->head, hl, s->keys->accept[c->id % BENCH_WS_KEYS],
		                              o->transport == BENCH_WSPROTO ? BENCH_WS_SUBPROTOCOL
		                                                            : NULL);
	} else if (status != 200) {
		bad = "expected 200";
	} else if (o->transport == BENCH_SSE) {
		if (bench_http_header(c->head, hl, "transfer-encoding", &v) >= 0)
			bad = "a chunked event stream";
	} else if ((c->body_left = bench_http_content_length(c->head, hl)) < 0) {
		bad = "an answer without Content-Length";
	} else if (bench_http_header(c->head, hl, "connection", &v) >= 5 &&
	           !strncasecmp(v, "close", 5)) {
		bad = "the server closes the connection after the answer";
	}
	if (bad) {
		char why[160];
		c->head[c->head_len < BENCH_HTTP_HEAD_MAX ? c->head_len : BENCH_HTTP_HEAD_MAX - 1] =
		        0;
		snprintf(why, sizeof why, "%s: %.*s", bad, (int)strcspn(c->head, "\r\n"), c->head);
		connect_kill(s, c, why, 0);
		return false;
	}
	return true;
}

/* Enters the state that follows a good head. */
static void connect_after_head(struct connect_set *s, struct connect_conn *c)
{
	static const uint8_t zero_mask[4] = {0};
	switch (s->o->transport) {
	case BENCH_WS:
	case BENCH_WSPROTO:
		c->state = CN_FRAMES;
		ws_frame_parser_init(&c->wp, WS_ROLE_CLIENT, false);
		free(c->head);
		c->head = NULL;
		if (s->o->transport == BENCH_WS) {
			connect_established(s, c);
		} else {
			char req[128];
			uint8_t f[WS_FRAME_HEADER_MAX + sizeof req];
			int k = snprintf(
			        req, sizeof req,
			        "{\"op\":\"subscribe\",\"ref\":1,\"channels\":[\"bench%ld\"]}",
			        c->id % s->o->channels);
			connect_send(s, c, f,
			             bench_http_ws_frame(f, WS_OP_TEXT, req, (size_t)k, zero_mask));
		}
		break;
	case BENCH_SSE:
		c->state = CN_STREAM;
		free(c->head);
		c->head = NULL;
		break;
	default:
		c->state = CN_BODY;
		c->head_len = 0; /* poll: the body's tail goes here */
		if (c->body_left == 0)
			connect_body(s, c, NULL, 0);
	}
}

/* Bytes from the server, in whatever state the connection is. */
static void connect_input(struct connect_set *s, struct connect_conn *c, uint8_t *p, size_t n)
{
	while (n > 0 && c->state != CN_DEAD) {
		switch (c->state) {
		case CN_HEAD: {
			size_t room = BENCH_HTTP_HEAD_MAX - 1 - c->head_len, before = c->head_len;
			size_t take = n < room ? n : room;
			memcpy(c->head + c->head_len, p, take);
			c->head_len += (uint32_t)take;
			size_t hl = bench_http_head_len(c->head, c->head_len);
			if (!hl) {
				if (c->head_len >= BENCH_HTTP_HEAD_MAX - 1)
					connect_kill(s, c, "answer head too large", 0);
				return;
			}
			if (!connect_head_done(s, c, hl))
				return;
			p += hl - before;
			n -= hl - before;
			connect_after_head(s, c);
			break;
		}
		case CN_BODY: {
			size_t used = connect_body(s, c, p, n);
			p += used;
			n -= used;
			break;
		}
		case CN_STREAM: /* the first byte establishes; heartbeats are dropped */
			connect_established(s, c);
			return;
		case CN_FRAMES:
			connect_frames(s, c, p, n);
			return;
		default: /* CN_IDLE: an idle keep-alive connection got bytes */
			s->k.messages++;
			return;
		}
	}
}

static void connect_event(struct connect_set *s, struct connect_conn *c, uint32_t events)
{
	if (c->state == CN_DEAD)
		return;
	if (c->state == CN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			connect_kill(s, c, "connect", err);
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
		connect_request(s, c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	ssize_t n = recv(c->fd, s->rbuf, sizeof s->rbuf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		connect_kill(s, c, n == 0 ? "the server closed the connection" : "recv",
		             n == 0 ? 0 : errno);
		return;
	}
	connect_input(s, c, s->rbuf, (size_t)n);
}

static void connect_start(struct connect_set *s, struct connect_conn *c)
{
	c->started_ns = bench_net_now_ns();
	c->state = CN_CONNECTING;
	s->pending++;
	int fd = bench_net_connect(&s->o->url.addr, c->id);
	if (fd < 0) {
		connect_kill(s, c, "connect", -fd);
		return;
	}
	c->fd = fd;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Fails connections not established within --timeout of their connect. */
static void connect_timeouts(struct connect_set *s, uint64_t now)
{
	uint64_t lim = (uint64_t)(s->o->timeout_s * 1e9);
	for (long i = 0; i < s->next; i++) {
		struct connect_conn *c = &s->conns[i];
		if (c->state != CN_DEAD && !c->established && now - c->started_ns > lim)
			connect_kill(s, c, "not established within --timeout", 0);
	}
}

/* Runs the loop until deadline_ns, or (opening) until every connection is
 * established or failed. pg: the progress line, or NULL. */
static void connect_run(struct connect_set *s, bool opening, uint64_t deadline_ns,
                        struct bench_progress *pg)
{
	struct epoll_event evs[512];
	uint64_t last_check = bench_net_now_ns();
	for (;;) {
		uint64_t t = bench_net_now_ns();
		if (t >= deadline_ns || (opening && s->next == s->n && s->pending == 0))
			return;
		if (t - last_check > 100000000u) {
			connect_timeouts(s, t);
			last_check = t;
		}
		while (opening && s->next < s->n && s->pending < s->o->inflight)
			connect_start(s, &s->conns[s->next++]);
		if (pg)
			bench_net_progress_show(pg, t, s->k.connected, s->n, "failed",
			                        (uint64_t)s->k.failed, 0);
		uint64_t wait_ms = (deadline_ns - t) / 1000000u + 1;
		int n = epoll_wait(s->ep, evs, 512, wait_ms < 100 ? (int)wait_ms : 100);
		for (int i = 0; i < n; i++)
			connect_event(s, evs[i].data.ptr, evs[i].events);
	}
}

static struct connect_set *connect_set_new(const struct bench_opts *o,
                                           const struct bench_ws_keys *keys, long n)
{
	struct connect_set *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = o;
	s->keys = keys;
	s->n = n;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->conns = calloc((size_t)n + 1, sizeof *s->conns);
	bench_hist_init(&s->setup);
	if (s->ep < 0 || !s->conns) {
		if (s->ep >= 0)
			close(s->ep);
		free(s->conns);
		free(s);
		return NULL;
	}
	for (long i = 0; i < n; i++) {
		s->conns[i].fd = -1;
		s->conns[i].id = i;
	}
	return s;
}

static void connect_set_free(struct connect_set *s)
{
	for (long i = 0; i < s->n; i++) {
		if (s->conns[i].fd >= 0)
			bench_net_close_rst(s->conns[i].fd);
		free(s->conns[i].head);
	}
	close(s->ep);
	free(s->conns);
	free(s);
}

/* Sleeps ns nanoseconds. */
static void connect_nap(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
	                      .tv_nsec = (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The server's memory at the three moments of the run. */
struct connect_mem {
	long rss_before_kb, rss_after_kb, rss_end_kb;
	long pss_before_kb, pss_after_kb;
	int processes;
};

static void connect_report(const struct bench_opts *o, const struct connect_set *s,
                           const struct connect_mem *m, double connect_s, long idle, bool timed_out)
{
	const struct connect_counts *k = &s->k;
	bool mem = m->rss_before_kb >= 0 && m->rss_after_kb >= 0 && idle > 0;
	struct bench_report rep;
	bench_report_init(&rep, "crier bench connect");
	bench_report_str(&rep, "bench", "connect");
	bench_report_str(&rep, "transport", bench_transport_name(o->transport));
	bench_report_str(&rep, "url", o->url_text);
	bench_report_int(&rep, "conns", o->conns);
	bench_report_int(&rep, "connected", k->connected);
	bench_report_int(&rep, "failed", k->failed);
	bench_report_int(&rep, "dropped", k->dropped);
	bench_report_num(&rep, "connect_seconds", connect_s, 3);
	bench_report_num(&rep, "conns_per_s", connect_s > 0 ? (double)k->connected / connect_s : 0,
	                 0);
	bench_report_num(&rep, "setup_p50_us", (double)bench_hist_quantile(&s->setup, 0.5) / 1e3,
	                 0);
	bench_report_num(&rep, "setup_p99_us", (double)bench_hist_quantile(&s->setup, 0.99) / 1e3,
	                 0);
	bench_report_num(&rep, "setup_max_us", (double)s->setup.max / 1e3, 0);
	bench_report_int(&rep, "rss_before_kb", m->rss_before_kb);
	bench_report_int(&rep, "rss_after_kb", m->rss_after_kb);
	bench_report_int(&rep, "rss_end_kb", m->rss_end_kb);
	bench_report_num(
	        &rep, "rss_per_conn_bytes",
	        mem ? (double)(m->rss_after_kb - m->rss_before_kb) * 1024.0 / (double)idle : 0, 0);
	bench_report_int(&rep, "pss_before_kb", m->pss_before_kb);
	bench_report_int(&rep, "pss_after_kb", m->pss_after_kb);
	bench_report_num(
	        &rep, "pss_per_conn_bytes",
	        mem ? (double)(m->pss_after_kb - m->pss_before_kb) * 1024.0 / (double)idle : 0, 0);
	bench_report_int(&rep, "processes", m->processes);
	bench_report_int(&rep, "src_addrs",
	                 (o->conns + BENCH_CONNS_PER_ADDR - 1) / BENCH_CONNS_PER_ADDR);
	bench_report_num(&rep, "settle_s", o->settle_s, 3);
	bench_report_num(&rep, "hold_s", o->hold_s, 3);
	bench_report_int(&rep, "prime", o->prime);
	bench_report_int(&rep, "pings_answered", k->pings);
	bench_report_int(&rep, "messages_received", k->messages);
	bench_report_int(&rep, "errors", k->failed + k->dropped);
	bench_report_bool(&rep, "timed_out", timed_out);
	bench_report_bool(&rep, "complete", !timed_out);
	bench_report_str(&rep, "first_error", k->first_err);
	bench_report_print(&rep, stdout, o->human);
}

/* Opens and closes --prime connections, so "before" has seen one. */
static void connect_prime(const struct bench_opts *o, const struct bench_ws_keys *keys)
{
	struct connect_set *p = connect_set_new(o, keys, o->prime);
	if (!p)
		return;
	connect_run(p, true, bench_net_now_ns() + (uint64_t)(o->timeout_s * 1e9), NULL);
	if (p->k.connected < o->prime)
		fprintf(stderr, "crier bench: priming: %ld of %ld connected (%s)\n", p->k.connected,
		        o->prime, p->k.first_err);
	connect_set_free(p);
	connect_nap(500000000u);
}

/* Open, settle, measure, hold; fills m. Returns whether --timeout cut the
 * opening short. */
static bool connect_phases(struct connect_set *s, struct bench_proc *proc, struct connect_mem *m,
                           double *connect_s, long *idle)
{
	const struct bench_opts *o = s->o;
	struct bench_progress pg;
	bench_net_progress_init(&pg, "connect", o->progress);
	uint64_t t0 = bench_net_now_ns(), deadline = t0 + (uint64_t)(o->timeout_s * 1e9);
	connect_run(s, true, deadline, &pg);
	*connect_s = (double)(bench_net_now_ns() - t0) / 1e9;
	bool timed_out = s->next < s->n || s->pending > 0;
	bench_net_progress_end(&pg);
	/* What is not up by now never will be, for this run: count it failed. */
	for (long i = 0; i < s->n; i++) {
		struct connect_conn *c = &s->conns[i];
		if (c->state == CN_NEW) {
			s->k.failed++;
			c->state = CN_DEAD;
			connect_error(&s->k, "not started within --timeout", 0);
		} else if (!c->established) {
			connect_kill(s, c, "not established within --timeout", 0);
		}
	}
	/* Keep answering pings while the server settles; never past --timeout. */
	uint64_t now = bench_net_now_ns(), settle = (uint64_t)(o->settle_s * 1e9);
	connect_run(s, false, now + settle < deadline ? now + settle : deadline, NULL);
	if (proc) {
		m->processes = bench_net_proc_scan(proc, o->server_pid);
		m->rss_after_kb = bench_net_proc_rss_kb(proc, &m->pss_after_kb);
	}
	*idle = s->k.connected - s->k.dropped;
	now = bench_net_now_ns();
	uint64_t hold = (uint64_t)(o->hold_s * 1e9);
	connect_run(s, false, now + hold < deadline ? now + hold : deadline, NULL);
	if (proc)
		m->rss_end_kb = bench_net_proc_rss_kb(proc, NULL);
	return timed_out;
}

int bench_connect_run(const struct bench_opts *o)
{
	long prime = o->server_pid > 0 ? o->prime : 0;
	if (bench_net_nofile(o->conns + prime + 64, "the connections") < 0)
		return 2;
	struct bench_ws_keys keys;
	bench_http_ws_keys(&keys);
	struct connect_mem m = {-1, -1, -1, -1, -1, 0};
	struct bench_proc proc, *pp = NULL;
	if (o->server_pid > 0) {
		if (!bench_net_proc_scan(&proc, o->server_pid)) {
			fprintf(stderr, "crier bench: --server-pid %ld: no such process\n",
			        o->server_pid);
			return 2;
		}
		pp = &proc;
		if (prime > 0)
			connect_prime(o, &keys);
		m.rss_before_kb = bench_net_proc_rss_kb(pp, &m.pss_before_kb);
	}
	struct connect_set *s = connect_set_new(o, &keys, o->conns);
	if (!s) {
		fprintf(stderr, "crier bench: out of memory\n");
		return 2;
	}
	double connect_s = 0;
	long idle = 0;
	bool timed_out = connect_phases(s, pp, &m, &connect_s, &idle);
	connect_report(o, s, &m, connect_s, idle, timed_out);
	if (s->k.failed)
		fprintf(stderr, "crier bench: %ld of %ld connections failed; the first: %s\n",
		        s->k.failed, o->conns, s->k.first_err);
	bool ok = !timed_out && s->k.connected == o->conns && s->k.dropped == 0;
	connect_set_free(s);
	return ok ? 0 : 1;
}
