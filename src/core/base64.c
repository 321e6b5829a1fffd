/*
 * base64.c - RFC 4648 §4 (padded) and §5 (base64url, unpadded) encoding
 * and strict decoding.
 *
 * The decoder is strict because what it decodes comes from the network:
 * a lenient one (skipping whitespace, accepting non-zero padding bits)
 * would let two different texts mean the same bytes.
 */
#include "core/base64.h"

static const char base64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64url_tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64_encoded_len(size_t n)
{
	if (n > (SIZE_MAX - 2) / 4 * 3)
		return SIZE_MAX;
	return (n + 2) / 3 * 4;
}

/* Either alphabet; pad: end a short last group with '=' (§4) or not (§5). */
static char *encode(const char *tbl, bool pad, const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tbl[v >> 18];
		*out++ = tbl[(v >> 12) & 63];
		*out++ = tbl[(v >> 6) & 63];
		*out++ = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = tbl[v >> 18];
		*out++ = tbl[(v >> 12) & 63];
		if (i + 1 < n)
			*out++ = tbl[(v >> 6) & 63];
		else if (pad)
			*out++ = '=';
		if (pad)
			*out++ = '=';
	}
	return out;
}

char *base64_encode(const uint8_t *in, size_t n, char *out)
{
	return encode(base64_tbl, true, in, n, out);
}

char *base64url_encode(const uint8_t *in, size_t n, char *out)
{
	return encode(base64url_tbl, false, in, n, out);
}

/* A character's value in the alphabet whose last two are c62 and c63, or -1. */
static int value(unsigned char c, char c62, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)c62)
		return 62;
	if (c == (unsigned char)c63)
		return 63;
	return -1;
}

static int base64_value(unsigned char c)
{
	return value(c, '+', '/');
}

int64_t base64_decode(const char *in, size_t len, uint8_t *out)
{
	if (len % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
		int v[4];
		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = base64_value((unsigned char)in[i + (size_t)k])) < 0)
				return -1;
		for (int k = 4 - pad; k < 4; k++)
			v[k] = 0;
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
			return -1; /* non-zero bits under the padding */
		out[o++] = (uint8_t)(x >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(x >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)x;
	}
	return (int64_t)o;
}

int64_t base64url_decode(const char *in, size_t len, uint8_t *out)
{
	if (len % 4 == 1)
		return -1;
	uint32_t acc = 0; /* bits not yet written, right-aligned */
	unsigned bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int val = value((unsigned char)in[i], '-', '_');
		if (val < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)val;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc == 0 ? (int64_t)n : -1;
}
