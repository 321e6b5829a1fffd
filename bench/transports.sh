#!/usr/bin/env bash
# bench/transports.sh: crier's four subscriber transports and /ws publishing,
# side by side in one run (crier only; bench/fanout.sh compares hubs).
#
# Per config (each run on a freshly started crier, stopped after it):
#   fanout-ws, fanout-sse, fanout-wsproto: SUBS subscribers on one channel
#     (raw WebSocket /sub, SSE /sub, crier.v1 over /ws), MSGS messages of
#     SIZE bytes from PUBLISHERS HTTP publishers x WINDOW: deliveries/s and
#     publish-to-delivery latency. wsproto vs ws is the envelope's cost.
#   poll: POLL_SUBS long-poll clients on one channel, each looping
#     GET /sub/bench0?since=<next> on a keep-alive connection, POLL_MSGS
#     messages: messages delivered/s (summed over clients), polls, messages
#     per poll.
#   pub-wsproto: PUBWS_CONNS /ws connections each keeping PUBWS_WINDOW
#     publishes in flight, PUBWS_MSGS messages to a channel with PUBWS_SUBS
#     /ws subscribers: acks/s (pub_per_s) and ack latency (ack_p50_us,
#     ack_p99_us).
#   pub-http: the same load as HTTP/1.1 POST /pub/bench0 (PUBWS_CONNS
#     keep-alive connections pipelining PUBWS_WINDOW), for reference.
# Configs: "pinned": crier --workers 1 on CPU 0, crier bench fanout on CPU 1;
# "shared": --workers SHARED_WORKERS, nothing pinned.
#
# crier runs with --poll-timeout 30s (no poll times out during a run) and
# --history-size HISTORY (a poller between two polls is fed from history:
# it must hold every message of the run, or pollers see gaps), the same in
# every run so the lines compare.
#
# stdout: "machine", one line per measurement (crier bench fanout's JSON plus
# server, config, measure, workers, cpu0_busy, exit_code), one
# "transports_summary" line. stderr: a human summary. Both also under
# bench/results/transports-STAMP.*.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]
#   CONFIGS ["pinned shared"]  SHARED_WORKERS [2]
#   MEASURES ["fanout-ws fanout-sse fanout-wsproto poll pub-wsproto pub-http"]
#   SUBS [5000]  MSGS [600]  SIZE [64]  PUBLISHERS [4]  WINDOW [8]
#   POLL_SUBS [1000]  POLL_MSGS [5000]
#   PUBWS_CONNS [50]  PUBWS_WINDOW [16]  PUBWS_MSGS [1000000]  PUBWS_SUBS [0]
#   HISTORY [max(MSGS, POLL_MSGS)]  TIMEOUT [90]  DRAIN [3]
#   CRIER_PORT [18594]  CRIER_FLAGS [] extra flags for `crier serve`
#   PROFILE [0]  1: perf stat on crier during each run (syscalls and
#                context switches per delivery / per message)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
CONFIGS=${CONFIGS:-pinned shared}
SHARED_WORKERS=${SHARED_WORKERS:-2}
MEASURES=${MEASURES:-fanout-ws fanout-sse fanout-wsproto poll pub-wsproto pub-http}
SUBS=${SUBS:-5000}
MSGS=${MSGS:-600}
SIZE=${SIZE:-64}
PUBLISHERS=${PUBLISHERS:-4}
WINDOW=${WINDOW:-8}
POLL_SUBS=${POLL_SUBS:-1000}
POLL_MSGS=${POLL_MSGS:-5000}
PUBWS_CONNS=${PUBWS_CONNS:-50}
PUBWS_WINDOW=${PUBWS_WINDOW:-16}
PUBWS_MSGS=${PUBWS_MSGS:-1000000}
PUBWS_SUBS=${PUBWS_SUBS:-0}
HISTORY=${HISTORY:-$((MSGS > POLL_MSGS ? MSGS : POLL_MSGS))}
TIMEOUT=${TIMEOUT:-90}
DRAIN=${DRAIN:-3}
CRIER_PORT=${CRIER_PORT:-18594}
CRIER_FLAGS=${CRIER_FLAGS:-}
PROFILE=${PROFILE:-0}
MAX_CONNS=$((SUBS + 2000))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init transports transports
STOP_WARN=crier # log it if crier needs a SIGKILL to stop

# crier, the same flags in every run (see above).
start_crier() { # WORKERS CPUSET(or empty)
	bench_start_crier "$1" "$2" --poll-timeout 30s --history-size "$HISTORY"
}

# PROFILE=1: perf stat on crier's threads from DELAY s after start until
# crier bench exits (subscribing 5,000 takes about 0.5 s: use MSGS >= 3000 so
# publishing outlasts the delay).
start_profile() { # PID DELAY_S
	bench_perf_start "$1" "$2" 0
}

run_one() { # CONFIG MEASURE
	local config=$1 measure=$2 workers scpu='' cpin=() args=()
	if [ "$config" = pinned ]; then
		workers=1 scpu=0 cpin=(taskset -c 1)
	else
		workers=$SHARED_WORKERS
	fi
	case $measure in
	fanout-ws | fanout-sse | fanout-wsproto)
		args=(--subs "$SUBS" --transport "${measure#fanout-}" --msgs "$MSGS"
			--publishers "$PUBLISHERS" --window "$WINDOW") ;;
	poll)
		args=(--subs "$POLL_SUBS" --transport poll --msgs "$POLL_MSGS"
			--publishers "$PUBLISHERS" --window "$WINDOW") ;;
	pub-wsproto)
		args=(--subs "$PUBWS_SUBS" --transport wsproto --msgs "$PUBWS_MSGS"
			--pub-transport wsproto --publishers "$PUBWS_CONNS" --window "$PUBWS_WINDOW") ;;
	pub-http)
		args=(--subs "$PUBWS_SUBS" --transport wsproto --msgs "$PUBWS_MSGS"
			--pub-transport http --publishers "$PUBWS_CONNS" --window "$PUBWS_WINDOW") ;;
	*) bench_die "unknown measure $measure" ;;
	esac
	start_crier "$workers" "$scpu"
	local c0 c1 out rc=0
	c0=$(bench_cpu_ticks cpu0)
	start_profile "$SERVER_PID" 1
	"${cpin[@]}" timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench fanout --url "http://127.0.0.1:$CRIER_PORT" \
		"${args[@]}" --channels 1 --rate max --size "$SIZE" --timeout "$TIMEOUT" \
		--drain "$DRAIN" --server-pid "$SERVER_PID" >"$TMP/run.json" 2>>"$LOG" || rc=$?
	c1=$(bench_cpu_ticks cpu0)
	out=$(cat "$TMP/run.json")
	[ -n "$out" ] || bench_die "crier bench fanout printed nothing for $measure (exit $rc, see $LOG)"
	local prof
	prof=$(bench_perf_json fanout "$(jq .received <<<"$out")" "$(jq .published <<<"$out")")
	bench_stop_server
	local cpu0
	cpu0=$(bench_busy_share "$c0" "$c1")
	local line
	line=$(jq -c --arg config "$config" --arg measure "$measure" --argjson workers "$workers" \
		--argjson rc "$rc" --argjson prof "$prof" --argjson cpu0 "$cpu0" \
		'{bench, server:"crier", config:$config, measure:$measure, workers:$workers} + . +
		 {cpu0_busy:$cpu0, exit_code:$rc} + $prof' <<<"$out")
	bench_emit "$line"
	if [ "$measure" = pub-wsproto ] || [ "$measure" = pub-http ]; then
		bench_log "$(jq -r '"\(.config) \(.measure|.+"              "|.[0:14]) w=\(.workers)  \(.pub_per_s) acks/s from \(.publishers) conns x window \(.window)  ack p50 \(.ack_p50_us) us p99 \(.ack_p99_us) us  subs \(.subscribed) lost \(.lost)  errors \(.errors)  server \(.server_cpu_us_per_publish) us/publish" + (if .syscalls_per_msg then "  syscalls/publish \(.syscalls_per_msg)" else "" end)' <<<"$line")"
	else
		bench_log "$(jq -r '"\(.config) \(.measure|.+"              "|.[0:14]) w=\(.workers)  \(.deliveries_per_s) deliveries/s  p50 \(.p50_us) us p99 \(.p99_us) us  subs \(.subscribed) lost \(.lost) dup \(.duplicated) ooo \(.out_of_order) gaps \(.gaps) errors \(.errors)  server \(.server_cpu_us_per_delivery) us/delivery" + (if .measure == "poll" then "  polls \(.polls) (\(.msgs_per_poll) msgs/poll, \(.empty_polls) empty)" else "" end) + (if .syscalls_per_delivery then "  syscalls/delivery \(.syscalls_per_delivery)" else "" end)' <<<"$line")"
	fi
}

emit_summary() {
	local line
	line=$(jq -cs '
		def pick(c; m): [.[] | select(.bench == "fanout" and .config == c and .measure == m)] | .[0];
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 1000 | round / 1000) else null end;
		def cfg(c): {ws: pick(c; "fanout-ws"), sse: pick(c; "fanout-sse"), wp: pick(c; "fanout-wsproto"),
		             poll: pick(c; "poll"), pub: pick(c; "pub-wsproto"), http: pick(c; "pub-http")} |
			{ws_dps: .ws.deliveries_per_s, sse_dps: .sse.deliveries_per_s, wsproto_dps: .wp.deliveries_per_s,
			 wsproto_vs_ws: ratio(.wp.deliveries_per_s; .ws.deliveries_per_s),
			 wsproto_vs_sse: ratio(.wp.deliveries_per_s; .sse.deliveries_per_s),
			 us_per_delivery: {ws: .ws.server_cpu_us_per_delivery, sse: .sse.server_cpu_us_per_delivery,
			                   wsproto: .wp.server_cpu_us_per_delivery},
			 p99_us: {ws: .ws.p99_us, sse: .sse.p99_us, wsproto: .wp.p99_us},
			 poll_msgs_per_s: .poll.deliveries_per_s, poll_msgs_per_poll: .poll.msgs_per_poll,
			 pub_acks_per_s: .pub.pub_per_s, pub_ack_p50_us: .pub.ack_p50_us, pub_ack_p99_us: .pub.ack_p99_us,
			 pub_us_per_publish: .pub.server_cpu_us_per_publish,
			 http_pub_per_s: .http.pub_per_s, http_ack_p50_us: .http.ack_p50_us, http_ack_p99_us: .http.ack_p99_us,
			 http_us_per_publish: .http.server_cpu_us_per_publish,
			 errors: ([.ws, .sse, .wp, .poll, .pub, .http | select(. != null) | .errors] | add)};
		{bench: "transports_summary", pinned: cfg("pinned"), shared: cfg("shared")}' "$OUT")
	bench_emit "$line"
	for c in pinned shared; do
		bench_log "$(jq -r --arg c "$c" '.[$c] | select(.ws_dps != null or .poll_msgs_per_s != null or .pub_acks_per_s != null) | "summary \($c): deliveries/s ws \(.ws_dps) sse \(.sse_dps) wsproto \(.wsproto_dps) (wsproto/ws \(.wsproto_vs_ws), /sse \(.wsproto_vs_sse)); poll \(.poll_msgs_per_s) msgs/s; /ws publish \(.pub_acks_per_s) acks/s p50 \(.pub_ack_p50_us) us p99 \(.pub_ack_p99_us) us (HTTP: \(.http_pub_per_s)/s p50 \(.http_ack_p50_us) us p99 \(.http_ack_p99_us) us); errors \(.errors)"' <<<"$line")"
	done
}

main() {
	bench_need_tools "curl jq util-linux iproute2" curl jq taskset ss
	bench_need_crier
	BUSY=$(bench_busy_cpu)
	bench_emit "$(bench_machine_json busy crier commit)"
	bench_log "machine: $(nproc) x $(bench_cpu_model), load $(bench_loadavg), CPU busy before start $BUSY"
	bench_warn_busy "$BUSY" "throughput and tail latency from this run are noise"
	bench_log "-- transports: $SUBS subscribers x $MSGS msgs (ws, sse, wsproto), $POLL_SUBS pollers x $POLL_MSGS msgs, $SIZE-byte messages, $PUBLISHERS HTTP publishers x window $WINDOW; /ws publish: $PUBWS_CONNS conns x window $PUBWS_WINDOW, $PUBWS_MSGS msgs, $PUBWS_SUBS subscribers; history $HISTORY"
	for config in $CONFIGS; do
		for measure in $MEASURES; do run_one "$config" "$measure"; done
	done
	emit_summary
	bench_log "results: $OUT"
}

main "$@"
