/*
 * crier/client.h - libcrier: subscribe to and publish on a crier hub.
 *
 * A crier_client talks to one hub (one base URL) on one libuv loop. It
 * holds at most one subscription (a set of channels, one stream) and a
 * queue of publishes sent in order over one HTTP keep-alive connection.
 * The subscription survives disconnects: the client reconnects with
 * exponential backoff and full jitter and resumes from the last id it
 * delivered, so the caller sees every message exactly once, or a gap
 * notice saying what it missed (docs/subscribe.md, "Gaps").
 *
 * Transports: the crier.v1 protocol over WebSocket (GET /ws), raw
 * WebSocket (GET /sub/{channels} with Upgrade), Server-Sent Events and
 * long-poll. Every one resumes exactly except raw WebSocket, whose frames
 * carry no id (see CRIER_TRANSPORT_WS). Publishes always go over HTTP.
 * WebSocket: no extension is offered (no permessage-deflate); server pings
 * are answered; silence longer than ping_ms + silence_margin_ms counts as
 * a dead connection; crier_client_close sends a close frame (code 1000).
 *
 * Thread: a client belongs to the thread running its loop. Every function
 * must be called on that thread, and every callback runs on it. Callbacks
 * may call any crier_client_* function, including crier_client_close.
 *
 * Errors: functions return 0 or a negative code (a CRIER_E* code from
 * src/core/err.h or a negated errno / libuv code); crier_client_strerror
 * turns one into a sentence.
 */
#ifndef CRIER_CLIENT_H
#define CRIER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The library's exported functions; everything else in libcrier is hidden. */
#if defined(__GNUC__) && !defined(CRIER_STATIC)
#define CRIER_API __attribute__((visibility("default")))
#else
#define CRIER_API
#endif

typedef struct crier_client crier_client;

enum crier_transport {
	/* WSPROTO first, then SSE, then POLL. A transport is left for the next
	 * when its first attempt fails in a way that blames the transport: an
	 * answer other than 101 (SSE: other than an event stream), a bad
	 * handshake, a timeout or a reset before the stream opened. A refused
	 * or unresolvable connection blames the hub, not the transport: the
	 * client backs off and retries the same one. A step is never undone;
	 * its reason is the OPEN state change's `reason`. */
	CRIER_TRANSPORT_AUTO = 0,
	CRIER_TRANSPORT_SSE,
	/* Raw WebSocket: each message one frame, no envelope. LIMITATION: the
	 * frames carry no id, so the client never learns a position. Every
	 * reconnect resumes from the `since` given to crier_client_subscribe
	 * (replaying what came after it again, duplicates included, since the
	 * client cannot tell them apart), or, without one, live (losing what
	 * was published while disconnected, with no gap notice). Messages have
	 * id "", crier_client_last_id stays at `since`. Use WSPROTO to resume. */
	CRIER_TRANSPORT_WS,
	/* The crier.v1 protocol on /ws (docs/protocol-ws.md): ids, channel on
	 * every message, exact resume with gap notices. */
	CRIER_TRANSPORT_WSPROTO,
	CRIER_TRANSPORT_POLL,
};

enum crier_state {
	CRIER_STATE_CONNECTING = 0, /* first connection attempt in progress */
	CRIER_STATE_OPEN,           /* the stream is established (crier.v1: the
	                             * subscribe was acknowledged; raw WebSocket: the
	                             * 101 answer checked out; SSE: the server
	                             * answered 200 text/event-stream; long-poll: the
	                             * first answer arrived, which without a start id
	                             * is the first message or the server's timeout) */
	CRIER_STATE_RECONNECTING,   /* waiting delay_ms before attempt number `attempt` */
	CRIER_STATE_CLOSED,         /* final for the subscription: a refusal, the
	                             * attempts ran out, or crier_client_close. The
	                             * client still needs crier_client_close (which,
	                             * after this, reports nothing more). */
};

/* A delivered message. Every pointer is borrowed: valid only during the
 * callback; copy what must outlive it. */
struct crier_message {
	const char *channel; /* NUL-terminated; NULL over SSE and raw WebSocket
	                      * with more than one channel subscribed (those
	                      * streams do not carry the channel) */
	const char *id;      /* NUL-terminated, opaque; never NULL ("" over raw
	                      * WebSocket, which carries no ids) */
	const char *event;   /* NUL-terminated event type, or NULL when none */
	const char *data;    /* data_len bytes, NUL-terminated after them (binary
	                      * data may contain NULs of its own) */
	size_t data_len;
	bool binary; /* data is the decoded binary payload */
};

/* A gap notice: messages between `from` and `to` are lost. Borrowed. */
struct crier_gap {
	const char *from;   /* the position the client asked for; never NULL */
	const char *to;     /* first id that will be delivered, or NULL */
	const char *reason; /* "expired", "epoch", "unknown" (or a newer reason) */
};

/* A state change. Borrowed. */
struct crier_state_change {
	enum crier_state state;
	enum crier_transport transport; /* the transport in use (never AUTO) */
	uint32_t attempt;               /* RECONNECTING: 1 for the first retry */
	uint64_t delay_ms;              /* RECONNECTING: time until that attempt */
	int err;                        /* RECONNECTING/CLOSED: why (0 for a caller's close) */
	int status;                     /* CLOSED by a refusal: the HTTP status (4xx; 400
	                                 * for a crier.v1 `error` answer to subscribe),
	                                 * else 0 */
	const char *reason;             /* RECONNECTING/CLOSED: a sentence (for a refusal,
	                     * the server's own words); OPEN under auto after a
	                     * fallback: why ("wsproto unavailable: ..."); ""
	                     * otherwise; never NULL */
};

typedef void (*crier_message_cb)(crier_client *c, const struct crier_message *m, void *user);
typedef void (*crier_gap_cb)(crier_client *c, const struct crier_gap *g, void *user);
typedef void (*crier_state_cb)(crier_client *c, const struct crier_state_change *s, void *user);
/* A publish finished. err 0: id is the assigned id. Otherwise err is
 * negative, status the HTTP status when the server answered (else 0) and
 * reason a sentence (the server's body for a refusal). Borrowed strings. */
typedef void (*crier_publish_cb)(crier_client *c, int err, int status, const char *id,
                                 const char *reason, void *arg);
/* The client's memory is gone; c must not be used any more. */
typedef void (*crier_closed_cb)(crier_client *c, void *user);

/* Options. Zero-initialise and set what you need: every 0 means the
 * default written next to the field. */
struct crier_client_options {
	enum crier_transport transport;
	const char *token;       /* sent as Authorization: Bearer; copied */
	bool token_in_query;     /* send the token as ?token= instead (for hubs
	                          * run with --allow-query-token; URLs end up
	                          * in logs, so only when headers cannot work) */
	uint32_t backoff_min_ms; /* 500: first retry window */
	uint32_t backoff_max_ms; /* 30000: longest retry window */
	uint32_t max_attempts;   /* consecutive failed attempts before CLOSED; 0 = never give up */
	uint32_t connect_timeout_ms; /* 10000: TCP connect and response head */
	uint32_t heartbeat_ms;       /* 15000: the server's --sse-heartbeat */
	uint32_t poll_timeout_ms;    /* 30000: the server's --poll-timeout */
	uint32_t ping_ms;            /* 25000: the server's --ws-ping-interval */
	uint32_t silence_margin_ms;  /* 5000: added to the three above before a
	                              * silent stream counts as dead */
	crier_message_cb on_message;
	crier_gap_cb on_gap;
	crier_state_cb on_state;
	void *user; /* passed to the callbacks above */
};

/*
 * Creates a client for the hub at url ("http://host[:port][/prefix]"; no
 * https yet) on loop. Nothing is sent until crier_client_subscribe or
 * crier_client_publish. url and opts are copied; opts may be NULL.
 * Returns 0 and sets *out, or: CRIER_EINVAL (malformed url, or a
 * transport out of range), UV_ENOTSUP (https), CRIER_ENOMEM. *out is untouched on failure.
 */
CRIER_API int crier_client_new(uv_loop_t *loop, const char *url,
                               const struct crier_client_options *opts, crier_client **out);

/*
 * Subscribes to channels[0..n) (1..64 names; sent as given, the server
 * judges them), resuming after id `since` when not NULL (the first
 * message delivered is the one after it, or a gap notice comes first).
 * Starts connecting at once. Without `since`, the stream starts live.
 * Returns 0, CRIER_EINVAL (n out of range, a subscription already made,
 * or the client closing) or CRIER_ENOMEM.
 */
CRIER_API int crier_client_subscribe(crier_client *c, const char *const *channels, size_t n,
                                     const char *since);

/*
 * Queues a publish of data[0..len) on channel, with event type `event`
 * (NULL for none), as a binary message when binary is set. Publishes are
 * sent one after another in call order over one keep-alive connection;
 * cb (may be NULL) is called once for each, in order. A publish is not
 * retried after its request was sent: the caller cannot know whether it
 * took effect. Everything is copied. Returns 0, CRIER_EINVAL (client
 * closing) or CRIER_ENOMEM; on failure cb is never called.
 */
CRIER_API int crier_client_publish(crier_client *c, const char *channel, const char *event,
                                   const void *data, size_t len, bool binary, crier_publish_cb cb,
                                   void *arg);

/*
 * The last id delivered (or the long-poll cursor), the position a
 * reconnect resumes from; NULL before the first. Borrowed until the next
 * callback or call.
 */
CRIER_API const char *crier_client_last_id(const crier_client *c);

/*
 * Closes the client: the stream and the publish connection are dropped,
 * queued publishes complete with UV_ECANCELED, on_state reports CLOSED
 * (err 0) unless it already did, and once every handle is closed,
 * closed_cb (may be NULL) runs and the memory is freed. Calling it twice
 * is harmless (the second call does nothing).
 */
CRIER_API void crier_client_close(crier_client *c, crier_closed_cb closed_cb);

/* A sentence for an error code from this API. Never NULL. */
CRIER_API const char *crier_client_strerror(int err);

/* "auto", "sse", "ws", "wsproto", "poll". */
CRIER_API const char *crier_transport_name(enum crier_transport t);

#endif
