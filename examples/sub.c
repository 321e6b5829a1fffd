/*
 * examples/sub.c - the smallest useful libcrier program: subscribe to
 * channels on a crier hub and print each message as it arrives.
 *
 *   example_sub URL CHANNEL... [--count N]
 *   example_sub http://127.0.0.1:8080 news alerts
 *
 * Uses only the installed API (<crier/client.h>, libuv), so it builds the
 * same in the tree (`make` builds build/example_sub) and out of it:
 *
 *   cc -o example_sub sub.c $(pkg-config --cflags --libs crier)
 *
 * The client reconnects and resumes by itself: this program sees every
 * message once, or a gap notice saying what it missed. It stops after
 * --count messages, on Ctrl-C, or when the hub refuses for good.
 */
/* uv.h needs POSIX types (pthread_rwlock_t) that strict -std=c11 hides. */
#define _POSIX_C_SOURCE 200809L

#include <crier/client.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct example {
	crier_client *client;
	uv_signal_t sigint;
	unsigned long want; /* messages to print before stopping; 0 = no limit */
	unsigned long seen;
	int exit_code;
};

static void stop(struct example *ex, int code)
{
	if (!ex->client)
		return;
	ex->exit_code = code;
	crier_client_close(ex->client, NULL); /* frees it once its handles close */
	ex->client = NULL;
	uv_close((uv_handle_t *)&ex->sigint, NULL);
}

static void on_message(crier_client *c, const struct crier_message *m, void *user)
{
	struct example *ex = user;
	(void)c;
	/* Every pointer in m is borrowed: copy what must outlive the call. */
	printf("%s %s %s %.*s\n", m->id, m->channel ? m->channel : "-", m->event ? m->event : "-",
	       m->binary ? 8 : (int)m->data_len, m->binary ? "(binary)" : m->data);
	fflush(stdout);
	if (ex->want && ++ex->seen == ex->want)
		stop(ex, 0);
}

static void on_gap(crier_client *c, const struct crier_gap *g, void *user)
{
	(void)c;
	(void)user;
	fprintf(stderr, "gap: lost messages after %s (%s), next %s\n", g->from, g->reason,
	        g->to ? g->to : "unknown");
}

static void on_state(crier_client *c, const struct crier_state_change *s, void *user)
{
	struct example *ex = user;
	(void)c;
	switch (s->state) {
	case CRIER_STATE_OPEN:
		fprintf(stderr, "open over %s%s%s\n", crier_transport_name(s->transport),
		        *s->reason ? ": " : "", s->reason);
		break;
	case CRIER_STATE_RECONNECTING:
		fprintf(stderr, "reconnecting in %llu ms (attempt %u): %s\n",
		        (unsigned long long)s->delay_ms, s->attempt, s->reason);
		break;
	case CRIER_STATE_CLOSED:
		if (s->err) {
			fprintf(stderr, "closed: %s\n", s->reason);
			stop(ex, 1);
		}
		break;
	case CRIER_STATE_CONNECTING:
		break;
	}
}

static void on_sigint(uv_signal_t *h, int signum)
{
	(void)signum;
	stop(h->data, 0);
}

int main(int argc, char **argv)
{
	struct example ex = {0};
	const char *channels[64];
	size_t n = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			ex.want = strtoul(argv[++i], NULL, 10);
		else if (n < 64)
			channels[n++] = argv[i];
	}
	if (argc < 3 || n == 0) {
		fprintf(stderr, "usage: %s URL CHANNEL... [--count N]\n", argv[0]);
		return 2;
	}

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct crier_client_options opt = {
	        .transport = CRIER_TRANSPORT_AUTO, /* /ws, else SSE, else long-poll */
	        .max_attempts = 10,                /* give up after ten failures in a row */
	        .on_message = on_message,
	        .on_gap = on_gap,
	        .on_state = on_state,
	        .user = &ex,
	};
	int rc = crier_client_new(&loop, argv[1], &opt, &ex.client);
	if (rc) {
		fprintf(stderr, "bad URL %s: %s\n", argv[1], crier_client_strerror(rc));
		return 2;
	}
	uv_signal_init(&loop, &ex.sigint);
	ex.sigint.data = &ex;
	uv_signal_start_oneshot(&ex.sigint, on_sigint, SIGINT);

	rc = crier_client_subscribe(ex.client, channels, n, NULL); /* NULL: start live */
	if (rc) {
		fprintf(stderr, "subscribe: %s\n", crier_client_strerror(rc));
		stop(&ex, 2);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* returns once every handle is closed */
	uv_loop_close(&loop);
	return ex.exit_code;
}
