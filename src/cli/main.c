/*
 * main.c - dispatches `crier <command>`.
 *
 * SIGPIPE is ignored process-wide before anything else: a peer that goes
 * away mid-write must cost one connection an EPIPE, not the process.
 */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fprintf(stderr, "usage: crier <command> [flags]; see 'crier help'\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(cmd, "sub") == 0)
		return cmd_sub(argc - 2, argv + 2);
	if (strcmp(cmd, "pub") == 0)
		return cmd_pub(argc - 2, argv + 2);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc - 2, argv + 2);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return cmd_help(argc - 2, argv + 2);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version();
	fprintf(stderr, "crier: unknown command '%s' (see 'crier help')\n", cmd);
	return 2;
}
