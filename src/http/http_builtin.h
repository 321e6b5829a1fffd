/*
 * http_builtin.h - the routes every crier serves: /healthz and /metrics.
 */
#ifndef CRIER_HTTP_HTTP_BUILTIN_H
#define CRIER_HTTP_HTTP_BUILTIN_H

#include "http/http_conn.h"

/* Adds GET /healthz and GET /metrics to the app's router. Returns 0 or a
 * negative code when the table is full. */
int http_builtin_add(struct http_app *app);

#endif
