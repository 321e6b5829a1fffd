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
        "  version    print the version\n"
        "  help [CMD] show help for a command\n";

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
	if (strcmp(argv[0], "version") == 0 || strcmp(argv[0], "help") == 0) {
		fputs(cli_usage, stdout);
		return 0;
	}
	fprintf(stderr, "crier help: unknown command '%s' (see 'crier help')\n", argv[0]);
	return 2;
}
