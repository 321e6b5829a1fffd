/*
 * msg.h - a published message, shared by every thread that delivers it.
 *
 * A message is immutable once published: its id, channel, event name and
 * payload never change, so any thread may read them without a lock. It is
 * reference-counted: history holds one reference, each worker inbox entry
 * one, each replay batch one. Its wire encodings (the SSE event bytes, the
 * WebSocket frame, the /ws envelope, a compressed frame) are built lazily,
 * at most once each: the first thread to need an encoding builds it and
 * installs it with a compare-and-swap; a thread that loses the race frees
 * its copy and uses the winner's. So a message costs nothing for formats
 * nobody subscribed with, and once per format otherwise, however many
 * subscribers it reaches.
 */
#ifndef CRIER_HUB_MSG_H
#define CRIER_HUB_MSG_H

#include "core/list.h"
#include "core/rcbuf.h"
#include "hub/id.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_channel;

/* Encoding slots; each transport owns one or more. */
enum msg_enc {
	MSG_ENC_SSE = 0,    /* text/event-stream event */
	MSG_ENC_WS,         /* WebSocket frame, uncompressed */
	MSG_ENC_WS_DEFLATE, /* WebSocket frame, permessage-deflate, 15-bit window */
	MSG_ENC_JSON,       /* the message as JSON (msg_json.h): long-poll, /ws */
	MSG_ENC_WSPROTO,    /* that JSON in a WebSocket text frame, for /ws */
	MSG_ENC_COUNT
};

struct msg {
	atomic_uint refs;
	struct id id;
	struct hub_channel *ch; /* the channel; channels outlive their messages */
	uint64_t time_ms;       /* publish time, monotonic, for --history-ttl */
	uint32_t data_len;
	uint8_t event_len;
	bool binary;
	_Atomic(struct rcbuf *) enc[MSG_ENC_COUNT];
	struct list hist_node;   /* the engine's global history order; hub lock only */
	char id_str[ID_STR_MAX]; /* the text form, for encoders */
	uint8_t id_len;
	char *event;    /* event name (inside this allocation), NUL-terminated */
	uint8_t data[]; /* payload, then the event name */
};

/* Allocates a message with one reference (id unset). NULL on ENOMEM. */
struct msg *msg_new(const void *data, size_t len, const char *event, size_t event_len, bool binary);

static inline struct msg *msg_ref(struct msg *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

/* Drops a reference; frees the message and its encodings on the last. */
void msg_unref(struct msg *m);

/* Sets the id (and its text form); before the message is shared. */
void msg_set_id(struct msg *m, const struct id *id);

/* Builds an encoding (arg is the caller's context, e.g. its worker):
 * returns a new rcbuf (one reference) or NULL. */
typedef struct rcbuf *(*msg_encoder_fn)(const struct msg *m, void *arg);

/* The message's encoding in slot, built with enc on first use. The result
 * is borrowed (valid while the caller holds the message); take an rcbuf_ref
 * to queue it. NULL when out of memory. Thread-safe. */
struct rcbuf *msg_encoded(struct msg *m, enum msg_enc slot, msg_encoder_fn enc, void *arg);

#endif
