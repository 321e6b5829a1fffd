/*
 * bench_report.c - one list of figures, printed as a JSON line or a table
 * (see bench_report.h).
 *
 * Owns the output format only; which figures exist is the modes'
 * business. JSON strings are escaped here (quotes, backslashes, control
 * bytes), so an error message quoting a server's status line cannot break
 * the line a script parses. In the table, integers get thousands
 * separators, because "3,490,117 deliveries/s" is read at a glance and
 * "3490117" is counted with a finger.
 */
#include "bench/bench_report.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

void bench_report_init(struct bench_report *r, const char *title)
{
	r->title = title;
	r->n = 0;
	r->text[0] = 0; /* offset 0: the empty string, for values that did not fit */
	r->text_len = 1;
}

/* The next field slot, or NULL (and an assert) when full. */
static struct bench_field *bench_report_add(struct bench_report *r, const char *name,
                                            enum bench_field_kind kind)
{
	assert(r->n < BENCH_REPORT_MAX);
	if (r->n >= BENCH_REPORT_MAX)
		return NULL;
	struct bench_field *f = &r->fields[r->n++];
	*f = (struct bench_field){.name = name, .kind = (uint8_t)kind};
	return f;
}

void bench_report_int(struct bench_report *r, const char *name, int64_t v)
{
	struct bench_field *f = bench_report_add(r, name, BENCH_FIELD_INT);
	if (f)
		f->v.i = v;
}

void bench_report_num(struct bench_report *r, const char *name, double v, unsigned decimals)
{
	struct bench_field *f = bench_report_add(r, name, BENCH_FIELD_NUM);
	if (f) {
		f->v.d = isfinite(v) ? v : 0;
		f->decimals = (uint8_t)(decimals > 9 ? 9 : decimals);
	}
}

void bench_report_str(struct bench_report *r, const char *name, const char *s)
{
	struct bench_field *f = bench_report_add(r, name, BENCH_FIELD_STR);
	if (!f)
		return;
	/* Cut to what is left of text; offset 0 is the empty string. */
	size_t len = strlen(s), room = sizeof r->text - r->text_len;
	if (room <= 1)
		return;
	if (len > room - 1)
		len = room - 1;
	f->v.str_off = r->text_len;
	memcpy(r->text + r->text_len, s, len);
	r->text[r->text_len + len] = 0;
	r->text_len += (uint32_t)len + 1;
}

void bench_report_bool(struct bench_report *r, const char *name, bool v)
{
	struct bench_field *f = bench_report_add(r, name, BENCH_FIELD_BOOL);
	if (f)
		f->v.b = v;
}

static void bench_report_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* An integer with thousands separators: 3,490,117. */
static void bench_report_grouped(FILE *out, int64_t v)
{
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%" PRId64, v);
	int start = digits[0] == '-';
	for (int i = 0; i < n; i++) {
		fputc(digits[i], out);
		int left = n - 1 - i;
		if (i >= start && left > 0 && left % 3 == 0)
			fputc(',', out);
	}
}

static void bench_report_value(const struct bench_report *r, const struct bench_field *f, FILE *out,
                               bool human)
{
	switch (f->kind) {
	case BENCH_FIELD_INT:
		if (human)
			bench_report_grouped(out, f->v.i);
		else
			fprintf(out, "%" PRId64, f->v.i);
		break;
	case BENCH_FIELD_NUM:
		if (human && f->decimals == 0 && fabs(f->v.d) < 9e18)
			bench_report_grouped(out, (int64_t)llround(f->v.d));
		else
			fprintf(out, "%.*f", f->decimals, f->v.d);
		break;
	case BENCH_FIELD_STR:
		if (human)
			fputs(r->text + f->v.str_off, out);
		else
			bench_report_json_str(out, r->text + f->v.str_off);
		break;
	default:
		fputs(f->v.b ? "true" : "false", out);
	}
}

void bench_report_print(const struct bench_report *r, FILE *out, bool human)
{
	if (!human) {
		fputc('{', out);
		for (unsigned i = 0; i < r->n; i++) {
			fprintf(out, "%s\"%s\":", i ? "," : "", r->fields[i].name);
			bench_report_value(r, &r->fields[i], out, false);
		}
		fputs("}\n", out);
		fflush(out);
		return;
	}
	size_t w = 0;
	for (unsigned i = 0; i < r->n; i++)
		if (strlen(r->fields[i].name) > w)
			w = strlen(r->fields[i].name);
	fprintf(out, "%s\n", r->title);
	for (unsigned i = 0; i < r->n; i++) {
		fprintf(out, "  %-*s  ", (int)w, r->fields[i].name);
		bench_report_value(r, &r->fields[i], out, true);
		fputc('\n', out);
	}
	fflush(out);
}
