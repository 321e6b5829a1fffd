/*
 * fanout: the fan-out benchmark. N subscribers (SSE, raw WebSocket, crier.v1
 * over /ws, or long-poll) spread over K channels, P publishers (HTTP or /ws),
 * M messages; every delivery is checked and timed from publish to delivery,
 * every publish acknowledgement from request to answer. One JSON line on
 * stdout.
 *
 *   fanout --url http://127.0.0.1:PORT --subs N --transport sse|ws|wsproto|poll
 *          --channels K --msgs M --rate R|max --size B --publishers P
 *          [--pub-transport http|wsproto] [--window W] [--timeout S]
 *          [--drain S] [--settle-ms MS] [--server-pid PID]
 *          [--pub-path /pub/%s] [--sub-path /sub/%s] [--ws-path /ws]
 *
 * What it owns: the whole run in one thread and one epoll set (connect,
 * subscribe, publish, receive, report). What it never does: allocate per
 * message, trust the server's framing beyond what it checks, or depend on
 * anything beyond libc. It is shaped to become `crier bench fanout`: options,
 * run state, the subscriber codecs, the publisher and the report are separate
 * sections with no globals except the read buffer.
 *
 * The non-obvious choices:
 *  - Message g (0..M-1) goes to channel g % K and is sent by publisher
 *    g % P, each publisher in increasing g over one keep-alive connection
 *    (pipelining at most --window requests). A hub handles one connection's
 *    requests in order, so per subscriber and per publisher g must increase:
 *    that is the out-of-order check. Loss and duplicates come from a bitmap
 *    per subscriber over its channel's messages (index g / K).
 *  - The body is "%010g %019ts " padded with 'x' to --size bytes: ASCII, so a
 *    WebSocket text frame is valid UTF-8 and an SSE data line needs no escape;
 *    ts is CLOCK_MONOTONIC in ns taken just before the request is written.
 *  - "Subscribed" means the handshake answer (101 or 200) and, for SSE, the
 *    first body byte: crier sends ":ok", nchan ": hi", the ceiling ":ok",
 *    all after the subscription is registered. For crier.v1 (/ws, subprotocol
 *    crier.v1) it is the ack of {"op":"subscribe","ref":1,...}; messages
 *    are {"op":"message",...,"data":"<body>"} and the body is read from the
 *    data string. For long-poll it is the answer to a first poll
 *    `GET /sub/benchX?since=` (an empty cursor: answered at once with a gap
 *    notice and the channel's `next`); each subscriber then loops
 *    `GET /sub/benchX?since=<next>` on its keep-alive connection, so nothing
 *    published after that first answer can be missed while history holds it
 *    (a gap notice after the first poll is an error). --settle-ms then waits
 *    a little more for hubs that register across threads or processes.
 *  - --pub-transport wsproto: each publisher is a /ws connection sending
 *    {"op":"publish","ref":g,...} frames, at most --window unacknowledged;
 *    an {"op":"ack","ref":g,...} acknowledges g. Ack latency (request
 *    written to answer read) is recorded for both publisher kinds.
 *  - Latency goes into a log-linear histogram (64 sub-buckets per power of
 *    two, < 1.6 % error); deliveries/s is over the delivery window (first to
 *    last delivery), so connect and drain time do not dilute it.
 *  - Source addresses are spread over 127.0.0.1..127.0.0.x (2,000 each,
 *    IP_BIND_ADDRESS_NO_PORT), at most 256 handshakes pending, RST on close
 *    (no TIME_WAIT for the next run).
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -o fanout fanout.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

enum { TRANSPORT_SSE, TRANSPORT_WS, TRANSPORT_WSPROTO, TRANSPORT_POLL };
static const char *const transport_names[] = {"sse", "ws", "wsproto", "poll"};

/* ---- options ---- */

struct opts {
	char host[64];    /* numeric IPv4 of the hub */
	int port;         /* hub port */
	int subs;         /* N subscribers */
	int transport;    /* TRANSPORT_* */
	int channels;     /* K channels bench0..benchK-1 */
	long msgs;        /* M messages in all */
	double rate;      /* messages per second over all publishers; 0 = max */
	int size;         /* body bytes per message (>= 32) */
	int publishers;   /* P keep-alive publisher connections */
	bool pub_ws;      /* publishers speak crier.v1 over --ws-path, not HTTP */
	int window;       /* requests in flight per publisher */
	double timeout_s; /* whole run */
	double drain_s;   /* after the last publish: give up after this long without a delivery */
	int settle_ms;    /* wait after all are subscribed, before publishing */
	long server_pid;  /* 0: no RSS / CPU sampling */
	const char *pub_path; /* printf pattern with one %s: channel name */
	const char *sub_path;
	const char *ws_path; /* the crier.v1 endpoint */
	int inflight;        /* pending connects + handshakes */
	int per_ip;          /* connections per source address */
};

static void usage(void)
{
	fprintf(stderr,
	        "usage: fanout --url http://127.0.0.1:PORT --subs N --transport "
	        "sse|ws|wsproto|poll\n"
	        "              --channels K --msgs M --rate R|max --size B --publishers P\n"
	        "              [--pub-transport http|wsproto] [--window W=8] [--timeout S=60]\n"
	        "              [--drain S=3] [--settle-ms MS=300] [--server-pid PID]\n"
	        "              [--pub-path /pub/%%s] [--sub-path /sub/%%s] [--ws-path /ws]\n");
}

static int opts_parse(struct opts *o, int argc, char **argv)
{
	*o = (struct opts){.subs = 1000,
	                   .transport = TRANSPORT_SSE,
	                   .channels = 1,
	                   .msgs = 1000,
	                   .size = 64,
	                   .publishers = 1,
	                   .window = 8,
	                   .timeout_s = 60,
	                   .drain_s = 3,
	                   .settle_ms = 300,
	                   .pub_path = "/pub/%s",
	                   .sub_path = "/sub/%s",
	                   .ws_path = "/ws",
	                   .inflight = 256,
	                   .per_ip = 2000};
	const char *url = "http://127.0.0.1:8080";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage(), 1;
		if (!v) {
			fprintf(stderr, "fanout: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--url"))
			url = v;
		else if (!strcmp(a, "--subs"))
			o->subs = atoi(v);
		else if (!strcmp(a, "--transport")) {
			o->transport = -1;
			for (int t = 0; t < 4; t++)
				if (!strcmp(v, transport_names[t]))
					o->transport = t;
			if (o->transport < 0) {
				fprintf(stderr,
				        "fanout: --transport is sse, ws, wsproto or poll\n");
				return -1;
			}
		} else if (!strcmp(a, "--pub-transport")) {
			if (strcmp(v, "http") && strcmp(v, "wsproto")) {
				fprintf(stderr, "fanout: --pub-transport is http or wsproto\n");
				return -1;
			}
			o->pub_ws = !strcmp(v, "wsproto");
		} else if (!strcmp(a, "--channels"))
			o->channels = atoi(v);
		else if (!strcmp(a, "--msgs"))
			o->msgs = atol(v);
		else if (!strcmp(a, "--rate"))
			o->rate = strcmp(v, "max") ? atof(v) : 0;
		else if (!strcmp(a, "--size"))
			o->size = atoi(v);
		else if (!strcmp(a, "--publishers"))
			o->publishers = atoi(v);
		else if (!strcmp(a, "--window"))
			o->window = atoi(v);
		else if (!strcmp(a, "--timeout"))
			o->timeout_s = atof(v);
		else if (!strcmp(a, "--drain"))
			o->drain_s = atof(v);
		else if (!strcmp(a, "--settle-ms"))
			o->settle_ms = atoi(v);
		else if (!strcmp(a, "--server-pid"))
			o->server_pid = atol(v);
		else if (!strcmp(a, "--pub-path"))
			o->pub_path = v;
		else if (!strcmp(a, "--sub-path"))
			o->sub_path = v;
		else if (!strcmp(a, "--ws-path"))
			o->ws_path = v;
		else {
			fprintf(stderr, "fanout: unknown option %s\n", a);
			return usage(), -1;
		}
	}
	if (sscanf(url, "http://%63[0-9.]:%d", o->host, &o->port) != 2) {
		fprintf(stderr, "fanout: --url must be http://IPV4:PORT, got %s\n", url);
		return -1;
	}
	if (o->subs < 0 || o->channels < 1 || o->msgs < 1 || o->publishers < 1 || o->window < 1 ||
	    o->size < 32 || o->size > 60000 || o->rate < 0) {
		fprintf(stderr, "fanout: need subs >= 0, channels, msgs, publishers, window >= 1 "
		                "and 32 <= size <= 60000\n");
		return -1;
	}
	if (!strstr(o->pub_path, "%s") || !strstr(o->sub_path, "%s")) {
		fprintf(stderr, "fanout: --pub-path and --sub-path need one %%s\n");
		return -1;
	}
	return 0;
}

/* ---- time, histogram, /proc ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define SUB_BITS 6
#define SUB      (1u << SUB_BITS)
#define HIST_LEN (2 * SUB + 58 * SUB)

static unsigned hist_index(uint64_t v)
{
	if (v < 2 * SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = e - SUB_BITS;
	unsigned idx = 2 * SUB + (shift - 1) * SUB + (unsigned)((v >> shift) - SUB);
	return idx < HIST_LEN ? idx : HIST_LEN - 1;
}

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
	uint64_t want = (uint64_t)(q * (double)total), seen = 0;
	if (want >= total)
		want = total - 1;
	for (unsigned i = 0; i < HIST_LEN; i++) {
		seen += h[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_LEN - 1);
}

#define MAX_PIDS 64

static long proc_ppid(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	long ppid = -1;
	if (rp)
		sscanf(rp + 2, "%*c %ld", &ppid);
	return ppid;
}

/* The pid and its descendants, found by one scan of /proc. */
static int proc_tree(long root, long *pids)
{
	static long all[8192][2];
	int na = 0, np = 0;
	DIR *d = opendir("/proc");
	for (struct dirent *e; d && (e = readdir(d)) && na < 8192;)
		if (isdigit((unsigned char)e->d_name[0])) {
			all[na][0] = atol(e->d_name);
			all[na][1] = proc_ppid(all[na][0]);
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

/* Summed VmRSS in KiB over pids; -1 if none is alive. */
static long proc_rss_kb(const long *pids, int np)
{
	long sum = 0;
	int alive = 0;
	for (int i = 0; i < np; i++) {
		char path[64], line[256];
		snprintf(path, sizeof path, "/proc/%ld/status", pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "VmRSS:", 6)) {
				sum += atol(line + 6);
				alive++;
			}
		fclose(f);
	}
	return alive ? sum : -1;
}

/* Summed utime + stime in seconds over pids (threads included). */
static double proc_cpu_s(const long *pids, int np)
{
	double sum = 0;
	long hz = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < np; i++) {
		char path[64], buf[1024];
		snprintf(path, sizeof path, "/proc/%ld/stat", pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		char *rp = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		if (rp && sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		                 &st) == 2)
			sum += (double)(ut + st) / (double)hz;
	}
	return sum;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---- run state ---- */

enum sub_state { SUB_IDLE, SUB_CONNECTING, SUB_HANDSHAKE, SUB_READY, SUB_CLOSED };

/* One subscriber. The handshake head lives in a malloc'd buffer only until the
 * answer is complete; after that a subscriber holds its parser state only. */
struct sub {
	int fd;
	uint8_t state;      /* enum sub_state */
	bool subscribed;    /* counted in run.subscribed */
	bool pending;       /* counted in run.pending (connect or handshake under way) */
	uint8_t ws_hdr_len; /* bytes of the current frame header seen */
	uint8_t ws_opcode;
	bool ws_in_payload;
	uint8_t pfx_len; /* bytes of the payload or SSE line kept in pfx */
	uint8_t ws_hdr[14];
	uint64_t ws_remaining; /* payload bytes still to come */
	char pfx[160];         /* start of the current payload / line (poll: a capture) */
	uint32_t line_len;     /* SSE: bytes of the current line so far */
	int64_t pend_g;        /* SSE: data of the current event, -1 if none */
	uint64_t pend_ts;
	char *head; /* handshake answer so far (poll: each answer's head) */
	uint32_t head_len;
	/* long-poll: the answer being read and the cursor for the next poll */
	uint32_t body_left;            /* body bytes of the current answer still to come */
	uint32_t poll_msgs;            /* messages in the current answer */
	uint8_t m_data, m_next, m_gap; /* bytes matched of "data":" "next":" "gap": */
	uint8_t capture;               /* 0, CAP_DATA or CAP_NEXT: pfx collects up to '"' */
	char next[48];                 /* the last answer's "next" */
};

struct pub {
	int fd;
	bool connected;
	bool want_out;     /* EPOLLOUT registered */
	int inflight;      /* requests written, answer not yet read */
	long next_g;       /* next message this publisher sends */
	long answers;      /* answers read (HTTP: they come in request order) */
	uint64_t *sent_ns; /* --window slots: when request k was written, at k % window */
	char *out;         /* bytes to write */
	size_t out_len, out_off, out_cap;
	char in[16384]; /* answers not yet parsed */
	size_t in_len;
};

struct run {
	const struct opts *o;
	int ep;
	struct sub *subs;
	struct pub *pubs;
	long per_chan;   /* messages per channel, rounded up: bitmap width */
	uint8_t *seen;   /* subs * per_chan bits */
	int64_t *last_g; /* subs * publishers: last g seen per publisher */
	long *chan_subs; /* subscribers per channel at publish time */
	int next_connect, pending, subscribed, closed, failed;
	long published, acked, pub_errors, pub_sent;
	uint64_t t0_ns; /* publishing began; older stamps are stale */
	uint64_t stale;
	uint64_t received, duplicated, out_of_order, misrouted, bad_payload, protocol_errors;
	uint64_t gaps;                         /* gap notices once subscribed */
	uint64_t polls, empty_polls, poll_max; /* long-poll answers after the first */
	uint64_t first_ns, last_ns;
	uint64_t hist[HIST_LEN];
	uint64_t lat_max;
	uint64_t ack_hist[HIST_LEN]; /* publish request to acknowledgement */
	uint64_t ack_n, ack_max;
	char *body_tmpl;
	char ws_key[64][25];
};

static char g_rbuf[1 << 18]; /* the one read buffer */

static void ep_ctl(struct run *r, int op, int fd, uint32_t ev, uint64_t tag)
{
	struct epoll_event e = {.events = ev, .data.u64 = tag};
	epoll_ctl(r->ep, op, fd, &e);
}

#define TAG_PUB (1ull << 63)

static void close_rst(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static int tcp_connect(const struct opts *o, int src_ip_index)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (src_ip_index > 0) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		struct sockaddr_in src = {.sin_family = AF_INET,
		                          .sin_addr.s_addr =
		                                  htonl(0x7f000000u | (uint32_t)src_ip_index)};
		if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	inet_pton(AF_INET, o->host, &dst.sin_addr);
	if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* ---- deliveries ---- */

/* Parse "%010g %019ts" at the start of a payload. */
static bool payload_parse(const char *p, size_t n, int64_t *g, uint64_t *ts)
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

/* Account one delivery of message g, stamped ts, to subscriber si. */
static void deliver(struct run *r, int si, int64_t g, uint64_t ts, uint64_t now)
{
	const struct opts *o = r->o;
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
	uint64_t lat = now > ts ? now - ts : 0;
	r->hist[hist_index(lat)]++;
	if (lat > r->lat_max)
		r->lat_max = lat;
}

/* ---- subscriber codecs: SSE lines, WebSocket frames (RFC 6455 §5.2) ---- */

static void sse_feed(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	struct sub *s = &r->subs[si];
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
				deliver(r, si, s->pend_g, s->pend_ts, now);
			s->pend_g = -1;
		} else if (len >= 5 && !memcmp(s->pfx, "data:", 5)) {
			size_t off = 5 + (len > 5 && s->pfx[5] == ' ');
			int64_t g;
			uint64_t ts;
			if (payload_parse(s->pfx + off, len - off, &g, &ts))
				s->pend_g = g, s->pend_ts = ts;
			else
				r->bad_payload++;
		}
		s->pfx_len = 0;
		s->line_len = 0;
	}
}

static void ws_send_pong(struct sub *s)
{
	/* A masked pong with the ping's payload (at most 125 bytes, all kept). */
	uint8_t f[2 + 4 + 125];
	size_t n = s->pfx_len;
	f[0] = 0x8a;
	f[1] = (uint8_t)(0x80 | n);
	memset(f + 2, 0, 4); /* zero mask: payload unchanged */
	memcpy(f + 6, s->pfx, n);
	(void)!send(s->fd, f, 6 + n, MSG_NOSIGNAL);
}

/* One masked text frame (zero mask: the payload goes as is). */
static bool ws_send_text(int fd, const char *p, size_t n)
{
	uint8_t h[8];
	size_t hl = 2;
	h[0] = 0x81;
	if (n < 126)
		h[1] = (uint8_t)(0x80 | n);
	else {
		h[1] = 0x80 | 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	}
	memset(h + hl, 0, 4);
	struct iovec iov[2] = {{h, hl + 4}, {(void *)p, n}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)(hl + 4 + n);
}

/* p[0..n) starts with the literal lit. */
#define starts(p, n, lit) ((n) >= sizeof(lit) - 1 && !memcmp((p), (lit), sizeof(lit) - 1))

/* The body inside a {"op":"message",...,"data":"<body>"} envelope (its
 * start is enough: the stamp is the first 31 bytes). */
static bool envelope_parse(const char *p, size_t n, int64_t *g, uint64_t *ts)
{
	static const char key[] = "\"data\":\"";
	const char *d = memmem(p, n, key, sizeof key - 1);
	if (!d)
		return false;
	d += sizeof key - 1;
	return payload_parse(d, n - (size_t)(d - p), g, ts);
}

static void sub_mark_subscribed(struct run *r, int si);
static void sub_close(struct run *r, int si, bool failed);

/* A crier.v1 frame: message, the subscribe ack, a gap or an error. */
static void wsproto_frame(struct run *r, int si, uint64_t now)
{
	struct sub *s = &r->subs[si];
	const char *p = s->pfx;
	size_t n = s->pfx_len;
	int64_t g;
	uint64_t ts;
	if (starts(p, n, "{\"op\":\"message\"")) {
		if (envelope_parse(p, n, &g, &ts))
			deliver(r, si, g, ts, now);
		else
			r->bad_payload++;
	} else if (starts(p, n, "{\"op\":\"ack\",\"ref\":1,")) {
		if (!s->subscribed)
			sub_mark_subscribed(r, si);
	} else if (starts(p, n, "{\"op\":\"gap\"")) {
		r->gaps++;
	} else {
		if (r->protocol_errors < 3)
			fprintf(stderr, "fanout: subscriber %d: unexpected frame: %.*s\n", si,
			        (int)n, p);
		r->protocol_errors++;
		if (!s->subscribed) /* the subscribe was refused */
			sub_close(r, si, true);
	}
}

static void ws_frame_done(struct run *r, int si, uint64_t now)
{
	struct sub *s = &r->subs[si];
	switch (s->ws_opcode) {
	case 0x1:
	case 0x2: {
		if (r->o->transport == TRANSPORT_WSPROTO) {
			wsproto_frame(r, si, now);
			break;
		}
		int64_t g;
		uint64_t ts;
		if (payload_parse(s->pfx, s->pfx_len, &g, &ts))
			deliver(r, si, g, ts, now);
		else
			r->bad_payload++;
		break;
	}
	case 0x9:
		ws_send_pong(s);
		break;
	case 0xa:
		break;
	case 0x8:
		s->state = SUB_CLOSED;
		break;
	default: /* continuation: the hubs under test send whole messages */
		r->protocol_errors++;
	}
	s->ws_in_payload = false;
	s->ws_hdr_len = 0;
	s->pfx_len = 0;
}

/* Returns false on a protocol error (the connection is then closed). */
static bool ws_feed(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	struct sub *s = &r->subs[si];
	while (n > 0 && s->state != SUB_CLOSED) {
		if (!s->ws_in_payload) {
			s->ws_hdr[s->ws_hdr_len++] = (uint8_t)*p++;
			n--;
			if (s->ws_hdr_len < 2)
				continue;
			uint8_t l7 = s->ws_hdr[1] & 0x7f;
			size_t need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
			if (s->ws_hdr_len < need)
				continue;
			if (s->ws_hdr[1] & 0x80) /* RFC 6455 §5.1: servers never mask */
				return false;
			uint64_t len = l7;
			if (l7 == 126)
				len = (uint64_t)s->ws_hdr[2] << 8 | s->ws_hdr[3];
			else if (l7 == 127)
				for (int i = 2; i < 10; i++)
					len = len << 8 | s->ws_hdr[i];
			s->ws_opcode = s->ws_hdr[0] & 0x0f;
			s->ws_remaining = len;
			s->ws_in_payload = true;
			s->pfx_len = 0;
			if (len == 0)
				ws_frame_done(r, si, now);
			continue;
		}
		size_t take = n < s->ws_remaining ? n : (size_t)s->ws_remaining;
		size_t keep = sizeof s->pfx - s->pfx_len;
		if (keep > take)
			keep = take;
		memcpy(s->pfx + s->pfx_len, p, keep);
		s->pfx_len = (uint8_t)(s->pfx_len + keep);
		p += take;
		n -= take;
		s->ws_remaining -= take;
		if (s->ws_remaining == 0)
			ws_frame_done(r, si, now);
	}
	return true;
}

/* ---- subscriber connection ---- */

static void sub_close(struct run *r, int si, bool failed)
{
	struct sub *s = &r->subs[si];
	if (s->fd >= 0) {
		epoll_ctl(r->ep, EPOLL_CTL_DEL, s->fd, NULL);
		close_rst(s->fd);
		s->fd = -1;
	}
	if (s->pending)
		r->pending--;
	s->pending = false;
	free(s->head);
	s->head = NULL;
	s->state = SUB_CLOSED;
	if (failed)
		r->failed++;
	else
		r->closed++;
}

static void sub_start(struct run *r, int si)
{
	const struct opts *o = r->o;
	struct sub *s = &r->subs[si];
	s->pend_g = -1;
	int fd = tcp_connect(o, 1 + si / o->per_ip);
	if (fd < 0) {
		fprintf(stderr, "fanout: subscriber %d: connect: %s\n", si, strerror(-fd));
		s->state = SUB_CLOSED;
		r->failed++;
		return;
	}
	s->fd = fd;
	s->state = SUB_CONNECTING;
	s->pending = true;
	r->pending++;
	ep_ctl(r, EPOLL_CTL_ADD, fd, EPOLLOUT, (uint64_t)si);
}

static void sub_send_request(struct run *r, int si)
{
	const struct opts *o = r->o;
	struct sub *s = &r->subs[si];
	char chan[32], path[256], req[1024];
	snprintf(chan, sizeof chan, "bench%d", si % o->channels);
	snprintf(path, sizeof path, o->sub_path, chan);
	int n;
	if (o->transport == TRANSPORT_WS || o->transport == TRANSPORT_WSPROTO)
		n = snprintf(req, sizeof req,
		             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		             "Sec-WebSocket-Version: 13\r\n%s\r\n",
		             o->transport == TRANSPORT_WS ? path : o->ws_path, o->host, o->port,
		             r->ws_key[si % 64],
		             o->transport == TRANSPORT_WS ? ""
		                                          : "Sec-WebSocket-Protocol: crier.v1\r\n");
	else if (o->transport == TRANSPORT_POLL) /* the first poll: an empty cursor */
		n = snprintf(req, sizeof req, "GET %s?since= HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path,
		             o->host, o->port);
	else
		n = snprintf(req, sizeof req,
		             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
		             "Cache-Control: no-cache\r\n\r\n",
		             path, o->host, o->port);
	if (send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		sub_close(r, si, true);
		return;
	}
	s->state = SUB_HANDSHAKE;
	s->head = malloc(4096);
	s->head_len = 0;
	ep_ctl(r, EPOLL_CTL_MOD, s->fd, EPOLLIN | EPOLLRDHUP, (uint64_t)si);
}

static void sub_mark_subscribed(struct run *r, int si)
{
	struct sub *s = &r->subs[si];
	if (s->subscribed)
		return;
	s->subscribed = true;
	r->subscribed++;
	r->pending--;
	s->pending = false;
	if (r->o->transport != TRANSPORT_POLL) { /* a poller reads a head per answer */
		free(s->head);
		s->head = NULL;
	}
}

static void sub_body(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	struct sub *s = &r->subs[si];
	if (n == 0)
		return;
	if (r->o->transport == TRANSPORT_SSE) {
		if (!s->subscribed)
			sub_mark_subscribed(r, si);
		sse_feed(r, si, p, n, now);
	} else if (!ws_feed(r, si, p, n, now)) {
		r->protocol_errors++;
		sub_close(r, si, false);
	}
}

/* Accumulate the answer head; on "\r\n\r\n" check the status and hand the
 * rest to the body codec. */
static void sub_handshake(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	struct sub *s = &r->subs[si];
	size_t take = n < 4095 - s->head_len ? n : 4095 - s->head_len;
	memcpy(s->head + s->head_len, p, take);
	s->head_len += (uint32_t)take;
	s->head[s->head_len] = 0;
	char *end = strstr(s->head, "\r\n\r\n");
	if (!end) {
		if (s->head_len >= 4095) {
			fprintf(stderr, "fanout: subscriber %d: answer head too long\n", si);
			sub_close(r, si, true);
		}
		return;
	}
	int want = r->o->transport == TRANSPORT_SSE ? 200 : 101, status = 0;
	sscanf(s->head, "HTTP/1.%*d %d", &status);
	if (status != want || (want == 200 && strcasestr(s->head, "chunked"))) {
		if (r->failed < 3)
			fprintf(stderr, "fanout: subscriber %d: expected %d, got: %.*s\n", si, want,
			        (int)strcspn(s->head, "\r"), s->head);
		sub_close(r, si, true);
		return;
	}
	size_t head_bytes = (size_t)(end + 4 - s->head) - (s->head_len - take);
	s->state = SUB_READY;
	if (r->o->transport == TRANSPORT_WS) /* 101 is the subscription answer */
		sub_mark_subscribed(r, si);
	if (r->o->transport == TRANSPORT_WSPROTO) { /* subscribed on the ack of ref 1 */
		char req[256];
		int k = snprintf(req, sizeof req,
		                 "{\"op\":\"subscribe\",\"ref\":1,\"channels\":[\"bench%d\"]}",
		                 si % r->o->channels);
		if (!strcasestr(s->head, "\r\nsec-websocket-protocol: crier.v1") ||
		    !ws_send_text(s->fd, req, (size_t)k)) {
			if (r->failed < 3)
				fprintf(stderr,
				        "fanout: subscriber %d: no crier.v1 in the 101, or "
				        "the subscribe could not be sent\n",
				        si);
			sub_close(r, si, true);
			return;
		}
	}
	if (head_bytes < n)
		sub_body(r, si, p + head_bytes, n - head_bytes, now);
}

/* ---- long-poll: {"messages":[...],"next":"..."} answers, one at a time ---- */

enum { CAP_DATA = 1, CAP_NEXT };

/* Advance a match of pat (whose only repeated byte is its leading '"') by c;
 * true when the whole of pat has just been seen. */
static bool match_step(uint8_t *m, const char *pat, size_t len, char c)
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

static void poll_scan(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	static const char k_data[] = "\"data\":\"", k_next[] = "\"next\":\"", k_gap[] = "\"gap\":";
	struct sub *s = &r->subs[si];
	for (size_t i = 0; i < n;) {
		if (s->capture) { /* up to the closing '"', keeping what fits in pfx */
			const char *q = memchr(p + i, '"', n - i);
			size_t end = q ? (size_t)(q - p) : n, keep = sizeof s->pfx - s->pfx_len;
			if (keep > end - i)
				keep = end - i;
			memcpy(s->pfx + s->pfx_len, p + i, keep);
			s->pfx_len = (uint8_t)(s->pfx_len + keep);
			if (!q)
				return;
			i = end + 1;
			if (s->capture == CAP_NEXT) {
				size_t k = s->pfx_len < sizeof s->next ? s->pfx_len
				                                       : sizeof s->next - 1;
				memcpy(s->next, s->pfx, k);
				s->next[k] = 0;
			} else {
				int64_t g;
				uint64_t ts;
				s->poll_msgs++;
				if (!payload_parse(s->pfx, s->pfx_len, &g, &ts))
					r->bad_payload++;
				else if (!s->subscribed) /* the first poll: history from before */
					r->stale++;
				else
					deliver(r, si, g, ts, now);
			}
			s->capture = 0;
			s->pfx_len = 0;
			continue;
		}
		if (!s->m_data && !s->m_next && !s->m_gap) { /* every key starts with '"' */
			const char *q = memchr(p + i, '"', n - i);
			if (!q)
				return;
			i = (size_t)(q - p);
		}
		char c = p[i++];
		if (match_step(&s->m_data, k_data, sizeof k_data - 1, c))
			s->capture = CAP_DATA;
		else if (match_step(&s->m_next, k_next, sizeof k_next - 1, c))
			s->capture = CAP_NEXT;
		else if (match_step(&s->m_gap, k_gap, sizeof k_gap - 1, c) && s->subscribed)
			r->gaps++; /* the first poll's gap notice (empty cursor) is expected */
		if (s->capture) {
			s->pfx_len = 0;
			s->m_data = s->m_next = s->m_gap = 0;
		}
	}
}

/* An answer is complete: count it and send the next poll from its cursor. */
static void poll_done(struct run *r, int si)
{
	const struct opts *o = r->o;
	struct sub *s = &r->subs[si];
	if (!s->subscribed)
		sub_mark_subscribed(r, si);
	else {
		r->polls++;
		if (!s->poll_msgs)
			r->empty_polls++;
		if (s->poll_msgs > r->poll_max)
			r->poll_max = s->poll_msgs;
	}
	if (!s->next[0]) {
		if (r->protocol_errors < 3)
			fprintf(stderr, "fanout: subscriber %d: a poll answer without \"next\"\n",
			        si);
		r->protocol_errors++;
		sub_close(r, si, false);
		return;
	}
	char chan[32], path[256], req[512];
	snprintf(chan, sizeof chan, "bench%d", si % o->channels);
	snprintf(path, sizeof path, o->sub_path, chan);
	int n = snprintf(req, sizeof req, "GET %s?since=%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path,
	                 s->next, o->host, o->port);
	if (send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		sub_close(r, si, false);
		return;
	}
	s->state = SUB_HANDSHAKE;
	s->head_len = 0;
	s->next[0] = 0;
}

/* Heads go to s->head, bodies through poll_scan; a read can hold the end of
 * one answer only (one request is outstanding). */
static void poll_recv(struct run *r, int si, const char *p, size_t n, uint64_t now)
{
	struct sub *s = &r->subs[si];
	while (n > 0 && s->state != SUB_CLOSED) {
		if (s->state == SUB_READY) {
			size_t take = n < s->body_left ? n : s->body_left;
			poll_scan(r, si, p, take, now);
			p += take;
			n -= take;
			s->body_left -= (uint32_t)take;
			if (s->body_left == 0)
				poll_done(r, si);
			continue;
		}
		size_t take = n < 4095 - s->head_len ? n : 4095 - s->head_len;
		memcpy(s->head + s->head_len, p, take);
		uint32_t before = s->head_len;
		s->head_len += (uint32_t)take;
		s->head[s->head_len] = 0;
		char *end = strstr(s->head, "\r\n\r\n");
		if (!end) {
			if (s->head_len >= 4095) {
				fprintf(stderr, "fanout: subscriber %d: answer head too long\n",
				        si);
				sub_close(r, si, !s->subscribed);
			}
			return;
		}
		int status = 0;
		sscanf(s->head, "HTTP/1.%*d %d", &status);
		const char *cl = strcasestr(s->head, "\r\ncontent-length:");
		if (status != 200 || !cl || cl > end) {
			if (r->failed + r->protocol_errors < 3)
				fprintf(stderr,
				        "fanout: subscriber %d: expected 200 with a length, got: "
				        "%.*s\n",
				        si, (int)strcspn(s->head, "\r"), s->head);
			if (s->subscribed)
				r->protocol_errors++;
			sub_close(r, si, !s->subscribed);
			return;
		}
		size_t head_bytes = (size_t)(end + 4 - s->head) - before;
		p += head_bytes;
		n -= head_bytes;
		s->body_left = (uint32_t)atol(cl + 17);
		s->poll_msgs = 0;
		s->m_data = s->m_next = s->m_gap = s->capture = 0;
		s->pfx_len = 0;
		s->state = SUB_READY;
		if (s->body_left == 0)
			poll_done(r, si);
	}
}

static void sub_event(struct run *r, int si, uint32_t ev)
{
	struct sub *s = &r->subs[si];
	if (s->state == SUB_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			if (r->failed < 3)
				fprintf(stderr, "fanout: subscriber %d: connect: %s\n", si,
				        strerror(err));
			sub_close(r, si, true);
			return;
		}
		sub_send_request(r, si);
		return;
	}
	if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	ssize_t n = recv(s->fd, g_rbuf, sizeof g_rbuf, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		sub_close(r, si, !s->subscribed);
		return;
	}
	uint64_t now = now_ns();
	if (r->o->transport == TRANSPORT_POLL)
		poll_recv(r, si, g_rbuf, (size_t)n, now);
	else if (s->state == SUB_HANDSHAKE)
		sub_handshake(r, si, g_rbuf, (size_t)n, now);
	else
		sub_body(r, si, g_rbuf, (size_t)n, now);
}

/* ---- publishers ---- */

static bool pub_can_send(const struct run *r, const struct pub *p, uint64_t now, uint64_t t0)
{
	const struct opts *o = r->o;
	if (!p->connected || p->next_g >= o->msgs || p->inflight >= o->window)
		return false;
	if (o->rate <= 0)
		return true;
	return (double)p->next_g < (double)(now - t0) / 1e9 * o->rate;
}

/* Queue as many requests as the window and the rate allow, then write. */
static void pub_fill(struct run *r, int pi, uint64_t t0)
{
	const struct opts *o = r->o;
	struct pub *p = &r->pubs[pi];
	uint64_t now = now_ns();
	while (pub_can_send(r, p, now, t0)) {
		if (p->out_len + (size_t)o->size + 512 > p->out_cap) {
			p->out_cap = (p->out_len + (size_t)o->size + 512) * 2;
			p->out = realloc(p->out, p->out_cap);
		}
		char chan[32], path[256];
		snprintf(chan, sizeof chan, "bench%ld", p->next_g % o->channels);
		char *w = p->out + p->out_len;
		int h;
		if (o->pub_ws) {
			/* A masked text frame, zero mask; the header's length is the
			 * JSON's: envelope + body + closing 2 bytes. */
			char json[160];
			int jl = snprintf(
			        json, sizeof json,
			        "{\"op\":\"publish\",\"ref\":%ld,\"channel\":\"%s\",\"data\":\"",
			        p->next_g, chan);
			size_t plen = (size_t)jl + (size_t)o->size + 2;
			size_t hl = plen < 126 ? 2 : 4;
			w[0] = (char)0x81;
			if (hl == 2)
				w[1] = (char)(0x80 | plen);
			else {
				w[1] = (char)(0x80 | 126);
				w[2] = (char)(plen >> 8);
				w[3] = (char)plen;
			}
			memset(w + hl, 0, 4);
			memcpy(w + hl + 4, json, (size_t)jl);
			h = (int)(hl + 4) + jl;
			memcpy(w + h + o->size, "\"}", 2);
			p->out_len += 2;
		} else {
			snprintf(path, sizeof path, o->pub_path, chan);
			h = sprintf(
			        w,
			        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
			        "Content-Length: %d\r\n\r\n",
			        path, o->host, o->port, o->size);
		}
		memcpy(w + h, r->body_tmpl, (size_t)o->size);
		char stamp[40];
		uint64_t sent = now_ns();
		int k = snprintf(stamp, sizeof stamp, "%010ld %019" PRIu64 " ", p->next_g, sent);
		memcpy(w + h, stamp, (size_t)k);
		p->out_len += (size_t)h + (size_t)o->size;
		p->sent_ns[(p->next_g / o->publishers) % o->window] = sent;
		p->inflight++;
		p->next_g += o->publishers;
		r->pub_sent++;
	}
	while (p->out_off < p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			fprintf(stderr, "fanout: publisher %d: send: %s\n", pi, strerror(errno));
			p->connected = false;
			return;
		}
		p->out_off += (size_t)n;
	}
	if (p->out_off == p->out_len)
		p->out_off = p->out_len = 0;
	bool want_out = p->out_len > 0;
	if (want_out != p->want_out) /* one epoll_ctl per change, not per fill */
		ep_ctl(r, EPOLL_CTL_MOD, p->fd, EPOLLIN | (want_out ? EPOLLOUT : 0),
		       TAG_PUB | (uint64_t)pi);
	p->want_out = want_out;
}

/* The answer to this publisher's request number k arrived now. */
static void ack_record(struct run *r, struct pub *p, long k)
{
	uint64_t now = now_ns(), sent = p->sent_ns[k % r->o->window];
	uint64_t lat = now > sent ? now - sent : 0;
	r->ack_hist[hist_index(lat)]++;
	r->ack_n++;
	if (lat > r->ack_max)
		r->ack_max = lat;
	p->answers++;
}

/* crier.v1 answers in p->in[0..in_len): {"op":"ack","ref":g,...} or
 * {"op":"error","ref":g,...}; pings get a pong. Returns bytes consumed. */
static size_t pub_ws_parse(struct run *r, int pi)
{
	struct pub *p = &r->pubs[pi];
	const uint8_t *b = (const uint8_t *)p->in;
	size_t off = 0;
	while (p->in_len - off >= 2) {
		const uint8_t *f = b + off;
		size_t avail = p->in_len - off, hl = 2;
		uint64_t len = f[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | f[i];
			hl = 10;
		}
		if (len > sizeof p->in - 64 || (f[1] & 0x80)) {
			fprintf(stderr, "fanout: publisher %d: bad frame from the hub\n", pi);
			p->connected = false;
			return off;
		}
		if (avail < hl + len)
			break;
		const char *pl = (const char *)f + hl;
		uint8_t op = f[0] & 0x0f;
		if (op == 0x9) { /* ping: a pong with the same payload, zero mask */
			char pong[6 + 125];
			size_t pn = len < 125 ? (size_t)len : 125;
			pong[0] = (char)0x8a;
			pong[1] = (char)(0x80 | pn);
			memset(pong + 2, 0, 4);
			memcpy(pong + 6, pl, pn);
			(void)!send(p->fd, pong, 6 + pn, MSG_NOSIGNAL);
		} else if (op == 0x8) {
			fprintf(stderr,
			        "fanout: publisher %d: the hub closed the WebSocket (%.*s)\n", pi,
			        len > 2 ? (int)len - 2 : 0, pl + 2);
			p->connected = false;
			return off;
		} else if (op == 0x1) {
			const char *ref = memmem(pl, len, "\"ref\":", 6);
			bool ack = starts(pl, len, "{\"op\":\"ack\"");
			if (ack && ref) {
				r->acked++;
				ack_record(r, p, atol(ref + 6) / r->o->publishers);
			} else {
				if (r->pub_errors < 3)
					fprintf(stderr, "fanout: publisher %d: %.*s\n", pi,
					        (int)len, pl);
				r->pub_errors++;
				p->answers++;
			}
			p->inflight--;
		}
		off += hl + (size_t)len;
	}
	return off;
}

/* Parse every complete answer in p->in: any 2xx acknowledges a publish. */
static void pub_read(struct run *r, int pi)
{
	struct pub *p = &r->pubs[pi];
	ssize_t n = recv(p->fd, p->in + p->in_len, sizeof p->in - p->in_len - 1, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		fprintf(stderr, "fanout: publisher %d: connection closed by the hub\n", pi);
		p->connected = false;
		epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd, NULL);
		r->pub_errors += p->inflight;
		p->inflight = 0;
		return;
	}
	p->in_len += (size_t)n;
	p->in[p->in_len] = 0;
	size_t off = 0;
	if (r->o->pub_ws)
		off = pub_ws_parse(r, pi);
	for (; !r->o->pub_ws;) {
		char *h = p->in + off, *end = strstr(h, "\r\n\r\n");
		if (!end)
			break;
		*end = 0;
		int status = 0;
		long cl = 0;
		sscanf(h, "HTTP/1.%*d %d", &status);
		const char *c = strcasestr(h, "\r\ncontent-length:");
		if (c)
			cl = atol(c + 17);
		if (strcasestr(h, "\r\ntransfer-encoding:")) {
			fprintf(stderr, "fanout: publisher %d: chunked answers are not supported\n",
			        pi);
			*end = '\r';
			r->pub_errors++;
			p->connected = false;
			return;
		}
		size_t total = (size_t)(end + 4 - h) + (size_t)cl;
		*end = '\r';
		if (off + total > p->in_len)
			break;
		if (status < 200 || status > 299) {
			if (r->pub_errors < 3)
				fprintf(stderr, "fanout: publish answered %d\n", status);
			r->pub_errors++;
		} else
			r->acked++;
		ack_record(r, p, p->answers);
		p->inflight--;
		off += total;
	}
	memmove(p->in, p->in + off, p->in_len - off);
	p->in_len -= off;
	if (p->in_len >= sizeof p->in - 1) {
		fprintf(stderr, "fanout: publisher %d: answer too large\n", pi);
		p->connected = false;
	}
}

/* The crier.v1 upgrade of a publisher, waited for here (5 s at most). */
static int pub_ws_upgrade(struct run *r, int fd, int pi)
{
	const struct opts *o = r->o;
	char req[512], head[4096];
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: crier.v1\r\n\r\n",
	                 o->ws_path, o->host, o->port, r->ws_key[pi % 64]);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return fprintf(stderr, "fanout: publisher %d: send: %s\n", pi, strerror(errno)), -1;
	size_t len = 0;
	uint64_t deadline = now_ns() + 5000000000u;
	int tmp = epoll_create1(0);
	struct epoll_event w = {.events = EPOLLIN}, e;
	epoll_ctl(tmp, EPOLL_CTL_ADD, fd, &w);
	while (!memmem(head, len, "\r\n\r\n", 4) && len < sizeof head - 1 && now_ns() < deadline) {
		if (epoll_wait(tmp, &e, 1, 100) != 1)
			continue;
		/* Read the head only: nothing follows before a request is sent. */
		ssize_t k = recv(fd, head + len, sizeof head - 1 - len, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(tmp);
	head[len] = 0;
	int status = 0;
	sscanf(head, "HTTP/1.%*d %d", &status);
	if (status != 101 || !strcasestr(head, "\r\nsec-websocket-protocol: crier.v1") ||
	    !strstr(head, "\r\n\r\n") || strstr(head, "\r\n\r\n") + 4 != head + len)
		return fprintf(stderr, "fanout: publisher %d: crier.v1 upgrade failed: %.*s\n", pi,
		               (int)strcspn(head, "\r"), head),
		       -1;
	return 0;
}

static int pubs_connect(struct run *r)
{
	for (int i = 0; i < r->o->publishers; i++) {
		struct pub *p = &r->pubs[i];
		int fd = tcp_connect(r->o, 0);
		if (fd < 0)
			return fprintf(stderr, "fanout: publisher connect: %s\n", strerror(-fd)),
			       -1;
		/* Wait for the connect here: P is small and the hub is idle. */
		struct epoll_event e;
		int tmp = epoll_create1(0);
		struct epoll_event w = {.events = EPOLLOUT};
		epoll_ctl(tmp, EPOLL_CTL_ADD, fd, &w);
		int ok = epoll_wait(tmp, &e, 1, 5000);
		close(tmp);
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (ok != 1 || err)
			return fprintf(stderr, "fanout: publisher connect: %s\n",
			               err ? strerror(err) : "timed out"),
			       -1;
		if (r->o->pub_ws && pub_ws_upgrade(r, fd, i) < 0)
			return close(fd), -1;
		p->fd = fd;
		p->connected = true;
		p->next_g = i;
		ep_ctl(r, EPOLL_CTL_ADD, fd, EPOLLIN, TAG_PUB | (uint64_t)i);
	}
	return 0;
}

/* ---- the run ---- */

static int limits_raise(const struct opts *o)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (rlim_t)o->subs + (rlim_t)o->publishers + 64;
	if (rl.rlim_cur < need) {
		fprintf(stderr,
		        "fanout: %d subscribers need %llu open files, the hard limit is %llu "
		        "(raise it with ulimit -Hn or /etc/security/limits.conf)\n",
		        o->subs, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

static int run_init(struct run *r, const struct opts *o)
{
	memset(r, 0, sizeof *r);
	r->o = o;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->per_chan = (o->msgs + o->channels - 1) / o->channels;
	size_t bits = (size_t)o->subs * (size_t)r->per_chan;
	r->seen = calloc(bits / 8 + 1, 1);
	r->last_g = malloc(((size_t)o->subs * (size_t)o->publishers + 1) * sizeof *r->last_g);
	r->subs = calloc((size_t)o->subs + 1, sizeof *r->subs); /* --subs 0 is allowed */
	r->pubs = calloc((size_t)o->publishers, sizeof *r->pubs);
	r->chan_subs = calloc((size_t)o->channels, sizeof *r->chan_subs);
	r->body_tmpl = malloc((size_t)o->size);
	for (int i = 0; i < o->publishers && r->pubs; i++)
		if (!(r->pubs[i].sent_ns = calloc((size_t)o->window, sizeof(uint64_t))))
			return fprintf(stderr, "fanout: out of memory\n"), -1;
	if (r->ep < 0 || !r->seen || !r->last_g || !r->subs || !r->pubs || !r->chan_subs ||
	    !r->body_tmpl) {
		fprintf(stderr, "fanout: out of memory (%zu MiB of bitmap)\n", bits / 8 >> 20);
		return -1;
	}
	for (size_t i = 0; i < (size_t)o->subs * (size_t)o->publishers; i++)
		r->last_g[i] = -1;
	for (int i = 0; i < o->subs; i++)
		r->subs[i].fd = -1;
	memset(r->body_tmpl, 'x', (size_t)o->size);
	/* 64 distinct Sec-WebSocket-Keys (base64 of 16 bytes) are plenty. */
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	srand((unsigned)now_ns());
	for (int k = 0; k < 64; k++) {
		for (int i = 0; i < 21; i++)
			r->ws_key[k][i] = b64[rand() % 64];
		r->ws_key[k][21] = b64[(rand() % 4) * 16];
		memcpy(r->ws_key[k] + 22, "==", 3);
	}
	return 0;
}

/* One epoll round: subscriber events, publisher answers and refills. */
static void run_poll(struct run *r, int timeout_ms, uint64_t t0_pub)
{
	struct epoll_event ev[512];
	int n = epoll_wait(r->ep, ev, 512, timeout_ms);
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		if (tag & TAG_PUB) {
			int pi = (int)(tag & ~TAG_PUB);
			if (!r->pubs[pi].connected)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				pub_read(r, pi);
			if (r->pubs[pi].connected && t0_pub)
				pub_fill(r, pi, t0_pub);
		} else if (r->subs[tag].state != SUB_CLOSED)
			sub_event(r, (int)tag, ev[i].events);
	}
}

struct report {
	double connect_s, publish_s, wall_s, client_cpu_s, server_cpu_s;
	long rss_before_kb, rss_connected_kb, rss_peak_kb, rss_after_kb;
	long expected;
	bool timed_out;
	const char *stop_reason;
};

static void report_print(const struct run *r, const struct report *rep)
{
	const struct opts *o = r->o;
	double win = r->last_ns > r->first_ns ? (double)(r->last_ns - r->first_ns) / 1e9 : 0;
	uint64_t rx = r->received;
	long lost = rep->expected - (long)rx;
	double q[4] = {0.5, 0.9, 0.99, 0.999};
	double us[4];
	for (int i = 0; i < 4; i++)
		us[i] = hist_quantile(r->hist, rx, q[i]) / 1e3;
	double ack_us[3];
	for (int i = 0; i < 3; i++)
		ack_us[i] = hist_quantile(r->ack_hist, r->ack_n, q[i == 0 ? 0 : i + 1]) / 1e3;
	char rate[32];
	if (o->rate > 0)
		snprintf(rate, sizeof rate, "%.0f", o->rate);
	else
		snprintf(rate, sizeof rate, "\"max\"");
	long errors = lost +
	              (long)(r->duplicated + r->out_of_order + r->misrouted + r->bad_payload +
	                     r->protocol_errors + r->stale + r->gaps) +
	              r->pub_errors + r->failed + r->closed + (rep->timed_out ? 1 : 0);
	printf("{\"bench\":\"fanout\",\"transport\":\"%s\",\"url\":\"http://%s:%d\","
	       "\"subs\":%d,\"channels\":%d,\"msgs\":%ld,\"size\":%d,\"rate\":%s,"
	       "\"publishers\":%d,\"window\":%d,"
	       "\"subscribed\":%d,\"failed\":%d,\"disconnected\":%d,\"connect_s\":%.3f,"
	       "\"published\":%ld,\"pub_errors\":%ld,\"publish_s\":%.3f,\"pub_per_s\":%.0f,"
	       "\"expected\":%ld,\"received\":%" PRIu64 ",\"lost\":%ld,\"duplicated\":%" PRIu64
	       ",\"out_of_order\":%" PRIu64 ",\"misrouted\":%" PRIu64 ",\"bad_payload\":%" PRIu64
	       ",\"protocol_errors\":%" PRIu64 ",\"stale\":%" PRIu64 ","
	       "\"delivery_window_s\":%.3f,\"deliveries_per_s\":%.0f,"
	       "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,"
	       "\"client_cpu_s\":%.3f,\"server_cpu_s\":%.3f,\"server_cpu_us_per_delivery\":%.3f,"
	       "\"rss_before_kb\":%ld,\"rss_connected_kb\":%ld,\"rss_per_conn_bytes\":%.0f,"
	       "\"rss_peak_kb\":%ld,\"rss_after_kb\":%ld,"
	       "\"timed_out\":%s,\"stop\":\"%s\",\"errors\":%ld,"
	       "\"pub_transport\":\"%s\",\"gaps\":%" PRIu64 ",\"ack_p50_us\":%.0f,"
	       "\"ack_p99_us\":%.0f,\"ack_p999_us\":%.0f,\"ack_max_us\":%.0f,"
	       "\"server_cpu_us_per_publish\":%.3f,\"polls\":%" PRIu64 ",\"empty_polls\":%" PRIu64
	       ",\"msgs_per_poll\":%.1f,\"max_msgs_per_poll\":%" PRIu64 "}\n",
	       transport_names[o->transport], o->host, o->port, o->subs, o->channels, o->msgs,
	       o->size, rate, o->publishers, o->window, r->subscribed, r->failed, r->closed,
	       rep->connect_s, r->acked, r->pub_errors, rep->publish_s,
	       rep->publish_s > 0 ? (double)r->acked / rep->publish_s : 0, rep->expected, rx, lost,
	       r->duplicated, r->out_of_order, r->misrouted, r->bad_payload, r->protocol_errors,
	       r->stale, win, win > 0 ? (double)rx / win : 0, us[0], us[1], us[2], us[3],
	       (double)r->lat_max / 1e3, rep->client_cpu_s, rep->server_cpu_s,
	       rx ? rep->server_cpu_s * 1e6 / (double)rx : 0, rep->rss_before_kb,
	       rep->rss_connected_kb,
	       r->subscribed && rep->rss_before_kb >= 0
	               ? (double)(rep->rss_connected_kb - rep->rss_before_kb) * 1024.0 /
	                         r->subscribed
	               : 0,
	       rep->rss_peak_kb, rep->rss_after_kb, rep->timed_out ? "true" : "false",
	       rep->stop_reason, errors, o->pub_ws ? "wsproto" : "http", r->gaps, ack_us[0],
	       ack_us[1], ack_us[2], (double)r->ack_max / 1e3,
	       rep->server_cpu_s * 1e6 / (double)(r->acked ? r->acked : 1), r->polls,
	       r->empty_polls, r->polls ? (double)rx / (double)r->polls : 0, r->poll_max);
	fflush(stdout);
	fprintf(stderr,
	        "fanout %s: %d/%d subscribed in %.2f s; %ld published in %.2f s; "
	        "%" PRIu64 "/%ld delivered (lost %ld, dup %" PRIu64 ", ooo %" PRIu64
	        ") in %.2f s = %.0f/s; p50 %.0f us p99 %.0f us max %.0f us; "
	        "%s acks p50 %.0f us p99 %.0f us; stop: %s\n",
	        transport_names[o->transport], r->subscribed, o->subs, rep->connect_s, r->acked,
	        rep->publish_s, rx, rep->expected, lost, r->duplicated, r->out_of_order, win,
	        win > 0 ? (double)rx / win : 0, us[0], us[2], (double)r->lat_max / 1e3,
	        o->pub_ws ? "wsproto" : "http", ack_us[0], ack_us[1], rep->stop_reason);
}

static int run(const struct opts *o)
{
	static struct run rs;
	struct run *r = &rs;
	if (limits_raise(o) < 0 || run_init(r, o) < 0)
		return 2;
	struct report rep = {.rss_before_kb = -1,
	                     .rss_connected_kb = -1,
	                     .rss_peak_kb = -1,
	                     .rss_after_kb = -1,
	                     .stop_reason = "done"};
	long pids[MAX_PIDS];
	int np = 0;
	if (o->server_pid > 0) {
		np = proc_tree(o->server_pid, pids);
		rep.rss_before_kb = proc_rss_kb(pids, np);
		if (rep.rss_before_kb < 0) {
			fprintf(stderr, "fanout: no process %ld\n", o->server_pid);
			return 2;
		}
	}
	uint64_t start = now_ns(), deadline = start + (uint64_t)(o->timeout_s * 1e9);

	/* 1. Subscribers: at most o->inflight connects and handshakes pending. */
	while (r->subscribed + r->failed + r->closed < o->subs) {
		while (r->next_connect < o->subs && r->pending < o->inflight)
			sub_start(r, r->next_connect++);
		run_poll(r, 10, 0);
		if (now_ns() > deadline) {
			rep.timed_out = true;
			rep.stop_reason = "timeout while subscribing";
			break;
		}
	}
	uint64_t t_conn = now_ns();
	rep.connect_s = (double)(t_conn - start) / 1e9;
	if (np) {
		np = proc_tree(o->server_pid, pids); /* workers forked since? */
		rep.rss_connected_kb = proc_rss_kb(pids, np);
		rep.rss_peak_kb = rep.rss_connected_kb;
	}
	for (int i = 0; i < o->subs; i++)
		if (r->subs[i].subscribed)
			r->chan_subs[i % o->channels]++;
	for (long g = 0; g < o->msgs; g++)
		rep.expected += r->chan_subs[g % o->channels];

	/* 2. Settle, then publish while receiving. */
	if (!rep.timed_out) {
		uint64_t settle_end = now_ns() + (uint64_t)o->settle_ms * 1000000u;
		while (now_ns() < settle_end)
			run_poll(r, 5, 0);
		if (pubs_connect(r) < 0)
			return 2;
	}
	double cpu0 = self_cpu_s(), scpu0 = np ? proc_cpu_s(pids, np) : 0;
	uint64_t t0 = now_ns(), t_pub_done = 0, next_rss = t0;
	r->t0_ns = t0;
	for (int i = 0; i < o->publishers && !rep.timed_out; i++)
		pub_fill(r, i, t0);
	while (!rep.timed_out) {
		int wait_ms = o->rate > 0 && !t_pub_done ? 1 : 50;
		run_poll(r, wait_ms, t0);
		uint64_t now = now_ns();
		if (o->rate > 0)
			for (int i = 0; i < o->publishers; i++)
				if (r->pubs[i].connected && pub_can_send(r, &r->pubs[i], now, t0))
					pub_fill(r, i, t0);
		if (np && now >= next_rss) {
			long rss = proc_rss_kb(pids, np);
			if (rss > rep.rss_peak_kb)
				rep.rss_peak_kb = rss;
			next_rss = now + 100000000u;
		}
		bool pubs_live = false;
		for (int i = 0; i < o->publishers; i++)
			pubs_live |= r->pubs[i].connected;
		if (!t_pub_done && (r->acked + r->pub_errors >= o->msgs || !pubs_live))
			t_pub_done = now;
		if ((long)r->received >= rep.expected && t_pub_done)
			break;
		if (now > deadline) {
			rep.timed_out = true;
			rep.stop_reason = "timeout";
			break;
		}
		uint64_t last = r->last_ns > t_pub_done ? r->last_ns : t_pub_done;
		if (t_pub_done && now - last > (uint64_t)(o->drain_s * 1e9)) {
			rep.stop_reason = "drain: no delivery for --drain seconds";
			break;
		}
	}
	uint64_t t_end = now_ns();
	rep.publish_s = (double)((t_pub_done ? t_pub_done : t_end) - t0) / 1e9;
	rep.client_cpu_s = self_cpu_s() - cpu0;
	if (np) {
		rep.server_cpu_s = proc_cpu_s(pids, np) - scpu0;
		rep.rss_after_kb = proc_rss_kb(pids, np);
		if (rep.rss_after_kb > rep.rss_peak_kb)
			rep.rss_peak_kb = rep.rss_after_kb;
	}
	report_print(r, &rep);
	for (int i = 0; i < o->subs; i++)
		if (r->subs[i].fd >= 0)
			close_rst(r->subs[i].fd);
	for (int i = 0; i < o->publishers; i++)
		if (r->pubs[i].fd > 0)
			close_rst(r->pubs[i].fd);
	bool clean = !r->stale && !rep.timed_out && r->failed == 0 && r->closed == 0 &&
	             r->pub_errors == 0 && (long)r->received == rep.expected && !r->duplicated &&
	             !r->out_of_order && !r->misrouted && !r->bad_payload && !r->protocol_errors &&
	             !r->gaps;
	return clean ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc = opts_parse(&o, argc, argv);
	if (rc)
		return rc < 0 ? 2 : 0;
	return run(&o);
}
