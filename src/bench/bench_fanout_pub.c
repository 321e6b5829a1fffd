/*
 * bench_fanout_pub.c - the publishers of `crier bench fanout`: P
 * keep-alive connections sending message g = 0..M-1 as HTTP POSTs (or
 * crier.v1 publish frames over /ws), each pipelining at most --window
 * requests, paced to --rate or as fast as the hub answers.
 *
 * What it owns: the publisher connections, the request bytes and the
 * acknowledgement latency. What it never does: allocate per message (the
 * output buffer grows to its high-water mark and stays) or wait on one
 * publisher while others could send.
 *
 * Message g goes to channel g % K and is sent by publisher g % P, each
 * publisher in increasing g over its one connection. A hub handles one
 * connection's requests in order, so per subscriber and per publisher g
 * must increase: that is what the out-of-order check relies on. The body
 * is "%010g %019ts " padded with 'x' to --size bytes: ASCII, so a text
 * frame is valid UTF-8 and an SSE data line needs no escaping; ts is
 * CLOCK_MONOTONIC taken just before the request is queued.
 *
 * The answers to crier.v1 publishes are read through ws/ws_frame.c, the
 * codec libcrier and the hub use; HTTP answers through bench_http.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_fanout.h"

/* A publisher is gone: its requests in flight will never be answered. */
static void pub_fail(struct bench_fanout *r, int pi)
{
	struct bench_fanout_pub *p = &r->pubs[pi];
	if (!p->connected)
		return;
	p->connected = false;
	r->pub_errors += p->inflight;
	p->inflight = 0;
	epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd, NULL);
}

bool bench_fanout_pub_can_send(const struct bench_fanout *r, const struct bench_fanout_pub *p,
                               uint64_t now, uint64_t t0)
{
	const struct bench_opts *o = r->o;
	if (!p->connected || p->next_g >= o->msgs || p->inflight >= o->window)
		return false;
	if (o->rate <= 0)
		return true;
	return (double)p->next_g < (double)(now - t0) / 1e9 * o->rate;
}

/* Appends the request for the publisher's next message to its output. */
static void pub_queue(struct bench_fanout *r, struct bench_fanout_pub *p)
{
	const struct bench_opts *o = r->o;
	static const uint8_t zero_mask[4] = {0};
	size_t size = (size_t)o->size_bytes;
	char chan[32];
	snprintf(chan, sizeof chan, "bench%ld", p->next_g % o->channels);
	char *w = p->out + p->out_len;
	size_t h, tail = 0;
	if (o->pub_wsproto) {
		/* One text frame: the envelope, the body, then "\"}". */
		char json[160];
		int jl = snprintf(json, sizeof json,
		                  "{\"op\":\"publish\",\"ref\":%ld,\"channel\":\"%s\",\"data\":\"",
		                  p->next_g, chan);
		h = ws_frame_header((uint8_t *)w, WS_OP_TEXT, true, false, (size_t)jl + size + 2,
		                    zero_mask);
		memcpy(w + h, json, (size_t)jl);
		h += (size_t)jl;
		memcpy(w + h + size, "\"}", 2);
		tail = 2;
	} else {
		char path[256];
		snprintf(path, sizeof path, o->pub_path, chan); /* cmd_bench checked: one %s */
		h = (size_t)sprintf(
		        w,
		        "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: text/plain\r\n"
		        "Content-Length: %zu\r\n\r\n",
		        path, o->pub_url.host, (unsigned)o->pub_url.port, size);
	}
	memcpy(w + h, r->body_tmpl, size);
	char stamp[48];
	uint64_t sent = bench_net_now_ns();
	int k = snprintf(stamp, sizeof stamp, "%010ld %019" PRIu64 " ", p->next_g, sent);
	memcpy(w + h, stamp, (size_t)k);
	p->out_len += h + size + tail;
	p->sent_ns[(p->next_g / o->publishers) % o->window] = sent;
	p->inflight++;
	p->next_g += o->publishers;
	r->pub_sent++;
}

void bench_fanout_pub_fill(struct bench_fanout *r, int pi, uint64_t t0)
{
	const struct bench_opts *o = r->o;
	struct bench_fanout_pub *p = &r->pubs[pi];
	uint64_t now = bench_net_now_ns();
	while (bench_fanout_pub_can_send(r, p, now, t0)) {
		size_t need = p->out_len + (size_t)o->size_bytes + 512;
		if (need > p->out_cap) {
			char *grown = realloc(p->out, need * 2);
			if (!grown) {
				fprintf(stderr, "crier bench: publisher %d: out of memory\n", pi);
				pub_fail(r, pi);
				return;
			}
			p->out = grown;
			p->out_cap = need * 2;
		}
		pub_queue(r, p);
	}
	while (p->out_off < p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			fprintf(stderr, "crier bench: publisher %d: send: %s\n", pi,
			        strerror(errno));
			pub_fail(r, pi);
			return;
		}
		p->out_off += (size_t)n;
	}
	if (p->out_off == p->out_len)
		p->out_off = p->out_len = 0;
	bool want_out = p->out_len > 0;
	if (want_out != p->want_out) /* one epoll_ctl per change, not per fill */
		bench_fanout_ctl(r, EPOLL_CTL_MOD, p->fd, EPOLLIN | (want_out ? EPOLLOUT : 0u),
		                 BENCH_FANOUT_TAG_PUB | (uint64_t)pi);
	p->want_out = want_out;
}

/* The answer to this publisher's request number k arrived now. */
static void pub_answered(struct bench_fanout *r, struct bench_fanout_pub *p, long k)
{
	uint64_t now = bench_net_now_ns(), sent = p->sent_ns[k % r->o->window];
	bench_hist_record(&r->ack, now > sent ? now - sent : 0);
	p->answers++;
	p->inflight--;
}

/* A whole crier.v1 frame from the hub: an ack or an error for a publish,
 * or control. */
static void pub_ws_frame(struct bench_fanout *r, int pi, const struct ws_frame_event *ev)
{
	struct bench_fanout_pub *p = &r->pubs[pi];
	static const uint8_t zero_mask[4] = {0};
	p->msg[p->msg_len] = 0;
	if (ev->opcode == WS_OP_PING) {
		uint8_t f[WS_FRAME_HEADER_MAX + WS_CONTROL_MAX];
		size_t n = p->msg_len < WS_CONTROL_MAX ? p->msg_len : WS_CONTROL_MAX;
		size_t fl = bench_http_ws_frame(f, WS_OP_PONG, p->msg, n, zero_mask);
		(void)!send(p->fd, f, fl, MSG_NOSIGNAL);
	} else if (ev->opcode == WS_OP_CLOSE) {
		fprintf(stderr, "crier bench: publisher %d: the hub closed the WebSocket (%s)\n",
		        pi, p->msg_len > 2 ? p->msg + 2 : "no reason");
		pub_fail(r, pi);
	} else if (ev->opcode == WS_OP_TEXT && ev->fin) {
		const char *ref = strstr(p->msg, "\"ref\":");
		if (ref && strncmp(p->msg, "{\"op\":\"ack\"", 11) == 0) {
			r->acked++;
			pub_answered(r, p, atol(ref + 6) / r->o->publishers);
		} else {
			if (r->pub_errors < 3)
				fprintf(stderr, "crier bench: publisher %d: %s\n", pi, p->msg);
			r->pub_errors++;
			p->answers++;
			p->inflight--;
		}
	}
}

static void pub_ws_feed(struct bench_fanout *r, int pi, uint8_t *in, size_t n)
{
	struct bench_fanout_pub *p = &r->pubs[pi];
	while (n > 0 && p->connected) {
		struct ws_frame_event ev;
		int64_t k = ws_frame_parse(&p->wp, in, n, &ev);
		if (k < 0) {
			fprintf(stderr, "crier bench: publisher %d: bad frame from the hub\n", pi);
			pub_fail(r, pi);
			return;
		}
		in += k;
		n -= (size_t)k;
		if (ev.frame_start)
			p->msg_len = 0;
		size_t keep = sizeof p->msg - 1 - p->msg_len;
		if (keep > ev.len)
			keep = ev.len;
		if (keep)
			memcpy(p->msg + p->msg_len, ev.data, keep);
		p->msg_len = (uint16_t)(p->msg_len + keep);
		if (ev.frame_end)
			pub_ws_frame(r, pi, &ev);
	}
}

/* Parses every complete HTTP answer in p->in: any 2xx acknowledges. */
static void pub_http_answers(struct bench_fanout *r, int pi)
{
	struct bench_fanout_pub *p = &r->pubs[pi];
	size_t off = 0;
	for (;;) {
		const char *h = p->in + off, *te;
		size_t avail = p->in_len - off, hl = bench_http_head_len(h, avail);
		if (!hl)
			break;
		if (bench_http_header(h, hl, "transfer-encoding", &te) >= 0) {
			fprintf(stderr,
			        "crier bench: publisher %d: chunked answers are not supported\n",
			        pi);
			pub_fail(r, pi);
			return;
		}
		long cl = bench_http_content_length(h, hl);
		size_t total = hl + (size_t)(cl > 0 ? cl : 0);
		if (total > avail)
			break;
		int status = bench_http_status(h, hl);
		if (status < 200 || status > 299) {
			if (r->pub_errors < 3)
				fprintf(stderr, "crier bench: publish answered %d\n", status);
			r->pub_errors++;
		} else {
			r->acked++;
		}
		pub_answered(r, p, p->answers);
		off += total;
	}
	memmove(p->in, p->in + off, p->in_len - off);
	p->in_len -= off;
	if (p->in_len >= sizeof p->in) {
		fprintf(stderr, "crier bench: publisher %d: answer too large\n", pi);
		pub_fail(r, pi);
	}
}

void bench_fanout_pub_read(struct bench_fanout *r, int pi)
{
	struct bench_fanout_pub *p = &r->pubs[pi];
	bool ws = r->o->pub_wsproto;
	char *dst = ws ? (char *)r->rbuf : p->in + p->in_len;
	size_t cap = ws ? sizeof r->rbuf : sizeof p->in - p->in_len;
	ssize_t n = recv(p->fd, dst, cap, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		fprintf(stderr, "crier bench: publisher %d: connection closed by the hub\n", pi);
		pub_fail(r, pi);
		return;
	}
	if (ws) {
		pub_ws_feed(r, pi, r->rbuf, (size_t)n);
	} else {
		p->in_len += (size_t)n;
		pub_http_answers(r, pi);
	}
}

/* Waits (poll) until fd is ready for events or deadline_ns; true if so. */
static bool pub_wait(int fd, short events, uint64_t deadline_ns)
{
	uint64_t now = bench_net_now_ns();
	if (now >= deadline_ns)
		return false;
	struct pollfd pfd = {.fd = fd, .events = events};
	uint64_t ms = (deadline_ns - now) / 1000000u + 1;
	return poll(&pfd, 1, ms > 5000 ? 5000 : (int)ms) == 1;
}

/* The crier.v1 upgrade of a publisher, waited for here (5 s at most). */
static int pub_ws_upgrade(struct bench_fanout *r, int fd, int pi, uint64_t deadline_ns)
{
	const struct bench_opts *o = r->o;
	char req[512], head[BENCH_HTTP_HEAD_MAX];
	size_t n =
	        bench_http_ws_upgrade(req, sizeof req, o->ws_path, o->pub_url.host, o->pub_url.port,
	                              r->keys.key[pi % BENCH_WS_KEYS], BENCH_WS_SUBPROTOCOL);
	if (n == 0 || send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
		fprintf(stderr, "crier bench: publisher %d: send: %s\n", pi, strerror(errno));
		return -1;
	}
	size_t len = 0, hl = 0;
	uint64_t until = bench_net_now_ns() + 5000000000u;
	if (until > deadline_ns)
		until = deadline_ns;
	while (!hl && len < sizeof head - 1 && pub_wait(fd, POLLIN, until)) {
		/* The head only: nothing follows it before a request is sent. */
		ssize_t k = recv(fd, head + len, sizeof head - 1 - len, 0);
		if (k <= 0 && !(k < 0 && errno == EAGAIN))
			break;
		len += k > 0 ? (size_t)k : 0;
		hl = bench_http_head_len(head, len);
	}
	head[len] = 0;
	const char *bad = hl ? bench_http_ws_check_101(head, hl, r->keys.accept[pi % BENCH_WS_KEYS],
	                                               BENCH_WS_SUBPROTOCOL)
	                     : "no answer to the upgrade";
	if (!bad && hl != len)
		bad = "bytes after the 101";
	if (bad) {
		fprintf(stderr,
		        "crier bench: publisher %d: crier.v1 upgrade on %s failed (%s): %.*s\n", pi,
		        o->ws_path, bad, (int)strcspn(head, "\r\n"), head);
		return -1;
	}
	ws_frame_parser_init(&r->pubs[pi].wp, WS_ROLE_CLIENT, false);
	return 0;
}

int bench_fanout_pub_connect(struct bench_fanout *r, uint64_t deadline_ns)
{
	for (int i = 0; i < r->o->publishers; i++) {
		struct bench_fanout_pub *p = &r->pubs[i];
		int fd = bench_net_connect(&r->o->pub_url.addr, 0);
		if (fd < 0) {
			fprintf(stderr, "crier bench: publisher connect: %s\n", strerror(-fd));
			return -1;
		}
		p->fd = fd;
		/* Wait for the connect here: P is small and the hub is idle. */
		int err = 0;
		socklen_t len = sizeof err;
		bool up = pub_wait(fd, POLLOUT, deadline_ns);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (!up || err) {
			fprintf(stderr, "crier bench: publisher connect: %s\n",
			        err ? strerror(err) : "timed out");
			return -1;
		}
		if (r->o->pub_wsproto && pub_ws_upgrade(r, fd, i, deadline_ns) < 0)
			return -1;
		p->connected = true;
		p->next_g = i;
		bench_fanout_ctl(r, EPOLL_CTL_ADD, fd, EPOLLIN, BENCH_FANOUT_TAG_PUB | (uint64_t)i);
	}
	return 0;
}
