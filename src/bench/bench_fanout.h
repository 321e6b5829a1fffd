/*
 * bench_fanout.h - the state of one `crier bench fanout` run, shared by
 * its three files: bench_fanout.c (phases, timing, report),
 * bench_fanout_sub.c (subscribers: connect, handshake, the four wire
 * formats, delivery accounting) and bench_fanout_pub.c (publishers).
 *
 * Internal to src/bench. One thread owns everything here; the only
 * buffers allocated during the run are handshake heads (freed once the
 * subscription is confirmed) and publisher output that grows to its
 * high-water mark.
 */
#ifndef CRIER_BENCH_BENCH_FANOUT_H
#define CRIER_BENCH_BENCH_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench.h"
#include "bench/bench_hist.h"
#include "bench/bench_http.h"
#include "ws/ws_frame.h"

/* epoll tags: a subscriber's index, or a publisher's index with this bit. */
#define BENCH_FANOUT_TAG_PUB ((uint64_t)1 << 63)
/* Bytes of a payload (or SSE line) kept: the stamp is the first 31, a
 * crier.v1 envelope puts about 90 bytes before it. */
#define BENCH_FANOUT_PFX 160

enum bench_fanout_sub_state {
	FANOUT_SUB_IDLE,
	FANOUT_SUB_CONNECTING,
	FANOUT_SUB_HANDSHAKE, /* request sent; reading the answer head (poll: each answer's) */
	FANOUT_SUB_READY,     /* reading the body: events, frames, or a poll answer */
	FANOUT_SUB_CLOSED,
};

/* One subscriber. It holds its parser state only: the handshake head
 * lives in a malloc'd buffer until the answer is complete (a poller keeps
 * it, it reads a head per answer). */
struct bench_fanout_sub {
	int fd;
	uint8_t state;   /* enum bench_fanout_sub_state */
	bool subscribed; /* counted in run.subscribed */
	bool pending;    /* counted in run.pending (connect or handshake under way) */
	uint8_t pfx_len; /* bytes of the current payload or SSE line kept in pfx */
	char pfx[BENCH_FANOUT_PFX];
	struct ws_frame_parser wp; /* ws, wsproto: the frame codec's state */
	uint32_t line_len;         /* sse: bytes of the current line so far */
	int64_t pend_g;            /* sse: message of the event being read, -1 if none */
	uint64_t pend_ts;
	char *head; /* the answer head so far, BENCH_HTTP_HEAD_MAX bytes */
	uint32_t head_len;
	/* poll: the answer being read and the cursor for the next poll */
	uint32_t body_left;            /* body bytes of the current answer still to come */
	uint32_t poll_msgs;            /* messages in the current answer */
	uint8_t m_data, m_next, m_gap; /* bytes matched of "data":" "next":" "gap": */
	uint8_t capture;               /* 0, CAP_DATA or CAP_NEXT: pfx collects up to '"' */
	char next[48];                 /* the last answer's "next" */
};

struct bench_fanout_pub {
	int fd;
	bool connected;
	bool want_out;     /* EPOLLOUT registered */
	int inflight;      /* requests written, answer not yet read */
	long next_g;       /* next message this publisher sends */
	long answers;      /* answers read (HTTP: they come in request order) */
	uint64_t *sent_ns; /* --window slots: when request k was written, at k % window */
	char *out;         /* bytes to write */
	size_t out_len, out_off, out_cap;
	char in[16384]; /* HTTP answers not yet parsed */
	size_t in_len;
	struct ws_frame_parser wp; /* wsproto: the answers' frames */
	uint8_t ws_op;             /* opcode of the frame being read */
	uint16_t msg_len;          /* bytes of its payload kept in msg */
	char msg[256];
};

struct bench_fanout {
	const struct bench_opts *o;
	int ep;
	struct bench_fanout_sub *subs;
	struct bench_fanout_pub *pubs;
	long per_chan;   /* messages per channel, rounded up: bitmap width */
	uint8_t *seen;   /* subs * per_chan bits: delivered already */
	int64_t *last_g; /* subs * publishers: last message seen per publisher */
	long *chan_subs; /* subscribers per channel when publishing began */
	int next_connect, pending, subscribed, closed, failed;
	long acked, pub_errors, pub_sent;
	uint64_t t0_ns; /* publishing began; older stamps are stale */
	uint64_t received, duplicated, out_of_order, misrouted, bad_payload, protocol_errors;
	uint64_t stale;
	uint64_t gaps;                         /* gap notices once subscribed */
	uint64_t polls, empty_polls, poll_max; /* long-poll answers after the first */
	uint64_t poll_history;                 /* messages in first poll answers: from before */
	uint64_t first_ns, last_ns;            /* first and last delivery */
	struct bench_hist lat;                 /* publish to delivery, ns */
	struct bench_hist ack;                 /* publish request to its answer, ns */
	char *body_tmpl;                       /* --size bytes of 'x' */
	struct bench_ws_keys keys;
	uint8_t rbuf[1 << 18]; /* the one read buffer, shared by every socket */
};

/* Sets events for fd in the run's epoll set. */
void bench_fanout_ctl(struct bench_fanout *r, int op, int fd, uint32_t events, uint64_t tag);

/* bench_fanout_sub.c */
void bench_fanout_sub_start(struct bench_fanout *r, int si);
void bench_fanout_sub_event(struct bench_fanout *r, int si, uint32_t events);
void bench_fanout_sub_close(struct bench_fanout *r, int si, bool failed);

/* bench_fanout_pub.c */
int bench_fanout_pub_connect(struct bench_fanout *r, uint64_t deadline_ns);
bool bench_fanout_pub_can_send(const struct bench_fanout *r, const struct bench_fanout_pub *p,
                               uint64_t now, uint64_t t0);
void bench_fanout_pub_fill(struct bench_fanout *r, int pi, uint64_t t0);
void bench_fanout_pub_read(struct bench_fanout *r, int pi);

#endif
