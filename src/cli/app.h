/*
 * app.h - the hub's HTTP routes: publish, subscribe (transport negotiated
 * per request), channel info. Assembled here because /sub chooses between
 * transports that live in sibling layers (sse/, ws/).
 */
#ifndef CRIER_CLI_APP_H
#define CRIER_CLI_APP_H

#include "http/http_conn.h"

/* Adds POST /pub/{ch}, GET /sub/{ch}[,{ch}...], GET /channels/{ch}. */
int app_add_hub_routes(struct http_app *app);

/* The /metrics hook that appends the hub's families. */
int app_hub_metrics(struct http_app *app, struct buf *out);

#endif
