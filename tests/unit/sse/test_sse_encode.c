/*
 * test_sse_encode.c - unit tests for the Server-Sent Events encoder.
 *
 * Byte-exact vectors pin the wire form (every newline kind in a payload,
 * empty data, id and event present or absent, base64 from RFC 4648 §10),
 * and every vector also checks that sse_encoded_len is exact and that one
 * byte less of capacity is refused. The round-trip tests go further: they
 * parse the output with sse_parse_line and a small browser written from
 * §9.2.6 (data buffer, event type buffer, last event ID buffer, dispatch
 * on a blank line), and check that what an EventSource would hand to
 * onmessage is the payload with CR and CRLF turned into LF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse/sse_encode.h"
#include "sse/sse_parse.h"

#define WIRE_MAX (64 * 1024)

/* What a browser dispatches for one event (§9.2.6 "dispatch the event"). */
struct browser {
	char data[WIRE_MAX];
	size_t data_len;
	char type[256];
	size_t type_len;
	char last_id[256];
	size_t last_id_len;
	int events; /* events dispatched so far */
	/* the last dispatched event */
	char ev_data[WIRE_MAX];
	size_t ev_data_len;
	char ev_type[256];
	size_t ev_type_len;
};

/* §9.2.6 "process the field" for the fields the encoder writes. */
static void browser_field(struct browser *b, const struct sse_line *l)
{
	if (l->name_len == 5 && memcmp(l->name, "event", 5) == 0) {
		assert_true(l->value_len < sizeof(b->type));
		memcpy(b->type, l->value, l->value_len);
		b->type_len = l->value_len;
	} else if (l->name_len == 4 && memcmp(l->name, "data", 4) == 0) {
		assert_true(b->data_len + l->value_len + 1 <= sizeof(b->data));
		memcpy(b->data + b->data_len, l->value, l->value_len);
		b->data_len += l->value_len;
		b->data[b->data_len++] = '\n';
	} else if (l->name_len == 2 && memcmp(l->name, "id", 2) == 0) {
		if (memchr(l->value, '\0', l->value_len) == NULL) {
			assert_true(l->value_len < sizeof(b->last_id));
			memcpy(b->last_id, l->value, l->value_len);
			b->last_id_len = l->value_len;
		}
	}
}

/* §9.2.6 "dispatch the event", run on a blank line. */
static void browser_dispatch(struct browser *b)
{
	if (b->data_len == 0) {
		b->type_len = 0;
		return;
	}
	b->data_len--; /* the buffer always ends in LF here: remove it */
	memcpy(b->ev_data, b->data, b->data_len);
	b->ev_data_len = b->data_len;
	if (b->type_len == 0) {
		memcpy(b->ev_type, "message", 7);
		b->ev_type_len = 7;
	} else {
		memcpy(b->ev_type, b->type, b->type_len);
		b->ev_type_len = b->type_len;
	}
	b->events++;
	b->data_len = 0;
	b->type_len = 0;
}

/* Feeds the whole stream in one buffer; every byte must be consumed. */
static void browser_feed(struct browser *b, const char *wire, size_t n)
{
	struct sse_parser p = {.max_line = UINT32_MAX};
	size_t off = 0;
	while (off < n) {
		struct sse_line l;
		int64_t rc = sse_parse_line(&p, wire + off, n - off, &l);
		assert_true(rc > 0);
		off += (size_t)rc;
		if (l.kind == SSE_LINE_BLANK)
			browser_dispatch(b);
		else if (l.kind == SSE_LINE_FIELD)
			browser_field(b, &l);
	}
}

/* The payload as the browser gives it back: CRLF and lone CR become LF. */
static size_t normalise(const uint8_t *d, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\r') {
			out[k++] = '\n';
			if (i + 1 < n && d[i + 1] == '\n')
				i++;
		} else {
			out[k++] = (char)d[i];
		}
	}
	return k;
}

/* Encodes ev, checks the exact length and the capacity edge, returns the bytes. */
static size_t encode(const struct sse_event *ev, char *out)
{
	size_t need = sse_encoded_len(ev);
	assert_true(need <= WIRE_MAX);
	char *exact = malloc(need);
	assert_non_null(exact);
	assert_int_equal(sse_encode(ev, exact, need - 1), 0);
	size_t n = sse_encode(ev, exact, need);
	assert_int_equal(n, need);
	memcpy(out, exact, n);
	free(exact);
	return n;
}

/* Encodes ev and compares with the expected wire bytes. */
static void expect_wire(const struct sse_event *ev, const char *want, size_t want_len)
{
	char out[WIRE_MAX];
	size_t n = encode(ev, out);
	if (n != want_len || memcmp(out, want, n) != 0)
		fail_msg("wire \"%.*s\" != \"%.*s\"", (int)n, out, (int)want_len, want);
}

#define EXPECT_TEXT(payload, want)                                          \
	do {                                                                \
		struct sse_event ev_ = {.data = (const uint8_t *)(payload), \
		                        .data_len = sizeof(payload) - 1};   \
		expect_wire(&ev_, want, sizeof(want) - 1);                  \
	} while (0)

static void test_newlines(void **state)
{
	(void)state;
	EXPECT_TEXT("hello", "data: hello\n\n");
	EXPECT_TEXT("a\nb", "data: a\ndata: b\n\n");
	EXPECT_TEXT("a\rb", "data: a\ndata: b\n\n");
	EXPECT_TEXT("a\r\nb", "data: a\ndata: b\n\n");
	EXPECT_TEXT("a\n\rb", "data: a\ndata: \ndata: b\n\n");
	EXPECT_TEXT("a\r\rb", "data: a\ndata: \ndata: b\n\n");
	EXPECT_TEXT("a\r\n\nb", "data: a\ndata: \ndata: b\n\n");
	EXPECT_TEXT("a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n");
	EXPECT_TEXT("\na", "data: \ndata: a\n\n");
	EXPECT_TEXT("\r\na", "data: \ndata: a\n\n");
	EXPECT_TEXT("a\n", "data: a\ndata: \n\n");
	EXPECT_TEXT("a\r", "data: a\ndata: \n\n");
	EXPECT_TEXT("a\r\n", "data: a\ndata: \n\n");
	EXPECT_TEXT("\n", "data: \ndata: \n\n");
	EXPECT_TEXT("\r\n", "data: \ndata: \n\n");
	EXPECT_TEXT("\n\n", "data: \ndata: \ndata: \n\n");
	EXPECT_TEXT("\r\r\n\n\r", "data: \ndata: \ndata: \ndata: \ndata: \n\n");
	EXPECT_TEXT(" lead", "data:  lead\n\n");
	EXPECT_TEXT(":x", "data: :x\n\n");
}

static void test_empty_data(void **state)
{
	(void)state;
	struct sse_event ev = {.data = NULL, .data_len = 0};
	expect_wire(&ev, "data: \n\n", 8);
	struct sse_event bin = {.data = NULL, .data_len = 0, .binary = true};
	expect_wire(&bin, "event: crier.binary\ndata: \n\n", 28);
}

static void test_id_and_event(void **state)
{
	(void)state;
	const uint8_t d[] = "x";
	struct sse_event ev = {.data = d, .data_len = 1};
	ev.id = "9f3a0c12-57";
	ev.id_len = 11;
	expect_wire(&ev, "id: 9f3a0c12-57\ndata: x\n\n", 25);
	ev.event = "tick";
	ev.event_len = 4;
	expect_wire(&ev, "id: 9f3a0c12-57\nevent: tick\ndata: x\n\n", 37);
	ev.id = NULL;
	expect_wire(&ev, "event: tick\ndata: x\n\n", 21);
	/* An empty event name is "message": no line. */
	ev.event = "";
	ev.event_len = 0;
	expect_wire(&ev, "data: x\n\n", 9);
	/* A non-NULL empty id is sent: it resets the browser's last event ID. */
	ev.id = "";
	ev.id_len = 0;
	expect_wire(&ev, "id: \ndata: x\n\n", 14);
	/* Lengths are honoured, not NULs. */
	ev.id = "12345";
	ev.id_len = 3;
	ev.event = "abcdef";
	ev.event_len = 2;
	expect_wire(&ev, "id: 123\nevent: ab\ndata: x\n\n", 27);
}

static void test_rejects_newlines_in_fields(void **state)
{
	(void)state;
	static const char *const bad[] = {"a\nb", "a\rb", "\n", "\r", "ab\r\n"};
	char out[256];
	const uint8_t d[] = "x";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sse_event ev = {
		        .data = d, .data_len = 1, .id = bad[i], .id_len = strlen(bad[i])};
		assert_int_equal(sse_encode(&ev, out, sizeof(out)), 0);
		ev = (struct sse_event){
		        .data = d, .data_len = 1, .event = bad[i], .event_len = strlen(bad[i])};
		assert_int_equal(sse_encode(&ev, out, sizeof(out)), 0);
	}
	/* A NUL makes the browser drop the id field, so it is refused too ... */
	struct sse_event ev = {.data = d, .data_len = 1, .id = "a\0b", .id_len = 3};
	assert_int_equal(sse_encode(&ev, out, sizeof(out)), 0);
	/* ... but is harmless in an event name. */
	ev = (struct sse_event){.data = d, .data_len = 1, .event = "a\0b", .event_len = 3};
	assert_int_equal(sse_encode(&ev, out, sizeof(out)), sse_encoded_len(&ev));
	/* A binary event replaces the type, so a bad one does not matter. */
	ev = (struct sse_event){
	        .data = d, .data_len = 1, .event = "a\nb", .event_len = 3, .binary = true};
	expect_wire(&ev, "event: crier.binary\ndata: eA==\n\n", 32);
}

/* RFC 4648 §10 test vectors, each on one data line under crier.binary. */
static void test_base64_vectors(void **state)
{
	(void)state;
	static const char *const vec[][2] = {
	        {"", ""},
	        {"f", "Zg=="},
	        {"fo", "Zm8="},
	        {"foo", "Zm9v"},
	        {"foob", "Zm9vYg=="},
	        {"fooba", "Zm9vYmE="},
	        {"foobar", "Zm9vYmFy"},
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		struct sse_event ev = {.data = (const uint8_t *)vec[i][0],
		                       .data_len = strlen(vec[i][0]),
		                       .binary = true};
		char want[128];
		int n = snprintf(want, sizeof(want), "event: crier.binary\ndata: %s\n\n",
		                 vec[i][1]);
		expect_wire(&ev, want, (size_t)n);
	}
	/* Every 6-bit value, CR and LF bytes included: binary is never split. */
	const uint8_t all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30,
	                       0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96,
	                       0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7,
	                       0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
	                       0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf, 0x0d, 0x0a};
	struct sse_event ev = {
	        .data = all, .data_len = sizeof(all), .binary = true, .id = "i", .id_len = 1};
	static const char want[] =
	        "id: i\nevent: crier.binary\ndata: "
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/DQo=\n\n";
	expect_wire(&ev, want, sizeof(want) - 1);
}

static void test_capacity(void **state)
{
	(void)state;
	const uint8_t d[] = "a\r\nb";
	struct sse_event ev = {.data = d, .data_len = 4, .id = "1", .id_len = 1};
	size_t need = sse_encoded_len(&ev);
	assert_int_equal(need, strlen("id: 1\ndata: a\ndata: b\n\n"));
	char out[64];
	for (size_t cap = 0; cap < need; cap++)
		assert_int_equal(sse_encode(&ev, out, cap), 0);
	assert_int_equal(sse_encode(&ev, out, sizeof(out)), need);
}

/* Encodes, parses back through the §9.2.6 model, checks what a page sees. */
static void round_trip(const uint8_t *d, size_t n, const char *id, const char *type)
{
	struct sse_event ev = {.data = d,
	                       .data_len = n,
	                       .id = id,
	                       .id_len = id ? strlen(id) : 0,
	                       .event = type,
	                       .event_len = type ? strlen(type) : 0};
	static char wire[WIRE_MAX], want[WIRE_MAX];
	size_t wn = encode(&ev, wire);
	static struct browser b;
	memset(&b, 0, sizeof(b));
	browser_feed(&b, wire, wn);
	assert_int_equal(b.events, 1);
	size_t k = normalise(d, n, want);
	assert_int_equal(b.ev_data_len, k);
	assert_memory_equal(b.ev_data, want, k);
	const char *t = type && *type ? type : "message";
	assert_int_equal(b.ev_type_len, strlen(t));
	assert_memory_equal(b.ev_type, t, strlen(t));
	if (id != NULL) {
		assert_int_equal(b.last_id_len, strlen(id));
		assert_memory_equal(b.last_id, id, strlen(id));
	}
}

static void test_round_trip_vectors(void **state)
{
	(void)state;
	static const char *const vec[] = {
	        "",         "x",        "\n",           "\r",
	        "\r\n",     "\n\r",     "a\nb\rc\r\nd", "\r\r\r",
	        "\n\n\n",   " ",        "  two",        "data: x",
	        ":comment", "\r\n\r\n", "end\r",        "\rstart",
	        "é ✓",      "a\0b",     "x\n\ny",       "id: 3\nevent: z",
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i]);
		if (i == 17)
			n = 3; /* "a\0b": the NUL is data */
		round_trip((const uint8_t *)vec[i], n, NULL, NULL);
		round_trip((const uint8_t *)vec[i], n, "9f3a0c12-1", "update");
		round_trip((const uint8_t *)vec[i], n, " spaced id", "");
	}
}

/* Random payloads drawn mostly from the bytes that matter to the framing. */
static void test_round_trip_random(void **state)
{
	(void)state;
	static const uint8_t alphabet[] = {'\r', '\n', ' ', ':', 'a', 'd', 0, 0xff};
	uint64_t x = 0x9e3779b97f4a7c15u;
	static uint8_t d[4096];
	for (int iter = 0; iter < 3000; iter++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t n = (size_t)(x % (iter < 2000 ? 16 : sizeof(d)));
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			d[i] = alphabet[x % sizeof(alphabet)];
		}
		round_trip(d, n, (iter & 1) ? "e-1" : NULL, (iter & 2) ? "t" : NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_newlines),
	        cmocka_unit_test(test_empty_data),
	        cmocka_unit_test(test_id_and_event),
	        cmocka_unit_test(test_rejects_newlines_in_fields),
	        cmocka_unit_test(test_base64_vectors),
	        cmocka_unit_test(test_capacity),
	        cmocka_unit_test(test_round_trip_vectors),
	        cmocka_unit_test(test_round_trip_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
