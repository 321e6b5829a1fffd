/*
 * ceiling: the fastest fan-out this machine can do, as a yardstick for a hub.
 *
 *   ceiling --listen 127.0.0.1:PORT
 *
 * It speaks just enough of crier's routes for `crier bench fanout` (ws and
 * sse subscribers, HTTP publishers) to drive it: `GET /sub/{ch}` answers
 * the WebSocket handshake (with Upgrade, RFC 6455 §4.2.2) or the SSE one
 * (200 text/event-stream and ":ok\n\n"), `POST /pub/{ch}` answers 200 and
 * appends the body to the channel, and `GET /healthz` answers "ok" for the
 * scripts' readiness check. Nothing else: no ids to resume from, no history
 * beyond the run, no auth, no heartbeats, no backpressure policy, no
 * masking checks, one thread.
 *
 * What it does is what an ideal hub's fan-out does and nothing more:
 *  - Encode once: a publish is framed once per wire format (a WebSocket text
 *    frame, an SSE "id:/data:" event) into one allocation that lives until
 *    exit. The channel's log is an array of pointers to those.
 *  - No per-subscriber copy: a subscriber is a cursor into its channel's log
 *    (message index + byte offset into it).
 *  - Coalesce per loop iteration: publishes only mark their channel dirty;
 *    after the epoll batch is handled, every subscriber of a dirty channel is
 *    flushed with one writev of everything from its cursor to the log's end
 *    (up to IOV_MAX pieces). A subscriber whose socket is full waits for
 *    EPOLLOUT and resumes from its cursor.
 * So deliveries/s measured against it is the ceiling that syscall cost,
 * the kernel's loopback and the load generator allow; a hub's figure as a
 * percentage of it says how much the hub's own work costs.
 *
 * bench/fanout.sh and bench/compare.sh build it into bench/results/ceiling
 * (bench_build in bench/lib.sh). By hand:
 *   cc -O2 -std=c11 -Wall -Wextra -Werror -o ceiling ceiling.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept only ---- */

static uint32_t rol(uint32_t v, int n)
{
	return v << n | v >> (32 - n);
}

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	uint8_t blk[64];
	size_t total = ((len + 8) / 64 + 1) * 64;
	for (size_t off = 0; off < total; off += 64) {
		for (size_t i = 0; i < 64; i++) {
			size_t k = off + i;
			blk[i] = k < len ? msg[k] : k == len ? 0x80 : 0;
			if (k >= total - 8)
				blk[i] = (uint8_t)((uint64_t)len * 8 >> (8 * (total - 1 - k)));
		}
		uint32_t w[80];
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
			       (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
		for (int i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int i = 0; i < 80; i++) {
			uint32_t f, k;
			if (i < 20)
				f = (b & c) | (~b & d), k = 0x5a827999;
			else if (i < 40)
				f = b ^ c ^ d, k = 0x6ed9eba1;
			else if (i < 60)
				f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
			else
				f = b ^ c ^ d, k = 0xca62c1d6;
			uint32_t t = rol(a, 5) + f + e + k + w[i];
			e = d, d = c, c = rol(b, 30), b = a, a = t;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
	}
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < len ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? t[v & 63] : '=';
	}
	out[o] = 0;
}

/* ---- state ---- */

enum { FMT_WS, FMT_SSE, FMT_N };

/* One published message, framed once per wire format. */
struct msg {
	size_t len[FMT_N];
	char *bytes[FMT_N]; /* point into the same allocation as the struct */
};

struct channel {
	char name[129];
	struct msg **log; /* every message of the run, in publish order */
	size_t log_len, log_cap;
	int *subs; /* connection slots of its subscribers */
	size_t subs_len, subs_cap;
	bool dirty; /* published to in this loop iteration */
};

enum role { ROLE_HEAD, ROLE_SUB, ROLE_PUB };

struct conn {
	int fd;         /* -1: free slot */
	uint8_t role;   /* enum role */
	uint8_t fmt;    /* FMT_* of a subscriber */
	bool want_out;  /* EPOLLOUT registered (subscriber's socket was full) */
	int chan;       /* subscriber: channel index */
	size_t cur_msg; /* subscriber: next log entry to write */
	size_t cur_off; /* subscriber: bytes of it already written */
	char *in;       /* request bytes not yet handled (head, publishes) */
	size_t in_len, in_cap;
};

struct ceiling {
	int ep, lfd;
	struct conn *conns; /* indexed by fd */
	int conns_cap;
	struct channel *chans;
	int chans_len, chans_cap;
	int *dirty; /* channels published to in this iteration */
	int dirty_len;
	long seq; /* SSE id */
};

static char g_rbuf[1 << 16];

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("realloc");
	return p;
}

static int chan_find(struct ceiling *c, const char *name, size_t len)
{
	if (len == 0 || len > 128)
		return -1;
	for (int i = 0; i < c->chans_len; i++)
		if (strlen(c->chans[i].name) == len && !memcmp(c->chans[i].name, name, len))
			return i;
	if (c->chans_len == c->chans_cap) {
		c->chans_cap = c->chans_cap ? c->chans_cap * 2 : 64;
		c->chans = xrealloc(c->chans, (size_t)c->chans_cap * sizeof *c->chans);
		c->dirty = xrealloc(c->dirty, (size_t)c->chans_cap * sizeof *c->dirty);
	}
	struct channel *ch = &c->chans[c->chans_len];
	memset(ch, 0, sizeof *ch);
	memcpy(ch->name, name, len);
	return c->chans_len++;
}

static void conn_close(struct ceiling *c, int fd)
{
	struct conn *k = &c->conns[fd];
	if (k->role == ROLE_SUB) {
		struct channel *ch = &c->chans[k->chan];
		for (size_t i = 0; i < ch->subs_len; i++)
			if (ch->subs[i] == fd) {
				ch->subs[i] = ch->subs[--ch->subs_len];
				break;
			}
	}
	free(k->in);
	memset(k, 0, sizeof *k);
	k->fd = -1;
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* ---- fan-out ---- */

/* Write everything from the cursor to the log's end in one writev per
 * IOV_MAX pieces; stop at a full socket and wait for EPOLLOUT. */
static void sub_flush(struct ceiling *c, int fd)
{
	struct conn *k = &c->conns[fd];
	struct channel *ch = &c->chans[k->chan];
	while (k->cur_msg < ch->log_len) {
		struct iovec iov[IOV_MAX];
		int n = 0;
		size_t total = 0;
		for (size_t m = k->cur_msg; m < ch->log_len && n < IOV_MAX; m++, n++) {
			size_t skip = m == k->cur_msg ? k->cur_off : 0;
			iov[n].iov_base = ch->log[m]->bytes[k->fmt] + skip;
			iov[n].iov_len = ch->log[m]->len[k->fmt] - skip;
			total += iov[n].iov_len;
		}
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			conn_close(c, fd);
			return;
		}
		for (size_t left = (size_t)w; left > 0;) {
			size_t rest = ch->log[k->cur_msg]->len[k->fmt] - k->cur_off;
			if (left < rest) {
				k->cur_off += left;
				break;
			}
			left -= rest;
			k->cur_msg++;
			k->cur_off = 0;
		}
		if ((size_t)w < total)
			break; /* short write: the socket is full */
	}
	bool want = k->cur_msg < ch->log_len;
	if (want != k->want_out) {
		struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = fd};
		epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &e);
		k->want_out = want;
	}
}

static void publish(struct ceiling *c, int chan, const char *body, size_t len)
{
	char sse_head[48];
	int sh = snprintf(sse_head, sizeof sse_head, "id: %ld\ndata: ", ++c->seq);
	size_t wh = len < 126 ? 2 : len < 65536 ? 4 : 10;
	size_t wlen = wh + len, slen = (size_t)sh + len + 2;
	struct msg *m = malloc(sizeof *m + wlen + slen);
	if (!m)
		die("malloc");
	char *w = (char *)(m + 1), *s = w + wlen;
	w[0] = (char)0x81; /* FIN + text, RFC 6455 §5.2 */
	if (wh == 2)
		w[1] = (char)len;
	else if (wh == 4)
		w[1] = 126, w[2] = (char)(len >> 8), w[3] = (char)len;
	else {
		w[1] = 127;
		for (int i = 0; i < 8; i++)
			w[2 + i] = (char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(w + wh, body, len);
	memcpy(s, sse_head, (size_t)sh);
	memcpy(s + sh, body, len);
	memcpy(s + sh + len, "\n\n", 2);
	m->bytes[FMT_WS] = w, m->len[FMT_WS] = wlen;
	m->bytes[FMT_SSE] = s, m->len[FMT_SSE] = slen;
	struct channel *ch = &c->chans[chan];
	if (ch->log_len == ch->log_cap) {
		ch->log_cap = ch->log_cap ? ch->log_cap * 2 : 1024;
		ch->log = xrealloc(ch->log, ch->log_cap * sizeof *ch->log);
	}
	ch->log[ch->log_len++] = m;
	if (!ch->dirty) {
		ch->dirty = true;
		c->dirty[c->dirty_len++] = chan;
	}
}

static void flush_dirty(struct ceiling *c)
{
	for (int i = 0; i < c->dirty_len; i++) {
		struct channel *ch = &c->chans[c->dirty[i]];
		ch->dirty = false;
		/* Backwards: a subscriber closed on a write error is swapped out. */
		for (size_t s = ch->subs_len; s-- > 0;) {
			int fd = ch->subs[s];
			if (!c->conns[fd].want_out) /* a full socket waits for EPOLLOUT */
				sub_flush(c, fd);
		}
	}
	c->dirty_len = 0;
}

/* ---- requests ---- */

static void send_all(int fd, const char *p, size_t n)
{
	(void)!send(fd, p, n, MSG_NOSIGNAL); /* handshakes and acks are small */
}

static void sub_begin(struct ceiling *c, int fd, int chan, const char *head)
{
	struct conn *k = &c->conns[fd];
	char out[512];
	const char *key = strcasestr(head, "\r\nsec-websocket-key:");
	if (strcasestr(head, "\r\nupgrade: websocket") && key) {
		key += 20;
		while (*key == ' ')
			key++;
		char buf[128];
		size_t kl = strcspn(key, "\r ");
		if (kl > 64)
			kl = 64;
		memcpy(buf, key, kl);
		memcpy(buf + kl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
		uint8_t dig[20];
		char acc[32];
		sha1((uint8_t *)buf, kl + 36, dig);
		base64(dig, 20, acc);
		int n = snprintf(out, sizeof out,
		                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		                 acc);
		send_all(fd, out, (size_t)n);
		k->fmt = FMT_WS;
	} else {
		static const char sse[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		                          "Cache-Control: no-cache\r\n\r\n:ok\n\n";
		send_all(fd, sse, sizeof sse - 1);
		k->fmt = FMT_SSE;
	}
	struct channel *ch = &c->chans[chan];
	if (ch->subs_len == ch->subs_cap) {
		ch->subs_cap = ch->subs_cap ? ch->subs_cap * 2 : 256;
		ch->subs = xrealloc(ch->subs, ch->subs_cap * sizeof *ch->subs);
	}
	ch->subs[ch->subs_len++] = fd;
	k->role = ROLE_SUB;
	k->chan = chan;
	k->cur_msg = ch->log_len; /* from now on; no replay */
	k->cur_off = 0;
	free(k->in);
	k->in = NULL;
	k->in_len = k->in_cap = 0;
}

/* Handle every complete request in k->in; returns false to close. */
static bool conn_requests(struct ceiling *c, int fd)
{
	struct conn *k = &c->conns[fd];
	size_t off = 0;
	char acks[4096];
	size_t acks_len = 0;
	static const char ack[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	while (k->in && off < k->in_len) {
		char *h = k->in + off;
		char *end = memmem(h, k->in_len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		*end = 0;
		size_t head_len = (size_t)(end - h) + 4;
		const char *cl = strcasestr(h, "\r\ncontent-length:");
		size_t body_len = cl ? (size_t)atol(cl + 17) : 0;
		if (off + head_len + body_len > k->in_len) {
			*end = '\r';
			break;
		}
		char method[8] = "", path[160] = "";
		sscanf(h, "%7s %159s", method, path);
		const char *name = path + 5;
		size_t nl = strcspn(name, "?");
		if (!strcmp(method, "GET") && !strncmp(path, "/sub/", 5)) {
			int chan = chan_find(c, name, nl);
			if (chan < 0)
				return false;
			sub_begin(c, fd, chan, h);
			return true; /* the rest (if any) is WebSocket frames: ignored */
		}
		if (!strcmp(method, "POST") && !strncmp(path, "/pub/", 5)) {
			int chan = chan_find(c, name, nl);
			if (chan < 0)
				return false;
			publish(c, chan, h + head_len, body_len);
			k->role = ROLE_PUB;
			if (acks_len + sizeof ack > sizeof acks) {
				send_all(fd, acks, acks_len);
				acks_len = 0;
			}
			memcpy(acks + acks_len, ack, sizeof ack - 1);
			acks_len += sizeof ack - 1;
		} else if (!strcmp(method, "GET") && !strcmp(path, "/healthz")) {
			static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
			send_all(fd, ok, sizeof ok - 1);
		} else
			return false;
		off += head_len + body_len;
	}
	if (acks_len)
		send_all(fd, acks, acks_len);
	if (k->in) {
		memmove(k->in, k->in + off, k->in_len - off);
		k->in_len -= off;
	}
	return true;
}

static void conn_read(struct ceiling *c, int fd)
{
	struct conn *k = &c->conns[fd];
	ssize_t n = recv(fd, g_rbuf, sizeof g_rbuf, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c, fd);
		return;
	}
	if (n < 0 || k->role == ROLE_SUB) /* a subscriber's pongs and frames: dropped */
		return;
	if (k->in_len + (size_t)n + 1 > k->in_cap) {
		k->in_cap = (k->in_len + (size_t)n + 1) * 2;
		k->in = xrealloc(k->in, k->in_cap);
	}
	memcpy(k->in + k->in_len, g_rbuf, (size_t)n);
	k->in_len += (size_t)n;
	k->in[k->in_len] = 0;
	if (!conn_requests(c, fd) || (k->in && k->in_len > (1u << 20)))
		conn_close(c, fd);
}

static void accept_all(struct ceiling *c)
{
	for (;;) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (fd >= c->conns_cap) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->conns[fd] = (struct conn){.fd = fd, .role = ROLE_HEAD};
		struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &e);
	}
}

int main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:8080";
	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--listen"))
			listen_at = argv[i + 1];
	char host[64];
	int port;
	if (sscanf(listen_at, "%63[0-9.]:%d", host, &port) != 2) {
		fprintf(stderr, "usage: ceiling --listen IPV4:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	static struct ceiling c;
	c.conns_cap = (int)rl.rlim_cur;
	c.conns = calloc((size_t)c.conns_cap, sizeof *c.conns);
	if (!c.conns)
		die("calloc");
	c.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(c.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, host, &a.sin_addr);
	if (bind(c.lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(c.lfd, 4096) < 0)
		die("listen");
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = c.lfd};
	epoll_ctl(c.ep, EPOLL_CTL_ADD, c.lfd, &e);
	fprintf(stderr, "ceiling: listening on %s\n", listen_at);
	struct epoll_event ev[512];
	for (;;) {
		int n = epoll_wait(c.ep, ev, 512, -1);
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == c.lfd) {
				accept_all(&c);
				continue;
			}
			if (c.conns[fd].fd != fd)
				continue; /* closed earlier in this batch */
			if (ev[i].events & EPOLLOUT)
				sub_flush(&c, fd);
			if (c.conns[fd].fd == fd &&
			    (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				conn_read(&c, fd);
		}
		flush_dirty(&c);
	}
}
