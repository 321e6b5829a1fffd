/*
 * fuzz_wsproto.c - libFuzzer target for the crier.v1 request parser and
 * the envelope encoders (src/ws/wsproto_msg.c).
 *
 * The input is parsed as one /ws text frame under four payload limits,
 * each from an exact-size heap copy. A success must satisfy the request
 * contract (1..64 distinct valid channels, a valid event, data within the
 * limit and NUL-terminated, a ref that is JSON of at most 64 bytes); a
 * publish is then sent back out through an envelope that jansson must
 * read to the same fields, and binary data must come back in through a
 * second publish byte for byte. A failure must carry a parser code, a
 * printable message and nothing but the ref, and its error envelope must
 * be valid JSON. A larger limit never turns a success into a failure.
 * Finally the raw input is cut into channel, id, event and data and
 * encoded as a text envelope (when the pieces are valid UTF-8) and as a
 * binary one; both must read back to the pieces.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "hub/msg_json.h"
#include "ws/wsproto_msg.h"

#define MSG_CAP 160

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wsproto: invariant failed: %s\n", what);
		abort();
	}
}

static bool name_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-",
		            s[i]) ||
		    s[i] == '\0')
			return false;
	}
	return true;
}

/* A ref is "" or the compact JSON text of an integer or a string. */
static void check_ref(const char *ref)
{
	const char *end = memchr(ref, '\0', WSPROTO_REF_MAX + 1);
	check(end != NULL, "ref longer than WSPROTO_REF_MAX");
	size_t n = (size_t)(end - ref);
	if (n == 0)
		return;
	json_error_t err;
	json_t *v = json_loadb(ref, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	check(v != NULL, "ref is not JSON");
	check(json_is_integer(v) || json_is_string(v), "ref is neither integer nor string");
	check(!json_is_string(v) || json_string_length(v) <= 56, "string ref over 56 bytes");
	json_decref(v);
}

/* Reads a message envelope back and checks each field. Returns the
 * document; *data is its data string. */
static json_t *read_envelope(const struct buf *b, const char *ch, size_t ch_len, const char *ev,
                             size_t ev_len, bool binary, json_t **data)
{
	json_error_t err;
	json_t *doc = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	check(doc != NULL, "envelope is not JSON");
	check(json_object_size(doc) == 4 + (ev_len > 0) + binary, "envelope key count");
	const char *op = json_string_value(json_object_get(doc, "op"));
	check(op != NULL && strcmp(op, "message") == 0, "envelope op");
	json_t *c = json_object_get(doc, "channel");
	check(json_string_length(c) == ch_len && memcmp(json_string_value(c), ch, ch_len) == 0,
	      "envelope channel");
	json_t *e = json_object_get(doc, "event");
	check(ev_len == 0 ? e == NULL
	                  : json_string_length(e) == ev_len &&
	                            memcmp(json_string_value(e), ev, ev_len) == 0,
	      "envelope event");
	check(binary ? json_is_true(json_object_get(doc, "binary"))
	             : json_object_get(doc, "binary") == NULL,
	      "envelope binary");
	*data = json_object_get(doc, "data");
	check(json_is_string(*data), "envelope data");
	return doc;
}

/* Feeds base64 from an envelope back through a publish request and checks
 * it decodes to want. */
static void decode_back(json_t *b64, const uint8_t *want, size_t want_len)
{
	struct buf req = {0};
	check(buf_puts(&req, "{\"op\":\"publish\",\"channel\":\"c\",\"binary\":true,\"data\":") ==
	                      0 &&
	              msg_json_string(&req, json_string_value(b64), json_string_length(b64)) == 0 &&
	              buf_puts(&req, "}") == 0,
	      "buf");
	struct wsproto_req r;
	enum wsproto_code code;
	check(wsproto_parse(req.data, req.len, UINT64_MAX, &r, &code, NULL, 0) == 0,
	      "envelope base64 does not parse back");
	check(r.data_len == want_len && (want_len == 0 || memcmp(r.data, want, want_len) == 0),
	      "base64 round trip");
	wsproto_req_free(&r);
	buf_free(&req);
}

/* Envelope of the given pieces, read back; text only when all are UTF-8. */
static void envelope_round_trip(const char *ch, size_t ch_len, const char *ev, size_t ev_len,
                                const uint8_t *data, size_t data_len, bool binary)
{
	struct buf b = {0};
	check(msg_json_fields(&b, ch, ch_len, "1-1", 3, ev, ev_len, data, data_len, binary) == 0,
	      "envelope");
	json_t *d;
	json_t *doc = read_envelope(&b, ch, ch_len, ev, ev_len, binary, &d);
	if (binary)
		decode_back(d, data, data_len);
	else
		check(json_string_length(d) == data_len &&
		              (data_len == 0 || memcmp(json_string_value(d), data, data_len) == 0),
		      "text round trip");
	json_decref(doc);
	buf_free(&b);
}

static void check_success(const struct wsproto_req *r, uint64_t max_data)
{
	check_ref(r->ref);
	check(r->owner != NULL, "no owner");
	switch (r->op) {
	case WSPROTO_SUBSCRIBE:
	case WSPROTO_UNSUBSCRIBE:
		check(r->n_channels >= 1 && r->n_channels <= WSPROTO_MAX_CHANNELS, "n_channels");
		for (size_t i = 0; i < r->n_channels; i++) {
			check(name_valid(r->channels[i], r->channel_lens[i], 128), "channel name");
			for (size_t j = 0; j < i; j++)
				check(r->channel_lens[i] != r->channel_lens[j] ||
				              memcmp(r->channels[i], r->channels[j],
				                     r->channel_lens[i]) != 0,
				      "repeated channel");
		}
		check(r->since_len <= 256 && (r->since || r->since_len == 0), "since");
		check(r->data == NULL && r->event == NULL, "subscribe with publish fields");
		break;
	case WSPROTO_PUBLISH:
		check(r->n_channels == 1 && name_valid(r->channels[0], r->channel_lens[0], 128),
		      "publish channel");
		check(r->event == NULL ? r->event_len == 0 : name_valid(r->event, r->event_len, 64),
		      "event");
		check(r->data != NULL && r->data_len <= max_data && r->data[r->data_len] == 0,
		      "publish data");
		check(r->binary || utf8_valid(r->data, r->data_len), "text data is not UTF-8");
		envelope_round_trip(r->channels[0], r->channel_lens[0], r->event, r->event_len,
		                    r->data, r->data_len, r->binary);
		break;
	case WSPROTO_PING:
		check(r->n_channels == 0 && r->data == NULL, "ping with fields");
		break;
	default:
		check(0, "op out of range");
	}
}

static void check_failure(const struct wsproto_req *r, enum wsproto_code code, const char *msg)
{
	check(code <= WSPROTO_E_TOO_LARGE || code == WSPROTO_E_INTERNAL, "code not a parser code");
	const char *end = memchr(msg, '\0', MSG_CAP);
	check(end != NULL && end > msg, "message empty or not terminated");
	size_t n = (size_t)(end - msg);
	for (size_t i = 0; i < n; i++)
		check(msg[i] >= 0x20 && msg[i] < 0x7F, "message not printable ASCII");
	check_ref(r->ref);
	check(r->owner == NULL && r->data == NULL && r->n_channels == 0, "failure left state");
	struct buf b = {0};
	check(wsproto_error(&b, r->ref, code, msg) == 0, "error envelope");
	json_error_t err;
	json_t *doc = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	check(doc != NULL, "error envelope is not JSON");
	check(json_object_size(doc) == 3 + (r->ref[0] != 0), "error envelope key count");
	json_decref(doc);
	buf_free(&b);
}

/* Cuts the input into four pieces by its first three bytes and encodes
 * them directly, as the hub would for a message from another transport. */
static void raw_envelope(const uint8_t *in, size_t len)
{
	if (len < 3)
		return;
	size_t ch_len = in[0] % 16, ev_len = in[1] % 16, id_skip = in[2] % 4;
	in += 3;
	len -= 3;
	if (ch_len + ev_len + id_skip > len)
		return;
	const char *ch = (const char *)in, *ev = (const char *)in + ch_len;
	const uint8_t *data = in + ch_len + ev_len + id_skip;
	size_t data_len = len - ch_len - ev_len - id_skip;
	if (!utf8_valid((const uint8_t *)ch, ch_len) || !utf8_valid((const uint8_t *)ev, ev_len))
		return;
	envelope_round_trip(ch, ch_len, ev, ev_len, data, data_len, true);
	if (utf8_valid(data, data_len))
		envelope_round_trip(ch, ch_len, ev, ev_len, data, data_len, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = {0, 3, 64, UINT64_MAX};
	char *copy = malloc(size ? size : 1);
	check(copy != NULL, "malloc");
	memcpy(copy, data, size);
	int prev_rc = -1;
	for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		struct wsproto_req r;
		enum wsproto_code code = WSPROTO_E_COUNT;
		char msg[MSG_CAP];
		memset(msg, 'x', sizeof(msg));
		int rc = wsproto_parse(copy, size, limits[k], &r, &code, msg, sizeof(msg));
		check(rc == 0 || rc == -1, "return value");
		check(prev_rc == -1 || rc == 0, "a larger limit rejected what a smaller one took");
		if (rc == 0)
			check_success(&r, limits[k]);
		else
			check_failure(&r, code, msg);
		check(rc == 0 || k + 1 < sizeof(limits) / sizeof(limits[0]) ||
		              code != WSPROTO_E_TOO_LARGE,
		      "too large without a limit");
		prev_rc = rc;
		wsproto_req_free(&r);
	}
	free(copy);
	raw_envelope(data, size);
	return 0;
}
