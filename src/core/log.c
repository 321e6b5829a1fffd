/*
 * log.c - the logfmt sink.
 *
 * Timestamps are UTC with milliseconds (RFC 3339), taken per line: a log
 * line is never on a hot path that per-request work would notice, except
 * the optional access log, which operators enable knowingly.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_min_level = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_min_level, (int)level, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

static void log_raw(struct logline *l, const char *s, size_t n)
{
	if (l->full)
		return;
	/* Keep room for " truncated=1\n". */
	if (l->len + n > sizeof(l->buf) - 16) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static bool log_needs_quote(const char *s, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return true;
	}
	return false;
}

void log_str(struct logline *l, const char *key, const char *val, size_t len)
{
	log_raw(l, " ", 1);
	log_raw(l, key, strlen(key));
	log_raw(l, "=", 1);
	if (!log_needs_quote(val, len)) {
		log_raw(l, val, len);
		return;
	}
	log_raw(l, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];
		char esc[5];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_raw(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			log_raw(l, esc, 4);
		} else {
			log_raw(l, (const char *)&c, 1);
		}
	}
	log_raw(l, "\"", 1);
}

void log_int(struct logline *l, const char *key, int64_t val)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)val);
	log_raw(l, " ", 1);
	log_raw(l, key, strlen(key));
	log_raw(l, "=", 1);
	log_raw(l, tmp, (size_t)n);
}

void log_begin(struct logline *l, enum log_level level, const char *msg)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	l->full = false;
	int n = snprintf(l->buf, sizeof(l->buf), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, log_level_names[level]);
	l->len = (size_t)n;
	log_str(l, "msg", msg, strlen(msg));
}

void log_end(struct logline *l)
{
	if (l->full) {
		memcpy(l->buf + l->len, " truncated=1", 12);
		l->len += 12;
	}
	l->buf[l->len++] = '\n';
	/* One write per line: atomic with respect to other threads' lines. */
	ssize_t rc = write(STDERR_FILENO, l->buf, l->len);
	(void)rc;
}

void log_printf(enum log_level level, const char *msg, const char *fields, ...)
{
	if (!log_enabled(level))
		return;
	struct logline l;
	log_begin(&l, level, msg);
	if (fields && *fields) {
		char tmp[768];
		va_list ap;
		va_start(ap, fields);
		int n = vsnprintf(tmp, sizeof(tmp), fields, ap);
		va_end(ap);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
			log_raw(&l, " ", 1);
			log_raw(&l, tmp, len);
			if ((size_t)n >= sizeof(tmp))
				l.full = true;
		}
	}
	log_end(&l);
}
