/*
 * bench_net.h - what every `crier bench` mode needs around its sockets:
 * the target URL, connects spread over source addresses, the open-file
 * limit, a reachability probe, the server's memory and CPU from /proc,
 * and the live progress line.
 *
 * Plain POSIX and Linux calls, no event loop: each mode runs its own epoll
 * set. Nothing here allocates after start-up or keeps global state; the
 * process-wide things it touches (RLIMIT_NOFILE, stderr) are named in the
 * function that touches them.
 */
#ifndef CRIER_BENCH_BENCH_NET_H
#define CRIER_BENCH_BENCH_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Connections per source address. The destination (address, port) is
 * fixed, so each 127.0.0.x source has the ephemeral range (32768-60999,
 * 28k ports) to itself; 2,000 leaves room for sockets a previous run left
 * in TIME_WAIT and keeps the kernel's port search short.
 */
#define BENCH_CONNS_PER_ADDR 2000
/* Processes followed when summing a server's memory (nginx: master + workers). */
#define BENCH_PROC_MAX 256

/* Monotonic nanoseconds. */
uint64_t bench_net_now_ns(void);

/* A parsed --url: http:// or ws://, a numeric IPv4 host (or localhost),
 * an optional port (80 by default) and an optional path. */
struct bench_url {
	struct sockaddr_in addr; /* where to connect */
	char host[64];           /* as written in the URL, for Host: headers */
	uint16_t port;
	char path[256]; /* "" when the URL has none */
};

/* Parses url into *u. Returns NULL, or a sentence saying what is wrong. */
const char *bench_net_url_parse(const char *url, struct bench_url *u);

/*
 * Starts a non-blocking connect (TCP_NODELAY) to dst for connection
 * number index of a run. On loopback, connections from index
 * BENCH_CONNS_PER_ADDR on are bound to 127.0.0.2, 127.0.0.3, ... with
 * IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port per 4-tuple at
 * connect time and tens of thousands of connections never exhaust the
 * ephemeral range. Returns the fd (completion is EPOLLOUT plus SO_ERROR),
 * or -errno.
 */
int bench_net_connect(const struct sockaddr_in *dst, long index);

/* Closes fd with SO_LINGER 0 (an RST): no TIME_WAIT left for the next run. */
void bench_net_close_rst(int fd);

/* One blocking connect to dst within timeout_ms, then closed. Returns 0,
 * or -errno (-ETIMEDOUT when the time ran out). */
int bench_net_probe(const struct sockaddr_in *dst, int timeout_ms);

/*
 * Raises the soft RLIMIT_NOFILE to the hard one (process-wide) and checks
 * that need descriptors fit. Returns 0, or -1 after printing on stderr
 * how many are needed, what the limit is and how to raise it.
 */
int bench_net_nofile(long need, const char *what);

/* A server's process tree, found by one scan of /proc: the pid and every
 * descendant (nginx's master and its workers), at most BENCH_PROC_MAX. */
struct bench_proc {
	long root;
	int n;
	long pids[BENCH_PROC_MAX];
};

/* Fills p with root and its descendants; returns how many are alive now
 * (0 when root is gone). Call again to pick up children started since. */
int bench_net_proc_scan(struct bench_proc *p, long root);

/* Summed VmRSS of the tree in KiB, -1 when none is alive; *pss_kb (when
 * not NULL) gets the summed Pss, which shares common pages fairly. */
long bench_net_proc_rss_kb(const struct bench_proc *p, long *pss_kb);

/* Summed user + system CPU seconds of the tree (all threads). */
double bench_net_proc_cpu_s(const struct bench_proc *p);

/* User + system CPU seconds of this process (all threads). */
double bench_net_self_cpu_s(void);

/*
 * The live progress line: one line on stderr rewritten in place (\r),
 * at most four times a second, only when enabled (stderr is a terminal,
 * or --progress). Owned by the thread that drives the run.
 */
struct bench_progress {
	bool on;
	bool shown;       /* something is on the line: end it before other output */
	const char *mode; /* "fanout", ... */
	uint64_t next_ns; /* no redraw before this */
	uint64_t last_ns; /* time and count of the previous redraw, for the rate */
	uint64_t last_done;
};

/* Sets p up for mode; on when forced or when stderr is a terminal. */
void bench_net_progress_init(struct bench_progress *p, const char *mode, bool forced);

/* Redraws "MODE: connected C/T  WHAT D[/E]  R/s" if due (now in ns).
 * expected 0 leaves out the /E. */
void bench_net_progress_show(struct bench_progress *p, uint64_t now, long connected, long total,
                             const char *what, uint64_t done, uint64_t expected);

/* Ends the line (if one was drawn) so the next stderr output starts clean. */
void bench_net_progress_end(struct bench_progress *p);

#endif
