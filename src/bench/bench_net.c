/*
 * bench_net.c - sockets, limits, /proc and the progress line for
 * `crier bench` (see bench_net.h).
 *
 * Owns the plumbing every mode repeats; never a protocol byte (that is
 * bench_http.c) and never a measurement decision (that is the mode's).
 * The non-obvious choices:
 *  - The server's memory is the sum over its process tree, found by
 *    closing the set of /proc entries over their parent pid: that works
 *    for nginx (master + workers) whether or not the kernel exposes
 *    /proc/PID/task/TID/children.
 *  - Source addresses are spread only past the first
 *    BENCH_CONNS_PER_ADDR connections: small runs stay on 127.0.0.1 and
 *    need no bind at all.
 */
#include "bench/bench_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

/* Redraw the progress line at most this often. */
#define BENCH_PROGRESS_NS 250000000u

uint64_t bench_net_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the URL ---- */

const char *bench_net_url_parse(const char *url, struct bench_url *u)
{
	memset(u, 0, sizeof *u);
	const char *p;
	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "ws://", 5) == 0)
		p = url + 5;
	else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "wss://", 6) == 0)
		return "TLS URLs are not supported: give the hub's plain http:// or ws:// listener";
	else
		return "the URL must start with http:// or ws://";
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof u->host)
		return "the URL needs a host";
	memcpy(u->host, p, hl);
	p += hl;
	long port = 80;
	if (*p == ':') {
		char *end;
		errno = 0;
		port = strtol(p + 1, &end, 10);
		if (end == p + 1 || errno || port < 1 || port > 65535 || (*end && *end != '/'))
			return "the URL's port must be a number from 1 to 65535";
		p = end;
	}
	if (strlen(p) >= sizeof u->path)
		return "the URL's path is too long";
	strcpy(u->path, p);
	u->port = (uint16_t)port;
	u->addr.sin_family = AF_INET;
	u->addr.sin_port = htons(u->port);
	const char *ip = strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host;
	if (inet_pton(AF_INET, ip, &u->addr.sin_addr) != 1)
		return "the URL's host must be a numeric IPv4 address or localhost";
	return NULL;
}

/* ---- sockets ---- */

int bench_net_connect(const struct sockaddr_in *dst, long index)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	long spread = index / BENCH_CONNS_PER_ADDR;
	bool loopback = (ntohl(dst->sin_addr.s_addr) >> 24) == 127;
	if (loopback && spread > 0) {
		/* 127.0.0.2 .. 127.0.0.254, then around again. */
		uint32_t host = 1u + (uint32_t)(spread % 253);
		struct sockaddr_in src = {.sin_family = AF_INET,
		                          .sin_addr.s_addr = htonl(0x7f000000u | host)};
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (const struct sockaddr *)&src, sizeof src) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

void bench_net_close_rst(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

int bench_net_probe(const struct sockaddr_in *dst, int timeout_ms)
{
	int fd = bench_net_connect(dst, 0);
	if (fd < 0)
		return fd;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int n = poll(&pfd, 1, timeout_ms);
	int err = ETIMEDOUT;
	if (n == 1) {
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
	}
	close(fd);
	return -err;
}

int bench_net_nofile(long need, const char *what)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0; /* cannot tell: let the connects report it */
	if (rl.rlim_cur == RLIM_INFINITY || (rlim_t)need <= rl.rlim_cur)
		return 0;
	fprintf(stderr,
	        "crier bench: %s need %ld open files, but the open-file limit is %llu (hard "
	        "limit %llu); ask for fewer, or raise it (ulimit -Hn / LimitNOFILE= / "
	        "/etc/security/limits.conf) and run again\n",
	        what, need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	return -1;
}

/* ---- /proc ---- */

/* The parent pid from /proc/PID/stat, or -1. The command name may hold
 * spaces and parentheses: the fields resume after the last ')'. */
static long bench_net_proc_ppid(long pid)
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
	if (!rp || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return ppid;
}

/* A "Key:  123 kB" line of a /proc file, in KiB, or -1. */
static long bench_net_proc_kb(long pid, const char *file, const char *key)
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

int bench_net_proc_scan(struct bench_proc *p, long root)
{
	enum { ALL_MAX = 16384 };
	long(*all)[2] = malloc(sizeof(long[ALL_MAX][2]));
	int na = 0;
	DIR *d = opendir("/proc");
	for (struct dirent *e; all && d && (e = readdir(d)) && na < ALL_MAX;)
		if (isdigit((unsigned char)e->d_name[0])) {
			all[na][0] = atol(e->d_name);
			all[na][1] = bench_net_proc_ppid(all[na][0]);
			na++;
		}
	if (d)
		closedir(d);
	p->root = root;
	p->n = 0;
	p->pids[p->n++] = root;
	/* Breadth-first: n grows while we walk. */
	for (int i = 0; i < p->n && all; i++)
		for (int j = 0; j < na && p->n < BENCH_PROC_MAX; j++)
			if (all[j][1] == p->pids[i])
				p->pids[p->n++] = all[j][0];
	free(all);
	int alive = 0;
	for (int i = 0; i < p->n; i++)
		alive += bench_net_proc_kb(p->pids[i], "status", "VmRSS") >= 0;
	return alive;
}

long bench_net_proc_rss_kb(const struct bench_proc *p, long *pss_kb)
{
	long rss = 0, pss = 0;
	int alive = 0;
	for (int i = 0; i < p->n; i++) {
		long r = bench_net_proc_kb(p->pids[i], "status", "VmRSS");
		if (r < 0)
			continue;
		rss += r;
		alive++;
		if (pss_kb) {
			long s = bench_net_proc_kb(p->pids[i], "smaps_rollup", "Pss");
			pss += s > 0 ? s : 0;
		}
	}
	if (pss_kb)
		*pss_kb = alive ? pss : -1;
	return alive ? rss : -1;
}

double bench_net_proc_cpu_s(const struct bench_proc *p)
{
	double sum = 0;
	long hz = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < p->n; i++) {
		char path[64], buf[1024];
		snprintf(path, sizeof path, "/proc/%ld/stat", p->pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		char *rp = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		/* Fields 14 and 15 (utime, stime), counted from the state field. */
		if (rp && sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		                 &ut, &st) == 2)
			sum += (double)(ut + st) / (double)(hz > 0 ? hz : 100);
	}
	return sum;
}

double bench_net_self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the progress line ---- */

void bench_net_progress_init(struct bench_progress *p, const char *mode, bool forced)
{
	*p = (struct bench_progress){.on = forced || isatty(STDERR_FILENO), .mode = mode};
}

/* n with a k/M suffix, into out. */
static void bench_net_progress_num(char *out, size_t cap, double n)
{
	if (n >= 1e6)
		snprintf(out, cap, "%.2fM", n / 1e6);
	else if (n >= 1e4)
		snprintf(out, cap, "%.1fk", n / 1e3);
	else
		snprintf(out, cap, "%.0f", n);
}

void bench_net_progress_show(struct bench_progress *p, uint64_t now, long connected, long total,
                             const char *what, uint64_t done, uint64_t expected)
{
	if (!p->on || now < p->next_ns)
		return;
	char d[16], e[24] = "", r[16] = "-";
	bench_net_progress_num(d, sizeof d, (double)done);
	if (expected) {
		e[0] = '/';
		bench_net_progress_num(e + 1, sizeof e - 1, (double)expected);
	}
	if (p->last_ns && now > p->last_ns && done >= p->last_done)
		bench_net_progress_num(r, sizeof r,
		                       (double)(done - p->last_done) * 1e9 /
		                               (double)(now - p->last_ns));
	fprintf(stderr, "\r\033[K%s: connected %ld/%ld  %s %s%s  %s/s", p->mode, connected, total,
	        what, d, e, r);
	fflush(stderr);
	p->shown = true;
	p->last_ns = now;
	p->last_done = done;
	p->next_ns = now + BENCH_PROGRESS_NS;
}

void bench_net_progress_end(struct bench_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = false;
}
