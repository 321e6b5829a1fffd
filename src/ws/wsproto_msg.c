/*
 * wsproto_msg.c - crier.v1 requests in, envelopes out (wsproto_msg.h).
 *
 * Owns the grammar of one /ws text frame and the JSON the server writes
 * back; it never touches a socket, the hub or a clock, so it depends on
 * jansson and core/ only and is fuzzed alone. Requests are parsed strictly
 * (duplicate keys, trailing bytes, invalid UTF-8 and unknown keys are all
 * errors) because a lenient parser turns a client's typo into a silent
 * no-op. The keys of the object are classified in one pass before anything
 * is checked, so that the ref can be lifted out first and every later
 * error, however early in the object it sits, still names its request.
 *
 * Error messages quote client text only as a sanitised ASCII excerpt: a
 * message must be valid UTF-8 for the error envelope and safe in a log
 * line, and a cut in the middle of a multi-byte character is neither.
 *
 * The encoders size their output first and reserve once, then write into
 * the buffer directly: the envelope is built once per published message
 * and shared by every subscriber, and a single reservation also means a
 * failed call leaves the buffer exactly as it was.
 */
#include "ws/wsproto_msg.h"

#include "hub/msg_json.h"

#include "core/base64.h"
#include "core/err.h"
#include "core/name.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WSPROTO_SINCE_MAX   256 /* longer than any id; the hub parses it */
#define WSPROTO_REF_STR_MAX 56  /* bytes in a string ref, before escaping */
#define WSPROTO_SHOW_MAX    32  /* bytes of client text quoted in a message */

#define NAME_RULE "(1-128 bytes of A-Z a-z 0-9 _ . : @ -)"

static_assert(WSPROTO_REF_STR_MAX + 2 <= WSPROTO_REF_MAX, "a plain string ref must fit");

static const char *const wsproto_code_names[WSPROTO_E_COUNT] = {
        [WSPROTO_E_BAD_JSON] = "bad_json",
        [WSPROTO_E_BAD_REQUEST] = "bad_request",
        [WSPROTO_E_UNKNOWN_OP] = "unknown_op",
        [WSPROTO_E_BAD_CHANNEL] = "bad_channel",
        [WSPROTO_E_BAD_EVENT] = "bad_event",
        [WSPROTO_E_BAD_DATA] = "bad_data",
        [WSPROTO_E_TOO_LARGE] = "too_large",
        [WSPROTO_E_CHANNEL_LIMIT] = "channel_limit",
        [WSPROTO_E_NOT_SUBSCRIBED] = "not_subscribed",
        [WSPROTO_E_ALREADY_SUBSCRIBED] = "already_subscribed",
        [WSPROTO_E_INTERNAL] = "internal",
        [WSPROTO_E_UNAUTHORIZED] = "unauthorized",
        [WSPROTO_E_FORBIDDEN] = "forbidden",
        [WSPROTO_E_TOO_MANY_CHANNELS] = "too_many_channels",
        [WSPROTO_E_RATE_LIMITED] = "rate_limited",
        [WSPROTO_E_UNAVAILABLE] = "unavailable",
};

const char *wsproto_code_name(enum wsproto_code c)
{
	if ((unsigned)c >= WSPROTO_E_COUNT)
		return "internal";
	return wsproto_code_names[c];
}

/* ---- request parsing ---- */

/* Every top-level key any op accepts; ops[] says which ones each takes. */
enum wsproto_field {
	F_OP,
	F_REF,
	F_CHANNELS,
	F_SINCE,
	F_CHANNEL,
	F_EVENT,
	F_DATA,
	F_BINARY,
	F_TOKEN,
	F_N
};

static const char *const wsproto_fields[F_N] = {
        [F_OP] = "op",       [F_REF] = "ref",         [F_CHANNELS] = "channels",
        [F_SINCE] = "since", [F_CHANNEL] = "channel", [F_EVENT] = "event",
        [F_DATA] = "data",   [F_BINARY] = "binary",   [F_TOKEN] = "token",
};

#define BIT(f) (1u << (f))

static const struct {
	const char *name;
	unsigned fields; /* BIT(F_*) of the keys this op accepts */
} wsproto_ops[] = {
        [WSPROTO_SUBSCRIBE] = {"subscribe",
                               BIT(F_OP) | BIT(F_REF) | BIT(F_CHANNELS) | BIT(F_SINCE)},
        [WSPROTO_UNSUBSCRIBE] = {"unsubscribe", BIT(F_OP) | BIT(F_REF) | BIT(F_CHANNELS)},
        [WSPROTO_PUBLISH] = {"publish", BIT(F_OP) | BIT(F_REF) | BIT(F_CHANNEL) | BIT(F_EVENT) |
                                                BIT(F_DATA) | BIT(F_BINARY)},
        [WSPROTO_PING] = {"ping", BIT(F_OP) | BIT(F_REF)},
        [WSPROTO_REFRESH] = {"refresh", BIT(F_OP) | BIT(F_REF) | BIT(F_TOKEN)},
};

/* One parse in progress: the caller's outputs and the classified keys. */
struct wsproto_parser {
	struct wsproto_req *req;
	uint64_t max_data;
	enum wsproto_code *code;
	char *msg;
	size_t msg_cap;
	json_t *val[F_N];    /* each known key's value, borrowed from the document */
	const char *unknown; /* the first key that is no field at all, or NULL */
	size_t unknown_len;
};

/*
 * Copies at most max characters of client text into dst (max + 4 bytes)
 * as plain ASCII: a control byte becomes '?', and so does each non-ASCII
 * character (its lead byte; continuation bytes are dropped), with "..."
 * when cut. The result is printable and valid UTF-8, whatever s holds.
 */
static const char *wsproto_show(char *dst, size_t max, const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c & 0xC0) == 0x80)
			continue;
		if (n == max) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		dst[n++] = c < 0x20 || c >= 0x7F ? '?' : (char)c;
	}
	dst[n] = '\0';
	return dst;
}

/* Records the error; every message format and argument is ASCII, so a
 * truncated message is still valid UTF-8. Returns -1 for the caller. */
__attribute__((format(printf, 3, 4))) static int
wsproto_fail(struct wsproto_parser *p, enum wsproto_code code, const char *fmt, ...)
{
	if (p->code)
		*p->code = code;
	if (p->msg && p->msg_cap > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->msg, p->msg_cap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Stores the ref as the JSON text the server will echo: an integer as
 * jansson read it, a string re-escaped by the envelopes' escaper
 * (msg_json_string). A string must be at most WSPROTO_REF_STR_MAX bytes and its escaped
 * form must still fit WSPROTO_REF_MAX (control characters take 6 bytes).
 */
static int wsproto_parse_ref(struct wsproto_parser *p, json_t *v)
{
	struct wsproto_req *req = p->req;
	if (json_is_integer(v)) {
		snprintf(req->ref, sizeof(req->ref), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
		return 0;
	}
	if (json_is_string(v)) {
		size_t len = json_string_length(v);
		struct buf b = {0};
		bool ok = len <= WSPROTO_REF_STR_MAX &&
		          msg_json_string(&b, json_string_value(v), len) == 0 &&
		          b.len <= WSPROTO_REF_MAX;
		if (ok) {
			memcpy(req->ref, b.data, b.len);
			req->ref[b.len] = '\0';
		}
		buf_free(&b);
		if (ok)
			return 0;
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST,
		                    "ref: a string ref is at most %d bytes", WSPROTO_REF_STR_MAX);
	}
	return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "ref: must be a string or an integer");
}

/* Sorts each key of the object into p->val, or remembers the first
 * unknown one. Keys are compared with their length: jansson keys are
 * counted strings. */
static void wsproto_classify(struct wsproto_parser *p, json_t *obj)
{
	const char *key;
	size_t key_len;
	json_t *v;
	json_object_keylen_foreach(obj, key, key_len, v)
	{
		size_t f = 0;
		while (f < F_N && !(strlen(wsproto_fields[f]) == key_len &&
		                    memcmp(wsproto_fields[f], key, key_len) == 0))
			f++;
		if (f < F_N) {
			p->val[f] = v;
		} else if (!p->unknown) {
			p->unknown = key;
			p->unknown_len = key_len;
		}
	}
}

/* Finds the op and rejects any key the op does not take. */
static int wsproto_parse_op(struct wsproto_parser *p)
{
	char show[WSPROTO_SHOW_MAX + 4];
	json_t *v = p->val[F_OP];
	if (!v)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "op: missing");
	if (!json_is_string(v))
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "op: must be a string");
	const char *name = json_string_value(v);
	size_t len = json_string_length(v);
	size_t op = 0;
	size_t n_ops = sizeof(wsproto_ops) / sizeof(wsproto_ops[0]);
	while (op < n_ops && !(strlen(wsproto_ops[op].name) == len &&
	                       memcmp(wsproto_ops[op].name, name, len) == 0))
		op++;
	if (op == n_ops)
		return wsproto_fail(
		        p, WSPROTO_E_UNKNOWN_OP,
		        "unknown op '%s' (subscribe, unsubscribe, publish, ping, refresh)",
		        wsproto_show(show, WSPROTO_SHOW_MAX, name, len));
	p->req->op = (enum wsproto_op)op;
	if (p->unknown)
		return wsproto_fail(
		        p, WSPROTO_E_BAD_REQUEST, "unknown key '%s'",
		        wsproto_show(show, WSPROTO_SHOW_MAX, p->unknown, p->unknown_len));
	for (size_t f = 0; f < F_N; f++) {
		if (p->val[f] && !(wsproto_ops[op].fields & BIT(f)))
			return wsproto_fail(p, WSPROTO_E_BAD_REQUEST,
			                    "key '%s' is not allowed in %s", wsproto_fields[f],
			                    wsproto_ops[op].name);
	}
	return 0;
}

/* Adds one channel name, dropping repeats. n_channels <= 64 keeps the
 * quadratic search cheap and avoids a hash table per request. */
static void wsproto_add_channel(struct wsproto_req *req, const char *name, size_t len)
{
	for (size_t i = 0; i < req->n_channels; i++) {
		if (req->channel_lens[i] == len && memcmp(req->channels[i], name, len) == 0)
			return;
	}
	req->channels[req->n_channels] = name;
	req->channel_lens[req->n_channels] = len;
	req->n_channels++;
}

/* "channels": 1..64 strings, each a channel name. */
static int wsproto_parse_channels(struct wsproto_parser *p)
{
	char show[WSPROTO_SHOW_MAX + 4];
	json_t *arr = p->val[F_CHANNELS];
	if (!arr)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "channels: missing");
	if (!json_is_array(arr))
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST,
		                    "channels: must be an array of strings");
	size_t n = json_array_size(arr);
	if (n == 0)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "channels: must not be empty");
	if (n > WSPROTO_MAX_CHANNELS)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "channels: at most %d per request",
		                    WSPROTO_MAX_CHANNELS);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_string(v))
			return wsproto_fail(p, WSPROTO_E_BAD_REQUEST,
			                    "channels: item %zu is not a string", i);
		const char *name = json_string_value(v);
		size_t len = json_string_length(v);
		if (!name_channel_valid(name, len))
			return wsproto_fail(p, WSPROTO_E_BAD_CHANNEL,
			                    "channels: '%s' is not a channel name " NAME_RULE,
			                    wsproto_show(show, WSPROTO_SHOW_MAX, name, len));
		wsproto_add_channel(p->req, name, len);
	}
	return 0;
}

/* An optional string field: 0 with *s NULL when absent. */
static int wsproto_string(struct wsproto_parser *p, enum wsproto_field f, const char **s,
                          size_t *len)
{
	json_t *v = p->val[f];
	*s = NULL;
	*len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "%s: must be a string",
		                    wsproto_fields[f]);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

static int wsproto_parse_subscribe(struct wsproto_parser *p)
{
	struct wsproto_req *req = p->req;
	if (wsproto_parse_channels(p) < 0 ||
	    wsproto_string(p, F_SINCE, &req->since, &req->since_len) < 0)
		return -1;
	if (req->since_len > WSPROTO_SINCE_MAX)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "since: longer than %d bytes",
		                    WSPROTO_SINCE_MAX);
	return 0;
}

/*
 * "data" into req->data: a copy of the text, or the decoded base64. The
 * size limit is checked before anything is allocated. The buffer gets one
 * spare NUL so text data is also a C string.
 */
static int wsproto_parse_data(struct wsproto_parser *p)
{
	struct wsproto_req *req = p->req;
	const char *s;
	size_t len;
	if (wsproto_string(p, F_DATA, &s, &len) < 0)
		return -1;
	if (!s)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "data: missing");
	size_t size = len;
	if (req->binary) {
		if (len % 4 != 0)
			return wsproto_fail(p, WSPROTO_E_BAD_DATA,
			                    "data: not base64 (length is not a multiple of 4)");
		size = len / 4 * 3;
		if (len > 0 && s[len - 1] == '=')
			size -= s[len - 2] == '=' ? 2 : 1;
	}
	if ((uint64_t)size > p->max_data)
		return wsproto_fail(p, WSPROTO_E_TOO_LARGE,
		                    "data: %zu bytes, over the limit of %llu", size,
		                    (unsigned long long)p->max_data);
	/* base64_decode wants room for whole groups, padding included. */
	req->data = malloc((req->binary ? len / 4 * 3 : len) + 1);
	if (!req->data)
		return wsproto_fail(p, WSPROTO_E_INTERNAL, "out of memory");
	if (!req->binary)
		memcpy(req->data, s, len);
	else if (base64_decode(s, len, req->data) != (int64_t)size)
		return wsproto_fail(p, WSPROTO_E_BAD_DATA, "data: not valid base64");
	req->data[size] = 0;
	req->data_len = size;
	return 0;
}

/* Channel, then event, then binary (which decides how data is read). */
static int wsproto_parse_publish(struct wsproto_parser *p)
{
	char show[WSPROTO_SHOW_MAX + 4];
	struct wsproto_req *req = p->req;
	const char *ch;
	size_t ch_len;
	if (wsproto_string(p, F_CHANNEL, &ch, &ch_len) < 0)
		return -1;
	if (!ch)
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "channel: missing");
	if (name_reserved(ch, ch_len))
		return wsproto_fail(p, WSPROTO_E_FORBIDDEN,
		                    "channel: '%s' is reserved for the server: subscribe only",
		                    wsproto_show(show, WSPROTO_SHOW_MAX, ch, ch_len));
	if (!name_valid(ch, ch_len, NAME_CHANNEL_MAX))
		return wsproto_fail(p, WSPROTO_E_BAD_CHANNEL,
		                    "channel: '%s' is not a channel name " NAME_RULE,
		                    wsproto_show(show, WSPROTO_SHOW_MAX, ch, ch_len));
	wsproto_add_channel(req, ch, ch_len);
	if (wsproto_string(p, F_EVENT, &req->event, &req->event_len) < 0)
		return -1;
	if (req->event && !name_valid(req->event, req->event_len, NAME_EVENT_MAX))
		return wsproto_fail(
		        p, WSPROTO_E_BAD_EVENT,
		        "event: '%s' is not an event name "
		        "(1-64 bytes of A-Z a-z 0-9 _ . : @ -)",
		        wsproto_show(show, WSPROTO_SHOW_MAX, req->event, req->event_len));
	json_t *bin = p->val[F_BINARY];
	if (bin && !json_is_boolean(bin))
		return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "binary: must be true or false");
	req->binary = bin && json_is_true(bin);
	return wsproto_parse_data(p);
}

/* The document is an object: ref, op, keys, then the op's own fields. */
static int wsproto_parse_object(struct wsproto_parser *p, json_t *obj)
{
	wsproto_classify(p, obj);
	if (p->val[F_REF] && wsproto_parse_ref(p, p->val[F_REF]) < 0)
		return -1;
	if (wsproto_parse_op(p) < 0)
		return -1;
	switch (p->req->op) {
	case WSPROTO_SUBSCRIBE:
		return wsproto_parse_subscribe(p);
	case WSPROTO_UNSUBSCRIBE:
		return wsproto_parse_channels(p);
	case WSPROTO_PUBLISH:
		return wsproto_parse_publish(p);
	case WSPROTO_PING:
		return 0;
	case WSPROTO_REFRESH:
		if (wsproto_string(p, F_TOKEN, &p->req->token, &p->req->token_len) < 0)
			return -1;
		if (!p->req->token || p->req->token_len == 0)
			return wsproto_fail(p, WSPROTO_E_BAD_REQUEST, "token: missing");
		return 0;
	}
	return wsproto_fail(p, WSPROTO_E_INTERNAL, "unreachable op");
}

int wsproto_parse(const char *json, size_t len, uint64_t max_data, struct wsproto_req *req,
                  enum wsproto_code *code, char *msg, size_t msg_cap)
{
	*req = (struct wsproto_req){0};
	struct wsproto_parser p = {
	        .req = req, .max_data = max_data, .code = code, .msg = msg, .msg_cap = msg_cap};
	if (msg && msg_cap > 0)
		msg[0] = '\0';
	/* Strings may hold U+0000 (JSON allows it in data); every string is
	 * read with its length, and names reject it by their alphabet. */
	json_error_t jerr;
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!doc) {
		/* jansson's text quotes the input near the error ("near '...'"). */
		char show[JSON_ERROR_TEXT_LENGTH + 4];
		return wsproto_fail(
		        &p, WSPROTO_E_BAD_JSON, "not valid JSON at byte %zu: %s",
		        (size_t)jerr.position,
		        wsproto_show(show, sizeof(show) - 4, jerr.text, strlen(jerr.text)));
	}
	int rc = json_is_object(doc)
	                 ? wsproto_parse_object(&p, doc)
	                 : wsproto_fail(&p, WSPROTO_E_BAD_JSON, "a request is a JSON object");
	if (rc < 0) {
		/* Nothing outlives a failure but the ref, which is a copy. */
		free(req->data);
		json_decref(doc);
		char ref[sizeof(req->ref)];
		memcpy(ref, req->ref, sizeof(ref));
		*req = (struct wsproto_req){0};
		memcpy(req->ref, ref, sizeof(ref));
		return -1;
	}
	req->owner = doc;
	return 0;
}

void wsproto_req_free(struct wsproto_req *req)
{
	free(req->data);
	json_decref(req->owner);
	*req = (struct wsproto_req){0};
}

/* ---- encoding ---- */

int wsproto_error(struct buf *out, const char *ref, enum wsproto_code code, const char *message)
{
	size_t len0 = out->len;
	int rc = buf_puts(out, "{\"op\":\"error\"");
	if (!rc && ref && *ref) {
		rc = buf_puts(out, ",\"ref\":");
		if (!rc)
			rc = buf_puts(out, ref); /* JSON text already (req->ref) */
	}
	if (!rc)
		rc = buf_printf(out, ",\"code\":\"%s\",\"message\":", wsproto_code_name(code));
	if (!rc)
		rc = msg_json_string(out, message, strlen(message));
	if (!rc)
		rc = buf_append(out, "}", 1);
	if (rc)
		out->len = len0; /* out unchanged */
	return rc;
}
