/*
 * bench_fanout_sub.c - the subscribers of `crier bench fanout`: connect,
 * subscribe, read SSE events, WebSocket frames, crier.v1 envelopes or
 * long-poll answers, and account for every delivery.
 *
 * What it owns: a subscriber from its connect to its close, and the
 * delivery checks (lost and duplicated through a bitmap per subscriber,
 * out of order per (subscriber, publisher), stale, misrouted). What it
 * never does: allocate per message, or keep more of a payload than the
 * stamp at its start (BENCH_FANOUT_PFX bytes).
 *
 * Shared with libcrier and the server: WebSocket frames go through
 * ws/ws_frame.c in the client role, the same parser the hub and libcrier
 * run, so a frame the bench accepts is one the codec accepts, split
 * anywhere across reads, with every header rule checked. Measured against
 * bench/ceiling.c (2,000 subscribers, 1M deliveries of 64 bytes) it costs
 * the client about 10 ns more per delivery than the hand-rolled header
 * reader of the old standalone bench (~110 ns instead of ~100: two calls
 * per frame, header and payload), and deliveries/s did not move: one
 * client core still checks some 9M deliveries/s, twice what a hub reaches
 * on this machine. SSE and long-poll keep their own streaming scanners on
 * purpose: sse/sse_parse.c wants each line whole in the caller's buffer,
 * which means a buffer per subscriber for a line cut by a read (tens of
 * thousands of them) and a rescan of long lines; the bench only needs the
 * first 31 bytes of a data line and drops the rest as it streams past.
 *
 * Subscribed means: WebSocket, the 101; SSE, the 200 and the first body
 * byte (crier sends ":ok", nchan ": hi", both once the subscription is
 * registered); crier.v1, the ack of {"op":"subscribe","ref":1,...};
 * long-poll, the answer to a first poll with an empty cursor (answered at
 * once with the channel's "next"), after which each poller loops
 * GET ?since=<next> on its keep-alive connection.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_fanout.h"

enum { CAP_DATA = 1, CAP_NEXT };

/* p[0..n) starts with the literal lit. */
#define STARTS(p, n, lit) ((n) >= sizeof(lit) - 1 && !memcmp((p), (lit), sizeof(lit) - 1))

/* ---- deliveries ---- */

/* Parses the stamp "%010g %019ts" at the start of a payload. */
static bool sub_stamp(const char *p, size_t n, int64_t *g, uint64_t *ts)
{
	uint64_t a = 0, b = 0;
	size_t i = 0;
	for (; i < n && isdigit((unsigned char)p[i]); i++)
		a = a * 10 + (uint64_t)(p[i] - '0');
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	size_t j = ++i;
	for (; i < n && isdigit((unsigned char)p[i]); i++)
		b = b * 10 + (uint64_t)(p[i] - '0');
	if (i == j)
		return false;
	*g = (int64_t)a;
	*ts = b;
	return true;
}

/* Accounts one delivery of message g, stamped ts, to subscriber si. */
static void sub_deliver(struct bench_fanout *r, int si, int64_t g, uint64_t ts, uint64_t now)
{
	const struct bench_opts *o = r->o;
	if (g >= o->msgs) {
		r->bad_payload++;
		return;
	}
	if (!r->t0_ns || ts < r->t0_ns) { /* before publishing: a hub's history */
		r->stale++;
		return;
	}
	if (g % o->channels != si % o->channels) {
		r->misrouted++;
		return;
	}
	uint64_t bit = (uint64_t)si * (uint64_t)r->per_chan + (uint64_t)(g / o->channels);
	if (r->seen[bit >> 3] & (1u << (bit & 7))) {
		r->duplicated++;
		return;
	}
	r->seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	int64_t *last =
	        &r->last_g[(size_t)si * (size_t)o->publishers + (size_t)(g % o->publishers)];
	if (g < *last)
		r->out_of_order++;
	else
		*last = g;
	r->received++;
	if (!r->first_ns)
		r->first_ns = now;
	r->last_ns = now;
	bench_hist_record(&r->lat, now > ts ? now - ts : 0);
}

/* Appends what fits of p[0..n) to the subscriber's prefix. */
static void sub_keep(struct bench_fanout_sub *s, const void *p, size_t n)
{
	size_t room = sizeof s->pfx - s->pfx_len;
	if (n > room)
		n = room;
	memcpy(s->pfx + s->pfx_len, p, n);
	s->pfx_len = (uint8_t)(s->pfx_len + n);
}

/* ---- SSE: lines, data dispatched on the blank line (WHATWG HTML §9.2.6) ---- */

static void sub_sse_feed(struct bench_fanout *r, int si, const char *p, size_t n, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c != '\n') {
			if (s->pfx_len < sizeof s->pfx)
				s->pfx[s->pfx_len++] = c;
			s->line_len++;
			continue;
		}
		size_t len = s->pfx_len;
		if (len && s->pfx[len - 1] == '\r')
			len--;
		if (s->line_len == 0 || (s->line_len == 1 && len == 0)) { /* blank: dispatch */
			if (s->pend_g >= 0)
				sub_deliver(r, si, s->pend_g, s->pend_ts, now);
			s->pend_g = -1;
		} else if (len >= 5 && !memcmp(s->pfx, "data:", 5)) {
			size_t off = len > 5 && s->pfx[5] == ' ' ? 6 : 5;
			int64_t g;
			uint64_t ts;
			if (sub_stamp(s->pfx + off, len - off, &g, &ts))
				s->pend_g = g, s->pend_ts = ts;
			else
				r->bad_payload++;
		}
		s->pfx_len = 0;
		s->line_len = 0;
	}
}

/* ---- WebSocket frames (RFC 6455 §5) through the shared codec ---- */

static void sub_mark_subscribed(struct bench_fanout *r, int si);

/* The body inside a {"op":"message",...,"data":"<body>"} envelope (its
 * start is enough: the stamp is the first 31 bytes). */
static bool sub_envelope(const char *p, size_t n, int64_t *g, uint64_t *ts)
{
	static const char key[] = "\"data\":\"";
	const char *d = memmem(p, n, key, sizeof key - 1);
	if (!d)
		return false;
	d += sizeof key - 1;
	return sub_stamp(d, n - (size_t)(d - p), g, ts);
}

/* A crier.v1 frame: a message, the subscribe ack, a gap or an error. */
static void sub_wsproto_frame(struct bench_fanout *r, int si, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	const char *p = s->pfx;
	size_t n = s->pfx_len;
	int64_t g;
	uint64_t ts;
	if (STARTS(p, n, "{\"op\":\"message\"")) {
		if (sub_envelope(p, n, &g, &ts))
			sub_deliver(r, si, g, ts, now);
		else
			r->bad_payload++;
	} else if (STARTS(p, n, "{\"op\":\"ack\",\"ref\":1,")) {
		if (!s->subscribed)
			sub_mark_subscribed(r, si);
	} else if (STARTS(p, n, "{\"op\":\"gap\"")) {
		r->gaps++;
	} else {
		if (r->protocol_errors < 3)
			fprintf(stderr, "crier bench: subscriber %d: unexpected frame: %.*s\n", si,
			        (int)n, p);
		r->protocol_errors++;
		if (!s->subscribed) /* the subscribe was refused */
			bench_fanout_sub_close(r, si, true);
	}
}

/* A whole frame arrived (its payload prefix is in pfx). The hubs under
 * test send whole messages: a fragment is counted as a protocol error. */
static void sub_ws_frame(struct bench_fanout *r, int si, const struct ws_frame_event *ev,
                         uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	static const uint8_t zero_mask[4] = {0};
	switch (ev->opcode) {
	case WS_OP_TEXT:
	case WS_OP_BINARY: {
		if (!ev->fin) {
			r->protocol_errors++;
			break;
		}
		if (r->o->transport == BENCH_WSPROTO) {
			sub_wsproto_frame(r, si, now);
			break;
		}
		int64_t g;
		uint64_t ts;
		if (sub_stamp(s->pfx, s->pfx_len, &g, &ts))
			sub_deliver(r, si, g, ts, now);
		else
			r->bad_payload++;
		break;
	}
	case WS_OP_PING: { /* a pong with the ping's payload (<= 125 bytes, all kept) */
		uint8_t f[WS_FRAME_HEADER_MAX + WS_CONTROL_MAX];
		size_t fl = bench_http_ws_frame(f, WS_OP_PONG, s->pfx, s->pfx_len, zero_mask);
		(void)!send(s->fd, f, fl, MSG_NOSIGNAL);
		break;
	}
	case WS_OP_PONG:
		break;
	case WS_OP_CLOSE:
		bench_fanout_sub_close(r, si, false);
		break;
	default:
		r->protocol_errors++;
	}
	s->pfx_len = 0;
}

/* Returns false on a framing error (the caller closes the connection). */
static bool sub_ws_feed(struct bench_fanout *r, int si, uint8_t *p, size_t n, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	while (n > 0 && s->state != FANOUT_SUB_CLOSED) {
		struct ws_frame_event ev;
		int64_t k = ws_frame_parse(&s->wp, p, n, &ev);
		if (k < 0)
			return false;
		p += k;
		n -= (size_t)k;
		if (ev.frame_start)
			s->pfx_len = 0;
		if (ev.len)
			sub_keep(s, ev.data, ev.len);
		if (ev.frame_end)
			sub_ws_frame(r, si, &ev, now);
	}
	return true;
}

/* ---- connection ---- */

void bench_fanout_sub_close(struct bench_fanout *r, int si, bool failed)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if (s->state == FANOUT_SUB_CLOSED)
		return;
	if (s->fd >= 0) {
		epoll_ctl(r->ep, EPOLL_CTL_DEL, s->fd, NULL);
		bench_net_close_rst(s->fd);
		s->fd = -1;
	}
	if (s->pending)
		r->pending--;
	s->pending = false;
	free(s->head);
	s->head = NULL;
	s->state = FANOUT_SUB_CLOSED;
	if (failed)
		r->failed++;
	else
		r->closed++;
}

void bench_fanout_sub_start(struct bench_fanout *r, int si)
{
	struct bench_fanout_sub *s = &r->subs[si];
	s->pend_g = -1;
	ws_frame_parser_init(&s->wp, WS_ROLE_CLIENT, false);
	int fd = bench_net_connect(&r->o->url.addr, si);
	if (fd < 0) {
		if (r->failed < 3)
			fprintf(stderr, "crier bench: subscriber %d: connect: %s\n", si,
			        strerror(-fd));
		s->state = FANOUT_SUB_CLOSED;
		r->failed++;
		return;
	}
	s->fd = fd;
	s->state = FANOUT_SUB_CONNECTING;
	s->pending = true;
	r->pending++;
	bench_fanout_ctl(r, EPOLL_CTL_ADD, fd, EPOLLOUT, (uint64_t)si);
}

/* The subscriber's path: --sub-path with its channel bench(si % K). */
static void sub_path(const struct bench_fanout *r, int si, char *out, size_t cap)
{
	char chan[32];
	snprintf(chan, sizeof chan, "bench%d", si % r->o->channels);
	snprintf(out, cap, r->o->sub_path, chan); /* cmd_bench checked: one %s, no other % */
}

static void sub_send_request(struct bench_fanout *r, int si)
{
	const struct bench_opts *o = r->o;
	struct bench_fanout_sub *s = &r->subs[si];
	char path[256], req[1024];
	sub_path(r, si, path, sizeof path);
	size_t n;
	if (o->transport == BENCH_WS || o->transport == BENCH_WSPROTO)
		n = bench_http_ws_upgrade(req, sizeof req,
		                          o->transport == BENCH_WS ? path : o->ws_path, o->url.host,
		                          o->url.port, r->keys.key[si % BENCH_WS_KEYS],
		                          o->transport == BENCH_WS ? NULL : BENCH_WS_SUBPROTOCOL);
	else if (o->transport == BENCH_POLL) /* the first poll: an empty cursor */
		n = (size_t)snprintf(req, sizeof req,
		                     "GET %s?since= HTTP/1.1\r\nHost: %s:%u\r\n\r\n", path,
		                     o->url.host, (unsigned)o->url.port);
	else
		n = (size_t)snprintf(
		        req, sizeof req,
		        "GET %s HTTP/1.1\r\nHost: %s:%u\r\nAccept: text/event-stream\r\n"
		        "Cache-Control: no-cache\r\n\r\n",
		        path, o->url.host, (unsigned)o->url.port);
	s->head = malloc(BENCH_HTTP_HEAD_MAX);
	if (!s->head || n == 0 || n >= sizeof req ||
	    send(s->fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
		bench_fanout_sub_close(r, si, true);
		return;
	}
	s->state = FANOUT_SUB_HANDSHAKE;
	s->head_len = 0;
	bench_fanout_ctl(r, EPOLL_CTL_MOD, s->fd, EPOLLIN | EPOLLRDHUP, (uint64_t)si);
}

static void sub_mark_subscribed(struct bench_fanout *r, int si)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if (s->subscribed)
		return;
	s->subscribed = true;
	r->subscribed++;
	r->pending--;
	s->pending = false;
	if (r->o->transport != BENCH_POLL) { /* a poller reads a head per answer */
		free(s->head);
		s->head = NULL;
	}
}

static void sub_body(struct bench_fanout *r, int si, uint8_t *p, size_t n, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if (n == 0)
		return;
	if (r->o->transport == BENCH_SSE) {
		if (!s->subscribed)
			sub_mark_subscribed(r, si);
		sub_sse_feed(r, si, (const char *)p, n, now);
	} else if (!sub_ws_feed(r, si, p, n, now)) {
		r->protocol_errors++;
		bench_fanout_sub_close(r, si, false);
	}
}

/* Adds p[0..n) to the head; returns the bytes of p that belong to it once
 * the head is complete, 0 while it is not (everything was taken), or -1
 * when it is too long. */
static long sub_head_take(struct bench_fanout_sub *s, const uint8_t *p, size_t n)
{
	size_t room = BENCH_HTTP_HEAD_MAX - 1 - s->head_len;
	size_t take = n < room ? n : room;
	uint32_t before = s->head_len;
	memcpy(s->head + s->head_len, p, take);
	s->head_len += (uint32_t)take;
	size_t hl = bench_http_head_len(s->head, s->head_len);
	if (hl)
		return (long)(hl - before);
	return s->head_len >= BENCH_HTTP_HEAD_MAX - 1 ? -1 : 0;
}

/* Logs the first few refusals with the answer's status line. */
static void sub_refused(struct bench_fanout *r, int si, const char *what)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if ((uint64_t)r->failed + r->protocol_errors < 3)
		fprintf(stderr, "crier bench: subscriber %d: %s: %.*s\n", si, what,
		        (int)strcspn(s->head, "\r\n"), s->head);
}

/* Accumulates the answer head; when complete, checks it and hands the
 * rest of the read to the body codec. */
static void sub_handshake(struct bench_fanout *r, int si, uint8_t *p, size_t n, uint64_t now)
{
	const struct bench_opts *o = r->o;
	struct bench_fanout_sub *s = &r->subs[si];
	long used = sub_head_take(s, p, n);
	if (used == 0)
		return;
	if (used < 0) {
		s->head[s->head_len] = 0;
		sub_refused(r, si, "answer head too long");
		bench_fanout_sub_close(r, si, true);
		return;
	}
	s->head[s->head_len] = 0;
	size_t hl = bench_http_head_len(s->head, s->head_len);
	if (o->transport == BENCH_SSE) {
		const char *te;
		if (bench_http_status(s->head, hl) != 200 ||
		    bench_http_header(s->head, hl, "transfer-encoding", &te) >= 0) {
			sub_refused(r, si, "expected 200 without Transfer-Encoding, got");
			bench_fanout_sub_close(r, si, true);
			return;
		}
	} else {
		const char *bad = bench_http_ws_check_101(
		        s->head, hl, r->keys.accept[si % BENCH_WS_KEYS],
		        o->transport == BENCH_WSPROTO ? BENCH_WS_SUBPROTOCOL : NULL);
		if (bad) {
			sub_refused(r, si, bad);
			bench_fanout_sub_close(r, si, true);
			return;
		}
	}
	s->state = FANOUT_SUB_READY;
	if (o->transport == BENCH_WS) /* the 101 is the subscription's answer */
		sub_mark_subscribed(r, si);
	if (o->transport == BENCH_WSPROTO) { /* subscribed on the ack of ref 1 */
		char req[128];
		uint8_t f[WS_FRAME_HEADER_MAX + sizeof req];
		static const uint8_t zero_mask[4] = {0};
		int k = snprintf(req, sizeof req,
		                 "{\"op\":\"subscribe\",\"ref\":1,\"channels\":[\"bench%d\"]}",
		                 si % o->channels);
		size_t fl = bench_http_ws_frame(f, WS_OP_TEXT, req, (size_t)k, zero_mask);
		if (send(s->fd, f, fl, MSG_NOSIGNAL) != (ssize_t)fl) {
			bench_fanout_sub_close(r, si, true);
			return;
		}
	}
	if ((size_t)used < n)
		sub_body(r, si, p + used, n - (size_t)used, now);
}

/* ---- long-poll: {"messages":[...],"next":"..."} answers, one at a time ---- */

/* Advances a match of pat (whose only repeated byte is its leading '"')
 * by c; true when the whole of pat has just been seen. */
static bool sub_match(uint8_t *m, const char *pat, size_t len, char c)
{
	if (c == pat[*m])
		(*m)++;
	else
		*m = c == pat[0];
	if (*m < len)
		return false;
	*m = 0;
	return true;
}

/* A captured string ended: a message's data, or the answer's cursor. */
static void sub_poll_captured(struct bench_fanout *r, int si, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if (s->capture == CAP_NEXT) {
		size_t k = s->pfx_len < sizeof s->next ? s->pfx_len : sizeof s->next - 1;
		memcpy(s->next, s->pfx, k);
		s->next[k] = 0;
	} else {
		int64_t g;
		uint64_t ts;
		s->poll_msgs++;
		if (!sub_stamp(s->pfx, s->pfx_len, &g, &ts))
			r->bad_payload++;
		else if (!s->subscribed) /* the first poll: the channel's history */
			r->poll_history++;
		else
			sub_deliver(r, si, g, ts, now);
	}
	s->capture = 0;
	s->pfx_len = 0;
}

static void sub_poll_scan(struct bench_fanout *r, int si, const char *p, size_t n, uint64_t now)
{
	static const char k_data[] = "\"data\":\"", k_next[] = "\"next\":\"", k_gap[] = "\"gap\":";
	struct bench_fanout_sub *s = &r->subs[si];
	for (size_t i = 0; i < n;) {
		if (s->capture) { /* up to the closing '"', keeping what fits in pfx */
			const char *q = memchr(p + i, '"', n - i);
			size_t end = q ? (size_t)(q - p) : n;
			sub_keep(s, p + i, end - i);
			if (!q)
				return;
			i = end + 1;
			sub_poll_captured(r, si, now);
			continue;
		}
		if (!s->m_data && !s->m_next && !s->m_gap) { /* every key starts with '"' */
			const char *q = memchr(p + i, '"', n - i);
			if (!q)
				return;
			i = (size_t)(q - p);
		}
		char c = p[i++];
		if (sub_match(&s->m_data, k_data, sizeof k_data - 1, c))
			s->capture = CAP_DATA;
		else if (sub_match(&s->m_next, k_next, sizeof k_next - 1, c))
			s->capture = CAP_NEXT;
		else if (sub_match(&s->m_gap, k_gap, sizeof k_gap - 1, c) && s->subscribed)
			r->gaps++; /* the first poll's gap notice (empty cursor) is expected */
		if (s->capture) {
			s->pfx_len = 0;
			s->m_data = s->m_next = s->m_gap = 0;
		}
	}
}

/* An answer is complete: count it and send the next poll from its cursor. */
static void sub_poll_done(struct bench_fanout *r, int si)
{
	const struct bench_opts *o = r->o;
	struct bench_fanout_sub *s = &r->subs[si];
	if (!s->subscribed) {
		sub_mark_subscribed(r, si);
	} else {
		r->polls++;
		if (!s->poll_msgs)
			r->empty_polls++;
		if (s->poll_msgs > r->poll_max)
			r->poll_max = s->poll_msgs;
	}
	if (!s->next[0]) {
		if (r->protocol_errors < 3)
			fprintf(stderr,
			        "crier bench: subscriber %d: a poll answer without \"next\"\n", si);
		r->protocol_errors++;
		bench_fanout_sub_close(r, si, false);
		return;
	}
	char path[256], req[512];
	sub_path(r, si, path, sizeof path);
	int n = snprintf(req, sizeof req, "GET %s?since=%s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", path,
	                 s->next, o->url.host, (unsigned)o->url.port);
	if (send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		bench_fanout_sub_close(r, si, false);
		return;
	}
	s->state = FANOUT_SUB_HANDSHAKE;
	s->head_len = 0;
	s->next[0] = 0;
}

/* A poll answer's head is complete: check it and start its body. */
static bool sub_poll_head(struct bench_fanout *r, int si)
{
	struct bench_fanout_sub *s = &r->subs[si];
	size_t hl = bench_http_head_len(s->head, s->head_len);
	long cl = bench_http_content_length(s->head, hl);
	if (bench_http_status(s->head, hl) != 200 || cl < 0) {
		s->head[s->head_len] = 0;
		sub_refused(r, si, "expected 200 with a Content-Length, got");
		if (s->subscribed)
			r->protocol_errors++;
		bench_fanout_sub_close(r, si, !s->subscribed);
		return false;
	}
	s->body_left = (uint32_t)cl;
	s->poll_msgs = 0;
	s->m_data = s->m_next = s->m_gap = s->capture = 0;
	s->pfx_len = 0;
	s->state = FANOUT_SUB_READY;
	return true;
}

/* Heads go to s->head, bodies through the scanner; a read holds the end of
 * one answer at most (one request is outstanding). */
static void sub_poll_recv(struct bench_fanout *r, int si, uint8_t *p, size_t n, uint64_t now)
{
	struct bench_fanout_sub *s = &r->subs[si];
	while (n > 0 && s->state != FANOUT_SUB_CLOSED) {
		if (s->state == FANOUT_SUB_READY) {
			size_t take = n < s->body_left ? n : s->body_left;
			sub_poll_scan(r, si, (const char *)p, take, now);
			p += take;
			n -= take;
			s->body_left -= (uint32_t)take;
			if (s->body_left == 0)
				sub_poll_done(r, si);
			continue;
		}
		long used = sub_head_take(s, p, n);
		if (used == 0)
			return;
		if (used < 0) {
			s->head[s->head_len] = 0;
			sub_refused(r, si, "answer head too long");
			bench_fanout_sub_close(r, si, !s->subscribed);
			return;
		}
		p += used;
		n -= (size_t)used;
		if (sub_poll_head(r, si) && s->body_left == 0)
			sub_poll_done(r, si);
	}
}

/* The connect finished (or failed): send the subscription request. */
static void sub_connected(struct bench_fanout *r, int si)
{
	struct bench_fanout_sub *s = &r->subs[si];
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		if (r->failed < 3)
			fprintf(stderr, "crier bench: subscriber %d: connect: %s\n", si,
			        strerror(err));
		bench_fanout_sub_close(r, si, true);
		return;
	}
	sub_send_request(r, si);
}

void bench_fanout_sub_event(struct bench_fanout *r, int si, uint32_t events)
{
	struct bench_fanout_sub *s = &r->subs[si];
	if (s->state == FANOUT_SUB_CONNECTING) {
		sub_connected(r, si);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	ssize_t n = recv(s->fd, r->rbuf, sizeof r->rbuf, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		bench_fanout_sub_close(r, si, !s->subscribed);
		return;
	}
	uint64_t now = bench_net_now_ns();
	if (r->o->transport == BENCH_POLL)
		sub_poll_recv(r, si, r->rbuf, (size_t)n, now);
	else if (s->state == FANOUT_SUB_HANDSHAKE)
		sub_handshake(r, si, r->rbuf, (size_t)n, now);
	else
		sub_body(r, si, r->rbuf, (size_t)n, now);
}
