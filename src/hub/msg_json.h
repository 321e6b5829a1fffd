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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends a JSON string literal (quotes included) escaping per RFC 8259;
 * the input must be valid UTF-8. Returns 0 or CRIER_ENOMEM (out unchanged). */
int msg_json_string(struct buf *out, const char *s, size_t len);

/* The envelope from its fields (what msg_json writes for a message);
 * binary data as padded base64, text data must be valid UTF-8. Returns 0
 * or CRIER_ENOMEM (out unchanged). */
int msg_json_fields(struct buf *out, const char *channel, size_t channel_len, const char *id,
                    size_t id_len, const char *event, size_t event_len, const uint8_t *data,
                    size_t data_len, bool binary);

/* Appends the message's JSON. Returns 0 or CRIER_ENOMEM. */
int msg_json(struct buf *out, const struct msg *m);

/* The shared encoding for MSG_ENC_JSON (msg_encoded's encoder). */
struct rcbuf *msg_json_encode(const struct msg *m, void *arg);

#endif
