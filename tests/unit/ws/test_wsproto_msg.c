/*
 * test_wsproto_msg.c - unit tests for the crier.v1 request parser and the
 * envelopes the server writes.
 *
 * Every op is parsed with every field, and every way a request can be
 * wrong is checked for its exact code, for a message that names the field,
 * and for the ref being kept when the request had a usable one. The
 * encoders are checked byte for byte, then re-read with jansson: random
 * UTF-8 text (control characters included) and random binary must come
 * back unchanged, both out through an envelope and in through a publish.
 * Inputs are handed over as exact-size heap copies, so ASan catches a read
 * one byte past the caller's length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "hub/msg_json.h"
#include "ws/wsproto_msg.h"

#define MAX_DATA 1024
#define MSG_CAP  256

/* One parse result, the request freed or not by the caller. */
struct result {
	int rc;
	struct wsproto_req req;
	enum wsproto_code code;
	char msg[MSG_CAP];
};

/* Parses json[0..len) from an exact-size heap copy. */
static void parse_n(struct result *r, const char *json, size_t len, uint64_t max_data)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, json, len);
	memset(r, 0, sizeof(*r));
	r->code = WSPROTO_E_COUNT;
	r->rc = wsproto_parse(copy, len, max_data, &r->req, &r->code, r->msg, sizeof(r->msg));
	free(copy);
}

static void parse_ok(struct result *r, const char *json)
{
	parse_n(r, json, strlen(json), MAX_DATA);
	if (r->rc != 0)
		fail_msg("%s: %s %s", json, wsproto_code_name(r->code), r->msg);
}

/* Checks a failure: its code, that msg mentions `word`, that the message
 * is printable ASCII, that nothing but the ref survived, and that the
 * request can still be freed. Returns the ref for further checks. */
static void expect_fail_n(const char *json, size_t len, uint64_t max_data, enum wsproto_code code,
                          const char *word, const char *ref)
{
	struct result r;
	parse_n(&r, json, len, max_data);
	if (r.rc != -1 || r.code != code)
		fail_msg("%.*s: rc %d code %s (%s), want %s", (int)len, json, r.rc,
		         r.rc ? wsproto_code_name(r.code) : "-", r.msg, wsproto_code_name(code));
	if (word && !strstr(r.msg, word))
		fail_msg("%.*s: message '%s' does not name '%s'", (int)len, json, r.msg, word);
	assert_true(r.msg[0] != '\0');
	for (const char *m = r.msg; *m; m++)
		assert_true(*m >= 0x20 && *m < 0x7F);
	assert_string_equal(r.req.ref, ref);
	assert_null(r.req.owner);
	assert_null(r.req.data);
	assert_int_equal(r.req.n_channels, 0);
	wsproto_req_free(&r.req);
	wsproto_req_free(&r.req);
}

static void expect_fail(const char *json, enum wsproto_code code, const char *word)
{
	expect_fail_n(json, strlen(json), MAX_DATA, code, word, "");
}

static void assert_channel(const struct wsproto_req *req, size_t i, const char *name)
{
	assert_true(i < req->n_channels);
	assert_int_equal(req->channel_lens[i], strlen(name));
	assert_memory_equal(req->channels[i], name, strlen(name));
}

/* ---- requests ---- */

static void test_subscribe(void **state)
{
	(void)state;
	struct result r;
	parse_ok(&r,
	         "{\"op\":\"subscribe\",\"ref\":7,\"channels\":[\"a\",\"b.c\",\"a\",\"x@y:z-_\"],"
	         "\"since\":\"0000000a-5\"}");
	assert_int_equal(r.req.op, WSPROTO_SUBSCRIBE);
	assert_string_equal(r.req.ref, "7");
	assert_int_equal(r.req.n_channels, 3); /* the repeated "a" is dropped */
	assert_channel(&r.req, 0, "a");
	assert_channel(&r.req, 1, "b.c");
	assert_channel(&r.req, 2, "x@y:z-_");
	assert_int_equal(r.req.since_len, 10);
	assert_memory_equal(r.req.since, "0000000a-5", 10);
	assert_null(r.req.event);
	assert_null(r.req.data);
	assert_non_null(r.req.owner);
	wsproto_req_free(&r.req);
	assert_null(r.req.owner);
	wsproto_req_free(&r.req); /* a freed request is empty and may be freed again */

	parse_ok(&r, "{\"channels\":[\"only\"],\"op\":\"subscribe\"}");
	assert_int_equal(r.req.op, WSPROTO_SUBSCRIBE);
	assert_string_equal(r.req.ref, "");
	assert_int_equal(r.req.n_channels, 1);
	assert_channel(&r.req, 0, "only");
	assert_null(r.req.since);
	wsproto_req_free(&r.req);

	/* since is any text: the hub, not the parser, knows what an id is. */
	parse_ok(&r, "{\"op\":\"subscribe\",\"channels\":[\"a\"],\"since\":\"\"}");
	assert_non_null(r.req.since);
	assert_int_equal(r.req.since_len, 0);
	wsproto_req_free(&r.req);
}

static void test_unsubscribe(void **state)
{
	(void)state;
	struct result r;
	parse_ok(&r, "{\"op\":\"unsubscribe\",\"ref\":\"u1\",\"channels\":[\"b\",\"a\",\"b\"]}");
	assert_int_equal(r.req.op, WSPROTO_UNSUBSCRIBE);
	assert_string_equal(r.req.ref, "\"u1\"");
	assert_int_equal(r.req.n_channels, 2);
	assert_channel(&r.req, 0, "b");
	assert_channel(&r.req, 1, "a");
	wsproto_req_free(&r.req);
}

static void test_publish_text(void **state)
{
	(void)state;
	struct result r;
	parse_ok(&r, "{\"op\":\"publish\",\"ref\":-3,\"channel\":\"room:1\",\"event\":\"chat.msg\","
	             "\"data\":\"hi\\n\\u0000\\u00e9\xe2\x82\xac\",\"binary\":false}");
	assert_int_equal(r.req.op, WSPROTO_PUBLISH);
	assert_string_equal(r.req.ref, "-3");
	assert_int_equal(r.req.n_channels, 1);
	assert_channel(&r.req, 0, "room:1");
	assert_int_equal(r.req.event_len, 8);
	assert_memory_equal(r.req.event, "chat.msg", 8);
	assert_false(r.req.binary);
	static const uint8_t want[] = "hi\n\0\xc3\xa9\xe2\x82\xac";
	assert_int_equal(r.req.data_len, sizeof(want) - 1);
	assert_memory_equal(r.req.data, want, sizeof(want) - 1);
	assert_int_equal(r.req.data[r.req.data_len], 0); /* text is also a C string */
	wsproto_req_free(&r.req);

	parse_ok(&r, "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"\"}");
	assert_null(r.req.event);
	assert_int_equal(r.req.event_len, 0);
	assert_non_null(r.req.data);
	assert_int_equal(r.req.data_len, 0);
	wsproto_req_free(&r.req);
}

static void test_publish_binary(void **state)
{
	(void)state;
	static const struct {
		const char *b64;
		const char *bytes;
		size_t len;
	} cases[] = {
	        {"", "", 0},
	        {"AA==", "\0", 1},
	        {"/w==", "\xff", 1},
	        {"AAE=", "\0\x01", 2},
	        {"AAEC", "\0\x01\x02", 3},
	        {"AAEC/w==", "\0\x01\x02\xff", 4},
	        {"aGVsbG8gd29ybGQ=", "hello world", 11},
	        {"+/+/", "\xfb\xff\xbf", 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[128];
		snprintf(json, sizeof(json),
		         "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"%s\",\"binary\":true}",
		         cases[i].b64);
		struct result r;
		parse_ok(&r, json);
		assert_true(r.req.binary);
		assert_int_equal(r.req.data_len, cases[i].len);
		assert_memory_equal(r.req.data, cases[i].bytes, cases[i].len);
		wsproto_req_free(&r.req);
	}
}

static void test_ping(void **state)
{
	(void)state;
	struct result r;
	parse_ok(&r, "{\"op\":\"ping\"}");
	assert_int_equal(r.req.op, WSPROTO_PING);
	assert_string_equal(r.req.ref, "");
	assert_int_equal(r.req.n_channels, 0);
	wsproto_req_free(&r.req);
	parse_ok(&r, " {\"ref\":\"abc\" , \"op\" : \"ping\"}\n");
	assert_string_equal(r.req.ref, "\"abc\"");
	wsproto_req_free(&r.req);
}

/* A ref is stored as the JSON text the server echoes. */
static void test_ref_forms(void **state)
{
	(void)state;
	static const struct {
		const char *ref, *text;
	} ok[] = {
	        {"0", "0"},
	        {"-0", "0"},
	        {"42", "42"},
	        {"-9223372036854775808", "-9223372036854775808"},
	        {"9223372036854775807", "9223372036854775807"},
	        {"\"\"", "\"\""},
	        {"\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
	        {"\"\\/\\u0041\"", "\"/A\""},
	        {"\"tab\\there\"", "\"tab\\there\""},
	        {"\"\\u0001\"", "\"\\u0001\""},
	        {"\"a\\u0000b\"", "\"a\\u0000b\""},
	        {"\"\xc3\xa9\"", "\"\xc3\xa9\""},
	        {"\"12345678901234567890123456789012345678901234567890123456\"",
	         "\"12345678901234567890123456789012345678901234567890123456\""},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char json[160];
		snprintf(json, sizeof(json), "{\"op\":\"ping\",\"ref\":%s}", ok[i].ref);
		struct result r;
		parse_ok(&r, json);
		assert_string_equal(r.req.ref, ok[i].text);
		wsproto_req_free(&r.req);
	}
	static const char *const bad[] = {
	        "1.5",
	        "1e3",
	        "7.0",
	        "true",
	        "null",
	        "[1]",
	        "{\"a\":1}",
	        /* 57 bytes of content */
	        "\"123456789012345678901234567890123456789012345678901234567\"",
	        /* short, but 11 control characters escape to 66 bytes */
	        "\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[160];
		snprintf(json, sizeof(json), "{\"op\":\"ping\",\"ref\":%s}", bad[i]);
		expect_fail(json, WSPROTO_E_BAD_REQUEST, "ref");
	}
	/* A ref whose escaped form is exactly WSPROTO_REF_MAX bytes still fits. */
	struct result r;
	parse_ok(&r, "{\"op\":\"ping\",\"ref\":\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001"
	             "\\u0001\\u0001\\u0001\\u0001ab\"}");
	assert_int_equal(strlen(r.req.ref), WSPROTO_REF_MAX);
	wsproto_req_free(&r.req);
}

/* The ref is lifted first, so it names the request even when the broken
 * field comes before it in the object. */
static void test_ref_kept_on_error(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		enum wsproto_code code;
		const char *ref;
	} cases[] = {
	        {"{\"channels\":[\"a b\"],\"op\":\"subscribe\",\"ref\":\"x\"}",
	         WSPROTO_E_BAD_CHANNEL, "\"x\""},
	        {"{\"op\":\"nope\",\"ref\":9}", WSPROTO_E_UNKNOWN_OP, "9"},
	        {"{\"zzz\":1,\"op\":\"ping\",\"ref\":9}", WSPROTO_E_BAD_REQUEST, "9"},
	        {"{\"ref\":9}", WSPROTO_E_BAD_REQUEST, "9"},
	        {"{\"ref\":\"r\",\"op\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"event\":"
	         "\"\"}",
	         WSPROTO_E_BAD_EVENT, "\"r\""},
	        {"{\"ref\":1,\"op\":\"publish\",\"channel\":\"c\",\"data\":\"%\",\"binary\":true}",
	         WSPROTO_E_BAD_DATA, "1"},
	        {"{\"ref\":1,\"op\":\"publish\",\"channel\":\"c\",\"data\":\"xx\"}",
	         WSPROTO_E_TOO_LARGE, "1"},
	        {"{\"ref\":[1],\"op\":\"nope\"}", WSPROTO_E_BAD_REQUEST, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fail_n(cases[i].json, strlen(cases[i].json), 1, cases[i].code, NULL,
		              cases[i].ref);
}

static void test_bad_json(void **state)
{
	(void)state;
	static const char *const cases[] = {
	        "",
	        " ",
	        "{",
	        "}",
	        "{} x",
	        "{}{}",
	        "[]",
	        "[{\"op\":\"ping\"}]",
	        "\"ping\"",
	        "7",
	        "null",
	        "true",
	        "{'op':'ping'}",
	        "{op:\"ping\"}",
	        "{\"op\":\"ping\",}",
	        "{\"op\":\"ping\",\"op\":\"ping\"}",
	        "{\"op\":\"ping\",\"ref\":1,\"ref\":2}",
	        "{\"op\":\"ping\",\"ref\":\"\xff\"}",
	        "{\"op\":\"ping\",\"ref\":\"\xc3\"}",
	        "{\"op\":\"ping\",\"ref\":\"\xed\xa0\x80\"}", /* an encoded surrogate */
	        "{\"op\":\"ping\",\"ref\":\"\\ud800\"}",      /* a lone escaped surrogate */
	        "{\"op\":\"ping\",\"ref\":\"a\nb\"}",         /* raw control character */
	        "{\"op\":\"ping\",\"ref\":99999999999999999999}",
	        "{\"op\":\"ping\",\"ref\":01}",
	        "\xef\xbb\xbf{\"op\":\"ping\"}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fail(cases[i], WSPROTO_E_BAD_JSON, NULL);
	/* A NUL byte in the frame, inside or after the object. */
	expect_fail_n("{\"op\":\"ping\"}\0", 14, MAX_DATA, WSPROTO_E_BAD_JSON, NULL, "");
	expect_fail_n("{\"op\":\"p\0ng\"}", 13, MAX_DATA, WSPROTO_E_BAD_JSON, NULL, "");
	/* The key of a NUL: jansson refuses it, so keys never hide one. */
	expect_fail("{\"op\\u0000x\":\"ping\"}", WSPROTO_E_BAD_JSON, NULL);
	/* len, not a terminator, ends the input. */
	struct result r;
	parse_n(&r, "{\"op\":\"ping\"}garbage", 13, MAX_DATA);
	assert_int_equal(r.rc, 0);
	wsproto_req_free(&r.req);
}

static void test_op_errors(void **state)
{
	(void)state;
	expect_fail("{}", WSPROTO_E_BAD_REQUEST, "op");
	expect_fail("{\"channels\":[\"a\"]}", WSPROTO_E_BAD_REQUEST, "op");
	expect_fail("{\"op\":1}", WSPROTO_E_BAD_REQUEST, "op");
	expect_fail("{\"op\":null}", WSPROTO_E_BAD_REQUEST, "op");
	expect_fail("{\"op\":[\"ping\"]}", WSPROTO_E_BAD_REQUEST, "op");
	expect_fail("{\"op\":\"Ping\"}", WSPROTO_E_UNKNOWN_OP, "'Ping'");
	expect_fail("{\"op\":\"\"}", WSPROTO_E_UNKNOWN_OP, "''");
	expect_fail("{\"op\":\"ping \"}", WSPROTO_E_UNKNOWN_OP, NULL);
	expect_fail("{\"op\":\"ping\\u0000\"}", WSPROTO_E_UNKNOWN_OP, NULL);
	expect_fail("{\"op\":\"message\"}", WSPROTO_E_UNKNOWN_OP, "message");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_fail("{\"op\":\"ping\",\"x\":1}", WSPROTO_E_BAD_REQUEST, "'x'");
	expect_fail("{\"op\":\"ping\",\"Op\":1}", WSPROTO_E_BAD_REQUEST, "'Op'");
	expect_fail("{\"op\":\"ping\",\"\":1}", WSPROTO_E_BAD_REQUEST, "''");
	expect_fail("{\"op\":\"ping\",\"channel\":\"a\"}", WSPROTO_E_BAD_REQUEST, "'channel'");
	expect_fail("{\"op\":\"unsubscribe\",\"channels\":[\"a\"],\"since\":\"1\"}",
	            WSPROTO_E_BAD_REQUEST, "'since'");
	expect_fail("{\"op\":\"subscribe\",\"channels\":[\"a\"],\"data\":\"1\"}",
	            WSPROTO_E_BAD_REQUEST, "'data'");
	expect_fail("{\"op\":\"publish\",\"channels\":[\"a\"],\"channel\":\"a\",\"data\":\"\"}",
	            WSPROTO_E_BAD_REQUEST, "'channels'");
	/* The first unknown key is named, cut and made printable. */
	expect_fail("{\"op\":\"ping\",\"k\\n\\u00e9\":1,\"y\":2}", WSPROTO_E_BAD_REQUEST,
	            "'k?"
	            "?'");
	expect_fail("{\"op\":\"ping\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}",
	            WSPROTO_E_BAD_REQUEST, "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
}

static void test_wrong_types(void **state)
{
	(void)state;
	static const struct {
		const char *json, *field;
	} cases[] = {
	        {"{\"op\":\"subscribe\"}", "channels"},
	        {"{\"op\":\"subscribe\",\"channels\":\"a\"}", "channels"},
	        {"{\"op\":\"subscribe\",\"channels\":{\"a\":1}}", "channels"},
	        {"{\"op\":\"subscribe\",\"channels\":null}", "channels"},
	        {"{\"op\":\"subscribe\",\"channels\":[\"a\",1]}", "channels: item 1"},
	        {"{\"op\":\"subscribe\",\"channels\":[[\"a\"]]}", "channels: item 0"},
	        {"{\"op\":\"subscribe\",\"channels\":[\"a\"],\"since\":5}", "since"},
	        {"{\"op\":\"subscribe\",\"channels\":[\"a\"],\"since\":null}", "since"},
	        {"{\"op\":\"unsubscribe\"}", "channels"},
	        {"{\"op\":\"unsubscribe\",\"channels\":[null]}", "channels"},
	        {"{\"op\":\"publish\",\"data\":\"x\"}", "channel"},
	        {"{\"op\":\"publish\",\"channel\":5,\"data\":\"x\"}", "channel"},
	        {"{\"op\":\"publish\",\"channel\":[\"c\"],\"data\":\"x\"}", "channel"},
	        {"{\"op\":\"publish\",\"channel\":\"c\"}", "data"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":5}", "data"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":null}", "data"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":{\"x\":1}}", "data"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"event\":5}", "event"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"binary\":1}", "binary"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"binary\":\"true\"}",
	         "binary"},
	        {"{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"x\",\"binary\":null}", "binary"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fail(cases[i].json, WSPROTO_E_BAD_REQUEST, cases[i].field);
}

/* Builds {"op":"subscribe","channels":["c0",...]} with n names, each
 * "c<i % distinct>". */
static char *channels_json(size_t n, size_t distinct)
{
	struct buf b = {0};
	assert_int_equal(buf_puts(&b, "{\"op\":\"subscribe\",\"channels\":["), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "%s\"c%zu\"", i ? "," : "", i % distinct), 0);
	assert_int_equal(buf_append(&b, "]}", 3), 0);
	return b.data;
}

static void test_channel_count(void **state)
{
	(void)state;
	expect_fail("{\"op\":\"subscribe\",\"channels\":[]}", WSPROTO_E_BAD_REQUEST, "empty");
	expect_fail("{\"op\":\"unsubscribe\",\"channels\":[]}", WSPROTO_E_BAD_REQUEST, "empty");

	char *json = channels_json(64, 64);
	struct result r;
	parse_ok(&r, json);
	assert_int_equal(r.req.n_channels, 64);
	assert_channel(&r.req, 63, "c63");
	wsproto_req_free(&r.req);
	free(json);

	json = channels_json(64, 1);
	parse_ok(&r, json);
	assert_int_equal(r.req.n_channels, 1);
	wsproto_req_free(&r.req);
	free(json);

	/* The array is bounded as sent, before repeats are dropped. */
	json = channels_json(65, 65);
	expect_fail(json, WSPROTO_E_BAD_REQUEST, "64");
	free(json);
	json = channels_json(65, 2);
	expect_fail(json, WSPROTO_E_BAD_REQUEST, "64");
	free(json);
}

static void test_channel_names(void **state)
{
	(void)state;
	char name[200], json[300];
	memset(name, 'x', 128);
	name[128] = '\0';
	snprintf(json, sizeof(json), "{\"op\":\"subscribe\",\"channels\":[\"%s\"]}", name);
	struct result r;
	parse_ok(&r, json);
	assert_int_equal(r.req.channel_lens[0], 128);
	wsproto_req_free(&r.req);
	snprintf(json, sizeof(json), "{\"op\":\"publish\",\"channel\":\"%s\",\"data\":\"\"}", name);
	parse_ok(&r, json);
	wsproto_req_free(&r.req);

	parse_ok(&r, "{\"op\":\"subscribe\",\"channels\":[\"azAZ09_.:@-\"]}");
	wsproto_req_free(&r.req);

	name[128] = 'x';
	name[129] = '\0';
	snprintf(json, sizeof(json), "{\"op\":\"subscribe\",\"channels\":[\"%s\"]}", name);
	expect_fail(json, WSPROTO_E_BAD_CHANNEL, "channels: 'xxxx");
	snprintf(json, sizeof(json), "{\"op\":\"publish\",\"channel\":\"%s\",\"data\":\"\"}", name);
	expect_fail(json, WSPROTO_E_BAD_CHANNEL, "channel: 'xxxx");

	static const char *const bad[] = {
	        "", "a b", "a/b", "a#", "\xc3\xa9", "a\\u0000", "a\\n", "a*", "a,b", "~",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"op\":\"subscribe\",\"channels\":[\"ok\",\"%s\"]}",
		         bad[i]);
		expect_fail(json, WSPROTO_E_BAD_CHANNEL, "is not a channel name");
		snprintf(json, sizeof(json), "{\"op\":\"unsubscribe\",\"channels\":[\"%s\"]}",
		         bad[i]);
		expect_fail(json, WSPROTO_E_BAD_CHANNEL, "is not a channel name");
		snprintf(json, sizeof(json),
		         "{\"op\":\"publish\",\"channel\":\"%s\",\"data\":\"\"}", bad[i]);
		expect_fail(json, WSPROTO_E_BAD_CHANNEL, "is not a channel name");
	}
	expect_fail("{\"op\":\"subscribe\",\"channels\":[\"a b\"]}", WSPROTO_E_BAD_CHANNEL,
	            "channels: 'a b' is not a channel name (1-128 bytes of A-Z a-z 0-9 _ . : @ -)");
}

static void test_bad_event(void **state)
{
	(void)state;
	char ev[80], json[200];
	memset(ev, 'e', 64);
	ev[64] = '\0';
	snprintf(json, sizeof(json),
	         "{\"op\":\"publish\",\"channel\":\"c\",\"event\":\"%s\",\"data\":\"\"}", ev);
	struct result r;
	parse_ok(&r, json);
	assert_int_equal(r.req.event_len, 64);
	wsproto_req_free(&r.req);

	ev[64] = 'e';
	ev[65] = '\0';
	snprintf(json, sizeof(json),
	         "{\"op\":\"publish\",\"channel\":\"c\",\"event\":\"%s\",\"data\":\"\"}", ev);
	expect_fail(json, WSPROTO_E_BAD_EVENT, "event");
	static const char *const bad[] = {"", "a b", "a/b", "\xc3\xa9", "a\\t"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"op\":\"publish\",\"channel\":\"c\",\"event\":\"%s\",\"data\":\"\"}",
		         bad[i]);
		expect_fail(json, WSPROTO_E_BAD_EVENT, "is not an event name");
	}
}

static void test_bad_base64(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "A",    "AA",       "AAA",        "AAAAA",    "A===",     "====",   "AA=A",
	        "=AAA", "AA==AAAA", "AAA=AAAA",   "AB==",     "AAB=",     "AA AA=", "AAAA\\n",
	        "AA-_", "AA.=",     "\\u00e9AA=", "AAAA====", "AAAAAA=A",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[200];
		snprintf(json, sizeof(json),
		         "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"%s\",\"binary\":true}",
		         bad[i]);
		expect_fail(json, WSPROTO_E_BAD_DATA, "base64");
	}
}

static void test_too_large(void **state)
{
	(void)state;
	struct result r;
	const char *text = "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"abcd\"}";
	const char *bin =
	        "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"AAECAw==\",\"binary\":true}";
	parse_n(&r, text, strlen(text), 4);
	assert_int_equal(r.rc, 0);
	wsproto_req_free(&r.req);
	expect_fail_n(text, strlen(text), 3, WSPROTO_E_TOO_LARGE, "4 bytes", "");
	/* The limit is on decoded bytes, not on the base64 text (8 bytes). */
	parse_n(&r, bin, strlen(bin), 4);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.req.data_len, 4);
	wsproto_req_free(&r.req);
	expect_fail_n(bin, strlen(bin), 3, WSPROTO_E_TOO_LARGE, "4 bytes", "");
	/* Escapes count as the bytes they decode to. */
	const char *esc = "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"\\u00e9\\n\"}";
	parse_n(&r, esc, strlen(esc), 3);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.req.data_len, 3);
	wsproto_req_free(&r.req);
	expect_fail_n(esc, strlen(esc), 2, WSPROTO_E_TOO_LARGE, NULL, "");
	/* max_data 0 still takes an empty payload. */
	const char *empty = "{\"op\":\"publish\",\"channel\":\"c\",\"data\":\"\",\"binary\":true}";
	parse_n(&r, empty, strlen(empty), 0);
	assert_int_equal(r.rc, 0);
	wsproto_req_free(&r.req);
}

/* A small or missing message buffer is never overrun. */
static void test_msg_capacity(void **state)
{
	(void)state;
	const char *json = "{\"op\":\"nope\"}";
	struct wsproto_req req;
	enum wsproto_code code;
	char msg[8];
	memset(msg, 'z', sizeof(msg));
	assert_int_equal(wsproto_parse(json, strlen(json), 10, &req, &code, msg, 1), -1);
	assert_int_equal(msg[0], '\0');
	assert_int_equal(msg[1], 'z');
	assert_int_equal(wsproto_parse(json, strlen(json), 10, &req, &code, msg, 6), -1);
	assert_string_equal(msg, "unkno");
	assert_int_equal(msg[6], 'z');
	assert_int_equal(wsproto_parse(json, strlen(json), 10, &req, &code, NULL, 0), -1);
	assert_int_equal(code, WSPROTO_E_UNKNOWN_OP);
	wsproto_req_free(&req);
}

/* ---- encoders ---- */

static void test_code_names(void **state)
{
	(void)state;
	static const char *const names[WSPROTO_E_COUNT] = {
	        "bad_json",       "bad_request",        "unknown_op",   "bad_channel",
	        "bad_event",      "bad_data",           "too_large",    "channel_limit",
	        "not_subscribed", "already_subscribed", "internal",     "unauthorized",
	        "forbidden",      "too_many_channels",  "rate_limited", "unavailable",
	};
	for (int c = 0; c < WSPROTO_E_COUNT; c++)
		assert_string_equal(wsproto_code_name((enum wsproto_code)c), names[c]);
	assert_string_equal(wsproto_code_name(WSPROTO_E_COUNT), "internal");
	assert_string_equal(wsproto_code_name((enum wsproto_code) - 1), "internal");
}

static void test_refresh(void **state)
{
	(void)state;
	struct wsproto_req r;
	enum wsproto_code code;
	char why[256];
	const char ok[] = "{\"op\":\"refresh\",\"ref\":3,\"token\":\"a.b.c\"}";
	assert_int_equal(wsproto_parse(ok, sizeof(ok) - 1, 1024, &r, &code, why, sizeof(why)), 0);
	assert_int_equal(r.op, WSPROTO_REFRESH);
	assert_string_equal(r.ref, "3");
	assert_int_equal(r.token_len, 5);
	assert_memory_equal(r.token, "a.b.c", 5);
	wsproto_req_free(&r);
	const char *bad[] = {
	        "{\"op\":\"refresh\"}",
	        "{\"op\":\"refresh\",\"token\":\"\"}",
	        "{\"op\":\"refresh\",\"token\":7}",
	        "{\"op\":\"refresh\",\"token\":\"x\",\"channel\":\"a\"}",
	        "{\"op\":\"ping\",\"token\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(
		        wsproto_parse(bad[i], strlen(bad[i]), 1024, &r, &code, why, sizeof(why)),
		        0);
		assert_int_equal(code, WSPROTO_E_BAD_REQUEST);
		wsproto_req_free(&r);
	}
}

static void check_string(const char *in, size_t len, const char *want)
{
	struct buf b = {0};
	assert_int_equal(buf_puts(&b, "pre"), 0); /* appends, never overwrites */
	assert_int_equal(msg_json_string(&b, in, len), 0);
	assert_int_equal(b.len, 3 + strlen(want));
	assert_memory_equal(b.data, "pre", 3);
	assert_memory_equal(b.data + 3, want, strlen(want));
	buf_free(&b);
}

static void test_json_string(void **state)
{
	(void)state;
	check_string("", 0, "\"\"");
	check_string(NULL, 0, "\"\"");
	check_string("plain text", 10, "\"plain text\"");
	check_string("\"\\/", 3, "\"\\\"\\\\/\"");
	check_string("\b\t\n\f\r", 5, "\"\\b\\t\\n\\f\\r\"");
	check_string("\0\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\x7f\"");
	check_string("\x0b\x1a", 2, "\"\\u000b\\u001a\"");
	check_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
	             "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	check_string("a\nb\"c", 5, "\"a\\nb\\\"c\"");
	/* Every control character, checked against jansson's own reading. */
	for (int c = 0; c < 0x20; c++) {
		char in[3] = {'x', (char)c, 'y'};
		struct buf b = {0};
		assert_int_equal(msg_json_string(&b, in, 3), 0);
		json_error_t err;
		json_t *s = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		assert_non_null(s);
		assert_int_equal(json_string_length(s), 3);
		assert_memory_equal(json_string_value(s), in, 3);
		json_decref(s);
		buf_free(&b);
	}
}

static void expect_buf(struct buf *b, const char *want)
{
	assert_int_equal(b->len, strlen(want));
	assert_memory_equal(b->data, want, b->len);
	b->len = 0;
}

static void test_envelope_bytes(void **state)
{
	(void)state;
	struct buf b = {0};
	assert_int_equal(msg_json_fields(&b, "c", 1, "0000000a-5", 10, "ev", 2,
	                                 (const uint8_t *)"hi \"x\"\n", 7, false),
	                 0);
	expect_buf(&b,
	           "{\"op\":\"message\",\"channel\":\"c\",\"id\":\"0000000a-5\",\"event\":\"ev\","
	           "\"data\":\"hi \\\"x\\\"\\n\"}");
	assert_int_equal(msg_json_fields(&b, "c", 1, "1-1", 3, NULL, 0, NULL, 0, false), 0);
	expect_buf(&b, "{\"op\":\"message\",\"channel\":\"c\",\"id\":\"1-1\",\"data\":\"\"}");
	assert_int_equal(msg_json_fields(&b, "room:1", 6, "1-2", 3, "e", 1,
	                                 (const uint8_t *)"\0\x01\x02\xff", 4, true),
	                 0);
	expect_buf(&b, "{\"op\":\"message\",\"channel\":\"room:1\",\"id\":\"1-2\",\"event\":\"e\","
	               "\"data\":\"AAEC/w==\",\"binary\":true}");
	static const char *const b64[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"}; /* RFC 4648 §10 */
	for (size_t n = 0; n <= 6; n++) {
		char want[128];
		snprintf(want, sizeof(want),
		         "{\"op\":\"message\",\"channel\":\"c\",\"id\":\"i\",\"data\":\"%s\","
		         "\"binary\":true}",
		         b64[n]);
		assert_int_equal(msg_json_fields(&b, "c", 1, "i", 1, NULL, 0,
		                                 (const uint8_t *)"foobar", n, true),
		                 0);
		expect_buf(&b, want);
	}
	buf_free(&b);
}

static void test_error_bytes(void **state)
{
	(void)state;
	struct buf b = {0};
	assert_int_equal(wsproto_error(&b, "7", WSPROTO_E_BAD_CHANNEL, "channels: 'a b' is bad"),
	                 0);
	expect_buf(&b, "{\"op\":\"error\",\"ref\":7,\"code\":\"bad_channel\","
	               "\"message\":\"channels: 'a b' is bad\"}");
	assert_int_equal(wsproto_error(&b, "", WSPROTO_E_BAD_JSON, "say \"hi\"\n"), 0);
	expect_buf(&b,
	           "{\"op\":\"error\",\"code\":\"bad_json\",\"message\":\"say \\\"hi\\\"\\n\"}");
	assert_int_equal(wsproto_error(&b, "\"r\\\"1\"", WSPROTO_E_INTERNAL, ""), 0);
	expect_buf(&b,
	           "{\"op\":\"error\",\"ref\":\"r\\\"1\",\"code\":\"internal\",\"message\":\"\"}");
	assert_int_equal(wsproto_error(&b, NULL, WSPROTO_E_TOO_LARGE, "m"), 0);
	expect_buf(&b, "{\"op\":\"error\",\"code\":\"too_large\",\"message\":\"m\"}");
	buf_free(&b);
}

/* A parse failure turned into an error envelope is valid JSON whose ref
 * and message are what the parser said. */
static void test_error_from_parse(void **state)
{
	(void)state;
	static const char *const cases[] = {
	        "{\"op\":\"ping\",\"ref\":\"q\\\"\\u0001\",\"\\u00e9\\n\":1}",
	        "{\"ref\":-12,\"op\":\"publish\",\"channel\":\"\\u0007\",\"data\":\"\"}",
	        "{\"op\":\"ping\",\"ref\":\"\xff\"}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r;
		parse_n(&r, cases[i], strlen(cases[i]), MAX_DATA);
		assert_int_equal(r.rc, -1);
		struct buf b = {0};
		assert_int_equal(wsproto_error(&b, r.req.ref, r.code, r.msg), 0);
		json_error_t err;
		json_t *doc = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &err);
		if (!doc)
			fail_msg("%.*s: %s", (int)b.len, b.data, err.text);
		assert_string_equal(json_string_value(json_object_get(doc, "op")), "error");
		assert_string_equal(json_string_value(json_object_get(doc, "code")),
		                    wsproto_code_name(r.code));
		assert_string_equal(json_string_value(json_object_get(doc, "message")), r.msg);
		json_t *ref = json_object_get(doc, "ref");
		if (r.req.ref[0]) {
			json_t *back = json_loads(r.req.ref, JSON_DECODE_ANY, &err);
			assert_true(json_equal(ref, back));
			json_decref(back);
		} else {
			assert_null(ref);
		}
		json_decref(doc);
		buf_free(&b);
		wsproto_req_free(&r.req);
	}
}

/* ---- round trips ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Appends the UTF-8 form of one random code point, weighted towards the
 * characters that need escaping and towards each encoding length. */
static size_t random_char(uint8_t *p)
{
	uint32_t cp;
	switch (rng() % 6) {
	case 0:
		cp = rng() % 0x20;
		break;
	case 1:
		cp = (uint8_t) "\"\\/\x7f"[rng() % 4];
		break;
	case 2:
		cp = 0x20 + rng() % 0x60;
		break;
	case 3:
		cp = 0x80 + rng() % 0x780;
		break;
	case 4:
		cp = 0x800 + rng() % 0xF800;
		if (cp >= 0xD800 && cp <= 0xDFFF)
			cp -= 0x800;
		break;
	default:
		cp = 0x10000 + rng() % 0x100000;
		break;
	}
	if (cp < 0x80) {
		p[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (uint8_t)(0xC0 | cp >> 6);
		p[1] = (uint8_t)(0x80 | (cp & 63));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (uint8_t)(0xE0 | cp >> 12);
		p[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
		p[2] = (uint8_t)(0x80 | (cp & 63));
		return 3;
	}
	p[0] = (uint8_t)(0xF0 | cp >> 18);
	p[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
	p[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
	p[3] = (uint8_t)(0x80 | (cp & 63));
	return 4;
}

/* Reads an envelope back with jansson and returns its data string. */
static json_t *envelope_data(const struct buf *b, json_t **doc, bool binary)
{
	json_error_t err;
	*doc = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!*doc)
		fail_msg("envelope does not parse: %s", err.text);
	assert_int_equal(json_object_size(*doc), binary ? 6 : 5);
	assert_string_equal(json_string_value(json_object_get(*doc, "op")), "message");
	assert_string_equal(json_string_value(json_object_get(*doc, "channel")), "ch");
	assert_string_equal(json_string_value(json_object_get(*doc, "id")), "1-1");
	assert_string_equal(json_string_value(json_object_get(*doc, "event")), "ev");
	assert_true(!binary || json_is_true(json_object_get(*doc, "binary")));
	json_t *data = json_object_get(*doc, "data");
	assert_true(json_is_string(data));
	return data;
}

/* Publishes `data` (already a JSON string literal) and checks the
 * decoded payload is `want`. */
static void publish_back(const char *lit, size_t lit_len, bool binary, const uint8_t *want,
                         size_t want_len)
{
	struct buf req = {0};
	assert_int_equal(buf_puts(&req, "{\"op\":\"publish\",\"channel\":\"ch\",\"data\":"), 0);
	assert_int_equal(buf_append(&req, lit, lit_len), 0);
	assert_int_equal(buf_puts(&req, binary ? ",\"binary\":true}" : "}"), 0);
	struct result r;
	parse_n(&r, req.data, req.len, 4096);
	if (r.rc != 0)
		fail_msg("%s %s", wsproto_code_name(r.code), r.msg);
	assert_int_equal(r.req.binary, binary);
	assert_int_equal(r.req.data_len, want_len);
	if (want_len)
		assert_memory_equal(r.req.data, want, want_len);
	wsproto_req_free(&r.req);
	buf_free(&req);
}

static void test_round_trip_text(void **state)
{
	(void)state;
	uint8_t text[2048];
	for (int iter = 0; iter < 500; iter++) {
		size_t len = 0, chars = rng() % 200;
		for (size_t i = 0; i < chars; i++)
			len += random_char(text + len);
		struct buf b = {0};
		assert_int_equal(msg_json_fields(&b, "ch", 2, "1-1", 3, "ev", 2, text, len, false),
		                 0);
		json_t *doc;
		json_t *data = envelope_data(&b, &doc, false);
		assert_int_equal(json_string_length(data), len);
		if (len)
			assert_memory_equal(json_string_value(data), text, len);
		json_decref(doc);
		/* And inbound: the same text as a publish request. */
		b.len = 0;
		assert_int_equal(msg_json_string(&b, (const char *)text, len), 0);
		publish_back(b.data, b.len, false, text, len);
		buf_free(&b);
	}
}

static void test_round_trip_binary(void **state)
{
	(void)state;
	uint8_t bytes[600];
	for (int iter = 0; iter < 500; iter++) {
		size_t len = iter < 10 ? (size_t)iter : rng() % sizeof(bytes);
		for (size_t i = 0; i < len; i++)
			bytes[i] = (uint8_t)rng();
		struct buf b = {0};
		assert_int_equal(msg_json_fields(&b, "ch", 2, "1-1", 3, "ev", 2, bytes, len, true),
		                 0);
		json_t *doc;
		json_t *data = envelope_data(&b, &doc, true);
		assert_int_equal(json_string_length(data), (len + 2) / 3 * 4);
		/* The base64 an envelope carries is what a publish accepts. */
		struct buf lit = {0};
		assert_int_equal(
		        msg_json_string(&lit, json_string_value(data), json_string_length(data)),
		        0);
		publish_back(lit.data, lit.len, true, bytes, len);
		buf_free(&lit);
		json_decref(doc);
		buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_subscribe),
	        cmocka_unit_test(test_unsubscribe),
	        cmocka_unit_test(test_publish_text),
	        cmocka_unit_test(test_publish_binary),
	        cmocka_unit_test(test_ping),
	        cmocka_unit_test(test_ref_forms),
	        cmocka_unit_test(test_ref_kept_on_error),
	        cmocka_unit_test(test_bad_json),
	        cmocka_unit_test(test_op_errors),
	        cmocka_unit_test(test_unknown_keys),
	        cmocka_unit_test(test_wrong_types),
	        cmocka_unit_test(test_channel_count),
	        cmocka_unit_test(test_channel_names),
	        cmocka_unit_test(test_bad_event),
	        cmocka_unit_test(test_bad_base64),
	        cmocka_unit_test(test_too_large),
	        cmocka_unit_test(test_msg_capacity),
	        cmocka_unit_test(test_code_names),
	        cmocka_unit_test(test_refresh),
	        cmocka_unit_test(test_json_string),
	        cmocka_unit_test(test_envelope_bytes),
	        cmocka_unit_test(test_error_bytes),
	        cmocka_unit_test(test_error_from_parse),
	        cmocka_unit_test(test_round_trip_text),
	        cmocka_unit_test(test_round_trip_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
