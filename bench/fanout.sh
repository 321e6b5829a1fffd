#!/usr/bin/env bash
# bench/fanout.sh: fan-out throughput and publish-to-delivery latency, crier
# against nginx+nchan and against the "ceiling" (bench/ceiling.c, the
# fastest fan-out this box can do) in the same run, on loopback.
#
# For each config, variant, transport and server (one server at a time, each
# restarted for every run so history and memory start clean):
#   crier bench fanout: SUBS subscribers over CHANNELS channels (bench0..), then
#   MSGS messages of SIZE bytes from PUBLISHERS keep-alive HTTP publishers,
#   each pipelining at most WINDOW requests (RATE=max: as fast as the hub
#   answers). Every delivery is checked (lost, duplicated, out of order) and
#   timed from publish to delivery.
# Configs: "pinned": 1 worker, server on CPU 0, fanout on CPU 1 (the fair
# split of a 2-core box); "shared": 2 workers, nothing pinned. Variants:
# "one" (CHANNELS channels, MSGS messages) and, with MANY_CHANNELS > 0,
# "many" (MANY_CHANNELS channels, MANY_MSGS messages, pinned only).
#
# Peers:
#   crier        build/crier serve --workers W --max-connections SUBS+2000
#   nginx-nchan  nginx-light + libnginx-mod-nchan, /pub/(.+) nchan_publisher,
#                /sub/(.+) nchan_subscriber (EventSource and WebSocket)
#   ceiling      bench/ceiling.c, one thread (the same in both configs)
#
# stdout: "machine", one "fanout" line per run, one "fanout_targets" line.
# stderr: a human summary. Both also under bench/results/fanout-STAMP.*.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]: the load
#     generator (`crier bench fanout`) in every run, and the crier measured
#   SERVERS ["crier nginx-nchan ceiling"]  TRANSPORTS ["ws sse"] (also
#     wsproto and poll, crier only: SERVERS=crier; bench/transports.sh runs
#     all four side by side, with long-poll and /ws publishing)
#   CONFIGS ["pinned shared"]  SHARED_WORKERS [2]
#   SUBS [5000]  CHANNELS [1]  MSGS [600]  SIZE [64]  PUBLISHERS [4]
#   WINDOW [8]  RATE [max]  TIMEOUT [90]  DRAIN [3]
#   MANY_CHANNELS [100] (0: skip)  MANY_MSGS [20000]
#   CRIER_PORT [18591]  NGINX_PORT [18592]  CEILING_PORT [18593]
#   CRIER_FLAGS [] extra flags for `crier serve`
#   PROFILE [0]  1: perf stat on the server during each run: syscalls and
#                context switches per delivery
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
SERVERS=${SERVERS:-crier nginx-nchan ceiling}
TRANSPORTS=${TRANSPORTS:-ws sse}
CONFIGS=${CONFIGS:-pinned shared}
SHARED_WORKERS=${SHARED_WORKERS:-2}
SUBS=${SUBS:-5000}
CHANNELS=${CHANNELS:-1}
MSGS=${MSGS:-600}
SIZE=${SIZE:-64}
PUBLISHERS=${PUBLISHERS:-4}
WINDOW=${WINDOW:-8}
RATE=${RATE:-max}
TIMEOUT=${TIMEOUT:-90}
DRAIN=${DRAIN:-3}
MANY_CHANNELS=${MANY_CHANNELS:-100}
MANY_MSGS=${MANY_MSGS:-20000}
CRIER_PORT=${CRIER_PORT:-18591}
NGINX_PORT=${NGINX_PORT:-18592}
CEILING_PORT=${CEILING_PORT:-18593}
CRIER_FLAGS=${CRIER_FLAGS:-}
PROFILE=${PROFILE:-0}
NCHAN_SO=${NCHAN_SO:-/usr/share/nginx/modules/ngx_nchan_module.so}
MAX_CONNS=$((SUBS + 2000))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init fanout fanout
# nginx-light + nchan: the committed config in bench/peers/nchan/ (the
# /pub/{ch} and /sub/{ch} routes; nchan's defaults otherwise: memory store,
# 10 messages of history per channel).
bench_nchan_config

start_server() { # NAME WORKERS CPUSET
	case $1 in
	crier) bench_start_crier "$2" "$3" ;;
	nginx-nchan) bench_start_nginx "$2" "$3" ;;
	ceiling) bench_start_ceiling "$3" ;; # one thread, whatever WORKERS says
	*) bench_die "unknown server $1 (SERVERS takes crier, nginx-nchan, ceiling)" ;;
	esac
}

# With PROFILE=1: perf stat on the server's threads once subscribers are in
# (started after a fixed delay; stopped when crier bench exits).
start_profile() { # PID DELAY_S
	bench_perf_start "$1" "$2" 0
}

run_one() { # SERVER CONFIG VARIANT TRANSPORT
	local server=$1 config=$2 variant=$3 transport=$4 workers scpu='' cpin=() k m
	if [ "$config" = pinned ]; then
		workers=1 scpu=0 cpin=(taskset -c 1)
	else
		workers=$SHARED_WORKERS
	fi
	if [ "$variant" = many ]; then k=$MANY_CHANNELS m=$MANY_MSGS; else k=$CHANNELS m=$MSGS; fi
	start_server "$server" "$workers" "$scpu"
	local c0 c1 out rc=0
	c0=$(bench_cpu_ticks cpu0)
	# Subscribing 5,000 takes well under 2 s; perf then sees the publish phase.
	start_profile "$SERVER_PID" 2
	"${cpin[@]}" timeout $((TIMEOUT + 30)) "$CRIER_BIN" bench fanout --url "http://127.0.0.1:$SERVER_PORT" \
		--subs "$SUBS" --transport "$transport" --channels "$k" --msgs "$m" --rate "$RATE" \
		--size "$SIZE" --publishers "$PUBLISHERS" --window "$WINDOW" --timeout "$TIMEOUT" \
		--drain "$DRAIN" --server-pid "$SERVER_PID" >"$TMP/run.json" 2>>"$LOG" || rc=$?
	c1=$(bench_cpu_ticks cpu0)
	out=$(cat "$TMP/run.json")
	[ -n "$out" ] || bench_die "crier bench fanout printed nothing for $server (exit $rc, see $LOG)"
	local prof
	prof=$(bench_perf_json fanout "$(jq .received <<<"$out")" "$(jq .published <<<"$out")")
	bench_stop_server
	# CPU 0 busy share over the whole run (pinned: the server's core; the
	# kernel's loopback softirq work is there and not in the server's own
	# utime+stime).
	local cpu0
	cpu0=$(bench_busy_share "$c0" "$c1")
	local line
	line=$(jq -c --arg server "$server" --arg config "$config" --arg variant "$variant" \
		--argjson workers "$workers" --argjson rc "$rc" --argjson prof "$prof" \
		--argjson cpu0 "$cpu0" \
		'{bench, server:$server, config:$config, variant:$variant, workers:$workers} + . +
		 {cpu0_busy:$cpu0, exit_code:$rc} + $prof' <<<"$out")
	bench_emit "$line"
	bench_log "$(jq -r '"\(.server|.+"            "|.[0:11]) \(.config) \(.variant) \(.transport|.+"       "|.[0:7]) w=\(.workers)  \(.deliveries_per_s) deliveries/s  p50 \(.p50_us) us  p99 \(.p99_us) us  max \(.max_us) us  lost \(.lost) dup \(.duplicated) ooo \(.out_of_order)  connect \(.connect_s) s  RSS/conn \(.rss_per_conn_bytes) B peak \(.rss_peak_kb) KiB  server \(.server_cpu_us_per_delivery) us/delivery" + (if .syscalls_per_delivery then "  syscalls/delivery \(.syscalls_per_delivery) per msg \(.syscalls_per_msg)" else "" end) + (if .timed_out then "  TIMED OUT" else "" end)' <<<"$line")"
}

# The issue's targets, from this run's pinned "one" lines.
emit_targets() {
	local line
	line=$(jq -cs '
		def pick(s; t; c): [.[] | select(.bench == "fanout" and .server == s and .transport == t
			and .config == c and .variant == "one")] | .[0];
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
		def tgt(t; c): {cr: pick("crier"; t; c), nc: pick("nginx-nchan"; t; c), ce: pick("ceiling"; t; c)} |
			{crier_dps: .cr.deliveries_per_s, nchan_dps: .nc.deliveries_per_s,
			 ceiling_dps: .ce.deliveries_per_s,
			 vs_nchan: ratio(.cr.deliveries_per_s; .nc.deliveries_per_s),
			 vs_nchan_met: ((ratio(.cr.deliveries_per_s; .nc.deliveries_per_s) // 0) >= 2),
			 p99_crier_us: .cr.p99_us, p99_nchan_us: .nc.p99_us,
			 p99_lower_met: (.cr.p99_us != null and .nc.p99_us != null and .cr.p99_us < .nc.p99_us),
			 crier_lost: .cr.lost, zero_loss_met: (.cr != null and .cr.lost == 0 and .cr.errors == 0),
			 pct_of_ceiling: (if .ce != null and .ce.deliveries_per_s > 0 then
			   (.cr.deliveries_per_s / .ce.deliveries_per_s * 1000 | round / 10) else null end),
			 ceiling_70_met: (.ce != null and .cr.deliveries_per_s >= 0.7 * .ce.deliveries_per_s)};
		{bench: "fanout_targets", pinned_ws: tgt("ws"; "pinned"), pinned_sse: tgt("sse"; "pinned"),
		 shared_ws: tgt("ws"; "shared"), shared_sse: tgt("sse"; "shared")}' "$OUT")
	bench_emit "$line"
	for key in pinned_ws pinned_sse shared_ws shared_sse; do
		bench_log "$(jq -r --arg k "$key" '.[$k] | select(.crier_dps != null) | "targets \($k): crier/nchan \(.vs_nchan)x (>= 2: \(.vs_nchan_met)); p99 crier \(.p99_crier_us) us vs nchan \(.p99_nchan_us) us (lower: \(.p99_lower_met)); crier lost \(.crier_lost) (zero: \(.zero_loss_met)); crier = \(.pct_of_ceiling) % of ceiling (>= 70: \(.ceiling_70_met))"' <<<"$line")"
	done
}

versions() {
	bench_emit "$(bench_machine_json busy nofile crier commit nginx nchan)"
	bench_log "machine: $(nproc) x $(bench_cpu_model), kernel $(uname -r), load $(bench_loadavg), CPU busy before start $BUSY; nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null)"
}

main() {
	bench_need_tools "nginx-light libnginx-mod-nchan curl jq util-linux iproute2 gcc" \
		nginx curl jq taskset ss cc
	[[ " $SERVERS " != *" nginx-nchan "* ]] || bench_need_nchan
	bench_need_crier
	CEILING=$RESULTS_DIR/ceiling
	[[ " $SERVERS " != *" ceiling "* ]] || bench_build ceiling

	BUSY=$(bench_busy_cpu)
	versions
	bench_warn_busy "$BUSY"
	bench_log "-- fan-out: $SUBS subscribers, $SIZE-byte messages, $PUBLISHERS publishers x window $WINDOW, rate $RATE; one: $CHANNELS channel(s) x $MSGS messages; many: $MANY_CHANNELS channels x $MANY_MSGS messages (pinned: server 1 worker on CPU 0, fanout on CPU 1; shared: $SHARED_WORKERS workers, unpinned)"
	for config in $CONFIGS; do
		local variants=one
		[ "$config" = pinned ] && [ "$MANY_CHANNELS" -gt 0 ] && variants="one many"
		for variant in $variants; do
			for transport in $TRANSPORTS; do
				for server in $SERVERS; do run_one "$server" "$config" "$variant" "$transport"; done
			done
		done
	done
	emit_targets
	bench_log "results: $OUT"
}

main "$@"
