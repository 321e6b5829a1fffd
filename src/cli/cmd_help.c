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
        "  bench      measure a hub: fanout, echo or connect; one JSON line of figures\n"
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

/* In parts: ISO C bounds one string literal at 4,095 bytes. */
static const char *const cli_bench_usage[] = {
        "usage: crier bench fanout|echo|connect [flags]\n"
        "\n"
        "Measure a hub from the outside (crier, or any server with the same routes, such\n"
        "as nginx+nchan) and print one JSON line of figures on stdout (--human: a table).\n"
        "A live progress line goes to stderr when it is a terminal (or with --progress).\n"
        "Exit codes: 0 clean and complete; 1 errors, cut by --timeout (partial figures,\n"
        "\"complete\": false) or hub unreachable; 2 usage errors, or the open-file limit\n"
        "cannot hold the connections asked for.\n"
        "\n"
        "crier bench fanout: N subscribers, M published messages; every delivery checked\n"
        "(lost, duplicated, out of order) and timed from publish to delivery.\n"
        "  --transport T      subscribers' transport [sse]: sse, ws (raw WebSocket on\n"
        "                     /sub), wsproto (crier.v1 on /ws), poll (long-poll loops)\n"
        "  --subs N           subscribers [1000]; subscriber i is on channel bench(i % K)\n"
        "  --channels K       channels bench0..bench(K-1) [1]; message g goes to g % K\n"
        "  --msgs M           messages in all [1000]\n"
        "  --rate R|max       messages/s over all publishers [max: as fast as answered]\n"
        "  --size B           body bytes, 32..60000 [64]; it starts with \"<g> <send ns> \"\n"
        "  --publishers P     publisher connections [1]; message g from publisher g % P\n"
        "  --pub-transport T  http (keep-alive POST /pub/{ch}) or wsproto (crier.v1\n"
        "                     publish frames on --ws-path) [http]\n"
        "  --window W         requests in flight per publisher [8]\n"
        "  --drain S          after the last publish, stop when S pass without a\n"
        "                     delivery [3s]: what is missing then is lost\n"
        "  --settle-ms MS     wait after all are subscribed, before publishing [300], for\n"
        "                     hubs that register subscriptions across threads\n"
        "  --pub-path P, --sub-path P  routes, %s is the channel [/pub/%s, /sub/%s]\n"
        "  --ws-path P        the crier.v1 endpoint [/ws]\n"
        "  --pub-url URL      publish to this node instead of --url (another node of\n"
        "                     a cluster: deliveries then cross the engine)\n"
        "  --timeout S        bound on the whole run [60s]\n"
        "  Figures: deliveries_per_s (first to last delivery), p50_us p90_us p99_us\n"
        "  p999_us max_us (publish to delivery), expected received lost duplicated\n"
        "  out_of_order, connect_s, ack_p50_us (publish answered); with --server-pid\n"
        "  rss_before_kb, rss_connected_kb, rss_per_conn_bytes, rss_peak_kb and\n"
        "  server_cpu_us_per_delivery.\n",
        "\n"
        "crier bench echo: C WebSockets, one message in flight each, every echo checked\n"
        "byte for byte and timed.\n"
        "  --url ws://HOST:PORT/PATH  the echo endpoint [path /echo: crier serve --echo]\n"
        "  --conns C          connections [50]\n"
        "  --size B           message bytes, 0..64 MiB [64]\n"
        "  --duration S       measured seconds [10s], after --warmup S unmeasured [2s]\n"
        "  --threads N        event-loop threads, each with its share of the\n"
        "                     connections [1]: one already saturates a server core\n"
        "  --binary           binary frames [text]\n"
        "  --timeout S        bound on connecting, and on each echo [10s]\n"
        "  Figures: rps, round_trips, p50_us .. max_us, client_cpu_util, errors.\n",
        "\n"
        "crier bench connect: C connections opened as fast as the server takes them,\n"
        "then held idle.\n"
        "  --transport T      [http]: http (GET, then an idle keep-alive connection),\n"
        "                     sse (the stream's first byte), ws (the 101), wsproto\n"
        "                     (crier.v1 subscribe acknowledged), poll (a held long-poll)\n"
        "  --conns C          connections [1000]\n"
        "  --channels K       channels the sse, ws, wsproto and poll ones spread over [1]\n"
        "  --hold S           keep them idle after measuring [3s with --server-pid, else 0]\n"
        "  --settle S         wait before sampling the server's memory [2s with\n"
        "                     --server-pid, else 0]\n"
        "  --prime N          with --server-pid: connections opened and closed before the\n"
        "                     first sample, so it includes what one connection warms [16]\n"
        "  --timeout S        bound on the whole run [120s]\n"
        "  The path is /healthz (http), /sub/%s (sse, ws, poll) or /ws (wsproto); a path\n"
        "  in --url replaces it (%s is the channel).\n"
        "  Figures: conns_per_s, connected, failed, dropped, setup_p50_us; with\n"
        "  --server-pid rss_per_conn_bytes (RSS growth per idle connection) and\n"
        "  pss_per_conn_bytes.\n"
        "\n"
        "Every mode:\n"
        "  --url URL          the hub [CRIER_URL or http://127.0.0.1:8080]: http:// or\n"
        "                     ws://, a numeric IPv4 host or localhost\n"
        "  --server-pid PID   sample that process and its children from /proc: RSS, CPU\n"
        "  --inflight N       connects + handshakes pending at once [256], so the\n"
        "                     server's accept backlog never overflows\n"
        "  --human            a table instead of the JSON line\n"
        "  --progress         the progress line even when stderr is not a terminal\n"
        "Durations take ms, s, m or h (a bare number is seconds). Connections past the\n"
        "first 2,000 come from 127.0.0.2, 127.0.0.3, ... (2,000 each) so the ephemeral\n"
        "ports never run out; the open-file limit is raised to its hard limit and\n"
        "checked before anything connects.\n",
};

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
	if (strcmp(argv[0], "bench") == 0) {
		for (size_t i = 0; i < sizeof cli_bench_usage / sizeof *cli_bench_usage; i++)
			fputs(cli_bench_usage[i], stdout);
		return 0;
	}
	if (strcmp(argv[0], "version") == 0 || strcmp(argv[0], "help") == 0) {
		fputs(cli_usage, stdout);
		return 0;
	}
	fprintf(stderr, "crier help: unknown command '%s' (see 'crier help')\n", argv[0]);
	return 2;
}
