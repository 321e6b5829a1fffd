/*
 * msg_json.c - the JSON form of a message.
 *
 * Written by hand rather than with a JSON library: it is built for every
 * published message that has a long-poll or /ws subscriber, and the only
 * work is escaping the payload, which is already known to be UTF-8 (the
 * publish paths check it), so bytes >= 0x80 pass through untouched.
 */
#include "hub/msg_json.h"

#include "core/base64.h"
#include "core/err.h"
#include "hub/hub.h"

#include <stdio.h>

int msg_json_string(struct buf *out, const char *s, size_t len)
{
	int rc = buf_reserve(out, len + 2);
	if (rc)
		return rc;
	out->data[out->len++] = '"';
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((rc = buf_append(out, s + run, i - run)) != 0)
			return rc;
		run = i + 1;
		char esc[8];
		int n;
		switch (c) {
		case '"':
			n = snprintf(esc, sizeof(esc), "\\\"");
			break;
		case '\\':
			n = snprintf(esc, sizeof(esc), "\\\\");
			break;
		case '\n':
			n = snprintf(esc, sizeof(esc), "\\n");
			break;
		case '\r':
			n = snprintf(esc, sizeof(esc), "\\r");
			break;
		case '\t':
			n = snprintf(esc, sizeof(esc), "\\t");
			break;
		default:
			n = snprintf(esc, sizeof(esc), "\\u%04x", c);
			break;
		}
		if ((rc = buf_append(out, esc, (size_t)n)) != 0)
			return rc;
	}
	if ((rc = buf_append(out, s + run, len - run)) != 0)
		return rc;
	return buf_append(out, "\"", 1);
}

static int msg_json_base64(struct buf *out, const uint8_t *p, size_t n)
{
	int rc = buf_reserve(out, base64_encoded_len(n) + 2);
	if (rc)
		return rc;
	char *o = out->data + out->len;
	*o++ = '"';
	o = base64_encode(p, n, o);
	*o++ = '"';
	out->len = (size_t)(o - out->data);
	return 0;
}

int msg_json(struct buf *out, const struct msg *m)
{
	const struct hub_channel *ch = m->ch;
	int rc = buf_puts(out, "{\"op\":\"message\",\"channel\":");
	if (!rc)
		rc = msg_json_string(out, ch->name, ch->name_len);
	if (!rc)
		rc = buf_printf(out, ",\"id\":\"%s\"", m->id_str);
	if (!rc && m->event_len) {
		rc = buf_puts(out, ",\"event\":");
		if (!rc)
			rc = msg_json_string(out, m->event, m->event_len);
	}
	if (!rc)
		rc = buf_puts(out, ",\"data\":");
	if (!rc)
		rc = m->binary ? msg_json_base64(out, m->data, m->data_len)
		               : msg_json_string(out, (const char *)m->data, m->data_len);
	if (!rc)
		rc = buf_puts(out, m->binary ? ",\"binary\":true}" : "}");
	return rc;
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
