/*
 * idleconn: measure a server's resident memory per idle keep-alive connection.
 *
 * It opens N TCP connections to HOST:PORT, sends one `GET /healthz HTTP/1.1`
 * on each and reads the whole response, so every connection ends up as an
 * idle keep-alive connection that the server has fully set up and then
 * stopped talking on. It samples the server's RSS (the pid and all its
 * descendant processes, so nginx's master + workers count) before connecting
 * and again once all N are idle, holds them, samples once more, and prints
 * one JSON line.
 *
 * What it never does: pipeline, send a second request, or read the server's
 * memory any other way than /proc. The non-obvious choices:
 *  - Source addresses are spread over 127.0.0.1..127.0.0.K with
 *    IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port at connect() time
 *    per 4-tuple and 10,000+ connections never run the ephemeral range dry.
 *  - At most --inflight connects are outstanding at once, so the server's
 *    accept backlog never overflows (a dropped SYN costs a 1 s retransmit and
 *    would be measured as slowness of the server).
 *  - Sockets are closed with SO_LINGER 0 (RST), so a run leaves no TIME_WAIT
 *    behind to starve the next one.
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -o idleconn idleconn.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

/* A response head larger than this is not what /healthz answers. */
#define HEAD_CAP 1024
/* Descendant processes followed when summing RSS (nginx: master + workers). */
#define MAX_PIDS 256

enum conn_state { ST_FREE, ST_CONNECTING, ST_SENDING, ST_READING, ST_IDLE, ST_FAILED };

struct conn {
	int fd;
	enum conn_state state;
	size_t sent;     /* request bytes written so far */
	size_t head_len; /* bytes held in head[] */
	bool head_done;  /* the response head has been parsed */
	long body_left;  /* body bytes still expected once head_done */
	char head[HEAD_CAP];
};

struct opts {
	const char *host;
	int port;
	long conns;
	long pid;
	int src_addrs;    /* 0: derive from conns */
	int inflight;     /* outstanding connects + requests at once */
	double hold_s;    /* how long to keep the idle connections */
	double settle_s;  /* wait before sampling RSS after the last response */
	double timeout_s; /* bound on the whole run */
	const char *path;
};

struct counts {
	long connected;  /* got a full 200 response and is idle */
	long failed;     /* connect, write, read or parse failed */
	long dropped;    /* idle, then closed by the server during the hold */
	int first_errno; /* errno of the first failure, for the message */
	const char *first_err;
};

static const char request_fmt[] = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: idleconn\r\n\r\n";
static char request[512];
static size_t request_len;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: idleconn --port PORT --conns N --pid PID [--host 127.0.0.1]\n"
	           "                [--hold SECONDS] [--settle SECONDS] [--timeout SECONDS]\n"
	           "                [--src-addrs K] [--inflight M] [--path /healthz]\n"
	           "Opens N idle HTTP/1.1 keep-alive connections and prints one JSON line\n"
	           "with the server's RSS (pid + descendants) before and after.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.host = "127.0.0.1",
	                   .conns = 10000,
	                   .inflight = 256,
	                   .hold_s = 3,
	                   .settle_s = 1,
	                   .timeout_s = 120,
	                   .path = "/healthz"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "idleconn: %s needs a value\n", a);
			return -1;
		}
		const char *v = argv[++i];
		if (!strcmp(a, "--host"))
			o->host = v;
		else if (!strcmp(a, "--port"))
			o->port = atoi(v);
		else if (!strcmp(a, "--conns"))
			o->conns = atol(v);
		else if (!strcmp(a, "--pid"))
			o->pid = atol(v);
		else if (!strcmp(a, "--src-addrs"))
			o->src_addrs = atoi(v);
		else if (!strcmp(a, "--inflight"))
			o->inflight = atoi(v);
		else if (!strcmp(a, "--hold"))
			o->hold_s = atof(v);
		else if (!strcmp(a, "--settle"))
			o->settle_s = atof(v);
		else if (!strcmp(a, "--timeout"))
			o->timeout_s = atof(v);
		else if (!strcmp(a, "--path"))
			o->path = v;
		else {
			fprintf(stderr, "idleconn: unknown option %s\n", a);
			return -1;
		}
	}
	if (o->port <= 0 || o->port > 65535 || o->conns <= 0 || o->pid <= 0 || o->inflight <= 0 ||
	    o->timeout_s <= 0) {
		usage(stderr);
		return -1;
	}
	if (o->src_addrs <= 0) /* about 2,000 connections per source address */
		o->src_addrs = (int)(o->conns / 2000 + 1);
	if (o->src_addrs > 254)
		o->src_addrs = 254;
	return 0;
}

/* Raise the soft fd limit to the hard one; N connections need N fds + slack. */
static int raise_nofile(long conns)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)conns + 64 > rl.rlim_cur) {
		fprintf(stderr,
		        "idleconn: %ld connections need %ld file descriptors, but the hard "
		        "RLIMIT_NOFILE is %llu; lower --conns or raise the limit (ulimit -Hn)\n",
		        conns, conns + 64, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* VmRSS of one process in KiB, or -1 if it is gone. */
static long rss_kb_of(long pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = atol(line + 6);
			break;
		}
	fclose(f);
	return kb;
}

/* Parent pid of a process from /proc/PID/stat, or -1. */
static long ppid_of(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parens: the fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	long ppid = -1;
	if (p && sscanf(p + 1, " %*c %ld", &ppid) == 1)
		return ppid;
	return -1;
}

/*
 * The pid and all its descendants. Scans /proc once and closes the set over
 * PPid, which works whether or not the kernel has /proc/PID/task/TID/children.
 */
static int collect_tree(long root, long *pids, int cap)
{
	long all[4096][2];
	int nall = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) && nall < 4096) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		long p = atol(e->d_name);
		all[nall][0] = p;
		all[nall][1] = ppid_of(p);
		nall++;
	}
	closedir(d);
	int n = 0;
	pids[n++] = root;
	for (int i = 0; i < n; i++) /* n grows while we walk: breadth-first */
		for (int j = 0; j < nall && n < cap; j++)
			if (all[j][1] == pids[i])
				pids[n++] = all[j][0];
	return n;
}

/* Summed VmRSS of the tree in KiB; *nprocs gets the process count. */
static long tree_rss_kb(long root, int *nprocs)
{
	long pids[MAX_PIDS];
	int n = collect_tree(root, pids, MAX_PIDS);
	long sum = 0;
	int alive = 0;
	for (int i = 0; i < n; i++) {
		long kb = rss_kb_of(pids[i]);
		if (kb >= 0) {
			sum += kb;
			alive++;
		}
	}
	if (nprocs)
		*nprocs = alive;
	return alive ? sum : -1;
}

static void fail(struct conn *c, struct counts *k, int epfd, const char *what, int err)
{
	if (!k->first_err) {
		k->first_err = what;
		k->first_errno = err;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = ST_FAILED;
	k->failed++;
}

/* Start a nonblocking connect from source address 127.0.0.(1 + idx % K). */
static int conn_start(struct conn *c, const struct opts *o, const struct sockaddr_in *dst, long idx,
                      int epfd)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in src = {.sin_family = AF_INET};
	if (dst->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
		src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(idx % o->src_addrs));
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			int err = errno;
			close(fd);
			return -err;
		}
	}
	c->fd = fd;
	c->sent = 0;
	c->head_len = 0;
	c->head_done = false;
	c->body_left = 0;
	if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		c->fd = -1;
		return -err;
	}
	c->state = ST_CONNECTING;
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int err = errno;
		close(fd);
		c->fd = -1;
		return -err;
	}
	return 0;
}

/* Case-insensitive search for a header name at a line start; value or NULL. */
static const char *find_header(const char *head, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

/*
 * Parse a complete response head: it must be a 200 that keeps the connection
 * open and frames its body with Content-Length. Sets body_left; returns the
 * head length, 0 if the head is not complete yet, or -1 if unusable.
 */
static long parse_head(struct conn *c)
{
	c->head[c->head_len] = '\0';
	char *end = strstr(c->head, "\r\n\r\n");
	if (!end)
		return c->head_len >= HEAD_CAP - 1 ? -1 : 0;
	end[2] = '\0'; /* keep the last CRLF so find_header sees each line */
	long hlen = end + 4 - c->head;
	if (strncmp(c->head, "HTTP/1.1 200", 12) != 0)
		return -1;
	const char *conn = find_header(c->head, "Connection");
	if (conn && !strncasecmp(conn, "close", 5))
		return -1;
	const char *cl = find_header(c->head, "Content-Length");
	if (!cl)
		return -1;
	c->body_left = atol(cl) - ((long)c->head_len - hlen);
	c->head_done = true;
	return hlen;
}

/* Drive one connection on readiness; returns true if it became idle. */
static bool conn_step(struct conn *c, uint32_t events, int epfd, struct counts *k)
{
	if (c->state == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			fail(c, k, epfd, "connect", err);
			return false;
		}
		c->state = ST_SENDING;
	}
	if (c->state == ST_SENDING) {
		ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			fail(c, k, epfd, "send", errno);
			return false;
		}
		if (n > 0)
			c->sent += (size_t)n;
		if (c->sent < request_len)
			return false;
		c->state = ST_READING;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		return false;
	}
	if (c->state != ST_READING || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return false;
	for (;;) {
		char buf[4096];
		char *dst = c->head_done ? buf : c->head + c->head_len;
		size_t cap = c->head_done ? sizeof buf : HEAD_CAP - 1 - c->head_len;
		ssize_t n = recv(c->fd, dst, cap, 0);
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0) {
			fail(c, k, epfd,
			     n == 0 ? "server closed before the response ended" : "recv",
			     n == 0 ? 0 : errno);
			return false;
		}
		if (!c->head_done) {
			c->head_len += (size_t)n;
			if (parse_head(c) < 0) {
				fail(c, k, epfd,
				     "response is not a keep-alive 200 with Content-Length", 0);
				return false;
			}
		} else {
			c->body_left -= n;
		}
		if (!c->head_done)
			continue;
		if (c->body_left == 0) {
			c->state = ST_IDLE;
			k->connected++;
			return true;
		}
		if (c->body_left < 0) {
			fail(c, k, epfd, "more bytes than Content-Length", 0);
			return false;
		}
	}
}

/* Wait up to wait_s, counting idle connections that the server closes. */
static void watch_idle(int epfd, double wait_s, struct counts *k)
{
	struct epoll_event evs[256];
	double until = now_s() + wait_s;
	for (double t = now_s(); t < until; t = now_s()) {
		int ms = (int)((until - t) * 1000) + 1;
		int n = epoll_wait(epfd, evs, 256, ms);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->state != ST_IDLE)
				continue;
			char b[256];
			ssize_t r = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				c->state = ST_FAILED;
				k->dropped++;
			}
		}
	}
}

/* Connect everything, keeping at most o->inflight in progress; false on timeout. */
static bool open_all(struct conn *cs, const struct opts *o, const struct sockaddr_in *dst, int epfd,
                     double deadline, struct counts *k)
{
	long next = 0, busy = 0;
	struct epoll_event evs[512];
	while (next < o->conns || busy > 0) {
		while (next < o->conns && busy < o->inflight) {
			int rc = conn_start(&cs[next], o, dst, next, epfd);
			if (rc < 0) {
				cs[next].state = ST_FAILED;
				k->failed++;
				if (!k->first_err) {
					k->first_err = "socket/bind/connect";
					k->first_errno = -rc;
				}
			} else {
				busy++;
			}
			next++;
		}
		double left = deadline - now_s();
		if (left <= 0)
			return false;
		int n = epoll_wait(epfd, evs, 512, left > 1 ? 1000 : (int)(left * 1000) + 1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			enum conn_state before = c->state;
			if (before == ST_IDLE || before == ST_FAILED)
				continue;
			conn_step(c, evs[i].events, epfd, k);
			if (c->state == ST_IDLE || c->state == ST_FAILED)
				busy--;
		}
	}
	return true;
}

static void close_all(struct conn *cs, long n)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (long i = 0; i < n; i++)
		if (cs[i].fd >= 0) {
			setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(cs[i].fd);
			cs[i].fd = -1;
		}
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	if (raise_nofile(o.conns) != 0)
		return 2;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
	if (inet_pton(AF_INET, o.host, &dst.sin_addr) != 1) {
		fprintf(stderr, "idleconn: --host must be an IPv4 address, got %s\n", o.host);
		return 2;
	}
	request_len =
	        (size_t)snprintf(request, sizeof request, request_fmt, o.path, o.host, o.port);
	int procs_before = 0;
	long rss_before = tree_rss_kb(o.pid, &procs_before);
	if (rss_before < 0) {
		fprintf(stderr, "idleconn: no process %ld\n", o.pid);
		return 2;
	}
	struct conn *cs = calloc((size_t)o.conns, sizeof *cs);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || epfd < 0) {
		perror("idleconn");
		return 2;
	}
	for (long i = 0; i < o.conns; i++)
		cs[i].fd = -1;

	double t0 = now_s(), deadline = t0 + o.timeout_s;
	struct counts k = {0};
	bool done = open_all(cs, &o, &dst, epfd, deadline, &k);
	double connect_s = now_s() - t0;
	double settle = o.settle_s < deadline - now_s() ? o.settle_s : deadline - now_s();
	watch_idle(epfd, settle > 0 ? settle : 0, &k);
	int procs_after = 0;
	long rss_after = tree_rss_kb(o.pid, &procs_after);
	long idle = k.connected - k.dropped; /* the connections rss_after holds */
	double hold = o.hold_s < deadline - now_s() ? o.hold_s : deadline - now_s();
	watch_idle(epfd, hold > 0 ? hold : 0, &k);
	long rss_end = tree_rss_kb(o.pid, NULL);
	close_all(cs, o.conns);

	double per_conn = idle > 0 ? (double)(rss_after - rss_before) * 1024.0 / (double)idle : 0;
	printf("{\"conns\":%ld,\"connected\":%ld,\"failed\":%ld,\"dropped\":%ld,"
	       "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_end_kb\":%ld,"
	       "\"rss_per_conn_bytes\":%.0f,\"connect_seconds\":%.3f,\"processes\":%d,"
	       "\"src_addrs\":%d,\"timed_out\":%s}\n",
	       o.conns, k.connected, k.failed, k.dropped, rss_before, rss_after, rss_end, per_conn,
	       connect_s, procs_after, o.src_addrs, done ? "false" : "true");
	fflush(stdout);
	if (k.first_err)
		fprintf(stderr, "idleconn: %ld failed; first failure: %s%s%s\n", k.failed,
		        k.first_err, k.first_errno ? ": " : "",
		        k.first_errno ? strerror(k.first_errno) : "");
	if (!done)
		fprintf(stderr,
		        "idleconn: --timeout %.0fs reached before all connections were set up\n",
		        o.timeout_s);
	free(cs);
	close(epfd);
	return done && k.connected == o.conns && k.dropped == 0 ? 0 : 1;
}
