/*
 * client_impl.h - the inside of a crier_client, shared by its files:
 * client.c (life cycle, reconnect policy, publishing), client_sub.c (the
 * subscription's wire formats: SSE and long-poll), client_ws.c (the two
 * WebSocket transports). Not installed.
 */
#ifndef CRIER_CLIENT_CLIENT_IMPL_H
#define CRIER_CLIENT_CLIENT_IMPL_H

#include "client/http_client.h"
#include "core/buf.h"
#include "crier/client.h"
#include "sse/sse_parse.h"
#include "ws/ws_frame.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CLIENT_CURSOR_MAX     128         /* bytes; an id is at most 28 */
#define CLIENT_ERROR_BODY_MAX 4096        /* bytes of a refusal kept for its reason */
#define CLIENT_POLL_BODY_MAX  (64u << 20) /* bytes; bounds one long-poll answer */
#define CLIENT_WS_MESSAGE_MAX (64u << 20) /* bytes; bounds one WebSocket message */
#define CLIENT_WS_KEY_LEN     24          /* base64 of the 16-byte Sec-WebSocket-Key */
#define CLIENT_WHY_MAX        256         /* bytes of a fallback's reason */

struct client_pub {
	struct client_pub *next;
	char *req; /* the whole HTTP request, owned */
	size_t len;
	crier_publish_cb cb;
	void *arg;
};

struct crier_client {
	uv_loop_t *loop;
	struct crier_client_options opt; /* defaults filled in; token owned */
	char *host;                      /* for getaddrinfo (no brackets), owned */
	char *authority;                 /* Host header value, owned */
	char *prefix;                    /* path prefix without trailing '/', owned */
	uint16_t port;
	enum crier_transport transport; /* in use: never AUTO */
	uint64_t rng;                   /* xorshift64 state for the jitter */

	/* Subscription. */
	bool subscribed;
	bool dead;          /* CLOSED reported: no more subscription work */
	char *sub_path;     /* "<prefix>/sub/a,b", percent-encoded, owned */
	char *only_channel; /* the channel when exactly one, for SSE, owned */
	char **channels;    /* the channels as given, for /ws, owned */
	size_t n_channels;
	char cursor[CLIENT_CURSOR_MAX]; /* last id delivered or poll cursor; "" none */
	struct http_client *sub_hc;
	uv_timer_t retry_timer;
	uint32_t attempt;  /* the retry about to happen; 0 while open */
	uint32_t failures; /* consecutive attempts that never opened */
	uint64_t retry_ms; /* the server's retry:, 0 until one came */
	bool open;         /* the current stream or poll loop is established */
	int status;        /* HTTP status of the current subscribe response */
	bool streaming;    /* the current response is an event stream */
	struct buf body;   /* error body or long-poll answer being read */
	struct sse_parser sp;
	struct buf sse_in;   /* unconsumed tail of the event stream */
	struct buf ev_data;  /* data of the event being built */
	struct buf ev_id;    /* its id (NUL-terminated when set) */
	struct buf ev_event; /* its event type (NUL-terminated when set) */
	bool ev_has_data;
	char fallback_why[CLIENT_WHY_MAX]; /* why auto left a transport; "" none */

	/* WebSocket transports (client_ws.c). */
	char ws_key[CLIENT_WS_KEY_LEN + 1]; /* Sec-WebSocket-Key of the attempt */
	bool ws_up;                         /* 101 checked: frames flow */
	struct ws_frame_parser wp;
	struct buf ws_msg;              /* data message being assembled */
	uint8_t ws_ctl[WS_CONTROL_MAX]; /* control frame being assembled */
	size_t ws_ctl_len;

	/* Publishing. */
	struct http_client *pub_hc;
	struct client_pub *pub_head, *pub_tail;
	bool pub_busy;        /* pub_head's request is outstanding */
	bool pub_reused;      /* ... on a connection that served a request before */
	bool pub_fresh_retry; /* pub_head was already retried once */
	int pub_status;
	struct buf pub_body;

	/* Teardown. */
	bool closing;
	int pending; /* handles and http_clients still closing */
	crier_closed_cb closed_cb;
};

/* client.c */
void client_state(crier_client *c, enum crier_state s, int err, int status, const char *reason);
void client_fail(crier_client *c, int err, const char *reason);
void client_refused(crier_client *c, int status, const char *reason);
void client_opened(crier_client *c);
void client_drop_sub(crier_client *c);
void client_poll_again(crier_client *c);
/* Appends s percent-encoded (all but unreserved, ':' and '@') as a path
 * segment or query value. Returns 0 or CRIER_ENOMEM. */
int client_pct(struct buf *b, const char *s);

/* The token, where the options put it. client_token_query appends
 * "<sep>token=..." when token_in_query (sep is '?' or '&') and returns the
 * separator a next parameter needs ('&' after the token, else sep), or
 * CRIER_ENOMEM. client_token_header appends the Authorization header when
 * not token_in_query and returns 0 or CRIER_ENOMEM. Without a token both
 * append nothing. */
int client_token_query(crier_client *c, struct buf *b, char sep);
int client_token_header(crier_client *c, struct buf *b);

/* auto only: leaves the current transport for the next one, now. */
void client_fallback(crier_client *c, const char *why);

/* client_sub.c */
extern const struct http_client_cbs client_sub_cbs;
int client_sub_request(crier_client *c, struct buf *out);
bool client_is_dup(const crier_client *c, const char *id);
void client_set_cursor(crier_client *c, const char *id);
void client_sub_gap(crier_client *c, json_t *g);
/* Delivers a message unless it is a duplicate; b64: data is base64 of a
 * binary payload; binary: data is already the binary payload. */
void client_deliver(crier_client *c, const char *channel, const char *id, const char *event,
                    const char *data, size_t len, bool b64, bool binary);
void client_sub_refusal(crier_client *c);

/* client_ws.c */
int client_ws_request(crier_client *c, struct buf *out);
void client_ws_head(crier_client *c, const struct http_client_head *h);
void client_ws_feed(crier_client *c, const char *p, size_t n);
/* Sends a close frame (1000) when a WebSocket is up; best effort. */
void client_ws_goodbye(crier_client *c);

#endif
