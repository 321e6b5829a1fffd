/*
 * bench_report.h - the result of a `crier bench` run as an ordered list
 * of named figures, printed as one JSON line (scripts) or as a two-column
 * table (--human) from the same list, so the two never disagree.
 *
 * Fixed capacity, no allocation: a mode adds at most BENCH_REPORT_MAX
 * fields and strings totalling BENCH_REPORT_TEXT bytes; anything past
 * that is dropped (and asserted against in debug builds). Names are
 * string literals, kept by pointer; string values are copied.
 *
 * Thread: one (the mode's main thread, after the run).
 */
#ifndef CRIER_BENCH_BENCH_REPORT_H
#define CRIER_BENCH_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_REPORT_MAX  96
#define BENCH_REPORT_TEXT 2048

enum bench_field_kind { BENCH_FIELD_INT, BENCH_FIELD_NUM, BENCH_FIELD_STR, BENCH_FIELD_BOOL };

struct bench_field {
	const char *name; /* a literal */
	uint8_t kind;     /* enum bench_field_kind */
	uint8_t decimals; /* NUM: digits after the point */
	union {
		int64_t i;
		double d;
		bool b;
		uint32_t str_off; /* STR: offset into text */
	} v;
};

struct bench_report {
	const char *title; /* the table's heading, e.g. "crier bench fanout" */
	unsigned n;
	uint32_t text_len;
	struct bench_field fields[BENCH_REPORT_MAX];
	char text[BENCH_REPORT_TEXT];
};

void bench_report_init(struct bench_report *r, const char *title);
void bench_report_int(struct bench_report *r, const char *name, int64_t v);
/* A number with decimals digits after the point (0: printed as an integer);
 * NaN and infinities print as 0. */
void bench_report_num(struct bench_report *r, const char *name, double v, unsigned decimals);
void bench_report_str(struct bench_report *r, const char *name, const char *s);
void bench_report_bool(struct bench_report *r, const char *name, bool v);

/* Prints r as one JSON object on one line, or as a table when human. */
void bench_report_print(const struct bench_report *r, FILE *out, bool human);

#endif
