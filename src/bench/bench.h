/*
 * bench.h - `crier bench`: load generators that measure a hub (crier, or
 * any server with the same routes, such as nginx+nchan) from the outside
 * and print one JSON line of figures.
 *
 *   fanout   N subscribers (SSE, raw WebSocket, crier.v1 over /ws, or
 *            long-poll) over K channels, M messages published over HTTP or
 *            /ws; every delivery checked (lost, duplicated, out of order)
 *            and timed from publish to delivery (bench_fanout*.c).
 *   echo     C WebSockets, one message in flight each, echoes checked byte
 *            for byte and timed (bench_echo.c).
 *   connect  C connections of one transport opened as fast as the server
 *            takes them and held idle: connections/s, failures and the
 *            server's memory per idle connection (bench_connect.c).
 *
 * The modes share one option struct, filled and checked by cli/cmd_bench.c
 * (each field says which modes read it), and return the process exit
 * code: 0 for a clean, complete run; 1 when the run had errors, was cut
 * by --timeout (partial figures are still printed, "complete": false) or
 * the server could not be reached; 2 when the run cannot start (the
 * open-file limit, memory).
 *
 * The engines are epoll loops over non-blocking sockets: fanout and
 * connect in one thread, echo in --threads threads, each with its own
 * epoll set and connections. No allocation per message.
 */
#ifndef CRIER_BENCH_BENCH_H
#define CRIER_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench_net.h"

enum bench_transport {
	BENCH_HTTP,    /* connect: GET, then an idle keep-alive connection */
	BENCH_SSE,     /* GET /sub/{ch} with Accept: text/event-stream */
	BENCH_WS,      /* raw WebSocket on /sub/{ch} (or the URL's path) */
	BENCH_WSPROTO, /* crier.v1 on /ws: subscribe, acks, envelopes */
	BENCH_POLL,    /* long-poll GET /sub/{ch}?since= loops */
};

/* "http", "sse", "ws", "wsproto", "poll". */
static inline const char *bench_transport_name(enum bench_transport t)
{
	switch (t) {
	case BENCH_HTTP:
		return "http";
	case BENCH_SSE:
		return "sse";
	case BENCH_WS:
		return "ws";
	case BENCH_WSPROTO:
		return "wsproto";
	default:
		return "poll";
	}
}

struct bench_opts {
	/* every mode */
	struct bench_url url;
	const char *url_text; /* --url as given, for the report */
	double timeout_s;     /* fanout, connect: the whole run; echo: connecting, and each echo */
	long server_pid;      /* 0: no /proc sampling */
	bool human;           /* a table instead of the JSON line */
	bool progress;        /* the live line even when stderr is not a terminal */
	int inflight;         /* connects + handshakes pending at once */
	int channels;         /* fanout, connect: channels bench0..bench{K-1}, round robin */
	enum bench_transport transport; /* fanout (not http), connect */

	/* fanout */
	int subs;             /* N subscribers */
	long msgs;            /* M messages in all */
	double rate;          /* messages per second over all publishers; 0 = max */
	long size_bytes;      /* fanout: body bytes (32..60000); echo: message bytes (0..64 MiB) */
	int publishers;       /* P publisher connections */
	bool pub_wsproto;     /* publishers speak crier.v1 over ws_path, not HTTP POST */
	int window;           /* requests in flight per publisher */
	double drain_s;       /* after the last publish: stop after this long without a delivery */
	int settle_ms;        /* wait after all are subscribed, before publishing */
	const char *pub_path; /* printf pattern with one %s: the channel */
	const char *sub_path;
	const char *ws_path; /* the crier.v1 endpoint */
	/* Where publishers connect: --pub-url, else --url (another node of a
	 * cluster, so deliveries cross the engine). */
	struct bench_url pub_url;
	const char *pub_url_text; /* NULL: publish to --url */

	/* echo, connect */
	long conns;        /* C connections */
	double duration_s; /* echo: measured seconds */
	double warmup_s;   /* echo: unmeasured seconds before them */
	int threads;       /* echo: event-loop threads */
	bool binary;       /* echo: binary frames instead of text */
	double hold_s;     /* connect: keep the idle connections this long after measuring */
	double settle_s;   /* connect: wait before sampling the server's memory */
	long prime;        /* connect: connections opened and closed before "before" */
};

int bench_fanout_run(const struct bench_opts *o);
int bench_echo_run(const struct bench_opts *o);
int bench_connect_run(const struct bench_opts *o);

#endif
