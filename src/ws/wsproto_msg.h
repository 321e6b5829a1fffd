/*
 * wsproto_msg.h - the crier.v1 protocol spoken on GET /ws: request parsing
 * and error replies (docs/protocol-ws.md).
 *
 * No I/O: this file turns a client's text frame into a checked request.
 * Requests are parsed with jansson (strict: duplicate keys and invalid
 * UTF-8 are errors). The message envelope is not here: it is the message's
 * JSON form (hub/msg_json.h), built once per message and shared by /ws and
 * long-poll subscribers.
 */
#ifndef CRIER_WS_WSPROTO_MSG_H
#define CRIER_WS_WSPROTO_MSG_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSPROTO_SUBPROTOCOL  "crier.v1"
#define WSPROTO_MAX_CHANNELS 64 /* channels in one subscribe/unsubscribe */
#define WSPROTO_REF_MAX      64 /* bytes of a ref, as its JSON text */

enum wsproto_op {
	WSPROTO_SUBSCRIBE = 0,
	WSPROTO_UNSUBSCRIBE,
	WSPROTO_PUBLISH,
	WSPROTO_PING,
	WSPROTO_REFRESH, /* a fresh token for a connection whose token expires */
};

/* Error codes sent in {"op":"error","code":...}. */
enum wsproto_code {
	WSPROTO_E_BAD_JSON = 0, /* not a JSON object */
	WSPROTO_E_BAD_REQUEST,  /* a field is missing, of the wrong type, or unknown */
	WSPROTO_E_UNKNOWN_OP,
	WSPROTO_E_BAD_CHANNEL,    /* a channel name outside [A-Za-z0-9_.:@-]{1,128} */
	WSPROTO_E_BAD_EVENT,      /* an event name outside [A-Za-z0-9_.:@-]{1,64} */
	WSPROTO_E_BAD_DATA,       /* binary data that is not base64 */
	WSPROTO_E_TOO_LARGE,      /* data over --max-message-bytes */
	WSPROTO_E_CHANNEL_LIMIT,  /* --max-channels reached */
	WSPROTO_E_NOT_SUBSCRIBED, /* unsubscribe from a channel not subscribed */
	WSPROTO_E_ALREADY_SUBSCRIBED,
	WSPROTO_E_INTERNAL,
	WSPROTO_E_UNAUTHORIZED,      /* the refresh token is invalid or expired */
	WSPROTO_E_FORBIDDEN,         /* the connection's token does not grant the channel */
	WSPROTO_E_TOO_MANY_CHANNELS, /* over --max-channels-per-conn on this connection */
	WSPROTO_E_RATE_LIMITED,      /* over --publish-rate */
	WSPROTO_E_UNAVAILABLE,       /* not offered by this configuration (publish with Redis) */
	WSPROTO_E_COUNT
};

/* Stable wire name of a code ("bad_json", ...). */
const char *wsproto_code_name(enum wsproto_code c);

/* A parsed request. Strings are counted (not NUL-terminated) and point
 * into `owner`; data is a separate allocation. Both live until
 * wsproto_req_free. */
struct wsproto_req {
	enum wsproto_op op;
	char ref[WSPROTO_REF_MAX + 1]; /* the ref's JSON text ("7", "\"a\""), "" if none */
	const char *channels[WSPROTO_MAX_CHANNELS]; /* valid names, repeats dropped */
	size_t channel_lens[WSPROTO_MAX_CHANNELS];
	size_t n_channels; /* subscribe/unsubscribe: 1..64; publish: 1; ping: 0 */
	const char *since; /* subscribe: resume id text (<= 256 bytes), or NULL */
	size_t since_len;
	const char *event; /* publish: event name, or NULL */
	size_t event_len;
	/* publish: the payload (owned), base64-decoded when binary, with a NUL
	 * at data[data_len] so text is also a C string; NULL for other ops */
	uint8_t *data;
	size_t data_len;
	const char *token; /* refresh: the token text, or NULL */
	size_t token_len;
	bool binary;
	void *owner; /* the parsed JSON document */
};

/*
 * Parses one client text frame (json[0..len), no terminator needed).
 * Returns 0 and fills *req; or -1 with *code and a human message in msg
 * (printable ASCII, truncated to msg_cap; msg may be NULL). On -1 req
 * holds nothing to free but may be passed to wsproto_req_free; req->ref
 * is set when the request had a usable ref, so the error can name it.
 * max_data bounds the decoded payload (WSPROTO_E_TOO_LARGE above it).
 *
 * Codes: BAD_JSON (not one JSON object, duplicate keys, invalid UTF-8),
 * BAD_REQUEST (missing, mistyped or unknown key; a ref that is not an
 * integer or a string of at most 56 bytes whose JSON text fits 64 bytes;
 * 0 or more than 64 channels; since over 256 bytes), UNKNOWN_OP,
 * BAD_CHANNEL, BAD_EVENT, BAD_DATA (base64 that is not padded, canonical
 * RFC 4648 §4), TOO_LARGE, and INTERNAL when memory runs out.
 */
int wsproto_parse(const char *json, size_t len, uint64_t max_data, struct wsproto_req *req,
                  enum wsproto_code *code, char *msg, size_t msg_cap);

/* Releases what wsproto_parse allocated and zeroes req; a second call,
 * or a call after a failed parse, does nothing. */
void wsproto_req_free(struct wsproto_req *req);

/* {"op":"error","ref":R,"code":"...","message":"..."}: ref is JSON text
 * copied as is (req->ref), omitted when "" or NULL; message must be valid
 * UTF-8. Returns 0 or CRIER_ENOMEM (out unchanged). */
int wsproto_error(struct buf *out, const char *ref, enum wsproto_code code, const char *message);

#endif
