/*
 * wsproto.h - GET /ws: the two-way crier.v1 protocol (docs/protocol-ws.md).
 */
#ifndef CRIER_WS_WSPROTO_H
#define CRIER_WS_WSPROTO_H

#include "http/http_conn.h"

/* Adds GET /ws to the app. Returns 0 or a negative code. */
int wsproto_add(struct http_app *app);

#endif
