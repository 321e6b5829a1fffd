/*
 * cmd_help.c - `crier help [CMD]` and `crier version`.
 *
 * `crier help serve` prints the option table from core/config.c; with
 * --markdown it prints docs/config.md, which a test keeps in sync.
 */
#include "cli/cli.h"
#include "core/config.h"

#include <stdio.h>
#include <string.h>

static const char cli_usage[] =
        "crier - a real-time hub: WebSocket, Server-Sent Events and long-poll over one bus\n"
        "\n"
        "usage: crier <command> [flags]\n"
        "\n"
        "commands:\n"
        "  serve      run the hub (default 127.0.0.1:8080)\n"
        "  sub        subscribe to channels and print events as they arrive\n"
        "  pub        publish DATA, or each line of stdin, and print the ids\n"
        "  version    print the version\n"
        "  help [CMD] show help for a command\n";

static const char cli_sub_usage[] =
        "usage: crier sub [--url URL] [--transport auto|sse|ws|wsproto|poll] [--since ID]\n"
        "                 [--format text|json|sse] [--count N] [--timeout S] [--token T]\n"
        "                 [--token-in-query] [--max-attempts N] [--heartbeat S]\n"
        "                 [--backoff-min S] [--backoff-max S] CHANNEL...\n"
        "\n"
        "Print events of the channels as they arrive (text: `id channel event data`, one\n"
        "line; json: one object per line; sse: an event stream). Reconnects with\n"
        "exponential backoff and full jitter (--backoff-min 0.25s .. --backoff-max 10s,\n"
        "widened by the server's retry:) and resumes from the last id; gaps are reported\n"
        "on stderr (and in json/sse output). Exits 0 after --count messages or\n"
        "--timeout, 1 when the server refuses or cannot be reached (--max-attempts\n"
        "failures in a row, default 10; 0 = retry forever), 2 for usage errors.\n"
        "Transports: auto (wsproto, then sse, then poll), sse, wsproto (crier.v1 on /ws),\n"
        "poll (long-poll), ws (raw WebSocket: frames carry no id, so it cannot resume).\n"
        "A stream silent for longer than --heartbeat (the server's --sse-heartbeat and\n"
        "--ws-ping-interval, default 15s) plus 5s is treated as dead and reopened.\n"
        "--url defaults to CRIER_URL or http://127.0.0.1:8080; --token to CRIER_TOKEN,\n"
        "sent as Authorization: Bearer, or as ?token= with --token-in-query.\n";

static const char cli_pub_usage[] =
        "usage: crier pub [--url URL] [--event NAME] [--binary] [--token T] [--token-in-query]\n"
        "                 CHANNEL [DATA]\n"
        "\n"
        "Publish DATA, or each line of stdin over one keep-alive connection (with --binary\n"
        "and no DATA: all of stdin as one binary message), printing each assigned id.\n"
        "Exits 1 with the server's reason on the first failure.\n"
        "--url defaults to CRIER_URL or http://127.0.0.1:8080; --token to CRIER_TOKEN,\n"
        "sent as Authorization: Bearer, or as ?token= with --token-in-query.\n";

int cmd_version(void)
{
	printf("crier %s (%s)\n", CRIER_VERSION, CRIER_COMMIT);
	return 0;
}

int cmd_help(int argc, char **argv)
{
	if (argc == 0) {
		fputs(cli_usage, stdout);
		return 0;
	}
	if (strcmp(argv[0], "serve") == 0) {
		if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
			config_print_markdown(stdout);
			return 0;
		}
		printf("usage: crier serve [flags]\n\nRun the hub. Flags (each also as CRIER_* "
		       "environment variable or config-file key):\n\n");
		config_print_help(stdout);
		return 0;
	}
	if (strcmp(argv[0], "sub") == 0) {
		fputs(cli_sub_usage, stdout);
		return 0;
	}
	if (strcmp(argv[0], "pub") == 0) {
		fputs(cli_pub_usage, stdout);
		return 0;
	}
	if (strcmp(argv[0], "version") == 0 || strcmp(argv[0], "help") == 0) {
		fputs(cli_usage, stdout);
		return 0;
	}
	fprintf(stderr, "crier help: unknown command '%s' (see 'crier help')\n", argv[0]);
	return 2;
}
