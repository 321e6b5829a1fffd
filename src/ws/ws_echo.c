/*
 * ws_echo.c - the echo route, for conformance suites and latency probes.
 *
 * Every message goes back with its opcode and payload; everything else
 * (fragmentation, compression, pings, the close handshake, limits) is the
 * WebSocket engine's, which is what a conformance suite pointed here tests.
 */
#include "ws/ws_echo.h"

#include "net/server.h"
#include "ws/ws_conn.h"

static void ws_echo_message(struct ws_conn *wc, enum ws_opcode op, uint8_t *data, size_t len)
{
	ws_send(wc, op, data, len);
}

static const struct ws_handler ws_echo_handler = {.on_message = ws_echo_message};
static const struct ws_route ws_echo_route = {.handler = &ws_echo_handler};

static void ws_echo_http(struct http_ctx *ctx)
{
	/* Routed always, served only with --echo, so a reload can turn it on. */
	if (!worker_cfg(ctx->w)->echo) {
		static const char msg[] =
		        "404 Not Found (start crier with --echo to serve /echo)\n";
		http_respond(ctx, 404, "text/plain; charset=utf-8", NULL, msg, sizeof(msg) - 1);
		return;
	}
	(void)ws_conn_upgrade(ctx, &ws_echo_route);
}

int ws_echo_add(struct http_app *app)
{
	return router_add(&app->router, &(struct route){.path = "/echo",
	                                                .methods = ROUTER_METHOD(HTTP_M_GET),
	                                                .handler = ws_echo_http});
}
