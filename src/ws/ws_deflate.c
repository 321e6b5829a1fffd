/*
 * ws_deflate.c - permessage-deflate (RFC 7692): the offer parser, the
 * response, and the zlib deflater and inflater behind it.
 *
 * The negotiation parser walks Sec-WebSocket-Extensions with the RFC 6455
 * §9.1 grammar (extension *( ";" param [ "=" token / quoted-string ] ));
 * anything it cannot read declines only the element it is in, so a
 * malformed foreign extension never costs us a later deflate offer. It
 * copies nothing but a window-bits value (at most a few bytes).
 *
 * Both directions run without context takeover, so each message is a
 * self-contained raw deflate stream. The inflater is strict about the end
 * of a message: after the 00 00 FF FF tail (RFC 7692 §7.2.2) zlib must be
 * between blocks, or past a BFINAL block followed by nothing but the one
 * 0x00 padding octet that RFC 7692 §7.2.3.4 shows; a message cut inside a
 * block, or with bytes after its final block, is invalid (close 1007).
 * Output is produced into at most the remaining budget plus one byte, so
 * the cap is detected by the byte that breaks it, never after the fact.
 */
#include "ws/ws_deflate.h"

#include "core/err.h"

#define ZLIB_CONST /* next_in is const: zlib never writes the input */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Output is produced in steps of this size: a deflate bomb allocates at
 * most max_out plus one step before it is stopped. */
#define WS_INFLATE_STEP (16u * 1024u)

/* zlib level for outbound messages. A published message is compressed once
 * per window size and the bytes are shared by every subscriber, so the
 * CPU is paid once while the savings are paid out per recipient: zlib's
 * own default (6) is the right trade, not the fastest level. */
#define WS_DEFLATE_LEVEL 6

/* The four octets a sync flush ends with, which the sender strips and the
 * receiver puts back (RFC 7692 §7.2.1, §7.2.2). */
static const uint8_t ws_deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* ---- negotiation ---------------------------------------------------- */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct ext_cursor {
	const char *s;
	size_t len;
	size_t pos;
};

static void skip_ows(struct ext_cursor *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
		c->pos++;
}

static bool peek_is(const struct ext_cursor *c, char ch)
{
	return c->pos < c->len && c->s[c->pos] == ch;
}

/* Reads a token; false when there is none at the cursor. */
static bool read_token(struct ext_cursor *c, const char **tok, size_t *n)
{
	size_t start = c->pos;
	while (c->pos < c->len && is_tchar((unsigned char)c->s[c->pos]))
		c->pos++;
	*tok = c->s + start;
	*n = c->pos - start;
	return *n > 0;
}

/*
 * Reads a parameter value, a token or a quoted-string (RFC 9110 §5.6.4),
 * unescaped into val[0..cap). *n is its length, or cap + 1 when it did not
 * fit (no window-bits value is that long). RFC 7692 §5: an unescaped
 * quoted value must still be a token; *is_token says whether it is.
 */
static bool read_value(struct ext_cursor *c, char *val, size_t cap, size_t *n, bool *is_token)
{
	*n = 0;
	*is_token = true;
	if (!peek_is(c, '"')) {
		const char *tok;
		size_t tn;
		if (!read_token(c, &tok, &tn))
			return false;
		*n = tn <= cap ? tn : cap + 1;
		memcpy(val, tok, tn <= cap ? tn : 0);
		return true;
	}
	c->pos++;
	for (;;) {
		if (c->pos >= c->len)
			return false; /* unterminated */
		unsigned char ch = (unsigned char)c->s[c->pos++];
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (c->pos >= c->len)
				return false;
			ch = (unsigned char)c->s[c->pos++];
		}
		*is_token = *is_token && is_tchar(ch);
		if (*n < cap)
			val[*n] = (char)ch;
		if (*n <= cap)
			(*n)++;
	}
	*is_token = *is_token && *n > 0;
	return true;
}

static bool slice_ieq(const char *a, size_t n, const char *b)
{
	return n == strlen(b) && strncasecmp(a, b, n) == 0;
}

/* Window bits "8".."15", decimal without leading zeros (RFC 7692 §7.1.2.1);
 * 0 when the value is anything else. */
static int window_bits_value(const char *v, size_t n)
{
	if (n == 1 && (v[0] == '8' || v[0] == '9'))
		return v[0] - '0';
	if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + (v[1] - '0');
	return 0;
}

/* What one permessage-deflate offer asked for. */
struct offer {
	bool valid;      /* no unknown, duplicate or invalid parameter so far */
	unsigned seen;   /* bit per known parameter, to catch duplicates */
	int server_bits; /* server_max_window_bits value, 0 when absent */
	int client_bits; /* client_max_window_bits value; 0 absent or without value */
};

enum { P_SNCT = 1u, P_CNCT = 2u, P_SMWB = 4u, P_CMWB = 8u };

/* Applies one parameter to an offer (RFC 7692 §7.1). vn is SIZE_MAX when
 * the parameter had no value. */
static void offer_param(struct offer *o, const char *name, size_t nn, const char *v, size_t vn,
                        bool v_token)
{
	unsigned bit = 0;
	bool has = vn != SIZE_MAX;
	int bits = has && v_token ? window_bits_value(v, vn) : 0;
	bool ok = false;
	if (slice_ieq(name, nn, "server_no_context_takeover")) {
		bit = P_SNCT;
		ok = !has;
	} else if (slice_ieq(name, nn, "client_no_context_takeover")) {
		bit = P_CNCT;
		ok = !has;
	} else if (slice_ieq(name, nn, "server_max_window_bits")) {
		/* zlib's raw deflate cannot produce an 8-bit window (it uses 9). */
		bit = P_SMWB;
		ok = bits >= 9;
		o->server_bits = bits;
	} else if (slice_ieq(name, nn, "client_max_window_bits")) {
		/* Without a value it only says the client can honour a limit. */
		bit = P_CMWB;
		ok = !has || bits != 0;
		o->client_bits = bits;
	}
	if (!ok || (o->seen & bit))
		o->valid = false;
	o->seen |= bit;
}

/* Reads "; name [= value]" pairs up to the end of the element. Returns
 * false on a syntax error. */
static bool read_params(struct ext_cursor *c, struct offer *o)
{
	for (;;) {
		skip_ows(c);
		if (c->pos >= c->len || peek_is(c, ','))
			return true;
		if (!peek_is(c, ';'))
			return false;
		c->pos++;
		skip_ows(c);
		const char *name;
		size_t nn;
		if (!read_token(c, &name, &nn))
			return false;
		skip_ows(c);
		char val[8];
		size_t vn = SIZE_MAX;
		bool v_token = false;
		if (peek_is(c, '=')) {
			c->pos++;
			skip_ows(c);
			if (!read_value(c, val, sizeof(val), &vn, &v_token))
				return false;
		}
		offer_param(o, name, nn, val, vn, v_token);
	}
}

/* Moves past the rest of a malformed element: to the next comma that is
 * not inside a quoted-string. */
static void skip_element(struct ext_cursor *c)
{
	bool quoted = false;
	for (; c->pos < c->len; c->pos++) {
		char ch = c->s[c->pos];
		if (quoted && ch == '\\')
			c->pos++;
		else if (ch == '"')
			quoted = !quoted;
		else if (ch == ',' && !quoted)
			return;
	}
}

int ws_deflate_negotiate(const char *offers, size_t len, struct ws_deflate_params *out)
{
	struct ext_cursor c = {.s = offers, .len = len};
	while (c.pos < c.len) {
		skip_ows(&c);
		if (peek_is(&c, ',')) { /* empty list element (RFC 9110 §5.6.1) */
			c.pos++;
			continue;
		}
		const char *name;
		size_t nn;
		struct offer o = {.valid = true};
		bool parsed = read_token(&c, &name, &nn) && read_params(&c, &o);
		if (!parsed)
			skip_element(&c);
		else if (o.valid && slice_ieq(name, nn, "permessage-deflate")) {
			*out = (struct ws_deflate_params){
			        .server_max_window_bits =
			                (uint8_t)(o.server_bits ? o.server_bits : 15),
			        .client_max_window_bits =
			                (uint8_t)(o.client_bits ? o.client_bits : 15),
			        .server_bits_requested = o.server_bits != 0,
			};
			return 1;
		}
		if (peek_is(&c, ','))
			c.pos++;
	}
	return 0;
}

size_t ws_deflate_response(const struct ws_deflate_params *p, char *out, size_t cap)
{
	int n;
	if (p->server_bits_requested || p->server_max_window_bits < 15)
		n = snprintf(out, cap,
		             "permessage-deflate; server_no_context_takeover; "
		             "client_no_context_takeover; server_max_window_bits=%u",
		             (unsigned)p->server_max_window_bits);
	else
		n = snprintf(out, cap,
		             "permessage-deflate; server_no_context_takeover; "
		             "client_no_context_takeover");
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

/* ---- deflater --------------------------------------------------------- */

struct ws_deflater {
	z_stream z;
	int window_bits; /* 9..15 */
};

struct ws_deflater *ws_deflater_new(int window_bits)
{
	if (window_bits < 9 || window_bits > 15)
		return NULL;
	struct ws_deflater *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->window_bits = window_bits;
	/* Negative window bits: raw deflate, no zlib header or checksum
	 * (RFC 7692 §7.2.1 uses bare RFC 1951 blocks). memLevel 8 is zlib's
	 * default: 128 KiB of hash tables, once per worker. */
	if (deflateInit2(&d->z, WS_DEFLATE_LEVEL, Z_DEFLATED, -window_bits, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(d);
		return NULL;
	}
	return d;
}

void ws_deflater_free(struct ws_deflater *d)
{
	if (!d)
		return;
	deflateEnd(&d->z);
	free(d);
}

int ws_deflate_message(struct ws_deflater *d, const uint8_t *in, size_t len, struct buf *out)
{
	z_stream *z = &d->z;
	size_t start = out->len, left = len;
	z->next_in = in;
	z->avail_in = 0;
	for (;;) {
		if (z->avail_in == 0 && left > 0) {
			z->avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			left -= z->avail_in;
		}
		/* Sync flush only once all input is in (RFC 7692 §7.2.1). */
		int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		uLong bound = deflateBound(z, z->avail_in) + 16;
		size_t room = bound < 64 * 1024 ? (size_t)bound : 64 * 1024;
		if (buf_reserve(out, room) != 0) {
			out->len = start;
			deflateReset(z);
			return CRIER_ENOMEM;
		}
		z->next_out = (Bytef *)(out->data + out->len);
		z->avail_out = (uInt)room;
		int rc = deflate(z, flush);
		out->len += room - z->avail_out;
		/* Z_BUF_ERROR is only "no progress possible", not fatal. */
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			out->len = start;
			deflateReset(z);
			return CRIER_ENOMEM;
		}
		/* The flush is complete when it left output space unused. */
		if (flush == Z_SYNC_FLUSH && z->avail_out > 0)
			break;
	}
	/* A sync flush always ends with an empty stored block; drop its
	 * LEN/NLEN, which the receiver puts back (RFC 7692 §7.2.1). */
	if (out->len - start >= 4 &&
	    memcmp(out->data + out->len - 4, ws_deflate_tail, sizeof(ws_deflate_tail)) == 0)
		out->len -= 4;
	deflateReset(z); /* server_no_context_takeover */
	return 0;
}

/* ---- inflater --------------------------------------------------------- */

struct ws_inflater {
	z_stream z;
	bool fed;          /* the peer sent at least one byte of this message */
	bool ended;        /* a BFINAL block ended the deflate stream */
	uint8_t after_end; /* peer octets seen after the final block */
};

struct ws_inflater *ws_inflater_new(void)
{
	struct ws_inflater *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return NULL;
	/* -15: raw deflate with the largest window, which also decodes every
	 * smaller window a client may have negotiated or picked itself. */
	if (inflateInit2(&inf->z, -15) != Z_OK) {
		free(inf);
		return NULL;
	}
	return inf;
}

void ws_inflater_free(struct ws_inflater *inf)
{
	if (!inf)
		return;
	inflateEnd(&inf->z);
	free(inf);
}

/* Peer octets after a BFINAL block: RFC 7692 §7.2.3.4 shows a sender that
 * follows it with one 0x00 (the header of the empty stored block whose
 * LEN/NLEN it stripped). Anything else there is not part of the message. */
static int after_final_block(struct ws_inflater *inf, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0x00 || inf->after_end >= 1)
			return CRIER_EWS_INFLATE;
		inf->after_end++;
	}
	return 0;
}

/* Output space for the next inflate step: a full step, or what remains of
 * the budget plus the one byte that proves it exceeded. */
static size_t inflate_room(const struct buf *out, uint64_t max_out)
{
	uint64_t rem = max_out - out->len;
	return rem >= WS_INFLATE_STEP ? WS_INFLATE_STEP : (size_t)rem + 1;
}

/* Runs in[0..len) through zlib, appending to out. from_peer is false for
 * the tail we supply ourselves, which may follow a final block. */
static int inflate_some(struct ws_inflater *inf, const uint8_t *in, size_t len, bool from_peer,
                        struct buf *out, uint64_t max_out)
{
	z_stream *z = &inf->z;
	size_t left = len;
	z->next_in = in;
	z->avail_in = 0;
	for (;;) {
		if (inf->ended) {
			size_t rest = (size_t)(in + len - z->next_in);
			return from_peer ? after_final_block(inf, z->next_in, rest) : 0;
		}
		if (z->avail_in == 0 && left > 0) {
			z->avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			left -= z->avail_in;
		}
		size_t room = inflate_room(out, max_out);
		if (buf_reserve(out, room) != 0)
			return CRIER_ENOMEM;
		z->next_out = (Bytef *)(out->data + out->len);
		z->avail_out = (uInt)room;
		int rc = inflate(z, Z_SYNC_FLUSH);
		out->len += room - z->avail_out;
		if (out->len > max_out)
			return CRIER_EWS_TOO_BIG;
		if (rc == Z_STREAM_END)
			inf->ended = true;
		else if (rc == Z_MEM_ERROR)
			return CRIER_ENOMEM;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return CRIER_EWS_INFLATE; /* Z_DATA_ERROR, Z_NEED_DICT */
		else if (z->avail_in == 0 && left == 0 && z->avail_out > 0)
			return 0; /* input used up and no output pending */
	}
}

int ws_inflate(struct ws_inflater *inf, const uint8_t *in, size_t len, bool fin, struct buf *out,
               uint64_t max_out)
{
	if (out->len > max_out)
		return CRIER_EWS_TOO_BIG;
	if (len > 0) {
		inf->fed = true;
		int rc = inflate_some(inf, in, len, true, out, max_out);
		if (rc != 0)
			return rc;
	}
	/* A payload of zero octets carries no block at all; we take it as the
	 * empty message rather than as a truncated one. */
	if (!fin || !inf->fed || inf->ended)
		return 0;
	int rc = inflate_some(inf, ws_deflate_tail, sizeof(ws_deflate_tail), false, out, max_out);
	if (rc != 0)
		return rc;
	/* data_type bit 128: zlib stopped between blocks. Otherwise the
	 * message ended inside a block (or a block header). */
	if (!inf->ended && !(inf->z.data_type & 128))
		return CRIER_EWS_INFLATE;
	return 0;
}
