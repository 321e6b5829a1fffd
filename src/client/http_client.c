/*
 * http_client.c - one HTTP/1.1 client connection (see http_client.h).
 *
 * Owns the TCP handle, one timer and the parsing of response heads and
 * body framing; it never decides what a status means. The response head is
 * kept in a growing buffer until its blank line arrives (bounded at
 * HC_HEAD_MAX), then parsed in place; body bytes that came with it are
 * passed on from the same buffer, later ones straight from the read
 * buffer, so a stream costs no copy per read.
 *
 * The non-obvious part is teardown: the getaddrinfo request, the TCP
 * handle and the timer each finish asynchronously, so `pending` counts
 * them and the memory goes only when it reaches zero. Once `closing` is
 * set no owner callback runs, whatever libuv reports afterwards.
 */
#include "client/http_client.h"

#include "core/buf.h"
#include "core/err.h"
#include "http/http_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HC_HEAD_MAX (16 * 1024) /* bytes; crier's heads are a few hundred */
#define HC_READ_BUF (64 * 1024) /* bytes; one read */

enum hc_state {
	HC_RESOLVING,
	HC_CONNECTING,
	HC_IDLE, /* connected, no request outstanding */
	HC_HEAD, /* request sent (or queued), waiting for the head */
	HC_BODY, /* streaming the body */
	HC_DEAD, /* failed or closed by the peer */
};

enum hc_framing { HC_LENGTH, HC_CHUNKED, HC_EOF };

struct http_client {
	uv_loop_t *loop;
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct http_client_cbs cbs;
	void *user;
	char *host;
	uint16_t port;
	enum hc_state state;
	bool tcp_open; /* tcp is initialised (and must be closed) */
	bool reading;
	bool closing;
	bool keep_alive; /* the current response allows reuse */
	bool upgraded;   /* answered 101: a raw byte stream from now on */
	int pending;     /* async things still to finish before free */
	char *req;       /* request waiting for the connect, owned */
	size_t req_len;
	uint32_t connect_timeout_ms;
	uint32_t head_timeout_ms;
	uint32_t idle_timeout_ms;
	struct buf head; /* response head being assembled */
	enum hc_framing framing;
	uint64_t body_left; /* HC_LENGTH: bytes still to come */
	struct http_chunked chunked;
	char *rbuf; /* HC_READ_BUF bytes, owned */
	void (*closed_cb)(void *user);
};

struct hc_write {
	uv_write_t req;
	char *data; /* owned until the write callback */
};

static void hc_maybe_free(struct http_client *hc)
{
	if (hc->pending > 0)
		return;
	void (*cb)(void *) = hc->closed_cb;
	void *user = hc->user;
	buf_free(&hc->head);
	free(hc->rbuf);
	free(hc->req);
	free(hc->host);
	free(hc);
	if (cb)
		cb(user);
}

static void hc_on_handle_closed(uv_handle_t *h)
{
	struct http_client *hc = h->data;
	hc->pending--;
	hc_maybe_free(hc);
}

/* Ends the outstanding request with err and kills the connection. */
static void hc_fail(struct http_client *hc, int err)
{
	enum hc_state was = hc->state;
	hc->state = HC_DEAD;
	uv_timer_stop(&hc->timer);
	if (hc->tcp_open && hc->reading) {
		uv_read_stop((uv_stream_t *)&hc->tcp);
		hc->reading = false;
	}
	if (hc->closing)
		return;
	if (was == HC_HEAD || was == HC_BODY || hc->req != NULL)
		hc->cbs.on_end(hc, err, hc->user);
}

static void hc_on_timer(uv_timer_t *t)
{
	hc_fail(t->data, CRIER_ETIMEOUT);
}

static void hc_arm(struct http_client *hc, uint32_t ms)
{
	if (ms)
		uv_timer_start(&hc->timer, hc_on_timer, ms, 0);
	else
		uv_timer_stop(&hc->timer);
}

static void hc_on_write(uv_write_t *w, int status)
{
	struct hc_write *hw = (struct hc_write *)w;
	struct http_client *hc = w->data;
	free(hw->data);
	free(hw);
	if (status < 0 && !hc->closing && (hc->state == HC_HEAD || hc->state == HC_BODY))
		hc_fail(hc, status);
}

/* Queues a write of data (taking ownership). */
static int hc_write(struct http_client *hc, char *data, size_t len)
{
	struct hc_write *hw = malloc(sizeof(*hw));
	if (!hw) {
		free(data);
		return CRIER_ENOMEM;
	}
	hw->data = data;
	hw->req.data = hc;
	uv_buf_t b = uv_buf_init(data, (unsigned int)len);
	int rc = uv_write(&hw->req, (uv_stream_t *)&hc->tcp, &b, 1, hc_on_write);
	if (rc) {
		free(data);
		free(hw);
	}
	return rc;
}

/* Writes data (taking ownership) and waits for the head. */
static int hc_send(struct http_client *hc, char *data, size_t len)
{
	int rc = hc_write(hc, data, len);
	if (rc)
		return rc;
	hc->upgraded = false;
	hc->state = HC_HEAD;
	hc->head.len = 0;
	hc_arm(hc, hc->head_timeout_ms);
	return 0;
}

/* Finds a header value in head lines [p, end); returns its length or -1. */
static long hc_header(const char *p, const char *end, const char *name, const char **val)
{
	size_t nl = strlen(name);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon && (size_t)(colon - p) == nl && strncasecmp(p, name, nl) == 0) {
			const char *v = colon + 1;
			const char *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*val = v;
			return (long)(ve - v);
		}
		p = eol + 1;
	}
	return -1;
}

long http_client_header(const struct http_client_head *h, const char *name, const char **val)
{
	return hc_header(h->lines, h->lines + h->lines_len, name, val);
}

static void hc_deliver(struct http_client *hc, const char *p, size_t n);

/* The body is complete: report it and go idle (or dead). */
static void hc_complete(struct http_client *hc)
{
	uv_timer_stop(&hc->timer);
	hc->state = hc->keep_alive ? HC_IDLE : HC_DEAD;
	hc->cbs.on_end(hc, 0, hc->user);
}

/* Parses the head in hc->head (complete, `head_len` bytes), then passes on
 * the body bytes that followed it. */
static void hc_parse_head(struct http_client *hc, size_t head_len)
{
	const char *h = hc->head.data;
	const char *end = h + head_len;
	if (head_len < 12 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ') {
		hc_fail(hc, CRIER_EBADREQ);
		return;
	}
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (h[i] < '0' || h[i] > '9') {
			hc_fail(hc, CRIER_EBADREQ);
			return;
		}
		status = status * 10 + (h[i] - '0');
	}
	const char *lines = memchr(h, '\n', head_len);
	lines = lines ? lines + 1 : end;
	const char *v;
	long vl = hc_header(lines, end, "Connection", &v);
	hc->keep_alive = h[7] == '1' && !(vl >= 0 && http_list_has_token(v, (size_t)vl, "close"));
	hc->framing = HC_EOF;
	if ((vl = hc_header(lines, end, "Transfer-Encoding", &v)) >= 0) {
		hc->framing = HC_CHUNKED;
		memset(&hc->chunked, 0, sizeof(hc->chunked));
	} else if ((vl = hc_header(lines, end, "Content-Length", &v)) >= 0) {
		hc->framing = HC_LENGTH;
		hc->body_left = strtoull(v, NULL, 10);
	}
	if (hc->framing == HC_EOF)
		hc->keep_alive = false;
	hc->upgraded = status == 101;
	if (hc->upgraded) {
		/* RFC 9110 §15.2.2: the connection now speaks another protocol. */
		hc->framing = HC_EOF;
		hc->keep_alive = false;
	}
	struct http_client_head out = {
	        .status = status, .ctype = "", .lines = lines, .lines_len = (size_t)(end - lines)};
	vl = hc_header(lines, end, "Content-Type", &out.ctype);
	out.ctype_len = vl >= 0 ? (size_t)vl : 0;
	if (vl < 0)
		out.ctype = "";
	hc->state = HC_BODY;
	hc_arm(hc, hc->idle_timeout_ms);
	hc->cbs.on_head(hc, &out, hc->user);
	if (hc->closing || hc->state != HC_BODY)
		return;
	size_t rest = hc->head.len - head_len;
	char *tail = hc->head.data + head_len;
	if (hc->framing == HC_LENGTH && hc->body_left == 0 && rest == 0) {
		hc_complete(hc);
		return;
	}
	if (rest)
		hc_deliver(hc, tail, rest);
}

/* Body bytes from the wire, framed per hc->framing. */
static void hc_deliver(struct http_client *hc, const char *p, size_t n)
{
	if (hc->framing == HC_EOF) {
		hc->cbs.on_body(hc, p, n, hc->user);
		return;
	}
	if (hc->framing == HC_LENGTH) {
		size_t take = n < hc->body_left ? n : (size_t)hc->body_left;
		hc->body_left -= take;
		if (take)
			hc->cbs.on_body(hc, p, take, hc->user);
		if (!hc->closing && hc->state == HC_BODY && hc->body_left == 0)
			hc_complete(hc);
		return;
	}
	while (n > 0 && !hc->chunked.done && !hc->closing && hc->state == HC_BODY) {
		const char *data;
		size_t dlen;
		int64_t used = http_chunked_decode(&hc->chunked, p, n, 0, &data, &dlen);
		if (used < 0) {
			hc_fail(hc, (int)used);
			return;
		}
		p += used;
		n -= (size_t)used;
		if (dlen)
			hc->cbs.on_body(hc, data, dlen, hc->user);
	}
	if (hc->chunked.done && !hc->closing && hc->state == HC_BODY)
		hc_complete(hc);
}

static void hc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)suggested;
	struct http_client *hc = h->data;
	if (!hc->rbuf)
		hc->rbuf = malloc(HC_READ_BUF);
	*b = uv_buf_init(hc->rbuf, hc->rbuf ? HC_READ_BUF : 0);
}

static void hc_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct http_client *hc = s->data;
	if (hc->closing || nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && hc->state == HC_BODY && hc->framing == HC_EOF) {
			hc->keep_alive = false;
			hc_complete(hc);
		} else {
			hc_fail(hc, nread == UV_EOF ? CRIER_ECLOSED : (int)nread);
		}
		return;
	}
	size_t n = (size_t)nread;
	if (hc->state == HC_BODY) {
		hc_arm(hc, hc->idle_timeout_ms);
		hc_deliver(hc, b->base, n);
		return;
	}
	if (hc->state != HC_HEAD) {
		hc_fail(hc, CRIER_EBADREQ); /* bytes nobody asked for */
		return;
	}
	size_t old = hc->head.len;
	if (buf_append(&hc->head, b->base, n)) {
		hc_fail(hc, CRIER_ENOMEM);
		return;
	}
	size_t from = old >= 3 ? old - 3 : 0;
	for (size_t i = from; i + 4 <= hc->head.len; i++) {
		if (memcmp(hc->head.data + i, "\r\n\r\n", 4) == 0) {
			hc_parse_head(hc, i + 4);
			return;
		}
	}
	if (hc->head.len > HC_HEAD_MAX)
		hc_fail(hc, CRIER_EHEAD_TOO_LARGE);
}

static void hc_on_connect(uv_connect_t *c, int status)
{
	struct http_client *hc = c->data;
	if (hc->closing || hc->state == HC_DEAD)
		return;
	if (status < 0) {
		hc_fail(hc, status);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&hc->tcp, hc_alloc, hc_on_read);
	if (rc) {
		hc_fail(hc, rc);
		return;
	}
	hc->reading = true;
	hc->state = HC_IDLE;
	uv_timer_stop(&hc->timer);
	if (hc->req) {
		char *req = hc->req;
		hc->req = NULL;
		rc = hc_send(hc, req, hc->req_len);
		if (rc) {
			hc->state = HC_HEAD;
			hc_fail(hc, rc);
		}
	}
}

static void hc_on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
	struct http_client *hc = g->data;
	hc->pending--;
	if (hc->closing || hc->state == HC_DEAD) {
		uv_freeaddrinfo(res);
		hc_maybe_free(hc);
		return;
	}
	if (status < 0) {
		hc_fail(hc, status);
		return;
	}
	/* Prefer IPv4: the hub's default listener is 127.0.0.1, while
	 * "localhost" often resolves to ::1 first. */
	struct addrinfo *ai = res;
	for (struct addrinfo *p = res; p; p = p->ai_next) {
		if (p->ai_family == AF_INET) {
			ai = p;
			break;
		}
	}
	int rc = uv_tcp_init(hc->loop, &hc->tcp);
	if (!rc) {
		hc->tcp_open = true;
		hc->pending++;
		uv_tcp_nodelay(&hc->tcp, 1);
		hc->state = HC_CONNECTING;
		rc = uv_tcp_connect(&hc->connect, &hc->tcp, ai->ai_addr, hc_on_connect);
	}
	uv_freeaddrinfo(res);
	if (rc)
		hc_fail(hc, rc);
}

int http_client_new(uv_loop_t *loop, const char *host, uint16_t port,
                    const struct http_client_cbs *cbs, void *user, uint32_t connect_timeout_ms,
                    struct http_client **out)
{
	struct http_client *hc = calloc(1, sizeof(*hc));
	if (!hc || !(hc->host = strdup(host))) {
		free(hc);
		return CRIER_ENOMEM;
	}
	hc->loop = loop;
	hc->cbs = *cbs;
	hc->user = user;
	hc->port = port;
	hc->connect_timeout_ms = connect_timeout_ms;
	hc->gai.data = hc->connect.data = hc->tcp.data = hc->timer.data = hc;
	uv_timer_init(loop, &hc->timer);
	hc->pending = 1;
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	hc->state = HC_RESOLVING;
	int rc = uv_getaddrinfo(loop, &hc->gai, hc_on_resolved, hc->host, service, &hints);
	if (rc) {
		hc->closing = true;
		uv_close((uv_handle_t *)&hc->timer, hc_on_handle_closed);
		return rc;
	}
	hc->pending++;
	hc_arm(hc, connect_timeout_ms);
	*out = hc;
	return 0;
}

int http_client_request(struct http_client *hc, const char *req, size_t len,
                        uint32_t head_timeout_ms, uint32_t idle_timeout_ms)
{
	bool connecting = hc->state == HC_RESOLVING || hc->state == HC_CONNECTING;
	if (hc->closing || hc->req || (!connecting && hc->state != HC_IDLE))
		return CRIER_EINVAL;
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return CRIER_ENOMEM;
	memcpy(copy, req, len);
	hc->head_timeout_ms = head_timeout_ms;
	hc->idle_timeout_ms = idle_timeout_ms;
	if (connecting) {
		hc->req = copy;
		hc->req_len = len;
		return 0;
	}
	return hc_send(hc, copy, len);
}

int http_client_write(struct http_client *hc, const void *data, size_t len)
{
	if (hc->closing || !hc->upgraded || hc->state != HC_BODY)
		return CRIER_EINVAL;
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return CRIER_ENOMEM;
	memcpy(copy, data, len);
	return hc_write(hc, copy, len);
}

bool http_client_reusable(const struct http_client *hc)
{
	return !hc->closing && hc->state == HC_IDLE && !hc->req;
}

void http_client_close(struct http_client *hc, void (*closed_cb)(void *user))
{
	if (hc->closing)
		return;
	hc->closing = true;
	hc->closed_cb = closed_cb;
	if (hc->state == HC_RESOLVING)
		uv_cancel((uv_req_t *)&hc->gai);
	hc->state = HC_DEAD;
	uv_close((uv_handle_t *)&hc->timer, hc_on_handle_closed);
	if (hc->tcp_open)
		uv_close((uv_handle_t *)&hc->tcp, hc_on_handle_closed);
}
