/*
 * msg_json.h - a message as JSON, the form long-poll answers and the /ws
 * protocol carry:
 * {"op":"message","channel":"c","id":"i"[,"event":"e"],"data":"..."[,"binary":true]}
 * Binary data is base64. Built once per message (MSG_ENC_JSON) and shared.
 */
#ifndef CRIER_HUB_MSG_JSON_H
#define CRIER_HUB_MSG_JSON_H

#include "core/buf.h"
#include "hub/msg.h"

/* Appends a JSON string literal of s (valid UTF-8), RFC 8259 escaping. */
int msg_json_string(struct buf *out, const char *s, size_t len);

/* Appends the message's JSON. Returns 0 or CRIER_ENOMEM. */
int msg_json(struct buf *out, const struct msg *m);

/* The shared encoding for MSG_ENC_JSON (msg_encoded's encoder). */
struct rcbuf *msg_json_encode(const struct msg *m, void *arg);

#endif
