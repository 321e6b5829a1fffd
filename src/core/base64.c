/*
 * base64.c - RFC 4648 §4 encoding and strict decoding.
 *
 * The decoder is strict because what it decodes comes from the network:
 * a lenient one (skipping whitespace, accepting non-zero padding bits)
 * would let two different texts mean the same bytes.
 */
#include "core/base64.h"

static const char base64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	if (n > (SIZE_MAX - 2) / 4 * 3)
		return SIZE_MAX;
	return (n + 2) / 3 * 4;
}

char *base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = base64_tbl[v >> 18];
		*out++ = base64_tbl[(v >> 12) & 63];
		*out++ = base64_tbl[(v >> 6) & 63];
		*out++ = base64_tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = base64_tbl[v >> 18];
		*out++ = base64_tbl[(v >> 12) & 63];
		*out++ = i + 1 < n ? base64_tbl[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	return out;
}

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
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
