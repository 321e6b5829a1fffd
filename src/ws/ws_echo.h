/*
 * ws_echo.h - GET /echo: a WebSocket that sends every message back.
 */
#ifndef CRIER_WS_WS_ECHO_H
#define CRIER_WS_WS_ECHO_H

#include "http/http_conn.h"

/* Adds GET /echo to the app (the caller checks --echo). Returns 0 or a
 * negative code when the route table is full. */
int ws_echo_add(struct http_app *app);

#endif
