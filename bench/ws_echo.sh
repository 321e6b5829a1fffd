#!/usr/bin/env bash
# bench/ws_echo.sh: WebSocket echo throughput/latency and RSS per idle
# WebSocket, crier against Node `ws` and nginx+nchan in the same run, on
# loopback.
#
# Measurements (each server, one after the other, never at the same time):
#   ws_echo  crier bench echo: ECHO_CONNS connections, each with one
#            ECHO_SIZE-byte message in flight (send, wait for the echo, check
#            it byte for byte, repeat) for ECHO_DURATION s after ECHO_WARMUP s.
#            "pinned": server with 1 worker on CPU 0, the bench (1 thread) on
#            CPU 1 (the fair split of a 2-core box); "shared": 2 workers,
#            the bench with 2 threads, nothing pinned. Node is one process in
#            both (that is how people run it), pinned to CPU 0 in "pinned".
#   ws_idle  crier bench connect --transport ws: IDLE_CONNS WebSockets
#            upgraded and left idle
#            (pings answered); the server's RSS growth per connection (pid +
#            descendants, so nginx's master and workers count).
#   ws_targets  the issue's targets, computed from the lines above.
#
# Peers:
#   crier        build/crier serve --echo, route /echo.
#   node-ws      bench/node_echo.mjs (ws 8, perMessageDeflate off), any path.
#   nginx-nchan  nginx-light + libnginx-mod-nchan: `nchan_pubsub websocket`
#                with `nchan_channel_id echo_$connection`, so each connection
#                publishes into and subscribes to its own channel (an echo).
#                For idle, NCHAN_IDLE_LOCATIONS picks /idle (all connections on
#                one channel, nchan's cheapest idle socket; used for the
#                target) and/or /echo (one channel per connection).
#
# stdout: one JSON line per server per measurement, plus "machine" and
# "ws_targets" lines. stderr: a human summary. Both also under bench/results/.
#
# Environment (defaults in brackets):
#   CRIER_BIN [build/crier, built with `make build` if missing]: also the
#     load generator (`crier bench echo` and `crier bench connect`)
#   SERVERS ["crier node-ws nginx-nchan"]  IDLE_SERVERS ["crier nginx-nchan"]
#   CONFIGS ["pinned"] (add "shared")      ROUNDS [1] echo runs per server
#   ECHO_CONNS [50]  ECHO_SIZE [64]  ECHO_DURATION [10]  ECHO_WARMUP [2]
#   ECHO_OPCODE [text|binary]  ECHO_TIMEOUT [10]
#   PINNED_THREADS [1]  SHARED_THREADS [2]  SHARED_WORKERS [2]
#   IDLE_CONNS [10000]  IDLE_WORKERS [1]  IDLE_HOLD [3]  IDLE_SETTLE [2]
#   IDLE_TIMEOUT [120]  NCHAN_IDLE_LOCATIONS ["/idle /echo"]
#   CRIER_PORT [18491]  NGINX_PORT [18492]  NODE_PORT [18493]
#   CRIER_FLAGS [] extra flags for `crier serve`
#   SKIP_ECHO [0]  SKIP_IDLE [0]
#   PROFILE [0]  1: perf stat on the server for the middle of each echo run,
#                adds syscalls and context switches per round trip
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$ROOT/bench/results
SERVERS=${SERVERS:-crier node-ws nginx-nchan}
IDLE_SERVERS=${IDLE_SERVERS:-crier nginx-nchan}
CONFIGS=${CONFIGS:-pinned}
ROUNDS=${ROUNDS:-1}
ECHO_CONNS=${ECHO_CONNS:-50}
ECHO_SIZE=${ECHO_SIZE:-64}
ECHO_DURATION=${ECHO_DURATION:-10}
ECHO_WARMUP=${ECHO_WARMUP:-2}
ECHO_OPCODE=${ECHO_OPCODE:-text}
ECHO_TIMEOUT=${ECHO_TIMEOUT:-10}
PINNED_THREADS=${PINNED_THREADS:-1}
SHARED_THREADS=${SHARED_THREADS:-2}
SHARED_WORKERS=${SHARED_WORKERS:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_WORKERS=${IDLE_WORKERS:-1}
IDLE_HOLD=${IDLE_HOLD:-3}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-120}
NCHAN_IDLE_LOCATIONS=${NCHAN_IDLE_LOCATIONS:-/idle /echo}
CRIER_PORT=${CRIER_PORT:-18491}
NGINX_PORT=${NGINX_PORT:-18492}
NODE_PORT=${NODE_PORT:-18493}
CRIER_FLAGS=${CRIER_FLAGS:-}
SKIP_ECHO=${SKIP_ECHO:-0}
SKIP_IDLE=${SKIP_IDLE:-0}
PROFILE=${PROFILE:-0}
NCHAN_SO=${NCHAN_SO:-/usr/share/nginx/modules/ngx_nchan_module.so}
# Connection ceiling for every server: above IDLE_CONNS with slack.
MAX_CONNS=$((IDLE_CONNS + 2000))

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_init ws_echo ws
# nginx-light + nchan: the committed config in bench/peers/nchan/. /echo:
# each connection has its own channel (echo_$connection), so what it
# publishes comes back to it and to no one else. /idle: one shared channel.
bench_nchan_config
NGINX_EVENTS='multi_accept off;'

start_crier() { # WORKERS CPUSET(or empty)
	bench_start_crier "$1" "$2" --echo
	ECHO_PATH=/echo
}

start_node() { # WORKERS(ignored: one process) CPUSET
	bench_start_node "$2"
	ECHO_PATH=/echo
}

start_nginx() { # WORKERS CPUSET(or empty)
	bench_start_nginx "$1" "$2"
	ECHO_PATH=/echo
}

start_server() { # NAME WORKERS CPUSET
	case $1 in
	crier) start_crier "$2" "$3" ;;
	node-ws) start_node "$2" "$3" ;;
	nginx-nchan) start_nginx "$2" "$3" ;;
	*) bench_die "unknown server $1 (SERVERS takes crier, node-ws, nginx-nchan)" ;;
	esac
}

# Busy ticks of the whole machine (user+nice+system+irq+softirq), USER_HZ.
machine_busy_ticks() { bench_cpu_ticks cpu | cut -d' ' -f1; }

# With PROFILE=1: perf stat on the server for the middle of the measured
# window (from 1 s in, ending 1 s before the end).
start_profile() { # PID
	PERF_WINDOW_S=$(awk -v t="$ECHO_DURATION" 'BEGIN { w = t - 2; print (w < 1 ? 1 : w) }')
	bench_perf_start "$1" 1 "$PERF_WINDOW_S"
}

run_echo() { # SERVER CONFIG ROUND
	local server=$1 config=$2 round=$3 workers threads scpu='' cpin=()
	if [ "$config" = pinned ]; then
		workers=1 threads=$PINNED_THREADS scpu=0 cpin=(taskset -c 1)
	else
		workers=$SHARED_WORKERS threads=$SHARED_THREADS
	fi
	[ "$server" = node-ws ] && workers=1
	start_server "$server" "$workers" "$scpu"
	local hz t0 t1 m0 m1 out rc=0
	hz=$(getconf CLK_TCK)
	local opcode=()
	if [ "$ECHO_OPCODE" = binary ]; then opcode=(--binary); fi
	"${cpin[@]}" timeout $((ECHO_WARMUP + ECHO_DURATION + ECHO_TIMEOUT + 30)) "$CRIER_BIN" bench echo \
		--url "ws://127.0.0.1:$SERVER_PORT$ECHO_PATH" --conns "$ECHO_CONNS" \
		--size "$ECHO_SIZE" --duration "$ECHO_DURATION" --warmup "$ECHO_WARMUP" \
		--timeout "$ECHO_TIMEOUT" --threads "$threads" "${opcode[@]}" \
		>"$TMP/echo.json" 2>>"$LOG" &
	local bench_pid=$!
	# Server CPU over the measured window only (after connect + warm-up).
	sleep "$(awk -v w="$ECHO_WARMUP" 'BEGIN { print w + 0.2 }')"
	t0=$(bench_tree_cpu_ticks "$SERVER_PID") m0=$(machine_busy_ticks)
	start_profile "$SERVER_PID"
	sleep "$ECHO_DURATION"
	t1=$(bench_tree_cpu_ticks "$SERVER_PID") m1=$(machine_busy_ticks)
	wait "$bench_pid" || rc=$?
	out=$(cat "$TMP/echo.json")
	[ -n "$out" ] || bench_die "crier bench echo printed nothing for $server (exit $rc, see $LOG)"
	local prof cpu_s
	prof=$(bench_perf_json rate rt "$(jq .rps <<<"$out")")
	bench_stop_server
	cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
	# Everything busy that was neither the server nor the bench (the kernel's
	# softirq work lands on either, so this is only an estimate).
	local other
	other=$(awk -v a="$m0" -v b="$m1" -v hz="$hz" -v d="$ECHO_DURATION" -v s="$cpu_s" \
		-v c="$(jq .client_cpu_util <<<"$out")" \
		'BEGIN { o = (b - a) / hz / d - s / d - c; printf "%.2f", (o < 0 ? 0 : o) }')
	local line
	line=$(jq -c --arg server "$server" --arg config "$config" --argjson round "$round" \
		--argjson workers "$workers" --argjson cpu "$cpu_s" --argjson rc "$rc" \
		--argjson prof "$prof" --argjson dur "$ECHO_DURATION" --argjson other "$other" \
		'{bench:"ws_echo", server:$server, config:$config, round:$round, workers:$workers} + . +
		 {server_cpu_s:$cpu, server_cpu_util:(($cpu / $dur) * 100 | round / 100),
		  server_cpu_us_per_rt:(if .round_trips > 0 then ($cpu * 1e6 / .round_trips * 100 | round / 100) else 0 end),
		  other_cpu_util:$other, exit_code:$rc} + $prof | .bench = "ws_echo"' <<<"$out")
	bench_emit "$line"
	bench_log "$(jq -r '"\(.server|.+"            "|.[0:11]) \(.config) w=\(.workers)  \(.rps) rt/s  p50 \(.p50_us) us  p99 \(.p99_us) us  p99.9 \(.p999_us) us  server \(.server_cpu_util) cores, \(.server_cpu_us_per_rt) us/rt  client \(.client_cpu_util) cores  others \(.other_cpu_util)  errors \(.errors)" + (if .syscalls_per_rt then "  syscalls/rt \(.syscalls_per_rt)" else "" end)' <<<"$line")"
	if awk -v o="$other" 'BEGIN { exit !(o > 0.1) }'; then
		bench_log "warning: other processes used $other cores during $server's run: its rps and latency are noise"
	elif [ "$config" = pinned ] && awk -v u="$(jq .server_cpu_util <<<"$line")" 'BEGIN { exit !(u < 0.9) }'; then
		bench_log "warning: $server used only $(jq .server_cpu_util <<<"$line") of CPU 0: it was not the bottleneck (the client was, or CPU 0 was shared); this rps is not comparable, us/rt still is"
	fi
}

run_idle() { # SERVER PATH
	local server=$1 path=$2 out rc=0
	start_server "$server" "$IDLE_WORKERS" ""
	out=$("$CRIER_BIN" bench connect --transport ws --url "ws://127.0.0.1:$SERVER_PORT$path" \
		--conns "$IDLE_CONNS" --server-pid "$SERVER_PID" --hold "$IDLE_HOLD" \
		--settle "$IDLE_SETTLE" --prime 16 --timeout "$IDLE_TIMEOUT" 2>>"$LOG") || rc=$?
	bench_stop_server
	[ -n "$out" ] || bench_die "crier bench connect printed nothing for $server (exit $rc, see $LOG)"
	local line
	line=$(jq -c --arg server "$server" --arg path "$path" --argjson workers "$IDLE_WORKERS" \
		--argjson rc "$rc" '{bench:"ws_idle", server:$server, path:$path, workers:$workers} + . +
		{exit_code:$rc} | .bench = "ws_idle"' <<<"$out")
	bench_emit "$line"
	bench_log "$(jq -r '"\(.server) \(.path) idle: \(.connected)/\(.conns) connected (\(.failed) failed, \(.dropped) dropped) in \(.connect_seconds) s; RSS \(.rss_before_kb) -> \(.rss_after_kb) KiB = \(.rss_per_conn_bytes) bytes/conn (PSS \(.pss_per_conn_bytes))"' <<<"$line")"
}

# The issue's targets from this run's lines: echo figures are the mean of
# the pinned rounds, over the quiet ones (other_cpu_util <= 0.1) if any.
# noisy_echo_lines counts the rounds another process disturbed.
emit_targets() {
	local line
	line=$(jq -cs '
		. as $all |
		def lines(s): [$all[] | select(.bench == "ws_echo" and .server == s and .config == "pinned")] |
			(map(select(.other_cpu_util <= 0.1))) as $quiet |
			if ($quiet | length) > 0 then $quiet else . end;
		def mean(f): map(f) | if length > 0 then (add / length) else null end;
		def echo(s): lines(s) | mean(.rps);
		def uspr(s): lines(s) | mean(.server_cpu_us_per_rt);
		def idle(s): [.[] | select(.bench == "ws_idle" and .server == s and .exit_code == 0) |
			.rss_per_conn_bytes] | if length > 0 then min else null end;
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
		{crier: echo("crier"), nchan: echo("nginx-nchan"), node: echo("node-ws"),
		 noisy: ([$all[] | select(.bench == "ws_echo" and .config == "pinned" and .other_cpu_util > 0.1)] | length),
		 ucrier: uspr("crier"), unchan: uspr("nginx-nchan"), unode: uspr("node-ws"),
		 icrier: idle("crier"), inchan: idle("nginx-nchan")} |
		{bench: "ws_targets", noisy_echo_lines: .noisy,
		 echo_vs_nchan: ratio(.crier; .nchan), echo_vs_nchan_met: ((ratio(.crier; .nchan) // 0) >= 1.5),
		 echo_vs_node: ratio(.crier; .node), echo_vs_node_met: ((ratio(.crier; .node) // 0) >= 3),
		 cpu_per_rt_nchan_over_crier: ratio(.unchan; .ucrier),
		 cpu_per_rt_node_over_crier: ratio(.unode; .ucrier),
		 idle_crier_bytes: .icrier, idle_nchan_min_bytes: .inchan,
		 idle_le_2kib_met: (.icrier != null and .icrier <= 2048),
		 idle_le_half_nchan_met: (.icrier != null and .inchan != null and .icrier <= .inchan / 2)}' "$OUT")
	bench_emit "$line"
	bench_log "$(jq -r '"targets (\(.noisy_echo_lines) noisy echo lines): echo crier/nchan \(.echo_vs_nchan)x (>= 1.5: \(.echo_vs_nchan_met)), crier/node \(.echo_vs_node)x (>= 3: \(.echo_vs_node_met)); server CPU per round trip: nchan \(.cpu_per_rt_nchan_over_crier)x crier, node \(.cpu_per_rt_node_over_crier)x crier; idle crier \(.idle_crier_bytes) B/conn (<= 2048: \(.idle_le_2kib_met)), nchan \(.idle_nchan_min_bytes) B/conn (<= half: \(.idle_le_half_nchan_met))"' <<<"$line")"
}

versions() {
	local ws_version=none
	for d in "$ROOT/bench/node_modules/ws" "$ROOT/tests/e2e/node_modules/ws"; do
		[ -f "$d/package.json" ] && ws_version=$(jq -r .version "$d/package.json") && break
	done
	bench_emit "$(bench_machine_json busy nofile crier commit nginx nchan node \
		"$(jq -cn --arg ws "$ws_version" '{ws:$ws}')")"
	bench_log "machine: $(nproc) x $(bench_cpu_model), kernel $(uname -r), load $(bench_loadavg), CPU busy before start $BUSY; nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null), node $(node --version), ws $ws_version"
}

main() {
	bench_need_tools "nginx-light libnginx-mod-nchan nodejs curl jq util-linux iproute2" \
		nginx node curl jq taskset ss
	bench_need_nchan
	bench_need_node_ws
	bench_need_crier

	BUSY=$(bench_busy_cpu)
	versions
	bench_warn_busy "$BUSY"

	if [ "$SKIP_ECHO" != 1 ]; then
		bench_log "-- WebSocket echo: $ECHO_CONNS connections, one $ECHO_SIZE-byte $ECHO_OPCODE message in flight each, ${ECHO_DURATION}s after ${ECHO_WARMUP}s warm-up (pinned: server 1 worker on CPU 0, crier bench echo --threads $PINNED_THREADS on CPU 1)"
		for config in $CONFIGS; do
			for round in $(seq "$ROUNDS"); do
				for server in $SERVERS; do run_echo "$server" "$config" "$round"; done
			done
		done
	fi
	if [ "$SKIP_IDLE" != 1 ]; then
		bench_log "-- RSS per idle WebSocket: $IDLE_CONNS connections, $IDLE_WORKERS worker(s)"
		for server in $IDLE_SERVERS; do
			case $server in
			nginx-nchan) for loc in $NCHAN_IDLE_LOCATIONS; do run_idle "$server" "$loc"; done ;;
			*) run_idle "$server" /echo ;;
			esac
		done
	fi
	emit_targets
	bench_log "results: $OUT"
}

main "$@"
