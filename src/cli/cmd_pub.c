/*
 * cmd_pub.c - `crier pub`: publish DATA, or each line of stdin, and print
 * the id the hub assigned to each.
 *
 * Owns the command line and the reading of stdin; the HTTP keep-alive
 * connection and the answers are libcrier's. Lines are read one at a time,
 * the next only after the previous publish was answered, so the ids come
 * out in input order and a failure stops at the line that failed. Reading
 * stdin blocks the loop, which is fine here: between two lines there is
 * nothing else for it to do. With --binary and no DATA, the whole of stdin
 * is one binary message (lines mean nothing in binary).
 *
 * Exit codes: 0 when every message was published; 1 on the first failure,
 * with the server's reason; 2 for usage errors.
 */
#include "cli/cli.h"
#include "crier/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUB_DEFAULT_URL "http://127.0.0.1:8080"

static const char pub_usage[] =
        "usage: crier pub [--url URL] [--event NAME] [--binary] [--token T] [--token-in-query]\n"
        "                 CHANNEL [DATA]\n";

struct pub_ctx {
	uv_loop_t loop;
	crier_client *client;
	const char *channel, *event;
	bool binary;
	char *line; /* getline's buffer, owned */
	size_t line_cap;
	int exit_code;
};

static void pub_next(struct pub_ctx *p);

static void pub_on_done(crier_client *c, int err, int status, const char *id, const char *reason,
                        void *arg)
{
	struct pub_ctx *p = arg;
	(void)c;
	if (err || !id) {
		if (status)
			fprintf(stderr, "crier pub: the server refused the message (%d): %s\n",
			        status, reason);
		else
			fprintf(stderr, "crier pub: %s\n", reason);
		p->exit_code = 1;
		if (p->client) {
			crier_client_close(p->client, NULL);
			p->client = NULL;
		}
		return;
	}
	printf("%s\n", id);
	fflush(stdout);
	pub_next(p);
}

/* Publishes the next stdin line, or closes the client at EOF. */
static void pub_next(struct pub_ctx *p)
{
	if (!p->client)
		return;
	ssize_t n = p->line ? getline(&p->line, &p->line_cap, stdin) : -1;
	if (n < 0) {
		crier_client_close(p->client, NULL);
		p->client = NULL;
		return;
	}
	size_t len = (size_t)n;
	if (len && p->line[len - 1] == '\n')
		len--;
	if (len && p->line[len - 1] == '\r')
		len--;
	int rc = crier_client_publish(p->client, p->channel, p->event, p->line, len, p->binary,
	                              pub_on_done, p);
	if (rc)
		pub_on_done(p->client, rc, 0, NULL, crier_client_strerror(rc), p);
}

/* Reads all of stdin into *out; returns its length or -1. */
static ssize_t pub_slurp(char **out)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	while (b) {
		size_t n = fread(b + len, 1, cap - len, stdin);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb)
				break;
			b = nb;
			cap *= 2;
		}
	}
	if (!b || ferror(stdin)) {
		free(b);
		return -1;
	}
	*out = b;
	return (ssize_t)len;
}

static int pub_start(struct pub_ctx *p, const char *data)
{
	int rc = 0;
	if (data) {
		rc = crier_client_publish(p->client, p->channel, p->event, data, strlen(data),
		                          p->binary, pub_on_done, p);
	} else if (p->binary) {
		char *all = NULL;
		ssize_t n = pub_slurp(&all);
		rc = n < 0 ? UV_EIO
		           : crier_client_publish(p->client, p->channel, p->event, all, (size_t)n,
		                                  true, pub_on_done, p);
		free(all);
	} else {
		p->line_cap = 4096;
		p->line = malloc(p->line_cap);
		pub_next(p);
		return 0;
	}
	if (rc)
		pub_on_done(p->client, rc, 0, NULL, crier_client_strerror(rc), p);
	return 0;
}

int cmd_pub(int argc, char **argv)
{
	const char *env_url = getenv("CRIER_URL");
	const char *env_token = getenv("CRIER_TOKEN");
	const char *url = env_url && *env_url ? env_url : PUB_DEFAULT_URL;
	const char *token = env_token && *env_token ? env_token : NULL;
	const char *pos[2] = {NULL, NULL};
	int npos = 0;
	bool token_in_query = false;
	struct pub_ctx p = {0};
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		size_t fl = eq ? (size_t)(eq - a) : strlen(a);
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		const char **dst = NULL;
		if (strncmp(a, "--url", fl) == 0 && fl == 5)
			dst = &url;
		else if (strncmp(a, "--event", fl) == 0 && fl == 7)
			dst = &p.event;
		else if (strncmp(a, "--token", fl) == 0 && fl == 7)
			dst = &token;
		if (dst && v) {
			*dst = v;
			i += eq ? 0 : 1;
		} else if (strcmp(a, "--binary") == 0) {
			p.binary = true;
		} else if (strcmp(a, "--token-in-query") == 0) {
			token_in_query = true;
		} else if (strcmp(a, "--") == 0 && i + 1 < argc && npos < 2) {
			pos[npos++] = argv[++i];
		} else if ((strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) && npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "crier pub: bad flag or argument: %s\n%s", a, pub_usage);
			return 2;
		}
	}
	if (npos == 0) {
		fprintf(stderr, "crier pub: no channel given\n%s", pub_usage);
		return 2;
	}
	p.channel = pos[0];
	uv_loop_init(&p.loop);
	struct crier_client_options o = {.token = token, .token_in_query = token_in_query};
	int rc = crier_client_new(&p.loop, url, &o, &p.client);
	if (rc) {
		fprintf(stderr, "crier pub: invalid --url '%s' (%s; expected http://host[:port])\n",
		        url, crier_client_strerror(rc));
		uv_loop_close(&p.loop);
		return 2;
	}
	pub_start(&p, pos[1]);
	uv_run(&p.loop, UV_RUN_DEFAULT);
	uv_loop_close(&p.loop);
	free(p.line);
	return p.exit_code;
}
