/*
 * err.c - names, sentences and HTTP statuses for CRIER_E* codes.
 *
 * Generated from the X-macro in err.h; codes outside the table are treated
 * as negated errno values (which is what libuv returns on Linux) and
 * described with strerror, so callers can pass any error code they hold.
 */
#include "core/err.h"

#include <string.h>

struct err_row {
	int status;
	const char *label;
	const char *msg;
};

static const struct err_row err_rows[] = {
#define CRIER_ERR_ROW(name, st, lab, m) {.status = st, .label = lab, .msg = m},
        CRIER_ERRNO_MAP(CRIER_ERR_ROW)
#undef CRIER_ERR_ROW
};

static const struct err_row *err_row_of(int code)
{
	if (code <= CRIER_ERR_FIRST_ || code >= CRIER_ERR_LAST_)
		return NULL;
	return &err_rows[code - CRIER_ERR_FIRST_ - 1];
}

int err_is_crier(int code)
{
	return err_row_of(code) != NULL;
}

const char *err_label(int code)
{
	const struct err_row *r = err_row_of(code);
	return r ? r->label : "unknown";
}

const char *err_message(int code)
{
	const struct err_row *r = err_row_of(code);
	if (r)
		return r->msg;
	if (code < 0 && code > -4096)
		return strerror(-code); /* libuv codes are negated errno on Linux */
	return "unknown error";
}

int err_http_status(int code)
{
	const struct err_row *r = err_row_of(code);
	return r && r->status < 1000 ? r->status : 0;
}

int err_ws_close_code(int code)
{
	const struct err_row *r = err_row_of(code);
	return r && r->status >= 1000 ? r->status : 0;
}
