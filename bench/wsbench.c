/*
 * wsbench: a WebSocket load generator for echo latency/throughput and for
 * the server's resident memory per idle WebSocket.
 *
 *   wsbench echo --url ws://127.0.0.1:PORT/PATH --conns C --size B --duration S
 *   wsbench idle --url ws://127.0.0.1:PORT/PATH --conns N --pid PID [--hold S]
 *
 * echo: C connections, each with exactly one message in flight: send a masked
 * frame of B bytes, wait for the whole echo, compare it byte for byte with
 * what was sent, record the round trip (CLOCK_MONOTONIC), send the next. The
 * first --warmup seconds are not recorded. One JSON line with the round trips,
 * their rate and a latency histogram's percentiles.
 *
 * idle: N connections complete the upgrade and then sit idle, answering the
 * server's pings; the server's RSS (pid plus descendants, so nginx's master
 * and workers count) is sampled before and after. One JSON line.
 *
 * What it never does: allocate per message, use any library beyond libc
 * (SHA-1 and base64 for the handshake are here), or read the server's memory
 * any other way than /proc. The non-obvious choices:
 *  - Each thread owns an epoll set and a slice of the connections; nothing is
 *    shared on the hot path. One recv() and one send() per round trip, no
 *    read-until-EAGAIN, so the generator spends as little as it can per
 *    message and the server stays the bottleneck (client_cpu_util says).
 *  - Latency goes into a log-linear histogram (64 sub-buckets per power of
 *    two, under 1.6 % error), so a 10 s run at 200k/s costs 32 KiB.
 *  - The payload of message k on connection i is a slice of a fixed ASCII
 *    pattern at an offset derived from (i, k): a stale, duplicated or
 *    cross-connection echo does not compare equal. ASCII keeps text frames
 *    valid UTF-8.
 *  - Source addresses are spread over 127.0.0.1..127.0.0.K with
 *    IP_BIND_ADDRESS_NO_PORT, and at most --inflight handshakes are pending,
 *    so 10,000+ connections neither exhaust ports nor overflow the backlog.
 *  - Sockets are closed with SO_LINGER 0 (RST): no TIME_WAIT for the next run.
 *
 * Build: cc -O2 -std=c11 -pthread -Wall -Wextra -Werror -o wsbench wsbench.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

/* RFC 6455 §5.2 opcodes. */
enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BIN = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

/* The 101 response head must fit here (nchan's is about 200 bytes). */
#define HEAD_CAP 2048
/* Per-connection output room beyond one data frame: a few queued pongs. */
#define CTRL_ROOM 512
/* Connections sharing one source address; ports 32768-60999 give 28k. */
#define CONNS_PER_SRC 2000
/* Histogram: values below 2^SUB_BITS+1 exact, then 2^SUB_BITS per octave. */
#define SUB_BITS  6
#define SUB       (1u << SUB_BITS)
#define HIST_LEN  (64 * SUB)
#define MAX_PIDS  256
#define PATTERN_N 61 /* prime, so (i, k) offsets spread over all residues */

enum mode { MODE_ECHO, MODE_IDLE };
enum cstate { ST_NEW, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DEAD };

struct opts {
	enum mode mode;
	char host[64];
	int port;
	char path[256];
	long conns;
	long size_bytes;
	double duration_s;
	double warmup_s;
	double timeout_s; /* a pending handshake or echo older than this is an error */
	double hold_s;    /* idle: how long to keep them after measuring */
	double settle_s;  /* idle: wait before sampling RSS */
	long pid;
	int threads;
	int inflight; /* handshakes pending at once, across all threads */
	int src_addrs;
	long prime; /* idle: connections opened and closed before "before" */
	bool binary;
};

struct conn {
	int fd;
	enum cstate state;
	long id;
	bool want_out; /* EPOLLOUT is registered */
	bool awaiting; /* echo: a message is in flight */
	bool msg_bad;  /* echo: the message being received differs so far */
	bool in_payload;
	bool frame_fin;
	uint8_t frame_op;
	uint8_t msg_op;
	uint64_t frame_left; /* payload bytes of the current frame still to come */
	uint64_t msg_off;    /* bytes of the current message received so far */
	uint64_t seq;        /* messages sent */
	int64_t sent_ns;
	int64_t started_ns; /* connect() time, for the handshake timeout */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	char accept[32]; /* expected Sec-WebSocket-Accept */
};

struct counts {
	long connected; /* completed the upgrade */
	long failed;    /* connect or handshake failed */
	long dropped;   /* open, then closed by the server (idle) or lost (echo) */
	long mismatches;
	long timeouts;
	long protocol; /* unexpected frame, opcode, size or close */
	long pings;    /* server pings answered */
	long messages; /* idle: data messages the server sent anyway */
	char first_err[160];
};

struct loop {
	const struct opts *o;
	int ep;
	struct conn *conns;
	long n;
	long next;    /* next connection to start */
	long pending; /* connects + handshakes in flight */
	int inflight_cap;
	struct counts k;
	uint64_t hist[HIST_LEN];
	uint64_t round_trips;
	int64_t max_ns;
	pthread_t tid;
};

/* Shared, read-only once the threads run, except the measurement window. */
static const uint8_t *pattern; /* PATTERN_N + size bytes of ASCII */
static struct sockaddr_in server_addr;
static pthread_barrier_t barrier;
static int64_t window_start_ns, window_end_ns;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_err(struct counts *k, const char *what, int err)
{
	if (k->first_err[0])
		return;
	if (err)
		snprintf(k->first_err, sizeof k->first_err, "%s: %s", what, strerror(err));
	else
		snprintf(k->first_err, sizeof k->first_err, "%s", what);
}

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept (RFC 6455 §4.2.2) ---- */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* SHA-1 of a message shorter than 120 bytes (two blocks), all we hash. */
static void sha1_short(const void *msg, size_t len, uint8_t out[20])
{
	uint8_t blk[128] = {0};
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	memcpy(blk, msg, len);
	blk[len] = 0x80;
	size_t total = len + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		blk[total - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t off = 0; off < total; off += 64)
		sha1_block(h, blk + off);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = 0;
}

/* ---- latency histogram ---- */

static unsigned hist_index(uint64_t v)
{
	if (v < 2 * SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS + 1 */
	unsigned shift = e - SUB_BITS;
	unsigned idx = 2 * SUB + (shift - 1) * SUB + (unsigned)((v >> shift) - SUB);
	return idx < HIST_LEN ? idx : HIST_LEN - 1;
}

/* The middle of bucket idx, in the unit recorded (ns). */
static double hist_value(unsigned idx)
{
	if (idx < 2 * SUB)
		return idx;
	unsigned shift = (idx - 2 * SUB) / SUB + 1;
	uint64_t lo = ((uint64_t)((idx - 2 * SUB) % SUB) + SUB) << shift;
	return (double)lo + (double)((uint64_t)1 << shift) / 2.0;
}

static double hist_quantile(const uint64_t *h, uint64_t total, double q)
{
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_LEN; i++) {
		seen += h[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_LEN - 1);
}

/* ---- connection I/O ---- */

static void conn_watch(struct loop *l, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Close with RST and account for it. */
static void conn_kill(struct loop *l, struct conn *c, long *counter, const char *why, int err)
{
	if (c->state == ST_DEAD)
		return;
	if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE)
		l->pending--;
	if (c->fd >= 0) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(c->fd);
		c->fd = -1;
	}
	c->state = ST_DEAD;
	c->awaiting = false;
	if (counter)
		(*counter)++;
	set_err(&l->k, why, err);
}

/* Write what is queued; register for EPOLLOUT only while something is left. */
static void conn_flush(struct loop *l, struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_kill(l, c, c->state == ST_OPEN ? &l->k.dropped : &l->k.failed, "send",
			          errno);
			return;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	bool out = c->wlen > 0 || c->state == ST_CONNECTING;
	if (out != c->want_out)
		conn_watch(l, c, out);
}

/* Append a client frame (always masked, RFC 6455 §5.3) to the output. */
static int conn_queue_frame(struct conn *c, uint8_t op, const uint8_t *data, size_t len)
{
	if (c->wlen + len + 14 > c->wcap)
		return -1;
	uint8_t *p = c->wbuf + c->wlen;
	size_t h = 0;
	p[h++] = 0x80 | op;
	if (len < 126) {
		p[h++] = 0x80 | (uint8_t)len;
	} else if (len <= 0xFFFF) {
		p[h++] = 0x80 | 126;
		p[h++] = (uint8_t)(len >> 8);
		p[h++] = (uint8_t)len;
	} else {
		p[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	/* The mask only has to be unpredictable to a browser's script; a cheap
	 * per-connection sequence is enough for a load generator. */
	uint32_t m = (uint32_t)(c->seq * 2654435761u) ^ (uint32_t)c->id ^ 0x5bd1e995u;
	uint8_t mask[4] = {(uint8_t)(m >> 24), (uint8_t)(m >> 16), (uint8_t)(m >> 8), (uint8_t)m};
	memcpy(p + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		p[h + i] = data[i] ^ mask[i & 3];
	c->wlen += h + len;
	return 0;
}

static const uint8_t *expected_payload(const struct conn *c)
{
	return pattern + (c->seq * 7 + (uint64_t)c->id * 13) % PATTERN_N;
}

static void echo_send(struct loop *l, struct conn *c)
{
	c->seq++;
	c->msg_off = 0;
	c->msg_bad = false;
	c->msg_op = 0;
	c->awaiting = true;
	conn_queue_frame(c, l->o->binary ? OP_BIN : OP_TEXT, expected_payload(c),
	                 (size_t)l->o->size_bytes);
	c->sent_ns = now_ns();
	conn_flush(l, c);
}

/* A whole echo arrived: check it, record it, send the next one. */
static void echo_done(struct loop *l, struct conn *c)
{
	int64_t t = now_ns();
	c->awaiting = false;
	if (c->msg_bad || c->msg_off != (uint64_t)l->o->size_bytes ||
	    c->msg_op != (l->o->binary ? OP_BIN : OP_TEXT)) {
		l->k.mismatches++;
		set_err(&l->k,
		        c->msg_op != (l->o->binary ? OP_BIN : OP_TEXT)
		                ? "echo came back with another opcode"
		                : "echo payload differs from what was sent",
		        0);
	} else if (t >= window_start_ns && t < window_end_ns) {
		int64_t rt = t - c->sent_ns;
		l->hist[hist_index((uint64_t)rt)]++;
		l->round_trips++;
		if (rt > l->max_ns)
			l->max_ns = rt;
	}
	if (t < window_end_ns)
		echo_send(l, c);
}

/* Handle one complete control frame (payload <= 125 bytes, RFC 6455 §5.5). */
static void conn_control(struct loop *l, struct conn *c, uint8_t op, const uint8_t *p, size_t len)
{
	if (op == OP_PING) {
		l->k.pings++;
		if (conn_queue_frame(c, OP_PONG, p, len) == 0)
			conn_flush(l, c);
	} else if (op == OP_CLOSE) {
		unsigned code = len >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
		char why[64];
		snprintf(why, sizeof why, "server sent close %u", code);
		conn_kill(l, c, &l->k.dropped, why, 0);
	}
	/* OP_PONG: unsolicited, ignored (RFC 6455 §5.5.3). */
}

/* Parse server frames (never masked) from rbuf; returns bytes consumed. */
static size_t conn_frames(struct loop *l, struct conn *c)
{
	size_t off = 0;
	while (c->state == ST_OPEN && off < c->rlen) {
		size_t avail = c->rlen - off;
		const uint8_t *p = c->rbuf + off;
		if (c->in_payload) {
			size_t n = avail < c->frame_left ? avail : (size_t)c->frame_left;
			if (l->o->mode == MODE_ECHO) {
				size_t size = (size_t)l->o->size_bytes;
				if (c->msg_off + n > size ||
				    memcmp(p, expected_payload(c) + c->msg_off, n) != 0)
					c->msg_bad = true;
			}
			c->msg_off += n;
			c->frame_left -= n;
			off += n;
			if (c->frame_left == 0) {
				c->in_payload = false;
				if (c->frame_fin && l->o->mode == MODE_ECHO)
					echo_done(l, c);
			}
			continue;
		}
		if (avail < 2)
			break;
		uint8_t op = p[0] & 0x0F;
		bool fin = p[0] & 0x80;
		uint64_t len = p[1] & 0x7F;
		size_t h = 2;
		if (p[1] & 0x80) {
			conn_kill(l, c, &l->k.protocol, "server sent a masked frame", 0);
			break;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		if (op >= 0x8) {
			if (!fin || len > 125) {
				conn_kill(l, c, &l->k.protocol, "bad control frame", 0);
				break;
			}
			if (avail < h + len)
				break;
			conn_control(l, c, op, p + h, (size_t)len);
			off += h + (size_t)len;
			continue;
		}
		if (l->o->mode == MODE_IDLE) {
			/* A server may replay history to a new subscriber (nchan does):
			 * count the frames and skip their payload. */
			l->k.messages += fin;
			off += h;
			c->frame_fin = fin;
			c->frame_left = len;
			c->in_payload = len > 0;
			continue;
		}
		if (!c->awaiting || (op == OP_CONT) != (c->msg_op != 0)) {
			conn_kill(l, c, &l->k.protocol, "unexpected data frame", 0);
			break;
		}
		if (op != OP_CONT)
			c->msg_op = op;
		off += h;
		c->frame_fin = fin;
		c->frame_left = len;
		c->in_payload = true;
		if (len == 0) {
			c->in_payload = false;
			if (fin)
				echo_done(l, c);
		}
	}
	return off;
}

/* Check the 101 response head; returns its length, 0 for "need more", -1. */
static long conn_check_101(struct loop *l, struct conn *c)
{
	char *buf = (char *)c->rbuf;
	char *end = memmem(buf, c->rlen, "\r\n\r\n", 4);
	if (!end) {
		if (c->rlen >= HEAD_CAP - 1) {
			conn_kill(l, c, &l->k.failed, "handshake response head too large", 0);
			return -1;
		}
		return 0;
	}
	size_t head_len = (size_t)(end - buf) + 4;
	char save = buf[head_len - 1];
	buf[head_len - 1] = 0;
	bool ok101 = strncmp(buf, "HTTP/1.1 101", 12) == 0;
	bool accept_ok = false;
	for (char *line = strstr(buf, "\r\n"); line && line < end;
	     line = strstr(line + 2, "\r\n")) {
		static const char name[] = "sec-websocket-accept:";
		if (strncasecmp(line + 2, name, sizeof name - 1) == 0) {
			char *v = line + 2 + sizeof name - 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strlen(c->accept);
			accept_ok = strncmp(v, c->accept, n) == 0 &&
			            (v[n] == '\r' || v[n] == ' ' || v[n] == 0);
		}
	}
	buf[head_len - 1] = save;
	if (!ok101 || !accept_ok) {
		char first[80];
		size_t n = strcspn(buf, "\r\n");
		snprintf(first, sizeof first, "handshake refused: %.*s%s", (int)(n < 60 ? n : 60),
		         buf, ok101 ? " (bad Sec-WebSocket-Accept)" : "");
		conn_kill(l, c, &l->k.failed, first, 0);
		return -1;
	}
	return (long)head_len;
}

static void conn_readable(struct loop *l, struct conn *c)
{
	for (;;) {
		if (c->rlen == c->rcap) {
			conn_kill(l, c, &l->k.protocol, "read buffer full", 0);
			return;
		}
		size_t room = c->rcap - c->rlen;
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_kill(l, c, c->state == ST_OPEN ? &l->k.dropped : &l->k.failed, "recv",
			          errno);
			return;
		}
		if (n == 0) {
			conn_kill(l, c, c->state == ST_OPEN ? &l->k.dropped : &l->k.failed,
			          "server closed the connection", 0);
			return;
		}
		c->rlen += (size_t)n;
		size_t used = 0;
		if (c->state == ST_HANDSHAKE) {
			long h = conn_check_101(l, c);
			if (h <= 0)
				return;
			used = (size_t)h;
			c->state = ST_OPEN;
			l->pending--;
			l->k.connected++;
		}
		if (c->state == ST_OPEN) {
			size_t rest = c->rlen - used;
			memmove(c->rbuf, c->rbuf + used, rest);
			c->rlen = rest;
			used = conn_frames(l, c);
		}
		if (c->state == ST_DEAD)
			return;
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		/* Only a recv that filled all the room may have left more behind;
		 * otherwise level-triggered epoll reports the rest, and we spare the
		 * read that would return EAGAIN. */
		if ((size_t)n < room)
			return;
	}
}

/* Start the non-blocking connect of connection c from source address src. */
static void conn_start(struct loop *l, struct conn *c)
{
	const struct opts *o = l->o;
	c->started_ns = now_ns();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->state = ST_NEW;
		conn_kill(l, c, &l->k.failed, "socket", errno);
		return;
	}
	c->fd = fd;
	c->state = ST_CONNECTING;
	l->pending++;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (o->src_addrs > 1) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(c->id % o->src_addrs));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			conn_kill(l, c, &l->k.failed, "bind", errno);
			return;
		}
	}
	int r = connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
	if (r != 0 && errno != EINPROGRESS) {
		conn_kill(l, c, &l->k.failed, "connect", errno);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
	c->want_out = true;
}

/* The TCP connection is up: send the upgrade request (RFC 6455 §4.1). */
static void conn_connected(struct loop *l, struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		conn_kill(l, c, &l->k.failed, "connect", err);
		return;
	}
	uint8_t raw[16];
	char key[32];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		for (size_t i = 0; i < sizeof raw; i++)
			raw[i] = (uint8_t)rand();
	base64(raw, sizeof raw, key);
	char cat[96];
	int cl = snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	uint8_t digest[20];
	sha1_short(cat, (size_t)cl, digest);
	base64(digest, sizeof digest, c->accept);
	int n = snprintf((char *)c->wbuf, c->wcap,
	                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\nUser-Agent: wsbench\r\n\r\n",
	                 l->o->path, l->o->host, l->o->port, key);
	c->wlen = (size_t)n;
	c->woff = 0;
	c->state = ST_HANDSHAKE;
	conn_flush(l, c);
}

static void loop_event(struct loop *l, struct conn *c, uint32_t events)
{
	if (c->state == ST_DEAD)
		return;
	if (c->state == ST_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connected(l, c);
		return;
	}
	if ((events & EPOLLOUT) && c->wlen)
		conn_flush(l, c);
	if (c->state != ST_DEAD && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_readable(l, c);
}

/* Start connects up to the in-flight cap. */
static void loop_fill(struct loop *l)
{
	while (l->next < l->n && l->pending < l->inflight_cap)
		conn_start(l, &l->conns[l->next++]);
}

/* Time out handshakes and (echo) messages older than --timeout. */
static void loop_timeouts(struct loop *l, int64_t t)
{
	int64_t lim = (int64_t)(l->o->timeout_s * 1e9);
	for (long i = 0; i < l->next; i++) {
		struct conn *c = &l->conns[i];
		if ((c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) &&
		    t - c->started_ns > lim)
			conn_kill(l, c, &l->k.failed, "handshake timed out", 0);
		else if (c->state == ST_OPEN && c->awaiting && t - c->sent_ns > lim)
			conn_kill(l, c, &l->k.timeouts, "echo timed out", 0);
	}
}

/* Run epoll until cond says stop or deadline_ns passes. */
static void loop_run(struct loop *l, bool (*cond)(struct loop *), int64_t deadline_ns)
{
	struct epoll_event evs[256];
	int64_t last_check = now_ns();
	for (;;) {
		int64_t t = now_ns();
		if (t >= deadline_ns || !cond(l))
			return;
		if (t - last_check > 100000000) {
			loop_timeouts(l, t);
			last_check = t;
		}
		loop_fill(l);
		int64_t wait_ms = (deadline_ns - t) / 1000000 + 1;
		int n = epoll_wait(l->ep, evs, 256, wait_ms < 100 ? (int)wait_ms : 100);
		for (int i = 0; i < n; i++)
			loop_event(l, evs[i].data.ptr, evs[i].events);
	}
}

static bool still_connecting(struct loop *l)
{
	return l->next < l->n || l->pending > 0;
}

static bool always(struct loop *l)
{
	(void)l;
	return true;
}

static int loop_init(struct loop *l, const struct opts *o, long first, long n, int cap)
{
	l->o = o;
	l->n = n;
	l->inflight_cap = cap > 0 ? cap : 1;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->conns = calloc((size_t)n, sizeof *l->conns);
	if (l->ep < 0 || !l->conns)
		return -1;
	size_t rcap = o->mode == MODE_ECHO ? (size_t)o->size_bytes + HEAD_CAP + 64 : HEAD_CAP;
	size_t wcap =
	        o->mode == MODE_ECHO ? (size_t)o->size_bytes + 14 + CTRL_ROOM : CTRL_ROOM + 128;
	if (wcap < 512)
		wcap = 512;
	for (long i = 0; i < n; i++) {
		struct conn *c = &l->conns[i];
		c->fd = -1;
		c->id = first + i;
		c->rcap = rcap;
		c->wcap = wcap;
		c->rbuf = malloc(rcap);
		c->wbuf = malloc(wcap);
		if (!c->rbuf || !c->wbuf)
			return -1;
	}
	return 0;
}

static void loop_close_all(struct loop *l)
{
	for (long i = 0; i < l->n; i++) {
		struct conn *c = &l->conns[i];
		if (c->state != ST_DEAD && c->fd >= 0) {
			long ignore = 0;
			conn_kill(l, c, &ignore, "", 0);
		}
		free(c->rbuf);
		free(c->wbuf);
	}
	free(l->conns);
	close(l->ep);
}

/* ---- echo mode ---- */

static void *echo_thread(void *arg)
{
	struct loop *l = arg;
	const struct opts *o = l->o;
	loop_run(l, still_connecting, now_ns() + (int64_t)(o->timeout_s * 1e9));
	pthread_barrier_wait(&barrier); /* all connected */
	pthread_barrier_wait(&barrier); /* main set the window */
	for (long i = 0; i < l->n; i++)
		if (l->conns[i].state == ST_OPEN)
			echo_send(l, &l->conns[i]);
	loop_run(l, always, window_end_ns);
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void counts_add(struct counts *a, const struct counts *b)
{
	a->connected += b->connected;
	a->failed += b->failed;
	a->dropped += b->dropped;
	a->mismatches += b->mismatches;
	a->timeouts += b->timeouts;
	a->protocol += b->protocol;
	a->pings += b->pings;
	a->messages += b->messages;
	if (!a->first_err[0])
		memcpy(a->first_err, b->first_err, sizeof a->first_err);
}

static int run_echo(const struct opts *o)
{
	size_t plen = (size_t)o->size_bytes + PATTERN_N;
	uint8_t *pat = malloc(plen);
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	for (size_t i = 0; i < plen; i++)
		pat[i] = (uint8_t)alpha[i % PATTERN_N];
	pattern = pat;

	int nt = o->threads;
	struct loop *ls = calloc((size_t)nt, sizeof *ls);
	pthread_barrier_init(&barrier, NULL, (unsigned)nt + 1);
	long first = 0;
	for (int t = 0; t < nt; t++) {
		long n = o->conns / nt + (t < o->conns % nt);
		if (loop_init(&ls[t], o, first, n, o->inflight / nt) != 0) {
			fprintf(stderr, "wsbench: out of memory\n");
			return 2;
		}
		first += n;
		pthread_create(&ls[t].tid, NULL, echo_thread, &ls[t]);
	}
	pthread_barrier_wait(&barrier);
	int64_t t0 = now_ns();
	window_start_ns = t0 + (int64_t)(o->warmup_s * 1e9);
	window_end_ns = window_start_ns + (int64_t)(o->duration_s * 1e9);
	pthread_barrier_wait(&barrier);
	double cpu0 = -1, cpu1;
	struct timespec at = {(time_t)(window_start_ns / 1000000000), window_start_ns % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
		;
	cpu0 = cpu_seconds();
	for (int t = 0; t < nt; t++)
		pthread_join(ls[t].tid, NULL);
	cpu1 = cpu_seconds();

	struct counts k = {0};
	uint64_t *h = calloc(HIST_LEN, sizeof *h);
	uint64_t rts = 0;
	int64_t max_ns = 0;
	for (int t = 0; t < nt; t++) {
		counts_add(&k, &ls[t].k);
		for (unsigned i = 0; i < HIST_LEN; i++)
			h[i] += ls[t].hist[i];
		rts += ls[t].round_trips;
		if (ls[t].max_ns > max_ns)
			max_ns = ls[t].max_ns;
		loop_close_all(&ls[t]);
	}
	long errors = k.failed + k.dropped + k.mismatches + k.timeouts + k.protocol;
	printf("{\"bench\":\"ws_echo\",\"conns\":%ld,\"size\":%ld,\"seconds\":%g,"
	       "\"round_trips\":%llu,\"rps\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":%ld,"
	       "\"connected\":%ld,\"failed\":%ld,\"lost\":%ld,\"mismatches\":%ld,"
	       "\"timeouts\":%ld,\"protocol_errors\":%ld,\"opcode\":\"%s\",\"threads\":%d,"
	       "\"warmup_s\":%g,\"client_cpu_util\":%.2f,\"first_error\":",
	       o->conns, o->size_bytes, o->duration_s, (unsigned long long)rts,
	       (double)rts / o->duration_s, hist_quantile(h, rts, 0.50) / 1e3,
	       hist_quantile(h, rts, 0.90) / 1e3, hist_quantile(h, rts, 0.99) / 1e3,
	       hist_quantile(h, rts, 0.999) / 1e3, (double)max_ns / 1e3, errors, k.connected,
	       k.failed, k.dropped, k.mismatches, k.timeouts, k.protocol,
	       o->binary ? "binary" : "text", nt, o->warmup_s, (cpu1 - cpu0) / o->duration_s);
	json_string(k.first_err);
	printf("}\n");
	free(h);
	free(ls);
	free(pat);
	return errors == 0 && rts > 0 ? 0 : 1;
}

/* ---- idle mode: the server's RSS from /proc ---- */

/* A "Key:  123 kB" field of a /proc file, in KiB, or -1. */
static long proc_kb(long pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			kb = atol(line + kl + 1);
			break;
		}
	fclose(f);
	return kb;
}

static long ppid_of(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
	long ppid = -1;
	if (rp)
		sscanf(rp + 2, "%*c %ld", &ppid);
	return ppid;
}

/* The pid and its descendants (closure over PPid in one /proc scan). */
static int tree_pids(long root, long *pids)
{
	long all[4096][2];
	int na = 0, np = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && na < 4096)
		if (isdigit((unsigned char)e->d_name[0])) {
			all[na][0] = atol(e->d_name);
			all[na][1] = ppid_of(all[na][0]);
			na++;
		}
	if (d)
		closedir(d);
	pids[np++] = root;
	for (int i = 0; i < np && np < MAX_PIDS; i++)
		for (int j = 0; j < na && np < MAX_PIDS; j++)
			if (all[j][1] == pids[i])
				pids[np++] = all[j][0];
	return np;
}

/* Summed VmRSS (and Pss, which splits shared pages fairly) of the tree. */
static long tree_mem_kb(long root, long *pss_kb, int *nprocs)
{
	long pids[MAX_PIDS];
	int np = tree_pids(root, pids), alive = 0;
	long rss = 0, pss = 0;
	for (int i = 0; i < np; i++) {
		long r = proc_kb(pids[i], "status", "VmRSS");
		if (r < 0)
			continue;
		rss += r;
		long p = proc_kb(pids[i], "smaps_rollup", "Pss");
		pss += p > 0 ? p : 0;
		alive++;
	}
	if (pss_kb)
		*pss_kb = pss;
	if (nprocs)
		*nprocs = alive;
	return alive ? rss : -1;
}

static int run_idle(const struct opts *o)
{
	struct loop *l = calloc(1, sizeof *l);
	if (!l || loop_init(l, o, 0, o->conns, o->inflight) != 0) {
		fprintf(stderr, "wsbench: out of memory\n");
		return 2;
	}
	/* Prime: a few connections upgrade and close first, so code and
	 * allocator pages touched by the first upgrade are in "before". */
	if (o->prime > 0) {
		struct loop *p = calloc(1, sizeof *p);
		if (!p || loop_init(p, o, 0, o->prime, o->inflight) != 0) {
			fprintf(stderr, "wsbench: out of memory\n");
			return 2;
		}
		loop_run(p, still_connecting, now_ns() + (int64_t)(o->timeout_s * 1e9));
		if (p->k.connected < o->prime)
			fprintf(stderr, "wsbench: priming: %ld of %ld connected (%s)\n",
			        p->k.connected, o->prime, p->k.first_err);
		loop_close_all(p);
		free(p);
		struct timespec ts = {0, 500000000};
		nanosleep(&ts, NULL);
	}
	long pss_before = 0, pss_after = 0;
	int nprocs = 0;
	long rss_before = tree_mem_kb(o->pid, &pss_before, NULL);
	if (rss_before < 0) {
		fprintf(stderr, "wsbench: no process %ld\n", o->pid);
		return 2;
	}
	int64_t t0 = now_ns();
	loop_run(l, still_connecting, t0 + (int64_t)(o->timeout_s * 1e9));
	double connect_s = (double)(now_ns() - t0) / 1e9;
	bool timed_out = still_connecting(l);
	/* Keep answering pings while the server settles. */
	loop_run(l, always, now_ns() + (int64_t)(o->settle_s * 1e9));
	long rss_after = tree_mem_kb(o->pid, &pss_after, &nprocs);
	long idle = l->k.connected - l->k.dropped;
	loop_run(l, always, now_ns() + (int64_t)(o->hold_s * 1e9));
	long rss_end = tree_mem_kb(o->pid, NULL, NULL);
	double per = idle > 0 ? (double)(rss_after - rss_before) * 1024.0 / (double)idle : 0;
	double pss_per = idle > 0 ? (double)(pss_after - pss_before) * 1024.0 / (double)idle : 0;
	printf("{\"bench\":\"ws_idle\",\"conns\":%ld,\"connected\":%ld,\"failed\":%ld,"
	       "\"dropped\":%ld,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_end_kb\":%ld,"
	       "\"rss_per_conn_bytes\":%.0f,\"pss_before_kb\":%ld,\"pss_after_kb\":%ld,"
	       "\"pss_per_conn_bytes\":%.0f,\"connect_seconds\":%.3f,\"hold_s\":%g,"
	       "\"pings_answered\":%ld,\"messages_received\":%ld,\"processes\":%d,\"src_addrs\":%d,"
	       "\"prime\":%ld,\"timed_out\":%s,"
	       "\"first_error\":",
	       o->conns, l->k.connected, l->k.failed + l->k.protocol, l->k.dropped, rss_before,
	       rss_after, rss_end, per, pss_before, pss_after, pss_per, connect_s, o->hold_s,
	       l->k.pings, l->k.messages, nprocs, o->src_addrs, o->prime,
	       timed_out ? "true" : "false");
	json_string(l->k.first_err);
	printf("}\n");
	bool ok = l->k.connected == o->conns && l->k.dropped == 0;
	loop_close_all(l);
	free(l);
	return ok ? 0 : 1;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: wsbench echo --url ws://HOST:PORT/PATH [--conns 50] [--size 64]\n"
	           "                    [--duration 10] [--warmup 2] [--text|--binary]\n"
	           "                    [--threads 1] [--timeout 10]\n"
	           "       wsbench idle --url ws://HOST:PORT/PATH --conns N --pid PID [--hold 3]\n"
	           "                    [--settle 2] [--timeout 120] [--inflight 256] [--src-addrs "
	           "K]\n"
	           "                    [--prime 16]\n"
	           "echo: one message in flight per connection, round-trip latency and rate.\n"
	           "idle: N idle WebSockets, the server's RSS (pid + descendants) before/after.\n"
	           "Each prints one JSON line; exit status 0 only without errors.\n");
}

static int parse_url(const char *url, struct opts *o)
{
	if (strncmp(url, "ws://", 5) != 0) {
		fprintf(stderr, "wsbench: only ws:// URLs (got %s)\n", url);
		return -1;
	}
	const char *h = url + 5, *colon = strchr(h, ':'), *slash = strchr(h, '/');
	if (!slash)
		slash = h + strlen(h);
	if (!colon || colon > slash || (size_t)(colon - h) >= sizeof o->host) {
		fprintf(stderr, "wsbench: the URL needs HOST:PORT (got %s)\n", url);
		return -1;
	}
	memcpy(o->host, h, (size_t)(colon - h));
	o->host[colon - h] = 0;
	o->port = atoi(colon + 1);
	snprintf(o->path, sizeof o->path, "%s", *slash ? slash : "/");
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.conns = 50,
	                   .size_bytes = 64,
	                   .duration_s = 10,
	                   .warmup_s = 2,
	                   .timeout_s = 10,
	                   .hold_s = 3,
	                   .settle_s = 2,
	                   .threads = 1,
	                   .inflight = 256,
	                   .prime = 16};
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "echo")) {
		o->mode = MODE_ECHO;
	} else if (!strcmp(argv[1], "idle")) {
		o->mode = MODE_IDLE;
		o->timeout_s = 120;
	} else {
		return -1;
	}
	bool have_url = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--text") || !strcmp(a, "--binary")) {
			o->binary = a[2] == 'b';
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "wsbench: %s needs a value\n", a);
			return -1;
		}
		const char *v = argv[++i];
		if (!strcmp(a, "--url")) {
			if (parse_url(v, o) != 0)
				return -1;
			have_url = true;
		} else if (!strcmp(a, "--conns")) {
			o->conns = atol(v);
		} else if (!strcmp(a, "--size")) {
			o->size_bytes = atol(v);
		} else if (!strcmp(a, "--duration")) {
			o->duration_s = atof(v);
		} else if (!strcmp(a, "--warmup")) {
			o->warmup_s = atof(v);
		} else if (!strcmp(a, "--timeout")) {
			o->timeout_s = atof(v);
		} else if (!strcmp(a, "--hold")) {
			o->hold_s = atof(v);
		} else if (!strcmp(a, "--settle")) {
			o->settle_s = atof(v);
		} else if (!strcmp(a, "--pid")) {
			o->pid = atol(v);
		} else if (!strcmp(a, "--threads")) {
			o->threads = atoi(v);
		} else if (!strcmp(a, "--inflight")) {
			o->inflight = atoi(v);
		} else if (!strcmp(a, "--prime")) {
			o->prime = atol(v);
		} else if (!strcmp(a, "--src-addrs")) {
			o->src_addrs = atoi(v);
		} else {
			fprintf(stderr, "wsbench: unknown option %s\n", a);
			return -1;
		}
	}
	if (!have_url || o->port <= 0 || o->port > 65535 || o->conns <= 0 || o->size_bytes < 0 ||
	    o->size_bytes > (64 << 20) || o->duration_s <= 0 || o->warmup_s < 0 ||
	    o->timeout_s <= 0 || o->threads <= 0 || o->threads > o->conns || o->inflight <= 0 ||
	    (o->mode == MODE_IDLE && o->pid <= 0))
		return -1;
	if (o->src_addrs <= 0)
		o->src_addrs = (int)((o->conns + CONNS_PER_SRC - 1) / CONNS_PER_SRC);
	if (o->src_addrs > 254)
		o->src_addrs = 254;
	return 0;
}

/* Raise RLIMIT_NOFILE to the hard limit; refuse clearly if N will not fit. */
static int raise_nofile(long conns)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((rlim_t)conns + 64 > rl.rlim_cur) {
		fprintf(stderr,
		        "wsbench: %ld connections need %ld file descriptors, the limit is %llu "
		        "(hard %llu); raise it with ulimit -Hn / LimitNOFILE or use fewer "
		        "--conns\n",
		        conns, conns + 64, (unsigned long long)rl.rlim_cur,
		        (unsigned long long)rl.rlim_max);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (parse_opts(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (raise_nofile(o.conns) != 0)
		return 2;
	server_addr =
	        (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
	if (inet_pton(AF_INET, strcmp(o.host, "localhost") ? o.host : "127.0.0.1",
	              &server_addr.sin_addr) != 1) {
		fprintf(stderr, "wsbench: host must be an IPv4 address (got %s)\n", o.host);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return o.mode == MODE_ECHO ? run_echo(&o) : run_idle(&o);
}
