/*
 * cmd_sub.c - `crier sub`: subscribe with libcrier and print what arrives.
 *
 * Owns the command line and the output formats only; connecting,
 * reconnecting, resuming and duplicate suppression are the library's. The
 * output is flushed after every event, since a pipe to another program is
 * the common consumer and it must see events as they come.
 *
 * Exit codes: 0 after --count messages, at --timeout once a stream has
 * been open, or on SIGINT/SIGTERM; 1 when the server refused (4xx, with
 * its reason), could not be reached (--max-attempts failures in a row, or
 * --timeout before any stream opened); 2 for usage errors.
 */
#include "cli/cli.h"
#include "crier/client.h"

#include "core/base64.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_DEFAULT_URL          "http://127.0.0.1:8080"
#define SUB_DEFAULT_MAX_ATTEMPTS 10 /* about a minute of backoff before giving up */

enum sub_format { SUB_TEXT, SUB_JSON, SUB_SSE };

struct sub_ctx {
	uv_loop_t loop;
	crier_client *client;
	uv_timer_t timeout;
	uv_signal_t sigint, sigterm;
	enum sub_format format;
	uint64_t count; /* messages to print before exiting; 0 = no limit */
	uint64_t seen;
	bool ever_open;
	int exit_code;
	const char *url;
};

static const char sub_usage[] =
        "usage: crier sub [--url URL] [--transport auto|sse|ws|wsproto|poll] [--since ID]\n"
        "                 [--format text|json|sse] [--count N] [--timeout S] [--token T]\n"
        "                 [--token-in-query] [--max-attempts N] [--heartbeat S]\n"
        "                 [--backoff-min S] [--backoff-max S] CHANNEL...\n";

/* Stops everything; the loop ends once the handles are closed. */
static void sub_finish(struct sub_ctx *s, int code)
{
	if (!s->client)
		return;
	s->exit_code = code;
	crier_client_close(s->client, NULL);
	s->client = NULL;
	uv_close((uv_handle_t *)&s->timeout, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
}

/* Writes data with newlines and backslashes escaped, to keep one line. */
static void sub_put_escaped(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\r')
			fputs("\\r", stdout);
		else if (p[i] == '\\')
			fputs("\\\\", stdout);
		else
			putchar(p[i]);
	}
}

static void sub_print_json(json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT);
	if (line)
		puts(line);
	free(line);
	json_decref(o);
}

static void sub_on_message(crier_client *c, const struct crier_message *m, void *user)
{
	struct sub_ctx *s = user;
	(void)c;
	char *b64 = NULL;
	const char *data = m->data;
	size_t len = m->data_len;
	if (m->binary) {
		b64 = malloc(base64_encoded_len(len) + 1);
		if (!b64)
			return;
		*base64_encode((const uint8_t *)m->data, len, b64) = '\0';
		data = b64;
		len = base64_encoded_len(len);
	}
	if (s->format == SUB_JSON) {
		json_t *o = json_pack("{s:s, s:s?, s:s, s:s#}", "op", "message", "channel",
		                      m->channel, "id", m->id, "data", data, len);
		if (o && m->event)
			json_object_set_new(o, "event", json_string(m->event));
		if (o && m->binary)
			json_object_set_new(o, "binary", json_true());
		if (o)
			sub_print_json(o);
	} else if (s->format == SUB_SSE) {
		if (m->id[0])
			printf("id: %s\n", m->id);
		if (m->binary || m->event)
			printf("event: %s\n", m->binary ? "crier.binary" : m->event);
		const char *p = data, *end = data + len;
		do {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			printf("data: %.*s\n", (int)n, p);
			p = nl ? nl + 1 : end;
		} while (p < end);
		putchar('\n');
	} else {
		printf("%s %s %s ", m->id[0] ? m->id : "-", m->channel ? m->channel : "-",
		       m->event ? m->event : "message");
		sub_put_escaped(data, len);
		putchar('\n');
	}
	fflush(stdout);
	free(b64);
	if (s->count && ++s->seen >= s->count)
		sub_finish(s, 0);
}

static void sub_on_gap(crier_client *c, const struct crier_gap *g, void *user)
{
	struct sub_ctx *s = user;
	(void)c;
	fprintf(stderr, "crier sub: gap from %s to %s (reason %s)\n", g->from,
	        g->to ? g->to : "(live)", g->reason);
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "op", "gap", "from", g->from, "to", g->to,
	                      "reason", g->reason);
	if (!o)
		return;
	if (s->format == SUB_JSON) {
		sub_print_json(o);
	} else if (s->format == SUB_SSE) {
		char *j = json_dumps(o, JSON_COMPACT);
		printf("event: crier.gap\ndata: %s\n\n", j ? j : "{}");
		free(j);
		json_decref(o);
	} else {
		json_decref(o);
	}
	fflush(stdout);
}

static void sub_on_state(crier_client *c, const struct crier_state_change *st, void *user)
{
	struct sub_ctx *s = user;
	(void)c;
	switch (st->state) {
	case CRIER_STATE_CONNECTING:
		break;
	case CRIER_STATE_OPEN:
		s->ever_open = true;
		fprintf(stderr, "crier sub: connected to %s (%s)%s%s\n", s->url,
		        crier_transport_name(st->transport), st->reason[0] ? "; " : "", st->reason);
		break;
	case CRIER_STATE_RECONNECTING:
		fprintf(stderr, "crier sub: %s; reconnecting in %llu ms (attempt %u)\n", st->reason,
		        (unsigned long long)st->delay_ms, st->attempt);
		break;
	case CRIER_STATE_CLOSED:
		if (st->status)
			fprintf(stderr, "crier sub: the server refused the subscription (%d): %s\n",
			        st->status, st->reason);
		else if (st->err)
			fprintf(stderr, "crier sub: cannot reach %s: %s\n", s->url, st->reason);
		if (s->client && (st->status || st->err))
			sub_finish(s, 1);
		break;
	}
}

static void sub_on_timeout(uv_timer_t *t)
{
	struct sub_ctx *s = t->data;
	if (!s->ever_open)
		fprintf(stderr, "crier sub: no connection to %s within --timeout\n", s->url);
	sub_finish(s, s->ever_open ? 0 : 1);
}

static void sub_on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	sub_finish(h->data, 0);
}

/* Parses "1.5", "500ms", "2s", "1m" into ms; -1 when malformed. */
static int64_t sub_parse_seconds(const char *v)
{
	char *end;
	double x = strtod(v, &end);
	if (end == v || x < 0)
		return -1;
	double mul = 1000;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	return (int64_t)(x * mul);
}

static bool sub_parse_uint(const char *v, uint64_t *out)
{
	char *end;
	if (*v < '0' || *v > '9')
		return false;
	unsigned long long n = strtoull(v, &end, 10);
	*out = n;
	return *end == '\0';
}

struct sub_args {
	const char *url, *token, *since;
	enum crier_transport transport;
	enum sub_format format;
	uint64_t count, max_attempts;
	int64_t timeout_ms, heartbeat_ms, backoff_min_ms, backoff_max_ms;
	bool token_in_query;
	char **channels;
	size_t n_channels;
};

/* One flag; returns 1 when it used a value, 0 when not, -1 on error. */
static int sub_flag(struct sub_args *a, const char *f, const char *v)
{
	static const char *const tnames[] = {"auto", "sse", "ws", "wsproto", "poll"};
	static const char *const fnames[] = {"text", "json", "sse"};
	if (!v)
		return -1;
	if (strcmp(f, "--url") == 0) {
		a->url = v;
	} else if (strcmp(f, "--token") == 0) {
		a->token = v;
	} else if (strcmp(f, "--since") == 0) {
		a->since = v;
	} else if (strcmp(f, "--transport") == 0) {
		for (a->transport = 0; a->transport < 5; a->transport++)
			if (strcmp(v, tnames[a->transport]) == 0)
				return 1;
		return -1;
	} else if (strcmp(f, "--format") == 0) {
		for (int i = 0; i < 3; i++)
			if (strcmp(v, fnames[i]) == 0) {
				a->format = (enum sub_format)i;
				return 1;
			}
		return -1;
	} else if (strcmp(f, "--count") == 0) {
		return sub_parse_uint(v, &a->count) ? 1 : -1;
	} else if (strcmp(f, "--max-attempts") == 0) {
		return sub_parse_uint(v, &a->max_attempts) && a->max_attempts <= UINT32_MAX ? 1
		                                                                            : -1;
	} else if (strcmp(f, "--heartbeat") == 0) {
		a->heartbeat_ms = sub_parse_seconds(v);
		return a->heartbeat_ms > 0 && a->heartbeat_ms <= UINT32_MAX ? 1 : -1;
	} else if (strcmp(f, "--backoff-min") == 0 || strcmp(f, "--backoff-max") == 0) {
		int64_t ms = sub_parse_seconds(v);
		if (ms <= 0 || ms > UINT32_MAX)
			return -1;
		*(f[11] == 'i' ? &a->backoff_min_ms : &a->backoff_max_ms) = ms;
	} else if (strcmp(f, "--timeout") == 0) {
		a->timeout_ms = sub_parse_seconds(v);
		return a->timeout_ms >= 0 ? 1 : -1;
	} else {
		return -1;
	}
	return 1;
}

/* Adds CHANNEL arguments, splitting "a,b" (the form the URL takes) in place. */
static void sub_add_channels(struct sub_args *a, char *arg)
{
	for (char *p = arg;; p++) {
		if (*p != ',' && *p != '\0')
			continue;
		bool end = *p == '\0';
		*p = '\0';
		if (*arg)
			a->channels[a->n_channels++] = arg;
		if (end)
			return;
		arg = p + 1;
	}
}

static int sub_parse_args(int argc, char **argv, struct sub_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++)
				sub_add_channels(a, argv[i]);
			break;
		}
		if (strncmp(arg, "--", 2) != 0) {
			sub_add_channels(a, argv[i]);
			continue;
		}
		char flag[32];
		const char *eq = strchr(arg, '=');
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		size_t fl = eq ? (size_t)(eq - arg) : strlen(arg);
		snprintf(flag, sizeof(flag), "%.*s", (int)(fl < 31 ? fl : 31), arg);
		if (strcmp(flag, "--token-in-query") == 0 && !eq) {
			a->token_in_query = true;
			continue;
		}
		if (strcmp(flag, "--help") == 0 || sub_flag(a, flag, v) < 0) {
			fprintf(stderr, "crier sub: bad flag or value: %s\n%s", arg, sub_usage);
			return 2;
		}
		if (!eq)
			i++;
	}
	if (a->n_channels == 0) {
		fprintf(stderr, "crier sub: no channel given\n%s", sub_usage);
		return 2;
	}
	return 0;
}

static int sub_run(struct sub_ctx *s, const struct sub_args *a)
{
	struct crier_client_options o = {
	        .transport = a->transport,
	        .token = a->token,
	        .token_in_query = a->token_in_query,
	        .backoff_min_ms = (uint32_t)a->backoff_min_ms,
	        .backoff_max_ms = (uint32_t)a->backoff_max_ms,
	        .max_attempts = (uint32_t)a->max_attempts,
	        .heartbeat_ms = (uint32_t)a->heartbeat_ms,
	        /* --heartbeat is the server's keep-alive period whatever the
	         * transport: SSE comments or WebSocket pings. */
	        .ping_ms = (uint32_t)a->heartbeat_ms,
	        .on_message = sub_on_message,
	        .on_gap = sub_on_gap,
	        .on_state = sub_on_state,
	        .user = s,
	};
	int rc = crier_client_new(&s->loop, a->url, &o, &s->client);
	if (rc) {
		fprintf(stderr, "crier sub: invalid --url '%s' (%s; expected http://host[:port])\n",
		        a->url, crier_client_strerror(rc));
		return 2;
	}
	uv_timer_init(&s->loop, &s->timeout);
	s->timeout.data = s;
	if (a->timeout_ms > 0)
		uv_timer_start(&s->timeout, sub_on_timeout, (uint64_t)a->timeout_ms, 0);
	uv_signal_init(&s->loop, &s->sigint);
	uv_signal_init(&s->loop, &s->sigterm);
	s->sigint.data = s->sigterm.data = s;
	uv_signal_start_oneshot(&s->sigint, sub_on_signal, SIGINT);
	uv_signal_start_oneshot(&s->sigterm, sub_on_signal, SIGTERM);
	rc = crier_client_subscribe(s->client, (const char *const *)a->channels, a->n_channels,
	                            a->since);
	if (rc) {
		fprintf(stderr, "crier sub: cannot subscribe: %s\n", crier_client_strerror(rc));
		sub_finish(s, 2);
	}
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return s->exit_code;
}

int cmd_sub(int argc, char **argv)
{
	const char *env_url = getenv("CRIER_URL");
	size_t cap = (size_t)argc + 1;
	for (int i = 0; i < argc; i++)
		for (const char *p = argv[i]; *p; p++)
			cap += *p == ',';
	struct sub_args a = {
	        .url = env_url && *env_url ? env_url : SUB_DEFAULT_URL,
	        .token = getenv("CRIER_TOKEN") && *getenv("CRIER_TOKEN") ? getenv("CRIER_TOKEN")
	                                                                 : NULL,
	        .max_attempts = SUB_DEFAULT_MAX_ATTEMPTS,
	        .backoff_min_ms = 250,
	        .backoff_max_ms = 10000,
	        .channels = calloc(cap, sizeof(char *)),
	};
	if (!a.channels)
		return 1;
	int rc = sub_parse_args(argc, argv, &a);
	if (rc == 0) {
		struct sub_ctx s = {.format = a.format, .count = a.count, .url = a.url};
		uv_loop_init(&s.loop);
		rc = sub_run(&s, &a);
		uv_run(&s.loop, UV_RUN_DEFAULT);
		uv_loop_close(&s.loop);
	}
	free(a.channels);
	return rc;
}
