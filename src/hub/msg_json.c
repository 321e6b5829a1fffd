/*
 * msg_json.c - the JSON form of a message.
 *
 * Written by hand rather than with a JSON library: it is built for every
 * published message that has a long-poll or /ws subscriber, and the only
 * work is escaping the payload, which is already known to be UTF-8 (the
 * publish paths check it), so bytes >= 0x80 pass through untouched. The
 * output is sized exactly first and written with one reservation. The
 * same escaper serves the /ws error replies.
 */
#include "hub/msg_json.h"

#include "core/base64.h"
#include "core/err.h"
#include "hub/hub.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/*
 * What each byte becomes inside a JSON string (RFC 8259 §7): 0 for itself,
 * 'u' for \u00XX, else the letter after the backslash. DEL and every byte
 * >= 0x80 pass through: the input is valid UTF-8 and JSON text is UTF-8.
 */
static const char msg_json_esc[256] = {
        [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u',  [0x04] = 'u', [0x05] = 'u',
        [0x06] = 'u', [0x07] = 'u', ['\b'] = 'b', ['\t'] = 't',  ['\n'] = 'n', [0x0B] = 'u',
        ['\f'] = 'f', ['\r'] = 'r', [0x0E] = 'u', [0x0F] = 'u',  [0x10] = 'u', [0x11] = 'u',
        [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
        [0x18] = 'u', [0x19] = 'u', [0x1A] = 'u', [0x1B] = 'u',  [0x1C] = 'u', [0x1D] = 'u',
        [0x1E] = 'u', [0x1F] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* Bytes the escaped form of s takes, quotes excluded. */
static size_t msg_json_escaped_len(const uint8_t *s, size_t len)
{
	size_t n = len;
	for (size_t i = 0; i < len; i++) {
		char e = msg_json_esc[s[i]];
		if (e)
			n += e == 'u' ? 5 : 1;
	}
	return n;
}

/* Writes the escaped form of s at w (msg_json_escaped_len bytes of room),
 * copying each run of plain bytes with one memcpy. Returns the new end. */
static char *msg_json_escape(char *w, const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	if (len == 0)
		return w; /* s may be NULL, which memcpy must not see */
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		char e = msg_json_esc[s[i]];
		if (!e)
			continue;
		memcpy(w, s + run, i - run);
		w += i - run;
		run = i + 1;
		*w++ = '\\';
		*w++ = e;
		if (e == 'u') {
			memcpy(w, "00", 2);
			w[2] = hex[s[i] >> 4];
			w[3] = hex[s[i] & 15];
			w += 4;
		}
	}
	memcpy(w, s + run, len - run);
	return w + (len - run);
}

/* Appends a literal's bytes at w. */
static char *msg_json_put(char *w, const char *s, size_t n)
{
	memcpy(w, s, n);
	return w + n;
}

#define PUT(w, lit) msg_json_put((w), (lit), sizeof(lit) - 1)

/* A quoted, escaped string at w. */
static char *msg_json_put_string(char *w, const char *s, size_t len)
{
	*w++ = '"';
	w = msg_json_escape(w, (const uint8_t *)s, len);
	*w++ = '"';
	return w;
}

/* Reserves n more bytes and returns where they start. The sizes are
 * summed with msg_json_add, which saturates, so SIZE_MAX stands for a sum
 * that wrapped and is refused rather than under-allocated. */
static char *msg_json_reserve(struct buf *out, size_t n)
{
	if (n == SIZE_MAX || buf_reserve(out, n) < 0)
		return NULL;
	return out->data + out->len;
}

/* a + b, saturating at SIZE_MAX so that msg_json_reserve refuses it. */
static size_t msg_json_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Escaped length plus quotes, saturating for inputs no machine holds. */
static size_t msg_json_string_len(const char *s, size_t len)
{
	if (len > (SIZE_MAX - 2) / 6)
		return SIZE_MAX;
	return msg_json_escaped_len((const uint8_t *)s, len) + 2;
}

int msg_json_string(struct buf *out, const char *s, size_t len)
{
	size_t n = msg_json_string_len(s, len);
	char *w = msg_json_reserve(out, n);
	if (!w)
		return CRIER_ENOMEM;
	w = msg_json_put_string(w, s, len);
	out->len = (size_t)(w - out->data);
	return 0;
}

int msg_json_fields(struct buf *out, const char *channel, size_t channel_len, const char *id,
                    size_t id_len, const char *event, size_t event_len, const uint8_t *data,
                    size_t data_len, bool binary)
{
	static const char head[] = "{\"op\":\"message\",\"channel\":";
	size_t n = sizeof(head) - 1 + sizeof(",\"id\":") - 1 + sizeof(",\"data\":") - 1 + 1;
	n = msg_json_add(n, msg_json_string_len(channel, channel_len));
	n = msg_json_add(n, msg_json_string_len(id, id_len));
	if (event_len > 0)
		n = msg_json_add(n, msg_json_add(sizeof(",\"event\":") - 1,
		                                 msg_json_string_len(event, event_len)));
	if (binary)
		n = msg_json_add(n, data_len > SIZE_MAX / 2
		                            ? SIZE_MAX
		                            : base64_encoded_len(data_len) + 2 +
		                                      sizeof(",\"binary\":true") - 1);
	else
		n = msg_json_add(n, msg_json_string_len((const char *)data, data_len));
	char *w = msg_json_reserve(out, n);
	if (!w)
		return CRIER_ENOMEM;
	w = PUT(w, head);
	w = msg_json_put_string(w, channel, channel_len);
	w = PUT(w, ",\"id\":");
	w = msg_json_put_string(w, id, id_len);
	if (event_len > 0) {
		w = PUT(w, ",\"event\":");
		w = msg_json_put_string(w, event, event_len);
	}
	w = PUT(w, ",\"data\":");
	if (binary) {
		*w++ = '"';
		w = base64_encode(data, data_len, w);
		w = PUT(w, "\",\"binary\":true");
	} else {
		w = msg_json_put_string(w, (const char *)data, data_len);
	}
	*w++ = '}';
	assert((size_t)(w - out->data) == out->len + n);
	out->len = (size_t)(w - out->data);
	return 0;
}

int msg_json(struct buf *out, const struct msg *m)
{
	return msg_json_fields(out, m->ch->name, m->ch->name_len, m->id_str, m->id_len, m->event,
	                       m->event_len, m->data, m->data_len, m->binary);
}

struct rcbuf *msg_json_encode(const struct msg *m, void *arg)
{
	(void)arg;
	struct buf b = {0};
	struct rcbuf *r = NULL;
	if (msg_json(&b, m) == 0)
		r = rcbuf_copy(b.data, b.len);
	buf_free(&b);
	return r;
}
