/*
 * cmd_bench.c - `crier bench fanout|echo|connect [flags]`: the command
 * line of the load generators in src/bench/.
 *
 * Owns the flags: one table names each flag, what it parses into, its
 * bounds and the modes it belongs to; defaults are set per mode before
 * parsing, and what a flag means is in `crier help bench` (cmd_help.c),
 * which `crier bench --help` prints. After parsing it checks that the hub
 * answers at all (one connect, bounded), so an unreachable --url is one
 * clear sentence and exit 1, not thousands of connect errors. It never
 * measures anything itself.
 *
 * Exit codes: 0 for a clean, complete run; 1 when the run had errors, was
 * cut by --timeout, or the hub could not be reached; 2 for usage errors
 * and runs that cannot start (the open-file limit).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

#define BENCH_DEFAULT_URL "http://127.0.0.1:8080"

enum { MODE_FANOUT = 1, MODE_ECHO = 2, MODE_CONNECT = 4, MODE_ALL = 7 };

enum bench_opt_kind {
	OPT_INT,       /* int, within [min, max] */
	OPT_LONG,      /* long, within [min, max] */
	OPT_SECONDS,   /* double seconds; a number with an optional ms, s, m or h suffix */
	OPT_STR,       /* const char *, borrowed from argv */
	OPT_FLAG,      /* bool set to true, no value */
	OPT_RATE,      /* double messages/s, or "max" (0) */
	OPT_TRANSPORT, /* enum bench_transport */
	OPT_PUB,       /* --pub-transport http|wsproto: bool */
};

struct bench_opt {
	const char *name;
	uint8_t kind;  /* enum bench_opt_kind */
	uint8_t modes; /* MODE_* where the flag means something */
	size_t off;    /* of the field in struct bench_opts */
	double min, max;
};

#define OFF(f) offsetof(struct bench_opts, f)

/* Every flag; `crier help bench` says what each means and why its default. */
static const struct bench_opt bench_opts_table[] = {
        {"--url", OPT_STR, MODE_ALL, OFF(url_text), 0, 0},
        {"--timeout", OPT_SECONDS, MODE_ALL, OFF(timeout_s), 0.001, 86400},
        {"--server-pid", OPT_LONG, MODE_ALL, OFF(server_pid), 1, 4194304},
        {"--human", OPT_FLAG, MODE_ALL, OFF(human), 0, 0},
        {"--progress", OPT_FLAG, MODE_ALL, OFF(progress), 0, 0},
        {"--inflight", OPT_INT, MODE_ALL, OFF(inflight), 1, 65536},
        {"--transport", OPT_TRANSPORT, MODE_FANOUT | MODE_CONNECT, OFF(transport), 0, 0},
        {"--channels", OPT_INT, MODE_FANOUT | MODE_CONNECT, OFF(channels), 1, 1000000},
        {"--subs", OPT_INT, MODE_FANOUT, OFF(subs), 0, 10000000},
        {"--msgs", OPT_LONG, MODE_FANOUT, OFF(msgs), 1, 1000000000},
        {"--rate", OPT_RATE, MODE_FANOUT, OFF(rate), 0.001, 1e9},
        {"--size", OPT_LONG, MODE_FANOUT | MODE_ECHO, OFF(size_bytes), 0, 64 << 20},
        {"--publishers", OPT_INT, MODE_FANOUT, OFF(publishers), 1, 10000},
        {"--pub-transport", OPT_PUB, MODE_FANOUT, OFF(pub_wsproto), 0, 0},
        {"--window", OPT_INT, MODE_FANOUT, OFF(window), 1, 100000},
        {"--drain", OPT_SECONDS, MODE_FANOUT, OFF(drain_s), 0, 86400},
        {"--settle-ms", OPT_INT, MODE_FANOUT, OFF(settle_ms), 0, 600000},
        {"--pub-path", OPT_STR, MODE_FANOUT, OFF(pub_path), 0, 0},
        {"--sub-path", OPT_STR, MODE_FANOUT, OFF(sub_path), 0, 0},
        {"--ws-path", OPT_STR, MODE_FANOUT, OFF(ws_path), 0, 0},
        {"--pub-url", OPT_STR, MODE_FANOUT, OFF(pub_url_text), 0, 0},
        {"--conns", OPT_LONG, MODE_ECHO | MODE_CONNECT, OFF(conns), 1, 10000000},
        {"--duration", OPT_SECONDS, MODE_ECHO, OFF(duration_s), 0.001, 86400},
        {"--warmup", OPT_SECONDS, MODE_ECHO, OFF(warmup_s), 0, 86400},
        {"--threads", OPT_INT, MODE_ECHO, OFF(threads), 1, 256},
        {"--binary", OPT_FLAG, MODE_ECHO, OFF(binary), 0, 0},
        {"--hold", OPT_SECONDS, MODE_CONNECT, OFF(hold_s), 0, 86400},
        {"--settle", OPT_SECONDS, MODE_CONNECT, OFF(settle_s), 0, 86400},
        {"--prime", OPT_LONG, MODE_CONNECT, OFF(prime), 0, 100000},
};

/* Prints `crier help bench` to stdout. */
static int bench_help(void)
{
	char bench[] = "bench";
	char *args[] = {bench, NULL};
	return cmd_help(1, args);
}

static int bench_usage_error(const char *mode, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "crier bench%s%s: ", mode ? " " : "", mode ? mode : "");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, " (see 'crier help bench')\n");
	return 2;
}

/* Seconds from "2.5", "500ms", "3s", "2m", "1h"; -1 when malformed. */
static double bench_seconds(const char *v)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (end == v || errno || !isfinite(d))
		return -1;
	if (!strcmp(end, "ms"))
		return d / 1000;
	if (!*end || !strcmp(end, "s"))
		return d;
	if (!strcmp(end, "m"))
		return d * 60;
	if (!strcmp(end, "h"))
		return d * 3600;
	return -1;
}

/* Parses v for flag t into o; 0 or a usage error's exit code. */
static int bench_set(struct bench_opts *o, const struct bench_opt *t, const char *v,
                     const char *mode)
{
	char *field = (char *)o + t->off, *end;
	double d = 0;
	switch (t->kind) {
	case OPT_STR:
		*(const char **)(void *)field = v;
		return 0;
	case OPT_TRANSPORT:
		for (int i = BENCH_HTTP; i <= BENCH_POLL; i++)
			if (!strcmp(v, bench_transport_name((enum bench_transport)i))) {
				*(enum bench_transport *)(void *)field = (enum bench_transport)i;
				return 0;
			}
		return bench_usage_error(
		        mode, "--transport is http, sse, ws, wsproto or poll, not '%s'%s", v, "");
	case OPT_PUB:
		if (strcmp(v, "http") && strcmp(v, "wsproto"))
			return bench_usage_error(
			        mode, "--pub-transport is http or wsproto, not '%s'%s", v, "");
		*(bool *)(void *)field = !strcmp(v, "wsproto");
		return 0;
	case OPT_RATE:
		if (!strcmp(v, "max")) {
			*(double *)(void *)field = 0;
			return 0;
		}
		errno = 0;
		d = strtod(v, &end);
		if (end == v || *end || errno)
			d = -1;
		break;
	case OPT_SECONDS:
		d = bench_seconds(v);
		break;
	default:
		errno = 0;
		d = (double)strtoll(v, &end, 10);
		if (end == v || *end || errno)
			d = -1e300;
	}
	if (!(d >= t->min && d <= t->max)) {
		char range[96];
		snprintf(range, sizeof range, "from %g to %g%s", t->min, t->max,
		         t->kind == OPT_SECONDS ? " seconds"
		         : t->kind == OPT_RATE  ? ", or max"
		                                : "");
		fprintf(stderr,
		        "crier bench %s: %s takes a number %s, not '%s' (see 'crier help "
		        "bench')\n",
		        mode, t->name, range, v);
		return 2;
	}
	if (t->kind == OPT_INT)
		*(int *)(void *)field = (int)d;
	else if (t->kind == OPT_LONG)
		*(long *)(void *)field = (long)d;
	else
		*(double *)(void *)field = d;
	return 0;
}

/* The defaults of mode (a MODE_* bit). */
static void bench_defaults(struct bench_opts *o, int mode)
{
	const char *env = getenv("CRIER_URL");
	*o = (struct bench_opts){
	        .url_text = env && *env ? env : BENCH_DEFAULT_URL,
	        .timeout_s = mode == MODE_FANOUT ? 60
	                     : mode == MODE_ECHO ? 10
	                                         : 120,
	        .inflight = 256,
	        .channels = 1,
	        .transport = mode == MODE_CONNECT ? BENCH_HTTP : BENCH_SSE,
	        .subs = 1000,
	        .msgs = 1000,
	        .size_bytes = 64,
	        .publishers = 1,
	        .window = 8,
	        .drain_s = 3,
	        .settle_ms = 300,
	        .pub_path = "/pub/%s",
	        .sub_path = "/sub/%s",
	        .ws_path = "/ws",
	        .conns = mode == MODE_ECHO ? 50 : 1000,
	        .duration_s = 10,
	        .warmup_s = 2,
	        .threads = 1,
	        .hold_s = -1, /* connect: 3 with --server-pid, else 0 */
	        .settle_s = -1,
	        .prime = -1,
	};
}

/* A path pattern must hold one %s (the channel) and no other conversion. */
static bool bench_pattern_ok(const char *p)
{
	const char *pct = strchr(p, '%');
	return pct && pct[1] == 's' && !strchr(pct + 2, '%');
}

/* Checks what no single flag can: combinations, and the mode's limits. */
static int bench_check(struct bench_opts *o, int mode, const char *name)
{
	const char *bad = bench_net_url_parse(o->url_text, &o->url);
	if (bad)
		return bench_usage_error(name, "--url %s: %s", o->url_text, bad);
	if (mode == MODE_FANOUT) {
		o->pub_url = o->url;
		if (o->pub_url_text) {
			bad = bench_net_url_parse(o->pub_url_text, &o->pub_url);
			if (bad)
				return bench_usage_error(name, "--pub-url %s: %s", o->pub_url_text,
				                         bad);
		}
		if (o->transport == BENCH_HTTP)
			return bench_usage_error(
			        name, "--transport is sse, ws, wsproto or poll%s%s", "", "");
		if (o->size_bytes < 32 || o->size_bytes > 60000)
			return bench_usage_error(name,
			                         "--size is 32 to 60000 bytes here (the stamp "
			                         "takes 31)%s%s",
			                         "", "");
		if (!bench_pattern_ok(o->pub_path) || !bench_pattern_ok(o->sub_path))
			return bench_usage_error(name,
			                         "--pub-path and --sub-path need one %%s (the "
			                         "channel) and no other %%%s%s",
			                         "", "");
	}
	if (mode == MODE_ECHO && o->threads > o->conns)
		return bench_usage_error(name, "--threads cannot exceed --conns%s%s", "", "");
	if (mode == MODE_CONNECT) {
		bool pid = o->server_pid > 0;
		if (o->hold_s < 0)
			o->hold_s = pid ? 3 : 0;
		if (o->settle_s < 0)
			o->settle_s = pid ? 2 : 0;
		if (o->prime < 0)
			o->prime = pid ? 16 : 0;
	}
	return 0;
}

/* Parses argv (after the mode) into o; 0, or an exit code (-1: help). */
static int bench_parse(struct bench_opts *o, int mode, const char *name, int argc, char **argv)
{
	bench_defaults(o, mode);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return -1;
		const struct bench_opt *t = NULL;
		for (size_t k = 0; k < sizeof bench_opts_table / sizeof *bench_opts_table; k++)
			if (!strcmp(a, bench_opts_table[k].name))
				t = &bench_opts_table[k];
		if (!t)
			return bench_usage_error(name, "unknown option '%s'%s", a, "");
		if (!(t->modes & mode))
			return bench_usage_error(name, "%s is not an option of %s", a, name);
		if (t->kind == OPT_FLAG) {
			*(bool *)(void *)((char *)o + t->off) = true;
			continue;
		}
		if (i + 1 >= argc)
			return bench_usage_error(name, "%s needs a value%s", a, "");
		int rc = bench_set(o, t, argv[++i], name);
		if (rc)
			return rc;
	}
	return bench_check(o, mode, name);
}

/* One connect to the hub before anything else: a wrong --url is one
 * sentence, not a failure per connection. */
static int bench_reachable(const struct bench_opts *o)
{
	int ms = o->timeout_s < 5 ? (int)(o->timeout_s * 1000) + 1 : 5000;
	int rc = bench_net_probe(&o->url.addr, ms);
	if (rc == 0)
		return 0;
	fprintf(stderr,
	        "crier bench: cannot connect to %s:%u (%s): is the hub running at --url %s?\n",
	        o->url.host, (unsigned)o->url.port, strerror(-rc), o->url_text);
	return 1;
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr,
		        "usage: crier bench fanout|echo|connect [flags]; see 'crier help bench'\n");
		return 2;
	}
	const char *name = argv[0];
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help"))
		return bench_help();
	int mode = !strcmp(name, "fanout")    ? MODE_FANOUT
	           : !strcmp(name, "echo")    ? MODE_ECHO
	           : !strcmp(name, "connect") ? MODE_CONNECT
	                                      : 0;
	if (!mode)
		return bench_usage_error(NULL, "unknown mode '%s'%s: use fanout, echo or connect",
		                         name, "");
	struct bench_opts o;
	int rc = bench_parse(&o, mode, name, argc - 1, argv + 1);
	if (rc)
		return rc < 0 ? bench_help() : rc;
	if (bench_reachable(&o))
		return 1;
	if (mode == MODE_FANOUT)
		return bench_fanout_run(&o);
	if (mode == MODE_ECHO)
		return bench_echo_run(&o);
	return bench_connect_run(&o);
}
