/*
 * log.h - logfmt lines on stderr.
 *
 * One line per event: `ts=... level=... msg=... key=value ...`, written
 * with a single write(2) so lines from different threads never interleave.
 * The sink (stderr) and the minimum level are the process-wide state the
 * style guide allows; the level is atomic so a reload can change it while
 * workers log.
 *
 * Two ways to write a line: log_printf for fields the caller formats itself
 * from trusted values (numbers, addresses), and the logline builder for
 * values that come from the network, which log_str quotes and escapes so a
 * hostile path cannot forge fields or lines.
 */
#ifndef CRIER_CORE_LOG_H
#define CRIER_CORE_LOG_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Writes one line; `fields` is a printf format for pre-formatted, trusted
 * key=value pairs (may be NULL). msg is quoted when it contains spaces. */
void log_printf(enum log_level level, const char *msg, const char *fields, ...)
        __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_printf(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_printf(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_printf(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_printf(LOG_ERROR, msg, __VA_ARGS__)

/* Builder for lines with untrusted values. Truncates (marking the line
 * with `truncated=1`) rather than allocating. */
struct logline {
	char buf[1024];
	size_t len;
	bool full;
};

void log_begin(struct logline *l, enum log_level level, const char *msg);
/* Adds key="value" with quotes, backslash escapes and \xNN for controls. */
void log_str(struct logline *l, const char *key, const char *val, size_t len);
void log_int(struct logline *l, const char *key, int64_t val);
void log_end(struct logline *l);

#endif
