/*
 * ws_sub.h - raw WebSocket subscribers (GET /sub/{ch} with Upgrade).
 */
#ifndef CRIER_WS_WS_SUB_H
#define CRIER_WS_WS_SUB_H

#include "http/http_conn.h"

/* Upgrades ctx and streams the comma-separated channels as WebSocket
 * messages (text, or binary for binary messages; no envelope), resuming
 * after `since` when given. A gap notice is a text message
 * {"crier.gap":{"from":..,"to":..,"reason":..}}. When exp_s (wall-clock
 * seconds) is not 0, the connection is closed then with 4001 "token
 * expired". */
void ws_sub_start(struct http_ctx *ctx, const char *names, size_t names_len, const char *since,
                  size_t since_len, int64_t exp_s);

#endif
