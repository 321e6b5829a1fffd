/*
 * cli.h - crier's subcommands. Each returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage error.
 */
#ifndef CRIER_CLI_CLI_H
#define CRIER_CLI_CLI_H

int cmd_serve(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_pub(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(void);

#endif
